// Opening a partition directory (Kafka's LogLoader): find the segments, drop leftovers of interrupted
// operations, and decide which segments to trust.
//
// - Unclean shutdown (`recover`): every segment from the one holding the persisted recovery point to
//   the end is re-read and checked batch by batch (header + CRC32C) with pread, its indexes rebuilt, and
//   its .log cut at the first invalid or torn batch. If a segment other than the last had to be cut,
//   every later segment is deleted: the log must stay contiguous and nothing after a hole is trusted.
// - Clean shutdown: files are trusted. Indexes are still sanity-checked (and rebuilt if missing or
//   wrong), and the last segment's tail is checked to end on a batch boundary.
// Segments before the recovery point were fsynced when they rolled; they are trusted in both cases.
//
// Leftovers, in both cases: an interrupted follower truncation (`.truncating`), checkpoint write (`.tmp`)
// or log cleaner output not yet committed (`.cleaned`, and `.index.swap`/`.timeindex.swap` without their
// `.log.swap`) are deleted. A committed cleaner swap (`<base>.log.swap`, fsynced before it got that name)
// is completed as PartitionLog.replaceSegments would have: the segments whose base offsets it covers are
// deleted and its files take their final names.
import * as path from "node:path";
import { PREALLOCATED_SPACE } from "./batch-scanner.ts";
import { readOffsetFile } from "./checkpoint.ts";
import type { LogConfig } from "./config.ts";
import { OPEN_READ_ONLY, fsyncDirectoryWith, nodeFileSystem, type FileSystem } from "./file-system.ts";
import { CorruptIndexError } from "./index-file.ts";
import { BatchScanner } from "./batch-scanner.ts";
import { RECORD_BATCH_OVERHEAD } from "../records/batch.ts";
import { segmentPaths } from "./cleaned-segment.ts";
import { TRANSACTION_INDEX_SUFFIX } from "./transaction-index.ts";
import {
  CLEANED_FILE_SUFFIX,
  INDEX_FILE_SUFFIX,
  LOG_FILE_SUFFIX,
  LogSegment,
  SWAP_FILE_SUFFIX,
  TIME_INDEX_FILE_SUFFIX,
  TRUNCATION_FILE_SUFFIX,
  segmentFileName,
} from "./segment.ts";

export const RECOVERY_POINT_FILE = "recovery-point";
export const LOG_START_OFFSET_FILE = "log-start-offset";
// .txnindex (transaction-index.ts) only for segments that hold aborts; one without its .log is removed like the others.
const SEGMENT_FILE_PATTERN = /^(\d{20})\.(log|index|timeindex|txnindex)$/;
const SWAP_LOG_PATTERN = /^(\d{20})\.log\.swap$/;
/** Far more segments than a partition should ever have; a bound for the directory scan. */
const MAX_SEGMENTS = 1_000_000;

export interface RecoveryReport {
  /** Segments re-read batch by batch (unclean shutdown, or a clean open that failed a check). */
  recoveredSegments: number;
  /** Bytes cut from the end of recovered segments (includes preallocated zeros of the active one). */
  truncatedBytes: number;
  /** Segments deleted because an earlier segment was corrupt. */
  deletedSegments: number;
  /** Segments whose indexes were missing or failed the sanity check, rebuilt from the .log. */
  rebuiltIndexes: number;
  /** Leftover files removed (interrupted truncation, orphan indexes, temporary checkpoints). */
  removedFiles: number;
  /** What happened, one line per event, for the broker log. */
  events: string[];
}

export interface LoadedSegments {
  segments: LogSegment[];
  persistedLogStartOffset: number;
  persistedRecoveryPoint: number;
  report: RecoveryReport;
}

