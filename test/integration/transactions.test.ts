// The transaction coordinator against a real broker process and real clients: kafkajs 2.2.4's
// producer.transaction() commits and aborts with sendOffsets (it sends InitProducerId v1, AddPartitionsToTxn
// v1, AddOffsetsToTxn v1, TxnOffsetCommit v1 and EndTxn v1), the markers reach every partition, the group's
// offsets move only on commit; transaction.timeout.ms above transaction.max.timeout.ms is refused; a
// transaction left open is aborted by the coordinator (its producer fenced); kcat (librdkafka 2.0.2) commits
// with -X transactional.id and its read_committed consumer skips aborted records; and the coordinator's state
// in __transaction_state survives a SIGKILL and restart.
import { afterAll, beforeAll, expect, test } from "bun:test";
import { rmSync } from "node:fs";
import { KafkaConnection } from "../../src/client/kafka-connection.ts";
import { ErrorCode } from "../../src/protocol/errors.ts";
import { ApiKey } from "../../src/protocol/generated/index.ts";
import { buildBatch } from "../../src/records/compression.ts";
import { batchAttributes, batchSizeBytes, CONTROL_FLAG_MASK, dataViewOf, RECORDS_OFFSET } from "../../src/records/batch.ts";
import { BrokerProcess } from "../helpers/broker-process.ts";
import { createTopic, kafkaClient } from "../helpers/kafkajs.ts";
import { kcat, kcatConsumeAll } from "../helpers/kcat.ts";
import { describeTransaction, waitForTransactionState, type TransactionDescription } from "../helpers/transactions.ts";

const TOPIC = "txn-data";
const PARTITIONS = 2;
const GROUP = "txn-group";
const MAX_TIMEOUT_MS = 60_000;
const WAIT_STEPS_MAX = 300;
const WAIT_STEP_MS = 100;

let broker: BrokerProcess;
let connection: KafkaConnection;

beforeAll(async () => {
  broker = new BrokerProcess({
    properties: {
      "transaction.state.log.num.partitions": "4",
      "offsets.topic.num.partitions": "4",
      "transaction.max.timeout.ms": String(MAX_TIMEOUT_MS),
      "transaction.abort.timed.out.transaction.cleanup.interval.ms": "200",
      "group.initial.rebalance.delay.ms": "0",
    },
  });
  await broker.start();
  connection = await KafkaConnection.connect({ host: "127.0.0.1", port: broker.port });
  await createTopic(bootstrap(), TOPIC, PARTITIONS);
});

afterAll(async () => {
  connection?.close();
  await broker.cleanup();
  rmSync(`${broker.dataDir}.properties`, { force: true });
});

function bootstrap(): string {
  return `127.0.0.1:${broker.port}`;
}

function describe(transactionalId: string): Promise<TransactionDescription> {
  return describeTransaction(connection, transactionalId);
}

/** Polls DescribeTransactions until the id is in `state` (markers are written after EndTxn answers). */
async function waitForState(transactionalId: string, state: string): Promise<void> {
  await waitForTransactionState(async () => (await describe(transactionalId)).transactionState, transactionalId, state);
}

/** Counts control batches (markers) and data records in one partition, read from offset 0 with read_uncommitted. */
async function partitionContents(topic: string, partition: number): Promise<{ markers: number; records: number }> {
  const response = await connection.request(ApiKey.Fetch, 4, {
    replicaId: -1,
    maxWaitMs: 0,
    minBytes: 0,
    maxBytes: 10_000_000,
    isolationLevel: 0,
    topics: [{ topic, partitions: [{ partition, fetchOffset: 0, partitionMaxBytes: 10_000_000 }] }],
  });
  const records: Uint8Array = response.responses[0].partitions[0].records ?? new Uint8Array(0);
  const view = dataViewOf(records);
  let markers = 0;
  let dataRecords = 0;
  for (let position = 0; position + RECORDS_OFFSET <= records.byteLength; position += batchSizeBytes(view, position)) {
    if ((batchAttributes(view, position) & CONTROL_FLAG_MASK) !== 0) markers++;
    else dataRecords += view.getInt32(position + RECORDS_OFFSET - 4);
  }
  return { markers, records: dataRecords };
}

