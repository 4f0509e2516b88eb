// The hanging-transaction defence (KIP-890 part 1) against a real broker process: a transactional produce is
// held in the network (test/helpers/request-holding-proxy.ts) while its transaction is aborted (by the
// producer's EndTxn, or by the coordinator after transaction.timeout.ms), then delivered. The partition
// leader asks the coordinator, which no longer has that partition in an ongoing transaction of that
// producer epoch: the batch is refused, nothing is appended, no transaction is opened, and every
// partition's last stable offset is its high watermark.
import { afterAll, beforeAll, expect, test } from "bun:test";
import { KafkaConnection } from "../../src/client/kafka-connection.ts";
import { ErrorCode } from "../../src/protocol/errors.ts";
import { ApiKey } from "../../src/protocol/generated/index.ts";
import { buildBatch } from "../../src/records/compression.ts";
import { BrokerProcess } from "../helpers/broker-process.ts";
import { kcatConsumeAll } from "../helpers/kcat.ts";
import { RequestHoldingProxy } from "../helpers/request-holding-proxy.ts";
import { describeTransaction, waitForTransactionState, type TransactionDescription } from "../helpers/transactions.ts";

const TOPIC = "held-txn";
const PARTITIONS = 2;
const RETRIES_MAX = 100;
const RETRIABLE = new Set<number>([ErrorCode.COORDINATOR_LOAD_IN_PROGRESS, ErrorCode.COORDINATOR_NOT_AVAILABLE, ErrorCode.NOT_COORDINATOR, ErrorCode.CONCURRENT_TRANSACTIONS]);
/** What a refused late batch may be told: its transaction is over, or its epoch was bumped by the abort. */
const REFUSALS: number[] = [ErrorCode.INVALID_TXN_STATE, ErrorCode.INVALID_PRODUCER_EPOCH, ErrorCode.PRODUCER_FENCED];

let broker: BrokerProcess;
let proxy: RequestHoldingProxy;
let direct: KafkaConnection;
let delayed: KafkaConnection;

beforeAll(async () => {
  broker = new BrokerProcess({
    properties: {
      "transaction.state.log.num.partitions": "2",
      "offsets.topic.num.partitions": "2",
      "transaction.abort.timed.out.transaction.cleanup.interval.ms": "200",
    },
  });
  await broker.start();
  proxy = new RequestHoldingProxy(broker.port);
  direct = await KafkaConnection.connect({ host: "127.0.0.1", port: broker.port });
  delayed = await KafkaConnection.connect({ host: "127.0.0.1", port: proxy.port, requestTimeoutMs: 60_000 });
  const created = await direct.request(ApiKey.CreateTopics, 7, { topics: [{ name: TOPIC, numPartitions: PARTITIONS, replicationFactor: 1 }], timeoutMs: 5000 });
  expect(created.topics[0].errorCode).toBe(ErrorCode.NONE);
}, 60_000);

afterAll(async () => {
  delayed?.close();
  direct?.close();
  proxy?.stop();
  await broker?.cleanup();
});

async function retrying<T extends { errorCode: number }>(call: () => Promise<T>): Promise<T> {
  let last: T | undefined;
  for (let attempt = 0; attempt < RETRIES_MAX; attempt++) {
    last = await call();
    if (!RETRIABLE.has(last.errorCode)) return last;
    await Bun.sleep(100);
  }
  return last!;
}

interface Producer {
  transactionalId: string;
  id: number;
  epoch: number;
}

async function beginTransaction(transactionalId: string, partitions: number[], transactionTimeoutMs: number): Promise<Producer> {
  const init = await retrying(async () => direct.request(ApiKey.InitProducerId, 1, { transactionalId, transactionTimeoutMs }));
  expect(init.errorCode).toBe(ErrorCode.NONE);
  const producer = { transactionalId, id: Number(init.producerId), epoch: init.producerEpoch };
  const added = await retrying(async () => {
    const response = await direct.request(ApiKey.AddPartitionsToTxn, 3, {
      transactions: [],
      v3AndBelowTransactionalId: transactionalId,
      v3AndBelowProducerId: producer.id,
      v3AndBelowProducerEpoch: producer.epoch,
      v3AndBelowTopics: [{ name: TOPIC, partitions }],
    });
    const codes = response.resultsByTopicV3AndBelow[0].resultsByPartition.map((p: { partitionErrorCode: number }) => p.partitionErrorCode);
    return { errorCode: codes.find((code: number) => code !== ErrorCode.NONE) ?? ErrorCode.NONE };
  });
  expect(added.errorCode).toBe(ErrorCode.NONE);
  return producer;
}

/** One transactional batch per partition, in one Produce; the answers per partition. */
async function produce(via: KafkaConnection, producer: Producer, batches: { partition: number; baseSequence: number; values: string[] }[]): Promise<Map<number, number>> {
  const response = await via.request(ApiKey.Produce, 7, {
    transactionalId: producer.transactionalId,
    acks: -1,
    timeoutMs: 5000,
    topicData: [
      {
        name: TOPIC,
        partitionData: batches.map(({ partition, baseSequence, values }) => ({
          index: partition,
          records: buildBatch({ producerId: producer.id, producerEpoch: producer.epoch, baseSequence, isTransactional: true, records: values.map((value) => ({ key: null, value })) }),
        })),
      },
    ],
  });
  return new Map(response.responses[0].partitionResponses.map((p: { index: number; errorCode: number }) => [p.index, p.errorCode]));
}

