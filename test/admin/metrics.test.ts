// /metrics on a real broker process: three topics produced with kcat, a kafkajs group that commits part of
// one topic and stops; the scrape parsed with parse-prometheus-text-format must show the bytes and records
// that went in (bytes checked against the batches stored on disk), log end offsets, the group's lag and no
// under-replicated partitions.
import { afterAll, beforeAll, expect, test } from "bun:test";
import { join } from "node:path";
import { BrokerProcess, freePort } from "../helpers/broker-process.ts";
import { kcat } from "../helpers/kcat.ts";
import { createTopic, kafkaClient } from "../helpers/kafkajs.ts";
import { storedBatches } from "../helpers/segments.ts";
import { sample, scrape } from "../helpers/admin-http.ts";

const adminPort = freePort();
const adminUrl = `http://127.0.0.1:${adminPort}`;
const broker = new BrokerProcess({ properties: { "admin.listeners": adminUrl, "group.initial.rebalance.delay.ms": "0" } });
const topics = { "metrics-a": 10, "metrics-b": 20, "metrics-c": 30 } as const;
const COMMITTED = 12;

beforeAll(async () => {
  await broker.start();
  for (const [topic, count] of Object.entries(topics)) {
    // metrics-a fsyncs every append (flush.messages=1): the fdatasync histogram then has counts.
    await createTopic(broker.bootstrap, topic, 1, topic === "metrics-a" ? [{ name: "flush.messages", value: "1" }] : []);
    const lines = Array.from({ length: count }, (_, i) => `${topic}-value-${i}`).join("\n") + "\n";
    const produced = await kcat(broker.bootstrap, ["-P", "-t", topic, "-p", "0"], { input: lines, timeoutMs: 60_000 });
    expect(produced.exitCode).toBe(0);
  }
  // A lagging group: reads metrics-c, commits offset 12 by hand and stops.
  const consumer = kafkaClient(broker.bootstrap, "metrics-lagger").consumer({ groupId: "lagging-group" });
  await consumer.connect();
  await consumer.subscribe({ topic: "metrics-c", fromBeginning: true });
  const committed = Promise.withResolvers<void>();
  let done = false;
  await consumer.run({
    autoCommit: false,
    eachMessage: async ({ message }) => {
      if (done || Number(message.offset) !== COMMITTED - 1) return;
      done = true;
      await consumer.commitOffsets([{ topic: "metrics-c", partition: 0, offset: String(COMMITTED) }]);
      committed.resolve();
    },
  });
  const timeout = setTimeout(() => committed.reject(new Error("the group did not reach offset 12 in 60 s")), 60_000);
  await committed.promise.finally(() => clearTimeout(timeout));
  await consumer.disconnect();
}, 180_000);

afterAll(async () => {
  await broker.stop();
  await broker.cleanup();
});

test("bytes and records in, log end offsets, group lag and under-replicated partitions", async () => {
  const families = await scrape(adminUrl);
  for (const [topic, count] of Object.entries(topics)) {
    const labels = { topic, partition: "0" };
    const storedBytes = storedBatches(join(broker.dataDir, `${topic}-0`)).reduce((sum, batch) => sum + batch.sizeBytes, 0);
    expect(storedBytes).toBeGreaterThan(0);
    expect(sample(families, "bunka_partition_bytes_in_total", labels)).toBe(storedBytes);
    expect(sample(families, "bunka_partition_records_in_total", labels)).toBe(count);
    expect(sample(families, "bunka_partition_log_end_offset", labels)).toBe(count);
    expect(sample(families, "bunka_partition_high_watermark", labels)).toBe(count);
    expect(sample(families, "bunka_partition_log_start_offset", labels)).toBe(0);
    expect(sample(families, "bunka_partition_log_segments", labels)).toBe(1);
  }
  expect(sample(families, "bunka_group_committed_offset", { group: "lagging-group", topic: "metrics-c", partition: "0" })).toBe(COMMITTED);
  expect(sample(families, "bunka_group_lag", { group: "lagging-group", topic: "metrics-c", partition: "0" })).toBe(30 - COMMITTED);
  expect(sample(families, "bunka_group_members", { group: "lagging-group" })).toBe(0);
  expect(sample(families, "bunka_group_state", { group: "lagging-group", state: "Empty" })).toBe(1);
  expect(sample(families, "bunka_under_replicated_partitions")).toBe(0);
  expect(sample(families, "bunka_offline_partitions")).toBe(0);
  expect(sample(families, "bunka_active_controller")).toBe(1);
  expect(sample(families, "bunka_ready")).toBe(1);
  // The group's consumer fetched metrics-c: its bytes went out.
  expect(sample(families, "bunka_partition_bytes_out_total", { topic: "metrics-c", partition: "0" })).toBeGreaterThan(0);
  // Requests are counted per API in the latency histogram. (parse-prometheus-text-format 1.1.1 merges the
  // label sets of a labelled histogram into one, so only the family and a non-empty +Inf bucket are checked.)
  const histogram = families.find((family) => family.name === "bunka_request_duration_seconds");
  expect(histogram?.type).toBe("HISTOGRAM");
  expect(Number(histogram!.metrics[0]?.buckets?.["+Inf"])).toBeGreaterThan(0);
  expect(sample(families, "bunka_process_resident_memory_bytes")).toBeGreaterThan(0);
  // Thread CPU from /proc: the socket thread and the partition workers (num.partition.workers, default = cores).
  const threads = families.find((family) => family.name === "bunka_thread_cpu_seconds_total")!.metrics;
  expect(threads.filter((metric) => metric.labels?.thread === "socket")).toHaveLength(1);
  expect(threads.filter((metric) => metric.labels?.thread === "worker").length).toBeGreaterThanOrEqual(1);
  expect(Number(threads.find((metric) => metric.labels?.thread === "socket")!.value)).toBeGreaterThan(0);
  const flushes = families.find((family) => family.name === "bunka_log_flush_duration_seconds");
  expect(flushes?.type).toBe("HISTOGRAM");
  expect(Number(flushes!.metrics[0]?.count)).toBeGreaterThan(0);
  expect(Number(flushes!.metrics[0]?.buckets?.["+Inf"])).toBe(Number(flushes!.metrics[0]?.count));
}, 60_000);

