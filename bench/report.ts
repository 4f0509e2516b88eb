// Turns a run's results into BENCHMARKS.md (tables, targets as ratios of the limits measured in the
// same run) and an SVG chart. Hand-written analysis lives in bench/analysis.md and is included as is.
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import type { E2eResults } from "./e2e.ts";
import { describeLocalAnswers, type LatencyReferenceResults, type LocalAnswers, type ReferencePoint } from "./latency-reference.ts";
import { TRACE_STAGES } from "../src/admin/slowest-requests.ts";
import type { LatencyFigures, RdperfLatency, RdperfResults } from "./rdperf.ts";
import type { PacedLatency, ScalingResults, ScalingThroughput, ShardConfiguration, ShardPoint } from "./shard-scaling.ts";
import type { Limits } from "./limits.ts";
import type { MicroResult } from "./micro.ts";
import { formatOps } from "./micro.ts";

export interface MachineInfo {
  cpuModel: string;
  nproc: number;
  memory: string;
  kernel: string;
  bunVersion: string;
  kcatVersion: string;
  loadBefore: string;
  loadAfter: string;
}

export interface BenchResults {
  quick: boolean;
  command: string;
  startedAt: string;
  durationSeconds: number;
  machine: MachineInfo;
  limits: Limits;
  micro: MicroResult[];
  e2e: E2eResults;
  /** Bunka next to Redis Streams and a TCP relay at the same paced rates (bench/latency-reference.ts). */
  latencyReference?: LatencyReferenceResults | null;
  /** librdkafka's rdkafka_performance against Bunka and its mock broker (bench/rdperf.ts). */
  rdperf?: RdperfResults | null;
  /** Throughput vs num.network.shards and vs connections (bench/shard-scaling.ts); absent in runs before it existed. */
  scaling?: ScalingResults | null;
  /** `--merge`: when each section was measured (ISO start time of the run it comes from). */
  merged?: { sectionStartedAt: Record<string, string> };
}

export interface TargetCheck {
  target: string;
  measured: string;
  reference: string;
  ratio: string;
  /** null: the section the target needs was not measured. */
  met: boolean | null;
}

const gb = (bytesPerSecond: number): string => `${(bytesPerSecond / 1e9).toFixed(2)} GB/s`;
const mb = (bytesPerSecond: number): string => `${(bytesPerSecond / 1e6).toFixed(0)} MB/s`;
const pct = (ratio: number): string => `${(ratio * 100).toFixed(0)}%`;
const kib = (bytes: number): string => (bytes >= 1024 * 1024 ? `${bytes / (1024 * 1024)} MiB` : `${bytes / 1024} KiB`);
const records = (perSecond: number): string => (perSecond >= 1e6 ? `${(perSecond / 1e6).toFixed(2)} M/s` : `${(perSecond / 1e3).toFixed(0)} k/s`);

export function checkTargets(results: BenchResults): TargetCheck[] {
  const { limits, e2e } = results;
  const checks: TargetCheck[] = [];
  const defaultRows = e2e.consume.filter((row) => row.transfer === e2e.defaultTransfer);
  if (defaultRows.length > 0) {
    const best = defaultRows.reduce((a, b) => (b.bytesPerSecond > a.bytesPerSecond ? b : a));
    const ratio = best.bytesPerSecond / limits.fileToSocket.bytesPerSecond;
    checks.push({
      target: "Catch-up consume, 1 MiB fetches: ≥ 80% of the raw file-to-socket limit",
      measured: `${gb(best.bytesPerSecond)} (${best.transfer}, ${best.consumers} consumer${best.consumers > 1 ? "s" : ""})`,
      reference: `file-to-socket ${gb(limits.fileToSocket.bytesPerSecond)}`,
      ratio: pct(ratio),
      met: ratio >= 0.8,
    });
  }
  const produce1k = e2e.produce.find((row) => row.recordBytes === 1024 && row.batchBytes === 1024 * 1024 && row.compression === "none" && row.acks === 1);
  if (e2e.producePairs.length > 0) {
    const median = <T>(values: T[], key: (value: T) => number): T => [...values].sort((a, b) => key(a) - key(b))[Math.floor(values.length / 2)]!;
    const pair = median(e2e.producePairs, (each) => each.ratio);
    checks.push({
      target: "Produce, 1 KiB records, 1 MiB batches, acks=1: ≥ 60% of the raw loopback-socket-to-file limit",
      measured: `${mb(pair.bunkaBytesPerSecond)} (median of ${e2e.producePairs.length} paired rounds)`,
      reference: `socket-to-file ${mb(pair.limitBytesPerSecond)} (measured just before)`,
      ratio: pct(pair.ratio),
      met: pair.ratio >= 0.6,
    });
  } else if (produce1k) {
    const ratio = produce1k.bytesPerSecond / limits.socketToFile.bytesPerSecond;
    checks.push({
      target: "Produce, 1 KiB records, 1 MiB batches, acks=1: ≥ 60% of the raw loopback-socket-to-file limit",
      measured: `${mb(produce1k.bytesPerSecond)}`,
      reference: `socket-to-file ${mb(limits.socketToFile.bytesPerSecond)}`,
      ratio: pct(ratio),
      met: ratio >= 0.6,
    });
  }
  const produce100 = e2e.produce.find((row) => row.recordBytes === 100 && row.batchBytes === 1024 * 1024 && row.compression === "none" && row.acks === 1);
  if (produce100) {
    checks.push({
      target: "Produce, 100 B records, 1 MiB batches: ≥ 1,000,000 records/s",
      measured: records(produce100.recordsPerSecond),
      reference: "1.00 M/s",
      ratio: pct(produce100.recordsPerSecond / 1e6),
      met: produce100.recordsPerSecond >= 1e6,
    });
  }
  const curve = e2e.consume.filter((row) => row.transfer === "mmap" && row.fetchesInFlight === 1).sort((a, b) => a.consumers - b.consumers);
  if (curve.length > 1) {
    const one = curve[0]!;
    const peak = curve.reduce((a, b) => (b.bytesPerSecond > a.bytesPerSecond ? b : a));
    checks.push({
      target: "Consume throughput grows with parallel consumers until the cores are busy",
      measured: `${gb(one.bytesPerSecond)} with 1 → ${gb(peak.bytesPerSecond)} with ${peak.consumers} (machine ${pct(one.machineBusy)} → ${pct(peak.machineBusy)} busy)`,
      reference: `${results.machine.nproc} cores`,
      ratio: `${(peak.bytesPerSecond / one.bytesPerSecond).toFixed(2)}×`,
      // Growth that counts: at least 20% more, unless one consumer already kept the machine 90% busy.
      met: peak.bytesPerSecond >= one.bytesPerSecond * 1.2 || one.machineBusy >= 0.9,
    });
  }
  if (e2e.latency) {
    const latency = e2e.latency;
    checks.push({
      target: "p99 end-to-end latency < 10 ms at half of the maximum produce rate",
      measured: `p99 ${latency.p99Ms.toFixed(2)} ms at ${records(latency.achievedRecordsPerSecond)}`,
      reference: `half of ${records(latency.referenceMaxRecordsPerSecond)} (1 KiB records, 64 KiB batches)`,
      ratio: `${((latency.p99Ms / 10) * 100).toFixed(0)}% of budget`,
      met: latency.p99Ms < 10,
    });
  }
  checks.push(...referenceTargets(results));
  checks.push(...scalingTargets(results));
  return checks;
}

const ms = (value: number): string => (Number.isFinite(value) ? `${value.toFixed(2)} ms` : "–");

