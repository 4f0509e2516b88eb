// kafkajs against injected faults on a real broker: an idempotent producer retries through three injected
// NOT_LEADER_OR_FOLLOWER errors and every record lands exactly once; a 2 s Produce latency makes a producer
// with a 1 s request timeout time out, and once the fault is cleared the same send succeeds.
import { afterAll, beforeAll, expect, test } from "bun:test";
import { rmSync } from "node:fs";
import { Kafka, logLevel } from "kafkajs";
import { startBroker, type Broker } from "../../src/index.ts";
import { ErrorCode } from "../../src/protocol/errors.ts";
import { createTopic, readAll } from "../../src/testing/index.ts";
import { tempDir } from "../helpers/broker-process.ts";

let broker: Broker;
let dataDir: string;
let bootstrap: string;

beforeAll(async () => {
  dataDir = tempDir("faults-producer");
  broker = await startBroker({ port: 0, host: "127.0.0.1", dataDir, log: () => undefined, properties: { "faults.enable": "true" } });
  bootstrap = `127.0.0.1:${broker.port}`;
});

afterAll(async () => {
  await broker.stop();
  rmSync(dataDir, { recursive: true, force: true });
});

function client(requestTimeout: number, retries: number): Kafka {
  return new Kafka({ clientId: "faults-test", brokers: [bootstrap], logLevel: logLevel.NOTHING, requestTimeout, retry: { retries, initialRetryTime: 50, maxRetryTime: 500 } });
}

test("an idempotent kafkajs producer retries through 3 injected NOT_LEADER_OR_FOLLOWER and every record lands exactly once", async () => {
  await createTopic(bootstrap, "retry-through", { partitions: 1 });
  const producer = client(30_000, 8).producer({ idempotent: true, maxInFlightRequests: 1 });
  await producer.connect();
  try {
    const fault = await broker.faults.add({ type: "error", api: "Produce", errorCode: ErrorCode.NOT_LEADER_OR_FOLLOWER, count: 3, topic: "retry-through" });
    expect(fault.remaining).toBe(3);
    for (let send = 0; send < 5; send++) {
      await producer.send({ topic: "retry-through", acks: -1, messages: Array.from({ length: 20 }, (_, i) => ({ key: `k${send}-${i}`, value: `v${send * 20 + i}` })) });
    }
    // All three errors were taken by the producer's requests (the fault is gone once its count is used).
    expect(broker.faults.list()).toEqual([]);
  } finally {
    await producer.disconnect();
  }
  const values = (await readAll(bootstrap, "retry-through")).map((record) => new TextDecoder().decode(record.value!));
  expect(values).toHaveLength(100);
  expect(new Set(values).size).toBe(100);
  expect(values).toEqual(Array.from({ length: 100 }, (_, i) => `v${i}`));
});

test("a 2 s Produce latency times out a producer with a 1 s request timeout; cleared, the send succeeds", async () => {
  await createTopic(bootstrap, "slow-produce", { partitions: 1 });
  const producer = client(1000, 0).producer({ allowAutoTopicCreation: false });
  await producer.connect();
  try {
    const fault = await broker.faults.add({ type: "latency", api: "Produce", delayMs: 2000, durationMs: 60_000 });
    const failure = await producer.send({ topic: "slow-produce", acks: -1, messages: [{ value: "late" }] }).then(() => null, (error: Error) => error);
    expect(failure).not.toBeNull();
    const cause = (failure as Error & { originalError?: Error }).originalError ?? failure!;
    expect(`${cause.name} ${cause.message}`).toMatch(/KafkaJSRequestTimeoutError|Request .* timed out/);
    expect(broker.faults.list().map((armed) => armed.id)).toEqual([fault.id]);
    expect(broker.faults.clear()).toBe(1);
    await producer.send({ topic: "slow-produce", acks: -1, messages: [{ value: "on time" }] });
  } finally {
    await producer.disconnect();
  }
  // The delayed produce was executed (only its answer was late), so the log holds both, in order.
  const values = (await readAll(bootstrap, "slow-produce")).map((record) => new TextDecoder().decode(record.value!));
  expect(values).toEqual(["late", "on time"]);
});
