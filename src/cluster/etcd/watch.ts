// A prefix watch over the gateway's streaming /v3/watch: one long-lived POST whose body carries one
// create_request; etcd answers with a stream of {"result": WatchResponse} lines. When the stream breaks
// (etcd restarted, connection cut) the watch reconnects and asks for `nextRevision`, the revision after
// the last event it delivered, so the caller sees every event exactly once and in order. If that revision
// was compacted meanwhile, etcd cancels the watch with compact_revision set; then the caller re-lists
// (onResync) and the watch continues after the listing's revision.
//
// Resuming from the last *event* is deliberate: when etcd replays history it batches events and stamps the
// response header with the current store revision even if more batches follow, so the header revision is
// not proof that everything up to it was delivered.
import { EtcdError, isStaleTokenReason } from "./errors.ts";
import { decodeKeyValue, int64, int64String, prefixRange, type KeyValue, type RawHeader, type RawKeyValue } from "./gateway-json.ts";
import { streamError, type GatewayTransport, type StreamErrorBody } from "./gateway-transport.ts";
import { readJsonLines } from "./json-lines.ts";

export interface WatchEvent {
  type: "put" | "delete";
  /** For a delete: the key, with modRevision = the revision of the delete, and no value. */
  kv: KeyValue;
  /** Present only if the watch asked for prevKv and etcd still had it. */
  prevKv?: KeyValue;
}

export interface WatchOptions {
  /** First revision to deliver (inclusive); usually a listing's revision + 1. */
  startRevision: number;
  /** Ask etcd to attach each event's previous key-value. */
  prevKv?: boolean;
  /**
   * Events of one or more whole revisions, in revision order; `revision` is the modRevision of the last
   * one: everything up to it has been delivered. Awaited before the next batch is read.
   * If it throws, the watch stops and reports the error through onError.
   */
  onEvents(events: WatchEvent[], revision: number): void | Promise<void>;
  /**
   * The revision the watch needed was compacted: events were lost. Re-list the prefix and return the
   * listing's revision; the watch continues from that revision + 1. Without onResync the watch stops
   * with an EtcdError of kind "compacted".
   */
  onResync?(): Promise<number>;
  /** The watch stopped for good (not after cancel()): retries exhausted, compaction without onResync, or onEvents threw. */
  onError?(error: Error): void;
}

export interface WatchLimits {
  /** Bound on getting response headers and the "created" answer for each (re)connection. */
  connectTimeoutMs: number;
  reconnectDelayMsMin: number;
  reconnectDelayMsMax: number;
  /** Consecutive failed (re)connections before the watch gives up and calls onError. */
  reconnectAttemptsMax: number;
  /**
   * A stream on which nothing arrived for this long is re-created. The gateway sends no heartbeats, so on a
   * quiet prefix this is a routine reconnect; it also bounds how long a half-open connection goes unnoticed.
   */
  idleTimeoutMs: number;
  /** Bound on one streamed message. */
  messageBytesMax: number;
  log?: (line: string) => void;
}

interface RawWatchResponse {
  header?: RawHeader;
  watch_id?: string;
  created?: boolean;
  canceled?: boolean;
  compact_revision?: string;
  cancel_reason?: string;
  events?: RawEvent[];
}

interface RawEvent {
  type?: "PUT" | "DELETE";
  kv?: RawKeyValue;
  prev_kv?: RawKeyValue;
}

/** Stops the watch for good, with `error` for onError. */
class Terminal {
  constructor(readonly error: Error) {}
}

export class Watch {
  private readonly abort = new AbortController();
  private next: number;
  /** Consecutive connections that failed or did not last; reset by delivered events or a stream that lasted. */
  private failures = 0;
  private reconnects = 0;
  /** performance.now() when the current stream was created, null before. */
  private createdAtMs: number | null = null;
  /** Resolves when the watch has stopped (cancel() or a terminal error). Never rejects. */
  readonly done: Promise<void>;

  constructor(
    private readonly transport: GatewayTransport,
    readonly prefix: string,
    private readonly options: WatchOptions,
    private readonly limits: WatchLimits,
  ) {
    int64String(options.startRevision, "startRevision");
    if (options.startRevision < 1) throw new RangeError(`watch startRevision must be >= 1, got ${options.startRevision}`);
    this.next = options.startRevision;
    this.done = this.run();
  }

