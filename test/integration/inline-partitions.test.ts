// Partitions owned by a thread that also holds sockets, in both shapes: num.partition.workers=0 (the socket
// thread owns every partition, src/partition/inline-worker.ts) and partition.workers.listen (each partition
// worker is also a network shard and answers a produce for its own partitions itself,
// src/server/shards/local-produce.ts). The same guarantees as with plain worker threads, with real clients and
// a real SIGKILL: every acknowledged acks=all record of a kafkajs stream is readable after a kill and restart
// with dense offsets and appends go on after them; a kafkajs consumer group reads everything and commits (the
// group coordinator's __consumer_offsets is such a partition too); kcat reads what kafkajs wrote.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { BrokerProcess, freePort } from "../helpers/broker-process.ts";
import { scrape, sample } from "../helpers/admin-http.ts";
import { createTopic, kafkaClient } from "../helpers/kafkajs.ts";
import { kcatConsumeAll } from "../helpers/kcat.ts";

const TOPIC = "inline";
const PARTITIONS = 3;

const modes: { name: string; properties: Record<string, string>; listeningWorkers: number }[] = [
  { name: "num.partition.workers=0", properties: { "num.partition.workers": "0" }, listeningWorkers: 0 },
  { name: "partition.workers.listen with 2 workers", properties: { "num.partition.workers": "2", "partition.workers.listen": "true" }, listeningWorkers: 2 },
];

for (const mode of modes) describe(mode.name, () => {
  const adminUrl = `http://127.0.0.1:${freePort()}`;
  const broker = new BrokerProcess({ properties: { ...mode.properties, "admin.listeners": adminUrl, "log.segment.bytes": "65536", "group.initial.rebalance.delay.ms": "0" } });

  beforeAll(async () => {
    await broker.start();
    await createTopic(broker.bootstrap, TOPIC, PARTITIONS);
  }, 120_000);

  afterAll(async () => {
    await broker.stop().catch(() => undefined);
    await broker.cleanup();
  });

  async function readBack(): Promise<Map<number, string[]>> {
    const byPartition = new Map<number, string[]>();
    for (const line of await kcatConsumeAll(broker.bootstrap, TOPIC, "%p\t%o\t%s\n")) {
      const [partition, offset, value] = line.split("\t") as [string, string, string];
      const values = byPartition.get(Number(partition)) ?? [];
      // Dense: each partition's offsets come in order from 0.
      expect(Number(offset)).toBe(values.length);
      values.push(value);
      byPartition.set(Number(partition), values);
    }
    return byPartition;
  }

  test("SIGKILL during an acks=all stream loses no acknowledged record; appends go on after the restart", async () => {
    const producer = kafkaClient(broker.bootstrap, "inline-producer").producer({ retry: { retries: 0 }, allowAutoTopicCreation: false });
    await producer.connect();
    const acked = new Set<string>();
    const KILL_AFTER_ACKS = 3000;
    let killed = false;
    const sends: Promise<void>[] = [];
    for (let sequence = 0; sequence < 8000 && !killed; sequence++) {
      const value = `v-${sequence}-${"x".repeat(200)}`;
      sends.push(
        producer.send({ topic: TOPIC, acks: -1, messages: [{ value, partition: sequence % PARTITIONS }] }).then(
          () => void acked.add(value),
          () => undefined,
        ),
      );
      if (sends.length >= 16) await Promise.all(sends.splice(0));
      if (acked.size >= KILL_AFTER_ACKS && !killed) {
        killed = true;
        await broker.kill();
      }
    }
    await Promise.all(sends);
    await producer.disconnect().catch(() => undefined);
    expect(killed).toBe(true);

    await broker.start();
    const stored = new Set([...(await readBack()).values()].flat());
    for (const value of acked) expect(stored.has(value)).toBe(true);

    // Several producers, so that connections land on every listening thread; each writes to every partition.
    for (let client = 0; client < 6; client++) {
      const after = kafkaClient(broker.bootstrap, `inline-producer-after-${client}`).producer({ allowAutoTopicCreation: false });
      await after.connect();
      for (let partition = 1; partition < PARTITIONS; partition++) await after.send({ topic: TOPIC, acks: -1, messages: [{ value: `after-restart-${client}`, partition }] });
      await after.disconnect();
    }
    const last = kafkaClient(broker.bootstrap, "inline-producer-2").producer({ allowAutoTopicCreation: false });
    await last.connect();
    await last.send({ topic: TOPIC, acks: -1, messages: [{ value: "after-restart", partition: 0 }] });
    await last.disconnect();
    if (mode.listeningWorkers > 0) {
      // Some of those produces were appended and answered by the worker that owns the partition, on its own connection.
      const families = await scrape(adminUrl);
      let local = 0;
      for (let shard = 1; shard <= mode.listeningWorkers; shard++) local += sample(families, "bunka_network_shard_local_requests_total", { shard: String(shard) }) ?? 0;
      expect(local).toBeGreaterThan(0);
    }
    const partition0 = (await readBack()).get(0)!;
    expect(partition0[partition0.length - 1]).toBe("after-restart");
  }, 180_000);

  test("a kafkajs consumer group reads every record and commits its offsets", async () => {
    const expected = [...(await readBack()).values()].reduce((total, values) => total + values.length, 0);
    expect(expected).toBeGreaterThan(3000);
    const kafka = kafkaClient(broker.bootstrap, "inline-group");
    const consumer = kafka.consumer({ groupId: "inline-group" });
    await consumer.connect();
    await consumer.subscribe({ topic: TOPIC, fromBeginning: true });
    let received = 0;
    const all = Promise.withResolvers<void>();
    await consumer.run({
      eachMessage: async () => {
        if (++received === expected) all.resolve();
      },
    });
    const timeout = setTimeout(() => all.reject(new Error(`only ${received} of ${expected} records in 90 s`)), 90_000);
    await all.promise.finally(() => clearTimeout(timeout));
    await consumer.disconnect(); // commits on the way out

    const admin = kafka.admin();
    await admin.connect();
    const committed = await admin.fetchOffsets({ groupId: "inline-group", topics: [TOPIC] });
    const ends = await admin.fetchTopicOffsets(TOPIC);
    await admin.disconnect();
    for (const { partition, high } of ends) {
      expect(committed[0]!.partitions.find((entry) => entry.partition === partition)?.offset).toBe(high);
    }
  }, 180_000);
});
