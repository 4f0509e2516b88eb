// A tailing consumer's long poll answered from the batch a produce just appended (api/fetch.ts fromAppend):
// kafkajs consumers, read_uncommitted and read_committed, tail a partition while a kafkajs producer sends many
// small single-record produces one at a time. Each consumer must receive exactly the produced values in order,
// and /metrics must show that the fast path answered some of the fetches. A transaction left open by another
// producer then blocks read_committed at its first offset (the fallback: the worker's read stops at the LSO),
// while read_uncommitted keeps receiving. Run on one socket thread and with network shards (the fetch's file range
// then goes to the shard that owns the connection), where the socket thread holds the long poll; and with the
// default listening partition workers, where the owning worker holds it and answers the fetch itself (woken by
// its own append, then read from its log: the fast path is the socket thread's, so /metrics must show the
// worker's answers instead).
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { BrokerProcess, freePort } from "../helpers/broker-process.ts";
import { createTopic, kafkaClient, startTailingConsumer } from "../helpers/kafkajs.ts";
import { sample, scrape } from "../helpers/admin-http.ts";

const TOPIC = "tail-from-append";
const RECORDS = 150;

async function waitFor(condition: () => boolean, what: string, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await Bun.sleep(20);
  }
}

type Answered = "from the append" | "by the owning worker";

async function tailingConsumers(broker: BrokerProcess, adminUrl: string, answered: Answered): Promise<void> {
  const uncommitted = await startTailingConsumer(broker.bootstrap, TOPIC, "tail-uncommitted", true);
  const committed = await startTailingConsumer(broker.bootstrap, TOPIC, "tail-committed", false);
  const producer = kafkaClient(broker.bootstrap, "tail-producer").producer();
  await producer.connect();
  const expected: string[] = [];
  try {
    for (let i = 0; i < RECORDS; i++) {
      const value = `record-${i}`;
      expected.push(value);
      await producer.send({ topic: TOPIC, acks: 1, messages: [{ value }] });
      // Let the consumers catch up now and then, so their next fetch is waiting at the end of the log.
      if (i % 10 === 9) await waitFor(() => uncommitted.values.length === expected.length && committed.values.length === expected.length, `record ${i}`);
    }
    await waitFor(() => uncommitted.values.length >= RECORDS && committed.values.length >= RECORDS, "all records");
    expect(uncommitted.values).toEqual(expected);
    expect(committed.values).toEqual(expected);
    const families = await scrape(adminUrl);
    if (answered === "from the append") {
      expect(sample(families, "bunka_fetch_served_from_append_total") ?? 0).toBeGreaterThan(0);
    } else {
      // Shard 0 is the socket thread; the workers are 1 and 2.
      const local = [1, 2].reduce((sum, shard) => sum + (sample(families, "bunka_network_shard_local_requests_total", { shard: String(shard), api: "Fetch" }) ?? 0), 0);
      expect(local).toBeGreaterThan(RECORDS / 2);
    }

    // Fallback: an open transaction pins read_committed's LSO at its first offset.
    const txProducer = kafkaClient(broker.bootstrap, "tail-tx").producer({ transactionalId: "tail-tx", idempotent: true, maxInFlightRequests: 1 });
    await txProducer.connect();
    const transaction = await txProducer.transaction();
    await transaction.send({ topic: TOPIC, messages: [{ value: "in-transaction" }] });
    for (let i = 0; i < 5; i++) await producer.send({ topic: TOPIC, acks: 1, messages: [{ value: `after-${i}` }] });
    await waitFor(() => uncommitted.values.length === RECORDS + 6, "read_uncommitted past the open transaction");
    expect(uncommitted.values.slice(RECORDS)).toEqual(["in-transaction", "after-0", "after-1", "after-2", "after-3", "after-4"]);
    await Bun.sleep(500); // A read_committed answer that wrongly passed the LSO would have arrived by now.
    expect(committed.values.length).toBe(RECORDS);
    await transaction.commit();
    await waitFor(() => committed.values.length === RECORDS + 6, "read_committed after the commit");
    expect(committed.values.slice(RECORDS)).toEqual(["in-transaction", "after-0", "after-1", "after-2", "after-3", "after-4"]);
    await txProducer.disconnect();
  } finally {
    await producer.disconnect();
    await uncommitted.consumer.disconnect();
    await committed.consumer.disconnect();
  }
}

const modes: { name: string; properties: Record<string, string>; answered: Answered }[] = [
  { name: "num.network.shards=1", properties: { "num.network.shards": "1", "partition.workers.listen": "false" }, answered: "from the append" },
  { name: "num.network.shards=3", properties: { "num.network.shards": "3" }, answered: "from the append" },
  { name: "listening partition workers (the default)", properties: { "num.partition.workers": "2" }, answered: "by the owning worker" },
];

for (const mode of modes) {
  describe(mode.name, () => {
    const adminUrl = `http://127.0.0.1:${freePort()}`;
    const broker = new BrokerProcess({ properties: { "admin.listeners": adminUrl, "group.initial.rebalance.delay.ms": "0", ...mode.properties } });

    beforeAll(async () => {
      await broker.start();
      await createTopic(broker.bootstrap, TOPIC, 1);
    }, 120_000);

    afterAll(async () => {
      await broker.stop();
      await broker.cleanup();
    });

    test(`tailing consumers receive every record in order, partly answered ${mode.answered}`, () => tailingConsumers(broker, adminUrl, mode.answered), 180_000);
  });
}
