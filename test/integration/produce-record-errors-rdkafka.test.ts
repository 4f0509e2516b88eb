// KIP-467 per-record errors with real librdkafka producers (test/helpers/rdkafka-record-errors.c, compiled here):
// one batch to a compacted topic where some records have no key. Kafka (and Bunka) drop the whole batch but name
// the failing records in Produce v8+'s record_errors. librdkafka 2.4+ (here 2.15.1, the one
// @confluentinc/kafka-javascript builds: scripts/install-kafka-javascript.sh) reads them
// (rd_kafka_msgbatch_handle_Produce_result_record_errors): the keyless records fail with INVALID_RECORD, the
// others with the local _INVALID_DIFFERENT_RECORD ("part of a batch which had one more more invalid records",
// sic), so the application knows which records to fix and which to send again, and the resent keyed records
// are stored. The broker's reason for each named record reaches librdkafka but not the application: librdkafka
// leaves the record's error string pointing into a Produce result it has freed by the time the delivery report
// runs (see the C program), so it is not asserted here; test/integration/produce-record-errors.test.ts checks
// the reason on the wire. librdkafka 2.0.2 (Debian's, kcat's) stops at Produce v7: every record of the batch
// fails with INVALID_RECORD, none named.
import { afterAll, beforeAll, expect, test } from "bun:test";
import { rmSync } from "node:fs";
import path from "node:path";
import { KafkaConnection } from "../../src/client/kafka-connection.ts";
import { ErrorCode } from "../../src/protocol/errors.ts";
import { ApiKey } from "../../src/protocol/generated/index.ts";
import { BrokerProcess, tempDir } from "../helpers/broker-process.ts";
import { run } from "../helpers/run.ts";
import { awaitKafkaJavascript, KAFKA_JAVASCRIPT_NODE_PATH, kafkaJavascriptExpected } from "../helpers/kafka-javascript.ts";

const TOPIC = "rdkafka-record-errors";
const SOURCE = path.resolve(import.meta.dir, "../helpers/rdkafka-record-errors.c");
/** librdkafka 2.15.1 as @confluentinc/kafka-javascript builds it (CKJS_LINKING=dynamic; setup.sh, in the background). */
const LIBRDKAFKA_2_15 = path.join(KAFKA_JAVASCRIPT_NODE_PATH, "@confluentinc/kafka-javascript/build/deps");
const KEYLESS_REASON = "Compacted topic cannot accept message without key";

const buildDir = tempDir("rdkafka-record-errors");
const debianProducer = path.join(buildDir, "record-errors-2.0.2");
const newProducer = path.join(buildDir, "record-errors-2.15");
let broker: BrokerProcess;
let connection: KafkaConnection;

beforeAll(async () => {
  const built = await run(["cc", "-O1", "-o", debianProducer, SOURCE, "-lrdkafka"], { timeoutMs: 60_000 });
  if (built.exitCode !== 0) throw new Error(`compiling rdkafka-record-errors.c (scripts/setup.sh installs librdkafka-dev): ${built.stderr}`);
  broker = new BrokerProcess();
  await broker.start();
  connection = await KafkaConnection.connect({ host: "127.0.0.1", port: broker.port });
  const created = await connection.request(ApiKey.CreateTopics, 7, {
    topics: [{ name: TOPIC, numPartitions: 1, replicationFactor: 1, assignments: [], configs: [{ name: "cleanup.policy", value: "compact" }] }],
    timeoutMs: 5000,
  });
  expect(created.topics[0].errorCode).toBe(ErrorCode.NONE);
}, 120_000);

afterAll(async () => {
  connection?.close();
  await broker?.cleanup();
  rmSync(buildDir, { recursive: true, force: true });
});

interface Report {
  index: number;
  error: string;
  offset: number;
  reason: string;
}