/** ListOffsets latest for one partition: isolation 1 (read_committed) answers the last stable offset, 0 the high watermark. */
async function latestOffset(partition: number, isolationLevel: number): Promise<number> {
  const response = await connection.request(ApiKey.ListOffsets, 5, {
    replicaId: -1,
    isolationLevel,
    topics: [{ name: TOPIC, partitions: [{ partitionIndex: partition, currentLeaderEpoch: -1, timestamp: -1 }] }],
  });
  return Number(response.topics[0].partitions[0].offset);
}

async function groupOffsets(): Promise<Map<number, string>> {
  const admin = kafkaClient(bootstrap()).admin();
  await admin.connect();
  try {
    const [fetched] = await admin.fetchOffsets({ groupId: GROUP, topics: [TOPIC] });
    return new Map(fetched!.partitions.map((p) => [p.partition, p.offset]));
  } finally {
    await admin.disconnect();
  }
}

test("kafkajs: a committed transaction writes COMMIT markers to every partition and its sendOffsets become the group's offsets", async () => {
  const producer = kafkaClient(bootstrap()).producer({ transactionalId: "txn-commit", idempotent: true, maxInFlightRequests: 1 });
  await producer.connect();
  try {
    const transaction = await producer.transaction();
    await transaction.send({ topic: TOPIC, messages: [{ key: "a", value: "1", partition: 0 }, { key: "b", value: "2", partition: 1 }, { key: "c", value: "3", partition: 1 }] });
    await transaction.sendOffsets({ consumerGroupId: GROUP, topics: [{ topic: TOPIC, partitions: [{ partition: 0, offset: "5" }, { partition: 1, offset: "7" }] }] });
    const ongoing = await describe("txn-commit");
    expect(ongoing.transactionState).toBe("Ongoing");
    expect(ongoing.topics.find((t) => t.topic === TOPIC)?.partitions.sort()).toEqual([0, 1]);
    // Staged, not visible before the commit.
    expect((await groupOffsets()).get(0)).toBe("-1");
    await transaction.commit();
  } finally {
    await producer.disconnect();
  }
  await waitForState("txn-commit", "CompleteCommit");
  const offsets = await groupOffsets();
  expect(offsets.get(0)).toBe("5");
  expect(offsets.get(1)).toBe("7");
  const first = await partitionContents(TOPIC, 0);
  const second = await partitionContents(TOPIC, 1);
  expect(first).toEqual({ markers: 1, records: 1 });
  expect(second).toEqual({ markers: 1, records: 2 });
});

test("kafkajs: an aborted transaction writes ABORT markers and its sendOffsets are discarded", async () => {
  const before = await groupOffsets();
  const producer = kafkaClient(bootstrap()).producer({ transactionalId: "txn-abort", idempotent: true, maxInFlightRequests: 1 });
  await producer.connect();
  try {
    const transaction = await producer.transaction();
    await transaction.send({ topic: TOPIC, messages: [{ value: "aborted", partition: 0 }] });
    await transaction.sendOffsets({ consumerGroupId: GROUP, topics: [{ topic: TOPIC, partitions: [{ partition: 0, offset: "99" }] }] });
    await transaction.abort();
  } finally {
    await producer.disconnect();
  }
  await waitForState("txn-abort", "CompleteAbort");
  expect((await groupOffsets()).get(0)).toBe(before.get(0)!);
  const contents = await partitionContents(TOPIC, 0);
  // The committed transaction's record and marker, then the aborted record and its ABORT marker.
  expect(contents).toEqual({ markers: 2, records: 2 });
});