function referenceTargets(results: BenchResults): TargetCheck[] {
  const checks: TargetCheck[] = [];
  const reference = results.latencyReference;
  for (const rate of reference?.rates ?? []) {
    const measuredPoints = rate.points.filter((point) => (point.target === "bunka" || point.target === "bunka-inline" || point.target === "bunka-listen-off") && Number.isFinite(point.p99Ms));
    const redis = rate.points.find((point) => point.target === "redis");
    const redisAof = rate.points.find((point) => point.target === "redis-aof");
    if (measuredPoints.length === 0) continue;
    const budget = rate.label === "50% of max" ? 10 : 5;
    if (!rate.label.includes("of max")) continue;
    const redisBound = redis && Number.isFinite(redis.p99Ms) ? Math.max(2 * redis.p99Ms, 0) : Number.POSITIVE_INFINITY;
    // Judged on the best of the configurations measured (default, num.partition.workers=0, partition.workers.listen=false), all shown.
    const best = measuredPoints.reduce((a, b) => (b.p99Ms < a.p99Ms ? b : a));
    checks.push({
      target: `Latency reference at ${rate.label}: p99 < ${budget} ms, or within 2× of Redis Streams in the same run`,
      measured: measuredPoints.map((point) => `${label(point)}: p99 ${ms(point.p99Ms)} at ${records(point.achievedRecordsPerSecond)}`).join("; "),
      reference: (redis ? `Redis p99 ${ms(redis.p99Ms)}` : "no Redis") + (redisAof && Number.isFinite(redisAof.p99Ms) ? ` (with its AOF: ${ms(redisAof.p99Ms)})` : ""),
      ratio: `${label(best)}: ${((best.p99Ms / budget) * 100).toFixed(0)}% of budget, ${redis ? (best.p99Ms / redis.p99Ms).toFixed(1) : "–"}× Redis`,
      met: best.p99Ms < budget && best.p99Ms <= redisBound,
    });
  }
  const rdperf = results.rdperf;
  for (const row of rdperf?.throughput ?? []) {
    if (row.acks !== 1) continue;
    const goal = row.recordBytes >= 1024 ? 0.6 : 0.8;
    const ratio = row.bunkaRecordsPerSecond / row.mockRecordsPerSecond;
    checks.push({
      target: `rdkafka_performance producing ${row.recordBytes} B records into one partition: ≥ ${pct(goal)} of its mock-broker ceiling`,
      measured: records(row.bunkaRecordsPerSecond),
      reference: `mock broker ${records(row.mockRecordsPerSecond)} (same run)`,
      ratio: pct(ratio),
      met: ratio >= goal,
    });
  }
  for (const point of rdperf?.latency ?? []) {
    // Judged on the best of the default, num.partition.workers=0 and partition.workers.listen=false, all shown.
    const inline = point.inline && !("error" in point.inline) ? point.inline : null;
    const listenOff = point.listenOff && !("error" in point.listenOff) ? point.listenOff : null;
    const best = Math.min(point.p99Ms, inline?.p99Ms ?? Number.POSITIVE_INFINITY, listenOff?.p99Ms ?? Number.POSITIVE_INFINITY);
    const others = [inline ? ["workers=0", inline] as const : null, listenOff ? ["listen=false", listenOff] as const : null].filter((each) => each !== null);
    checks.push({
      target: `rdkafka_performance -l at ${point.targetRecordsPerSecond.toLocaleString("en-US")} records/s: p99 < 5 ms`,
      measured: `default: p99 ${ms(point.p99Ms)} (${records(point.achievedRecordsPerSecond)} achieved)${others.map(([name, figures]) => `; ${name}: p99 ${ms(figures.p99Ms)} (${records(figures.achievedRecordsPerSecond)})`).join("")}`,
      reference: "5 ms",
      ratio: `${((best / 5) * 100).toFixed(0)}% of budget`,
      met: best < 5,
    });
  }
  return checks;
}

/** How the report names each Bunka broker of the latency sections. */
function label(point: ReferencePoint): string {
  return point.target === "bunka-inline" ? "workers=0" : point.target === "bunka-listen-off" ? "listen=false" : "default";
}

/** "4,980 of 4,980 (100%)", or "–" where not counted (older results, other brokers). */
function localCell(counts: LocalAnswers | undefined): string {
  return counts ? describeLocalAnswers(counts) : "–";
}

function pointCells(point: ReferencePoint | undefined): string[] {
  if (!point) return ["–", "–", "–"];
  if (point.error) return [`failed: ${point.error}`, "", ""];
  return [ms(point.p50Ms), ms(point.p99Ms), ms(point.p999Ms)];
}

