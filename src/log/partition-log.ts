// The log of one partition (Kafka's UnifiedLog + LocalLog): directory `<dataDir>/<topic>-<partition>`
// holding segments sorted by base offset, the last one active. Owned by one partition worker: nothing
// here is thread-safe, and only this object writes the directory.
import * as path from "node:path";
import { systemClock, type Clock } from "../util/clock.ts";
import type { ErrorResult, Failure } from "../util/result.ts";
import {
  ATTRIBUTES_OFFSET,
  CONTROL_FLAG_MASK,
  PARTITION_LEADER_EPOCH_OFFSET,
  PRODUCER_EPOCH_OFFSET,
  PRODUCER_ID_OFFSET,
  assignOffsets,
  batchBaseOffset,
  batchLastOffset,
  batchMaxTimestamp,
  batchSizeBytes,
  dataViewOf,
  isRecordsProblem,
  readInt64,
  setLogAppendTime,
  validateBatches,
  type BatchesInfo,
  type RecordChecks,
  type RecordError,
} from "../records/batch.ts";
import { decompressBounded } from "../records/decompression.ts";
import { buildControlBatch, readEndTransactionMarker } from "../records/control.ts";
import { INVALID_RECORD, KAFKA_STORAGE_ERROR, OFFSET_OUT_OF_RANGE, RECORD_LIST_TOO_LARGE } from "../records/errors.ts";
import { segmentPaths, type CleanedSegmentWriter } from "./cleaned-segment.ts";
import { CleanerCheckpoint, NO_TOMBSTONE } from "./cleaner-checkpoint.ts";
import { writeOffsetFile } from "./checkpoint.ts";
import { resolveLogConfig, type LogConfig } from "./config.ts";
import { nodeFileSystem, type FileSystem } from "./file-system.ts";
import { LeaderEpochCache } from "./leader-epoch-cache.ts";
import { LOG_START_OFFSET_FILE, RECOVERY_POINT_FILE, loadSegments, type RecoveryReport } from "./log-loader.ts";
import { DEFAULT_PRODUCER_ID_EXPIRATION_MS, ProducerStateManager, readIdempotentBatch, type CompletedTransaction, type IdempotentBatch, type ProducerBatchMetadata } from "./producer-state.ts";
import { TRANSACTION_INDEX_SUFFIX, TransactionIndex, type AbortedTransaction } from "./transaction-index.ts";
import { ProducerSnapshotFiles, rebuildProducerState, type ProducerStateRebuild } from "./producer-state-snapshot.ts";
import { LogSegment, SWAP_FILE_SUFFIX, fsyncDirectory, type FileIdentity } from "./segment.ts";

/** writev takes at most IOV_MAX (1024) buffers; coalesced appends are written in groups of at most this. */
const MAX_PARTS_PER_WRITE = 256;
/** Offsets one write may span: relative offsets in a segment are int32, so a group never exceeds what one new segment holds. */
const GROUP_RECORDS_MAX = 0x8000_0000;

export interface PartitionLogOptions {
  dir: string;
  config: Partial<LogConfig>;
  /** True after an unclean shutdown: segments from the recovery point on are re-validated. */
  recover: boolean;
  nowMs?: number;
  /** producer.id.expiration.ms (a broker setting in Kafka); default one day. */
  producerIdExpirationMs?: number;
  /** The disk (node:fs by default; test/sim/ passes a simulated one). */
  files?: FileSystem;
  /** Wall time for calls that do not pass nowMs (Date.now by default). */
  clock?: Clock;
}

export interface AppendInfo {
  errorCode: 0;
  baseOffset: number;
  lastOffset: number;
  /** The broker's timestamp for LogAppendTime topics, -1 for CreateTime. */
  logAppendTimeMs: number;
  logStartOffset: number;
  recordCount: number;
  batchCount: number;
  /**
   * True when the batch repeats one of its idempotent producer's last 5 batches: nothing was written, and
   * the offsets (and LogAppendTime) are those of the copy already in the log (Kafka answers a duplicate so).
   */
  duplicate: boolean;
  /**
   * Where a single-batch append landed (absent for duplicates and multi-batch appends): a tailing
   * consumer's fetch at baseOffset is answered from this range on the socket thread (api/fetch.ts).
   */
  slice?: FileSlice;
}

/** The one shape of an outcome that can fail (util/result.ts), shared with records/ and the partition workers. */
export type { ErrorResult };

export interface AppendError extends Failure {
  /** The records that made the batch fail (ProduceResponse v8+ record_errors). */
  recordErrors?: RecordError[];
}

export type AppendResult = AppendInfo | AppendError;

export function isAppendError(result: AppendResult): result is AppendError {
  return result.errorCode !== 0;
}

/**
 * Whole batches of one segment file, to be sent from an mmap view of `path`. The file's identity travels as
 * fields: a reader maps `path` and uses the view only if its inode is `inode` (a file renamed over the path
 * meanwhile is another one).
 */
export interface FileSlice extends FileIdentity {
  path: string;
  position: number;
  sizeBytes: number;
  /** baseOffset of the first batch in the slice (can be below the fetch offset). */
  firstOffset: number;
}

/** A fetch from one partition: the batches found (or none) and the partition's offsets when it was read. */
export interface ReadResult extends ErrorResult {
  logStartOffset: number;
  logEndOffset: number;
  /** Null on an error and when nothing is readable at the offset. */
  slice: FileSlice | null;
  /** READ_COMMITTED reads: the last stable offset the read stopped at. */
  lastStableOffset?: number;
  /** READ_COMMITTED reads: aborted transactions overlapping the range read (Fetch aborted_transactions). */
  abortedTransactions?: { producerId: number; firstOffset: number }[];
  /** Set by the partition worker: how long its reads of one request took (request stage timing). */
  inWorkerMs?: number;
}

/** A transaction marker to write (WriteTxnMarkers): it ends the producer's transaction on this partition. */
export interface TransactionMarker {
  producerId: number;
  producerEpoch: number;
  coordinatorEpoch: number;
  commit: boolean;
}

/** What the log alone answers to a read (the partition worker adds the offsets). */
export type LogReadResult = Pick<ReadResult, "errorCode" | "slice">;

export class PartitionLog {
  readonly dir: string;
  config: LogConfig;
  segments: LogSegment[];
  logStartOffset: number;
  /** Everything below this offset is on disk (fdatasync'd). */
  recoveryPoint: number;
  lastFlushMs: number;
  readonly leaderEpochCache: LeaderEpochCache;
  /** Idempotent producers' epochs and last batches (producer-state.ts). */
  readonly producerState: ProducerStateManager;
  /** How the producer state was last rebuilt (open, truncateTo). */
  producerStateRebuild: ProducerStateRebuild | null = null;
  /** Where the log cleaner stopped (compacted topics; log-cleaner.ts). */
  readonly cleanerCheckpoint: CleanerCheckpoint;
  private readonly producerSnapshots: ProducerSnapshotFiles;
  /** What opening the directory found and repaired. */
  readonly recoveryReport: RecoveryReport;
  private persistedRecoveryPoint: number;
  private persistedLogStartOffset: number;
  private closed = false;
  /** Each segment's aborted transactions (`.txnindex`), by segment base offset; only segments that have some. */
  private readonly transactionIndexes = new Map<number, TransactionIndex>();
  /** Rolled segments whose asynchronous fsync has not completed. */
  private readonly rolledUnsynced = new Set<LogSegment>();
  /** Roll snapshots written but not yet fsynced: durable before the recovery point passes their offset. */
  private readonly snapshotsUnsynced = new Set<number>();
  /** The disk this log was opened with (the log cleaner writes its output through it too). */
  readonly files: FileSystem;
  /** Wall time for this log (the log cleaner's default "now"). */
  readonly clock: Clock;
  /** A segment file was created or deleted since the directory was last fsynced (flush makes it durable). */
  private directoryUnsynced = false;
  /** A failed background fsync: the log refuses further writes (Kafka takes the log dir offline). */
  private storageError: Error | null = null;

