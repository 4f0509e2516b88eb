// The README's settings tables, generated from the broker settings table (broker-config.ts), so the
// documented names, defaults and bounds cannot drift from the ones parsed. `bun run docs:config` rewrites
// the text between each pair of markers in README.md; test/config/broker-config.test.ts fails when the
// README differs from what this renders.
import { readFileSync, writeFileSync } from "node:fs";
import { brokerSettingByKey, brokerSettings, formatSettingValue, type BrokerSetting } from "./broker-config.ts";

const INT_MAX = 2_147_483_647;

/** A row of "Limits and protection": broker settings (default from the table) or a bound set elsewhere. */
type LimitRow =
  | { what: string; settings: readonly string[]; settingNote?: string; atBound: string }
  | { what: string; setting: string; defaultText: string; atBound: string };

// In the README's order: connections and requests, memory, records, partitions and files, stopping.
const limitRows: readonly LimitRow[] = [
  { what: "one request frame", settings: ["socket.request.max.bytes"], atBound: "the connection is closed" },
  {
    what: "bytes of requests being received or waiting for an answer, broker-wide",
    settings: ["queued.max.request.bytes"],
    atBound:
      "a frame that spans reads reserves its declared size first; when nothing is left, connections with requests in flight stop being read (at a frame boundary) until answered requests give bytes back (a client asking one request at a time is still served); a frame above 4 MiB is held in 1 MiB chunks as it arrives, never at its declared size up front",
  },
  { what: "a client silent in the middle of a frame", settings: ["socket.request.receive.timeout.ms"], atBound: "the connection is closed and its partial frame freed" },
  { what: "idle connections", settings: ["connections.max.idle.ms"], atBound: "closed" },
  { what: "connections", settings: ["max.connections"], atBound: "new connections are closed at once (logged once per 10 s); existing clients are unaffected" },
  { what: "connections from one address", settings: ["max.connections.per.ip", "max.connections.per.ip.overrides"], settingNote: "(`host:N,...`)", atBound: "the same" },
  { what: "room for other brokers (replication) above both limits", settings: ["max.connections.inter.broker.reserve"], atBound: "" },
  { what: "unanswered requests per connection", settings: ["max.in.flight.requests.per.connection"], atBound: "the connection is not read until replies go out" },
  {
    what: "memory kept after a burst",
    setting: "environment `MIMALLOC_PURGE_DELAY` (set for broker processes) and the produce buffer pool (fixed)",
    defaultText: "1000 ms; pool: at most 256 MiB of free blocks, those unused for 30 s dropped down to 64 MiB",
    atBound: "freed memory goes back to the OS after 1 s unused (a 500 MB burst: ~100 MiB resident again within seconds)",
  },
  { what: "queued reply bytes per connection", settings: ["connection.write.queue.max.bytes"], atBound: "the same; pipelined fetches wait their turn" },
  { what: "one record batch", setting: "`max.message.bytes` (*topic*; broker `message.max.bytes`)", defaultText: "1048588", atBound: "`MESSAGE_TOO_LARGE`" },
  {
    what: "what one partition's compressed batches in a produce may expand to",
    settings: ["message.decompressed.max.bytes"],
    atBound: "`MESSAGE_TOO_LARGE`, refused from the codec's headers before the memory is allocated",
  },
  {
    what: "record timestamps (CreateTime)",
    setting: "`message.timestamp.before.max.ms`, `message.timestamp.after.max.ms` (*topic*, KIP-937; and the older `message.timestamp.difference.max.ms`)",
    defaultText: "unbounded",
    atBound: "`INVALID_TIMESTAMP`",
  },
  { what: "partition replicas on one broker", settings: ["max.broker.partitions"], settingNote: "(KIP-578's name)", atBound: "CreateTopics / CreatePartitions get `POLICY_VIOLATION`, nothing is created" },
  { what: "inactive segments kept mapped, per partition worker", settings: ["log.segment.open.max"], atBound: "the least recently used segment drops its maps (re-mapped on its next read)" },
  { what: "smallest `segment.bytes` a client may set", settings: ["log.segment.bytes.min"], atBound: "`INVALID_CONFIG`; `segment.index.bytes` must be at least 1024" },
  { what: "group members, per group", settings: ["group.max.size"], atBound: "JoinGroup gets `GROUP_MAX_SIZE_REACHED`" },
  { what: "commit metadata", settings: ["offset.metadata.max.bytes"], atBound: "`OFFSET_METADATA_TOO_LARGE`" },
  { what: "how long a clean stop may take", settings: ["shutdown.timeout.ms"], atBound: "logged, exit 1; the next start recovers" },
];

