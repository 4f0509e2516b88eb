// Network shards (num.network.shards) scaling: produce and catch-up consume throughput of one broker process
// for 1..cores shards, and produce with 1,000 idle connections open next to 10 busy ones. The load comes from
// the load generator (blocking C sockets in worker threads, bench/loadgen.ts), several connections per run,
// so that the kernel spreads them over the shards. Writes bench/results/shard-scaling.{json,md}.
//
//   bun bench/shard-scaling.ts [--seconds=N] [--shards=1,2,...] [--rounds=N] [--fill-mib=N]
//
// The machine's other load is sampled next to every figure (machine busy share): on a shared machine the
// numbers are noisy and only ratios within one run mean anything.
import { availableParallelism } from "node:os";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { tmpdir } from "node:os";
import type { Socket } from "bun";
import { BenchBroker } from "./broker-process.ts";
import { machineCpu, measureLatency } from "./e2e.ts";
import { combine, runLoad, type ConsumeTask, type ProduceTask } from "./loadgen.ts";

const argument = (name: string) => process.argv.find((arg) => arg.startsWith(`--${name}=`))?.slice(name.length + 3);
const SECONDS = Number(argument("seconds") ?? 5);
const ROUNDS = Number(argument("rounds") ?? 2);
const SHARD_COUNTS = (argument("shards") ?? Array.from({ length: availableParallelism() }, (_, i) => i + 1).join(",")).split(",").map(Number);
const RECORD_BYTES = 1024;
const PRODUCE_BATCH_BYTES = 64 * 1024;
const PRODUCERS = 4;
const PRODUCE_PARTITIONS = 4;
const CONSUME_PARTITIONS = 8;
const CONSUME_FILL_BYTES = Number(argument("fill-mib") ?? 256) * 1024 * 1024;
const IDLE_CONNECTIONS = 1000;
const BUSY_CONNECTIONS = 10;

interface Row {
  shards: number;
  scenario: string;
  round: number;
  recordsPerSecond: number;
  bytesPerSecond: number;
  brokerCpuCores: number;
  /** CPU of the broker's main thread alone (the socket thread: every request's handling), in cores. */
  mainThreadCores: number;
  machineBusy: number;
  errors: number;
  /** Paced runs: end-to-end latency (produce stamp to consumer receipt) percentiles. */
  latency?: { p50Ms: number; p99Ms: number; p999Ms: number; samples: number };
}

/** Paced end-to-end latency: bench/e2e.ts measureLatency at LATENCY_FRACTION of this reference rate (1 KiB records, 64 KiB batches, 2 producers, 2 tailing consumers). */
const LATENCY_REFERENCE_RECORDS_PER_SECOND = 100_000;
const LATENCY_FRACTION = 0.1;