/** `name{api="Produce"} value` lines of a labelled histogram, read from the text (the parser merges their labels). */
function apiSamples(text: string, name: string, api: string): number | undefined {
  const line = text.split("\n").find((candidate) => candidate.startsWith(`${name}{api="${api}"}`));
  return line === undefined ? undefined : Number(line.slice(line.lastIndexOf(" ") + 1));
}

test("queue time and response send time per API next to the total; ISR and election counters", async () => {
  const text = await (await fetch(`${adminUrl}/metrics`)).text();
  // kcat's produce requests (acks=all) all ran a handler and were answered by the time the test scrapes.
  const produced = apiSamples(text, "bunka_request_duration_seconds_count", "Produce");
  expect(produced).toBeGreaterThanOrEqual(3);
  expect(apiSamples(text, "bunka_request_queue_duration_seconds_count", "Produce")).toBe(produced!);
  expect(apiSamples(text, "bunka_response_send_duration_seconds_count", "Produce")).toBe(produced!);
  expect(apiSamples(text, "bunka_response_send_duration_seconds_count", "Metadata")).toBe(apiSamples(text, "bunka_request_duration_seconds_count", "Metadata")!);
  // The wait before the handler is part of the dispatch-to-answer total.
  expect(apiSamples(text, "bunka_request_queue_duration_seconds_sum", "Produce")!).toBeLessThanOrEqual(apiSamples(text, "bunka_request_duration_seconds_sum", "Produce")!);
  const families = await scrape(adminUrl);
  for (const family of ["bunka_request_queue_duration_seconds", "bunka_response_send_duration_seconds"]) expect(families.find((candidate) => candidate.name === family)?.type).toBe("HISTOGRAM");
  // A single broker: nothing shrinks, expands or is elected by a controller; it is its own controller.
  expect(sample(families, "bunka_isr_shrinks_total")).toBe(0);
  expect(sample(families, "bunka_isr_expands_total")).toBe(0);
  expect(sample(families, "bunka_leader_elections_total")).toBe(0);
  expect(sample(families, "bunka_unclean_leader_elections_total")).toBe(0);
  expect(sample(families, "bunka_controller_id")).toBe(1);
}, 60_000);

test("OpenMetrics when the Accept header asks for it", async () => {
  const response = await fetch(`${adminUrl}/metrics`, { headers: { accept: "application/openmetrics-text; version=1.0.0" } });
  expect(response.headers.get("content-type")).toContain("application/openmetrics-text");
  const text = await response.text();
  expect(text.trimEnd().endsWith("# EOF")).toBe(true);
  expect(text).toContain('bunka_partition_records_in_total{topic="metrics-b",partition="0"} 20');
  // The plain format after an OpenMetrics scrape still names counters with _total.
  const families = await scrape(adminUrl);
  expect(sample(families, "bunka_partition_records_in_total", { topic: "metrics-b", partition: "0" })).toBe(20);
});