function renderReference(results: BenchResults): string[] {
  const out: string[] = [];
  const reference = results.latencyReference;
  if (reference && reference.rates.length > 0) {
    // A third broker (partition.workers.listen=false) only in runs that measured one; the default broker's share of
    // requests its listening workers answered only when its /metrics counted them.
    const withListenOff = reference.rates.some((rate) => rate.points.some((point) => point.target === "bunka-listen-off"));
    const withRedisAof = reference.rates.some((rate) => rate.points.some((point) => point.target === "redis-aof"));
    const withLocal = reference.rates.some((rate) => rate.points.some((point) => point.target === "bunka" && point.breakdown?.localProduces));
    out.push("## Latency side by side: Bunka, Redis Streams and the VM's floor");
    out.push("");
    out.push(
      `One paced producer and one tailing consumer of ${reference.recordBytes} B records, in worker threads of one process (one CLOCK_MONOTONIC; blocking C sockets), ` +
        `against each server in turn at each rate: **Bunka** (the default: its partition workers are the network shards, each reading its own connections and answering its own partitions' produces and fetches; ` +
        `Produce acks=1 into one partition; Fetch long-poll, max.wait 500 ms, min.bytes 1` +
        (withLocal
          ? `; "answered in the worker" counts the produces and fetches the owning worker answered without the main thread, from /metrics \`bunka_network_shard_local_requests_total{api}\`, out of all (\`bunka_request_duration_seconds_count{api}\`)`
          : "") +
        `), **Bunka with \`num.partition.workers=0\`** (a second broker whose socket thread owns the partitions: no thread hop per request; \`workers=0\` columns), ` +
        (withListenOff
          ? `**Bunka with \`partition.workers.listen=false\`** (a third broker: the socket thread reads every connection and the partition workers own the partitions, one hop per produce and fetch; \`listen=false\` columns), `
          : "") +
        `**Redis Streams** ${reference.redisVersion} (\`XADD\` pipelined, \`XREAD BLOCK\`; redis-server started by the bench, no persistence, the stream capped by MAXLEN so its memory is reused), ` +
        (withRedisAof
          ? `**Redis Streams with its AOF** (a second redis-server, \`appendonly yes\`, \`appendfsync no\`, no rewrites: every XADD appended to a file through the page cache, as Bunka appends to its log; \`Redis AOF\` columns), `
          : "") +
        `and a **TCP relay** ` +
        `that only copies bytes (the VM's floor: the same two loopback hops and thread wake-ups). The producer sleeps until the next record is due and sends every due record in one write ` +
        `(one Produce request, or that many XADDs), each stamped with the send time; latency = receive time − stamp, for every record after a ${reference.warmupSeconds} s warm-up, over ${reference.seconds} s. ` +
        `Fractions are of Bunka's produce-only maximum (${records(reference.maxRecordsPerSecond)}, 1 KiB records in 64 KiB batches).`,
    );
    out.push("");
    out.push(
      table(
        [
          "Rate", "Sent", "Writes/s (Bunka)", "Bunka p50", "p99", "p99.9",
          ...(withLocal ? ["produces answered in the worker", "fetches answered in the worker"] : []),
          "workers=0 p50", "p99", "p99.9",
          ...(withListenOff ? ["listen=false p50", "p99", "p99.9"] : []),
          "Redis p50", "p99", "p99.9",
          ...(withRedisAof ? ["Redis AOF p50", "p99", "p99.9"] : []),
          "Floor p50", "p99", "p99.9",
        ],
        reference.rates.map((rate) => {
          const point = (target: string) => rate.points.find((each) => each.target === target);
          const bunka = point("bunka");
          return [
            `${rate.label} (${records(rate.recordsPerSecond)})`,
            bunka ? records(bunka.achievedRecordsPerSecond) : "–",
            bunka ? `${(bunka.sendsPerSecond / 1000).toFixed(1)} k` : "–",
            ...pointCells(bunka),
            ...(withLocal ? [localCell(bunka?.breakdown?.localProduces), localCell(bunka?.breakdown?.localFetches)] : []),
            ...pointCells(point("bunka-inline")),
            ...(withListenOff ? pointCells(point("bunka-listen-off")) : []),
            ...pointCells(point("redis")),
            ...(withRedisAof ? pointCells(point("redis-aof")) : []),
            ...pointCells(point("relay")),
          ];
        }),
      ),
    );
    if (reference.rates.some((rate) => rate.points.some((point) => point.serverCores))) {
      const columns: [string, string][] = [
        ["bunka", "Bunka"],
        ["bunka-inline", "workers=0"],
        ...(withListenOff ? ([["bunka-listen-off", "listen=false"]] as [string, string][]) : []),
        ["redis", "Redis"],
        ...(withRedisAof ? ([["redis-aof", "Redis AOF"]] as [string, string][]) : []),
      ];
      out.push("");
      out.push(
        "Each server process's CPU over its point (warm-up included), user / kernel cores. Kernel time that climbs at the same rate is the machine's price for memory it has not " +
          "touched lately (bench/cold-memory.ts; analysis: \"The cold-memory wall\"): a server whose memory grows with the records (Bunka's log, Redis's AOF) pays it once its page cache has grown past what the host still backs.",
      );
      out.push("");
      out.push(
        table(
          ["Rate", ...columns.map(([, name]) => name)],
          reference.rates.map((rate) => [
            rate.label,
            ...columns.map(([target]) => {
              const cores = rate.points.find((each) => each.target === target)?.serverCores;
              return cores ? `${cores.user.toFixed(2)} / ${cores.system.toFixed(2)}` : "–";
            }),
          ]),
        ),
      );
    }
    const lost = reference.rates.flatMap((rate) => rate.points.filter((point) => !point.error && point.received < 0.999).map((point) => `${point.target} at ${rate.label}: ${(point.received * 100).toFixed(1)}% received within the run`));
    // Rows of the workers=0 and listen=false brokers are marked as such.
    const broken = reference.rates.flatMap((rate) =>
      rate.points.filter((point) => point.breakdown).map((point) => ({ rate: point.target === "bunka" ? rate : { ...rate, label: `${rate.label}, ${label(point)}` }, breakdown: point.breakdown! })),
    );
    if (broken.length > 0) {
      out.push("");
      out.push(
        "Where Bunka's time went, per rate (the broker's own /metrics histograms over that point, warm-up included: `bunka_request_stage_duration_seconds` splits each request into " +
          "read, queue, hand-off to and from the partition worker, time in the worker, fsync, replication wait, long-poll wait, the rest of the handler and send; a stage's row counts the requests that passed it; " +
          "percentiles are bucket upper bounds, so read them as \"at most\"). CPU per thread in cores:",
      );
      out.push("");
      const bound = (value: number): string => (Number.isFinite(value) ? (value < 1 ? `≤ ${(value * 1000).toFixed(0)} µs` : `≤ ${value} ms`) : "> 30 s");
      out.push(
        table(
          ["Rate", "Stage", "Requests", "mean", "p50", "p99", "p99.9"],
          broken.flatMap(({ rate, breakdown }) => [
            ...breakdown.stages.map((stage) => [rate.label, stage.stage, stage.count.toLocaleString("en-US"), ms(stage.meanMs), bound(stage.p50Ms), bound(stage.p99Ms), bound(stage.p999Ms)]),
            ...(breakdown.eventLoopDelayMs
              ? [[rate.label, "socket thread's event loop: how late a 10 ms timer ran (GC, long turns, waiting for a CPU)", "", "", ms(breakdown.eventLoopDelayMs.p50), ms(breakdown.eventLoopDelayMs.p99), `max ${ms(breakdown.eventLoopDelayMs.max)}`]]
              : []),
            // Workers pass each other's requests straight on, so the owner's answer may have crossed once from the
            // worker that read it: no main thread, but not always no hop.
            ...(breakdown.localProduces
              ? [[rate.label, "Produce: answered by the owning listening worker (no main thread), of all", localCell(breakdown.localProduces), "", "", "", ""]]
              : []),
            ...(breakdown.localFetches
              ? [[rate.label, "Fetch: answered by the owning listening worker (no main thread), of all", localCell(breakdown.localFetches), "", "", "", ""]]
              : []),
            [rate.label, "CPU by thread", "", Object.entries(breakdown.threadCores).map(([thread, cores]) => `${thread} ${cores.toFixed(2)}`).join(", "), "", "", ""],
          ]),
        ),
      );
    }
    const slowest = broken.flatMap(({ rate, breakdown }) => (breakdown.slowest ?? []).map((report) => ({ rate, report })));
    if (slowest.length > 0) {
      const stages = TRACE_STAGES;
      out.push("");
      out.push(
        "The slowest 1% of Bunka's requests at each rate, stage by stage (`GET /api/v1/request-latency` over the point, warm-up included: the mean of each stage over those requests, in ms; " +
          "they add up to the mean total). A tailing consumer's fetch is slow by design when it waits for the next append (`wait`); what matters there is the rest:",
      );
      out.push("");
      out.push(
        table(
          ["Rate", "API", "Slowest / all", "Total mean (min–max)", ...stages],
          slowest.map(({ rate, report }) => [
            rate.label,
            report.api,
            `${report.slowest.toLocaleString("en-US")} / ${report.requests.toLocaleString("en-US")}${report.truncated ? " (kept)" : ""}`,
            `${report.totalMs.mean.toFixed(2)} (${report.totalMs.min.toFixed(2)}–${report.totalMs.max.toFixed(2)})`,
            ...stages.map((stage) => (report.stagesMs[stage] ?? 0).toFixed(2)),
          ]),
        ),
      );
    }
    if (lost.length > 0) out.push("", `Not every record arrived before the consumer's deadline (the server fell behind): ${lost.join("; ")}.`);
    out.push("");
  }
  const rdperf = results.rdperf;
  if (rdperf && (rdperf.throughput.length > 0 || rdperf.error)) {
    out.push("## librdkafka's rdkafka_performance");
    out.push("");
    if (rdperf.error) out.push(rdperf.error, "");
    out.push(
      `${rdperf.tool}, built by \`../shared/tools/rdperf/build.sh\`. Producer: one partition, batch.size 1000000, linger.ms 10; the same command against Bunka and against librdkafka's ` +
        `in-process mock broker (\`-X test.mock.num.brokers=1\`, the client's own ceiling), alternating, best run of each; CPU is user + system time per wall second during Bunka's best run.`,
    );
    out.push("");
    out.push(
      table(
        ["Records", "acks", "Bunka", "Mock broker", "Bunka / mock", "Bunka runs", "Mock runs", "Client cores", "Broker cores", "rtt (tool)"],
        rdperf.throughput.map((row) => [
          `${row.recordBytes} B × ${row.records.toLocaleString("en-US")}`,
          String(row.acks),
          records(row.bunkaRecordsPerSecond),
          records(row.mockRecordsPerSecond),
          pct(row.bunkaRecordsPerSecond / row.mockRecordsPerSecond),
          row.bunkaRuns.map(records).join(", "),
          row.mockRuns.map(records).join(", "),
          row.clientCores.toFixed(2),
          row.brokerCores.toFixed(2),
          `${row.bunkaRttMs} ms`,
        ]),
      ),
    );
    out.push("");
    const threadCpu = (perThread: Record<string, { user: number; system: number }>): string =>
      Object.entries(perThread)
        .filter(([, cpu]) => cpu.user + cpu.system >= 0.1)
        .map(([thread, cpu]) => `${thread} ${cpu.user.toFixed(2)} + ${cpu.system.toFixed(2)}`)
        .join(", ");
    if (rdperf.coldRun) {
      out.push(
        `Before the rows, one unmeasured 1 KiB acks=1 run into a topic then deleted (page cache the broker had not used yet): ${records(rdperf.coldRun.recordsPerSecond)}; ` +
          `broker CPU ms per MB by thread (user + system): ${threadCpu(rdperf.coldRun.brokerThreadMsPerMB)}.`,
      );
      out.push("");
    }
    const withThreads = rdperf.throughput.filter((row) => row.brokerThreadMsPerMB);
    if (withThreads.length > 0) {
      out.push("Broker CPU ms per MB of records by thread (user + system; bun.exe is the socket thread, Worker the partition workers) in Bunka's best run:");
      out.push("");
      for (const row of withThreads) out.push(`* ${row.recordBytes} B, acks=${row.acks}: ${threadCpu(row.brokerThreadMsPerMB!)}`);
      out.push("");
    }
    if (rdperf.latency.length > 0) {
      out.push("Latency mode (`-l` on a producer and a consumer, 1 KiB records, linger.ms 0, acks=1; `-A` writes each record's latency; the first tenth of the run is left out):");
      out.push("");
      // Rows per broker: the default, then (when measured) the one with num.partition.workers=0 and the one with
      // partition.workers.listen=false; the local-answer columns only in runs whose default broker counted them.
      const withLocal = rdperf.latency.some((point) => point.localProduces);
      const withListenOff = rdperf.latency.some((point) => point.listenOff);
      if (withLocal || withListenOff) {
        out.push(
          [
            withLocal
              ? "The default broker's last columns count the produces and the consumer's fetches the owning partition worker answered without the main thread, " +
                "out of all the broker answered (which worker reads a connection is the kernel's SO_REUSEPORT hash; a worker passes another worker's requests straight to it)."
              : "",
            withListenOff ? "`listen=false` is a third broker with `partition.workers.listen=false`: its socket thread reads every connection." : "",
          ].filter(Boolean).join(" "),
        );
        out.push("");
      }
      out.push(
        table(
          ["Asked", "Bunka", "Achieved", "Samples", "p50", "p99", "p99.9", "max", ...(withLocal ? ["Produces answered in the worker", "Fetches answered in the worker"] : [])],
          rdperf.latency.flatMap((point) => {
            const asked = records(point.targetRecordsPerSecond);
            const rows: string[][] = [];
            const row = (name: string, figures: LatencyFigures | { error: string } | undefined, local?: RdperfLatency) => {
              if (!figures) return;
              const cells = "error" in figures
                ? [asked, name, figures.error, "", "", "", "", ""]
                : [asked, name, records(figures.achievedRecordsPerSecond), String(figures.samples), ms(figures.p50Ms), ms(figures.p99Ms), ms(figures.p999Ms), ms(figures.maxMs)];
              rows.push(withLocal ? [...cells, localCell(local?.localProduces), localCell(local?.localFetches)] : cells);
            };
            row("default", point, point);
            row("workers=0", point.inline);
            row("listen=false", point.listenOff);
            return rows;
          }),
        ),
      );
      const mocked = rdperf.latency.filter((point) => point.mock);
      if (mocked.length > 0) {
        out.push("");
        out.push("The same two commands against librdkafka's mock broker (in the consumer's process, the consumer polling every millisecond: the mock does not wake a fetch on an append), right after each Bunka point: what the tool and the VM reach without Bunka.");
        out.push("");
        out.push(
          table(
            ["Asked", "Achieved", "Samples", "p50", "p99", "p99.9", "max"],
            mocked.map((point) => {
              const mock = point.mock!;
              if ("error" in mock) return [records(point.targetRecordsPerSecond), mock.error, "", "", "", "", ""];
              return [records(point.targetRecordsPerSecond), records(mock.achievedRecordsPerSecond), String(mock.samples), ms(mock.p50Ms), ms(mock.p99Ms), ms(mock.p999Ms), ms(mock.maxMs)];
            }),
          ),
        );
      }
      out.push("");
    }
  }
  return out;
}

