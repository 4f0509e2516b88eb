// ACLs for real principals: a SASL_PLAINTEXT listener with PLAIN users admin (super user), alice and bob.
// The admin sets ACLs with `bun run acls` (logged in over SASL); alice and bob use kcat and kafkajs, and a
// raw connection (logged in with the same SASL exchange) reads the exact error codes.
import { afterAll, beforeAll, expect, test } from "bun:test";
import { resolve } from "node:path";
import { Kafka, logLevel } from "kafkajs";
import { KafkaConnection } from "../../src/client/kafka-connection.ts";
import { ErrorCode } from "../../src/protocol/errors.ts";
import { ApiKey } from "../../src/protocol/generated/index.ts";
import { authenticate } from "../../src/security/sasl/client.ts";
import { BrokerProcess, freePort } from "../helpers/broker-process.ts";
import { kcat } from "../helpers/kcat.ts";
import { run } from "../helpers/run.ts";

const repoRoot = resolve(import.meta.dir, "../..");
const PASSWORDS: Record<string, string> = { admin: "admin-secret", alice: "alice-secret", bob: "bob-secret" };
const JAAS = `org.apache.kafka.common.security.plain.PlainLoginModule required username="admin" password="admin-secret" ${Object.entries(PASSWORDS).map(([user, password]) => `user_${user}="${password}"`).join(" ")};`;
let broker: BrokerProcess;
const opened: { close(): void }[] = [];

beforeAll(async () => {
  const port = freePort();
  broker = new BrokerProcess({
    port,
    properties: {
      listeners: `SASL_PLAINTEXT://127.0.0.1:${port}`,
      "sasl.enabled.mechanisms": "PLAIN",
      "sasl.jaas.config": JAAS,
      "authorizer.class.name": "acl",
      "super.users": "User:admin",
      "num.partition.workers": "1",
      "group.initial.rebalance.delay.ms": "0",
      "offsets.topic.num.partitions": "1",
    },
  });
  await broker.start();
}, 60_000);

afterAll(async () => {
  for (const connection of opened) connection.close();
  await broker.cleanup();
});

const kafka = (user: string) =>
  new Kafka({ clientId: `acl-${user}`, brokers: [broker.bootstrap], logLevel: logLevel.NOTHING, sasl: { mechanism: "plain", username: user, password: PASSWORDS[user]! }, retry: { retries: 2, initialRetryTime: 100 } });

const kcatAs = (user: string, args: string[], input?: string) =>
  kcat(broker.bootstrap, ["-X", "security.protocol=SASL_PLAINTEXT", "-X", "sasl.mechanisms=PLAIN", "-X", `sasl.username=${user}`, "-X", `sasl.password=${PASSWORDS[user]}`, ...args], { input, timeoutMs: 60_000 });

const aclsAsAdmin = (args: string[]) =>
  run([process.execPath, resolve(repoRoot, "src/tools/acls.ts"), "--bootstrap-server", broker.bootstrap, "--sasl-mechanism", "PLAIN", "--sasl-username", "admin", "--sasl-password", PASSWORDS.admin!, ...args], { timeoutMs: 30_000 });

async function connectAs(user: string): Promise<KafkaConnection> {
  const connection = await KafkaConnection.connect({ host: "127.0.0.1", port: broker.port, requestTimeoutMs: 10_000 });
  opened.push(connection);
  await authenticate((key, version, body) => connection.request(key, version, body), "PLAIN", user, PASSWORDS[user]!);
  return connection;
}

