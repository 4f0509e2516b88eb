// Scaling curves (issue 13 item 4): the `scaling` section of `bun run bench` (bench/run.ts), also runnable alone.
// * Shards: produce and catch-up consume throughput of one broker process for num.network.shards 1..cores, with
//   the main thread's CPU next to the broker's (the main thread is the single owner of request handling, so its
//   share is what bounds the design when cores are added); then of a broker with partition.workers.listen=true
//   (each partition worker a network shard answering its own partitions' produces and consumer fetches), with the
//   share of those requests a worker answered without the main thread.
// * Connections: with the default single shard, produce throughput of 1 busy connection, then of 10 busy ones
//   with 0, 100 and 1,000 idle connections open, and paced end-to-end latency with each of those idle counts.
// The load comes from the load generator (blocking C sockets in worker threads, bench/loadgen.ts), several
// connections per run so that the kernel spreads them over the shards. One broker per shard count, all started
// up front, and rounds that visit every configuration (in alternating order): a burst of other load on a shared
// machine then lands on every configuration of a round alike. The machine's busy share is kept next to every figure.
//
//   bun bench/shard-scaling.ts [--quick] [--seconds=N] [--rounds=N] [--shards=1,2] [--no-listen] [--fill-mib=N]
//
// Alone it prints the section's tables and writes bench/results/shard-scaling.{json,md}; it leaves BENCHMARKS.md
// alone (`bun run bench --only=scaling --merge` measures the section into it).
import { availableParallelism, tmpdir } from "node:os";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import type { Socket } from "bun";
import { assert } from "../src/util/assert.ts";
import { BenchBroker, freePort } from "./broker-process.ts";
import { machineCpu, measureLatency } from "./e2e.ts";
import { combine, runLoad, type ConsumeTask, type LoadTask, type ProduceTask } from "./loadgen.ts";

const RECORD_BYTES = 1024;
const PRODUCE_BATCH_BYTES = 64 * 1024;
const PRODUCE_IN_FLIGHT = 8;
const PRODUCE_CONNECTIONS = 4;
const PRODUCE_PARTITIONS = 4;
const CONSUME_PARTITIONS = 8;
const CONSUME_CONNECTION_COUNTS = [1, 2, 4];
const CONSUME_FETCH_BYTES = 1024 * 1024;
const FILL_BATCH_BYTES = 256 * 1024;
const CONSUME_TOPIC = "scaling-consume";
const BUSY_CONNECTIONS = 10;
const IDLE_CONNECTION_COUNTS = [0, 100, 1000];
/** Paced end-to-end latency (bench/e2e.ts measureLatency: 1 KiB records, 64 KiB batches, 2 producers, 2 tailing consumers). */
const PACED_RECORDS_PER_SECOND = 20_000;
const IDLE_CONNECT_TIMEOUT_MS = 30_000;
/** After closing idle connections: time for the broker to process the closes before the next figure. */
const IDLE_CLOSE_SETTLE_MS = 250;
/** How long the broker may take to accept idle connections the kernel already completed. */
const IDLE_ACCEPT_TIMEOUT_MS = 5_000;

/** One throughput figure and who was busy during it. */
export interface ScalingThroughput {
  seconds: number;
  recordsPerSecond: number;
  bytesPerSecond: number;
  brokerCpuCores: number;
  /** CPU of the broker's main thread alone (the single owner of request handling), in cores. */
  mainThreadCores: number;
  /** Share of all the machine's cores busy (broker, load generator, everything else). */
  machineBusy: number;
  errors: number;
}

/** A broker of the shard curve: num.network.shards, or "listen" (partition.workers.listen=true, default workers). */
export type ShardConfiguration = number | "listen";

/** Requests of one API over a figure: all the broker answered, and those a listening partition worker answered itself. */
export interface WorkerAnswers {
  local: number;
  all: number;
}

export interface ShardPoint extends ScalingThroughput {
  shards: ShardConfiguration;
  workload: "produce" | "catch-up consume";
  connections: number;
  round: number;
  /** Requests each shard read during the figure (/metrics bunka_network_shard_requests_total; index 0 is the main thread). */
  requestsByShard: number[];
  /** The listen broker only: Produce requests answered by a partition worker (/metrics bunka_network_shard_local_requests_total). */
  workerProduces?: WorkerAnswers;
  /** The listen broker only: Fetch requests answered by a partition worker. */
  workerFetches?: WorkerAnswers;
}

