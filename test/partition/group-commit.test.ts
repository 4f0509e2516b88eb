// The produce path in the partition workers: appends to one partition that arrive together from many
// connections are coalesced (one writev per drain), and with flush.messages=1 every acknowledged append
// was fdatasync'd first, with concurrent produces sharing each fdatasync (group commit).
import { afterAll, beforeAll, expect, test } from "bun:test";
import { rmSync } from "node:fs";
import { concatBytes, decodeResponse, encodeRequest, splitFrames } from "../../bench/kafka-frames.ts";
import { KafkaConnection } from "../../src/client/kafka-connection.ts";
import { ApiKey } from "../../src/protocol/generated/index.ts";
import { buildBatch } from "../../src/records/compression.ts";
import { startBroker, type Broker } from "../../src/server/broker.ts";
import { tempDir } from "../helpers/broker-process.ts";

const CONNECTIONS = 8;
const REQUESTS_PER_CONNECTION = 25;
const RECORDS_PER_REQUEST = 10;
const RESPONSE_WAIT_MS = 30_000;

let broker: Broker;
let dataDir: string;

beforeAll(async () => {
  dataDir = tempDir("group-commit");
  broker = await startBroker({ port: 0, dataDir, log: () => {} });
  const admin = await KafkaConnection.connect({ host: "127.0.0.1", port: broker.port });
  try {
    const created = await admin.request(ApiKey.CreateTopics, 4, {
      topics: [
        { name: "durable", numPartitions: 1, replicationFactor: 1, configs: [{ name: "flush.messages", value: "1" }] },
        { name: "fast", numPartitions: 1, replicationFactor: 1 },
      ],
      timeoutMs: 10_000,
    });
    for (const topic of created.topics) expect(topic.errorCode).toBe(0);
  } finally {
    admin.close();
  }
});

afterAll(async () => {
  await broker?.stop();
  rmSync(dataDir, { recursive: true, force: true });
});

/** Each connection writes all its produce requests at once (pipelined), as a busy producer does. */
async function produceConcurrently(topic: string): Promise<{ baseOffsets: number[] }> {
  const baseOffsets: number[] = [];
  await Promise.all(
    Array.from({ length: CONNECTIONS }, async (_, connectionIndex) => {
      const received: Uint8Array[] = [];
      let receivedBytes = 0;
      const socket = await Bun.connect<undefined>({
        hostname: "127.0.0.1",
        port: broker.port,
        socket: {
          data: (_socket, chunk) => {
            received.push(chunk);
            receivedBytes += chunk.byteLength;
          },
        },
      });
      try {
        const frames: Uint8Array[] = [];
        for (let requestIndex = 0; requestIndex < REQUESTS_PER_CONNECTION; requestIndex++) {
          const records = Array.from({ length: RECORDS_PER_REQUEST }, (_, i) => ({
            key: null,
            value: new TextEncoder().encode(`c${connectionIndex}-r${requestIndex}-${i}`),
          }));
          frames.push(
            encodeRequest(ApiKey.Produce, 7, requestIndex + 1, {
              acks: -1,
              timeoutMs: 10_000,
              topicData: [{ name: topic, partitionData: [{ index: 0, records: buildBatch({ records }) }] }],
            }),
          );
        }
        const bytes = concatBytes(frames);
        expect(socket.write(bytes)).toBe(bytes.byteLength);
        for (let waitedMs = 0; ; waitedMs += 5) {
          const { payloads } = splitFrames(concatBytes(received));
          if (payloads.length === REQUESTS_PER_CONNECTION) {
            for (const payload of payloads) {
              const response = decodeResponse(ApiKey.Produce, 7, payload);
              const partition = response.responses[0].partitionResponses[0];
              expect(partition.errorCode).toBe(0);
              baseOffsets.push(Number(partition.baseOffset));
            }
            return;
          }
          if (waitedMs > RESPONSE_WAIT_MS) throw new Error(`connection ${connectionIndex}: ${payloads.length} responses (${receivedBytes} bytes) in ${RESPONSE_WAIT_MS} ms`);
          await Bun.sleep(5);
        }
      } finally {
        socket.end();
      }
    }),
  );
  return { baseOffsets };
}

