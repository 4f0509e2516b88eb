// Kafka's ACL model (org.apache.kafka.common.acl / resource): the codes are the wire values of
// CreateAcls/DescribeAcls/DeleteAcls, so a binding goes to and from the protocol without translation.

export const ResourceType = {
  UNKNOWN: 0,
  ANY: 1,
  TOPIC: 2,
  GROUP: 3,
  CLUSTER: 4,
  TRANSACTIONAL_ID: 5,
  DELEGATION_TOKEN: 6,
  USER: 7,
} as const;
export type ResourceType = (typeof ResourceType)[keyof typeof ResourceType];

export const PatternType = {
  UNKNOWN: 0,
  /** Filters only: any pattern type. */
  ANY: 1,
  /** Filters only: every binding that would apply to the named resource (literal, wildcard or prefix). */
  MATCH: 2,
  LITERAL: 3,
  PREFIXED: 4,
} as const;
export type PatternType = (typeof PatternType)[keyof typeof PatternType];

export const AclOperation = {
  UNKNOWN: 0,
  ANY: 1,
  ALL: 2,
  READ: 3,
  WRITE: 4,
  CREATE: 5,
  DELETE: 6,
  ALTER: 7,
  DESCRIBE: 8,
  CLUSTER_ACTION: 9,
  DESCRIBE_CONFIGS: 10,
  ALTER_CONFIGS: 11,
  IDEMPOTENT_WRITE: 12,
  CREATE_TOKENS: 13,
  DESCRIBE_TOKENS: 14,
} as const;
export type AclOperation = (typeof AclOperation)[keyof typeof AclOperation];

export const AclPermission = {
  UNKNOWN: 0,
  ANY: 1,
  DENY: 2,
  ALLOW: 3,
} as const;
export type AclPermission = (typeof AclPermission)[keyof typeof AclPermission];

/** Kafka's wildcard resource name ("*"), principal ("User:*") and host ("*"). */
export const WILDCARD_RESOURCE = "*";
export const WILDCARD_PRINCIPAL = "User:*";
export const WILDCARD_HOST = "*";
/** The one CLUSTER resource's name. */
export const CLUSTER_RESOURCE = "kafka-cluster";

export interface AclBinding {
  resourceType: number;
  resourceName: string;
  patternType: number;
  principal: string;
  host: string;
  operation: number;
  permission: number;
}

/** A DescribeAcls/DeleteAcls filter: null strings and ANY codes match everything. */
export interface AclBindingFilter {
  resourceType: number;
  resourceName: string | null;
  patternType: number;
  principal: string | null;
  host: string | null;
  operation: number;
  permission: number;
}

const names = <T extends Record<string, number>>(table: T): Map<number, string> => new Map(Object.entries(table).map(([name, code]) => [code, name]));
const resourceTypeNames = names(ResourceType);
const patternTypeNames = names(PatternType);
const operationNames = names(AclOperation);
const permissionNames = names(AclPermission);

export const resourceTypeName = (code: number): string => resourceTypeNames.get(code) ?? `UNKNOWN(${code})`;
export const patternTypeName = (code: number): string => patternTypeNames.get(code) ?? `UNKNOWN(${code})`;
export const operationName = (code: number): string => operationNames.get(code) ?? `UNKNOWN(${code})`;
export const permissionName = (code: number): string => permissionNames.get(code) ?? `UNKNOWN(${code})`;

/** Parses a name as kafka-acls.sh spells it ("Read", "read", "IdempotentWrite", "IDEMPOTENT_WRITE"). */
export function parseOperation(text: string): number | undefined {
  const normalized = text.replace(/([a-z])([A-Z])/g, "$1_$2").toUpperCase();
  return (AclOperation as Record<string, number>)[normalized];
}

/** The operations a resource type can have ACLs for (Kafka's ResourceType / AclEntry.supportedOperations). */
const supportedOperations: ReadonlyMap<number, ReadonlySet<number>> = new Map<number, ReadonlySet<number>>([
  [ResourceType.TOPIC, new Set([AclOperation.READ, AclOperation.WRITE, AclOperation.CREATE, AclOperation.DESCRIBE, AclOperation.DELETE, AclOperation.ALTER, AclOperation.DESCRIBE_CONFIGS, AclOperation.ALTER_CONFIGS])],
  [ResourceType.GROUP, new Set([AclOperation.READ, AclOperation.DESCRIBE, AclOperation.DELETE])],
  [ResourceType.CLUSTER, new Set([AclOperation.CREATE, AclOperation.CLUSTER_ACTION, AclOperation.DESCRIBE_CONFIGS, AclOperation.ALTER_CONFIGS, AclOperation.IDEMPOTENT_WRITE, AclOperation.ALTER, AclOperation.DESCRIBE])],
  [ResourceType.TRANSACTIONAL_ID, new Set([AclOperation.DESCRIBE, AclOperation.WRITE])],
  [ResourceType.DELEGATION_TOKEN, new Set([AclOperation.DESCRIBE])],
  [ResourceType.USER, new Set([AclOperation.CREATE_TOKENS, AclOperation.DESCRIBE_TOKENS])],
]);