export interface PacedLatency {
  achievedRecordsPerSecond: number;
  samples: number;
  p50Ms: number;
  p99Ms: number;
  p999Ms: number;
  maxMs: number;
  brokerCpuCores: number;
  mainThreadCores: number;
  machineBusy: number;
}

export interface ConnectionPoint {
  busyConnections: number;
  idleConnections: number;
  /** Idle connections the broker closed before the point's figures were taken (0 when they all stayed open). */
  idleClosedByBroker: number;
  /** Kafka connections the broker counted (/metrics bunka_connections) once the idle ones were open, before the busy ones. */
  brokerConnectionsOpen: number;
  round: number;
  produce: ScalingThroughput;
  /** Paced end-to-end latency with the idle connections open (not measured for the 1-busy-connection point). */
  latency: PacedLatency | null;
}

export interface ScalingResults {
  cores: number;
  shardCounts: number[];
  seconds: number;
  rounds: number;
  recordBytes: number;
  produceBatchBytes: number;
  produceInFlight: number;
  produceConnections: number;
  consumeDataBytes: number;
  consumePartitions: number;
  pacedRecordsPerSecond: number;
  shardCurve: ShardPoint[];
  /** The shard curve's partition.workers.listen=true broker, when measured (absent in runs before it was). */
  listen?: { partitionWorkers: number } | null;
  /** With num.network.shards=1 (the default). */
  connectionCurve: ConnectionPoint[];
}

export interface ScalingOptions {
  quick: boolean;
  workDir: string;
  progress: (line: string) => void;
  /** Defaults: 1..cores. */
  shardCounts?: number[];
  /** A partition.workers.listen=true broker in the shard curve too; default true. */
  listen?: boolean;
  seconds?: number;
  rounds?: number;
  fillBytes?: number;
}

interface ScalingSettings {
  shardCounts: number[];
  listen: boolean;
  seconds: number;
  rounds: number;
  fillBytes: number;
}

function scalingSettings(options: ScalingOptions): ScalingSettings {
  const cores = availableParallelism();
  const settings = {
    shardCounts: options.shardCounts ?? Array.from({ length: cores }, (_, index) => index + 1),
    listen: options.listen ?? true,
    // Full run: about 5 minutes on 2 cores (2 shard counts and listen × 3 rounds × 4 figures, then 3 rounds of the connection curve).
    seconds: options.seconds ?? (options.quick ? 1 : 4),
    rounds: options.rounds ?? (options.quick ? 1 : 3),
    fillBytes: options.fillBytes ?? (options.quick ? 32 : 256) * 1024 * 1024,
  };
  assert(settings.shardCounts.length > 0, "at least one shard count");
  assert(settings.shardCounts.every((shards) => Number.isInteger(shards) && shards >= 1), "shard counts are integers ≥ 1");
  assert(settings.seconds > 0, "seconds per figure > 0");
  assert(settings.seconds <= 60, "seconds per figure ≤ 60");
  assert(Number.isInteger(settings.rounds), "rounds is an integer");
  assert(settings.rounds >= 1, "rounds ≥ 1");
  assert(settings.rounds <= 20, "rounds ≤ 20");
  return settings;
}

/** CPU seconds of the broker's main thread (tid = pid), from /proc (clock ticks of 1/100 s). */
function mainThreadSeconds(pid: number): number {
  try {
    const fields = readFileSync(`/proc/${pid}/task/${pid}/stat`, "utf8").split(") ")[1]!.split(" ");
    return (Number(fields[11]) + Number(fields[12])) / 100;
  } catch {
    return Number.NaN;
  }
}

async function scrapeMetrics(metricsUrl: string): Promise<string> {
  return (await fetch(metricsUrl, { signal: AbortSignal.timeout(10_000) })).text();
}

/** Sums of a /metrics family's samples by the value of one label (Prometheus text format). */
async function scrapeByLabel(metricsUrl: string, family: string, label: string): Promise<Map<string, number>> {
  return sumByLabel(await scrapeMetrics(metricsUrl), family, label);
}

function sumByLabel(text: string, family: string, label: string): Map<string, number> {
  const byLabel = new Map<string, number>();
  const pattern = new RegExp(`^${family}\\{(?:[^}]*,)?${label}="([^"]*)"[^}]*\\} (\\S+)$`);
  for (const line of text.split("\n")) {
    const match = pattern.exec(line);
    if (match) byLabel.set(match[1]!, (byLabel.get(match[1]!) ?? 0) + Number(match[2]));
  }
  return byLabel;
}

