// TEST FIXTURE: an in-process metadata store with etcd's semantics, for embedded clusters in tests
// (src/testing/cluster.ts). Production clusters keep etcd. One store per embedded cluster, shared by its
// brokers in one process; each broker talks to it through its own session (`memory://<store>/<session>`
// as its etcd endpoint), so a test can cut one broker off as if its process had died (disconnect()).
//
// What it keeps from etcd (test/cluster/metadata-store-contract.test.ts runs the same cases against both):
// one store revision bumped once per write (a txn's writes share it, a delete that deletes nothing does not
// bump it); per key createRevision, modRevision, version; txn compares on version / createRevision /
// modRevision / value (a value compare on a missing key fails, as in etcd); leases with etcd's minimum TTL,
// keepalive and revoke, whose keys go with them in one revision; prefix watches that deliver whole
// revisions in order from a start revision, and a compaction that cancels watches resuming below it.
// History is bounded: older revisions are compacted automatically past HISTORY_REVISIONS_MAX.
import { EtcdError, GrpcCode } from "./etcd/errors.ts";
import type { KeyValue } from "./etcd/gateway-json.ts";
import type { MetadataKv, MetadataWatch } from "./etcd/kv.ts";
import type { Compare, Op, OpResponse, TxnRequest, TxnResult } from "./etcd/txn.ts";
import type { WatchEvent, WatchOptions } from "./etcd/watch.ts";

/** etcd's minimum lease TTL with its default election settings (1.5 s rounded up). */
const LEASE_TTL_SECONDS_MIN = 2;
/** Revisions of history kept for watches; older ones are compacted. */
const HISTORY_REVISIONS_MAX = 100_000;
/** Bound on keys in one store: a test cluster's metadata is small; more is a runaway test. */
const KEYS_MAX = 1_000_000;
/** Bound on one value, as etcd's default --max-request-bytes (1.5 MiB). */
const VALUE_BYTES_MAX = 1.5 * 1024 * 1024;
const ENDPOINT_SCHEME = "memory://";

interface StoredKey {
  value: Uint8Array;
  createRevision: number;
  modRevision: number;
  version: number;
  lease: string;
}

interface HistoryEntry {
  revision: number;
  event: WatchEvent;
}

interface Lease {
  id: string;
  ttlSeconds: number;
  expiresAtMs: number;
  timer: ReturnType<typeof setTimeout>;
  keys: Set<string>;
  session: string;
}

const stores = new Map<string, InMemoryMetadataStore>();

/** True when `endpoints` name an in-process store rather than etcd. */
export function isMemoryEndpoint(endpoints: readonly string[]): boolean {
  return endpoints.length > 0 && endpoints[0]!.startsWith(ENDPOINT_SCHEME);
}

/**
 * The session an endpoint `memory://<store>/<session>` names. Fails closed: a broker configured with a
 * memory:// endpoint outside an embedded cluster (no such store in this process) does not start.
 */
export function connectMemoryStore(endpoints: readonly string[]): MetadataKv {
  if (endpoints.length !== 1) throw new Error(`etcd.endpoints: a memory:// endpoint must be the only one, got ${endpoints.join(",")}`);
  const [name, session = "default"] = endpoints[0]!.slice(ENDPOINT_SCHEME.length).split("/");
  const store = stores.get(name ?? "");
  if (!store) throw new Error(`etcd.endpoints: no in-process metadata store named ${JSON.stringify(name)} in this process (memory:// endpoints are for startCluster() in tests; production clusters use etcd)`);
  return store.session(session);
}

export class InMemoryMetadataStore {
  private revisionNow = 1;
  private compactedBelow = 1;
  private readonly keys = new Map<string, StoredKey>();
  private readonly history: HistoryEntry[] = [];
  private readonly leases = new Map<string, Lease>();
  private readonly watchers = new Set<MemoryWatch>();
  private readonly disconnected = new Set<string>();
  private closed = false;

  /** Registers the store under `name` so that brokers can reach it as `memory://<name>/<session>`. */
  constructor(readonly name: string) {
    if (!/^[\w.-]+$/.test(name)) throw new RangeError(`memory store name must be [A-Za-z0-9_.-]+, got ${JSON.stringify(name)}`);
    if (stores.has(name)) throw new Error(`a memory store named ${name} exists already`);
    stores.set(name, this);
  }

  endpoint(session: string): string {
    return `${ENDPOINT_SCHEME}${this.name}/${session}`;
  }

  get revision(): number {
    return this.revisionNow;
  }

  session(name: string): MetadataKv {
    return new MemorySession(this, name);
  }

  /**
   * As if the session's process died: its leases are revoked now (their keys deleted, as etcd does when a
   * lease expires), its watches stop, and its calls fail as unreachable until reconnect().
   */
  disconnect(session: string): void {
    this.disconnected.add(session);
    for (const watch of this.watchers) if (watch.session === session) watch.cancel();
    for (const lease of [...this.leases.values()]) if (lease.session === session) this.revoke(lease.id);
  }

