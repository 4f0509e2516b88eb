// librdkafka's own benchmark tool, rdkafka_performance (librdkafka 2.0.2's examples, built by
// ../shared/tools/rdperf/build.sh), as the real-client cross-check (issue 13):
//   * producer throughput into one partition (batch.size 1000000, linger.ms 10, acks=1 and acks=0, 1 KiB
//     and 100 B records) against Bunka and, in the same run, against librdkafka's in-process mock broker
//     (`-X test.mock.num.brokers=1`: the client's own ceiling on this machine);
//   * latency mode (`-l` on a producer and a consumer; `-A FILE` writes each record's end-to-end latency in
//     µs) at 5,000 and 20,000 records/s of 1 KiB, linger.ms 0, acks=1.
// Before the rows, one unmeasured 1 KiB run into a topic that is then deleted (coldRun): the rows measure the
// broker on page cache the kernel recycles, not the VM's first touch of fresh memory (bench/analysis.md).
// The broker's CPU per MB is reported per thread, user and system apart.
//
//   bun bench/rdperf.ts [--quick] [--port=N (a running broker)]
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { BenchBroker } from "./broker-process.ts";
import { describeLocalAnswers, localAnswersBetween, readLocalAnswerCounts, type LocalAnswers } from "./latency-reference.ts";

const BUILD_SCRIPT = resolve(import.meta.dir, "../../shared/tools/rdperf/build.sh");
const TOOL_TIMEOUT_MS = 120_000;

export interface RdperfThroughput {
  recordBytes: number;
  acks: number;
  records: number;
  /** Delivered records per second (the tool's final dr_m/s), best of the runs. */
  bunkaRecordsPerSecond: number;
  mockRecordsPerSecond: number;
  /** Every run's figure, in run order (Bunka and mock alternate). */
  bunkaRuns: number[];
  mockRuns: number[];
  /** CPU of the client (user + system seconds per wall second) and of the broker during Bunka's best run. */
  clientCores: number;
  brokerCores: number;
  /** The tool's average request round trip against Bunka (ms, the `rtt` column). */
  bunkaRttMs: number;
  /**
   * The broker's CPU per MB of records during Bunka's best run, by thread name ("bun.exe" is the socket
   * thread, "Worker" the partition workers): at 1 KiB the workers' system time (the page-cache copy of
   * pwritev) is most of it (bench/analysis.md).
   */
  brokerThreadMsPerMB?: Record<string, { user: number; system: number }>;
}

export interface RdperfLatency {
  targetRecordsPerSecond: number;
  achievedRecordsPerSecond: number;
  samples: number;
  p50Ms: number;
  p99Ms: number;
  p999Ms: number;
  maxMs: number;
  /**
   * The same two commands with librdkafka's mock broker in the consumer's process (the producer connects to
   * its port) and the consumer polling every millisecond (fetch.wait.max.ms=1: the mock answers a fetch only
   * when its wait ends, it is not woken by an append): what the tool and the VM reach without Bunka.
   */
  mock?: LatencyFigures | { error: string };
  /** The same against a second Bunka with num.partition.workers=0 (the socket thread owns the partitions). */
  inline?: LatencyFigures | { error: string };
  /** The same against a third Bunka with partition.workers.listen=false (the socket thread reads every connection). */
  listenOff?: LatencyFigures | { error: string };
  /**
   * How many of the producer's requests and of the consumer's fetches the default broker's listening workers
   * answered in their own thread (which worker reads a connection is the kernel's hash).
   */
  localProduces?: LocalAnswers;
  localFetches?: LocalAnswers;
}

/** One broker's -l figures. */
export type LatencyFigures = Omit<RdperfLatency, "mock" | "inline" | "listenOff" | "localProduces" | "localFetches" | "targetRecordsPerSecond">;

