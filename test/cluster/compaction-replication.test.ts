// A new replica of a compacted partition copies a cleaned (sparse) leader log: the partition lives on broker
// 1 alone, kcat writes many updates to few keys and the cleaner compacts them; then broker 2 is added by
// reassignment and fetches from offset 0, receiving batches with gaps between them (appendAsFollower
// accepts them). Once it is in the ISR, broker 1 stops; broker 2 leads and kcat reads exactly the latest
// value per key from it.
import { afterAll, beforeAll, expect, test } from "bun:test";
import { join } from "node:path";
import { TestCluster } from "../helpers/cluster.ts";
import { kafkaClient } from "../helpers/kafkajs.ts";
import { kcat, kcatConsumeAll } from "../helpers/kcat.ts";
import { storedBatches } from "../helpers/segments.ts";

const TOPIC = "compacted-replicated";
const KEYS = 20;
const UPDATES = 3000;
const SEGMENT_MS = 1000;
let cluster: TestCluster;

beforeAll(async () => {
  cluster = new TestCluster(2, { "log.cleaner.backoff.ms": "300", "log.segment.bytes.min": "1024" });
  await cluster.start();
}, 60_000);

afterAll(async () => {
  await cluster.cleanup();
});

/** Whether the batches stored in a partition directory (which starts at offset 0) leave offsets out. */
function hasGaps(dir: string): boolean {
  let nextOffset = 0;
  for (const batch of storedBatches(dir)) {
    if (batch.baseOffset > nextOffset) return true;
    nextOffset = batch.lastOffset + 1;
  }
  return false;
}

test("a replica added to a compacted partition copies the cleaned log, gaps included, and serves it as leader", async () => {
  const admin = kafkaClient(cluster.bootstrap.join(","), "compaction-admin").admin();
  await admin.connect();
  try {
    await admin.createTopics({
      topics: [
        {
          topic: TOPIC,
          replicaAssignment: [{ partition: 0, replicas: [1] }],
          configEntries: [
            { name: "cleanup.policy", value: "compact" },
            { name: "segment.bytes", value: "16384" },
            { name: "segment.ms", value: String(SEGMENT_MS) },
          ],
        },
      ],
      waitForLeaders: true,
    });
    const latest = new Map<string, string>();
    const lines: string[] = [];
    for (let index = 0; index < UPDATES; index++) {
      const key = `key-${(index * 7) % KEYS}`;
      const value = `value-${index}`;
      lines.push(`${key}:${value}`);
      latest.set(key, value);
    }
    const produce = async (input: string[]) => {
      const result = await kcat(cluster.broker(1).bootstrap, ["-P", "-t", TOPIC, "-K:", "-X", "batch.num.messages=20", "-X", "linger.ms=5"], { input: input.join("\n") + "\n", timeoutMs: 60_000 });
      expect(result.exitCode).toBe(0);
    };
    await produce(lines);
    // After segment.ms the sentinel rolls the last updates out of the active segment.
    await Bun.sleep(SEGMENT_MS + 500);
    await produce(["sentinel:end"]);
    const leaderDir = join(cluster.broker(1).dataDir, `${TOPIC}-0`);
    await cluster.waitFor("broker 1 to clean the partition", async () => hasGaps(leaderDir) && storedBatches(leaderDir).length < 30, 60_000, 300);

    // Broker 2 joins the replicas and copies the sparse log from offset 0.
    await admin.alterPartitionReassignments({ topics: [{ topic: TOPIC, partitionAssignment: [{ partition: 0, replicas: [1, 2] }] }] });
    await cluster.waitFor("broker 2 to be in sync", async () => {
      const ongoing = await admin.listPartitionReassignments({});
      const [partition] = await cluster.partitions(TOPIC);
      return ongoing.topics.length === 0 && partition!.isr.join() === "1,2";
    }, 60_000);
    const followerDir = join(cluster.broker(2).dataDir, `${TOPIC}-0`);
    expect(hasGaps(followerDir)).toBe(true);

    // Broker 1 leaves; broker 2 leads and serves the compacted data.
    expect(await cluster.broker(1).stop()).toBe(0);
    await cluster.waitFor("broker 2 to lead", async () => (await cluster.partitions(TOPIC, [1]))[0]!.leader === 2, 30_000);
    const consumed = await kcatConsumeAll(cluster.broker(2).bootstrap, TOPIC, "%o\t%k\t%s\n", [], 60_000);
    const records = consumed.map((line) => line.split("\t"));
    const byKey = new Map(records.map(([, key, value]) => [key!, value!]));
    expect(byKey.size).toBe(KEYS + 1);
    expect(records.length).toBe(KEYS + 1);
    for (const [key, value] of latest) expect(byKey.get(key)).toBe(value);
    expect(byKey.get("sentinel")).toBe("end");
    for (let index = 1; index < records.length; index++) expect(Number(records[index]![0])).toBeGreaterThan(Number(records[index - 1]![0]));
  } finally {
    await admin.disconnect();
  }
}, 180_000);
