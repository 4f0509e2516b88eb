// The main thread's side of the network shards (num.network.shards; shard-thread.ts). The main thread is
// shard 0: it keeps its own listeners and connections (connection.ts) exactly as with one shard, bound with
// SO_REUSEPORT so that the kernel hands each new connection to one of the listening threads. Shards 1..N-1
// are worker threads listening on the same ports. For each of their connections the main thread keeps a
// ShardConnection: what the dispatcher and the handlers see (principal, SASL state, quotas' mute), while
// the socket, framing, reply order and the write queue stay in the shard. Every request is handled here,
// once, like a request of the main thread's own connections; its reply goes back as heap bytes
// (transferred) and file ranges the shard writes from its own mapping of the segment.
import type { ListenerIdentity, ConnectionSecurity } from "../../security/principal.ts";
import { ANONYMOUS_PRINCIPAL, isSaslProtocol } from "../../security/principal.ts";
import { writeQueueCounters, type ConnectionLimits, type ReplyChunks } from "../connection.ts";
import { fileTransferCounters, fileTransferMode } from "../sendfile.ts";
import type { DispatchedConnection } from "../dispatch.ts";
import type { Frame } from "../frame-reader.ts";
import { receiveMessageOnPort } from "node:worker_threads";
import { replyForThread } from "./reply-chunks.ts";
import { MAIN_WAITING, WAKE_POSTED, newNoticeCell } from "./notice-wakes.ts";
import { LEADERSHIP_GENERATION, LOCAL_CELLS, LOCAL_FLAGS } from "./local-view.ts";
import type { AppendedItem, AppendedNotice, FetchedNotice, FromShard, LocalPartitions, ReplyChunk, SharedBudget, ShardListener, ToShard } from "./messages.ts";
import type { ProduceResult } from "../../partition/messages.ts";
import type { RequestTrace } from "../../api/context.ts";

/** How often the main thread takes listening workers' notices when no request of its own did (ms). */
const NOTICE_CATCH_UP_MS = 100;

/** What the broker lends the shards: admission, the dispatcher, the budget and the send-time metric. */
export interface ShardHost {
  dispatch(connection: DispatchedConnection, frame: Frame): Promise<ReplyChunks>;
  /** max.connections / max.connections.per.ip and the refuse-connections fault; false: close it at once. */
  admit(remoteIp: string): { admitted: boolean; interBroker?: boolean };
  release(remoteIp: string): void;
  /** A reply's last byte was taken by the socket, `seconds` after it was answered (the response send time metric). */
  sent(apiKey: number, seconds: number): void;
  /** A request's stage timings once it is answered (no send time: the shard writes the reply). */
  traced(trace: RequestTrace): void;
  /**
   * A listening partition worker appended and answered a produce itself (local-produce.ts): record the
   * offsets, move the high watermark, wake long polls and count it, as after an append asked for here.
   */
  appended(items: readonly AppendedItem[], results: readonly ProduceResult[], seconds: number, trace: RequestTrace, commit: AwaitedCommit | null): void;
  /** A listening partition worker answered a consumer's fetch itself (local-fetch.ts): count it. */
  fetched(notice: FetchedNotice): void;
  /** Shard `shard` died: what it had charged to the request budget went with its connections. */
  shardFailed(shard: number): void;
  log(message: string): void;
}

/** An acks=all produce a listening worker appended in a cluster: `done` once the ISR has every record (or with the error), within `timeoutMs`. */
export interface AwaitedCommit {
  readonly timeoutMs: number;
  done(errorCodes: readonly number[]): void;
}

/** Per-shard figures (/metrics, tests: every shard served some connections). */
export interface ShardStats {
  shard: number;
  alive: boolean;
  connections: number;
  connectionsAccepted: number;
  requests: number;
  /** Of those, produce and fetch requests a listening partition worker answered itself, without the main thread. */
  localRequests: number;
  /** localRequests split by API: a share of all produces or of all fetches needs them apart. */
  localProduces: number;
  localFetches: number;
  /** Wake-ups a listening worker posted for its notices (only while a long poll of the main thread waits: notice-wakes.ts). */
  noticeWakeUps: number;
}

/**
 * The entry of a partition worker that also listens (partition.workers.listen), for PartitionWorkers to start.
 * Beside shard-thread.ts, as a compiled binary's entries are (scripts/build.ts).
 */
export const OWNER_SHARD_THREAD_URL = new URL("./owner-shard-thread.ts", import.meta.url).href;

