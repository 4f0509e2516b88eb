// Idempotent producer state on disk, and its rebuild when a partition log opens or is truncated (Kafka's
// `<offset>.snapshot` files and ProducerStateManager.truncateAndReload).
//
// `<20-digit offset>.snapshot` holds the state of every producer as of that offset (all batches below it
// applied). One is written at each segment roll (at the new segment's base offset) and at clean close (at
// the log end offset); the newest PRODUCER_SNAPSHOTS_RETAINED are kept. Rebuild = the newest readable
// snapshot that is not above the log end, then a replay of batch headers (pread, no CRC) from it to the log
// end. Without one, the replay starts at the log start (Kafka's rebuildProducerState): bounded by what is on
// disk, and never missing an open transaction. Since a roll's snapshot is made durable before the recovery
// point moves past the rolled segment, the replay is normally the active segment alone (after an unclean
// shutdown) or nothing (after a clean one).
//
// Format (big-endian): int16 version, uint32 CRC32C of everything after it, int64 offset, int32 producer
// count, then per producer: int64 producerId, int16 epoch, [version 2: int32 coordinatorEpoch, int64
// currentTxnFirstOffset, int64 last marker timestamp], int8 batch count (1..5; 0..5 in version 2), and per
// batch int32 firstSeq, int32 lastSeq, int64 firstOffset, int64 lastOffset, int64 timestamp. Version 2
// (transactions, docs/transactions.md) is written; version 1 files are still read. A roll's snapshot is written
// without an fsync and synced in the background with the rolled segment (Kafka's roll: takeSnapshot(false),
// then flushProducerStateSnapshot on the scheduler); a torn one fails its CRC and the replay covers for it.
import * as path from "node:path";
import { crc32c } from "@node-rs/crc32";
import { CONTROL_FLAG_MASK, RECORD_BATCH_OVERHEAD, TRANSACTIONAL_FLAG_MASK, readInt64, writeInt64 } from "../records/batch.ts";
import { CONTROL_BATCH_BYTES, readEndTransactionMarker } from "../records/control.ts";
import { BatchScanner } from "./batch-scanner.ts";
import { OPEN_CREATE, OPEN_READ_ONLY, OPEN_TRUNCATE, OPEN_WRITE_ONLY, fsyncDirectoryWith, nodeFileSystem, type FileSystem } from "./file-system.ts";
import { NO_SEQUENCE, PRODUCER_BATCHES_RETAINED, incrementSequence, type CompletedTransaction, type IdempotentBatch, type ProducerBatchMetadata, type ProducerStateManager } from "./producer-state.ts";
import { segmentFileName, type LogSegment } from "./segment.ts";

export const PRODUCER_SNAPSHOT_SUFFIX = ".snapshot";
/** Snapshots kept per partition: the newest few, so a truncation into an older segment still finds one. */
export const PRODUCER_SNAPSHOTS_RETAINED = 3;

const SNAPSHOT_VERSION = 2;
const SNAPSHOT_VERSION_WITHOUT_TRANSACTIONS = 1;
/** Version 2's per-producer transaction fields: coordinator epoch, ongoing transaction's first offset, marker time. */
const TRANSACTION_FIELDS_BYTES = 4 + 8 + 8;
const SNAPSHOT_FILE_PATTERN = /^(\d{20})\.snapshot$/;
const HEADER_BYTES = 2 + 4 + 8 + 4;
const CRC_START = 6;
const ENTRY_HEADER_BYTES = 8 + 2 + 1;
const BATCH_BYTES = 4 + 4 + 8 + 8 + 8;
/** fs.writeSync on a regular file writes everything unless the disk is full; retry a few times. */
const MAX_WRITE_ATTEMPTS = 8;
/**
 * pread size of the header replay: small batches come many to a read; a large batch costs one 64 KiB read
 * for its header instead of all its bytes.
 */
const REPLAY_CHUNK_BYTES = 64 * 1024;
/** A marker's batch is CONTROL_BATCH_BYTES; a little more covers control records with larger varints. */
const CONTROL_BATCH_READ_BYTES = CONTROL_BATCH_BYTES + 32;

