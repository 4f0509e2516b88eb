// One client connection: frames in, replies out strictly in request order (kafka-python requires it),
// and a write queue of our own, because Bun's socket.write() takes part of the data and drops the rest.
// The queue interleaves heap bytes (response headers) with file ranges (fetch record data), which go
// out from an mmap view or with sendfile(2) (sendfile.ts); either way the bytes never pass through JS.
import { ANONYMOUS_PRINCIPAL, DEFAULT_LISTENER, isSaslProtocol, isTlsProtocol, type ConnectionSecurity, type ListenerIdentity } from "../security/principal.ts";
import type { Socket } from "bun";
import { producePool } from "../partition/buffer-pool.ts";
import { FrameReader, FrameTooLargeError, type Frame } from "./frame-reader.ts";
import type { BudgetWaiter, RequestBudget } from "./request-budget.ts";
import { EAGAIN, EINTR, fileTransferCounters, fileTransferMode, nativeSendfile, type FileTransferMode, type SendfileFunction } from "./sendfile.ts";
import { ThreadCounters } from "./thread-counters.ts";
import type { MappedRecords } from "../log/segment-views.ts";
import type { RequestTrace } from "../api/context.ts";

/** What a reply slot holds once its request is handled: the bytes to send, or nothing (acks=0). */
export type ReplyChunks = (Uint8Array | MappedRecords)[] | null;

/** A file range in the write queue; `fd` is pinned for sendfile, or -1 to write from the mmap view. */
interface QueuedRange {
  readonly records: MappedRecords;
  readonly fd: number;
}

type QueuedChunk = Uint8Array | QueuedRange;

/** Write queue figures of every thread holding connections (thread-counters.ts). */
export const writeQueueCounters = new ThreadCounters(["queuedBytesMax"] as const);

/** Process-wide write queue figures, for tests (bounded queues) and the benchmark. */
export const writeQueueStats = {
  /** The most bytes (heap and file ranges) any one connection, on any thread, had queued at once; setting it resets every thread's. */
  get queuedBytesMax(): number {
    return writeQueueCounters.max("queuedBytesMax");
  },
  set queuedBytesMax(value: number) {
    writeQueueCounters.setAll("queuedBytesMax", value);
  },
};

interface ReplySlot {
  done: boolean;
  chunks: ReplyChunks;
  apiKey: number;
  /** performance.now() when the handler answered (set only while onReplySent is). */
  answeredMs: number;
  /** The request's stage timings, when the dispatcher traces (traffic counted). */
  trace: RequestTrace | undefined;
}

/** A reply in the write queue whose send time is measured: done once `chunksWritten` reaches `endChunk`. */
interface SendMark {
  endChunk: number;
  apiKey: number;
  answeredMs: number;
  trace: RequestTrace | undefined;
}

export interface ConnectionLimits {
  maxFrameBytes: number;
  maxInFlightRequests: number;
  writeQueueMaxBytes: number;
  /** socket.request.receive.timeout.ms: mid-frame silence after which the connection is closed. */
  receiveTimeoutMs: number;
  /** connections.max.idle.ms: no request in flight and no traffic for this long closes the connection. */
  idleTimeoutMs: number;
  /** ssl.handshake.timeout.ms: a TLS connection whose handshake is not done this long after it opened is closed. */
  tlsHandshakeTimeoutMs?: number;
  /** sasl.server.max.receive.size: the frame bound until SASL authentication succeeds (Kafka's), on SASL listeners. */
  saslMaxReceiveBytes?: number;
}

export interface FrameHandler {
  /** Handles one frame; resolves with the reply bytes (or null for no reply). Rejecting closes the connection. */
  (connection: Connection, frame: Frame): Promise<ReplyChunks> | ReplyChunks;
}

let nextConnectionId = 1;