/** Connection ids of shard connections, distinct from the main thread's (those count up from 1). */
let nextShardConnectionId = 1_000_000_000;

/** A connection a shard holds, as the main thread's request handling sees it. */
export class ShardConnection implements DispatchedConnection {
  readonly id = nextShardConnectionId++;
  readonly security: ConnectionSecurity;
  closed = false;
  /** Requests dispatched and not answered yet (the shutdown drain waits for none). */
  inFlight = 0;

  constructor(
    private readonly shard: ShardThread,
    readonly shardConnectionId: number,
    readonly remoteIp: string,
    readonly remotePort: number | undefined,
    listener: ListenerIdentity,
  ) {
    this.security = { listener, principal: ANONYMOUS_PRINCIPAL, authenticated: !isSaslProtocol(listener.securityProtocol) };
  }

  get remoteAddress(): string {
    return `${this.remoteIp}:${this.remotePort ?? "?"}`;
  }

  get shardIndex(): number {
    return this.shard.index;
  }

  /** The shard waits for the write queue before it sends a fetch here (shard-thread.ts forward). */
  waitForWriteRoom(): null {
    return null;
  }

  mute(ms: number): void {
    if (!this.closed && ms > 0) this.shard.post({ type: "mute", connection: this.shardConnectionId, ms });
  }

  onAuthenticated(): void {
    if (!this.closed) this.shard.post({ type: "authenticated", connection: this.shardConnectionId });
  }

  /** Logged here, before the shard closes the socket: whoever sees the close finds the line already written. */
  close(reason?: string): void {
    if (this.closed) return;
    this.closed = true;
    if (reason) this.shard.log(`closing connection ${this.id} from ${this.remoteAddress} (network shard ${this.shard.index}): ${reason}`);
    this.shard.post({ type: "close", connection: this.shardConnectionId });
  }

  get idle(): boolean {
    return this.inFlight === 0;
  }
}

/** One shard worker thread and the connections it holds. */
class ShardThread {
  private readonly worker: Worker;
  readonly connections = new Map<number, ShardConnection>();
  alive = true;
  connectionsAccepted = 0;
  requests = 0;
  localRequests = 0;
  localProduces = 0;
  localFetches = 0;
  noticeWakeUps = 0;
  private readonly started = Promise.withResolvers<void>();
  /** A listening partition worker's append notices (messages.ts AppendedNotice); null for a plain shard. */
  private readonly notices: MessagePort | null = null;
  private noticesPeer: MessagePort | null = null;
  /** With `notices`: wake-ups the worker posts while the main thread waits (notice-wakes.ts), and the cell it reads. */
  private readonly wakes: MessagePort | null = null;
  private wakesPeer: MessagePort | null = null;
  readonly noticeCell = newNoticeCell();
  /** A listening partition worker's ports to the other workers, by worker index, until start() hands them over. */
  peerPorts: (MessagePort | null)[] = [];
  private drained: PromiseWithResolvers<void> | null = null;

  constructor(
    readonly index: number,
    private readonly listeners: readonly ShardListener[],
    private readonly host: ShardHost,
    private readonly onCrash: (shard: ShardThread, reason: string) => void,
    /** A partition worker that also listens (partition.workers.listen): PartitionWorkers owns the thread. */
    private readonly partitionWorker: { thread: Worker; workers: number; flags: Int32Array } | null,
  ) {
    if (partitionWorker) {
      // Its partition replies go to PartitionWorkers' handler on the same thread; each side ignores the other's messages.
      this.worker = partitionWorker.thread;
      const channel = new MessageChannel();
      this.notices = channel.port1;
      this.noticesPeer = channel.port2;
      // No listener on `notices`: the main thread takes them itself (drainNotices), and is woken only by `wakes`.
      const wakes = new MessageChannel();
      this.wakes = wakes.port1;
      this.wakesPeer = wakes.port2;
      this.wakes.onmessage = () => {
        this.noticeWakeUps++;
        Atomics.store(this.noticeCell, WAKE_POSTED, 0);
        this.drainNotices();
      };
      this.worker.addEventListener("message", (event: MessageEvent<FromShard>) => this.onMessage(event.data));
      this.worker.addEventListener("error", (event: ErrorEvent) => this.crashed(event.message));
    } else {
      this.worker = new Worker(new URL("./shard-thread.ts", import.meta.url).href);
      this.worker.onmessage = (event: MessageEvent<FromShard>) => this.onMessage(event.data);
      this.worker.onerror = (event) => this.crashed(event.message);
    }
  }

