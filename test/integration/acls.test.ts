// The ACL authorizer with real broker processes and real clients. Until SASL gives other names, the
// principal is User:ANONYMOUS (plaintext listener): phase 1 runs with it in super.users and sets everything
// up through the kafkajs admin client (ACLs included); phase 2 restarts the same data dir without super
// users, so the ACLs (read back from the data dir) are all User:ANONYMOUS has.
import { afterEach, expect, test } from "bun:test";
import { rmSync } from "node:fs";
import { AclOperationTypes, AclPermissionTypes, AclResourceTypes, ResourcePatternTypes } from "kafkajs";
import { KafkaConnection } from "../../src/client/kafka-connection.ts";
import { ErrorCode } from "../../src/protocol/errors.ts";
import { ApiKey } from "../../src/protocol/generated/index.ts";
import { BrokerProcess, tempDir } from "../helpers/broker-process.ts";
import { kafkaClient } from "../helpers/kafkajs.ts";
import { kcat } from "../helpers/kcat.ts";

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

const AUTHORIZER = { "authorizer.class.name": "acl", "num.partition.workers": "1", "group.initial.rebalance.delay.ms": "0", "offsets.topic.num.partitions": "1" };
const ANONYMOUS = "User:ANONYMOUS";
const RECORD_BYTES = new Uint8Array(64).fill(1); // refused before any validation: the bytes are never looked at

async function startBroker(dataDir: string, properties: Record<string, string>): Promise<BrokerProcess> {
  const broker = new BrokerProcess({ dataDir, properties });
  cleanups.push(() => broker.cleanup());
  await broker.start();
  return broker;
}

async function connect(broker: BrokerProcess): Promise<KafkaConnection> {
  const connection = await KafkaConnection.connect({ host: "127.0.0.1", port: broker.port, requestTimeoutMs: 10_000 });
  cleanups.push(() => connection.close());
  return connection;
}

function acl(resourceType: number, resourceName: string, operation: number, permissionType: number, resourcePatternType: number = ResourcePatternTypes.LITERAL) {
  return { resourceType, resourceName, resourcePatternType, principal: ANONYMOUS, host: "*", operation, permissionType };
}

const produce = (connection: KafkaConnection, topic: string) =>
  connection.request(ApiKey.Produce, 7, { transactionalId: null, acks: 1, timeoutMs: 5000, topicData: [{ name: topic, partitionData: [{ index: 0, records: RECORD_BYTES }] }] });

const fetchPartition0 = (connection: KafkaConnection, topic: string) =>
  connection.request(ApiKey.Fetch, 12, {
    replicaId: -1, maxWaitMs: 0, minBytes: 0, maxBytes: 1 << 20, isolationLevel: 0, sessionId: 0, sessionEpoch: -1,
    topics: [{ topic, partitions: [{ partition: 0, currentLeaderEpoch: -1, fetchOffset: 0, lastFetchedEpoch: -1, logStartOffset: -1, partitionMaxBytes: 1 << 20 }] }],
    forgottenTopicsData: [], rackId: "",
  });

const joinGroup = (connection: KafkaConnection, groupId: string) =>
  connection.request(ApiKey.JoinGroup, 5, { groupId, sessionTimeoutMs: 10_000, rebalanceTimeoutMs: 10_000, memberId: "", groupInstanceId: null, protocolType: "consumer", protocols: [{ name: "range", metadata: new Uint8Array(0) }] });

