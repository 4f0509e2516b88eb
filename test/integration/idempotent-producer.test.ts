// Idempotent producers against a real broker process: a retried batch is stored once and answered with
// the original offset, sequence gaps and stale epochs are refused with Kafka's error codes, the state
// survives a SIGKILL, and kafkajs with `idempotent: true` reads back every message exactly once, also
// when the broker is killed and restarted under it.
import { afterAll, beforeAll, expect, test } from "bun:test";
import { rmSync } from "node:fs";
import type { Producer } from "kafkajs";
import { KafkaConnection } from "../../src/client/kafka-connection.ts";
import { ErrorCode } from "../../src/protocol/errors.ts";
import { ApiKey } from "../../src/protocol/generated/index.ts";
import { dataViewOf } from "../../src/records/batch.ts";
import { buildBatch, readBatchRecords } from "../../src/records/compression.ts";
import { BrokerProcess, freePort } from "../helpers/broker-process.ts";
import { kafkaClient } from "../helpers/kafkajs.ts";
import { ResponseDroppingProxy } from "../helpers/response-dropping-proxy.ts";

const TOPIC = "idempotent";
const PARTITIONS = 4;
/** Partitions used by the scenarios, one each so their offsets do not interfere. */
const RAW_PARTITION = 0;
const RESTART_PARTITION = 1;
const KAFKAJS_TOPIC = "idempotent-kafkajs";
const KAFKAJS_PARTITIONS = 3;
const KAFKAJS_MESSAGES = 3_000;
const READ_ROUNDS_MAX = 10_000;

let broker: BrokerProcess;
/** kafkajs talks through it (the broker advertises it), so a test can make produce replies go missing. */
let proxy: ResponseDroppingProxy;
let connection: KafkaConnection;

async function connect(): Promise<KafkaConnection> {
  return KafkaConnection.connect({ host: "127.0.0.1", port: broker.port });
}

async function createTopic(name: string, numPartitions: number): Promise<void> {
  const created = await connection.request(ApiKey.CreateTopics, 7, { topics: [{ name, numPartitions, replicationFactor: 1 }], timeoutMs: 5000 });
  expect(created.topics[0].errorCode).toBe(ErrorCode.NONE);
}

beforeAll(async () => {
  const proxyPort = freePort();
  broker = new BrokerProcess({ properties: { "log.segment.bytes": "65536", "advertised.listeners": `PLAINTEXT://127.0.0.1:${proxyPort}` } });
  proxy = new ResponseDroppingProxy(proxyPort, broker.port);
  await broker.start();
  connection = await connect();
  await createTopic(TOPIC, PARTITIONS);
  await createTopic(KAFKAJS_TOPIC, KAFKAJS_PARTITIONS);
});

afterAll(async () => {
  connection?.close();
  proxy?.stop();
  await broker.cleanup();
  // BrokerProcess writes its --config file beside the data dir and leaves it there.
  rmSync(`${broker.dataDir}.properties`, { force: true });
});

async function initProducerId(): Promise<{ producerId: number; producerEpoch: number }> {
  const response = await connection.request(ApiKey.InitProducerId, 1, { transactionalId: null, transactionTimeoutMs: 60_000 });
  expect(response.errorCode).toBe(ErrorCode.NONE);
  return { producerId: Number(response.producerId), producerEpoch: response.producerEpoch };
}

function idempotentBatch(producerId: number, producerEpoch: number, baseSequence: number, values: string[]): Uint8Array {
  return buildBatch({ producerId, producerEpoch, baseSequence, records: values.map((value) => ({ value })) });
}

async function produce(partition: number, records: Uint8Array): Promise<{ errorCode: number; baseOffset: number }> {
  const response = await connection.request(ApiKey.Produce, 7, { acks: -1, timeoutMs: 5000, topicData: [{ name: TOPIC, partitionData: [{ index: partition, records }] }] });
  const reply = response.responses[0].partitionResponses[0];
  return { errorCode: reply.errorCode, baseOffset: Number(reply.baseOffset) };
}

