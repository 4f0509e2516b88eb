// Messages between the socket thread and the partition workers. Control data travels as plain objects
// (structured clone is faster than msgpackr for these, see docs/bun-runtime.md §5.4); record data travels
// as transferred ArrayBuffers, never copied.
import type { LogConfig } from "../log/config.ts";
import type { ErrorResult, FileSlice, ReadResult } from "../log/partition-log.ts";

// Read results and their file slices are the log's types; failures are the log's ErrorResult shape.
export type { ErrorResult, FileSlice, ReadResult };

export interface PartitionKey {
  topic: string;
  partition: number;
}

export interface OpenPartitionCommand extends PartitionKey {
  dir: string;
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
}

export interface ProduceResult extends ErrorResult {
  /** The records that made the produce fail (ProduceResponse v8+ record_errors). */
  recordErrors?: { batchIndex: number; message: string }[];
  baseOffset: number;
  lastOffset: number;
  logAppendTimeMs: number;
  logStartOffset: number;
  logEndOffset: number;
  /** An idempotent producer's retry of a batch already in the log: nothing written, offsets are the original's. */
  duplicate?: boolean;
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
}

export interface OffsetsResult extends ErrorResult {
  logStartOffset: number;
  logEndOffset: number;
}

export interface TimestampLookupItem extends PartitionKey {
  timestampMs: number;
}

export interface TimestampLookupResult extends ErrorResult {
  offset: number;
  timestampMs: number;
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

export type WorkerCommand =
  | { op: "open"; id: number; partitions: OpenPartitionCommand[] }
  | { op: "configure"; id: number; partitions: OpenPartitionCommand[] }
  | { op: "delete"; id: number; partitions: PartitionKey[] }
  | { op: "produce"; id: number; items: ProduceItem[] }
  | { op: "appendReplica"; id: number; items: ReplicaAppendItem[] }
  | { op: "read"; id: number; items: ReadItem[] }
  | { op: "offsets"; id: number; items: PartitionKey[] }
  | { op: "offsetForTimestamp"; id: number; items: TimestampLookupItem[] }
  | { op: "truncate"; id: number; items: TruncateItem[] }
  | { op: "truncateFully"; id: number; items: TruncateItem[] }
  | { op: "assignEpoch"; id: number; items: EpochEndOffsetItem[] }
  | { op: "latestEpoch"; id: number; items: PartitionKey[] }
  | { op: "epochEndOffset"; id: number; items: EpochEndOffsetItem[] }
  | { op: "deleteRecords"; id: number; items: TruncateItem[] }
  | { op: "flush"; id: number }
  | { op: "stats"; id: number }
  | { op: "close"; id: number };

/** A worker's produce-path counters (see worker.ts `stats`). */
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

export type WorkerReply = { id: number; ok: true; results: unknown[] } | { id: number; ok: false; error: string };

/** Events a worker sends without being asked. */
export type WorkerEvent = { event: "log"; message: string };
