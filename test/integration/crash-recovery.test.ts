// A broker killed with SIGKILL in the middle of a produce stream restarts with every acknowledged
// record readable and offsets dense; a segment whose tail was cut or bit-flipped on disk is recovered to
// its last valid batch, and appends continue right after it.
import { afterAll, beforeAll, expect, test } from "bun:test";
import { openSync, closeSync, readSync, writeSync, ftruncateSync } from "node:fs";
import { join } from "node:path";
import { BrokerProcess } from "../helpers/broker-process.ts";
import { createTopic, kafkaClient } from "../helpers/kafkajs.ts";
import { kcatConsumeAll } from "../helpers/kcat.ts";
import { storedBatches } from "../helpers/segments.ts";

const TOPIC = "crash";
const PARTITIONS = 2;
let broker: BrokerProcess;

beforeAll(async () => {
  // Small segments so the stream spans several rolls before the kill.
  broker = new BrokerProcess({ properties: { "log.segment.bytes": "65536", "num.partitions": String(PARTITIONS) } });
  await broker.start();
  await createTopic(broker.bootstrap, TOPIC, PARTITIONS);
});

afterAll(async () => {
  await broker.cleanup();
});

interface Acked {
  partition: number;
  offset: number;
  value: string;
}

/** Consumes the whole topic with kcat: partition -> offset -> value. */
async function readBack(): Promise<Map<number, Map<number, string>>> {
  const lines = await kcatConsumeAll(broker.bootstrap, TOPIC, "%p\t%o\t%s\n");
  const byPartition = new Map<number, Map<number, string>>();
  for (const line of lines) {
    const [partition, offset, value] = line.split("\t");
    let offsets = byPartition.get(Number(partition));
    if (!offsets) byPartition.set(Number(partition), (offsets = new Map()));
    expect(offsets.has(Number(offset))).toBe(false);
    offsets.set(Number(offset), value!);
  }
  return byPartition;
}

function expectDense(offsets: Map<number, string>): void {
  const sorted = [...offsets.keys()].sort((a, b) => a - b);
  sorted.forEach((offset, index) => expect(offset).toBe(index));
}

test("SIGKILL during an acks=-1 produce stream loses no acknowledged record; offsets continue without gaps", async () => {
  const kafka = kafkaClient(broker.bootstrap, "crash-producer");
  const producer = kafka.producer({ retry: { retries: 0 }, allowAutoTopicCreation: false });
  await producer.connect();
  const acked: Acked[] = [];
  let sequence = 0;
  let killed = false;
  const KILL_AFTER_ACKS = 4000;
  const MAX_SENDS = 10_000;
  // Two concurrent senders so a request is in flight when the kill lands.
  const sender = async () => {
    for (let sends = 0; sends < MAX_SENDS && !killed; sends++) {
      const partition = sequence % PARTITIONS;
      const messages = Array.from({ length: 20 }, () => ({ value: `v-${sequence++}-${"p".repeat(40)}`, partition }));
      try {
        const [result] = await producer.send({ topic: TOPIC, acks: -1, messages });
        messages.forEach((message, i) => acked.push({ partition, offset: Number(result!.baseOffset) + i, value: message.value }));
      } catch {
        return; // the broker is gone
      }
    }
  };
  const killer = (async () => {
    for (let polls = 0; polls < 6000 && acked.length < KILL_AFTER_ACKS; polls++) await Bun.sleep(5);
    killed = true;
    await broker.kill();
  })();
  await Promise.all([sender(), sender(), killer]);
  await producer.disconnect().catch(() => undefined);
  expect(acked.length).toBeGreaterThanOrEqual(KILL_AFTER_ACKS);

  await broker.start();
  const stored = await readBack();
  for (const record of acked) expect(stored.get(record.partition)?.get(record.offset)).toBe(record.value);
  for (const offsets of stored.values()) expectDense(offsets);

  // Appends after recovery continue at the recovered log end offset.
  const producerAfter = kafkaClient(broker.bootstrap, "after-crash").producer();
  await producerAfter.connect();
  const [result] = await producerAfter.send({ topic: TOPIC, acks: -1, messages: [{ value: "after-restart", partition: 0 }] });
  await producerAfter.disconnect();
  expect(Number(result!.baseOffset)).toBe(stored.get(0)!.size);
}, 120_000);

async function produceMarkers(prefix: string, count: number): Promise<void> {
  const producer = kafkaClient(broker.bootstrap, "markers").producer();
  await producer.connect();
  for (let i = 0; i < count; i++) await producer.send({ topic: TOPIC, acks: -1, messages: [{ value: `${prefix}-${i}`, partition: 1 }] });
  await producer.disconnect();
}

async function damageLastBatchAndRestart(damage: (file: string, position: number, sizeBytes: number) => void): Promise<{ before: number; lastBatchBase: number }> {
  await produceMarkers("marker", 5);
  const before = (await readBack()).get(1)!.size;
  await broker.kill();
  const batches = storedBatches(join(broker.dataDir, `${TOPIC}-1`));
  const last = batches[batches.length - 1]!;
  expect(last.lastOffset).toBe(before - 1);
  damage(last.file, last.position, last.sizeBytes);
  await broker.start();
  return { before, lastBatchBase: last.baseOffset };
}

test("a segment whose last batch was cut short on disk is recovered to the batch before it", async () => {
  const { lastBatchBase } = await damageLastBatchAndRestart((file, position, sizeBytes) => {
    const fd = openSync(file, "r+");
    ftruncateSync(fd, position + Math.floor(sizeBytes / 2));
    closeSync(fd);
  });
  const recovered = (await readBack()).get(1)!;
  expect(recovered.size).toBe(lastBatchBase);
  expectDense(recovered);
  await produceMarkers("after-cut", 1);
  const after = (await readBack()).get(1)!;
  expect(after.get(lastBatchBase)).toBe("after-cut-0");
}, 120_000);

test("a segment whose last batch has a flipped bit is recovered to the batch before it", async () => {
  const { lastBatchBase } = await damageLastBatchAndRestart((file, position, sizeBytes) => {
    const fd = openSync(file, "r+");
    const byte = Buffer.alloc(1);
    const at = position + sizeBytes - 3; // inside the record bytes, covered by the CRC
    readSync(fd, byte, 0, 1, at);
    byte[0]! ^= 0x10;
    writeSync(fd, byte, 0, 1, at);
    closeSync(fd);
  });
  const recovered = (await readBack()).get(1)!;
  expect(recovered.size).toBe(lastBatchBase);
  expectDense(recovered);
  expect(broker.output).toMatch(new RegExp(`${TOPIC}-1: .*(CRC|corrupt|invalid|torn|cut)`, "i"));
}, 120_000);
