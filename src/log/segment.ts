// A log segment (Kafka's LogSegment): `<20-digit baseOffset>.log` with record batches exactly as they
// were appended, plus its `.index` and `.timeindex`.
//
// File rules (docs/ARCHITECTURE.md "Files on disk", docs/bun-runtime.md §3, §4):
// - The active segment's .log is preallocated to segment.bytes (ftruncate, sparse) so that one Bun.mmap
//   view covers every byte it will ever hold; a reader thread can map it once too.
// - Writes go through an fd with fs.writeSync at the tracked size (never O_APPEND, never Bun.write), in
//   pieces that end at 16 KiB multiples of the file (page-cache-writes.ts says why).
// - The .log is trimmed to its real size only when the segment stops being active: readers never read
//   past the data, so no view is ever touched past the new end (SIGBUS).
// - Recovery runs on pread before anything maps the file, so it may cut a torn tail with ftruncate.
// - Follower truncation replaces the file (write the kept prefix, rename over): old views keep the old
//   inode, and the new file gets a new fileId.
// - An inactive segment holds no fd, and maps its .log and indexes only while it is among the
//   log.segment.open.max most recently used ones (open-segments.ts): partitions x segments is bounded
//   by the disk, not by file descriptors or vm.max_map_count.
import * as path from "node:path";
import {
  ATTRIBUTES_OFFSET,
  BASE_TIMESTAMP_OFFSET,
  COMPRESSION_CODEC_MASK,
  CompressionType,
  NO_TIMESTAMP,
  RECORD_BATCH_OVERHEAD,
  RECORDS_COUNT_OFFSET,
  RECORDS_OFFSET,
  TIMESTAMP_TYPE_MASK,
  batchBaseOffset,
  batchLastOffset,
  batchMaxTimestamp,
  batchSizeBytes,
  dataViewOf,
  readInt64,
} from "../records/batch.ts";
import { decompressRecordsSection } from "../records/compression.ts";
import { RecordReader } from "../records/record.ts";
import { assert } from "../util/assert.ts";
import { BatchScanner } from "./batch-scanner.ts";
import type { LogConfig } from "./config.ts";
import { OPEN_CREATE, OPEN_READ_ONLY, OPEN_READ_WRITE, OPEN_TRUNCATE, fsyncDirectoryWith, nodeFileSystem, type FileSystem } from "./file-system.ts";
import { OffsetIndex } from "./offset-index.ts";
import { writeBytesAt, writePartsAt } from "./page-cache-writes.ts";
import { openSegments, type MappedResource } from "./open-segments.ts";
import { TimeIndex } from "./time-index.ts";

export const LOG_FILE_SUFFIX = ".log";
export const INDEX_FILE_SUFFIX = ".index";
export const TIME_INDEX_FILE_SUFFIX = ".timeindex";
/** A .log being written by truncateTo before it is renamed over the real one (a leftover is deleted). */
export const TRUNCATION_FILE_SUFFIX = ".truncating";
/** A log cleaner output being written (`<base>.log.cleaned`, ...): a leftover is deleted. */
export const CLEANED_FILE_SUFFIX = ".cleaned";
/**
 * A log cleaner output that is committed (`<base>.log.swap`, ...): it replaces the segments it covers.
 * Recovery completes an interrupted swap (log-loader.ts); see docs/compaction.md.
 */
export const SWAP_FILE_SUFFIX = ".swap";

/** Kafka's file name: the base offset as 20 zero-padded digits. */
export function segmentFileName(baseOffset: number, suffix: string): string {
  return String(baseOffset).padStart(20, "0") + suffix;
}

/**
 * Which file is behind a segment's path: a new one whenever the file is replaced (truncateTo renames a new
 * file over it), so a reader caches views per identity and checks the inode of what it mapped.
 */
export interface FileIdentity {
  inode: number;
  /** Counts files this thread opened or replaced: two identities of one path never share it. */
  generation: number;
  /** `<path>#<inode>.<generation>`: the key readers cache views by (never parsed). */
  fileId: string;
}

let fileGeneration = 0;
function newFileIdentity(filePath: string, fd: number, files: FileSystem): FileIdentity {
  const inode = files.fstat(fd).ino;
  const generation = ++fileGeneration;
  return { inode, generation, fileId: `${filePath}#${inode}.${generation}` };
}

/** A byte range of whole batches in the .log. */
export interface SegmentRange {
  position: number;
  sizeBytes: number;
  /** baseOffset of the first batch in the range (may be below the offset asked for). */
  firstOffset: number;
}

/** The batch holding an offset. */
export interface BatchLocation {
  position: number;
  sizeBytes: number;
  baseOffset: number;
  lastOffset: number;
}

