// Client quotas (KIP-13/219/546) against a real broker process over real sockets: quotas set with
// AlterClientQuotas persist across a restart; a producer over its producer_byte_rate is held to it (measured
// rate within 20% over 10 s) and sees throttle_time_ms > 0 while another client id is not throttled; a
// consumer over consumer_byte_rate is told to back off; bad requests get INVALID_REQUEST; a client id over
// its request_percentage (KIP-124) is throttled on cheap requests while another client id is not.
import { afterEach, expect, test } from "bun:test";
import { rmSync } from "node:fs";
import { KafkaConnection } from "../../src/client/kafka-connection.ts";
import { ErrorCode } from "../../src/protocol/errors.ts";
import { ApiKey } from "../../src/protocol/generated/index.ts";
import { buildBatch } from "../../src/records/compression.ts";
import { BrokerProcess, freePort, tempDir } from "../helpers/broker-process.ts";
import { createTopic } from "../helpers/kafkajs.ts";

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

const QUOTA_BYTES_PER_SECOND = 256 * 1024;
const MEASURE_MS = 10_000;
/** Bounds the produce loops whatever the broker does (the unthrottled one ends here, well before 10 s). */
const MAX_REQUESTS = 5_000;
const BATCH = buildBatch({ records: [{ key: "k", value: "x".repeat(16 * 1024) }] });

async function connect(port: number, clientId: string): Promise<KafkaConnection> {
  // A throttled request waits at most the whole quota window (11 s) before the broker reads it.
  const connection = await KafkaConnection.connect({ host: "127.0.0.1", port, clientId, requestTimeoutMs: 30_000 });
  cleanups.push(() => connection.close());
  return connection;
}

const alterQuotas = (connection: KafkaConnection, entries: object[], validateOnly = false) => connection.request(ApiKey.AlterClientQuotas, 1, { entries, validateOnly });
const describeQuotas = (connection: KafkaConnection, components: object[], strict = false) => connection.request(ApiKey.DescribeClientQuotas, 1, { components, strict });
const produce = (connection: KafkaConnection, topic: string) =>
  connection.request(ApiKey.Produce, 7, { transactionalId: null, acks: 1, timeoutMs: 5000, topicData: [{ name: topic, partitionData: [{ index: 0, records: BATCH }] }] });

/** Produces one batch at a time for MEASURE_MS: bytes acknowledged per second and the throttle times seen. */
async function produceFor(connection: KafkaConnection, topic: string): Promise<{ bytesPerSecond: number; throttles: number[] }> {
  const started = Date.now();
  let bytes = 0;
  const throttles: number[] = [];
  for (let i = 0; i < MAX_REQUESTS && Date.now() - started < MEASURE_MS; i++) {
    const response = await produce(connection, topic);
    expect(response.responses[0].partitionResponses[0].errorCode).toBe(ErrorCode.NONE);
    bytes += BATCH.byteLength;
    throttles.push(response.throttleTimeMs);
  }
  return { bytesPerSecond: bytes / ((Date.now() - started) / 1000), throttles };
}

