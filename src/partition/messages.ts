// Messages between the socket thread and the partition workers. Control data travels as plain objects
// (structured clone is faster than msgpackr for these, see docs/bun-runtime.md §5.4); record data travels
// as transferred ArrayBuffers, never copied.
import type { LogConfig } from "../log/config.ts";
import type { FsyncLatency } from "./fsync-latency.ts";
import type { ErrorResult, FileSlice, ReadResult } from "../log/partition-log.ts";

// Read results and their file slices are the log's types; failures are the log's ErrorResult shape.
export type { ErrorResult, FileSlice, ReadResult };

export interface PartitionKey {
  topic: string;
  partition: number;
}

export interface OpenPartitionCommand extends PartitionKey {
  dir: string;
  /** The topic's id (base64url, KIP-516): the directory's partition.metadata must name it (log/partition-metadata-file.ts). */
  topicId?: string;
  config: LogConfig;
  /** Topic compression.type: "producer" stores batches as received; "lz4"/"uncompressed" convert. */
  compressionType: string;
  /** True after an unclean shutdown: segments past the recovery point are re-validated. */
  recover: boolean;
  /** producer.id.expiration.ms: idempotent producers silent this long are forgotten. */
  producerIdExpirationMs: number;
  /** log.cleaner.backoff.ms (a broker setting): pause between the worker's cleaner rounds over compacted logs. */
  cleanerBackoffMs?: number;
  /** log.segment.open.max (a broker setting): inactive segments each worker keeps mapped (open-segments.ts). */
  segmentOpenMax?: number;
}

export interface ProduceItem extends PartitionKey {
  records: Uint8Array;
  leaderEpoch: number;
  /** Wait for fdatasync of this append before answering (flush.messages policy or acks semantics). */
  requireFlush?: boolean;
  /**
   * KIP-890: the guard the worker handed out when this transactional batch's producer had no transaction open
   * here and the coordinator then verified it. A batch that would open a transaction is appended only with
   * the producer's current guard (a marker written meanwhile clears it).
   */
  verificationGuard?: number;
  /** Written by the group coordinator (TxnOffsetCommit): transactional without a sequence (Kafka's AppendOrigin.COORDINATOR). */
  coordinatorOrigin?: boolean;
  /**
   * Answered by a listening worker in a cluster: the leadership generation it judged this broker the leader by
   * (server/shards/local-view.ts). Refused with NOT_LEADER_OR_FOLLOWER if the generation moved before the write.
   */
  leadershipGeneration?: number;
}

/**
 * A log's offsets as its worker read them. `offsetsVersion` grows with every reading on that worker, so the
 * socket thread keeps the newest of answers it applies out of order (absent on answers it made itself).
 */
export interface LogOffsets {
  logStartOffset: number;
  logEndOffset: number;
  offsetsVersion?: number;
}

export interface ProduceResult extends ErrorResult, LogOffsets {
  /** The records that made the produce fail (ProduceResponse v8+ record_errors). */
  recordErrors?: { batchIndex: number; message: string }[];
  baseOffset: number;
  lastOffset: number;
  logAppendTimeMs: number;
  /** An idempotent producer's retry of a batch already in the log: nothing written, offsets are the original's. */
  duplicate?: boolean;
  /** A single-batch append: where it landed (the range a read from baseOffset to lastOffset + 1 returns). */
  appended?: FileSlice;
  /** With `appended`: the log's first unstable offset after the append (-1: no transaction open). */
  firstUnstableOffset?: number;
  /** Time in the worker, from the message's arrival to the answer, and the fsync waited for within it (request stage timing). */
  inWorkerMs?: number;
  flushMs?: number;
}

export interface ReplicaAppendItem extends PartitionKey {
  records: Uint8Array;
}

export interface ReadItem extends PartitionKey {
  fetchOffset: number;
  maxBytes: number;
  /** Reads stop before this offset (the high watermark); -1 means the log end offset. */
  maxOffsetExclusive: number;
  minOneBatch: boolean;
  /**
   * READ_COMMITTED (Fetch isolation_level 1): the read also stops at the first unstable offset, and the
   * result carries the last stable offset and the aborted transactions in the range (docs/transactions.md).
   */
  readCommitted?: boolean;
}

export interface OffsetsResult extends ErrorResult, LogOffsets {
  /** First offset of any ongoing transaction, -1 when none (the LSO is min(this, high watermark)). */
  firstUnstableOffset?: number;
}

/** WriteTxnMarkers on a partition this broker leads: the marker and the leader epoch to write it at. */
export interface MarkerItem extends PartitionKey {
  producerId: number;
  producerEpoch: number;
  coordinatorEpoch: number;
  commit: boolean;
  leaderEpoch: number;
}

