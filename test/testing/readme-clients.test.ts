// The README's "Bunka in your tests" client examples, as written there, against a broker whose address is
// published the way startSharedBroker() does (BUNKA_BOOTSTRAP_SERVERS): kafkajs and @platformatic/kafka.
import { afterAll, beforeAll, expect, test } from "bun:test";
import { Consumer, Producer, stringDeserializers, stringSerializers } from "@platformatic/kafka";
import { Kafka, logLevel } from "kafkajs";
import { BOOTSTRAP_ENV, bootstrapServers, uniqueNames } from "../../node/index.js";
import { startBroker, type Broker } from "../../src/index.ts";

let broker: Broker;

beforeAll(async () => {
  broker = await startBroker({ port: 0, dev: true, log: () => undefined, properties: { "group.initial.rebalance.delay.ms": "0" } });
  process.env[BOOTSTRAP_ENV] = `127.0.0.1:${broker.port}`;
});

afterAll(async () => {
  delete process.env[BOOTSTRAP_ENV];
  await broker.stop();
});

test("kafkajs: produce to an auto-created unique topic and consume it with a unique group", async () => {
  const { topic, group } = uniqueNames("payments");
  expect(topic()).not.toBe(uniqueNames("payments").topic());
  const kafka = new Kafka({ clientId: "test", brokers: bootstrapServers().split(","), logLevel: logLevel.NOTHING });
  const producer = kafka.producer();
  await producer.connect();
  await producer.send({ topic: topic(), messages: [{ key: "k", value: "v" }] });
  await producer.disconnect();
  const consumer = kafka.consumer({ groupId: group() });
  await consumer.connect();
  try {
    await consumer.subscribe({ topic: topic(), fromBeginning: true });
    const value = await new Promise<string>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error("nothing consumed in 30 s")), 30_000);
      consumer.run({ eachMessage: async ({ message }) => (clearTimeout(timer), resolve(message.value!.toString())) }).catch(reject);
    });
    expect(value).toBe("v");
  } finally {
    await consumer.disconnect();
  }
});

test("@platformatic/kafka: the same with its Producer and Consumer stream", async () => {
  const { topic, group } = uniqueNames("payments");
  const producer = new Producer({ clientId: "test", bootstrapBrokers: bootstrapServers().split(","), serializers: stringSerializers, autocreateTopics: true });
  await producer.send({ messages: [{ topic: topic(), key: "k", value: "v" }] });
  await producer.close();
  const consumer = new Consumer({ groupId: group(), clientId: "test", bootstrapBrokers: bootstrapServers().split(","), deserializers: stringDeserializers });
  const stream = await consumer.consume({ topics: [topic()], mode: "earliest" });
  const values: string[] = [];
  const timer = setTimeout(() => void stream.close(), 30_000);
  for await (const message of stream) {
    values.push(message.value);
    break;
  }
  clearTimeout(timer);
  await stream.close();
  await consumer.close();
  expect(values).toEqual(["v"]);
});