test("InitProducerId: transaction.timeout.ms above transaction.max.timeout.ms is INVALID_TRANSACTION_TIMEOUT; the same id again bumps the epoch", async () => {
  const tooLong = await connection.request(ApiKey.InitProducerId, 3, { transactionalId: "txn-timeout", transactionTimeoutMs: MAX_TIMEOUT_MS + 1, producerId: -1, producerEpoch: -1 });
  expect(tooLong.errorCode).toBe(ErrorCode.INVALID_TRANSACTION_TIMEOUT);
  const first = await connection.request(ApiKey.InitProducerId, 3, { transactionalId: "txn-timeout", transactionTimeoutMs: MAX_TIMEOUT_MS, producerId: -1, producerEpoch: -1 });
  expect(first.errorCode).toBe(ErrorCode.NONE);
  const second = await connection.request(ApiKey.InitProducerId, 3, { transactionalId: "txn-timeout", transactionTimeoutMs: MAX_TIMEOUT_MS, producerId: -1, producerEpoch: -1 });
  expect(second.errorCode).toBe(ErrorCode.NONE);
  expect(second.producerId).toBe(first.producerId);
  expect(second.producerEpoch).toBe(first.producerEpoch + 1);
});

test("a transaction open past transaction.timeout.ms is aborted by the coordinator, which fences its producer", async () => {
  const init = await connection.request(ApiKey.InitProducerId, 3, { transactionalId: "txn-expiring", transactionTimeoutMs: 3000, producerId: -1, producerEpoch: -1 });
  expect(init.errorCode).toBe(ErrorCode.NONE);
  const added = await connection.request(ApiKey.AddPartitionsToTxn, 3, {
    v3AndBelowTransactionalId: "txn-expiring",
    v3AndBelowProducerId: init.producerId,
    v3AndBelowProducerEpoch: init.producerEpoch,
    v3AndBelowTopics: [{ name: TOPIC, partitions: [1] }],
  });
  expect(added.resultsByTopicV3AndBelow[0].resultsByPartition[0].partitionErrorCode).toBe(ErrorCode.NONE);
  const records = buildBatch({ records: [{ key: null, value: new TextEncoder().encode("expiring") }], producerId: init.producerId, producerEpoch: init.producerEpoch, baseSequence: 0, isTransactional: true });
  const produced = await connection.request(ApiKey.Produce, 7, { transactionalId: "txn-expiring", acks: -1, timeoutMs: 5000, topicData: [{ name: TOPIC, partitionData: [{ index: 1, records }] }] });
  expect(produced.responses[0].partitionResponses[0].errorCode).toBe(ErrorCode.NONE);
  const openAt = Number(produced.responses[0].partitionResponses[0].baseOffset);
  expect((await describe("txn-expiring")).transactionState).toBe("Ongoing");
  // The open transaction holds the last stable offset at its first record.
  expect(await latestOffset(1, 1)).toBe(openAt);
  await waitForState("txn-expiring", "CompleteAbort");
  // The coordinator's ABORT marker released it: the LSO is the high watermark again.
  expect(await latestOffset(1, 1)).toBe(await latestOffset(1, 0));
  expect(await latestOffset(1, 0)).toBe(openAt + 2);
  const after = await describe("txn-expiring");
  expect(after.producerEpoch).toBe(init.producerEpoch + 1);
  // The fenced producer's commit is refused.
  const commit = await connection.request(ApiKey.EndTxn, 3, { transactionalId: "txn-expiring", producerId: init.producerId, producerEpoch: init.producerEpoch, committed: true });
  expect(commit.errorCode).toBe(ErrorCode.PRODUCER_FENCED);
});

test("ListTransactions lists the coordinator's ids with their states; a state filter narrows it", async () => {
  const all = await connection.request(ApiKey.ListTransactions, 1, { stateFilters: [], producerIdFilters: [], durationFilter: -1 });
  expect(all.errorCode).toBe(ErrorCode.NONE);
  const ids = all.transactionStates.map((t: { transactionalId: string }) => t.transactionalId).sort();
  expect(ids).toEqual(["txn-abort", "txn-commit", "txn-expiring", "txn-timeout"]);
  const committed = await connection.request(ApiKey.ListTransactions, 1, { stateFilters: ["CompleteCommit", "NoSuchState"], producerIdFilters: [], durationFilter: -1 });
  expect(committed.transactionStates.map((t: { transactionalId: string }) => t.transactionalId)).toEqual(["txn-commit"]);
  expect(committed.unknownStateFilters).toEqual(["NoSuchState"]);
});

