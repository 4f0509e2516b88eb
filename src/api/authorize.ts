// The checks handlers make, by resource type (Kafka's KafkaApis.authorize): one line per check in a handler.
// With no authorizer configured every one is true. A denial is reported to the audit trail (allowed
// decisions are not: every produce would be a line); the audit keeps one line per connection and key.
import { AclOperation, CLUSTER_RESOURCE, ResourceType } from "../security/acl/model.ts";
import type { RequestContext } from "./context.ts";

export { AclOperation };

type Checker = Pick<RequestContext, "authorizer" | "connection"> & Partial<Pick<RequestContext, "audit" | "apiKey">>;

/**
 * `logIfDenied` is Kafka's flag: false where a denial is not a refusal, only a filter or the first of two
 * ways to be allowed (Metadata listing every topic, CREATE on the cluster before CREATE on the topic).
 */
function check(context: Checker, operation: number, resourceType: number, resourceName: string, logIfDenied: boolean): boolean {
  if (context.authorizer.authorize(context.connection, operation, resourceType, resourceName)) return true;
  if (logIfDenied) context.audit?.authorizationDenied(context.connection, { resourceType, resourceName, operation, apiKey: context.apiKey });
  return false;
}

export function canTopic(context: Checker, operation: number, topic: string, logIfDenied = true): boolean {
  return check(context, operation, ResourceType.TOPIC, topic, logIfDenied);
}

export function canGroup(context: Checker, operation: number, group: string, logIfDenied = true): boolean {
  return check(context, operation, ResourceType.GROUP, group, logIfDenied);
}

export function canCluster(context: Checker, operation: number, logIfDenied = true): boolean {
  return check(context, operation, ResourceType.CLUSTER, CLUSTER_RESOURCE, logIfDenied);
}

export function canTransactionalId(context: Checker, operation: number, transactionalId: string): boolean {
  return check(context, operation, ResourceType.TRANSACTIONAL_ID, transactionalId, true);
}

/** Allowed on at least one resource of the type (Kafka's authorizeByResourceType). */
export function canAnyTopic(context: Checker, operation: number): boolean {
  if (context.authorizer.authorizeAny(context.connection, operation, ResourceType.TOPIC)) return true;
  context.audit?.authorizationDenied(context.connection, { resourceType: ResourceType.TOPIC, resourceName: null, operation, apiKey: context.apiKey });
  return false;
}