async function measurePacedLatency(broker: BenchBroker, scenario: string, shards: number, round: number): Promise<Row> {
  const cpuBefore = broker.cpuSeconds();
  const mainBefore = mainThreadSeconds(broker.pid);
  const machineBefore = machineCpu();
  const started = performance.now();
  const result = await measureLatency(broker, LATENCY_REFERENCE_RECORDS_PER_SECOND, SECONDS, LATENCY_FRACTION);
  const seconds = (performance.now() - started) / 1000;
  const cpuAfter = broker.cpuSeconds();
  return {
    shards, scenario, round,
    recordsPerSecond: result.achievedRecordsPerSecond,
    bytesPerSecond: result.achievedRecordsPerSecond * RECORD_BYTES,
    brokerCpuCores: (cpuAfter.user + cpuAfter.system - cpuBefore.user - cpuBefore.system) / seconds,
    mainThreadCores: (mainThreadSeconds(broker.pid) - mainBefore) / seconds,
    machineBusy: busyShare(machineBefore),
    errors: 0,
    latency: { p50Ms: result.p50Ms, p99Ms: result.p99Ms, p999Ms: result.p999Ms, samples: result.samples },
  };
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

function busyShare(before: { busy: number; total: number }): number {
  const after = machineCpu();
  return (after.busy - before.busy) / Math.max(1, after.total - before.total);
}

async function measure(broker: BenchBroker, scenario: string, shards: number, round: number, tasks: (ProduceTask | ConsumeTask)[]): Promise<Row> {
  const cpuBefore = broker.cpuSeconds();
  const mainBefore = mainThreadSeconds(broker.pid);
  const machineBefore = machineCpu();
  const total = combine(await runLoad(tasks));
  const cpuAfter = broker.cpuSeconds();
  const mainAfter = mainThreadSeconds(broker.pid);
  return {
    shards,
    scenario,
    round,
    recordsPerSecond: total.records / total.seconds,
    bytesPerSecond: total.bytes / total.seconds,
    brokerCpuCores: (cpuAfter.user + cpuAfter.system - cpuBefore.user - cpuBefore.system) / total.seconds,
    mainThreadCores: (mainAfter - mainBefore) / total.seconds,
    machineBusy: busyShare(machineBefore),
    errors: total.errors,
  };
}

function produceTasks(port: number, topic: string, connections: number, partitions: number): ProduceTask[] {
  return Array.from({ length: connections }, (_, connection) => ({
    op: "produce" as const,
    port,
    topic,
    partitions: [connection % partitions],
    recordBytes: RECORD_BYTES,
    batchBytes: PRODUCE_BATCH_BYTES,
    compression: "none" as const,
    acks: 1,
    inFlight: 8,
    maxSeconds: SECONDS,
    maxRecords: 0,
    requestsPerSecond: 0,
  }));
}

function consumeTasks(port: number, topic: string, endOffsets: number[], consumers: number): ConsumeTask[] {
  return Array.from({ length: consumers }, (_, consumer) => {
    const partitions = endOffsets.map((_, partition) => partition).filter((partition) => partition % consumers === consumer);
    return {
      op: "consume" as const,
      port,
      topic,
      partitions,
      endOffsets: partitions.map((partition) => endOffsets[partition]!),
      partitionMaxBytes: 1024 * 1024,
      maxSeconds: SECONDS,
      loop: true,
      tail: false,
      checksum: false,
      fetchesInFlight: 1,
    };
  });
}

/** Plain TCP connections that connect and then say nothing (a client's idle connections). */
async function openIdle(port: number, count: number): Promise<Socket[]> {
  const sockets: Socket[] = [];
  for (let i = 0; i < count; i++) sockets.push(await Bun.connect({ hostname: "127.0.0.1", port, socket: { data() {} } }));
  return sockets;
}

async function runShards(shards: number, workDir: string, rows: Row[]): Promise<void> {
  const broker = new BenchBroker({ workDir, properties: { "num.network.shards": String(shards) } });
  await broker.start();
  try {
    const produceTopic = "shard-produce";
    await broker.createTopic(produceTopic, PRODUCE_PARTITIONS);
    const consumeTopic = "shard-consume";
    await broker.createTopic(consumeTopic, CONSUME_PARTITIONS);
    const perPartition = Math.ceil(CONSUME_FILL_BYTES / CONSUME_PARTITIONS / (RECORD_BYTES + 10));
    await runLoad(Array.from({ length: 2 }, (_, producer) => ({
      op: "produce" as const, port: broker.port, topic: consumeTopic,
      partitions: Array.from({ length: CONSUME_PARTITIONS / 2 }, (_, i) => i * 2 + producer),
      recordBytes: RECORD_BYTES, batchBytes: 256 * 1024, compression: "none" as const, acks: 1, inFlight: 8,
      maxSeconds: 600, maxRecords: perPartition * (CONSUME_PARTITIONS / 2), requestsPerSecond: 0,
    })));
    const endOffsets = await broker.endOffsets(consumeTopic, CONSUME_PARTITIONS);
    for (let round = 1; round <= ROUNDS; round++) {
      rows.push(await measure(broker, `produce, ${PRODUCERS} connections`, shards, round, produceTasks(broker.port, produceTopic, PRODUCERS, PRODUCE_PARTITIONS)));
      for (const consumers of [1, 2, 4]) rows.push(await measure(broker, `catch-up consume, ${consumers} connection${consumers > 1 ? "s" : ""}`, shards, round, consumeTasks(broker.port, consumeTopic, endOffsets, consumers)));
      const paced = `paced ${LATENCY_REFERENCE_RECORDS_PER_SECOND * LATENCY_FRACTION} records/s end to end`;
      rows.push(await measurePacedLatency(broker, paced, shards, round));
      const idle = await openIdle(broker.port, IDLE_CONNECTIONS);
      try {
        rows.push(await measure(broker, `produce, ${BUSY_CONNECTIONS} busy + ${IDLE_CONNECTIONS} idle connections`, shards, round, produceTasks(broker.port, produceTopic, BUSY_CONNECTIONS, PRODUCE_PARTITIONS)));
        rows.push(await measurePacedLatency(broker, `${paced}, ${IDLE_CONNECTIONS} idle connections open`, shards, round));
      } finally {
        for (const socket of idle) socket.end();
      }
      console.log(rows.filter((row) => row.shards === shards && row.round === round).map(describe).join("\n"));
    }
  } finally {
    await broker.stop();
  }
}

function describe(row: Row): string {
  if (row.latency) return `shards=${row.shards} round ${row.round} ${row.scenario}: p50 ${row.latency.p50Ms.toFixed(2)} ms, p99 ${row.latency.p99Ms.toFixed(2)} ms, p99.9 ${row.latency.p999Ms.toFixed(2)} ms (${row.latency.samples} samples), ${Math.round(row.recordsPerSecond)} records/s, broker ${row.brokerCpuCores.toFixed(2)} cores (main thread ${row.mainThreadCores.toFixed(2)}), machine busy ${(row.machineBusy * 100).toFixed(0)}%`;
  return `shards=${row.shards} round ${row.round} ${row.scenario}: ${Math.round(row.recordsPerSecond).toLocaleString("en-US")} records/s, ${(row.bytesPerSecond / 1e6).toFixed(0)} MB/s, broker ${row.brokerCpuCores.toFixed(2)} cores (main thread ${row.mainThreadCores.toFixed(2)}), machine busy ${(row.machineBusy * 100).toFixed(0)}%${row.errors ? `, ${row.errors} errors` : ""}`;
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor((sorted.length - 1) / 2)]!;
}

