// bunka cluster drain 2 on a 3-broker cluster: every replica leaves broker 2 (its own topic and
// __consumer_offsets) through AlterPartitionReassignments while a kafkajs producer keeps writing with
// acks=all; the command waits for the moves and says it is safe to stop; broker 2 stops and nothing
// acknowledged is missing. Also bunka cluster info/health and reassign against the cluster.
import { afterAll, beforeAll, expect, test } from "bun:test";
import { TestCluster } from "../helpers/cluster.ts";
import { History } from "../helpers/history.ts";
import { kafkaClient } from "../helpers/kafkajs.ts";
import { kcatConsumeAll } from "../helpers/kcat.ts";
import { bunkaOk } from "./cli.ts";

const TOPIC = "draining";
const PARTITIONS = 6;
let cluster: TestCluster;

beforeAll(async () => {
  // Replication factor 2 everywhere: with 3 brokers, every replica on broker 2 has somewhere to go.
  cluster = new TestCluster(3, { "offsets.topic.replication.factor": "2" });
  await cluster.start();
  await bunkaOk(cluster.bootstrap.join(","), ["topic", "create", TOPIC, "-p", String(PARTITIONS), "-r", "2"]);
  await cluster.leadersReady(TOPIC);
}, 90_000);

afterAll(async () => {
  await cluster.cleanup();
});

test("drain moves every replica off broker 2 while acks=all writes continue", async () => {
  const bootstrap = cluster.bootstrap.join(",");
  const info = JSON.parse((await bunkaOk(bootstrap, ["--json", "cluster", "info"])).stdout);
  expect(info.brokers.map((b: { nodeId: number }) => b.nodeId).sort()).toEqual([1, 2, 3]);
  const health = JSON.parse((await bunkaOk(bootstrap, ["--json", "cluster", "health"])).stdout);
  expect(health.healthy).toBe(true);

  const history = new History();
  const producer = kafkaClient(bootstrap, "drain-producer").producer({ idempotent: true, maxInFlightRequests: 1, retry: { retries: 30, initialRetryTime: 100, maxRetryTime: 1000 } });
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
  await cluster.waitFor("some writes", async () => history.ackedCount >= 200);

  const planned = JSON.parse((await bunkaOk(bootstrap, ["--json", "cluster", "drain", "2", "--dry-run"])).stdout);
  expect(planned.moves.length).toBeGreaterThan(0);
  for (const move of planned.moves) expect(move.to).not.toContain(2);

  const drained = await bunkaOk(bootstrap, ["cluster", "drain", "2", "--timeout-s", "120"], { timeoutMs: 150_000 });
  expect(drained.stdout).toContain("Broker 2 holds no partition replicas: it is safe to stop.");
  const metadata = await cluster.partitions(TOPIC);
  for (const partition of metadata) expect(partition.replicas).not.toContain(2);
  const again = await bunkaOk(bootstrap, ["--json", "cluster", "drain", "2", "--dry-run"]);
  expect(JSON.parse(again.stdout).moves).toEqual([]);

  expect(await cluster.broker(2).stop()).toBe(0);
  const afterStop = history.ackedCount;
  await cluster.waitFor("writes after broker 2 left", async () => history.ackedCount >= afterStop + 100);
  producing = false;
  await writer;
  await producer.disconnect();

  const survivors = cluster.bootstrap.filter((_, index) => index !== 1).join(",");
  for (const line of await kcatConsumeAll(survivors, TOPIC, "%p %o %s\n")) {
    const [partition, offset, value] = line.split(" ");
    history.poll({ consumer: "final", partition: Number(partition), offset: Number(offset), value: value! });
  }
  expect(history.check("final")).toEqual([]);
  expect(history.sends.filter((send) => send.ackedOffset === null)).toEqual([]);

  // reassign: one partition back onto a chosen pair.
  await bunkaOk(survivors, ["cluster", "reassign", TOPIC, "0", "3,1", "--timeout-s", "60"], { timeoutMs: 90_000 });
  const moved = await cluster.partitions(TOPIC, [2]);
  expect(moved[0]!.replicas).toEqual([3, 1]);
}, 300_000);
