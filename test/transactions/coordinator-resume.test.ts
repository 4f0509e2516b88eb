// A coordinator that loads a transaction in PrepareCommit (its broker stopped after storing the decision,
// before all markers were written) finishes it: the markers reach every partition, the state becomes
// CompleteCommit, and read_committed readers get the records. The decision is stored here through the
// coordinator's own store, exactly the record a crash between the two steps leaves in __transaction_state.
import { afterAll, beforeAll, expect, test } from "bun:test";
import { rmSync } from "node:fs";
import type { KafkaConnection } from "../../src/client/kafka-connection.ts";
import { ErrorCode } from "../../src/protocol/errors.ts";
import { ApiKey } from "../../src/protocol/generated/index.ts";
import { buildBatch } from "../../src/records/compression.ts";
import { encodeTransactionLogKey, encodeTransactionLogValue, TransactionStatus } from "../../src/transactions/transaction-log-records.ts";
import { startTestBroker, type TestBroker } from "../group/helpers.ts";

const TOPIC = "resume";
const TRANSACTIONAL_ID = "resume-id";
const WAIT_STEPS_MAX = 300;
const WAIT_STEP_MS = 100;

let testBroker: TestBroker;
let connection: KafkaConnection;

beforeAll(async () => {
  testBroker = await startTestBroker({ "transaction.state.log.num.partitions": "2" });
  connection = await testBroker.connect();
  const created = await connection.request(ApiKey.CreateTopics, 7, { topics: [{ name: TOPIC, numPartitions: 2, replicationFactor: 1 }], timeoutMs: 5000 });
  expect(created.topics[0].errorCode).toBe(ErrorCode.NONE);
});

afterAll(async () => {
  await testBroker?.stop();
  rmSync(testBroker.dataDir, { recursive: true, force: true });
});

async function readCommitted(partition: number): Promise<{ highWatermark: number; lastStableOffset: number; bytes: number }> {
  const response = await connection.request(ApiKey.Fetch, 4, {
    replicaId: -1,
    maxWaitMs: 0,
    minBytes: 0,
    maxBytes: 1_000_000,
    isolationLevel: 1,
    topics: [{ topic: TOPIC, partitions: [{ partition, fetchOffset: 0, partitionMaxBytes: 1_000_000 }] }],
  });
  const answer = response.responses[0].partitions[0];
  return { highWatermark: Number(answer.highWatermark), lastStableOffset: Number(answer.lastStableOffset), bytes: answer.records?.byteLength ?? 0 };
}

test("a transaction loaded in PrepareCommit gets its markers and completes; its records become readable with read_committed", async () => {
  const init = await connection.request(ApiKey.InitProducerId, 3, { transactionalId: TRANSACTIONAL_ID, transactionTimeoutMs: 60_000, producerId: -1, producerEpoch: -1 });
  expect(init.errorCode).toBe(ErrorCode.NONE);
  const added = await connection.request(ApiKey.AddPartitionsToTxn, 3, {
    v3AndBelowTransactionalId: TRANSACTIONAL_ID,
    v3AndBelowProducerId: init.producerId,
    v3AndBelowProducerEpoch: init.producerEpoch,
    v3AndBelowTopics: [{ name: TOPIC, partitions: [0, 1] }],
  });
  expect(added.resultsByTopicV3AndBelow[0].resultsByPartition.map((p: { partitionErrorCode: number }) => p.partitionErrorCode)).toEqual([ErrorCode.NONE, ErrorCode.NONE]);
  for (const partition of [0, 1]) {
    const records = buildBatch({ records: [{ key: null, value: new TextEncoder().encode(`p${partition}`) }], producerId: init.producerId, producerEpoch: init.producerEpoch, baseSequence: 0, isTransactional: true });
    const produced = await connection.request(ApiKey.Produce, 7, { transactionalId: TRANSACTIONAL_ID, acks: -1, timeoutMs: 5000, topicData: [{ name: TOPIC, partitionData: [{ index: partition, records }] }] });
    expect(produced.responses[0].partitionResponses[0].errorCode).toBe(ErrorCode.NONE);
    // Open: nothing is stable yet.
    expect(await readCommitted(partition)).toMatchObject({ lastStableOffset: 0, bytes: 0 });
  }
  const coordinator = testBroker.broker.transactions;
  const nowMs = Date.now();
  const decided = encodeTransactionLogValue({
    producerId: init.producerId,
    previousProducerId: -1,
    nextProducerId: -1,
    producerEpoch: init.producerEpoch,
    transactionTimeoutMs: 60_000,
    status: TransactionStatus.PrepareCommit,
    partitions: new Map([[TOPIC, [0, 1]]]),
    lastUpdateTimestampMs: nowMs,
    startTimestampMs: nowMs,
    clientTransactionVersion: 0,
  });
  expect(await coordinator.store.append(coordinator.store.partitionFor(TRANSACTIONAL_ID), [{ key: encodeTransactionLogKey(TRANSACTIONAL_ID), value: decided }])).toBe(ErrorCode.NONE);
  await testBroker.restart();
  connection = await testBroker.connect();
  let state = "";
  for (let step = 0; step < WAIT_STEPS_MAX && state !== "CompleteCommit"; step++) {
    const described = await connection.request(ApiKey.DescribeTransactions, 0, { transactionalIds: [TRANSACTIONAL_ID] });
    state = described.transactionStates[0].transactionState;
    if (state !== "CompleteCommit") await Bun.sleep(WAIT_STEP_MS);
  }
  expect(state).toBe("CompleteCommit");
  for (const partition of [0, 1]) {
    const read = await readCommitted(partition);
    // The record and its COMMIT marker, both stable.
    expect(read.highWatermark).toBe(2);
    expect(read.lastStableOffset).toBe(2);
    expect(read.bytes).toBeGreaterThan(0);
  }
});
