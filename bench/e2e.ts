// End-to-end runs against a real broker process: the produce matrix, catch-up consume (mmap vs
// sendfile, and the parallel-consumer curve), end-to-end latency at a fixed rate, and a kcat cross-check.
import { mkdirSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { BenchBroker } from "./broker-process.ts";
import { readFileSync } from "node:fs";
import { measureSocketToFileOnce } from "./limits.ts";
import { combine, runLoad, type ConsumeTask, type LoadReport, type ProduceTask } from "./loadgen.ts";
import type { BenchCompression } from "./loadgen-worker.ts";

/** Busy share of all cores since `since` (from /proc/stat), to show when the machine is saturated. */
export function machineCpu(): { busy: number; total: number } {
  const fields = readFileSync("/proc/stat", "utf8").split("\n")[0]!.trim().split(/\s+/).slice(1).map(Number);
  const total = fields.reduce((sum, value) => sum + value, 0);
  return { busy: total - fields[3]! - fields[4]!, total };
}

function busyShare(before: { busy: number; total: number }): number {
  const after = machineCpu();
  return (after.busy - before.busy) / Math.max(1, after.total - before.total);
}

export interface ProduceRow {
  recordBytes: number;
  batchBytes: number;
  compression: BenchCompression;
  acks: number;
  recordsPerSecond: number;
  /** Record batch bytes as stored (compressed size for LZ4). */
  bytesPerSecond: number;
  /** Uncompressed record bytes per second (the producer's payload). */
  payloadBytesPerSecond: number;
  brokerCpuCores: number;
  /** Share of all the machine's cores busy during the run (broker, load generator, everything else). */
  machineBusy: number;
  errors: number;
}

export interface ConsumeRow {
  transfer: "mmap" | "sendfile";
  consumers: number;
  /** Fetch requests outstanding per consumer connection (1 = how Kafka clients fetch). */
  fetchesInFlight: number;
  machineBusy: number;
  bytesPerSecond: number;
  recordsPerSecond: number;
  perConsumerBytesPerSecond: number[];
  brokerCpuCores: number;
  fetches: number;
}

export interface LatencyResult {
  fractionOfMax: number;
  recordBytes: number;
  batchBytes: number;
  targetRecordsPerSecond: number;
  achievedRecordsPerSecond: number;
  referenceMaxRecordsPerSecond: number;
  samples: number;
  p50Ms: number;
  p99Ms: number;
  p999Ms: number;
  maxMs: number;
  /** The broker's CPU over the measured run, user and kernel: kernel time climbing at the same rate is the machine's cold memory (bench/cold-memory.ts). Absent in older results. */
  brokerUserCores?: number;
  brokerSystemCores?: number;
}

export interface CrossCheck {
  tool: string;
  what: string;
  records: number;
  bytes: number;
  seconds: number;
  recordsPerSecond: number;
  bytesPerSecond: number;
  note: string;
}

export interface HeadlinePair {
  limitBytesPerSecond: number;
  bunkaBytesPerSecond: number;
  ratio: number;
}

/** Broker memory around the produce matrix: how much of a burst's peak it keeps, and for how long. */
export interface MemoryAfterBurst {
  beforeRssBytes: number;
  /** Right after the last produce of the burst. */
  afterBurstRssBytes: number;
  peakRssBytes: number;
  /** RSS sampled every second after the burst, with nothing to do. */
  idleSamples: { seconds: number; rssBytes: number }[];
  /** The broker process's allocator setting (MIMALLOC_PURGE_DELAY), as the bench ran it. */
  purgeDelay: string;
}

export interface E2eResults {
  produce: ProduceRow[];
  memory: MemoryAfterBurst | null;
  /** The produce headline (1 KiB records, 1 MiB batches, acks=1) right after a socket-to-file limit run, several rounds. */
  producePairs: HeadlinePair[];
  consume: ConsumeRow[];
  consumeDataBytes: number;
  /** At half of the maximum produce rate (the target), then lower rates for the curve. */
  latency: LatencyResult | null;
  latencyCurve: LatencyResult[];
  crossChecks: CrossCheck[];
  defaultTransfer: "mmap" | "sendfile";
}

export interface E2eOptions {
  quick: boolean;
  workDir: string;
  progress: (line: string) => void;
}

const PRODUCE_PARTITIONS = 2;
const CONSUME_PARTITIONS = 8;
const CONSUME_FETCH_BYTES = 1024 * 1024;
const CONSUME_RECORD_BYTES = 1000;

let topicSequence = 0;

function inFlightFor(batchBytes: number): number {
  // Enough requests outstanding to keep ~4 MiB in flight per connection (as a producer with
  // max.in.flight and linger would), at least 4.
  return Math.max(4, Math.min(64, Math.floor((4 * 1024 * 1024) / batchBytes)));
}

async function measureProduce(broker: BenchBroker, row: Omit<ProduceRow, "recordsPerSecond" | "bytesPerSecond" | "payloadBytesPerSecond" | "brokerCpuCores" | "machineBusy" | "errors">, seconds: number): Promise<ProduceRow> {
  const topic = `produce-${++topicSequence}`;
  await broker.createTopic(topic, PRODUCE_PARTITIONS);
  try {
    const tasks: ProduceTask[] = Array.from({ length: PRODUCE_PARTITIONS }, (_, partition) => ({
      op: "produce",
      port: broker.port,
      topic,
      partitions: [partition],
      recordBytes: row.recordBytes,
      batchBytes: row.batchBytes,
      compression: row.compression,
      acks: row.acks,
      inFlight: inFlightFor(row.batchBytes),
      maxSeconds: seconds,
      maxRecords: 0,
      requestsPerSecond: 0,
    }));
    const cpuBefore = broker.cpuSeconds();
    const machineBefore = machineCpu();
    const report = combine(await runLoad(tasks));
    const cpuAfter = broker.cpuSeconds();
    return {
      ...row,
      machineBusy: busyShare(machineBefore),
      recordsPerSecond: report.records / report.seconds,
      bytesPerSecond: report.bytes / report.seconds,
      payloadBytesPerSecond: (report.records * row.recordBytes) / report.seconds,
      brokerCpuCores: (cpuAfter.user + cpuAfter.system - cpuBefore.user - cpuBefore.system) / report.seconds,
      errors: report.errors,
    };
  } finally {
    // Deleting the topic frees its page cache before the next run (and keeps the disk from filling).
    await broker.deleteTopic(topic);
  }
}

async function fillTopic(broker: BenchBroker, topic: string, partitions: number, totalBytes: number): Promise<number[]> {
  const perPartitionRecords = Math.ceil(totalBytes / partitions / (CONSUME_RECORD_BYTES + 10));
  await runLoad(
    Array.from({ length: 2 }, (_, producer) => ({
      op: "produce" as const,
      port: broker.port,
      topic,
      partitions: Array.from({ length: partitions / 2 }, (_, i) => i * 2 + producer),
      recordBytes: CONSUME_RECORD_BYTES,
      batchBytes: 256 * 1024,
      compression: "none",
      acks: 1,
      inFlight: 8,
      maxSeconds: 600,
      maxRecords: perPartitionRecords * (partitions / 2),
      requestsPerSecond: 0,
    })),
  );
  return broker.endOffsets(topic, partitions);
}

async function measureConsume(broker: BenchBroker, topic: string, endOffsets: number[], transfer: "mmap" | "sendfile", consumers: number, seconds: number, fetchesInFlight: number): Promise<ConsumeRow> {
  const tasks: ConsumeTask[] = Array.from({ length: consumers }, (_, consumer) => {
    const partitions = endOffsets.map((_, partition) => partition).filter((partition) => partition % consumers === consumer);
    return {
      op: "consume",
      port: broker.port,
      topic,
      partitions,
      endOffsets: partitions.map((partition) => endOffsets[partition]!),
      partitionMaxBytes: CONSUME_FETCH_BYTES,
      maxSeconds: seconds,
      loop: true,
      tail: false,
      checksum: false,
      fetchesInFlight,
    };
  });
  const cpuBefore = broker.cpuSeconds();
  const machineBefore = machineCpu();
  const reports = await runLoad(tasks);
  const cpuAfter = broker.cpuSeconds();
  const total = combine(reports);
  return {
    transfer,
    consumers,
    fetchesInFlight,
    machineBusy: busyShare(machineBefore),
    bytesPerSecond: total.bytes / total.seconds,
    recordsPerSecond: total.records / total.seconds,
    perConsumerBytesPerSecond: reports.map((report: LoadReport) => report.bytes / report.seconds),
    brokerCpuCores: (cpuAfter.user + cpuAfter.system - cpuBefore.user - cpuBefore.system) / total.seconds,
    fetches: total.requests,
  };
}

function percentile(sorted: number[], fraction: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor(fraction * sorted.length))]!;
}

