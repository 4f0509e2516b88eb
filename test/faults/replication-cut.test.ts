// A replication cut (cut-replication between the leader and both followers) in a 3-broker embedded cluster:
// the leader's followers stop getting data, the ISR shrinks to the leader after replica.lag.time.max.ms,
// kcat's acks=all produce with min.insync.replicas=2 is refused (NOT_ENOUGH_REPLICAS) and nothing of it is
// stored; cleared, the followers catch up, the ISR grows back and the same produce is accepted.
import { expect, test } from "bun:test";
import { createTopic, readAll, startCluster } from "../../src/testing/index.ts";
import { kcat } from "../helpers/kcat.ts";
import { partitionView, waitUntil } from "./partition-state.ts";

test("a replication cut shrinks the ISR and acks=all with min.insync.replicas=2 is refused until it heals", async () => {
  await using cluster = await startCluster({ brokers: 3 });
  const topic = "cut-replication";
  await createTopic(cluster.bootstrapServers, topic, { partitions: 1, replicationFactor: 3, configs: { "min.insync.replicas": "2" } });
  const produce = (value: string) => kcat(cluster.bootstrapServers, ["-P", "-t", topic, "-p", "0", "-X", "acks=all", "-X", "message.send.max.retries=0", "-X", "message.timeout.ms=10000"], { input: `${value}\n`, timeoutMs: 60_000 });
  expect((await produce("before")).exitCode).toBe(0);
  await waitUntil("all three replicas in sync", 20_000, async () => (await partitionView(cluster.bootstrapServers, topic)).isr.length === 3);
  const { leader } = await partitionView(cluster.bootstrapServers, topic);

  const cut = await cluster.faults.add({ type: "cut-replication", brokers: cluster.liveBrokerIds, durationMs: 120_000 });
  expect(cut.brokers.map((armed) => armed.nodeId)).toEqual(cluster.liveBrokerIds);
  await waitUntil("the ISR to shrink to the leader", 30_000, async () => (await partitionView(cluster.bootstrapServers, topic)).isr.join() === String(leader));

  const refused = await produce("refused");
  expect(`${refused.stderr}`).toMatch(/NOT_ENOUGH_REPLICAS|Not enough in-sync replicas/i);

  expect(cluster.faults.clear(cut.id)).toBe(3);
  expect(cluster.faults.list()).toEqual([]);
  await waitUntil("the ISR to grow back", 30_000, async () => (await partitionView(cluster.bootstrapServers, topic)).isr.length === 3);
  expect((await produce("after")).exitCode).toBe(0);
  const values = (await readAll(cluster.bootstrapServers, topic)).map((record) => new TextDecoder().decode(record.value!));
  expect(values).toEqual(["before", "after"]);
});

test("a cut armed on one broker alone (as over HTTP) stops its own fetches from the leader: it leaves the ISR, and returns once cleared", async () => {
  await using cluster = await startCluster({ brokers: 3 });
  const topic = "cut-one-side";
  await createTopic(cluster.bootstrapServers, topic, { partitions: 1, replicationFactor: 3 });
  await waitUntil("all three replicas in sync", 20_000, async () => (await partitionView(cluster.bootstrapServers, topic)).isr.length === 3);
  const { leader } = await partitionView(cluster.bootstrapServers, topic);
  const follower = cluster.liveBrokerIds.find((id) => id !== leader)!;
  const other = cluster.liveBrokerIds.find((id) => id !== leader && id !== follower)!;

  const cut = await cluster.broker(follower).faults.add({ type: "cut-replication", brokers: [follower, leader], durationMs: 120_000 });
  expect(cluster.broker(leader).faults.list()).toEqual([]);
  await waitUntil(`broker ${follower} to leave the ISR`, 30_000, async () => !(await partitionView(cluster.bootstrapServers, topic)).isr.includes(follower));
  expect((await partitionView(cluster.bootstrapServers, topic)).isr).toEqual([leader, other].sort());

  cluster.broker(follower).faults.clear(cut.id);
  await waitUntil(`broker ${follower} back in the ISR`, 30_000, async () => (await partitionView(cluster.bootstrapServers, topic)).isr.length === 3);
});