function table(header: string[], rows: string[][]): string {
  const lines = [`| ${header.join(" | ")} |`, `|${header.map(() => "---").join("|")}|`];
  for (const row of rows) lines.push(`| ${row.join(" | ")} |`);
  return lines.join("\n");
}

export function renderMarkdown(results: BenchResults, chartPath: string): string {
  const { limits, e2e, machine } = results;
  const out: string[] = [];
  out.push("# Bunka benchmarks");
  out.push("");
  out.push(
    results.quick
      ? "> Quick mode: short runs, fewer configurations. Figures are indicative only."
      : results.merged
        ? "Generated by `bun run bench`, sections measured by separate runs (`--merge`, listed below); every figure in a section comes from that section's run. Ratios compare Bunka with the machine's limits measured in the same run."
        : "Generated by `bun run bench`; every figure below comes from that one run. Ratios compare Bunka with the machine's limits measured in the same run.",
  );
  out.push("");
  out.push(`Command: \`${results.command}\` — started ${results.startedAt}, took ${Math.round(results.durationSeconds)} s.`);
  if (results.merged) {
    out.push("");
    out.push(`Runs the sections come from: ${Object.entries(results.merged.sectionStartedAt).map(([section, startedAt]) => `${section} ${startedAt}`).join(", ")}. The machine table is the last run's.`);
  }
  out.push("");
  out.push(
    table(
      ["Machine", ""],
      [
        ["CPU", `${machine.cpuModel}, ${machine.nproc} cores (\`nproc\`)`],
        ["Memory", machine.memory],
        ["Kernel", machine.kernel],
        ["Bun", machine.bunVersion],
        ["kcat", machine.kcatVersion],
        ["Load average before / after", `${machine.loadBefore} / ${machine.loadAfter}`],
      ],
    ),
  );
  out.push("");

  out.push("## Targets");
  out.push("");
  out.push(table(["Target", "Measured", "Reference", "Ratio", "Met"], checkTargets(results).map((check) => [check.target, check.measured, check.reference, check.ratio, check.met === null ? "–" : check.met ? "yes" : "**no**"])));
  out.push("");
  out.push(`![Produce and consume throughput](${chartPath})`);
  out.push("");

  out.push("## Machine limits (same run)");
  out.push("");
  out.push(
    table(
      ["Limit", "How", "Throughput", "Runs"],
      Object.values(limits).map((limit) => [limit.name, limit.description, gb(limit.bytesPerSecond), limit.runs.map((rate: number) => (rate / 1e9).toFixed(2)).join(", ")]),
    ),
  );
  out.push("");

  out.push("## Produce");
  out.push("");
  out.push(
    "Load generator: one connection per partition (2 partitions, one per partition worker), pre-built batches, " +
      "requests pipelined so that about 4 MiB are in flight per connection (at least 4 requests). " +
      "MB/s counts record batch bytes as stored (compressed bytes for LZ4); the ratio is of the socket-to-file limit. " +
      "Every batch is validated record by record before it is stored; compressed batches are decompressed for that (bounded by max.message.bytes), which is what the zstd and gzip rows show the cost of.",
  );
  out.push("");
  out.push(
    table(
      ["Records", "Batch", "Compression", "acks", "records/s", "MB/s", "payload MB/s", "ratio of limit", "broker cores", "machine busy"],
      e2e.produce.map((row) => [
        `${row.recordBytes} B`,
        kib(row.batchBytes),
        row.compression,
        String(row.acks),
        records(row.recordsPerSecond),
        mb(row.bytesPerSecond),
        mb(row.payloadBytesPerSecond),
        pct(row.bytesPerSecond / limits.socketToFile.bytesPerSecond),
        row.brokerCpuCores.toFixed(2),
        pct(row.machineBusy),
      ]),
    ),
  );
  out.push("");
  if (e2e.producePairs.length > 0) {
    out.push("Headline configuration (1 KiB records, 1 MiB batches, acks=1) in rounds, each right after its own socket-to-file limit run:");
    out.push("");
    out.push(table(["Round", "socket-to-file limit", "Bunka", "ratio"], e2e.producePairs.map((pair, index) => [String(index + 1), mb(pair.limitBytesPerSecond), mb(pair.bunkaBytesPerSecond), pct(pair.ratio)])));
    out.push("");
  }

  if (e2e.memory) {
    const memory = e2e.memory;
    const mib = (bytes: number): string => `${(bytes / 2 ** 20).toFixed(0)} MiB`;
    const last = memory.idleSamples[memory.idleSamples.length - 1];
    const firstBelow = memory.idleSamples.find((sample) => sample.rssBytes <= memory.beforeRssBytes + (memory.afterBurstRssBytes - memory.beforeRssBytes) / 2);
    out.push("### Memory after the burst");
    out.push("");
    out.push(
      `Broker RSS (/proc/PID/status) before the produce matrix above, right after it, and while idle afterwards; the broker ran with ` +
        `MIMALLOC_PURGE_DELAY=${memory.purgeDelay}. Half of the burst's growth was returned ${firstBelow ? `after ${firstBelow.seconds} s` : "not within the idle period"}.`,
    );
    out.push("");
    out.push(
      table(
        ["Before", "After the burst", "Peak (VmHWM)", ...memory.idleSamples.filter((sample) => sample.seconds % 5 === 0 || sample.seconds === 1 || sample === last).map((sample) => `idle ${sample.seconds} s`)],
        [[mib(memory.beforeRssBytes), mib(memory.afterBurstRssBytes), mib(memory.peakRssBytes), ...memory.idleSamples.filter((sample) => sample.seconds % 5 === 0 || sample.seconds === 1 || sample === last).map((sample) => mib(sample.rssBytes))]],
      ),
    );
    out.push("");
  }
  out.push("## Consume (catch-up from the page cache)");
  out.push("");
  out.push(
    `${(e2e.consumeDataBytes / 2 ** 20).toFixed(0)} MiB in 8 partitions (256 KiB batches of 1000 B records), read again and again from offset 0; ` +
      "each consumer connection owns partitions round-robin and fetches up to 1 MiB per partition; \"fetches in flight\" is 8 for the pipelined single consumer " +
      "and 1 for the curve (one request at a time per connection, as Kafka clients fetch). " +
      `The ratio is of the file-to-socket limit. Faster transfer in this run: **${e2e.defaultTransfer}** (Bunka's default, in src/server/sendfile.ts, is mmap; BUNKA_FETCH_TRANSFER=sendfile switches).`,
  );
  out.push("");
  out.push(
    table(
      ["Transfer", "Consumers", "Fetches in flight", "GB/s", "per consumer (GB/s)", "records/s", "ratio of limit", "broker cores", "machine busy"],
      e2e.consume.map((row) => [
        row.transfer,
        String(row.consumers),
        String(row.fetchesInFlight),
        (row.bytesPerSecond / 1e9).toFixed(2),
        row.perConsumerBytesPerSecond.map((rate) => (rate / 1e9).toFixed(2)).join(" / "),
        records(row.recordsPerSecond),
        pct(row.bytesPerSecond / limits.fileToSocket.bytesPerSecond),
        row.brokerCpuCores.toFixed(2),
        pct(row.machineBusy),
      ]),
    ),
  );
  out.push("");

  if (e2e.latency) {
    const latency = e2e.latency;
    out.push("## End-to-end latency");
    out.push("");
    out.push(
      `A paced producer (1 KiB records, 64 KiB batches, acks=1, 2 partitions) stamps each batch's first record with the send time; ` +
        `a long-polling consumer per partition (max.wait 500 ms, min.bytes 1) reads them back; clocks are CLOCK_MONOTONIC of one process. ` +
        `Rates: fractions of the maximum measured above for that configuration (produce only), after an unmeasured warm-up at the same rate.`,
    );
    out.push("");
    const rows = e2e.latencyCurve.length > 0 ? e2e.latencyCurve : [latency];
    out.push(
      table(
        ["Share of max", "Target rate", "Achieved", "Samples", "p50", "p99", "p99.9", "max", "broker cores (user / kernel)"],
        rows.map((row) => [
          pct(row.fractionOfMax),
          records(row.targetRecordsPerSecond),
          records(row.achievedRecordsPerSecond),
          String(row.samples),
          `${row.p50Ms.toFixed(2)} ms`,
          `${row.p99Ms.toFixed(2)} ms`,
          `${row.p999Ms.toFixed(2)} ms`,
          `${row.maxMs.toFixed(2)} ms`,
          row.brokerUserCores === undefined || row.brokerSystemCores === undefined ? "not measured" : `${row.brokerUserCores.toFixed(2)} / ${row.brokerSystemCores.toFixed(2)}`,
        ]),
      ),
    );
    out.push("");
  }

  out.push(...renderScaling(results.scaling));
  out.push(...renderReference(results));

  if (e2e.crossChecks.length > 0) {
    out.push("## Cross-check with a real client");
    out.push("");
    out.push(table(["Client", "What", "Records", "Seconds", "records/s", "MB/s", "Note"], e2e.crossChecks.map((check) => [check.tool, check.what, check.records.toLocaleString("en-US"), check.seconds.toFixed(1), records(check.recordsPerSecond), mb(check.bytesPerSecond), check.note])));
    out.push("");
  }

  out.push("## Micro-benchmarks (tinybench)");
  out.push("");
  out.push(table(["Group", "Benchmark", "ops/s", "mean", "p99", "throughput"], results.micro.map((result) => [result.group, result.name, formatOps(result.opsPerSecond), `${result.meanUs.toFixed(2)} µs`, `${result.p99Us.toFixed(2)} µs`, result.bytesPerOp > 0 ? gb(result.opsPerSecond * result.bytesPerOp) : ""])));
  out.push("");

  const analysisPath = join(import.meta.dir, "analysis.md");
  if (existsSync(analysisPath)) {
    out.push(readFileSync(analysisPath, "utf8").trim());
    out.push("");
  }
  return out.join("\n");
}

