// The side-by-side latency reference (issue 13, item 3): one paced producer and one tailing consumer of
// 1 KiB records, in worker threads of this one process (one CLOCK_MONOTONIC), against
//   * Bunka (Produce acks=1 into one partition; Fetch long-poll, max.wait 500 ms, min.bytes 1),
//   * Redis Streams (`XADD` + `XREAD BLOCK`; Debian's redis-server started here on a free loopback port
//     with no persistence; `apt-get install redis-server`), spoken to in RESP by the same blocking C
//     socket code, and
//   * a TCP relay that only copies bytes (the VM's floor: the same two loopback hops and thread wake-ups),
// one after the other at each rate. Every record is stamped at its send; p50/p99/p99.9 of receive minus
// send over every record after a warm-up.
//
//   bun bench/latency-reference.ts [--quick] [--max-rate=N] [--seconds=S]
// Without --max-rate the fractions are of Bunka's produce-only maximum (1 KiB records, 64 KiB batches),
// measured here first (bun run bench passes the one its produce section measured).
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Subprocess } from "bun";
import { BenchBroker, freePort } from "./broker-process.ts";
import { combine, runLoad } from "./loadgen.ts";
import type { ReferenceReport, ReferenceTarget, ReferenceTask } from "./latency-reference-worker.ts";
import { stampUs } from "./blocking-client.ts";
import type { SlowestReport } from "../src/admin/slowest-requests.ts";

/**
 * "bunka-inline": Bunka with num.partition.workers=0 (the socket thread owns the partitions), a second broker;
 * "bunka-listen-off": Bunka with partition.workers.listen=false (the socket thread reads every connection, the workers
 * own the partitions: the default before listening workers were), a third. "bunka" is the default: its partition
 * workers listen. "redis-aof": a second redis-server that appends every command to its AOF (appendfsync no, no
 * rewrites), so its memory grows through the page cache at the record rate as a log's does; the plain "redis" keeps
 * the stream in memory it reuses (MAXLEN), which on a VM where first touches of memory are expensive
 * (bench/cold-memory.ts) is a different workload from a log.
 */
export type ReferencePointTarget = ReferenceTarget | "bunka-inline" | "bunka-listen-off" | "redis-aof";

/** Requests of one API over a point: all the broker answered, and those a listening partition worker answered itself. */
export interface LocalAnswers {
  local: number;
  all: number;
}

export interface ReferencePoint {
  target: ReferencePointTarget;
  samples: number;
  p50Ms: number;
  p99Ms: number;
  p999Ms: number;
  maxMs: number;
  /** Records the producer sent per second (what the pacing achieved). */
  achievedRecordsPerSecond: number;
  /** Writes the producer made per second (Produce requests, pipelined XADD groups, relay writes). */
  sendsPerSecond: number;
  /** Records the consumer received out of those sent (1 = all). */
  received: number;
  error?: string;
  /** The server process's CPU over the point (warm-up included), user and kernel; absent for the relay and in older results. */
  serverCores?: { user: number; system: number };
  /** Bunka only, when the broker has an admin listener: where the time of its requests went. */
  breakdown?: StageBreakdown;
}

/** One stage's distribution over a Bunka point, from the broker's /metrics histograms (bucket upper bounds). */
export interface StageStats {
  stage: string;
  count: number;
  meanMs: number;
  /** The upper bound of the bucket holding the 50th / 99th / 99.9th percentile (">30 s" as Infinity). */
  p50Ms: number;
  p99Ms: number;
  p999Ms: number;
}