async function latestOffsets(isolationLevel: number): Promise<number[]> {
  const response = await direct.request(ApiKey.ListOffsets, 5, {
    replicaId: -1,
    isolationLevel,
    topics: [{ name: TOPIC, partitions: Array.from({ length: PARTITIONS }, (_, partitionIndex) => ({ partitionIndex, currentLeaderEpoch: -1, timestamp: -1 })) }],
  });
  return response.topics[0].partitions.sort((a: { partitionIndex: number }, b: { partitionIndex: number }) => a.partitionIndex - b.partitionIndex).map((p: { offset: bigint | number }) => Number(p.offset));
}

function describe(transactionalId: string): Promise<TransactionDescription> {
  return describeTransaction(direct, transactionalId);
}

async function waitForState(transactionalId: string, state: string): Promise<void> {
  await waitForTransactionState(async () => (await describe(transactionalId)).transactionState, transactionalId, state);
}

/** The producer's open transaction's first offset on each partition (-1: none), from DescribeProducers. */
async function openTransactionStarts(producerId: number): Promise<number[]> {
  const response = await direct.request(ApiKey.DescribeProducers, 0, { topics: [{ name: TOPIC, partitionIndexes: Array.from({ length: PARTITIONS }, (_, p) => p) }] });
  return response.topics[0].partitions
    .sort((a: { partitionIndex: number }, b: { partitionIndex: number }) => a.partitionIndex - b.partitionIndex)
    .map((p: { activeProducers: { producerId: number; currentTxnStartOffset: number }[] }) => Number(p.activeProducers.find((s) => Number(s.producerId) === producerId)?.currentTxnStartOffset ?? -1));
}

test("a produce held in the network until its transaction was aborted by EndTxn is refused on every partition; nothing hangs", async () => {
  const producer = await beginTransaction("held-by-abort", [0, 1], 60_000);
  // Partition 1 already has this transaction's first batch; partition 0 gets its first in the held request.
  expect((await produce(direct, producer, [{ partition: 1, baseSequence: 0, values: ["landed"] }])).get(1)).toBe(ErrorCode.NONE);

  proxy.holdNext(ApiKey.Produce);
  const late = produce(delayed, producer, [
    { partition: 0, baseSequence: 0, values: ["late-0"] },
    { partition: 1, baseSequence: 1, values: ["late-1"] },
  ]);
  await proxy.whenHeld();

  const ended = await retrying(async () => direct.request(ApiKey.EndTxn, 1, { transactionalId: producer.transactionalId, producerId: producer.id, producerEpoch: producer.epoch, committed: false }));
  expect(ended.errorCode).toBe(ErrorCode.NONE);
  await waitForState(producer.transactionalId, "CompleteAbort");
  const highWatermarks = await latestOffsets(0);
  expect(await latestOffsets(1)).toEqual(highWatermarks);

  proxy.release();
  const answers = await late;
  expect(REFUSALS).toContain(answers.get(0)!);
  expect(REFUSALS).toContain(answers.get(1)!);
  // Nothing appended, no transaction opened, the LSO is the log end on both partitions.
  expect(await latestOffsets(0)).toEqual(highWatermarks);
  expect(await latestOffsets(1)).toEqual(highWatermarks);
  expect(await openTransactionStarts(producer.id)).toEqual([-1, -1]);
  const readUncommitted = await kcatConsumeAll(broker.bootstrap, TOPIC, "%s\n", ["-X", "isolation.level=read_uncommitted"]);
  expect(readUncommitted).toEqual(["landed"]);
});

test("a produce held until the coordinator aborted its timed-out transaction is refused; the LSO reaches the log end", async () => {
  const producer = await beginTransaction("held-by-timeout", [0], 1000);
  proxy.holdNext(ApiKey.Produce);
  const late = produce(delayed, producer, [{ partition: 0, baseSequence: 0, values: ["late-after-timeout"] }]);
  await proxy.whenHeld();
  // The coordinator aborts it after transaction.timeout.ms, bumping the epoch (the producer is fenced).
  await waitForState(producer.transactionalId, "CompleteAbort");
  expect((await describe(producer.transactionalId)).producerEpoch).toBeGreaterThan(producer.epoch);
  const highWatermarks = await latestOffsets(0);

  proxy.release();
  const answers = await late;
  expect(REFUSALS).toContain(answers.get(0)!);
  expect(await latestOffsets(0)).toEqual(highWatermarks);
  expect(await latestOffsets(1)).toEqual(highWatermarks);
  expect(await openTransactionStarts(producer.id)).toEqual([-1, -1]);
  const readUncommitted = await kcatConsumeAll(broker.bootstrap, TOPIC, "%s\n", ["-X", "isolation.level=read_uncommitted"]);
  expect(readUncommitted).not.toContain("late-after-timeout");
}, 60_000);
