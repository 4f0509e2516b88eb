// What transactions cost (issue 11), against a real broker process over raw Kafka requests (no client library
// in the way):
//   * transactional produce of 1 KiB records in transactions of 1, 100 and 10,000 records (AddPartitionsToTxn,
//     the batches, EndTxn commit; the next transaction's AddPartitionsToTxn is retried while the coordinator
//     still writes the markers, CONCURRENT_TRANSACTIONS, as clients do) next to idempotent produce of the same
//     records in the same batches;
//   * the same transactions under transaction version 2 (KIP-890 part 2): no AddPartitionsToTxn, Produce v12 adds
//     the partition at its first batch (retried while the previous transaction's markers are written: the leader
//     answers NOT_ENOUGH_REPLICAS for the coordinator's CONCURRENT_TRANSACTIONS), EndTxn v5 bumps the epoch;
//   * catch-up fetch of a partition holding 100-record transactions, one in ten aborted: read_committed
//     (LSO, aborted_transactions from the .txnindex) against read_uncommitted.
//   bun bench/transactions.ts [--scale N]   (bun run bench:txn; --scale 0.2 for a quick look)
// Prints a table and one JSON line; the figures go into bench/analysis.md by hand.
import { mkdtempSync, rmSync } from "node:fs";
import { cpus, loadavg, tmpdir, totalmem } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { KafkaConnection } from "../src/client/kafka-connection.ts";
import { ErrorCode, errorName } from "../src/protocol/errors.ts";
import { ApiKey } from "../src/protocol/generated/index.ts";
import { buildBatch } from "../src/records/compression.ts";
import { BenchBroker } from "./broker-process.ts";

const { values: flags } = parseArgs({ options: { scale: { type: "string", default: "1" } } });
const scale = Number(flags.scale);
if (!(scale > 0 && scale <= 10)) throw new RangeError(`--scale must be in (0, 10], got ${flags.scale}`);

const RECORD_BYTES = 1024;
/** Records per produce batch at most (1 MiB batches, the hot path's shape). */
const BATCH_RECORDS_MAX = 1000;
const FETCH_PASSES = 5;
const RETRIABLE = new Set<number>([ErrorCode.CONCURRENT_TRANSACTIONS, ErrorCode.COORDINATOR_LOAD_IN_PROGRESS, ErrorCode.COORDINATOR_NOT_AVAILABLE, ErrorCode.NOT_COORDINATOR, ErrorCode.NOT_ENOUGH_REPLICAS]);
const RETRIES_MAX = 10_000;

const workDir = mkdtempSync(join(tmpdir(), "bunka-bench-txn-"));
const broker = new BenchBroker({ workDir, properties: { "transaction.state.log.num.partitions": "1", "offsets.topic.num.partitions": "1" } });
await broker.start();
const connection = await KafkaConnection.connect({ host: "127.0.0.1", port: broker.port, requestTimeoutMs: 60_000 });
const value = new Uint8Array(RECORD_BYTES).fill(120);

async function createTopic(name: string): Promise<void> {
  const created = await connection.request(ApiKey.CreateTopics, 7, { topics: [{ name, numPartitions: 1, replicationFactor: 1 }], timeoutMs: 10_000 });
  if (created.topics[0].errorCode !== ErrorCode.NONE) throw new Error(`create ${name}: ${errorName(created.topics[0].errorCode)}`);
}

/** Retries of retriable answers, per what was retried (a transaction's wait for the previous one's markers shows here). */
const retries = new Map<string, number>();

async function retried(what: string, call: () => Promise<number>): Promise<void> {
  for (let attempt = 0; attempt < RETRIES_MAX; attempt++) {
    const errorCode = await call();
    if (errorCode === ErrorCode.NONE) return;
    retries.set(what, (retries.get(what) ?? 0) + 1);
    if (!RETRIABLE.has(errorCode)) throw new Error(`${what}: ${errorName(errorCode)}`);
    await Bun.sleep(1);
  }
  throw new Error(`${what}: still busy after ${RETRIES_MAX} attempts`);
}

interface ProducerId {
  id: number;
  epoch: number;
  transactionalId: string | null;
}

async function initProducer(transactionalId: string | null, version = 1): Promise<ProducerId> {
  let answer: ProducerId | null = null;
  await retried("InitProducerId", async () => {
    const response = await connection.request(ApiKey.InitProducerId, version, { transactionalId, transactionTimeoutMs: 60_000, producerId: -1, producerEpoch: -1 });
    if (response.errorCode === ErrorCode.NONE) answer = { id: Number(response.producerId), epoch: response.producerEpoch, transactionalId };
    return response.errorCode;
  });
  return answer!;
}

