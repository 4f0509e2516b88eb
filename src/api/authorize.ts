// The checks handlers make, by resource type (Kafka's KafkaApis.authorize): one line per check in a handler.
// With no authorizer configured every one is true.
import { AclOperation, CLUSTER_RESOURCE, ResourceType } from "../security/acl/model.ts";
import type { RequestContext } from "./context.ts";

export { AclOperation };

type Checker = Pick<RequestContext, "authorizer" | "connection">;

export function canTopic(context: Checker, operation: number, topic: string): boolean {
  return context.authorizer.authorize(context.connection, operation, ResourceType.TOPIC, topic);
}

export function canGroup(context: Checker, operation: number, group: string): boolean {
  return context.authorizer.authorize(context.connection, operation, ResourceType.GROUP, group);
}

export function canCluster(context: Checker, operation: number): boolean {
  return context.authorizer.authorize(context.connection, operation, ResourceType.CLUSTER, CLUSTER_RESOURCE);
}

export function canTransactionalId(context: Checker, operation: number, transactionalId: string): boolean {
  return context.authorizer.authorize(context.connection, operation, ResourceType.TRANSACTIONAL_ID, transactionalId);
}

/** Allowed on at least one resource of the type (Kafka's authorizeByResourceType). */
export function canAnyTopic(context: Checker, operation: number): boolean {
  return context.authorizer.authorizeAny(context.connection, operation, ResourceType.TOPIC);
}