export class LogSegment implements MappedResource {
  readonly logPath: string;
  readonly offsetIndex: OffsetIndex;
  readonly timeIndex: TimeIndex;
  /** Valid bytes in the .log (batches end here). */
  sizeBytes: number;
  identity: FileIdentity;
  active = false;
  createdTimeMs: number;
  /** True when bytes were written since the last fdatasync. */
  dirty = false;
  /** Rolled: the files were trimmed but their fsync has not completed yet. */
  syncPending = false;
  /** Set by the loader once recover() ran in this open (so it is not run twice). */
  recovered = false;
  /** Why the last recover() stopped ("" at a clean end of the data). */
  lastRecoveryStopReason = "";

  /** Current length of the .log on disk: sizeBytes, or segment.bytes while preallocated. */
  private fileBytes: number;
  /** Write fd, held only while active. */
  private fd: number | null = null;
  /** The .log was grown to segment.bytes when it became active: appends must stay inside. */
  private preallocated = false;
  private view: Uint8Array | null = null;
  private data: DataView | null = null;
  private bytesSinceLastIndexEntry = 0;
  private maxTimestampSoFar: number;
  private offsetOfMaxTimestampSoFar: number;
  /** maxTimestamp of the first batch (segment.ms rolls by record time); undefined = not loaded. */
  private rollingBasedTimestamp: number | undefined;
  private nextOffsetCache: number | null = null;

  private constructor(
    readonly dir: string,
    readonly baseOffset: number,
    private config: LogConfig,
    nowMs: number,
    preallocateIndexes: boolean,
    private readonly files: FileSystem,
  ) {
    this.logPath = path.join(dir, segmentFileName(baseOffset, LOG_FILE_SUFFIX));
    const fd = files.open(this.logPath, OPEN_READ_WRITE | OPEN_CREATE, 0o644);
    try {
      this.fileBytes = files.fstat(fd).size;
      this.identity = newFileIdentity(this.logPath, fd, files);
    } finally {
      files.close(fd);
    }
    this.sizeBytes = this.fileBytes;
    this.createdTimeMs = nowMs;
    const onIndexMapped = (): void => this.noteMapped();
    try {
      this.offsetIndex = new OffsetIndex(path.join(dir, segmentFileName(baseOffset, INDEX_FILE_SUFFIX)), baseOffset, config.segmentIndexBytes, preallocateIndexes, onIndexMapped, files);
      this.timeIndex = new TimeIndex(path.join(dir, segmentFileName(baseOffset, TIME_INDEX_FILE_SUFFIX)), baseOffset, config.segmentIndexBytes, preallocateIndexes, onIndexMapped, files);
    } catch (error) {
      // Mapping the offset index put this half-built segment in the LRU; left there, evicting it later would
      // crash on its missing time index (found by test/sim/cleaner-crash.test.ts, seed 100082: an I/O error
      // opening the .timeindex).
      openSegments.forget(this);
      throw error;
    }
    // Clean close and recovery both leave the segment's max timestamp as the last time index entry.
    this.maxTimestampSoFar = this.timeIndex.lastEntry.timestampMs;
    this.offsetOfMaxTimestampSoFar = this.timeIndex.lastEntry.offset;
  }

  /** A new, empty, active segment. Stale files with the same base offset are removed first. */
  static create(dir: string, baseOffset: number, config: LogConfig, nowMs: number, files: FileSystem = nodeFileSystem): LogSegment {
    for (const suffix of [LOG_FILE_SUFFIX, INDEX_FILE_SUFFIX, TIME_INDEX_FILE_SUFFIX, LOG_FILE_SUFFIX + TRUNCATION_FILE_SUFFIX]) {
      files.unlink(path.join(dir, segmentFileName(baseOffset, suffix)));
    }
    const segment = new LogSegment(dir, baseOffset, config, nowMs, true, files);
    segment.rollingBasedTimestamp = NO_TIMESTAMP;
    segment.nextOffsetCache = baseOffset;
    segment.makeActive();
    return segment;
  }

  /** An existing segment, trusted as it is on disk (the loader decides about recovery). */
  static open(dir: string, baseOffset: number, config: LogConfig, nowMs: number, files: FileSystem = nodeFileSystem): LogSegment {
    return new LogSegment(dir, baseOffset, config, nowMs, false, files);
  }

  updateConfig(config: LogConfig): void {
    this.config = config;
  }

  /** Largest record timestamp in the segment, or the file's mtime when it holds none (Kafka). */
  get largestTimestampMs(): number {
    if (this.maxTimestampSoFar >= 0) return this.maxTimestampSoFar;
    return this.files.stat(this.logPath).mtimeMs;
  }

  get maxTimestampMs(): number {
    return this.maxTimestampSoFar;
  }

  /** The offset after the last batch (baseOffset when empty). */
  get nextOffset(): number {
    this.nextOffsetCache ??= this.readNextOffset();
    return this.nextOffsetCache;
  }

