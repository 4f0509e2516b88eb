// What the cluster code needs from its metadata store: etcd's KV, txn, lease and watch API as the etcd
// client offers it. Production clusters use EtcdClient (client.ts, etcd over its JSON gateway); the
// in-process store for tests (cluster/memory-store.ts) implements the same contract, and
// test/cluster/metadata-store-contract.test.ts runs the same cases against both.
import type { KeyValue } from "./gateway-json.ts";
import type { TxnRequest, TxnResult } from "./txn.ts";
import type { WatchOptions } from "./watch.ts";

export interface MetadataWatch {
  /** The next revision this watch will deliver. */
  readonly nextRevision: number;
  readonly canceled: boolean;
  /** Resolves when the watch has stopped (cancel() or a terminal error). Never rejects. */
  readonly done: Promise<void>;
  cancel(): void;
}

export interface MetadataKv {
  readonly endpoints: readonly string[];
  /** Bound on one call; lease keepers bound keepalives by it. */
  readonly requestTimeoutMs: number;
  /** Logs in when credentials are set, so that a wrong password fails the start. */
  authenticate(): Promise<void>;
  get(key: string): Promise<KeyValue | null>;
  /** Every key starting with `prefix`, sorted by key, and the store revision the listing reflects. */
  getPrefix(prefix: string): Promise<{ kvs: KeyValue[]; revision: number }>;
  put(key: string, value: Uint8Array, options?: { lease?: string }): Promise<{ revision: number }>;
  delete(key: string): Promise<{ deleted: number; revision: number }>;
  deletePrefix(prefix: string): Promise<{ deleted: number; revision: number }>;
  /** If every compare holds, run `success`, else `failure`; atomically, at one revision. */
  txn(request: TxnRequest): Promise<TxnResult>;
  /** Drops history before `revision` (watches resuming below it get a compaction). */
  compact(revision: number): Promise<void>;
  grantLease(ttlSeconds: number): Promise<{ id: string; ttlSeconds: number }>;
  /** Renews the lease once; the remaining TTL in seconds, <= 0 when the lease is gone. */
  keepAliveOnce(id: string, options?: { timeoutMs?: number }): Promise<number>;
  /** Revokes the lease and deletes its keys; a lease already gone is not an error. */
  revokeLease(id: string, options?: { timeoutMs?: number }): Promise<void>;
  /** Streams changes under `prefix` from `options.startRevision` on. */
  watchPrefix(prefix: string, options: WatchOptions): MetadataWatch;
}