export function snapshotPath(dir: string, offset: number): string {
  return path.join(dir, segmentFileName(offset, PRODUCER_SNAPSHOT_SUFFIX));
}

/** Offsets of the snapshot files in `dir`, ascending. */
export function listSnapshotOffsets(dir: string, files: FileSystem = nodeFileSystem): number[] {
  const offsets: number[] = [];
  for (const name of files.readdir(dir)) {
    const match = SNAPSHOT_FILE_PATTERN.exec(name);
    if (match) offsets.push(Number(match[1]));
  }
  return offsets.sort((a, b) => a - b);
}

export function encodeSnapshot(manager: ProducerStateManager, offset: number): Uint8Array {
  let sizeBytes = HEADER_BYTES;
  for (const entry of manager.entries()) sizeBytes += ENTRY_HEADER_BYTES + TRANSACTION_FIELDS_BYTES + entry.batches.length * BATCH_BYTES;
  const bytes = new Uint8Array(sizeBytes);
  const view = new DataView(bytes.buffer);
  view.setInt16(0, SNAPSHOT_VERSION);
  writeInt64(view, 6, offset);
  view.setInt32(14, manager.producerCount);
  let position = HEADER_BYTES;
  for (const entry of manager.entries()) {
    writeInt64(view, position, entry.producerId);
    view.setInt16(position + 8, entry.producerEpoch);
    view.setInt32(position + 10, entry.coordinatorEpoch);
    writeInt64(view, position + 14, entry.currentTxnFirstOffset);
    writeInt64(view, position + 22, entry.markerTimestampMs);
    view.setInt8(position + 30, entry.batches.length);
    position += ENTRY_HEADER_BYTES + TRANSACTION_FIELDS_BYTES;
    for (const batch of entry.batches) {
      view.setInt32(position, batch.firstSeq);
      view.setInt32(position + 4, batch.lastSeq);
      writeInt64(view, position + 8, batch.firstOffset);
      writeInt64(view, position + 16, batch.lastOffset);
      writeInt64(view, position + 24, batch.timestampMs);
      position += BATCH_BYTES;
    }
  }
  if (position !== sizeBytes) throw new Error(`producer snapshot: wrote ${position} of ${sizeBytes} bytes`);
  view.setUint32(2, crc32c(bytes.subarray(CRC_START)) >>> 0);
  return bytes;
}

/**
 * Replaces the manager's state with the snapshot's. Returns null, or why the bytes were refused (the
 * manager is then cleared): check after reading, nothing half-loaded.
 */
export function decodeSnapshot(bytes: Uint8Array, expectedOffset: number, manager: ProducerStateManager): string | null {
  manager.clear();
  if (bytes.byteLength < HEADER_BYTES) return `${bytes.byteLength} bytes is shorter than the header`;
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const version = view.getInt16(0);
  if (version !== SNAPSHOT_VERSION && version !== SNAPSHOT_VERSION_WITHOUT_TRANSACTIONS) return `unknown version ${version}`;
  const entryHeaderBytes = ENTRY_HEADER_BYTES + (version === SNAPSHOT_VERSION ? TRANSACTION_FIELDS_BYTES : 0);
  if ((crc32c(bytes.subarray(CRC_START)) >>> 0) !== view.getUint32(2)) return "CRC mismatch";
  const offset = readInt64(view, 6);
  if (offset !== expectedOffset) return `holds offset ${offset}, its name says ${expectedOffset}`;
  const count = view.getInt32(14);
  if (count < 0 || count > (bytes.byteLength - HEADER_BYTES) / entryHeaderBytes) return `bad producer count ${count}`;
  let position = HEADER_BYTES;
  const batches: ProducerBatchMetadata[] = [];
  for (let index = 0; index < count; index++) {
    if (position + entryHeaderBytes > bytes.byteLength) {
      manager.clear();
      return `entry ${index} runs past the end`;
    }
    const producerId = readInt64(view, position);
    const producerEpoch = view.getInt16(position + 8);
    const transaction = { coordinatorEpoch: -1, currentTxnFirstOffset: -1, markerTimestampMs: -1 };
    if (version === SNAPSHOT_VERSION) {
      transaction.coordinatorEpoch = view.getInt32(position + 10);
      transaction.currentTxnFirstOffset = readInt64(view, position + 14);
      transaction.markerTimestampMs = readInt64(view, position + 22);
    }
    const batchCount = view.getInt8(position + entryHeaderBytes - 1);
    position += entryHeaderBytes;
    const minBatches = transaction.currentTxnFirstOffset >= 0 || transaction.markerTimestampMs >= 0 ? 0 : 1;
    if (
      producerId < 0 ||
      batchCount < minBatches ||
      batchCount > PRODUCER_BATCHES_RETAINED ||
      transaction.currentTxnFirstOffset < -1 ||
      position + batchCount * BATCH_BYTES > bytes.byteLength
    ) {
      manager.clear();
      return `entry ${index} (producer ${producerId}, ${batchCount} batches) is invalid`;
    }
    batches.length = 0;
    for (let slot = 0; slot < batchCount; slot++) {
      batches.push({
        firstSeq: view.getInt32(position),
        lastSeq: view.getInt32(position + 4),
        firstOffset: readInt64(view, position + 8),
        lastOffset: readInt64(view, position + 16),
        timestampMs: readInt64(view, position + 24),
      });
      position += BATCH_BYTES;
    }
    manager.restore(producerId, producerEpoch, batches, transaction);
  }
  if (position !== bytes.byteLength) {
    manager.clear();
    return `${bytes.byteLength - position} bytes after the last entry`;
  }
  return null;
}

