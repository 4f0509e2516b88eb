// Consumer groups in a cluster: __consumer_offsets is replicated like any partition and a group's
// coordinator is the leader of its offsets partition. Killing that broker moves coordination with the
// leadership: committed offsets survive, and a consumer of the group resumes exactly after them.
import { afterAll, beforeAll, expect, test } from "bun:test";
import { KafkaConnection } from "../../src/client/kafka-connection.ts";
import { ApiKey } from "../../src/protocol/generated/index.ts";
import { TestCluster } from "../helpers/cluster.ts";
import { kafkaClient } from "../helpers/kafkajs.ts";

const TOPIC = "grouped";
const GROUP = "replicated-group";
const MESSAGES = 300;
let cluster: TestCluster;

beforeAll(async () => {
  cluster = new TestCluster(3);
  await cluster.start();
  const kafka = kafkaClient(cluster.bootstrap.join(","), "groups-failover");
  const admin = kafka.admin();
  await admin.connect();
  await admin.createTopics({ topics: [{ topic: TOPIC, numPartitions: 3, replicationFactor: 3, configEntries: [{ name: "min.insync.replicas", value: "2" }] }], waitForLeaders: true });
  await admin.disconnect();
  const producer = kafka.producer();
  await producer.connect();
  await producer.send({ topic: TOPIC, acks: -1, messages: Array.from({ length: MESSAGES }, (_, i) => ({ value: `g${i}`, partition: i % 3 })) });
  await producer.disconnect();
}, 60_000);

afterAll(async () => {
  await cluster.cleanup();
});

async function coordinatorOf(group: string, excluding: number[] = []): Promise<number> {
  return cluster.waitFor(`a coordinator for ${group}`, async () => {
    for (const [nodeId, broker] of cluster.brokers) {
      if (excluding.includes(nodeId) || !broker.pid) continue;
      const connection = await KafkaConnection.connect({ host: "127.0.0.1", port: broker.port, requestTimeoutMs: 5000 });
      try {
        const response = await connection.request(ApiKey.FindCoordinator, 2, { key: group, keyType: 0 });
        if (response.errorCode === 0 && !excluding.includes(response.nodeId)) return response.nodeId as number;
      } finally {
        connection.close();
      }
    }
    return null;
  });
}

async function consume(count: number, clientId: string): Promise<string[]> {
  const consumer = kafkaClient(cluster.bootstrap.join(","), clientId).consumer({ groupId: GROUP, sessionTimeout: 10_000, heartbeatInterval: 500 });
  const seen: string[] = [];
  await consumer.connect();
  await consumer.subscribe({ topic: TOPIC, fromBeginning: true });
  await consumer.run({
    autoCommit: false,
    eachMessage: async ({ topic, partition, message }) => {
      if (seen.length >= count) return;
      seen.push(message.value!.toString());
      await consumer.commitOffsets([{ topic, partition, offset: String(Number(message.offset) + 1) }]);
    },
  });
  await cluster.waitFor(`${clientId} to read ${count} records`, async () => seen.length >= count, 60_000);
  await consumer.disconnect();
  return seen;
}

test("the group coordinator moves with __consumer_offsets leadership and committed offsets survive its broker's death", async () => {
  const first = await consume(120, "first");
  const coordinator = await coordinatorOf(GROUP);
  const offsets = await cluster.partitions("__consumer_offsets");
  expect(offsets.every((partition) => partition.replicas.length === 3)).toBe(true);

  await cluster.broker(coordinator).kill();
  const newCoordinator = await coordinatorOf(GROUP, [coordinator]);
  expect(newCoordinator).not.toBe(coordinator);

  const rest = await consume(MESSAGES - first.length, "second");
  const all = new Set([...first, ...rest]);
  expect(all.size).toBe(MESSAGES); // nothing read twice, nothing skipped: the second consumer resumed at the commits
  expect(rest.length).toBe(MESSAGES - first.length);

  const admin = kafkaClient(cluster.bootstrap.join(","), "offsets-check").admin();
  await admin.connect();
  const committed = await admin.fetchOffsets({ groupId: GROUP, topics: [TOPIC] });
  await admin.disconnect();
  const total = committed[0]!.partitions.reduce((sum, partition) => sum + Number(partition.offset), 0);
  expect(total).toBe(MESSAGES);
}, 180_000);
