// The slowest requests of each API with their stage timings (issue 13: "the stage breakdown of the slowest 1% of
// requests"). A histogram per stage says how long each stage usually takes, not which stage made the slow
// requests slow; for that the slowest requests' own timings are kept, a bounded min-heap per API
// (metrics.slowest.requests entries), so a request only costs a comparison once the heap is full and faster.
// GET /api/v1/request-latency reports the slowest 1% (or another share) since the last reset.
import type { RequestTrace } from "../api/context.ts";

/** Stages in the order a request passes them; handler_other is the handler's time outside the named stages. */
export const TRACE_STAGES = ["read", "queue", "handoff", "worker", "fsync", "replication", "wait", "handler_other", "send"] as const;
export type TraceStage = (typeof TRACE_STAGES)[number];

export function stageMs(trace: RequestTrace, stage: TraceStage): number {
  switch (stage) {
    case "read": return trace.readMs;
    case "queue": return trace.queueMs;
    case "handoff": return trace.handoffMs;
    case "worker": return trace.workerMs;
    case "fsync": return trace.fsyncMs;
    case "replication": return trace.replicationMs;
    case "wait": return trace.waitMs;
    case "handler_other": return Math.max(0, trace.handlerMs - trace.handoffMs - trace.workerMs - trace.fsyncMs - trace.replicationMs - trace.waitMs);
    case "send": return trace.sendMs;
  }
}

/** From the first byte read to the last byte sent. */
export function totalMs(trace: RequestTrace): number {
  return trace.readMs + trace.queueMs + trace.handlerMs + trace.sendMs;
}

interface Sampled {
  totalMs: number;
  trace: RequestTrace;
}

interface ApiSample {
  requests: number;
  /** Min-heap on totalMs: the root is the fastest of the slowest kept. */
  heap: Sampled[];
}

export interface SlowestReport {
  api: number;
  requests: number;
  /** How many of the slowest are described (the share asked for, at most what was kept). */
  slowest: number;
  /** True when the share asked for is more requests than metrics.slowest.requests keeps: the figures are of the slowest `slowest` only. */
  truncated: boolean;
  totalMs: { mean: number; min: number; max: number };
  /** Mean time of each stage over those requests, in milliseconds (they add up to totalMs.mean). */
  stagesMs: Record<TraceStage, number>;
}

export class SlowestRequests {
  private readonly byApi = new Map<number, ApiSample>();
  /** Date.now() of the last reset: what the report covers. */
  sinceMs = Date.now();

  constructor(public capacity: number) {}

  record(trace: RequestTrace): void {
    if (this.capacity <= 0) return;
    let sample = this.byApi.get(trace.apiKey);
    if (!sample) this.byApi.set(trace.apiKey, (sample = { requests: 0, heap: [] }));
    sample.requests++;
    const total = totalMs(trace);
    const heap = sample.heap;
    if (heap.length < this.capacity) {
      heap.push({ totalMs: total, trace });
      siftUp(heap, heap.length - 1);
    } else if (total > heap[0]!.totalMs) {
      heap[0] = { totalMs: total, trace };
      siftDown(heap, 0);
    }
  }

  reset(): void {
    this.byApi.clear();
    this.sinceMs = Date.now();
  }

  /** Per API, the slowest `share` of its requests (at least one), slowest first by API key. */
  report(share = 0.01): SlowestReport[] {
    const reports: SlowestReport[] = [];
    for (const [api, sample] of [...this.byApi].sort((a, b) => a[0] - b[0])) {
      const wanted = Math.max(1, Math.ceil(sample.requests * share));
      const slowest = [...sample.heap].sort((a, b) => b.totalMs - a.totalMs).slice(0, wanted);
      const stagesMs = Object.fromEntries(TRACE_STAGES.map((stage) => [stage, 0])) as Record<TraceStage, number>;
      let sum = 0;
      for (const entry of slowest) {
        sum += entry.totalMs;
        for (const stage of TRACE_STAGES) stagesMs[stage] += stageMs(entry.trace, stage);
      }
      for (const stage of TRACE_STAGES) stagesMs[stage] /= slowest.length;
      reports.push({
        api,
        requests: sample.requests,
        slowest: slowest.length,
        truncated: wanted > slowest.length,
        totalMs: { mean: sum / slowest.length, min: slowest[slowest.length - 1]!.totalMs, max: slowest[0]!.totalMs },
        stagesMs,
      });
    }
    return reports;
  }
}

function siftUp(heap: Sampled[], index: number): void {
  while (index > 0) {
    const parent = (index - 1) >> 1;
    if (heap[parent]!.totalMs <= heap[index]!.totalMs) return;
    [heap[parent], heap[index]] = [heap[index]!, heap[parent]!];
    index = parent;
  }
}

function siftDown(heap: Sampled[], index: number): void {
  for (;;) {
    const left = index * 2 + 1;
    const right = left + 1;
    let smallest = index;
    if (left < heap.length && heap[left]!.totalMs < heap[smallest]!.totalMs) smallest = left;
    if (right < heap.length && heap[right]!.totalMs < heap[smallest]!.totalMs) smallest = right;
    if (smallest === index) return;
    [heap[smallest], heap[index]] = [heap[index]!, heap[smallest]!];
    index = smallest;
  }
}