// ---- Scaling curves (bench/shard-scaling.ts) ----

function medianOf(values: number[]): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor((sorted.length - 1) / 2)]!;
}

function shardPoints(scaling: ScalingResults, workload: ShardPoint["workload"], connections: number, shards: ShardConfiguration): ShardPoint[] {
  return scaling.shardCurve.filter((point) => point.workload === workload && point.connections === connections && point.shards === shards);
}

/** The shard curve's brokers: each num.network.shards value, then the listen broker when measured (runs before it have none). */
function shardConfigurations(scaling: ScalingResults): ShardConfiguration[] {
  return [...scaling.shardCounts, ...(scaling.listen ? (["listen"] as const) : [])];
}

function configurationLabel(shards: ShardConfiguration): string {
  return shards === "listen" ? "listen" : `shards=${shards}`;
}

/** Threads that read client sockets: with listen, every partition worker (the main thread leaves PLAINTEXT to them). */
function networkShardsOf(scaling: ScalingResults, shards: ShardConfiguration): number {
  return shards === "listen" ? (scaling.listen?.partitionWorkers ?? Number.NaN) : shards;
}

/** Per round, 2 consumers' catch-up throughput over 1 consumer's on the same broker; the median of the rounds. */
function consumePairRatio(scaling: ScalingResults, shards: ShardConfiguration): { ratio: number; one: number; two: number; rounds: number } {
  const one = shardPoints(scaling, "catch-up consume", 1, shards);
  const two = shardPoints(scaling, "catch-up consume", 2, shards);
  const ratios = one.flatMap((single) => two.filter((pair) => pair.round === single.round).map((pair) => pair.bytesPerSecond / single.bytesPerSecond));
  return { ratio: medianOf(ratios), one: medianOf(one.map((point) => point.bytesPerSecond)), two: medianOf(two.map((point) => point.bytesPerSecond)), rounds: ratios.length };
}