export class Connection implements BudgetWaiter {
  readonly id = nextConnectionId++;
  readonly remoteAddress: string;
  /** The peer's address as counted by the connection quotas. */
  readonly remoteIp: string;
  readonly remotePort: number | undefined;
  private readonly frames: FrameReader;
  /** Replies in request order; the head is written as soon as it is done. */
  private readonly replySlots: ReplySlot[] = [];
  private replySlotsHead = 0;
  /** Bytes waiting for the socket; `writeOffset` is how much of the first chunk already went out. */
  private readonly writeQueue: QueuedChunk[] = [];
  private writeQueueHead = 0;
  private writeOffset = 0;
  private queuedBytes = 0;
  /** Chunks ever pushed to and fully written from the write queue, for send marks. */
  private chunksEnqueued = 0;
  private chunksWritten = 0;
  private readonly sendMarks: SendMark[] = [];
  /** Set by the broker for /metrics: a reply's last byte was taken by the socket (Kafka's ResponseSendTimeMs). */
  onReplySent: ((apiKey: number, seconds: number) => void) | null = null;
  /** Set with onReplySent: a traced request is done (its reply's last byte sent, or no reply to send). */
  onTraceDone: ((trace: RequestTrace) => void) | null = null;
  private pausedForBackpressure = false;
  /** Paused until the request budget has room (queued.max.request.bytes); queued in the budget's waiters. */
  private pausedForBudget = false;
  /** Budget bytes of this connection's requests not yet answered. */
  private chargedInFlightBytes = 0;
  /** Last time bytes arrived (or reading resumed after a pause of ours), and last traffic either way. */
  private lastReadMs = Date.now();
  private lastActivityMs = this.lastReadMs;
  /** Requests started and replies moved to the write queue (or dropped, for acks=0), counted from 0. */
  private requestsStarted = 0;
  private repliesReleased = 0;
  /** The request whose handler is running synchronously right now (-1 outside startRequest). */
  private currentRequest = -1;
  /** Fetches waiting for their turn to read (waitForWriteRoom). */
  private writeRoomWaiters: { request: number; wake: () => void }[] = [];
  /** How this connection sends file ranges: TLS always uses mmap (sendfile would bypass encryption). */
  fileTransfer: FileTransferMode;
  private sendfile: SendfileFunction | null;
  closed = false;
  /** Per-connection state the API layer may keep (e.g. the client's software name). */
  clientSoftwareName = "";
  /** The listener, the principal and the SASL state (security/principal.ts); plaintext clients are anonymous. */
  readonly security: ConnectionSecurity;
  /** TLS listener: true until the broker checked the handshake (and the client certificate); nothing is read before. */
  private tlsHandshakePending: boolean;
  /** Bytes that arrived before the handshake check (Bun decrypts only after the handshake, so normally none). */
  private readonly bytesBeforeHandshake: Uint8Array[] = [];
  private readonly openedMs = Date.now();

  constructor(
    readonly socket: Socket<Connection | undefined>,
    private readonly limits: ConnectionLimits,
    private readonly handleFrame: FrameHandler,
    private readonly log: (message: string) => void,
    private readonly budget: RequestBudget | null = null,
    /** From another broker's address (replica fetcher): never paused at a frame boundary for the budget. */
    public interBroker = false,
    listener: ListenerIdentity = DEFAULT_LISTENER,
  ) {
    this.security = { listener, principal: ANONYMOUS_PRINCIPAL, authenticated: !isSaslProtocol(listener.securityProtocol) };
    this.remoteIp = socket.remoteAddress;
    // Bun's sockets have remotePort; its typings do not.
    this.remotePort = (socket as unknown as { remotePort?: number }).remotePort;
    this.remoteAddress = `${socket.remoteAddress}:${this.remotePort ?? "?"}`;
    this.frames = new FrameReader(limits.maxFrameBytes, producePool, budget);
    // Nobody may make the broker buffer a large frame before logging in (Kafka's SaslServerAuthenticator).
    if (!this.security.authenticated && limits.saslMaxReceiveBytes !== undefined) this.frames.limitFrames(Math.min(limits.maxFrameBytes, limits.saslMaxReceiveBytes), "sasl.server.max.receive.size");
    const isTls = isTlsProtocol(listener.securityProtocol) || (typeof socket.getTLSVersion === "function" && socket.getTLSVersion() !== null);
    this.tlsHandshakePending = isTls;
    this.fileTransfer = isTls ? "mmap" : fileTransferMode();
    this.sendfile = this.fileTransfer === "sendfile" ? nativeSendfile() : null;
  }

