// Produce's record_errors and error_message (v8+, KIP-467) carry what the validator found: over a real socket
// at every version from v8 (v9+ flexible) a keyless record on a compacted topic comes back as INVALID_RECORD with
// its index; the handler of a real in-process broker called at v8 and v7 shows the same answer through the
// generated codec, and v7 carries the code alone. Nothing of the batch is stored (Kafka drops it whole).
import { afterAll, beforeAll, expect, test } from "bun:test";
import { rmSync } from "node:fs";
import { produceHandler } from "../../src/api/produce.ts";
import type { RequestContext } from "../../src/api/handler.ts";
import type { ClientConnection } from "../../src/api/context.ts";
import { ANONYMOUS_PRINCIPAL, DEFAULT_LISTENER } from "../../src/security/principal.ts";
import { KafkaConnection } from "../../src/client/kafka-connection.ts";
import { Reader } from "../../src/protocol/codec/reader.ts";
import { Writer } from "../../src/protocol/codec/writer.ts";
import { ErrorCode } from "../../src/protocol/errors.ts";
import { ApiKey } from "../../src/protocol/generated/index.ts";
import { readProduceResponse, writeProduceResponse } from "../../src/protocol/generated/produce.ts";
import { CompressionType } from "../../src/records/batch.ts";
import { buildBatch } from "../../src/records/compression.ts";
import { startBroker, type Broker } from "../../src/server/broker.ts";
import { tempDir } from "../helpers/broker-process.ts";

let broker: Broker;
let dataDir: string;
const TOPIC = "record-errors-compacted";

beforeAll(async () => {
  dataDir = tempDir("record-errors");
  broker = await startBroker({ port: 0, dataDir, log: () => {} });
  const admin = await KafkaConnection.connect({ host: "127.0.0.1", port: broker.port, requestTimeoutMs: 10_000 });
  const created = await admin.request(ApiKey.CreateTopics, 4, {
    topics: [{ name: TOPIC, numPartitions: 1, replicationFactor: 1, configs: [{ name: "cleanup.policy", value: "compact" }] }],
    timeoutMs: 5000,
  });
  expect(created.topics[0].errorCode).toBe(ErrorCode.NONE);
  admin.close();
});

afterAll(async () => {
  await broker.stop();
  rmSync(dataDir, { recursive: true, force: true });
});

/** Calls the Produce handler at `apiVersion` and returns its answer as decoded from the wire bytes. */
async function produceAt(apiVersion: number, records: Uint8Array) {
  // The handler is called directly (its answer is then encoded at the version asked): a plaintext client's connection.
  const connection: ClientConnection = {
    remoteIp: "127.0.0.1",
    security: { listener: DEFAULT_LISTENER, principal: ANONYMOUS_PRINCIPAL, authenticated: true },
    waitForWriteRoom: () => null,
    mute: () => undefined,
  };
  const context = {
    ...broker.services,
    connection,
    apiKey: ApiKey.Produce,
    apiVersion,
    correlationId: 1,
    clientId: "record-errors-test",
    frame: { payload: new Uint8Array(0), ownsBuffer: false, pooled: null, chargedBytes: 0 },
  } as unknown as RequestContext;
  const answer = await produceHandler.handle(context, { transactionalId: null, acks: -1, timeoutMs: 5000, topicData: [{ name: TOPIC, partitionData: [{ index: 0, records }] }] });
  const writer = new Writer();
  writeProduceResponse(writer, apiVersion, answer as never);
  const decoded = readProduceResponse(new Reader(writer.toUint8Array()), apiVersion);
  return decoded.responses[0]!.partitionResponses[0]!;
}

function keyless(): Uint8Array {
  return buildBatch({ records: [{ key: "k0", value: "kept" }, { key: null, value: "no key" }, { key: "k2", value: "kept" }], compression: CompressionType.LZ4 });
}

test("at v8 a keyless record on a compacted topic comes back as INVALID_RECORD with its index and an error message", async () => {
  const partition = await produceAt(8, keyless());
  expect(partition.errorCode).toBe(ErrorCode.INVALID_RECORD);
  expect(partition.recordErrors).toEqual([{ batchIndex: 1, batchIndexErrorMessage: "Compacted topic cannot accept message without key" }]);
  expect(partition.errorMessage).toContain("Compacted topic cannot accept message without key");
});

test("at v7 the same refusal carries the code only, and over a real socket too; nothing is stored", async () => {
  const partition = await produceAt(7, keyless());
  expect(partition.errorCode).toBe(ErrorCode.INVALID_RECORD);
  expect(partition.recordErrors).toEqual([]);
  expect(partition.errorMessage).toBeNull();
  const connection = await KafkaConnection.connect({ host: "127.0.0.1", port: broker.port, requestTimeoutMs: 10_000 });
  const response = await connection.request(ApiKey.Produce, 7, { acks: -1, timeoutMs: 5000, topicData: [{ name: TOPIC, partitionData: [{ index: 0, records: keyless() }] }] });
  expect(response.responses[0].partitionResponses[0].errorCode).toBe(ErrorCode.INVALID_RECORD);
  const stored = await connection.request(ApiKey.Produce, 7, { acks: -1, timeoutMs: 5000, topicData: [{ name: TOPIC, partitionData: [{ index: 0, records: buildBatch({ records: [{ key: "k", value: "v" }] }) }] }] });
  expect(stored.responses[0].partitionResponses[0].baseOffset).toBe(0);
  connection.close();
});

test("over a real socket at v8-v12 the answer names the failing record; the batch is not stored", async () => {
  const connection = await KafkaConnection.connect({ host: "127.0.0.1", port: broker.port, requestTimeoutMs: 10_000 });
  const before = await connection.request(ApiKey.ListOffsets, 5, { replicaId: -1, isolationLevel: 0, topics: [{ name: TOPIC, partitions: [{ partitionIndex: 0, currentLeaderEpoch: -1, timestamp: -1 }] }] });
  for (const version of [8, 9, 10, 11, 12]) {
    const twoKeyless = buildBatch({ records: [{ key: null, value: "a" }, { key: "k", value: "b" }, { key: null, value: "c" }] });
    const response = await connection.request(ApiKey.Produce, version, { acks: -1, timeoutMs: 5000, topicData: [{ name: TOPIC, partitionData: [{ index: 0, records: twoKeyless }] }] });
    const partition = response.responses[0].partitionResponses[0];
    expect(partition.errorCode).toBe(ErrorCode.INVALID_RECORD);
    expect(partition.recordErrors.map((error: { batchIndex: number }) => error.batchIndex)).toEqual([0, 2]);
    expect(partition.errorMessage).toContain("Compacted topic cannot accept message without key");
    expect(partition.baseOffset).toBe(-1);
  }
  const after = await connection.request(ApiKey.ListOffsets, 5, { replicaId: -1, isolationLevel: 0, topics: [{ name: TOPIC, partitions: [{ partitionIndex: 0, currentLeaderEpoch: -1, timestamp: -1 }] }] });
  expect(after.topics[0].partitions[0].offset).toBe(before.topics[0].partitions[0].offset);
  connection.close();
});