  /** Bytes the .log can hold while active: its preallocated length (segment.bytes when it was made active). */
  get capacityBytes(): number {
    return this.preallocated ? this.fileBytes : 0x7fff_ffff;
  }

  /** Kafka's canConvertToRelativeOffset: index entries hold offsets as int32 relative to the base. */
  canHoldOffset(offset: number): boolean {
    const relativeOffset = offset - this.baseOffset;
    return relativeOffset >= 0 && relativeOffset <= 0x7fff_ffff;
  }

  /** Record-time age for segment.ms (Kafka's timeWaitedForRoll): first batch time, else creation time. */
  timeWaitedForRollMs(nowMs: number, maxTimestampInMessages: number): number {
    const firstBatchTimestamp = this.loadRollingBasedTimestamp();
    if (firstBatchTimestamp >= 0) return maxTimestampInMessages - firstBatchTimestamp;
    return nowMs - this.createdTimeMs;
  }

  /**
   * Appends already validated batches with offsets assigned, in one write at the end of the data, then
   * indexes them: an offset index entry (and a time index entry) every index.interval.bytes.
   * `records` may be several buffers (appends coalesced from several requests): they go out together, in
   * 16 KiB pieces (page-cache-writes.ts).
   */
  append(records: Uint8Array | readonly Uint8Array[], largestOffset: number, largestTimestamp: number, offsetOfMaxTimestamp: number): void {
    const fd = this.requireActiveFd();
    const parts = records instanceof Uint8Array ? [records] : records;
    const physicalPosition = this.sizeBytes;
    let appendBytes = 0;
    for (const part of parts) appendBytes += part.byteLength;
    if (appendBytes < RECORD_BATCH_OVERHEAD) throw new Error(`${this.logPath}: append of ${appendBytes} bytes`);
    if (!this.canHoldOffset(largestOffset)) throw new RangeError(`${this.logPath}: offset ${largestOffset} does not fit a segment based at ${this.baseOffset}`);
    if (physicalPosition + appendBytes > 0x7fff_ffff) throw new RangeError(`${this.logPath}: segment would exceed 2 GiB`);
    if (this.preallocated && physicalPosition + appendBytes > this.fileBytes) {
      throw new RangeError(`${this.logPath}: append past the preallocated ${this.fileBytes} bytes (roll first)`);
    }
    // Assert before writing: whole batches, increasing offsets ending at largestOffset.
    let lastOffset = this.nextOffset - 1;
    let maxTimestamp = NO_TIMESTAMP;
    for (const part of parts) {
      const view = dataViewOf(part);
      let position = 0;
      for (let guard = 0; position < part.byteLength && guard < part.byteLength; guard++) {
        const sizeBytes = batchSizeBytes(view, position);
        // Constant messages: these run per batch on the produce path, a template would be built every time.
        assert(sizeBytes >= RECORD_BATCH_OVERHEAD, "append holds a batch shorter than its header");
        assert(position + sizeBytes <= part.byteLength, "append holds a partial batch");
        assert(batchBaseOffset(view, position) > lastOffset, "append holds a batch whose offsets do not follow the log's");
        assert(batchLastOffset(view, position) >= batchBaseOffset(view, position), "append holds a batch ending before it starts");
        lastOffset = batchLastOffset(view, position);
        maxTimestamp = Math.max(maxTimestamp, batchMaxTimestamp(view, position));
        position += sizeBytes;
      }
    }
    assert(lastOffset === largestOffset, () => `${this.logPath}: batches end at ${lastOffset}, caller said ${largestOffset}`);
    assert(maxTimestamp === largestTimestamp, () => `${this.logPath}: batches' max timestamp ${maxTimestamp}, caller said ${largestTimestamp}`);

    writePartsAt(this.files, fd, parts, physicalPosition, this.logPath);

    if (physicalPosition === 0) this.rollingBasedTimestamp = batchMaxTimestamp(dataViewOf(parts[0]!), 0);
    if (largestTimestamp > this.maxTimestampSoFar) {
      this.maxTimestampSoFar = largestTimestamp;
      this.offsetOfMaxTimestampSoFar = offsetOfMaxTimestamp;
    }
    // One index entry per index.interval.bytes of batches, at batch starts (Kafka 3.7+ indexes per batch).
    let partPosition = physicalPosition;
    for (const part of parts) {
      const view = dataViewOf(part);
      let position = 0;
      while (position < part.byteLength) {
        const sizeBytes = batchSizeBytes(view, position);
        if (this.bytesSinceLastIndexEntry > this.config.indexIntervalBytes) {
          this.addIndexEntry(batchLastOffset(view, position), partPosition + position);
        }
        this.bytesSinceLastIndexEntry += sizeBytes;
        position += sizeBytes;
      }
      partPosition += part.byteLength;
    }
    this.sizeBytes = physicalPosition + appendBytes;
    this.fileBytes = Math.max(this.fileBytes, this.sizeBytes);
    this.nextOffsetCache = largestOffset + 1;
    this.dirty = true;
  }