  private constructor(
    dir: string,
    config: LogConfig,
    segments: LogSegment[],
    report: RecoveryReport,
    logStartOffset: number,
    recoveryPoint: number,
    nowMs: number,
    producerIdExpirationMs: number,
    files: FileSystem,
    clock: Clock,
  ) {
    this.dir = dir;
    this.files = files;
    this.clock = clock;
    this.config = config;
    this.segments = segments;
    this.recoveryReport = report;
    this.logStartOffset = logStartOffset;
    this.persistedLogStartOffset = logStartOffset;
    this.recoveryPoint = recoveryPoint;
    this.persistedRecoveryPoint = recoveryPoint;
    this.lastFlushMs = nowMs;
    this.leaderEpochCache = new LeaderEpochCache(dir, files);
    this.producerState = new ProducerStateManager(producerIdExpirationMs);
    this.producerSnapshots = new ProducerSnapshotFiles(dir, files);
    this.cleanerCheckpoint = new CleanerCheckpoint(dir, files);
  }

  static open(options: PartitionLogOptions): PartitionLog {
    const config = resolveLogConfig(options.config);
    const files = options.files ?? nodeFileSystem;
    const clock = options.clock ?? systemClock;
    const nowMs = options.nowMs ?? clock.nowMs();
    const dir = options.dir;
    const loaded = loadSegments(dir, config, options.recover, nowMs, files);
    let segments = loaded.segments;
    if (segments.length === 0) segments = [LogSegment.create(dir, loaded.persistedLogStartOffset, config, nowMs, files)];
    const last = segments[segments.length - 1]!;
    last.makeActive();
    const logEndOffset = last.nextOffset;
    const logStartOffset = Math.max(loaded.persistedLogStartOffset, segments[0]!.baseOffset);
    // After recovery everything present was re-read and fsynced; after a clean close the file is exact.
    const recoveredAny = loaded.report.recoveredSegments > 0 || loaded.report.rebuiltIndexes > 0;
    const recoveryPoint = options.recover || recoveredAny ? logEndOffset : Math.min(loaded.persistedRecoveryPoint, logEndOffset);
    const producerIdExpirationMs = options.producerIdExpirationMs ?? DEFAULT_PRODUCER_ID_EXPIRATION_MS;
    const log = new PartitionLog(dir, config, segments, loaded.report, logStartOffset, recoveryPoint, nowMs, producerIdExpirationMs, files, clock);
    log.persistedRecoveryPoint = loaded.persistedRecoveryPoint;
    log.persistedLogStartOffset = loaded.persistedLogStartOffset;
    if (logStartOffset > logEndOffset) {
      // The log lost its tail below a persisted log start offset (deleteRecords, then a corrupt tail).
      loaded.report.events.push(`${dir}: log end ${logEndOffset} is below the log start offset ${logStartOffset}; starting empty there`);
      log.truncateFullyAndStartAt(logStartOffset, nowMs);
    }
    log.leaderEpochCache.truncateFromEnd(log.logEndOffset);
    log.leaderEpochCache.truncateFromStart(log.logStartOffset);
    log.persistRecoveryPoint(log.recoveryPoint);
    log.persistLogStartOffset();
    log.loadTransactionIndexes(loaded.report.events);
    // After an unclean shutdown only snapshots at or below the persisted recovery point describe surviving data.
    const rebuild = log.rebuildProducerState(nowMs, options.recover || recoveredAny ? loaded.persistedRecoveryPoint : undefined);
    loaded.report.events.push(...rebuild.events);
    return log;
  }

  get activeSegment(): LogSegment {
    return this.segments[this.segments.length - 1]!;
  }

  /** The next offset to assign. */
  get logEndOffset(): number {
    return this.activeSegment.nextOffset;
  }

  get unflushedMessages(): number {
    return this.logEndOffset - this.recoveryPoint;
  }

  get sizeBytes(): number {
    let total = 0;
    for (const segment of this.segments) total += segment.sizeBytes;
    return total;
  }

  get isClosed(): boolean {
    return this.closed;
  }

  get latestEpoch(): number {
    return this.leaderEpochCache.latestEpoch;
  }

  /** flush.messages / flush.ms: whether the caller's flush policy says it is time to fdatasync. */
  needsFlush(nowMs: number): boolean {
    const unflushed = this.unflushedMessages;
    return unflushed > 0 && (unflushed >= this.config.flushMessages || nowMs - this.lastFlushMs >= this.config.flushMs);
  }

  updateConfig(config: Partial<LogConfig>): void {
    this.config = resolveLogConfig(config);
    for (const segment of this.segments) segment.updateConfig(this.config);
  }

  /**
   * Produce: validates the batches, rolls if needed, assigns offsets (and LogAppendTime) in the
   * caller's buffer, and writes them with one write call.
   */
  appendAsLeader(records: Uint8Array, leaderEpoch: number, nowMs: number): AppendInfo | AppendError {
    return this.appendManyAsLeader([records], leaderEpoch, nowMs)[0]!;
  }

