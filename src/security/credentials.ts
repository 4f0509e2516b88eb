// Who may log in. SCRAM credentials (salt, iterations, StoredKey, ServerKey; never a password) live in the
// metadata store: a file in the data dir's meta/ for a single node, keys under the cluster's etcd prefix
// for a cluster, so every broker verifies against the same ones. PLAIN users come from the broker's
// configuration: a JAAS-style `sasl.jaas.config` (Kafka's PlainLoginModule syntax) or `sasl.plain.users.file`.
import { existsSync, mkdirSync, readFileSync } from "node:fs";
import { writeFileDurably } from "../util/durable-file.ts";
import { join, resolve } from "node:path";
import { pack, unpack } from "msgpackr";
import type { ScramCredential, ScramMechanismName } from "./sasl/scram.ts";

export interface ScramCredentialSummary {
  readonly user: string;
  readonly mechanism: ScramMechanismName;
  readonly iterations: number;
}

export interface ScramCredentialStore {
  get(user: string, mechanism: ScramMechanismName): Promise<ScramCredential | null>;
  list(): Promise<ScramCredentialSummary[]>;
  upsert(user: string, mechanism: ScramMechanismName, credential: ScramCredential): Promise<void>;
  /** False when the user had no credential of that mechanism. */
  delete(user: string, mechanism: ScramMechanismName): Promise<boolean>;
}

interface StoredCredential {
  user: string;
  mechanism: ScramMechanismName;
  salt: Uint8Array;
  iterations: number;
  storedKey: Uint8Array;
  serverKey: Uint8Array;
}

function toCredential(stored: StoredCredential): ScramCredential {
  return { salt: new Uint8Array(stored.salt), iterations: stored.iterations, storedKey: new Uint8Array(stored.storedKey), serverKey: new Uint8Array(stored.serverKey) };
}

function toStored(user: string, mechanism: ScramMechanismName, credential: ScramCredential): StoredCredential {
  return { user, mechanism, salt: credential.salt, iterations: credential.iterations, storedKey: credential.storedKey, serverKey: credential.serverKey };
}

/** Single node: meta/scram-credentials.bin, replaced atomically (write, fsync, rename) like topics.bin. */
export class FileScramCredentialStore implements ScramCredentialStore {
  private readonly path: string;
  private credentials: StoredCredential[] = [];

  constructor(dataDir: string) {
    const dir = join(dataDir, "meta");
    mkdirSync(dir, { recursive: true });
    this.path = join(dir, "scram-credentials.bin");
    if (existsSync(this.path)) {
      const stored = unpack(readFileSync(this.path)) as { version: number; credentials: StoredCredential[] };
      if (stored?.version !== 1 || !Array.isArray(stored.credentials)) throw new Error(`${this.path} is not a Bunka SCRAM credentials file`);
      this.credentials = stored.credentials;
    }
  }

  async get(user: string, mechanism: ScramMechanismName): Promise<ScramCredential | null> {
    const stored = this.credentials.find((entry) => entry.user === user && entry.mechanism === mechanism);
    return stored ? toCredential(stored) : null;
  }

  async list(): Promise<ScramCredentialSummary[]> {
    return this.credentials.map(({ user, mechanism, iterations }) => ({ user, mechanism, iterations }));
  }

  async upsert(user: string, mechanism: ScramMechanismName, credential: ScramCredential): Promise<void> {
    const others = this.credentials.filter((entry) => !(entry.user === user && entry.mechanism === mechanism));
    this.persist([...others, toStored(user, mechanism, credential)]);
  }

  async delete(user: string, mechanism: ScramMechanismName): Promise<boolean> {
    const others = this.credentials.filter((entry) => !(entry.user === user && entry.mechanism === mechanism));
    if (others.length === this.credentials.length) return false;
    this.persist(others);
    return true;
  }

  private persist(credentials: StoredCredential[]): void {
    // Only the broker's user may read the salted keys.
    writeFileDurably(this.path, pack({ version: 1, credentials }), 0o600);
    this.credentials = credentials;
  }
}

/** The part of an etcd client the cluster store needs (cluster/etcd/client.ts satisfies it). */
export interface CredentialKeyValue {
  get(key: string): Promise<{ value: Uint8Array } | null>;
  getPrefix(prefix: string): Promise<{ kvs: { key: string; value: Uint8Array }[] }>;
  put(key: string, value: Uint8Array): Promise<unknown>;
  delete(key: string): Promise<{ deleted: number }>;
}

