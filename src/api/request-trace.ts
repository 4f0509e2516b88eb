// Stage timing of a partition-worker round trip (RequestTrace, api/context.ts), shared by produce and fetch.
import type { RequestTrace } from "./context.ts";

/** A request's timings before any stage is measured: `readMs` is its frame's network read time. */
export function newRequestTrace(apiKey: number, readMs: number): RequestTrace {
  return { apiKey, readMs, queueMs: 0, handlerMs: 0, handoffMs: 0, workerMs: 0, fsyncMs: 0, replicationMs: 0, waitMs: 0, sendMs: 0 };
}

/**
 * Splits a round trip to the partition workers: the slowest worker's own time (less the fsync it waited for)
 * and the rest, the hand-off between threads. Workers answer in parallel, so the round trip is bounded by the
 * slowest one.
 */
export function traceWorkerRoundTrip(trace: RequestTrace, roundTripMs: number, results: readonly { inWorkerMs?: number; flushMs?: number }[]): void {
  let inWorkerMs = 0;
  let flushMs = 0;
  for (const result of results) {
    if ((result.inWorkerMs ?? 0) > inWorkerMs) {
      inWorkerMs = result.inWorkerMs!;
      flushMs = result.flushMs ?? 0;
    }
  }
  trace.fsyncMs += flushMs;
  trace.workerMs += inWorkerMs - flushMs;
  trace.handoffMs += Math.max(0, roundTripMs - inWorkerMs);
}