  /** The next revision this watch will deliver. */
  get nextRevision(): number {
    return this.next;
  }

  /** How many times the stream was re-established after the first connection. */
  get reconnectCount(): number {
    return this.reconnects;
  }

  get canceled(): boolean {
    return this.abort.signal.aborted;
  }

  cancel(): void {
    this.abort.abort(new EtcdError(`watch ${this.prefix} canceled`, "canceled"));
  }

  private async run(): Promise<void> {
    let connections = 0;
    while (!this.abort.signal.aborted) {
      if (connections++ > 0) this.reconnects++;
      try {
        await this.streamOnce();
        if (this.abort.signal.aborted) return;
        this.countFailure();
        this.limits.log?.(`etcd watch ${this.prefix}: stream ended; resuming from revision ${this.next}`);
      } catch (error) {
        if (this.abort.signal.aborted) return;
        if (error instanceof Terminal) return this.fail(error.error);
        if (error === RESYNCED) continue;
        this.countFailure();
        const reason = error instanceof Error ? error.message : String(error);
        this.limits.log?.(`etcd watch ${this.prefix}: ${reason}; resuming from revision ${this.next} (attempt ${this.failures} of ${this.limits.reconnectAttemptsMax})`);
      }
      if (this.failures >= this.limits.reconnectAttemptsMax) {
        return this.fail(new EtcdError(`watch ${this.prefix}: gave up after ${this.failures} failed connections, at revision ${this.next}`, "unreachable"));
      }
      await sleep(this.backoffMs(), this.abort.signal);
    }
  }

  /**
   * A stream that was created and lasted at least connectTimeoutMs was healthy: the count starts over.
   * One that is created and then drops at once still counts, so a flapping etcd cannot keep us looping.
   */
  private countFailure(): void {
    if (this.createdAtMs !== null && performance.now() - this.createdAtMs >= this.limits.connectTimeoutMs) this.failures = 0;
    this.failures++;
  }

  private fail(error: Error): void {
    this.abort.abort(error);
    this.options.onError?.(error);
  }

  private backoffMs(): number {
    const { reconnectDelayMsMin: min, reconnectDelayMsMax: max } = this.limits;
    const exponential = Math.min(max, min * 2 ** Math.min(this.failures - 1, 20));
    // Jitter, so that brokers that lost etcd together do not come back in lockstep.
    return Math.round(exponential * (0.8 + Math.random() * 0.4));
  }

  /** One connection: returns when the stream ends, throws on errors; RESYNCED after a compaction re-list. */
  private async streamOnce(): Promise<void> {
    const connection = new AbortController();
    const onAbort = () => connection.abort(this.abort.signal.reason);
    this.abort.signal.addEventListener("abort", onAbort, { once: true });
    // progress_notify: etcd then sends an empty response now and then (every 10 minutes by default in 3.4),
    // which keeps the idle timer from firing on servers configured with a shorter interval.
    const createRequest: Record<string, unknown> = { ...prefixRange(this.prefix), start_revision: String(this.next), progress_notify: true };
    if (this.options.prevKv) createRequest.prev_kv = true;
    let createdTimer: ReturnType<typeof setTimeout> | undefined;
    this.createdAtMs = null;
    try {
      const { response, endpoint, token } = await this.transport.openStream("/v3/watch", { create_request: createRequest }, connection.signal, this.limits.connectTimeoutMs, this.limits.idleTimeoutMs);
      const timeout = new EtcdError(`watch ${this.prefix} at ${endpoint}: not created in ${this.limits.connectTimeoutMs} ms`, "timeout", null, null, endpoint);
      createdTimer = setTimeout(() => connection.abort(timeout), this.limits.connectTimeoutMs);
      if (!response.body) throw new EtcdError(`watch ${this.prefix} at ${endpoint}: response has no body`, "protocol", null, null, endpoint);
      for await (const message of readJsonLines<{ result?: RawWatchResponse; error?: StreamErrorBody }>(response.body, this.limits.messageBytesMax, endpoint)) {
        if (message.error) throw streamError(message.error, endpoint);
        const result = message.result;
        if (!result) throw new EtcdError(`watch ${this.prefix} at ${endpoint}: message without result`, "protocol", null, null, endpoint);
        if (result.created) {
          clearTimeout(createdTimer);
          this.createdAtMs = performance.now();
        }
        if (result.canceled) await this.onCanceled(result, endpoint, token);
        if (result.events && result.events.length > 0) await this.deliver(result.events);
      }
      if (connection.signal.aborted && !this.abort.signal.aborted) throw connection.signal.reason;
    } catch (error) {
      // Our own "not created in time" abort surfaces from fetch as a bare AbortError: report the reason.
      if (connection.signal.aborted && !this.abort.signal.aborted && connection.signal.reason instanceof EtcdError) throw connection.signal.reason;
      throw error;
    } finally {
      clearTimeout(createdTimer);
      this.abort.signal.removeEventListener("abort", onAbort);
      connection.abort();
    }
  }

