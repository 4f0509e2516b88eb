// Client quotas in a 3-broker cluster: stored in etcd, so a quota set through one broker is listed by the
// others (their watch on <root>/client-quotas/ delivers it) and enforced by the leader a producer writes to,
// even when that is another broker; removed through a third broker, it is gone everywhere.
import { afterAll, beforeAll, expect, test } from "bun:test";
import { KafkaConnection } from "../../src/client/kafka-connection.ts";
import { ErrorCode } from "../../src/protocol/errors.ts";
import { ApiKey } from "../../src/protocol/generated/index.ts";
import { buildBatch } from "../../src/records/compression.ts";
import { TestCluster } from "../helpers/cluster.ts";
import { kafkaClient } from "../helpers/kafkajs.ts";

const TOPIC = "quota-cluster";
/** Bound on a quota change reaching every broker (an etcd watch event; generous for a loaded CI machine). */
const PROPAGATION_TIMEOUT_MS = 15_000;
const QUOTA_BYTES_PER_SECOND = 32 * 1024;
const BATCH = buildBatch({ records: [{ key: "k", value: "x".repeat(16 * 1024) }] });
/** With an 11 s window the rate first exceeds 32 KiB/s after ~320 KiB: 20 batches; this bounds the loop. */
const MAX_BATCHES = 200;
let cluster: TestCluster;
const connections: KafkaConnection[] = [];

beforeAll(async () => {
  cluster = new TestCluster(3);
  await cluster.start();
  const admin = kafkaClient(cluster.bootstrap.join(","), "quota-setup").admin();
  await admin.connect();
  // The partition's only replica is broker 3, so the producer below writes to a broker other than broker 1.
  await admin.createTopics({ topics: [{ topic: TOPIC, replicaAssignment: [{ partition: 0, replicas: [3] }] }], waitForLeaders: true });
  await admin.disconnect();
  await cluster.leadersReady(TOPIC);
}, 90_000);

afterAll(async () => {
  for (const connection of connections) connection.close();
  await cluster.cleanup();
});

async function connect(nodeId: number, clientId: string): Promise<KafkaConnection> {
  // A throttled request waits at most the whole quota window (11 s) before the broker reads it.
  const connection = await KafkaConnection.connect({ host: "127.0.0.1", port: cluster.broker(nodeId).port, clientId, requestTimeoutMs: 30_000, connectTimeoutMs: 5000 });
  connections.push(connection);
  return connection;
}

/** The quota values broker `nodeId` lists for client id `clientId` (empty when it has none). */
async function quotasOn(connection: KafkaConnection, clientId: string): Promise<Record<string, number>> {
  const response = await connection.request(ApiKey.DescribeClientQuotas, 1, { components: [{ entityType: "client-id", matchType: 0, match: clientId }], strict: true });
  expect(response.errorCode).toBe(ErrorCode.NONE);
  return Object.fromEntries((response.entries[0]?.values ?? []).map((value: { key: string; value: number }) => [value.key, value.value]));
}

test("a quota set through broker 1 is listed by broker 3 and throttles a producer writing to broker 3; removed through broker 2, it is gone everywhere", async () => {
  expect((await cluster.partitions(TOPIC))[0]!.leader).toBe(3);
  const admin1 = await connect(1, "quota-admin");
  const altered = await admin1.request(ApiKey.AlterClientQuotas, 1, {
    entries: [{ entity: [{ entityType: "client-id", entityName: "cluster-slow" }], ops: [{ key: "producer_byte_rate", value: QUOTA_BYTES_PER_SECOND, remove: false }] }],
    validateOnly: false,
  });
  expect(altered.entries[0].errorCode).toBe(ErrorCode.NONE);

  const admin3 = await connect(3, "quota-admin");
  const admin2 = await connect(2, "quota-admin");
  for (const [nodeId, admin] of [[3, admin3], [2, admin2]] as const) {
    await cluster.waitFor(`broker ${nodeId} to list the quota`, async () => (await quotasOn(admin, "cluster-slow")).producer_byte_rate === QUOTA_BYTES_PER_SECOND, PROPAGATION_TIMEOUT_MS);
  }

  // The producer writes to broker 3, which enforces the quota set through broker 1.
  const producer = await connect(3, "cluster-slow");
  let throttled = 0;
  for (let i = 0; i < MAX_BATCHES && throttled === 0; i++) {
    const response = await producer.request(ApiKey.Produce, 7, { transactionalId: null, acks: 1, timeoutMs: 5000, topicData: [{ name: TOPIC, partitionData: [{ index: 0, records: BATCH }] }] });
    expect(response.responses[0].partitionResponses[0].errorCode).toBe(ErrorCode.NONE);
    throttled = response.throttleTimeMs;
  }
  expect(throttled).toBeGreaterThan(0);

  // Removed through broker 2: no broker lists it any more.
  const removed = await admin2.request(ApiKey.AlterClientQuotas, 1, {
    entries: [{ entity: [{ entityType: "client-id", entityName: "cluster-slow" }], ops: [{ key: "producer_byte_rate", value: 0, remove: true }] }],
    validateOnly: false,
  });
  expect(removed.entries[0].errorCode).toBe(ErrorCode.NONE);
  for (const [nodeId, admin] of [[1, admin1], [3, admin3]] as const) {
    await cluster.waitFor(`broker ${nodeId} to drop the quota`, async () => Object.keys(await quotasOn(admin, "cluster-slow")).length === 0, PROPAGATION_TIMEOUT_MS);
  }
}, 120_000);

test("alterations of one entity through three brokers at once keep every key (compare-and-swap in etcd)", async () => {
  const admins = await Promise.all([1, 2, 3].map((nodeId) => connect(nodeId, "quota-admin")));
  const keys = ["producer_byte_rate", "consumer_byte_rate", "request_percentage"];
  const answers = await Promise.all(
    admins.map((admin, index) =>
      admin.request(ApiKey.AlterClientQuotas, 1, { entries: [{ entity: [{ entityType: "client-id", entityName: "shared" }], ops: [{ key: keys[index], value: 1000 + index, remove: false }] }], validateOnly: false }),
    ),
  );
  expect(answers.map((answer) => answer.entries[0].errorCode)).toEqual([ErrorCode.NONE, ErrorCode.NONE, ErrorCode.NONE]);
  const expected = { producer_byte_rate: 1000, consumer_byte_rate: 1001, request_percentage: 1002 };
  for (const [index, admin] of admins.entries()) {
    await cluster.waitFor(`broker ${index + 1} to list all three keys`, async () => Bun.deepEquals(await quotasOn(admin, "shared"), expected) || null, PROPAGATION_TIMEOUT_MS).catch(async (error) => {
      throw new Error(`${String(error)}; broker ${index + 1} lists ${JSON.stringify(await quotasOn(admin, "shared"))}`);
    });
  }
}, 60_000);
