// `bun run quotas`: client quotas of a running broker (KIP-546's AlterClientQuotas and DescribeClientQuotas),
// with kafka-configs.sh's quota options:
//   --alter --add-config producer_byte_rate=1048576,request_percentage=50 (--user U | --user-defaults) (--client C | --client-defaults)
//   --alter --delete-config producer_byte_rate ...same entity
//   --describe [entity]   every quota, or those of the entity (--entity-type users|clients alone: all of that type)
// Exit code 0 on success, 1 on an error the broker reported, 2 on bad usage. The operations are functions
// `bunka quota` (src/cli/quota.ts) calls too.
import { parseArgs } from "node:util";
import { ErrorCode, errorName } from "../protocol/errors.ts";
import { ApiKey } from "../protocol/generated/index.ts";
import { CLIENT_ID_ENTITY, SUPPORTED_QUOTA_KEYS, USER_ENTITY } from "../security/quotas/model.ts";
import type { KafkaConnection } from "../client/kafka-connection.ts";
import { CLIENT_CONFIG_USAGE, ClientConfigError, CONNECTION_FLAGS, connectClient, connectionFromFlags, explainFailure, parseBootstrap } from "./client-config.ts";

const usage = `Usage: bun run quotas --bootstrap-server HOST:PORT (--alter | --describe) [entity] [options]

Actions:
  --alter --add-config K=V[,K=V...]    set quota keys: ${SUPPORTED_QUOTA_KEYS.join(", ")}
  --alter --delete-config K[,K...]     remove quota keys (both may be given at once)
  --describe                           the quotas of the entity, or every quota without one
Entity (kafka-configs.sh's forms; a user and a client id may be combined):
  --user NAME | --user-defaults        a user principal's name (without "User:") or <default>
  --client ID | --client-defaults      a client id or <default>
  --entity-type users|clients [--entity-name NAME | --entity-default]
                                       the same, one type; --describe with no name: all of that type
${CLIENT_CONFIG_USAGE}Other:
  --json                               machine-readable output
  --timeout-ms N                       per-request timeout (default 30000)
  -h, --help                           this text
`;

const MATCH_EXACT = 0;
const MATCH_DEFAULT = 1;
const MATCH_ANY = 2;

/** One entity component: a name, null for <default>, or "any" (--describe of a whole entity type). */
export type ComponentName = string | null | { any: true };

/** AlterClientQuotas operations: set a key to a value, or remove it. */
export interface QuotaOp {
  key: string;
  value: number;
  remove: boolean;
}

/** One entity's quotas as DescribeClientQuotas answers them (user / clientId absent: not part of the entity). */
export interface QuotaRow {
  user?: string | null;
  clientId?: string | null;
  quotas: Record<string, number>;
}

/** `a=1,b=2` items to set (repeatable) and `a,b` keys to remove, as operations; a bad item throws. */
export function parseQuotaOps(addConfig: readonly string[], deleteConfig: readonly string[]): QuotaOp[] {
  const ops: QuotaOp[] = [];
  for (const item of addConfig.flatMap((list) => list.split(","))) {
    const [key, text, extra] = item.split("=").map((part) => part.trim());
    const value = Number(text);
    if (!key || text === undefined || extra !== undefined || text === "" || !Number.isFinite(value)) throw new Error(`--add-config ${item}: expected KEY=NUMBER`);
    ops.push({ key, value, remove: false });
  }
  for (const key of deleteConfig.flatMap((list) => list.split(",")).map((part) => part.trim())) {
    if (!key) throw new Error("--delete-config: empty key");
    ops.push({ key, value: 0, remove: true });
  }
  const keys = ops.map((op) => op.key);
  const repeated = keys.find((key, index) => keys.indexOf(key) !== index);
  if (repeated !== undefined) throw new Error(`${repeated} is given twice`);
  return ops;
}

const shown = (name: string | null | undefined) => (name === undefined ? "-" : name === null ? "<default>" : name);

/** "user alice, client-id <default>" */
export function entityLabel(components: ReadonlyMap<string, ComponentName>): string {
  return [...components].map(([type, name]) => `${type === USER_ENTITY ? "user" : "client-id"} ${typeof name === "object" && name !== null ? "*" : shown(name)}`).join(", ");
}