  /** Index entries are hints: when an index is full (the next append rolls) they are skipped. */
  private addIndexEntry(lastOffset: number, position: number): void {
    // Before writing: the entry names a batch after the last indexed one (the index then says where it starts).
    assert(position > 0, "index entry at position 0: the first batch is never indexed");
    assert(this.offsetIndex.entries === 0 || lastOffset > this.offsetIndex.lastOffset, "index entry offset does not increase");
    if (!this.offsetIndex.isFull) this.offsetIndex.append(lastOffset, position);
    if (!this.timeIndex.isFull) this.timeIndex.maybeAppend(this.maxTimestampSoFar, this.offsetOfMaxTimestampSoFar);
    this.bytesSinceLastIndexEntry = 0;
  }

  /**
   * The segment's batches as one read-only view of the mapped file, [0, sizeBytes) (the log cleaner reads
   * inactive segments through it). The view stays valid after the segment is replaced or deleted: it
   * holds the old inode.
   */
  batchBytes(): Uint8Array {
    if (this.sizeBytes === 0) return new Uint8Array(0);
    return this.requireView(this.sizeBytes).subarray(0, this.sizeBytes);
  }

  /** The first batch whose last offset is >= offset, starting no earlier than startingPosition. */
  translateOffset(offset: number, startingPosition = 0): BatchLocation | null {
    if (this.sizeBytes === 0) return null;
    const data = this.requireData(this.sizeBytes);
    const indexed = this.offsetIndex.lookup(offset);
    if (indexed.position > 0) {
      // After reading: the index entry points inside the data at a batch whose last offset it names (O(1)).
      assert(indexed.position + RECORD_BATCH_OVERHEAD <= this.sizeBytes, "offset index entry points past the data");
      assert(batchLastOffset(data, indexed.position) === indexed.offset, "offset index entry does not name the batch at its position");
    }
    let position = Math.max(indexed.position, startingPosition);
    // Bounded: each batch is at least RECORD_BATCH_OVERHEAD bytes.
    while (position < this.sizeBytes) {
      const sizeBytes = this.checkedBatchSize(data, position);
      const lastOffset = batchLastOffset(data, position);
      if (lastOffset >= offset) return { position, sizeBytes, baseOffset: batchBaseOffset(data, position), lastOffset };
      position += sizeBytes;
    }
    return null;
  }

  /**
   * The file range to send for a fetch at startOffset: whole batches starting with the one that holds
   * startOffset, at most maxBytes, ending at or before maxPosition (a batch boundary: the high
   * watermark's position). With minOneBatch a first batch larger than maxBytes is returned whole
   * (KIP-74). Null when the segment has no batch at or after startOffset; sizeBytes 0 when nothing fits.
   */
  read(startOffset: number, maxBytes: number, maxPosition: number, minOneBatch: boolean): SegmentRange | null {
    const first = this.translateOffset(startOffset);
    if (first === null) return null;
    const startPosition = first.position;
    const limitPosition = Math.min(maxPosition, this.sizeBytes);
    const firstEnd = startPosition + first.sizeBytes;
    if (firstEnd > limitPosition) return { position: startPosition, sizeBytes: 0, firstOffset: first.baseOffset };
    const budgetEnd = startPosition + Math.max(0, maxBytes);
    if (firstEnd > budgetEnd) return { position: startPosition, sizeBytes: minOneBatch ? first.sizeBytes : 0, firstOffset: first.baseOffset };
    if (budgetEnd >= limitPosition) return { position: startPosition, sizeBytes: limitPosition - startPosition, firstOffset: first.baseOffset };
    // The range ends inside the segment: start from the last indexed batch boundary below the budget,
    // so the scan covers about one index interval, not the whole fetch.
    const data = this.requireData(limitPosition);
    let endPosition = Math.max(firstEnd, this.offsetIndex.lookupPosition(budgetEnd));
    while (endPosition < limitPosition) {
      const sizeBytes = this.checkedBatchSize(data, endPosition);
      if (endPosition + sizeBytes > budgetEnd) break;
      endPosition += sizeBytes;
    }
    return { position: startPosition, sizeBytes: endPosition - startPosition, firstOffset: first.baseOffset };
  }

