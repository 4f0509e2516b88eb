// Bad input over raw sockets: oversized, truncated and garbage frames, unknown APIs and versions, corrupt
// batches, produce to missing partitions. Each gets a Kafka error code or a closed connection; the broker
// keeps serving other connections and acknowledged records stay intact.
import { afterAll, beforeAll, expect, test } from "bun:test";
import { rmSync } from "node:fs";
import { KafkaConnection } from "../../src/client/kafka-connection.ts";
import { ErrorCode } from "../../src/protocol/errors.ts";
import { ApiKey } from "../../src/protocol/generated/index.ts";
import { buildBatch } from "../../src/records/compression.ts";
import { startBroker, type Broker } from "../../src/server/broker.ts";
import { tempDir } from "../helpers/broker-process.ts";

let broker: Broker;
let dataDir: string;
const logLines: string[] = [];
const TOPIC = "bad-input";

beforeAll(async () => {
  dataDir = tempDir("bad-input");
  broker = await startBroker({ port: 0, dataDir, log: (line) => logLines.push(line) });
  const admin = await connect();
  const created = await admin.request(ApiKey.CreateTopics, 4, { topics: [{ name: TOPIC, numPartitions: 2, replicationFactor: 1 }], timeoutMs: 5000 });
  expect(created.topics[0].errorCode).toBe(ErrorCode.NONE);
  admin.close();
});

afterAll(async () => {
  if (process.env.DEBUG_LOG) console.log(logLines.join("\n"));
  await broker.stop();
  rmSync(dataDir, { recursive: true, force: true });
});

function connect(): Promise<KafkaConnection> {
  return KafkaConnection.connect({ host: "127.0.0.1", port: broker.port, requestTimeoutMs: 10_000 });
}

/** Opens a raw socket, sends bytes, and resolves with what came back and whether the broker closed it. */
async function rawExchange(bytes: Uint8Array, waitMs = 1500): Promise<{ closedByBroker: boolean; received: Uint8Array }> {
  const chunks: Uint8Array[] = [];
  let closed = false;
  const socket = await Bun.connect({
    hostname: "127.0.0.1",
    port: broker.port,
    socket: {
      data: (_s, chunk) => void chunks.push(new Uint8Array(chunk)),
      close: () => void (closed = true),
    },
  });
  socket.write(bytes);
  const deadline = Date.now() + waitMs;
  while (!closed && Date.now() < deadline) await Bun.sleep(20);
  const closedByBroker = closed;
  // Bun calls the close handler synchronously from end(), so read the flag first.
  if (!closed) socket.end();
  return { closedByBroker, received: Buffer.concat(chunks) };
}

function frame(payload: Uint8Array): Uint8Array {
  const out = new Uint8Array(4 + payload.byteLength);
  new DataView(out.buffer).setInt32(0, payload.byteLength);
  out.set(payload, 4);
  return out;
}

/** Request header v1: api key, version, correlation id, client id. */
function header(apiKey: number, apiVersion: number, correlationId: number): Uint8Array {
  const clientId = new TextEncoder().encode("raw");
  const out = new Uint8Array(10 + clientId.byteLength);
  const view = new DataView(out.buffer);
  view.setInt16(0, apiKey);
  view.setInt16(2, apiVersion);
  view.setInt32(4, correlationId);
  view.setInt16(8, clientId.byteLength);
  out.set(clientId, 10);
  return out;
}

async function brokerStillServes(): Promise<void> {
  const connection = await connect();
  const response = await connection.request(ApiKey.Metadata, 1, { topics: null });
  expect(response.brokers.length).toBe(1);
  connection.close();
}

async function produce(connection: KafkaConnection, partition: number, records: Uint8Array, topic = TOPIC) {
  const response = await connection.request(ApiKey.Produce, 7, { acks: -1, timeoutMs: 5000, topicData: [{ name: topic, partitionData: [{ index: partition, records }] }] });
  return response.responses[0].partitionResponses[0];
}

function batchOf(values: string[]): Uint8Array {
  return buildBatch({ records: values.map((value) => ({ key: null, value: new TextEncoder().encode(value), headers: [] })) });
}

test("an oversized frame closes the connection and the broker keeps serving", async () => {
  const bytes = new Uint8Array([0x7f, 0xff, 0xff, 0xff, 0, 1, 2, 3]);
  const result = await rawExchange(bytes);
  expect(result.closedByBroker).toBe(true);
  expect(result.received.byteLength).toBe(0);
  expect(logLines.some((line) => line.includes("exceeds socket.request.max.bytes"))).toBe(true);
  await brokerStillServes();
});

test("a negative frame size closes the connection", async () => {
  const result = await rawExchange(new Uint8Array([0xff, 0xff, 0xff, 0xf0]));
  expect(result.closedByBroker).toBe(true);
  await brokerStillServes();
});

test("a truncated frame followed by a disconnect leaves the broker serving", async () => {
  const partial = frame(header(ApiKey.Metadata, 1, 7)).subarray(0, 9);
  const result = await rawExchange(partial, 300);
  expect(result.closedByBroker).toBe(false);
  await brokerStillServes();
});

test("an unknown API key closes the connection", async () => {
  const result = await rawExchange(frame(header(999, 0, 1)));
  expect(result.closedByBroker).toBe(true);
  expect(logLines.some((line) => line.includes("unknown API key 999"))).toBe(true);
  await brokerStillServes();
});

test("an unsupported version of a known API closes the connection", async () => {
  const result = await rawExchange(frame(header(ApiKey.Metadata, 99, 1)));
  expect(result.closedByBroker).toBe(true);
  await brokerStillServes();
});