interface ShardCounts {
  requestsByShard: number[];
  /** Per API, requests answered by a listening worker (summed over shards) and by the broker in all. */
  workerAnswers: Map<string, WorkerAnswers>;
}

async function readShardCounts(metricsUrl: string, shards: number): Promise<ShardCounts> {
  const text = await scrapeMetrics(metricsUrl);
  const byShard = sumByLabel(text, "bunka_network_shard_requests_total", "shard");
  const localByApi = sumByLabel(text, "bunka_network_shard_local_requests_total", "api");
  // The request-time histogram counts the listening workers' local answers too (their notices record it on the main thread).
  const allByApi = sumByLabel(text, "bunka_request_duration_seconds_count", "api");
  const workerAnswers = new Map(["Produce", "Fetch"].map((api) => [api, { local: localByApi.get(api) ?? 0, all: allByApi.get(api) ?? 0 }]));
  return { requestsByShard: Array.from({ length: shards }, (_, shard) => byShard.get(String(shard)) ?? 0), workerAnswers };
}

/** Broker, main-thread and machine CPU around `body`, as cores over the wall time `body` reports (or took). */
async function withCpu<T extends { seconds: number }>(broker: BenchBroker, body: () => Promise<T>): Promise<T & { brokerCpuCores: number; mainThreadCores: number; machineBusy: number }> {
  const brokerBefore = broker.cpuSeconds();
  const mainBefore = mainThreadSeconds(broker.pid);
  const machineBefore = machineCpu();
  const result = await body();
  const brokerAfter = broker.cpuSeconds();
  const machineAfter = machineCpu();
  assert(result.seconds > 0, "a measured run takes time");
  return {
    ...result,
    brokerCpuCores: (brokerAfter.user + brokerAfter.system - brokerBefore.user - brokerBefore.system) / result.seconds,
    mainThreadCores: (mainThreadSeconds(broker.pid) - mainBefore) / result.seconds,
    machineBusy: (machineAfter.busy - machineBefore.busy) / Math.max(1, machineAfter.total - machineBefore.total),
  };
}

async function measureThroughput(broker: BenchBroker, tasks: LoadTask[]): Promise<ScalingThroughput> {
  return withCpu(broker, async () => {
    const total = combine(await runLoad(tasks));
    return { seconds: total.seconds, recordsPerSecond: total.records / total.seconds, bytesPerSecond: total.bytes / total.seconds, errors: total.errors };
  });
}

let topicSequence = 0;

/** Produce from `connections` connections into a fresh topic, deleted afterwards (the disk does not fill over the rounds). */
async function measureProduce(broker: BenchBroker, connections: number, seconds: number): Promise<ScalingThroughput> {
  const topic = `scaling-produce-${++topicSequence}`;
  await broker.createTopic(topic, PRODUCE_PARTITIONS);
  try {
    const tasks: ProduceTask[] = Array.from({ length: connections }, (_, connection) => ({
      op: "produce", port: broker.port, topic, partitions: [connection % PRODUCE_PARTITIONS],
      recordBytes: RECORD_BYTES, batchBytes: PRODUCE_BATCH_BYTES, compression: "none", acks: 1,
      inFlight: PRODUCE_IN_FLIGHT, maxSeconds: seconds, maxRecords: 0, requestsPerSecond: 0,
    }));
    return await measureThroughput(broker, tasks);
  } finally {
    await broker.deleteTopic(topic);
  }
}

/** Catch-up consume of the filled topic: partitions shared round-robin, one 1 MiB fetch in flight per connection. */
async function measureConsume(broker: BenchBroker, endOffsets: number[], connections: number, seconds: number): Promise<ScalingThroughput> {
  const tasks: ConsumeTask[] = Array.from({ length: connections }, (_, connection) => {
    const partitions = endOffsets.map((_, partition) => partition).filter((partition) => partition % connections === connection);
    return {
      op: "consume", port: broker.port, topic: CONSUME_TOPIC, partitions,
      endOffsets: partitions.map((partition) => endOffsets[partition]!), partitionMaxBytes: CONSUME_FETCH_BYTES,
      maxSeconds: seconds, loop: true, tail: false, checksum: false, fetchesInFlight: 1,
    };
  });
  return measureThroughput(broker, tasks);
}