test("ACLs: READ-only on a topic, hidden topics, groups, create/delete, PREFIXED, DENY over ALLOW, super.users, kept across a restart", async () => {
  const dataDir = tempDir("acls");
  cleanups.push(() => rmSync(dataDir, { recursive: true, force: true }));

  // Phase 1: User:ANONYMOUS is a super user. A DENY ALL on topic z does not stop it.
  const setup = await startBroker(dataDir, { ...AUTHORIZER, "super.users": `${ANONYMOUS};User:someone-else` });
  const admin = kafkaClient(setup.bootstrap).admin();
  await admin.connect();
  cleanups.push(() => admin.disconnect());
  await admin.createTopics({ topics: ["a", "b", "c", "z", "pre-data"].map((topic) => ({ topic, numPartitions: 1 })), waitForLeaders: true });
  await admin.createAcls({
    acl: [
      acl(AclResourceTypes.TOPIC, "a", AclOperationTypes.READ, AclPermissionTypes.ALLOW),
      acl(AclResourceTypes.TOPIC, "pre-", AclOperationTypes.WRITE, AclPermissionTypes.ALLOW, ResourcePatternTypes.PREFIXED),
      acl(AclResourceTypes.TOPIC, "c", AclOperationTypes.READ, AclPermissionTypes.ALLOW),
      acl(AclResourceTypes.TOPIC, "c", AclOperationTypes.READ, AclPermissionTypes.DENY),
      acl(AclResourceTypes.TOPIC, "z", AclOperationTypes.ALL, AclPermissionTypes.DENY),
      acl(AclResourceTypes.GROUP, "allowed-group", AclOperationTypes.READ, AclPermissionTypes.ALLOW),
      acl(AclResourceTypes.TOPIC, "short-lived", AclOperationTypes.WRITE, AclPermissionTypes.ALLOW),
    ],
  });
  // DeleteAcls through kafkajs removes exactly what its filter selects.
  const deleted = await admin.deleteAcls({
    filters: [{ resourceType: AclResourceTypes.TOPIC, resourceName: "short-lived", resourcePatternType: ResourcePatternTypes.LITERAL, operation: AclOperationTypes.ANY, permissionType: AclPermissionTypes.ANY }],
  });
  expect(deleted.filterResponses[0]!.matchingAcls.map((match) => match.resourceName)).toEqual(["short-lived"]);
  const described = await admin.describeAcls({ resourceType: AclResourceTypes.ANY, resourcePatternType: ResourcePatternTypes.ANY, operation: AclOperationTypes.ANY, permissionType: AclPermissionTypes.ANY });
  expect(described.resources.map((resource) => `${resource.resourceType}:${resource.resourcePatternType}:${resource.resourceName}:${resource.acls.length}`).sort()).toEqual(
    ["2:3:a:1", "2:4:pre-:1", "2:3:c:2", "2:3:z:1", "3:3:allowed-group:1"].sort(),
  );
  // MATCH: every binding that applies to topic "pre-data" (the prefix one).
  const matching = await admin.describeAcls({ resourceType: AclResourceTypes.TOPIC, resourceName: "pre-data", resourcePatternType: ResourcePatternTypes.MATCH, operation: AclOperationTypes.ANY, permissionType: AclPermissionTypes.ANY });
  expect(matching.resources.map((resource) => resource.resourceName)).toEqual(["pre-"]);
  // The super user writes where ACLs deny everything, and seeds topics a and c.
  for (const topic of ["z", "a", "c"]) {
    const produced = await kcat(setup.bootstrap, ["-P", "-t", topic, "-p", "0"], { input: `${topic}-one\n${topic}-two\n`, timeoutMs: 60_000 });
    expect(produced.exitCode).toBe(0);
  }
  await admin.disconnect();
  expect(await setup.stop()).toBe(0);

  // Phase 2: no super users; the stored ACLs are all User:ANONYMOUS has.
  const broker = await startBroker(dataDir, AUTHORIZER);
  const connection = await connect(broker);

  // READ on a: it can consume a (Metadata DESCRIBE and ListOffsets are implied by READ)...
  const consumed = await kcat(broker.bootstrap, ["-C", "-t", "a", "-o", "beginning", "-e", "-q", "-f", "%s\n"], { timeoutMs: 60_000 });
  expect(consumed.exitCode).toBe(0);
  expect(consumed.stdout.split("\n").filter(Boolean)).toEqual(["a-one", "a-two"]);
  // ...but not produce to it.
  const producedA = await produce(connection, "a");
  expect(producedA.responses[0].partitionResponses[0].errorCode).toBe(ErrorCode.TOPIC_AUTHORIZATION_FAILED);
  const kcatProduce = await kcat(broker.bootstrap, ["-P", "-t", "a", "-p", "0", "-X", "message.timeout.ms=5000"], { input: "refused\n", timeoutMs: 60_000 });
  expect(kcatProduce.stderr.toLowerCase()).toContain("authorization failed");

  // Metadata lists a, c (READ implies DESCRIBE) and pre-data (WRITE implies DESCRIBE), never b or z.
  const metadata = await connection.request(ApiKey.Metadata, 9, { topics: null, allowAutoTopicCreation: false });
  expect(metadata.topics.map((topic: { name: string }) => topic.name).sort()).toEqual(["a", "c", "pre-data"]);
  const named = await connection.request(ApiKey.Metadata, 9, { topics: [{ name: "b" }, { name: "not-there" }], allowAutoTopicCreation: true });
  expect(named.topics.map((topic: { name: string; errorCode: number }) => [topic.name, topic.errorCode])).toEqual([
    ["b", ErrorCode.TOPIC_AUTHORIZATION_FAILED],
    ["not-there", ErrorCode.TOPIC_AUTHORIZATION_FAILED],
  ]);
  expect((await connection.request(ApiKey.Metadata, 9, { topics: null })).topics.some((topic: { name: string }) => topic.name === "not-there")).toBe(false);

  // PREFIXED allow: WRITE on pre-* lets it produce to pre-data (kcat, real records).
  const prefixed = await kcat(broker.bootstrap, ["-P", "-t", "pre-data", "-p", "0"], { input: "p1\np2\n", timeoutMs: 60_000 });
  expect(prefixed.exitCode).toBe(0);
  expect(prefixed.stderr.toLowerCase()).not.toContain("authorization");

  // DENY beats ALLOW: READ is both allowed and denied on c.
  expect((await fetchPartition0(connection, "c")).responses[0].partitions[0].errorCode).toBe(ErrorCode.TOPIC_AUTHORIZATION_FAILED);
  expect((await fetchPartition0(connection, "a")).responses[0].partitions[0].errorCode).toBe(ErrorCode.NONE);

  // Groups: JoinGroup needs READ on the group.
  expect((await joinGroup(connection, "other-group")).errorCode).toBe(ErrorCode.GROUP_AUTHORIZATION_FAILED);
  expect((await joinGroup(connection, "allowed-group")).errorCode).toBe(ErrorCode.MEMBER_ID_REQUIRED);

  // No CREATE, no DELETE: topics can be neither created nor deleted.
  const created = await connection.request(ApiKey.CreateTopics, 4, { topics: [{ name: "new-one", numPartitions: 1, replicationFactor: 1, assignments: [], configs: [] }], timeoutMs: 5000, validateOnly: false });
  expect(created.topics[0].errorCode).toBe(ErrorCode.TOPIC_AUTHORIZATION_FAILED);
  const removed = await connection.request(ApiKey.DeleteTopics, 4, { topicNames: ["a"], timeoutMs: 5000 });
  expect(removed.responses[0].errorCode).toBe(ErrorCode.TOPIC_AUTHORIZATION_FAILED);
  const kafkajsAdmin = kafkaClient(broker.bootstrap).admin();
  await kafkajsAdmin.connect();
  cleanups.push(() => kafkajsAdmin.disconnect());
  expect((await kafkajsAdmin.listTopics()).sort()).toEqual(["a", "c", "pre-data"]);
  // And no ACL administration without ALTER/DESCRIBE on the cluster.
  const describeRefused = await connection.request(ApiKey.DescribeAcls, 1, { resourceTypeFilter: 1, resourceNameFilter: null, patternTypeFilter: 1, principalFilter: null, hostFilter: null, operation: 1, permissionType: 1 });
  expect(describeRefused.errorCode).toBe(ErrorCode.CLUSTER_AUTHORIZATION_FAILED);
  const createRefused = await connection.request(ApiKey.CreateAcls, 1, { creations: [{ resourceType: 2, resourceName: "b", resourcePatternType: 3, principal: ANONYMOUS, host: "*", operation: 2, permissionType: 3 }] });
  expect(createRefused.results[0].errorCode).toBe(ErrorCode.CLUSTER_AUTHORIZATION_FAILED);
  // The topics are still there (nothing was deleted or created behind the refusals).
  expect(metadata.topics.length).toBe(3);
}, 240_000);

