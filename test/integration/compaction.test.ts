// Log compaction with a real broker process and real clients: kcat produces many updates to few keys
// (-K:) and tombstones (-Z) to a cleanup.policy=compact topic with small segments; the worker's cleaner
// (log.cleaner.backoff.ms shortened) shrinks the log; kcat then reads exactly the latest value per key,
// the tombstones until delete.retention.ms and no trace of their keys after, with offsets that increase
// with gaps. Then group offsets committed many times to a compacted __consumer_offsets survive the
// cleaning and a restart (the coordinator's load reads the sparse log).
import { afterAll, beforeAll, expect, test } from "bun:test";
import { join } from "node:path";
import { BrokerProcess } from "../helpers/broker-process.ts";
import { KafkaConnection } from "../../src/client/kafka-connection.ts";
import { ErrorCode } from "../../src/protocol/errors.ts";
import { ApiKey } from "../../src/protocol/generated/index.ts";
import { ConfigResourceTypes } from "kafkajs";
import { createTopic, kafkaClient } from "../helpers/kafkajs.ts";
import { kcat, kcatConsumeAll } from "../helpers/kcat.ts";
import { storedBatches } from "../helpers/segments.ts";

const TOPIC = "compacted";
const KEYS = 20;
const UPDATES = 4000;
const DELETED_KEYS = 5;
const DELETE_RETENTION_MS = 8000;
const SEGMENT_MS = 1000;
const POLL_INTERVAL_MS = 500;
const PHASE_TIMEOUT_MS = 60_000;

let broker: BrokerProcess;

beforeAll(async () => {
  broker = new BrokerProcess({
    properties: {
      "log.cleaner.backoff.ms": "300",
      // Small segments so the cleaner has several to clean (below the 1 MiB default minimum).
      "log.segment.bytes.min": "1024",
      "offsets.topic.num.partitions": "1",
      "offsets.topic.segment.bytes": "2048",
      "group.initial.rebalance.delay.ms": "0",
    },
  });
  await broker.start();
});

afterAll(async () => {
  await broker?.cleanup();
});

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Bytes of batches stored in a partition directory (every segment; the active one up to its data). */
function storedBytes(topic: string, partition: number): number {
  return storedBatches(join(broker.dataDir, `${topic}-${partition}`)).reduce((sum, batch) => sum + batch.sizeBytes, 0);
}

async function produce(lines: string[], extra: string[] = []): Promise<void> {
  const result = await kcat(broker.bootstrap, ["-P", "-t", TOPIC, "-K:", "-X", "batch.num.messages=20", "-X", "linger.ms=5", ...extra], { input: lines.join("\n") + "\n", timeoutMs: 60_000 });
  expect(result.stderr).not.toContain("ERROR");
  expect(result.exitCode).toBe(0);
}

interface Consumed {
  offset: number;
  key: string;
  valueLength: number;
  value: string;
}

async function consume(): Promise<Consumed[]> {
  const lines = await kcatConsumeAll(broker.bootstrap, TOPIC, "%o\t%k\t%S\t%s\n", [], 30_000);
  return lines.map((line) => {
    const [offset, key, valueLength, value] = line.split("\t");
    return { offset: Number(offset), key: key!, valueLength: Number(valueLength), value: value ?? "" };
  });
}

/** Polls `check` every POLL_INTERVAL_MS until it returns a value, at most PHASE_TIMEOUT_MS. */
async function pollUntil<T>(what: string, check: () => Promise<T | null>): Promise<T> {
  const deadline = Date.now() + PHASE_TIMEOUT_MS;
  for (let attempt = 0; attempt < PHASE_TIMEOUT_MS / POLL_INTERVAL_MS + 1; attempt++) {
    const found = await check();
    if (found !== null) return found;
    if (Date.now() > deadline) break;
    await sleep(POLL_INTERVAL_MS);
  }
  throw new Error(`timed out waiting for ${what}\n${broker.output.slice(-4000)}`);
}