/** Writes `fillBytes` of 1 KiB records over the consume topic's partitions; returns their end offsets. */
async function fillConsumeTopic(broker: BenchBroker, fillBytes: number): Promise<number[]> {
  await broker.createTopic(CONSUME_TOPIC, CONSUME_PARTITIONS);
  const recordsPerPartition = Math.ceil(fillBytes / CONSUME_PARTITIONS / (RECORD_BYTES + 10));
  const producers = 2;
  await runLoad(Array.from({ length: producers }, (_, producer) => ({
    op: "produce" as const, port: broker.port, topic: CONSUME_TOPIC,
    partitions: Array.from({ length: CONSUME_PARTITIONS / producers }, (_, index) => index * producers + producer),
    recordBytes: RECORD_BYTES, batchBytes: FILL_BATCH_BYTES, compression: "none" as const, acks: 1, inFlight: 8,
    maxSeconds: 600, maxRecords: recordsPerPartition * (CONSUME_PARTITIONS / producers), requestsPerSecond: 0,
  })));
  const endOffsets = await broker.endOffsets(CONSUME_TOPIC, CONSUME_PARTITIONS);
  assert(endOffsets.every((offset) => offset > 0), "every consume partition holds records");
  return endOffsets;
}

interface ShardBroker {
  shards: ShardConfiguration;
  /** Threads that read client sockets: num.network.shards, or with listen the main thread and every partition worker. */
  networkShards: number;
  broker: BenchBroker;
  metricsUrl: string;
  endOffsets: number[];
}

/**
 * One figure and how its requests spread over the shards (the kernel's SO_REUSEPORT hash decides, per connection);
 * for the listen broker also how many produces and fetches a worker answered without the main thread.
 */
async function withShardSpread(target: ShardBroker, body: () => Promise<ScalingThroughput>): Promise<ScalingThroughput & Pick<ShardPoint, "requestsByShard" | "workerProduces" | "workerFetches">> {
  const before = await readShardCounts(target.metricsUrl, target.networkShards);
  const throughput = await body();
  const after = await readShardCounts(target.metricsUrl, target.networkShards);
  const between = (api: string): WorkerAnswers => ({
    local: after.workerAnswers.get(api)!.local - before.workerAnswers.get(api)!.local,
    all: after.workerAnswers.get(api)!.all - before.workerAnswers.get(api)!.all,
  });
  return {
    ...throughput,
    requestsByShard: after.requestsByShard.map((count, shard) => count - before.requestsByShard[shard]!),
    ...(target.shards === "listen" ? { workerProduces: between("Produce"), workerFetches: between("Fetch") } : {}),
  };
}

async function measureShardRound(target: ShardBroker, round: number, seconds: number): Promise<ShardPoint[]> {
  const points: ShardPoint[] = [];
  const base = { shards: target.shards, round };
  points.push({ ...base, workload: "produce", connections: PRODUCE_CONNECTIONS, ...(await withShardSpread(target, () => measureProduce(target.broker, PRODUCE_CONNECTIONS, seconds))) });
  for (const connections of CONSUME_CONNECTION_COUNTS) {
    points.push({ ...base, workload: "catch-up consume", connections, ...(await withShardSpread(target, () => measureConsume(target.broker, target.endOffsets, connections, seconds))) });
  }
  return points;
}

/** Plain TCP connections that connect and then say nothing (a client's idle connections); counts the ones the broker closes. */
class IdleConnections {
  private readonly sockets: Socket[] = [];
  closedByBroker = 0;
  private closing = false;

  static async open(port: number, count: number): Promise<IdleConnections> {
    const idle = new IdleConnections();
    const deadline = Date.now() + IDLE_CONNECT_TIMEOUT_MS;
    try {
      for (let index = 0; index < count; index++) {
        const connecting = Bun.connect({ hostname: "127.0.0.1", port, socket: { data() {}, close: () => idle.onClose() } });
        const socket = await Promise.race([connecting, Bun.sleep(Math.max(0, deadline - Date.now())).then(() => null)]);
        if (socket === null) throw new Error(`${count} idle connections not open within ${IDLE_CONNECT_TIMEOUT_MS} ms (${index} were)`);
        idle.sockets.push(socket);
      }
    } catch (error) {
      await idle.close();
      throw error;
    }
    assert(idle.sockets.length === count, "every idle connection opened");
    return idle;
  }

  private onClose(): void {
    if (!this.closing) this.closedByBroker++;
  }

  async close(): Promise<void> {
    this.closing = true;
    for (const socket of this.sockets) socket.end();
    if (this.sockets.length > 0) await Bun.sleep(IDLE_CLOSE_SETTLE_MS);
  }
}