export async function measureLatency(broker: BenchBroker, referenceMaxRecordsPerSecond: number, seconds: number, fractionOfMax = 0.5): Promise<LatencyResult> {
  const topic = `latency-${++topicSequence}`;
  const recordBytes = 1024;
  const batchBytes = 64 * 1024;
  await broker.createTopic(topic, PRODUCE_PARTITIONS);
  try {
    const recordsPerBatch = Math.floor((batchBytes - 61) / (recordBytes + 10));
    const targetRecordsPerSecond = referenceMaxRecordsPerSecond * fractionOfMax;
    const requestsPerSecond = targetRecordsPerSecond / recordsPerBatch;
    const produceTasks: ProduceTask[] = Array.from({ length: PRODUCE_PARTITIONS }, (_, partition) => ({
      op: "produce",
      port: broker.port,
      topic,
      partitions: [partition],
      recordBytes,
      batchBytes,
      compression: "none",
      acks: 1,
      inFlight: 16,
      maxSeconds: seconds,
      maxRecords: 0,
      requestsPerSecond: requestsPerSecond / PRODUCE_PARTITIONS,
    }));
    // One tailing connection per partition: replies on a connection come back in request order, so one
    // connection long-polling two partitions would hold a ready partition's data behind the other's wait.
    const consumeTasks: ConsumeTask[] = Array.from({ length: PRODUCE_PARTITIONS }, (_, partition) => ({
      op: "consume",
      port: broker.port,
      topic,
      partitions: [partition],
      endOffsets: [Number.MAX_SAFE_INTEGER],
      partitionMaxBytes: CONSUME_FETCH_BYTES,
      maxSeconds: seconds + 1,
      loop: false,
      tail: true,
      checksum: false,
    }));
    // Warm-up at the same rate (JIT, the topic's first reads and maps), not measured: the first second of
    // a fresh broker is tens of milliseconds slower and would be most of a short run's p99.
    const warmupSeconds = Math.min(3, seconds / 2);
    await runLoad([
      ...consumeTasks.map((task) => ({ ...task, maxSeconds: warmupSeconds + 0.5 })),
      ...produceTasks.map((task) => ({ ...task, maxSeconds: warmupSeconds })),
    ]);
    const ends = await broker.endOffsets(topic, PRODUCE_PARTITIONS);
    const cpuBefore = broker.cpuSeconds();
    const measuredStartMs = performance.now();
    const reports = await runLoad([...consumeTasks.map((task, partition) => ({ ...task, startOffsets: [ends[partition]!] })), ...produceTasks]);
    const cpuAfter = broker.cpuSeconds();
    const measuredSeconds = (performance.now() - measuredStartMs) / 1000;
    const consumers = reports.slice(0, PRODUCE_PARTITIONS);
    const producers = reports.slice(PRODUCE_PARTITIONS);
    const produced = combine(producers);
    // The first half second of the measured run (connections being set up) is left out.
    const latencies = consumers
      .flatMap((consumer) => (consumer.latenciesUs ?? []).slice(Math.floor((consumer.latenciesUs?.length ?? 0) / (seconds * 2))))
      .map((us) => us / 1000)
      .sort((a, b) => a - b);
    return {
      fractionOfMax,
      recordBytes,
      batchBytes,
      targetRecordsPerSecond,
      achievedRecordsPerSecond: produced.records / produced.seconds,
      referenceMaxRecordsPerSecond,
      samples: latencies.length,
      p50Ms: percentile(latencies, 0.5),
      p99Ms: percentile(latencies, 0.99),
      p999Ms: percentile(latencies, 0.999),
      maxMs: latencies[latencies.length - 1] ?? Number.NaN,
      brokerUserCores: (cpuAfter.user - cpuBefore.user) / measuredSeconds,
      brokerSystemCores: (cpuAfter.system - cpuBefore.system) / measuredSeconds,
    };
  } finally {
    await broker.deleteTopic(topic);
  }
}

