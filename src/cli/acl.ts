// `bunka acl add|list|remove`: ACLs (CreateAcls, DescribeAcls, DeleteAcls) with kafka-acls.sh's selectors,
// through the functions `bun run acls` uses (src/tools/acls.ts).
import type { Command } from "commander";
import { aclCommand, bindingsToAdd, createAcls, deleteAcls, describeAcls, filtersOf, type AclSelectors } from "../tools/acls.ts";
import { operationName, patternTypeName, permissionName, resourceTypeName, type AclBinding } from "../security/acl/model.ts";
import { collect, withConnection } from "./common.ts";
import { CliError, printJson, table } from "./output.ts";

interface AclOptions {
  topic: string[];
  group: string[];
  transactionalId: string[];
  cluster?: boolean;
  resourcePatternType?: string;
  /** Only on add and remove. */
  allowPrincipal?: string[];
  denyPrincipal?: string[];
  allowHost?: string[];
  denyHost?: string[];
  principal?: string;
  operation: string[];
}

function selectorsOf(options: AclOptions): AclSelectors {
  return {
    topic: options.topic,
    group: options.group,
    "transactional-id": options.transactionalId,
    cluster: options.cluster,
    "resource-pattern-type": options.resourcePatternType,
    "allow-principal": options.allowPrincipal,
    "deny-principal": options.denyPrincipal,
    "allow-host": options.allowHost,
    "deny-host": options.denyHost,
    principal: options.principal,
    operation: options.operation,
  };
}

/** An ACL with its enums named, as tables and --json show it. */
function named(binding: AclBinding) {
  return {
    resourceType: resourceTypeName(binding.resourceType),
    resourceName: binding.resourceName,
    patternType: patternTypeName(binding.patternType),
    principal: binding.principal,
    host: binding.host,
    operation: operationName(binding.operation),
    permission: permissionName(binding.permission),
  };
}

const HEADERS = ["RESOURCE-TYPE", "RESOURCE-NAME", "PATTERN-TYPE", "PRINCIPAL", "HOST", "OPERATION", "PERMISSION"];
const row = (acl: ReturnType<typeof named>) => [acl.resourceType, acl.resourceName, acl.patternType, acl.principal, acl.host, acl.operation, acl.permission];

function withSelectors(command: Command, principals: boolean): Command {
  command
    .option("--topic <topic>", "a topic (repeatable)", collect, [])
    .option("--group <group>", "a consumer group (repeatable)", collect, [])
    .option("--transactional-id <id>", "a transactional id (repeatable)", collect, [])
    .option("--cluster", "the cluster resource")
    .option("--resource-pattern-type <type>", "literal, prefixed (add); also any, match (list, remove)")
    .option("--operation <op>", "Read, Write, Create, Delete, Alter, Describe, ClusterAction, DescribeConfigs, AlterConfigs, IdempotentWrite, All (repeatable)", collect, []);
  if (principals)
    command
      .option("--allow-principal <principal>", "User:NAME allowed (repeatable; User:* is everyone)", collect, [])
      .option("--deny-principal <principal>", "User:NAME denied (repeatable)", collect, [])
      .option("--allow-host <host>", "host the allow applies to (repeatable; default *)", collect, [])
      .option("--deny-host <host>", "host the deny applies to (repeatable; default *)", collect, []);
  return command;
}

/** kafka-acls.sh's checks, as UsageError, become the CLI's one-line errors. */
function commandOf(action: "add" | "remove" | "list", options: AclOptions) {
  try {
    return aclCommand(action, selectorsOf(options));
  } catch (error) {
    throw new CliError((error as Error).message.replace(/^--(add|remove|list)\b/, `bunka acl ${action}`));
  }
}

export function registerAcl(program: Command): void {
  const acl = program.command("acl").description("add, list and remove ACLs (like kafka-acls.sh)");

  withSelectors(acl.command("add").description("allow or deny principals operations on resources (default operation: All)"), true).action(async (options: AclOptions, command: Command) => {
    const bindings = bindingsToAdd(commandOf("add", options));
    await withConnection(command, "bunka-acl", async (connection, common) => {
      const results = await createAcls(connection, bindings);
      const failed = results.filter((result) => result.error !== null);
      if (common.json) printJson(results.map((result) => ({ ...named(result.binding), error: result.error })));
      else if (failed.length < results.length) console.log(table(HEADERS, results.filter((result) => result.error === null).map((result) => row(named(result.binding)))));
      if (failed.length > 0) throw new CliError(failed.map((result) => `${resourceTypeName(result.binding.resourceType)} ${result.binding.resourceName} ${result.binding.principal} ${operationName(result.binding.operation)}: ${result.error}`).join("; "));
    });
  });

  withSelectors(acl.command("list").description("ACLs matching the selectors (every ACL without any)"), false)
    .option("--principal <principal>", "only this principal's ACLs")
    .action(async (options: AclOptions, command: Command) => {
      const filters = filtersOf(commandOf("list", options));
      await withConnection(command, "bunka-acl", async (connection, common) => {
        const { resources, errors } = await describeAcls(connection, filters);
        if (errors.length > 0) throw new CliError(errors.join("; "));
        const acls = resources.flatMap((resource) => resource.acls.map((entry) => named({ ...resource, ...entry })));
        if (common.json) printJson(acls);
        else console.log(acls.length === 0 ? "No ACLs." : table(HEADERS, acls.map(row)));
      });
    });

  withSelectors(acl.command("remove").description("remove the ACLs of resources that match (without principals or operations: every ACL of the resource)"), true).action(async (options: AclOptions, command: Command) => {
    const filters = filtersOf(commandOf("remove", options));
    await withConnection(command, "bunka-acl", async (connection, common) => {
      const { removed, errors } = await deleteAcls(connection, filters);
      if (errors.length > 0) throw new CliError(errors.join("; "));
      if (common.json) printJson(removed.map(named));
      else console.log(removed.length === 0 ? "No ACLs matched." : table(HEADERS, removed.map((binding) => row(named(binding)))));
    });
  });
}
