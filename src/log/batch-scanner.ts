// Reads a .log file with pread through a reused chunk buffer, batch by batch, checking each header and
// CRC: the "after reading" half of the disk boundary check. Recovery uses it before the file is mapped,
// so a torn tail can be cut with ftruncate without any view past the new end (docs/bun-runtime.md §3.4).
import { crc32c } from "@node-rs/crc32";
import {
  ATTRIBUTES_OFFSET,
  BATCH_LENGTH_OFFSET,
  CRC_OFFSET,
  LAST_OFFSET_DELTA_OFFSET,
  LOG_OVERHEAD,
  MAGIC_OFFSET,
  MAGIC_V2,
  MAX_TIMESTAMP_OFFSET,
  PARTITION_LEADER_EPOCH_OFFSET,
  BASE_SEQUENCE_OFFSET,
  PRODUCER_EPOCH_OFFSET,
  PRODUCER_ID_OFFSET,
  RECORD_BATCH_OVERHEAD,
  RECORDS_COUNT_OFFSET,
  readInt64,
} from "../records/batch.ts";
import { nodeFileSystem, type FileSystem } from "./file-system.ts";

/** One pread fills this much; larger batches are CRC-checked in pieces with a chained crc32c. */
const CHUNK_BYTES = 4 * 1024 * 1024;
const MAX_RELATIVE_OFFSET = 0x7fff_ffff;

/**
 * One chunk buffer for every scanner of this thread: opening thousands of partitions after a crash must
 * not allocate a chunk each (the GC would free them late; an audit saw recovery of 20,000 partitions
 * reach 13.7 GB). Scans are synchronous, but two scanners may be alive at once: the one that reads
 * takes the buffer over and forgets what the other had loaded (see load()).
 */
let sharedChunk: Uint8Array | null = null;
let sharedChunkOwner: BatchScanner | null = null;

/** What the scanner knows about the batch it stopped on. Reused between batches (no allocation). */
export interface ScannedBatch {
  position: number;
  sizeBytes: number;
  baseOffset: number;
  lastOffset: number;
  maxTimestamp: number;
  partitionLeaderEpoch: number;
  /** Producer fields, for rebuilding idempotent producer state (producer-state.ts). */
  attributes: number;
  producerId: number;
  producerEpoch: number;
  baseSequence: number;
}

/** stopReason when the scan reached the zero-filled preallocated part of a file. */
export const PREALLOCATED_SPACE = "preallocated space";

export class BatchScanner {
  private readonly chunk: Uint8Array;
  private readonly chunkView: DataView;
  /** File position of chunk[0], and how many bytes of the chunk are valid. */
  private chunkPosition = 0;
  private chunkBytes = 0;
  readonly batch: ScannedBatch = {
    position: 0,
    sizeBytes: 0,
    baseOffset: 0,
    lastOffset: 0,
    maxTimestamp: 0,
    partitionLeaderEpoch: 0,
    attributes: 0,
    producerId: -1,
    producerEpoch: -1,
    baseSequence: -1,
  };
  /** Why the last `next()` returned false ("" at the clean end of the file). */
  stopReason = "";

  constructor(
    private readonly fd: number,
    private readonly fileBytes: number,
    private readonly baseOffset: number,
    /** Batches claiming more than this are treated as garbage (bounds memory and work). */
    private readonly maxBatchBytes: number,
    /** Header-only mode skips the CRC (clean open: only the tail's shape is checked). */
    private readonly checkCrc: boolean,
    startPosition = 0,
    /** Bytes per pread; a header-only scan of large batches reads less with a smaller chunk. */
    chunkBytesMax = CHUNK_BYTES,
    private readonly files: FileSystem = nodeFileSystem,
  ) {
    sharedChunk ??= new Uint8Array(CHUNK_BYTES);
    this.chunk = sharedChunk.subarray(0, Math.min(chunkBytesMax, CHUNK_BYTES, Math.max(fileBytes, RECORD_BATCH_OVERHEAD)));
    this.chunkView = new DataView(this.chunk.buffer, this.chunk.byteOffset, this.chunk.byteLength);
    sharedChunkOwner = this;
    this.batch.position = startPosition;
    this.batch.sizeBytes = 0;
    this.batch.lastOffset = baseOffset - 1;
  }

  /** Position just after the last valid batch. */
  get validBytes(): number {
    return this.batch.position + this.batch.sizeBytes;
  }