/** Runs the producer and parses its delivery reports (one per record, in record order) and librdkafka's version. */
async function produceOneBatch(binary: string, records: string[]): Promise<{ reports: Report[]; version: string }> {
  const result = await run([binary, `127.0.0.1:${broker.port}`, TOPIC, ...records], { timeoutMs: 90_000 });
  if (result.exitCode !== 0) throw new Error(`${path.basename(binary)} exited ${result.exitCode}: ${result.stderr}`);
  const lines = result.stdout.trim().split("\n");
  const version = lines.pop()!.replace(/^librdkafka /, "");
  const reports = lines.map((line) => {
    const [, index, error, offset, reason] = /^dr (\d+) (\S+) (-?\d+) ?(.*)$/.exec(line)!;
    return { index: Number(index), error: error!, offset: Number(offset), reason: reason! };
  });
  return { reports, version };
}

async function highWatermark(): Promise<number> {
  const response = await connection.request(ApiKey.ListOffsets, 5, { replicaId: -1, isolationLevel: 0, topics: [{ name: TOPIC, partitions: [{ partitionIndex: 0, currentLeaderEpoch: -1, timestamp: -1 }] }] });
  return Number(response.topics[0].partitions[0].offset);
}

test.skipIf(!kafkaJavascriptExpected())("librdkafka 2.15 (Produce v10): only the keyless records fail as invalid; the others are collateral and, sent again, stored", async () => {
  await awaitKafkaJavascript(); // setup.sh builds it in the background
  const linked = await run(["cc", "-O1", "-o", newProducer, `-I${LIBRDKAFKA_2_15}/include`, SOURCE, `-L${LIBRDKAFKA_2_15}`, "-lrdkafka", `-Wl,-rpath,${LIBRDKAFKA_2_15}`], { timeoutMs: 60_000 });
  if (linked.exitCode !== 0) throw new Error(`compiling rdkafka-record-errors.c against librdkafka 2.15: ${linked.stderr}`);
  const before = await highWatermark();
  const { reports, version } = await produceOneBatch(newProducer, ["k0=kept-0", "-=no-key-1", "k2=kept-2", "-=no-key-3"]);
  expect(version).toStartWith("2.15");
  expect(reports.map((report) => report.error)).toEqual(["_INVALID_DIFFERENT_RECORD", "INVALID_RECORD", "_INVALID_DIFFERENT_RECORD", "INVALID_RECORD"]);
  expect(reports[0]!.reason).toContain("part of a batch which had one more more invalid records");
  expect(reports[2]!.reason).toContain("part of a batch which had one more more invalid records");
  expect([reports[1]!.reason, reports[3]!.reason]).toEqual(["-", "-"]);
  // Kafka drops the batch whole: nothing was stored.
  expect(await highWatermark()).toBe(before);

  // The application resends only the records librdkafka did not call invalid: all stored.
  const resent = await produceOneBatch(newProducer, ["k0=kept-0", "k2=kept-2"]);
  expect(resent.reports.map((report) => [report.error, report.offset])).toEqual([
    ["NO_ERROR", before],
    ["NO_ERROR", before + 1],
  ]);
  expect(await highWatermark()).toBe(before + 2);

  // A single invalid record: librdkafka forces the partition's code (INVALID_RECORD) onto every record of the
  // batch (rd_kafka_dr_msgq0 passes it to rd_kafka_interceptors_on_acknowledgement_queue unless more than one
  // record is named); only the error string tells the collateral record from the named one, and the named
  // one's string is the freed one the C program does not read, so neither is read here.
  const single = await produceOneBatch(newProducer, ["k4=kept-4", "-=no-key-5"]);
  expect(single.reports.map((report) => report.error)).toEqual(["INVALID_RECORD", "INVALID_RECORD"]);
  expect(await highWatermark()).toBe(before + 2);
}, 900_000);

test("librdkafka 2.0.2 (Produce v7, no record_errors): every record of the batch fails with INVALID_RECORD", async () => {
  const before = await highWatermark();
  const { reports, version } = await produceOneBatch(debianProducer, ["k0=kept-0", "-=no-key-1", "k2=kept-2"]);
  expect(version).toStartWith("2.0.2");
  expect(reports.map((report) => report.error)).toEqual(["INVALID_RECORD", "INVALID_RECORD", "INVALID_RECORD"]);
  expect(reports.every((report) => report.reason !== KEYLESS_REASON)).toBe(true);
  expect(await highWatermark()).toBe(before);
}, 180_000);