  /**
   * The first record with timestamp >= timestampMs and offset >= startingOffset (Kafka's
   * findOffsetByTimestamp). Records are decoded to find the exact one; for a codec this broker cannot
   * read, the batch's first offset and max timestamp are returned.
   */
  async findOffsetByTimestamp(timestampMs: number, startingOffset: number): Promise<{ offset: number; timestampMs: number } | null> {
    if (this.sizeBytes === 0) return null;
    const timeEntry = this.timeIndex.lookup(timestampMs);
    let position = this.offsetIndex.lookup(Math.max(timeEntry.offset, startingOffset)).position;
    const sizeBytesAtStart = this.sizeBytes;
    const view = this.requireView(sizeBytesAtStart);
    const data = this.requireData(sizeBytesAtStart);
    while (position < sizeBytesAtStart) {
      const sizeBytes = this.checkedBatchSize(data, position);
      const lastOffset = batchLastOffset(data, position);
      if (batchMaxTimestamp(data, position) >= timestampMs && lastOffset >= startingOffset) {
        const found = await this.searchBatch(view, data, position, sizeBytes, timestampMs, startingOffset);
        if (found) return found;
      }
      position += sizeBytes;
    }
    return null;
  }

  private async searchBatch(
    view: Uint8Array,
    data: DataView,
    position: number,
    sizeBytes: number,
    timestampMs: number,
    startingOffset: number,
  ): Promise<{ offset: number; timestampMs: number } | null> {
    const baseOffset = batchBaseOffset(data, position);
    const attributes = data.getInt16(position + ATTRIBUTES_OFFSET);
    const maxTimestamp = batchMaxTimestamp(data, position);
    // LogAppendTime: every record carries the batch's maxTimestamp.
    if ((attributes & TIMESTAMP_TYPE_MASK) !== 0) return { offset: Math.max(baseOffset, startingOffset), timestampMs: maxTimestamp };
    const codec = attributes & COMPRESSION_CODEC_MASK;
    const baseTimestamp = readInt64(data, position + BASE_TIMESTAMP_OFFSET);
    const recordCount = data.getInt32(position + RECORDS_COUNT_OFFSET);
    const section = await decompressRecordsSection(codec, view.subarray(position + RECORDS_OFFSET, position + sizeBytes));
    const reader = new RecordReader(section, recordCount);
    // Bounded by recordCount.
    while (reader.next()) {
      const offset = baseOffset + reader.offsetDelta;
      const recordTimestamp = baseTimestamp + reader.timestampDelta;
      if (recordTimestamp >= timestampMs && offset >= startingOffset) return { offset, timestampMs: recordTimestamp };
    }
    return null;
  }

  /**
   * Recovery (Kafka's LogSegment.recover): re-reads every batch from position 0 with pread, checks
   * header and CRC, rebuilds both indexes from scratch, and cuts the file at the first invalid or torn
   * batch. Must run before the .log is mapped. Returns the bytes cut (including preallocated zeros).
   * `endOffsetExclusive` is the next segment's base offset: a batch reaching it cannot belong here (the CRC
   * does not cover a batch's base offset, so a flipped bit there passes every other check).
   */
  recover(maxBatchBytes: number, endOffsetExclusive = Number.POSITIVE_INFINITY): number {
    if (this.view !== null) throw new Error(`${this.logPath}: recover after the file was mapped`);
    if (this.active) throw new Error(`${this.logPath}: recover of the active segment`);
    this.offsetIndex.reset();
    this.timeIndex.reset();
    this.offsetIndex.resize(this.config.segmentIndexBytes);
    this.timeIndex.resize(this.config.segmentIndexBytes);
    this.maxTimestampSoFar = NO_TIMESTAMP;
    this.offsetOfMaxTimestampSoFar = this.baseOffset;
    this.bytesSinceLastIndexEntry = 0;
    this.rollingBasedTimestamp = NO_TIMESTAMP;
    const fd = this.files.open(this.logPath, OPEN_READ_WRITE);
    let truncatedBytes = 0;
    try {
      const fileBytes = this.files.fstat(fd).size;
      const scanner = new BatchScanner(fd, fileBytes, this.baseOffset, maxBatchBytes, true, 0, undefined, this.files);
      const batch = scanner.batch;
      let validBytes = -1;
      let lastKeptOffset = this.baseOffset - 1;
      let stopReason = "";
      // Bounded: every accepted batch moves forward by at least RECORD_BATCH_OVERHEAD bytes.
      for (let guard = 0; guard <= fileBytes / RECORD_BATCH_OVERHEAD && scanner.next(); guard++) {
        if (batch.lastOffset >= endOffsetExclusive || batch.baseOffset <= lastKeptOffset) {
          validBytes = batch.position;
          stopReason = batch.lastOffset >= endOffsetExclusive ? `batch at offset ${batch.baseOffset} reaches the next segment's base offset ${endOffsetExclusive}` : `batch at offset ${batch.baseOffset} does not follow offset ${lastKeptOffset}`;
          break;
        }
        lastKeptOffset = batch.lastOffset;
        if (batch.position === 0) this.rollingBasedTimestamp = batch.maxTimestamp;
        if (batch.maxTimestamp > this.maxTimestampSoFar) {
          this.maxTimestampSoFar = batch.maxTimestamp;
          this.offsetOfMaxTimestampSoFar = batch.lastOffset;
        }
        if (this.bytesSinceLastIndexEntry > this.config.indexIntervalBytes) this.addIndexEntry(batch.lastOffset, batch.position);
        this.bytesSinceLastIndexEntry += batch.sizeBytes;
      }
      if (validBytes < 0) {
        validBytes = scanner.validBytes;
        stopReason = scanner.stopReason;
      }
      // After reading: what the rebuild indexed lies inside what the scan kept, and ends at or before its last batch.
      assert(validBytes <= fileBytes, "recovery kept more bytes than the file has");
      assert(this.offsetIndex.entries === 0 || (validBytes > 0 && this.offsetIndex.lastOffset <= lastKeptOffset), "rebuilt index names an offset past the last recovered batch");
      truncatedBytes = fileBytes - validBytes;
      this.lastRecoveryStopReason = stopReason;
      if (truncatedBytes > 0) this.files.ftruncate(fd, validBytes);
      this.files.fsync(fd);
      this.fileBytes = validBytes;
      this.sizeBytes = validBytes;
      this.nextOffsetCache = validBytes === 0 ? this.baseOffset : lastKeptOffset + 1;
      assert(this.nextOffsetCache >= this.baseOffset, "recovered segment ends before its base offset");
    } finally {
      this.files.close(fd);
    }
    if (this.timeIndex.entries < this.timeIndex.maxEntries) this.timeIndex.maybeAppend(this.maxTimestampSoFar, this.offsetOfMaxTimestampSoFar, true);
    this.offsetIndex.close();
    this.timeIndex.close();
    return truncatedBytes;
  }

