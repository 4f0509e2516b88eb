// What share groups (KIP-932) deliver (bun bench/share-groups.ts): one broker process, a 1-partition topic of
// RECORDS small records, and 1, 2 or 4 share consumers (src/client/share-consumer.ts, each with its own two
// connections, in this process) that poll and accept everything, acknowledging each poll with ShareAcknowledge
// before the next. Measured: accepted records per second from the first poll until the last acceptance, and
// the acknowledgement round trip (which includes the append of the share partition's snapshot to
// __share_group_state). Twice: the default in-flight bound (group.share.partition.max.record.locks 200) and 2000.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { KafkaConnection } from "../src/client/kafka-connection.ts";
import { ShareConsumer } from "../src/client/share-consumer.ts";
import { ApiKey } from "../src/protocol/generated/index.ts";
import { buildBatch } from "../src/records/compression.ts";
import { BenchBroker } from "./broker-process.ts";

const RECORDS = Number(process.env.BENCH_SHARE_RECORDS ?? 100_000);
const BATCH = 500;
const DEADLINE_MS = 120_000;

interface Figures {
  locks: number;
  consumers: number;
  recordsPerSecond: number;
  ackP50Ms: number;
  ackP99Ms: number;
}

const percentile = (sorted: number[], p: number) => sorted[Math.min(sorted.length - 1, Math.floor((sorted.length * p) / 100))] ?? 0;

async function run(locks: number, consumers: number): Promise<Figures> {
  const workDir = mkdtempSync(join(tmpdir(), "bunka-share-bench-"));
  const broker = new BenchBroker({ workDir, properties: { "group.share.partition.max.record.locks": String(locks), "share.coordinator.state.topic.num.partitions": "3" } });
  await broker.start();
  try {
    const topic = "share-bench";
    await broker.createTopic(topic, 1);
    const connection = await KafkaConnection.connect({ host: "127.0.0.1", port: broker.port, clientId: "bunka-bench-share", requestTimeoutMs: 30_000 });
    try {
      for (let base = 0; base < RECORDS; base += BATCH) {
        const records = buildBatch({ records: Array.from({ length: BATCH }, (_, j) => ({ value: `v${base + j}` })) });
        const produced = await connection.request(ApiKey.Produce, 7, { acks: 1, timeoutMs: 10_000, topicData: [{ name: topic, partitionData: [{ index: 0, records }] }] });
        if (produced.responses[0].partitionResponses[0].errorCode !== 0) throw new Error("produce failed");
      }
      const altered = await connection.request(ApiKey.IncrementalAlterConfigs, 1, { resources: [{ resourceType: 32, resourceName: "bench", configs: [{ name: "share.auto.offset.reset", configOperation: 0, value: "earliest" }] }], validateOnly: false });
      if (altered.responses[0].errorCode !== 0) throw new Error("group config failed");
    } finally {
      connection.close();
    }
    const ackMs: number[] = [];
    let accepted = 0;
    const started = performance.now();
    const worker = async (id: number) => {
      const consumer = await ShareConsumer.connect({ host: "127.0.0.1", port: broker.port, groupId: "bench", topics: [topic], maxWaitMs: 100, maxBytes: 64 * 1024, clientId: `bench-${id}` });
      try {
        while (accepted < RECORDS && performance.now() - started < DEADLINE_MS) {
          const records = await consumer.poll();
          for (const record of records) consumer.ack(record);
          const t0 = performance.now();
          const { taken } = await consumer.acknowledge();
          if (records.length > 0) ackMs.push(performance.now() - t0);
          accepted += taken.length;
        }
      } finally {
        await consumer.close();
      }
    };
    await Promise.all(Array.from({ length: consumers }, (_, id) => worker(id)));
    const seconds = (performance.now() - started) / 1000;
    if (accepted < RECORDS) throw new Error(`only ${accepted} of ${RECORDS} accepted in ${DEADLINE_MS} ms`);
    ackMs.sort((a, b) => a - b);
    return { locks, consumers, recordsPerSecond: Math.round(RECORDS / seconds), ackP50Ms: percentile(ackMs, 50), ackP99Ms: percentile(ackMs, 99) };
  } finally {
    await broker.stop();
    rmSync(workDir, { recursive: true, force: true });
  }
}

const results: Figures[] = [];
for (const locks of [200, 2000]) for (const consumers of [1, 2, 4]) results.push(await run(locks, consumers));
console.log(`share groups: ${RECORDS} records, 1 partition, accept everything`);
console.log("| max.record.locks | consumers | records/s | ack p50 ms | ack p99 ms |");
console.log("|---|---|---|---|---|");
for (const figures of results) console.log(`| ${figures.locks} | ${figures.consumers} | ${figures.recordsPerSecond.toLocaleString("en-US")} | ${figures.ackP50Ms.toFixed(2)} | ${figures.ackP99Ms.toFixed(2)} |`);