export interface RdperfResults {
  tool: string;
  /**
   * The unmeasured first Bunka run (1 KiB, acks=1) before the rows: on the benchmark VM the first writes into
   * page cache the broker has not used yet cost 7-13 ms of kernel time per MB, against 0.2-0.3 ms/MB once the
   * pages of a deleted topic are reused (bench/analysis.md); the rows measure the latter, as every later row did.
   */
  coldRun?: { recordsPerSecond: number; brokerThreadMsPerMB: Record<string, { user: number; system: number }> };
  throughput: RdperfThroughput[];
  latency: RdperfLatency[];
  error?: string;
}

/** Builds the tool once (the script returns at once when it exists). */
export function buildRdperf(out = join(tmpdir(), "rdkafka_performance")): string | null {
  if (existsSync(out)) return out;
  if (!existsSync(BUILD_SCRIPT)) return null;
  const built = Bun.spawnSync(["bash", BUILD_SCRIPT, out], { stdout: "pipe", stderr: "pipe", timeout: 300_000 });
  return built.exitCode === 0 && existsSync(out) ? out : null;
}

interface ToolRun {
  lastRow: number[];
  wallSeconds: number;
  cpuSeconds: number;
  output: string;
}

/** The last row of the `-u` table (numbers only). */
function lastTableRow(output: string): number[] {
  const rows = output.split("\n").filter((line) => /^\|\s+\d/.test(line));
  const last = rows[rows.length - 1];
  if (!last) throw new Error(`rdkafka_performance printed no result row:\n${output.slice(-800)}`);
  return last.split("|").slice(1).map((cell) => Number(cell.trim()));
}

export async function runTool(tool: string, args: string[]): Promise<ToolRun> {
  const started = performance.now();
  const child = Bun.spawn([tool, ...args], { stdout: "pipe", stderr: "pipe" });
  const timer = setTimeout(() => child.kill("SIGKILL"), TOOL_TIMEOUT_MS);
  const [stdout, stderr] = await Promise.all([new Response(child.stdout).text(), new Response(child.stderr).text()]);
  await child.exited;
  clearTimeout(timer);
  const usage = child.resourceUsage();
  const cpuSeconds = usage ? Number(usage.cpuTime.user + usage.cpuTime.system) / 1e6 : 0;
  const output = stdout + stderr;
  if (child.exitCode !== 0) throw new Error(`rdkafka_performance ${args.join(" ")} exited ${child.exitCode}:\n${output.slice(-800)}`);
  return { lastRow: lastTableRow(output), wallSeconds: (performance.now() - started) / 1000, cpuSeconds, output };
}

let sequence = 0;

function percentile(sorted: number[], fraction: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor(fraction * sorted.length))]!;
}

/** CPU ms per MB of records between two per-thread readings; threads under 0.01 s left out. */
function threadMsPerMB(
  before: Map<string, { user: number; system: number }>,
  after: Map<string, { user: number; system: number }>,
  megabytes: number,
): Record<string, { user: number; system: number }> {
  const perThread: Record<string, { user: number; system: number }> = {};
  for (const [thread, cpu] of after) {
    const user = cpu.user - (before.get(thread)?.user ?? 0);
    const system = cpu.system - (before.get(thread)?.system ?? 0);
    if (user + system >= 0.01) perThread[thread] = { user: (user * 1000) / megabytes, system: (system * 1000) / megabytes };
  }
  return perThread;
}

function describeThreads(perThread: Record<string, { user: number; system: number }>): string {
  return Object.entries(perThread)
    .map(([thread, cpu]) => `${thread} ${cpu.user.toFixed(2)} user + ${cpu.system.toFixed(2)} sys`)
    .join(", ");
}

/** The latencies the consumer wrote (µs a line), without the first second (the warm-up: connections, first fetches). */
export function latencyFigures(latencyFile: string, seconds: number, producer: ToolRun): LatencyFigures {
  const all = readFileSync(latencyFile, "utf8").split("\n").filter(Boolean).map(Number);
  const latencies = all.slice(Math.floor(all.length / seconds)).map((us) => us / 1000).sort((a, b) => a - b);
  return {
    achievedRecordsPerSecond: producer.lastRow[1]! / (producer.lastRow[0]! / 1000),
    samples: latencies.length,
    p50Ms: percentile(latencies, 0.5),
    p99Ms: percentile(latencies, 0.99),
    p999Ms: percentile(latencies, 0.999),
    maxMs: latencies[latencies.length - 1] ?? Number.NaN,
  };
}