export interface StageBreakdown {
  stages: StageStats[];
  /** CPU used per wall second during the point, by broker thread (socket thread, each partition worker). */
  threadCores: Record<string, number>;
  /** Fetch partitions the broker answered from the append that woke them (bunka_fetch_served_from_append_total). */
  fetchesFromAppend?: number;
  /** The slowest 1% of the point's Produce and Fetch requests, stage by stage (GET /api/v1/request-latency). */
  slowest?: SlowestRequestsReport[];
  /**
   * How late the socket thread's event loop ran a 10 ms timer over the point (monitorEventLoopDelay via
   * /metrics): GC pauses, long turns and waits for a CPU, which no request stage sees.
   */
  eventLoopDelayMs?: { p50: number; p99: number; max: number };
  /**
   * Produces answered by the owning listening partition worker without the main thread, read on its own connection
   * or passed on by the other worker (bunka_network_shard_local_requests_total{api="Produce"} over the shards), out
   * of all the broker answered (bunka_request_duration_seconds_count{api="Produce"}).
   */
  localProduces?: LocalAnswers;
  /** The same for the consumer's fetches (api="Fetch"); absent in runs from before the counter had an api label. */
  localFetches?: LocalAnswers;
}

/** One API's slowest requests over a point, as the admin API answers them (by API name). */
export type SlowestRequestsReport = Omit<SlowestReport, "api"> & { api: string };

/** The broker's slowest-requests sample: DELETE starts a point clean, GET reads its slowest 1% of Produce and Fetch. */
async function resetSlowest(metricsUrl: string): Promise<void> {
  await fetch(metricsUrl.replace(/\/metrics$/, "/api/v1/request-latency"), { method: "DELETE" });
}

async function readSlowest(metricsUrl: string): Promise<SlowestRequestsReport[]> {
  const response = await fetch(metricsUrl.replace(/\/metrics$/, "/api/v1/request-latency?share=0.01"));
  if (response.status !== 200) return [];
  const body = (await response.json()) as { apis: SlowestRequestsReport[] };
  return body.apis.filter((report) => report.api === "Produce" || report.api === "Fetch");
}

export interface ReferenceRate {
  label: string;
  recordsPerSecond: number;
  points: ReferencePoint[];
}

export interface LatencyReferenceResults {
  recordBytes: number;
  seconds: number;
  warmupSeconds: number;
  maxRecordsPerSecond: number;
  redisVersion: string;
  rates: ReferenceRate[];
}

const WORKER_GRACE_MS = 30_000;

function runTask(task: ReferenceTask, maxSeconds: number, onMessage?: (message: any) => void): Promise<ReferenceReport> {
  return new Promise<ReferenceReport>((resolve, reject) => {
    const worker = new Worker(new URL("./latency-reference-worker.ts", import.meta.url).href);
    const timer = setTimeout(() => {
      worker.terminate();
      reject(new Error(`latency reference ${task.role} did not finish within ${maxSeconds} s`));
    }, maxSeconds * 1000 + WORKER_GRACE_MS);
    worker.onmessage = (event: MessageEvent<any>) => {
      if (event.data.ok === undefined) {
        onMessage?.(event.data);
        return;
      }
      clearTimeout(timer);
      worker.terminate();
      if (event.data.ok) resolve(event.data.report);
      else reject(new Error(event.data.error));
    };
    worker.onerror = (event) => {
      clearTimeout(timer);
      worker.terminate();
      reject(new Error(event.message));
    };
    worker.postMessage(task);
  });
}

function percentile(sorted: number[], fraction: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor(fraction * sorted.length))]!;
}

function processCpuSeconds(pid: number | undefined): { user: number; system: number } {
  if (pid === undefined) return { user: 0, system: 0 };
  try {
    const fields = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]!.split(" ");
    const ticksPerSecond = 100;
    return { user: Number(fields[11]) / ticksPerSecond, system: Number(fields[12]) / ticksPerSecond };
  } catch {
    return { user: 0, system: 0 };
  }
}

/**
 * Debian's redis-server on a free loopback port: no RDB and no AOF (nothing written to disk), or with `aof` every
 * write appended to its AOF without fsync (as Bunka's acks=1 appends reach the page cache) and never rewritten.
 */
export class RedisServer {
  readonly port = freePort();
  private child: Subprocess | null = null;
  version = "not found";

  constructor(private readonly persistence: "none" | "aof" = "none") {}

  static available(): boolean {
    return Bun.which("redis-server") !== null;
  }

