// The partition leader's side of transactions against a real broker process, driven with raw requests
// (the transaction coordinator is another part): transactional batches, WriteTxnMarkers (COMMIT/ABORT
// control batches), the last stable offset, read_committed Fetch with aborted_transactions, ListOffsets
// read_committed, kcat with isolation.level read_committed / read_uncommitted, and recovery after SIGKILL.
import { afterAll, beforeAll, expect, test } from "bun:test";
import { existsSync, readdirSync, readFileSync, rmSync } from "node:fs";
import * as path from "node:path";
import { KafkaConnection } from "../../src/client/kafka-connection.ts";
import { ErrorCode } from "../../src/protocol/errors.ts";
import { ApiKey } from "../../src/protocol/generated/index.ts";
import { ATTRIBUTES_OFFSET, CONTROL_FLAG_MASK, dataViewOf, readInt64 } from "../../src/records/batch.ts";
import { buildBatch } from "../../src/records/compression.ts";
import { readEndTransactionMarker } from "../../src/records/control.ts";
import { BrokerProcess } from "../helpers/broker-process.ts";
import { kcatConsumeAll } from "../helpers/kcat.ts";

const READ_COMMITTED = 1;
const READ_UNCOMMITTED = 0;
/** The produce's transactional id for producers without a coordinator (no verification happens then). */
const TRANSACTIONAL_ID = "log-side-tests";

let broker: BrokerProcess;
let connection: KafkaConnection;

async function connect(): Promise<KafkaConnection> {
  return KafkaConnection.connect({ host: "127.0.0.1", port: broker.port });
}

async function createTopic(name: string, numPartitions = 1): Promise<void> {
  const created = await connection.request(ApiKey.CreateTopics, 7, { topics: [{ name, numPartitions, replicationFactor: 1 }], timeoutMs: 5000 });
  expect(created.topics[0].errorCode).toBe(ErrorCode.NONE);
}

beforeAll(async () => {
  broker = new BrokerProcess();
  await broker.start();
  connection = await connect();
});

afterAll(async () => {
  connection?.close();
  await broker.cleanup();
  rmSync(`${broker.dataDir}.properties`, { force: true });
});

/** Codes a coordinator answers while it loads or is busy: the call is repeated (bounded). */
const RETRIABLE = new Set<number>([ErrorCode.COORDINATOR_LOAD_IN_PROGRESS, ErrorCode.COORDINATOR_NOT_AVAILABLE, ErrorCode.NOT_COORDINATOR, ErrorCode.CONCURRENT_TRANSACTIONS]);
const RETRIES_MAX = 100;

interface Producer {
  id: number;
  epoch: number;
  /** Set when the broker's transaction coordinator gave the id: partitions are then added to its transaction. */
  transactionalId: string | null;
}

let transactionalIds = 0;

/**
 * A producer for these tests, at an epoch of at least `minEpoch`. When the broker has a transaction
 * coordinator the producer is a real transactional one (InitProducerId with a transactional id, re-initialised
 * to bump the epoch) and each partition is added to its transaction before its first batch there, so
 * KIP-890 verification passes; otherwise an idempotent producer id, at the epoch asked for. Either way the
 * markers are then written directly with WriteTxnMarkers: these tests are about the partition leader.
 */
async function newProducer(minEpoch = 0): Promise<Producer> {
  const transactionalId = `log-side-${++transactionalIds}`;
  for (let attempt = 0; attempt < RETRIES_MAX; attempt++) {
    const response = await connection.request(ApiKey.InitProducerId, 1, { transactionalId, transactionTimeoutMs: 600_000 });
    if (RETRIABLE.has(response.errorCode)) {
      await Bun.sleep(100);
      continue;
    }
    if (response.errorCode !== ErrorCode.NONE) break;
    if (response.producerEpoch >= minEpoch) return { id: Number(response.producerId), epoch: response.producerEpoch, transactionalId };
  }
  const response = await connection.request(ApiKey.InitProducerId, 1, { transactionalId: null, transactionTimeoutMs: 60_000 });
  expect(response.errorCode).toBe(ErrorCode.NONE);
  return { id: Number(response.producerId), epoch: minEpoch, transactionalId: null };
}