  /**
   * A network shard's connection takes the socket thread's choice (shards/): made there at admission, before
   * any reply, so no file range is queued yet. TLS stays on mmap.
   */
  useFileTransfer(mode: FileTransferMode): void {
    if (this.tlsHandshakePending || this.writeQueue.length > 0) return;
    this.fileTransfer = mode === "sendfile" && nativeSendfile() !== null ? "sendfile" : "mmap";
    this.sendfile = this.fileTransfer === "sendfile" ? nativeSendfile() : null;
  }

  /** SASL authentication succeeded: frames may be as large as socket.request.max.bytes again. */
  onAuthenticated(): void {
    this.frames.limitFrames(this.limits.maxFrameBytes, "socket.request.max.bytes");
  }

  get inFlightRequests(): number {
    return this.replySlots.length - this.replySlotsHead;
  }

  /**
   * The TLS handshake succeeded and the client certificate (if any) was accepted: `principal` is who it
   * names (null: anonymous). Requests are read from now on.
   */
  tlsHandshakeDone(principal: string | null): void {
    if (this.closed || !this.tlsHandshakePending) return;
    this.tlsHandshakePending = false;
    if (principal !== null) this.security.principal = principal;
    this.lastReadMs = this.lastActivityMs = Date.now();
    for (const chunk of this.bytesBeforeHandshake.splice(0)) this.onData(chunk);
  }

  onData(chunk: Uint8Array): void {
    if (this.closed) return;
    if (this.tlsHandshakePending) {
      this.bytesBeforeHandshake.push(chunk);
      if (this.bytesBeforeHandshake.reduce((sum, bytes) => sum + bytes.byteLength, 0) > this.limits.maxFrameBytes) this.close("more than socket.request.max.bytes before the TLS handshake was checked");
      return;
    }
    this.lastReadMs = this.lastActivityMs = Date.now();
    let frames: Frame[];
    try {
      frames = this.frames.push(chunk);
    } catch (error) {
      const reason = error instanceof FrameTooLargeError ? error.message : `framing error: ${String(error)}`;
      this.close(reason);
      return;
    }
    for (const frame of frames) this.startRequest(frame);
    this.waitForBudgetIfSpent();
    this.applyBackpressure();
  }

  /**
   * Pauses reading when the frame reader stopped for the budget, or when the budget is spent and the
   * next bytes would start a new frame (a frame whose body is being received is already reserved and
   * goes on, so the budget cannot deadlock on half-received frames).
   */
  private waitForBudgetIfSpent(): void {
    if (this.closed || this.pausedForBudget || !this.budget) return;
    // A connection with nothing charged in flight reads on: what one read brings is whole frames (charged,
    // at most one read per connection) or the start of a frame, which must reserve. So a client that asks
    // one small request at a time (consumers, metadata, other brokers) is not stalled while large frames
    // hold the budget; one that pipelines waits like a large frame.
    const atBoundary = !this.frames.inFrameBody && !this.interBroker && this.chargedInFlightBytes > 0 && this.budget.exhausted;
    if (!this.frames.blocked && !atBoundary) return;
    this.pausedForBudget = true;
    this.updatePause();
    this.budget.wait(this);
  }

