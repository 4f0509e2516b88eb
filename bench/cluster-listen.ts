// Listening partition workers in a cluster, on and off: `bun run cluster` (etcd and three broker processes, one
// partition worker each) on this machine, and librdkafka's rdkafka_performance producing 1 KiB records into an
// RF=3, min.insync.replicas=2 partition (acks=all and acks=1), then in latency mode (-l, acks=all: a record is
// seen by the tailing consumer once all three replicas have it). The two settings alternate, each measured
// `rounds` times on a fresh cluster; the median of each figure is reported, with every run's throughput beside it
// (on this VM a run's throughput swings several-fold with how fast the host hands it fresh pages: bench/analysis.md).
//
//   bun bench/cluster-listen.ts [--quick] [--rounds=N] [--modes=true,false] [--rates=1000,5000] [--latency-only]
//   (prints a table and writes bench/results/cluster-listen.json)
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import type { Subprocess } from "bun";
import { createTopic } from "../src/testing/helpers.ts";
import { KafkaConnection } from "../src/client/kafka-connection.ts";
import { ApiKey } from "../src/protocol/generated/index.ts";
import { ErrorCode } from "../src/protocol/errors.ts";
import { buildRdperf, describeLatency, latencyFigures, runTool, type LatencyFigures } from "./rdperf.ts";

const repoRoot = resolve(import.meta.dir, "..");
const READY_TIMEOUT_MS = 60_000;
const STOP_TIMEOUT_MS = 60_000;
const quick = process.argv.includes("--quick");
const flag = (name: string) => process.argv.find((arg) => arg.startsWith(`--${name}=`))?.slice(name.length + 3);
const rounds = Math.min(20, Math.max(1, Number(flag("rounds") ?? (quick ? 1 : 4))));
const modes = (flag("modes") ?? "true,false").split(",").map((mode) => mode === "true");
const latencyOnly = process.argv.includes("--latency-only");
const throughputRecords = quick ? 100_000 : 300_000;
const latencyRates = (flag("rates") ?? "1000,5000").split(",").map(Number);
const latencySeconds = 10;

interface ModeResult {
  listen: boolean;
  acksAllRecordsPerSecond: number[];
  acksOneRecordsPerSecond: number[];
  latency: Record<string, LatencyFigures[]>;
}

class LocalCluster {
  private child: Subprocess<"ignore", "pipe", "ignore"> | null = null;
  readonly basePort = 20_000 + Math.floor(Math.random() * 20_000);
  readonly etcdPort = this.basePort + 10;

  constructor(
    private readonly workDir: string,
    private readonly listen: boolean,
  ) {}

  get bootstrap(): string {
    return [0, 1, 2].map((index) => `127.0.0.1:${this.basePort + index}`).join(",");
  }

  async start(): Promise<void> {
    const dataDir = join(this.workDir, `cluster-${this.listen ? "listen" : "main"}-${this.basePort}`);
    mkdirSync(dataDir, { recursive: true });
    const configPath = join(dataDir, "broker.properties");
    // One worker per broker: three brokers and etcd already share two cores.
    writeFileSync(configPath, [`partition.workers.listen=${this.listen}`, "num.partition.workers=1"].join("\n"));
    const child = Bun.spawn(
      [process.execPath, join(repoRoot, "scripts/cluster.ts"), "--brokers", "3", "--port", String(this.basePort), "--etcd-port", String(this.etcdPort), "--data-dir", dataDir, "--config", configPath],
      { cwd: repoRoot, stdin: "ignore", stdout: "pipe", stderr: "ignore" },
    );
    this.child = child;
    const reader = child.stdout.getReader();
    const decoder = new TextDecoder();
    const deadline = Date.now() + READY_TIMEOUT_MS;
    let output = "";
    while (!output.includes("cluster: ready")) {
      if (Date.now() > deadline) throw new Error(`cluster not ready in ${READY_TIMEOUT_MS} ms:\n${output.slice(-2000)}`);
      const result = await Promise.race([reader.read(), Bun.sleep(READY_TIMEOUT_MS).then(() => null)]);
      if (result === null) continue;
      if (result.done) throw new Error(`cluster exited before it was ready:\n${output.slice(-2000)}`);
      output += decoder.decode(result.value);
    }
    // Drain the rest, so a full pipe never blocks the brokers.
    void (async () => {
      for (let result = await reader.read(); !result.done; result = await reader.read());
    })().catch(() => undefined);
  }

  async stop(): Promise<void> {
    const child = this.child;
    if (!child) return;
    child.kill("SIGTERM");
    const exited = await Promise.race([child.exited, Bun.sleep(STOP_TIMEOUT_MS).then(() => null)]);
    if (exited === null) child.kill("SIGKILL");
    this.child = null;
  }
}