  /**
   * Produce from several requests at once (the partition's worker coalesces appends that queued up
   * meanwhile): each part is validated and given offsets on its own, in order, and the valid ones reach
   * the segment in one writev. Every part succeeds or fails alone: a part refused by validation, or whose
   * group write throws, never fails another part of the drain. A write never spans a roll.
   */
  appendManyAsLeader(
    parts: readonly Uint8Array[],
    leaderEpoch: number,
    nowMs: number,
    /** KIP-890: each part's verification guard; when given, a transactional part may open a transaction only with its producer's current guard. */
    verificationGuards?: readonly (number | undefined)[],
    /** Kafka's AppendOrigin.COORDINATOR per part: the group coordinator's transactional batches carry no sequence. */
    coordinatorOrigin?: readonly boolean[],
  ): (AppendInfo | AppendError)[] {
    this.assertOpen();
    const results = new Array<AppendInfo | AppendError>(parts.length);
    const infos = new Array<BatchesInfo | null>(parts.length).fill(null);
    const checks = this.recordChecks(nowMs);
    let coordinatorChecks: RecordChecks | null = null;
    // Idempotent parts: their producer fields, and the producers with a part in the unwritten group.
    let producerBatches: (IdempotentBatch | null)[] | null = null;
    const groupProducerIds = new Set<number>();
    let group: number[] = [];
    let groupBytes = 0;
    let groupRecords = 0;
    const writeGroup = (): void => {
      if (group.length > 0) this.appendGroupIsolated(parts, group, infos, producerBatches, results, leaderEpoch, nowMs);
      group = [];
      groupBytes = 0;
      groupRecords = 0;
      groupProducerIds.clear();
    };
    for (let index = 0; index < parts.length; index++) {
      const records = parts[index]!;
      if (records.byteLength > this.config.segmentBytes) {
        results[index] = { errorCode: RECORD_LIST_TOO_LARGE, errorMessage: `${records.byteLength} bytes is larger than segment.bytes ${this.config.segmentBytes}` };
        continue;
      }
      const partChecks = coordinatorOrigin?.[index] === true ? (coordinatorChecks ??= { ...checks, coordinatorOrigin: true }) : checks;
      const info = validateBatches(records, this.config.maxMessageBytes, "client", partChecks);
      if (isRecordsProblem(info)) {
        results[index] = { errorCode: info.errorCode, errorMessage: info.errorMessage, recordErrors: info.recordErrors };
        continue;
      }
      let producerBatch: IdempotentBatch | null = null;
      if (info.hasIdempotent) {
        // Kafka refuses any v2 produce with more than one batch per partition ("Compressed outer record has
        // more than one batch"); for idempotent ones we do too, so one request is one sequence range.
        if (info.batchCount !== 1) {
          results[index] = { errorCode: INVALID_RECORD, errorMessage: `an idempotent produce carries one batch per partition, got ${info.batchCount}` };
          continue;
        }
        producerBatch = readIdempotentBatch(dataViewOf(records), 0);
      }
      if (producerBatch !== null) {
        // The check must see every earlier batch of this producer: write the pending group first.
        if (groupProducerIds.has(producerBatch.producerId)) writeGroup();
        const refused = producerBatch.transactional && verificationGuards ? this.producerState.checkTransactionStart(producerBatch.producerId, verificationGuards[index]) : null;
        if (refused !== null) {
          results[index] = refused;
          continue;
        }
        const checked = this.producerState.check(producerBatch);
        if (checked !== null) {
          results[index] = "errorCode" in checked ? checked : this.duplicateResult(checked);
          continue;
        }
        producerBatches ??= new Array<IdempotentBatch | null>(parts.length).fill(null);
        producerBatches[index] = producerBatch;
      }
      infos[index] = info;
      const roomBytes = Math.min(this.config.segmentBytes, this.activeSegment.capacityBytes) - this.activeSegment.sizeBytes;
      const full = groupBytes + records.byteLength > roomBytes || group.length >= MAX_PARTS_PER_WRITE || groupRecords + info.recordCount > GROUP_RECORDS_MAX;
      if (group.length > 0 && full) writeGroup();
      group.push(index);
      groupBytes += records.byteLength;
      groupRecords += info.recordCount;
      if (producerBatch !== null) groupProducerIds.add(producerBatch.producerId);
    }
    writeGroup();
    return results;
  }

  /** Kafka's LogValidator settings for this log's client batches at nowMs. */
  private recordChecks(nowMs: number): RecordChecks {
    const config = this.config;
    // The cap on a batch's decompressed records: never below max.message.bytes (Kafka applies that limit to the compressed size).
    const decompressedCapBytes = Math.max(config.maxMessageBytes, config.messageDecompressedMaxBytes);
    return {
      compact: config.compact,
      timestampBeforeMaxMs: config.messageTimestampBeforeMaxMs,
      timestampAfterMaxMs: config.messageTimestampAfterMaxMs,
      logAppendTime: config.messageTimestampType === "LogAppendTime",
      nowMs,
      openSection: decompressBounded,
      decompressedMaxBytes: decompressedCapBytes,
    };
  }

  /**
   * Writes one group; if that throws (a roll that cannot create its files, an I/O error), each part of a
   * larger group is retried alone, so a failure is reported only for the parts it really concerns.
   */
  private appendGroupIsolated(
    parts: readonly Uint8Array[],
    group: readonly number[],
    infos: readonly (BatchesInfo | null)[],
    producerBatches: readonly (IdempotentBatch | null)[] | null,
    results: (AppendInfo | AppendError)[],
    leaderEpoch: number,
    nowMs: number,
  ): void {
    try {
      this.appendGroup(parts, group, infos, producerBatches, results, leaderEpoch, nowMs);
      return;
    } catch (error) {
      if (group.length === 1) {
        results[group[0]!] = { errorCode: KAFKA_STORAGE_ERROR, errorMessage: `append failed: ${error instanceof Error ? error.message : String(error)}` };
        return;
      }
    }
    // Bounded by the group size; appendGroup changes nothing in the log until its write succeeded.
    for (const index of group) {
      try {
        this.appendGroup(parts, [index], infos, producerBatches, results, leaderEpoch, nowMs);
      } catch (error) {
        results[index] = { errorCode: KAFKA_STORAGE_ERROR, errorMessage: `append failed: ${error instanceof Error ? error.message : String(error)}` };
      }
    }
  }

  /** A retried batch already in the log: success with the original's offsets, nothing written. */
  private duplicateResult(original: ProducerBatchMetadata): AppendInfo {
    return {
      errorCode: 0,
      baseOffset: original.firstOffset,
      lastOffset: original.lastOffset,
      logAppendTimeMs: this.config.messageTimestampType === "LogAppendTime" ? original.timestampMs : -1,
      logStartOffset: this.logStartOffset,
      recordCount: original.lastOffset - original.firstOffset + 1,
      batchCount: 1,
      duplicate: true,
    };
  }

