// `bunka quota set|remove|describe`: client quotas (KIP-546), through the functions `bun run quotas` uses
// (src/tools/quotas.ts). An entity is a user, a client id, or both; `--user-default` / `--client-default`
// name the <default> entity.
import type { Command } from "commander";
import { CLIENT_ID_ENTITY, SUPPORTED_QUOTA_KEYS, USER_ENTITY } from "../security/quotas/model.ts";
import { alterQuotas, describeOps, describeQuotas, entityLabel, formatQuotaRows, parseQuotaOps, type ComponentName, type QuotaOp } from "../tools/quotas.ts";
import { withConnection } from "./common.ts";
import { CliError, printJson } from "./output.ts";

interface EntityOptions {
  user?: string;
  userDefault?: boolean;
  client?: string;
  clientDefault?: boolean;
}

function withEntity(command: Command): Command {
  return command
    .option("--user <name>", "a user principal's name (without User:)")
    .option("--user-default", "the default user entity")
    .option("--client <id>", "a client id")
    .option("--client-default", "the default client-id entity");
}

/** The entity the options name (user and/or client id; null for <default>). */
function entityOf(options: EntityOptions): Map<string, ComponentName> {
  if (options.user !== undefined && options.userDefault) throw new CliError("--user and --user-default exclude each other");
  if (options.client !== undefined && options.clientDefault) throw new CliError("--client and --client-default exclude each other");
  const components = new Map<string, ComponentName>();
  if (options.user !== undefined) components.set(USER_ENTITY, options.user);
  if (options.userDefault) components.set(USER_ENTITY, null);
  if (options.client !== undefined) components.set(CLIENT_ID_ENTITY, options.client);
  if (options.clientDefault) components.set(CLIENT_ID_ENTITY, null);
  return components;
}

async function alter(command: Command, options: EntityOptions, ops: QuotaOp[]): Promise<void> {
  const entity = entityOf(options);
  if (entity.size === 0) throw new CliError("name an entity: --user/--user-default and/or --client/--client-default");
  await withConnection(command, "bunka-quota", async (connection, common) => {
    const result = await alterQuotas(connection, entity as Map<string, string | null>, ops);
    if (common.json) printJson(result);
    if (result.error !== null) throw new CliError(`${entityLabel(entity)}: ${result.error}${result.message ? `: ${result.message}` : ""}`);
    if (!common.json) console.log(`Quotas of ${entityLabel(entity)}: ${describeOps(ops)}.`);
  });
}

function opsOf(add: string[], remove: string[]): QuotaOp[] {
  try {
    return parseQuotaOps(add, remove);
  } catch (error) {
    throw new CliError((error as Error).message);
  }
}

export function registerQuota(program: Command): void {
  const quota = program.command("quota").description("set, remove and describe client quotas (like kafka-configs.sh --alter/--describe of quotas)");

  withEntity(quota.command("set <key=value...>").description(`set quota keys of an entity: ${SUPPORTED_QUOTA_KEYS.join(", ")}`)).action(async (pairs: string[], options: EntityOptions, command: Command) => {
    await alter(command, options, opsOf(pairs, []));
  });

  withEntity(quota.command("remove <key...>").description("remove quota keys of an entity")).action(async (keys: string[], options: EntityOptions, command: Command) => {
    await alter(command, options, opsOf([], keys));
  });

  withEntity(quota.command("describe").description("the quotas of the entity (every quota without one; --all-users / --all-clients: every entity of that type)"))
    .option("--all-users", "every user entity with a quota")
    .option("--all-clients", "every client-id entity with a quota")
    .action(async (options: EntityOptions & { allUsers?: boolean; allClients?: boolean }, command: Command) => {
      const entity = entityOf(options);
      if (options.allUsers) {
        if (entity.has(USER_ENTITY)) throw new CliError("--all-users excludes --user and --user-default");
        entity.set(USER_ENTITY, { any: true });
      }
      if (options.allClients) {
        if (entity.has(CLIENT_ID_ENTITY)) throw new CliError("--all-clients excludes --client and --client-default");
        entity.set(CLIENT_ID_ENTITY, { any: true });
      }
      await withConnection(command, "bunka-quota", async (connection, common) => {
        const rows = await describeQuotas(connection, entity);
        if (common.json) printJson(rows);
        else console.log(formatQuotaRows(rows));
      });
    });
}

