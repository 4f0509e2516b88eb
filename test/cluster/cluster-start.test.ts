// The README's cluster command starts etcd and three brokers; kcat lists all three; a topic with
// replication factor 3 and min.insync.replicas=2 is created on it; SIGTERM stops everything cleanly.
import { afterAll, expect, test } from "bun:test";
import { rmSync } from "node:fs";
import { join, resolve } from "node:path";
import { freePort, tempDir } from "../helpers/broker-process.ts";
import { kafkaClient } from "../helpers/kafkajs.ts";
import { kcat } from "../helpers/kcat.ts";

const repoRoot = resolve(import.meta.dir, "../..");
const dataDir = tempDir("cluster-start");
let cluster: ReturnType<typeof Bun.spawn> | null = null;

afterAll(async () => {
  if (cluster) {
    cluster.kill("SIGKILL");
    await cluster.exited;
  }
  // Brokers and etcd are children of the script: a SIGKILL of the script leaves them, so stop them by data dir.
  Bun.spawnSync(["pkill", "-9", "-f", dataDir]);
  rmSync(dataDir, { recursive: true, force: true });
});

/** Consecutive free ports: three brokers, then etcd's client and peer ports. */
function freeRun(length: number): number {
  for (let attempt = 0; attempt < 50; attempt++) {
    const start = freePort();
    if (start + length >= 65535) continue;
    let free = true;
    for (let port = start + 1; port < start + length && free; port++) {
      try {
        Bun.listen({ hostname: "127.0.0.1", port, socket: { data() {} } }).stop(true);
      } catch {
        free = false;
      }
    }
    if (free) return start;
  }
  throw new Error("no run of free ports");
}

test("`bun run cluster` starts etcd and three brokers; kcat lists all three; an RF=3, min.insync.replicas=2 topic is created", async () => {
  const basePort = freeRun(5);
  cluster = Bun.spawn(["bun", "run", "cluster", "--port", String(basePort), "--etcd-port", String(basePort + 3), "--data-dir", dataDir], {
    cwd: repoRoot,
    stdin: "ignore",
    stdout: "pipe",
    stderr: "pipe",
    env: { ...process.env, PATH: `${join(repoRoot, "node_modules/.bin")}:${process.env.PATH}` },
  });
  let output = "";
  const reader = cluster.stdout as ReadableStream<Uint8Array>;
  const ready = (async () => {
    const decoder = new TextDecoder();
    for await (const chunk of reader) {
      output += decoder.decode(chunk);
      if (output.includes("cluster: ready")) return;
    }
    throw new Error(`cluster script ended before it was ready:\n${output}`);
  })();
  await Promise.race([ready, Bun.sleep(60_000).then(() => Promise.reject(new Error(`cluster not ready in 60 s:\n${output}`)))]);
  (async () => {
    for await (const _ of reader) {
    }
  })();

  const bootstrap = `127.0.0.1:${basePort}`;
  const listed = await kcat(bootstrap, ["-L", "-J"], { timeoutMs: 30_000 });
  expect(listed.exitCode).toBe(0);
  const metadata = JSON.parse(listed.stdout);
  expect(metadata.brokers.map((broker: { id: number }) => broker.id).sort()).toEqual([1, 2, 3]);
  expect(metadata.brokers.map((broker: { name: string }) => broker.name).sort()).toEqual([0, 1, 2].map((i) => `127.0.0.1:${basePort + i}`));

  const admin = kafkaClient(bootstrap, "cluster-admin").admin();
  await admin.connect();
  try {
    expect(
      await admin.createTopics({
        topics: [{ topic: "replicated", numPartitions: 3, replicationFactor: 3, configEntries: [{ name: "min.insync.replicas", value: "2" }] }],
        waitForLeaders: true,
      }),
    ).toBe(true);
    const described = await admin.fetchTopicMetadata({ topics: ["replicated"] });
    const leaders = new Set<number>();
    for (const partition of described.topics[0]!.partitions) {
      expect([...partition.replicas].sort()).toEqual([1, 2, 3]);
      expect([...partition.isr].sort()).toEqual([1, 2, 3]);
      leaders.add(partition.leader);
    }
    expect(leaders.size).toBe(3); // leaders balanced over the brokers
  } finally {
    await admin.disconnect();
  }
  const viaOtherBroker = await kcat(`127.0.0.1:${basePort + 2}`, ["-L", "-t", "replicated", "-J"], { timeoutMs: 30_000 });
  expect(JSON.parse(viaOtherBroker.stdout).topics[0].partitions.length).toBe(3);

  cluster.kill("SIGTERM");
  expect(await Promise.race([cluster.exited, Bun.sleep(60_000).then(() => "timeout")])).toBe(0);
  cluster = null;
}, 150_000);
