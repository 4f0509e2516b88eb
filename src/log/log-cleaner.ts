// The log cleaner for cleanup.policy=compact (Kafka's Cleaner and the log choice of LogCleanerManager),
// one pass over one partition log. docs/compaction.md describes the rules; in short:
//
// - Only inactive segments are cleaned, never the active one (nor a rolled segment whose fsync is still
//   pending, nor segments younger than min.compaction.lag.ms).
// - The dirty section starts at the cleaner checkpoint. A pass maps key -> latest offset over it (bounded
//   by offsetMapBytesMax and dirtyBytesPerPassMax, cut at a batch boundary), then rewrites every segment
//   from the log start up to where the map ends: a record is kept unless a later offset of its key is in
//   the map; records without a key are dropped; a kept tombstone (null value) is dropped once its
//   timestamp is older than delete.retention.ms.
// - Batches keep baseOffset and lastOffsetDelta (records/batch-filter.ts); a batch that lost every record
//   is dropped, unless it is the last batch of an idempotent producer (kept empty, as Kafka does).
// - Consecutive segments are grouped into one output while it fits segment.bytes, the index size and
//   int32 relative offsets. Each output is written to `.cleaned` files and swapped in by
//   PartitionLog.replaceSegments (`.swap`, then the final names), so a crash at any point leaves a
//   readable log (log-loader.ts completes or drops an interrupted swap).
//
// The pass runs on the partition's worker between other work: it yields to the event loop every
// yieldEveryBytes, and after every await it re-checks the log (appends, rolls, retention, truncation and
// close may have run meanwhile). A swap only happens if the segments it replaces are still in place.
import {
  ATTRIBUTES_OFFSET,
  CONTROL_FLAG_MASK,
  CRC_OFFSET,
  RECORD_BATCH_OVERHEAD,
  batchBaseOffset,
  batchLastOffset,
  batchSizeBytes,
  computeBatchCrc,
  dataViewOf,
  readInt64,
  PRODUCER_ID_OFFSET,
  TRANSACTIONAL_FLAG_MASK,
} from "../records/batch.ts";
import { filterBatch, forEachRecord } from "../records/batch-filter.ts";
import type { RecordReader } from "../records/record.ts";
import { CleanedSegmentWriter } from "./cleaned-segment.ts";
import { CleanedTransactions, deleteHorizonOf, withDeleteHorizon } from "./cleaned-transactions.ts";
import { readEndTransactionMarker } from "../records/control.ts";
import { NO_TOMBSTONE } from "./cleaner-checkpoint.ts";
import { OffsetMap } from "./offset-map.ts";
import type { PartitionLog } from "./partition-log.ts";
import type { LogSegment } from "./segment.ts";

/** log.cleaner.backoff.ms: how long the worker sleeps between cleaner rounds over its compacted logs. */
export const DEFAULT_LOG_CLEANER_BACKOFF_MS = 15_000;
const MAX_RELATIVE_OFFSET = 0x7fff_ffff;

export interface CleanerOptions {
  /** Estimated memory of the key -> offset map (Kafka's log.cleaner.dedupe.buffer.size); a pass stops mapping where it fills. */
  offsetMapBytesMax: number;
  /** Dirty bytes mapped per pass at most: one pass's share of work on a worker that also serves produce and fetch. */
  dirtyBytesPerPassMax: number;
  /** The pass yields to the event loop after this many bytes read (other partitions' requests run meanwhile). */
  yieldEveryBytes: number;
}

export const defaultCleanerOptions: Readonly<CleanerOptions> = {
  offsetMapBytesMax: 64 * 1024 * 1024,
  dirtyBytesPerPassMax: 256 * 1024 * 1024,
  yieldEveryBytes: 1024 * 1024,
};