test("flush.messages=1: every acknowledged produce was fdatasync'd, and concurrent produces share the fdatasyncs", async () => {
  const before = await broker.workers.stats();
  const { baseOffsets } = await produceConcurrently("durable");
  const after = await broker.workers.stats();
  const requests = CONNECTIONS * REQUESTS_PER_CONNECTION;
  // Offsets are dense and unique: every request got its own range of RECORDS_PER_REQUEST offsets.
  expect(baseOffsets.sort((a, b) => a - b)).toEqual(Array.from({ length: requests }, (_, i) => i * RECORDS_PER_REQUEST));
  expect(after.appendedItems - before.appendedItems).toBe(requests);
  expect(after.flushWaits - before.flushWaits).toBe(requests);
  // Durable: nothing acknowledged is waiting for an fdatasync.
  expect(after.unflushedMessages).toBe(0);
  const groupCommits = after.groupCommits - before.groupCommits;
  expect(groupCommits).toBeGreaterThan(0);
  // Shared: fewer fdatasync rounds than produces (each one covered every append that arrived before it).
  expect(groupCommits).toBeLessThan(requests);
  console.log(`group commit: ${requests} produces, ${after.appendDrains - before.appendDrains} writes, ${groupCommits} fdatasync rounds`);
});

test("appends to one partition from many connections are coalesced into fewer writes, offsets dense and in order", async () => {
  const before = await broker.workers.stats();
  const { baseOffsets } = await produceConcurrently("fast");
  const after = await broker.workers.stats();
  const requests = CONNECTIONS * REQUESTS_PER_CONNECTION;
  expect(baseOffsets.sort((a, b) => a - b)).toEqual(Array.from({ length: requests }, (_, i) => i * RECORDS_PER_REQUEST));
  expect(after.appendedItems - before.appendedItems).toBe(requests);
  expect(after.groupCommits - before.groupCommits).toBe(0); // no flush policy, no fdatasync
  const writes = after.appendDrains - before.appendDrains;
  expect(writes).toBeLessThan(requests);
  console.log(`coalescing: ${requests} produces in ${writes} writes`);

  // Read back through a fetch: all records, in offset order, each request's records together.
  const client = await KafkaConnection.connect({ host: "127.0.0.1", port: broker.port });
  try {
    const fetched = await client.request(ApiKey.Fetch, 11, {
      replicaId: -1,
      maxWaitMs: 0,
      minBytes: 0,
      maxBytes: 16 * 1024 * 1024,
      topics: [{ topic: "fast", partitions: [{ partition: 0, fetchOffset: 0, partitionMaxBytes: 16 * 1024 * 1024 }] }],
    });
    const partition = fetched.responses[0].partitions[0];
    expect(Number(partition.highWatermark)).toBe(requests * RECORDS_PER_REQUEST);
    const { readBatchRecords } = await import("../../src/records/compression.ts");
    const records: Uint8Array = partition.records;
    const view = new DataView(records.buffer, records.byteOffset, records.byteLength);
    let position = 0;
    let expectedOffset = 0;
    for (let batches = 0; position < records.byteLength && batches < requests; batches++) {
      const sizeBytes = view.getInt32(position + 8) + 12;
      const batchRecords = await readBatchRecords(records.subarray(position, position + sizeBytes));
      const prefix = new TextDecoder().decode(batchRecords[0]!.value!).replace(/-\d+$/, "");
      batchRecords.forEach((record, i) => {
        expect(record.offset).toBe(expectedOffset++);
        expect(new TextDecoder().decode(record.value!)).toBe(`${prefix}-${i}`);
      });
      position += sizeBytes;
    }
    expect(expectedOffset).toBe(requests * RECORDS_PER_REQUEST);
  } finally {
    client.close();
  }
});
