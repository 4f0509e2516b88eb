// A topic with compression.type=lz4: uncompressed batches from kcat and kafkajs are compressed by the
// broker (lz4-napi's async frame API, on the partition worker's threadpool, never on the socket thread),
// stored as LZ4, and consumed back identical by kcat and a kafkajs consumer group. A batch the producer
// already compressed with LZ4 is stored exactly as it came.
import { afterAll, beforeAll, expect, test } from "bun:test";
import { closeSync, openSync, readdirSync, readSync } from "node:fs";
import { join } from "node:path";
import { KafkaConnection } from "../../src/client/kafka-connection.ts";
import { ApiKey } from "../../src/protocol/generated/index.ts";
import { CompressionType } from "../../src/records/batch.ts";
import { buildBatch, compressBatchLz4 } from "../../src/records/compression.ts";
import { BrokerProcess } from "../helpers/broker-process.ts";
import { createTopic, kafkaClient } from "../helpers/kafkajs.ts";
import { kcat, kcatConsumeAll } from "../helpers/kcat.ts";

const TOPIC = "lz4-by-broker";
const PARTITIONS = 2;
const KCAT_MESSAGES = 20_000;
const KAFKAJS_MESSAGES = 2_000;
const CONSUME_TIMEOUT_MS = 60_000;
let broker: BrokerProcess;

beforeAll(async () => {
  broker = new BrokerProcess();
  await broker.start();
  await createTopic(broker.bootstrap, TOPIC, PARTITIONS, [{ name: "compression.type", value: "lz4" }]);
});

afterAll(async () => {
  await broker.cleanup();
});

interface StoredBatchHeader {
  codec: number;
  bytes: Uint8Array;
}

/** Batches stored in a partition (the .log is preallocated: read only what is there). */
function storedBatches(partition: number): StoredBatchHeader[] {
  const dir = join(broker.dataDir, `${TOPIC}-${partition}`);
  const batches: StoredBatchHeader[] = [];
  for (const file of readdirSync(dir).filter((name) => name.endsWith(".log")).sort()) {
    const fd = openSync(join(dir, file), "r");
    const bytes = new Uint8Array(32 * 1024 * 1024);
    const sizeBytes = readSync(fd, bytes, 0, bytes.byteLength, 0);
    closeSync(fd);
    const view = new DataView(bytes.buffer, 0, sizeBytes);
    let position = 0;
    for (let count = 0; count < 1_000_000 && position + 61 <= sizeBytes; count++) {
      const length = view.getInt32(position + 8);
      if (length <= 0 || position + 12 + length > sizeBytes) break;
      batches.push({ codec: view.getInt16(position + 21) & 7, bytes: bytes.subarray(position, position + 12 + length) });
      position += 12 + length;
    }
  }
  return batches;
}

const kcatLine = (i: number): string => `kcat-${i % 101}:kcat value ${i} ${"abc".repeat(i % 40)}`;
const kafkajsValue = (i: number): string => `kafkajs value ${i} ${"xyz".repeat(i % 30)}`;

test("uncompressed batches from kcat and kafkajs are stored LZ4-compressed by the broker", async () => {
  const lines = Array.from({ length: KCAT_MESSAGES }, (_, i) => kcatLine(i));
  const produced = await kcat(broker.bootstrap, ["-P", "-t", TOPIC, "-K:", "-z", "none", "-X", "linger.ms=10"], { input: lines.join("\n") + "\n", timeoutMs: 60_000 });
  expect(produced.exitCode).toBe(0);
  expect(produced.stderr).not.toContain("ERROR");

  const producer = kafkaClient(broker.bootstrap).producer();
  await producer.connect();
  try {
    for (let start = 0; start < KAFKAJS_MESSAGES; start += 500) {
      await producer.send({
        topic: TOPIC,
        acks: -1,
        messages: Array.from({ length: 500 }, (_, i) => ({ key: `kafkajs-${start + i}`, value: kafkajsValue(start + i), headers: { n: String(start + i) } })),
      });
    }
  } finally {
    await producer.disconnect();
  }

  for (let partition = 0; partition < PARTITIONS; partition++) {
    const batches = storedBatches(partition);
    expect(batches.length).toBeGreaterThan(0);
    expect(new Set(batches.map((batch) => batch.codec))).toEqual(new Set([CompressionType.LZ4]));
  }
});