  /**
   * Clean open of the last segment: checks with pread that the batches from the last index entry to the
   * end of the file are whole and in order (no CRC), which also yields the next offset. False means the
   * file does not end on a batch boundary and the segment must be recovered.
   */
  verifyTail(): boolean {
    const fd = this.files.open(this.logPath, OPEN_READ_ONLY);
    try {
      const fileBytes = this.files.fstat(fd).size;
      const last = this.offsetIndex.entries > 0 ? this.offsetIndex.entry(this.offsetIndex.entries - 1) : null;
      const startPosition = last?.position ?? 0;
      if (startPosition > fileBytes) return false;
      const scanner = new BatchScanner(fd, fileBytes, this.baseOffset, 0x7fff_ffff, false, startPosition, undefined, this.files);
      let lastOffset = this.baseOffset - 1;
      for (let guard = 0; guard <= fileBytes / RECORD_BATCH_OVERHEAD && scanner.next(); guard++) lastOffset = scanner.batch.lastOffset;
      if (scanner.stopReason !== "" || scanner.validBytes !== fileBytes) return false;
      if (last !== null && lastOffset < last.offset) return false;
      this.nextOffsetCache = fileBytes === 0 ? this.baseOffset : lastOffset + 1;
      return true;
    } finally {
      this.files.close(fd);
    }
  }

  /** Makes this the segment appends go to: grows the .log (preallocate) and the indexes, opens the fd. */
  makeActive(): void {
    if (this.active) return;
    const fd = this.files.open(this.logPath, OPEN_READ_WRITE);
    try {
      const fileBytes = this.files.fstat(fd).size;
      if (fileBytes !== this.fileBytes || this.sizeBytes > fileBytes) throw new Error(`${this.logPath}: file is ${fileBytes} bytes, expected ${this.fileBytes}`);
      this.preallocated = this.config.preallocate;
      if (this.preallocated && fileBytes < this.config.segmentBytes) {
        this.files.ftruncate(fd, this.config.segmentBytes);
        this.fileBytes = this.config.segmentBytes;
      }
    } catch (error) {
      this.files.close(fd);
      throw error;
    }
    this.fd = fd;
    this.offsetIndex.resize(this.config.segmentIndexBytes);
    this.timeIndex.resize(this.config.segmentIndexBytes);
    // A view made while the file was shorter does not cover the new length; the next read maps again.
    this.view = null;
    this.data = null;
    this.bytesSinceLastIndexEntry = 0;
    this.active = true;
    // The active segment's maps are bounded by the partition count, not by the LRU.
    openSegments.forget(this);
  }

  /**
   * Drops the .log and index views of an inactive segment (the LRU chose it); the GC unmaps them once no
   * read in progress holds them, and the next read maps again. The active segment keeps its views.
   */
  releaseMappings(): void {
    if (this.active) return;
    this.view = null;
    this.data = null;
    this.offsetIndex.releaseMapping();
    this.timeIndex.releaseMapping();
  }

  /** Whether any of the three files is mapped by this segment now (tests). */
  get isMapped(): boolean {
    return this.view !== null || this.offsetIndex.isMapped || this.timeIndex.isMapped;
  }