async function measurePacedLatency(broker: BenchBroker, seconds: number): Promise<PacedLatency> {
  const measured = await withCpu(broker, async () => {
    const started = performance.now();
    // measureLatency's target rate is reference × fraction: the fixed rate with fraction 1.
    const result = await measureLatency(broker, PACED_RECORDS_PER_SECOND, seconds, 1);
    return { ...result, seconds: (performance.now() - started) / 1000 };
  });
  return {
    achievedRecordsPerSecond: measured.achievedRecordsPerSecond, samples: measured.samples,
    p50Ms: measured.p50Ms, p99Ms: measured.p99Ms, p999Ms: measured.p999Ms, maxMs: measured.maxMs,
    brokerCpuCores: measured.brokerCpuCores, mainThreadCores: measured.mainThreadCores, machineBusy: measured.machineBusy,
  };
}

/** Waits (bounded) until the broker counts at least `count` open connections, so none still sits in the accept queue; returns its count. */
async function brokerConnectionsOpen(metricsUrl: string, count: number): Promise<number> {
  const deadline = Date.now() + IDLE_ACCEPT_TIMEOUT_MS;
  for (;;) {
    const open = [...(await scrapeByLabel(metricsUrl, "bunka_connections", "listener")).values()].reduce((sum, value) => sum + value, 0);
    if (open >= count || Date.now() >= deadline) return open;
    await Bun.sleep(50);
  }
}

async function measureConnectionRound(target: ShardBroker, round: number, seconds: number): Promise<ConnectionPoint[]> {
  const { broker, metricsUrl } = target;
  const points: ConnectionPoint[] = [];
  points.push({ busyConnections: 1, idleConnections: 0, idleClosedByBroker: 0, brokerConnectionsOpen: 0, round, produce: await measureProduce(broker, 1, seconds), latency: null });
  // Alternate the order over rounds, so a drift in the machine's other load favours no idle count.
  const idleCounts = round % 2 === 1 ? IDLE_CONNECTION_COUNTS : [...IDLE_CONNECTION_COUNTS].reverse();
  for (const idleConnections of idleCounts) {
    const idle = await IdleConnections.open(broker.port, idleConnections);
    try {
      const open = await brokerConnectionsOpen(metricsUrl, idleConnections);
      const produce = await measureProduce(broker, BUSY_CONNECTIONS, seconds);
      const latency = await measurePacedLatency(broker, seconds);
      points.push({ busyConnections: BUSY_CONNECTIONS, idleConnections, idleClosedByBroker: idle.closedByBroker, brokerConnectionsOpen: open, round, produce, latency });
    } finally {
      await idle.close();
    }
  }
  return points;
}

async function startShardBroker(workDir: string, shards: ShardConfiguration, fillBytes: number): Promise<ShardBroker> {
  // With an admin listener: /metrics says how requests spread over the shards and how many connections are open.
  const adminPort = freePort();
  // listen keeps num.partition.workers at its default (the number of cores): shard 0 is the main thread (which
  // leaves PLAINTEXT connections to the workers, so its counts stay 0), shard w + 1 worker w.
  // The numbered ones say listen=false: left unset, a single node's partition workers listen (the default).
  const shape: Record<string, string> = shards === "listen" ? { "partition.workers.listen": "true" } : { "num.network.shards": String(shards), "partition.workers.listen": "false" };
  const networkShards = shards === "listen" ? 1 + availableParallelism() : shards;
  const broker = new BenchBroker({ workDir, properties: { ...shape, "admin.listeners": `http://127.0.0.1:${adminPort}` } });
  await broker.start();
  try {
    return { shards, networkShards, broker, metricsUrl: `http://127.0.0.1:${adminPort}/metrics`, endOffsets: await fillConsumeTopic(broker, fillBytes) };
  } catch (error) {
    await broker.stop();
    throw error;
  }
}