  private appendGroup(
    parts: readonly Uint8Array[],
    group: readonly number[],
    infos: readonly (BatchesInfo | null)[],
    producerBatches: readonly (IdempotentBatch | null)[] | null,
    results: (AppendInfo | AppendError)[],
    leaderEpoch: number,
    nowMs: number,
  ): void {
    const logAppendTime = this.config.messageTimestampType === "LogAppendTime";
    let groupBytes = 0;
    let recordCount = 0;
    let createTimeMax = Number.NEGATIVE_INFINITY;
    for (const index of group) {
      groupBytes += parts[index]!.byteLength;
      recordCount += infos[index]!.recordCount;
      createTimeMax = Math.max(createTimeMax, infos[index]!.maxTimestamp);
    }
    const maxTimestamp = logAppendTime ? nowMs : createTimeMax;
    const baseOffset = this.logEndOffset;
    const lastOffset = baseOffset + recordCount - 1;
    this.maybeRoll(groupBytes, maxTimestamp, lastOffset, nowMs);
    // The parts are written back to back from the segment's current end.
    const segment = this.activeSegment;
    let position = segment.sizeBytes;
    let nextOffset = baseOffset;
    let offsetOfMaxTimestamp = -1;
    let maxTimestampSeen = Number.NEGATIVE_INFINITY;
    const groupParts: Uint8Array[] = [];
    for (const index of group) {
      const records = parts[index]!;
      const info = infos[index]!;
      const partBaseOffset = nextOffset;
      nextOffset = assignOffsets(records, partBaseOffset, leaderEpoch);
      if (nextOffset !== partBaseOffset + info.recordCount) throw new Error(`${this.dir}: offset assignment ended at ${nextOffset}, expected ${partBaseOffset + info.recordCount}`);
      if (logAppendTime) {
        setLogAppendTime(records, nowMs);
        // every batch has the same time: the first wins
        if (offsetOfMaxTimestamp < 0) offsetOfMaxTimestamp = batchLastOffset(dataViewOf(records), 0);
      } else if (info.maxTimestamp > maxTimestampSeen) {
        maxTimestampSeen = info.maxTimestamp;
        offsetOfMaxTimestamp = partBaseOffset + info.relativeOffsetOfMaxTimestamp;
      }
      groupParts.push(records);
      results[index] = {
        errorCode: 0,
        baseOffset: partBaseOffset,
        lastOffset: nextOffset - 1,
        logAppendTimeMs: logAppendTime ? nowMs : -1,
        logStartOffset: this.logStartOffset,
        recordCount: info.recordCount,
        batchCount: info.batchCount,
        duplicate: false,
        ...(info.batchCount === 1 ? { slice: { path: segment.logPath, ...segment.identity, position, sizeBytes: records.byteLength, firstOffset: partBaseOffset } } : {}),
      };
      position += records.byteLength;
    }
    if (nextOffset !== lastOffset + 1) throw new Error(`${this.dir}: offset assignment ended at ${nextOffset}, expected ${lastOffset + 1}`);
    this.activeSegment.append(groupParts.length === 1 ? groupParts[0]! : groupParts, lastOffset, maxTimestamp, offsetOfMaxTimestamp);
    if (leaderEpoch >= 0) this.leaderEpochCache.assign(leaderEpoch, baseOffset);
    // Only once the write succeeded: a batch recorded but not written would turn its retry into a lost write.
    if (producerBatches !== null) {
      for (const index of group) {
        const producerBatch = producerBatches[index];
        if (!producerBatch) continue;
        const appended = results[index] as AppendInfo;
        this.producerState.update(producerBatch, appended.baseOffset, appended.lastOffset, logAppendTime ? nowMs : infos[index]!.maxTimestamp);
      }
    }
  }

  /**
   * Replication: batches fetched from the leader keep their offsets. They must be in increasing order and
   * start at or after the log end offset, but may leave gaps: a compacted leader log is sparse (batches
   * the cleaner emptied are gone). The log end offset becomes the last batch's last offset + 1. The
   * leader epoch of each batch feeds the epoch cache.
   */
  appendAsFollower(records: Uint8Array, nowMs: number = this.clock.nowMs()): AppendInfo | AppendError {
    this.assertOpen();
    const baseOffset = this.logEndOffset;
    if (records.byteLength === 0) {
      return { errorCode: 0, baseOffset, lastOffset: baseOffset - 1, logAppendTimeMs: -1, logStartOffset: this.logStartOffset, recordCount: 0, batchCount: 0, duplicate: false };
    }
    if (records.byteLength > this.config.segmentBytes) {
      return { errorCode: RECORD_LIST_TOO_LARGE, errorMessage: `${records.byteLength} bytes is larger than segment.bytes ${this.config.segmentBytes}` };
    }
    // The leader already applied max.message.bytes; a segment is the only bound here.
    const info = validateBatches(records, this.config.segmentBytes, "replica");
    if (isRecordsProblem(info)) return { errorCode: info.errorCode, errorMessage: `invalid record batches from the leader: ${info.errorMessage}` };
    if (info.firstOffset < baseOffset || !info.offsetsIncreasing) {
      return { errorCode: OFFSET_OUT_OF_RANGE, errorMessage: `batches start at ${info.firstOffset} (increasing: ${info.offsetsIncreasing}), log end offset is ${baseOffset}` };
    }
    // A roll starts the new segment at the first batch (past a gap), so its offsets fit the segment.
    this.maybeRoll(records.byteLength, info.maxTimestamp, info.lastOffset, nowMs, info.firstOffset);
    this.activeSegment.append(records, info.lastOffset, info.maxTimestamp, this.offsetOfMaxTimestamp(records, info.maxTimestamp));
    const view = dataViewOf(records);
    const producerBatch: IdempotentBatch = { producerId: 0, producerEpoch: 0, firstSeq: 0, lastSeq: 0 };
    // Bounded: validateBatches checked that the buffer is whole batches.
    for (let position = 0; position < records.byteLength; position += batchSizeBytes(view, position)) {
      const epoch = view.getInt32(position + PARTITION_LEADER_EPOCH_OFFSET);
      if (epoch >= 0 && epoch > this.leaderEpochCache.latestEpoch) this.leaderEpochCache.assign(epoch, batchBaseOffset(view, position));
      // The leader already checked the sequences; a follower only records them, to dedupe if it leads next.
      if (readIdempotentBatch(view, position, producerBatch) !== null) {
        this.producerState.update(producerBatch, batchBaseOffset(view, position), batchLastOffset(view, position), batchMaxTimestamp(view, position));
      } else if ((view.getInt16(position + ATTRIBUTES_OFFSET) & CONTROL_FLAG_MASK) !== 0) {
        this.followMarker(records, view, position);
      }
    }
    return {
      errorCode: 0,
      baseOffset,
      lastOffset: info.lastOffset,
      logAppendTimeMs: -1,
      logStartOffset: this.logStartOffset,
      recordCount: info.recordCount,
      batchCount: info.batchCount,
      duplicate: false,
    };
  }

  /**
   * A marker replicated from the leader: the producer's transaction ends here too, and an abort is indexed,
   * so this replica has the leader's LSO and aborted transactions if it leads next. The entry follows the
   * marker on a follower; a crash between the two is repaired by the producer state replay at the next open.
   */
  private followMarker(records: Uint8Array, view: DataView, position: number): void {
    const producerId = readInt64(view, position + PRODUCER_ID_OFFSET);
    const marker = producerId >= 0 ? readEndTransactionMarker(records, position, batchSizeBytes(view, position)) : null;
    if (marker === null) return;
    const markerOffset = batchBaseOffset(view, position);
    const firstOffset = this.producerState.ongoingTransactionFirstOffset(producerId);
    if (!marker.commit && firstOffset >= 0) {
      this.transactionIndexFor(this.activeSegment.baseOffset).append({ producerId, firstOffset, lastOffset: markerOffset, lastStableOffset: this.lastStableOffsetAfter(producerId, markerOffset) });
    }
    this.producerState.completeTransaction(producerId, view.getInt16(position + PRODUCER_EPOCH_OFFSET), marker.coordinatorEpoch, marker.commit, markerOffset, batchMaxTimestamp(view, position));
  }

  /** Last offset of the first batch holding maxTimestamp (batches may have gaps between them). */
  private offsetOfMaxTimestamp(records: Uint8Array, maxTimestamp: number): number {
    const view = dataViewOf(records);
    let lastOffset = -1;
    // Bounded: validateBatches checked that the buffer is whole batches.
    for (let position = 0; position < records.byteLength; position += batchSizeBytes(view, position)) {
      lastOffset = batchLastOffset(view, position);
      if (batchMaxTimestamp(view, position) >= maxTimestamp) return lastOffset;
    }
    return lastOffset;
  }