export function loadSegments(dir: string, config: LogConfig, recover: boolean, nowMs: number, files: FileSystem = nodeFileSystem): LoadedSegments {
  files.mkdir(dir);
  const report: RecoveryReport = { recoveredSegments: 0, truncatedBytes: 0, deletedSegments: 0, rebuiltIndexes: 0, removedFiles: 0, events: [] };
  let names = files.readdir(dir);
  if (names.length > MAX_SEGMENTS * 4 + 16) throw new Error(`${dir}: ${names.length} files, more than a partition can hold`);
  if (completeCleanerSwaps(dir, names, maxBatchBytesFor(config), report, files)) names = files.readdir(dir);

  const logBaseOffsets: number[] = [];
  const indexFiles: { name: string; baseOffset: number }[] = [];
  for (const name of names) {
    // Interrupted truncateTo (the rename had not happened: the .log is intact), checkpoint write, or
    // uncommitted cleaner output (the segments it was to replace are intact).
    if (name.endsWith(TRUNCATION_FILE_SUFFIX) || name.endsWith(CLEANED_FILE_SUFFIX) || name.endsWith(SWAP_FILE_SUFFIX) || name.endsWith(".tmp") || name.endsWith(".deleted")) {
      files.unlink(path.join(dir, name));
      report.removedFiles++;
      report.events.push(`removed leftover ${name}`);
      continue;
    }
    const match = SEGMENT_FILE_PATTERN.exec(name);
    if (!match) continue;
    const baseOffset = Number(match[1]);
    if (!Number.isSafeInteger(baseOffset)) throw new Error(`${dir}/${name}: base offset out of range`);
    if (match[2] === "log") logBaseOffsets.push(baseOffset);
    else indexFiles.push({ name, baseOffset });
  }
  logBaseOffsets.sort((a, b) => a - b);
  const logSet = new Set(logBaseOffsets);
  for (const index of indexFiles) {
    if (logSet.has(index.baseOffset)) continue;
    files.unlink(path.join(dir, index.name));
    report.removedFiles++;
    report.events.push(`removed ${index.name}: no .log`);
  }

  const persistedLogStartOffset = readOffsetFile(path.join(dir, LOG_START_OFFSET_FILE), files) ?? 0;
  const persistedRecoveryPoint = readOffsetFile(path.join(dir, RECOVERY_POINT_FILE), files) ?? 0;

  let segments: LogSegment[] = [];
  for (let position = 0; position < logBaseOffsets.length; position++) {
    const baseOffset = logBaseOffsets[position]!;
    const indexesExist =
      files.exists(path.join(dir, String(baseOffset).padStart(20, "0") + INDEX_FILE_SUFFIX)) &&
      files.exists(path.join(dir, String(baseOffset).padStart(20, "0") + TIME_INDEX_FILE_SUFFIX));
    const segment = LogSegment.open(dir, baseOffset, config, nowMs, files);
    segments.push(segment);
    const problem = indexesExist ? indexProblem(segment) : "missing index file";
    if (problem !== null) {
      const truncatedBytes = segment.recover(maxBatchBytesFor(config), logBaseOffsets[position + 1] ?? Number.POSITIVE_INFINITY);
      report.rebuiltIndexes++;
      report.truncatedBytes += truncatedBytes;
      const cut = truncatedBytes > 0 && segment.lastRecoveryStopReason !== PREALLOCATED_SPACE;
      report.events.push(`${segment.logPath}: rebuilt indexes (${problem})${cut ? `, cut ${truncatedBytes} bytes: ${segment.lastRecoveryStopReason}` : ""}`);
      segment.recovered = true;
    }
  }

  if (recover && segments.length > 0) {
    let firstToRecover = 0;
    // The segment before the one starting at the recovery point too: a roll there trims it (fsynced in the
    // background), and a crash before that sync leaves it at its preallocated length (found by test/sim/).
    for (let index = 0; index < segments.length; index++) if (segments[index]!.baseOffset < Math.max(persistedRecoveryPoint, 1)) firstToRecover = index;
    segments = recoverFrom(segments, firstToRecover, config, report, files);
  } else if (segments.length > 0) {
    const last = segments[segments.length - 1]!;
    if (!last.recovered && !last.verifyTail()) {
      report.events.push(`${last.logPath}: does not end on a batch boundary after a clean shutdown; recovering it`);
      segments = recoverFrom(segments, segments.length - 1, config, report, files);
    }
  }
  return { segments, persistedLogStartOffset, persistedRecoveryPoint, report };
}

/**
 * Completes every committed cleaner swap in `names`: deletes the segments whose base offsets lie in the
 * swap's offset range (the old segments it replaces; a replaced segment beyond its last batch may be
 * left, which is harmless: its data is valid, only not compacted), then renames the swap files to their
 * final names (an index whose `.swap` is gone was renamed already). Returns whether anything was done.
 */