  /**
   * Advances to the next batch if it is whole and valid: magic 2, sane length inside the file, offsets
   * increasing and relative to the segment, CRC32C (unless header-only). False at the end or at the
   * first invalid batch; `stopReason` says which.
   */
  next(): boolean {
    const position = this.validBytes;
    const previousLastOffset = this.batch.lastOffset;
    if (position === this.fileBytes) return this.stop("");
    if (position + RECORD_BATCH_OVERHEAD > this.fileBytes) return this.stop(`partial header at ${position}`);
    const at = this.load(position, RECORD_BATCH_OVERHEAD);
    const view = this.chunkView;
    // The zeros of a preallocated active segment: where the data ends, not damage.
    if (view.getInt32(at + BATCH_LENGTH_OFFSET) === 0 && readInt64(view, at) === 0 && view.getInt8(at + MAGIC_OFFSET) === 0) return this.stop(PREALLOCATED_SPACE);
    if (view.getInt8(at + MAGIC_OFFSET) !== MAGIC_V2) return this.stop(`bad magic ${view.getInt8(at + MAGIC_OFFSET)} at ${position}`);
    const sizeBytes = view.getInt32(at + BATCH_LENGTH_OFFSET) + LOG_OVERHEAD;
    if (sizeBytes < RECORD_BATCH_OVERHEAD || sizeBytes > this.maxBatchBytes) return this.stop(`bad batch size ${sizeBytes} at ${position}`);
    if (position + sizeBytes > this.fileBytes) return this.stop(`batch of ${sizeBytes} bytes at ${position} runs past the end (${this.fileBytes})`);
    const baseOffset = readInt64(view, at);
    const lastOffsetDelta = view.getInt32(at + LAST_OFFSET_DELTA_OFFSET);
    const lastOffset = baseOffset + lastOffsetDelta;
    if (lastOffsetDelta < 0 || view.getInt32(at + RECORDS_COUNT_OFFSET) < 0) return this.stop(`bad counts at ${position}`);
    if (baseOffset <= previousLastOffset || lastOffset - this.baseOffset > MAX_RELATIVE_OFFSET) {
      return this.stop(`offsets ${baseOffset}..${lastOffset} at ${position} do not follow ${previousLastOffset} in a segment based at ${this.baseOffset}`);
    }
    const maxTimestamp = readInt64(view, at + MAX_TIMESTAMP_OFFSET);
    const partitionLeaderEpoch = view.getInt32(at + PARTITION_LEADER_EPOCH_OFFSET);
    // Read before the CRC check: crcOf may reload the chunk, which moves the header away from `at`.
    const attributes = view.getInt16(at + ATTRIBUTES_OFFSET);
    const producerId = readInt64(view, at + PRODUCER_ID_OFFSET);
    const producerEpoch = view.getInt16(at + PRODUCER_EPOCH_OFFSET);
    const baseSequence = view.getInt32(at + BASE_SEQUENCE_OFFSET);
    if (this.checkCrc) {
      const storedCrc = view.getUint32(at + CRC_OFFSET);
      if (this.crcOf(position + ATTRIBUTES_OFFSET, position + sizeBytes) !== storedCrc) return this.stop(`CRC mismatch at ${position}`);
    }
    const batch = this.batch;
    batch.position = position;
    batch.sizeBytes = sizeBytes;
    batch.baseOffset = baseOffset;
    batch.lastOffset = lastOffset;
    batch.maxTimestamp = maxTimestamp;
    batch.partitionLeaderEpoch = partitionLeaderEpoch;
    batch.attributes = attributes;
    batch.producerId = producerId;
    batch.producerEpoch = producerEpoch;
    batch.baseSequence = baseSequence;
    return true;
  }

  private stop(reason: string): boolean {
    this.stopReason = reason;
    return false;
  }

  /** CRC32C of file bytes [start, end), streamed through the chunk. */
  private crcOf(start: number, end: number): number {
    let crc = 0;
    let position = start;
    // Bounded: each round consumes at least one byte of a range inside the file.
    while (position < end) {
      const pieceBytes = Math.min(end - position, this.chunk.byteLength);
      const at = this.load(position, pieceBytes);
      crc = crc32c(this.chunk.subarray(at, at + pieceBytes), crc);
      position += pieceBytes;
    }
    return crc >>> 0;
  }

  /** Makes file bytes [position, position + lengthBytes) available in the chunk; returns their index. */
  private load(position: number, lengthBytes: number): number {
    if (sharedChunkOwner !== this) {
      // Another scanner used the shared chunk since: what it holds is not ours.
      sharedChunkOwner = this;
      this.chunkBytes = 0;
    }
    if (position >= this.chunkPosition && position + lengthBytes <= this.chunkPosition + this.chunkBytes) return position - this.chunkPosition;
    const wantBytes = Math.min(this.chunk.byteLength, this.fileBytes - position);
    let readBytes = 0;
    // pread may return less than asked; bounded by the bytes remaining in the file.
    while (readBytes < wantBytes) {
      const got = this.files.read(this.fd, this.chunk, readBytes, wantBytes - readBytes, position + readBytes);
      if (got <= 0) break;
      readBytes += got;
    }
    this.chunkPosition = position;
    this.chunkBytes = readBytes;
    if (readBytes < lengthBytes) throw new Error(`short read: ${readBytes} of ${lengthBytes} bytes at ${position}`);
    return 0;
  }
}
