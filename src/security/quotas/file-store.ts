// Single-node quota storage: meta/client-quotas.bin in the data dir (msgpackr), replaced atomically (write,
// fsync, rename, directory fsync) like the ACLs next to it, so a crash leaves the old or the new set.
// A cluster keeps its quotas in etcd instead (cluster/etcd-quotas.ts).
import { existsSync, mkdirSync, readFileSync } from "node:fs";
import { writeFileDurably } from "../../util/durable-file.ts";
import { join } from "node:path";
import { pack, unpack } from "msgpackr";
import { entityKey, withEntity, type QuotaEntity, type QuotaEntry } from "./model.ts";

export interface QuotaStore {
  /** Loads the entries; `onChange` hears the whole set again after a change made elsewhere (another broker). */
  start(onChange: (entries: QuotaEntry[]) => void): Promise<QuotaEntry[]>;
  /**
   * Changes one entity's values as stored (`change` gets the stored values, or null; returns null to remove
   * the entity) and returns what is stored for it now. A cluster's store retries `change` when another broker
   * changed the entity in between, so concurrent alterations of one entity do not lose each other's keys.
   */
  update(entity: QuotaEntity, change: (values: Record<string, number> | null) => Record<string, number> | null): Promise<Record<string, number> | null>;
  stop(): Promise<void>;
}

interface StoredQuotas {
  version: 1;
  entries: QuotaEntry[];
}

export class FileQuotaStore implements QuotaStore {
  private readonly directory: string;
  private readonly path: string;
  private entries: QuotaEntry[] = [];

  constructor(dataDir: string) {
    this.directory = join(dataDir, "meta");
    this.path = join(this.directory, "client-quotas.bin");
  }

  async start(): Promise<QuotaEntry[]> {
    mkdirSync(this.directory, { recursive: true });
    if (!existsSync(this.path)) return [];
    const stored = unpack(readFileSync(this.path)) as StoredQuotas;
    if (stored?.version !== 1 || !Array.isArray(stored.entries)) throw new Error(`quota file ${this.path} is not a Bunka quota file`);
    this.entries = stored.entries;
    return [...this.entries];
  }

  async update(entity: QuotaEntity, change: (values: Record<string, number> | null) => Record<string, number> | null): Promise<Record<string, number> | null> {
    // Quota sets are small (one entry per configured user/client id): the whole set is rewritten.
    const key = entityKey(entity);
    const values = change(this.entries.find((entry) => entityKey(entry.entity) === key)?.values ?? null);
    const entries = withEntity(this.entries, entity, values);
    writeFileDurably(this.path, pack({ version: 1, entries } satisfies StoredQuotas));
    this.entries = entries;
    return values;
  }

  async stop(): Promise<void> {}
}