test("alice reads a and only a, bob writes bob-*, DENY beats ALLOW at once, the super user does everything", async () => {
  // The super user (no ACL names it) creates topics and writes.
  const admin = kafka("admin").admin();
  await admin.connect();
  await admin.createTopics({ topics: ["a", "b", "bob-1"].map((topic) => ({ topic, numPartitions: 1 })), waitForLeaders: true });
  await admin.disconnect();
  expect((await kcatAs("admin", ["-P", "-t", "a", "-p", "0"], "r1\nr2\n")).exitCode).toBe(0);

  for (const args of [
    ["--add", "--allow-principal", "User:alice", "--operation", "Read", "--topic", "a", "--group", "alice-group"],
    ["--add", "--allow-principal", "User:bob", "--operation", "Write", "--topic", "bob-", "--resource-pattern-type", "prefixed"],
  ]) {
    const result = await aclsAsAdmin(args);
    expect(result.stderr).toBe("");
    expect(result.exitCode).toBe(0);
  }

  // alice: consumes a with a group (kafkajs: FindCoordinator, JoinGroup, SyncGroup, OffsetFetch, Fetch, OffsetCommit).
  const consumer = kafka("alice").consumer({ groupId: "alice-group", sessionTimeout: 10_000 });
  await consumer.connect();
  await consumer.subscribe({ topic: "a", fromBeginning: true });
  const seen: string[] = [];
  const done = Promise.withResolvers<void>();
  await consumer.run({
    eachMessage: async ({ message }) => {
      seen.push(message.value!.toString());
      if (seen.length === 2) done.resolve();
    },
  });
  const timeout = setTimeout(() => done.reject(new Error(`alice consumed only ${JSON.stringify(seen)}`)), 60_000);
  await done.promise.finally(() => clearTimeout(timeout));
  await consumer.disconnect();
  expect(seen).toEqual(["r1", "r2"]);

  // ...but cannot produce to a, does not see b, cannot create or delete topics, or join another group.
  const refusedProduce = await kcatAs("alice", ["-P", "-t", "a", "-p", "0", "-X", "message.timeout.ms=5000"], "x\n");
  expect(refusedProduce.stderr.toLowerCase()).toContain("authorization failed");
  const alice = await connectAs("alice");
  const metadata = await alice.request(ApiKey.Metadata, 9, { topics: null });
  expect(metadata.topics.map((topic: { name: string }) => topic.name)).toEqual(["a"]);
  expect((await alice.request(ApiKey.CreateTopics, 4, { topics: [{ name: "c", numPartitions: 1, replicationFactor: 1, assignments: [], configs: [] }], timeoutMs: 5000, validateOnly: false })).topics[0].errorCode).toBe(ErrorCode.TOPIC_AUTHORIZATION_FAILED);
  expect((await alice.request(ApiKey.DeleteTopics, 4, { topicNames: ["a"], timeoutMs: 5000 })).responses[0].errorCode).toBe(ErrorCode.TOPIC_AUTHORIZATION_FAILED);
  const join = await alice.request(ApiKey.JoinGroup, 5, { groupId: "other-group", sessionTimeoutMs: 10_000, rebalanceTimeoutMs: 10_000, memberId: "", groupInstanceId: null, protocolType: "consumer", protocols: [{ name: "range", metadata: new Uint8Array(0) }] });
  expect(join.errorCode).toBe(ErrorCode.GROUP_AUTHORIZATION_FAILED);

  // Only the cluster's ALTER/DESCRIBE manage SCRAM users: alice can neither list nor add one.
  expect((await alice.request(ApiKey.DescribeUserScramCredentials, 0, { users: null })).errorCode).toBe(ErrorCode.CLUSTER_AUTHORIZATION_FAILED);
  const upsert = { name: "eve", mechanism: 2, iterations: 8192, salt: new Uint8Array(16).fill(7), saltedPassword: new Uint8Array(64).fill(9) };
  const altered = await alice.request(ApiKey.AlterUserScramCredentials, 0, { deletions: [], upsertions: [upsert] });
  expect(altered.results.map((result: { user: string; errorCode: number }) => [result.user, result.errorCode])).toEqual([["eve", ErrorCode.CLUSTER_AUTHORIZATION_FAILED]]);

  // bob: the PREFIXED allow lets him write bob-1, and nothing else.
  expect((await kcatAs("bob", ["-P", "-t", "bob-1", "-p", "0"], "b1\n")).exitCode).toBe(0);
  const bob = await connectAs("bob");
  const bobProduce = await bob.request(ApiKey.Produce, 7, { transactionalId: null, acks: 1, timeoutMs: 5000, topicData: [{ name: "a", partitionData: [{ index: 0, records: new Uint8Array(64) }] }] });
  expect(bobProduce.responses[0].partitionResponses[0].errorCode).toBe(ErrorCode.TOPIC_AUTHORIZATION_FAILED);

  // DENY beats ALLOW, on alice's open connection too (its cached decisions belong to the old ACL version).
  const fetchA = () =>
    alice.request(ApiKey.Fetch, 12, {
      replicaId: -1, maxWaitMs: 0, minBytes: 0, maxBytes: 1 << 20, isolationLevel: 0, sessionId: 0, sessionEpoch: -1,
      topics: [{ topic: "a", partitions: [{ partition: 0, currentLeaderEpoch: -1, fetchOffset: 0, lastFetchedEpoch: -1, logStartOffset: -1, partitionMaxBytes: 1 << 20 }] }],
      forgottenTopicsData: [], rackId: "",
    });
  expect((await fetchA()).responses[0].partitions[0].errorCode).toBe(ErrorCode.NONE);
  expect((await aclsAsAdmin(["--add", "--deny-principal", "User:alice", "--operation", "Read", "--topic", "a"])).exitCode).toBe(0);
  expect((await fetchA()).responses[0].partitions[0].errorCode).toBe(ErrorCode.TOPIC_AUTHORIZATION_FAILED);

  // The super user: ACLs on a and bob-* do not concern it; it deletes b and lists every ACL.
  const superAdmin = kafka("admin").admin();
  await superAdmin.connect();
  await superAdmin.deleteTopics({ topics: ["b"] });
  expect((await superAdmin.listTopics()).filter((name) => !name.startsWith("__")).sort()).toEqual(["a", "bob-1"]);
  await superAdmin.disconnect();
  const listed = await aclsAsAdmin(["--list"]);
  expect(listed.stdout).toContain("(principal=User:alice, host=*, operation=READ, permissionType=DENY)");
  expect(listed.stdout).toContain("ResourcePattern(resourceType=GROUP, name=alice-group, patternType=LITERAL)");
}, 180_000);
