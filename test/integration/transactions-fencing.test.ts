// Fencing and KIP-890 part 1 against a real broker process: a second producer with the same
// transactional.id fences the first (its open transaction is aborted, its later writes and commit refused);
// a transactional batch for a partition that is not in the producer's ongoing transaction, or sent after
// the transaction ended, is refused before it is appended, so it cannot open a hanging transaction; the
// batched AddPartitionsToTxn v4 verify-only check partition leaders use answers the same; the coordinator's
// decisions survive a restart; the ids one broker holds are capped and idle ones expire.
import { afterAll, beforeAll, expect, test } from "bun:test";
import { rmSync } from "node:fs";
import { KafkaConnection } from "../../src/client/kafka-connection.ts";
import { ErrorCode } from "../../src/protocol/errors.ts";
import { ApiKey } from "../../src/protocol/generated/index.ts";
import { buildBatch } from "../../src/records/compression.ts";
import { BrokerProcess } from "../helpers/broker-process.ts";
import { createTopic, kafkaClient } from "../helpers/kafkajs.ts";
import { describeTransaction, waitForTransactionState, type TransactionDescription } from "../helpers/transactions.ts";

const TOPIC = "txn-fencing";
const PARTITIONS = 3;
const WAIT_STEPS_MAX = 300;
const WAIT_STEP_MS = 100;

let broker: BrokerProcess;
let connection: KafkaConnection;

beforeAll(async () => {
  broker = new BrokerProcess({ properties: { "transaction.state.log.num.partitions": "3", "offsets.topic.num.partitions": "3" } });
  await broker.start();
  connection = await KafkaConnection.connect({ host: "127.0.0.1", port: broker.port });
  await createTopic(`127.0.0.1:${broker.port}`, TOPIC, PARTITIONS);
});

afterAll(async () => {
  connection?.close();
  await broker.cleanup();
  rmSync(`${broker.dataDir}.properties`, { force: true });
});

function describe(transactionalId: string): Promise<TransactionDescription> {
  return describeTransaction(connection, transactionalId);
}

async function waitForState(transactionalId: string, state: string): Promise<void> {
  await waitForTransactionState(async () => (await describe(transactionalId)).transactionState, transactionalId, state);
}

async function initProducer(transactionalId: string): Promise<{ producerId: number; producerEpoch: number }> {
  const response = await connection.request(ApiKey.InitProducerId, 4, { transactionalId, transactionTimeoutMs: 60_000, producerId: -1, producerEpoch: -1 });
  expect(response.errorCode).toBe(ErrorCode.NONE);
  return { producerId: response.producerId, producerEpoch: response.producerEpoch };
}

async function addPartition(transactionalId: string, producer: { producerId: number; producerEpoch: number }, partition: number): Promise<number> {
  const response = await connection.request(ApiKey.AddPartitionsToTxn, 3, {
    v3AndBelowTransactionalId: transactionalId,
    v3AndBelowProducerId: producer.producerId,
    v3AndBelowProducerEpoch: producer.producerEpoch,
    v3AndBelowTopics: [{ name: TOPIC, partitions: [partition] }],
  });
  return response.resultsByTopicV3AndBelow[0].resultsByPartition[0].partitionErrorCode;
}

async function produceTransactional(transactionalId: string, producer: { producerId: number; producerEpoch: number }, partition: number, baseSequence: number): Promise<number> {
  const records = buildBatch({ records: [{ key: null, value: new TextEncoder().encode("txn") }], producerId: producer.producerId, producerEpoch: producer.producerEpoch, baseSequence, isTransactional: true });
  const response = await connection.request(ApiKey.Produce, 7, { transactionalId, acks: -1, timeoutMs: 5000, topicData: [{ name: TOPIC, partitionData: [{ index: partition, records }] }] });
  return response.responses[0].partitionResponses[0].errorCode;
}

