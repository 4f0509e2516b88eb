// A small etcd v3 client over etcd's grpc-gateway (JSON over HTTP/1.1 with fetch), for cluster metadata
// and leader election. Keys are strings (UTF-8), values are bytes (callers encode them with msgpackr).
// Why the gateway and not gRPC: docs/etcd.md.
import { EtcdError } from "./errors.ts";
import { decodeKeyValue, headerRevision, int64, int64String, type KeyValue, type RawDeleteRangeResponse, type RawHeader, type RawPutResponse, type RawRangeResponse } from "./gateway-json.ts";
import { GatewayTransport, type EtcdCredentials, type EtcdTls } from "./gateway-transport.ts";
import { decodeTxn, encodePut, encodeTxn, rangeOf, type RawTxnResponse, type TxnRequest, type TxnResult } from "./txn.ts";
import { Watch, type WatchOptions } from "./watch.ts";
import type { MetadataKv } from "./kv.ts";

export interface EtcdClientOptions {
  /** Client URLs tried in order when one cannot be reached, e.g. ["http://127.0.0.1:2379"]. */
  endpoints: string[];
  /** TLS for https endpoints: the CA to trust and a client certificate (PEM text). Requires https endpoints. */
  tls?: EtcdTls;
  /** etcd user and password (etcd's own auth): logs in, sends the token with every call, re-logs when it expires. */
  credentials?: EtcdCredentials;
  /** Bound on every unary request, from sending to the whole answer read. */
  requestTimeoutMs?: number;
  /** Bound on a watch (re)connection getting etcd's "created" answer. */
  watchConnectTimeoutMs?: number;
  watchReconnectDelayMsMin?: number;
  watchReconnectDelayMsMax?: number;
  /** Consecutive failed watch (re)connections before the watch gives up (onError). */
  watchReconnectAttemptsMax?: number;
  /**
   * A watch stream silent for this long is re-created (Bun's fetch idle timer, which fires at a coarse
   * granularity of several seconds). Bounds how long a half-open connection goes unnoticed.
   */
  watchIdleTimeoutMs?: number;
  /** Bound on one streamed watch message. */
  watchMessageBytesMax?: number;
  /** Where the client reports what it did about trouble (watch reconnects, re-lists). */
  log?: (line: string) => void;
}

export const ETCD_CLIENT_DEFAULTS = {
  requestTimeoutMs: 5_000,
  watchConnectTimeoutMs: 5_000,
  watchReconnectDelayMsMin: 100,
  watchReconnectDelayMsMax: 2_000,
  // About two minutes of an unreachable etcd at the maximum delay.
  watchReconnectAttemptsMax: 60,
  // Bun's own default for fetch; explicit here because a watch depends on it.
  watchIdleTimeoutMs: 5 * 60_000,
  watchMessageBytesMax: 64 * 1024 * 1024,
} as const;

interface RawLeaseGrantResponse {
  header?: RawHeader;
  ID?: string;
  TTL?: string;
  error?: string;
}

interface RawLeaseKeepAliveResponse {
  header?: RawHeader;
  ID?: string;
  TTL?: string;
}

export class EtcdClient implements MetadataKv {
  private readonly transport: GatewayTransport;
  private readonly options: Required<Omit<EtcdClientOptions, "log" | "tls" | "credentials">> & Pick<EtcdClientOptions, "log">;

  constructor(options: EtcdClientOptions) {
    const limits = { ...ETCD_CLIENT_DEFAULTS };
    for (const name of Object.keys(limits) as (keyof typeof limits)[]) {
      const value = options[name];
      if (value === undefined) continue;
      if (!(Number.isFinite(value) && value > 0)) throw new RangeError(`etcd client: ${name} must be > 0, got ${value}`);
      limits[name] = value as never;
    }
    this.options = { ...limits, endpoints: options.endpoints, log: options.log };
    this.transport = new GatewayTransport(options.endpoints, this.options.requestTimeoutMs, { tls: options.tls, credentials: options.credentials, log: options.log });
  }

  /**
   * Logs in now when credentials are set (otherwise a no-op), so that a wrong password is an error at start
   * rather than at the first call.
   */
  async authenticate(): Promise<void> {
    await this.transport.headers();
  }

  /** How many times the client logged in to etcd (0 without credentials). */
  get loginCount(): number {
    return this.transport.loginCount;
  }

  get endpoints(): readonly string[] {
    return this.transport.endpoints;
  }

  get requestTimeoutMs(): number {
    return this.options.requestTimeoutMs;
  }

  async get(key: string): Promise<KeyValue | null> {
    const response = await this.transport.call<RawRangeResponse>("/v3/kv/range", rangeOf(key, false), { retrySafe: true });
    const raw = response.kvs?.[0];
    return raw ? decodeKeyValue(raw) : null;
  }