/** Adds the partition to the producer's transaction at its coordinator (as a client does before producing there). */
async function addPartition(producer: Producer, topic: string, partition: number): Promise<void> {
  if (producer.transactionalId === null) return;
  for (let attempt = 0; attempt < RETRIES_MAX; attempt++) {
    const response = await connection.request(ApiKey.AddPartitionsToTxn, 3, {
      transactions: [],
      v3AndBelowTransactionalId: producer.transactionalId,
      v3AndBelowProducerId: producer.id,
      v3AndBelowProducerEpoch: producer.epoch,
      v3AndBelowTopics: [{ name: topic, partitions: [partition] }],
    });
    const errorCode = response.resultsByTopicV3AndBelow[0].resultsByPartition[0].partitionErrorCode;
    if (RETRIABLE.has(errorCode)) {
      await Bun.sleep(100);
      continue;
    }
    expect(errorCode).toBe(ErrorCode.NONE);
    return;
  }
  throw new Error(`AddPartitionsToTxn for ${producer.transactionalId} kept failing`);
}

/** Per producer and partition, the next sequence (transactional batches are idempotent ones). */
const sequences = new Map<string, number>();

async function produce(
  topic: string,
  partition: number,
  producer: Producer,
  values: string[],
  options: { transactional?: boolean; transactionalId?: string | null } = {},
): Promise<{ errorCode: number; baseOffset: number }> {
  const key = `${producer.id}/${producer.epoch}/${topic}/${partition}`;
  const baseSequence = sequences.get(key) ?? 0;
  const transactional = options.transactional ?? true;
  if (transactional && options.transactionalId === undefined) await addPartition(producer, topic, partition);
  const records = buildBatch({ producerId: producer.id, producerEpoch: producer.epoch, baseSequence, isTransactional: transactional, records: values.map((value) => ({ key: value, value })) });
  const transactionalId = options.transactionalId === undefined ? (transactional ? (producer.transactionalId ?? TRANSACTIONAL_ID) : null) : options.transactionalId;
  const response = await connection.request(ApiKey.Produce, 7, { transactionalId, acks: -1, timeoutMs: 5000, topicData: [{ name: topic, partitionData: [{ index: partition, records }] }] });
  const reply = response.responses[0].partitionResponses[0];
  if (reply.errorCode === ErrorCode.NONE) sequences.set(key, baseSequence + values.length);
  return { errorCode: reply.errorCode, baseOffset: Number(reply.baseOffset) };
}

async function writeMarker(topic: string, partitions: number[], producer: { id: number; epoch: number }, commit: boolean, coordinatorEpoch = 0): Promise<number[]> {
  const response = await connection.request(ApiKey.WriteTxnMarkers, 1, {
    markers: [{ producerId: producer.id, producerEpoch: producer.epoch, transactionResult: commit, coordinatorEpoch, topics: [{ name: topic, partitionIndexes: partitions }] }],
  });
  expect(response.markers).toHaveLength(1);
  expect(Number(response.markers[0].producerId)).toBe(producer.id);
  return response.markers[0].topics[0].partitions.map((answer: { errorCode: number }) => answer.errorCode);
}

interface FetchedPartition {
  errorCode: number;
  highWatermark: number;
  lastStableOffset: number;
  abortedTransactions: { producerId: number; firstOffset: number }[];
  records: Uint8Array;
}

async function fetchPartition(topic: string, partition: number, fetchOffset: number, isolationLevel: number, maxWaitMs = 0, minBytes = 0, via = connection): Promise<FetchedPartition> {
  const response = await via.request(ApiKey.Fetch, 11, {
    replicaId: -1,
    maxWaitMs,
    minBytes,
    maxBytes: 1 << 20,
    isolationLevel,
    topics: [{ topic, partitions: [{ partition, fetchOffset, partitionMaxBytes: 1 << 20 }] }],
  });
  const data = response.responses[0].partitions[0];
  return {
    errorCode: data.errorCode,
    highWatermark: Number(data.highWatermark),
    lastStableOffset: Number(data.lastStableOffset),
    abortedTransactions: (data.abortedTransactions ?? []).map((aborted: { producerId: bigint | number; firstOffset: bigint | number }) => ({ producerId: Number(aborted.producerId), firstOffset: Number(aborted.firstOffset) })),
    records: data.records ?? new Uint8Array(0),
  };
}

async function latestOffset(topic: string, partition: number, isolationLevel: number): Promise<number> {
  const response = await connection.request(ApiKey.ListOffsets, 5, { replicaId: -1, isolationLevel, topics: [{ name: topic, partitions: [{ partitionIndex: partition, currentLeaderEpoch: -1, timestamp: -1 }] }] });
  const answer = response.topics[0].partitions[0];
  expect(answer.errorCode).toBe(ErrorCode.NONE);
  return Number(answer.offset);
}