export async function runScaling(options: ScalingOptions): Promise<ScalingResults> {
  const settings = scalingSettings(options);
  const { progress } = options;
  // The connection curve runs on the default single shard, measured or not in the shard curve.
  const brokerShardCounts: ShardConfiguration[] = [...new Set([1, ...settings.shardCounts]), ...(settings.listen ? (["listen"] as const) : [])];
  const targets: ShardBroker[] = [];
  const shardCurve: ShardPoint[] = [];
  const connectionCurve: ConnectionPoint[] = [];
  try {
    for (const shards of brokerShardCounts) targets.push(await startShardBroker(options.workDir, shards, settings.fillBytes));
    progress(`scaling: brokers with num.network.shards ${brokerShardCounts.join(", ")} started, ${settings.fillBytes / 2 ** 20} MiB each to read back`);
    const measuredTargets = targets.filter((target) => target.shards === "listen" || settings.shardCounts.includes(target.shards));
    for (let round = 1; round <= settings.rounds; round++) {
      const order = round % 2 === 1 ? measuredTargets : [...measuredTargets].reverse();
      for (const target of order) {
        const points = await measureShardRound(target, round, settings.seconds);
        shardCurve.push(...points);
        progress(`scaling round ${round}, shards=${target.shards}: ${points.map(describeShardPoint).join("; ")}`);
      }
    }
    const singleShard = targets.find((target) => target.shards === 1)!;
    for (let round = 1; round <= settings.rounds; round++) {
      const points = await measureConnectionRound(singleShard, round, settings.seconds);
      connectionCurve.push(...points);
      progress(`scaling round ${round}, connections: ${points.map(describeConnectionPoint).join("; ")}`);
    }
  } finally {
    for (const target of targets) await target.broker.stop();
  }
  return {
    cores: availableParallelism(),
    shardCounts: settings.shardCounts,
    seconds: settings.seconds,
    rounds: settings.rounds,
    recordBytes: RECORD_BYTES,
    produceBatchBytes: PRODUCE_BATCH_BYTES,
    produceInFlight: PRODUCE_IN_FLIGHT,
    produceConnections: PRODUCE_CONNECTIONS,
    consumeDataBytes: settings.fillBytes,
    consumePartitions: CONSUME_PARTITIONS,
    pacedRecordsPerSecond: PACED_RECORDS_PER_SECOND,
    shardCurve,
    listen: settings.listen ? { partitionWorkers: availableParallelism() } : null,
    connectionCurve,
  };
}

function describeShardPoint(point: ShardPoint): string {
  const answers = point.workload === "produce" ? point.workerProduces : point.workerFetches;
  const byWorkers = answers ? `, ${answers.local} of ${answers.all} answered by a worker` : "";
  return `${point.workload} ×${point.connections} ${(point.bytesPerSecond / 1e6).toFixed(0)} MB/s (main ${point.mainThreadCores.toFixed(2)} of ${point.brokerCpuCores.toFixed(2)} cores${byWorkers})${point.errors ? `, ${point.errors} errors` : ""}`;
}

function describeConnectionPoint(point: ConnectionPoint): string {
  const latency = point.latency ? `, p99 ${point.latency.p99Ms.toFixed(2)} ms` : "";
  return `${point.busyConnections}+${point.idleConnections} idle ${(point.produce.bytesPerSecond / 1e6).toFixed(0)} MB/s${latency}${point.idleClosedByBroker ? `, ${point.idleClosedByBroker} idle closed` : ""}`;
}

if (import.meta.main) {
  const { renderScaling } = await import("./report.ts");
  const argument = (name: string) => process.argv.find((arg) => arg.startsWith(`--${name}=`))?.slice(name.length + 3);
  const workDir = mkdtempSync(join(tmpdir(), "bunka-scaling-"));
  const startedMs = performance.now();
  let results: ScalingResults;
  try {
    results = await runScaling({
      quick: process.argv.includes("--quick"),
      workDir,
      progress: (line) => console.log(`[${Math.round((performance.now() - startedMs) / 1000)} s] ${line}`),
      shardCounts: argument("shards")?.split(",").map(Number),
      listen: !process.argv.includes("--no-listen"),
      seconds: argument("seconds") ? Number(argument("seconds")) : undefined,
      rounds: argument("rounds") ? Number(argument("rounds")) : undefined,
      fillBytes: argument("fill-mib") ? Number(argument("fill-mib")) * 1024 * 1024 : undefined,
    });
  } finally {
    rmSync(workDir, { recursive: true, force: true });
  }
  const resultsDir = resolve(import.meta.dir, "results");
  mkdirSync(resultsDir, { recursive: true });
  writeFileSync(join(resultsDir, "shard-scaling.json"), JSON.stringify(results, null, 2) + "\n");
  const report = renderScaling(results).join("\n");
  writeFileSync(join(resultsDir, "shard-scaling.md"), report);
  console.log(report);
  process.exit(0);
}