test("kcat (librdkafka 2.0.2) -X transactional.id commits what it reads; read_committed skips the aborted kafkajs record, read_uncommitted does not", async () => {
  const partition = 0;
  const before = await partitionContents(TOPIC, partition);
  const committed = await kcat(bootstrap(), ["-P", "-t", TOPIC, "-p", String(partition), "-X", "transactional.id=kcat-txn"], { input: "kcat-1\nkcat-2\n", timeoutMs: 60_000 });
  expect(committed.exitCode).toBe(0);
  await waitForState("kcat-txn", "CompleteCommit");
  expect(await partitionContents(TOPIC, partition)).toEqual({ markers: before.markers + 1, records: before.records + 2 });
  // Partition 0 holds the first test's committed "1", the second test's aborted "aborted", then kcat's two.
  const readCommitted = await kcatConsumeAll(bootstrap(), TOPIC, "%s\n", ["-p", String(partition), "-X", "isolation.level=read_committed"]);
  expect(readCommitted).toEqual(["1", "kcat-1", "kcat-2"]);
  const readUncommitted = await kcatConsumeAll(bootstrap(), TOPIC, "%s\n", ["-p", String(partition), "-X", "isolation.level=read_uncommitted"]);
  expect(readUncommitted).toEqual(["1", "aborted", "kcat-1", "kcat-2"]);
});

test("kafkajs read_committed consumer (its default isolation) gets every committed record and nothing aborted", async () => {
  const consumer = kafkaClient(bootstrap(), "read-committed").consumer({ groupId: "read-committed-reader", sessionTimeout: 10_000, heartbeatInterval: 500 });
  const seen: string[] = [];
  await consumer.connect();
  try {
    await consumer.subscribe({ topic: TOPIC, fromBeginning: true });
    await consumer.run({ eachMessage: async ({ message }) => void seen.push(message.value!.toString()) });
    // Partition 0: "1", "kcat-1", "kcat-2" committed, "aborted" not; partition 1: "2", "3".
    for (let step = 0; step < WAIT_STEPS_MAX && seen.length < 5; step++) await Bun.sleep(WAIT_STEP_MS);
    // Whatever else would arrive (an aborted record) arrives with the same fetches: give it a few more polls.
    await Bun.sleep(1000);
  } finally {
    await consumer.disconnect();
  }
  expect(seen.sort()).toEqual(["1", "2", "3", "kcat-1", "kcat-2"]);
});