test("client quotas: AlterClientQuotas persists across a restart, a producer over producer_byte_rate is held to it, others are not, a consumer is throttled", async () => {
  const dataDir = tempDir("quotas");
  cleanups.push(() => rmSync(dataDir, { recursive: true, force: true }));
  const port = freePort();
  const first = new BrokerProcess({ dataDir, port, properties: { "num.partition.workers": "1" } });
  cleanups.push(() => first.cleanup());
  await first.start();
  await createTopic(first.bootstrap, "quota-topic", 1);

  const admin = await connect(port, "admin");
  const altered = await alterQuotas(admin, [
    { entity: [{ entityType: "client-id", entityName: "slow-producer" }], ops: [{ key: "producer_byte_rate", value: QUOTA_BYTES_PER_SECOND, remove: false }] },
    { entity: [{ entityType: "client-id", entityName: "slow-consumer" }], ops: [{ key: "consumer_byte_rate", value: 64 * 1024, remove: false }] },
    { entity: [{ entityType: "user", entityName: null }], ops: [{ key: "producer_byte_rate", value: 1e12, remove: false }, { key: "consumer_byte_rate", value: 1e12, remove: false }] },
    // Refused, each on its own: a key this broker does not enforce, an unknown entity type, a value that is not positive.
    { entity: [{ entityType: "client-id", entityName: "other" }], ops: [{ key: "controller_mutation_rate", value: 50, remove: false }] },
    { entity: [{ entityType: "ip", entityName: "127.0.0.1" }], ops: [{ key: "producer_byte_rate", value: 1000, remove: false }] },
    { entity: [{ entityType: "client-id", entityName: "other" }], ops: [{ key: "producer_byte_rate", value: -5, remove: false }] },
  ]);
  expect(altered.entries.map((entry: { errorCode: number }) => entry.errorCode)).toEqual([
    ErrorCode.NONE, ErrorCode.NONE, ErrorCode.NONE, ErrorCode.INVALID_REQUEST, ErrorCode.INVALID_REQUEST, ErrorCode.INVALID_REQUEST,
  ]);
  // validateOnly stores nothing; removing the default user's keys drops that entity.
  expect((await alterQuotas(admin, [{ entity: [{ entityType: "client-id", entityName: "dry-run" }], ops: [{ key: "producer_byte_rate", value: 1, remove: false }] }], true)).entries[0].errorCode).toBe(ErrorCode.NONE);
  await alterQuotas(admin, [{ entity: [{ entityType: "user", entityName: null }], ops: [{ key: "producer_byte_rate", value: 0, remove: true }, { key: "consumer_byte_rate", value: 0, remove: true }] }]);

  // Restart: the quotas come back from the data dir.
  expect(await first.stop()).toBe(0);
  const broker = new BrokerProcess({ dataDir, port, properties: { "num.partition.workers": "1" } });
  cleanups.push(() => broker.cleanup());
  await broker.start();
  const admin2 = await connect(port, "admin");
  const described = await describeQuotas(admin2, [{ entityType: "client-id", matchType: 2, match: null }], true);
  expect(described.errorCode).toBe(ErrorCode.NONE);
  const byClient = Object.fromEntries(described.entries.map((entry: any) => [entry.entity[0].entityName, Object.fromEntries(entry.values.map((value: any) => [value.key, value.value]))]));
  expect(byClient).toEqual({ "slow-producer": { producer_byte_rate: QUOTA_BYTES_PER_SECOND }, "slow-consumer": { consumer_byte_rate: 64 * 1024 } });
  const exact = await describeQuotas(admin2, [{ entityType: "client-id", matchType: 0, match: "slow-consumer" }]);
  expect(exact.entries.length).toBe(1);
  expect((await describeQuotas(admin2, [{ entityType: "user", matchType: 1, match: null }])).entries).toEqual([]);

  // The slow producer and an unlimited one produce side by side for 10 s.
  const slow = await connect(port, "slow-producer");
  const fast = await connect(port, "fast-producer");
  const [slowResult, fastResult] = await Promise.all([produceFor(slow, "quota-topic"), produceFor(fast, "quota-topic")]);
  expect(Math.max(...slowResult.throttles)).toBeGreaterThan(0);
  expect(Math.abs(slowResult.bytesPerSecond - QUOTA_BYTES_PER_SECOND) / QUOTA_BYTES_PER_SECOND).toBeLessThan(0.2);
  expect(Math.max(...fastResult.throttles)).toBe(0);
  expect(fastResult.bytesPerSecond).toBeGreaterThan(2 * QUOTA_BYTES_PER_SECOND);

  // A consumer over consumer_byte_rate: a 1 MiB fetch of what was produced is answered with a throttle time.
  const consumer = await connect(port, "slow-consumer");
  const fetched = await consumer.request(ApiKey.Fetch, 12, {
    replicaId: -1, maxWaitMs: 0, minBytes: 0, maxBytes: 1 << 20, isolationLevel: 0, sessionId: 0, sessionEpoch: -1,
    topics: [{ topic: "quota-topic", partitions: [{ partition: 0, currentLeaderEpoch: -1, fetchOffset: 0, lastFetchedEpoch: -1, logStartOffset: -1, partitionMaxBytes: 1 << 20 }] }],
    forgottenTopicsData: [], rackId: "",
  });
  expect(fetched.responses[0].partitions[0].errorCode).toBe(ErrorCode.NONE);
  expect(fetched.throttleTimeMs).toBeGreaterThan(0);
}, 120_000);