/** What a pass would work on (Kafka's LogToClean). */
export interface CleanableState {
  firstDirtyOffset: number;
  /** Segments at or past this are not cleaned: the active one, one still syncing, or one within min.compaction.lag.ms. */
  firstUncleanableOffset: number;
  /** Inactive segments before firstUncleanableOffset, oldest first. */
  cleanable: LogSegment[];
  /** Bytes of cleanable segments entirely below the first dirty offset. */
  cleanBytes: number;
  dirtyBytes: number;
  /** dirtyBytes / (cleanBytes + dirtyBytes); 0 when there is nothing. */
  dirtyRatio: number;
  /** A tombstone kept by the last pass is past delete.retention.ms: clean even if little is dirty. */
  tombstonesDue: boolean;
}

export interface CleanResult {
  /** The new checkpoint: everything below was cleaned against a map covering it. */
  endOffset: number;
  firstDirtyOffset: number;
  dirtyRatio: number;
  /** Segments read and replaced, and the segments written for them. */
  segmentsCleaned: number;
  segmentsWritten: number;
  /** Dirty bytes read into the map, and bytes read / written by the rewrite. */
  mapBytesRead: number;
  bytesRead: number;
  bytesWritten: number;
  recordsRead: number;
  recordsRetained: number;
  tombstonesRemoved: number;
  /** Transaction markers removed (no data of their transaction left, delete horizon passed). */
  markersRemoved: number;
  /** Markers stamped with a delete horizon by this pass. */
  markersStamped: number;
  /** Keys in the map. */
  keys: number;
  durationMs: number;
  /** True when the log changed under the pass (truncation, retention, close) and it stopped early. */
  aborted: boolean;
}

const nextTurn = (): Promise<void> => new Promise<void>((resolve) => setImmediate(resolve));

/** Where the dirty section starts and ends, and its share of the cleanable bytes. */
export function cleanableState(log: PartitionLog, nowMs: number): CleanableState {
  const segments = log.segments;
  const config = log.config;
  let firstDirtyOffset = log.cleanerCheckpoint.firstDirtyOffset;
  // A checkpoint outside the log (retention moved the start past it, a truncation) starts over at the log start.
  if (firstDirtyOffset < log.logStartOffset || firstDirtyOffset > log.logEndOffset) firstDirtyOffset = log.logStartOffset;
  let uncleanableIndex = segments.length - 1;
  for (let index = 0; index < segments.length - 1; index++) {
    const segment = segments[index]!;
    const next = segments[index + 1]!;
    const tooYoung = config.minCompactionLagMs > 0 && next.baseOffset > firstDirtyOffset && nowMs - segment.largestTimestampMs < config.minCompactionLagMs;
    // Kafka cleans only below the first unstable offset: an open transaction's records may still be aborted.
    const firstUnstableOffset = log.firstUnstableOffset;
    const unstable = firstUnstableOffset >= 0 && next.baseOffset > firstUnstableOffset;
    if (segment.active || segment.syncPending || tooYoung || unstable) {
      uncleanableIndex = index;
      break;
    }
  }
  const cleanable = segments.slice(0, uncleanableIndex);
  const firstUncleanableOffset = segments[uncleanableIndex]!.baseOffset;
  let cleanBytes = 0;
  let dirtyBytes = 0;
  cleanable.forEach((segment, index) => {
    if (segments[index + 1]!.baseOffset <= firstDirtyOffset) cleanBytes += segment.sizeBytes;
    else dirtyBytes += segment.sizeBytes;
  });
  const totalBytes = cleanBytes + dirtyBytes;
  const oldestTombstoneMs = log.cleanerCheckpoint.oldestTombstoneMs;
  return {
    firstDirtyOffset,
    firstUncleanableOffset,
    cleanable,
    cleanBytes,
    dirtyBytes,
    dirtyRatio: totalBytes === 0 ? 0 : dirtyBytes / totalBytes,
    tombstonesDue: cleanable.length > 0 && oldestTombstoneMs !== NO_TOMBSTONE && nowMs - oldestTombstoneMs > config.deleteRetentionMs,
  };
}