  private async onCanceled(result: RawWatchResponse, endpoint: string, token: string | null): Promise<never> {
    const compactRevision = int64(result.compact_revision, "compact_revision");
    const reason = result.cancel_reason ?? "";
    // etcd checks the token when the watch is created: a stale one (expired while the stream ran, or etcd
    // restarted) cancels the new watch. Log in again and reconnect, counted like any failed connection.
    if (compactRevision <= 0 && token !== null && isStaleTokenReason(reason)) {
      this.transport.forgetToken(token, reason);
      throw new EtcdError(`watch ${this.prefix} at ${endpoint}: ${reason}`, "server", null, null, endpoint);
    }
    if (compactRevision <= 0) {
      throw new Terminal(new EtcdError(`watch ${this.prefix} canceled by etcd at ${endpoint}: ${result.cancel_reason ?? "no reason given"}`, "canceled", null, null, endpoint));
    }
    const compacted = new EtcdError(
      `watch ${this.prefix}: revision ${this.next} was compacted (etcd keeps revisions from ${compactRevision})`,
      "compacted",
      null,
      null,
      endpoint,
    );
    if (!this.options.onResync) throw new Terminal(compacted);
    this.limits.log?.(`${compacted.message}; re-listing`);
    let revision: number;
    try {
      revision = await this.options.onResync();
    } catch (error) {
      throw new Terminal(error instanceof Error ? error : new Error(String(error)));
    }
    // A listing older than the compaction would be compacted again: refuse rather than loop.
    if (!Number.isSafeInteger(revision) || revision + 1 < compactRevision) {
      throw new Terminal(new EtcdError(`watch ${this.prefix}: onResync returned revision ${revision}, below the compaction at ${compactRevision}`, "compacted"));
    }
    this.next = revision + 1;
    throw RESYNCED;
  }

  private async deliver(rawEvents: RawEvent[]): Promise<void> {
    const events: WatchEvent[] = [];
    for (const raw of rawEvents) {
      if (!raw.kv) throw new EtcdError(`watch ${this.prefix}: event without kv`, "protocol");
      const kv = decodeKeyValue(raw.kv);
      // Never deliver a revision twice, whatever a resumed stream replays.
      if (kv.modRevision < this.next) continue;
      const event: WatchEvent = { type: raw.type === "DELETE" ? "delete" : "put", kv };
      if (raw.prev_kv) event.prevKv = decodeKeyValue(raw.prev_kv);
      events.push(event);
    }
    if (events.length === 0) return;
    const revision = events[events.length - 1]!.kv.modRevision;
    try {
      await this.options.onEvents(events, revision);
    } catch (error) {
      throw new Terminal(error instanceof Error ? error : new Error(String(error)));
    }
    this.next = revision + 1;
    this.failures = 0;
  }
}

/** Thrown after a successful re-list: reconnect at once, not counted as a failure. */
const RESYNCED = Symbol("resynced");

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const timer = setTimeout(done, ms);
    function done() {
      clearTimeout(timer);
      signal.removeEventListener("abort", done);
      resolve();
    }
    signal.addEventListener("abort", done, { once: true });
  });
}
