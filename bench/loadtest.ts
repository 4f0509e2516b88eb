// `bun run loadtest`: P producers and C consumers per consumer group over a topic of N partitions for a
// bounded time, against a real broker process. Consumers are group members speaking the classic group
// protocol (group-consumer-worker.ts); with --kafkajs one member per group is a kafkajs consumer.
// Reports aggregate and per-consumer throughput and consumer lag over time, then checks that every
// produced record was consumed exactly once per group: same count and same CRC32C sum of the values.
//
//   bun run loadtest [--producers=P] [--consumers=C] [--partitions=N] [--groups=G] [--seconds=S]
//                    [--record-bytes=B] [--batch-bytes=B] [--kafkajs] [--quick]
import { crc32c } from "@node-rs/crc32";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { BenchBroker } from "./broker-process.ts";
import type { GroupConsumerProgress, GroupConsumerTask } from "./group-consumer-worker.ts";
import { runLoad, type ProduceTask } from "./loadgen.ts";

const args = process.argv.slice(2);
const flag = (name: string, fallback: number): number => {
  const found = args.find((arg) => arg.startsWith(`--${name}=`));
  const value = found ? Number(found.split("=")[1]) : fallback;
  if (!Number.isFinite(value) || value <= 0) throw new Error(`--${name} must be a positive number`);
  return value;
};
const quick = args.includes("--quick");
const producerCount = flag("producers", 2);
const partitionCount = flag("partitions", 8);
const consumerCount = Math.min(flag("consumers", 4), partitionCount);
const groupCount = flag("groups", 2);
const seconds = flag("seconds", quick ? 8 : 30);
const recordBytes = flag("record-bytes", 1024);
const batchBytes = flag("batch-bytes", 64 * 1024);
const withKafkajs = args.includes("--kafkajs");
const LAG_SAMPLE_MS = 500;
const CATCH_UP_TIMEOUT_S = 120;
const SESSION_TIMEOUT_MS = 10_000;

const startedMs = performance.now();
const log = (line: string): void => {
  const elapsed = (performance.now() - startedMs) / 1000;
  console.log(`[${elapsed.toFixed(1).padStart(6)} s] ${line}`);
};

interface MemberState {
  clientId: string;
  groupId: string;
  latest: GroupConsumerProgress | null;
  done: Promise<GroupConsumerProgress>;
}

const workDir = mkdtempSync(join(tmpdir(), "bunka-loadtest-"));
const broker = new BenchBroker({ workDir, properties: { "group.initial.rebalance.delay.ms": "500" } });
const topic = "loadtest";
const control = new SharedArrayBuffer(8 + 8 * partitionCount);
const stopFlag = new Int32Array(control, 0, 2);
const targets = new Float64Array(control, 8, partitionCount);
targets.fill(Number.MAX_SAFE_INTEGER);
let exitCode = 1;