test("the compaction configs are validated and described with their defaults", async () => {
  const admin = kafkaClient(broker.bootstrap).admin();
  await admin.connect();
  try {
    for (const [name, value] of [["min.cleanable.dirty.ratio", "1.5"], ["min.cleanable.dirty.ratio", "half"], ["delete.retention.ms", "-1"], ["cleanup.policy", "shred"]]) {
      const error = await admin.createTopics({ topics: [{ topic: "bad-compaction-config", numPartitions: 1, configEntries: [{ name: name!, value: value! }] }] }).then(
        () => null,
        (error: { errors?: { type: string }[] }) => error.errors?.[0]?.type ?? String(error),
      );
      expect(error).toBe("INVALID_CONFIG");
    }
    await admin.createTopics({ topics: [{ topic: "compaction-defaults", numPartitions: 1, configEntries: [{ name: "cleanup.policy", value: "compact,delete" }] }] });
    const described = await admin.describeConfigs({ includeSynonyms: false, resources: [{ type: ConfigResourceTypes.TOPIC, name: "compaction-defaults" }] });
    const values = new Map(described.resources[0]!.configEntries.map((entry) => [entry.configName, entry.configValue]));
    expect([values.get("cleanup.policy"), values.get("delete.retention.ms"), values.get("min.cleanable.dirty.ratio"), values.get("min.compaction.lag.ms")]).toEqual(["compact,delete", "86400000", "0.5", "0"]);
  } finally {
    await admin.disconnect();
  }
});

test("kcat: a compacted topic keeps the latest value per key, tombstones until delete.retention.ms, offsets with gaps", async () => {
  await createTopic(broker.bootstrap, TOPIC, 1, [
    { name: "cleanup.policy", value: "compact" },
    { name: "segment.bytes", value: "16384" },
    { name: "segment.ms", value: String(SEGMENT_MS) },
    { name: "delete.retention.ms", value: String(DELETE_RETENTION_MS) },
    { name: "min.cleanable.dirty.ratio", value: "0.5" },
  ]);
  // Many updates to few keys.
  const latest = new Map<string, string>();
  const updates: string[] = [];
  for (let index = 0; index < UPDATES; index++) {
    const key = `key-${(index * 7) % KEYS}`;
    const value = `value-${index}-${"x".repeat(index % 40)}`;
    updates.push(`${key}:${value}`);
    latest.set(key, value);
  }
  // Idempotent: the producer's last batch, emptied by the cleaner, stays as an empty batch that kcat skips.
  await produce(updates, ["-X", "enable.idempotence=true"]);
  // Tombstones for the first keys (empty values sent as NULL), then more updates of the other keys.
  const deleted = Array.from({ length: DELETED_KEYS }, (_, index) => `key-${index}`);
  await produce(deleted.map((key) => `${key}:`), ["-Z"]);
  const more: string[] = [];
  for (let index = 0; index < 400; index++) {
    const key = `key-${DELETED_KEYS + (index % (KEYS - DELETED_KEYS))}`;
    const value = `later-${index}`;
    more.push(`${key}:${value}`);
    latest.set(key, value);
  }
  await produce(more);
  const bytesBefore = storedBytes(TOPIC, 0);
  // A sentinel after segment.ms rolls the segment with the last updates, so all of them become cleanable.
  await sleep(SEGMENT_MS + 500);
  await produce(["sentinel:end"]);

  const expectedLive = [...latest].filter(([key]) => !deleted.includes(key));
  const matches = (records: Consumed[], withTombstones: boolean): boolean => {
    const byKey = new Map<string, Consumed[]>();
    for (const record of records) byKey.set(record.key, [...(byKey.get(record.key) ?? []), record]);
    if (byKey.get("sentinel")?.length !== 1) return false;
    for (const [key, value] of expectedLive) if (byKey.get(key)?.length !== 1 || byKey.get(key)![0]!.value !== value) return false;
    for (const key of deleted) {
      const found = byKey.get(key);
      if (withTombstones ? found?.length !== 1 || found[0]!.valueLength !== -1 : found !== undefined) return false;
    }
    return byKey.size === expectedLive.length + 1 + (withTombstones ? deleted.length : 0);
  };

  // Phase 1: cleaned, tombstones still there (younger than delete.retention.ms); old values of their keys gone.
  const withTombstones = await pollUntil("the first clean", async () => {
    const records = await consume();
    return matches(records, true) ? records : null;
  });
  // Phase 2: the tombstones are past delete.retention.ms; a pass runs for them although nothing is dirty.
  const final = await pollUntil("tombstones to be removed", async () => {
    const records = await consume();
    return matches(records, false) ? records : null;
  });
  for (const records of [withTombstones, final]) {
    for (let index = 1; index < records.length; index++) expect(records[index]!.offset).toBeGreaterThan(records[index - 1]!.offset);
    // Sparse: far fewer records than offsets.
    expect(records[records.length - 1]!.offset + 1).toBeGreaterThan(records.length * 10);
  }
  expect(final.length).toBe(KEYS - DELETED_KEYS + 1);
  expect(storedBytes(TOPIC, 0)).toBeLessThan(bytesBefore / 10);
  expect(storedBatches(join(broker.dataDir, `${TOPIC}-0`)).filter((batch) => batch.recordCount === 0).length).toBe(1);
  // Reads from an offset inside a gap start at the next record.
  const gapStart = final[0]!.offset + 1;
  const fromGap = await kcatConsumeAll(broker.bootstrap, TOPIC, "%o\n", ["-o", String(gapStart)], 30_000);
  expect(Number(fromGap[0])).toBe(final[1]!.offset);

  // A record without a key is refused on a compacted topic.
  const keyless = await kcat(broker.bootstrap, ["-P", "-t", TOPIC, "-X", "message.send.max.retries=0"], { input: "no key here\n", timeoutMs: 30_000 });
  // librdkafka's text for INVALID_RECORD (87).
  expect(keyless.stderr).toContain("Broker failed to validate record");

  const passes = broker.output.split("\n").filter((line) => line.includes("log cleaner: compacted-0"));
  expect(passes.length).toBeGreaterThanOrEqual(2);
  for (const line of passes.slice(0, 3)) console.log(line.slice(line.indexOf("log cleaner")));
}, 180_000);