/** The control batches in fetched records: (offset, commit, coordinator epoch). */
function markersIn(records: Uint8Array): { offset: number; commit: boolean; coordinatorEpoch: number }[] {
  const view = dataViewOf(records);
  const found: { offset: number; commit: boolean; coordinatorEpoch: number }[] = [];
  let position = 0;
  for (let batches = 0; batches < 10_000 && position + 61 <= records.byteLength; batches++) {
    const sizeBytes = view.getInt32(position + 8) + 12;
    if (position + sizeBytes > records.byteLength) break;
    if ((view.getInt16(position + ATTRIBUTES_OFFSET) & CONTROL_FLAG_MASK) !== 0) {
      const marker = readEndTransactionMarker(records, position, sizeBytes);
      if (marker) found.push({ offset: readInt64(view, position), ...marker });
    }
    position += sizeBytes;
  }
  return found;
}

test("an open transaction holds the LSO back; its COMMIT marker releases it for read_committed readers", async () => {
  const topic = "txn-commit";
  await createTopic(topic);
  const producer = await newProducer();
  expect((await produce(topic, 0, producer, ["c1", "c2", "c3"])).errorCode).toBe(ErrorCode.NONE);

  const open = await fetchPartition(topic, 0, 0, READ_COMMITTED);
  expect(open.errorCode).toBe(ErrorCode.NONE);
  expect(open.highWatermark).toBe(3);
  expect(open.lastStableOffset).toBe(0);
  expect(open.records.byteLength).toBe(0);
  expect(await latestOffset(topic, 0, READ_COMMITTED)).toBe(0);
  expect(await latestOffset(topic, 0, READ_UNCOMMITTED)).toBe(3);
  // read_uncommitted is unchanged: everything below the high watermark.
  expect((await fetchPartition(topic, 0, 0, READ_UNCOMMITTED)).records.byteLength).toBeGreaterThan(0);

  // A long-polling read_committed fetch waits at the LSO and is woken by the marker.
  const waiter = await connect();
  const polling = fetchPartition(topic, 0, 0, READ_COMMITTED, 20_000, 1, waiter);
  await Bun.sleep(200);
  expect(await writeMarker(topic, [0], producer, true, 3)).toEqual([ErrorCode.NONE]);
  const woken = await polling;
  waiter.close();
  expect(woken.records.byteLength).toBeGreaterThan(0);

  const committed = await fetchPartition(topic, 0, 0, READ_COMMITTED);
  expect(committed.highWatermark).toBe(4);
  expect(committed.lastStableOffset).toBe(4);
  expect(committed.abortedTransactions).toEqual([]);
  expect(markersIn(committed.records)).toEqual([{ offset: 3, commit: true, coordinatorEpoch: 3 }]);
  expect(await latestOffset(topic, 0, READ_COMMITTED)).toBe(4);
  expect(await kcatConsumeAll(broker.bootstrap, topic, "%s\n", ["-X", "isolation.level=read_committed"])).toEqual(["c1", "c2", "c3"]);
});