try {
  await broker.start();
  await broker.createTopic(topic, partitionCount);
  log(
    `topic ${topic}: ${partitionCount} partitions; ${producerCount} producers (${recordBytes} B records, ${batchBytes / 1024} KiB batches, acks=-1), ` +
      `${groupCount} group(s) of ${consumerCount} consumer(s)${withKafkajs ? " (one kafkajs member per group)" : ""}, ${seconds} s`,
  );

  // Consumers first, so the groups are formed when data starts flowing.
  const members: MemberState[] = [];
  const workers: Worker[] = [];
  const kafkajsMembers: { stop: () => Promise<void>; state: MemberState; positions: Map<number, number> }[] = [];
  for (let group = 0; group < groupCount; group++) {
    const groupId = `loadtest-group-${group}`;
    for (let index = 0; index < consumerCount; index++) {
      const clientId = `${groupId}-member-${index}`;
      if (withKafkajs && index === 0) {
        kafkajsMembers.push(await startKafkajsMember(groupId, clientId));
        members.push(kafkajsMembers[kafkajsMembers.length - 1]!.state);
        continue;
      }
      const worker = new Worker(new URL("./group-consumer-worker.ts", import.meta.url).href);
      workers.push(worker);
      const state: MemberState = { clientId, groupId, latest: null, done: null as unknown as Promise<GroupConsumerProgress> };
      state.done = new Promise<GroupConsumerProgress>((resolveDone) => {
        worker.onmessage = (event: MessageEvent<GroupConsumerProgress>) => {
          state.latest = event.data;
          if (event.data.event === "done") resolveDone(event.data);
        };
        worker.onerror = (event) => resolveDone({ ...(state.latest ?? emptyProgress(clientId, groupId)), event: "done", error: event.message });
      });
      worker.postMessage({
        port: broker.port,
        topic,
        partitionCount,
        groupId,
        clientId,
        partitionMaxBytes: 1024 * 1024,
        sessionTimeoutMs: SESSION_TIMEOUT_MS,
        maxSeconds: seconds + CATCH_UP_TIMEOUT_S + 30,
        control,
      } satisfies GroupConsumerTask);
      members.push(state);
    }
  }

  // Lag over time: log end offsets minus each group's positions (as its members last reported them).
  const lagSamples: { atSeconds: number; endOffset: number; lag: Record<string, number> }[] = [];
  const producersStartedMs = performance.now();
  let sampling = true;
  const sampler = (async () => {
    while (sampling) {
      await Bun.sleep(LAG_SAMPLE_MS);
      if (!sampling) break;
      const ends = await broker.endOffsets(topic, partitionCount).catch(() => null);
      if (!ends) continue;
      const endTotal = ends.reduce((sum, value) => sum + value, 0);
      const lag: Record<string, number> = {};
      for (let group = 0; group < groupCount; group++) {
        const groupId = `loadtest-group-${group}`;
        const positions = new Map<number, number>();
        for (const member of members.filter((each) => each.groupId === groupId)) {
          for (const [partition, offset] of Object.entries(member.latest?.positions ?? {})) positions.set(Number(partition), Math.max(positions.get(Number(partition)) ?? 0, offset));
        }
        lag[groupId] = ends.reduce((sum, end, partition) => sum + Math.max(0, end - (positions.get(partition) ?? 0)), 0);
      }
      const atSeconds = (performance.now() - producersStartedMs) / 1000;
      lagSamples.push({ atSeconds, endOffset: endTotal, lag });
      if (lagSamples.length % 4 === 0) log(`t=${atSeconds.toFixed(1)} s: ${endTotal.toLocaleString("en-US")} records produced; lag ${Object.entries(lag).map(([group, value]) => `${group}=${value.toLocaleString("en-US")}`).join(", ")}`);
    }
  })();

  const produceTasks: ProduceTask[] = Array.from({ length: producerCount }, (_, producer) => ({
    op: "produce",
    port: broker.port,
    topic,
    partitions: Array.from({ length: partitionCount }, (_, partition) => partition).filter((partition) => partition % producerCount === producer % partitionCount || producerCount > partitionCount),
    recordBytes,
    batchBytes,
    compression: "none",
    acks: -1,
    inFlight: Math.max(4, Math.min(32, Math.floor((2 * 1024 * 1024) / batchBytes))),
    maxSeconds: seconds,
    maxRecords: 0,
    requestsPerSecond: 0,
    producerId: producer,
  }));
  const produced = await runLoad(produceTasks);
  const producedRecords = produced.reduce((sum, report) => sum + report.records, 0);
  const producedChecksum = produced.reduce((sum, report) => (sum + (report.checksum ?? 0)) >>> 0, 0);
  const producedBytes = produced.reduce((sum, report) => sum + report.bytes, 0);
  const produceSeconds = Math.max(...produced.map((report) => report.seconds));
  const produceErrors = produced.reduce((sum, report) => sum + report.errors, 0);
  log(`producers done: ${producedRecords.toLocaleString("en-US")} records, ${(producedBytes / produceSeconds / 1e6).toFixed(0)} MB/s, ${produceErrors} errors`);

  // Every consumer now reads up to the final end offsets, commits, leaves the group and reports.
  const finalEnds = await broker.endOffsets(topic, partitionCount);
  finalEnds.forEach((end, partition) => (targets[partition] = end));
  Atomics.store(stopFlag, 0, 1);
  for (const member of kafkajsMembers) void waitForKafkajs(member, finalEnds);
  const finished = await Promise.race([Promise.all(members.map((member) => member.done)), Bun.sleep(CATCH_UP_TIMEOUT_S * 1000).then(() => null)]);
  sampling = false;
  await sampler;
  for (const worker of workers) worker.terminate();
  if (!finished) throw new Error(`consumers did not catch up within ${CATCH_UP_TIMEOUT_S} s`);

  // Report and verify.
  const consumeSeconds = (performance.now() - producersStartedMs) / 1000;
  console.log("");
  console.log(`Produced: ${producedRecords.toLocaleString("en-US")} records in ${produceSeconds.toFixed(1)} s (${(producedRecords / produceSeconds / 1000).toFixed(0)} k records/s, ${(producedBytes / produceSeconds / 1e6).toFixed(0)} MB/s), checksum ${producedChecksum.toString(16)}`);
  let allOk = produceErrors === 0 && producedRecords > 0;
  const rows: string[] = [];
  for (let group = 0; group < groupCount; group++) {
    const groupId = `loadtest-group-${group}`;
    const groupMembers = finished.filter((member) => member.groupId === groupId);
    const records = groupMembers.reduce((sum, member) => sum + member.records, 0);
    const bytes = groupMembers.reduce((sum, member) => sum + member.bytes, 0);
    const checksum = groupMembers.reduce((sum, member) => (sum + member.checksum) >>> 0, 0);
    const errors = groupMembers.filter((member) => member.error);
    const ok = records === producedRecords && checksum === producedChecksum && errors.length === 0;
    allOk &&= ok;
    console.log(
      `Group ${groupId}: ${records.toLocaleString("en-US")} records (${(bytes / consumeSeconds / 1e6).toFixed(0)} MB/s over ${consumeSeconds.toFixed(1)} s), checksum ${checksum.toString(16)}: ` +
        (ok ? "every record exactly once" : `MISMATCH (count ${records - producedRecords >= 0 ? "+" : ""}${records - producedRecords}${checksum !== producedChecksum ? ", checksum differs" : ""})`),
    );
    for (const member of groupMembers) {
      const line = `  ${member.clientId}: ${member.records.toLocaleString("en-US")} records, ${(member.bytes / Math.max(0.001, member.seconds) / 1e6).toFixed(0)} MB/s, ${member.rebalances} rebalance(s), partitions [${member.assigned.join(",")}]${member.error ? `, ERROR ${member.error.split("\n")[0]}` : ""}`;
      console.log(line);
      rows.push(`| ${groupId} | ${member.clientId} | ${member.records.toLocaleString("en-US")} | ${(member.bytes / Math.max(0.001, member.seconds) / 1e6).toFixed(0)} | ${member.rebalances} |`);
    }
  }
  console.log("");
  console.log("Consumer lag (records behind the log end) over time:");
  for (const sample of lagSamples.filter((_, index) => index % Math.max(1, Math.floor(lagSamples.length / 20)) === 0 || index === lagSamples.length - 1)) {
    console.log(`  t=${sample.atSeconds.toFixed(1).padStart(5)} s  end=${sample.endOffset.toLocaleString("en-US").padStart(12)}  ${Object.entries(sample.lag).map(([group, value]) => `${group}: ${value.toLocaleString("en-US")}`).join("  ")}`);
  }

  const resultsDir = resolve(import.meta.dir, "results");
  mkdirSync(resultsDir, { recursive: true });
  writeFileSync(
    join(resultsDir, "loadtest.json"),
    JSON.stringify({ command: `bun run loadtest ${args.join(" ")}`.trim(), producerCount, consumerCount, partitionCount, groupCount, seconds, recordBytes, batchBytes, producedRecords, producedChecksum, produceSeconds, producedBytes, members: finished, lagSamples, ok: allOk }, null, 2) + "\n",
  );
  console.log("");
  console.log(allOk ? "OK: every produced record was consumed exactly once by every group" : "FAILED: see above");
  exitCode = allOk ? 0 : 1;
} catch (error) {
  console.error(`loadtest failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`);
  if (broker.output) console.error(`broker output (tail):\n${broker.output.slice(-3000)}`);
} finally {
  await broker.stop();
  rmSync(workDir, { recursive: true, force: true });
}
process.exit(exitCode);