  /** The budget has room again: take the frame that waited, then read on. */
  onBudgetAvailable(): void {
    if (this.closed || !this.pausedForBudget) return;
    this.pausedForBudget = false;
    this.lastReadMs = Date.now(); // the pause was ours: the receive timeout starts again
    let frames: Frame[];
    try {
      frames = this.frames.unblock();
    } catch (error) {
      this.close(error instanceof FrameTooLargeError ? error.message : `framing error: ${String(error)}`);
      return;
    }
    for (const frame of frames) this.startRequest(frame);
    this.waitForBudgetIfSpent();
    this.applyBackpressure();
    this.updatePause();
  }

  /** Gives back what a frame holds (pool block, budget) once its request is answered or abandoned. */
  private releaseFrame(frame: Frame): void {
    if (frame.pooled) producePool.release(frame.pooled);
    if (frame.chargedBytes > 0) {
      this.chargedInFlightBytes -= frame.chargedBytes;
      this.budget?.release(frame.chargedBytes);
      // Paused at a boundary only because requests of ours were charged: with all of them answered, read on.
      if (this.chargedInFlightBytes === 0 && this.pausedForBudget && !this.frames.blocked && !this.closed) {
        this.budget?.forget(this);
        this.pausedForBudget = false;
        this.lastReadMs = Date.now();
        this.updatePause();
      }
    }
  }

  /**
   * Why this connection should be closed now (receive timeout or idle timeout), or null. The broker
   * calls it periodically; a pause of ours (backpressure, budget) never counts against the client.
   */
  expired(nowMs: number): string | null {
    if (this.closed) return null;
    if (this.tlsHandshakePending && this.limits.tlsHandshakeTimeoutMs !== undefined && nowMs - this.openedMs > this.limits.tlsHandshakeTimeoutMs) {
      return `TLS handshake not finished ${nowMs - this.openedMs} ms after connecting (ssl.handshake.timeout.ms=${this.limits.tlsHandshakeTimeoutMs})`;
    }
    const pausedByUs = this.pausedForBudget || this.pausedForBackpressure || this.pausedForThrottle;
    if (this.frames.hasPartialFrame && !pausedByUs && nowMs - this.lastReadMs > this.limits.receiveTimeoutMs) {
      return `sent ${this.frames.bufferedBytes} bytes of a request, then nothing for ${nowMs - this.lastReadMs} ms (socket.request.receive.timeout.ms=${this.limits.receiveTimeoutMs})`;
    }
    if (this.idle && !this.frames.hasPartialFrame && !pausedByUs && nowMs - this.lastActivityMs > this.limits.idleTimeoutMs) {
      return `idle for ${nowMs - this.lastActivityMs} ms (connections.max.idle.ms=${this.limits.idleTimeoutMs})`;
    }
    return null;
  }

  private startRequest(frame: Frame): void {
    this.chargedInFlightBytes += frame.chargedBytes;
    const payload = frame.payload;
    const slot: ReplySlot = { done: false, chunks: null, apiKey: payload.byteLength >= 2 ? (payload[0]! << 8) | payload[1]! : -1, answeredMs: 0, trace: undefined };
    this.replySlots.push(slot);
    let result: Promise<ReplyChunks> | ReplyChunks;
    this.currentRequest = this.requestsStarted++;
    try {
      result = this.handleFrame(this, frame);
    } catch (error) {
      this.releaseFrame(frame);
      this.close(describeError(error));
      return;
    } finally {
      this.currentRequest = -1;
    }
    slot.trace = frame.trace;
    // A pooled frame (Produce) goes back to the pool once its request is answered: nothing keeps
    // views of produce data past the reply (the worker has appended it, the response is encoded).
    // Its budget is given back at the same moment, also when the connection closed meanwhile.
    if (result instanceof Promise) {
      result.then(
        (chunks) => {
          this.releaseFrame(frame);
          this.complete(slot, chunks);
        },
        (error) => {
          this.releaseFrame(frame);
          this.close(describeError(error));
        },
      );
    } else {
      this.releaseFrame(frame);
      this.complete(slot, result);
    }
  }