test("an aborted transaction is listed in aborted_transactions; kcat read_committed drops it, read_uncommitted shows it", async () => {
  const topic = "txn-abort";
  await createTopic(topic);
  const aborter = await newProducer();
  const committer = await newProducer();
  expect((await produce(topic, 0, committer, ["keep-1"])).baseOffset).toBe(0);
  expect((await produce(topic, 0, aborter, ["drop-1", "drop-2"])).baseOffset).toBe(1);
  expect((await produce(topic, 0, committer, ["keep-2"])).baseOffset).toBe(3);
  // Both open: the LSO is the first offset of the older one.
  expect((await fetchPartition(topic, 0, 0, READ_COMMITTED)).lastStableOffset).toBe(0);
  expect(await writeMarker(topic, [0], committer, true)).toEqual([ErrorCode.NONE]); // offset 4
  // The committer's transaction is over, the aborter's still holds the LSO at 1.
  const held = await fetchPartition(topic, 0, 0, READ_COMMITTED);
  expect(held.lastStableOffset).toBe(1);
  expect(await writeMarker(topic, [0], aborter, false)).toEqual([ErrorCode.NONE]); // offset 5
  expect((await produce(topic, 0, await newProducer(), ["plain"], { transactional: false })).baseOffset).toBe(6);

  const fetched = await fetchPartition(topic, 0, 0, READ_COMMITTED);
  expect(fetched.lastStableOffset).toBe(7);
  expect(fetched.highWatermark).toBe(7);
  expect(fetched.abortedTransactions).toEqual([{ producerId: aborter.id, firstOffset: 1 }]);
  expect(markersIn(fetched.records).map(({ offset, commit }) => ({ offset, commit }))).toEqual([
    { offset: 4, commit: true },
    { offset: 5, commit: false },
  ]);
  // A fetch past the aborted range gets no aborted transactions; one inside it does.
  expect((await fetchPartition(topic, 0, 6, READ_COMMITTED)).abortedTransactions).toEqual([]);
  expect((await fetchPartition(topic, 0, 2, READ_COMMITTED)).abortedTransactions).toEqual([{ producerId: aborter.id, firstOffset: 1 }]);
  // read_uncommitted: no aborted transactions, the LSO field is the high watermark.
  expect((await fetchPartition(topic, 0, 0, READ_UNCOMMITTED)).abortedTransactions).toEqual([]);

  expect(await kcatConsumeAll(broker.bootstrap, topic, "%s\n", ["-X", "isolation.level=read_committed"])).toEqual(["keep-1", "keep-2", "plain"]);
  expect(await kcatConsumeAll(broker.bootstrap, topic, "%s\n", ["-X", "isolation.level=read_uncommitted"])).toEqual(["keep-1", "drop-1", "drop-2", "keep-2", "plain"]);
  // The abort is in the segment's .txnindex: one 34-byte entry in Kafka's format.
  const partitionDir = path.join(broker.dataDir, `${topic}-0`);
  const txnIndex = readFileSync(path.join(partitionDir, "00000000000000000000.txnindex"));
  expect(txnIndex.byteLength).toBe(34);
  const view = new DataView(txnIndex.buffer, txnIndex.byteOffset, txnIndex.byteLength);
  expect([view.getInt16(0), Number(view.getBigInt64(2)), Number(view.getBigInt64(10)), Number(view.getBigInt64(18)), Number(view.getBigInt64(26))]).toEqual([0, aborter.id, 1, 5, 6]);
});

test("markers with a stale producer epoch or coordinator epoch are refused and change nothing", async () => {
  const topic = "txn-fencing";
  await createTopic(topic, 2);
  const producer = await newProducer(2);
  expect((await produce(topic, 0, producer, ["a"])).errorCode).toBe(ErrorCode.NONE);
  expect(await writeMarker(topic, [0], { id: producer.id, epoch: producer.epoch - 1 }, false, 0)).toEqual([ErrorCode.INVALID_PRODUCER_EPOCH]);
  expect((await fetchPartition(topic, 0, 0, READ_COMMITTED)).lastStableOffset).toBe(0);
  expect(await writeMarker(topic, [0], producer, true, 7)).toEqual([ErrorCode.NONE]);
  expect((await produce(topic, 0, producer, ["b"])).errorCode).toBe(ErrorCode.NONE);
  expect(await writeMarker(topic, [0], producer, false, 6)).toEqual([ErrorCode.TRANSACTION_COORDINATOR_FENCED]);
  expect((await fetchPartition(topic, 0, 0, READ_COMMITTED)).lastStableOffset).toBe(2);
  expect(await writeMarker(topic, [0], producer, false, 7)).toEqual([ErrorCode.NONE]);
  expect((await fetchPartition(topic, 0, 0, READ_COMMITTED)).lastStableOffset).toBe(4);
  // A marker for a partition that does not exist; and a partition with no data in the transaction gets its marker anyway.
  const answers = await connection.request(ApiKey.WriteTxnMarkers, 1, {
    markers: [{ producerId: producer.id, producerEpoch: producer.epoch, transactionResult: true, coordinatorEpoch: 7, topics: [{ name: topic, partitionIndexes: [1, 9] }, { name: "no-such-topic", partitionIndexes: [0] }] }],
  });
  expect(answers.markers[0].topics.map((t: { partitions: { errorCode: number }[] }) => t.partitions.map((p) => p.errorCode))).toEqual([
    [ErrorCode.NONE, ErrorCode.UNKNOWN_TOPIC_OR_PARTITION],
    [ErrorCode.UNKNOWN_TOPIC_OR_PARTITION],
  ]);
  expect((await fetchPartition(topic, 1, 0, READ_COMMITTED)).highWatermark).toBe(1);
});

test("a transactional batch in a produce without a transactional id is refused; clients cannot write control batches", async () => {
  const topic = "txn-refusals";
  await createTopic(topic);
  const producer = await newProducer();
  expect((await produce(topic, 0, producer, ["x"], { transactionalId: null })).errorCode).toBe(ErrorCode.INVALID_TXN_STATE);
  expect((await fetchPartition(topic, 0, 0, READ_UNCOMMITTED)).highWatermark).toBe(0);
});

