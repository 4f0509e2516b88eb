// Which Apache Kafka schemas the committed codecs come from. The schema directory carries no version of
// its own, so the generator fingerprints it (SHA-256 over every *.json file name and content, in name
// order) and names the fingerprints it knows. Regenerating from other schemas still works; the header then
// says the source is unrecorded until a line is added here.
import { createHash } from "node:crypto";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";

/** Fingerprint (first 16 hex digits) -> where those schemas come from. */
const KNOWN_SCHEMA_SETS: Record<string, string> = {
  // Apache Kafka's trunk in October 2024 (4.0 in development): clients/src/main/resources/common/message.
  "1fc73786c5c97651": "Apache Kafka trunk, October 2024 snapshot (4.0 in development)",
};

export interface SchemaSource {
  fingerprint: string;
  description: string;
}

export function schemaFingerprint(schemaDir: string): string {
  const hash = createHash("sha256");
  for (const file of readdirSync(schemaDir).filter((name) => name.endsWith(".json")).sort()) {
    hash.update(file);
    hash.update("\0");
    hash.update(readFileSync(join(schemaDir, file)));
    hash.update("\0");
  }
  return hash.digest("hex").slice(0, 16);
}

export function schemaSource(schemaDir: string): SchemaSource {
  const fingerprint = schemaFingerprint(schemaDir);
  const description = KNOWN_SCHEMA_SETS[fingerprint] ?? "an unrecorded Kafka version (name it in src/protocol/generator/schema-source.ts)";
  return { fingerprint, description };
}
