// Topic ids (KIP-516) with real broker processes: Metadata v12 (raw requests) sees one stable, non-zero id
// per topic across a restart and on every broker of a 3-broker cluster; a
// topic deleted and re-created gets a new id and the old id is UNKNOWN_TOPIC_ID (Metadata by id, DeleteTopics
// v6); each partition directory's partition.metadata names its topic's id in Kafka's format; a directory whose
// partition.metadata names another id (left by a deleted topic of the same name) is not served after a
// restart; a metadata file written before topic ids gets ids once, and keeps its data.
import { afterAll, afterEach, expect, test } from "bun:test";
import { readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { pack, unpack } from "msgpackr";
import { ErrorCode } from "../../src/protocol/errors.ts";
import { ApiKey } from "../../src/protocol/generated/index.ts";
import { BrokerProcess } from "../helpers/broker-process.ts";
import { TestCluster } from "../helpers/cluster.ts";
import { createTopic, kafkaClient } from "../helpers/kafkajs.ts";
import { storedBatches } from "../helpers/segments.ts";
import { withConnection } from "../helpers/connection.ts";

const brokers: BrokerProcess[] = [];
const dataDirsToRemove: string[] = [];
let cluster: TestCluster | null = null;

afterEach(async () => {
  for (const broker of brokers.splice(0)) await broker.cleanup();
  for (const dir of dataDirsToRemove.splice(0)) rmSync(dir, { recursive: true, force: true });
  await cluster?.cleanup();
  cluster = null;
});

afterAll(async () => {
  for (const broker of brokers.splice(0)) await broker.cleanup();
  await cluster?.cleanup();
});

async function startBroker(dataDir?: string): Promise<BrokerProcess> {
  const broker = new BrokerProcess({ dataDir });
  brokers.push(broker);
  await broker.start();
  return broker;
}

const hex = (bytes: Uint8Array): string => Buffer.from(bytes).toString("hex");
const ZERO_ID = "0".repeat(32);

/** The topic's id as a raw Metadata v12 by name answers it (32 hex characters). */
async function topicIdOf(port: number, topic: string): Promise<string> {
  return withConnection(port, async (connection) => {
    const response = await connection.request(ApiKey.Metadata, 12, { topics: [{ name: topic, topicId: new Uint8Array(16) }], allowAutoTopicCreation: false });
    expect(response.topics[0].errorCode).toBe(ErrorCode.NONE);
    return hex(response.topics[0].topicId);
  });
}

/** The topic's partition count as kafkajs' admin (Metadata v6, no ids) sees it. */
async function kafkajsPartitionCount(bootstrap: string, topic: string): Promise<number> {
  const admin = kafkaClient(bootstrap).admin();
  await admin.connect();
  try {
    const metadata = await admin.fetchTopicMetadata({ topics: [topic] });
    return metadata.topics[0]!.partitions.length;
  } finally {
    await admin.disconnect();
  }
}

function partitionMetadataFile(dataDir: string, topic: string, partition: number): string {
  return readFileSync(join(dataDir, `${topic}-${partition}`, "partition.metadata"), "utf8");
}

const base64Id = (topicIdHex: string): string => Buffer.from(topicIdHex, "hex").toString("base64url");

async function produce(bootstrap: string, topic: string, partition: number, count: number): Promise<void> {
  const producer = kafkaClient(bootstrap).producer();
  await producer.connect();
  try {
    await producer.send({ topic, acks: -1, messages: Array.from({ length: count }, (_, n) => ({ partition, value: `v${n}` })) });
  } finally {
    await producer.disconnect();
  }
}

/** The partition's log end offset (ListOffsets v1, latest). */
async function endOffset(port: number, topic: string, partition: number): Promise<number> {
  return withConnection(port, async (connection) => {
    const response = await connection.request(ApiKey.ListOffsets, 1, { replicaId: -1, topics: [{ name: topic, partitions: [{ partitionIndex: partition, timestamp: -1 }] }] });
    expect(response.topics[0].partitions[0].errorCode).toBe(ErrorCode.NONE);
    return Number(response.topics[0].partitions[0].offset);
  });
}

test("one stable non-zero id per topic across a restart; delete and re-create gets a new id; the old id is UNKNOWN_TOPIC_ID", async () => {
  let broker = await startBroker();
  const dataDir = broker.dataDir;
  await createTopic(broker.bootstrap, "ids-a", 2);
  await createTopic(broker.bootstrap, "ids-b", 1);
  const idA = await topicIdOf(broker.port, "ids-a");
  const idB = await topicIdOf(broker.port, "ids-b");
  expect(idA).toMatch(/^[0-9a-f]{32}$/);
  expect(idA).not.toBe(ZERO_ID);
  expect(idB).not.toBe(idA);
  expect(await kafkajsPartitionCount(broker.bootstrap, "ids-a")).toBe(2);
  for (const partition of [0, 1]) expect(partitionMetadataFile(dataDir, "ids-a", partition)).toBe(`version: 0\ntopic_id: ${base64Id(idA)}\n`);

  // By id (v12): the name comes back; before v12 an id in the request is refused.
  await withConnection(broker.port, async (connection) => {
    const byId = await connection.request(ApiKey.Metadata, 12, { topics: [{ name: null, topicId: Buffer.from(idA, "hex") }], allowAutoTopicCreation: false });
    expect(byId.topics[0].errorCode).toBe(ErrorCode.NONE);
    expect(byId.topics[0].name).toBe("ids-a");
    expect(byId.topics[0].partitions.length).toBe(2);
    const v11 = await connection.request(ApiKey.Metadata, 11, { topics: [{ name: null, topicId: Buffer.from(idA, "hex") }], allowAutoTopicCreation: false });
    expect(v11.topics[0].errorCode).toBe(ErrorCode.INVALID_REQUEST);
  });

  await produce(broker.bootstrap, "ids-a", 0, 5);
  expect(await broker.stop()).toBe(0);
  broker = await startBroker(dataDir);
  dataDirsToRemove.push(dataDir);
  expect(await topicIdOf(broker.port, "ids-a")).toBe(idA);
  expect(await topicIdOf(broker.port, "ids-b")).toBe(idB);
  expect(await kafkajsPartitionCount(broker.bootstrap, "ids-a")).toBe(2);
  expect(await endOffset(broker.port, "ids-a", 0)).toBe(5);

  // Deleted and re-created under the same name: a new id; the old one names nothing.
  const admin = kafkaClient(broker.bootstrap).admin();
  await admin.connect();
  try {
    await admin.deleteTopics({ topics: ["ids-a"] });
  } finally {
    await admin.disconnect();
  }
  await createTopic(broker.bootstrap, "ids-a", 2);
  const recreated = await topicIdOf(broker.port, "ids-a");
  expect(recreated).not.toBe(idA);
  expect(recreated).not.toBe(ZERO_ID);
  expect(partitionMetadataFile(dataDir, "ids-a", 0)).toBe(`version: 0\ntopic_id: ${base64Id(recreated)}\n`);
  expect(await endOffset(broker.port, "ids-a", 0)).toBe(0);
  await withConnection(broker.port, async (connection) => {
    const oldById = await connection.request(ApiKey.Metadata, 12, { topics: [{ name: null, topicId: Buffer.from(idA, "hex") }], allowAutoTopicCreation: false });
    expect(oldById.topics[0].errorCode).toBe(ErrorCode.UNKNOWN_TOPIC_ID);
    expect(oldById.topics[0].name).toBeNull();
    const deleteOld = await connection.request(ApiKey.DeleteTopics, 6, { topics: [{ name: null, topicId: Buffer.from(idA, "hex") }], timeoutMs: 15_000 });
    expect(deleteOld.responses[0].errorCode).toBe(ErrorCode.UNKNOWN_TOPIC_ID);
    // Name and id together is refused, as in Kafka.
    const both = await connection.request(ApiKey.DeleteTopics, 6, { topics: [{ name: "ids-a", topicId: Buffer.from(recreated, "hex") }], timeoutMs: 15_000 });
    expect(both.responses[0].errorCode).toBe(ErrorCode.INVALID_REQUEST);
  });
  // The re-created topic was left alone by the requests naming the old id.
  expect(await topicIdOf(broker.port, "ids-a")).toBe(recreated);

  // DeleteTopics v6 by the current id deletes it.
  await withConnection(broker.port, async (connection) => {
    const deleted = await connection.request(ApiKey.DeleteTopics, 6, { topics: [{ name: null, topicId: Buffer.from(idB, "hex") }], timeoutMs: 15_000 });
    expect(deleted.responses[0].errorCode).toBe(ErrorCode.NONE);
    expect(deleted.responses[0].name).toBe("ids-b");
    const gone = await connection.request(ApiKey.Metadata, 12, { topics: [{ name: "ids-b", topicId: new Uint8Array(16) }], allowAutoTopicCreation: false });
    expect(gone.topics[0].errorCode).toBe(ErrorCode.UNKNOWN_TOPIC_OR_PARTITION);
  });
}, 180_000);

test("a partition directory whose partition.metadata names another topic id is not served after a restart", async () => {
  let broker = await startBroker();
  const dataDir = broker.dataDir;
  dataDirsToRemove.push(dataDir);
  await createTopic(broker.bootstrap, "stale", 2);
  const topicId = await topicIdOf(broker.port, "stale");
  await produce(broker.bootstrap, "stale", 0, 7);
  await produce(broker.bootstrap, "stale", 1, 3);
  expect(await broker.stop()).toBe(0);

  // stale-0 now looks like the directory of an earlier topic "stale" that was deleted.
  const otherId = Buffer.from(crypto.getRandomValues(new Uint8Array(16))).toString("base64url");
  writeFileSync(join(dataDir, "stale-0", "partition.metadata"), `version: 0\ntopic_id: ${otherId}\n`);
  broker = await startBroker(dataDir);
  expect(await endOffset(broker.port, "stale", 0)).toBe(0);
  expect(await endOffset(broker.port, "stale", 1)).toBe(3);
  expect(partitionMetadataFile(dataDir, "stale", 0)).toBe(`version: 0\ntopic_id: ${base64Id(topicId)}\n`);
  expect(broker.output).toContain(`it held topic id ${otherId}`);
}, 120_000);

test("a metadata file written before topic ids: each topic gets an id once, kept across restarts, with its data", async () => {
  let broker = await startBroker();
  const dataDir = broker.dataDir;
  dataDirsToRemove.push(dataDir);
  await createTopic(broker.bootstrap, "legacy", 1);
  await produce(broker.bootstrap, "legacy", 0, 4);
  expect(await broker.stop()).toBe(0);

  // What a data dir from before topic ids holds: no id in topics.bin, no partition.metadata.
  const metadataPath = join(dataDir, "meta", "topics.bin");
  const stored = unpack(readFileSync(metadataPath)) as { topics: { name: string; topicId?: string }[] };
  for (const topic of stored.topics) delete topic.topicId;
  writeFileSync(metadataPath, pack(stored));
  rmSync(join(dataDir, "legacy-0", "partition.metadata"));

  broker = await startBroker(dataDir);
  const assigned = await topicIdOf(broker.port, "legacy");
  expect(assigned).not.toBe(ZERO_ID);
  expect(await endOffset(broker.port, "legacy", 0)).toBe(4);
  expect(partitionMetadataFile(dataDir, "legacy", 0)).toBe(`version: 0\ntopic_id: ${base64Id(assigned)}\n`);
  expect(await broker.stop()).toBe(0);
  broker = await startBroker(dataDir);
  expect(await topicIdOf(broker.port, "legacy")).toBe(assigned);
  expect(await endOffset(broker.port, "legacy", 0)).toBe(4);
}, 120_000);

test("every broker of a 3-broker cluster reports the same topic id, and its replicas' partition.metadata names it", async () => {
  cluster = new TestCluster(3);
  await cluster.start();
  const admin = kafkaClient(cluster.bootstrap.join(",")).admin();
  await admin.connect();
  try {
    expect(await admin.createTopics({ topics: [{ topic: "cluster-ids", numPartitions: 3, replicationFactor: 3 }], waitForLeaders: true })).toBe(true);
  } finally {
    await admin.disconnect();
  }
  await cluster.leadersReady("cluster-ids");
  const ids = new Set<string>();
  for (const nodeId of [1, 2, 3]) {
    const broker = cluster.broker(nodeId);
    // A broker sees the topic once the etcd watch delivered it (bounded wait).
    const id = await cluster.waitFor(`broker ${nodeId} to know cluster-ids`, async () => {
      try {
        return await topicIdOf(broker.port, "cluster-ids");
      } catch {
        return null;
      }
    });
    ids.add(id);
  }
  expect(ids.size).toBe(1);
  const [topicId] = [...ids];
  expect(topicId).not.toBe(ZERO_ID);
  const partitions = await cluster.partitions("cluster-ids");
  for (const [index, partition] of partitions.entries()) {
    expect(partition.replicas.length).toBe(3);
    for (const replica of partition.replicas) expect(partitionMetadataFile(cluster.broker(replica).dataDir, "cluster-ids", index)).toBe(`version: 0\ntopic_id: ${base64Id(topicId!)}\n`);
  }
}, 180_000);

test("a follower that missed a topic's deletion drops its old directory when the topic is re-created with the same name", async () => {
  cluster = new TestCluster(3);
  await cluster.start();
  const bootstrap = cluster.bootstrap.join(",");
  const create = async () => {
    const admin = kafkaClient(bootstrap).admin();
    await admin.connect();
    try {
      expect(await admin.createTopics({ topics: [{ topic: "reborn", numPartitions: 1, replicationFactor: 3 }], waitForLeaders: true })).toBe(true);
    } finally {
      await admin.disconnect();
    }
  };
  await create();
  await cluster.leadersReady("reborn");
  const oldId = await topicIdOf(cluster.broker(1).port, "reborn");
  await produce(bootstrap, "reborn", 0, 6);
  const follower = cluster.broker(3);
  // Broker 3 holds the old topic's replica on disk, then is down while the topic is deleted.
  await cluster.waitFor("broker 3's copy of reborn-0", async () => partitionMetadataFile(follower.dataDir, "reborn", 0).includes(base64Id(oldId)));
  await follower.kill();
  // Only the live brokers as seeds, and bounded retries: until the cluster notices broker 3 is gone, metadata
  // may still name it and kafkajs's connection to it is refused (ECONNREFUSED), which is not what this tests.
  const liveBootstrap = cluster.bootstrap.filter((seed) => seed !== follower.bootstrap).join(",");
  for (let attempt = 1; ; attempt++) {
    const admin = kafkaClient(liveBootstrap).admin();
    try {
      await admin.connect();
      await admin.deleteTopics({ topics: ["reborn"] });
      break;
    } catch (error) {
      if (attempt >= 10 || !String(error).includes("ECONNREFUSED")) throw error;
      await Bun.sleep(1_000);
    } finally {
      await admin.disconnect();
    }
  }
  await follower.start();
  await cluster.waitForMembership();
  await create();
  await cluster.leadersReady("reborn");
  const newId = await topicIdOf(cluster.broker(1).port, "reborn");
  expect(newId).not.toBe(oldId);
  await cluster.waitFor("broker 3 to hold the new topic's replica", async () => {
    try {
      return partitionMetadataFile(follower.dataDir, "reborn", 0) === `version: 0\ntopic_id: ${base64Id(newId)}\n`;
    } catch {
      return false;
    }
  });
  expect(follower.output).toContain(`it held topic id ${base64Id(oldId)}`);
  // Its log starts empty (the old records are not this topic's), as the new leader's does.
  expect(storedBatches(join(follower.dataDir, "reborn-0")).length).toBe(0);
  const leader = (await cluster.partitions("reborn"))[0]!.leader;
  expect(await endOffset(cluster.broker(leader).port, "reborn", 0)).toBe(0);
  for (const nodeId of [1, 2]) {
    const leaderOrFollower = cluster.broker(nodeId);
    expect(partitionMetadataFile(leaderOrFollower.dataDir, "reborn", 0)).toBe(`version: 0\ntopic_id: ${base64Id(newId)}\n`);
  }
}, 180_000);
