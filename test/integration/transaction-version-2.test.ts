// Transaction version 2 (KIP-890 part 2) against a real broker process, with the in-repo client built from the
// generated codecs (no client installed here speaks it: kafkajs, librdkafka and @platformatic/kafka stop at
// Produce v7-11 and never read transaction.version; Java 4.x is the client that does): InitProducerId v5,
// Produce v12 without any AddPartitionsToTxn (the leader adds the partition), EndTxn v5 bumping the epoch at
// every commit and abort; read_committed sees the committed records and not the aborted ones. Beside it, the
// version 1 answers of Produce v10 and v11 and TxnOffsetCommit v3 and v4 for a partition that was never added
// (KIP-890's TRANSACTION_ABORTABLE).
import { afterAll, beforeAll, expect, test } from "bun:test";
import { rmSync } from "node:fs";
import { KafkaConnection } from "../../src/client/kafka-connection.ts";
import { ErrorCode } from "../../src/protocol/errors.ts";
import { ApiKey } from "../../src/protocol/generated/index.ts";
import { buildBatch } from "../../src/records/compression.ts";
import { BrokerProcess } from "../helpers/broker-process.ts";

const TOPIC = "txn-v2";
const PARTITIONS = 3;
const WAIT_STEPS_MAX = 300;
const WAIT_STEP_MS = 100;
const READ_COMMITTED = 1;

let broker: BrokerProcess;
let connection: KafkaConnection;

beforeAll(async () => {
  broker = new BrokerProcess({ properties: { "transaction.state.log.num.partitions": "1", "offsets.topic.num.partitions": "1" } });
  await broker.start();
  connection = await KafkaConnection.connect({ host: "127.0.0.1", port: broker.port, requestTimeoutMs: 30_000 });
  const created = await connection.request(ApiKey.CreateTopics, 7, { topics: [{ name: TOPIC, numPartitions: PARTITIONS, replicationFactor: 1, assignments: [], configs: [] }], timeoutMs: 10_000, validateOnly: false });
  expect(created.topics[0].errorCode).toBe(ErrorCode.NONE);
});

afterAll(async () => {
  connection?.close();
  await broker.cleanup();
  rmSync(`${broker.dataDir}.properties`, { force: true });
});

interface Producer {
  producerId: number;
  producerEpoch: number;
}

async function describe(transactionalId: string): Promise<{ transactionState: string; producerEpoch: number; topics: { topic: string; partitions: number[] }[] }> {
  const response = await connection.request(ApiKey.DescribeTransactions, 0, { transactionalIds: [transactionalId] });
  return response.transactionStates[0];
}

async function waitForState(transactionalId: string, state: string): Promise<void> {
  let last = "";
  for (let step = 0; step < WAIT_STEPS_MAX; step++) {
    last = (await describe(transactionalId)).transactionState;
    if (last === state) return;
    await Bun.sleep(WAIT_STEP_MS);
  }
  throw new Error(`${transactionalId} stayed ${last}, never ${state}`);
}

/** Retries the coordinator's retriable answers (its partition loading, a transaction still completing). */
async function retrying<T>(call: () => Promise<T>, codeOf: (answer: T) => number): Promise<T> {
  const retriable = new Set<number>([ErrorCode.COORDINATOR_LOAD_IN_PROGRESS, ErrorCode.COORDINATOR_NOT_AVAILABLE, ErrorCode.NOT_COORDINATOR, ErrorCode.CONCURRENT_TRANSACTIONS, ErrorCode.NOT_ENOUGH_REPLICAS]);
  let answer = await call();
  for (let step = 0; step < WAIT_STEPS_MAX && retriable.has(codeOf(answer)); step++) {
    await Bun.sleep(WAIT_STEP_MS);
    answer = await call();
  }
  return answer;
}

async function initProducer(transactionalId: string): Promise<Producer> {
  const response = await retrying(() => connection.request(ApiKey.InitProducerId, 5, { transactionalId, transactionTimeoutMs: 60_000, producerId: -1, producerEpoch: -1 }), (r) => r.errorCode);
  expect(response.errorCode).toBe(ErrorCode.NONE);
  return { producerId: response.producerId, producerEpoch: response.producerEpoch };
}