/** Produces `records` records in batches of at most BATCH_RECORDS_MAX (retrying the retriable answers); returns the next sequence. */
async function produceRecords(topic: string, producer: ProducerId, baseSequence: number, records: number, version = 7): Promise<number> {
  let sequence = baseSequence;
  for (let done = 0; done < records; ) {
    const count = Math.min(BATCH_RECORDS_MAX, records - done);
    const batch = buildBatch({ producerId: producer.id, producerEpoch: producer.epoch, baseSequence: sequence, isTransactional: producer.transactionalId !== null, records: Array.from({ length: count }, () => ({ key: null, value })) });
    await retried(`produce to ${topic}`, async () => {
      const response = await connection.request(ApiKey.Produce, version, { transactionalId: producer.transactionalId, acks: -1, timeoutMs: 30_000, topicData: [{ name: topic, partitionData: [{ index: 0, records: batch }] }] });
      return response.responses[0].partitionResponses[0].errorCode;
    });
    sequence += count;
    done += count;
  }
  return sequence;
}

/** Transaction version 2: Produce v12 adds the partition, EndTxn v5 answers the bumped epoch (the sequence starts again at 0). */
async function transactionV2(topic: string, producer: ProducerId, records: number, commit: boolean): Promise<void> {
  await produceRecords(topic, producer, 0, records, 12);
  await retried("EndTxn v5", async () => {
    const response = await connection.request(ApiKey.EndTxn, 5, { transactionalId: producer.transactionalId, producerId: producer.id, producerEpoch: producer.epoch, committed: commit });
    if (response.errorCode === ErrorCode.NONE) {
      producer.id = Number(response.producerId);
      producer.epoch = response.producerEpoch;
    }
    return response.errorCode;
  });
}

async function transaction(topic: string, producer: ProducerId, sequence: number, records: number, commit: boolean): Promise<number> {
  await retried("AddPartitionsToTxn", async () => {
    const response = await connection.request(ApiKey.AddPartitionsToTxn, 3, {
      transactions: [],
      v3AndBelowTransactionalId: producer.transactionalId,
      v3AndBelowProducerId: producer.id,
      v3AndBelowProducerEpoch: producer.epoch,
      v3AndBelowTopics: [{ name: topic, partitions: [0] }],
    });
    return response.resultsByTopicV3AndBelow[0].resultsByPartition[0].partitionErrorCode;
  });
  const next = await produceRecords(topic, producer, sequence, records);
  await retried("EndTxn", async () => (await connection.request(ApiKey.EndTxn, 1, { transactionalId: producer.transactionalId, producerId: producer.id, producerEpoch: producer.epoch, committed: commit })).errorCode);
  return next;
}

interface ProduceRow {
  transactionRecords: number;
  records: number;
  transactionalRecordsPerSec: number;
  transactionsPerSec: number;
  /** Transaction version 2 (Produce v12, EndTxn v5). */
  transactionsV2PerSec: number;
  /** Retried AddPartitionsToTxn (version 1) and retried first Produce v12 batches (version 2) over the row. */
  retriesV1: number;
  retriesV2: number;
  idempotentRecordsPerSec: number;
}

const produceRows: ProduceRow[] = [];
for (const [transactionRecords, transactions] of [
  [1, Math.round(2000 * scale)],
  [100, Math.round(200 * scale)],
  [10_000, Math.max(1, Math.round(5 * scale))],
] as const) {
  const records = transactionRecords * transactions;
  const transactionalTopic = `txn-${transactionRecords}`;
  const transactionalV2Topic = `txn-v2-${transactionRecords}`;
  const idempotentTopic = `idem-${transactionRecords}`;
  await createTopic(transactionalTopic);
  await createTopic(transactionalV2Topic);
  await createTopic(idempotentTopic);

  const transactional = await initProducer(`bench-${transactionRecords}`);
  const transactionalV2 = await initProducer(`bench-v2-${transactionRecords}`, 5);
  let sequence = 0;
  // Version 1 and version 2 in blocks of back-to-back transactions, ABAB (interleaving single transactions would
  // have each one wait on the other's markers), so that the machine's load drifts hit both.
  let transactionalSeconds = 0;
  let transactionalV2Seconds = 0;
  retries.clear();
  for (let block = 0; block < 2; block++) {
    const count = block === 0 ? Math.ceil(transactions / 2) : Math.floor(transactions / 2);
    let startedMs = performance.now();
    for (let n = 0; n < count; n++) sequence = await transaction(transactionalTopic, transactional, sequence, transactionRecords, true);
    transactionalSeconds += (performance.now() - startedMs) / 1000;
    startedMs = performance.now();
    for (let n = 0; n < count; n++) await transactionV2(transactionalV2Topic, transactionalV2, transactionRecords, true);
    transactionalV2Seconds += (performance.now() - startedMs) / 1000;
  }

  const idempotent = await initProducer(null);
  sequence = 0;
  const startedMs = performance.now();
  // The same records in the same batches: one transaction's records at a time.
  for (let n = 0; n < transactions; n++) sequence = await produceRecords(idempotentTopic, idempotent, sequence, transactionRecords);
  const idempotentSeconds = (performance.now() - startedMs) / 1000;

  produceRows.push({
    transactionRecords,
    records,
    transactionalRecordsPerSec: Math.round(records / transactionalSeconds),
    transactionsPerSec: Math.round(transactions / transactionalSeconds),
    transactionsV2PerSec: Math.round(transactions / transactionalV2Seconds),
    retriesV1: retries.get("AddPartitionsToTxn") ?? 0,
    retriesV2: retries.get(`produce to ${transactionalV2Topic}`) ?? 0,
    idempotentRecordsPerSec: Math.round(records / idempotentSeconds),
  });
}