  /** Kafka's shouldRoll: size, segment.ms by record time, full indexes, relative offset overflow. */
  private maybeRoll(appendBytes: number, maxTimestampInMessages: number, maxOffsetInMessages: number, nowMs: number, rollBaseOffset?: number): void {
    const segment = this.activeSegment;
    const reasons =
      segment.sizeBytes + appendBytes > Math.min(this.config.segmentBytes, segment.capacityBytes) ||
      (segment.sizeBytes > 0 && segment.timeWaitedForRollMs(nowMs, maxTimestampInMessages) > this.config.segmentMs) ||
      segment.offsetIndex.isFull ||
      segment.timeIndex.isFull ||
      !segment.canHoldOffset(maxOffsetInMessages);
    if (reasons) this.roll(nowMs, rollBaseOffset);
  }

  /**
   * Starts a new active segment at the log end offset. The old one is trimmed now and fsynced on the
   * threadpool; the recovery point moves past it once that completes.
   */
  roll(nowMs: number, baseOffset?: number): LogSegment {
    const old = this.activeSegment;
    // A follower past a gap in a compacted leader log starts the segment at its first batch.
    const newBaseOffset = Math.max(this.logEndOffset, baseOffset ?? 0);
    if (old.sizeBytes === 0) {
      // An empty segment is replaced (e.g. created before segment.bytes grew), never followed.
      old.delete();
      this.segments.pop();
      try {
        this.segments.push(LogSegment.create(this.dir, newBaseOffset, this.config, nowMs, this.files));
        this.directoryUnsynced = true;
      } catch (error) {
        // No active segment is left: refuse further work until a restart reloads the directory.
        this.storageError ??= error instanceof Error ? error : new Error(String(error));
        throw error;
      }
      return this.activeSegment;
    }
    // Kafka's roll takes a producer snapshot at the new base offset: a restart replays from here at most.
    this.producerState.removeExpired(nowMs);
    this.producerSnapshots.write(this.producerState, newBaseOffset, false);
    this.snapshotsUnsynced.add(newBaseOffset);
    // The new segment first: if its files cannot be created (EMFILE, ENOMEM, the map limit) the old one
    // stays active and untouched, and only the append that asked for the roll fails.
    const segment = LogSegment.create(this.dir, newBaseOffset, this.config, nowMs, this.files);
    this.directoryUnsynced = true;
    let retired: Promise<void>;
    try {
      retired = old.onBecomeInactive();
    } catch (error) {
      // The old segment could not be trimmed: it stays the active one, and no empty segment is left behind.
      segment.delete();
      throw error;
    }
    this.rolledUnsynced.add(old);
    // The snapshot too, before the recovery point moves past the old segment (Kafka's roll flushes it first).
    retired.then(() => this.syncRollSnapshot(newBaseOffset)).then(
      () => this.onRolledSegmentSynced(old),
      (error: unknown) => {
        this.storageError ??= error instanceof Error ? error : new Error(String(error));
      },
    );
    this.segments.push(segment);
    return segment;
  }

  private async syncRollSnapshot(offset: number): Promise<void> {
    if (this.closed || !this.snapshotsUnsynced.has(offset)) return;
    await this.producerSnapshots.makeDurable(offset);
    this.snapshotsUnsynced.delete(offset);
  }

  private onRolledSegmentSynced(segment: LogSegment): void {
    this.rolledUnsynced.delete(segment);
    if (this.closed) return;
    try {
      this.advanceDurablePoint();
    } catch (error) {
      // Runs outside any request: remember the failure and refuse the next operation.
      this.storageError ??= error instanceof Error ? error : new Error(String(error));
    }
  }

  /** Everything below the first segment not yet fsynced is durable: crash recovery can start there. */
  private advanceDurablePoint(): void {
    let durableOffset = this.activeSegment.baseOffset;
    for (const segment of this.rolledUnsynced) durableOffset = Math.min(durableOffset, segment.baseOffset);
    if (durableOffset > this.recoveryPoint) this.recoveryPoint = durableOffset;
    if (durableOffset > this.persistedRecoveryPoint) this.persistRecoveryPoint(durableOffset);
  }

  /**
   * Fetch: whole batches from the segment holding fetchOffset, at most maxBytes (or one whole batch
   * with minOneBatch, KIP-74), none at or past maxOffsetExclusive (the high watermark). One segment
   * per read, like Kafka. OFFSET_OUT_OF_RANGE outside [logStartOffset, logEndOffset].
   */
  read(fetchOffset: number, maxBytes: number, maxOffsetExclusive: number, minOneBatch: boolean): LogReadResult {
    this.assertOpen();
    const logEndOffset = this.logEndOffset;
    if (fetchOffset < this.logStartOffset || fetchOffset > logEndOffset) return { errorCode: OFFSET_OUT_OF_RANGE, slice: null };
    const limitOffset = Math.min(maxOffsetExclusive, logEndOffset);
    if (fetchOffset >= limitOffset) return { errorCode: 0, slice: null };
    // Bounded by the segment count; normally the first segment answers.
    for (let index = Math.max(0, this.floorSegmentIndex(fetchOffset)); index < this.segments.length; index++) {
      const segment = this.segments[index]!;
      const range = segment.read(fetchOffset, maxBytes, this.maxPositionIn(segment, limitOffset), minOneBatch);
      if (range === null) continue;
      if (range.sizeBytes === 0) return { errorCode: 0, slice: null };
      return {
        errorCode: 0,
        slice: { path: segment.logPath, ...segment.identity, position: range.position, sizeBytes: range.sizeBytes, firstOffset: range.firstOffset },
      };
    }
    return { errorCode: 0, slice: null };
  }

  /** The position in `segment` of the batch holding limitOffset (everything before it is readable). */
  private maxPositionIn(segment: LogSegment, limitOffset: number): number {
    if (limitOffset >= segment.nextOffset) return segment.sizeBytes;
    if (limitOffset <= segment.baseOffset) return 0;
    return segment.translateOffset(limitOffset)?.position ?? segment.sizeBytes;
  }

  /** Index of the last segment with baseOffset <= offset, or -1. */
  private floorSegmentIndex(offset: number): number {
    let low = 0;
    let high = this.segments.length - 1;
    let found = -1;
    while (low <= high) {
      const middle = (low + high) >>> 1;
      if (this.segments[middle]!.baseOffset <= offset) {
        found = middle;
        low = middle + 1;
      } else {
        high = middle - 1;
      }
    }
    return found;
  }

  /** ListOffsets by timestamp: the first record at or after logStartOffset with timestamp >= timestampMs. */
  async offsetForTimestamp(timestampMs: number): Promise<{ offset: number; timestampMs: number } | null> {
    this.assertOpen();
    // A snapshot: a roll or retention during an await must not shift the iteration.
    const segments = [...this.segments];
    for (const segment of segments) {
      if (segment.maxTimestampMs < timestampMs) continue;
      const found = await segment.findOffsetByTimestamp(timestampMs, this.logStartOffset);
      if (found) return found;
    }
    return null;
  }

  /**
   * ListOffsets with MAX_TIMESTAMP (-3, KIP-734): the first record carrying the largest timestamp in
   * the log, or null for an empty log.
   */
  async maxTimestampOffset(): Promise<{ offset: number; timestampMs: number } | null> {
    this.assertOpen();
    let best: LogSegment | null = null;
    for (const segment of this.segments) if (segment.sizeBytes > 0 && (best === null || segment.maxTimestampMs > best.maxTimestampMs)) best = segment;
    if (best === null) return null;
    return best.findOffsetByTimestamp(best.maxTimestampMs, this.logStartOffset);
  }