async function produce(version: number, transactionalId: string, producer: Producer, partition: number, baseSequence: number, values: string[]): Promise<{ errorCode: number; errorMessage: string | null; baseOffset: number }> {
  const records = buildBatch({ records: values.map((value) => ({ key: null, value })), producerId: producer.producerId, producerEpoch: producer.producerEpoch, baseSequence, isTransactional: true });
  const response = await retrying(
    () => connection.request(ApiKey.Produce, version, { transactionalId, acks: -1, timeoutMs: 10_000, topicData: [{ name: TOPIC, partitionData: [{ index: partition, records }] }] }),
    (r) => r.responses[0].partitionResponses[0].errorCode,
  );
  return response.responses[0].partitionResponses[0];
}

async function endTxn(transactionalId: string, producer: Producer, committed: boolean): Promise<{ errorCode: number; producerId: number; producerEpoch: number }> {
  return retrying(() => connection.request(ApiKey.EndTxn, 5, { transactionalId, producerId: producer.producerId, producerEpoch: producer.producerEpoch, committed }), (r) => r.errorCode);
}

async function readCommittedEnd(partition: number): Promise<{ lastStable: number; highWatermark: number }> {
  const at = async (isolationLevel: number) => {
    const response = await connection.request(ApiKey.ListOffsets, 10, { replicaId: -1, isolationLevel, topics: [{ name: TOPIC, partitions: [{ partitionIndex: partition, currentLeaderEpoch: -1, timestamp: -1 }] }], timeoutMs: 1000 });
    const answer = response.topics[0].partitions[0];
    expect(answer.errorCode).toBe(ErrorCode.NONE);
    return answer.offset as number;
  };
  return { lastStable: await at(READ_COMMITTED), highWatermark: await at(0) };
}

async function fetchReadCommitted(partition: number): Promise<{ abortedProducers: number[]; lastStableOffset: number; highWatermark: number }> {
  const response = await connection.request(ApiKey.Fetch, 11, {
    replicaId: -1,
    maxWaitMs: 0,
    minBytes: 0,
    maxBytes: 1 << 20,
    isolationLevel: READ_COMMITTED,
    sessionId: 0,
    sessionEpoch: -1,
    topics: [{ topic: TOPIC, partitions: [{ partition, currentLeaderEpoch: -1, fetchOffset: 0, logStartOffset: -1, partitionMaxBytes: 1 << 20 }] }],
    forgottenTopicsData: [],
    rackId: "",
  });
  const answer = response.responses[0].partitions[0];
  expect(answer.errorCode).toBe(ErrorCode.NONE);
  return { abortedProducers: (answer.abortedTransactions ?? []).map((aborted: { producerId: number }) => aborted.producerId), lastStableOffset: answer.lastStableOffset, highWatermark: answer.highWatermark };
}