  private complete(slot: ReplySlot, chunks: ReplyChunks): void {
    if (this.closed) return;
    this.lastActivityMs = Date.now();
    slot.done = true;
    slot.chunks = chunks;
    if (this.onReplySent) slot.answeredMs = performance.now();
    while (this.replySlotsHead < this.replySlots.length && this.replySlots[this.replySlotsHead]!.done) {
      const head = this.replySlots[this.replySlotsHead]!;
      this.replySlots[this.replySlotsHead++] = undefined as unknown as ReplySlot;
      this.repliesReleased++;
      if (head.chunks) for (const bytes of head.chunks) this.enqueue(bytes);
      if (head.chunks && this.onReplySent) this.sendMarks.push({ endChunk: this.chunksEnqueued, apiKey: head.apiKey, answeredMs: head.answeredMs, trace: head.trace });
      else if (!head.chunks && head.trace) this.onTraceDone?.(head.trace);
    }
    if (this.replySlotsHead > 1024 && this.replySlotsHead * 2 > this.replySlots.length) {
      this.replySlots.splice(0, this.replySlotsHead);
      this.replySlotsHead = 0;
    }
    this.flushWrites(); // also wakes fetches whose earlier replies are now queued
    this.applyBackpressure();
  }

  private enqueue(chunk: Uint8Array | MappedRecords): void {
    if (chunk instanceof Uint8Array) {
      if (chunk.byteLength === 0) return;
      this.chunksEnqueued++;
      this.writeQueue.push(chunk);
      this.queuedBytes += chunk.byteLength;
    } else {
      if (chunk.sizeBytes === 0) return;
      this.chunksEnqueued++;
      // The fd is pinned while the range is queued, so it cannot be closed (and its number reused) under us.
      const fd = this.sendfile !== null ? chunk.file.pinFd() : -1;
      this.writeQueue.push({ records: chunk, fd });
      this.queuedBytes += chunk.sizeBytes;
    }
    writeQueueCounters.raise("queuedBytesMax", this.queuedBytes);
  }

  /** Writes as much of the queue as the socket takes; the rest waits for `drain`. */
  flushWrites(): void {
    while (this.writeQueueHead < this.writeQueue.length && !this.closed) {
      const chunk = this.writeQueue[this.writeQueueHead]!;
      const complete = chunk instanceof Uint8Array ? this.writeBytes(chunk) : chunk.fd >= 0 ? this.sendRange(chunk) : this.writeRange(chunk);
      if (!complete) break; // `drain` is armed (or the connection closed)
      if (!(chunk instanceof Uint8Array) && chunk.fd >= 0) chunk.records.file.unpinFd();
      this.writeQueue[this.writeQueueHead++] = undefined as unknown as QueuedChunk;
      this.writeOffset = 0;
      this.chunksWritten++;
    }
    if (this.sendMarks.length > 0) this.reportSentReplies();
    if (this.writeQueueHead > 0) {
      this.writeQueue.splice(0, this.writeQueueHead);
      this.writeQueueHead = 0;
    }
    this.wakeWriteRoomWaiters();
  }

  private reportSentReplies(): void {
    const nowMs = performance.now();
    let sent = 0;
    while (sent < this.sendMarks.length && this.sendMarks[sent]!.endChunk <= this.chunksWritten) {
      const mark = this.sendMarks[sent++]!;
      const seconds = (nowMs - mark.answeredMs) / 1000;
      this.onReplySent?.(mark.apiKey, seconds);
      if (mark.trace) {
        mark.trace.sendMs = seconds * 1000;
        this.onTraceDone?.(mark.trace);
      }
    }
    if (sent > 0) this.sendMarks.splice(0, sent);
  }