test("without an authorizer every request is allowed and the ACL APIs answer SECURITY_DISABLED", async () => {
  const broker = await startBroker(tempDir("no-acls"), { "num.partition.workers": "1" });
  const connection = await connect(broker);
  const described = await connection.request(ApiKey.DescribeAcls, 1, { resourceTypeFilter: 1, resourceNameFilter: null, patternTypeFilter: 1, principalFilter: null, hostFilter: null, operation: 1, permissionType: 1 });
  expect(described.errorCode).toBe(ErrorCode.SECURITY_DISABLED);
  const created = await connection.request(ApiKey.CreateAcls, 1, { creations: [{ resourceType: 2, resourceName: "t", resourcePatternType: 3, principal: ANONYMOUS, host: "*", operation: 2, permissionType: 3 }] });
  expect(created.results[0].errorCode).toBe(ErrorCode.SECURITY_DISABLED);
  const produced = await kcat(broker.bootstrap, ["-P", "-t", "open", "-p", "0"], { input: "x\n", timeoutMs: 60_000 });
  expect(produced.exitCode).toBe(0);
}, 120_000);

test("an authorizer.class.name Bunka does not have stops the start, naming it; an invalid ACL is INVALID_REQUEST", async () => {
  const refused = new BrokerProcess({ properties: { "authorizer.class.name": "com.example.CustomAuthorizer" } });
  cleanups.push(() => refused.cleanup());
  const failure = await refused.start().then(() => null, (error: Error) => error.message);
  expect(failure).toContain('authorizer.class.name "com.example.CustomAuthorizer" is not available');

  const broker = await startBroker(tempDir("acl-invalid"), { ...AUTHORIZER, "super.users": ANONYMOUS });
  const connection = await connect(broker);
  const created = await connection.request(ApiKey.CreateAcls, 1, {
    creations: [
      { resourceType: 3, resourceName: "g", resourcePatternType: 3, principal: ANONYMOUS, host: "*", operation: 4, permissionType: 3 }, // WRITE on a group
      { resourceType: 2, resourceName: "t", resourcePatternType: 2, principal: ANONYMOUS, host: "*", operation: 3, permissionType: 3 }, // MATCH is for filters
      { resourceType: 2, resourceName: "t", resourcePatternType: 3, principal: "ANONYMOUS", host: "*", operation: 3, permissionType: 3 }, // no principal type
      { resourceType: 2, resourceName: "t", resourcePatternType: 3, principal: ANONYMOUS, host: "*", operation: 3, permissionType: 3 },
    ],
  });
  expect(created.results.map((result: { errorCode: number }) => result.errorCode)).toEqual([ErrorCode.INVALID_REQUEST, ErrorCode.INVALID_REQUEST, ErrorCode.INVALID_REQUEST, ErrorCode.NONE]);
  expect(created.results[0].errorMessage).toContain("WRITE does not apply to GROUP");
  const described = await connection.request(ApiKey.DescribeAcls, 1, { resourceTypeFilter: 1, resourceNameFilter: null, patternTypeFilter: 1, principalFilter: null, hostFilter: null, operation: 1, permissionType: 1 });
  expect(described.resources).toEqual([{ resourceType: 2, resourceName: "t", patternType: 3, acls: [{ principal: ANONYMOUS, host: "*", operation: 3, permissionType: 3 }] }]);
}, 120_000);