/** Every record of a partition from offset 0, by raw fetches (each bounded; at most READ_ROUNDS_MAX). */
async function readPartition(topic: string, partition: number): Promise<{ offset: number; value: string }[]> {
  const out: { offset: number; value: string }[] = [];
  let offset = 0;
  for (let round = 0; round < READ_ROUNDS_MAX; round++) {
    const response = await connection.request(ApiKey.Fetch, 11, {
      replicaId: -1,
      maxWaitMs: 0,
      minBytes: 0,
      maxBytes: 1 << 20,
      isolationLevel: 0,
      topics: [{ topic, partitions: [{ partition, fetchOffset: offset, partitionMaxBytes: 1 << 20 }] }],
    });
    const data = response.responses[0].partitions[0];
    expect(data.errorCode).toBe(ErrorCode.NONE);
    const records: Uint8Array = data.records ?? new Uint8Array(0);
    if (records.byteLength === 0) break;
    const view = dataViewOf(records);
    let position = 0;
    for (let batches = 0; batches < 100_000 && position + 61 <= records.byteLength; batches++) {
      const sizeBytes = view.getInt32(position + 8) + 12;
      if (position + sizeBytes > records.byteLength) break;
      for (const record of await readBatchRecords(records.subarray(position, position + sizeBytes))) {
        if (record.offset >= offset) out.push({ offset: record.offset, value: new TextDecoder().decode(record.value!) });
      }
      position += sizeBytes;
    }
    const next = out.length > 0 ? out[out.length - 1]!.offset + 1 : offset;
    if (next === offset) break;
    offset = next;
  }
  return out;
}

test("the same idempotent batch sent twice is stored once, and both replies carry the same offset", async () => {
  const { producerId, producerEpoch } = await initProducerId();
  const first = await produce(RAW_PARTITION, idempotentBatch(producerId, producerEpoch, 0, ["a0", "a1", "a2"]));
  expect(first).toMatchObject({ errorCode: ErrorCode.NONE, baseOffset: 0 });
  const second = await produce(RAW_PARTITION, idempotentBatch(producerId, producerEpoch, 3, ["b0"]));
  expect(second).toMatchObject({ errorCode: ErrorCode.NONE, baseOffset: 3 });

  const retry = await produce(RAW_PARTITION, idempotentBatch(producerId, producerEpoch, 0, ["a0", "a1", "a2"]));
  expect(retry).toMatchObject({ errorCode: ErrorCode.NONE, baseOffset: 0 });
  const retrySecond = await produce(RAW_PARTITION, idempotentBatch(producerId, producerEpoch, 3, ["b0"]));
  expect(retrySecond).toMatchObject({ errorCode: ErrorCode.NONE, baseOffset: 3 });

  expect((await readPartition(TOPIC, RAW_PARTITION)).map((record) => record.value)).toEqual(["a0", "a1", "a2", "b0"]);
  const next = await produce(RAW_PARTITION, idempotentBatch(producerId, producerEpoch, 4, ["c0"]));
  expect(next).toMatchObject({ errorCode: ErrorCode.NONE, baseOffset: 4 });
});

test("a sequence gap is OUT_OF_ORDER_SEQUENCE_NUMBER (45) and stores nothing", async () => {
  const { producerId, producerEpoch } = await initProducerId();
  const first = await produce(RAW_PARTITION, idempotentBatch(producerId, producerEpoch, 0, ["gap-0"]));
  expect(first.errorCode).toBe(ErrorCode.NONE);
  const gap = await produce(RAW_PARTITION, idempotentBatch(producerId, producerEpoch, 5, ["gap-5"]));
  expect(gap.errorCode).toBe(ErrorCode.OUT_OF_ORDER_SEQUENCE_NUMBER);
  const values = (await readPartition(TOPIC, RAW_PARTITION)).map((record) => record.value);
  expect(values).toContain("gap-0");
  expect(values).not.toContain("gap-5");
});

test("a stale producer epoch is INVALID_PRODUCER_EPOCH (47)", async () => {
  const { producerId } = await initProducerId();
  expect((await produce(RAW_PARTITION, idempotentBatch(producerId, 0, 0, ["epoch0"]))).errorCode).toBe(ErrorCode.NONE);
  // A newer epoch must start at sequence 0; then the old epoch is fenced.
  expect((await produce(RAW_PARTITION, idempotentBatch(producerId, 1, 1, ["epoch1-bad"]))).errorCode).toBe(ErrorCode.OUT_OF_ORDER_SEQUENCE_NUMBER);
  expect((await produce(RAW_PARTITION, idempotentBatch(producerId, 1, 0, ["epoch1"]))).errorCode).toBe(ErrorCode.NONE);
  expect((await produce(RAW_PARTITION, idempotentBatch(producerId, 0, 1, ["epoch0-late"]))).errorCode).toBe(ErrorCode.INVALID_PRODUCER_EPOCH);
  const values = (await readPartition(TOPIC, RAW_PARTITION)).map((record) => record.value);
  expect(values.filter((value) => value.startsWith("epoch"))).toEqual(["epoch0", "epoch1"]);
});