  /** socket.write of the rest of `bytes`; true when all of it went out. */
  private writeBytes(bytes: Uint8Array): boolean {
    const remaining = bytes.byteLength - this.writeOffset;
    const written = this.socket.write(bytes, this.writeOffset, remaining);
    if (written < 0) {
      this.close("socket closed while writing");
      return false;
    }
    this.queuedBytes -= written;
    if (written < remaining) {
      this.writeOffset += written;
      return false; // Bun arms `drain` because this write came up short.
    }
    return true;
  }

  /** A file range from its mmap view: the kernel copies from the page cache; JS never reads the bytes. */
  private writeRange(range: QueuedRange): boolean {
    const before = this.writeOffset;
    const complete = this.writeBytes(range.records.bytes);
    fileTransferCounters.add("mmapWrites", 1);
    fileTransferCounters.add("mmapBytes", (complete ? range.records.sizeBytes : this.writeOffset) - before);
    return complete;
  }

  /**
   * A file range with sendfile(2) on the socket's fd. Bun never polls an fd it did not fail to write to,
   * so on EAGAIN we write the range's next byte with socket.write (the "1-byte arm",
   * docs/bun-runtime.md §2.1): 0 bytes taken means Bun now waits for `drain`; 1 byte taken means the
   * socket had room again, and we go on. Bun does not buffer what it did not take, so the stream stays
   * exact. Every turn of the loop either moves at least one byte or returns.
   */
  private sendRange(range: QueuedRange): boolean {
    // Bun exposes the fd of every TCP socket (docs/bun-runtime.md §1.1); its typings do not.
    const socketFd = (this.socket as unknown as { fd: number }).fd;
    const sizeBytes = range.records.sizeBytes;
    for (let turns = 0; this.writeOffset < sizeBytes; turns++) {
      if (this.closed) return false;
      if (socketFd < 0) {
        this.close("socket closed while sending a file range");
        return false;
      }
      const remaining = sizeBytes - this.writeOffset;
      const sent = this.sendfile!(socketFd, range.fd, range.records.position + this.writeOffset, remaining);
      fileTransferCounters.add("sendfileCalls", 1);
      if (sent > 0) {
        this.writeOffset += sent;
        this.queuedBytes -= sent;
        fileTransferCounters.add("sendfileBytes", sent);
        continue;
      }
      if (sent === -EINTR && turns < 16) continue;
      if (sent === -EAGAIN) {
        fileTransferCounters.add("sendfileArms", 1);
        const written = this.socket.write(range.records.bytes, this.writeOffset, 1);
        if (written < 0) {
          this.close("socket closed while writing");
          return false;
        }
        if (written === 0) return false;
        this.writeOffset += 1;
        this.queuedBytes -= 1;
        continue;
      }
      // 0 = the file ended before the range did (it cannot: files are never cut below a readable range);
      // anything else is the peer going away (EPIPE, ECONNRESET). Either way this stream cannot continue.
      this.close(sent === 0 ? `sendfile hit the end of ${range.records.file.path} at ${range.records.position + this.writeOffset}` : `sendfile failed with errno ${-sent}`);
      return false;
    }
    return true;
  }

  onDrain(): void {
    this.lastActivityMs = Date.now();
    this.flushWrites();
    this.applyBackpressure();
  }

  /**
   * A fetch's turn to read: resolves once every earlier reply on this connection is in the write queue
   * and the queue is below writeQueueMaxBytes (or the connection closed). Like Kafka, which handles one
   * request per connection at a time, this makes pipelined fetches read one after the other, so a consumer
   * that stops reading holds at most one response beyond the limit, never unbounded data. Clients keep
   * one fetch in flight per connection, so for them this never waits. Call it synchronously at the start
   * of the handler: that is how the connection knows which request asks.
   */
  waitForWriteRoom(): Promise<void> | null {
    const request = this.currentRequest >= 0 ? this.currentRequest : this.requestsStarted;
    if (this.hasWriteRoom(request)) return null;
    return new Promise<void>((wake) => this.writeRoomWaiters.push({ request, wake }));
  }