/** Whether a pass is due (Kafka's grabFilthiestCompactedLog for one log). */
export function needsCleaning(log: PartitionLog, nowMs: number): boolean {
  if (!log.config.compact) return false;
  const state = cleanableState(log, nowMs);
  if (state.cleanable.length === 0) return false;
  return (state.dirtyBytes > 0 && state.dirtyRatio >= log.config.minCleanableDirtyRatio) || state.tombstonesDue;
}

/** Walks the whole batches of a segment's bytes from `position`, checking each (assert after reading). */
function* batchesOf(segment: LogSegment, bytes: Uint8Array, position: number): Generator<{ position: number; sizeBytes: number }> {
  const view = dataViewOf(bytes);
  // Bounded: every batch advances by at least RECORD_BATCH_OVERHEAD bytes.
  while (position < bytes.byteLength) {
    if (position + RECORD_BATCH_OVERHEAD > bytes.byteLength) throw new Error(`${segment.logPath}: partial batch header at ${position}`);
    const sizeBytes = batchSizeBytes(view, position);
    if (sizeBytes < RECORD_BATCH_OVERHEAD || position + sizeBytes > bytes.byteLength) throw new Error(`${segment.logPath}: corrupt batch at ${position} (size ${sizeBytes})`);
    if (computeBatchCrc(bytes, position, sizeBytes) !== view.getUint32(position + CRC_OFFSET)) throw new Error(`${segment.logPath}: CRC mismatch at ${position}`);
    yield { position, sizeBytes };
    position += sizeBytes;
  }
}

/**
 * Kafka's groupSegmentsBySize: consecutive segments whose total size fits segment.bytes, whose indexes
 * fit segment.index.bytes, and whose offsets stay within int32 of the group's base offset. `toClean` is
 * consecutive; `endOffset` is the base offset of the segment after the last one.
 */
export function groupSegmentsBySize(toClean: readonly LogSegment[], maxBytes: number, maxIndexBytes: number, endOffset: number): LogSegment[][] {
  // The largest offset a segment can hold: just below the next one (Kafka's lastOffsetForFirstSegment).
  const upperBoundOffset = (index: number): number => (index + 1 < toClean.length ? toClean[index + 1]!.baseOffset - 1 : endOffset - 1);
  const groups: LogSegment[][] = [];
  for (let index = 0; index < toClean.length; ) {
    const first = toClean[index]!;
    const group = [first];
    let logBytes = first.sizeBytes;
    let indexBytes = first.offsetIndex.sizeBytes;
    let timeIndexBytes = first.timeIndex.sizeBytes;
    for (index++; index < toClean.length; index++) {
      const next = toClean[index]!;
      if (logBytes + next.sizeBytes > maxBytes) break;
      if (indexBytes + next.offsetIndex.sizeBytes > maxIndexBytes || timeIndexBytes + next.timeIndex.sizeBytes > maxIndexBytes) break;
      if (next.sizeBytes > 0 && upperBoundOffset(index) - first.baseOffset > MAX_RELATIVE_OFFSET) break;
      group.push(next);
      logBytes += next.sizeBytes;
      indexBytes += next.offsetIndex.sizeBytes;
      timeIndexBytes += next.timeIndex.sizeBytes;
    }
    groups.push(group);
  }
  return groups;
}

/**
 * One cleaning pass over `log` if it needs one (dirty ratio or a due tombstone). Null when there was
 * nothing to do. Throws on corrupt data (nothing is swapped in for the group that met it).
 */