  /** Every key starting with `prefix`, sorted by key, and the store revision the listing reflects. */
  async getPrefix(prefix: string): Promise<{ kvs: KeyValue[]; revision: number }> {
    const response = await this.transport.call<RawRangeResponse>("/v3/kv/range", rangeOf(prefix, true), { retrySafe: true });
    if (response.more) throw new EtcdError(`etcd range ${prefix}: etcd returned a partial listing`, "protocol");
    return { kvs: (response.kvs ?? []).map(decodeKeyValue), revision: headerRevision(response.header) };
  }

  async put(key: string, value: Uint8Array, options: { lease?: string } = {}): Promise<{ revision: number }> {
    const response = await this.transport.call<RawPutResponse>("/v3/kv/put", encodePut(key, value, options.lease), { retrySafe: true });
    return { revision: headerRevision(response.header) };
  }

  async delete(key: string): Promise<{ deleted: number; revision: number }> {
    return this.deleteRange(key, false);
  }

  async deletePrefix(prefix: string): Promise<{ deleted: number; revision: number }> {
    return this.deleteRange(prefix, true);
  }

  private async deleteRange(key: string, prefix: boolean): Promise<{ deleted: number; revision: number }> {
    const response = await this.transport.call<RawDeleteRangeResponse>("/v3/kv/deleterange", rangeOf(key, prefix), { retrySafe: true });
    return { deleted: int64(response.deleted, "deleted"), revision: headerRevision(response.header) };
  }

  /** If every compare holds, run `success`, else `failure`; atomically, at one revision. Never retried. */
  async txn(request: TxnRequest): Promise<TxnResult> {
    const response = await this.transport.call<RawTxnResponse>("/v3/kv/txn", encodeTxn(request), { retrySafe: false });
    return decodeTxn(response);
  }

  /** Drops history before `revision` (watches resuming below it get a compaction). */
  async compact(revision: number): Promise<void> {
    await this.transport.call("/v3/kv/compaction", { revision: int64String(revision, "revision") }, { retrySafe: true });
  }

  /** etcd may raise the TTL to its minimum (about 2 s with default election settings). */
  async grantLease(ttlSeconds: number): Promise<{ id: string; ttlSeconds: number }> {
    if (!Number.isSafeInteger(ttlSeconds) || ttlSeconds < 1) throw new RangeError(`lease TTL must be a whole number of seconds >= 1, got ${ttlSeconds}`);
    const response = await this.transport.call<RawLeaseGrantResponse>("/v3/lease/grant", { TTL: String(ttlSeconds) }, { retrySafe: true });
    if (response.error) throw new EtcdError(`etcd lease grant: ${response.error}`, "server");
    if (!response.ID) throw new EtcdError("etcd lease grant: answer without ID", "protocol");
    return { id: response.ID, ttlSeconds: int64(response.TTL, "TTL") };
  }

  /**
   * Renews the lease once; the remaining TTL in seconds. <= 0 means the lease is gone (expired or revoked):
   * the gateway then answers with the ID and no TTL.
   */
  async keepAliveOnce(id: string, options: { timeoutMs?: number } = {}): Promise<number> {
    const response = await this.transport.callStreamOnce<RawLeaseKeepAliveResponse>("/v3/lease/keepalive", { ID: leaseId(id) }, { retrySafe: true, timeoutMs: options.timeoutMs });
    return int64(response.TTL, "TTL");
  }

  /** Revokes the lease and deletes its keys. A lease that is already gone is not an error. */
  async revokeLease(id: string, options: { timeoutMs?: number } = {}): Promise<void> {
    try {
      await this.transport.call("/v3/lease/revoke", { ID: leaseId(id) }, { retrySafe: true, timeoutMs: options.timeoutMs });
    } catch (error) {
      if (error instanceof EtcdError && error.isLeaseNotFound) return;
      throw error;
    }
  }

  /** Streams changes under `prefix` from `startRevision` on, reconnecting and resuming by itself. */
  watchPrefix(prefix: string, options: WatchOptions): Watch {
    return new Watch(this.transport, prefix, options, {
      connectTimeoutMs: this.options.watchConnectTimeoutMs,
      reconnectDelayMsMin: this.options.watchReconnectDelayMsMin,
      reconnectDelayMsMax: this.options.watchReconnectDelayMsMax,
      reconnectAttemptsMax: this.options.watchReconnectAttemptsMax,
      idleTimeoutMs: this.options.watchIdleTimeoutMs,
      messageBytesMax: this.options.watchMessageBytesMax,
      log: this.options.log,
    });
  }
}

function leaseId(id: string): string {
  if (!/^-?\d+$/.test(id)) throw new RangeError(`lease ID must be decimal, got ${JSON.stringify(id)}`);
  return id;
}