function idleLatencies(scaling: ScalingResults, idleConnections: number): { p99Ms: number[]; closedByBroker: number; fewestOpenAtBroker: number } {
  const points = scaling.connectionCurve.filter((point) => point.busyConnections > 1 && point.idleConnections === idleConnections && point.latency);
  return {
    p99Ms: points.map((point) => point.latency!.p99Ms),
    closedByBroker: points.reduce((sum, point) => sum + point.idleClosedByBroker, 0),
    fewestOpenAtBroker: Math.min(...points.map((point) => point.brokerConnectionsOpen)),
  };
}

function scalingTargets(results: BenchResults): TargetCheck[] {
  const scaling = results.scaling;
  const consumeTarget = `Catch-up consume, 2 consumers vs 1 on ${scaling?.cores ?? results.machine.nproc} cores: ≥ 1.5×`;
  const idleTarget = "p99 with 1,000 idle connections open: same as with none (the median of rounds ≤ 1.25× none's, or ≤ none's worst round)";
  const notMeasured = (target: string): TargetCheck => ({ target, measured: "not measured", reference: "–", ratio: "–", met: null });
  if (!scaling) return [notMeasured(consumeTarget), notMeasured(idleTarget)];
  const checks: TargetCheck[] = [];
  const pairs = shardConfigurations(scaling).map((shards) => ({ shards, ...consumePairRatio(scaling, shards) })).filter((pair) => pair.rounds > 0);
  if (pairs.length === 0) checks.push(notMeasured(consumeTarget));
  else {
    const best = pairs.reduce((a, b) => (b.ratio > a.ratio ? b : a));
    checks.push({
      target: consumeTarget,
      measured: pairs.map((pair) => `${configurationLabel(pair.shards)}: ${pair.ratio.toFixed(2)}× (${gb(pair.one)} → ${gb(pair.two)})`).join("; "),
      reference: `1 consumer, same broker, same round (median of ${best.rounds} paired round${best.rounds > 1 ? "s" : ""})`,
      ratio: `${best.ratio.toFixed(2)}× (${configurationLabel(best.shards)})`,
      met: best.ratio >= 1.5,
    });
  }
  const none = idleLatencies(scaling, 0);
  const thousand = idleLatencies(scaling, 1000);
  if (none.p99Ms.length === 0 || thousand.p99Ms.length === 0) checks.push(notMeasured(idleTarget));
  else {
    const noneMs = medianOf(none.p99Ms);
    const thousandMs = medianOf(thousand.p99Ms);
    const rounds = (values: number[]) => values.map((value) => value.toFixed(2)).join(", ");
    // The figure means something only if the broker held every idle connection: accepted (counted) and not closed.
    const held = thousand.closedByBroker === 0 && thousand.fewestOpenAtBroker >= 1000;
    const closed = held ? "" : `; not all held by the broker: ${thousand.closedByBroker} closed, as few as ${thousand.fewestOpenAtBroker} counted open`;
    checks.push({
      target: idleTarget,
      measured: `p99 ${ms(thousandMs)} (rounds ${rounds(thousand.p99Ms)})${closed}`,
      reference: `no idle connections: ${ms(noneMs)} (rounds ${rounds(none.p99Ms)}); paced ${records(scaling.pacedRecordsPerSecond)}`,
      ratio: `${(thousandMs / noneMs).toFixed(2)}×`,
      met: held && (thousandMs <= noneMs * 1.25 || thousandMs <= Math.max(...none.p99Ms)),
    });
  }
  return checks;
}

interface ThroughputSummary {
  bytesPerSecond: number;
  roundsMB: string;
  brokerCores: number;
  mainCores: number;
  machineBusy: number;
}

/** Medians over the rounds of one configuration, and each round's MB/s. */
function summarize(points: ScalingThroughput[]): ThroughputSummary {
  return {
    bytesPerSecond: medianOf(points.map((point) => point.bytesPerSecond)),
    roundsMB: points.map((point) => (point.bytesPerSecond / 1e6).toFixed(0)).join(", "),
    brokerCores: medianOf(points.map((point) => point.brokerCpuCores)),
    mainCores: medianOf(points.map((point) => point.mainThreadCores)),
    machineBusy: medianOf(points.map((point) => point.machineBusy)),
  };
}

/** The main thread's share of the requests read, median and per round ("–" for runs before it was recorded). */
function mainThreadRequestShare(points: ShardPoint[]): string {
  const shares = points.filter((point) => point.requestsByShard?.length).map((point) => point.requestsByShard[0]! / Math.max(1, point.requestsByShard.reduce((sum, count) => sum + count, 0)));
  if (shares.length === 0) return "–";
  return `${pct(medianOf(shares))} (${shares.map((share) => (share * 100).toFixed(0)).join(", ")})`;
}

/** The listen broker's share of the figure's own requests (Produce or Fetch) a partition worker answered, median and per round. */
function workerAnswerShare(points: ShardPoint[]): string {
  const shares = points.flatMap((point) => {
    const answers = point.workload === "produce" ? point.workerProduces : point.workerFetches;
    return answers ? [answers.local / Math.max(1, answers.all)] : [];
  });
  if (shares.length === 0) return "–";
  return `${pct(medianOf(shares))} (${shares.map((share) => (share * 100).toFixed(0)).join(", ")})`;
}

function renderShardCurve(scaling: ScalingResults): string[] {
  const workloads: { workload: ShardPoint["workload"]; connections: number }[] = [...new Map(scaling.shardCurve.map((point) => [`${point.workload} ${point.connections}`, { workload: point.workload, connections: point.connections }])).values()];
  const shardsColumn = (shards: ShardConfiguration) => (shards === "listen" ? `listen (${scaling.listen?.partitionWorkers} workers)` : String(shards));
  const rows = workloads.flatMap(({ workload, connections }) =>
    shardConfigurations(scaling).map((shards) => {
      const points = shardPoints(scaling, workload, connections, shards);
      const summary = summarize(points);
      return [
        workload, String(connections), shardsColumn(shards), mb(summary.bytesPerSecond), summary.roundsMB, mb(summary.bytesPerSecond / networkShardsOf(scaling, shards)), mainThreadRequestShare(points), workerAnswerShare(points),
        summary.brokerCores.toFixed(2), summary.mainCores.toFixed(2), pct(summary.mainCores / summary.brokerCores), gb(summary.bytesPerSecond / summary.mainCores), pct(summary.machineBusy),
      ];
    }),
  );
  return [
    "### Throughput vs network shards",
    "",
    `One broker per \`num.network.shards\` value, ${scaling.rounds} round${scaling.rounds > 1 ? "s" : ""} over all of them (order alternating), ${scaling.seconds} s per figure; medians, each round's MB/s listed. ` +
      `Produce: ${scaling.produceConnections} connections, ${kib(scaling.produceBatchBytes)} batches of ${scaling.recordBytes} B records, acks=1, ${scaling.produceInFlight} requests in flight each. ` +
      `Catch-up consume: ${(scaling.consumeDataBytes / 2 ** 20).toFixed(0)} MiB over ${scaling.consumePartitions} partitions from the page cache, 1 MiB fetches, one in flight per connection. ` +
      "The main thread is the single owner of request handling (shards only frame and write); its share of the broker's CPU, and the throughput per core it spends " +
      "(what the design would reach with the main thread saturated and cores to spare for everything else), are what bound scaling with more cores. " +
      "Which shard reads a connection is the kernel's SO_REUSEPORT hash, so with few connections the split differs from round to round (the requests column, from /metrics)." +
      (scaling.listen
        ? ` "listen": a broker with \`partition.workers.listen=true\` and the default ${scaling.listen.partitionWorkers} partition workers, measured in the same rounds: each worker reads sockets, the main thread none (it leaves PLAINTEXT connections to the workers; per shard: over the workers), ` +
          "and a worker answers a produce or a consumer's sessionless fetch of its own partitions itself, splitting a fetch of several workers' partitions by owner. " +
          '"Answered by a worker": of the figure\'s Produce (produce) or Fetch (consume) requests the broker answered, the share a worker answered without the main thread ' +
          "(/metrics bunka_network_shard_local_requests_total over bunka_request_duration_seconds_count)."
        : ""),
    "",
    table(["Workload", "Connections", "Shards", "MB/s", "Rounds (MB/s)", "per shard", "Requests read by the main thread (rounds, %)", "Answered by a worker (rounds, %)", "Broker cores", "Main thread cores", "Main thread share", "per main-thread core", "Machine busy"], rows),
    "",
  ];
}