  reconnect(session: string): void {
    this.disconnected.delete(session);
  }

  /** Unregisters the store, stops every lease timer and watch. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    stores.delete(this.name);
    for (const lease of this.leases.values()) clearTimeout(lease.timer);
    this.leases.clear();
    for (const watch of this.watchers) watch.cancel();
  }

  checkReachable(session: string): void {
    if (this.closed || this.disconnected.has(session)) throw new EtcdError(`memory store ${this.name}: session ${session} is disconnected`, "unreachable");
  }

  get(key: string): KeyValue | null {
    const stored = this.keys.get(key);
    return stored ? toKeyValue(key, stored) : null;
  }

  range(key: string, prefix: boolean): KeyValue[] {
    if (!prefix) {
      const one = this.get(key);
      return one ? [one] : [];
    }
    const result: KeyValue[] = [];
    for (const [name, stored] of this.keys) if (name.startsWith(key)) result.push(toKeyValue(name, stored));
    return result.sort((a, b) => compareKeys(a.key, b.key));
  }

  txn(request: TxnRequest): TxnResult {
    const succeeded = request.compare.every((compare) => this.holds(compare));
    const ops = succeeded ? request.success : (request.failure ?? []);
    const writes = ops.filter((op) => op.type !== "get");
    const writtenKeys = new Set<string>();
    for (const op of writes) {
      if (op.type === "put") {
        if (writtenKeys.has(op.key)) throw new EtcdError("etcdserver: duplicate key given in txn request", "server", GrpcCode.INVALID_ARGUMENT);
        writtenKeys.add(op.key);
        if (op.value.byteLength > VALUE_BYTES_MAX) throw new EtcdError("etcdserver: request is too large", "server", GrpcCode.INVALID_ARGUMENT);
        if (op.lease !== undefined && op.lease !== "0" && !this.leases.has(op.lease)) throw new EtcdError("etcdserver: requested lease not found", "server", GrpcCode.NOT_FOUND);
      }
    }
    const newKeys = writes.filter((op) => op.type === "put" && !this.keys.has(op.key)).length;
    if (this.keys.size + newKeys > KEYS_MAX) throw new EtcdError(`memory store ${this.name}: more than ${KEYS_MAX} keys`, "server", GrpcCode.RESOURCE_EXHAUSTED);
    const changes = writes.some((op) => op.type === "put" || this.range(op.key, op.prefix ?? false).length > 0);
    const revision = changes ? this.revisionNow + 1 : this.revisionNow;
    const events: WatchEvent[] = [];
    const responses: OpResponse[] = [];
    for (const op of ops) responses.push(this.apply(op, revision, events));
    if (changes) {
      this.revisionNow = revision;
      this.record(revision, events);
    }
    return { succeeded, revision: this.revisionNow, responses };
  }

  private holds(compare: Compare): boolean {
    const stored = this.keys.get(compare.key);
    if (compare.target === "value") {
      if (!stored) return false;
      return compareResult(Buffer.compare(Buffer.from(stored.value), Buffer.from(compare.value)), compare.op);
    }
    const actual = stored ? { version: stored.version, createRevision: stored.createRevision, modRevision: stored.modRevision }[compare.target] : 0;
    return compareResult(Math.sign(actual - compare.value), compare.op);
  }

  private apply(op: Op, revision: number, events: WatchEvent[]): OpResponse {
    switch (op.type) {
      case "get":
        return { type: "get", revision: this.revisionNow, kvs: this.range(op.key, op.prefix ?? false) };
      case "put": {
        const previous = this.keys.get(op.key);
        const lease = op.lease ?? "0";
        if (previous && previous.lease !== "0") this.leases.get(previous.lease)?.keys.delete(op.key);
        if (lease !== "0") this.leases.get(lease)!.keys.add(op.key);
        const stored: StoredKey = {
          value: op.value.slice(),
          createRevision: previous ? previous.createRevision : revision,
          modRevision: revision,
          version: previous ? previous.version + 1 : 1,
          lease,
        };
        this.keys.set(op.key, stored);
        events.push({ type: "put", kv: toKeyValue(op.key, stored), ...(previous ? { prevKv: toKeyValue(op.key, previous) } : {}) });
        return { type: "put", revision };
      }
      case "delete": {
        const doomed = this.range(op.key, op.prefix ?? false);
        for (const kv of doomed) {
          const previous = this.keys.get(kv.key)!;
          if (previous.lease !== "0") this.leases.get(previous.lease)?.keys.delete(kv.key);
          this.keys.delete(kv.key);
          events.push({ type: "delete", kv: { key: kv.key, value: new Uint8Array(0), createRevision: 0, modRevision: revision, version: 0, lease: "0" }, prevKv: kv });
        }
        return { type: "delete", revision: doomed.length > 0 ? revision : this.revisionNow, deleted: doomed.length };
      }
    }
  }

  private record(revision: number, events: WatchEvent[]): void {
    for (const event of events) this.history.push({ revision, event });
    if (revision - this.compactedBelow > HISTORY_REVISIONS_MAX) this.compact(revision - HISTORY_REVISIONS_MAX);
    for (const watch of this.watchers) watch.wake();
  }

  compact(revision: number): void {
    if (revision > this.revisionNow) throw new EtcdError("etcdserver: mvcc: required revision is a future revision", "server", GrpcCode.OUT_OF_RANGE);
    if (revision <= this.compactedBelow && revision !== 1) throw new EtcdError("etcdserver: mvcc: required revision has been compacted", "server", GrpcCode.OUT_OF_RANGE);
    this.compactedBelow = revision;
    let drop = 0;
    while (drop < this.history.length && this.history[drop]!.revision < revision) drop++;
    this.history.splice(0, drop);
    for (const watch of this.watchers) watch.wake();
  }

  get compactRevision(): number {
    return this.compactedBelow;
  }

  /** Events of whole revisions at or after `from` under `prefix`; null when `from` was compacted. */
  eventsFrom(from: number, prefix: string): HistoryEntry[] | null {
    if (from < this.compactedBelow) return null;
    let low = 0;
    let high = this.history.length;
    while (low < high) {
      const middle = (low + high) >> 1;
      if (this.history[middle]!.revision < from) low = middle + 1;
      else high = middle;
    }
    const result: HistoryEntry[] = [];
    for (let i = low; i < this.history.length; i++) if (this.history[i]!.event.kv.key.startsWith(prefix)) result.push(this.history[i]!);
    return result;
  }

