// A network shard (num.network.shards > 1, or a partition worker with partition.workers.listen): a worker
// thread that accepts connections on the broker's ports (SO_REUSEPORT: the kernel spreads new connections
// over the main thread and the shards), frames their requests and writes their replies, fetch record data
// included, from its own mmap views of the segment files. Requests are handled on the main thread
// (network-shards.ts): each frame crosses once, as bytes; except, in a partition worker, a produce for its
// own partitions, which it answers itself (LocalRequests, owner-shard-thread.ts).
// Per connection everything the main thread's connections do holds here too, because it is the same
// Connection class: replies in request order, the write queue, backpressure, the broker-wide request budget
// (this thread's cell of it), timeouts, SASL's pre-authentication frame bound, KIP-219 mutes.
import type { Socket, TCPSocketListener } from "bun";
import { ApiKey } from "../../protocol/generated/index.ts";
import { BLOCK_BYTES_MAX, PRODUCE_POOL_IDLE_MS, PRODUCE_POOL_KEEP_WARM_BYTES, producePool } from "../../partition/buffer-pool.ts";
import { SegmentViews, type MappedRecords } from "../../log/segment-views.ts";
import { Connection, writeQueueCounters, type ConnectionLimits, type ReplyChunks } from "../connection.ts";
import { fileTransferCounters } from "../sendfile.ts";
import type { Frame } from "../frame-reader.ts";
import { RequestBudget } from "../request-budget.ts";
import type { FileRange, FromShard, PeerMessage, ReplyChunk, SharedBudget, ShardListener, ToShard } from "./messages.ts";
import { fileRange, mapFileRange, mapReply, replyForThread } from "./reply-chunks.ts";
import type { LocalRequests, SplitFetch, WatchedPartition } from "./local-requests.ts";
import type { FetchRequest, FetchResponse } from "../../protocol/generated/fetch.ts";
import type { Input } from "../../protocol/codec/input.ts";

declare const self: Worker;

/** Where a request of a connection went: the main thread, or a peer worker (its index). */
type Destination = "main" | number;

interface PendingRequest {
  resolve: (chunks: ReplyChunks) => void;
  reject: (error: Error) => void;
  produce: boolean;
  destination: Destination;
  answer: Promise<ReplyChunks>;
}

/** A frame sent to a peer worker, until it answers (or declines and it goes to the main thread). */
interface PeerRequest {
  connection: Connection;
  request: number;
  frame: Frame;
  apiKey: number;
}

export class NetworkShard {
  private readonly servers: TCPSocketListener<Connection | undefined>[] = [];
  private readonly connections = new Map<number, Connection>();
  /** Requests posted to the main thread, by connection id then request number. */
  private readonly pending = new Map<number, Map<number, PendingRequest>>();
  private nextRequest = 1;
  /** Per connection, the last send to the main thread: sends go in request order, after any produce they must follow. */
  private readonly mainSends = new Map<number, Promise<void>>();
  /** Listening partition workers: the other workers, by worker index, and the frames sent to them. */
  private readonly peers = new Map<number, MessagePort>();
  private readonly peerRequests = new Map<number, PeerRequest>();
  /** Fetch parts asked of peers (splitFetch), by id: which worker, and who waits for the answer. */
  private readonly peerParts = new Map<number, { worker: number; resolve: (reply: Input<FetchResponse>) => void; reject: (error: Error) => void }>();
  /** Split fetches' watches at peers (watchSplit), by id: which worker, and what its append wakes. */
  private readonly peerWatches = new Map<number, { worker: number; wake: () => void }>();
  /** Peers' watches on this worker's partitions, by their port then id: each one's withdrawal. */
  private readonly servedWatches = new Map<MessagePort, Map<number, () => void>>();
  private nextPart = 1;
  private readonly views: SegmentViews;
  private readonly budget: RequestBudget | null;
  private readonly sweepTimer: ReturnType<typeof setInterval>;
  /**
   * Reply send times not yet reported, flat (apiKey, seconds) pairs: one message for all the replies written
   * in one turn of the event loop (a microtask after the first), so the metric is as current as on the
   * socket thread without a message per reply.
   */
  private sendTimes: number[] = [];
  private readonly countReplySent = (apiKey: number, seconds: number): void => {
    this.sendTimes.push(apiKey, seconds);
    if (this.sendTimes.length === 2) queueMicrotask(() => this.reportSendTimes());
  };

