// Splits a TCP byte stream into Kafka request frames (int32 size + payload).
// Bun hands `data()` a fresh buffer per read (up to 512 KiB), so a frame that fits in one read is
// returned as a view of it (no copy). A frame spread over several reads is copied once into a buffer of
// its declared size when that size is at most FRAME_UPFRONT_BYTES_MAX (every frame of a client with
// default settings: Kafka producers cap requests at 1 MiB); for a Produce frame that buffer is a pooled
// SharedArrayBuffer block (buffer-pool.ts): warm memory the partition worker reads in place, released by
// the connection once the request is answered. A larger frame is collected in chunks allocated as its
// bytes arrive and joined when it is complete (a second copy, for rare frames only), so a client that
// declares 100 MB and sends 50 MB makes the broker hold 50 MB, not 100.
//
// Every frame is charged to the broker's request budget (request-budget.ts) until its request is
// answered: a whole frame when it is read, a spanning frame at its declared size before its body is
// taken. When the budget refuses a reservation the reader stops: it keeps the rest of that read and
// reports `blocked`; the connection pauses the socket and calls `unblock()` when the budget has room.
import type { BufferPool, PooledBytes } from "../partition/buffer-pool.ts";
import type { RequestBudget } from "./request-budget.ts";
import type { RequestTrace } from "../api/context.ts";

export interface Frame {
  payload: Uint8Array;
  /** True when no other frame shares payload.buffer, so it may be transferred to a worker. */
  ownsBuffer: boolean;
  /** The pool block holding payload (a Produce frame assembled from several reads), else null. */
  pooled: PooledBytes | null;
  /** Bytes charged to the request budget for this frame; released when its request is answered. */
  chargedBytes: number;
  /** Milliseconds from the read that brought its first bytes to the one that completed it (0: one read); absent: not measured. */
  readMs?: number;
  /** Its stage timings, set by the dispatcher while traffic is counted; the connection adds the send time. */
  trace?: RequestTrace;
}

/** Produce's api key: the frames whose buffers are pooled (nothing keeps views of them after the reply). */
const PRODUCE_API_KEY = 0;

/** Frames up to this size that span reads get their whole buffer at once (the fast path, one copy). */
export const FRAME_UPFRONT_BYTES_MAX = 4 * 1024 * 1024;
/** Larger frames grow by chunks of this size as bytes arrive. */
export const FRAME_CHUNK_BYTES = 1024 * 1024;

export class FrameTooLargeError extends Error {}

const SIZE_PREFIX_BYTES = 4;

export class FrameReader {
  /** Bytes of an incomplete size prefix (fewer than 4 bytes seen). */
  private prefix = new Uint8Array(SIZE_PREFIX_BYTES);
  private prefixBytes = 0;
  /** The frame being assembled across reads: one buffer of the declared size, or chunks of a large one. */
  private partial: Uint8Array | null = null;
  private partialChunks: Uint8Array[] | null = null;
  /** Pool blocks behind partialChunks, given back when the frame is joined or dropped. */
  private partialChunkBlocks: PooledBytes[] = [];
  private partialPooled: PooledBytes | null = null;
  private partialSizeBytes = 0;
  private partialFilledBytes = 0;
  private partialChargedBytes = 0;
  private partialStartedMs = 0;
  /** Set while waiting for the budget: the declared size of the frame to start and the rest of the read. */
  private blockedSizeBytes = -1;
  private stash: Uint8Array | null = null;

  /** The setting that bounds frames now, named when one is refused. */
  private maxFrameSetting = "socket.request.max.bytes";

  constructor(
    private maxFrameBytes: number,
    private readonly pool: BufferPool | null = null,
    private readonly budget: RequestBudget | null = null,
  ) {}

  /** Changes the frame bound for frames not yet started (before SASL authentication: sasl.server.max.receive.size). */
  limitFrames(maxFrameBytes: number, setting: string): void {
    this.maxFrameBytes = maxFrameBytes;
    this.maxFrameSetting = setting;
  }

