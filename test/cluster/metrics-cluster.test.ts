// /metrics in a 3-broker cluster: each broker's admin listener on its own port (admin.listeners with port 0,
// the bound port read from its log line). After a follower of an RF=3 partition is SIGKILLed, the leader's
// bunka_under_replicated_partitions goes above 0 (the follower leaves the ISR after replica.lag.time.max.ms
// or its session timeout); the JSON API shows the shrunk ISR too. Restarted, the follower's /readyz says 200
// only once it is back in the ISR; the leader counted the ISR shrink and expansion. A group's lag on the
// coordinator includes a partition it does not replicate (the leader's high watermark asked by ListOffsets).
// Killing a leader counts an election on the (surviving) controller.
import { afterAll, beforeAll, expect, test } from "bun:test";
import { TestCluster } from "../helpers/cluster.ts";
import { sample, scrape } from "../helpers/admin-http.ts";
import { kafkaClient } from "../helpers/kafkajs.ts";
import { kcat } from "../helpers/kcat.ts";
import { KafkaConnection } from "../../src/client/kafka-connection.ts";
import { ApiKey } from "../../src/protocol/generated/index.ts";

const cluster = new TestCluster(3, { "admin.listeners": "http://127.0.0.1:0" });

/** The broker's admin URL from its latest start's log line (port 0: a new port after each restart). */
function adminUrl(nodeId: number): string {
  const match = [...cluster.broker(nodeId).output.matchAll(/admin listener on (http:\/\/127\.0\.0\.1:\d+)/g)].at(-1);
  if (!match) throw new Error(`broker ${nodeId} logged no admin listener:\n${cluster.broker(nodeId).output.slice(-2000)}`);
  return match[1]!;
}

beforeAll(() => cluster.start(), 120_000);
afterAll(() => cluster.cleanup());

test("killing a follower makes bunka_under_replicated_partitions > 0 on the leader", async () => {
  const created = await fetch(`${adminUrl(1)}/api/v1/topics`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ name: "urp", partitions: 1, replicationFactor: 3 }) });
  expect(created.status).toBe(201);
  await cluster.leadersReady("urp");
  const [partition] = await cluster.partitions("urp");
  const leader = partition!.leader;
  const follower = partition!.replicas.find((replica) => replica !== leader)!;
  // Everyone in sync: 0 on the leader, and the controller is exactly one of the three.
  await cluster.waitFor("the leader to report no under-replicated partition", async () => sample(await scrape(adminUrl(leader)), "bunka_under_replicated_partitions") === 0);
  const controllers = await Promise.all([1, 2, 3].map(async (nodeId) => sample(await scrape(adminUrl(nodeId)), "bunka_active_controller")));
  expect(controllers.filter((value) => value === 1)).toHaveLength(1);
  const controllerId = [1, 2, 3][controllers.indexOf(1)]!;
  expect(sample(await scrape(adminUrl(controllerId)), "bunka_controller_activations_total")).toBeGreaterThanOrEqual(1);

  await cluster.broker(follower).kill();
  const underReplicated = await cluster.waitFor("the leader to count an under-replicated partition", async () => {
    const value = sample(await scrape(adminUrl(leader)), "bunka_under_replicated_partitions") ?? 0;
    return value > 0 ? value : null;
  }, 20_000);
  expect(underReplicated).toBe(1);
  const detail = (await (await fetch(`${adminUrl(leader)}/api/v1/topics/urp`)).json()) as { underReplicatedPartitions: number; partitions: { isr: number[] }[] };
  expect(detail.underReplicatedPartitions).toBe(1);
  expect(detail.partitions[0]!.isr).not.toContain(follower);

  // Restarted, the follower is ready only once it is back in the ISR (caught up), and the leader counts 0 again.
  await cluster.broker(follower).start();
  await cluster.waitFor("the restarted follower's /readyz to say 200", async () => (await fetch(`${adminUrl(follower)}/readyz`)).status === 200, 30_000);
  // What the follower itself knows when it says ready (its own metadata mirror).
  const seen = (await (await fetch(`${adminUrl(follower)}/api/v1/topics/urp`)).json()) as { partitions: { isr: number[] }[] };
  expect(seen.partitions[0]!.isr).toContain(follower);
  await cluster.waitFor("the leader to count no under-replicated partition again", async () => sample(await scrape(adminUrl(leader)), "bunka_under_replicated_partitions") === 0);
  // The follower left the ISR and came back: the leader counted both (Kafka's IsrShrinksPerSec/IsrExpandsPerSec).
  const families = await scrape(adminUrl(leader));
  expect(sample(families, "bunka_isr_shrinks_total")).toBeGreaterThanOrEqual(1);
  expect(sample(families, "bunka_isr_expands_total")).toBeGreaterThanOrEqual(1);
}, 120_000);

