// Fetch semantics over the wire (long poll, size limits, out-of-range, LSO), ListOffsets, acks=0, and
// the broker process lifecycle (ready line, clean SIGTERM shutdown, restart without recovery).
import { afterAll, beforeAll, expect, test } from "bun:test";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { KafkaConnection } from "../../src/client/kafka-connection.ts";
import { ErrorCode } from "../../src/protocol/errors.ts";
import { ApiKey } from "../../src/protocol/generated/index.ts";
import { buildBatch } from "../../src/records/compression.ts";
import { BrokerProcess } from "../helpers/broker-process.ts";

const TOPIC = "fetching";
let broker: BrokerProcess;
let connection: KafkaConnection;

beforeAll(async () => {
  broker = new BrokerProcess();
  await broker.start();
  connection = await KafkaConnection.connect({ host: "127.0.0.1", port: broker.port });
  const created = await connection.request(ApiKey.CreateTopics, 7, { topics: [{ name: TOPIC, numPartitions: 2, replicationFactor: 1 }], timeoutMs: 5000 });
  expect(created.topics[0].errorCode).toBe(ErrorCode.NONE);
});

afterAll(async () => {
  connection?.close();
  await broker.cleanup();
});

const encoder = new TextEncoder();
function batch(values: string[], timestampMs = Date.now()): Uint8Array {
  return buildBatch({ records: values.map((value) => ({ value: encoder.encode(value), timestampMs })) });
}

async function produce(partition: number, records: Uint8Array, acks = -1) {
  const response = await connection.request(ApiKey.Produce, 7, { acks, timeoutMs: 5000, topicData: [{ name: TOPIC, partitionData: [{ index: partition, records }] }] }, acks !== 0);
  return response?.responses[0].partitionResponses[0];
}

function fetchRequest(partition: number, fetchOffset: number, options: { maxWaitMs?: number; minBytes?: number; maxBytes?: number; partitionMaxBytes?: number } = {}) {
  return connection.request(ApiKey.Fetch, 11, {
    replicaId: -1,
    maxWaitMs: options.maxWaitMs ?? 0,
    minBytes: options.minBytes ?? 0,
    maxBytes: options.maxBytes ?? 1 << 20,
    isolationLevel: 1,
    topics: [{ topic: TOPIC, partitions: [{ partition, fetchOffset, partitionMaxBytes: options.partitionMaxBytes ?? 1 << 20 }] }],
  });
}

function batchesIn(records: Uint8Array): { baseOffset: number; sizeBytes: number }[] {
  const found = [];
  const view = new DataView(records.buffer, records.byteOffset, records.byteLength);
  for (let position = 0; position + 12 <= records.byteLength && found.length < 10_000; ) {
    const sizeBytes = view.getInt32(position + 8) + 12;
    found.push({ baseOffset: Number(view.getBigInt64(position)), sizeBytes });
    position += sizeBytes;
  }
  return found;
}

test("a long-polling fetch waits for min.bytes and wakes as soon as a produce arrives", async () => {
  const started = Date.now();
  const waiting = fetchRequest(1, 0, { maxWaitMs: 10_000, minBytes: 1 });
  await Bun.sleep(200);
  const produced = await produce(1, batch(["wake-up"]));
  expect(produced.errorCode).toBe(ErrorCode.NONE);
  const response = await waiting;
  const partition = response.responses[0].partitions[0];
  expect(Date.now() - started).toBeLessThan(9_000);
  expect(batchesIn(partition.records).length).toBe(1);
  expect(partition.highWatermark).toBe(1);
  expect(partition.lastStableOffset).toBe(partition.highWatermark);
});

test("a fetch with nothing new returns empty after max.wait.ms", async () => {
  const started = Date.now();
  const response = await fetchRequest(1, 1, { maxWaitMs: 300, minBytes: 1 });
  expect(Date.now() - started).toBeGreaterThanOrEqual(250);
  expect(response.responses[0].partitions[0].records.byteLength).toBe(0);
  expect(response.responses[0].partitions[0].errorCode).toBe(ErrorCode.NONE);
});