  grantLease(ttlSeconds: number, session: string): { id: string; ttlSeconds: number } {
    if (!Number.isSafeInteger(ttlSeconds) || ttlSeconds < 1) throw new RangeError(`lease TTL must be a whole number of seconds >= 1, got ${ttlSeconds}`);
    const granted = Math.max(LEASE_TTL_SECONDS_MIN, ttlSeconds);
    let id: string;
    do id = String(1 + Math.floor(Math.random() * (Number.MAX_SAFE_INTEGER - 1)));
    while (this.leases.has(id));
    const lease: Lease = { id, ttlSeconds: granted, expiresAtMs: 0, timer: undefined as never, keys: new Set(), session };
    this.leases.set(id, lease);
    this.arm(lease);
    return { id, ttlSeconds: granted };
  }

  private arm(lease: Lease): void {
    clearTimeout(lease.timer);
    lease.expiresAtMs = performance.now() + lease.ttlSeconds * 1000;
    lease.timer = setTimeout(() => this.revoke(lease.id), lease.ttlSeconds * 1000);
    // A forgotten lease must not keep a test process alive.
    (lease.timer as { unref?: () => void }).unref?.();
  }

  keepAlive(id: string): number {
    const lease = this.leases.get(id);
    if (!lease) return 0;
    this.arm(lease);
    return lease.ttlSeconds;
  }

  /** Deletes the lease and its keys in one revision; false if it was gone. */
  revoke(id: string): boolean {
    const lease = this.leases.get(id);
    if (!lease) return false;
    clearTimeout(lease.timer);
    this.leases.delete(id);
    if (lease.keys.size > 0) this.txn({ compare: [], success: [...lease.keys].map((key) => ({ type: "delete" as const, key })) });
    return true;
  }

  addWatch(watch: MemoryWatch): void {
    this.watchers.add(watch);
  }

  removeWatch(watch: MemoryWatch): void {
    this.watchers.delete(watch);
  }
}

class MemorySession implements MetadataKv {
  readonly requestTimeoutMs = 5_000;

  constructor(
    private readonly store: InMemoryMetadataStore,
    readonly name: string,
  ) {}

  get endpoints(): readonly string[] {
    return [this.store.endpoint(this.name)];
  }

  /** Every call answers asynchronously, as a network call would: callers must not rely on anything else. */
  private async call<T>(work: () => T): Promise<T> {
    await Promise.resolve();
    this.store.checkReachable(this.name);
    return work();
  }

  authenticate(): Promise<void> {
    return this.call(() => undefined);
  }

  get(key: string): Promise<KeyValue | null> {
    return this.call(() => this.store.get(key));
  }

  getPrefix(prefix: string): Promise<{ kvs: KeyValue[]; revision: number }> {
    return this.call(() => ({ kvs: this.store.range(prefix, true), revision: this.store.revision }));
  }

