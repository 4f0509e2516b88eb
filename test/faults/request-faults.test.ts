// The request and connection faults on one real broker, seen from a Kafka protocol client over real sockets:
// partition-offline (Metadata leaderless, its produces refused while the request's other partition is
// appended), pause and resume, dropped and truncated responses, refused and closed connections, and a fault
// that ends by its duration.
import { afterAll, beforeAll, expect, test } from "bun:test";
import { rmSync } from "node:fs";
import { KafkaConnection } from "../../src/client/kafka-connection.ts";
import { buildBatch } from "../../src/records/compression.ts";
import { startBroker, type Broker } from "../../src/index.ts";
import { ErrorCode } from "../../src/protocol/errors.ts";
import { ApiKey } from "../../src/protocol/generated/index.ts";
import { createTopic, produceRecords, readAll } from "../../src/testing/index.ts";
import { tempDir } from "../helpers/broker-process.ts";
import { waitUntil } from "./partition-state.ts";

let broker: Broker;
let dataDir: string;
let bootstrap: string;

beforeAll(async () => {
  dataDir = tempDir("faults-requests");
  broker = await startBroker({ port: 0, host: "127.0.0.1", dataDir, log: () => undefined, properties: { "faults.enable": "true" } });
  bootstrap = `127.0.0.1:${broker.port}`;
  await createTopic(bootstrap, "two", { partitions: 2 });
});

afterAll(async () => {
  await broker.stop();
  rmSync(dataDir, { recursive: true, force: true });
});

const connect = (requestTimeoutMs = 30_000) => KafkaConnection.connect({ host: "127.0.0.1", port: broker.port, requestTimeoutMs });
const metadata = (connection: KafkaConnection) => connection.request(ApiKey.Metadata, 9, { topics: [{ name: "two" }], allowAutoTopicCreation: false });

test("partition-offline: Metadata shows it leaderless, its produce fails NOT_LEADER_OR_FOLLOWER, the request's other partition is appended", async () => {
  const fault = await broker.faults.add({ type: "partition-offline", topic: "two", partition: 1, durationMs: 60_000 });
  const connection = await connect();
  try {
    const partitions = (await metadata(connection)).topics[0].partitions.sort((a: { partitionIndex: number }, b: { partitionIndex: number }) => a.partitionIndex - b.partitionIndex);
    expect(partitions[0]).toMatchObject({ errorCode: ErrorCode.NONE, leaderId: broker.config.nodeId });
    expect(partitions[1]).toMatchObject({ errorCode: ErrorCode.LEADER_NOT_AVAILABLE, leaderId: -1 });
    const response = await connection.request(ApiKey.Produce, 7, {
      transactionalId: null,
      acks: -1,
      timeoutMs: 10_000,
      topicData: [{ name: "two", partitionData: [0, 1].map((index) => ({ index, records: buildBatch({ records: [{ key: null, value: `to-${index}` }] }) })) }],
    });
    const byIndex = new Map(response.responses[0].partitionResponses.map((entry: { index: number; errorCode: number }) => [entry.index, entry.errorCode]));
    expect(byIndex.get(0)).toBe(ErrorCode.NONE);
    expect(byIndex.get(1)).toBe(ErrorCode.NOT_LEADER_OR_FOLLOWER);
  } finally {
    connection.close();
  }
  broker.faults.clear(fault.id);
  expect((await readAll(bootstrap, "two", { partition: 0 })).map((record) => new TextDecoder().decode(record.value!))).toEqual(["to-0"]);
  expect(await readAll(bootstrap, "two", { partition: 1 })).toEqual([]);
});

test("pause: nothing is answered until the fault is cleared, then the waiting request is", async () => {
  const connection = await connect();
  try {
    const pause = await broker.faults.add({ type: "pause", durationMs: 60_000 });
    let answered = false;
    const waiting = metadata(connection).then((response) => ((answered = true), response));
    await Bun.sleep(300);
    expect(answered).toBe(false);
    expect(broker.faults.clear(pause.id)).toBe(1);
    expect((await waiting).topics[0].name).toBe("two");
  } finally {
    connection.close();
  }
});