export function describeLatency(point: LatencyFigures): string {
  return `${(point.achievedRecordsPerSecond / 1000).toFixed(1)} k/s achieved, p50 ${point.p50Ms.toFixed(2)} ms, p99 ${point.p99Ms.toFixed(2)} ms, p99.9 ${point.p999Ms.toFixed(2)} ms, max ${point.maxMs.toFixed(1)} ms (${point.samples} samples)`;
}

/** `-l` against the mock broker of the consumer's process; the producer finds it at the port the consumer logs. */
async function measureMockLatency(tool: string, rate: number, count: number, seconds: number, latencyFile: string): Promise<LatencyFigures> {
  const topic = `rdperf-mock-latency-${++sequence}`;
  const consumer = Bun.spawn([tool, "-C", "-l", "-t", topic, "-p", "0", "-o", "end", "-A", latencyFile, "-u", "-c", String(count), "-X", "test.mock.num.brokers=1", "-X", "fetch.wait.max.ms=1"], {
    stdout: "ignore",
    stderr: "pipe",
  });
  const timer = setTimeout(() => consumer.kill("SIGKILL"), TOOL_TIMEOUT_MS);
  try {
    const reader = consumer.stderr.getReader();
    const decoder = new TextDecoder();
    let logged = "";
    let bootstrap = "";
    // Bounded by the tool's timeout above: a killed consumer ends the stream.
    while (!bootstrap) {
      const { value, done } = await reader.read();
      if (done) throw new Error(`the mock consumer logged no bootstrap address: ${logged.slice(-300)}`);
      logged += decoder.decode(value);
      bootstrap = /replaced with (\S+:\d+)/.exec(logged)?.[1] ?? "";
    }
    void (async () => {
      while (!(await reader.read()).done);
    })();
    await Bun.sleep(1500); // as for Bunka: the consumer is fetching before the first record
    const producer = await runTool(tool, ["-P", "-l", "-t", topic, "-p", "0", "-s", "1024", "-r", String(rate), "-c", String(count), "-X", "linger.ms=0", "-a", "1", "-u", "-b", bootstrap]);
    // The mock consumer may stop short of `count` (records it never saw): what it wrote is the measurement.
    await Promise.race([consumer.exited, Bun.sleep(10_000)]);
    return latencyFigures(latencyFile, seconds, producer);
  } finally {
    clearTimeout(timer);
    consumer.kill();
    rmSync(latencyFile, { force: true });
  }
}

/**
 * `inlineBroker`: a second broker with num.partition.workers=0, and `listenOff` a third with partition.workers.listen
 * =false, whose -l figures sit beside the default's (`metricsUrl`, the default's /metrics, counts its local answers).
 */