test("partition max bytes returns whole batches only, and at least one batch (KIP-74)", async () => {
  for (let i = 0; i < 10; i++) expect((await produce(0, batch(Array.from({ length: 10 }, (_, j) => `record-${i}-${j}-${"z".repeat(100)}`)))).errorCode).toBe(ErrorCode.NONE);
  const all = batchesIn((await fetchRequest(0, 0)).responses[0].partitions[0].records);
  expect(all.length).toBe(10);
  const oneSize = all[0]!.sizeBytes;
  const limited = batchesIn((await fetchRequest(0, 0, { partitionMaxBytes: oneSize * 3 + 5 })).responses[0].partitions[0].records);
  expect(limited.map((b) => b.baseOffset)).toEqual([0, 10, 20]);
  const tiny = batchesIn((await fetchRequest(0, 25, { partitionMaxBytes: 10 })).responses[0].partitions[0].records);
  expect(tiny.map((b) => b.baseOffset)).toEqual([20]); // the batch holding offset 25, whole
});

test("fetching past the log end or before the log start is OFFSET_OUT_OF_RANGE", async () => {
  expect((await fetchRequest(0, 1000)).responses[0].partitions[0].errorCode).toBe(ErrorCode.OFFSET_OUT_OF_RANGE);
  expect((await fetchRequest(0, -5)).responses[0].partitions[0].errorCode).toBe(ErrorCode.OFFSET_OUT_OF_RANGE);
  expect((await fetchRequest(0, 100)).responses[0].partitions[0].errorCode).toBe(ErrorCode.NONE); // == log end
});

test("ListOffsets answers earliest, latest and by timestamp", async () => {
  // Later than every record already in the partition: the lookup finds the first record at or after a time.
  const base = Date.now() + 3_600_000;
  await produce(1, batch(["t1"], base + 1000));
  await produce(1, batch(["t2"], base + 2000));
  const lookup = async (timestamp: number) => {
    const response = await connection.request(ApiKey.ListOffsets, 5, { replicaId: -1, isolationLevel: 0, topics: [{ name: TOPIC, partitions: [{ partitionIndex: 1, timestamp }] }] });
    return response.topics[0].partitions[0];
  };
  expect((await lookup(-2)).offset).toBe(0);
  expect((await lookup(-1)).offset).toBe(3);
  expect((await lookup(base + 1500)).offset).toBe(2);
  expect((await lookup(base + 1500)).timestamp).toBe(base + 2000);
  expect((await lookup(base + 10_000)).offset).toBe(-1);
});

test("acks=0 gets no reply and the next request's reply comes in order", async () => {
  const none = await produce(1, batch(["fire-and-forget"]), 0);
  expect(none).toBeUndefined();
  const metadata = await connection.request(ApiKey.Metadata, 9, { topics: [{ name: TOPIC }] });
  expect(metadata.topics[0].name).toBe(TOPIC);
  const latest = await connection.request(ApiKey.ListOffsets, 5, { replicaId: -1, topics: [{ name: TOPIC, partitions: [{ partitionIndex: 1, timestamp: -1 }] }] });
  expect(latest.topics[0].partitions[0].offset).toBe(4);
});

test("SIGTERM shuts down cleanly and the restart skips recovery with every record intact", async () => {
  connection.close();
  expect(await broker.stop()).toBe(0);
  expect(existsSync(join(broker.dataDir, ".clean-shutdown"))).toBe(true);
  const outputBefore = broker.output.length;
  await broker.start();
  expect(broker.output.slice(outputBefore)).not.toContain("not shut down cleanly");
  expect(existsSync(join(broker.dataDir, ".clean-shutdown"))).toBe(false);
  connection = await KafkaConnection.connect({ host: "127.0.0.1", port: broker.port });
  const response = await fetchRequest(0, 0);
  expect(batchesIn(response.responses[0].partitions[0].records).length).toBe(10);
  expect((await produce(0, batch(["after-restart"]))).baseOffset).toBe(100);
});
