// A leader moved by the fault API (an election, epoch + 1) in a 3-broker embedded cluster is followed by
// kafkajs (a producer and a consumer that stay connected across the move) and by kcat, without lost or
// duplicated records.
import { expect, test } from "bun:test";
import { Kafka, logLevel } from "kafkajs";
import { createTopic, startCluster } from "../../src/testing/index.ts";
import { kcat, kcatConsumeAll } from "../helpers/kcat.ts";
import { partitionView, waitUntil } from "./partition-state.ts";

test("kafkajs and kcat follow a leader moved with cluster.faults.add({ type: 'move-leader' }) without losing records", async () => {
  await using cluster = await startCluster({ brokers: 3 });
  const topic = "moved-leader";
  await createTopic(cluster.bootstrapServers, topic, { partitions: 1, replicationFactor: 3, configs: { "min.insync.replicas": "2" } });
  const kafka = new Kafka({ clientId: "move", brokers: cluster.bootstrapServers.split(","), logLevel: logLevel.NOTHING, retry: { retries: 10, initialRetryTime: 50, maxRetryTime: 1000 } });
  const producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1 });
  const consumer = kafka.consumer({ groupId: "move-group", maxWaitTimeInMs: 100 });
  await producer.connect();
  await consumer.connect();
  const consumed: string[] = [];
  await consumer.subscribe({ topic, fromBeginning: true });
  await consumer.run({ eachMessage: async ({ message }) => void consumed.push(message.value!.toString()) });
  try {
    const send = (from: number, count: number) => producer.send({ topic, acks: -1, messages: Array.from({ length: count }, (_, i) => ({ value: `js-${from + i}` })) });
    await send(0, 50);
    await waitUntil("all three replicas in sync", 20_000, async () => (await partitionView(cluster.bootstrapServers, topic)).isr.length === 3);
    const before = await partitionView(cluster.bootstrapServers, topic);
    const target = cluster.liveBrokerIds.find((id) => id !== before.leader)!;

    await cluster.faults.add({ type: "move-leader", topic, partition: 0, broker: target });
    // Every broker's metadata names the new leader in a later epoch.
    for (const id of cluster.liveBrokerIds) {
      await waitUntil(`broker ${id} to see leader ${target}`, 20_000, async () => (await partitionView(`127.0.0.1:${cluster.broker(id).port}`, topic)).leader === target);
    }
    const after = await partitionView(cluster.bootstrapServers, topic);
    expect(after.leaderEpoch).toBeGreaterThan(before.leaderEpoch);

    // The connected producer meets NOT_LEADER_OR_FOLLOWER at the old leader and follows.
    await send(50, 50);
    const produced = await kcat(cluster.bootstrapServers, ["-P", "-t", topic, "-p", "0", "-X", "acks=all"], { input: Array.from({ length: 10 }, (_, i) => `kcat-${i}`).join("\n") + "\n", timeoutMs: 60_000 });
    expect(produced.exitCode).toBe(0);

    const expected = [...Array.from({ length: 100 }, (_, i) => `js-${i}`), ...Array.from({ length: 10 }, (_, i) => `kcat-${i}`)];
    expect(await kcatConsumeAll(cluster.bootstrapServers, topic, "%s\n")).toEqual(expected);
    await waitUntil("the kafkajs consumer to read all 110 records", 30_000, async () => consumed.length >= expected.length);
    expect(consumed).toEqual(expected);
  } finally {
    await consumer.disconnect();
    await producer.disconnect();
  }
});
