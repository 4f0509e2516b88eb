// Single-node ACL storage: meta/acls.bin in the data dir (msgpackr), replaced atomically (write, fsync,
// rename, directory fsync) like the topic metadata next to it, so a crash leaves the old or the new set.
import { existsSync, mkdirSync, readFileSync } from "node:fs";
import { writeFileDurably } from "../../util/durable-file.ts";
import { join } from "node:path";
import { pack, unpack } from "msgpackr";
import type { AclStore } from "./authorizer.ts";
import { bindingKey, type AclBinding } from "./model.ts";

interface StoredAcls {
  version: 1;
  acls: AclBinding[];
}

export class FileAclStore implements AclStore {
  private readonly directory: string;
  private readonly path: string;
  private acls: AclBinding[] = [];

  constructor(dataDir: string) {
    this.directory = join(dataDir, "meta");
    this.path = join(this.directory, "acls.bin");
  }

  async start(): Promise<AclBinding[]> {
    mkdirSync(this.directory, { recursive: true });
    if (existsSync(this.path)) {
      const stored = unpack(readFileSync(this.path)) as StoredAcls;
      if (stored?.version !== 1 || !Array.isArray(stored.acls)) throw new Error(`ACL file ${this.path} is not a Bunka ACL file`);
      this.acls = stored.acls;
    }
    return [...this.acls];
  }

  async add(bindings: AclBinding[]): Promise<void> {
    this.persist([...this.acls, ...bindings]);
  }

  async remove(bindings: AclBinding[]): Promise<void> {
    const doomed = new Set(bindings.map(bindingKey));
    this.persist(this.acls.filter((binding) => !doomed.has(bindingKey(binding))));
  }

  async stop(): Promise<void> {}

  private persist(acls: AclBinding[]): void {
    writeFileDurably(this.path, pack({ version: 1, acls } satisfies StoredAcls));
    this.acls = acls;
  }
}