  async start(workDir: string): Promise<void> {
    const versionLine = Bun.spawnSync(["redis-server", "--version"]).stdout.toString();
    this.version = /v=([0-9.]+)/.exec(versionLine)?.[1] ?? versionLine.trim();
    this.child = Bun.spawn(
      [
        "redis-server", "--port", String(this.port), "--bind", "127.0.0.1", "--save", "", "--dir", workDir, "--daemonize", "no", "--protected-mode", "yes", "--loglevel", "warning",
        ...(this.persistence === "aof"
          ? ["--appendonly", "yes", "--appendfsync", "no", "--auto-aof-rewrite-percentage", "0", "--appenddirname", `aof-${this.port}`]
          : ["--appendonly", "no"]),
      ],
      { stdin: "ignore", stdout: "ignore", stderr: "pipe" },
    );
    for (let attempt = 0; attempt < 100; attempt++) {
      try {
        const socket = await Bun.connect({ hostname: "127.0.0.1", port: this.port, socket: { data() {} } });
        socket.end();
        return;
      } catch {
        await Bun.sleep(50);
      }
    }
    throw new Error(`redis-server did not listen on ${this.port} within 5 s`);
  }

  /** redis-server's user and kernel CPU seconds so far (/proc/PID/stat). */
  cpuSeconds(): { user: number; system: number } {
    return processCpuSeconds(this.child?.pid);
  }

  async stop(): Promise<void> {
    const child = this.child;
    this.child = null;
    if (!child) return;
    child.kill("SIGTERM");
    const exited = await Promise.race([child.exited, Bun.sleep(5000).then(() => null)]);
    if (exited === null) {
      child.kill("SIGKILL");
      await child.exited;
    }
  }
}

let sequence = 0;

type Histograms = Map<string, { buckets: Map<number, number>; sum: number; count: number }>;
type Scrape = { histograms: Histograms; threadSeconds: Map<string, number>; fetchesFromAppend: number; localProduces: number | null; localFetches: number | null; eventLoopDelayMs: Record<string, number>; atMs: number };

const STAGE = "bunka_request_stage_duration_seconds";
/** Histograms read per point: [metric, api, stage label of the metric ("" for none), what the row says]. */
const STAGE_METRICS: [metric: string, api: string, stageLabel: string, stage: string][] = [
  [STAGE, "Produce", "read", "Produce: read (first to last byte of the frame)"],
  [STAGE, "Produce", "queue", "Produce: queue (frame complete → handler starts, decode)"],
  [STAGE, "Produce", "handoff", "Produce: hand-off to and from the partition worker"],
  [STAGE, "Produce", "worker", "Produce: in the partition worker (drain queue, append)"],
  [STAGE, "Produce", "fsync", "Produce: fsync waited for (when asked)"],
  [STAGE, "Produce", "replication", "Produce: replication wait (acks=all)"],
  [STAGE, "Produce", "handler_other", "Produce: rest of the handler"],
  [STAGE, "Produce", "send", "Produce: answer → last byte taken by the socket"],
  [STAGE, "Fetch", "queue", "Fetch: queue (frame complete → handler starts)"],
  [STAGE, "Fetch", "wait", "Fetch: long-poll wait for the next append"],
  [STAGE, "Fetch", "handoff", "Fetch: hand-off to and from the partition worker"],
  [STAGE, "Fetch", "handler_other", "Fetch: rest of the handler"],
  [STAGE, "Fetch", "send", "Fetch: answer → last byte taken by the socket"],
  ["bunka_request_duration_seconds", "Fetch", "", "Fetch: handler in all (wait included)"],
  ["bunka_log_flush_duration_seconds", "", "", "fdatasync of a log (when asked; none with acks=1 and default flush settings)"],
];