function completeCleanerSwaps(dir: string, names: readonly string[], maxBatchBytes: number, report: RecoveryReport, files: FileSystem): boolean {
  const swaps: number[] = [];
  for (const name of names) {
    const match = SWAP_LOG_PATTERN.exec(name);
    if (match) swaps.push(Number(match[1]));
  }
  if (swaps.length === 0) return false;
  const logBaseOffsets: number[] = [];
  for (const name of names) {
    const match = SEGMENT_FILE_PATTERN.exec(name);
    if (match && match[2] === "log") logBaseOffsets.push(Number(match[1]));
  }
  for (const baseOffset of swaps) {
    const swap = segmentPaths(dir, baseOffset, SWAP_FILE_SUFFIX);
    const nextOffset = readNextOffset(swap.log, baseOffset, maxBatchBytes, files);
    const coveredEnd = Math.max(nextOffset, baseOffset + 1);
    for (const oldBaseOffset of logBaseOffsets) {
      if (oldBaseOffset < baseOffset || oldBaseOffset >= coveredEnd) continue;
      const old = segmentPaths(dir, oldBaseOffset, "");
      files.unlink(old.log);
      // The swap's own indexes may already carry the final names (renamed before the crash): keep those.
      if (oldBaseOffset !== baseOffset || files.exists(swap.index)) files.unlink(old.index);
      if (oldBaseOffset !== baseOffset || files.exists(swap.timeIndex)) files.unlink(old.timeIndex);
      report.events.push(`${segmentFileName(oldBaseOffset, LOG_FILE_SUFFIX)}: deleted, replaced by the cleaned segment ${segmentFileName(baseOffset, LOG_FILE_SUFFIX)}`);
    }
    const final = segmentPaths(dir, baseOffset, "");
    if (files.exists(swap.index)) files.rename(swap.index, final.index);
    if (files.exists(swap.timeIndex)) files.rename(swap.timeIndex, final.timeIndex);
    files.rename(swap.log, final.log);
    report.removedFiles++;
    report.events.push(`completed the interrupted swap of cleaned segment ${segmentFileName(baseOffset, LOG_FILE_SUFFIX)}`);
  }
  fsyncDirectoryWith(files, dir);
  return true;
}

/** The offset after the last whole batch of a .log, read with pread (headers only); baseOffset when empty. */
function readNextOffset(logPath: string, baseOffset: number, maxBatchBytes: number, files: FileSystem): number {
  const fd = files.open(logPath, OPEN_READ_ONLY);
  try {
    const fileBytes = files.fstat(fd).size;
    const scanner = new BatchScanner(fd, fileBytes, baseOffset, maxBatchBytes, false, 0, undefined, files);
    let nextOffset = baseOffset;
    for (let guard = 0; guard <= fileBytes / RECORD_BATCH_OVERHEAD && scanner.next(); guard++) nextOffset = scanner.batch.lastOffset + 1;
    return nextOffset;
  } finally {
    files.close(fd);
  }
}

/** Recovers segments[first..]; a segment cut short (other than the last) ends the log there. */
function recoverFrom(segments: LogSegment[], first: number, config: LogConfig, report: RecoveryReport, files: FileSystem): LogSegment[] {
  for (let index = first; index < segments.length; index++) {
    const segment = segments[index]!;
    const nextBaseOffset = segments[index + 1]?.baseOffset ?? Number.POSITIVE_INFINITY;
    const truncatedBytes = segment.recovered ? 0 : segment.recover(maxBatchBytesFor(config), nextBaseOffset);
    segment.recovered = true;
    report.recoveredSegments++;
    report.truncatedBytes += truncatedBytes;
    const isLast = index === segments.length - 1;
    if (truncatedBytes > 0 && segment.lastRecoveryStopReason !== PREALLOCATED_SPACE) report.events.push(`${segment.logPath}: cut ${truncatedBytes} bytes at ${segment.sizeBytes} (${segment.lastRecoveryStopReason})`);
    // Zeros after the data are a preallocated tail that was not trimmed yet, not damage: later segments stay.
    if (truncatedBytes > 0 && !isLast && segment.lastRecoveryStopReason !== PREALLOCATED_SPACE) {
      const later = segments.slice(index + 1);
      for (const dropped of later) {
        dropped.delete();
        // Its aborted transactions too: a stale .txnindex would be picked up when the log grows back to that base.
        files.unlink(path.join(path.dirname(dropped.logPath), segmentFileName(dropped.baseOffset, TRANSACTION_INDEX_SUFFIX)));
        report.deletedSegments++;
        report.events.push(`${dropped.logPath}: deleted, it follows a corrupt segment`);
      }
      return segments.slice(0, index + 1);
    }
  }
  return segments;
}

/** Recovery's bound for one batch: nothing larger than a segment was ever appended. */
function maxBatchBytesFor(config: LogConfig): number {
  return Math.max(config.segmentBytes, config.maxMessageBytes);
}

function indexProblem(segment: LogSegment): string | null {
  try {
    segment.offsetIndex.sanityCheck(segment.sizeBytes);
    segment.timeIndex.sanityCheck();
    return null;
  } catch (error) {
    if (error instanceof CorruptIndexError) return error.message;
    throw error;
  }
}