  constructor(
    private readonly shard: number,
    listeners: readonly ShardListener[],
    private readonly limits: ConnectionLimits,
    budget: SharedBudget,
    segmentViewsMax: number,
    private readonly local: LocalRequests | null = null,
    peers: readonly (MessagePort | null)[] = [],
  ) {
    this.views = new SegmentViews(segmentViewsMax);
    peers.forEach((port, worker) => {
      if (!port) return;
      this.peers.set(worker, port);
      port.onmessage = (event) => this.onPeerMessage(port, event.data as PeerMessage);
    });
    this.budget = budget.maxBytes > 0 ? new RequestBudget(budget.maxBytes, budget.shared ? { cells: budget.shared, row: shard } : null) : null;
    listeners.forEach((listener, index) => this.listen(listener, index));
    const intervalMs = Math.max(10, Math.min(1000, Math.floor(Math.min(limits.receiveTimeoutMs, limits.idleTimeoutMs) / 4)));
    this.sweepTimer = setInterval(() => this.sweep(), intervalMs);
  }

  private listen(listener: ShardListener, index: number): void {
    const identity = { name: listener.name, securityProtocol: listener.securityProtocol };
    const server = Bun.listen<Connection | undefined>({
      hostname: listener.host,
      port: listener.port,
      // Bun supports it on Linux (the kernel spreads connections over every socket bound so); its typings lack it.
      ...({ reusePort: true } as object),
      socket: {
        open: (socket: Socket<Connection | undefined>) => {
          const connection = new Connection(socket, this.limits, (conn, frame) => this.forward(conn, frame), log, this.budget, false, identity);
          socket.data = connection;
          connection.onReplySent = this.countReplySent;
          this.connections.set(connection.id, connection);
          this.pending.set(connection.id, new Map());
          post({ type: "open", connection: connection.id, listener: index, remoteIp: connection.remoteIp, remotePort: connection.remotePort });
        },
        data: (socket, chunk) => socket.data?.onData(chunk),
        drain: (socket) => socket.data?.onDrain(),
        close: (socket) => {
          const connection = socket.data;
          if (!connection) return;
          connection.onClose();
          if (!this.connections.delete(connection.id)) return;
          // Requests still with the socket thread keep their frames until it answers them (settle()):
          // a pooled Produce frame may be what a partition worker is appending from right now.
          if (this.pending.get(connection.id)?.size === 0) this.pending.delete(connection.id);
          post({ type: "closed", connection: connection.id });
        },
        error: (socket, error) => log(`shard ${this.shard}: socket error on connection ${socket.data?.id}: ${error.message}`),
      },
    });
    this.servers.push(server);
  }

  /**
   * Where a frame goes. With listening partition workers (local-*.ts), a produce or a consumer's fetch whose
   * partitions are all one worker's is answered by that worker: this one, or a peer reached once over its port.
   * Order per connection: a connection's produces to one destination keep their order there (one queue per
   * partition here, one port per peer, the main thread's dispatch order); so a produce is not answered here or
   * by a peer while one of the connection's produces is with the main thread (which may append to the same
   * partitions later), and one for the main thread waits until the connection's produces with peers are
   * answered. A fetch goes to a worker only when nothing of its connection is in flight anywhere.
   */
  private forward(connection: Connection, frame: Frame): Promise<ReplyChunks> {
    const payload = frame.payload;
    const apiKey = payload.byteLength >= 2 ? (payload[0]! << 8) | payload[1]! : -1;
    if (this.local && (apiKey === ApiKey.Produce || apiKey === ApiKey.Fetch)) {
      const plan = this.local.plan(connection, frame);
      if (plan && this.mayBypassMain(connection.id, apiKey)) {
        if (plan.worker === this.shard - 1) {
          const served = plan.answer(connection, this.views);
          if (served) return served;
        } else if (this.peers.has(plan.worker)) {
          return this.toPeer(connection, frame, apiKey, plan.worker);
        }
      } else if (!plan && apiKey === ApiKey.Fetch && this.mayBypassMain(connection.id, apiKey)) {
        const split = this.local.planSplitFetch(connection, frame, new Set(this.peers.keys()));
        if (split) return this.splitFetch(connection, split);
      }
    }
    return this.toMain(connection, frame, apiKey);
  }