export async function runRdperf(options: {
  broker: BenchBroker;
  metricsUrl?: string;
  inlineBroker?: BenchBroker;
  listenOff?: BenchBroker;
  workDir: string;
  quick: boolean;
  progress: (line: string) => void;
}): Promise<RdperfResults> {
  const { broker, quick, progress } = options;
  const tool = buildRdperf();
  const results: RdperfResults = { tool: "rdkafka_performance (librdkafka 2.0.2 examples)", throughput: [], latency: [] };
  if (!tool) {
    results.error = `rdkafka_performance not built (${BUILD_SCRIPT} failed or is missing)`;
    progress(`rdperf: ${results.error}`);
    return results;
  }
  const rounds = quick ? 1 : 2;
  {
    const records = quick ? 300_000 : 1_000_000;
    const topic = `rdperf-cold-${++sequence}`;
    await broker.createTopic(topic, 1);
    try {
      const threadsBefore = broker.threadCpuSeconds();
      const cold = await runTool(tool, ["-P", "-p", "0", "-s", "1024", "-c", String(records), "-X", "linger.ms=10", "-X", "batch.size=1000000", "-X", "acks=1", "-u", "-t", topic, "-b", broker.bootstrap]);
      results.coldRun = { recordsPerSecond: cold.lastRow[5]!, brokerThreadMsPerMB: threadMsPerMB(threadsBefore, broker.threadCpuSeconds(), (records * 1024) / 1e6) };
      progress(`rdperf cold run (unmeasured, 1024 B, acks=1, page cache not yet used by the broker): ${(results.coldRun.recordsPerSecond / 1000).toFixed(0)} k/s; broker ms/MB ${describeThreads(results.coldRun.brokerThreadMsPerMB)}`);
    } finally {
      // Its pages go back to the kernel, which hands them to the measured runs' appends.
      await broker.deleteTopic(topic).catch(() => {});
    }
  }
  for (const recordBytes of [1024, 100]) {
    for (const acks of [1, 0]) {
      const records = recordBytes === 1024 ? (quick ? 300_000 : 1_000_000) : quick ? 1_000_000 : 4_000_000;
      const common = ["-P", "-p", "0", "-s", String(recordBytes), "-c", String(records), "-X", "linger.ms=10", "-X", "batch.size=1000000", "-X", `acks=${acks}`, "-u"];
      const row: RdperfThroughput = { recordBytes, acks, records, bunkaRecordsPerSecond: 0, mockRecordsPerSecond: 0, bunkaRuns: [], mockRuns: [], clientCores: 0, brokerCores: 0, bunkaRttMs: 0 };
      for (let round = 0; round < rounds; round++) {
        const mock = await runTool(tool, [...common, "-t", `rdperf-mock-${++sequence}`, "-X", "test.mock.num.brokers=1"]);
        row.mockRuns.push(mock.lastRow[5]!);
        const topic = `rdperf-${++sequence}`;
        await broker.createTopic(topic, 1);
        try {
          const brokerBefore = broker.cpuSeconds();
          const threadsBefore = broker.threadCpuSeconds();
          const bunka = await runTool(tool, [...common, "-t", topic, "-b", broker.bootstrap]);
          const brokerAfter = broker.cpuSeconds();
          const threadsAfter = broker.threadCpuSeconds();
          const rate = bunka.lastRow[5]!;
          row.bunkaRuns.push(rate);
          if (rate >= row.bunkaRecordsPerSecond) {
            row.bunkaRecordsPerSecond = rate;
            row.clientCores = bunka.cpuSeconds / bunka.wallSeconds;
            row.brokerCores = (brokerAfter.user + brokerAfter.system - brokerBefore.user - brokerBefore.system) / bunka.wallSeconds;
            row.bunkaRttMs = bunka.lastRow[3]!;
            row.brokerThreadMsPerMB = threadMsPerMB(threadsBefore, threadsAfter, (records * recordBytes) / 1e6);
          }
        } finally {
          await broker.deleteTopic(topic).catch(() => {});
        }
      }
      row.mockRecordsPerSecond = Math.max(...row.mockRuns);
      results.throughput.push(row);
      progress(
        `rdperf produce ${recordBytes} B, acks=${acks}: Bunka ${(row.bunkaRecordsPerSecond / 1000).toFixed(0)} k/s (${row.bunkaRuns.map((rate) => (rate / 1000).toFixed(0)).join(", ")}), ` +
          `mock ${(row.mockRecordsPerSecond / 1000).toFixed(0)} k/s (${row.mockRuns.map((rate) => (rate / 1000).toFixed(0)).join(", ")}): ${((100 * row.bunkaRecordsPerSecond) / row.mockRecordsPerSecond).toFixed(0)}%; ` +
          `client ${row.clientCores.toFixed(2)} cores, broker ${row.brokerCores.toFixed(2)} cores, rtt ${row.bunkaRttMs} ms; broker ms/MB ` +
          describeThreads(row.brokerThreadMsPerMB ?? {}),
      );
    }
  }

  for (const rate of [5_000, 20_000]) {
    const seconds = quick ? 4 : 10;
    const count = rate * seconds;
    const failure = (error: unknown) => ({ error: error instanceof Error ? error.message.split("\n")[0]! : String(error) });
    try {
      const before = options.metricsUrl ? await readLocalAnswerCounts(options.metricsUrl) : null;
      const point: RdperfLatency = { targetRecordsPerSecond: rate, ...(await measureBunkaLatency(tool, broker, rate, count, seconds, options.workDir)) };
      if (before && options.metricsUrl) {
        const { produces, fetches } = localAnswersBetween(before, await readLocalAnswerCounts(options.metricsUrl));
        if (produces) point.localProduces = produces;
        if (fetches) point.localFetches = fetches;
      }
      results.latency.push(point);
      progress(
        `rdperf -l at ${rate}/s: ${describeLatency(point)}` +
          `${point.localProduces ? `; produces answered in a listening worker: ${describeLocalAnswers(point.localProduces)}` : ""}` +
          `${point.localFetches ? `; fetches: ${describeLocalAnswers(point.localFetches)}` : ""}`,
      );
      if (options.inlineBroker) {
        point.inline = await measureBunkaLatency(tool, options.inlineBroker, rate, count, seconds, options.workDir).catch(failure);
        progress(`rdperf -l at ${rate}/s against Bunka with num.partition.workers=0: ${"error" in point.inline ? point.inline.error : describeLatency(point.inline)}`);
      }
      if (options.listenOff) {
        point.listenOff = await measureBunkaLatency(tool, options.listenOff, rate, count, seconds, options.workDir).catch(failure);
        progress(`rdperf -l at ${rate}/s against Bunka with partition.workers.listen=false: ${"error" in point.listenOff ? point.listenOff.error : describeLatency(point.listenOff)}`);
      }
      point.mock = await measureMockLatency(tool, rate, count, seconds, join(options.workDir, `rdperf-latency-${++sequence}-mock.txt`)).catch(failure);
      progress(`rdperf -l at ${rate}/s against the mock broker: ${"error" in point.mock ? point.mock.error : describeLatency(point.mock)}`);
    } catch (error) {
      progress(`rdperf -l at ${rate}/s failed: ${failure(error).error}`);
    }
  }
  return results;
}