test("after a SIGKILL and restart the coordinator reloads every transactional id from __transaction_state; an open transaction can still commit", async () => {
  const before = await describe("txn-commit");
  const open = await connection.request(ApiKey.InitProducerId, 3, { transactionalId: "txn-open", transactionTimeoutMs: MAX_TIMEOUT_MS, producerId: -1, producerEpoch: -1 });
  const added = await connection.request(ApiKey.AddPartitionsToTxn, 3, {
    v3AndBelowTransactionalId: "txn-open",
    v3AndBelowProducerId: open.producerId,
    v3AndBelowProducerEpoch: open.producerEpoch,
    v3AndBelowTopics: [{ name: TOPIC, partitions: [0] }],
  });
  expect(added.resultsByTopicV3AndBelow[0].resultsByPartition[0].partitionErrorCode).toBe(ErrorCode.NONE);
  const records = buildBatch({ records: [{ key: null, value: new TextEncoder().encode("open-record") }], producerId: open.producerId, producerEpoch: open.producerEpoch, baseSequence: 0, isTransactional: true });
  const produced = await connection.request(ApiKey.Produce, 7, { transactionalId: "txn-open", acks: -1, timeoutMs: 5000, topicData: [{ name: TOPIC, partitionData: [{ index: 0, records }] }] });
  expect(produced.responses[0].partitionResponses[0].errorCode).toBe(ErrorCode.NONE);
  // Another open transaction has staged group offsets (transactional records in __consumer_offsets).
  const withOffsets = await connection.request(ApiKey.InitProducerId, 3, { transactionalId: "txn-open-offsets", transactionTimeoutMs: MAX_TIMEOUT_MS, producerId: -1, producerEpoch: -1 });
  const addOffsets = await connection.request(ApiKey.AddOffsetsToTxn, 1, { transactionalId: "txn-open-offsets", producerId: withOffsets.producerId, producerEpoch: withOffsets.producerEpoch, groupId: GROUP });
  expect(addOffsets.errorCode).toBe(ErrorCode.NONE);
  const staged = await connection.request(ApiKey.TxnOffsetCommit, 1, {
    transactionalId: "txn-open-offsets",
    groupId: GROUP,
    producerId: withOffsets.producerId,
    producerEpoch: withOffsets.producerEpoch,
    topics: [{ name: TOPIC, partitions: [{ partitionIndex: 1, committedOffset: 1000, committedMetadata: "" }] }],
  });
  expect(staged.topics[0].partitions[0].errorCode).toBe(ErrorCode.NONE);
  connection.close();
  await broker.kill();
  await broker.start();
  connection = await KafkaConnection.connect({ host: "127.0.0.1", port: broker.port });
  let after = await describe("txn-commit");
  for (let step = 0; step < WAIT_STEPS_MAX && after.errorCode === ErrorCode.COORDINATOR_LOAD_IN_PROGRESS; step++) {
    await Bun.sleep(WAIT_STEP_MS);
    after = await describe("txn-commit");
  }
  expect(after.errorCode).toBe(ErrorCode.NONE);
  expect(after.transactionState).toBe("CompleteCommit");
  expect(after.producerId).toBe(before.producerId);
  expect(after.producerEpoch).toBe(before.producerEpoch);
  expect((await describe("txn-abort")).transactionState).toBe("CompleteAbort");
  expect((await groupOffsets()).get(1)).toBe("7");
  // The open transaction with offsets is still open (its offsets are durable); aborted, they never show.
  expect((await describe("txn-open-offsets")).transactionState).toBe("Ongoing");
  const abort = await connection.request(ApiKey.EndTxn, 3, { transactionalId: "txn-open-offsets", producerId: withOffsets.producerId, producerEpoch: withOffsets.producerEpoch, committed: false });
  expect(abort.errorCode).toBe(ErrorCode.NONE);
  await waitForState("txn-open-offsets", "CompleteAbort");
  expect((await groupOffsets()).get(1)).toBe("7");
  // The transaction left open across the crash (no offsets) is still open, and its producer can commit it.
  expect((await describe("txn-open")).transactionState).toBe("Ongoing");
  const commit = await connection.request(ApiKey.EndTxn, 3, { transactionalId: "txn-open", producerId: open.producerId, producerEpoch: open.producerEpoch, committed: true });
  expect(commit.errorCode).toBe(ErrorCode.NONE);
  await waitForState("txn-open", "CompleteCommit");
  expect(await kcatConsumeAll(bootstrap(), TOPIC, "%s\n", ["-p", "0", "-X", "isolation.level=read_committed"])).toEqual(["1", "kcat-1", "kcat-2", "open-record"]);
  // The producer comes back with the same producer id and the next epoch.
  const init = await connection.request(ApiKey.InitProducerId, 3, { transactionalId: "txn-commit", transactionTimeoutMs: 10_000, producerId: -1, producerEpoch: -1 });
  expect(init.errorCode).toBe(ErrorCode.NONE);
  expect(init.producerId).toBe(before.producerId);
  expect(init.producerEpoch).toBe(before.producerEpoch + 1);
});