  /** Gives back the block and the budget of a frame that will never complete (the connection closed mid-frame). */
  discardPartial(): void {
    if (this.partialPooled) this.pool?.release(this.partialPooled);
    this.releaseChunkBlocks();
    if (this.partialChargedBytes > 0) this.budget?.release(this.partialChargedBytes);
    this.partialPooled = null;
    this.partial = null;
    this.partialChunks = null;
    this.partialChargedBytes = 0;
    this.stash = null;
    this.blockedSizeBytes = -1;
  }

  /** True while part of a frame is buffered (a connection closing now lost a request mid-way). */
  get hasPartialFrame(): boolean {
    return this.partial !== null || this.partialChunks !== null || this.prefixBytes > 0 || this.blockedSizeBytes >= 0;
  }

  /** True while a frame's body is being received under a reservation: it will not need the budget again. */
  get inFrameBody(): boolean {
    return this.partial !== null || this.partialChunks !== null;
  }

  /** True when the reader stopped for the budget; push() must not be called until unblock(). */
  get blocked(): boolean {
    return this.blockedSizeBytes >= 0;
  }

  /** Bytes this reader holds in memory for an unfinished frame (received, not the declared size). */
  get bufferedBytes(): number {
    return this.partialFilledBytes + (this.stash?.byteLength ?? 0);
  }

  /**
   * Feeds one read into the reader and returns the complete frames it finished, in order.
   * Throws FrameTooLargeError for a negative or oversized size prefix; the caller closes the connection.
   */
  push(chunk: Uint8Array): Frame[] {
    if (this.blocked) {
      // A read delivered after the socket was paused: keep it behind what is already stashed.
      this.stash = concat(this.stash, chunk);
      return [];
    }
    const frames: Frame[] = [];
    this.consume(chunk, frames);
    // A read that carried exactly one whole frame and nothing else lets that frame own its buffer.
    if (frames.length === 1 && frames[0]!.payload.buffer === chunk.buffer && frames[0]!.payload.byteLength + SIZE_PREFIX_BYTES === chunk.byteLength) {
      frames[0]!.ownsBuffer = chunk.byteOffset === 0 && chunk.buffer.byteLength === chunk.byteLength;
    }
    return frames;
  }

  /** The budget has room: reserves the frame that was waiting and goes on with the bytes kept for it. */
  unblock(): Frame[] {
    if (!this.blocked) return [];
    const sizeBytes = this.blockedSizeBytes;
    const stash = this.stash ?? new Uint8Array(0);
    this.blockedSizeBytes = -1;
    this.stash = null;
    this.budget?.charge(sizeBytes);
    const frames: Frame[] = [];
    const position = this.startFrame(stash, 0, sizeBytes, frames);
    this.consume(stash.subarray(position), frames);
    return frames;
  }

  private consume(chunk: Uint8Array, frames: Frame[]): void {
    let position = 0;
    const end = chunk.byteLength;
    while (position < end) {
      if (this.partial !== null || this.partialChunks !== null) {
        position = this.fill(chunk, position, frames);
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
        throw new FrameTooLargeError(`request frame of ${sizeBytes} bytes exceeds ${this.maxFrameSetting}=${this.maxFrameBytes}`);
      }
      if (end - position >= sizeBytes) {
        // Already in memory: charged, never refused.
        this.budget?.charge(sizeBytes);
        frames.push({ payload: chunk.subarray(position, position + sizeBytes), ownsBuffer: false, pooled: null, chargedBytes: sizeBytes });
        position += sizeBytes;
        continue;
      }
      if (this.budget && !this.budget.tryReserve(sizeBytes)) {
        this.blockedSizeBytes = sizeBytes;
        this.stash = chunk.slice(position); // a copy: the read's buffer may be much larger than what is left
        return;
      }
      position = this.startFrame(chunk, position, sizeBytes, frames);
    }
  }

