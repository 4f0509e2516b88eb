// ACLs in a 3-broker cluster: stored in etcd, so an ACL created through one broker is enforced by the
// others (their watch on <root>/acls/ delivers it), and a delete through another broker lifts it everywhere.
// allow.everyone.if.no.acl.found=true keeps User:ANONYMOUS (plaintext) free until an ACL names a resource.
import { afterAll, beforeAll, expect, test } from "bun:test";
import { AclOperationTypes, AclPermissionTypes, AclResourceTypes, ResourcePatternTypes } from "kafkajs";
import { KafkaConnection } from "../../src/client/kafka-connection.ts";
import { ErrorCode } from "../../src/protocol/errors.ts";
import { ApiKey } from "../../src/protocol/generated/index.ts";
import { TestCluster } from "../helpers/cluster.ts";
import { kafkaClient } from "../helpers/kafkajs.ts";

const TOPIC = "guarded";
/** Bound on an ACL change reaching every broker (an etcd watch event; generous for a loaded CI machine). */
const PROPAGATION_TIMEOUT_MS = 15_000;
let cluster: TestCluster;

beforeAll(async () => {
  cluster = new TestCluster(3, { "authorizer.class.name": "org.apache.kafka.metadata.authorizer.StandardAuthorizer", "allow.everyone.if.no.acl.found": "true" });
  await cluster.start();
  const admin = kafkaClient(cluster.bootstrap.join(","), "acl-setup").admin();
  await admin.connect();
  await admin.createTopics({ topics: [{ topic: TOPIC, numPartitions: 1, replicationFactor: 3 }], waitForLeaders: true });
  await admin.disconnect();
}, 90_000);

afterAll(async () => {
  await cluster.cleanup();
});

/** The error code broker `nodeId` answers to Metadata for the topic (TOPIC_AUTHORIZATION_FAILED once an ACL hides it). */
async function topicErrorOn(nodeId: number): Promise<number> {
  const connection = await KafkaConnection.connect({ host: "127.0.0.1", port: cluster.broker(nodeId).port, requestTimeoutMs: 5000, connectTimeoutMs: 2000 });
  try {
    const response = await connection.request(ApiKey.Metadata, 9, { topics: [{ name: TOPIC }], allowAutoTopicCreation: false });
    return response.topics[0].errorCode;
  } finally {
    connection.close();
  }
}

test("an ACL created on one broker applies on the others; deleted on another, it is lifted on all", async () => {
  for (const nodeId of [1, 2, 3]) expect(await topicErrorOn(nodeId)).toBe(ErrorCode.NONE);

  // Through broker 1 only: READ on the topic for someone else. User:ANONYMOUS now has no ACL there.
  const admin1 = kafkaClient(cluster.broker(1).bootstrap, "acl-admin-1").admin();
  await admin1.connect();
  await admin1.createAcls({
    acl: [{ resourceType: AclResourceTypes.TOPIC, resourceName: TOPIC, resourcePatternType: ResourcePatternTypes.LITERAL, principal: "User:reader", host: "*", operation: AclOperationTypes.READ, permissionType: AclPermissionTypes.ALLOW }],
  });
  await admin1.disconnect();
  for (const nodeId of [2, 3, 1]) {
    await cluster.waitFor(`broker ${nodeId} to refuse ${TOPIC}`, async () => (await topicErrorOn(nodeId)) === ErrorCode.TOPIC_AUTHORIZATION_FAILED, PROPAGATION_TIMEOUT_MS);
  }

  // Every broker lists the ACL from etcd.
  const admin3 = kafkaClient(cluster.broker(3).bootstrap, "acl-admin-3").admin();
  await admin3.connect();
  const listed = await admin3.describeAcls({ resourceType: AclResourceTypes.TOPIC, resourceName: TOPIC, resourcePatternType: ResourcePatternTypes.LITERAL, operation: AclOperationTypes.ANY, permissionType: AclPermissionTypes.ANY });
  expect(listed.resources.flatMap((resource) => resource.acls.map((entry) => entry.principal))).toEqual(["User:reader"]);

  // Deleted through broker 2: every broker serves the topic again.
  const admin2 = kafkaClient(cluster.broker(2).bootstrap, "acl-admin-2").admin();
  await admin2.connect();
  const deleted = await admin2.deleteAcls({
    filters: [{ resourceType: AclResourceTypes.TOPIC, resourceName: TOPIC, resourcePatternType: ResourcePatternTypes.ANY, operation: AclOperationTypes.ANY, permissionType: AclPermissionTypes.ANY }],
  });
  await admin2.disconnect();
  expect(deleted.filterResponses[0]!.matchingAcls.length).toBe(1);
  for (const nodeId of [1, 3, 2]) {
    await cluster.waitFor(`broker ${nodeId} to serve ${TOPIC} again`, async () => (await topicErrorOn(nodeId)) === ErrorCode.NONE, PROPAGATION_TIMEOUT_MS);
  }
  const after = await admin3.describeAcls({ resourceType: AclResourceTypes.ANY, resourcePatternType: ResourcePatternTypes.ANY, operation: AclOperationTypes.ANY, permissionType: AclPermissionTypes.ANY });
  expect(after.resources).toEqual([]);
  await admin3.disconnect();
}, 120_000);
