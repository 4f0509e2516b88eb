// @platformatic/kafka transactions against a real broker process: beginTransaction/send/commit and abort
// across two partitions, a consume-transform-produce transaction with addConsumer/addOffset (the group's
// offset moves only with the commit). Read back by @platformatic/kafka read_committed/read_uncommitted
// consumers and by kcat. @platformatic/kafka 1.x names producer id 0 and epoch 0 in its first InitProducerId
// (not -1/-1), which Kafka (and Bunka) accept only for a transactional id not yet known: a restarted app
// with the same id is refused PRODUCER_FENCED by Kafka too, so zombie fencing is tested with kafkajs
// (transactions-fencing.test.ts).
import { afterAll, beforeAll, expect, test } from "bun:test";
import { Admin, Consumer, Producer, stringDeserializers, stringSerializers } from "@platformatic/kafka";
import { KafkaClient } from "../../src/cli/kafka-client.ts";
import { KafkaConnection } from "../../src/client/kafka-connection.ts";
import { ErrorCode } from "../../src/protocol/errors.ts";
import { ApiKey } from "../../src/protocol/generated/index.ts";
import { describeTransaction } from "../../src/tools/transactions.ts";
import { BrokerProcess } from "../helpers/broker-process.ts";
import { kcatConsumeAll } from "../helpers/kcat.ts";

const TOPIC = "platformatic-txn";
const INPUT = "platformatic-txn-input";
const GROUP = "platformatic-txn-app";
const READ_COMMITTED = 1;
const READ_UNCOMMITTED = 0;
const CONSUME_STEPS_MAX = 200;
const CONSUME_STEP_MS = 50;

let broker: BrokerProcess;

beforeAll(async () => {
  broker = new BrokerProcess({
    properties: { "transaction.state.log.num.partitions": "4", "offsets.topic.num.partitions": "4", "group.initial.rebalance.delay.ms": "0" },
  });
  await broker.start();
  const admin = new Admin({ clientId: "platformatic-txn-admin", bootstrapBrokers: [broker.bootstrap] });
  try {
    await admin.createTopics({ topics: [TOPIC, INPUT], partitions: 2, replicas: 1 });
  } finally {
    await admin.close();
  }
}, 60_000);

afterAll(async () => {
  await broker?.cleanup();
});

/** Polls the transaction's state with the transactions tool's describe (bounded). */
async function waitForState(transactionalId: string, state: string): Promise<void> {
  const client = await KafkaClient.connect({ bootstrap: broker.bootstrap });
  let last = "";
  try {
    for (let step = 0; step < CONSUME_STEPS_MAX; step++) {
      last = (await describeTransaction(client, transactionalId)).state;
      if (last === state) return;
      await Bun.sleep(CONSUME_STEP_MS);
    }
  } finally {
    client.close();
  }
  throw new Error(`${transactionalId} stayed ${last}, never ${state}`);
}

function transactionalProducer(transactionalId: string): Producer<string, string, string, string> {
  return new Producer({ clientId: `${transactionalId}-client`, bootstrapBrokers: [broker.bootstrap], serializers: stringSerializers, transactionalId, idempotent: true, acks: -1, retries: 5 });
}

/** Every value a @platformatic/kafka consumer reads from `topics` from the beginning (`expected` of them, then a little longer). */
async function consumeValues(topic: string, isolationLevel: number, expected: number): Promise<string[]> {
  const consumer = new Consumer({
    clientId: "platformatic-txn-reader",
    groupId: `reader-${isolationLevel}-${Math.random().toString(36).slice(2)}`,
    bootstrapBrokers: [broker.bootstrap],
    deserializers: stringDeserializers,
    isolationLevel,
    sessionTimeout: 10_000,
    heartbeatInterval: 500,
    maxWaitTime: 200,
  });
  const received: string[] = [];
  try {
    const stream = await consumer.consume({ topics: [topic], mode: "earliest", autocommit: false } as never);
    stream.on("data", (message: { value: string }) => void received.push(message.value));
    for (let step = 0; step < CONSUME_STEPS_MAX && received.length < expected; step++) await Bun.sleep(CONSUME_STEP_MS);
    // Anything that should not be there (aborted records) arrives with the same fetches: a few more polls.
    await Bun.sleep(500);
    await stream.close();
  } finally {
    await consumer.close(true);
  }
  return received.sort();
}

test("InitProducerId naming producer id 0, epoch 0 (what @platformatic/kafka sends) is accepted for a new transactional id, and PRODUCER_FENCED for one another producer id holds, as Kafka's isValidProducerId", async () => {
  const connection = await KafkaConnection.connect({ host: "127.0.0.1", port: broker.port });
  try {
    const init = async () => {
      for (let attempt = 0; attempt < CONSUME_STEPS_MAX; attempt++) {
        const response = await connection.request(ApiKey.InitProducerId, 4, { transactionalId: "names-producer-zero", transactionTimeoutMs: 60_000, producerId: 0, producerEpoch: 0 });
        if (response.errorCode !== ErrorCode.COORDINATOR_LOAD_IN_PROGRESS && response.errorCode !== ErrorCode.COORDINATOR_NOT_AVAILABLE) return response;
        await Bun.sleep(CONSUME_STEP_MS);
      }
      throw new Error("the coordinator never loaded");
    };
    const first = await init();
    expect(first.errorCode).toBe(ErrorCode.NONE);
    expect(Number(first.producerId)).not.toBe(0);
    expect(first.producerEpoch).toBe(0);
    expect((await init()).errorCode).toBe(ErrorCode.PRODUCER_FENCED);
  } finally {
    connection.close();
  }
});