/** kcat (librdkafka 2.0.2) against the same broker: a real client's view of the headline figures. */
async function crossCheckWithKcat(broker: BenchBroker, workDir: string, consumeTopic: string, quick: boolean, progress: (line: string) => void): Promise<CrossCheck[]> {
  const checks: CrossCheck[] = [];
  const messages = quick ? 200_000 : 1_000_000;
  const inputPath = join(workDir, "kcat-input.txt");
  const line = "x".repeat(1023);
  writeFileSync(inputPath, Array.from({ length: messages }, () => line).join("\n") + "\n");
  const topic = `kcat-${++topicSequence}`;
  await broker.createTopic(topic, PRODUCE_PARTITIONS);
  try {
    const started = performance.now();
    const produce = Bun.spawnSync(
      ["kcat", "-b", broker.bootstrap, "-P", "-t", topic, "-l", inputPath, "-X", "acks=1", "-X", "linger.ms=5", "-X", "batch.size=1000000", "-X", "batch.num.messages=100000", "-X", "queue.buffering.max.kbytes=1048576", "-X", "queue.buffering.max.messages=1000000"],
      { stdout: "ignore", stderr: "pipe", timeout: 300_000 },
    );
    const seconds = (performance.now() - started) / 1000;
    if (produce.exitCode !== 0) throw new Error(`kcat produce failed: ${produce.stderr.toString().slice(-500)}`);
    checks.push({
      tool: "kcat 1.7 (librdkafka 2.0.2)",
      what: "produce 1 KiB records, acks=1, batch.size 1 MB, linger.ms 5",
      records: messages,
      bytes: messages * 1024,
      seconds,
      recordsPerSecond: messages / seconds,
      bytesPerSecond: (messages * 1024) / seconds,
      note: "wall time of the kcat process, including reading its input file",
    });
    progress(`kcat produce: ${(messages / seconds / 1000).toFixed(0)} k records/s, ${((messages * 1024) / seconds / 1e6).toFixed(0)} MB/s`);
  } finally {
    rmSync(inputPath, { force: true });
    await broker.deleteTopic(topic);
  }

  const started = performance.now();
  const consume = Bun.spawnSync(
    ["kcat", "-b", broker.bootstrap, "-C", "-t", consumeTopic, "-o", "beginning", "-e", "-q", "-f", "%o\n", "-X", "fetch.max.bytes=52428800", "-X", "fetch.message.max.bytes=1048576", "-X", "queued.max.messages.kbytes=1048576"],
    { stdout: "pipe", stderr: "pipe", timeout: 300_000 },
  );
  const seconds = (performance.now() - started) / 1000;
  if (consume.exitCode !== 0) throw new Error(`kcat consume failed: ${consume.stderr.toString().slice(-500)}`);
  let records = 0;
  for (const byte of consume.stdout) if (byte === 10) records++;
  const payloadBytes = records * CONSUME_RECORD_BYTES;
  checks.push({
    tool: "kcat 1.7 (librdkafka 2.0.2)",
    what: "catch-up consume of the consume topic (8 partitions), fetch.message.max.bytes 1 MiB",
    records,
    bytes: payloadBytes,
    seconds,
    recordsPerSecond: records / seconds,
    bytesPerSecond: payloadBytes / seconds,
    note: "wall time of the kcat process (start, metadata, printing one line per record)",
  });
  progress(`kcat consume: ${(records / seconds / 1000).toFixed(0)} k records/s, ${(payloadBytes / seconds / 1e9).toFixed(2)} GB/s of record values`);
  return checks;
}

