// `bun run acls` (src/tools/acls.ts) against a real broker: kafka-acls.sh's --add/--list/--remove, with
// what it did checked through kafkajs's admin client and through what the ACLs then allow.
import { afterEach, expect, test } from "bun:test";
import { resolve } from "node:path";
import { AclOperationTypes, AclPermissionTypes, AclResourceTypes, ResourcePatternTypes } from "kafkajs";
import { BrokerProcess } from "../helpers/broker-process.ts";
import { kafkaClient } from "../helpers/kafkajs.ts";
import { run } from "../helpers/run.ts";

const repoRoot = resolve(import.meta.dir, "../..");
const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

const acls = (bootstrap: string, args: string[]) => run([process.execPath, resolve(repoRoot, "src/tools/acls.ts"), "--bootstrap-server", bootstrap, ...args], { timeoutMs: 30_000 });

test("acls --add, --list and --remove manage ACLs the broker then stores and enforces", async () => {
  const broker = new BrokerProcess({ properties: { "authorizer.class.name": "kafka.security.authorizer.AclAuthorizer", "super.users": "User:ANONYMOUS", "num.partition.workers": "1" } });
  cleanups.push(() => broker.cleanup());
  await broker.start();

  const added = await acls(broker.bootstrap, ["--add", "--allow-principal", "User:alice", "--operation", "Read", "--operation", "Describe", "--topic", "orders-", "--resource-pattern-type", "prefixed"]);
  expect(added.exitCode).toBe(0);
  expect(added.stdout).toContain("Added ACL for ResourcePattern(resourceType=TOPIC, name=orders-, patternType=PREFIXED): (principal=User:alice, host=*, operation=READ, permissionType=ALLOW)");
  const denied = await acls(broker.bootstrap, ["--add", "--deny-principal", "User:mallory", "--deny-host", "10.0.0.9", "--group", "billing", "--cluster"]);
  expect(denied.exitCode).toBe(0);

  const admin = kafkaClient(broker.bootstrap).admin();
  await admin.connect();
  cleanups.push(() => admin.disconnect());
  const everything = () => admin.describeAcls({ resourceType: AclResourceTypes.ANY, resourcePatternType: ResourcePatternTypes.ANY, operation: AclOperationTypes.ANY, permissionType: AclPermissionTypes.ANY });
  const stored = (await everything()).resources.flatMap((resource) => resource.acls.map((entry) => `${resource.resourceType}/${resource.resourceName}/${resource.resourcePatternType} ${entry.principal}@${entry.host} ${entry.operation}:${entry.permissionType}`));
  expect(stored.sort()).toEqual(
    [
      "2/orders-/4 User:alice@* 3:3",
      "2/orders-/4 User:alice@* 8:3",
      "3/billing/3 User:mallory@10.0.0.9 2:2",
      "4/kafka-cluster/3 User:mallory@10.0.0.9 2:2",
    ].sort(),
  );

  const listed = await acls(broker.bootstrap, ["--list", "--topic", "orders-"]);
  expect(listed.exitCode).toBe(0);
  expect(listed.stdout).toContain("Current ACLs for resource `ResourcePattern(resourceType=TOPIC, name=orders-, patternType=PREFIXED)`:");
  expect(listed.stdout).toContain("(principal=User:alice, host=*, operation=DESCRIBE, permissionType=ALLOW)");
  expect(listed.stdout).not.toContain("billing");

  const removed = await acls(broker.bootstrap, ["--remove", "--allow-principal", "User:alice", "--operation", "Describe", "--topic", "orders-", "--resource-pattern-type", "prefixed"]);
  expect(removed.exitCode).toBe(0);
  expect(removed.stdout).toContain("Removed ACL for ResourcePattern(resourceType=TOPIC, name=orders-, patternType=PREFIXED): (principal=User:alice, host=*, operation=DESCRIBE, permissionType=ALLOW)");
  const removedGroup = await acls(broker.bootstrap, ["--remove", "--group", "billing"]);
  expect(removedGroup.exitCode).toBe(0);
  const after = (await everything()).resources.map((resource) => `${resource.resourceName}:${resource.acls.map((entry) => entry.operation).join(",")}`);
  expect(after.sort()).toEqual(["kafka-cluster:2", "orders-:3"]);

  // Bad usage: exit 2 with a message; an ACL the broker refuses: exit 1 with its error.
  const noResource = await acls(broker.bootstrap, ["--add", "--allow-principal", "User:alice"]);
  expect(noResource.exitCode).toBe(2);
  expect(noResource.stderr).toContain("--add needs a resource");
  const refused = await acls(broker.bootstrap, ["--add", "--allow-principal", "User:alice", "--operation", "Write", "--group", "g"]);
  expect(refused.exitCode).toBe(1);
  expect(refused.stderr).toContain("INVALID_REQUEST: operation WRITE does not apply to GROUP");
}, 120_000);