async function scrapeMetrics(url: string): Promise<Scrape> {
  const text = await (await fetch(url)).text();
  const histograms: Histograms = new Map();
  const threadSeconds = new Map<string, number>();
  let fetchesFromAppend = 0;
  // null: a broker from before the metric existed, or from before its api label (a total of produces and fetches
  // cannot give either share).
  let localProduces: number | null = null;
  let localFetches: number | null = null;
  const eventLoopDelayMs: Record<string, number> = {};
  for (const line of text.split("\n")) {
    const match = /^([a-z0-9_]+)\{([^}]*)\} ([0-9.e+-]+|\+Inf|NaN)$/.exec(line) ?? /^([a-z0-9_]+)() ([0-9.e+-]+)$/.exec(line);
    if (!match) continue;
    const [, name, labelText, valueText] = match as unknown as [string, string, string, string];
    const labels = Object.fromEntries([...labelText.matchAll(/([a-z_]+)="([^"]*)"/g)].map((each) => [each[1]!, each[2]!]));
    const value = Number(valueText);
    if (name === "bunka_thread_cpu_seconds_total") {
      // Several partition workers share the name "worker": the thread id tells them apart.
      threadSeconds.set(`${labels.thread ?? "?"} ${labels.tid ?? ""}`.trim(), value);
      continue;
    }
    if (name === "bunka_fetch_served_from_append_total") {
      fetchesFromAppend = value;
      continue;
    }
    if (name === "bunka_network_shard_local_requests_total") {
      if (labels.api === "Produce") localProduces = (localProduces ?? 0) + value;
      else if (labels.api === "Fetch") localFetches = (localFetches ?? 0) + value;
      continue;
    }
    // prom-client's monitorEventLoopDelay figures, reset at every scrape: the scrape after a point covers that point.
    const delay = /^bunka_nodejs_eventloop_lag_(p50|p99|max)_seconds$/.exec(name);
    if (delay) {
      eventLoopDelayMs[delay[1]!] = value * 1000;
      continue;
    }
    const base = name.replace(/_(bucket|sum|count)$/, "");
    if (!STAGE_METRICS.some(([metric]) => metric === base)) continue;
    const key = `${base}|${labels.api ?? ""}|${labels.stage ?? ""}`;
    let entry = histograms.get(key);
    if (!entry) histograms.set(key, (entry = { buckets: new Map(), sum: 0, count: 0 }));
    if (name.endsWith("_bucket")) entry.buckets.set(labels.le === "+Inf" ? Number.POSITIVE_INFINITY : Number(labels.le), value);
    else if (name.endsWith("_sum")) entry.sum = value;
    else if (name.endsWith("_count")) entry.count = value;
  }
  return { histograms, threadSeconds, fetchesFromAppend, localProduces, localFetches, eventLoopDelayMs, atMs: performance.now() };
}

/**
 * Every request of the API the broker answered, the listening workers' local answers included (their notices
 * record the request time on the main thread too).
 */
const requestCount = (scrape: Scrape, api: "Produce" | "Fetch"): number => scrape.histograms.get(`bunka_request_duration_seconds|${api}|`)?.count ?? 0;

/** A listening broker's local and total counts so far, per API; undefined for an API the broker does not count apart. */
export interface LocalAnswerCounts {
  produces?: LocalAnswers;
  fetches?: LocalAnswers;
}

function localAnswerCounts(scrape: Scrape): LocalAnswerCounts {
  return {
    ...(scrape.localProduces !== null ? { produces: { local: scrape.localProduces, all: requestCount(scrape, "Produce") } } : {}),
    ...(scrape.localFetches !== null ? { fetches: { local: scrape.localFetches, all: requestCount(scrape, "Fetch") } } : {}),
  };
}

/** after − before, per API counted in both. */
export function localAnswersBetween(before: LocalAnswerCounts, after: LocalAnswerCounts): LocalAnswerCounts {
  const between = (start: LocalAnswers | undefined, end: LocalAnswers | undefined) => (start && end ? { local: end.local - start.local, all: end.all - start.all } : undefined);
  const produces = between(before.produces, after.produces);
  const fetches = between(before.fetches, after.fetches);
  return { ...(produces ? { produces } : {}), ...(fetches ? { fetches } : {}) };
}

/** The broker's local-answer counts so far (bench/rdperf.ts subtracts two readings). */
export async function readLocalAnswerCounts(metricsUrl: string): Promise<LocalAnswerCounts> {
  return localAnswerCounts(await scrapeMetrics(metricsUrl));
}

