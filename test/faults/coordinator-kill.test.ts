// A kafkajs consumer group in a 3-broker embedded cluster whose coordinator's broker is killed: the members
// find the new coordinator (the new leader of the group's __consumer_offsets partition, which loads the
// group's committed offsets), the group is stable again and consumption resumes from the committed offsets:
// no record is skipped and nothing committed before the kill is read again.
import { expect, test } from "bun:test";
import { Kafka, logLevel, type Consumer } from "kafkajs";
import { KafkaConnection } from "../../src/client/kafka-connection.ts";
import { ApiKey } from "../../src/protocol/generated/index.ts";
import { createTopic, startCluster, waitForGroupCaughtUp, waitForGroupStable } from "../../src/testing/index.ts";
import { waitUntil } from "./partition-state.ts";

const PARTITIONS = 3;
const BEFORE = 150;
const AFTER = 150;

async function coordinatorId(bootstrap: string, groupId: string): Promise<number> {
  const [host, port] = bootstrap.split(",")[0]!.split(":");
  const connection = await KafkaConnection.connect({ host: host!, port: Number(port) });
  try {
    const response = await connection.request(ApiKey.FindCoordinator, 3, { key: groupId, keyType: 0 });
    return response.errorCode === 0 ? response.nodeId : -1;
  } finally {
    connection.close();
  }
}

interface Consumed {
  partition: number;
  offset: number;
  value: string;
  afterKill: boolean;
}

test("a consumer group rebalances onto a new coordinator after its broker is killed and resumes from committed offsets", async () => {
  await using cluster = await startCluster({ brokers: 3 });
  const topic = "coordinator-kill";
  const groupId = "coordinator-kill-group";
  await createTopic(cluster.bootstrapServers, topic, { partitions: PARTITIONS, replicationFactor: 3 });
  const kafka = new Kafka({ clientId: "coordinator-kill", brokers: cluster.bootstrapServers.split(","), logLevel: logLevel.NOTHING, retry: { retries: 20, initialRetryTime: 100, maxRetryTime: 1000 } });
  const producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1 });
  await producer.connect();
  const send = (from: number, count: number) =>
    producer.send({ topic, acks: -1, messages: Array.from({ length: count }, (_, i) => ({ partition: (from + i) % PARTITIONS, value: `r${from + i}` })) });

  let killed = false;
  const consumed: Consumed[] = [];
  const joins = new Map<string, number>();
  const consumers: Consumer[] = [];
  for (const name of ["a", "b"]) {
    const consumer = kafka.consumer({ groupId, sessionTimeout: 10_000, heartbeatInterval: 500, maxWaitTimeInMs: 100, retry: { retries: 20, initialRetryTime: 100, maxRetryTime: 1000 } });
    consumer.on(consumer.events.GROUP_JOIN, () => joins.set(name, (joins.get(name) ?? 0) + 1));
    await consumer.connect();
    await consumer.subscribe({ topic, fromBeginning: true });
    await consumer.run({ autoCommitInterval: 100, eachMessage: async ({ partition, message }) => void consumed.push({ partition, offset: Number(message.offset), value: message.value!.toString(), afterKill: killed }) });
    consumers.push(consumer);
  }
  try {
    await waitForGroupStable(cluster.bootstrapServers, groupId, { members: 2, timeoutMs: 30_000 });
    await send(0, BEFORE);
    // Every record read and its offset committed: the group's lag is 0 on every partition.
    await waitForGroupCaughtUp(cluster.bootstrapServers, groupId, topic, { timeoutMs: 30_000 });
    const committedAtKill = BEFORE / PARTITIONS;
    const joinsBefore = [...joins.values()].reduce((sum, count) => sum + count, 0);

    const coordinator = await coordinatorId(cluster.bootstrapServers, groupId);
    expect(cluster.liveBrokerIds).toContain(coordinator);
    killed = true;
    await cluster.kill(coordinator);
    await waitUntil("a new coordinator for the group", 30_000, async () => {
      const id = await coordinatorId(cluster.bootstrapServers, groupId);
      return id > 0 && id !== coordinator;
    });

    await send(BEFORE, AFTER);
    await waitUntil("every record consumed", 60_000, async () => new Set(consumed.map((record) => record.value)).size === BEFORE + AFTER);
    await waitForGroupStable(cluster.bootstrapServers, groupId, { members: 2, timeoutMs: 30_000 });
    await waitForGroupCaughtUp(cluster.bootstrapServers, groupId, topic, { timeoutMs: 30_000 });

    // No record skipped.
    const values = new Set(consumed.map((record) => record.value));
    for (let i = 0; i < BEFORE + AFTER; i++) expect(values.has(`r${i}`)).toBe(true);
    // Resumed from the committed offsets: nothing committed before the kill was read again.
    const afterKill = consumed.filter((record) => record.afterKill);
    expect(afterKill.every((record) => record.offset >= committedAtKill)).toBe(true);
    // Duplicates only from work not yet committed when a member moved: bounded by what was produced after the kill.
    expect(consumed.length - values.size).toBeLessThanOrEqual(AFTER);
    // The members joined again on the new coordinator (a rebalance).
    const joinsAfter = [...joins.values()].reduce((sum, count) => sum + count, 0);
    expect(joinsAfter).toBeGreaterThan(joinsBefore);
  } finally {
    for (const consumer of consumers) await consumer.disconnect();
    await producer.disconnect();
  }
});