function renderConnectionCurve(scaling: ScalingResults): string[] {
  const keys = [...new Map(scaling.connectionCurve.map((point) => [`${point.busyConnections}+${point.idleConnections}`, point])).values()].sort((a, b) => a.busyConnections - b.busyConnections || a.idleConnections - b.idleConnections);
  const rows = keys.map((key) => {
    const points = scaling.connectionCurve.filter((point) => point.busyConnections === key.busyConnections && point.idleConnections === key.idleConnections);
    const produce = summarize(points.map((point) => point.produce));
    const latencies = points.flatMap((point) => (point.latency ? [point.latency] : []));
    const latency = latencies.length === 0
      ? ["–", "–", "–", "–", "–"]
      : [ms(medianOf(latencies.map((each) => each.p50Ms))), ms(medianOf(latencies.map((each) => each.p99Ms))), ms(medianOf(latencies.map((each) => each.p999Ms))), latencies.map((each) => each.p99Ms.toFixed(2)).join(", "), pct(medianOf(latencies.map((each) => each.mainThreadCores / each.brokerCpuCores)))];
    const closed = points.reduce((sum, point) => sum + point.idleClosedByBroker, 0);
    const openAtBroker = key.idleConnections > 0 ? String(Math.min(...points.map((point) => point.brokerConnectionsOpen ?? Number.NaN))) : "–";
    return [
      String(key.busyConnections), key.idleConnections.toLocaleString("en-US"), mb(produce.bytesPerSecond), produce.roundsMB,
      produce.brokerCores.toFixed(2), produce.mainCores.toFixed(2), pct(produce.mainCores / produce.brokerCores), pct(produce.machineBusy), ...latency, openAtBroker, String(closed),
    ];
  });
  return [
    "### Throughput and latency vs connections (num.network.shards=1)",
    "",
    `Produce as above from 1 busy connection, then from 10 with 0, 100 and 1,000 idle connections open (plain TCP connections that never send); ` +
      `with the same idle connections open, paced end-to-end latency at ${records(scaling.pacedRecordsPerSecond)} (bench/e2e.ts: 1 KiB records in 64 KiB batches from 2 producers, 2 tailing consumers, after a warm-up). ` +
      `${scaling.rounds} round${scaling.rounds > 1 ? "s" : ""}, idle counts in alternating order; medians. The load generator runs on the same machine, one thread per busy connection, so on few cores 10 busy connections take CPU from the broker (see "Broker cores"). "Open at broker": the fewest connections the broker counted (/metrics bunka_connections) once the idle ones were open, over the rounds; "Closed": idle connections the broker closed during the figures (0: all stayed open).`,
    "",
    table(["Busy", "Idle", "Produce MB/s", "Rounds (MB/s)", "Broker cores", "Main thread cores", "Main thread share", "Machine busy", "Paced p50", "p99", "p99.9", "p99 by round", "Main thread share (paced)", "Open at broker", "Closed"], rows),
    "",
  ];
}

export function renderScaling(scaling: ScalingResults | null | undefined): string[] {
  const out = ["## Scaling: network shards and connections", ""];
  if (!scaling) return [...out, "Not measured in this run (`bun run bench --only=scaling --merge` measures it and keeps the other sections).", ""];
  const listen = scaling.listen ? ` and partition.workers.listen=true (${scaling.listen.partitionWorkers} workers)` : "";
  out.push(`${scaling.cores} cores; num.network.shards ${scaling.shardCounts.join(", ")}${listen} (bench/shard-scaling.ts). Curves in the chart's second row.`, "");
  out.push(...renderShardCurve(scaling));
  out.push(...renderConnectionCurve(scaling));
  return out;
}

// ---- SVG chart: produce MB/s by batch size, consume GB/s by consumer count ----

interface Series {
  label: string;
  color: string;
  points: { x: number; y: number }[];
  dashed?: boolean;
}

function panel(title: string, xLabel: string, yLabel: string, xTicks: { value: number; label: string }[], series: Series[], originX: number, widthPx: number, heightPx: number): string {
  const left = originX + 60;
  const top = 40;
  const plotWidth = widthPx - 80;
  const plotHeight = heightPx - 110;
  const yMax = Math.max(1e-9, ...series.flatMap((each) => each.points.map((point) => point.y))) * 1.1;
  const xMin = Math.min(...xTicks.map((tick) => tick.value));
  const xMax = Math.max(...xTicks.map((tick) => tick.value));
  const xOf = (x: number) => left + (xMax === xMin ? plotWidth / 2 : ((x - xMin) / (xMax - xMin)) * plotWidth);
  const yOf = (y: number) => top + plotHeight - (y / yMax) * plotHeight;
  const parts: string[] = [];
  parts.push(`<text x="${left + plotWidth / 2}" y="22" text-anchor="middle" font-size="14" font-weight="bold">${title}</text>`);
  parts.push(`<line x1="${left}" y1="${top + plotHeight}" x2="${left + plotWidth}" y2="${top + plotHeight}" stroke="#333"/>`);
  parts.push(`<line x1="${left}" y1="${top}" x2="${left}" y2="${top + plotHeight}" stroke="#333"/>`);
  for (let i = 0; i <= 4; i++) {
    const value = (yMax / 4) * i;
    const y = yOf(value);
    parts.push(`<line x1="${left}" y1="${y}" x2="${left + plotWidth}" y2="${y}" stroke="#ddd"/>`);
    parts.push(`<text x="${left - 6}" y="${y + 4}" text-anchor="end" font-size="11">${value >= 10 ? value.toFixed(0) : value.toFixed(1)}</text>`);
  }
  for (const tick of xTicks) {
    parts.push(`<text x="${xOf(tick.value)}" y="${top + plotHeight + 16}" text-anchor="middle" font-size="11">${tick.label}</text>`);
  }
  parts.push(`<text x="${left + plotWidth / 2}" y="${top + plotHeight + 34}" text-anchor="middle" font-size="12">${xLabel}</text>`);
  parts.push(`<text x="${originX + 14}" y="${top + plotHeight / 2}" text-anchor="middle" font-size="12" transform="rotate(-90 ${originX + 14} ${top + plotHeight / 2})">${yLabel}</text>`);
  series.forEach((each, index) => {
    const path = each.points.map((point, i) => `${i === 0 ? "M" : "L"}${xOf(point.x).toFixed(1)},${yOf(point.y).toFixed(1)}`).join(" ");
    parts.push(`<path d="${path}" fill="none" stroke="${each.color}" stroke-width="2"${each.dashed ? ' stroke-dasharray="6 4"' : ""}/>`);
    if (!each.dashed) for (const point of each.points) parts.push(`<circle cx="${xOf(point.x).toFixed(1)}" cy="${yOf(point.y).toFixed(1)}" r="3" fill="${each.color}"/>`);
    const legendY = top + plotHeight + 52 + Math.floor(index / 2) * 16;
    const legendX = left + (index % 2) * (plotWidth / 2);
    parts.push(`<line x1="${legendX}" y1="${legendY - 4}" x2="${legendX + 18}" y2="${legendY - 4}" stroke="${each.color}" stroke-width="2"${each.dashed ? ' stroke-dasharray="6 4"' : ""}/>`);
    parts.push(`<text x="${legendX + 24}" y="${legendY}" font-size="11">${each.label}</text>`);
  });
  return parts.join("\n");
}

