// The log cleaner's output segment (Kafka's "cleaned" LogSegment): `<base>.log.cleaned` with its
// `.index.cleaned` and `.timeindex.cleaned`, written by the cleaner alone and never mapped by anyone
// else until PartitionLog.replaceSegments renames the three files into place. Batches are buffered and
// written in page-cache-sized pwrites (page-cache-writes.ts); index entries follow the rule LogSegment.append
// uses (one entry per index.interval.bytes, at batch starts), so the result is indistinguishable from a
// rolled segment.
import * as path from "node:path";
import { NO_TIMESTAMP, RECORD_BATCH_OVERHEAD, batchBaseOffset, batchLastOffset, batchMaxTimestamp, batchSizeBytes, dataViewOf } from "../records/batch.ts";
import { assert } from "../util/assert.ts";
import type { LogConfig } from "./config.ts";
import { OPEN_CREATE, OPEN_READ_WRITE, OPEN_TRUNCATE, type FileSystem } from "./file-system.ts";
import { OffsetIndex } from "./offset-index.ts";
import { writeBytesAt } from "./page-cache-writes.ts";
import { CLEANED_FILE_SUFFIX, INDEX_FILE_SUFFIX, LOG_FILE_SUFFIX, TIME_INDEX_FILE_SUFFIX, segmentFileName } from "./segment.ts";
import { TimeIndex } from "./time-index.ts";
import type { AbortedTransaction } from "./transaction-index.ts";

/** Batches are gathered up to this many bytes before they are written (in page-cache-sized pieces). */
const WRITE_BUFFER_BYTES = 1024 * 1024;
const MAX_RELATIVE_OFFSET = 0x7fff_ffff;
const MAX_SEGMENT_BYTES = 0x7fff_ffff;

/** The three paths of a segment with `suffix` appended (".cleaned", ".swap", or "" for the real ones). */
export function segmentPaths(dir: string, baseOffset: number, suffix: string): { log: string; index: string; timeIndex: string } {
  return {
    log: path.join(dir, segmentFileName(baseOffset, LOG_FILE_SUFFIX + suffix)),
    index: path.join(dir, segmentFileName(baseOffset, INDEX_FILE_SUFFIX + suffix)),
    timeIndex: path.join(dir, segmentFileName(baseOffset, TIME_INDEX_FILE_SUFFIX + suffix)),
  };
}

export class CleanedSegmentWriter {
  readonly paths: { log: string; index: string; timeIndex: string };
  /** Bytes appended so far (written or buffered). */
  sizeBytes = 0;
  batchCount = 0;
  private readonly fd: number;
  private readonly offsetIndex: OffsetIndex;
  private readonly timeIndex: TimeIndex;
  private readonly buffer = new Uint8Array(WRITE_BUFFER_BYTES);
  private bufferedBytes = 0;
  /** File position of buffer[0]. */
  private bufferPosition = 0;
  private lastOffset: number;
  private bytesSinceLastIndexEntry = 0;
  private maxTimestampSoFar = NO_TIMESTAMP;
  private offsetOfMaxTimestampSoFar: number;
  private finished = false;
  /**
   * The aborted transactions whose markers this output holds and that still have data (log-cleaner.ts); the
   * swap writes them as the segment's `.txnindex`. Null: the replaced segments' entries are merged as they are.
   */
  abortedTransactions: AbortedTransaction[] | null = null;

  constructor(
    readonly dir: string,
    readonly baseOffset: number,
    private readonly config: LogConfig,
    /** The log's own disk (PartitionLog.files): the output is renamed into place on the same one. */
    private readonly files: FileSystem,
  ) {
    this.paths = segmentPaths(dir, baseOffset, CLEANED_FILE_SUFFIX);
    // Leftovers of an earlier attempt with the same base offset are replaced.
    for (const leftover of Object.values(this.paths)) files.unlink(leftover);
    this.fd = files.open(this.paths.log, OPEN_READ_WRITE | OPEN_CREATE | OPEN_TRUNCATE, 0o644);
    try {
      this.offsetIndex = new OffsetIndex(this.paths.index, baseOffset, config.segmentIndexBytes, true, null, files);
      this.timeIndex = new TimeIndex(this.paths.timeIndex, baseOffset, config.segmentIndexBytes, true, null, files);
    } catch (error) {
      files.close(this.fd);
      throw error;
    }
    this.lastOffset = baseOffset - 1;
    this.offsetOfMaxTimestampSoFar = baseOffset;
  }

