// Real clients against one broker: kafkajs (admin create, acks=-1 produce with LZ4, offsets) and
// @platformatic/kafka (flexible versions only: produce, list topics); kcat reads back what both wrote.
import { afterAll, beforeAll, expect, test } from "bun:test";
import { Admin as PlatformaticAdmin, Producer as PlatformaticProducer, stringSerializers } from "@platformatic/kafka";
import { BrokerProcess } from "../helpers/broker-process.ts";
import { CompressionTypes, kafkaClient } from "../helpers/kafkajs.ts";
import { kcatConsumeAll } from "../helpers/kcat.ts";

let broker: BrokerProcess;

beforeAll(async () => {
  broker = new BrokerProcess();
  await broker.start();
});

afterAll(async () => {
  await broker.cleanup();
});

const KAFKAJS_TOPIC = "kafkajs-topic";
const PLATFORMATIC_TOPIC = "platformatic-topic";
const KAFKAJS_MESSAGES = 3000;
const PLATFORMATIC_MESSAGES = 500;

test("kafkajs: admin creates a topic, produces with acks=-1 and LZ4, reads the topic's offsets", async () => {
  const kafka = kafkaClient(broker.bootstrap, "kafkajs-test");
  const admin = kafka.admin();
  await admin.connect();
  try {
    expect(await admin.createTopics({ topics: [{ topic: KAFKAJS_TOPIC, numPartitions: 4 }], waitForLeaders: true })).toBe(true);
    expect(await admin.listTopics()).toContain(KAFKAJS_TOPIC);
    const described = await admin.fetchTopicMetadata({ topics: [KAFKAJS_TOPIC] });
    expect(described.topics[0]!.partitions.length).toBe(4);

    const producer = kafka.producer({ allowAutoTopicCreation: false });
    await producer.connect();
    const perPartition = new Map<number, number>();
    for (let batch = 0; batch < 30; batch++) {
      const messages = Array.from({ length: KAFKAJS_MESSAGES / 30 }, (_, i) => {
        const n = batch * (KAFKAJS_MESSAGES / 30) + i;
        return { key: `k${n}`, value: `kafkajs-${n}`, partition: n % 4, headers: { origin: "kafkajs", n: String(n) } };
      });
      const results = await producer.send({ topic: KAFKAJS_TOPIC, acks: -1, compression: batch % 2 === 0 ? CompressionTypes.LZ4 : CompressionTypes.None, messages });
      for (const result of results) {
        expect(result.errorCode).toBe(0);
        perPartition.set(result.partition, (perPartition.get(result.partition) ?? 0) + 1);
      }
    }
    await producer.disconnect();

    const offsets = await admin.fetchTopicOffsets(KAFKAJS_TOPIC);
    expect(offsets.length).toBe(4);
    for (const partition of offsets) {
      expect(Number(partition.low)).toBe(0);
      expect(Number(partition.high)).toBe(KAFKAJS_MESSAGES / 4);
      expect(Number(partition.offset)).toBe(KAFKAJS_MESSAGES / 4);
    }
    // By timestamp: a time before everything gives offset 0 on every partition.
    const byTime = await admin.fetchTopicOffsetsByTimestamp(KAFKAJS_TOPIC, 0);
    for (const partition of byTime) expect(Number(partition.offset)).toBe(0);
  } finally {
    await admin.disconnect();
  }
});

test("@platformatic/kafka (flexible versions only): creates, lists topics and produces", async () => {
  const admin = new PlatformaticAdmin({ clientId: "platformatic-admin", bootstrapBrokers: [broker.bootstrap] });
  try {
    await admin.createTopics({ topics: [PLATFORMATIC_TOPIC], partitions: 2, replicas: 1 });
    const topics = await admin.listTopics();
    expect(topics).toContain(PLATFORMATIC_TOPIC);
    expect(topics).toContain(KAFKAJS_TOPIC);
  } finally {
    await admin.close();
  }
  const producer = new PlatformaticProducer({ clientId: "platformatic-producer", bootstrapBrokers: [broker.bootstrap], serializers: stringSerializers, acks: -1 });
  try {
    for (let batch = 0; batch < 5; batch++) {
      await producer.send({
        messages: Array.from({ length: PLATFORMATIC_MESSAGES / 5 }, (_, i) => {
          const n = batch * (PLATFORMATIC_MESSAGES / 5) + i;
          return { topic: PLATFORMATIC_TOPIC, key: `p${n}`, value: `platformatic-${n}`, partition: n % 2, headers: new Map([["origin", "platformatic"]]) };
        }),
      });
    }
  } finally {
    await producer.close();
  }
});

test("kcat reads back everything kafkajs and platformatic wrote", async () => {
  const fromKafkajs = await kcatConsumeAll(broker.bootstrap, KAFKAJS_TOPIC, "%p\t%o\t%k\t%s\t%h\n");
  expect(fromKafkajs.length).toBe(KAFKAJS_MESSAGES);
  const values = new Set<string>();
  for (const line of fromKafkajs) {
    const [partition, , key, value, headers] = line.split("\t");
    const n = Number(value!.slice("kafkajs-".length));
    expect(key).toBe(`k${n}`);
    expect(Number(partition)).toBe(n % 4);
    expect(headers).toBe(`origin=kafkajs,n=${n}`);
    values.add(value!);
  }
  expect(values.size).toBe(KAFKAJS_MESSAGES);

  const fromPlatformatic = await kcatConsumeAll(broker.bootstrap, PLATFORMATIC_TOPIC, "%p\t%k\t%s\t%h\n");
  expect(fromPlatformatic.length).toBe(PLATFORMATIC_MESSAGES);
  const seen = new Set<string>();
  for (const line of fromPlatformatic) {
    const [partition, key, value, headers] = line.split("\t");
    const n = Number(value!.slice("platformatic-".length));
    expect(key).toBe(`p${n}`);
    expect(Number(partition)).toBe(n % 2);
    expect(headers).toBe("origin=platformatic");
    seen.add(value!);
  }
  expect(seen.size).toBe(PLATFORMATIC_MESSAGES);
});