/** Whether a producer has an ongoing transaction on a partition (KIP-890: the first batch is verified). */
export interface ProducerTransactionItem extends PartitionKey {
  producerId: number;
}

export interface ProducerTransactionResult extends ErrorResult {
  /** First offset of the producer's ongoing transaction there, -1 when none. */
  firstOffset: number;
  /** When none is open: the verification guard to send with the batch once the coordinator verified it. */
  verificationGuard?: number;
}

/** One active producer of a partition (DescribeProducers, KIP-664). */
export interface ActiveProducer {
  producerId: number;
  producerEpoch: number;
  lastSequence: number;
  lastTimestampMs: number;
  coordinatorEpoch: number;
  currentTxnStartOffset: number;
}

export interface ActiveProducersResult extends ErrorResult {
  producers: ActiveProducer[];
}

export interface TimestampLookupItem extends PartitionKey {
  timestampMs: number;
  /** ListOffsets MAX_TIMESTAMP (KIP-734): the first record with the log's largest timestamp; timestampMs is ignored. */
  maxTimestamp?: boolean;
}

export interface TimestampLookupResult extends ErrorResult {
  offset: number;
  timestampMs: number;
  /** First offset of any ongoing transaction, -1 when none (read_committed lookups stop at the LSO). */
  firstUnstableOffset?: number;
}

export interface TruncateItem extends PartitionKey {
  offset: number;
}

export interface EpochEndOffsetItem extends PartitionKey {
  leaderEpoch: number;
}

export interface EpochEndOffsetResult extends ErrorResult {
  leaderEpoch: number;
  endOffset: number;
}

/** A worker's produce-path counters (see partition-owner.ts `counters`). */
export interface WorkerStats {
  appendedItems: number;
  appendDrains: number;
  groupCommits: number;
  logFlushes: number;
  flushWaits: number;
  /** Messages appended but not yet fdatasync'd, over the worker's partitions (at the time of asking). */
  unflushedMessages: number;
  /** Log cleaner passes completed, and the segment bytes they read and wrote. */
  cleanerPasses: number;
  cleanerBytesRead: number;
  cleanerBytesWritten: number;
}

/** One partition's log as /metrics shows it (admin/): read once per scrape, never per request. */
export interface PartitionLogMetrics extends PartitionKey {
  logStartOffset: number;
  logEndOffset: number;
  segments: number;
  sizeBytes: number;
}

export type { FsyncLatency } from "./fsync-latency.ts";

/**
 * An operation on some partitions: the socket thread sends each item to the worker that owns its partition
 * (one message per worker) and answers one result per item, in item order.
 */
export interface PartitionOperation<Item extends PartitionKey, Result> {
  readonly kind: "partition";
  /** Buffers posted as transferred with one worker's items (moved, never copied). */
  readonly transfer?: (items: readonly Item[]) => ArrayBuffer[];
  /** Never set: carries the item and result types. */
  readonly signature?: (item: Item) => Result;
}

/** An operation every worker runs once (flush, counters, close); one result per worker. */
export interface WorkerWideOperation<Result> {
  readonly kind: "worker";
  /** Never set: carries the result type. */
  readonly signature?: () => Result;
}

function partitionOperation<Item extends PartitionKey, Result>(options: { transfer?: (items: readonly Item[]) => ArrayBuffer[] } = {}): PartitionOperation<Item, Result> {
  return { kind: "partition", ...options };
}

function workerWideOperation<Result>(): WorkerWideOperation<Result> {
  return { kind: "worker" };
}

/**
 * The one table of worker operations. The socket thread's client (partition-workers.ts) gets a method per
 * partition operation from it, a worker's state (PartitionOwner) implements `WorkerOperations`, and the
 * worker thread dispatches a command by looking its name up here.
 */