/** Why a binding cannot be stored (Kafka answers INVALID_REQUEST with it), or null when it is valid. */
export function invalidBindingReason(binding: AclBinding): string | null {
  const operations = supportedOperations.get(binding.resourceType);
  if (!operations) return `resource type ${resourceTypeName(binding.resourceType)} cannot have ACLs`;
  if (binding.patternType !== PatternType.LITERAL && binding.patternType !== PatternType.PREFIXED) return `pattern type ${patternTypeName(binding.patternType)} is only for filters (use LITERAL or PREFIXED)`;
  if (binding.permission !== AclPermission.ALLOW && binding.permission !== AclPermission.DENY) return `permission ${permissionName(binding.permission)} is only for filters (use ALLOW or DENY)`;
  if (binding.operation !== AclOperation.ALL && !operations.has(binding.operation)) return `operation ${operationName(binding.operation)} does not apply to ${resourceTypeName(binding.resourceType)}`;
  if (binding.resourceName === "") return "the resource name is empty";
  if (binding.resourceType === ResourceType.CLUSTER && binding.resourceName !== CLUSTER_RESOURCE) return `the cluster resource is named ${CLUSTER_RESOURCE}`;
  if (!/^[^:]+:.+$/.test(binding.principal)) return `principal "${binding.principal}" is not of the form Type:name`;
  if (binding.host === "") return "the host is empty (use * for any host)";
  return null;
}

/** Why a filter is unusable (INVALID_REQUEST), or null. */
export function invalidFilterReason(filter: AclBindingFilter): string | null {
  if (filter.resourceType === ResourceType.UNKNOWN) return "resource type UNKNOWN";
  if (filter.patternType === PatternType.UNKNOWN || !patternTypeNames.has(filter.patternType)) return `pattern type ${patternTypeName(filter.patternType)}`;
  if (filter.operation === AclOperation.UNKNOWN || !operationNames.has(filter.operation)) return `operation ${operationName(filter.operation)}`;
  if (filter.permission === AclPermission.UNKNOWN || !permissionNames.has(filter.permission)) return `permission ${permissionName(filter.permission)}`;
  return null;
}

/** Whether `binding` is selected by `filter` (Kafka's AclBindingFilter.matches, with MATCH as ResourcePatternFilter does it). */
export function filterMatches(filter: AclBindingFilter, binding: AclBinding): boolean {
  if (filter.resourceType !== ResourceType.ANY && filter.resourceType !== binding.resourceType) return false;
  if (filter.principal !== null && filter.principal !== binding.principal) return false;
  if (filter.host !== null && filter.host !== binding.host) return false;
  if (filter.operation !== AclOperation.ANY && filter.operation !== binding.operation) return false;
  if (filter.permission !== AclPermission.ANY && filter.permission !== binding.permission) return false;
  switch (filter.patternType) {
    case PatternType.ANY:
      return filter.resourceName === null || filter.resourceName === binding.resourceName;
    case PatternType.MATCH:
      if (filter.resourceName === null) return true;
      if (binding.patternType === PatternType.LITERAL) return binding.resourceName === filter.resourceName || binding.resourceName === WILDCARD_RESOURCE;
      return binding.patternType === PatternType.PREFIXED && filter.resourceName.startsWith(binding.resourceName);
    default:
      return filter.patternType === binding.patternType && (filter.resourceName === null || filter.resourceName === binding.resourceName);
  }
}

export function sameBinding(a: AclBinding, b: AclBinding): boolean {
  return (
    a.resourceType === b.resourceType &&
    a.resourceName === b.resourceName &&
    a.patternType === b.patternType &&
    a.principal === b.principal &&
    a.host === b.host &&
    a.operation === b.operation &&
    a.permission === b.permission
  );
}

/** A stable key for a binding (etcd key suffix, dedup). */
export function bindingKey(binding: AclBinding): string {
  return [binding.resourceType, binding.patternType, binding.operation, binding.permission, encodeURIComponent(binding.principal), encodeURIComponent(binding.host), encodeURIComponent(binding.resourceName)].join("/");
}