/**
 * The snapshot files of one partition directory. Their offsets are listed once (when the log opens) and
 * then kept in memory, so a roll costs one small file write, not a directory listing.
 */
export class ProducerSnapshotFiles {
  /** Ascending. */
  private offsets: number[];

  constructor(
    readonly dir: string,
    readonly fileSystem: FileSystem = nodeFileSystem,
  ) {
    this.offsets = listSnapshotOffsets(dir, fileSystem);
  }

  get snapshotOffsets(): readonly number[] {
    return this.offsets;
  }

  /**
   * Writes `<offset>.snapshot` (a temporary file renamed over, so a reader sees a whole one or none) and
   * removes snapshots beyond the newest PRODUCER_SNAPSHOTS_RETAINED. `durable` fsyncs the file and the
   * directory (clean close); a roll's snapshot is left to the page cache.
   */
  write(manager: ProducerStateManager, offset: number, durable: boolean): void {
    const bytes = encodeSnapshot(manager, offset);
    const filePath = snapshotPath(this.dir, offset);
    const tmpPath = filePath + ".tmp";
    const files = this.fileSystem;
    const fd = files.open(tmpPath, OPEN_WRITE_ONLY | OPEN_CREATE | OPEN_TRUNCATE, 0o644);
    try {
      let writtenBytes = 0;
      for (let attempt = 0; writtenBytes < bytes.byteLength; attempt++) {
        if (attempt >= MAX_WRITE_ATTEMPTS) throw new Error(`${tmpPath}: wrote ${writtenBytes} of ${bytes.byteLength} bytes`);
        writtenBytes += files.write(fd, bytes, writtenBytes, bytes.byteLength - writtenBytes, writtenBytes);
      }
      if (durable) files.fsync(fd);
    } finally {
      files.close(fd);
    }
    files.rename(tmpPath, filePath);
    if (durable) fsyncDirectoryWith(files, this.dir);
    if (!this.offsets.includes(offset)) {
      this.offsets.push(offset);
      this.offsets.sort((a, b) => a - b);
    }
    // Bounded by PRODUCER_SNAPSHOTS_RETAINED + 1 entries after the first call.
    while (this.offsets.length > PRODUCER_SNAPSHOTS_RETAINED) this.delete(this.offsets[0]!);
  }

  /**
   * Makes a roll's snapshot durable: its data on the threadpool, then the directory entry (its rename). A
   * snapshot removed meanwhile needs nothing (Kafka's flushFileIfExists).
   */
  async makeDurable(offset: number): Promise<void> {
    const fd = this.openIfPresent(offset);
    if (fd === null) return;
    try {
      await this.fileSystem.fsyncAsync(fd);
    } finally {
      this.fileSystem.close(fd);
    }
    fsyncDirectoryWith(this.fileSystem, this.dir);
  }