test("group lag of a partition led by another broker and not replicated on the coordinator", async () => {
  const groupId = "remote-lag-group";
  const coordinator = await cluster.waitFor("the group's coordinator", async () => {
    const connection = await KafkaConnection.connect({ host: "127.0.0.1", port: cluster.broker(1).port });
    try {
      const response = await connection.request(ApiKey.FindCoordinator, 1, { key: groupId, keyType: 0 });
      return response.errorCode === 0 ? (response.nodeId as number) : null;
    } finally {
      connection.close();
    }
  });
  const elsewhere = [1, 2, 3].find((nodeId) => nodeId !== coordinator)!;
  const admin = kafkaClient(cluster.bootstrap.join(","), "remote-lag-admin").admin();
  await admin.connect();
  try {
    // One replica, on a broker that is not the coordinator: the coordinator has no copy of its high watermark.
    await admin.createTopics({ topics: [{ topic: "remote-lag", replicaAssignment: [{ partition: 0, replicas: [elsewhere] }] }], waitForLeaders: true });
    await cluster.leadersReady("remote-lag");
    const lines = Array.from({ length: 25 }, (_, i) => `remote-${i}`).join("\n") + "\n";
    const produced = await kcat(cluster.bootstrap.join(","), ["-P", "-t", "remote-lag", "-p", "0"], { input: lines, timeoutMs: 60_000 });
    expect(produced.exitCode).toBe(0);
    await admin.setOffsets({ groupId, topic: "remote-lag", partitions: [{ partition: 0, offset: "10" }] });
  } finally {
    await admin.disconnect();
  }
  const labels = { group: groupId, topic: "remote-lag", partition: "0" };
  const lag = await cluster.waitFor("the coordinator to report the group's lag", async () => sample(await scrape(adminUrl(coordinator)), "bunka_group_lag", labels));
  expect(lag).toBe(25 - 10);
  expect(sample(await scrape(adminUrl(coordinator)), "bunka_group_committed_offset", labels)).toBe(10);
}, 120_000);

test("killing a partition's leader counts a leader election on the controller that elected the new one", async () => {
  const [before] = await cluster.partitions("urp");
  const leader = before!.leader;
  await cluster.broker(leader).kill();
  const after = await cluster.waitFor("a new leader of urp", async () => {
    const [partition] = await cluster.partitions("urp", [leader]);
    return partition && partition.leader >= 0 && partition.leader !== leader ? partition : null;
  }, 60_000);
  expect(after.leaderEpoch).toBeGreaterThan(before!.leaderEpoch);
  const survivors = [1, 2, 3].filter((nodeId) => nodeId !== leader);
  const elections = await cluster.waitFor("a surviving controller to count the election", async () => {
    let total = 0;
    for (const nodeId of survivors) total += sample(await scrape(adminUrl(nodeId)), "bunka_leader_elections_total") ?? 0;
    return total >= 1 ? total : null;
  });
  expect(elections).toBeGreaterThanOrEqual(1);
  // The controller is one of the survivors, and every survivor names it.
  const controllerIds = await Promise.all(survivors.map(async (nodeId) => sample(await scrape(adminUrl(nodeId)), "bunka_controller_id")));
  expect(new Set(controllerIds).size).toBe(1);
  expect(survivors).toContain(controllerIds[0]!);
  // Nothing was elected from outside the ISR (unclean.leader.election.enable is off).
  for (const nodeId of survivors) expect(sample(await scrape(adminUrl(nodeId)), "bunka_unclean_leader_elections_total")).toBe(0);
}, 120_000);
