// Cluster ACL storage: one etcd key per binding, <root>/acls/<binding key>, value msgpackr. Every broker
// lists the prefix at start and keeps one watch on it, so an ACL created or deleted on any broker is in force
// on all of them as soon as etcd delivers the event (a watch that gives up is replaced by a re-list, retried
// every ACL_REWATCH_DELAY_MS until it works).
import type { AclStore } from "../security/acl/authorizer.ts";
import { bindingKey, type AclBinding } from "../security/acl/model.ts";
import type { EtcdClientOptions, KeyValue, MetadataKv, MetadataWatch } from "./etcd/index.ts";
import { openMetadataKv } from "./metadata-kv.ts";
import { decodeRecord, encodeRecord } from "./etcd-metadata.ts";

const ACL_REWATCH_DELAY_MS = 500;

export class EtcdAclStore implements AclStore {
  private readonly etcd: MetadataKv;
  private readonly prefix: string;
  private readonly acls = new Map<string, AclBinding>();
  private watch: MetadataWatch | null = null;
  private onChange: (bindings: AclBinding[]) => void = () => undefined;
  private stopped = false;

  constructor(
    etcd: EtcdClientOptions,
    clusterId: string,
    private readonly log: (message: string) => void,
  ) {
    this.etcd = openMetadataKv({ ...etcd, log });
    this.prefix = `/bunka/${clusterId}/acls/`;
  }

  async start(onChange: (bindings: AclBinding[]) => void): Promise<AclBinding[]> {
    this.onChange = onChange;
    const revision = await this.relist();
    this.startWatch(revision + 1);
    return [...this.acls.values()];
  }

  async add(bindings: AclBinding[]): Promise<void> {
    await this.etcd.txn({ compare: [], success: bindings.map((binding) => ({ type: "put" as const, key: this.prefix + bindingKey(binding), value: encodeRecord(binding) })) });
  }

  async remove(bindings: AclBinding[]): Promise<void> {
    await this.etcd.txn({ compare: [], success: bindings.map((binding) => ({ type: "delete" as const, key: this.prefix + bindingKey(binding) })) });
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.watch?.cancel();
  }

  private async relist(): Promise<number> {
    const listing = await this.etcd.getPrefix(this.prefix);
    this.acls.clear();
    for (const kv of listing.kvs) this.put(kv);
    return listing.revision;
  }

  private put(kv: KeyValue): void {
    this.acls.set(kv.key, decodeRecord<AclBinding>(kv.value));
  }

  private startWatch(startRevision: number): void {
    this.watch = this.etcd.watchPrefix(this.prefix, {
      startRevision,
      onEvents: (events) => {
        for (const event of events) {
          if (event.type === "put") this.put(event.kv);
          else this.acls.delete(event.kv.key);
        }
        this.onChange([...this.acls.values()]);
      },
      onResync: async () => {
        const revision = await this.relist();
        this.onChange([...this.acls.values()]);
        return revision;
      },
      onError: (error) => {
        this.log(`etcd ACL watch stopped: ${error.message}; re-listing and watching again`);
        void this.rewatch();
      },
    });
  }

  private async rewatch(): Promise<void> {
    // Bounded by the broker's life: retried until etcd answers or the broker stops.
    while (!this.stopped) {
      try {
        const revision = await this.relist();
        this.onChange([...this.acls.values()]);
        if (!this.stopped) this.startWatch(revision + 1);
        return;
      } catch (error) {
        this.log(`re-listing ACLs failed: ${error instanceof Error ? error.message : String(error)}`);
        await Bun.sleep(ACL_REWATCH_DELAY_MS);
      }
    }
  }
}