export async function cleanLog(
  log: PartitionLog,
  options: Partial<CleanerOptions> & { nowMs?: number; force?: boolean; shouldStop?: () => boolean } = {},
): Promise<CleanResult | null> {
  const settings: CleanerOptions = { ...defaultCleanerOptions, ...options };
  const startedMs = performance.now();
  const nowMs = options.nowMs ?? log.clock.nowMs();
  if (!log.config.compact || log.isClosed) return null;
  const state = cleanableState(log, nowMs);
  if (state.cleanable.length === 0) return null;
  if (!options.force && !needsCleaning(log, nowMs)) return null;
  const config = log.config;
  const stopped = (): boolean => log.isClosed || (options.shouldStop?.() ?? false);

  const result: CleanResult = {
    endOffset: state.firstDirtyOffset,
    firstDirtyOffset: state.firstDirtyOffset,
    dirtyRatio: state.dirtyRatio,
    segmentsCleaned: 0,
    segmentsWritten: 0,
    mapBytesRead: 0,
    bytesRead: 0,
    bytesWritten: 0,
    recordsRead: 0,
    recordsRetained: 0,
    tombstonesRemoved: 0,
    markersRemoved: 0,
    markersStamped: 0,
    keys: 0,
    durationMs: 0,
    aborted: false,
  };
  let bytesSinceYield = 0;
  const maybeYield = async (bytes: number): Promise<boolean> => {
    bytesSinceYield += bytes;
    if (bytesSinceYield < settings.yieldEveryBytes) return !stopped();
    bytesSinceYield = 0;
    await nextTurn();
    return !stopped();
  };

  // Aborted transactions' batches (Kafka's CleanedTransactionMetadata): their keys never supersede anything,
  // and their records are removed (the batch stays empty when it holds its producer's last sequence).
  const isAbortedBatch = abortedBatchCheck(log, state.firstUncleanableOffset);
  const dropAll = (): boolean => {
    result.recordsRead++;
    return false;
  };

  // 1. The map over the dirty section [firstDirtyOffset, firstUncleanableOffset), cut at a batch boundary.
  const map = new OffsetMap(settings.offsetMapBytesMax);
  let mapEnd = state.firstDirtyOffset;
  const keyPositions: number[] = [];
  mapping: for (let index = 0; index < state.cleanable.length; index++) {
    const segment = state.cleanable[index]!;
    const segmentEnd = index + 1 < state.cleanable.length ? state.cleanable[index + 1]!.baseOffset : state.firstUncleanableOffset;
    if (segmentEnd <= state.firstDirtyOffset) continue;
    // Retention or DeleteRecords may have removed it while the pass yielded: the swap would fail anyway.
    if (!log.segments.includes(segment)) return abandon(result, startedMs);
    const bytes = segment.batchBytes();
    const view = dataViewOf(bytes);
    const startPosition = state.firstDirtyOffset > segment.baseOffset ? segment.offsetIndex.lookup(state.firstDirtyOffset).position : 0;
    for (const { position, sizeBytes } of batchesOf(segment, bytes, startPosition)) {
      const lastOffset = batchLastOffset(view, position);
      if (lastOffset < state.firstDirtyOffset) continue;
      if (result.mapBytesRead > 0 && result.mapBytesRead + sizeBytes > settings.dirtyBytesPerPassMax) break mapping;
      if ((view.getInt16(position + ATTRIBUTES_OFFSET) & CONTROL_FLAG_MASK) === 0 && !isAbortedBatch(view, position)) {
        // Keys first, into a scratch list: the batch goes into the map whole or not at all.
        keyPositions.length = 0;
        let keyBytes = 0;
        const scratch: { section: Uint8Array | null } = { section: null };
        await forEachRecord(bytes.subarray(position, position + sizeBytes), (reader, offset) => {
          if (reader.keyLength < 0 || offset < state.firstDirtyOffset) return;
          scratch.section = reader.bytes;
          keyPositions.push(reader.keyPosition, reader.keyLength, offset);
          keyBytes += reader.keyLength;
        });
        if (stopped()) return abandon(result, startedMs);
        // Kafka stops at the batch that would overflow the map; a first batch always goes in (progress).
        if (map.size > 0 && !map.canTake(keyPositions.length / 3, keyBytes)) break mapping;
        for (let at = 0; at < keyPositions.length; at += 3) map.put(scratch.section!, keyPositions[at]!, keyPositions[at + 1]!, keyPositions[at + 2]!);
      }
      map.latestOffset = lastOffset;
      mapEnd = lastOffset + 1;
      result.mapBytesRead += sizeBytes;
      if (!(await maybeYield(sizeBytes))) return abandon(result, startedMs);
    }
    // The segment was mapped to its end: the map covers the offsets up to the next segment (Kafka's fast forward).
    mapEnd = Math.max(mapEnd, segmentEnd);
  }
  result.keys = map.size;

  // 2. Rewrite every segment that starts below the end of the map, in groups.
  // A prefix of the cleanable segments, so the one after the last is the next segment (or the uncleanable one).
  const toClean = state.cleanable.filter((segment) => segment.baseOffset < mapEnd);
  const groupsEnd = toClean.length < state.cleanable.length ? state.cleanable[toClean.length]!.baseOffset : state.firstUncleanableOffset;
  const groups = groupSegmentsBySize(toClean, config.segmentBytes, config.segmentIndexBytes, groupsEnd);
  let oldestTombstoneMs = NO_TOMBSTONE;
  const retain = (reader: RecordReader, offset: number, timestampMs: number): boolean => {
    result.recordsRead++;
    // Kafka drops records without a key when cleaning (produce refuses them for compacted topics).
    if (reader.keyLength < 0) return false;
    if (offset < map.get(reader.bytes, reader.keyPosition, reader.keyLength)) return false;
    if (reader.valueLength < 0) {
      if (nowMs - timestampMs > config.deleteRetentionMs) {
        result.tombstonesRemoved++;
        return false;
      }
      if (oldestTombstoneMs === NO_TOMBSTONE || timestampMs < oldestTombstoneMs) oldestTombstoneMs = timestampMs;
    }
    result.recordsRetained++;
    return true;
  };
  // Markers and .txnindex entries (cleaned-transactions.ts), over the log from its start, across the groups.
  const transactions = new CleanedTransactions(log.abortedTransactions(log.logStartOffset, state.firstUncleanableOffset));
  // A marker above a producer snapshot stays: a replay from that snapshot must meet it to end the transaction
  // the snapshot holds open (its data is gone, so nothing else would).
  const oldestSnapshotOffset = log.producerSnapshotOffsets[0] ?? Number.POSITIVE_INFINITY;
  const noteHorizon = (horizonMs: number): void => {
    // The checkpoint's tombstone time makes a pass due once delete.retention.ms passed it: the horizon then.
    const dueFromMs = horizonMs - config.deleteRetentionMs;
    if (oldestTombstoneMs === NO_TOMBSTONE || dueFromMs < oldestTombstoneMs) oldestTombstoneMs = dueFromMs;
  };
  for (const group of groups) {
    if (stopped()) return abandon(result, startedMs);
    const writer = new CleanedSegmentWriter(log.dir, group[0]!.baseOffset, config, log.files);
    writer.abortedTransactions = [];
    try {
      for (const segment of group) {
        if (!log.segments.includes(segment)) {
          writer.abort();
          return abandon(result, startedMs);
        }
        const bytes = segment.batchBytes();
        const view = dataViewOf(bytes);
        for (const { position, sizeBytes } of batchesOf(segment, bytes, 0)) {
          const batch = bytes.subarray(position, position + sizeBytes);
          result.bytesRead += sizeBytes;
          const attributes = view.getInt16(position + ATTRIBUTES_OFFSET);
          const isControl = (attributes & CONTROL_FLAG_MASK) !== 0;
          const lastOffset = batchLastOffset(view, position);
          const producerId = readInt64(view, position + PRODUCER_ID_OFFSET);
          if (isControl) {
            const marker = readEndTransactionMarker(batch, 0, sizeBytes);
            const decision = marker === null ? null : transactions.onMarker(producerId, marker.commit, lastOffset);
            if (decision?.keptEntry) writer.abortedTransactions.push(decision.keptEntry);
            // A marker stays while its transaction has data: a read_committed consumer needs it to end the
            // records it skips. Without data it gets a delete horizon, and goes in a pass after that.
            if (decision === null || !decision.discardable) {
              writer.append(batch);
              continue;
            }
            const horizonMs = deleteHorizonOf(batch);
            if (horizonMs === null) {
              writer.append(withDeleteHorizon(batch, nowMs + config.deleteRetentionMs));
              result.markersStamped++;
              noteHorizon(nowMs + config.deleteRetentionMs);
            } else if (horizonMs <= nowMs && lastOffset < oldestSnapshotOffset) {
              result.markersRemoved++;
            } else {
              writer.append(batch);
              if (horizonMs > nowMs) noteHorizon(horizonMs);
            }
            continue;
          }
          transactions.onBatch(producerId, (attributes & TRANSACTIONAL_FLAG_MASK) !== 0, lastOffset);
          const aborted = isAbortedBatch(view, position);
          // Beyond the map nothing is known to be superseded: the batch stays as it is (Kafka's pastLatestOffset).
          if (!aborted && batchBaseOffset(view, position) >= mapEnd) {
            writer.append(batch);
            continue;
          }
          // The last batch of an idempotent producer carries its last sequence: it stays, even empty.
          const retainEmpty = producerId >= 0 && log.producerState.entry(producerId)?.lastBatch?.lastOffset === lastOffset;
          const outcome = await filterBatch(batch, aborted ? dropAll : retain, retainEmpty);
          if (stopped()) {
            writer.abort();
            return abandon(result, startedMs);
          }
          if (outcome.kind === "unchanged" || outcome.kind === "unreadable") writer.append(batch);
          else if (outcome.kind === "rewritten") writer.append(outcome.batch);
          if (!(await maybeYield(sizeBytes))) {
            writer.abort();
            return abandon(result, startedMs);
          }
        }
      }
      await writer.finish();
    } catch (error) {
      writer.abort();
      throw error;
    }
    // Synchronous from the check to the swap: nothing else runs on this worker in between.
    let swapped = false;
    try {
      if (!stopped()) {
        // The output keeps the replaced segments' modification time (Kafka's setLastModified): an empty
        // segment's age for retention and min.compaction.lag.ms is its file's.
        const modifiedMs = log.files.stat(group[group.length - 1]!.logPath).mtimeMs;
        log.files.setModifiedTime(writer.paths.log, modifiedMs);
        swapped = log.replaceSegments(writer, group, nowMs);
      }
    } catch (error) {
      writer.abort();
      throw error;
    }
    if (!swapped) {
      writer.abort();
      return abandon(result, startedMs);
    }
    result.segmentsCleaned += group.length;
    result.segmentsWritten++;
    result.bytesWritten += writer.sizeBytes;
  }
  log.cleanerCheckpoint.update(mapEnd, oldestTombstoneMs);
  result.endOffset = mapEnd;
  result.durationMs = performance.now() - startedMs;
  return result;
}

