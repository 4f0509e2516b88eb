// /metrics in a 3-broker cluster: each broker's admin listener on its own port (admin.listeners with port 0,
// the bound port read from its log line). After a follower of an RF=3 partition is SIGKILLed, the leader's
// bunka_under_replicated_partitions goes above 0 (the follower leaves the ISR after replica.lag.time.max.ms
// or its session timeout); the JSON API shows the shrunk ISR too. Restarted, the follower's /readyz says 200
// only once it is back in the ISR.
import { afterAll, beforeAll, expect, test } from "bun:test";
import { TestCluster } from "../helpers/cluster.ts";
import { sample, scrape } from "../helpers/admin-http.ts";

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
}, 120_000);