async function verifyOnly(transactionalId: string, producer: { producerId: number; producerEpoch: number }, partition: number): Promise<number> {
  const response = await connection.request(ApiKey.AddPartitionsToTxn, 4, {
    transactions: [{ transactionalId, producerId: producer.producerId, producerEpoch: producer.producerEpoch, verifyOnly: true, topics: [{ name: TOPIC, partitions: [partition] }] }],
  });
  expect(response.errorCode).toBe(ErrorCode.NONE);
  return response.resultsByTransaction[0].topicResults[0].resultsByPartition[0].partitionErrorCode;
}

test("kafkajs: a second producer with the same transactional.id fences the first; the first's commit is refused and its transaction aborted", async () => {
  const client = kafkaClient(`127.0.0.1:${broker.port}`);
  const zombie = client.producer({ transactionalId: "fenced-id", idempotent: true, maxInFlightRequests: 1 });
  const successor = client.producer({ transactionalId: "fenced-id", idempotent: true, maxInFlightRequests: 1 });
  await zombie.connect();
  try {
    const zombieTransaction = await zombie.transaction();
    await zombieTransaction.send({ topic: TOPIC, messages: [{ value: "zombie", partition: 0 }] });
    const zombieEpoch = (await describe("fenced-id")).producerEpoch;
    // kafkajs sends the transactional InitProducerId at transaction(): the successor's aborts the zombie's open
    // transaction (kafkajs retries CONCURRENT_TRANSACTIONS until the abort is complete).
    await successor.connect();
    const successorTransaction = await successor.transaction();
    const fenced = await describe("fenced-id");
    expect(fenced.producerEpoch).toBeGreaterThan(zombieEpoch);
    expect(fenced.transactionState).toBe("Empty");
    let refusal: unknown = null;
    await zombieTransaction.commit().catch((error: unknown) => (refusal = error));
    expect(refusal).not.toBeNull();
    // kafkajs sends EndTxn v1, which knows fencing as INVALID_PRODUCER_EPOCH (PRODUCER_FENCED from v2).
    expect((refusal as { type?: string }).type).toBe("INVALID_PRODUCER_EPOCH");
    await successorTransaction.send({ topic: TOPIC, messages: [{ value: "successor", partition: 0 }] });
    await successorTransaction.commit();
    await waitForState("fenced-id", "CompleteCommit");
  } finally {
    await zombie.disconnect().catch(() => undefined);
    await successor.disconnect();
  }
});

test("InitProducerId v4 with a stale producer id/epoch (KIP-360) is PRODUCER_FENCED; EndTxn v1 with a stale epoch is INVALID_PRODUCER_EPOCH", async () => {
  const first = await initProducer("kip360-id");
  const second = await initProducer("kip360-id");
  expect(second.producerEpoch).toBe(first.producerEpoch + 1);
  const stale = await connection.request(ApiKey.InitProducerId, 4, { transactionalId: "kip360-id", transactionTimeoutMs: 60_000, producerId: first.producerId, producerEpoch: first.producerEpoch });
  expect(stale.errorCode).toBe(ErrorCode.PRODUCER_FENCED);
  // With the current id and epoch, the producer recovers: the epoch is bumped once more.
  const recovered = await connection.request(ApiKey.InitProducerId, 4, { transactionalId: "kip360-id", transactionTimeoutMs: 60_000, producerId: second.producerId, producerEpoch: second.producerEpoch });
  expect(recovered.errorCode).toBe(ErrorCode.NONE);
  expect(recovered.producerEpoch).toBe(second.producerEpoch + 1);
  const staleEnd = await connection.request(ApiKey.EndTxn, 1, { transactionalId: "kip360-id", producerId: first.producerId, producerEpoch: first.producerEpoch, committed: true });
  expect(staleEnd.errorCode).toBe(ErrorCode.INVALID_PRODUCER_EPOCH);
  const noTransaction = await connection.request(ApiKey.EndTxn, 3, { transactionalId: "kip360-id", producerId: recovered.producerId, producerEpoch: recovered.producerEpoch, committed: true });
  expect(noTransaction.errorCode).toBe(ErrorCode.INVALID_TXN_STATE);
});