/** "4,980 of 4,980 (100%)". */
export function describeLocalAnswers(counts: LocalAnswers): string {
  const share = counts.all > 0 ? ` (${((100 * counts.local) / counts.all).toFixed(0)}%)` : "";
  return `${counts.local.toLocaleString("en-US")} of ${counts.all.toLocaleString("en-US")}${share}`;
}

function breakdownBetween(before: Scrape, after: Scrape): StageBreakdown {
  const stages: StageStats[] = [];
  for (const [metric, api, stageLabel, stage] of STAGE_METRICS) {
    const key = `${metric}|${api}|${stageLabel}`;
    const end = after.histograms.get(key);
    if (!end) continue;
    const start = before.histograms.get(key);
    const count = end.count - (start?.count ?? 0);
    if (count <= 0) continue;
    // Cumulative bucket counts: the first bound whose share reaches the percentile.
    const bounds = [...end.buckets.keys()].sort((a, b) => a - b);
    const at = (fraction: number): number => {
      for (const bound of bounds) if (end.buckets.get(bound)! - (start?.buckets.get(bound) ?? 0) >= fraction * count) return bound * 1000;
      return Number.POSITIVE_INFINITY;
    };
    stages.push({ stage, count, meanMs: ((end.sum - (start?.sum ?? 0)) / count) * 1000, p50Ms: at(0.5), p99Ms: at(0.99), p999Ms: at(0.999) });
  }
  const threadCores: Record<string, number> = {};
  const seconds = (after.atMs - before.atMs) / 1000;
  for (const [thread, total] of after.threadSeconds) threadCores[thread] = (total - (before.threadSeconds.get(thread) ?? 0)) / seconds;
  const delay = after.eventLoopDelayMs;
  const eventLoopDelayMs = delay.p99 !== undefined ? { p50: delay.p50 ?? Number.NaN, p99: delay.p99, max: delay.max ?? Number.NaN } : undefined;
  const { produces: localProduces, fetches: localFetches } = localAnswersBetween(localAnswerCounts(before), localAnswerCounts(after));
  return {
    stages,
    threadCores,
    fetchesFromAppend: after.fetchesFromAppend - before.fetchesFromAppend,
    ...(eventLoopDelayMs ? { eventLoopDelayMs } : {}),
    ...(localProduces ? { localProduces } : {}),
    ...(localFetches ? { localFetches } : {}),
  };
}

async function measurePoint(target: ReferenceTarget, port: number, name: string, recordsPerSecond: number, seconds: number, warmupSeconds: number): Promise<ReferencePoint> {
  let relay: Promise<ReferenceReport> | null = null;
  if (target === "relay") {
    let announced: (port: number) => void = () => {};
    const relayPort = new Promise<number>((resolve) => (announced = resolve));
    relay = runTask({ role: "relay" }, seconds + warmupSeconds + 10, (message) => announced(message.port));
    port = await relayPort;
  }
  const control = new SharedArrayBuffer(8);
  const totalSeconds = warmupSeconds + seconds;
  let consumerReady: () => void = () => {};
  const ready = new Promise<void>((resolve) => (consumerReady = resolve));
  const measureFromUs = stampUs() + 1e6 * (warmupSeconds + 0.5); // + the consumer's start
  const consumer = runTask({ role: "consume", target, port, name, seconds: totalSeconds + 5, measureFromUs, control }, totalSeconds + 5, () => consumerReady());
  await ready;
  // The consumer has sent its first fetch / XREAD (or connected to the relay) before the first record.
  await Bun.sleep(300);
  const produced = await runTask({ role: "produce", target, port, name, recordsPerSecond, seconds: totalSeconds }, totalSeconds);
  new Float64Array(control)[0] = produced.records;
  const consumed = await consumer;
  if (relay) await relay;
  const latencies = (consumed.latenciesUs ?? []).map((us) => us / 1000).sort((a, b) => a - b);
  return {
    target,
    samples: latencies.length,
    p50Ms: percentile(latencies, 0.5),
    p99Ms: percentile(latencies, 0.99),
    p999Ms: percentile(latencies, 0.999),
    maxMs: latencies[latencies.length - 1] ?? Number.NaN,
    achievedRecordsPerSecond: produced.records / produced.seconds,
    sendsPerSecond: produced.sends / produced.seconds,
    received: produced.records > 0 ? consumed.records / produced.records : 0,
  };
}

