// What /metrics costs the hot path (bun bench/metrics-cost.ts): the counter hooks produce, fetch, the
// dispatcher and the connection (queue and send time) call per request (admin/traffic-counters.ts), next to the CRC32C every 1 MiB produce batch
// already pays. Nothing else runs per request: the registry reads these numbers only when scraped.
import { crc32c } from "@node-rs/crc32";
import { Bench } from "tinybench";
import { BrokerTraffic } from "../src/admin/traffic-counters.ts";

const traffic = new BrokerTraffic();
const topics = Array.from({ length: 100 }, (_, i) => `topic-${i}`);
const batch = new Uint8Array(1024 * 1024).map((_, i) => i & 0xff);
let round = 0;
const started = performance.now();
/** What the connection keeps per reply in its write queue while send time is measured (server/connection.ts). */
const marks: { endChunk: number; apiKey: number; answeredMs: number }[] = [];

const bench = new Bench({ time: 1000, warmupTime: 200 });
bench
  .add("empty task (tinybench's own cost per call)", () => {
    round++;
  })
  .add("produce hooks: produced() + request() + 2 × performance.now() (100 topics × 8 partitions)", () => {
    const started = performance.now();
    const topic = topics[round % 100]!;
    traffic.produced(topic, round++ & 7, 1_048_576, 1024);
    traffic.request(0, (performance.now() - started) / 1000);
  })
  .add("queue and send time per request: queued() + sent() + 2 × performance.now() + one send mark", () => {
    const answeredMs = performance.now();
    traffic.queued(0, (answeredMs - started) / 1000);
    marks.push({ endChunk: round, apiKey: 0, answeredMs });
    const mark = marks.shift()!;
    traffic.sent(mark.apiKey, (performance.now() - mark.answeredMs) / 1000);
    round++;
  })
  .add("fetch hook: fetched()", () => {
    traffic.fetched(topics[round % 100]!, round++ & 7, 1_048_576, false);
  })
  .add("CRC32C of one 1 MiB batch (what every produce pays already)", () => {
    crc32c(batch);
  });
await bench.run();
for (const task of bench.tasks) {
  const result = task.result as { latency?: { mean: number; p99: number }; throughput?: { mean: number } } | undefined;
  const meanNs = (result?.latency?.mean ?? NaN) * 1e6;
  console.log(`${task.name}: ${meanNs.toFixed(1)} ns mean, p99 ${((result?.latency?.p99 ?? NaN) * 1e6).toFixed(1)} ns`);
}