  private hasWriteRoom(request: number): boolean {
    return this.closed || (this.repliesReleased >= request && this.queuedBytes < this.limits.writeQueueMaxBytes);
  }

  private wakeWriteRoomWaiters(): void {
    if (this.writeRoomWaiters.length === 0) return;
    const waiting = this.writeRoomWaiters;
    this.writeRoomWaiters = [];
    for (const waiter of waiting) {
      if (this.hasWriteRoom(waiter.request)) waiter.wake();
      else this.writeRoomWaiters.push(waiter);
    }
  }

  /** Drops everything queued, releasing pinned fds. */
  private clearWriteQueue(): void {
    for (let index = this.writeQueueHead; index < this.writeQueue.length; index++) {
      const chunk = this.writeQueue[index]!;
      if (!(chunk instanceof Uint8Array) && chunk.fd >= 0) chunk.records.file.unpinFd();
    }
    this.writeQueue.length = 0;
    this.writeQueueHead = 0;
    this.writeOffset = 0;
    this.queuedBytes = 0;
    this.wakeWriteRoomWaiters();
  }

  /** Stops reading while too many requests are unanswered or too many reply bytes are queued. */
  private applyBackpressure(): void {
    if (this.closed) return;
    const overloaded = this.inFlightRequests >= this.limits.maxInFlightRequests || this.queuedBytes >= this.limits.writeQueueMaxBytes;
    if (overloaded === this.pausedForBackpressure) return;
    this.pausedForBackpressure = overloaded;
    if (!overloaded) this.lastReadMs = Date.now(); // the pause was ours: the receive timeout starts again
    this.updatePause();
  }

  /** The socket reads only when neither backpressure nor the budget holds it. */
  private socketPaused = false;

  private pausedForThrottle = false;
  private throttleTimer: ReturnType<typeof setTimeout> | null = null;

  /** When the current throttle ends (Date.now() ms): a shorter throttle never cuts a longer one short. */
  private mutedUntilMs = 0;

  /** KIP-219: the reply is already on its way; no request is read until the throttle time has passed. */
  mute(ms: number): void {
    if (this.closed || ms <= 0) return;
    const until = Date.now() + ms;
    if (this.throttleTimer && until <= this.mutedUntilMs) return;
    this.mutedUntilMs = until;
    if (this.throttleTimer) clearTimeout(this.throttleTimer);
    this.pausedForThrottle = true;
    this.updatePause();
    this.throttleTimer = setTimeout(() => {
      this.throttleTimer = null;
      this.pausedForThrottle = false;
      this.lastReadMs = Date.now(); // the pause was ours: the receive timeout starts again
      this.updatePause();
    }, ms);
  }

  private updatePause(): void {
    if (this.closed) return;
    const pause = this.pausedForBackpressure || this.pausedForBudget || this.pausedForThrottle;
    if (pause === this.socketPaused) return;
    this.socketPaused = pause;
    if (pause) this.socket.pause();
    else this.socket.resume();
  }

  get writeQueueBytes(): number {
    return this.queuedBytes;
  }

  /** Closes the connection, logging why once; replies still pending are dropped. */
  close(reason?: string): void {
    if (this.closed) return;
    this.closed = true;
    if (reason) this.log(`closing connection ${this.id} from ${this.remoteAddress}: ${reason}`);
    this.clearWriteQueue();
    this.releaseReading();
    this.socket.end();
  }

  /** Gives back the budget of a frame that will never complete and leaves the budget's queue. */
  private releaseReading(): void {
    if (this.throttleTimer) clearTimeout(this.throttleTimer);
    this.throttleTimer = null;
    this.frames.discardPartial();
    if (this.pausedForBudget) this.budget?.forget(this);
    this.pausedForBudget = false;
  }

  onClose(): void {
    this.closed = true;
    this.clearWriteQueue();
    this.releaseReading();
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