function emptyProgress(clientId: string, groupId: string): GroupConsumerProgress {
  return { event: "progress", clientId, groupId, records: 0, bytes: 0, checksum: 0, seconds: 0, positions: {}, rebalances: 0, assigned: [] };
}

// ---- a kafkajs member (a real client in the same group) ----

async function startKafkajsMember(groupId: string, clientId: string): Promise<{ stop: () => Promise<void>; state: MemberState; positions: Map<number, number>; finish: (progress: GroupConsumerProgress) => void }> {
  const { Kafka, logLevel } = await import("kafkajs");
  const kafka = new Kafka({ clientId, brokers: [broker.bootstrap], logLevel: logLevel.NOTHING });
  const consumer = kafka.consumer({ groupId, sessionTimeout: SESSION_TIMEOUT_MS, heartbeatInterval: 1000, maxWaitTimeInMs: 100, maxBytesPerPartition: 1024 * 1024 });
  const positions = new Map<number, number>();
  const startNs = performance.now();
  let records = 0;
  let bytes = 0;
  let checksum = 0;
  let rebalances = 0;
  let assigned: number[] = [];
  let finish!: (progress: GroupConsumerProgress) => void;
  const state: MemberState = { clientId, groupId, latest: null, done: new Promise((resolveDone) => (finish = resolveDone)) };
  const snapshot = (event: "progress" | "done", error?: string): GroupConsumerProgress => ({
    event,
    clientId: `${clientId} (kafkajs)`,
    groupId,
    records,
    bytes,
    checksum,
    seconds: (performance.now() - startNs) / 1000,
    positions: Object.fromEntries(positions),
    rebalances,
    assigned,
    error,
  });
  consumer.on(consumer.events.GROUP_JOIN, (event: { payload: { memberAssignment: Record<string, number[]> } }) => {
    rebalances++;
    assigned = [...(event.payload.memberAssignment[topic] ?? [])].sort((a, b) => a - b);
    for (const partition of [...positions.keys()]) if (!assigned.includes(partition)) positions.delete(partition);
  });
  await consumer.connect();
  await consumer.subscribe({ topic, fromBeginning: true });
  await consumer.run({
    autoCommitInterval: 1000,
    eachBatch: async ({ batch, resolveOffset, heartbeat }) => {
      for (const message of batch.messages) {
        records++;
        bytes += message.value?.byteLength ?? 0;
        if (message.value) checksum = (checksum + crc32c(message.value)) >>> 0;
        resolveOffset(message.offset);
        positions.set(batch.partition, Number(message.offset) + 1);
      }
      state.latest = snapshot("progress");
      await heartbeat();
    },
  });
  const member = {
    state,
    positions,
    finish,
    stop: async () => {
      await consumer.commitOffsets(assigned.map((partition) => ({ topic, partition, offset: String(positions.get(partition) ?? 0) }))).catch(() => undefined);
      await consumer.disconnect();
      finish(snapshot("done"));
    },
  };
  return member;
}

async function waitForKafkajs(member: { stop: () => Promise<void>; state: MemberState; positions: Map<number, number> }, ends: number[]): Promise<void> {
  // Caught up when each partition it holds was read to the end, by it or (before a rebalance) by another
  // member whose commit it would resume from.
  const deadline = Date.now() + CATCH_UP_TIMEOUT_S * 1000;
  while (Date.now() < deadline) {
    const assigned = member.state.latest?.assigned ?? [];
    const committed = await broker.committedOffsets(member.state.groupId, topic, partitionCount).catch(() => null);
    const caughtUp = (partition: number) => (member.positions.get(partition) ?? 0) >= ends[partition]! || (!member.positions.has(partition) && (committed?.[partition] ?? -1) >= ends[partition]!);
    if (assigned.every(caughtUp)) break;
    await Bun.sleep(200);
  }
  await member.stop();
}
