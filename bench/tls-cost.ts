// What TLS costs (issue 10): the same broker, a PLAINTEXT and an SSL listener side by side, the same client code
// (src/client/kafka-connection.ts) on each: produce of 1 KiB records in 1 MiB batches (acks=1, 8 requests in
// flight) and catch-up fetches of 1 MiB (4 in flight), alternating listeners, rounds of a few seconds.
//   bun bench/tls-cost.ts [--seconds N] [--rounds N]
// Prints one JSON line per measurement and a summary; figures go into BENCHMARKS.md by hand (bench/analysis.md).
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { parseArgs } from "node:util";
import { KafkaConnection, type KafkaConnectionTls } from "../src/client/kafka-connection.ts";
import { ApiKey } from "../src/protocol/generated/index.ts";
import { buildBatch } from "../src/records/compression.ts";
import { BenchBroker, freePort } from "./broker-process.ts";

const { values } = parseArgs({ options: { seconds: { type: "string", default: "3" }, rounds: { type: "string", default: "3" } } });
const seconds = Number(values.seconds);
const rounds = Number(values.rounds);
const RECORD_BYTES = 1024;
const BATCH_RECORDS = 1000;
const PRODUCE_IN_FLIGHT = 8;
const FETCH_IN_FLIGHT = 4;
const FETCH_BYTES = 1 << 20;

const workDir = mkdtempSync(join(tmpdir(), "bunka-tls-cost-"));
const certsDir = join(workDir, "certs");
const certs = Bun.spawnSync(["sh", resolve(import.meta.dir, "../scripts/dev-certs.sh"), certsDir], { stdout: "ignore", stderr: "pipe" });
if (certs.exitCode !== 0) throw new Error(`dev-certs.sh failed: ${certs.stderr.toString()}`);
const sslPort = freePort();
const broker = new BenchBroker({ workDir });
(broker.options as { properties?: Record<string, string> }).properties = {
  listeners: `PLAINTEXT://127.0.0.1:${broker.port},SSL://127.0.0.1:${sslPort}`,
  "ssl.keystore.location": join(certsDir, "broker-keystore.pem"),
};
const tls: KafkaConnectionTls = { ca: await Bun.file(join(certsDir, "ca.pem")).text() };
const listeners = [
  { name: "PLAINTEXT", port: broker.port, tls: undefined },
  { name: "SSL", port: sslPort, tls },
] as const;

const value = new Uint8Array(RECORD_BYTES).fill(0x61);
const batch = buildBatch({ records: Array.from({ length: BATCH_RECORDS }, () => ({ key: null, value })) });

async function produceRate(listener: (typeof listeners)[number], topic: string): Promise<number> {
  const connection = await KafkaConnection.connect({ host: "127.0.0.1", port: listener.port, tls: listener.tls, requestTimeoutMs: 30_000 });
  let bytes = 0;
  const started = performance.now();
  const deadline = started + seconds * 1000;
  const send = async (): Promise<void> => {
    // Bounded by the deadline.
    while (performance.now() < deadline) {
      const response = await connection.request(ApiKey.Produce, 7, { acks: 1, timeoutMs: 30_000, topicData: [{ name: topic, partitionData: [{ index: 0, records: batch }] }] });
      if (response.responses[0].partitionResponses[0].errorCode !== 0) throw new Error(`produce error ${response.responses[0].partitionResponses[0].errorCode}`);
      bytes += batch.byteLength;
    }
  };
  await Promise.all(Array.from({ length: PRODUCE_IN_FLIGHT }, send));
  const elapsed = (performance.now() - started) / 1000;
  connection.close();
  return bytes / elapsed;
}

async function fetchRate(listener: (typeof listeners)[number], topic: string, endOffset: number): Promise<number> {
  const connection = await KafkaConnection.connect({ host: "127.0.0.1", port: listener.port, tls: listener.tls, requestTimeoutMs: 30_000 });
  let bytes = 0;
  let nextOffset = 0;
  const started = performance.now();
  const deadline = started + seconds * 1000;
  const fetchLoop = async (): Promise<void> => {
    // Bounded by the deadline; each loop reads from its own next offset, wrapping at the end of the data.
    while (performance.now() < deadline) {
      const offset = nextOffset;
      nextOffset = nextOffset + BATCH_RECORDS >= endOffset ? 0 : nextOffset + BATCH_RECORDS;
      const response = await connection.request(ApiKey.Fetch, 11, { replicaId: -1, maxWaitMs: 0, minBytes: 0, maxBytes: FETCH_BYTES, isolationLevel: 0, topics: [{ topic, partitions: [{ partition: 0, fetchOffset: offset, partitionMaxBytes: FETCH_BYTES }] }] });
      const records = response.responses[0].partitions[0].records as Uint8Array | null;
      bytes += records?.byteLength ?? 0;
    }
  };
  await Promise.all(Array.from({ length: FETCH_IN_FLIGHT }, fetchLoop));
  const elapsed = (performance.now() - started) / 1000;
  connection.close();
  return bytes / elapsed;
}

await broker.start();
const results: { what: string; listener: string; round: number; bytesPerSecond: number }[] = [];
try {
  for (let round = 0; round < rounds; round++) {
    for (const listener of round % 2 === 0 ? listeners : [...listeners].reverse()) {
      const topic = `tls-cost-${listener.name}-${round}`;
      await broker.createTopic(topic, 1);
      const produced = await produceRate(listener, topic);
      results.push({ what: "produce", listener: listener.name, round, bytesPerSecond: produced });
      console.log(JSON.stringify(results[results.length - 1]));
      // Catch-up fetch of what was just produced (page cache).
      const endOffset = Math.floor((produced * seconds) / batch.byteLength) * BATCH_RECORDS;
      const fetched = await fetchRate(listener, topic, endOffset);
      results.push({ what: "fetch", listener: listener.name, round, bytesPerSecond: fetched });
      console.log(JSON.stringify(results[results.length - 1]));
      await broker.deleteTopic(topic);
    }
  }
} finally {
  await broker.stop();
  rmSync(workDir, { recursive: true, force: true });
}
const median = (numbers: number[]): number => [...numbers].sort((a, b) => a - b)[Math.floor(numbers.length / 2)]!;
for (const what of ["produce", "fetch"]) {
  const plain = median(results.filter((each) => each.what === what && each.listener === "PLAINTEXT").map((each) => each.bytesPerSecond));
  const ssl = median(results.filter((each) => each.what === what && each.listener === "SSL").map((each) => each.bytesPerSecond));
  console.log(`${what}: PLAINTEXT ${(plain / 1e6).toFixed(0)} MB/s, SSL ${(ssl / 1e6).toFixed(0)} MB/s (${((100 * ssl) / plain).toFixed(0)}%), median of ${rounds}`);
}
process.exit(0);