  /**
   * A consumer's fetch of several workers' partitions: each owner reads its part at once (this worker itself,
   * a peer over its port), the parts are merged here. One that must wait (fewer than min.bytes) waits here too:
   * on every owner's appends to its partitions, watched before the parts are read (an append between a read
   * and the wait still wakes it), then reads again, until it has min.bytes or max.wait.ms is over.
   */
  private splitFetch(connection: Connection, split: SplitFetch): Promise<ReplyChunks> {
    const turn = connection.waitForWriteRoom();
    const run = async (): Promise<ReplyChunks> => {
      if (turn) await turn;
      const deadline = performance.now() + split.maxWaitMs;
      let waitedMs = 0;
      for (;;) {
        const final = connection.closed || performance.now() >= deadline;
        const watch = final ? null : this.watchSplit(split);
        try {
          const replies = await Promise.all(
            split.parts.map((part) => (part.worker === this.shard - 1 ? this.local!.fetchPart(part.request, split.apiVersion, this.views) : this.askPeerPart(part.worker, part.request, split.apiVersion))),
          );
          const merged = split.merge(replies, final, waitedMs);
          if (merged !== null) return merged;
          const waitStarted = performance.now();
          await wokenOrTimedOut(watch!.woken, deadline - waitStarted);
          waitedMs += performance.now() - waitStarted;
        } finally {
          watch?.cancel();
        }
      }
    };
    return run();
  }

  /** Watches a split fetch's partitions at every owner: `woken` settles at the first append to any of them. */
  private watchSplit(split: SplitFetch): { woken: Promise<void>; cancel: () => void } {
    const { promise, resolve } = Promise.withResolvers<void>();
    const cancels: (() => void)[] = [];
    for (const part of split.parts) {
      if (part.worker === this.shard - 1) {
        cancels.push(this.local!.watch(part.watched, resolve));
        continue;
      }
      const port = this.peers.get(part.worker);
      if (!port) {
        resolve(); // the owner is gone: the next read of its part fails the fetch
        continue;
      }
      const id = this.nextPart++;
      this.peerWatches.set(id, { worker: part.worker, wake: resolve });
      port.postMessage({ type: "watchParts", id, partitions: part.watched } satisfies PeerMessage);
      cancels.push(() => {
        if (this.peerWatches.delete(id)) this.peers.get(part.worker)?.postMessage({ type: "unwatchParts", id } satisfies PeerMessage);
      });
    }
    return { woken: promise, cancel: () => cancels.forEach((cancel) => cancel()) };
  }

  /** A peer's split fetch waits on partitions of this worker: one message when one of them is appended to. */
  private serveWatch(port: MessagePort, id: number, partitions: readonly WatchedPartition[]): void {
    if (!this.local) {
      port.postMessage({ type: "partsAppended", id } satisfies PeerMessage);
      return;
    }
    let watches = this.servedWatches.get(port);
    if (!watches) this.servedWatches.set(port, (watches = new Map()));
    const held = watches;
    const unwatch = this.local.watch(partitions, () => {
      held.delete(id);
      unwatch();
      port.postMessage({ type: "partsAppended", id } satisfies PeerMessage);
    });
    held.set(id, unwatch);
  }

  private unwatchServed(port: MessagePort, id: number): void {
    const watches = this.servedWatches.get(port);
    const unwatch = watches?.get(id);
    if (!unwatch) return;
    watches!.delete(id);
    unwatch();
  }