test("TV2: Produce v12 without AddPartitionsToTxn adds the partitions; EndTxn v5 commits and aborts, bumping the epoch each time", async () => {
  const id = "tv2-flow";
  const first = await initProducer(id);

  // No AddPartitionsToTxn: the leader adds each partition to the transaction at its first batch.
  expect((await produce(12, id, first, 0, 0, ["c0", "c1"])).errorCode).toBe(ErrorCode.NONE);
  expect((await produce(12, id, first, 1, 0, ["c2"])).errorCode).toBe(ErrorCode.NONE);
  // A second batch of the same transaction on a partition already in it.
  expect((await produce(12, id, first, 0, 2, ["c3"])).errorCode).toBe(ErrorCode.NONE);
  const ongoing = await describe(id);
  expect(ongoing.transactionState).toBe("Ongoing");
  expect(ongoing.topics.flatMap((topic) => topic.partitions).sort()).toEqual([0, 1]);
  expect((await readCommittedEnd(0)).lastStable).toBe(0);

  const committed = await endTxn(id, first, true);
  expect(committed.errorCode).toBe(ErrorCode.NONE);
  expect(committed.producerId).toBe(first.producerId);
  expect(committed.producerEpoch).toBe(first.producerEpoch + 1);
  await waitForState(id, "CompleteCommit");
  // The COMMIT markers are appended: partition 0 holds 3 records and a marker, all stable.
  expect(await readCommittedEnd(0)).toEqual({ lastStable: 4, highWatermark: 4 });
  expect(await readCommittedEnd(1)).toEqual({ lastStable: 2, highWatermark: 2 });

  // The next transaction uses the epoch EndTxn answered, starting its sequences again at 0.
  const second = { producerId: committed.producerId, producerEpoch: committed.producerEpoch };
  const abortedBatch = await produce(12, id, second, 0, 0, ["a0"]);
  expect(abortedBatch.errorCode).toBe(ErrorCode.NONE);
  expect(abortedBatch.baseOffset).toBe(4);
  // A batch with the epoch from before the bump is fenced (Kafka's AddPartitionsToTxnManager answers INVALID_PRODUCER_EPOCH).
  expect((await produce(12, id, first, 2, 0, ["zombie"])).errorCode).toBe(ErrorCode.INVALID_PRODUCER_EPOCH);
  const aborted = await endTxn(id, second, false);
  expect(aborted.errorCode).toBe(ErrorCode.NONE);
  expect(aborted.producerEpoch).toBe(second.producerEpoch + 1);
  await waitForState(id, "CompleteAbort");

  // read_committed: the aborted batch is listed as aborted, nothing is left unstable, partition 2 got nothing.
  const afterAbort = await fetchReadCommitted(0);
  expect(afterAbort.abortedProducers).toEqual([first.producerId]);
  expect(afterAbort.lastStableOffset).toBe(6);
  expect(afterAbort.highWatermark).toBe(6);
  expect(await readCommittedEnd(2)).toEqual({ lastStable: 0, highWatermark: 0 });
  expect((await describe(id)).producerEpoch).toBe(first.producerEpoch + 2);
});

test("TV1 clients: a transactional batch for a partition never added is TRANSACTION_ABORTABLE at Produce v11, INVALID_TXN_STATE at v10", async () => {
  const id = "tv1-not-added";
  const producer = await initProducer(id);
  const v11 = await produce(11, id, producer, 2, 0, ["x"]);
  expect(v11.errorCode).toBe(ErrorCode.TRANSACTION_ABORTABLE);
  expect(v11.errorMessage).toContain("not added to the transaction");
  const v10 = await produce(10, id, producer, 2, 0, ["x"]);
  expect(v10.errorCode).toBe(ErrorCode.INVALID_TXN_STATE);
  expect(v10.errorMessage).toBe("Partition was not added to the transaction");
  // Nothing was appended and no transaction opened.
  expect((await describe(id)).transactionState).toBe("Empty");
  expect(await readCommittedEnd(2)).toEqual({ lastStable: 0, highWatermark: 0 });
});

test("TxnOffsetCommit for a group whose partition was never added: TRANSACTION_ABORTABLE at v4, INVALID_TXN_STATE at v3", async () => {
  const id = "tv1-offsets-not-added";
  const group = "tv1-offsets-group";
  // The group's coordinator (and __consumer_offsets) first.
  const found = await retrying(() => connection.request(ApiKey.FindCoordinator, 3, { key: group, keyType: 0 }), (r) => r.errorCode);
  expect(found.errorCode).toBe(ErrorCode.NONE);
  const producer = await initProducer(id);
  const commitAt = (version: number) =>
    retrying(
      () =>
        connection.request(ApiKey.TxnOffsetCommit, version, {
          transactionalId: id,
          groupId: group,
          producerId: producer.producerId,
          producerEpoch: producer.producerEpoch,
          generationId: -1,
          memberId: "",
          groupInstanceId: null,
          topics: [{ name: TOPIC, partitions: [{ partitionIndex: 0, committedOffset: 1, committedLeaderEpoch: -1, committedMetadata: null }] }],
        }),
      (r) => r.topics[0].partitions[0].errorCode,
    );
  expect((await commitAt(4)).topics[0].partitions[0].errorCode).toBe(ErrorCode.TRANSACTION_ABORTABLE);
  expect((await commitAt(3)).topics[0].partitions[0].errorCode).toBe(ErrorCode.INVALID_TXN_STATE);
  expect((await describe(id)).transactionState).toBe("Empty");
});
