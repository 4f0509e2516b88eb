// `bun run acls`: ACL administration from the command line, with kafka-acls.sh's main options.
//   --add    --allow-principal P | --deny-principal P  --operation OP ...  (--topic T | --group G | --cluster | --transactional-id ID)
//   --remove [same selectors; without principals or operations every ACL of the resource goes]
//   --list   [--topic T | --group G | --cluster | --transactional-id ID] [--principal P]
// Exit code 0 on success, 1 on an error the broker reported, 2 on bad usage. The operations are functions
// `bunka acl` (src/cli/acl.ts) calls too.
import { parseArgs } from "node:util";
import type { KafkaConnection } from "../client/kafka-connection.ts";
import { errorName } from "../protocol/errors.ts";
import { ApiKey } from "../protocol/generated/index.ts";
import {
  AclOperation,
  AclPermission,
  CLUSTER_RESOURCE,
  PatternType,
  ResourceType,
  operationName,
  parseOperation,
  patternTypeName,
  permissionName,
  resourceTypeName,
  type AclBinding,
  type AclBindingFilter,
} from "../security/acl/model.ts";
import { CLIENT_CONFIG_USAGE, ClientConfigError, CONNECTION_FLAGS, connectClient, connectionFromFlags, explainFailure, parseBootstrap, type ClientSecurity } from "./client-config.ts";

const usage = `Usage: bun run acls --bootstrap-server HOST:PORT (--add | --remove | --list) [options]

Resources (repeatable, combinable):
  --topic T  --group G  --transactional-id ID  --cluster
  --resource-pattern-type literal|prefixed|any|match   (default: literal; --list: any)
Principals and hosts:
  --allow-principal User:NAME   --deny-principal User:NAME   (repeatable; User:* is everyone)
  --allow-host HOST             --deny-host HOST             (default: *)
  --principal User:NAME         --list: only this principal's ACLs
Operations (repeatable): --operation Read|Write|Create|Delete|Alter|Describe|ClusterAction|
  DescribeConfigs|AlterConfigs|IdempotentWrite|All   (--add default: All)
${CLIENT_CONFIG_USAGE}Other:
  --timeout-ms N   per-request timeout (default 30000)
  -h, --help
`;

function fail(message: string, code: number): never {
  console.error(`acls: ${message}`);
  process.exit(code);
}

const API_VERSION = 1; // v1 has pattern types; every broker since Kafka 2.0 and Bunka serve it

interface Resource {
  resourceType: number;
  resourceName: string;
}

/** What a command line asks for, before it becomes bindings or filters. */
export interface AclCommand {
  action: "add" | "remove" | "list";
  resources: Resource[];
  patternType: number;
  allowPrincipals: string[];
  denyPrincipals: string[];
  allowHosts: string[];
  denyHosts: string[];
  operations: number[];
  principal: string | null;
}

export function parseAclCommand(argv: string[]): AclCommand & { bootstrap: string; timeoutMs: number; security: ClientSecurity } {
  const { values } = parseArgs({
    args: argv,
    options: {
      ...CONNECTION_FLAGS,
      add: { type: "boolean" },
      remove: { type: "boolean" },
      list: { type: "boolean" },
      topic: { type: "string", multiple: true },
      group: { type: "string", multiple: true },
      "transactional-id": { type: "string", multiple: true },
      cluster: { type: "boolean" },
      "resource-pattern-type": { type: "string" },
      "allow-principal": { type: "string", multiple: true },
      "deny-principal": { type: "string", multiple: true },
      "allow-host": { type: "string", multiple: true },
      "deny-host": { type: "string", multiple: true },
      principal: { type: "string" },
      operation: { type: "string", multiple: true },
      force: { type: "boolean" },
    },
    strict: true,
  });
  if (values.help) {
    console.log(usage);
    process.exit(0);
  }
  const actions = (["add", "remove", "list"] as const).filter((action) => values[action]);
  if (actions.length !== 1) throw new UsageError("give exactly one of --add, --remove, --list");
  const action = actions[0]!;
  if (!values["bootstrap-server"]) throw new UsageError("--bootstrap-server is required");
  const command = aclCommand(action, values);
  let security: ClientSecurity;
  let timeoutMs: number;
  try {
    ({ security, timeoutMs } = connectionFromFlags(values));
  } catch (error) {
    if (error instanceof ClientConfigError) throw new UsageError(error.message);
    throw error;
  }
  return { ...command, bootstrap: values["bootstrap-server"], timeoutMs, security };
}