test("ApiVersions at a version newer than supported is answered in v0 with UNSUPPORTED_VERSION and the supported ranges", async () => {
  const result = await rawExchange(frame(header(ApiKey.ApiVersions, 42, 77)), 500);
  expect(result.closedByBroker).toBe(false);
  const view = new DataView(result.received.buffer, result.received.byteOffset, result.received.byteLength);
  expect(view.getInt32(0)).toBe(result.received.byteLength - 4);
  expect(view.getInt32(4)).toBe(77); // correlation id, response header v0
  expect(view.getInt16(8)).toBe(ErrorCode.UNSUPPORTED_VERSION);
  const apiCount = view.getInt32(10);
  expect(apiCount).toBeGreaterThan(5);
  const keys = Array.from({ length: apiCount }, (_, i) => view.getInt16(14 + i * 6));
  expect(keys).toContain(ApiKey.Produce);
  expect(keys).toContain(ApiKey.Fetch);
});

test("garbage bytes inside a well-sized frame close the connection", async () => {
  let seed = 12345;
  const random = () => ((seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) >>> 16) & 0xff;
  for (let round = 0; round < 20; round++) {
    const payload = Uint8Array.from({ length: 64 }, random);
    payload[0] = 0; // a known API key (0-63) so that the body decoder, not the key lookup, meets the garbage
    payload[1] = random() % 64;
    payload[2] = 0;
    payload[3] = random() % 4;
    const result = await rawExchange(frame(payload), 400);
    // Either closed (undecodable) or answered; never a crash.
    expect(result.closedByBroker || result.received.byteLength >= 0).toBe(true);
  }
  await brokerStillServes();
});

test("a truncated request body closes the connection", async () => {
  const body = new Uint8Array([0, 0, 0, 1]); // Metadata v1: topic array of 1 element, then nothing
  const result = await rawExchange(frame(Buffer.concat([header(ApiKey.Metadata, 1, 3), body])));
  expect(result.closedByBroker).toBe(true);
  await brokerStillServes();
});

test("corrupt batches are refused with CORRUPT_MESSAGE and acknowledged records stay intact", async () => {
  const connection = await connect();
  const good = await produce(connection, 0, batchOf(["a", "b", "c"]));
  expect(good.errorCode).toBe(ErrorCode.NONE);
  expect(good.baseOffset).toBe(0);

  const badCrc = batchOf(["evil"]);
  badCrc[badCrc.byteLength - 1]! ^= 0xff;
  expect((await produce(connection, 0, badCrc)).errorCode).toBe(ErrorCode.CORRUPT_MESSAGE);

  const badLength = batchOf(["evil"]);
  new DataView(badLength.buffer).setInt32(8, 1_000_000);
  expect((await produce(connection, 0, badLength)).errorCode).toBe(ErrorCode.CORRUPT_MESSAGE);

  const truncated = batchOf(["evil"]).subarray(0, 40);
  expect((await produce(connection, 0, truncated)).errorCode).toBe(ErrorCode.CORRUPT_MESSAGE);

  const oldMagic = batchOf(["evil"]);
  oldMagic[16] = 1;
  expect([ErrorCode.CORRUPT_MESSAGE, ErrorCode.UNSUPPORTED_FOR_MESSAGE_FORMAT, ErrorCode.INVALID_RECORD]).toContain((await produce(connection, 0, oldMagic)).errorCode);

  const next = await produce(connection, 0, batchOf(["d"]));
  expect(next.errorCode).toBe(ErrorCode.NONE);
  expect(next.baseOffset).toBe(3);

  const fetched = await connection.request(ApiKey.Fetch, 11, {
    replicaId: -1,
    maxWaitMs: 0,
    minBytes: 0,
    maxBytes: 1 << 20,
    topics: [{ topic: TOPIC, partitions: [{ partition: 0, fetchOffset: 0, partitionMaxBytes: 1 << 20 }] }],
  });
  const partition = fetched.responses[0].partitions[0];
  expect(partition.errorCode).toBe(ErrorCode.NONE);
  expect(partition.highWatermark).toBe(4);
  const { readBatchRecords } = await import("../../src/records/compression.ts");
  const records = partition.records as Uint8Array;
  const values: string[] = [];
  let position = 0;
  while (position < records.byteLength) {
    const size = new DataView(records.buffer, records.byteOffset + position).getInt32(8) + 12;
    for (const record of await readBatchRecords(records.subarray(position, position + size))) values.push(new TextDecoder().decode(record.value!));
    position += size;
  }
  expect(values).toEqual(["a", "b", "c", "d"]);
  connection.close();
});

test("produce to a partition or topic that does not exist gets UNKNOWN_TOPIC_OR_PARTITION", async () => {
  const connection = await connect();
  expect((await produce(connection, 7, batchOf(["x"]))).errorCode).toBe(ErrorCode.UNKNOWN_TOPIC_OR_PARTITION);
  expect((await produce(connection, 0, batchOf(["x"]), "no-such-topic")).errorCode).toBe(ErrorCode.UNKNOWN_TOPIC_OR_PARTITION);
  connection.close();
});

test("invalid acks gets INVALID_REQUIRED_ACKS", async () => {
  const connection = await connect();
  const response = await connection.request(ApiKey.Produce, 7, { acks: 2, timeoutMs: 5000, topicData: [{ name: TOPIC, partitionData: [{ index: 0, records: batchOf(["x"]) }] }] });
  expect(response.responses[0].partitionResponses[0].errorCode).toBe(ErrorCode.INVALID_REQUIRED_ACKS);
  connection.close();
});