/** rdkafka_performance -l: a consumer tailing one partition of `broker`, then a producer stamping `count` 1 KiB records at `rate`. */
async function measureBunkaLatency(tool: string, broker: BenchBroker, rate: number, count: number, seconds: number, workDir: string): Promise<Omit<RdperfLatency, "targetRecordsPerSecond">> {
  const topic = `rdperf-latency-${++sequence}`;
  const latencyFile = join(workDir, `${topic}.txt`);
  await broker.createTopic(topic, 1);
  try {
    const consumer = runTool(tool, ["-C", "-l", "-t", topic, "-p", "0", "-o", "end", "-A", latencyFile, "-u", "-c", String(count), "-b", broker.bootstrap]);
    await Bun.sleep(1500); // the consumer is assigned and fetching before the first record
    const producer = await runTool(tool, ["-P", "-l", "-t", topic, "-p", "0", "-s", "1024", "-r", String(rate), "-c", String(count), "-X", "linger.ms=0", "-a", "1", "-u", "-b", broker.bootstrap]);
    await consumer;
    // The first second is the warm-up (connections, first fetches), as in the latency reference.
    return latencyFigures(latencyFile, seconds, producer);
  } finally {
    rmSync(latencyFile, { force: true });
    await broker.deleteTopic(topic).catch(() => {});
  }
}

if (import.meta.main) {
  const args = process.argv.slice(2);
  const portArg = args.find((arg) => arg.startsWith("--port="));
  const workDir = mkdtempSync(join(tmpdir(), "bunka-rdperf-"));
  const broker = new BenchBroker({ workDir });
  if (portArg) Object.defineProperty(broker, "port", { value: Number(portArg.slice(7)) });
  try {
    if (!portArg) await broker.start();
    const results = await runRdperf({ broker, workDir, quick: args.includes("--quick"), progress: (line) => console.log(line) });
    console.log(JSON.stringify(results, null, 2));
  } finally {
    await broker.stop();
    rmSync(workDir, { recursive: true, force: true });
  }
}
