// The ACL checks of DescribeLogDirs (DESCRIBE on CLUSTER), ElectLeaders (ALTER on CLUSTER) and
// ListClientMetricsResources (DESCRIBE_CONFIGS on CLUSTER), as Kafka's authorization table has them. Phase 1
// runs with User:ANONYMOUS (the plaintext principal) as a super user and grants it DESCRIBE on the cluster;
// phase 2 restarts the same data dir without super users, so that ACL is all it has.
import { afterEach, expect, test } from "bun:test";
import { rmSync } from "node:fs";
import { KafkaConnection } from "../../src/client/kafka-connection.ts";
import { ErrorCode } from "../../src/protocol/errors.ts";
import { ApiKey } from "../../src/protocol/generated/index.ts";
import { startBroker, type Broker } from "../../src/server/broker.ts";
import { tempDir } from "../helpers/broker-process.ts";

const CLUSTER = 4;
const LITERAL = 3;
const DESCRIBE = 8;
const ALLOW = 3;
const TOPIC = "acl-admin-apis";

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function start(dataDir: string, properties: Record<string, string>): Promise<KafkaConnection> {
  const broker: Broker = await startBroker({ port: 0, dataDir, properties: { "authorizer.class.name": "acl", "client.telemetry.metrics": "*", ...properties }, log: () => {} });
  const connection = await KafkaConnection.connect({ host: "127.0.0.1", port: broker.port, requestTimeoutMs: 10_000 });
  cleanups.push(() => broker.stop());
  cleanups.push(() => connection.close());
  return connection;
}

test("DescribeLogDirs needs DESCRIBE on the cluster, ElectLeaders ALTER, ListClientMetricsResources DESCRIBE_CONFIGS", async () => {
  const dataDir = tempDir("admin-apis-acls");
  cleanups.push(() => rmSync(dataDir, { recursive: true, force: true }));

  const setup = await start(dataDir, { "super.users": "User:ANONYMOUS" });
  const created = await setup.request(ApiKey.CreateTopics, 7, { topics: [{ name: TOPIC, numPartitions: 1, replicationFactor: 1, assignments: [], configs: [] }], timeoutMs: 5000, validateOnly: false });
  expect(created.topics[0].errorCode).toBe(ErrorCode.NONE);
  const granted = await setup.request(ApiKey.CreateAcls, 3, {
    creations: [{ resourceType: CLUSTER, resourceName: "kafka-cluster", resourcePatternType: LITERAL, principal: "User:ANONYMOUS", host: "*", operation: DESCRIBE, permissionType: ALLOW }],
  });
  expect(granted.results[0].errorCode).toBe(ErrorCode.NONE);
  for (const cleanup of cleanups.splice(1).reverse()) await cleanup();

  const client = await start(dataDir, {});
  const logDirs = await client.request(ApiKey.DescribeLogDirs, 4, { topics: null });
  expect(logDirs.errorCode).toBe(ErrorCode.NONE);
  expect(logDirs.results[0].topics.map((topic: { name: string }) => topic.name)).toContain(TOPIC);

  const elected = await client.request(ApiKey.ElectLeaders, 2, { electionType: 0, topicPartitions: [{ topic: TOPIC, partitions: [0] }], timeoutMs: 5000 });
  expect(elected.errorCode).toBe(ErrorCode.CLUSTER_AUTHORIZATION_FAILED);
  expect(elected.replicaElectionResults).toEqual([{ topic: TOPIC, partitionResult: [{ partitionId: 0, errorCode: ErrorCode.CLUSTER_AUTHORIZATION_FAILED, errorMessage: null }] }]);
  const electedAll = await client.request(ApiKey.ElectLeaders, 2, { electionType: 0, topicPartitions: null, timeoutMs: 5000 });
  expect(electedAll.errorCode).toBe(ErrorCode.CLUSTER_AUTHORIZATION_FAILED);
  expect(electedAll.replicaElectionResults).toEqual([]);

  // DESCRIBE does not imply DESCRIBE_CONFIGS.
  const listed = await client.request(ApiKey.ListClientMetricsResources, 0, {});
  expect(listed.errorCode).toBe(ErrorCode.CLUSTER_AUTHORIZATION_FAILED);
  expect(listed.clientMetricsResources).toEqual([]);
});

test("without any ACL, DescribeLogDirs answers CLUSTER_AUTHORIZATION_FAILED (v3+) and no log dirs", async () => {
  const dataDir = tempDir("admin-apis-acls-none");
  cleanups.push(() => rmSync(dataDir, { recursive: true, force: true }));
  const client = await start(dataDir, {});
  const v4 = await client.request(ApiKey.DescribeLogDirs, 4, { topics: null });
  expect(v4.errorCode).toBe(ErrorCode.CLUSTER_AUTHORIZATION_FAILED);
  expect(v4.results).toEqual([]);
  const v1 = await client.request(ApiKey.DescribeLogDirs, 1, { topics: null });
  expect(v1.results).toEqual([]);
});
