// DescribeLogDirs v1-4 over a real socket: the data dir as the one log dir, each partition's size the bytes
// of its record batches on disk, offset lag 0, no future logs, and (v4) the volume's total and usable bytes
// as statfs reports them. @platformatic/kafka's Admin.describeLogDirs (v4) reads it; the in-repo client asks
// for every partition (null topics) and at v1.
import { afterAll, beforeAll, expect, test } from "bun:test";
import { Admin } from "@platformatic/kafka";
import { rmSync, statfsSync } from "node:fs";
import { resolve } from "node:path";
import { KafkaConnection } from "../../src/client/kafka-connection.ts";
import { ErrorCode } from "../../src/protocol/errors.ts";
import { ApiKey } from "../../src/protocol/generated/index.ts";
import { buildBatch } from "../../src/records/compression.ts";
import { startBroker, type Broker } from "../../src/server/broker.ts";
import { tempDir } from "../helpers/broker-process.ts";

const TOPIC = "log-dirs";
const OTHER = "log-dirs-other";

let broker: Broker;
let dataDir: string;
let connection: KafkaConnection;
let partitionZeroBytes = 0;

beforeAll(async () => {
  dataDir = tempDir("describe-log-dirs");
  broker = await startBroker({ port: 0, dataDir, log: () => {} });
  connection = await KafkaConnection.connect({ host: "127.0.0.1", port: broker.port, requestTimeoutMs: 10_000 });
  for (const [name, numPartitions] of [[TOPIC, 2], [OTHER, 1]] as const) {
    const created = await connection.request(ApiKey.CreateTopics, 7, { topics: [{ name, numPartitions, replicationFactor: 1, assignments: [], configs: [] }], timeoutMs: 5000, validateOnly: false });
    expect(created.topics[0].errorCode).toBe(ErrorCode.NONE);
  }
  // Uncompressed batches are stored as sent (offsets assigned in place): the partition's size is their sum.
  for (const count of [3, 10, 1]) {
    const records = buildBatch({ records: Array.from({ length: count }, (_, i) => ({ key: null, value: `value-${count}-${i}` })) });
    partitionZeroBytes += records.byteLength;
    const produced = await connection.request(ApiKey.Produce, 7, { transactionalId: null, acks: -1, timeoutMs: 5000, topicData: [{ name: TOPIC, partitionData: [{ index: 0, records }] }] });
    expect(produced.responses[0].partitionResponses[0].errorCode).toBe(ErrorCode.NONE);
  }
});

afterAll(async () => {
  connection?.close();
  await broker?.stop();
  rmSync(dataDir, { recursive: true, force: true });
});

test("@platformatic/kafka's describeLogDirs (v4): the data dir, partition sizes in bytes, offset lag 0, the volume's total and usable bytes", async () => {
  const admin = new Admin({ clientId: "describe-log-dirs", bootstrapBrokers: [`127.0.0.1:${broker.port}`] });
  try {
    const described = await admin.describeLogDirs({ topics: [{ name: TOPIC, partitions: [0, 1] }] });
    expect(described.length).toBe(1);
    const [result] = described[0]!.results;
    expect(described[0]!.results.length).toBe(1);
    expect(result!.logDir).toBe(resolve(dataDir));
    // Only the asked topic: the other one is not listed.
    expect(result!.topics.map((topic) => topic.name)).toEqual([TOPIC]);
    expect(result!.topics[0]!.partitions).toEqual([
      { partitionIndex: 0, partitionSize: BigInt(partitionZeroBytes), offsetLag: 0n, isFutureKey: false },
      { partitionIndex: 1, partitionSize: 0n, offsetLag: 0n, isFutureKey: false },
    ]);
    const volume = statfsSync(dataDir);
    expect(result!.totalBytes).toBe(BigInt(volume.blocks * volume.bsize));
    expect(result!.usableBytes).toBeGreaterThan(0n);
    expect(result!.usableBytes).toBeLessThanOrEqual(result!.totalBytes);
  } finally {
    await admin.close();
  }
});

test("null topics list every partition on the broker; v1 has no volume sizes and no top-level error; unknown partitions are left out", async () => {
  const all = await connection.request(ApiKey.DescribeLogDirs, 4, { topics: null });
  expect(all.errorCode).toBe(ErrorCode.NONE);
  type Described = { name: string; partitions: { partitionIndex: number; partitionSize: number }[] };
  const topics = new Map((all.results[0].topics as Described[]).map((topic) => [topic.name, topic.partitions]));
  expect(topics.get(TOPIC)!.map((partition) => [partition.partitionIndex, Number(partition.partitionSize)])).toEqual([
    [0, partitionZeroBytes],
    [1, 0],
  ]);
  expect(topics.get(OTHER)!.map((partition) => partition.partitionIndex)).toEqual([0]);

  const v1 = await connection.request(ApiKey.DescribeLogDirs, 1, { topics: [{ topic: OTHER, partitions: [0, 7] }, { topic: "no-such-topic", partitions: [0] }] });
  expect(v1.results.length).toBe(1);
  expect(v1.results[0].errorCode).toBe(ErrorCode.NONE);
  expect(v1.results[0].logDir).toBe(resolve(dataDir));
  expect(v1.results[0].topics).toEqual([{ name: OTHER, partitions: [{ partitionIndex: 0, partitionSize: 0, offsetLag: 0, isFutureKey: false }] }]);
  // The v1 codec carries no volume sizes: the decoder's defaults.
  expect(Number(v1.results[0].totalBytes)).toBe(-1);
});