function abandon(result: CleanResult, startedMs: number): CleanResult {
  result.aborted = true;
  result.durationMs = performance.now() - startedMs;
  return result;
}

/**
 * Whether the batch at `position` belongs to an aborted transaction: transactional, and inside the range
 * [firstOffset, marker] of an aborted transaction of its producer (from the log's .txnindex entries below
 * `endOffset`). Logs without aborts answer false at once.
 */
function abortedBatchCheck(log: PartitionLog, endOffset: number): (view: DataView, position: number) => boolean {
  const ranges = new Map<number, { firstOffset: number; lastOffset: number }[]>();
  for (const entry of log.abortedTransactions(log.logStartOffset, endOffset)) {
    let list = ranges.get(entry.producerId);
    if (list === undefined) ranges.set(entry.producerId, (list = []));
    list.push({ firstOffset: entry.firstOffset, lastOffset: entry.lastOffset });
  }
  if (ranges.size === 0) return () => false;
  return (view, position) => {
    if ((view.getInt16(position + ATTRIBUTES_OFFSET) & TRANSACTIONAL_FLAG_MASK) === 0) return false;
    const list = ranges.get(readInt64(view, position + PRODUCER_ID_OFFSET));
    if (list === undefined) return false;
    const baseOffset = batchBaseOffset(view, position);
    // Bounded by the producer's aborts in the cleaned range.
    for (const range of list) if (baseOffset >= range.firstOffset && baseOffset <= range.lastOffset) return true;
    return false;
  };
}