  /** An inactive segment just used a view: it counts against log.segment.open.max, as the newest. */
  private noteMapped(): void {
    if (!this.active) openSegments.touch(this);
  }

  /**
   * The segment stops being active at a roll: the last time index entry is written, and the .log and
   * the indexes are trimmed to their valid size. Readers never read past sizeBytes, so trimming under
   * their views is safe. The fsync of the three files runs on the threadpool (a rolled 1 GiB segment
   * can take a second to sync; Kafka also flushes rolled segments asynchronously): the returned promise
   * settles when they are durable, and until then the loader must not trust this segment.
   */
  onBecomeInactive(): Promise<void> {
    if (!this.active) return Promise.resolve();
    const fd = this.trimForInactive();
    this.syncPending = true;
    const files = this.files;
    const syncLog = files.fsyncAsync(fd).finally(() => files.close(fd));
    const syncIndex = async (indexPath: string) => {
      const indexFd = files.open(indexPath, OPEN_READ_WRITE);
      try {
        await files.fsyncAsync(indexFd);
      } finally {
        files.close(indexFd);
      }
    };
    return Promise.all([syncLog, syncIndex(this.offsetIndex.path), syncIndex(this.timeIndex.path)]).then(() => {
      this.syncPending = false;
      // A follower truncation may have made the segment active again and written to it meanwhile: those
      // bytes are not covered by this fsync (found by test/sim/log-crash.test.ts, seed 4).
      if (!this.active) this.dirty = false;
    });
  }

  /** Final time index entry, trim of the three files; returns the (still open) .log fd. */
  private trimForInactive(): number {
    if (this.timeIndex.entries < this.timeIndex.maxEntries) this.timeIndex.maybeAppend(this.maxTimestampSoFar, this.offsetOfMaxTimestampSoFar, true);
    const fd = this.requireActiveFd();
    this.files.ftruncate(fd, this.sizeBytes);
    this.fileBytes = this.sizeBytes;
    this.fd = null;
    this.active = false;
    this.offsetIndex.trimToValidSize();
    this.timeIndex.trimToValidSize();
    // Still mapped from its active life: from now on its views count against the LRU.
    if (this.isMapped) openSegments.touch(this);
    return fd;
  }

  /**
   * fdatasync of the .log if it has unflushed bytes. Indexes of the active segment are rebuilt by
   * recovery after a crash; those of a rolled segment whose async sync is pending are fsynced too.
   */
  flush(): void {
    if (!this.dirty && !this.syncPending) return;
    if (this.fd !== null) {
      this.files.fdatasync(this.fd);
    } else {
      const fd = this.files.open(this.logPath, OPEN_READ_WRITE);
      try {
        this.files.fdatasync(fd);
      } finally {
        this.files.close(fd);
      }
    }
    if (this.syncPending) {
      this.offsetIndex.flush();
      this.timeIndex.flush();
      this.syncPending = false;
    }
    this.dirty = false;
  }

  /** Clean close: an active segment is trimmed; everything is fsynced before returning. */
  close(): void {
    this.closeFiles();
    this.releaseMappings();
    openSegments.forget(this);
  }

  private closeFiles(): void {
    if (this.active) {
      const fd = this.trimForInactive();
      try {
        this.files.fsync(fd);
      } finally {
        this.files.close(fd);
      }
      this.offsetIndex.flush();
      this.timeIndex.flush();
      this.dirty = false;
      this.syncPending = false;
    } else {
      this.flush();
    }
  }

  /** Unlinks the three files. Views (ours or a reader's) keep the inode until they are collected. */
  delete(): void {
    if (this.fd !== null) {
      this.files.close(this.fd);
      this.fd = null;
    }
    this.active = false;
    this.files.unlink(this.logPath);
    this.offsetIndex.deleteFile();
    this.timeIndex.deleteFile();
    this.view = null;
    this.data = null;
    openSegments.forget(this);
  }