  start(limits: ConnectionLimits, budget: SharedBudget, segmentViewsMax: number): Promise<void> {
    const counters = { fileTransfer: fileTransferCounters.shared, writeQueue: writeQueueCounters.shared };
    const environment = { BUNKA_FETCH_TRANSFER: process.env.BUNKA_FETCH_TRANSFER, BUNKA_NATIVE: process.env.BUNKA_NATIVE };
    const notices = this.noticesPeer ?? undefined;
    const wakes = this.wakesPeer ?? undefined;
    this.noticesPeer = null;
    this.wakesPeer = null;
    const peers = this.peerPorts;
    this.peerPorts = [];
    const ports = [...(notices ? [notices] : []), ...(wakes ? [wakes] : []), ...peers.filter((port): port is MessagePort => port !== null)];
    const noticeWakes = wakes ? { port: wakes, cell: this.noticeCell } : undefined;
    this.post(
      { type: "start", shard: this.index, listeners: this.listeners, limits, budget, segmentViewsMax, counters, environment, listeningWorkers: this.partitionWorker?.workers, localFlags: this.partitionWorker?.flags, notices, noticeWakes, peers: this.partitionWorker ? peers : undefined },
      ports as unknown as ArrayBuffer[],
    );
    return this.started.promise;
  }

  log(message: string): void {
    this.host.log(message);
  }

  post(message: ToShard, transfer: ArrayBuffer[] = []): void {
    if (this.alive) this.worker.postMessage(message, transfer);
  }

  private onMessage(message: FromShard): void {
    switch (message.type) {
      case "listening":
        this.started.resolve();
        return;
      case "listenFailed":
        this.started.reject(new Error(`network shard ${this.index} could not listen: ${message.reason}`));
        return;
      case "log":
        this.host.log(message.message);
        return;
      case "open":
        this.opened(message.connection, message.listener, message.remoteIp, message.remotePort);
        return;
      case "closed":
        this.closedByPeer(message.connection);
        return;
      case "request":
        this.request(message.connection, message.request, message.payload, message.readMs);
        return;
      case "sent":
        for (let index = 0; index + 1 < message.times.length; index += 2) this.host.sent(message.times[index]!, message.times[index + 1]!);
        return;
      case "drained":
        this.drained?.resolve();
        return;
    }
  }

  private onNotice(notice: AppendedNotice | FetchedNotice): void {
    this.requests++;
    this.localRequests++;
    if (notice.kind === "appended") {
      this.localProduces++;
      const commit = notice.commit;
      const awaited = commit ? { timeoutMs: commit.timeoutMs, done: (errorCodes: readonly number[]) => this.post({ type: "committed", id: commit.id, errorCodes }) } : null;
      this.host.appended(notice.items, notice.results, notice.seconds, notice.trace, awaited);
    } else {
      this.localFetches++;
      this.host.fetched(notice);
    }
  }

  /** Applies every notice the worker has posted so far, now, without waiting for the event loop to deliver them. */
  drainNotices(): void {
    if (!this.notices) return;
    for (let received = receiveMessageOnPort(this.notices); received !== undefined; received = receiveMessageOnPort(this.notices)) {
      this.onNotice(received.message as AppendedNotice | FetchedNotice);
    }
  }

  private opened(id: number, listenerIndex: number, remoteIp: string, remotePort: number | undefined): void {
    const listener = this.listeners[listenerIndex]!;
    const admission = this.host.admit(remoteIp);
    if (!admission.admitted) {
      this.post({ type: "close", connection: id }); // Kafka closes a connection above the limits at once
      return;
    }
    if (admission.interBroker) this.post({ type: "interBroker", connection: id });
    // Decided here, where BUNKA_FETCH_TRANSFER and BUNKA_NATIVE are read for the socket thread's own connections.
    this.post({ type: "fileTransfer", connection: id, mode: fileTransferMode() });
    const connection = new ShardConnection(this, id, remoteIp, remotePort, { name: listener.name, securityProtocol: listener.securityProtocol });
    this.connections.set(id, connection);
    this.connectionsAccepted++;
  }

  private closedByPeer(id: number): void {
    const connection = this.connections.get(id);
    if (!connection) return;
    this.connections.delete(id);
    connection.closed = true;
    this.host.release(connection.remoteIp);
  }

