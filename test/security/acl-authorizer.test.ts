// Kafka's authorization rules, decision by decision, on an AclAuthorizer backed by its real file store.
import { afterEach, expect, test } from "bun:test";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { AclAuthorizer, parseSuperUsers } from "../../src/security/acl/authorizer.ts";
import { FileAclStore } from "../../src/security/acl/file-store.ts";
import { AclOperation as Op, AclPermission, PatternType, ResourceType, filterMatches, type AclBinding } from "../../src/security/acl/model.ts";

const dirs: string[] = [];
afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

async function authorizerWith(bindings: Partial<AclBinding>[], options: { superUsers?: string; allowEveryoneIfNoAclFound?: boolean } = {}) {
  const dir = mkdtempSync(join(tmpdir(), "bunka-acl-unit-"));
  dirs.push(dir);
  const authorizer = new AclAuthorizer({ superUsers: parseSuperUsers(options.superUsers ?? ""), allowEveryoneIfNoAclFound: options.allowEveryoneIfNoAclFound ?? false }, new FileAclStore(dir));
  await authorizer.start();
  await authorizer.createAcls(
    bindings.map((binding) => ({ resourceType: ResourceType.TOPIC, resourceName: "t", patternType: PatternType.LITERAL, principal: "User:alice", host: "*", operation: Op.READ, permission: AclPermission.ALLOW, ...binding })),
  );
  return { authorizer, dir };
}

const as = (principal: string, remoteIp = "10.0.0.1") => ({ remoteIp, security: { listener: { name: "SASL", securityProtocol: "SASL_PLAINTEXT" as const }, principal, authenticated: true } });

test("implied operations: READ/WRITE/DELETE/ALTER imply DESCRIBE, ALTER_CONFIGS implies DESCRIBE_CONFIGS, ALL covers everything", async () => {
  const { authorizer } = await authorizerWith([
    { resourceName: "r", operation: Op.READ },
    { resourceName: "w", operation: Op.WRITE },
    { resourceName: "ac", operation: Op.ALTER_CONFIGS },
    { resourceName: "all", operation: Op.ALL },
  ]);
  const alice = as("User:alice");
  expect(authorizer.authorize(alice, Op.DESCRIBE, ResourceType.TOPIC, "r")).toBe(true);
  expect(authorizer.authorize(alice, Op.WRITE, ResourceType.TOPIC, "r")).toBe(false);
  expect(authorizer.authorize(alice, Op.DESCRIBE, ResourceType.TOPIC, "w")).toBe(true);
  expect(authorizer.authorize(alice, Op.READ, ResourceType.TOPIC, "w")).toBe(false);
  expect(authorizer.authorize(alice, Op.DESCRIBE_CONFIGS, ResourceType.TOPIC, "ac")).toBe(true);
  expect(authorizer.authorize(alice, Op.DESCRIBE, ResourceType.TOPIC, "ac")).toBe(false);
  for (const operation of [Op.READ, Op.WRITE, Op.DELETE, Op.ALTER_CONFIGS, Op.DESCRIBE]) expect(authorizer.authorize(alice, operation, ResourceType.TOPIC, "all")).toBe(true);
  // A DENY of READ does not deny DESCRIBE (Kafka implies only for ALLOW).
  const { authorizer: denying } = await authorizerWith([
    { operation: Op.ALL },
    { operation: Op.READ, permission: AclPermission.DENY },
  ]);
  expect(denying.authorize(alice, Op.READ, ResourceType.TOPIC, "t")).toBe(false);
  expect(denying.authorize(alice, Op.DESCRIBE, ResourceType.TOPIC, "t")).toBe(true);
});

test("wildcards: User:* and host *, the resource name *, prefixes; hosts and principals that do not match", async () => {
  const { authorizer } = await authorizerWith([
    { principal: "User:*", resourceName: "*", operation: Op.DESCRIBE },
    { principal: "User:bob", host: "10.0.0.2", resourceName: "logs-", patternType: PatternType.PREFIXED, operation: Op.WRITE },
  ]);
  expect(authorizer.authorize(as("User:anyone"), Op.DESCRIBE, ResourceType.TOPIC, "whatever")).toBe(true);
  expect(authorizer.authorize(as("User:anyone"), Op.DESCRIBE, ResourceType.GROUP, "whatever")).toBe(false);
  expect(authorizer.authorize(as("User:bob", "10.0.0.2"), Op.WRITE, ResourceType.TOPIC, "logs-app")).toBe(true);
  expect(authorizer.authorize(as("User:bob", "10.0.0.3"), Op.WRITE, ResourceType.TOPIC, "logs-app")).toBe(false);
  expect(authorizer.authorize(as("User:bob", "10.0.0.2"), Op.WRITE, ResourceType.TOPIC, "log")).toBe(false);
  expect(authorizer.authorize(as("User:carol", "10.0.0.2"), Op.WRITE, ResourceType.TOPIC, "logs-app")).toBe(false);
});