  private askPeerPart(worker: number, request: FetchRequest, apiVersion: number): Promise<Input<FetchResponse>> {
    const port = this.peers.get(worker);
    if (!port) return Promise.reject(new Error(`listening partition worker ${worker} is gone`));
    const id = this.nextPart++;
    const { promise, resolve, reject } = Promise.withResolvers<Input<FetchResponse>>();
    this.peerParts.set(id, { worker, resolve, reject });
    port.postMessage({ type: "fetchPart", id, apiVersion, request } satisfies PeerMessage);
    return promise;
  }

  private mayBypassMain(connectionId: number, apiKey: number): boolean {
    const waiting = this.pending.get(connectionId);
    if (!waiting || waiting.size === 0) return true;
    if (apiKey !== ApiKey.Produce) return false;
    for (const pending of waiting.values()) if (pending.produce && pending.destination === "main") return false;
    return true;
  }

  /** Registers a request of the connection as in flight to `destination`; null when the connection is gone. */
  private track(connection: Connection, apiKey: number, destination: Destination): { request: number; answer: Promise<ReplyChunks> } | null {
    const waiting = this.pending.get(connection.id);
    if (!waiting) return null;
    const request = this.nextRequest++;
    const { promise, resolve, reject } = Promise.withResolvers<ReplyChunks>();
    waiting.set(request, { resolve, reject, produce: apiKey === ApiKey.Produce, destination, answer: promise });
    return { request, answer: promise };
  }

  /**
   * One frame to the main thread. A fetch first waits for its turn on the write queue, here where the
   * queue is (Connection.waitForWriteRoom must be asked synchronously, as this is). The bytes cross without
   * a copy when they can: a pooled frame is a view of shared memory, an owned buffer is transferred; a frame
   * that shares its read with others is copied once (small requests).
   */
  private toMain(connection: Connection, frame: Frame, apiKey: number, writeRoomTaken = false): Promise<ReplyChunks> {
    // Asked later than synchronously, the write queue would wait for this very request's reply: a fetch that
    // already had its turn (split, or declined by a peer) does not ask again.
    const turn = apiKey === ApiKey.Fetch && !writeRoomTaken ? connection.waitForWriteRoom() : null;
    // A produce follows the connection's produces that peers hold (they may name the same partitions).
    const peerProduces = apiKey === ApiKey.Produce ? this.peerProduces(connection.id) : [];
    const tracked = this.track(connection, apiKey, "main");
    if (!tracked) return Promise.resolve(null); // closed already: nothing was posted
    const { request, answer } = tracked;
    const send = () => {
      if (connection.closed) return this.settle(connection.id, request, null);
      const { payload, transfer } = crossing(frame);
      post({ type: "request", connection: connection.id, request, payload, readMs: frame.readMs ?? 0 }, transfer);
    };
    const previous = this.mainSends.get(connection.id);
    if (!turn && peerProduces.length === 0 && !previous) {
      send();
      return answer;
    }
    const after = Promise.all([previous, turn, ...peerProduces.map((produce) => produce.catch(() => null))]).then(send);
    this.mainSends.set(connection.id, after);
    void after.finally(() => {
      if (this.mainSends.get(connection.id) === after) this.mainSends.delete(connection.id);
    });
    return answer;
  }

  private peerProduces(connectionId: number): Promise<ReplyChunks>[] {
    const waiting = this.pending.get(connectionId);
    if (!waiting) return [];
    const answers: Promise<ReplyChunks>[] = [];
    for (const pending of waiting.values()) if (pending.produce && pending.destination !== "main") answers.push(pending.answer);
    return answers;
  }

  /** One frame to the peer worker that owns its partitions, as to the main thread (the same crossing rules). */
  private toPeer(connection: Connection, frame: Frame, apiKey: number, worker: number): Promise<ReplyChunks> {
    const turn = apiKey === ApiKey.Fetch ? connection.waitForWriteRoom() : null;
    const tracked = this.track(connection, apiKey, worker);
    if (!tracked) return Promise.resolve(null);
    const { request, answer } = tracked;
    const send = () => {
      if (connection.closed) return this.settle(connection.id, request, null);
      this.peerRequests.set(request, { connection, request, frame, apiKey });
      const { payload, transfer } = crossing(frame);
      this.peers.get(worker)!.postMessage({ type: "serve", id: request, payload, readMs: frame.readMs ?? 0 } satisfies PeerMessage, transfer);
    };
    if (turn) turn.then(send);
    else send();
    return answer;
  }

