// ListOffsets v6-10 over a real socket with the in-repo client (generated codecs): MAX_TIMESTAMP (-3, v7,
// KIP-734) finds the first record carrying the largest timestamp; EARLIEST_LOCAL (-4, v8) is the log start
// (no tiered storage), also after DeleteRecords moved it; LATEST_TIERED (-5, v9) is -1 with leader epoch -1,
// as Kafka's UnifiedLog answers for a topic without remote storage; v10 carries timeout_ms. A special
// timestamp below the version that introduced it is INVALID_REQUEST. A real client: @platformatic/kafka's
// Admin.listOffsets, which sends v9 (the highest it implements) with whatever timestamps it is given.
import { afterAll, beforeAll, expect, test } from "bun:test";
import { Admin } from "@platformatic/kafka";
import { rmSync } from "node:fs";
import { KafkaConnection } from "../../src/client/kafka-connection.ts";
import { ErrorCode } from "../../src/protocol/errors.ts";
import { ApiKey } from "../../src/protocol/generated/index.ts";
import { buildBatch } from "../../src/records/compression.ts";
import { startBroker, type Broker } from "../../src/server/broker.ts";
import { tempDir } from "../helpers/broker-process.ts";

const TOPIC = "list-offsets-versions";
const EMPTY_TOPIC = "list-offsets-empty";
const MAX_TIMESTAMP = -3;
const EARLIEST_LOCAL = -4;
const LATEST_TIERED = -5;

let broker: Broker;
let dataDir: string;
let connection: KafkaConnection;

beforeAll(async () => {
  dataDir = tempDir("list-offsets-versions");
  broker = await startBroker({ port: 0, dataDir, log: () => {} });
  connection = await KafkaConnection.connect({ host: "127.0.0.1", port: broker.port, requestTimeoutMs: 10_000 });
  for (const name of [TOPIC, EMPTY_TOPIC]) {
    const created = await connection.request(ApiKey.CreateTopics, 7, { topics: [{ name, numPartitions: 1, replicationFactor: 1, assignments: [], configs: [] }], timeoutMs: 5000, validateOnly: false });
    expect(created.topics[0].errorCode).toBe(ErrorCode.NONE);
  }
  // Offsets 0-5 with timestamps 1000, 5000, 3000 | 5000, 2000 | 4000: the largest (5000) first at offset 1.
  const batches = [
    [1000, 5000, 3000],
    [5000, 2000],
    [4000],
  ];
  for (const timestamps of batches) {
    const records = buildBatch({ records: timestamps.map((timestampMs) => ({ key: "k", value: String(timestampMs), timestampMs })) });
    const produced = await connection.request(ApiKey.Produce, 9, { acks: -1, timeoutMs: 5000, topicData: [{ name: TOPIC, partitionData: [{ index: 0, records }] }] });
    expect(produced.responses[0].partitionResponses[0].errorCode).toBe(ErrorCode.NONE);
  }
});

afterAll(async () => {
  connection?.close();
  await broker.stop();
  rmSync(dataDir, { recursive: true, force: true });
});

async function listOffsets(version: number, timestamp: number, topic = TOPIC): Promise<{ errorCode: number; offset: number; timestamp: number; leaderEpoch: number }> {
  const response = await connection.request(ApiKey.ListOffsets, version, {
    replicaId: -1,
    isolationLevel: 0,
    topics: [{ name: topic, partitions: [{ partitionIndex: 0, currentLeaderEpoch: -1, timestamp }] }],
    timeoutMs: 1000,
  });
  return response.topics[0].partitions[0];
}

test("MAX_TIMESTAMP (v7+): the first record with the largest timestamp; -1 on an empty partition; INVALID_REQUEST at v6", async () => {
  for (const version of [7, 8, 9, 10]) {
    const answer = await listOffsets(version, MAX_TIMESTAMP);
    expect(answer).toMatchObject({ errorCode: ErrorCode.NONE, offset: 1, timestamp: 5000 });
  }
  expect(await listOffsets(7, MAX_TIMESTAMP, EMPTY_TOPIC)).toMatchObject({ errorCode: ErrorCode.NONE, offset: -1, timestamp: -1 });
  expect((await listOffsets(6, MAX_TIMESTAMP)).errorCode).toBe(ErrorCode.INVALID_REQUEST);
});

