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
import type { FromShard, ReplyChunk, SharedBudget, ShardListener, ToShard } from "./messages.ts";

declare const self: Worker;

/** What a shard tells its local answers about a request's connection and itself. */
export interface LocalRequestContext {
  /** This thread's mappings of segment files (fetch data is written from them). */
  readonly views: SegmentViews;
  /** A produce of this connection is still with the main thread. */
  readonly forwardedProduce: boolean;
  /** Any request of this connection is still with the main thread. */
  readonly forwardedAny: boolean;
}

/** Requests a shard may answer in its own thread (a listening partition worker's produce and fetch for its partitions). */
export interface LocalRequests {
  /** The reply, or null when this request must go to the main thread. Decided synchronously. */
  serve(connection: Connection, frame: Frame, context: LocalRequestContext): Promise<ReplyChunks> | null;
}

interface PendingRequest {
  resolve: (chunks: ReplyChunks) => void;
  reject: (error: Error) => void;
  produce: boolean;
}

export class NetworkShard {
  private readonly servers: TCPSocketListener<Connection | undefined>[] = [];
  private readonly connections = new Map<number, Connection>();
  /** Requests posted to the main thread, by connection id then request number. */
  private readonly pending = new Map<number, Map<number, PendingRequest>>();
  private nextRequest = 1;
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
  ) {
    this.views = new SegmentViews(segmentViewsMax);
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
   * One frame to the main thread. A fetch first waits for its turn on the write queue, here where the
   * queue is (Connection.waitForWriteRoom must be asked synchronously, as this is). The bytes cross without
   * a copy when they can: a pooled frame is a view of shared memory, an owned buffer is transferred; a frame
   * that shares its read with others is copied once (small requests).
   */
  private forward(connection: Connection, frame: Frame): Promise<ReplyChunks> {
    const payload = frame.payload;
    const apiKey = payload.byteLength >= 2 ? (payload[0]! << 8) | payload[1]! : -1;
    if (this.local && (apiKey === ApiKey.Produce || apiKey === ApiKey.Fetch)) {
      const served = this.local.serve(connection, frame, { views: this.views, ...this.forwardedKinds(connection.id) });
      if (served) return served;
    }
    const turn = apiKey === ApiKey.Fetch ? connection.waitForWriteRoom() : null;
    const request = this.nextRequest++;
    const waiting = this.pending.get(connection.id);
    if (!waiting) return Promise.resolve(null); // closed already: nothing was posted
    const answer = new Promise<ReplyChunks>((resolve, reject) => waiting.set(request, { resolve, reject, produce: apiKey === ApiKey.Produce }));
    const send = () => {
      if (connection.closed) return this.settle(connection.id, request, null);
      if (payload.buffer instanceof SharedArrayBuffer) {
        post({ type: "request", connection: connection.id, request, payload, readMs: frame.readMs ?? 0 });
      } else if (frame.ownsBuffer && payload.byteOffset === 0 && payload.byteLength === payload.buffer.byteLength) {
        post({ type: "request", connection: connection.id, request, payload, readMs: frame.readMs ?? 0 }, [payload.buffer as ArrayBuffer]);
      } else {
        // Not payload.slice(): on a Buffer (what Bun's socket hands us) slice() is a view of the whole read.
        const copy = Uint8Array.prototype.slice.call(payload) as Uint8Array;
        post({ type: "request", connection: connection.id, request, payload: copy, readMs: frame.readMs ?? 0 }, [copy.buffer as ArrayBuffer]);
      }
    };
    if (turn) turn.then(send);
    else send();
    return answer;
  }

  /** Requests of the connection still with the main thread: local answers must not overtake them (local-produce.ts, local-fetch.ts). */
  private forwardedKinds(connectionId: number): { forwardedProduce: boolean; forwardedAny: boolean } {
    const waiting = this.pending.get(connectionId);
    if (!waiting || waiting.size === 0) return { forwardedProduce: false, forwardedAny: false };
    for (const pending of waiting.values()) if (pending.produce) return { forwardedProduce: true, forwardedAny: true };
    return { forwardedProduce: false, forwardedAny: true };
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
      case "start":
      case "partitions": // a listening partition worker's (owner-shard-thread.ts)
        return;
    }
  }

  /** Turns file ranges back into mapped records of this thread; a file gone or replaced meanwhile closes the connection. */
  private reply(connectionId: number, request: number, chunks: readonly ReplyChunk[] | null): void {
    if (chunks === null) return this.settle(connectionId, request, null);
    const local: (Uint8Array | MappedRecords)[] = [];
    for (const chunk of chunks) {
      if (chunk instanceof Uint8Array) {
        local.push(chunk);
        continue;
      }
      let records: MappedRecords | null;
      try {
        records = this.views.records({ ...chunk, firstOffset: 0 });
      } catch (error) {
        return this.settle(connectionId, request, null, error instanceof Error ? error.message : String(error));
      }
      // The main thread had it mapped; a cleaner swap, a follower truncation or retention can replace or
      // remove the path before this thread maps it. The reply cannot be completed: the client fetches again.
      if (!records) return this.settle(connectionId, request, null, `${chunk.path} was replaced or removed before shard ${this.shard} mapped it`);
      local.push(records);
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
    const shard = new NetworkShard(message.shard, message.listeners, message.limits, message.budget, message.segmentViewsMax, local);
    post({ type: "listening" });
    return shard;
  } catch (error) {
    post({ type: "listenFailed", reason: error instanceof Error ? error.message : String(error) });
    return null;
  }
}
