// Cluster quota storage: one etcd key per entity, <root>/client-quotas/<entity key>, value msgpackr
// ({ entity, values }). Every broker lists the prefix at start and keeps one watch on it, so a quota altered
// on any broker is in force on all of them as soon as etcd delivers the event (a watch that gives up is
// replaced by a re-list, retried every QUOTA_REWATCH_DELAY_MS until it works), as for the ACLs (etcd-acls.ts).
import type { QuotaStore } from "../security/quotas/file-store.ts";
import { entityKey, type QuotaEntity, type QuotaEntry } from "../security/quotas/model.ts";
import type { KeyValue, MetadataKv, MetadataWatch } from "./etcd/index.ts";
import { decodeRecord, encodeRecord } from "./etcd-metadata.ts";

const QUOTA_REWATCH_DELAY_MS = 500;
/** Concurrent alterations of one entity through other brokers: re-read and retried at most this often. */
const QUOTA_UPDATE_ATTEMPTS = 10;

export class EtcdQuotaStore implements QuotaStore {
  private readonly prefix: string;
  private readonly entries = new Map<string, QuotaEntry>();
  private watch: MetadataWatch | null = null;
  private onChange: (entries: QuotaEntry[]) => void = () => undefined;
  private stopped = false;

  constructor(
    private readonly etcd: MetadataKv,
    clusterId: string,
    private readonly log: (message: string) => void,
  ) {
    this.prefix = `/bunka/${clusterId}/client-quotas/`;
  }

  async start(onChange: (entries: QuotaEntry[]) => void): Promise<QuotaEntry[]> {
    this.onChange = onChange;
    const revision = await this.relist();
    this.startWatch(revision + 1);
    return [...this.entries.values()];
  }

  async update(entity: QuotaEntity, change: (values: Record<string, number> | null) => Record<string, number> | null): Promise<Record<string, number> | null> {
    // Entity names are client-chosen strings: encoded so that none can reach outside the prefix.
    const key = this.prefix + encodeURIComponent(entityKey(entity));
    // Compare-and-swap on the key's mod revision (0: absent): another broker's change in between is re-read.
    for (let attempt = 1; ; attempt++) {
      const current = await this.etcd.get(key);
      const values = change(current === null ? null : decodeRecord<QuotaEntry>(current.value).values);
      const result = await this.etcd.txn({
        compare: [{ key, target: "modRevision", op: "=", value: current?.modRevision ?? 0 }],
        success: [values === null ? { type: "delete", key } : { type: "put", key, value: encodeRecord({ entity, values } satisfies QuotaEntry) }],
      });
      if (result.succeeded) return values;
      if (attempt >= QUOTA_UPDATE_ATTEMPTS) throw new Error(`client quota ${entityKey(entity)} kept changing under ${QUOTA_UPDATE_ATTEMPTS} attempts to alter it`);
    }
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.watch?.cancel();
  }

  private async relist(): Promise<number> {
    const listing = await this.etcd.getPrefix(this.prefix);
    this.entries.clear();
    for (const kv of listing.kvs) this.remember(kv);
    return listing.revision;
  }

  private remember(kv: KeyValue): void {
    this.entries.set(kv.key, decodeRecord<QuotaEntry>(kv.value));
  }

  private startWatch(startRevision: number): void {
    this.watch = this.etcd.watchPrefix(this.prefix, {
      startRevision,
      onEvents: (events) => {
        for (const event of events) {
          if (event.type === "put") this.remember(event.kv);
          else this.entries.delete(event.kv.key);
        }
        this.onChange([...this.entries.values()]);
      },
      onResync: async () => {
        const revision = await this.relist();
        this.onChange([...this.entries.values()]);
        return revision;
      },
      onError: (error) => {
        this.log(`etcd client quota watch stopped: ${error.message}; re-listing and watching again`);
        void this.rewatch();
      },
    });
  }

  private async rewatch(): Promise<void> {
    // Bounded by the broker's life: retried until etcd answers or the broker stops.
    while (!this.stopped) {
      try {
        const revision = await this.relist();
        this.onChange([...this.entries.values()]);
        if (!this.stopped) this.startWatch(revision + 1);
        return;
      } catch (error) {
        this.log(`re-listing client quotas failed: ${error instanceof Error ? error.message : String(error)}`);
        await Bun.sleep(QUOTA_REWATCH_DELAY_MS);
      }
    }
  }
}