test("the flexible v6 answers earliest, latest and by timestamp as v5 does", async () => {
  expect(await listOffsets(6, -2)).toMatchObject({ errorCode: ErrorCode.NONE, offset: 0 });
  expect(await listOffsets(6, -1)).toMatchObject({ errorCode: ErrorCode.NONE, offset: 6 });
  expect(await listOffsets(6, 4500)).toMatchObject({ errorCode: ErrorCode.NONE, offset: 1, timestamp: 5000 });
  expect(await listOffsets(5, 4500)).toMatchObject({ errorCode: ErrorCode.NONE, offset: 1, timestamp: 5000 });
});

test("EARLIEST_LOCAL (v8+) is the log start, after DeleteRecords too; LATEST_TIERED (v9+) is -1 with leader epoch -1", async () => {
  expect(await listOffsets(8, EARLIEST_LOCAL)).toMatchObject({ errorCode: ErrorCode.NONE, offset: 0 });
  expect((await listOffsets(7, EARLIEST_LOCAL)).errorCode).toBe(ErrorCode.INVALID_REQUEST);
  expect(await listOffsets(9, LATEST_TIERED)).toEqual(expect.objectContaining({ errorCode: ErrorCode.NONE, offset: -1, timestamp: -1, leaderEpoch: -1 }));
  expect(await listOffsets(10, LATEST_TIERED)).toEqual(expect.objectContaining({ errorCode: ErrorCode.NONE, offset: -1, leaderEpoch: -1 }));
  expect((await listOffsets(8, LATEST_TIERED)).errorCode).toBe(ErrorCode.INVALID_REQUEST);

  const deleted = await connection.request(ApiKey.DeleteRecords, 2, { topics: [{ name: TOPIC, partitions: [{ partitionIndex: 0, offset: 2 }] }], timeoutMs: 5000 });
  expect(deleted.topics[0].partitions[0].errorCode).toBe(ErrorCode.NONE);
  expect(await listOffsets(8, EARLIEST_LOCAL)).toMatchObject({ errorCode: ErrorCode.NONE, offset: 2 });
  expect(await listOffsets(10, -2)).toMatchObject({ errorCode: ErrorCode.NONE, offset: 2 });
  // The largest timestamp's first record (offset 1) is gone; the next one holding it is offset 3.
  expect(await listOffsets(10, MAX_TIMESTAMP)).toMatchObject({ errorCode: ErrorCode.NONE, offset: 3, timestamp: 5000 });
});

test("@platformatic/kafka's listOffsets (v9): MAX_TIMESTAMP, EARLIEST_LOCAL and LATEST_TIERED answered as above", async () => {
  const admin = new Admin({ clientId: "list-offsets-versions", bootstrapBrokers: [`127.0.0.1:${broker.port}`] });
  try {
    const listed = await admin.listOffsets({
      topics: [{ name: TOPIC, partitions: [{ partitionIndex: 0, timestamp: -3n }] }, { name: EMPTY_TOPIC, partitions: [{ partitionIndex: 0, timestamp: -3n }] }],
    });
    const byTopic = new Map(listed.map((topic) => [topic.name, topic.partitions[0]!]));
    // The record deleted by the previous test leaves offset 3 as the first one with the largest timestamp.
    expect(byTopic.get(TOPIC)).toMatchObject({ offset: 3n, timestamp: 5000n });
    expect(byTopic.get(EMPTY_TOPIC)).toMatchObject({ offset: -1n, timestamp: -1n });
    const local = await admin.listOffsets({ topics: [{ name: TOPIC, partitions: [{ partitionIndex: 0, timestamp: -4n }] }] });
    expect(local[0]!.partitions[0]!.offset).toBe(2n);
    const tiered = await admin.listOffsets({ topics: [{ name: TOPIC, partitions: [{ partitionIndex: 0, timestamp: -5n }] }] });
    expect(tiered[0]!.partitions[0]).toMatchObject({ offset: -1n, leaderEpoch: -1 });
  } finally {
    await admin.close();
  }
});