  /** makeDurable on this thread, the directory left to the caller (a flush syncs it once for everything). */
  makeDurableSync(offset: number): void {
    const fd = this.openIfPresent(offset);
    if (fd === null) return;
    try {
      this.fileSystem.fsync(fd);
    } finally {
      this.fileSystem.close(fd);
    }
  }

  private openIfPresent(offset: number): number | null {
    if (!this.offsets.includes(offset)) return null;
    try {
      return this.fileSystem.open(snapshotPath(this.dir, offset), OPEN_READ_ONLY);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === "ENOENT") return null;
      throw error;
    }
  }

  delete(offset: number): void {
    this.fileSystem.unlink(snapshotPath(this.dir, offset));
    const index = this.offsets.indexOf(offset);
    if (index >= 0) this.offsets.splice(index, 1);
  }

  /**
   * Removes snapshots above `offset` (truncation: they describe batches that are gone). Returns how many. The
   * removal is made durable: a snapshot that came back after a power loss would be loaded once the log grew
   * past its offset again, describing another history (test/sim/txn-crash.test.ts found one).
   */
  deleteAbove(offset: number): number {
    let removed = 0;
    for (const snapshotOffset of [...this.offsets]) {
      if (snapshotOffset <= offset) continue;
      this.delete(snapshotOffset);
      removed++;
    }
    if (removed > 0) fsyncDirectoryWith(this.fileSystem, this.dir);
    return removed;
  }
}

/**
 * Applies the idempotent batches of `segments` at or after fromOffset to the manager, reading batch headers
 * with pread (no CRC: the loader already decided which bytes to trust). Returns "" or why a segment's scan
 * stopped early (the state then misses what follows; those producers count as unknown).
 */
export function replayBatchHeaders(
  manager: ProducerStateManager,
  segments: readonly LogSegment[],
  fromOffset: number,
  maxBatchBytes: number,
  files: FileSystem = nodeFileSystem,
  /** Each transaction a replayed marker ends (the log checks its aborted-transaction index against them). */
  onTransactionCompleted?: (completed: CompletedTransaction) => void,
): string {
  const markerBuffer = new Uint8Array(CONTROL_BATCH_READ_BYTES);
  for (const segment of segments) {
    if (segment.nextOffset <= fromOffset || segment.sizeBytes === 0) continue;
    const startPosition = fromOffset > segment.baseOffset ? segment.offsetIndex.lookup(fromOffset).position : 0;
    const fd = files.open(segment.logPath, OPEN_READ_ONLY);
    try {
      const scanner = new BatchScanner(fd, segment.sizeBytes, segment.baseOffset, maxBatchBytes, false, startPosition, REPLAY_CHUNK_BYTES, files);
      const batch = scanner.batch;
      const idempotent: IdempotentBatch = { producerId: 0, producerEpoch: 0, firstSeq: 0, lastSeq: 0, transactional: false };
      // Bounded: every batch moves the scan forward by at least RECORD_BATCH_OVERHEAD bytes.
      for (let guard = 0; guard <= segment.sizeBytes / RECORD_BATCH_OVERHEAD && scanner.next(); guard++) {
        if (batch.lastOffset < fromOffset) continue;
        if (batch.producerId >= 0 && (batch.attributes & CONTROL_FLAG_MASK) !== 0) {
          // A transaction marker: the only batch whose records the replay reads (one small pread).
          const markerBytes = Math.min(batch.sizeBytes, CONTROL_BATCH_READ_BYTES);
          if (files.read(fd, markerBuffer, 0, markerBytes, batch.position) !== markerBytes) return `${segment.logPath}: short read of the control batch at ${batch.position}`;
          const marker = readEndTransactionMarker(markerBuffer, 0, markerBytes);
          if (marker === null) continue;
          const completed = manager.completeTransaction(batch.producerId, batch.producerEpoch, marker.coordinatorEpoch, marker.commit, batch.baseOffset, batch.maxTimestamp);
          onTransactionCompleted?.(completed);
          continue;
        }
        idempotent.transactional = (batch.attributes & TRANSACTIONAL_FLAG_MASK) !== 0;
        // Without a sequence only the group coordinator's transactional batches (TxnOffsetCommit) count.
        if (batch.producerId < 0 || (batch.baseSequence < 0 && !idempotent.transactional)) continue;
        idempotent.producerId = batch.producerId;
        idempotent.producerEpoch = batch.producerEpoch;
        idempotent.firstSeq = batch.baseSequence < 0 ? NO_SEQUENCE : batch.baseSequence;
        idempotent.lastSeq = batch.baseSequence < 0 ? NO_SEQUENCE : incrementSequence(batch.baseSequence, batch.lastOffset - batch.baseOffset);
        manager.update(idempotent, batch.baseOffset, batch.lastOffset, batch.maxTimestamp);
      }
      if (scanner.stopReason !== "") return `${segment.logPath}: ${scanner.stopReason}`;
    } finally {
      files.close(fd);
    }
  }
  return "";
}