// Catch-up fetch: 100-record transactions, one in ten aborted.
const FETCH_TOPIC = "txn-fetch";
const fetchTransactions = Math.round(500 * scale);
await createTopic(FETCH_TOPIC);
const fetchProducer = await initProducer("bench-fetch");
let fetchSequence = 0;
for (let n = 0; n < fetchTransactions; n++) fetchSequence = await transaction(FETCH_TOPIC, fetchProducer, fetchSequence, 100, n % 10 !== 9);
await Bun.sleep(200);

async function catchUp(isolationLevel: number): Promise<{ seconds: number; bytes: number; abortedEntries: number }> {
  let offset = 0;
  let bytes = 0;
  let abortedEntries = 0;
  const startedMs = performance.now();
  for (let fetches = 0; fetches < 1_000_000; fetches++) {
    const response = await connection.request(ApiKey.Fetch, 11, {
      replicaId: -1,
      maxWaitMs: 0,
      minBytes: 0,
      maxBytes: 1 << 20,
      isolationLevel,
      topics: [{ topic: FETCH_TOPIC, partitions: [{ partition: 0, fetchOffset: offset, partitionMaxBytes: 1 << 20 }] }],
    });
    const data = response.responses[0].partitions[0];
    const end = Number(isolationLevel === 1 ? data.lastStableOffset : data.highWatermark);
    const records: Uint8Array = data.records ?? new Uint8Array(0);
    abortedEntries += data.abortedTransactions?.length ?? 0;
    if (records.byteLength === 0) break;
    bytes += records.byteLength;
    // The next offset: after the last complete batch (base offset + last offset delta + 1).
    const view = new DataView(records.buffer, records.byteOffset, records.byteLength);
    let position = 0;
    let next = offset;
    while (position + 61 <= records.byteLength) {
      const size = view.getInt32(position + 8) + 12;
      if (position + size > records.byteLength) break;
      next = Number(view.getBigInt64(position)) + view.getInt32(position + 23) + 1;
      position += size;
    }
    offset = next;
    if (offset >= end) break;
  }
  return { seconds: (performance.now() - startedMs) / 1000, bytes, abortedEntries };
}

const median = (values: number[]): number => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;
const fetchRows: { isolation: string; mibPerSec: number; mib: number; abortedEntries: number }[] = [];
const levels = [["read_uncommitted", 0], ["read_committed", 1]] as const;
// One unmeasured pass each (page cache, JIT), then the two isolation levels alternate so load drifts hit both.
for (const [, level] of levels) await catchUp(level);
const passes = new Map<number, { seconds: number; bytes: number; abortedEntries: number }[]>(levels.map(([, level]) => [level, []]));
for (let pass = 0; pass < FETCH_PASSES; pass++) for (const [, level] of levels) passes.get(level)!.push(await catchUp(level));
for (const [isolation, level] of levels) {
  const measured = passes.get(level)!;
  const rates = measured.map((p) => p.bytes / (1 << 20) / p.seconds);
  fetchRows.push({ isolation, mibPerSec: Math.round(median(rates)), mib: Math.round(measured[0]!.bytes / (1 << 20)), abortedEntries: measured[0]!.abortedEntries });
}

connection.close();
await broker.stop();
rmSync(workDir, { recursive: true, force: true });

const machine = `${cpus().length} x ${cpus()[0]?.model ?? "?"}, ${Math.round(totalmem() / 2 ** 30)} GiB, load ${loadavg().map((l) => l.toFixed(1)).join(" ")}, Bun ${Bun.version}`;
console.log(`machine: ${machine}`);
console.log("records per transaction | records | transactional records/s | transactions/s | TV2 transactions/s | retries TV1 / TV2 | idempotent records/s (same batches)");
for (const row of produceRows) console.log(`${row.transactionRecords} | ${row.records} | ${row.transactionalRecordsPerSec} | ${row.transactionsPerSec} | ${row.transactionsV2PerSec} | ${row.retriesV1} / ${row.retriesV2} | ${row.idempotentRecordsPerSec}`);
console.log("catch-up fetch | MiB/s (median of 5) | MiB read | aborted_transactions entries returned");
for (const row of fetchRows) console.log(`${row.isolation} | ${row.mibPerSec} | ${row.mib} | ${row.abortedEntries}`);
console.log(JSON.stringify({ machine, scale, produce: produceRows, fetch: fetchRows }));