  /** Offset after the last batch appended (baseOffset when empty). */
  get nextOffset(): number {
    return this.lastOffset + 1;
  }

  /** Appends one whole batch (copied). Offsets must increase and stay relative to the base offset. */
  append(batch: Uint8Array): void {
    assert(!this.finished, () => `${this.paths.log}: append after finish`);
    const view = dataViewOf(batch);
    const sizeBytes = batch.byteLength;
    // Assert before writing: the output must read back as a valid segment (recovery checks the same after reading).
    assert(sizeBytes >= RECORD_BATCH_OVERHEAD, "cleaned segment append shorter than a batch header");
    assert(batchSizeBytes(view, 0) === sizeBytes, "cleaned segment append is not exactly one whole batch");
    const baseOffset = batchBaseOffset(view, 0);
    const lastOffset = batchLastOffset(view, 0);
    assert(baseOffset > this.lastOffset, () => `${this.paths.log}: batch offset ${baseOffset} <= ${this.lastOffset}`);
    assert(lastOffset >= baseOffset, "cleaned segment append ends before it starts");
    if (lastOffset - this.baseOffset > MAX_RELATIVE_OFFSET) throw new RangeError(`${this.paths.log}: offset ${lastOffset} does not fit a segment based at ${this.baseOffset}`);
    if (this.sizeBytes + sizeBytes > MAX_SEGMENT_BYTES) throw new RangeError(`${this.paths.log}: cleaned segment would exceed 2 GiB`);
    const position = this.sizeBytes;
    const maxTimestamp = batchMaxTimestamp(view, 0);
    if (maxTimestamp > this.maxTimestampSoFar) {
      this.maxTimestampSoFar = maxTimestamp;
      this.offsetOfMaxTimestampSoFar = lastOffset;
    }
    if (this.bytesSinceLastIndexEntry > this.config.indexIntervalBytes) {
      // Index entries are hints: a full index skips them, as LogSegment does.
      if (!this.offsetIndex.isFull) this.offsetIndex.append(lastOffset, position);
      if (!this.timeIndex.isFull) this.timeIndex.maybeAppend(this.maxTimestampSoFar, this.offsetOfMaxTimestampSoFar);
      this.bytesSinceLastIndexEntry = 0;
    }
    this.bytesSinceLastIndexEntry += sizeBytes;
    if (this.bufferedBytes + sizeBytes > this.buffer.byteLength) this.flushBuffer();
    if (sizeBytes > this.buffer.byteLength) {
      this.writeAt(batch, position);
      this.bufferPosition = position + sizeBytes;
    } else {
      this.buffer.set(batch, this.bufferedBytes);
      this.bufferedBytes += sizeBytes;
    }
    this.sizeBytes += sizeBytes;
    this.lastOffset = lastOffset;
    this.batchCount++;
  }

  /**
   * Writes what is buffered, adds the final time index entry, trims both indexes and fsyncs the three
   * files: after this the files are complete and durable, ready to be renamed into place. The .log's
   * fsync (up to segment.bytes of dirty pages) runs on the threadpool so the worker keeps serving.
   */
  async finish(): Promise<void> {
    if (this.finished) return;
    this.flushBuffer();
    if (this.timeIndex.entries < this.timeIndex.maxEntries) this.timeIndex.maybeAppend(this.maxTimestampSoFar, this.offsetOfMaxTimestampSoFar, true);
    this.finished = true;
    try {
      await this.files.fsyncAsync(this.fd);
    } finally {
      this.files.close(this.fd);
    }
    this.offsetIndex.close();
    this.timeIndex.close();
  }

  /** Deletes the three files (an abandoned or failed clean). */
  abort(): void {
    if (!this.finished) {
      this.finished = true;
      this.files.close(this.fd);
    }
    for (const file of Object.values(this.paths)) this.files.unlink(file);
  }

  private flushBuffer(): void {
    if (this.bufferedBytes === 0) return;
    this.writeAt(this.buffer.subarray(0, this.bufferedBytes), this.bufferPosition);
    this.bufferPosition += this.bufferedBytes;
    this.bufferedBytes = 0;
  }

  private writeAt(bytes: Uint8Array, position: number): void {
    writeBytesAt(this.files, this.fd, bytes, position, this.paths.log);
  }
}