function markdown(rows: Row[]): string {
  const scenarios = [...new Set(rows.filter((row) => !row.latency).map((row) => row.scenario))];
  const pacedScenarios = [...new Set(rows.filter((row) => row.latency).map((row) => row.scenario))];
  const lines = [
    `Network shards scaling (bench/shard-scaling.ts), ${new Date().toISOString()}, ${availableParallelism()} cores, ${SECONDS} s per figure, median of ${ROUNDS} rounds (each round's value in brackets).`,
    `1 KiB records; produce: ${PRODUCE_BATCH_BYTES / 1024} KiB batches, acks=1, 8 in flight per connection; consume: ${CONSUME_FILL_BYTES / 1024 / 1024} MiB over ${CONSUME_PARTITIONS} partitions read from the page cache, one fetch in flight per connection.`,
    "",
    `| scenario | ${SHARD_COUNTS.map((shards) => `shards=${shards} MB/s`).join(" | ")} | ${SHARD_COUNTS.map((shards) => `shards=${shards} broker cores (main thread) / machine busy`).join(" | ")} |`,
    `|---|${SHARD_COUNTS.map(() => "---:").join("|")}|${SHARD_COUNTS.map(() => "---:").join("|")}|`,
  ];
  for (const scenario of scenarios) {
    const cells = SHARD_COUNTS.map((shards) => {
      const values = rows.filter((row) => row.scenario === scenario && row.shards === shards);
      return `${(median(values.map((row) => row.bytesPerSecond)) / 1e6).toFixed(0)} [${values.map((row) => (row.bytesPerSecond / 1e6).toFixed(0)).join(", ")}]`;
    });
    const cpu = SHARD_COUNTS.map((shards) => {
      const values = rows.filter((row) => row.scenario === scenario && row.shards === shards);
      return `${median(values.map((row) => row.brokerCpuCores)).toFixed(2)} (${median(values.map((row) => row.mainThreadCores)).toFixed(2)}) / ${(median(values.map((row) => row.machineBusy)) * 100).toFixed(0)}%`;
    });
    lines.push(`| ${scenario} | ${cells.join(" | ")} | ${cpu.join(" | ")} |`);
  }
  lines.push("", `| paced latency (1 KiB records, 64 KiB batches, 2 producers, 2 tailing consumers) | ${SHARD_COUNTS.map((shards) => `shards=${shards} p50 / p99 / p99.9 ms`).join(" | ")} |`, `|---|${SHARD_COUNTS.map(() => "---:").join("|")}|`);
  for (const scenario of pacedScenarios) {
    const cells = SHARD_COUNTS.map((shards) => {
      const values = rows.filter((row) => row.scenario === scenario && row.shards === shards);
      const of = (pick: (row: Row) => number) => median(values.map(pick)).toFixed(2);
      return `${of((row) => row.latency!.p50Ms)} / ${of((row) => row.latency!.p99Ms)} / ${of((row) => row.latency!.p999Ms)} [p99s ${values.map((row) => row.latency!.p99Ms.toFixed(1)).join(", ")}]`;
    });
    lines.push(`| ${scenario} | ${cells.join(" | ")} |`);
  }
  return lines.join("\n") + "\n";
}

const workDir = mkdtempSync(join(tmpdir(), "bunka-shards-"));
const rows: Row[] = [];
try {
  // Interleaved by round would be fairer on a noisy machine, but one broker per shard count keeps the fill cost once each.
  for (const shards of SHARD_COUNTS) await runShards(shards, workDir, rows);
} finally {
  rmSync(workDir, { recursive: true, force: true });
}
const resultsDir = resolve(import.meta.dir, "results");
mkdirSync(resultsDir, { recursive: true });
writeFileSync(join(resultsDir, "shard-scaling.json"), JSON.stringify(rows, null, 2));
const report = markdown(rows);
writeFileSync(join(resultsDir, "shard-scaling.md"), report);
console.log(report);
