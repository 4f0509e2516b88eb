// startCluster(): three real brokers in this process over 127.0.0.1 with the in-process metadata store.
// Records survive a leader's crash (kill) and the restarted broker rejoins and catches up; a kafkajs
// consumer group's lag is read with the test helpers; `await using` stops brokers and clusters.
import { expect, test } from "bun:test";
import { existsSync, rmSync } from "node:fs";
import { join } from "node:path";
import { startBroker } from "../../src/index.ts";
import { createTopic, groupLag, produceRecords, readAll, startCluster, uniqueNames, waitForGroupCaughtUp, waitForGroupStable } from "../../src/testing/index.ts";
import { KafkaConnection } from "../../src/client/kafka-connection.ts";
import { ApiKey } from "../../src/protocol/generated/index.ts";
import { tempDir } from "../helpers/broker-process.ts";
import { kafkaClient } from "../helpers/kafkajs.ts";

const WAIT_POLL_MS = 20;

async function partitionState(bootstrap: string, topic: string): Promise<{ leader: number; isr: number[] }> {
  const [host, port] = bootstrap.split(",")[0]!.split(":");
  const connection = await KafkaConnection.connect({ host: host!, port: Number(port) });
  try {
    const response = await connection.request(ApiKey.Metadata, 9, { topics: [{ name: topic }], allowAutoTopicCreation: false });
    const partition = response.topics[0].partitions[0];
    return { leader: partition.leaderId, isr: [...partition.isrNodes].sort() };
  } finally {
    connection.close();
  }
}

async function waitUntil(what: string, timeoutMs: number, condition: () => Promise<boolean>): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  while (!(await condition().catch(() => false))) {
    if (performance.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await Bun.sleep(WAIT_POLL_MS);
  }
}

test("a killed leader's records survive on the others; the restarted broker rejoins and catches up; stop removes the data dir", async () => {
  let root = "";
  {
    await using cluster = await startCluster({ brokers: 3 });
    root = join(cluster.dataDirOf(1), "..");
    expect(cluster.liveBrokerIds).toEqual([1, 2, 3]);
    expect(cluster.bootstrapServers.split(",")).toHaveLength(3);
    expect([1, 2, 3]).toContain(cluster.controllerId());
    const { topic } = uniqueNames("failover");
    const name = topic();
    await createTopic(cluster.bootstrapServers, name, { partitions: 1, replicationFactor: 3, configs: { "min.insync.replicas": "2" } });
    // Every broker serves the topic's metadata: createTopic waited for all of them.
    for (const id of cluster.liveBrokerIds) expect((await partitionState(`127.0.0.1:${cluster.broker(id).port}`, name)).leader).toBeGreaterThan(0);
    await produceRecords(cluster.bootstrapServers, name, 50);
    await waitUntil("all three replicas in sync", 15_000, async () => (await partitionState(cluster.bootstrapServers, name)).isr.length === 3);

    const { leader } = await partitionState(cluster.bootstrapServers, name);
    await cluster.kill(leader);
    expect(cluster.liveBrokerIds).not.toContain(leader);
    expect(() => cluster.broker(leader)).toThrow("is not running");
    await waitUntil("a new leader", 15_000, async () => {
      const state = await partitionState(cluster.bootstrapServers, name);
      return state.leader > 0 && state.leader !== leader;
    });
    const after = await produceRecords(cluster.bootstrapServers, name, [{ key: "k", value: "after the kill" }]);
    expect(after.baseOffset).toBe(50);

    await cluster.restart(leader);
    expect(cluster.liveBrokerIds).toEqual([1, 2, 3]);
    await waitUntil("the restarted broker back in the ISR", 20_000, async () => (await partitionState(cluster.bootstrapServers, name)).isr.length === 3);
    const records = await readAll(`127.0.0.1:${cluster.broker(leader).port}`, name);
    expect(records.map((record) => record.offset)).toEqual(Array.from({ length: 51 }, (_, i) => i));
    expect(new TextDecoder().decode(records[50]!.value!)).toBe("after the kill");
    expect(new TextDecoder().decode(records[7]!.value!)).toBe("record-7");
    expect(existsSync(root)).toBe(true);
  }
  // `await using` stopped the cluster: the temporary data dir is gone.
  expect(existsSync(root)).toBe(false);
});

