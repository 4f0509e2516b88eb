// slow-fsync: every fsync of the broker's logs waits the fault's delay first (in the partition worker, as a
// slow disk blocks it). A topic flushed on every record (flush.messages=1) shows it in the workers' fsync
// latency histogram (the one /metrics exports); cleared, the delay is gone; the records are all there.
import { afterAll, beforeAll, expect, test } from "bun:test";
import { rmSync } from "node:fs";
import { startBroker, type Broker } from "../../src/index.ts";
import { FSYNC_BUCKETS_SECONDS } from "../../src/partition/fsync-latency.ts";
import { createTopic, produceRecords, readAll } from "../../src/testing/index.ts";
import { tempDir } from "../helpers/broker-process.ts";

let broker: Broker;
let dataDir: string;
let bootstrap: string;

beforeAll(async () => {
  dataDir = tempDir("faults-fsync");
  broker = await startBroker({ port: 0, host: "127.0.0.1", dataDir, log: () => undefined, properties: { "faults.enable": "true" } });
  bootstrap = `127.0.0.1:${broker.port}`;
});

afterAll(async () => {
  await broker.stop();
  rmSync(dataDir, { recursive: true, force: true });
});

/** Flushes that took at least `seconds` (bucket counts above that bound). */
async function flushesSlowerThan(seconds: number): Promise<number> {
  const latency = await broker.workers.fsyncLatency();
  const first = FSYNC_BUCKETS_SECONDS.findIndex((bound) => bound >= seconds);
  return latency.buckets.slice(first + 1).reduce((sum, count) => sum + count, 0);
}

test("slow-fsync delays every flush by its delay until cleared; no record is lost", async () => {
  await createTopic(bootstrap, "synced", { partitions: 1, configs: { "flush.messages": "1" } });
  await produceRecords(bootstrap, "synced", [{ key: null, value: "fast" }]);
  const slowBefore = await flushesSlowerThan(0.25);

  const fault = await broker.faults.add({ type: "slow-fsync", delayMs: 300, durationMs: 60_000 });
  expect(Atomics.load(broker.workers.fsyncDelayMs, 0)).toBe(300);
  for (let i = 0; i < 3; i++) await produceRecords(bootstrap, "synced", [{ key: null, value: `slow-${i}` }], { acks: 1 });
  // Each of those produces flushed (flush.messages=1) and each flush waited at least 300 ms.
  expect((await flushesSlowerThan(0.25)) - slowBefore).toBeGreaterThanOrEqual(3);

  expect(broker.faults.clear(fault.id)).toBe(1);
  expect(Atomics.load(broker.workers.fsyncDelayMs, 0)).toBe(0);
  await produceRecords(bootstrap, "synced", [{ key: null, value: "fast again" }]);
  expect((await readAll(bootstrap, "synced")).map((record) => new TextDecoder().decode(record.value!))).toEqual(["fast", "slow-0", "slow-1", "slow-2", "fast again"]);
});