test("group offsets committed many times to a compacted __consumer_offsets survive cleaning and a restart", async () => {
  const topic = "offsets-target";
  await createTopic(broker.bootstrap, topic, 2);
  const COMMITS = 300;
  const commit = async (connection: KafkaConnection, offset: number): Promise<number[]> => {
    // A standalone commit (generation -1, no member), as admin tools do.
    const response = await connection.request(ApiKey.OffsetCommit, 8, {
      groupId: "g-compacted",
      generationIdOrMemberEpoch: -1,
      memberId: "",
      groupInstanceId: null,
      topics: [{ name: topic, partitions: [0, 1].map((partitionIndex) => ({ partitionIndex, committedOffset: offset * (partitionIndex + 1), committedLeaderEpoch: -1, committedMetadata: "" })) }],
    });
    return response.topics[0].partitions.map((partition: { errorCode: number }) => partition.errorCode);
  };
  let connection = await KafkaConnection.connect({ host: "127.0.0.1", port: broker.port, requestTimeoutMs: 20_000 });
  try {
    for (let index = 1; index <= COMMITS; index++) expect(await commit(connection, index)).toEqual([ErrorCode.NONE, ErrorCode.NONE]);
  } finally {
    connection.close();
  }
  // ~300 commits of ~150 bytes in 2 KiB segments: the cleaner brings the partition down to a few batches.
  const cleaned = await pollUntil("__consumer_offsets to be cleaned", async () => {
    const batches = storedBatches(join(broker.dataDir, "__consumer_offsets-0"));
    return batches.length > 0 && batches.length < 40 ? batches : null;
  });
  // Offsets are sparse on disk.
  expect(cleaned[cleaned.length - 1]!.lastOffset + 1).toBeGreaterThan(cleaned.length * 5);

  // The coordinator loads the compacted partition after a restart: the last commit is what it finds.
  expect(await broker.stop()).toBe(0);
  await broker.start();
  connection = await KafkaConnection.connect({ host: "127.0.0.1", port: broker.port, requestTimeoutMs: 20_000 });
  try {
    const fetched = await pollUntil("the group coordinator to load", async () => {
      const response = await connection.request(ApiKey.OffsetFetch, 8, { groups: [{ groupId: "g-compacted", topics: [{ name: topic, partitionIndexes: [0, 1] }] }], requireStable: false });
      const group = response.groups[0];
      return group.errorCode === ErrorCode.NONE ? group : null;
    });
    expect(fetched.topics[0].partitions.map((partition: { committedOffset: number }) => partition.committedOffset)).toEqual([COMMITS, COMMITS * 2]);
  } finally {
    connection.close();
  }
}, 180_000);