  endOffsetForEpoch(epoch: number): { epoch: number; endOffset: number } {
    return this.leaderEpochCache.endOffsetFor(epoch, this.logEndOffset);
  }

  /** fdatasync of every segment with unflushed bytes; the caller batches appends into one flush. */
  flush(nowMs: number = this.clock.nowMs()): void {
    this.assertOpen();
    for (const segment of this.segments) segment.flush();
    for (const offset of this.snapshotsUnsynced) this.producerSnapshots.makeDurableSync(offset);
    if (this.snapshotsUnsynced.size > 0) this.directoryUnsynced = true;
    this.snapshotsUnsynced.clear();
    // A new segment's name must be durable with its data: the recovery point file below is not always
    // rewritten (it may already be at the new segment's base), and that was the only directory fsync
    // (found by test/sim/log-crash.test.ts, seed 6; Kafka's LocalLog.flush syncs the directory too).
    if (this.directoryUnsynced) {
      fsyncDirectory(this.dir, this.files);
      this.directoryUnsynced = false;
    }
    this.rolledUnsynced.clear();
    this.recoveryPoint = this.logEndOffset;
    this.lastFlushMs = nowMs;
    // The file only moves when recovery could start in a later segment (once per roll at most).
    if (this.persistedRecoveryPoint < this.activeSegment.baseOffset) this.persistRecoveryPoint(this.recoveryPoint);
  }

  /**
   * Follower truncation (KIP-101): removes every offset >= offset. Later segments are deleted; the
   * segment holding offset gets its kept prefix copied to a new file renamed over the old one, so a
   * reader's view of the old file is never cut under it (new fileId).
   */
  truncateTo(offset: number, nowMs: number = this.clock.nowMs()): void {
    this.assertOpen();
    if (!(Number.isSafeInteger(offset) && offset >= 0)) throw new RangeError(`${this.dir}: truncate to ${offset}`);
    if (offset >= this.logEndOffset) return;
    if (offset < this.logStartOffset) {
      this.truncateFullyAndStartAt(offset, nowMs);
      return;
    }
    // First: a crash in the middle must not leave a snapshot describing batches that are gone.
    this.producerSnapshots.deleteAbove(offset);
    // Bounded by the segment count.
    let droppedAny = false;
    while (this.segments.length > 1 && this.activeSegment.baseOffset >= offset) {
      const dropped = this.segments.pop()!;
      this.rolledUnsynced.delete(dropped);
      dropped.delete();
      this.deleteTransactionIndex(dropped.baseOffset);
      droppedAny = true;
    }
    // The dropped segments must not come back after a crash, under offsets the log will assign again.
    if (droppedAny) fsyncDirectory(this.dir, this.files);
    const segment = this.activeSegment;
    segment.makeActive();
    // Entries of aborts whose markers are cut go first: a crash after this leaves no entry without its marker.
    for (const index of this.transactionIndexes.values()) index.truncateTo(offset);
    segment.truncateTo(offset, nowMs);
    this.cleanerCheckpoint.truncateTo(this.logEndOffset);
    this.leaderEpochCache.truncateFromEnd(this.logEndOffset);
    if (this.recoveryPoint > this.logEndOffset) this.recoveryPoint = this.logEndOffset;
    if (this.persistedRecoveryPoint > this.logEndOffset) this.persistRecoveryPoint(this.logEndOffset);
    this.rebuildProducerState(nowMs);
  }

  /** Deletes every segment and starts an empty log at offset (a follower far behind the leader). */
  truncateFullyAndStartAt(offset: number, nowMs: number = this.clock.nowMs()): void {
    // No batch is left: every producer is unknown (Kafka's ProducerStateManager.truncateFullyAndStartAt).
    this.producerSnapshots.deleteAbove(-1);
    this.producerState.clear();
    for (const segment of this.segments) segment.delete();
    for (const baseOffset of [...this.transactionIndexes.keys()]) this.deleteTransactionIndex(baseOffset);
    this.rolledUnsynced.clear();
    this.segments = [LogSegment.create(this.dir, offset, this.config, nowMs, this.files)];
    this.cleanerCheckpoint.update(offset, NO_TOMBSTONE);
    this.logStartOffset = offset;
    this.persistLogStartOffset();
    this.leaderEpochCache.clear();
    this.recoveryPoint = offset;
    this.persistRecoveryPoint(offset);
  }

  /** DeleteRecords: moves the log start offset up to offset and deletes segments entirely below it. */
  deleteRecordsBefore(offset: number): { errorCode: number; logStartOffset: number } {
    this.assertOpen();
    if (offset > this.logEndOffset || offset < 0) return { errorCode: OFFSET_OUT_OF_RANGE, logStartOffset: this.logStartOffset };
    if (offset > this.logStartOffset) {
      this.logStartOffset = offset;
      this.persistLogStartOffset();
      this.leaderEpochCache.truncateFromStart(offset);
      this.deleteOldSegments((segment, next) => next !== undefined && next.baseOffset <= offset);
    }
    return { errorCode: 0, logStartOffset: this.logStartOffset };
  }

  /**
   * retention.ms (by each segment's newest record time) and retention.bytes: deletes whole segments
   * from the oldest, never the active one. Returns how many were deleted.
   */
  applyRetention(nowMs: number): number {
    this.assertOpen();
    let deleted = 0;
    // producer.id.expiration.ms is checked here too: the worker calls this periodically.
    this.producerState.removeExpired(nowMs);
    const { retentionMs, retentionBytes } = this.config;
    // cleanup.policy=compact alone keeps every segment; the cleaner bounds the log instead.
    if (retentionMs >= 0 && this.config.delete) deleted += this.deleteOldSegments((segment) => nowMs - segment.largestTimestampMs > retentionMs);
    if (retentionBytes >= 0 && this.config.delete) {
      let excessBytes = this.sizeBytes - retentionBytes;
      deleted += this.deleteOldSegments((segment) => {
        if (excessBytes - segment.sizeBytes < 0) return false;
        excessBytes -= segment.sizeBytes;
        return true;
      });
    }
    deleted += this.deleteOldSegments((segment, next) => next !== undefined && next.baseOffset <= this.logStartOffset);
    return deleted;
  }

  /** Deletes the longest prefix of inactive segments matching `predicate`; advances logStartOffset. */
  private deleteOldSegments(predicate: (segment: LogSegment, next: LogSegment | undefined) => boolean): number {
    let count = 0;
    while (count < this.segments.length - 1 && predicate(this.segments[count]!, this.segments[count + 1])) count++;
    if (count === 0) return 0;
    const doomed = this.segments.slice(0, count);
    this.segments = this.segments.slice(count);
    const newStart = Math.max(this.logStartOffset, this.segments[0]!.baseOffset);
    if (newStart !== this.logStartOffset) {
      this.logStartOffset = newStart;
      this.leaderEpochCache.truncateFromStart(newStart);
    }
    // Persist the new start before the files go, so a crash never leaves a start below the first segment.
    this.persistLogStartOffset();
    for (const segment of doomed) {
      this.rolledUnsynced.delete(segment);
      segment.delete();
      this.deleteTransactionIndex(segment.baseOffset);
    }
    return count;
  }