test("@platformatic/kafka: a committed transaction is read by read_committed, an aborted one only by read_uncommitted", async () => {
  const producer = transactionalProducer("platformatic-commit-abort");
  try {
    const committed = await producer.beginTransaction();
    await committed.send({ messages: [{ topic: TOPIC, value: "committed-0", partition: 0 }, { topic: TOPIC, value: "committed-1", partition: 1 }] });
    await committed.commit();

    const aborted = await producer.beginTransaction();
    await aborted.send({ messages: [{ topic: TOPIC, value: "aborted-0", partition: 0 }, { topic: TOPIC, value: "aborted-1", partition: 1 }] });
    await aborted.abort();

    const after = await producer.beginTransaction();
    await after.send({ messages: [{ topic: TOPIC, value: "committed-2", partition: 0 }] });
    await after.commit();
  } finally {
    await producer.close();
  }
  expect(await consumeValues(TOPIC, READ_COMMITTED, 3)).toEqual(["committed-0", "committed-1", "committed-2"]);
  expect(await consumeValues(TOPIC, READ_UNCOMMITTED, 5)).toEqual(["aborted-0", "aborted-1", "committed-0", "committed-1", "committed-2"]);
  expect((await kcatConsumeAll(broker.bootstrap, TOPIC, "%s\n", ["-X", "isolation.level=read_committed"])).sort()).toEqual(["committed-0", "committed-1", "committed-2"]);
}, 120_000);

test("@platformatic/kafka consume-transform-produce: addConsumer/addOffset move the group's offset on commit only", async () => {
  const plain = new Producer({ clientId: "platformatic-input", bootstrapBrokers: [broker.bootstrap], serializers: stringSerializers, acks: -1 });
  try {
    await plain.send({ messages: ["a", "b", "c"].map((value) => ({ topic: INPUT, value, partition: 0 })) });
  } finally {
    await plain.close();
  }
  const app = new Consumer({ clientId: "platformatic-app", groupId: GROUP, bootstrapBrokers: [broker.bootstrap], deserializers: stringDeserializers, sessionTimeout: 10_000, heartbeatInterval: 500, maxWaitTime: 200 });
  const producer = transactionalProducer("platformatic-app-txn");
  const messages: { value: string; offset: bigint }[] = [];
  try {
    const stream = await app.consume({ topics: [INPUT], mode: "earliest", autocommit: false } as never);
    stream.on("data", (message: { value: string; offset: bigint }) => void messages.push(message));
    for (let step = 0; step < CONSUME_STEPS_MAX && messages.length < 3; step++) await Bun.sleep(CONSUME_STEP_MS);
    expect(messages.map((m) => m.value)).toEqual(["a", "b", "c"]);

    // "a" in a transaction that aborts: its output and its offset are discarded.
    const aborted = await producer.beginTransaction();
    await aborted.send({ messages: [{ topic: TOPIC, value: "APP-A-ABORTED", partition: 1 }] });
    await aborted.addConsumer(app as never);
    await aborted.addOffset(messages[0] as never);
    await aborted.abort();
    // EndTxn answers before the markers are written (as Kafka): wait until the coordinator completed the abort.
    await waitForState("platformatic-app-txn", "CompleteAbort");
    const afterAbort = await app.listCommittedOffsets({ topics: [{ topic: INPUT, partitions: [0] }] } as never);
    expect(Number((afterAbort as Map<string, bigint[]>).get(INPUT)![0])).toBe(-1);

    // All three in a transaction that commits: output and offset (next to read: 3) together.
    const committed = await producer.beginTransaction();
    await committed.send({ messages: messages.map((m) => ({ topic: TOPIC, value: `APP-${m.value.toUpperCase()}`, partition: 1 })) });
    await committed.addConsumer(app as never);
    await committed.addOffset(messages[2] as never);
    await committed.commit();
    await waitForState("platformatic-app-txn", "CompleteCommit");
    const afterCommit = await app.listCommittedOffsets({ topics: [{ topic: INPUT, partitions: [0] }] } as never);
    expect(Number((afterCommit as Map<string, bigint[]>).get(INPUT)![0])).toBe(3);
    await stream.close();
  } finally {
    await producer.close();
    await app.close(true);
  }
  const readCommitted = (await kcatConsumeAll(broker.bootstrap, TOPIC, "%s\n", ["-p", "1", "-X", "isolation.level=read_committed"])).filter((value) => value.startsWith("APP-"));
  expect(readCommitted).toEqual(["APP-A", "APP-B", "APP-C"]);
}, 120_000);
