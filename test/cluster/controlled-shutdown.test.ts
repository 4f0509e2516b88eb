// A clean stop (SIGTERM) of a leader is a controlled shutdown: leadership moves to another in-sync
// replica before the broker exits, so producers see no outage. When it returns, preferred-leader
// rebalancing gives it back the partitions whose preferred replica it is.
import { afterAll, beforeAll, expect, test } from "bun:test";
import { TestCluster } from "../helpers/cluster.ts";
import { History } from "../helpers/history.ts";
import { kafkaClient } from "../helpers/kafkajs.ts";
import { kcatConsumeAll } from "../helpers/kcat.ts";

const TOPIC = "handover";
let cluster: TestCluster;

beforeAll(async () => {
  cluster = new TestCluster(3, { "leader.imbalance.check.interval.seconds": "1" });
  await cluster.start();
  const admin = kafkaClient(cluster.bootstrap.join(","), "handover-admin").admin();
  await admin.connect();
  await admin.createTopics({ topics: [{ topic: TOPIC, numPartitions: 3, replicationFactor: 3, configEntries: [{ name: "min.insync.replicas", value: "2" }] }], waitForLeaders: true });
  await admin.disconnect();
}, 60_000);

afterAll(async () => {
  await cluster.cleanup();
});

test("SIGTERM of a leader moves its leadership first; it exits cleanly and regains its preferred partitions on return", async () => {
  const before = await cluster.partitions(TOPIC);
  const leaving = before[0]!.leader;
  const led = before.flatMap((partition, index) => (partition.leader === leaving ? [index] : []));
  const history = new History();
  const producer = kafkaClient(cluster.bootstrap.join(","), "handover-producer").producer({ idempotent: true, maxInFlightRequests: 1, retry: { retries: 30, initialRetryTime: 100, maxRetryTime: 1000 } });
  await producer.connect();
  let sequence = 0;
  let stopping: Promise<number> | null = null;
  for (let sends = 0; sends < 600; sends++) {
    const partition = sends % 3;
    const values = Array.from({ length: 5 }, () => `h${sequence++}`);
    try {
      const [result] = await producer.send({ topic: TOPIC, acks: -1, messages: values.map((value) => ({ value, partition })) });
      values.forEach((value, i) => history.send({ value, partition, ackedOffset: Number(result!.baseOffset) + i }));
    } catch {
      values.forEach((value) => history.send({ value, partition, ackedOffset: null }));
    }
    if (sends === 150) stopping = cluster.broker(leaving).stop();
  }
  await producer.disconnect();
  expect(await stopping).toBe(0);
  expect(cluster.broker(leaving).output).toContain("controlled shutdown: leadership moved");
  // Nothing failed: with leadership handed over first, every send was acknowledged.
  expect(history.sends.filter((send) => send.ackedOffset === null)).toEqual([]);

  const during = await cluster.partitions(TOPIC, [leaving]);
  for (const index of led) expect(during[index]!.leader).not.toBe(leaving);

  await cluster.broker(leaving).start();
  const after = await cluster.waitFor("preferred leaders back", async () => {
    const partitions = await cluster.partitions(TOPIC);
    return partitions.every((partition) => partition.leader === partition.replicas[0] && partition.isr.length === 3) ? partitions : null;
  }, 30_000);
  for (const index of led) expect(after[index]!.leader).toBe(leaving);

  for (const line of await kcatConsumeAll(cluster.bootstrap.join(","), TOPIC, "%p %o %s\n")) {
    const [partition, offset, value] = line.split(" ");
    history.poll({ consumer: "final", partition: Number(partition), offset: Number(offset), value: value! });
  }
  expect(history.check("final")).toEqual([]);
}, 180_000);