test("KIP-890 part 1: a transactional batch for a partition not in the ongoing transaction, or after the transaction ended, is refused", async () => {
  const producer = await initProducer("kip890-id");
  // The coordinator answers a partition outside the transaction TRANSACTION_ABORTABLE, as Kafka's
  // handleVerifyPartitionsInTransaction; the leader turns it into INVALID_TXN_STATE for Produce below v11.
  expect(await verifyOnly("kip890-id", producer, 1)).toBe(ErrorCode.TRANSACTION_ABORTABLE);
  // Not added yet: refused before it is appended.
  expect(await produceTransactional("kip890-id", producer, 1, 0)).toBe(ErrorCode.INVALID_TXN_STATE);
  expect(await addPartition("kip890-id", producer, 1)).toBe(ErrorCode.NONE);
  expect(await verifyOnly("kip890-id", producer, 1)).toBe(ErrorCode.NONE);
  expect(await verifyOnly("kip890-id", producer, 2)).toBe(ErrorCode.TRANSACTION_ABORTABLE);
  expect(await produceTransactional("kip890-id", producer, 1, 0)).toBe(ErrorCode.NONE);
  const aborted = await connection.request(ApiKey.EndTxn, 3, { transactionalId: "kip890-id", producerId: producer.producerId, producerEpoch: producer.producerEpoch, committed: false });
  expect(aborted.errorCode).toBe(ErrorCode.NONE);
  await waitForState("kip890-id", "CompleteAbort");
  // A late batch of the ended transaction (a retry held in the network) cannot open a new one.
  expect(await verifyOnly("kip890-id", producer, 1)).toBe(ErrorCode.TRANSACTION_ABORTABLE);
  expect(await produceTransactional("kip890-id", producer, 2, 0)).toBe(ErrorCode.INVALID_TXN_STATE);
  // A stale epoch is refused by the verify-only check too.
  expect(await verifyOnly("kip890-id", { producerId: producer.producerId, producerEpoch: producer.producerEpoch - 1 }, 1)).toBe(ErrorCode.INVALID_PRODUCER_EPOCH);
});

test("a restart keeps the fencing: the fenced epoch stays refused, the next InitProducerId bumps past it", async () => {
  const before = await describe("fenced-id");
  connection.close();
  await broker.kill();
  await broker.start();
  connection = await KafkaConnection.connect({ host: "127.0.0.1", port: broker.port });
  let after = await describe("fenced-id");
  for (let step = 0; step < WAIT_STEPS_MAX && after.transactionState !== "CompleteCommit"; step++) {
    await Bun.sleep(WAIT_STEP_MS);
    after = await describe("fenced-id");
  }
  expect(after).toMatchObject({ transactionState: "CompleteCommit", producerId: before.producerId, producerEpoch: before.producerEpoch });
  const staleEnd = await connection.request(ApiKey.EndTxn, 3, { transactionalId: "fenced-id", producerId: before.producerId, producerEpoch: before.producerEpoch - 1, committed: true });
  expect(staleEnd.errorCode).toBe(ErrorCode.PRODUCER_FENCED);
  const next = await initProducer("fenced-id");
  expect(next.producerEpoch).toBe(before.producerEpoch + 1);
});