/** DescribeClientQuotas: the entity's quotas (strict when every component is named), or every entity's. */
export async function describeQuotas(connection: KafkaConnection, components: ReadonlyMap<string, ComponentName>): Promise<QuotaRow[]> {
  const filter = [...components].map(([entityType, name]) =>
    name === null ? { entityType, matchType: MATCH_DEFAULT, match: null } : typeof name === "object" ? { entityType, matchType: MATCH_ANY, match: null } : { entityType, matchType: MATCH_EXACT, match: name },
  );
  // A named entity is that entity alone (kafka-configs.sh); a bare --entity-type lists every entity with one.
  const strict = filter.length > 0 && filter.every((component) => component.matchType !== MATCH_ANY);
  const response = await connection.request(ApiKey.DescribeClientQuotas, 1, { components: filter, strict });
  if (response.errorCode !== ErrorCode.NONE) throw new Error(`${errorName(response.errorCode)}: ${response.errorMessage ?? ""}`);
  const rows = (response.entries as { entity: { entityType: string; entityName: string | null }[]; values: { key: string; value: number }[] }[]).map((entry) => {
    const row: QuotaRow = { quotas: {} };
    for (const { entityType, entityName } of entry.entity) {
      if (entityType === USER_ENTITY) row.user = entityName;
      else if (entityType === CLIENT_ID_ENTITY) row.clientId = entityName;
    }
    for (const { key, value } of entry.values) row.quotas[key] = value;
    return row;
  });
  rows.sort((a, b) => `${shown(a.user)}\u0000${shown(a.clientId)}`.localeCompare(`${shown(b.user)}\u0000${shown(b.clientId)}`));
  return rows;
}

/** The USER / CLIENT-ID / QUOTAS table, or "No quotas.". */
export function formatQuotaRows(rows: readonly QuotaRow[]): string {
  if (rows.length === 0) return "No quotas.";
  const lines = [["USER", "CLIENT-ID", "QUOTAS"], ...rows.map((row) => [shown(row.user), shown(row.clientId), Object.entries(row.quotas).map(([key, value]) => `${key}=${value}`).join(",")])];
  const widths = [0, 1].map((column) => Math.max(...lines.map((line) => line[column]!.length)));
  return lines.map((line) => `${line[0]!.padEnd(widths[0]!)}  ${line[1]!.padEnd(widths[1]!)}  ${line[2]}`).join("\n");
}

/** AlterClientQuotas of one entity (every component named or <default>); answers the broker's error, if any. */
export async function alterQuotas(connection: KafkaConnection, components: ReadonlyMap<string, string | null>, ops: readonly QuotaOp[]): Promise<{ entity: Record<string, string | null>; error: string | null; message: string | null }> {
  const entity = [...components].map(([entityType, entityName]) => ({ entityType, entityName }));
  const response = await connection.request(ApiKey.AlterClientQuotas, 1, { entries: [{ entity, ops }], validateOnly: false });
  const result = (response.entries as { errorCode: number; errorMessage: string | null }[])[0];
  if (!result) throw new Error("the broker answered with no result");
  return { entity: Object.fromEntries(entity.map(({ entityType, entityName }) => [entityType, entityName])), error: result.errorCode === ErrorCode.NONE ? null : errorName(result.errorCode), message: result.errorMessage };
}

/** "set a=1; removed b" */
export function describeOps(ops: readonly QuotaOp[]): string {
  const added = ops.filter((op) => !op.remove).map((op) => `${op.key}=${op.value}`);
  const deleted = ops.filter((op) => op.remove).map((op) => op.key);
  return [...(added.length ? [`set ${added.join(",")}`] : []), ...(deleted.length ? [`removed ${deleted.join(",")}`] : [])].join("; ");
}

function fail(message: string, code: number): never {
  console.error(`quotas: ${message}`);
  process.exit(code);
}