export interface ProducerStateRebuild {
  /** Offset of the snapshot loaded, or -1. */
  snapshotOffset: number;
  /** Where the header replay started. */
  replayedFromOffset: number;
  events: string[];
}

/**
 * Rebuilds the manager from the newest usable snapshot plus a header replay to the log end (see the file
 * comment), then drops expired producers. Snapshots above the log end, or above `trustedUpToOffset` (the
 * recovery point, after an unclean shutdown), are removed first.
 */
export function rebuildProducerState(
  manager: ProducerStateManager,
  files: ProducerSnapshotFiles,
  segments: readonly LogSegment[],
  logEndOffset: number,
  maxBatchBytes: number,
  nowMs: number,
  onTransactionCompleted?: (completed: CompletedTransaction) => void,
  trustedUpToOffset: number = Number.POSITIVE_INFINITY,
): ProducerStateRebuild {
  const events: string[] = [];
  manager.clear();
  // Without a usable snapshot the replay starts at the log start, as Kafka's: a shorter window would miss an
  // older open transaction and expose its records as stable (test/sim/txn-crash.test.ts found it with rolls).
  const logStartOffset = segments.length > 0 ? segments[0]!.baseOffset : logEndOffset;
  let snapshotOffset = -1;
  let removedAny = false;
  const offsets = [...files.snapshotOffsets];
  for (let index = offsets.length - 1; index >= 0; index--) {
    const offset = offsets[index]!;
    const fileName = path.basename(snapshotPath(files.dir, offset));
    if (offset > logEndOffset) {
      files.delete(offset);
      removedAny = true;
      events.push(`removed producer snapshot ${fileName}: above the log end offset ${logEndOffset}`);
      continue;
    }
    if (offset > trustedUpToOffset) {
      // Written after the last durable point: it may describe batches the power loss took while a later
      // segment survived (an empty segment then stands for them; test/sim/txn-crash.test.ts found one).
      files.delete(offset);
      removedAny = true;
      events.push(`removed producer snapshot ${fileName}: above the recovery point ${trustedUpToOffset}`);
      continue;
    }
    if (snapshotOffset >= 0) continue;
    let problem: string | null;
    try {
      problem = decodeSnapshot(files.fileSystem.readFile(snapshotPath(files.dir, offset)), offset, manager);
    } catch (error) {
      problem = `unreadable: ${error instanceof Error ? error.message : String(error)}`;
    }
    if (problem === null) {
      snapshotOffset = offset;
      continue;
    }
    files.delete(offset);
    removedAny = true;
    events.push(`removed producer snapshot ${fileName}: ${problem}`);
  }
  // Durable before anything is appended past them again (see deleteAbove).
  if (removedAny) fsyncDirectoryWith(files.fileSystem, files.dir);
  const replayedFromOffset = snapshotOffset >= 0 ? snapshotOffset : logStartOffset;
  const stopped = replayBatchHeaders(manager, segments, replayedFromOffset, maxBatchBytes, files.fileSystem, onTransactionCompleted);
  if (stopped !== "") events.push(`producer state replay stopped early (${stopped}); later producers count as unknown`);
  manager.removeExpired(nowMs);
  return { snapshotOffset, replayedFromOffset, events };
}