test("drop-response: the request goes unanswered (the client times out); the next one is answered", async () => {
  await broker.faults.add({ type: "drop-response", api: "Metadata", count: 1 });
  const connection = await connect(1000);
  try {
    await expect(metadata(connection)).rejects.toThrow("timed out");
    expect(broker.faults.list()).toEqual([]);
  } finally {
    connection.close();
  }
  const next = await connect();
  try {
    expect((await metadata(next)).topics[0].name).toBe("two");
  } finally {
    next.close();
  }
});

test("truncate-response: part of the response, then the connection closes", async () => {
  await broker.faults.add({ type: "truncate-response", api: "Metadata", bytes: 10 });
  const connection = await connect(10_000);
  try {
    const outcome = await metadata(connection).then(() => "answered", (error: Error) => error.message);
    expect(outcome).not.toBe("answered");
    await waitUntil("the connection to close", 10_000, async () => connection.closed);
  } finally {
    connection.close();
  }
});

test("refuse-connections and close-connections", async () => {
  const open = await connect();
  // Answered first: connect() resolves at the TCP handshake, which the kernel completes before a listening
  // thread accepts the socket; a connection the broker has not accepted yet is not one it holds to close.
  await metadata(open);
  await broker.faults.add({ type: "close-connections" });
  await waitUntil("the open connection to be closed by the broker", 10_000, async () => open.closed);
  open.close();

  await broker.faults.add({ type: "refuse-connections", count: 1 });
  const refused = await connect(2000).then(async (connection) => {
    // The accept closes it at once: the first request fails.
    const outcome = await metadata(connection).then(() => "answered", () => "closed");
    connection.close();
    return outcome;
  }, () => "closed");
  expect(refused).toBe("closed");
  const accepted = await connect();
  try {
    expect((await metadata(accepted)).topics[0].name).toBe("two");
  } finally {
    accepted.close();
  }
});

test("a fault bounded by durationMs ends by itself", async () => {
  const fault = await broker.faults.add({ type: "latency", api: "Produce", delayMs: 1, durationMs: 200 });
  expect(fault.expiresAtMs).toBeGreaterThan(Date.now() - 1000);
  expect(broker.faults.list()).toHaveLength(1);
  await waitUntil("the fault to expire", 10_000, async () => broker.faults.list().length === 0);
  expect(broker.faults.armed).toBe(false);
});