  put(key: string, value: Uint8Array, options: { lease?: string } = {}): Promise<{ revision: number }> {
    return this.call(() => ({ revision: this.store.txn({ compare: [], success: [{ type: "put", key, value, lease: options.lease }] }).revision }));
  }

  delete(key: string): Promise<{ deleted: number; revision: number }> {
    return this.deleteRange(key, false);
  }

  deletePrefix(prefix: string): Promise<{ deleted: number; revision: number }> {
    return this.deleteRange(prefix, true);
  }

  private deleteRange(key: string, prefix: boolean): Promise<{ deleted: number; revision: number }> {
    return this.call(() => {
      const result = this.store.txn({ compare: [], success: [{ type: "delete", key, prefix }] });
      const response = result.responses[0] as Extract<OpResponse, { type: "delete" }>;
      return { deleted: response.deleted, revision: result.revision };
    });
  }

  txn(request: TxnRequest): Promise<TxnResult> {
    return this.call(() => this.store.txn(request));
  }

  compact(revision: number): Promise<void> {
    return this.call(() => this.store.compact(revision));
  }

  grantLease(ttlSeconds: number): Promise<{ id: string; ttlSeconds: number }> {
    return this.call(() => this.store.grantLease(ttlSeconds, this.name));
  }

  keepAliveOnce(id: string): Promise<number> {
    return this.call(() => this.store.keepAlive(id));
  }

  revokeLease(id: string): Promise<void> {
    return this.call(() => void this.store.revoke(id));
  }

  watchPrefix(prefix: string, options: WatchOptions): MetadataWatch {
    if (!Number.isSafeInteger(options.startRevision) || options.startRevision < 1) throw new RangeError(`watch startRevision must be >= 1, got ${options.startRevision}`);
    return new MemoryWatch(this.store, this.name, prefix, options);
  }
}

class MemoryWatch implements MetadataWatch {
  private next: number;
  private stopped = false;
  private wakeUp: (() => void) | null = null;
  readonly done: Promise<void>;

  constructor(
    private readonly store: InMemoryMetadataStore,
    readonly session: string,
    private readonly prefix: string,
    private readonly options: WatchOptions,
  ) {
    this.next = options.startRevision;
    store.addWatch(this);
    this.done = this.run().finally(() => store.removeWatch(this));
  }

  get nextRevision(): number {
    return this.next;
  }

  get canceled(): boolean {
    return this.stopped;
  }

  cancel(): void {
    this.stopped = true;
    this.wake();
  }

  wake(): void {
    const wakeUp = this.wakeUp;
    this.wakeUp = null;
    wakeUp?.();
  }

  private async run(): Promise<void> {
    // Delivery starts after the caller got the watch object, as with a stream.
    await Promise.resolve();
    while (!this.stopped) {
      const entries = this.store.eventsFrom(this.next, this.prefix);
      if (entries === null) {
        if (!(await this.resync())) return;
        continue;
      }
      if (entries.length === 0) {
        await new Promise<void>((resolve) => (this.wakeUp = resolve));
        continue;
      }
      const revision = entries[entries.length - 1]!.revision;
      try {
        await this.options.onEvents(
          entries.map((entry) => entry.event),
          revision,
        );
      } catch (error) {
        return this.fail(error instanceof Error ? error : new Error(String(error)));
      }
      this.next = revision + 1;
    }
  }

  private async resync(): Promise<boolean> {
    const compactRevision = this.store.compactRevision;
    const compacted = new EtcdError(`watch ${this.prefix}: revision ${this.next} was compacted (the store keeps revisions from ${compactRevision})`, "compacted");
    if (!this.options.onResync) {
      this.fail(compacted);
      return false;
    }
    let revision: number;
    try {
      revision = await this.options.onResync();
    } catch (error) {
      this.fail(error instanceof Error ? error : new Error(String(error)));
      return false;
    }
    if (!Number.isSafeInteger(revision) || revision + 1 < compactRevision) {
      this.fail(new EtcdError(`watch ${this.prefix}: onResync returned revision ${revision}, below the compaction at ${compactRevision}`, "compacted"));
      return false;
    }
    this.next = revision + 1;
    return true;
  }

  private fail(error: Error): void {
    if (this.stopped) return;
    this.stopped = true;
    this.options.onError?.(error);
  }
}

function toKeyValue(key: string, stored: StoredKey): KeyValue {
  return { key, value: stored.value.slice(), createRevision: stored.createRevision, modRevision: stored.modRevision, version: stored.version, lease: stored.lease };
}

function compareResult(sign: number, op: Compare["op"]): boolean {
  switch (op) {
    case "=":
      return sign === 0;
    case "!=":
      return sign !== 0;
    case "<":
      return sign < 0;
    case ">":
      return sign > 0;
  }
}

/** etcd orders keys by their bytes. */
function compareKeys(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a, "utf8"), Buffer.from(b, "utf8"));
}