/** Bunka's produce-only maximum with the existing latency curve's configuration (1 KiB records, 64 KiB batches). */
export async function measureMaxProduceRate(broker: BenchBroker, seconds: number): Promise<number> {
  const topic = `reference-max-${++sequence}`;
  await broker.createTopic(topic, 2);
  try {
    const reports = await runLoad(
      [0, 1].map((partition) => ({ op: "produce" as const, port: broker.port, topic, partitions: [partition], recordBytes: 1024, batchBytes: 64 * 1024, compression: "none" as const, acks: 1, inFlight: 16, maxSeconds: seconds, maxRecords: 0, requestsPerSecond: 0 })),
    );
    const total = combine(reports);
    return total.records / total.seconds;
  } finally {
    await broker.deleteTopic(topic);
  }
}

export interface LatencyReferenceOptions {
  broker: BenchBroker;
  workDir: string;
  maxRecordsPerSecond: number;
  quick: boolean;
  seconds?: number;
  /** The broker's /metrics (admin listener): with it, Bunka's points carry the stage breakdown. */
  metricsUrl?: string;
  /** Only these rates (labels' records/s); default all five. */
  onlyRates?: number[];
  /** Only these targets; default relay, redis, bunka (and bunka-inline with `inline`, bunka-listen-off with `listenOff`). */
  onlyTargets?: ReferencePointTarget[];
  /** A second broker with num.partition.workers=0, measured after Bunka at each rate as "bunka-inline". */
  inline?: { broker: BenchBroker; metricsUrl: string };
  /** A third broker with partition.workers.listen=false, measured after those at each rate as "bunka-listen-off". */
  listenOff?: { broker: BenchBroker; metricsUrl: string };
  progress: (line: string) => void;
}

/** The brokers beside the default one, each with an admin listener on a free port (for /metrics). */
export function comparisonBroker(workDir: string, kind: "inline" | "listen-off"): { broker: BenchBroker; metricsUrl: string } {
  const adminPort = freePort();
  const shape: Record<string, string> = kind === "inline" ? { "num.partition.workers": "0" } : { "partition.workers.listen": "false" };
  const broker = new BenchBroker({ workDir: join(workDir, `reference-${kind}`), properties: { "admin.listeners": `http://127.0.0.1:${adminPort}`, ...shape } });
  return { broker, metricsUrl: `http://127.0.0.1:${adminPort}/metrics` };
}