  private request(id: number, request: number, payload: Uint8Array, readMs: number): void {
    const connection = this.connections.get(id);
    // Refused at admission, or closed while the request crossed: nothing to run, but the shard still waits for
    // this answer to give back the frame (every request gets exactly one).
    if (!connection || connection.closed) {
      this.post({ type: "reply", connection: id, request, chunks: null });
      return;
    }
    this.requests++;
    connection.inFlight++;
    // Bytes that crossed as a transferred buffer belong to this thread alone (produce may pass them on to a
    // partition worker); a pooled frame is a view of the shard's shared block, released by the shard after the reply.
    const frame: Frame = { payload, ownsBuffer: !(payload.buffer instanceof SharedArrayBuffer), pooled: null, chargedBytes: 0, readMs };
    this.host.dispatch(connection, frame).then(
      (chunks) => {
        connection.inFlight--;
        if (frame.trace) this.host.traced(frame.trace);
        if (connection.closed) {
          this.post({ type: "reply", connection: id, request, chunks: null });
          return;
        }
        const { chunks: posted, transfer } = replyForThread(chunks);
        this.post({ type: "reply", connection: id, request, chunks: posted }, transfer);
      },
      (error) => {
        connection.inFlight--;
        connection.close(error instanceof Error ? error.message : String(error));
        this.post({ type: "reply", connection: id, request, chunks: null });
      },
    );
  }

  /** The thread died: its sockets went with it. Its connections are dropped here, as a closed socket's are. */
  private crashed(reason: string): void {
    if (!this.alive) return;
    this.alive = false;
    this.started.reject(new Error(`network shard ${this.index} failed before listening: ${reason}`));
    this.started.promise.catch(() => undefined);
    this.worker.terminate(); // closes its listening sockets: new connections go to the other shards
    this.notices?.close();
    this.wakes?.close();
    for (const id of [...this.connections.keys()]) this.closedByPeer(id);
    this.host.shardFailed(this.index);
    this.drained?.resolve();
    this.onCrash(this, reason);
  }

  drainAndClose(timeoutMs: number): Promise<void> {
    if (!this.alive) return Promise.resolve();
    this.drained = Promise.withResolvers<void>();
    this.post({ type: "drainAndClose", timeoutMs });
    return this.drained.promise;
  }

  terminate(): void {
    if (!this.alive) return;
    // A listening partition worker stops only its sockets: its partitions are closed by PartitionWorkers, later.
    if (this.partitionWorker) this.post({ type: "stopListening", closeActive: true });
    this.alive = false;
    if (!this.partitionWorker) this.worker.terminate();
    this.drainNotices();
    this.notices?.close();
    this.wakes?.close();
    for (const id of [...this.connections.keys()]) this.closedByPeer(id);
    this.drained?.resolve();
  }

  /** Test hook (the crash-network-shard fault): the thread throws, as a bug in it would. */
  crash(): void {
    this.post({ type: "crash" });
  }
}

/** Shards 1..count-1 (the main thread is shard 0). */
export class NetworkShards {
  private readonly shards: ShardThread[] = [];
  /** Listening partition workers' flags, in shared memory (setLocalFlags). */
  private readonly localFlags = new Int32Array(new SharedArrayBuffer(LOCAL_CELLS * Int32Array.BYTES_PER_ELEMENT));
  /** Listening partition workers: takes their notices now and then when no request or wait of the main thread does. */
  private catchUpTimer: ReturnType<typeof setInterval> | null = null;
  private readonly listeningWorkers: number;

  /** `partitionWorkers`: the listening partition workers' threads, which are then shards 1..N (count is ignored). */
  constructor(
    count: number,
    listeners: readonly ShardListener[],
    private readonly host: ShardHost,
    partitionWorkers: readonly Worker[] = [],
  ) {
    this.listeningWorkers = partitionWorkers.length;
    const onCrash = (shard: ShardThread, reason: string) => {
      host.log(`network shard ${shard.index} failed: ${reason}; its connections are closed, the other shards go on accepting`);
      if (partitionWorkers.length > 0) for (const other of this.shards) if (other !== shard) other.post({ type: "peerFailed", worker: shard.index - 1 });
    };
    const shardCount = partitionWorkers.length > 0 ? partitionWorkers.length + 1 : count;
    for (let index = 1; index < shardCount; index++) {
      const partitionWorker = partitionWorkers.length > 0 ? { thread: partitionWorkers[index - 1]!, workers: partitionWorkers.length, flags: this.localFlags } : null;
      this.shards.push(new ShardThread(index, listeners, host, onCrash, partitionWorker));
    }
    // Listening partition workers reach each other directly: one channel per pair, a request for another
    // worker's partitions crosses once (network-shard.ts toPeer).
    const workers = partitionWorkers.length;
    for (const shard of this.shards) if (workers > 0) shard.peerPorts = Array.from({ length: workers }, () => null);
    for (let first = 0; first < workers; first++) {
      for (let second = first + 1; second < workers; second++) {
        const channel = new MessageChannel();
        this.shards[first]!.peerPorts[second] = channel.port1;
        this.shards[second]!.peerPorts[first] = channel.port2;
      }
    }
  }