  private onPeerMessage(port: MessagePort, message: PeerMessage): void {
    if (message.type === "serve") return this.servePeer(port, message.id, message.payload, message.readMs);
    if (message.type === "fetchPart") return this.serveFetchPart(port, message.id, message.request, message.apiVersion);
    if (message.type === "fetchPartDone") return this.fetchPartDone(message.id, message.reply, message.failure);
    if (message.type === "watchParts") return this.serveWatch(port, message.id, message.partitions);
    if (message.type === "unwatchParts") return this.unwatchServed(port, message.id);
    if (message.type === "partsAppended") {
      const watch = this.peerWatches.get(message.id);
      this.peerWatches.delete(message.id);
      return watch?.wake();
    }
    const sent = this.peerRequests.get(message.id);
    if (!sent) return;
    this.peerRequests.delete(message.id);
    const { connection, request, apiKey } = sent;
    if (message.declined) {
      // The peer could not answer it after all (its partitions changed meanwhile): the main thread does, with
      // the bytes the peer handed back. The request keeps its place; only its destination changes.
      const frame: Frame = { ...sent.frame, payload: message.payload ?? sent.frame.payload, ownsBuffer: message.payload ? !(message.payload.buffer instanceof SharedArrayBuffer) : sent.frame.ownsBuffer };
      const pending = this.pending.get(connection.id)?.get(request);
      if (!pending) return;
      this.pending.get(connection.id)!.delete(request);
      this.toMain(connection, frame, apiKey, true).then(pending.resolve, pending.reject);
      return;
    }
    if (message.failure !== undefined) return this.settle(connection.id, request, null, message.failure);
    this.reply(connection.id, request, message.chunks);
  }

  /**
   * A peer worker died: its partitions' requests now go to the main thread (which answers storage errors, as
   * for any failed partition worker), and the connections whose requests it held are closed, as the dead
   * thread's own are: their bytes may have gone with it, and the client retries.
   */
  private peerFailed(worker: number): void {
    const port = this.peers.get(worker);
    port?.close();
    this.peers.delete(worker);
    // Its watches on this worker's partitions go; split fetches waiting on it wake, and their next read fails.
    if (port) for (const id of [...(this.servedWatches.get(port)?.keys() ?? [])]) this.unwatchServed(port, id);
    if (port) this.servedWatches.delete(port);
    for (const [id, watch] of [...this.peerWatches]) {
      if (watch.worker !== worker) continue;
      this.peerWatches.delete(id);
      watch.wake();
    }
    for (const [id, sent] of [...this.peerRequests]) {
      const pending = this.pending.get(sent.connection.id)?.get(sent.request);
      if (!pending || pending.destination !== worker) continue;
      this.peerRequests.delete(id);
      this.settle(sent.connection.id, sent.request, null, `listening partition worker ${worker} failed with this request`);
    }
    for (const [id, part] of [...this.peerParts]) {
      if (part.worker !== worker) continue;
      this.peerParts.delete(id);
      part.reject(new Error(`listening partition worker ${worker} failed with a fetch part`));
    }
  }

  private serveFetchPart(port: MessagePort, id: number, request: FetchRequest, apiVersion: number): void {
    const answer = this.local ? this.local.fetchPart(request, apiVersion, this.views) : Promise.reject(new Error("not a listening partition worker"));
    answer.then(
      (reply) => port.postMessage({ type: "fetchPartDone", id, reply: withRecords(reply, (records) => (records instanceof Uint8Array ? records : fileRange(records as MappedRecords))) } satisfies PeerMessage),
      (error: unknown) => port.postMessage({ type: "fetchPartDone", id, reply: null, failure: error instanceof Error ? error.message : String(error) } satisfies PeerMessage),
    );
  }