export function renderSvg(results: BenchResults): string {
  const { e2e, limits } = results;
  const widthPx = 520;
  const heightPx = 380;
  const batchSizes = [...new Set(e2e.produce.map((row) => row.batchBytes))].sort((a, b) => a - b);
  const xOfBatch = (batchBytes: number) => batchSizes.indexOf(batchBytes);
  const colors = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b"];
  const produceSeries: Series[] = [];
  for (const compression of ["none", "lz4"]) {
    for (const recordBytes of [100, 1024]) {
      const rows = e2e.produce.filter((row) => row.compression === compression && row.recordBytes === recordBytes && row.acks === 1);
      if (rows.length === 0) continue;
      produceSeries.push({
        label: `${recordBytes} B records, ${compression}`,
        color: colors[produceSeries.length]!,
        points: rows.map((row) => ({ x: xOfBatch(row.batchBytes), y: row.payloadBytesPerSecond / 1e6 })),
      });
    }
  }
  produceSeries.push({ label: "limit: socket-to-file", color: "#666", dashed: true, points: [{ x: 0, y: limits.socketToFile.bytesPerSecond / 1e6 }, { x: batchSizes.length - 1, y: limits.socketToFile.bytesPerSecond / 1e6 }] });
  const consumeSeries: Series[] = [];
  for (const transfer of ["mmap", "sendfile"]) {
    const rows = e2e.consume.filter((row) => row.transfer === transfer && row.fetchesInFlight === 1).sort((a, b) => a.consumers - b.consumers);
    if (rows.length > 0) consumeSeries.push({ label: `Bunka, ${transfer}`, color: transfer === "mmap" ? "#1f77b4" : "#ff7f0e", points: rows.map((row) => ({ x: row.consumers, y: row.bytesPerSecond / 1e9 })) });
  }
  const consumerCounts = [...new Set(e2e.consume.filter((row) => row.fetchesInFlight === 1).map((row) => row.consumers))].sort((a, b) => a - b);
  if (consumerCounts.length > 0) {
    consumeSeries.push({ label: "limit: file-to-socket (sendfile)", color: "#666", dashed: true, points: [{ x: consumerCounts[0]!, y: limits.fileToSocket.bytesPerSecond / 1e9 }, { x: consumerCounts[consumerCounts.length - 1]!, y: limits.fileToSocket.bytesPerSecond / 1e9 }] });
  }
  const body = [
    panel("Produce (acks=1): payload MB/s", "batch size", "MB/s", batchSizes.map((size, index) => ({ value: index, label: kib(size) })), produceSeries, 0, widthPx, heightPx),
    panel("Catch-up consume, 1 MiB fetches, 1 in flight per consumer", "parallel consumers", "GB/s", consumerCounts.map((count) => ({ value: count, label: String(count) })), consumeSeries, widthPx, widthPx, heightPx),
  ];
  // The scaling curves, when measured, as a second row of three panels, below the first row's third legend line.
  const rowGapPx = 30;
  if (results.scaling) body.push(`<g transform="translate(0 ${heightPx + rowGapPx})">`, scalingPanels(results.scaling, (widthPx * 2) / 3, heightPx), "</g>");
  const totalHeightPx = results.scaling ? heightPx * 2 + rowGapPx + 10 : heightPx;
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${widthPx * 2}" height="${totalHeightPx}" viewBox="0 0 ${widthPx * 2} ${totalHeightPx}" font-family="sans-serif">\n<rect width="100%" height="100%" fill="white"/>\n${body.join("\n")}\n</svg>\n`;
}

function scalingPanels(scaling: ScalingResults, widthPx: number, heightPx: number): string {
  const colors = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728"];
  const workloads = [...new Map(scaling.shardCurve.map((point) => [`${point.workload} ${point.connections}`, point])).values()];
  // The listen broker, when measured, one step right of the largest shard count.
  const xOfShards = (shards: ShardConfiguration) => (shards === "listen" ? Math.max(...scaling.shardCounts) + 1 : shards);
  const shardTicks = shardConfigurations(scaling).map((shards) => ({ value: xOfShards(shards), label: String(shards) }));
  const shardSeries: Series[] = workloads.map((each, index) => ({
    label: `${each.workload === "produce" ? "produce" : "consume"}, ${each.connections} conn.`,
    color: colors[index % colors.length]!,
    points: shardConfigurations(scaling).map((shards) => ({ x: xOfShards(shards), y: medianOf(shardPoints(scaling, each.workload, each.connections, shards).map((point) => point.bytesPerSecond)) / 1e9 })),
  }));
  const connectionKeys = [...new Map(scaling.connectionCurve.map((point) => [`${point.busyConnections}+${point.idleConnections}`, point])).values()].sort((a, b) => a.busyConnections - b.busyConnections || a.idleConnections - b.idleConnections);
  const pointsOf = (key: { busyConnections: number; idleConnections: number }) => scaling.connectionCurve.filter((point) => point.busyConnections === key.busyConnections && point.idleConnections === key.idleConnections);
  const produceSeries: Series[] = [{ label: "produce (1 shard)", color: colors[0]!, points: connectionKeys.map((key, index) => ({ x: index, y: medianOf(pointsOf(key).map((point) => point.produce.bytesPerSecond)) / 1e6 })) }];
  const latencyKeys = connectionKeys.filter((key) => pointsOf(key).some((point) => point.latency));
  const latencyOf = (pick: (latency: PacedLatency) => number) => latencyKeys.map((key, index) => ({ x: index, y: medianOf(pointsOf(key).flatMap((point) => (point.latency ? [pick(point.latency)] : []))) }));
  const latencySeries: Series[] = [
    { label: "p50", color: colors[2]!, points: latencyOf((latency) => latency.p50Ms) },
    { label: "p99", color: colors[1]!, points: latencyOf((latency) => latency.p99Ms) },
    { label: "p99.9", color: colors[3]!, points: latencyOf((latency) => latency.p999Ms) },
  ];
  const connectionLabel = (key: { busyConnections: number; idleConnections: number }) => (key.idleConnections > 0 ? `${key.busyConnections}+${key.idleConnections}` : String(key.busyConnections));
  return [
    panel("Throughput vs network shards", scaling.listen ? "num.network.shards, then listening workers" : "num.network.shards", "GB/s", shardTicks, shardSeries, 0, widthPx, heightPx),
    panel("Produce vs connections", "busy + idle connections", "MB/s", connectionKeys.map((key, index) => ({ value: index, label: connectionLabel(key) })), produceSeries, widthPx, widthPx, heightPx),
    panel(`Paced ${records(scaling.pacedRecordsPerSecond)}: latency`, "idle connections open", "ms", latencyKeys.map((key, index) => ({ value: index, label: key.idleConnections.toLocaleString("en-US") })), latencySeries, widthPx * 2, widthPx, heightPx),
  ].join("\n");
}