test("after SIGKILL the LSO, the .txnindex and the producers' open transactions are recovered", async () => {
  const topic = "txn-recovery";
  await createTopic(topic);
  const committed = await newProducer();
  const aborted = await newProducer();
  const open = await newProducer();
  await produce(topic, 0, committed, ["kept"]); // 0
  await produce(topic, 0, aborted, ["gone"]); // 1
  expect(await writeMarker(topic, [0], committed, true)).toEqual([ErrorCode.NONE]); // 2
  expect(await writeMarker(topic, [0], aborted, false)).toEqual([ErrorCode.NONE]); // 3
  await produce(topic, 0, open, ["pending"]); // 4
  await produce(topic, 0, committed, ["late"]); // 5 (the committer's second transaction, also open)
  expect((await fetchPartition(topic, 0, 0, READ_COMMITTED)).lastStableOffset).toBe(4);

  connection.close();
  await broker.kill();
  await broker.start();
  connection = await connect();

  const afterRestart = await fetchPartition(topic, 0, 0, READ_COMMITTED);
  expect(afterRestart.highWatermark).toBe(6);
  expect(afterRestart.lastStableOffset).toBe(4);
  expect(afterRestart.abortedTransactions).toEqual([{ producerId: aborted.id, firstOffset: 1 }]);
  expect(await kcatConsumeAll(broker.bootstrap, topic, "%s\n", ["-X", "isolation.level=read_committed"])).toEqual(["kept"]);
  expect(existsSync(path.join(broker.dataDir, `${topic}-0`, "00000000000000000000.txnindex"))).toBe(true);

  // The recovered producer state still knows both open transactions: their markers end them.
  expect(await writeMarker(topic, [0], open, false)).toEqual([ErrorCode.NONE]); // 6
  expect((await fetchPartition(topic, 0, 0, READ_COMMITTED)).lastStableOffset).toBe(5);
  expect(await writeMarker(topic, [0], committed, true)).toEqual([ErrorCode.NONE]); // 7
  const settled = await fetchPartition(topic, 0, 0, READ_COMMITTED);
  expect(settled.lastStableOffset).toBe(8);
  expect(settled.abortedTransactions).toEqual([
    { producerId: aborted.id, firstOffset: 1 },
    { producerId: open.id, firstOffset: 4 },
  ]);
  expect(await kcatConsumeAll(broker.bootstrap, topic, "%s\n", ["-X", "isolation.level=read_committed"])).toEqual(["kept", "late"]);
  expect(await kcatConsumeAll(broker.bootstrap, topic, "%s\n", ["-X", "isolation.level=read_uncommitted"])).toEqual(["kept", "gone", "pending", "late"]);
  expect(readdirSync(path.join(broker.dataDir, `${topic}-0`)).filter((name) => name.endsWith(".txnindex"))).toEqual(["00000000000000000000.txnindex"]);
});

test("DescribeProducers lists each producer with its open transaction's first offset (KIP-664)", async () => {
  const topic = "txn-describe-producers";
  await createTopic(topic);
  const open = await newProducer();
  const done = await newProducer();
  await produce(topic, 0, done, ["d"]); // 0
  expect(await writeMarker(topic, [0], done, true, 5)).toEqual([ErrorCode.NONE]); // 1
  await produce(topic, 0, open, ["o1", "o2"]); // 2-3
  const response = await connection.request(ApiKey.DescribeProducers, 0, { topics: [{ name: topic, partitionIndexes: [0, 3] }, { name: "no-such-topic", partitionIndexes: [0] }] });
  const [partition, missing] = response.topics[0].partitions;
  expect(partition.errorCode).toBe(ErrorCode.NONE);
  expect(missing.errorCode).toBe(ErrorCode.UNKNOWN_TOPIC_OR_PARTITION);
  expect(response.topics[1].partitions[0].errorCode).toBe(ErrorCode.UNKNOWN_TOPIC_OR_PARTITION);
  const byId = new Map(partition.activeProducers.map((producer: { producerId: number | bigint }) => [Number(producer.producerId), producer]));
  expect(byId.get(open.id)).toMatchObject({ producerEpoch: open.epoch, lastSequence: 1, coordinatorEpoch: -1 });
  expect(Number((byId.get(open.id) as { currentTxnStartOffset: number | bigint }).currentTxnStartOffset)).toBe(2);
  expect(byId.get(done.id)).toMatchObject({ producerEpoch: done.epoch, lastSequence: 0, coordinatorEpoch: 5 });
  expect(Number((byId.get(done.id) as { currentTxnStartOffset: number | bigint }).currentTxnStartOffset)).toBe(-1);
});