export const workerOperations = {
  open: partitionOperation<OpenPartitionCommand, OffsetsResult>(),
  configure: partitionOperation<OpenPartitionCommand, OffsetsResult>(),
  delete: partitionOperation<PartitionKey, OffsetsResult>(),
  produce: partitionOperation<ProduceItem, ProduceResult>(),
  appendReplica: partitionOperation<ReplicaAppendItem, ProduceResult>({
    // Each fetched partition's records are a copy of their own (replica-fetcher.ts): moved to the worker.
    transfer: (items) => [...new Set(items.map((item) => item.records.buffer as ArrayBuffer))],
  }),
  read: partitionOperation<ReadItem, ReadResult & LogOffsets>(),
  offsets: partitionOperation<PartitionKey, OffsetsResult>(),
  offsetForTimestamp: partitionOperation<TimestampLookupItem, TimestampLookupResult>(),
  truncate: partitionOperation<TruncateItem, OffsetsResult>(),
  /** A transaction's COMMIT/ABORT control batch, written by the leader (WriteTxnMarkers; transactions/markers.ts). */
  appendMarker: partitionOperation<MarkerItem, ProduceResult>(),
  /** The first offset of a producer's ongoing transaction on each partition (KIP-890 verification on produce). */
  producerTransaction: partitionOperation<ProducerTransactionItem, ProducerTransactionResult>(),
  /** The partition's producers as its producer state knows them (DescribeProducers). */
  activeProducers: partitionOperation<PartitionKey, ActiveProducersResult>(),
  /** Empties the log and restarts it at `offset` (a follower far behind the leader's log start). */
  truncateFully: partitionOperation<TruncateItem, OffsetsResult>(),
  /** The latest leader epoch in each log's epoch cache (-1 if none) and the log end offset. */
  latestEpoch: partitionOperation<PartitionKey, EpochEndOffsetResult>(),
  /** A new leader records the epoch it starts at the log end offset (KIP-101). */
  assignEpoch: partitionOperation<EpochEndOffsetItem, OffsetsResult>(),
  deleteRecords: partitionOperation<TruncateItem, OffsetsResult>(),
  epochEndOffset: partitionOperation<EpochEndOffsetItem, EpochEndOffsetResult>(),
  flush: workerWideOperation<void>(),
  stats: workerWideOperation<WorkerStats>(),
  /** Every open partition's offsets, segment count and bytes on disk (one call per /metrics scrape). */
  logMetrics: workerWideOperation<PartitionLogMetrics[]>(),
  /** The worker's fdatasync latency buckets since it started (one call per /metrics scrape). */
  fsyncLatency: workerWideOperation<FsyncLatency>(),
  /** Closes every log cleanly (files trimmed and fsynced) and stops the worker's timers. */
  close: workerWideOperation<void>(),
} as const;

type OperationTable = typeof workerOperations;
export type WorkerOperationName = keyof OperationTable;

export type PartitionOperationName = {
  [Name in WorkerOperationName]: OperationTable[Name] extends PartitionOperation<infer _Item, infer _Result> ? Name : never;
}[WorkerOperationName];
export type WorkerWideOperationName = Exclude<WorkerOperationName, PartitionOperationName>;

export type OperationItem<Name extends PartitionOperationName> = OperationTable[Name] extends PartitionOperation<infer Item, infer _Result> ? Item : never;
export type OperationResult<Name extends WorkerOperationName> =
  OperationTable[Name] extends PartitionOperation<infer _Item, infer Result> ? Result : OperationTable[Name] extends WorkerWideOperation<infer Result> ? Result : never;

/** What a worker implements: a method per operation, named as in the table. */
export type WorkerOperations = {
  [Name in WorkerOperationName]: Name extends PartitionOperationName
    ? (items: OperationItem<Name>[]) => OperationResult<Name>[] | Promise<OperationResult<Name>[]>
    : () => OperationResult<Name> | Promise<OperationResult<Name>>;
};

export type WorkerCommand = {
  [Name in WorkerOperationName]: Name extends PartitionOperationName ? { op: Name; id: number; items: OperationItem<Name>[] } : { op: Name; id: number };
}[WorkerOperationName];

export type WorkerReply = { id: number; ok: true; result: unknown } | { id: number; ok: false; error: string };

/** Runs one command on a worker's operations; a name not in the table is refused. */
export async function runWorkerCommand(operations: WorkerOperations, command: WorkerCommand): Promise<unknown> {
  if (!Object.hasOwn(workerOperations, command.op)) throw new Error(`unknown worker operation ${JSON.stringify(command.op)}`);
  const operation = operations[command.op] as (this: WorkerOperations, items?: readonly PartitionKey[]) => unknown;
  return operation.call(operations, "items" in command ? command.items : undefined);
}

/**
 * Runs a command and delivers its answer, and on failure a log line first (`who` names the owner in it): what a
 * worker thread, the socket thread's inline owner and a listening worker all do with the commands they get.
 */
export function answerWorkerCommand(operations: WorkerOperations, command: WorkerCommand, deliver: (message: WorkerReply | WorkerEvent) => void, who: string): void {
  runWorkerCommand(operations, command).then(
    (result) => deliver({ id: command.id, ok: true, result }),
    (error: unknown) => {
      deliver({ event: "log", message: `${who}: ${command.op} failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}` });
      deliver({ id: command.id, ok: false, error: error instanceof Error ? error.message : String(error) });
    },
  );
}

/** Events a worker sends without being asked. */
export type WorkerEvent = { event: "log"; message: string };