test("error faults: Fetch fails only the matching partition (the other's records come back); FindCoordinator answers at top level (v3) and per key (v4)", async () => {
  await createTopic(bootstrap, "fetched", { partitions: 2 });
  for (const partition of [0, 1]) await produceRecords(bootstrap, "fetched", [{ key: null, value: `in-${partition}` }], { partition });
  await broker.faults.add({ type: "error", api: "Fetch", errorCode: ErrorCode.KAFKA_STORAGE_ERROR, topic: "fetched", partition: 1 });
  const connection = await connect();
  try {
    const fetched = await connection.request(ApiKey.Fetch, 11, {
      replicaId: -1, maxWaitMs: 0, minBytes: 0, maxBytes: 1 << 20, isolationLevel: 0, sessionId: 0, sessionEpoch: -1,
      topics: [{ topic: "fetched", partitions: [0, 1].map((partition) => ({ partition, currentLeaderEpoch: -1, fetchOffset: 0, logStartOffset: -1, partitionMaxBytes: 1 << 20 })) }],
      forgottenTopicsData: [], rackId: "",
    });
    const partitions = new Map(fetched.responses.flatMap((topic: { partitions: { partitionIndex: number }[] }) => topic.partitions).map((entry: { partitionIndex: number }) => [entry.partitionIndex, entry]));
    expect(partitions.get(0)).toMatchObject({ errorCode: ErrorCode.NONE, highWatermark: 1 });
    expect((partitions.get(0) as { records: Uint8Array }).records.byteLength).toBeGreaterThan(0);
    expect(partitions.get(1)).toMatchObject({ errorCode: ErrorCode.KAFKA_STORAGE_ERROR });

    // Fetch v17 names the topic by id (KIP-516): the fault still takes the partition it names, in the topic's one entry.
    await broker.faults.add({ type: "error", api: "Fetch", errorCode: ErrorCode.KAFKA_STORAGE_ERROR, topic: "fetched", partition: 1 });
    const described = await connection.request(ApiKey.Metadata, 12, { topics: [{ name: "fetched", topicId: new Uint8Array(16) }], allowAutoTopicCreation: false });
    const byId = await connection.request(ApiKey.Fetch, 17, {
      maxWaitMs: 0, minBytes: 0, maxBytes: 1 << 20, isolationLevel: 0, sessionId: 0, sessionEpoch: -1,
      topics: [{ topicId: described.topics[0].topicId, partitions: [0, 1].map((partition) => ({ partition, currentLeaderEpoch: -1, fetchOffset: 0, logStartOffset: -1, partitionMaxBytes: 1 << 20 })) }],
      forgottenTopicsData: [], rackId: "",
    });
    expect(byId.responses).toHaveLength(1);
    const byIdPartitions = new Map(byId.responses[0].partitions.map((entry: { partitionIndex: number }) => [entry.partitionIndex, entry]));
    expect(byIdPartitions.get(0)).toMatchObject({ errorCode: ErrorCode.NONE, highWatermark: 1 });
    expect(byIdPartitions.get(1)).toMatchObject({ errorCode: ErrorCode.KAFKA_STORAGE_ERROR });

    await broker.faults.add({ type: "error", api: "FindCoordinator", errorCode: ErrorCode.COORDINATOR_NOT_AVAILABLE, count: 2 });
    const v3 = await connection.request(ApiKey.FindCoordinator, 3, { key: "g", keyType: 0 });
    expect(v3).toMatchObject({ errorCode: ErrorCode.COORDINATOR_NOT_AVAILABLE, nodeId: -1 });
    const v4 = await connection.request(ApiKey.FindCoordinator, 4, { keyType: 0, coordinatorKeys: ["g1", "g2"] });
    expect(v4.coordinators.map((entry: { key: string; errorCode: number }) => [entry.key, entry.errorCode])).toEqual([["g1", ErrorCode.COORDINATOR_NOT_AVAILABLE], ["g2", ErrorCode.COORDINATOR_NOT_AVAILABLE]]);
    // Both uses taken: the next one is served.
    expect((await connection.request(ApiKey.FindCoordinator, 3, { key: "g", keyType: 0 })).errorCode).toBe(ErrorCode.NONE);
  } finally {
    connection.close();
  }
  expect(broker.faults.list()).toEqual([]);
});

test("requests no fault takes are served as usual while faults are armed (a Fetch and a Metadata pass through)", async () => {
  await createTopic(bootstrap, "through", { partitions: 1 });
  await produceRecords(bootstrap, "through", [{ key: null, value: "served" }]);
  const unrelated = await broker.faults.add({ type: "latency", api: "ListGroups", delayMs: 1, durationMs: 60_000 });
  const connection = await connect(10_000);
  try {
    const fetched = await connection.request(ApiKey.Fetch, 11, {
      replicaId: -1, maxWaitMs: 0, minBytes: 0, maxBytes: 1 << 20, isolationLevel: 0, sessionId: 0, sessionEpoch: -1,
      topics: [{ topic: "through", partitions: [{ partition: 0, currentLeaderEpoch: -1, fetchOffset: 0, logStartOffset: -1, partitionMaxBytes: 1 << 20 }] }],
      forgottenTopicsData: [], rackId: "",
    });
    expect(fetched.responses[0].partitions[0]).toMatchObject({ errorCode: ErrorCode.NONE, highWatermark: 1 });
    expect((await metadata(connection)).topics[0].errorCode).toBe(ErrorCode.NONE);
  } finally {
    connection.close();
    broker.faults.clear(unrelated.id);
  }
});