function settingNamed(name: string): BrokerSetting {
  const definition = brokerSettingByKey.get(name);
  if (!definition || definition.name !== name) throw new Error(`config-docs: ${name} is not the name of a broker setting`);
  return definition;
}

export function defaultText(definition: BrokerSetting): string {
  if (definition.defaultDoc !== undefined) return definition.defaultDoc;
  if (definition.defaultValue === undefined) return "unset";
  const value = typeof definition.defaultValue === "function" ? definition.defaultValue() : definition.defaultValue;
  const text = formatSettingValue(value);
  return definition.type === "string" || definition.type === "list" ? `\`${text}\`` : text;
}

function boundsText(definition: BrokerSetting): string {
  if (definition.type !== "int" && definition.type !== "long" && definition.type !== "map") return definition.type;
  const typeMax = definition.type === "long" ? Number.MAX_SAFE_INTEGER : INT_MAX;
  const { min, max } = definition;
  const range = max !== undefined && max < typeMax ? `${min ?? "…"}..${max}` : min !== undefined ? `≥ ${min}` : "";
  return range ? `${definition.type}, ${range}` : definition.type;
}

function nameCell(definition: BrokerSetting): string {
  const names = [definition.name, ...definition.aliases].map((key) => `\`${key}\``).join(" / ");
  const notes = [definition.flag ? `\`${definition.flag}\`` : "", definition.kafka ? "" : "Bunka's own"].filter(Boolean);
  return notes.length > 0 ? `${names} (${notes.join("; ")})` : names;
}

function escapeCell(text: string): string {
  return text.replaceAll("|", "\\|");
}

function settingsTable(section: BrokerSetting["section"], heading: string): string {
  const rows = brokerSettings
    .filter((definition) => definition.section === section)
    .map((definition) => `| ${nameCell(definition)} | ${escapeCell(defaultText(definition))} | ${boundsText(definition)} | ${escapeCell(definition.doc)} |`);
  return [`| ${heading} | default | type, bounds | meaning |`, "|---|---|---|---|", ...rows].join("\n");
}

function limitsTable(): string {
  const rows = limitRows.map((row) => {
    if ("setting" in row) return `| ${row.what} | ${row.setting} | ${row.defaultText} | ${row.atBound} |`;
    const definitions = row.settings.map(settingNamed);
    const names = definitions.map((definition) => `\`${definition.name}\``).join(", ");
    const notes = [row.settingNote ?? "", definitions.some((definition) => !definition.kafka) ? "(Bunka's own)" : ""].filter(Boolean).join(" ");
    return `| ${row.what} | ${notes ? `${names} ${notes}` : names} | ${escapeCell(defaultText(definitions[0]!))} | ${row.atBound} |`;
  });
  return ["| what | setting | default | what happens at the bound |", "|---|---|---|---|", ...rows].join("\n");
}

/** Marker name → the generated text that belongs between `<!-- NAME:start -->` and `<!-- NAME:end -->`. */
export function generatedSections(): Record<string, string> {
  return {
    "broker-settings": settingsTable("broker", "property"),
    "cluster-settings": settingsTable("cluster", "cluster setting"),
    "limits": limitsTable(),
  };
}

/** The README with every generated section replaced; throws when a marker pair is missing. */
export function renderReadme(readme: string): string {
  let text = readme;
  for (const [name, body] of Object.entries(generatedSections())) {
    const start = `<!-- ${name}:start (generated by bun run docs:config from src/config/broker-config.ts) -->`;
    const end = `<!-- ${name}:end -->`;
    const from = text.indexOf(start);
    const to = text.indexOf(end);
    if (from < 0 || to < from) throw new Error(`README.md has no "${start}" ... "${end}" pair`);
    text = `${text.slice(0, from + start.length)}\n${body}\n${text.slice(to)}`;
  }
  return text;
}

if (import.meta.main) {
  const path = new URL("../../README.md", import.meta.url).pathname;
  const before = readFileSync(path, "utf8");
  const after = renderReadme(before);
  if (after !== before) writeFileSync(path, after);
  console.log(after === before ? "README.md: settings tables already up to date" : "README.md: settings tables regenerated");
}