  private fetchPartDone(id: number, reply: Input<FetchResponse> | null, failure: string | undefined): void {
    const part = this.peerParts.get(id);
    if (!part) return;
    this.peerParts.delete(id);
    if (!reply) return part.reject(new Error(failure ?? "no answer"));
    try {
      part.resolve(withRecords(reply, (records) => (records instanceof Uint8Array ? records : mapFileRange(records as FileRange, this.views, `shard ${this.shard}`))));
    } catch (error) {
      part.reject(error instanceof Error ? error : new Error(String(error)));
    }
  }

  /** A peer's request for partitions this worker owns: answered here, or handed back (declined) with its bytes. */
  private servePeer(port: MessagePort, id: number, payload: Uint8Array, readMs: number): void {
    const frame: Frame = { payload, ownsBuffer: !(payload.buffer instanceof SharedArrayBuffer), pooled: null, chargedBytes: 0, readMs };
    let answer: Promise<ReplyChunks> | null;
    try {
      answer = this.local?.servePeer(frame, this.views) ?? null;
    } catch (error) {
      answer = Promise.reject(error);
    }
    if (!answer) {
      const transfer = payload.buffer instanceof SharedArrayBuffer ? [] : [payload.buffer as ArrayBuffer];
      port.postMessage({ type: "served", id, chunks: null, declined: true, payload } satisfies PeerMessage, transfer);
      return;
    }
    answer.then(
      (chunks) => {
        const { chunks: posted, transfer } = replyForThread(chunks);
        port.postMessage({ type: "served", id, chunks: posted, declined: false } satisfies PeerMessage, transfer);
      },
      (error: unknown) => port.postMessage({ type: "served", id, chunks: null, declined: false, failure: error instanceof Error ? error.message : String(error) } satisfies PeerMessage),
    );
  }

  private settle(connectionId: number, request: number, chunks: ReplyChunks, failure?: string): void {
    const waiting = this.pending.get(connectionId);
    const pending = waiting?.get(request);
    if (!pending) return;
    waiting!.delete(request);
    if (waiting!.size === 0 && !this.connections.has(connectionId)) this.pending.delete(connectionId);
    if (failure !== undefined) pending.reject(new Error(failure));
    else pending.resolve(chunks);
  }

  onMessage(message: ToShard): void {
    switch (message.type) {
      case "reply":
        this.reply(message.connection, message.request, message.chunks);
        return;
      case "close":
        this.connections.get(message.connection)?.close();
        return;
      case "closeAll":
        for (const connection of [...this.connections.values()]) connection.close();
        return;
      case "mute":
        this.connections.get(message.connection)?.mute(message.ms);
        return;
      case "fileTransfer":
        this.connections.get(message.connection)?.useFileTransfer(message.mode);
        return;
      case "interBroker": {
        const connection = this.connections.get(message.connection);
        if (connection) connection.interBroker = true;
        return;
      }
      case "authenticated":
        this.connections.get(message.connection)?.onAuthenticated();
        return;
      case "stopListening":
        for (const server of this.servers) server.stop(message.closeActive);
        if (message.closeActive) for (const connection of this.connections.values()) connection.close();
        return;
      case "drainAndClose":
        void this.drainAndClose(message.timeoutMs);
        return;
      case "crash":
        setTimeout(() => {
          throw new Error(`shard ${this.shard}: crash requested (fault)`);
        }, 0);
        return;
      case "peerFailed":
        this.peerFailed(message.worker);
        return;
      case "start":
      case "partitions": // a listening partition worker's (owner-shard-thread.ts)
        return;
    }
  }

  /** Turns file ranges back into mapped records of this thread; a file gone or replaced meanwhile closes the connection. */
  private reply(connectionId: number, request: number, chunks: readonly ReplyChunk[] | null): void {
    if (chunks === null) return this.settle(connectionId, request, null);
    let local: (Uint8Array | MappedRecords)[];
    try {
      local = mapReply(chunks, this.views, `shard ${this.shard}`);
    } catch (error) {
      return this.settle(connectionId, request, null, error instanceof Error ? error.message : String(error));
    }
    this.settle(connectionId, request, local);
  }

