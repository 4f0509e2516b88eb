// Single-node quota storage: meta/client-quotas.bin in the data dir (msgpackr), replaced atomically (write,
// fsync, rename, directory fsync) like the ACLs next to it, so a crash leaves the old or the new set.
import { existsSync, mkdirSync, readFileSync } from "node:fs";
import { writeFileDurably } from "../../util/durable-file.ts";
import { join } from "node:path";
import { pack, unpack } from "msgpackr";
import type { QuotaEntry } from "./model.ts";

export interface QuotaStore {
  start(): Promise<QuotaEntry[]>;
  /** Persists the whole set (quota sets are small: one entry per configured user/client id). */
  replace(entries: QuotaEntry[]): Promise<void>;
  stop(): Promise<void>;
}

interface StoredQuotas {
  version: 1;
  entries: QuotaEntry[];
}

export class FileQuotaStore implements QuotaStore {
  private readonly directory: string;
  private readonly path: string;

  constructor(dataDir: string) {
    this.directory = join(dataDir, "meta");
    this.path = join(this.directory, "client-quotas.bin");
  }

  async start(): Promise<QuotaEntry[]> {
    mkdirSync(this.directory, { recursive: true });
    if (!existsSync(this.path)) return [];
    const stored = unpack(readFileSync(this.path)) as StoredQuotas;
    if (stored?.version !== 1 || !Array.isArray(stored.entries)) throw new Error(`quota file ${this.path} is not a Bunka quota file`);
    return stored.entries;
  }

  async replace(entries: QuotaEntry[]): Promise<void> {
    writeFileDurably(this.path, pack({ version: 1, entries } satisfies StoredQuotas));
  }

  async stop(): Promise<void> {}
}