test("super.users and allow.everyone.if.no.acl.found; a resource some ACL names is closed to the others", async () => {
  const { authorizer } = await authorizerWith([{ permission: AclPermission.DENY, operation: Op.ALL, principal: "User:*" }], { superUsers: " User:admin ; User:broker ", allowEveryoneIfNoAclFound: true });
  expect(authorizer.authorize(as("User:admin"), Op.DELETE, ResourceType.TOPIC, "t")).toBe(true);
  expect(authorizer.authorize(as("User:broker"), Op.CLUSTER_ACTION, ResourceType.CLUSTER, "kafka-cluster")).toBe(true);
  expect(authorizer.authorize(as("User:alice"), Op.READ, ResourceType.TOPIC, "t")).toBe(false);
  expect(authorizer.authorize(as("User:alice"), Op.READ, ResourceType.TOPIC, "untouched")).toBe(true);
  const { authorizer: closed } = await authorizerWith([{ principal: "User:bob" }]);
  expect(closed.authorize(as("User:alice"), Op.READ, ResourceType.TOPIC, "untouched")).toBe(false);
  expect(closed.authorize(as("User:alice"), Op.READ, ResourceType.TOPIC, "t")).toBe(false);
});

test("authorizeAny (IDEMPOTENT_WRITE from WRITE on any topic) respects a DENY that covers the ALLOW", async () => {
  const { authorizer } = await authorizerWith([
    { resourceName: "a", operation: Op.WRITE },
    { principal: "User:bob", resourceName: "b-", patternType: PatternType.PREFIXED, operation: Op.WRITE },
    { principal: "User:bob", resourceName: "b-", patternType: PatternType.PREFIXED, operation: Op.WRITE, permission: AclPermission.DENY },
  ]);
  expect(authorizer.authorizeAny(as("User:alice"), Op.WRITE, ResourceType.TOPIC)).toBe(true);
  expect(authorizer.authorizeAny(as("User:bob"), Op.WRITE, ResourceType.TOPIC)).toBe(false);
  expect(authorizer.authorizeAny(as("User:carol"), Op.WRITE, ResourceType.TOPIC)).toBe(false);
});

test("cached decisions follow ACL changes and a changed principal; the store keeps ACLs across a restart", async () => {
  const { authorizer, dir } = await authorizerWith([]);
  const connection = as("User:alice");
  expect(authorizer.authorize(connection, Op.READ, ResourceType.TOPIC, "t")).toBe(false);
  await authorizer.createAcls([{ resourceType: ResourceType.TOPIC, resourceName: "t", patternType: PatternType.LITERAL, principal: "User:alice", host: "*", operation: Op.READ, permission: AclPermission.ALLOW }]);
  expect(authorizer.authorize(connection, Op.READ, ResourceType.TOPIC, "t")).toBe(true);
  connection.security.principal = "User:mallory"; // re-authentication as someone else
  expect(authorizer.authorize(connection, Op.READ, ResourceType.TOPIC, "t")).toBe(false);
  expect(existsSync(join(dir, "meta", "acls.bin"))).toBe(true);

  const reopened = new AclAuthorizer({ superUsers: new Set(), allowEveryoneIfNoAclFound: false }, new FileAclStore(dir));
  await reopened.start();
  expect(reopened.authorize(as("User:alice"), Op.READ, ResourceType.TOPIC, "t")).toBe(true);
  const removed = await reopened.deleteAcls([{ resourceType: ResourceType.ANY, resourceName: null, patternType: PatternType.ANY, principal: "User:alice", host: null, operation: Op.ANY, permission: AclPermission.ANY }]);
  expect(removed[0]!.length).toBe(1);
  const again = new AclAuthorizer({ superUsers: new Set(), allowEveryoneIfNoAclFound: false }, new FileAclStore(dir));
  await again.start();
  expect(again.describeAcls({ resourceType: ResourceType.ANY, resourceName: null, patternType: PatternType.ANY, principal: null, host: null, operation: Op.ANY, permission: AclPermission.ANY })).toEqual([]);
});

test("filters: MATCH selects the literal, wildcard and prefix bindings that apply to a name; ANY ignores the pattern type", () => {
  const binding = (resourceName: string, patternType: number): AclBinding => ({ resourceType: ResourceType.TOPIC, resourceName, patternType, principal: "User:a", host: "*", operation: Op.READ, permission: AclPermission.ALLOW });
  const match = { resourceType: ResourceType.TOPIC, resourceName: "orders-eu", patternType: PatternType.MATCH, principal: null, host: null, operation: Op.ANY, permission: AclPermission.ANY };
  expect(filterMatches(match, binding("orders-eu", PatternType.LITERAL))).toBe(true);
  expect(filterMatches(match, binding("*", PatternType.LITERAL))).toBe(true);
  expect(filterMatches(match, binding("orders-", PatternType.PREFIXED))).toBe(true);
  expect(filterMatches(match, binding("orders-us", PatternType.LITERAL))).toBe(false);
  expect(filterMatches(match, binding("payments-", PatternType.PREFIXED))).toBe(false);
  const any = { ...match, patternType: PatternType.ANY, resourceName: "orders-" };
  expect(filterMatches(any, binding("orders-", PatternType.PREFIXED))).toBe(true);
  expect(filterMatches(any, binding("orders-", PatternType.LITERAL))).toBe(true);
  expect(filterMatches(any, binding("orders-eu", PatternType.LITERAL))).toBe(false);
  expect(filterMatches({ ...match, patternType: PatternType.LITERAL, resourceName: null }, binding("x-", PatternType.PREFIXED))).toBe(false);
});