/** The selectors of an ACL command line (kafka-acls.sh's option names), as `bun run acls` and `bunka acl` take them. */
export interface AclSelectors {
  topic?: string[];
  group?: string[];
  "transactional-id"?: string[];
  cluster?: boolean;
  "resource-pattern-type"?: string;
  "allow-principal"?: string[];
  "deny-principal"?: string[];
  "allow-host"?: string[];
  "deny-host"?: string[];
  principal?: string;
  operation?: string[];
}

/** Checks the selectors for the action; a bad combination throws UsageError. */
export function aclCommand(action: AclCommand["action"], values: AclSelectors): AclCommand {
  const resources: Resource[] = [
    ...(values.topic ?? []).map((name) => ({ resourceType: ResourceType.TOPIC, resourceName: name })),
    ...(values.group ?? []).map((name) => ({ resourceType: ResourceType.GROUP, resourceName: name })),
    ...(values["transactional-id"] ?? []).map((name) => ({ resourceType: ResourceType.TRANSACTIONAL_ID, resourceName: name })),
    ...(values.cluster ? [{ resourceType: ResourceType.CLUSTER, resourceName: CLUSTER_RESOURCE }] : []),
  ];
  const patternText = values["resource-pattern-type"] ?? (action === "list" ? "any" : "literal");
  const patternType = (PatternType as Record<string, number>)[patternText.toUpperCase()];
  if (patternType === undefined || patternType === PatternType.UNKNOWN) throw new UsageError(`unknown --resource-pattern-type ${patternText}`);
  if (action === "add" && patternType !== PatternType.LITERAL && patternType !== PatternType.PREFIXED) throw new UsageError("--add takes --resource-pattern-type literal or prefixed");
  const operations = (values.operation ?? []).map((text) => {
    const operation = parseOperation(text);
    if (operation === undefined) throw new UsageError(`unknown --operation ${text}`);
    return operation;
  });
  const command: AclCommand = {
    action,
    resources,
    patternType,
    allowPrincipals: values["allow-principal"] ?? [],
    denyPrincipals: values["deny-principal"] ?? [],
    allowHosts: values["allow-host"] ?? [],
    denyHosts: values["deny-host"] ?? [],
    operations,
    principal: values.principal ?? null,
  };
  if (action !== "list" && resources.length === 0) throw new UsageError(`--${action} needs a resource (--topic, --group, --transactional-id or --cluster)`);
  if (action === "add" && command.allowPrincipals.length + command.denyPrincipals.length === 0) throw new UsageError("--add needs --allow-principal or --deny-principal");
  return command;
}

export class UsageError extends Error {}

/** --add: one binding per resource × principal × host × operation (Kafka's AclCommand does the same product). */
export function bindingsToAdd(command: AclCommand): AclBinding[] {
  const operations = command.operations.length > 0 ? command.operations : [AclOperation.ALL];
  const bindings: AclBinding[] = [];
  const sides = [
    { permission: AclPermission.ALLOW, principals: command.allowPrincipals, hosts: command.allowHosts.length > 0 ? command.allowHosts : ["*"] },
    { permission: AclPermission.DENY, principals: command.denyPrincipals, hosts: command.denyHosts.length > 0 ? command.denyHosts : ["*"] },
  ];
  for (const resource of command.resources)
    for (const side of sides)
      for (const principal of side.principals)
        for (const host of side.hosts)
          for (const operation of operations) bindings.push({ ...resource, patternType: command.patternType, principal, host, operation, permission: side.permission });
  return bindings;
}

