// One client connection: frames in, replies out strictly in request order (kafka-python requires it),
// and a write queue of our own, because Bun's socket.write() takes part of the data and drops the rest.
import type { Socket } from "bun";
import { FrameReader, FrameTooLargeError, type Frame } from "./frame-reader.ts";

/** What a reply slot holds once its request is handled: the bytes to send, or nothing (acks=0). */
export type ReplyChunks = Uint8Array[] | null;

interface ReplySlot {
  done: boolean;
  chunks: ReplyChunks;
}

export interface ConnectionLimits {
  maxFrameBytes: number;
  maxInFlightRequests: number;
  writeQueueMaxBytes: number;
}

export interface FrameHandler {
  /** Handles one frame; resolves with the reply bytes (or null for no reply). Rejecting closes the connection. */
  (connection: Connection, frame: Frame): Promise<ReplyChunks> | ReplyChunks;
}

let nextConnectionId = 1;

export class Connection {
  readonly id = nextConnectionId++;
  readonly remoteAddress: string;
  private readonly frames: FrameReader;
  /** Replies in request order; the head is written as soon as it is done. */
  private readonly replySlots: ReplySlot[] = [];
  private replySlotsHead = 0;
  /** Bytes waiting for the socket; `writeOffset` is how much of the first chunk already went out. */
  private readonly writeQueue: Uint8Array[] = [];
  private writeQueueHead = 0;
  private writeOffset = 0;
  private queuedBytes = 0;
  private pausedForBackpressure = false;
  closed = false;
  /** Per-connection state the API layer may keep (e.g. the client's software name). */
  clientSoftwareName = "";

  constructor(
    readonly socket: Socket<Connection | undefined>,
    private readonly limits: ConnectionLimits,
    private readonly handleFrame: FrameHandler,
    private readonly log: (message: string) => void,
  ) {
    this.remoteAddress = `${socket.remoteAddress}:${(socket as unknown as { remotePort?: number }).remotePort ?? "?"}`;
    this.frames = new FrameReader(limits.maxFrameBytes);
  }

  get inFlightRequests(): number {
    return this.replySlots.length - this.replySlotsHead;
  }

  onData(chunk: Uint8Array): void {
    if (this.closed) return;
    let frames: Frame[];
    try {
      frames = this.frames.push(chunk);
    } catch (error) {
      const reason = error instanceof FrameTooLargeError ? error.message : `framing error: ${String(error)}`;
      this.close(reason);
      return;
    }
    for (const frame of frames) this.startRequest(frame);
    this.applyBackpressure();
  }

  private startRequest(frame: Frame): void {
    const slot: ReplySlot = { done: false, chunks: null };
    this.replySlots.push(slot);
    let result: Promise<ReplyChunks> | ReplyChunks;
    try {
      result = this.handleFrame(this, frame);
    } catch (error) {
      this.close(describeError(error));
      return;
    }
    if (result instanceof Promise) {
      result.then(
        (chunks) => this.complete(slot, chunks),
        (error) => this.close(describeError(error)),
      );
    } else {
      this.complete(slot, result);
    }
  }

  private complete(slot: ReplySlot, chunks: ReplyChunks): void {
    if (this.closed) return;
    slot.done = true;
    slot.chunks = chunks;
    while (this.replySlotsHead < this.replySlots.length && this.replySlots[this.replySlotsHead]!.done) {
      const head = this.replySlots[this.replySlotsHead]!;
      this.replySlots[this.replySlotsHead++] = undefined as unknown as ReplySlot;
      if (head.chunks) for (const bytes of head.chunks) this.enqueue(bytes);
    }
    if (this.replySlotsHead > 1024 && this.replySlotsHead * 2 > this.replySlots.length) {
      this.replySlots.splice(0, this.replySlotsHead);
      this.replySlotsHead = 0;
    }
    this.flushWrites();
    this.applyBackpressure();
  }

  private enqueue(bytes: Uint8Array): void {
    if (bytes.byteLength === 0) return;
    this.writeQueue.push(bytes);
    this.queuedBytes += bytes.byteLength;
  }

  /** Writes as much of the queue as the socket takes; the rest waits for `drain`. */
  flushWrites(): void {
    while (this.writeQueueHead < this.writeQueue.length && !this.closed) {
      const bytes = this.writeQueue[this.writeQueueHead]!;
      const remaining = bytes.byteLength - this.writeOffset;
      const written = this.socket.write(bytes, this.writeOffset, remaining);
      if (written < 0) {
        this.close("socket closed while writing");
        return;
      }
      this.queuedBytes -= written;
      if (written < remaining) {
        this.writeOffset += written;
        return; // Bun arms `drain` because this write came up short.
      }
      this.writeQueue[this.writeQueueHead++] = undefined as unknown as Uint8Array;
      this.writeOffset = 0;
    }
    if (this.writeQueueHead > 0) {
      this.writeQueue.splice(0, this.writeQueueHead);
      this.writeQueueHead = 0;
    }
  }

  onDrain(): void {
    this.flushWrites();
    this.applyBackpressure();
  }

  /** Stops reading while too many requests are unanswered or too many reply bytes are queued. */
  private applyBackpressure(): void {
    if (this.closed) return;
    const overloaded = this.inFlightRequests >= this.limits.maxInFlightRequests || this.queuedBytes >= this.limits.writeQueueMaxBytes;
    if (overloaded && !this.pausedForBackpressure) {
      this.pausedForBackpressure = true;
      this.socket.pause();
    } else if (!overloaded && this.pausedForBackpressure) {
      this.pausedForBackpressure = false;
      this.socket.resume();
    }
  }

  get writeQueueBytes(): number {
    return this.queuedBytes;
  }

  /** Closes the connection, logging why once; replies still pending are dropped. */
  close(reason?: string): void {
    if (this.closed) return;
    this.closed = true;
    if (reason) this.log(`closing connection ${this.id} from ${this.remoteAddress}: ${reason}`);
    this.writeQueue.length = 0;
    this.queuedBytes = 0;
    this.socket.end();
  }

  onClose(): void {
    this.closed = true;
    this.writeQueue.length = 0;
    this.queuedBytes = 0;
  }

  /** Resolves when every accepted request has been answered and written (bounded by the caller). */
  get idle(): boolean {
    return this.inFlightRequests === 0 && this.queuedBytes === 0;
  }
}

function describeError(error: unknown): string {
  if (error instanceof Error) return error.message;
  return String(error);
}