  /**
   * Applies the listening workers' append notices queued so far. Called before the main thread handles any
   * request: whatever a worker acknowledged before the request was sent is then in the offsets it reads.
   */
  drainNotices(): void {
    for (const shard of this.shards) shard.drainNotices();
  }

  /**
   * A long poll of the main thread's own waits (true) or none does any more: while one waits, the listening
   * workers wake the main thread for their notices (notice-wakes.ts). On true the notices queued before the
   * flag was set are taken at once (in a microtask: this is called from inside PartitionWatchers.watch).
   */
  setMainWaiting(waiting: boolean): void {
    for (const shard of this.shards) Atomics.store(shard.noticeCell, MAIN_WAITING, waiting ? 1 : 0);
    if (waiting) queueMicrotask(() => this.drainNotices());
  }

  /** What listening partition workers may answer now (local-view.ts LOCAL_*_FLAG bits); read by them at every request. */
  setLocalFlags(flags: number): void {
    Atomics.store(this.localFlags, LOCAL_FLAGS, flags);
  }

  /** Tells every listening partition worker the topics as they are now (local-view.ts). */
  publishLocalPartitions(partitions: LocalPartitions): void {
    for (const shard of this.shards) shard.post({ type: "partitions", partitions });
  }

  /**
   * A partition led here changed hands (cluster): no worker answers by its snapshot from now on, and no leader
   * append judged by it is written (local-view.ts LEADERSHIP_GENERATION). Called before the change is acted on.
   */
  advanceLeadershipGeneration(): void {
    Atomics.add(this.localFlags, LEADERSHIP_GENERATION, 1);
  }

  leadershipGeneration(): number {
    return Atomics.load(this.localFlags, LEADERSHIP_GENERATION);
  }

  /** Cluster: the high watermarks that moved, to the listening worker that owns them (`worker`: its index). */
  publishHighWatermarks(worker: number, entries: { topic: string; partition: number; highWatermark: number }[]): void {
    this.shards[worker]?.post({ type: "highWatermarks", entries });
  }

  async start(limits: ConnectionLimits, budget: SharedBudget, segmentViewsMax: number): Promise<void> {
    await Promise.all(this.shards.map((shard) => shard.start(limits, budget, segmentViewsMax)));
    // Keeps /metrics' traffic current and the queue short when nothing else takes the notices.
    if (this.listeningWorkers > 0) this.catchUpTimer = setInterval(() => this.drainNotices(), NOTICE_CATCH_UP_MS).unref();
  }

  /** Every connection the shards hold (not the main thread's). */
  *connections(): IterableIterator<ShardConnection> {
    for (const shard of this.shards) yield* shard.connections.values();
  }

  stats(): ShardStats[] {
    this.drainNotices();
    return this.shards.map((shard) => ({ shard: shard.index, alive: shard.alive, connections: shard.connections.size, connectionsAccepted: shard.connectionsAccepted, requests: shard.requests, localRequests: shard.localRequests, localProduces: shard.localProduces, localFetches: shard.localFetches, noticeWakeUps: shard.noticeWakeUps }));
  }

  /** Every shard closes all its connections, those the main thread has not heard of yet included. */
  closeAll(): void {
    for (const shard of this.shards) shard.post({ type: "closeAll" });
  }

  stopListening(closeActive: boolean): void {
    for (const shard of this.shards) shard.post({ type: "stopListening", closeActive });
  }

  async drainAndClose(timeoutMs: number): Promise<void> {
    await Promise.all(this.shards.map((shard) => shard.drainAndClose(timeoutMs)));
    this.terminate();
  }

  terminate(): void {
    if (this.catchUpTimer) clearInterval(this.catchUpTimer);
    this.catchUpTimer = null;
    for (const shard of this.shards) shard.terminate();
  }

  /** The crash-network-shard test hook: false when there is no such live shard. */
  crash(index: number): boolean {
    const shard = this.shards.find((candidate) => candidate.index === index && candidate.alive);
    if (!shard) return false;
    shard.crash();
    return true;
  }
}
