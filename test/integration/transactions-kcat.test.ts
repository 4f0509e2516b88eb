// librdkafka's transactional producer (librdkafka 2.0.2, from Debian) against a real broker process:
// `kcat -P -X transactional.id=...` (kcat 1.7.1) sends its whole input in one transaction across the topic's
// partitions, committed at the end of its input. kcat cannot abort on purpose (on SIGINT it stays blocked
// reading its input), so aborts come from a small C program against librdkafka's transactional API
// (test/helpers/rdkafka-txn.c, compiled here; scripts/setup.sh installs librdkafka-dev). A kcat
// read_committed reader sees only the committed records; a read_uncommitted reader sees both and nothing
// else (no control record shows up as data); the log ends with the markers (LSO = high watermark).
import { afterAll, beforeAll, expect, test } from "bun:test";
import { KafkaConnection } from "../../src/client/kafka-connection.ts";
import { ErrorCode } from "../../src/protocol/errors.ts";
import { ApiKey } from "../../src/protocol/generated/index.ts";
import { rmSync } from "node:fs";
import * as path from "node:path";
import { BrokerProcess, tempDir } from "../helpers/broker-process.ts";
import { kcat, kcatConsumeAll } from "../helpers/kcat.ts";
import { run } from "../helpers/run.ts";
import { waitForTransactionState } from "../helpers/transactions.ts";

const TOPIC = "kcat-txn";
const PARTITIONS = 3;
const COMMITTED = 300;
const ABORTED = 200;

const buildDir = tempDir("rdkafka-txn");
const rdkafkaTxn = path.join(buildDir, "rdkafka-txn");
let broker: BrokerProcess;
let connection: KafkaConnection;

beforeAll(async () => {
  const built = await run(["cc", "-O1", "-o", rdkafkaTxn, path.resolve(import.meta.dir, "../helpers/rdkafka-txn.c"), "-lrdkafka"], { timeoutMs: 60_000 });
  if (built.exitCode !== 0) throw new Error(`compiling rdkafka-txn.c (scripts/setup.sh installs librdkafka-dev): ${built.stderr}`);
  broker = new BrokerProcess({ properties: { "transaction.state.log.num.partitions": "4", "offsets.topic.num.partitions": "4" } });
  await broker.start();
  connection = await KafkaConnection.connect({ host: "127.0.0.1", port: broker.port });
  const created = await connection.request(ApiKey.CreateTopics, 7, { topics: [{ name: TOPIC, numPartitions: PARTITIONS, replicationFactor: 1 }], timeoutMs: 5000 });
  expect(created.topics[0].errorCode).toBe(ErrorCode.NONE);
}, 60_000);

afterAll(async () => {
  connection?.close();
  await broker?.cleanup();
  rmSync(buildDir, { recursive: true, force: true });
});

/** ListOffsets latest per partition: isolation 1 answers the last stable offsets, 0 the high watermarks. */
async function latestOffsets(isolationLevel: number): Promise<number[]> {
  const response = await connection.request(ApiKey.ListOffsets, 5, {
    replicaId: -1,
    isolationLevel,
    topics: [{ name: TOPIC, partitions: Array.from({ length: PARTITIONS }, (_, partitionIndex) => ({ partitionIndex, currentLeaderEpoch: -1, timestamp: -1 })) }],
  });
  return response.topics[0].partitions.sort((a: { partitionIndex: number }, b: { partitionIndex: number }) => a.partitionIndex - b.partitionIndex).map((p: { offset: bigint | number }) => Number(p.offset));
}

async function transactionState(transactionalId: string): Promise<string> {
  const response = await connection.request(ApiKey.DescribeTransactions, 0, { transactionalIds: [transactionalId] });
  return response.transactionStates[0].errorCode === ErrorCode.NONE ? response.transactionStates[0].transactionState : "";
}

async function waitForState(transactionalId: string, state: string): Promise<void> {
  await waitForTransactionState(() => transactionState(transactionalId), transactionalId, state);
}

const values = (prefix: string, count: number): string[] => Array.from({ length: count }, (_, n) => `${prefix}-${n}`);
const sum = (values: number[]): number => values.reduce((total, value) => total + value, 0);

test("kcat commits its input as one transaction; read_committed readers see it once the markers are written", async () => {
  const input = Array.from({ length: COMMITTED }, (_, n) => `committed-${n}`).join("\n") + "\n";
  const produced = await kcat(broker.bootstrap, ["-P", "-t", TOPIC, "-X", "transactional.id=kcat-commit"], { input, timeoutMs: 60_000 });
  expect(produced.exitCode).toBe(0);
  await waitForState("kcat-commit", "CompleteCommit");
  const highWatermarks = await latestOffsets(0);
  expect(await latestOffsets(1)).toEqual(highWatermarks);
  // Every record plus one COMMIT marker per partition the transaction wrote to.
  expect(sum(highWatermarks)).toBeGreaterThan(COMMITTED);
  expect(sum(highWatermarks)).toBeLessThanOrEqual(COMMITTED + PARTITIONS);
});

test("a librdkafka program aborts a transaction it flushed: read_committed sees only the committed records, read_uncommitted both", async () => {
  const before = sum(await latestOffsets(0));
  const aborted = await run([rdkafkaTxn, broker.bootstrap, TOPIC, "rdkafka-abort", "abort", String(ABORTED), "aborted"], { timeoutMs: 60_000 });
  expect(aborted.stderr).toBe("");
  expect(aborted.stdout).toBe(`flushed ${ABORTED}\naborted\n`);
  await waitForState("rdkafka-abort", "CompleteAbort");
  // The records and one ABORT marker per partition are in the log; the LSO is past them.
  const highWatermarks = await latestOffsets(0);
  expect(sum(highWatermarks) - before).toBeGreaterThan(ABORTED);
  expect(await latestOffsets(1)).toEqual(highWatermarks);

  // librdkafka committing after the abort, with the same transactional id (the next epoch).
  const committed = await run([rdkafkaTxn, broker.bootstrap, TOPIC, "rdkafka-abort", "commit", String(COMMITTED), "rdkafka-committed"], { timeoutMs: 60_000 });
  expect(committed.exitCode).toBe(0);
  expect(committed.stdout).toBe(`flushed ${COMMITTED}\ncommitted\n`);
  await waitForState("rdkafka-abort", "CompleteCommit");
  expect(await latestOffsets(1)).toEqual(await latestOffsets(0));

  const committedValues = [...values("committed", COMMITTED), ...values("rdkafka-committed", COMMITTED)];
  const readCommitted = await kcatConsumeAll(broker.bootstrap, TOPIC, "%s\n", ["-X", "isolation.level=read_committed"]);
  expect(readCommitted.sort()).toEqual([...committedValues].sort());
  const readUncommitted = await kcatConsumeAll(broker.bootstrap, TOPIC, "%s\n", ["-X", "isolation.level=read_uncommitted"]);
  expect(readUncommitted.sort()).toEqual([...committedValues, ...values("aborted", ABORTED)].sort());
  // Per partition, in offset order, read_committed is read_uncommitted without the aborted records.
  for (let partition = 0; partition < PARTITIONS; partition++) {
    const committedHere = await kcatConsumeAll(broker.bootstrap, TOPIC, "%s\n", ["-p", String(partition), "-X", "isolation.level=read_committed"]);
    const allHere = await kcatConsumeAll(broker.bootstrap, TOPIC, "%s\n", ["-p", String(partition), "-X", "isolation.level=read_uncommitted"]);
    expect(committedHere).toEqual(allHere.filter((value) => !value.startsWith("aborted-")));
  }
}, 120_000);