test("helpers over a kafkajs consumer group: stable, lag before and after consuming, caught up", async () => {
  await using cluster = await startCluster({ brokers: 3 });
  const names = uniqueNames("lag");
  const topic = names.topic();
  const groupId = names.group();
  await createTopic(cluster.bootstrapServers, topic, { partitions: 2, replicationFactor: 2 });
  await produceRecords(cluster.bootstrapServers, topic, 30, { partition: 0 });
  await produceRecords(cluster.bootstrapServers, topic, 20, { partition: 1 });
  const kafka = kafkaClient(cluster.bootstrapServers);
  const consumer = kafka.consumer({ groupId, sessionTimeout: 10_000, heartbeatInterval: 500 });
  await consumer.connect();
  try {
    const seen: string[] = [];
    await consumer.subscribe({ topic, fromBeginning: true });
    await consumer.run({ eachMessage: async ({ message }) => void seen.push(message.value!.toString()) });
    const group = await waitForGroupStable(cluster.bootstrapServers, groupId, { members: 1 });
    expect(group.state).toBe("Stable");
    const lags = await waitForGroupCaughtUp(cluster.bootstrapServers, groupId, topic);
    expect(lags.map((entry) => [entry.partition, entry.committed, entry.end, entry.lag])).toEqual([
      [0, 30, 30, 0],
      [1, 20, 20, 0],
    ]);
    expect(seen).toHaveLength(50);
    await consumer.stop();
    await produceRecords(cluster.bootstrapServers, topic, 5, { partition: 1 });
    const behind = await groupLag(cluster.bootstrapServers, groupId, topic);
    expect(behind.map((entry) => entry.lag)).toEqual([0, 5]);
  } finally {
    await consumer.disconnect();
  }
});

test("`await using` on startBroker() stops the broker at the end of the scope", async () => {
  const dataDir = tempDir("await-using");
  let port = 0;
  try {
    {
      await using broker = await startBroker({ port: 0, dataDir, log: () => undefined });
      port = broker.port;
      const { topic } = uniqueNames("single");
      await createTopic(`127.0.0.1:${port}`, topic());
      expect((await produceRecords(`127.0.0.1:${port}`, topic(), 3)).baseOffset).toBe(0);
    }
    expect(existsSync(join(dataDir, ".clean-shutdown"))).toBe(true);
    await expect(KafkaConnection.connect({ host: "127.0.0.1", port, connectTimeoutMs: 2_000 })).rejects.toThrow();
  } finally {
    rmSync(dataDir, { recursive: true, force: true });
  }
});

test("bad sizes are refused; keepDataDir keeps the brokers' data dirs after a clean stop", async () => {
  await expect(startCluster({ brokers: 0 })).rejects.toThrow("brokers must be 1..16");
  await expect(startCluster({ brokers: 1.5 })).rejects.toThrow("brokers must be 1..16");
  const cluster = await startCluster({ brokers: 2, keepDataDir: true });
  const dataDir = cluster.dataDirOf(2);
  try {
    expect(cluster.liveBrokerIds).toEqual([1, 2]);
    await expect(cluster.restart(3)).rejects.toThrow("no broker 3");
    await cluster.stop();
    // Kept dirs get a clean stop, so the next start does not recover.
    expect(existsSync(join(dataDir, ".clean-shutdown"))).toBe(true);
  } finally {
    await cluster.stop();
    rmSync(join(dataDir, ".."), { recursive: true, force: true });
  }
});
