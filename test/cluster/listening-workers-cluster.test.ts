// Listening partition workers in a cluster (partition.workers.listen, on by default): each worker answers the
// produces and consumers' fetches of the partitions this broker leads and it owns, the main thread keeps the
// ISR, the high watermark and acks=all. Real clients (kafkajs, kcat) against an embedded cluster with two
// workers per broker, so that requests also reach the owning peer.
import { expect, test } from "bun:test";
import { Kafka, logLevel } from "kafkajs";
import type { Broker } from "../../src/server/broker.ts";
import { createTopic, produceRecords, startCluster, type EmbeddedCluster } from "../../src/testing/index.ts";
import { kcat, kcatConsumeAll } from "../helpers/kcat.ts";
import { partitionView, waitUntil } from "../faults/partition-state.ts";

const WORKERS = { "num.partition.workers": "2" };

function localAnswers(broker: Broker): { produces: number; fetches: number } {
  const stats = broker.networkShardStats();
  return { produces: stats.reduce((sum, shard) => sum + shard.localProduces, 0), fetches: stats.reduce((sum, shard) => sum + shard.localFetches, 0) };
}

function kafkaOf(cluster: EmbeddedCluster, clientId: string): Kafka {
  return new Kafka({ clientId, brokers: cluster.bootstrapServers.split(","), logLevel: logLevel.NOTHING, retry: { retries: 10, initialRetryTime: 50, maxRetryTime: 1000 } });
}

test("every broker's workers answer produce (acks=all and 1) and fetch of the partitions it leads; kafkajs and kcat read every record", async () => {
  await using cluster = await startCluster({ brokers: 3, properties: WORKERS });
  const topic = "listening-cluster";
  await createTopic(cluster.bootstrapServers, topic, { partitions: 6, replicationFactor: 3, configs: { "min.insync.replicas": "2" } });
  for (const id of cluster.liveBrokerIds) expect(cluster.broker(id).config.partitionWorkersListen).toBe(true);
  const before = new Map(cluster.liveBrokerIds.map((id) => [id, localAnswers(cluster.broker(id))]));

  const kafka = kafkaOf(cluster, "listening-cluster");
  const producer = kafka.producer({ idempotent: true });
  await producer.connect();
  const sent = new Map<number, string[]>();
  try {
    // One partition per request: a produce naming partitions of two workers goes to the main thread.
    for (let round = 0; round < 12; round++) {
      const partition = round % 6;
      const messages = Array.from({ length: 30 }, (_, i) => ({ partition, value: `js-${round}-${i}` }));
      sent.set(partition, [...(sent.get(partition) ?? []), ...messages.map((message) => message.value)]);
      await producer.send({ topic, acks: -1, messages });
    }
  } finally {
    await producer.disconnect();
  }
  const kcatInput = Array.from({ length: 60 }, (_, i) => `kcat-${i}`);
  const produced = await kcat(cluster.bootstrapServers, ["-P", "-t", topic, "-p", "2", "-X", "acks=1"], { input: kcatInput.join("\n") + "\n", timeoutMs: 60_000 });
  expect(produced.exitCode).toBe(0);
  sent.set(2, [...sent.get(2)!, ...kcatInput]);

  // kcat reads each partition to its high watermark: every acknowledged record, in order per partition.
  const lines = await kcatConsumeAll(cluster.bootstrapServers, topic, "%p %s\n");
  const read = new Map<number, string[]>();
  for (const line of lines) {
    const [partition, value] = line.split(" ");
    read.set(Number(partition), [...(read.get(Number(partition)) ?? []), value!]);
  }
  for (let partition = 0; partition < 6; partition++) expect(read.get(partition)).toEqual(sent.get(partition));

  // A consumer group (groups go to the main thread, fetches to the owning workers) reads them all too.
  const consumer = kafka.consumer({ groupId: "listening-cluster-group", maxWaitTimeInMs: 100 });
  const consumed: string[] = [];
  await consumer.connect();
  try {
    await consumer.subscribe({ topic, fromBeginning: true });
    await consumer.run({ eachMessage: async ({ message }) => void consumed.push(message.value!.toString()) });
    await waitUntil("the group to read every record", 60_000, async () => consumed.length >= lines.length);
  } finally {
    await consumer.disconnect();
  }
  expect(consumed.sort()).toEqual([...sent.values()].flat().sort());

  // Every broker leads partitions of the topic (6 over 3), and its workers answered produces and fetches of them.
  for (const id of cluster.liveBrokerIds) {
    const now = localAnswers(cluster.broker(id));
    const then = before.get(id)!;
    expect(now.produces).toBeGreaterThan(then.produces);
    expect(now.fetches).toBeGreaterThan(then.fetches);
  }
}, 180_000);

