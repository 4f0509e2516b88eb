// A tailing consumer on a 3-broker embedded cluster while a producer sends acks=all single-record produces:
// the high watermark moves when the followers fetch, after the leader's append woke the consumer's fetch.
// That fetch must wait for the high watermark (not be answered with the uncommitted batch) and then is answered
// from the append (api/fetch.ts fromAppend). kafkajs consumers, read_uncommitted and read_committed, must get
// every value exactly once in order, and the fast path must have been taken. The same with the listening
// partition workers (the default), whose consumers wait for the high watermark the main thread publishes.
import { expect, test } from "bun:test";
import { fetchFromAppendCounters } from "../../src/api/fetch.ts";
import { createTopic, startCluster, type EmbeddedCluster } from "../../src/testing/index.ts";
import { kafkaClient, startTailingConsumer, type TailingConsumer } from "../helpers/kafkajs.ts";

const TOPIC = "tail-acks-all";
const RECORDS = 100;

function localFetches(cluster: EmbeddedCluster): number {
  return cluster.liveBrokerIds.reduce((sum, id) => sum + cluster.broker(id).networkShardStats().reduce((total, shard) => total + shard.localFetches, 0), 0);
}

async function waitFor(condition: () => boolean, what: string, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await Bun.sleep(20);
  }
}

test.each([
  ["on the main thread, answered from the append", "false"],
  ["in the listening partition workers", "true"],
])("tailing consumers of an acks=all partition receive every record in order, %s", async (_, listen) => {
  await using cluster = await startCluster({ brokers: 3, properties: { "group.initial.rebalance.delay.ms": "0", "partition.workers.listen": listen } });
  const localFetchesBefore = localFetches(cluster);
  await createTopic(cluster.bootstrapServers, TOPIC, { partitions: 1, replicationFactor: 3, configs: { "min.insync.replicas": "2" } });
  const tails: TailingConsumer[] = [];
  for (const readUncommitted of [true, false]) {
    const groupId = `tail-acks-all-${readUncommitted ? "uncommitted" : "committed"}`;
    tails.push(await startTailingConsumer(cluster.bootstrapServers, TOPIC, groupId, readUncommitted));
  }
  const servedBefore = fetchFromAppendCounters.partitions;
  const producer = kafkaClient(cluster.bootstrapServers, "tail-acks-all-producer").producer();
  await producer.connect();
  const expected: string[] = [];
  try {
    for (let i = 0; i < RECORDS; i++) {
      expected.push(`record-${i}`);
      await producer.send({ topic: TOPIC, acks: -1, messages: [{ value: `record-${i}` }] });
      if (i % 10 === 9) await waitFor(() => tails.every((tail) => tail.values.length === expected.length), `record ${i}`);
    }
    await waitFor(() => tails.every((tail) => tail.values.length >= RECORDS), "all records");
    for (const tail of tails) expect(tail.values).toEqual(expected);
    if (listen === "false") expect(fetchFromAppendCounters.partitions).toBeGreaterThan(servedBefore);
    else expect(localFetches(cluster)).toBeGreaterThan(localFetchesBefore);
  } finally {
    await producer.disconnect();
    for (const tail of tails) await tail.consumer.disconnect();
  }
}, 180_000);