  /**
   * Follower truncation (KIP-101): removes the batch holding `offset` and everything after it. The kept
   * prefix is written to a new file that is renamed over the .log, so readers' views of the old file
   * stay valid; the segment gets a new fileId. The segment must be active. Returns the bytes removed.
   */
  truncateTo(offset: number, nowMs: number): number {
    const fd = this.requireActiveFd();
    const cut = this.translateOffset(offset);
    if (cut === null) return 0;
    const removedBytes = this.sizeBytes - cut.position;
    this.offsetIndex.truncateTo(cut.baseOffset);
    this.timeIndex.truncateTo(cut.baseOffset);

    const swapPath = this.logPath + TRUNCATION_FILE_SUFFIX;
    const swapFd = this.files.open(swapPath, OPEN_READ_WRITE | OPEN_CREATE | OPEN_TRUNCATE, 0o644);
    try {
      const view = this.requireView(cut.position);
      // writeBytesAt bounds each write call (16 KiB pieces), so the kept prefix goes in one call here.
      writeBytesAt(this.files, swapFd, view.subarray(0, cut.position), 0, swapPath);
      this.preallocated = this.config.preallocate;
      const fileBytes = this.preallocated ? Math.max(this.config.segmentBytes, cut.position) : cut.position;
      this.files.ftruncate(swapFd, fileBytes);
      this.files.fsync(swapFd);
      this.files.rename(swapPath, this.logPath);
      fsyncDirectory(this.dir, this.files);
      this.fileBytes = fileBytes;
    } catch (error) {
      this.files.close(swapFd);
      this.files.unlink(swapPath);
      throw error;
    }
    this.files.close(fd);
    this.fd = swapFd;
    this.identity = newFileIdentity(this.logPath, swapFd, this.files);
    this.view = null;
    this.data = null;
    this.sizeBytes = cut.position;
    this.nextOffsetCache = null;
    this.bytesSinceLastIndexEntry = 0;
    this.dirty = false;
    if (cut.position === 0) {
      this.rollingBasedTimestamp = NO_TIMESTAMP;
      this.createdTimeMs = nowMs;
    }
    this.reloadLargestTimestamp();
    return removedBytes;
  }

  /** Kafka's readLargestTimestamp: the last time index entry, then the batches after it. */
  private reloadLargestTimestamp(): void {
    const lastEntry = this.timeIndex.lastEntry;
    this.maxTimestampSoFar = lastEntry.timestampMs;
    this.offsetOfMaxTimestampSoFar = lastEntry.offset;
    if (this.sizeBytes === 0) return;
    const data = this.requireData(this.sizeBytes);
    let position = this.offsetIndex.lookup(lastEntry.offset).position;
    while (position < this.sizeBytes) {
      const sizeBytes = this.checkedBatchSize(data, position);
      const maxTimestamp = batchMaxTimestamp(data, position);
      if (maxTimestamp > this.maxTimestampSoFar) {
        this.maxTimestampSoFar = maxTimestamp;
        this.offsetOfMaxTimestampSoFar = batchLastOffset(data, position);
      }
      position += sizeBytes;
    }
  }

  /** Next offset from the batches after the last index entry (Kafka's readNextOffset). */
  private readNextOffset(): number {
    if (this.sizeBytes === 0) return this.baseOffset;
    const data = this.requireData(this.sizeBytes);
    let position = this.offsetIndex.entries > 0 ? this.offsetIndex.entry(this.offsetIndex.entries - 1).position : 0;
    let nextOffset = this.baseOffset;
    while (position < this.sizeBytes) {
      const sizeBytes = this.checkedBatchSize(data, position);
      nextOffset = batchLastOffset(data, position) + 1;
      position += sizeBytes;
    }
    return nextOffset;
  }

  private loadRollingBasedTimestamp(): number {
    if (this.rollingBasedTimestamp === undefined) {
      this.rollingBasedTimestamp = this.sizeBytes === 0 ? NO_TIMESTAMP : batchMaxTimestamp(this.requireData(RECORD_BATCH_OVERHEAD), 0);
    }
    return this.rollingBasedTimestamp;
  }

  /** Assert after reading: a batch read back from the file must lie inside the data. */
  private checkedBatchSize(data: DataView, position: number): number {
    const sizeBytes = batchSizeBytes(data, position);
    if (sizeBytes < RECORD_BATCH_OVERHEAD || position + sizeBytes > this.sizeBytes) {
      throw new Error(`${this.logPath}: corrupt batch header at ${position} (size ${sizeBytes}, data ends at ${this.sizeBytes})`);
    }
    return sizeBytes;
  }

  private requireActiveFd(): number {
    if (!this.active || this.fd === null) throw new Error(`${this.logPath}: segment is not active`);
    return this.fd;
  }

  /** The mmap view, covering at least [0, endPosition). Mapped once per file while preallocated. */
  private requireView(endPosition: number): Uint8Array {
    if (this.view === null || this.view.byteLength < endPosition) {
      if (endPosition > this.fileBytes) throw new Error(`${this.logPath}: read to ${endPosition} past the file (${this.fileBytes})`);
      const view = this.files.mmap(this.logPath);
      if (view.byteLength < endPosition) throw new Error(`${this.logPath}: mapped ${view.byteLength} bytes, need ${endPosition}`);
      this.view = view;
      this.data = dataViewOf(view);
    }
    if (!this.active) openSegments.touch(this);
    return this.view;
  }

  private requireData(endPosition: number): DataView {
    this.requireView(endPosition);
    return this.data!;
  }
}

/** Makes a rename or unlink in `dir` durable. */
export function fsyncDirectory(dir: string, files: FileSystem = nodeFileSystem): void {
  fsyncDirectoryWith(files, dir);
}