export async function runLatencyReference(options: LatencyReferenceOptions): Promise<LatencyReferenceResults> {
  const { broker, progress } = options;
  const seconds = options.seconds ?? (options.quick ? 2 : 6);
  const warmupSeconds = options.quick ? 1 : 2;
  const max = options.maxRecordsPerSecond;
  const rates = [
    { label: "5,000/s", recordsPerSecond: 5_000 },
    { label: "20,000/s", recordsPerSecond: 20_000 },
    { label: "10% of max", recordsPerSecond: Math.round(max * 0.1) },
    { label: "25% of max", recordsPerSecond: Math.round(max * 0.25) },
    { label: "50% of max", recordsPerSecond: Math.round(max * 0.5) },
  ].filter((rate) => !options.onlyRates || options.onlyRates.includes(rate.recordsPerSecond));
  const redisWanted = !options.onlyTargets || options.onlyTargets.includes("redis");
  const redis = RedisServer.available() && redisWanted ? new RedisServer() : null;
  if (redis) await redis.start(options.workDir);
  else if (redisWanted) progress("latency reference: redis-server not found (apt-get install redis-server); the Redis column stays empty");
  const redisAofWanted = !options.onlyTargets || options.onlyTargets.includes("redis-aof");
  const redisAof = RedisServer.available() && redisAofWanted ? new RedisServer("aof") : null;
  if (redisAof) await redisAof.start(options.workDir);
  const results: LatencyReferenceResults = { recordBytes: 1024, seconds, warmupSeconds, maxRecordsPerSecond: max, redisVersion: redis?.version ?? "not found", rates: [] };
  try {
    for (const rate of rates) {
      const row: ReferenceRate = { ...rate, points: [] };
      const all: ReferencePointTarget[] = [
        ...(redis ? (["relay", "redis"] as const) : (["relay"] as const)),
        ...(redisAof ? (["redis-aof"] as const) : []),
        "bunka",
        ...(options.inline ? (["bunka-inline"] as const) : []),
        ...(options.listenOff ? (["bunka-listen-off"] as const) : []),
      ];
      const targets = all.filter((target) => !options.onlyTargets || options.onlyTargets.includes(target));
      for (const target of targets) {
        const name = `reference-${++sequence}`;
        const bunka = target === "bunka" ? { broker, metricsUrl: options.metricsUrl } : target === "bunka-inline" ? options.inline! : target === "bunka-listen-off" ? options.listenOff! : null;
        if (bunka) await bunka.broker.createTopic(name, 1);
        try {
          const metricsUrl = bunka?.metricsUrl;
          const before = metricsUrl ? await scrapeMetrics(metricsUrl) : null;
          if (metricsUrl) await resetSlowest(metricsUrl);
          const port = target === "redis" ? redis!.port : target === "redis-aof" ? redisAof!.port : (bunka?.broker ?? broker).port;
          const server = target === "redis" ? redis : target === "redis-aof" ? redisAof : target === "relay" ? null : (bunka?.broker ?? broker);
          const cpuBefore = server?.cpuSeconds();
          const pointStartMs = performance.now();
          const point = await measurePoint(bunka ? "bunka" : target === "redis-aof" ? "redis" : (target as ReferenceTarget), port, name, rate.recordsPerSecond, seconds, warmupSeconds);
          point.target = target;
          if (server && cpuBefore) {
            const cpuAfter = server.cpuSeconds();
            const pointSeconds = (performance.now() - pointStartMs) / 1000;
            point.serverCores = { user: (cpuAfter.user - cpuBefore.user) / pointSeconds, system: (cpuAfter.system - cpuBefore.system) / pointSeconds };
          }
          if (before && metricsUrl) {
            point.breakdown = breakdownBetween(before, await scrapeMetrics(metricsUrl));
            point.breakdown.slowest = await readSlowest(metricsUrl);
            for (const report of point.breakdown.slowest) progress(`  slowest 1% of ${report.api} (${report.slowest} of ${report.requests}): ${slowestLine(report)}`);
            const delay = point.breakdown.eventLoopDelayMs;
            if (delay) progress(`  socket thread's event-loop delay: p50 ${delay.p50.toFixed(2)} ms, p99 ${delay.p99.toFixed(2)} ms, max ${delay.max.toFixed(2)} ms`);
            const { localProduces, localFetches } = point.breakdown;
            if (localProduces) progress(`  produces answered by the owning listening worker: ${describeLocalAnswers(localProduces)}`);
            if (localFetches) progress(`  fetches answered by the owning listening worker: ${describeLocalAnswers(localFetches)}`);
          }
          row.points.push(point);
          progress(
            `latency reference ${rate.label} (${(rate.recordsPerSecond / 1000).toFixed(1)} k/s) ${target.padEnd(12)}: p50 ${point.p50Ms.toFixed(2)} ms, p99 ${point.p99Ms.toFixed(2)} ms, p99.9 ${point.p999Ms.toFixed(2)} ms, max ${point.maxMs.toFixed(1)} ms ` +
              `(${point.samples} samples, ${(point.achievedRecordsPerSecond / 1000).toFixed(1)} k/s sent in ${(point.sendsPerSecond / 1000).toFixed(1)} k writes/s, ${(point.received * 100).toFixed(1)}% received` +
              `${point.breakdown?.fetchesFromAppend !== undefined ? `, ${point.breakdown.fetchesFromAppend} fetches answered from the append of ${point.breakdown.stages.find((stage) => stage.stage.startsWith("Fetch: handler in all"))?.count ?? 0}` : ""})`,
          );
        } catch (error) {
          const message = error instanceof Error ? error.message : String(error);
          row.points.push({ target, samples: 0, p50Ms: Number.NaN, p99Ms: Number.NaN, p999Ms: Number.NaN, maxMs: Number.NaN, achievedRecordsPerSecond: 0, sendsPerSecond: 0, received: 0, error: message.split("\n")[0] });
          progress(`latency reference ${rate.label} ${target}: failed: ${message.split("\n")[0]}`);
        } finally {
          if (bunka) await bunka.broker.deleteTopic(name).catch(() => {});
        }
      }
      results.rates.push(row);
    }
  } finally {
    await redis?.stop();
    await redisAof?.stop();
  }
  return results;
}