/**
 * Cluster: one key per user and mechanism under `<root>scram-credentials/`, read at each authentication,
 * so a credential changed through any broker applies on every broker at once.
 */
export class KeyValueScramCredentialStore implements ScramCredentialStore {
  constructor(
    private readonly kv: CredentialKeyValue,
    private readonly prefix: string,
  ) {}

  private key(user: string, mechanism: ScramMechanismName): string {
    return `${this.prefix}${mechanism}/${encodeURIComponent(user)}`;
  }

  async get(user: string, mechanism: ScramMechanismName): Promise<ScramCredential | null> {
    const entry = await this.kv.get(this.key(user, mechanism));
    return entry ? toCredential(unpack(entry.value) as StoredCredential) : null;
  }

  async list(): Promise<ScramCredentialSummary[]> {
    const { kvs } = await this.kv.getPrefix(this.prefix);
    return kvs.map((entry) => {
      const { user, mechanism, iterations } = unpack(entry.value) as StoredCredential;
      return { user, mechanism, iterations };
    });
  }

  async upsert(user: string, mechanism: ScramMechanismName, credential: ScramCredential): Promise<void> {
    await this.kv.put(this.key(user, mechanism), new Uint8Array(pack(toStored(user, mechanism, credential))));
  }

  async delete(user: string, mechanism: ScramMechanismName): Promise<boolean> {
    return (await this.kv.delete(this.key(user, mechanism))).deleted > 0;
  }
}

const PLAIN_LOGIN_MODULE = "org.apache.kafka.common.security.plain.PlainLoginModule";

/** A one-module JAAS entry, Kafka's syntax: `<LoginModule> required key="value" key2=value2;`. */
export function parseJaasEntry(jaas: string): { loginModule: string; options: Map<string, string> } {
  const match = /^\s*(\S+)\s+(required|requisite|sufficient|optional)\s+(.*?)\s*;\s*$/s.exec(jaas);
  if (!match) throw new Error(`config: cannot parse sasl.jaas.config (expected "<LoginModule> required key=\\"value\\" ...;")`);
  const options = new Map<string, string>();
  const option = /([\w.-]+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|(\S+))/y;
  let rest = match[3]!;
  // Bounded: every option consumes at least one character, and the count is capped.
  for (let count = 0; rest.trim() !== "" && count < 100_000; count++) {
    rest = rest.trimStart();
    option.lastIndex = 0;
    const found = option.exec(rest);
    if (!found) throw new Error(`config: cannot parse sasl.jaas.config near "${rest.slice(0, 40)}"`);
    options.set(found[1]!, found[2] !== undefined ? found[2].replace(/\\(.)/g, "$1") : found[3]!);
    rest = rest.slice(found[0].length);
  }
  return { loginModule: match[1]!, options };
}

/**
 * PLAIN users of a JAAS entry: `org.apache.kafka.common.security.plain.PlainLoginModule required username="admin"
 * password="x" user_admin="x" user_alice="y";`. Every `user_<name>="<password>"` option is a user; the module's
 * other options are ignored, as Kafka does.
 */
export function parsePlainJaasUsers(jaas: string): Map<string, string> {
  const { loginModule, options } = parseJaasEntry(jaas);
  if (loginModule !== PLAIN_LOGIN_MODULE) throw new Error(`config: sasl.jaas.config names login module ${loginModule}; PLAIN needs ${PLAIN_LOGIN_MODULE}`);
  const users = new Map<string, string>();
  for (const [name, value] of options) if (name.startsWith("user_")) users.set(name.slice("user_".length), value);
  return users;
}

/** `sasl.plain.users.file`: one `user=password` per line; `#` starts a comment line. */
export function loadPlainUsersFile(path: string): Map<string, string> {
  const users = new Map<string, string>();
  const text = readFileSync(resolve(path), "utf8");
  for (const [index, rawLine] of text.split(/\r?\n/).entries()) {
    const line = rawLine.trim();
    if (line === "" || line.startsWith("#")) continue;
    const separator = line.indexOf("=");
    if (separator <= 0) throw new Error(`config: sasl.plain.users.file ${path} line ${index + 1}: expected user=password`);
    users.set(line.slice(0, separator).trim(), line.slice(separator + 1));
  }
  return users;
}