async function measureMode(tool: string, workDir: string, listen: boolean, result: ModeResult, progress: (line: string) => void): Promise<void> {
  const cluster = new LocalCluster(workDir, listen);
  await cluster.start();
  let sequence = 0;
  const topicSpec = { partitions: 1, replicationFactor: 3, configs: { "min.insync.replicas": "2" } };
  try {
    for (const acks of latencyOnly ? [] : ["all", "1"]) {
      const topic = `cluster-listen-${acks}-${++sequence}`;
      await createTopic(cluster.bootstrap, topic, topicSpec);
      const run = await runTool(tool, ["-P", "-p", "0", "-s", "1024", "-c", String(throughputRecords), "-X", "linger.ms=10", "-X", "batch.size=1000000", "-X", `acks=${acks}`, "-u", "-t", topic, "-b", cluster.bootstrap]);
      const rate = run.lastRow[5]!;
      // Gone before the next run: acks=1 leaves the followers behind, and their catch-up (hundreds of MB into
      // memory the machine charges for, bench/cold-memory.ts) would otherwise overlap the latency runs.
      await deleteTopic(cluster.bootstrap, topic);
      (acks === "all" ? result.acksAllRecordsPerSecond : result.acksOneRecordsPerSecond).push(rate);
      progress(`listen=${listen} acks=${acks}: ${(rate / 1000).toFixed(1)} k records/s of 1 KiB`);
    }
    for (const rate of latencyRates) {
      const topic = `cluster-listen-latency-${++sequence}`;
      await createTopic(cluster.bootstrap, topic, topicSpec);
      const latencyFile = join(workDir, `${topic}.txt`);
      const count = rate * latencySeconds;
      const consumer = runTool(tool, ["-C", "-l", "-t", topic, "-p", "0", "-o", "end", "-A", latencyFile, "-u", "-c", String(count), "-b", cluster.bootstrap]);
      await Bun.sleep(1500); // the consumer is assigned and fetching before the first record
      const producer = await runTool(tool, ["-P", "-l", "-t", topic, "-p", "0", "-s", "1024", "-r", String(rate), "-c", String(count), "-X", "linger.ms=0", "-a", "-1", "-u", "-b", cluster.bootstrap]);
      await consumer;
      const figures = latencyFigures(latencyFile, latencySeconds, producer);
      rmSync(latencyFile, { force: true });
      (result.latency[String(rate)] ??= []).push(figures);
      progress(`listen=${listen} -l acks=all at ${rate}/s: ${describeLatency(figures)}`);
    }
  } finally {
    await cluster.stop();
  }
}

/** DeleteTopics through whichever broker answers it (the request reaches the controller from any of them). */
async function deleteTopic(bootstrap: string, topic: string): Promise<void> {
  const errors: string[] = [];
  for (const address of bootstrap.split(",")) {
    const [host, port] = address.split(":");
    let connection: KafkaConnection | null = null;
    try {
      connection = await KafkaConnection.connect({ host: host!, port: Number(port) });
      const response = await connection.request(ApiKey.DeleteTopics, 4, { topicNames: [topic], timeoutMs: 30_000 });
      const errorCode = response.responses[0].errorCode;
      if (errorCode === ErrorCode.NONE) return;
      errors.push(`${address}: error ${errorCode}`);
    } catch (error) {
      errors.push(`${address}: ${error instanceof Error ? error.message : String(error)}`);
    } finally {
      connection?.close();
    }
  }
  throw new Error(`DeleteTopics ${topic}: ${errors.join("; ")}`);
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor((sorted.length - 1) / 2)] ?? Number.NaN;
}

if (import.meta.main) {
  const tool = buildRdperf();
  if (!tool) throw new Error("rdkafka_performance could not be built (../shared/tools/rdperf/build.sh)");
  const workDir = mkdtempSync(join(tmpdir(), "bunka-cluster-listen-"));
  const results: ModeResult[] = modes.map((listen) => ({ listen, acksAllRecordsPerSecond: [], acksOneRecordsPerSecond: [], latency: {} }));
  const startedAt = new Date().toISOString();
  try {
    for (let round = 0; round < rounds; round++) {
      for (const result of results) await measureMode(tool, workDir, result.listen, result, (line) => console.log(line));
    }
  } finally {
    rmSync(workDir, { recursive: true, force: true });
  }
  console.log(`\n| partition.workers.listen | acks=all k rec/s, median (runs) | acks=1 k rec/s, median (runs) | ${latencyRates.map((rate) => `-l acks=all ${rate}/s p50 / p99 / p99.9 ms`).join(" | ")} |`);
  console.log(`|---|---|---|${latencyRates.map(() => "---").join("|")}|`);
  const thousands = (values: number[]) => `${(median(values) / 1000).toFixed(1)} (${values.map((value) => (value / 1000).toFixed(0)).join(", ")})`;
  for (const result of results) {
    const latency = latencyRates.map((rate) => {
      const points = result.latency[String(rate)] ?? [];
      return `${median(points.map((point) => point.p50Ms)).toFixed(2)} / ${median(points.map((point) => point.p99Ms)).toFixed(2)} / ${median(points.map((point) => point.p999Ms)).toFixed(2)}`;
    });
    console.log(`| ${result.listen} | ${thousands(result.acksAllRecordsPerSecond)} | ${thousands(result.acksOneRecordsPerSecond)} | ${latency.join(" | ")} |`);
  }
  mkdirSync(join(repoRoot, "bench/results"), { recursive: true });
  writeFileSync(join(repoRoot, "bench/results/cluster-listen.json"), JSON.stringify({ startedAt, quick, rounds, throughputRecords, latencySeconds, results }, null, 2));
}