export async function runE2e(options: E2eOptions): Promise<E2eResults> {
  const { quick, progress } = options;
  const seconds = quick ? 0.7 : 3;
  mkdirSync(options.workDir, { recursive: true });
  const broker = new BenchBroker({ workDir: options.workDir, env: { BUNKA_FETCH_TRANSFER: "mmap" } });
  await broker.start();
  const results: E2eResults = { produce: [], memory: null, producePairs: [], consume: [], consumeDataBytes: 0, latency: null, latencyCurve: [], crossChecks: [], defaultTransfer: "mmap" };
  try {
    const beforeRssBytes = broker.memory().rssBytes;
    // Warm-up: JIT and connections, not measured.
    await measureProduce(broker, { recordBytes: 1024, batchBytes: 256 * 1024, compression: "none", acks: 1 }, quick ? 0.5 : 1.5);

    const recordSizes = [100, 1024];
    const batchSizes = [16 * 1024, 64 * 1024, 256 * 1024, 1024 * 1024];
    for (const compression of ["none", "lz4"] as const) {
      for (const acks of [1, -1]) {
        for (const recordBytes of recordSizes) {
          for (const batchBytes of batchSizes) {
            const row = await measureProduce(broker, { recordBytes, batchBytes, compression, acks }, seconds);
            results.produce.push(row);
            progress(
              `produce ${recordBytes} B records, ${batchBytes / 1024} KiB batches, ${compression}, acks=${acks}: ` +
                `${(row.recordsPerSecond / 1e6).toFixed(2)} M records/s, ${(row.bytesPerSecond / 1e6).toFixed(0)} MB/s, broker ${row.brokerCpuCores.toFixed(2)} cores${row.errors ? `, ${row.errors} errors` : ""}`,
            );
          }
        }
      }
    }

    // Every compressed batch is decompressed and each record checked (as Kafka's LogValidator does): the
    // headline configuration with the other codecs shows what that costs next to lz4 and none.
    for (const compression of ["zstd", "gzip"] as const) {
      const row = await measureProduce(broker, { recordBytes: 1024, batchBytes: 1024 * 1024, compression, acks: 1 }, seconds);
      results.produce.push(row);
      progress(`produce 1024 B records, 1024 KiB batches, ${compression}, acks=1: ${(row.recordsPerSecond / 1e6).toFixed(2)} M records/s, ${(row.bytesPerSecond / 1e6).toFixed(0)} MB/s${row.errors ? `, ${row.errors} errors` : ""}`);
    }

    // Memory the broker keeps after the burst of the produce matrix, idle.
    const afterBurst = broker.memory();
    const idleSamples: { seconds: number; rssBytes: number }[] = [];
    const idleSeconds = quick ? 4 : 20;
    for (let second = 1; second <= idleSeconds; second++) {
      await Bun.sleep(1000);
      idleSamples.push({ seconds: second, rssBytes: broker.memory().rssBytes });
    }
    results.memory = {
      beforeRssBytes,
      afterBurstRssBytes: afterBurst.rssBytes,
      peakRssBytes: broker.memory().peakRssBytes,
      idleSamples,
      purgeDelay: broker.environment.MIMALLOC_PURGE_DELAY ?? "(mimalloc default)",
    };
    progress(
      `memory: RSS ${(beforeRssBytes / 2 ** 20).toFixed(0)} MiB before, ${(afterBurst.rssBytes / 2 ** 20).toFixed(0)} MiB after the produce burst (peak ${(results.memory.peakRssBytes / 2 ** 20).toFixed(0)} MiB), ` +
        `${(idleSamples[idleSamples.length - 1]!.rssBytes / 2 ** 20).toFixed(0)} MiB after ${idleSeconds} s idle`,
    );

    // The produce headline again, each time right after a socket-to-file limit run: on a VM whose
    // fresh memory costs vary run to run, a paired ratio is steadier than two figures minutes apart.
    for (let round = 0; round < (quick ? 1 : 3); round++) {
      const limitBytesPerSecond = await measureSocketToFileOnce(options.workDir, seconds);
      const row = await measureProduce(broker, { recordBytes: 1024, batchBytes: 1024 * 1024, compression: "none", acks: 1 }, seconds);
      results.producePairs.push({ limitBytesPerSecond, bunkaBytesPerSecond: row.bytesPerSecond, ratio: row.bytesPerSecond / limitBytesPerSecond });
      progress(`produce headline pair ${round + 1}: socket-to-file ${(limitBytesPerSecond / 1e6).toFixed(0)} MB/s, Bunka ${(row.bytesPerSecond / 1e6).toFixed(0)} MB/s (${((100 * row.bytesPerSecond) / limitBytesPerSecond).toFixed(0)}%)`);
    }

    // Catch-up consume from the page cache.
    const consumeTopic = "consume";
    const consumeBytes = quick ? 384 * 1024 * 1024 : 2 * 1024 * 1024 * 1024;
    await broker.createTopic(consumeTopic, CONSUME_PARTITIONS);
    progress(`consume: filling ${CONSUME_PARTITIONS} partitions with ${(consumeBytes / 2 ** 20).toFixed(0)} MiB`);
    const endOffsets = await fillTopic(broker, consumeTopic, CONSUME_PARTITIONS, consumeBytes);
    results.consumeDataBytes = consumeBytes;
    const consumerCounts = quick ? [1, 2, 4] : [1, 2, 3, 4, 6, 8];
    const report = (row: ConsumeRow) =>
      progress(
        `consume ${row.transfer}, ${row.consumers} consumer(s), ${row.fetchesInFlight} fetch(es) in flight each, 1 MiB per partition: ${(row.bytesPerSecond / 1e9).toFixed(2)} GB/s ` +
          `(${row.perConsumerBytesPerSecond.map((rate) => (rate / 1e9).toFixed(2)).join(" + ")}), broker ${row.brokerCpuCores.toFixed(2)} cores, machine ${(row.machineBusy * 100).toFixed(0)}% busy`,
      );
    for (const transfer of ["mmap", "sendfile"] as const) {
      await broker.restart({ BUNKA_FETCH_TRANSFER: transfer });
      await measureConsume(broker, consumeTopic, endOffsets, transfer, 2, quick ? 0.5 : 1, 1); // warm-up
      // One consumer with a fetch in flight for each of its 8 partitions: the most one connection moves.
      const pipelined = await measureConsume(broker, consumeTopic, endOffsets, transfer, 1, seconds, CONSUME_PARTITIONS);
      results.consume.push(pipelined);
      report(pipelined);
      // Consumers fetching as Kafka clients do (one request at a time), more and more of them.
      for (const consumers of transfer === "mmap" ? consumerCounts : quick ? [1, 2] : [1, 2, 4]) {
        const row = await measureConsume(broker, consumeTopic, endOffsets, transfer, consumers, seconds, 1);
        results.consume.push(row);
        report(row);
      }
    }
    const best = (transfer: string) => Math.max(...results.consume.filter((row) => row.transfer === transfer).map((row) => row.bytesPerSecond));
    results.defaultTransfer = best("sendfile") > best("mmap") * 1.05 ? "sendfile" : "mmap";
    await broker.restart({ BUNKA_FETCH_TRANSFER: "mmap" });

    // Latency at half of the maximum produce rate of the same configuration.
    const reference = results.produce.find((row) => row.recordBytes === 1024 && row.batchBytes === 64 * 1024 && row.compression === "none" && row.acks === 1)!;
    for (const fraction of quick ? [0.5, 0.25] : [0.5, 0.35, 0.25, 0.1]) {
      const latency = await measureLatency(broker, reference.recordsPerSecond, quick ? 3 : 8, fraction);
      if (fraction === 0.5) results.latency = latency;
      results.latencyCurve.push(latency);
      progress(
        `latency at ${(latency.achievedRecordsPerSecond / 1000).toFixed(0)} k records/s (${(fraction * 100).toFixed(0)}% of ${(latency.referenceMaxRecordsPerSecond / 1000).toFixed(0)} k): ` +
          `p50 ${latency.p50Ms.toFixed(2)} ms, p99 ${latency.p99Ms.toFixed(2)} ms, p99.9 ${latency.p999Ms.toFixed(2)} ms (${latency.samples} samples)`,
      );
    }

    results.crossChecks = await crossCheckWithKcat(broker, options.workDir, consumeTopic, quick, progress);
  } finally {
    await broker.stop();
  }
  return results;
}