  /** Starts assembling a reserved frame of sizeBytes whose first bytes are chunk[position..]. */
  private startFrame(chunk: Uint8Array, position: number, sizeBytes: number, frames: Frame[]): number {
    this.partialSizeBytes = sizeBytes;
    this.partialFilledBytes = 0;
    this.partialChargedBytes = sizeBytes;
    this.partialStartedMs = performance.now();
    if (sizeBytes <= FRAME_UPFRONT_BYTES_MAX) {
      // The api key is the frame's first int16; when this read has it, a Produce frame goes to the pool.
      const isProduce = chunk.byteLength - position >= 2 && ((chunk[position]! << 8) | chunk[position + 1]!) === PRODUCE_API_KEY;
      this.partialPooled = isProduce && this.pool ? this.pool.acquire(sizeBytes) : null;
      this.partial = this.partialPooled ? this.partialPooled.bytes : new Uint8Array(sizeBytes);
    } else {
      this.partialChunks = [];
    }
    return this.fill(chunk, position, frames);
  }

  /** Copies what this read has of the current frame; completes it when all its bytes are in. */
  private fill(chunk: Uint8Array, position: number, frames: Frame[]): number {
    const take = Math.min(this.partialSizeBytes - this.partialFilledBytes, chunk.byteLength - position);
    if (this.partial !== null) {
      this.partial.set(chunk.subarray(position, position + take), this.partialFilledBytes);
    } else {
      let copied = 0;
      while (copied < take) {
        const chunks = this.partialChunks!;
        let last = chunks[chunks.length - 1];
        const lastFilled = this.partialFilledBytes + copied - (chunks.length - 1) * FRAME_CHUNK_BYTES;
        if (!last || lastFilled === last.byteLength) {
          const remainingBytes = this.partialSizeBytes - this.partialFilledBytes - copied;
          last = this.allocateChunk(Math.min(FRAME_CHUNK_BYTES, remainingBytes));
          chunks.push(last);
        }
        const room = last.byteLength - (this.partialFilledBytes + copied - (chunks.length - 1) * FRAME_CHUNK_BYTES);
        const piece = Math.min(room, take - copied);
        last.set(chunk.subarray(position + copied, position + copied + piece), last.byteLength - room);
        copied += piece;
      }
    }
    this.partialFilledBytes += take;
    if (this.partialFilledBytes === this.partialSizeBytes) frames.push(this.finishFrame());
    return position + take;
  }

  /**
   * Chunks come from the pool when there is one: the memory of a dropped half-sent frame is reused by the
   * next one instead of waiting for the GC (measured: 20 dropped 50 MB frames left ~700 MB resident).
   */
  private allocateChunk(sizeBytes: number): Uint8Array {
    const pooled = this.pool?.acquire(sizeBytes) ?? null;
    if (!pooled) return new Uint8Array(sizeBytes);
    this.partialChunkBlocks.push(pooled);
    return pooled.bytes;
  }

  private releaseChunkBlocks(): void {
    for (const pooled of this.partialChunkBlocks) this.pool!.release(pooled);
    this.partialChunkBlocks = [];
  }

  private finishFrame(): Frame {
    let frame: Frame;
    if (this.partial !== null) {
      frame = { payload: this.partial, ownsBuffer: this.partialPooled === null, pooled: this.partialPooled, chargedBytes: this.partialChargedBytes };
    } else {
      // Joined once complete: the one extra copy a frame above FRAME_UPFRONT_BYTES_MAX pays.
      const payload = new Uint8Array(this.partialSizeBytes);
      let offset = 0;
      for (const piece of this.partialChunks!) {
        payload.set(piece, offset);
        offset += piece.byteLength;
      }
      frame = { payload, ownsBuffer: true, pooled: null, chargedBytes: this.partialChargedBytes };
      this.releaseChunkBlocks();
    }
    this.partial = null;
    this.partialChunks = null;
    this.partialPooled = null;
    this.partialFilledBytes = 0;
    this.partialSizeBytes = 0;
    this.partialChargedBytes = 0;
    frame.readMs = performance.now() - this.partialStartedMs;
    return frame;
  }
}

function concat(first: Uint8Array | null, second: Uint8Array): Uint8Array {
  if (!first || first.byteLength === 0) return second.slice();
  const joined = new Uint8Array(first.byteLength + second.byteLength);
  joined.set(first, 0);
  joined.set(second, first.byteLength);
  return joined;
}