async function main(): Promise<void> {
  let parsed;
  try {
    parsed = parseArgs({
      options: {
        ...CONNECTION_FLAGS,
        alter: { type: "boolean" },
        describe: { type: "boolean" },
        "add-config": { type: "string", multiple: true },
        "delete-config": { type: "string", multiple: true },
        user: { type: "string" },
        "user-defaults": { type: "boolean" },
        client: { type: "string" },
        "client-defaults": { type: "boolean" },
        "entity-type": { type: "string" },
        "entity-name": { type: "string" },
        "entity-default": { type: "boolean" },
        json: { type: "boolean" },
      },
      strict: true,
    });
  } catch (error) {
    fail(`${error instanceof Error ? error.message : String(error)}\n\n${usage}`, 2);
  }
  const flags = parsed.values;
  if (flags.help) {
    console.log(usage);
    process.exit(0);
  }
  if ((flags.alter ? 1 : 0) + (flags.describe ? 1 : 0) !== 1) fail(`exactly one of --alter, --describe\n\n${usage}`, 2);
  if (!flags["bootstrap-server"]) fail(`--bootstrap-server HOST:PORT is required\n\n${usage}`, 2);

  const components = new Map<string, ComponentName>();
  function addComponent(entityType: string, name: ComponentName, flag: string): void {
    if (components.has(entityType)) fail(`${flag}: the ${entityType} is already given`, 2);
    components.set(entityType, name);
  }
  if (flags.user !== undefined && flags["user-defaults"]) fail("--user and --user-defaults exclude each other", 2);
  if (flags.client !== undefined && flags["client-defaults"]) fail("--client and --client-defaults exclude each other", 2);
  if (flags.user !== undefined) addComponent(USER_ENTITY, flags.user, "--user");
  if (flags["user-defaults"]) addComponent(USER_ENTITY, null, "--user-defaults");
  if (flags.client !== undefined) addComponent(CLIENT_ID_ENTITY, flags.client, "--client");
  if (flags["client-defaults"]) addComponent(CLIENT_ID_ENTITY, null, "--client-defaults");
  if (flags["entity-type"] !== undefined) {
    const entityType = { users: USER_ENTITY, clients: CLIENT_ID_ENTITY }[flags["entity-type"]];
    if (!entityType) fail(`--entity-type ${flags["entity-type"]}: use users or clients`, 2);
    if (flags["entity-name"] !== undefined && flags["entity-default"]) fail("--entity-name and --entity-default exclude each other", 2);
    const name: ComponentName = flags["entity-name"] ?? (flags["entity-default"] ? null : { any: true });
    addComponent(entityType, name, "--entity-type");
  } else if (flags["entity-name"] !== undefined || flags["entity-default"]) {
    fail("--entity-name and --entity-default need --entity-type", 2);
  }

  let ops: QuotaOp[] = [];
  if (flags.alter) {
    try {
      ops = parseQuotaOps(flags["add-config"] ?? [], flags["delete-config"] ?? []);
    } catch (error) {
      fail((error as Error).message, 2);
    }
    if (ops.length === 0) fail("--alter needs --add-config or --delete-config", 2);
    if (components.size === 0) fail("--alter needs an entity: --user/--user-defaults and/or --client/--client-defaults", 2);
    for (const name of components.values()) if (name !== null && typeof name === "object") fail("--alter needs --entity-name or --entity-default", 2);
  } else if (flags["add-config"] || flags["delete-config"]) {
    fail("--add-config and --delete-config go with --alter", 2);
  }

  let security;
  let timeoutMs;
  let address;
  try {
    address = parseBootstrap(flags["bootstrap-server"]);
    ({ security, timeoutMs } = connectionFromFlags(flags));
  } catch (error) {
    fail(error instanceof ClientConfigError ? error.message : String(error), 2);
  }
  const connection = await connectClient({ ...address, clientId: "bunka-quotas", requestTimeoutMs: timeoutMs }, security).catch((error) => fail(error instanceof Error ? error.message : String(error), 1));
  try {
    if (flags.describe) {
      const rows = await describeQuotas(connection, components);
      console.log(flags.json ? JSON.stringify(rows) : formatQuotaRows(rows));
    } else {
      const result = await alterQuotas(connection, components as Map<string, string | null>, ops);
      if (flags.json) console.log(JSON.stringify(result));
      if (result.error !== null) {
        console.error(`quotas: ${entityLabel(components)}: ${result.error}: ${result.message ?? ""}`);
        process.exitCode = 1;
      } else if (!flags.json) console.log(`Quotas of ${entityLabel(components)}: ${describeOps(ops)}.`);
    }
  } catch (error) {
    fail(explainFailure(error, security), 1);
  } finally {
    connection.close();
  }
}

if (import.meta.main) await main();