/** --remove and --list: filters; what is not given matches anything. */
export function filtersOf(command: AclCommand): AclBindingFilter[] {
  const resources: (Resource | null)[] = command.resources.length > 0 ? command.resources : [null];
  const anyFilter = (resource: Resource | null): AclBindingFilter => ({
    resourceType: resource?.resourceType ?? ResourceType.ANY,
    resourceName: resource?.resourceName ?? null,
    patternType: command.patternType,
    principal: command.principal,
    host: null,
    operation: AclOperation.ANY,
    permission: AclPermission.ANY,
  });
  if (command.action === "list" || command.allowPrincipals.length + command.denyPrincipals.length === 0) {
    const operations = command.operations.length > 0 && command.action === "remove" ? command.operations : [AclOperation.ANY];
    return resources.flatMap((resource) => operations.map((operation) => ({ ...anyFilter(resource), operation })));
  }
  const operations = command.operations.length > 0 ? command.operations : [AclOperation.ANY];
  const filters: AclBindingFilter[] = [];
  const sides = [
    { permission: AclPermission.ALLOW, principals: command.allowPrincipals, hosts: command.allowHosts.length > 0 ? command.allowHosts : [null] },
    { permission: AclPermission.DENY, principals: command.denyPrincipals, hosts: command.denyHosts.length > 0 ? command.denyHosts : [null] },
  ];
  for (const resource of resources)
    for (const side of sides)
      for (const principal of side.principals)
        for (const host of side.hosts)
          for (const operation of operations) filters.push({ ...anyFilter(resource), principal, host, operation, permission: side.permission });
  return filters;
}

/** A binding the broker created, or refused with `error`. */
export interface AclCreation {
  binding: AclBinding;
  error: string | null;
}

/** The ACLs on one resource pattern, as DescribeAcls answers. */
export interface DescribedResource {
  resourceType: number;
  resourceName: string;
  patternType: number;
  acls: { principal: string; host: string; operation: number; permission: number }[];
}

function brokerError(errorCode: number, errorMessage: string | null): string {
  return `${errorName(errorCode)}${errorMessage ? `: ${errorMessage}` : ""}`;
}

/** CreateAcls: one result per binding, in order. */
export async function createAcls(connection: KafkaConnection, bindings: readonly AclBinding[]): Promise<AclCreation[]> {
  const response = await connection.request(ApiKey.CreateAcls, API_VERSION, {
    creations: bindings.map((binding) => ({ ...binding, resourcePatternType: binding.patternType, permissionType: binding.permission })),
  });
  return (response.results as { errorCode: number; errorMessage: string | null }[]).map((result, index) => ({ binding: bindings[index]!, error: result.errorCode === 0 ? null : brokerError(result.errorCode, result.errorMessage) }));
}

/** DeleteAcls: the bindings removed, and the errors of filters the broker refused. */
export async function deleteAcls(connection: KafkaConnection, filters: readonly AclBindingFilter[]): Promise<{ removed: AclBinding[]; errors: string[] }> {
  const response = await connection.request(ApiKey.DeleteAcls, API_VERSION, {
    filters: filters.map((filter) => ({ resourceTypeFilter: filter.resourceType, resourceNameFilter: filter.resourceName, patternTypeFilter: filter.patternType, principalFilter: filter.principal, hostFilter: filter.host, operation: filter.operation, permissionType: filter.permission })),
  });
  const removed: AclBinding[] = [];
  const errors: string[] = [];
  for (const result of response.filterResults) {
    if (result.errorCode !== 0) {
      errors.push(brokerError(result.errorCode, result.errorMessage));
      continue;
    }
    for (const match of result.matchingAcls) removed.push({ resourceType: match.resourceType, resourceName: match.resourceName, patternType: match.patternType, principal: match.principal, host: match.host, operation: match.operation, permission: match.permissionType });
  }
  return { removed, errors };
}

