// The cluster grows and shrinks without downtime: a fourth broker joins, partitions are reassigned onto
// it with kafkajs (AlterPartitionReassignments) while an idempotent producer writes with acks=all, then
// broker 1 is drained by reassignment and stopped. Nothing acknowledged is lost or duplicated, the moved
// replicas hold the same log, and a removed replica's log is deleted.
import { afterAll, beforeAll, expect, test } from "bun:test";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { TestCluster } from "../helpers/cluster.ts";
import { History } from "../helpers/history.ts";
import { kafkaClient } from "../helpers/kafkajs.ts";
import { kcatConsumeAll } from "../helpers/kcat.ts";
import { storedBatches } from "../helpers/segments.ts";

const TOPIC = "moving";
const PARTITIONS = 3;
let cluster: TestCluster;

beforeAll(async () => {
  cluster = new TestCluster(3);
  await cluster.start();
  const admin = kafkaClient(cluster.bootstrap.join(","), "moving-admin").admin();
  await admin.connect();
  await admin.createTopics({ topics: [{ topic: TOPIC, numPartitions: PARTITIONS, replicationFactor: 3, configEntries: [{ name: "min.insync.replicas", value: "2" }] }], waitForLeaders: true });
  await admin.disconnect();
}, 60_000);

afterAll(async () => {
  await cluster.cleanup();
});

test("a new broker takes over replicas and an old one is drained, while acks=all writes continue", async () => {
  const history = new History();
  const producer = kafkaClient(cluster.bootstrap.join(","), "moving-producer").producer({ idempotent: true, maxInFlightRequests: 1, retry: { retries: 30, initialRetryTime: 100, maxRetryTime: 1000 } });
  await producer.connect();
  let sequence = 0;
  let producing = true;
  const writer = (async () => {
    for (let sends = 0; producing && sends < 20_000; sends++) {
      const partition = sends % PARTITIONS;
      const values = Array.from({ length: 5 }, () => `m${sequence++}`);
      try {
        const [result] = await producer.send({ topic: TOPIC, acks: -1, messages: values.map((value) => ({ value, partition })) });
        values.forEach((value, i) => history.send({ value, partition, ackedOffset: Number(result!.baseOffset) + i }));
      } catch {
        values.forEach((value) => history.send({ value, partition, ackedOffset: null }));
      }
    }
  })();
  await cluster.waitFor("some writes", async () => history.ackedCount >= 300);

  // Grow: broker 4 joins and replaces broker 1 in every partition.
  await cluster.addBroker(4);
  const admin = kafkaClient(cluster.bootstrap.join(","), "moving-admin-2").admin();
  await admin.connect();
  const before = await cluster.partitions(TOPIC);
  const targets = before.map((partition) => partition.replicas.map((replica) => (replica === 1 ? 4 : replica)));
  await admin.alterPartitionReassignments({ topics: [{ topic: TOPIC, partitionAssignment: targets.map((replicas, partition) => ({ partition, replicas })) }] });
  const listed = await admin.listPartitionReassignments({});
  expect(listed.topics.length).toBeLessThanOrEqual(1); // may already be complete on a fast machine
  const after = await cluster.waitFor("the reassignment to complete", async () => {
    const ongoing = await admin.listPartitionReassignments({});
    const partitions = await cluster.partitions(TOPIC);
    const done = ongoing.topics.length === 0 && partitions.every((partition, index) => partition.replicas.join() === targets[index]!.join() && partition.isr.length === 3);
    return done ? partitions : null;
  }, 60_000);
  for (const partition of after) {
    expect(partition.replicas).not.toContain(1);
    expect(partition.replicas).toContain(4);
    expect(partition.leader).not.toBe(1);
  }
  await admin.disconnect();
  await cluster.waitFor("broker 1 to delete the moved logs", async () => [0, 1, 2].every((partition) => !existsSync(join(cluster.broker(1).dataDir, `${TOPIC}-${partition}`))));

  // Shrink: broker 1 holds nothing of this topic now; it leaves without anyone noticing.
  expect(await cluster.broker(1).stop()).toBe(0);
  const afterStop = history.ackedCount;
  await cluster.waitFor("writes after broker 1 left", async () => history.ackedCount >= afterStop + 150);
  producing = false;
  await writer;
  await producer.disconnect();

  for (const line of await kcatConsumeAll(cluster.bootstrap.slice(1).join(","), TOPIC, "%p %o %s\n")) {
    const [partition, offset, value] = line.split(" ");
    history.poll({ consumer: "final", partition: Number(partition), offset: Number(offset), value: value! });
  }
  expect(history.check("final")).toEqual([]);
  // Failed sends were retried by the idempotent producer until acknowledged or gave up; none should have failed.
  expect(history.sends.filter((send) => send.ackedOffset === null)).toEqual([]);

  // Broker 4's copies are batch for batch the leader's.
  const leaders = await cluster.partitions(TOPIC, [1]);
  for (let partition = 0; partition < PARTITIONS; partition++) {
    const leaderBatches = storedBatches(join(cluster.broker(leaders[partition]!.leader).dataDir, `${TOPIC}-${partition}`));
    const newBatches = storedBatches(join(cluster.broker(4).dataDir, `${TOPIC}-${partition}`));
    expect(newBatches.map((b) => [b.baseOffset, b.lastOffset, b.sizeBytes])).toEqual(leaderBatches.map((b) => [b.baseOffset, b.lastOffset, b.sizeBytes]));
  }
}, 240_000);
