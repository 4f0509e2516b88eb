// Under Vitest on Node: the run's shared broker (vitest-global-setup.mjs), unique names per test, kafkajs
// producing and consuming.
import { expect, inject, test } from "vitest";
import kafkajs from "kafkajs";
import { bootstrapServers, uniqueNames } from "bunka/node";

const { Kafka, logLevel } = kafkajs;

test("the shared broker's address reaches the test worker both ways", () => {
  expect(inject("bootstrapServers")).toMatch(/^127\.0\.0\.1:\d+$/);
  expect(bootstrapServers()).toBe(inject("bootstrapServers"));
});

test("kafkajs produces to the shared broker and a consumer group reads it back", async () => {
  const names = uniqueNames("vitest");
  const kafka = new Kafka({ clientId: "vitest", brokers: [inject("bootstrapServers")], logLevel: logLevel.NOTHING });
  const admin = kafka.admin();
  await admin.connect();
  await admin.createTopics({ topics: [{ topic: names.topic(), numPartitions: 2 }], waitForLeaders: true });
  await admin.disconnect();
  const producer = kafka.producer();
  await producer.connect();
  const sent = Array.from({ length: 10 }, (_, i) => ({ key: `k${i % 2}`, value: `v${i}` }));
  await producer.send({ topic: names.topic(), acks: -1, messages: sent });
  await producer.disconnect();
  const consumer = kafka.consumer({ groupId: names.group(), heartbeatInterval: 500 });
  await consumer.connect();
  const received = [];
  try {
    await consumer.subscribe({ topic: names.topic(), fromBeginning: true });
    await new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`consumed ${received.length} of ${sent.length}`)), 30_000);
      consumer.run({
        eachMessage: async ({ message }) => {
          received.push(message.value.toString());
          if (received.length === sent.length) {
            clearTimeout(timer);
            resolve();
          }
        },
      }).catch(reject);
    });
  } finally {
    await consumer.disconnect();
  }
  expect(received.sort()).toEqual(sent.map((message) => message.value).sort());
});