  private reportSendTimes(): void {
    if (this.sendTimes.length === 0) return;
    post({ type: "sent", times: this.sendTimes });
    this.sendTimes = [];
  }

  private sweep(): void {
    const nowMs = Date.now();
    for (const connection of this.connections.values()) {
      const reason = connection.expired(nowMs);
      if (reason) connection.close(reason);
    }
    if (producePool.trimIdle(nowMs, PRODUCE_POOL_IDLE_MS, PRODUCE_POOL_KEEP_WARM_BYTES) >= BLOCK_BYTES_MAX) Bun.gc(true);
  }

  private async drainAndClose(timeoutMs: number): Promise<void> {
    for (const server of this.servers) server.stop(false);
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline && [...this.connections.values()].some((connection) => !connection.idle)) await Bun.sleep(10);
    for (const connection of this.connections.values()) connection.close();
    for (const server of this.servers) server.stop(true);
    clearInterval(this.sweepTimer);
    post({ type: "drained" });
  }
}

/** A fetch answer with each partition's records replaced (file ranges to cross threads, mapped records after). */
function withRecords(reply: Input<FetchResponse>, convert: (records: MappedRecords | Uint8Array | FileRange) => unknown): Input<FetchResponse> {
  return {
    ...reply,
    responses: (reply.responses ?? []).map((topic) => ({
      ...topic,
      partitions: (topic.partitions ?? []).map((partition) => (partition.records ? { ...partition, records: convert(partition.records as MappedRecords | Uint8Array | FileRange) as MappedRecords } : partition)),
    })),
  };
}

/**
 * A frame's bytes for another thread, without a copy when they can: a pooled frame is a view of shared memory,
 * an owned buffer is transferred; a frame that shares its read with others is copied once (small requests).
 */
function crossing(frame: Frame): { payload: Uint8Array; transfer: ArrayBuffer[] } {
  const payload = frame.payload;
  if (payload.buffer instanceof SharedArrayBuffer) return { payload, transfer: [] };
  if (frame.ownsBuffer && payload.byteOffset === 0 && payload.byteLength === payload.buffer.byteLength) return { payload, transfer: [payload.buffer as ArrayBuffer] };
  // Not payload.slice(): on a Buffer (what Bun's socket hands us) slice() is a view of the whole read.
  const copy = Uint8Array.prototype.slice.call(payload) as Uint8Array;
  return { payload: copy, transfer: [copy.buffer as ArrayBuffer] };
}

export function post(message: FromShard, transfer: ArrayBuffer[] = []): void {
  self.postMessage(message, transfer);
}

export function log(message: string): void {
  post({ type: "log", message });
}

/** The "start" message: joins the socket thread's shared counters and listens. Null when listening failed (reported). */
export function startNetworkShard(message: Extract<ToShard, { type: "start" }>, local: LocalRequests | null = null): NetworkShard | null {
  try {
    for (const [name, value] of Object.entries(message.environment)) {
      if (value === undefined) delete process.env[name];
      else process.env[name] = value;
    }
    fileTransferCounters.joinAs(message.counters.fileTransfer, message.shard);
    writeQueueCounters.joinAs(message.counters.writeQueue, message.shard);
    const shard = new NetworkShard(message.shard, message.listeners, message.limits, message.budget, message.segmentViewsMax, local, message.peers ?? []);
    post({ type: "listening" });
    return shard;
  } catch (error) {
    post({ type: "listenFailed", reason: error instanceof Error ? error.message : String(error) });
    return null;
  }
}

/** Settles when `woken` does or after `ms`, whichever is first, leaving no timer behind. */
function wokenOrTimedOut(woken: Promise<void>, ms: number): Promise<void> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timedOut = new Promise<void>((resolve) => (timer = setTimeout(resolve, Math.max(0, ms))));
  return Promise.race([woken, timedOut]).finally(() => clearTimeout(timer));
}