if (import.meta.main) {
  const args = process.argv.slice(2);
  const quick = args.includes("--quick");
  const flag = (name: string): number | undefined => {
    const found = args.find((arg) => arg.startsWith(`--${name}=`));
    return found ? Number(found.split("=")[1]) : undefined;
  };
  const workDir = mkdtempSync(join(tmpdir(), "bunka-latency-reference-"));
  const adminPort = freePort();
  const broker = new BenchBroker({ workDir, properties: { "admin.listeners": `http://127.0.0.1:${adminPort}` } });
  // --port=N: a broker already running there (to profile it while the reference runs).
  const existingPort = flag("port");
  if (existingPort) Object.defineProperty(broker, "port", { value: existingPort });
  const progress = (line: string) => console.log(line);
  const onlyTargets = args.find((arg) => arg.startsWith("--targets="))?.slice(10).split(",") as ReferencePointTarget[] | undefined;
  // The comparison brokers only when --targets names them.
  const inline = onlyTargets?.includes("bunka-inline") ? comparisonBroker(workDir, "inline") : undefined;
  const listenOff = onlyTargets?.includes("bunka-listen-off") ? comparisonBroker(workDir, "listen-off") : undefined;
  try {
    if (!existingPort) await broker.start();
    await inline?.broker.start();
    await listenOff?.broker.start();
    const max = flag("max-rate") ?? (await measureMaxProduceRate(broker, quick ? 2 : 4));
    progress(`max produce rate (1 KiB records, 64 KiB batches): ${(max / 1000).toFixed(0)} k records/s`);
    const results = await runLatencyReference({ broker, workDir, maxRecordsPerSecond: max, quick, seconds: flag("seconds"), progress,
      metricsUrl: existingPort ? undefined : `http://127.0.0.1:${adminPort}/metrics`,
      onlyRates: args.find((arg) => arg.startsWith("--rates="))?.slice(8).split(",").map(Number),
      onlyTargets,
      inline,
      listenOff,
    });
    console.log(JSON.stringify(results, null, 2));
  } finally {
    await listenOff?.broker.stop();
    await inline?.broker.stop();
    await broker.stop();
    rmSync(workDir, { recursive: true, force: true });
  }
  // Terminated measuring workers can keep Bun's process alive for ~30 s after the run (seen with the FFI
  // socket workers); everything is reported and cleaned up by now.
  process.exit(process.exitCode ?? 0);
}

/** The stages that took time in a slowest-requests report, largest first: "fsync 40.1 ms, worker 0.3 ms, …". */
export function slowestLine(report: SlowestRequestsReport): string {
  const stages = Object.entries(report.stagesMs).filter(([, ms]) => ms >= 0.005).sort((a, b) => b[1] - a[1]);
  return `mean ${report.totalMs.mean.toFixed(2)} ms (${report.totalMs.min.toFixed(2)}–${report.totalMs.max.toFixed(2)}): ` + stages.map(([stage, ms]) => `${stage} ${ms.toFixed(2)}`).join(", ");
}