test("a worker's consumers read only to the high watermark, and its acks=all produce waits for the follower", async () => {
  // A follower is out of the ISR only after replica.lag.time.max.ms: long enough here that the ISR stays [leader, follower].
  await using cluster = await startCluster({ brokers: 2, properties: { ...WORKERS, "replica.lag.time.max.ms": "30000" } });
  const topic = "listening-hw";
  await createTopic(cluster.bootstrapServers, topic, { partitions: 1, replicationFactor: 2, configs: { "min.insync.replicas": "1" } });
  await produceRecords(cluster.bootstrapServers, topic, 5, { acks: -1 });
  await waitUntil("both replicas in sync", 20_000, async () => (await partitionView(cluster.bootstrapServers, topic)).isr.length === 2);
  const { leader } = await partitionView(cluster.bootstrapServers, topic);
  const follower = cluster.liveBrokerIds.find((id) => id !== leader)!;
  const leaderAddress = `127.0.0.1:${cluster.broker(leader).port}`;
  const before = localAnswers(cluster.broker(leader));

  // Only the follower's fetcher is cut: the leader has no fault armed, so its workers keep answering.
  const cut = await cluster.broker(follower).faults.add({ type: "cut-replication", brokers: [leader, follower], durationMs: 60_000 });
  const acksOne = await kcat(leaderAddress, ["-P", "-t", topic, "-p", "0", "-X", "acks=1"], { input: "one-a\none-b\none-c\n", timeoutMs: 30_000 });
  expect(acksOne.exitCode).toBe(0);
  expect(localAnswers(cluster.broker(leader)).produces).toBeGreaterThan(before.produces);

  // Appended at the leader but not on the follower: not committed, so not readable.
  expect(await kcatConsumeAll(leaderAddress, topic, "%s\n")).toEqual(["record-0", "record-1", "record-2", "record-3", "record-4"]);
  expect(localAnswers(cluster.broker(leader)).fetches).toBeGreaterThan(before.fetches);

  let settled = false;
  const acksAll = produceRecords(leaderAddress, topic, [{ value: "all-a" }], { acks: -1, timeoutMs: 60_000 }).finally(() => void (settled = true));
  await Bun.sleep(1_000);
  expect(settled).toBe(false);
  expect(localAnswers(cluster.broker(leader)).produces).toBeGreaterThan(before.produces + 1);

  // Its own timeout passes first: REQUEST_TIMED_OUT (the record stays appended, as in Kafka, and commits later).
  await expect(produceRecords(leaderAddress, topic, [{ value: "timed-out" }], { acks: -1, timeoutMs: 500 })).rejects.toThrow(/error 7\b/);

  cluster.broker(follower).faults.clear(cut.id);
  expect((await acksAll).count).toBe(1);
  expect(await kcatConsumeAll(leaderAddress, topic, "%s\n")).toEqual(["record-0", "record-1", "record-2", "record-3", "record-4", "one-a", "one-b", "one-c", "all-a", "timed-out"]);
}, 120_000);

test("leadership moved back and forth under an idempotent acks=all stream: nothing acknowledged is lost or duplicated", async () => {
  await using cluster = await startCluster({ brokers: 2, properties: WORKERS });
  const topic = "listening-moves";
  await createTopic(cluster.bootstrapServers, topic, { partitions: 1, replicationFactor: 2, configs: { "min.insync.replicas": "1" } });
  const kafka = kafkaOf(cluster, "listening-moves");
  const producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1 });
  await producer.connect();
  const acknowledged: string[] = [];
  let stop = false;
  const stream = (async () => {
    for (let batch = 0; batch < 5_000 && !stop; batch++) {
      const values = Array.from({ length: 5 }, (_, i) => `v-${batch}-${i}`);
      await producer.send({ topic, acks: -1, messages: values.map((value) => ({ value })) });
      acknowledged.push(...values);
    }
  })();
  try {
    for (let move = 0; move < 4; move++) {
      await waitUntil("both replicas in sync", 20_000, async () => (await partitionView(cluster.bootstrapServers, topic)).isr.length === 2);
      const { leader } = await partitionView(cluster.bootstrapServers, topic);
      const target = cluster.liveBrokerIds.find((id) => id !== leader)!;
      await cluster.faults.add({ type: "move-leader", topic, partition: 0, broker: target });
      await waitUntil(`leader ${target}`, 20_000, async () => (await partitionView(cluster.bootstrapServers, topic)).leader === target);
      await Bun.sleep(150);
    }
  } finally {
    stop = true;
    await stream;
    await producer.disconnect();
  }
  expect(acknowledged.length).toBeGreaterThan(0);
  expect(acknowledged.length).toBeLessThan(5_000 * 5); // the stream ran until the last move, not before it
  expect(await kcatConsumeAll(cluster.bootstrapServers, topic, "%s\n")).toEqual(acknowledged);
  for (const id of cluster.liveBrokerIds) expect(localAnswers(cluster.broker(id)).produces).toBeGreaterThan(0);
}, 180_000);