  /**
   * The log cleaner's swap (Kafka's replaceSegments): `cleaned` (finished `.cleaned` files) takes the
   * place of `old`, consecutive inactive segments starting at the same base offset. Returns false, with
   * nothing changed, when the log moved on meanwhile (a replaced segment was deleted, truncated, became
   * active, or the log closed): the caller deletes its output.
   *
   * On disk: the three `.cleaned` files are renamed to `.swap` (the `.log` last: that rename commits the
   * swap), the old segments are deleted, and the `.swap` files are renamed to their final names (the
   * `.log` last). Recovery completes a committed swap and drops an uncommitted one (log-loader.ts). The
   * new files have new inodes, so a reader's view of an old file stays valid, and the new segment has a
   * new fileId.
   */
  replaceSegments(cleaned: CleanedSegmentWriter, old: readonly LogSegment[], nowMs: number): boolean {
    if (this.closed || this.storageError || old.length === 0) return false;
    const first = this.segments.indexOf(old[0]!);
    // Never the active segment: it is last, so a group must end before it.
    if (first < 0 || first + old.length >= this.segments.length) return false;
    for (let index = 0; index < old.length; index++) {
      const segment = this.segments[first + index]!;
      if (segment !== old[index] || segment.active || segment.syncPending) return false;
    }
    const baseOffset = old[0]!.baseOffset;
    if (cleaned.baseOffset !== baseOffset) throw new Error(`${this.dir}: cleaned segment at ${cleaned.baseOffset} replaces segments from ${baseOffset}`);
    const next = this.segments[first + old.length]!;
    if (cleaned.nextOffset > next.baseOffset) throw new Error(`${this.dir}: cleaned segment ends at ${cleaned.nextOffset}, past the next segment at ${next.baseOffset}`);
    const swap = segmentPaths(this.dir, baseOffset, SWAP_FILE_SUFFIX);
    const final = segmentPaths(this.dir, baseOffset, "");
    try {
      // The cleaned entries first (durable): a crash before the commit leaves the old segments, whose later
      // entries are cut from this file at load (past its segment) and still in their own files.
      if (cleaned.abortedTransactions !== null && (cleaned.abortedTransactions.length > 0 || old.some((segment) => this.transactionIndexes.has(segment.baseOffset)))) {
        this.transactionIndexes.set(baseOffset, TransactionIndex.replace(this.dir, baseOffset, cleaned.abortedTransactions, this.files));
      }
      this.files.rename(cleaned.paths.index, swap.index);
      this.files.rename(cleaned.paths.timeIndex, swap.timeIndex);
      this.files.rename(cleaned.paths.log, swap.log);
      fsyncDirectory(this.dir, this.files);
      for (const segment of old) {
        this.rolledUnsynced.delete(segment);
        segment.delete();
      }
      if (cleaned.abortedTransactions !== null) for (const segment of old.slice(1)) this.deleteTransactionIndex(segment.baseOffset);
      else this.mergeTransactionIndexes(old);
      if (this.transactionIndexes.get(baseOffset)?.entries.length === 0) this.transactionIndexes.delete(baseOffset);
      this.files.rename(swap.index, final.index);
      this.files.rename(swap.timeIndex, final.timeIndex);
      this.files.rename(swap.log, final.log);
      fsyncDirectory(this.dir, this.files);
    } catch (error) {
      // The files are in an in-between state that only recovery sorts out: refuse further work.
      this.storageError ??= error instanceof Error ? error : new Error(String(error));
      throw error;
    }
    this.segments.splice(first, old.length, LogSegment.open(this.dir, baseOffset, this.config, nowMs, this.files));
    return true;
  }

  /** Clean close: trims and fsyncs the active segment, records the recovery point. */
  close(): void {
    if (this.closed) return;
    for (const segment of this.segments) segment.close();
    this.rolledUnsynced.clear();
    // Their directory entries are synced with the close snapshot's below.
    for (const offset of this.snapshotsUnsynced) this.producerSnapshots.makeDurableSync(offset);
    this.snapshotsUnsynced.clear();
    this.recoveryPoint = this.logEndOffset;
    this.persistRecoveryPoint(this.recoveryPoint);
    this.persistLogStartOffset();
    // At the log end: a clean reopen loads it and replays nothing.
    this.producerSnapshots.write(this.producerState, this.logEndOffset, true);
    this.closed = true;
  }

  /** Removes the partition directory (topic deletion). Mapped views keep their inodes until collected. */
  delete(): void {
    for (const segment of this.segments) segment.delete();
    this.closed = true;
    this.files.removeTree(this.dir);
  }

  // ---- Transactions (docs/transactions.md § Partition leaders) ----

  /**
   * WriteTxnMarkers on the leader (Kafka's UnifiedLog.appendAsLeader with a control batch): checks the
   * producer and coordinator epochs, writes a COMMIT or ABORT control batch at the log end, and ends the
   * producer's transaction on this partition. An abort's `.txnindex` entry is written (and fsynced) before
   * the marker, so no marker is ever without its entry.
   */
  appendMarker(marker: TransactionMarker, leaderEpoch: number, nowMs: number): AppendInfo | AppendError {
    this.assertOpen();
    const refused = this.producerState.checkMarker(marker.producerId, marker.producerEpoch, marker.coordinatorEpoch);
    if (refused !== null) return refused;
    const records = buildControlBatch(marker.producerId, marker.producerEpoch, { commit: marker.commit, coordinatorEpoch: marker.coordinatorEpoch }, nowMs);
    const markerOffset = this.logEndOffset;
    this.maybeRoll(records.byteLength, nowMs, markerOffset, nowMs);
    assignOffsets(records, markerOffset, leaderEpoch);
    const firstOffset = this.producerState.ongoingTransactionFirstOffset(marker.producerId);
    const index = !marker.commit && firstOffset >= 0 ? this.transactionIndexFor(this.activeSegment.baseOffset) : null;
    index?.append({ producerId: marker.producerId, firstOffset, lastOffset: markerOffset, lastStableOffset: this.lastStableOffsetAfter(marker.producerId, markerOffset) });
    try {
      this.activeSegment.append(records, markerOffset, nowMs, markerOffset);
    } catch (error) {
      index?.truncateTo(markerOffset);
      throw error;
    }
    if (leaderEpoch >= 0) this.leaderEpochCache.assign(leaderEpoch, markerOffset);
    this.producerState.completeTransaction(marker.producerId, marker.producerEpoch, marker.coordinatorEpoch, marker.commit, markerOffset, nowMs);
    return { errorCode: 0, baseOffset: markerOffset, lastOffset: markerOffset, logAppendTimeMs: -1, logStartOffset: this.logStartOffset, recordCount: 1, batchCount: 1, duplicate: false };
  }

  /**
   * The first offset of any ongoing transaction, or -1: the last stable offset is min(this, high watermark).
   * Never below the log start (Kafka's maybeIncrementFirstUnstableOffset): DeleteRecords or retention past an
   * open transaction's first records must not leave the LSO where nothing can be read.
   */
  get firstUnstableOffset(): number {
    const firstUnstable = this.producerState.firstUnstableOffset();
    return firstUnstable >= 0 ? Math.max(firstUnstable, this.logStartOffset) : firstUnstable;
  }