test("after SIGKILL and restart, a retry of the last batch is still recognised", async () => {
  const { producerId, producerEpoch } = await initProducerId();
  const BATCHES = 300;
  const RECORDS_PER_BATCH = 5;
  let lastBaseOffset = -1;
  // Enough data for several 64 KiB segments: the state comes back from a roll snapshot plus the replay.
  for (let index = 0; index < BATCHES; index++) {
    const values = Array.from({ length: RECORDS_PER_BATCH }, (_, record) => `r${index}-${record}-${"x".repeat(40)}`);
    const reply = await produce(RESTART_PARTITION, idempotentBatch(producerId, producerEpoch, index * RECORDS_PER_BATCH, values));
    expect(reply.errorCode).toBe(ErrorCode.NONE);
    lastBaseOffset = reply.baseOffset;
  }
  connection.close();
  await broker.kill();
  await broker.start();
  connection = await connect();

  const lastIndex = BATCHES - 1;
  const lastValues = Array.from({ length: RECORDS_PER_BATCH }, (_, record) => `r${lastIndex}-${record}-${"x".repeat(40)}`);
  const retry = await produce(RESTART_PARTITION, idempotentBatch(producerId, producerEpoch, lastIndex * RECORDS_PER_BATCH, lastValues));
  expect(retry).toMatchObject({ errorCode: ErrorCode.NONE, baseOffset: lastBaseOffset });
  const records = await readPartition(TOPIC, RESTART_PARTITION);
  expect(records.length).toBe(BATCHES * RECORDS_PER_BATCH);
  const next = await produce(RESTART_PARTITION, idempotentBatch(producerId, producerEpoch, BATCHES * RECORDS_PER_BATCH, ["after"]));
  expect(next).toMatchObject({ errorCode: ErrorCode.NONE, baseOffset: BATCHES * RECORDS_PER_BATCH });
}, 120_000);

/** Reads the kafkajs topic back and checks that every sent value is there exactly once, offsets dense. */
async function expectExactlyOnce(sent: readonly string[]): Promise<void> {
  const counts = new Map<string, number>();
  for (let partition = 0; partition < KAFKAJS_PARTITIONS; partition++) {
    const records = await readPartition(KAFKAJS_TOPIC, partition);
    records.forEach((record, index) => expect(record.offset).toBe(index));
    for (const record of records) counts.set(record.value, (counts.get(record.value) ?? 0) + 1);
  }
  expect([...counts].filter(([, count]) => count > 1)).toEqual([]);
  expect(counts.size).toBe(sent.length);
  for (const value of sent) expect(counts.get(value)).toBe(1);
}

const kafkajsSent: string[] = [];
const PER_SEND = 30;

async function sendRound(producer: Producer, round: number): Promise<void> {
  const messages = Array.from({ length: PER_SEND }, (_, index) => ({ value: `m-${round}-${index}`, partition: (round + index) % KAFKAJS_PARTITIONS }));
  await producer.send({ topic: KAFKAJS_TOPIC, acks: -1, messages });
  for (const message of messages) kafkajsSent.push(message.value);
}

test(`kafkajs 2.2.4 with idempotent: true sends ${KAFKAJS_MESSAGES} messages, some of whose replies are lost: each is stored exactly once`, async () => {
  const producer = kafkaClient(proxy.bootstrap, "idempotent-kafkajs").producer({ idempotent: true, maxInFlightRequests: 1, allowAutoTopicCreation: false });
  await producer.connect();
  const rounds = KAFKAJS_MESSAGES / PER_SEND;
  for (let round = 0; round < rounds; round++) {
    // Every tenth round the broker appends but the reply never arrives: kafkajs retries the same sequences.
    if (round % 10 === 5) proxy.dropProduceResponses = 1;
    await sendRound(producer, round);
  }
  await producer.disconnect();
  expect(proxy.droppedResponses).toBe(rounds / 10);
  await expectExactlyOnce(kafkajsSent);
}, 120_000);

test("kafkajs with idempotent: true keeps exactly once across a broker SIGKILL with a send in flight", async () => {
  const producer = kafkaClient(proxy.bootstrap, "idempotent-kafkajs-kill").producer({ idempotent: true, maxInFlightRequests: 1, allowAutoTopicCreation: false });
  await producer.connect();
  const firstRound = 1000;
  for (let round = firstRound; round < firstRound + 10; round++) await sendRound(producer, round);
  connection.close();
  const inFlight = sendRound(producer, firstRound + 10);
  await Bun.sleep(1);
  await broker.kill();
  await broker.start();
  await inFlight;
  for (let round = firstRound + 11; round < firstRound + 20; round++) await sendRound(producer, round);
  await producer.disconnect();
  connection = await connect();
  await expectExactlyOnce(kafkajsSent);
}, 120_000);
