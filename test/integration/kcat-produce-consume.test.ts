// kcat (librdkafka 2.0.2) produces 100,000 keyed messages with headers to a 3-partition topic, plain and
// LZ4-compressed, and reads every one back in order per partition, byte-identical.
import { afterAll, beforeAll, expect, test } from "bun:test";
import { join } from "node:path";
import { BrokerProcess } from "../helpers/broker-process.ts";
import { createTopic } from "../helpers/kafkajs.ts";
import { kcat, kcatConsumeAll } from "../helpers/kcat.ts";
import { storedBatches } from "../helpers/segments.ts";

const MESSAGE_COUNT = 100_000;
const PARTITIONS = 3;
let broker: BrokerProcess;

beforeAll(async () => {
  broker = new BrokerProcess();
  await broker.start();
});

afterAll(async () => {
  await broker.cleanup();
});

function payload(i: number): { key: string; value: string } {
  // Varied lengths and content so that a shifted or truncated record cannot compare equal.
  return { key: `key-${i % 997}`, value: `value-${i}-${"x".repeat(i % 50)}-${(i * 2654435761) >>> 0}` };
}

async function produceAndVerify(topic: string, compression: string[]): Promise<void> {
  await createTopic(broker.bootstrap, topic, PARTITIONS);
  const lines: string[] = [];
  for (let i = 0; i < MESSAGE_COUNT; i++) {
    const { key, value } = payload(i);
    lines.push(`${key}:${value}`);
  }
  const produced = await kcat(
    broker.bootstrap,
    ["-P", "-t", topic, "-K:", "-H", "source=kcat", "-H", "trace=abc123", ...compression, "-X", "linger.ms=20", "-X", "batch.num.messages=5000"],
    { input: lines.join("\n") + "\n", timeoutMs: 120_000 },
  );
  expect(produced.stderr).not.toContain("ERROR");
  expect(produced.exitCode).toBe(0);

  const consumed = await kcatConsumeAll(broker.bootstrap, topic, "%p\t%o\t%k\t%s\t%h\n");
  expect(consumed.length).toBe(MESSAGE_COUNT);
  const seen = new Set<number>();
  const lastOffset = new Map<number, number>();
  const lastSequence = new Map<number, number>();
  for (const line of consumed) {
    const [partitionText, offsetText, key, value, headers] = line.split("\t");
    const partition = Number(partitionText);
    const offset = Number(offsetText);
    const sequence = Number(value!.split("-")[1]);
    expect(partition).toBeGreaterThanOrEqual(0);
    expect(partition).toBeLessThan(PARTITIONS);
    // Offsets are dense per partition and records keep the order kcat produced them in.
    expect(offset).toBe((lastOffset.get(partition) ?? -1) + 1);
    expect(sequence).toBeGreaterThan(lastSequence.get(partition) ?? -1);
    lastOffset.set(partition, offset);
    lastSequence.set(partition, sequence);
    const expected = payload(sequence);
    expect(key).toBe(expected.key);
    expect(value).toBe(expected.value);
    expect(headers).toBe("source=kcat,trace=abc123");
    expect(seen.has(sequence)).toBe(false);
    seen.add(sequence);
  }
  expect(seen.size).toBe(MESSAGE_COUNT);
  // Keys hash over all partitions.
  expect(lastOffset.size).toBe(PARTITIONS);
}

/** Compression codec bits of every batch stored in a partition's segment files. */
function storedCodecs(topic: string, partition: number): Set<number> {
  return new Set(storedBatches(join(broker.dataDir, `${topic}-${partition}`)).map((batch) => batch.attributes & 7));
}

test("kcat produces 100,000 keyed messages with headers and consumes them back byte-identical", async () => {
  await produceAndVerify("kcat-plain", []);
  expect(storedCodecs("kcat-plain", 0)).toEqual(new Set([0]));
});

test("kcat with -z lz4: batches are stored LZ4-compressed as produced and consumed back byte-identical", async () => {
  await produceAndVerify("kcat-lz4", ["-z", "lz4"]);
  expectStoredAsCompressed("kcat-lz4", 3);
});

/**
 * librdkafka sends a batch uncompressed when the codec would not shrink it (a tiny batch: how many there
 * are depends on how fast the broker answers); the rest must be stored compressed, exactly as produced, so
 * nearly every record is in a compressed batch. Counted by records, not batches, for that reason.
 */
function expectStoredAsCompressed(topic: string, codec: number): void {
  for (let partition = 0; partition < PARTITIONS; partition++) {
    const batches = storedBatches(join(broker.dataDir, `${topic}-${partition}`));
    expect(batches.every((batch) => [0, codec].includes(batch.attributes & 7))).toBe(true);
    const records = batches.reduce((sum, batch) => sum + batch.recordCount, 0);
    const compressed = batches.filter((batch) => (batch.attributes & 7) === codec).reduce((sum, batch) => sum + batch.recordCount, 0);
    expect(compressed).toBeGreaterThanOrEqual(Math.ceil(records * 0.9));
  }
}

test("kcat with -z snappy and -z gzip: each batch is opened and checked record by record, stored as produced, consumed back byte-identical", async () => {
  for (const [codecName, codec] of [["snappy", 2], ["gzip", 1]] as const) {
    const topic = `kcat-${codecName}`;
    await produceAndVerify(topic, ["-z", codecName]);
    expectStoredAsCompressed(topic, codec);
  }
});