test("bounds: transaction.max.transactional.ids refuses a new id beyond the cap; transactional.id.expiration.ms removes idle ids (a tombstone, gone after a restart too); transaction.max.staged.offsets caps TxnOffsetCommit", async () => {
  const bounded = new BrokerProcess({
    properties: {
      "transaction.state.log.num.partitions": "2",
      "transaction.max.transactional.ids": "2",
      "transactional.id.expiration.ms": "1500",
      "transaction.remove.expired.transaction.cleanup.interval.ms": "200",
      "transaction.max.staged.offsets": "2",
      "offsets.topic.num.partitions": "1",
    },
  });
  await bounded.start();
  let client: KafkaConnection | null = null;
  try {
    client = await KafkaConnection.connect({ host: "127.0.0.1", port: bounded.port });
    const init = (transactionalId: string) => client!.request(ApiKey.InitProducerId, 4, { transactionalId, transactionTimeoutMs: 10_000, producerId: -1, producerEpoch: -1 });
    expect((await init("bounded-1")).errorCode).toBe(ErrorCode.NONE);
    expect((await init("bounded-2")).errorCode).toBe(ErrorCode.NONE);
    expect((await init("bounded-3")).errorCode).toBe(ErrorCode.COORDINATOR_NOT_AVAILABLE);
    // Once the idle ids expire, the cap has room again.
    let described = null;
    for (let step = 0; step < WAIT_STEPS_MAX; step++) {
      described = (await client.request(ApiKey.DescribeTransactions, 0, { transactionalIds: ["bounded-1"] })).transactionStates[0];
      if (described.errorCode === ErrorCode.TRANSACTIONAL_ID_NOT_FOUND) break;
      await Bun.sleep(WAIT_STEP_MS);
    }
    expect(described.errorCode).toBe(ErrorCode.TRANSACTIONAL_ID_NOT_FOUND);
    client.close();
    client = null;
    await bounded.kill();
    await bounded.start();
    client = await KafkaConnection.connect({ host: "127.0.0.1", port: bounded.port });
    let afterRestart = null;
    for (let step = 0; step < WAIT_STEPS_MAX; step++) {
      afterRestart = (await client.request(ApiKey.DescribeTransactions, 0, { transactionalIds: ["bounded-1"] })).transactionStates[0];
      if (afterRestart.errorCode !== ErrorCode.COORDINATOR_LOAD_IN_PROGRESS) break;
      await Bun.sleep(WAIT_STEP_MS);
    }
    expect(afterRestart.errorCode).toBe(ErrorCode.TRANSACTIONAL_ID_NOT_FOUND);
    const producer = await client.request(ApiKey.InitProducerId, 4, { transactionalId: "bounded-3", transactionTimeoutMs: 10_000, producerId: -1, producerEpoch: -1 });
    expect(producer.errorCode).toBe(ErrorCode.NONE);
    // transaction.max.staged.offsets: a transaction's third staged offset is refused; OffsetFetch with
    // require_stable answers UNSTABLE_OFFSET_COMMIT for the staged ones.
    const created = await client.request(ApiKey.CreateTopics, 7, { topics: [{ name: "bounded-topic", numPartitions: 3, replicationFactor: 1 }], timeoutMs: 5000 });
    expect(created.topics[0].errorCode).toBe(ErrorCode.NONE);
    const addOffsets = await client.request(ApiKey.AddOffsetsToTxn, 1, { transactionalId: "bounded-3", producerId: producer.producerId, producerEpoch: producer.producerEpoch, groupId: "bounded-group" });
    expect(addOffsets.errorCode).toBe(ErrorCode.NONE);
    const staged = await client.request(ApiKey.TxnOffsetCommit, 1, {
      transactionalId: "bounded-3",
      groupId: "bounded-group",
      producerId: producer.producerId,
      producerEpoch: producer.producerEpoch,
      topics: [{ name: "bounded-topic", partitions: [0, 1, 2].map((partitionIndex) => ({ partitionIndex, committedOffset: 10, committedMetadata: "" })) }],
    });
    expect(staged.topics[0].partitions.map((p: { errorCode: number }) => p.errorCode)).toEqual([ErrorCode.NONE, ErrorCode.NONE, ErrorCode.INVALID_COMMIT_OFFSET_SIZE]);
    const stable = await client.request(ApiKey.OffsetFetch, 7, { groupId: "bounded-group", topics: [{ name: "bounded-topic", partitionIndexes: [0, 1, 2] }], requireStable: true });
    expect(stable.topics[0].partitions.map((p: { errorCode: number }) => p.errorCode)).toEqual([ErrorCode.UNSTABLE_OFFSET_COMMIT, ErrorCode.UNSTABLE_OFFSET_COMMIT, ErrorCode.NONE]);
    const plain = await client.request(ApiKey.OffsetFetch, 7, { groupId: "bounded-group", topics: [{ name: "bounded-topic", partitionIndexes: [0] }], requireStable: false });
    expect(plain.topics[0].partitions[0]).toMatchObject({ errorCode: ErrorCode.NONE, committedOffset: -1 });
  } finally {
    client?.close();
    await bounded.cleanup();
    rmSync(`${bounded.dataDir}.properties`, { force: true });
  }
});