test("kcat reads back every record of the broker-compressed topic, identical", async () => {
  const consumed = await kcatConsumeAll(broker.bootstrap, TOPIC, "%k:%s\n");
  expect(consumed.length).toBe(KCAT_MESSAGES + KAFKAJS_MESSAGES);
  const expected = new Set<string>();
  for (let i = 0; i < KCAT_MESSAGES; i++) expected.add(kcatLine(i));
  for (let i = 0; i < KAFKAJS_MESSAGES; i++) expected.add(`kafkajs-${i}:${kafkajsValue(i)}`);
  expect(new Set(consumed)).toEqual(expected);
});

test("a kafkajs consumer group reads back every record of the broker-compressed topic, identical", async () => {
  const consumer = kafkaClient(broker.bootstrap, "lz4-reader").consumer({ groupId: "lz4-readers", maxWaitTimeInMs: 200 });
  const seen = new Map<string, string>();
  let headersOk = 0;
  await consumer.connect();
  try {
    await consumer.subscribe({ topic: TOPIC, fromBeginning: true });
    let done!: () => void;
    const finished = new Promise<void>((resolve) => (done = resolve));
    await consumer.run({
      eachMessage: async ({ message }) => {
        const key = message.key!.toString();
        seen.set(key + "#" + seen.size, message.value!.toString());
        if (key.startsWith("kafkajs-") && message.headers?.n?.toString() === key.slice("kafkajs-".length)) headersOk++;
        if (seen.size >= KCAT_MESSAGES + KAFKAJS_MESSAGES) done();
      },
    });
    await Promise.race([finished, Bun.sleep(CONSUME_TIMEOUT_MS)]);
  } finally {
    await consumer.disconnect();
  }
  expect(seen.size).toBe(KCAT_MESSAGES + KAFKAJS_MESSAGES);
  const got = new Set<string>();
  for (const [keyed, value] of seen) got.add(`${keyed.slice(0, keyed.lastIndexOf("#"))}:${value}`);
  const expected = new Set<string>();
  for (let i = 0; i < KCAT_MESSAGES; i++) expected.add(kcatLine(i));
  for (let i = 0; i < KAFKAJS_MESSAGES; i++) expected.add(`kafkajs-${i}:${kafkajsValue(i)}`);
  expect(got).toEqual(expected);
  expect(headersOk).toBe(KAFKAJS_MESSAGES);
});

test("an LZ4 batch compressed by the producer is stored exactly as it came (only offsets and leader epoch set)", async () => {
  const records = Array.from({ length: 300 }, (_, i) => ({ key: new TextEncoder().encode(`pre-${i}`), value: new TextEncoder().encode(`precompressed ${i}`) }));
  const sent = await compressBatchLz4(buildBatch({ records }));
  const client = await KafkaConnection.connect({ host: "127.0.0.1", port: broker.port });
  let baseOffset: number;
  try {
    const response = await client.request(ApiKey.Produce, 7, {
      acks: 1,
      timeoutMs: 10_000,
      // Copy: the request is encoded from `sent`, which we compare against afterwards.
      topicData: [{ name: TOPIC, partitionData: [{ index: 0, records: sent.slice() }] }],
    });
    const partition = response.responses[0].partitionResponses[0];
    expect(partition.errorCode).toBe(0);
    baseOffset = Number(partition.baseOffset);
  } finally {
    client.close();
  }
  const stored = storedBatches(0).find((batch) => Number(new DataView(batch.bytes.buffer, batch.bytes.byteOffset).getBigInt64(0)) === baseOffset);
  expect(stored).toBeDefined();
  // From the magic byte on (CRC, attributes, timestamps, compressed records) nothing changed.
  expect(Buffer.compare(Buffer.from(stored!.bytes.subarray(16)), Buffer.from(sent.subarray(16)))).toBe(0);
  expect(stored!.bytes.byteLength).toBe(sent.byteLength);
});
