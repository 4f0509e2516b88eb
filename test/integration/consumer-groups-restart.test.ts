// Committed offsets are durable: they live in __consumer_offsets and are replayed when the broker starts.
// A consumer commits mid-log offsets, the broker process is SIGKILLed and restarted, and a new consumer in
// the group starts exactly at the committed offsets (fromBeginning would start at 0 had they been lost).
// Then a consumer that is still a member while the broker dies carries on after the restart without skipping.
import { afterAll, beforeAll, expect, test } from "bun:test";
import type { Producer } from "kafkajs";
import { BrokerProcess } from "../helpers/broker-process.ts";
import { missingRecords, startTrackedConsumer, stopTrackedConsumer, type TrackedConsumer } from "../helpers/groups.ts";
import { createTopic, kafkaClient } from "../helpers/kafkajs.ts";
import { eventually } from "../group/helpers.ts";

const TOPIC = "payments";
const PARTITIONS = 3;
const COMMITTED = [40, 55, 70];

let broker: BrokerProcess;
let producer: Producer;
const running: TrackedConsumer[] = [];

beforeAll(async () => {
  broker = new BrokerProcess({ properties: { "group.initial.rebalance.delay.ms": "0", "offsets.topic.num.partitions": "10" } });
  await broker.start();
  await createTopic(broker.bootstrap, TOPIC, PARTITIONS);
  producer = kafkaClient(broker.bootstrap, "restart-producer").producer();
  await producer.connect();
});

afterAll(async () => {
  for (const tracked of running) await stopTrackedConsumer(tracked).catch(() => undefined);
  await producer?.disconnect().catch(() => undefined);
  await broker.cleanup();
});

async function produce(perPartition: number): Promise<void> {
  const messages = [];
  for (let partition = 0; partition < PARTITIONS; partition++) for (let i = 0; i < perPartition; i++) messages.push({ partition, value: `p${partition}-${i}` });
  await producer.send({ topic: TOPIC, acks: -1, messages });
}

async function restartAfterSigkill(): Promise<void> {
  await producer.disconnect();
  await broker.kill();
  await broker.start();
  producer = kafkaClient(broker.bootstrap, "restart-producer").producer();
  await producer.connect();
}

test("a consumer commits, the broker is SIGKILLed and restarted, and a new consumer in the group resumes exactly after the last committed offset", async () => {
  await produce(100);
  const kafka = kafkaClient(broker.bootstrap, "committer");
  const consumer = kafka.consumer({ groupId: "resume", sessionTimeout: 10_000, heartbeatInterval: 500, maxWaitTimeInMs: 250 });
  await consumer.connect();
  await consumer.subscribe({ topic: TOPIC, fromBeginning: true });
  let read = 0;
  await consumer.run({ autoCommit: false, eachMessage: async () => void read++ });
  expect(await eventually(() => read === 300, 60_000)).toBe(true);
  // Commit mid-log positions (the offset of the next record to read, as Kafka defines it).
  await consumer.commitOffsets(COMMITTED.map((offset, partition) => ({ topic: TOPIC, partition, offset: String(offset) })));
  await consumer.disconnect();

  await restartAfterSigkill();
  expect(broker.output).toContain("not shut down cleanly");
  const admin = kafkaClient(broker.bootstrap, "checker").admin();
  await admin.connect();
  const fetched = await admin.fetchOffsets({ groupId: "resume", topics: [TOPIC] });
  await admin.disconnect();
  expect(fetched[0]!.partitions.sort((a, b) => a.partition - b.partition).map((p) => Number(p.offset))).toEqual(COMMITTED);

  await produce(10);
  const resumed = await startTrackedConsumer(kafkaClient(broker.bootstrap, "resumer"), "resumer", "resume", TOPIC);
  running.push(resumed);
  expect(await eventually(() => resumed.records.length >= 300 - COMMITTED.reduce((a, b) => a + b, 0) + 30, 60_000)).toBe(true);
  for (let partition = 0; partition < PARTITIONS; partition++) {
    const offsets = resumed.records.filter((record) => record.partition === partition).map((record) => record.offset);
    expect(offsets[0]).toBe(COMMITTED[partition]!);
    expect(offsets).toEqual(Array.from({ length: 110 - COMMITTED[partition]! }, (_, i) => COMMITTED[partition]! + i));
  }
  await stopTrackedConsumer(resumed);
}, 180_000);

test("a consumer that is a member while the broker is SIGKILLed keeps consuming after the restart, and nothing is skipped", async () => {
  const logEnds = async () => {
    const admin = kafkaClient(broker.bootstrap, "checker").admin();
    await admin.connect();
    const offsets = await admin.fetchTopicOffsets(TOPIC);
    await admin.disconnect();
    return new Map(offsets.map((entry) => [entry.partition, Number(entry.high)]));
  };
  const before = await logEnds();
  const tracked = await startTrackedConsumer(kafkaClient(broker.bootstrap, "survivor"), "survivor", "survive", TOPIC, { sessionTimeoutMs: 8_000 });
  running.push(tracked);
  expect(await eventually(() => tracked.assigned.length === PARTITIONS && missingRecords(tracked.records, before).length === 0, 60_000)).toBe(true);
  // Let the group's commit of what was read so far land before the crash.
  await Bun.sleep(1000);
  await restartAfterSigkill();
  expect(broker.output).toMatch(/loaded \d+ group\(s\)/);
  await produce(20);
  const ends = await logEnds();
  expect(await eventually(() => missingRecords(tracked.records, ends).length === 0, 90_000)).toBe(true);
  const total = [...ends.values()].reduce((a, b) => a + b, 0);
  console.log(`survivor read ${tracked.records.length} records for ${total} (rebalances: ${tracked.joins})`);
  if (process.env.DEBUG_LOG) console.log(broker.output.split("\n").filter((line) => line.includes("survive")).join("\n"));
}, 180_000);