test("client quotas under an authorizer: DescribeClientQuotas needs DESCRIBE_CONFIGS and AlterClientQuotas ALTER_CONFIGS on the cluster", async () => {
  const dataDir = tempDir("quotas-acl");
  cleanups.push(() => rmSync(dataDir, { recursive: true, force: true }));
  const port = freePort();
  const authorizer = { "num.partition.workers": "1", "authorizer.class.name": "acl" };
  // As a super user, User:ANONYMOUS grants itself DESCRIBE_CONFIGS (not ALTER_CONFIGS) on the cluster.
  const setup = new BrokerProcess({ dataDir, port, properties: { ...authorizer, "super.users": "User:ANONYMOUS" } });
  cleanups.push(() => setup.cleanup());
  await setup.start();
  const admin = await connect(port, "admin");
  const created = await admin.request(ApiKey.CreateAcls, 3, {
    creations: [{ resourceType: 4, resourceName: "kafka-cluster", resourcePatternType: 3, principal: "User:ANONYMOUS", host: "*", operation: 10, permissionType: 3 }],
  });
  expect(created.results[0].errorCode).toBe(ErrorCode.NONE);
  expect(await setup.stop()).toBe(0);

  const broker = new BrokerProcess({ dataDir, port, properties: authorizer });
  cleanups.push(() => broker.cleanup());
  await broker.start();
  const client = await connect(port, "client");
  const altered = await alterQuotas(client, [{ entity: [{ entityType: "client-id", entityName: "x" }], ops: [{ key: "producer_byte_rate", value: 1000, remove: false }] }]);
  expect(altered.entries[0].errorCode).toBe(ErrorCode.CLUSTER_AUTHORIZATION_FAILED);
  const described = await describeQuotas(client, []);
  expect(described.errorCode).toBe(ErrorCode.NONE);
  expect(described.entries).toEqual([]); // the refused alteration stored nothing
}, 60_000);

/** Sends Metadata requests one after another for `ms`: how many were answered and the throttle times seen. */
async function hammerMetadata(connection: KafkaConnection, ms: number): Promise<{ requests: number; throttles: number[] }> {
  const started = Date.now();
  const throttles: number[] = [];
  for (let i = 0; i < 500_000 && Date.now() - started < ms; i++) {
    const response = await connection.request(ApiKey.Metadata, 9, { topics: null, allowAutoTopicCreation: false });
    throttles.push(response.throttleTimeMs);
  }
  return { requests: throttles.length, throttles };
}

test("request_percentage: a client id over 1% of a thread on cheap Metadata requests is throttled and slowed, another client id is not, ApiVersions is exempt", async () => {
  const dataDir = tempDir("request-quota");
  cleanups.push(() => rmSync(dataDir, { recursive: true, force: true }));
  const port = freePort();
  // Two 1 s samples: the rate is measured over about a second, so the quota bites after ~10 ms of handling
  // whatever the machine's speed (over Kafka's 11 samples a fast idle machine answers ~20,000 cheap requests
  // before the 10 s window holds 100 ms of them).
  const properties = { "num.partition.workers": "1", "quota.window.num": "2" };
  const broker = new BrokerProcess({ dataDir, port, properties });
  cleanups.push(() => broker.cleanup());
  await broker.start();
  await createTopic(broker.bootstrap, "request-quota-topic", 4);

  const admin = await connect(port, "admin");
  const altered = await alterQuotas(admin, [
    { entity: [{ entityType: "client-id", entityName: "busy" }], ops: [{ key: "request_percentage", value: 1, remove: false }] },
    { entity: [{ entityType: "client-id", entityName: "zero" }], ops: [{ key: "request_percentage", value: 0, remove: false }] },
  ]);
  expect(altered.entries.map((entry: { errorCode: number }) => entry.errorCode)).toEqual([ErrorCode.NONE, ErrorCode.INVALID_REQUEST]);
  const described = await describeQuotas(admin, [{ entityType: "client-id", matchType: 0, match: "busy" }]);
  expect(described.entries[0].values).toEqual([{ key: "request_percentage", value: 1 }]);

  const busy = await connect(port, "busy");
  const free = await connect(port, "free");
  const [busyResult, freeResult] = await Promise.all([hammerMetadata(busy, 4_000), hammerMetadata(free, 4_000)]);
  // Throttle times are at most one quota sample (quota.window.size.seconds = 1 s), as in Kafka.
  expect(Math.max(...busyResult.throttles)).toBeGreaterThan(0);
  expect(Math.max(...busyResult.throttles)).toBeLessThanOrEqual(1000);
  expect(Math.max(...freeResult.throttles)).toBe(0);
  // Muted while throttled, the busy client gets far fewer requests through than the free one.
  expect(busyResult.requests * 3).toBeLessThan(freeResult.requests);

  // ApiVersions is exempt (Kafka's sendResponseExemptThrottle): answered without a throttle time.
  const versions = await busy.request(ApiKey.ApiVersions, 3, { clientSoftwareName: "test", clientSoftwareVersion: "1" });
  expect(versions.errorCode).toBe(ErrorCode.NONE);
  expect(versions.throttleTimeMs).toBe(0);

  // Removing the quota lifts it: after the window has passed, the same client id is not throttled.
  await alterQuotas(admin, [{ entity: [{ entityType: "client-id", entityName: "busy" }], ops: [{ key: "request_percentage", value: 0, remove: true }] }]);
  const after = await hammerMetadata(busy, 500);
  expect(Math.max(...after.throttles)).toBe(0);
}, 60_000);