  /** The last stable offset given the high watermark (Kafka: min(firstUnstableOffset, highWatermark)). */
  lastStableOffset(highWatermark: number): number {
    const firstUnstable = this.firstUnstableOffset;
    return firstUnstable >= 0 && firstUnstable < highWatermark ? firstUnstable : highWatermark;
  }

  /** Offsets of the producer snapshots on disk (the cleaner keeps markers a snapshot may still need). */
  get producerSnapshotOffsets(): readonly number[] {
    return this.producerSnapshots.snapshotOffsets;
  }

  /**
   * Aborted transactions overlapping [fetchOffset, upperBoundOffset) (Kafka's collectAbortedTxns over the
   * segments from the one holding fetchOffset): the consumer drops those producers' records in that range.
   */
  abortedTransactions(fetchOffset: number, upperBoundOffset: number): AbortedTransaction[] {
    const found: AbortedTransaction[] = [];
    if (this.transactionIndexes.size === 0) return found;
    const first = this.floorSegmentIndex(fetchOffset);
    const fromBaseOffset = first >= 0 ? this.segments[first]!.baseOffset : -1;
    // Bounded by the aborts indexed in this log's segments.
    for (const [baseOffset, index] of this.transactionIndexes) {
      if (baseOffset < fromBaseOffset) continue;
      for (const entry of index.entries) if (entry.lastOffset >= fetchOffset && entry.firstOffset < upperBoundOffset) found.push(entry);
    }
    return found;
  }

  /** The LSO once `producerId`'s transaction ends with the marker at markerOffset (the other open ones still hold it). */
  private lastStableOffsetAfter(producerId: number, markerOffset: number): number {
    let firstUnstable = markerOffset + 1;
    for (const entry of this.producerState.entries()) {
      if (entry.producerId !== producerId && entry.currentTxnFirstOffset >= 0 && entry.currentTxnFirstOffset < firstUnstable) firstUnstable = entry.currentTxnFirstOffset;
    }
    return firstUnstable;
  }

  private transactionIndexFor(baseOffset: number): TransactionIndex {
    let index = this.transactionIndexes.get(baseOffset);
    if (index === undefined) {
      index = TransactionIndex.load(this.dir, baseOffset, Number.MAX_SAFE_INTEGER, this.files).index;
      this.transactionIndexes.set(baseOffset, index);
      // A new file: its directory entry becomes durable with the next flush.
      this.directoryUnsynced = true;
    }
    return index;
  }

  private deleteTransactionIndex(baseOffset: number): void {
    const index = this.transactionIndexes.get(baseOffset);
    if (index === undefined) return;
    index.delete();
    this.transactionIndexes.delete(baseOffset);
  }

  /** Open: every segment's `.txnindex`, cut where its markers are missing (the loader removed orphans). */
  private loadTransactionIndexes(events: string[]): void {
    const present = new Set(this.files.readdir(this.dir).filter((name) => name.endsWith(TRANSACTION_INDEX_SUFFIX)));
    if (present.size === 0) return;
    for (const segment of this.segments) {
      if (!present.has(path.basename(TransactionIndex.pathFor(this.dir, segment.baseOffset)))) continue;
      const { index, cutBytes } = TransactionIndex.load(this.dir, segment.baseOffset, segment.nextOffset, this.files);
      if (cutBytes > 0) events.push(`${index.path}: cut ${cutBytes} bytes (torn entry, or markers no longer in the log)`);
      if (index.entries.length > 0) this.transactionIndexes.set(segment.baseOffset, index);
      else index.delete();
    }
  }

  /** A marker met by the producer state replay: an abort whose `.txnindex` entry is missing gets it (crash between the two). */
  private indexReplayedAbort(completed: CompletedTransaction, events: string[]): void {
    if (!completed.isAborted) return;
    const segmentIndex = this.floorSegmentIndex(completed.lastOffset);
    if (segmentIndex < 0) return;
    const baseOffset = this.segments[segmentIndex]!.baseOffset;
    if (this.transactionIndexes.get(baseOffset)?.has(completed.lastOffset)) return;
    if (completed.firstOffset < 0) {
      events.push(`abort marker at ${completed.lastOffset} (producer ${completed.producerId}): its transaction began before the replayed range; not indexed`);
      return;
    }
    try {
      this.transactionIndexFor(baseOffset).append({ producerId: completed.producerId, firstOffset: completed.firstOffset, lastOffset: completed.lastOffset, lastStableOffset: completed.lastOffset + 1 });
      events.push(`indexed the aborted transaction of producer ${completed.producerId} (${completed.firstOffset}..${completed.lastOffset}) found by the replay`);
    } catch (error) {
      events.push(`could not index the aborted transaction at ${completed.lastOffset}: ${error instanceof Error ? error.message : String(error)}`);
    }
  }

  /** The cleaner's swap: the replaced segments' aborted transactions now belong to the cleaned one (the first's base offset). */
  private mergeTransactionIndexes(old: readonly LogSegment[]): void {
    const later = old.slice(1).filter((segment) => this.transactionIndexes.has(segment.baseOffset));
    if (later.length === 0) return;
    // Appended to the first segment's index before the others' files go: a crash between leaves duplicates, never a loss.
    const target = this.transactionIndexFor(old[0]!.baseOffset);
    for (const segment of later) for (const entry of this.transactionIndexes.get(segment.baseOffset)!.entries) target.append(entry);
    for (const segment of later) this.deleteTransactionIndex(segment.baseOffset);
  }

  /** Producer state from the newest usable snapshot plus a replay (producer-state-snapshot.ts). */
  private rebuildProducerState(nowMs: number, trustedSnapshotsUpTo?: number): ProducerStateRebuild {
    const maxBatchBytes = Math.max(this.config.segmentBytes, this.config.maxMessageBytes);
    const events: string[] = [];
    this.producerStateRebuild = rebuildProducerState(
      this.producerState,
      this.producerSnapshots,
      this.segments,
      this.logEndOffset,
      maxBatchBytes,
      nowMs,
      (completed) => this.indexReplayedAbort(completed, events),
      trustedSnapshotsUpTo,
    );
    this.producerStateRebuild.events.push(...events);
    return this.producerStateRebuild;
  }

  private persistRecoveryPoint(offset: number): void {
    if (offset === this.persistedRecoveryPoint && this.files.exists(path.join(this.dir, RECOVERY_POINT_FILE))) return;
    writeOffsetFile(path.join(this.dir, RECOVERY_POINT_FILE), offset, this.files);
    this.persistedRecoveryPoint = offset;
  }

  private persistLogStartOffset(): void {
    if (this.logStartOffset === this.persistedLogStartOffset && this.files.exists(path.join(this.dir, LOG_START_OFFSET_FILE))) return;
    writeOffsetFile(path.join(this.dir, LOG_START_OFFSET_FILE), this.logStartOffset, this.files);
    this.persistedLogStartOffset = this.logStartOffset;
  }

  private assertOpen(): void {
    if (this.closed) throw new Error(`${this.dir}: log is closed`);
    if (this.storageError) throw new Error(`${this.dir}: a background fsync failed: ${this.storageError.message}`);
  }
}