/** DescribeAcls, one request per filter: the matching resources, and the errors of filters the broker refused. */
export async function describeAcls(connection: KafkaConnection, filters: readonly AclBindingFilter[]): Promise<{ resources: DescribedResource[]; errors: string[] }> {
  const resources: DescribedResource[] = [];
  const errors: string[] = [];
  for (const filter of filters) {
    const response = await connection.request(ApiKey.DescribeAcls, API_VERSION, {
      resourceTypeFilter: filter.resourceType, resourceNameFilter: filter.resourceName, patternTypeFilter: filter.patternType, principalFilter: filter.principal, hostFilter: filter.host, operation: filter.operation, permissionType: filter.permission,
    });
    if (response.errorCode !== 0) {
      errors.push(brokerError(response.errorCode, response.errorMessage));
      continue;
    }
    for (const resource of response.resources)
      resources.push({ resourceType: resource.resourceType, resourceName: resource.resourceName, patternType: resource.patternType, acls: resource.acls.map((entry: { principal: string; host: string; operation: number; permissionType: number }) => ({ principal: entry.principal, host: entry.host, operation: entry.operation, permission: entry.permissionType })) });
  }
  return { resources, errors };
}

export function describeBinding(binding: Pick<AclBinding, "principal" | "host" | "operation" | "permission">): string {
  return `(principal=${binding.principal}, host=${binding.host}, operation=${operationName(binding.operation)}, permissionType=${permissionName(binding.permission)})`;
}

export function resourceLine(resourceType: number, resourceName: string, patternType: number): string {
  return `ResourcePattern(resourceType=${resourceTypeName(resourceType)}, name=${resourceName}, patternType=${patternTypeName(patternType)})`;
}

async function main(): Promise<void> {
  let command: ReturnType<typeof parseAclCommand>;
  try {
    command = parseAclCommand(process.argv.slice(2));
  } catch (error) {
    fail(`${error instanceof Error ? error.message : String(error)}\n\n${usage}`, 2);
  }
  let address: { host: string; port: number };
  try {
    address = parseBootstrap(command.bootstrap);
  } catch (error) {
    fail((error as Error).message, 2);
  }
  const connection = await connectClient({ ...address, clientId: "bunka-acls", requestTimeoutMs: command.timeoutMs }, command.security).catch((error: Error) => fail(error.message, 1));
  try {
    if (command.action === "add") {
      for (const { binding, error } of await createAcls(connection, bindingsToAdd(command))) {
        if (error !== null) {
          console.error(`acls: ${resourceLine(binding.resourceType, binding.resourceName, binding.patternType)} ${describeBinding(binding)}: ${error}`);
          process.exitCode = 1;
        } else console.log(`Added ACL for ${resourceLine(binding.resourceType, binding.resourceName, binding.patternType)}: ${describeBinding(binding)}`);
      }
    } else if (command.action === "remove") {
      const { removed, errors } = await deleteAcls(connection, filtersOf(command));
      for (const error of errors) console.error(`acls: ${error}`);
      if (errors.length > 0) process.exitCode = 1;
      for (const match of removed) console.log(`Removed ACL for ${resourceLine(match.resourceType, match.resourceName, match.patternType)}: ${describeBinding(match)}`);
    } else {
      const { resources, errors } = await describeAcls(connection, filtersOf(command));
      for (const error of errors) console.error(`acls: ${error}`);
      if (errors.length > 0) process.exitCode = 1;
      for (const resource of resources) {
        console.log(`Current ACLs for resource \`${resourceLine(resource.resourceType, resource.resourceName, resource.patternType)}\`:`);
        for (const entry of resource.acls) console.log(`\t${describeBinding(entry)}`);
        console.log("");
      }
    }
  } catch (error) {
    fail(explainFailure(error, command.security), 1);
  } finally {
    connection.close();
  }
}

if (import.meta.main) await main();
