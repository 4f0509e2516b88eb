// Splits a TCP byte stream into Kafka request frames (int32 size + payload).
// Bun hands `data()` a fresh buffer per read (up to 512 KiB), so a frame that fits in one read is
// returned as a view of it (no copy). A frame spread over several reads is copied once, into a buffer
// allocated at its declared size: the one unavoidable copy on the receive path. For a Produce frame
// that buffer is a pooled SharedArrayBuffer block (buffer-pool.ts): warm memory the partition worker
// reads in place, released by the connection once the request is answered.
import type { BufferPool, PooledBytes } from "./buffer-pool.ts";

export interface Frame {
  payload: Uint8Array;
  /** True when no other frame shares payload.buffer, so it may be transferred to a worker. */
  ownsBuffer: boolean;
  /** The pool block holding payload (a Produce frame assembled from several reads), else null. */
  pooled: PooledBytes | null;
}

/** Produce's api key: the frames whose buffers are pooled (nothing keeps views of them after the reply). */
const PRODUCE_API_KEY = 0;

export class FrameTooLargeError extends Error {}

const SIZE_PREFIX_BYTES = 4;

export class FrameReader {
  /** Bytes of an incomplete size prefix (fewer than 4 bytes seen). */
  private prefix = new Uint8Array(SIZE_PREFIX_BYTES);
  private prefixBytes = 0;
  /** The frame being assembled across reads. */
  private partial: Uint8Array | null = null;
  private partialPooled: PooledBytes | null = null;
  private partialFilledBytes = 0;

  constructor(
    private readonly maxFrameBytes: number,
    private readonly pool: BufferPool | null = null,
  ) {}

  /** Gives back the block of a frame that will never complete (the connection closed mid-frame). */
  discardPartial(): void {
    if (this.partialPooled) this.pool?.release(this.partialPooled);
    this.partialPooled = null;
    this.partial = null;
  }

  /** True while part of a frame is buffered (a connection closing now lost a request mid-way). */
  get hasPartialFrame(): boolean {
    return this.partial !== null || this.prefixBytes > 0;
  }

  /**
   * Feeds one read into the reader and returns the complete frames it finished, in order.
   * Throws FrameTooLargeError for a negative or oversized size prefix; the caller closes the connection.
   */
  push(chunk: Uint8Array): Frame[] {
    const frames: Frame[] = [];
    let position = 0;
    const end = chunk.byteLength;
    while (position < end) {
      if (this.partial !== null) {
        const needed = this.partial.byteLength - this.partialFilledBytes;
        const take = Math.min(needed, end - position);
        this.partial.set(chunk.subarray(position, position + take), this.partialFilledBytes);
        this.partialFilledBytes += take;
        position += take;
        if (this.partialFilledBytes === this.partial.byteLength) {
          frames.push({ payload: this.partial, ownsBuffer: this.partialPooled === null, pooled: this.partialPooled });
          this.partial = null;
          this.partialPooled = null;
          this.partialFilledBytes = 0;
        }
        continue;
      }
      let sizeBytes: number;
      if (this.prefixBytes > 0 || end - position < SIZE_PREFIX_BYTES) {
        while (this.prefixBytes < SIZE_PREFIX_BYTES && position < end) this.prefix[this.prefixBytes++] = chunk[position++]!;
        if (this.prefixBytes < SIZE_PREFIX_BYTES) break;
        sizeBytes = ((this.prefix[0]! << 24) | (this.prefix[1]! << 16) | (this.prefix[2]! << 8) | this.prefix[3]!) | 0;
        this.prefixBytes = 0;
      } else {
        sizeBytes = ((chunk[position]! << 24) | (chunk[position + 1]! << 16) | (chunk[position + 2]! << 8) | chunk[position + 3]!) | 0;
        position += SIZE_PREFIX_BYTES;
      }
      if (sizeBytes < 0 || sizeBytes > this.maxFrameBytes) {
        throw new FrameTooLargeError(`request frame of ${sizeBytes} bytes exceeds socket.request.max.bytes=${this.maxFrameBytes}`);
      }
      if (end - position >= sizeBytes) {
        frames.push({ payload: chunk.subarray(position, position + sizeBytes), ownsBuffer: false, pooled: null });
        position += sizeBytes;
      } else {
        // The api key is the frame's first int16; when this read has it, a Produce frame goes to the pool.
        const isProduce = end - position >= 2 && ((chunk[position]! << 8) | chunk[position + 1]!) === PRODUCE_API_KEY;
        this.partialPooled = isProduce && this.pool ? this.pool.acquire(sizeBytes) : null;
        this.partial = this.partialPooled ? this.partialPooled.bytes : new Uint8Array(sizeBytes);
        this.partialFilledBytes = 0;
      }
    }
    // A read that carried exactly one whole frame and nothing else lets that frame own its buffer.
    if (frames.length === 1 && frames[0]!.payload.buffer === chunk.buffer && frames[0]!.payload.byteLength + SIZE_PREFIX_BYTES === end) {
      frames[0]!.ownsBuffer = chunk.byteOffset === 0 && chunk.buffer.byteLength === end;
    }
    return frames;
  }
}
