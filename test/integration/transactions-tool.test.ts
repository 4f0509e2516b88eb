// `bun run transactions` (src/tools/transactions.ts) against a real broker process. A hanging transaction is
// made the way one arises for real with KIP-890 in place (a transactional batch can no longer open one
// behind the coordinator's back): a transaction is opened properly, then the broker is SIGKILLed and its
// __transaction_state partitions are lost, so the partition leader recovers the open transaction from its
// log while no coordinator knows it. find-hanging lists it (and not a live transaction the coordinator
// holds), abort writes the ABORT marker, and the last stable offset reaches the log end.
import { afterAll, beforeAll, expect, test } from "bun:test";
import { readdirSync, rmSync } from "node:fs";
import * as path from "node:path";
import { KafkaConnection } from "../../src/client/kafka-connection.ts";
import { ErrorCode } from "../../src/protocol/errors.ts";
import { ApiKey } from "../../src/protocol/generated/index.ts";
import { buildBatch } from "../../src/records/compression.ts";
import { BrokerProcess } from "../helpers/broker-process.ts";
import { kcatConsumeAll } from "../helpers/kcat.ts";
import { run } from "../helpers/run.ts";

const TOPIC = "tool-data";
const MAX_TIMEOUT_MS = 60_000;
const RETRIES_MAX = 100;
const RETRIABLE = new Set<number>([ErrorCode.COORDINATOR_LOAD_IN_PROGRESS, ErrorCode.COORDINATOR_NOT_AVAILABLE, ErrorCode.NOT_COORDINATOR, ErrorCode.CONCURRENT_TRANSACTIONS, ErrorCode.NOT_ENOUGH_REPLICAS]);
const TOOL = path.resolve(import.meta.dir, "../../src/tools/transactions.ts");

let broker: BrokerProcess;
let connection: KafkaConnection;
/** Where the hanging transaction starts on partition 0. */
let hangingStart = -1;
let hangingProducerId = -1;

interface Producer {
  transactionalId: string;
  id: number;
  epoch: number;
}

async function retrying<T extends { errorCode: number }>(call: () => Promise<T>): Promise<T> {
  let last: T | undefined;
  for (let attempt = 0; attempt < RETRIES_MAX; attempt++) {
    last = await call();
    if (!RETRIABLE.has(last.errorCode)) return last;
    await Bun.sleep(100);
  }
  return last!;
}

/** InitProducerId, AddPartitionsToTxn for `partition`, then one transactional batch there: an open transaction. */
async function openTransaction(transactionalId: string, partition: number, values: string[]): Promise<Producer & { baseOffset: number }> {
  const init = await retrying(async () => connection.request(ApiKey.InitProducerId, 1, { transactionalId, transactionTimeoutMs: MAX_TIMEOUT_MS }));
  expect(init.errorCode).toBe(ErrorCode.NONE);
  const producer = { transactionalId, id: Number(init.producerId), epoch: init.producerEpoch };
  const added = await retrying(async () => {
    const response = await connection.request(ApiKey.AddPartitionsToTxn, 3, {
      transactions: [],
      v3AndBelowTransactionalId: transactionalId,
      v3AndBelowProducerId: producer.id,
      v3AndBelowProducerEpoch: producer.epoch,
      v3AndBelowTopics: [{ name: TOPIC, partitions: [partition] }],
    });
    return { errorCode: response.resultsByTopicV3AndBelow[0].resultsByPartition[0].partitionErrorCode as number };
  });
  expect(added.errorCode).toBe(ErrorCode.NONE);
  const records = buildBatch({ producerId: producer.id, producerEpoch: producer.epoch, baseSequence: 0, isTransactional: true, records: values.map((value) => ({ key: null, value })) });
  const produced = await retrying(async () => {
    const response = await connection.request(ApiKey.Produce, 7, { transactionalId, acks: -1, timeoutMs: 5000, topicData: [{ name: TOPIC, partitionData: [{ index: partition, records }] }] });
    const reply = response.responses[0].partitionResponses[0];
    return { errorCode: reply.errorCode as number, baseOffset: Number(reply.baseOffset) };
  });
  expect(produced.errorCode).toBe(ErrorCode.NONE);
  return { ...producer, baseOffset: produced.baseOffset };
}

async function producePlain(partition: number, values: string[]): Promise<void> {
  const records = buildBatch({ records: values.map((value) => ({ key: null, value })) });
  const response = await connection.request(ApiKey.Produce, 7, { transactionalId: null, acks: -1, timeoutMs: 5000, topicData: [{ name: TOPIC, partitionData: [{ index: partition, records }] }] });
  expect(response.responses[0].partitionResponses[0].errorCode).toBe(ErrorCode.NONE);
}

async function latestOffset(partition: number, isolationLevel: number): Promise<number> {
  const response = await connection.request(ApiKey.ListOffsets, 5, { replicaId: -1, isolationLevel, topics: [{ name: TOPIC, partitions: [{ partitionIndex: partition, currentLeaderEpoch: -1, timestamp: -1 }] }] });
  expect(response.topics[0].partitions[0].errorCode).toBe(ErrorCode.NONE);
  return Number(response.topics[0].partitions[0].offset);
}

async function tool(...args: string[]): Promise<{ exitCode: number; stdout: string; stderr: string }> {
  const result = await run([process.execPath, TOOL, "--bootstrap-server", broker.bootstrap, ...args], { timeoutMs: 60_000 });
  expect(result.timedOut).toBe(false);
  return result;
}

beforeAll(async () => {
  broker = new BrokerProcess({
    properties: {
      "transaction.state.log.num.partitions": "2",
      "offsets.topic.num.partitions": "2",
      "transaction.max.timeout.ms": String(MAX_TIMEOUT_MS),
      "num.partitions": "2",
    },
  });
  await broker.start();
  connection = await KafkaConnection.connect({ host: "127.0.0.1", port: broker.port });
  const created = await connection.request(ApiKey.CreateTopics, 7, { topics: [{ name: TOPIC, numPartitions: 2, replicationFactor: 1 }], timeoutMs: 5000 });
  expect(created.topics[0].errorCode).toBe(ErrorCode.NONE);

  await producePlain(0, ["before-1", "before-2"]);
  const hanging = await openTransaction("lost-coordinator-state", 0, ["hanging-1", "hanging-2"]);
  hangingStart = hanging.baseOffset;
  hangingProducerId = hanging.id;
  await producePlain(0, ["after"]);
  expect(await latestOffset(0, 1)).toBe(hangingStart);

  // The coordinator's state is lost: SIGKILL, and every __transaction_state partition removed from disk.
  connection.close();
  await broker.kill();
  const stateDirs = readdirSync(broker.dataDir).filter((name) => name.startsWith("__transaction_state-"));
  expect(stateDirs.length).toBeGreaterThan(0);
  for (const name of stateDirs) rmSync(path.join(broker.dataDir, name), { recursive: true, force: true });
  await broker.start();
  connection = await KafkaConnection.connect({ host: "127.0.0.1", port: broker.port });
}, 120_000);

afterAll(async () => {
  connection?.close();
  await broker?.cleanup();
});

test("after the coordinator's state was lost, the partition still holds the open transaction: its LSO is stuck at its first offset", async () => {
  expect(await latestOffset(0, 1)).toBe(hangingStart);
  expect(await latestOffset(0, 0)).toBe(hangingStart + 3);
  const listed = await tool("list", "--json");
  expect(listed.exitCode).toBe(0);
  expect(JSON.parse(listed.stdout).map((t: { transactionalId: string }) => t.transactionalId)).not.toContain("lost-coordinator-state");
});

test("describe-producers and describe show a live transaction; list names it", async () => {
  const live = await openTransaction("live-transaction", 1, ["live-1"]);
  const producers = await tool("describe-producers", "--topic", TOPIC, "--partition", "1", "--json");
  expect(producers.exitCode).toBe(0);
  const states = JSON.parse(producers.stdout) as { producerId: number; currentTransactionStartOffset: number }[];
  expect(states.find((p) => p.producerId === live.id)?.currentTransactionStartOffset).toBe(live.baseOffset);

  const described = await tool("describe", "--transactional-id", "live-transaction", "--json");
  expect(described.exitCode).toBe(0);
  const description = JSON.parse(described.stdout);
  expect(description).toMatchObject({ transactionalId: "live-transaction", producerId: live.id, producerEpoch: live.epoch, state: "Ongoing", timeoutMs: MAX_TIMEOUT_MS, partitions: [{ topic: TOPIC, partition: 1 }] });

  const table = await tool("list");
  expect(table.exitCode).toBe(0);
  expect(table.stdout).toMatch(/TRANSACTIONAL-ID\s+COORDINATOR\s+PRODUCER-ID\s+STATE/);
  expect(table.stdout).toMatch(new RegExp(`live-transaction\\s+\\d+\\s+${live.id}\\s+Ongoing`));

  const unknown = await tool("describe", "--transactional-id", "never-used");
  expect(unknown.exitCode).toBe(1);
  expect(unknown.stderr).toContain("TRANSACTIONAL_ID_NOT_FOUND");
});

test("find-hanging lists only the transaction no coordinator knows, and only once it is older than the threshold", async () => {
  // Younger than transaction.max.timeout.ms (the default threshold, read from the broker): not a candidate yet.
  const young = await tool("find-hanging", "--topic", TOPIC, "--json");
  expect(young.exitCode).toBe(0);
  expect(JSON.parse(young.stdout)).toEqual([]);

  await Bun.sleep(50);
  const byTopic = await tool("find-hanging", "--topic", TOPIC, "--max-transaction-timeout-ms", "1", "--json");
  expect(byTopic.exitCode).toBe(0);
  const hanging = JSON.parse(byTopic.stdout) as { topic: string; partition: number; producerId: number; currentTransactionStartOffset: number; transactionalId: string | null }[];
  // The live transaction on partition 1 is open too, but its coordinator holds it with that partition.
  expect(hanging).toHaveLength(1);
  expect(hanging[0]).toMatchObject({ topic: TOPIC, partition: 0, producerId: hangingProducerId, currentTransactionStartOffset: hangingStart, transactionalId: null });

  const metadata = await connection.request(ApiKey.Metadata, 7, { topics: [], allowAutoTopicCreation: false });
  const byBroker = await tool("find-hanging", "--broker-id", String(metadata.brokers[0].nodeId), "--max-transaction-timeout-ms", "1");
  expect(byBroker.stderr).toBe("");
  expect(byBroker.exitCode).toBe(0);
  expect(byBroker.stdout).toMatch(new RegExp(`${TOPIC}\\s+0\\s+${hangingProducerId}\\s+\\d+\\s+-?\\d+\\s+${hangingStart}\\s`));
  expect(byBroker.stdout).not.toContain("live-transaction");

  const usage = await tool("find-hanging", "--partition", "0");
  expect(usage.exitCode).toBe(1);
  expect(usage.stderr).toContain("--topic");
});

test("abort with a start offset no open transaction has is refused; the right one aborts it and the LSO reaches the log end", async () => {
  const wrong = await tool("abort", "--topic", TOPIC, "--partition", "0", "--start-offset", String(hangingStart + 1));
  expect(wrong.exitCode).toBe(1);
  expect(wrong.stderr).toContain(`no open transaction starts at offset ${hangingStart + 1}`);
  expect(await latestOffset(0, 1)).toBe(hangingStart);

  const aborted = await tool("abort", "--topic", TOPIC, "--partition", "0", "--start-offset", String(hangingStart));
  expect(aborted.exitCode).toBe(0);
  expect(aborted.stdout).toContain(`Aborted the transaction of producer ${hangingProducerId}`);
  // Marker appended after the 5 records: the LSO is the log end again.
  const highWatermark = await latestOffset(0, 0);
  expect(highWatermark).toBe(hangingStart + 4);
  expect(await latestOffset(0, 1)).toBe(highWatermark);

  const after = await tool("find-hanging", "--topic", TOPIC, "--max-transaction-timeout-ms", "1");
  expect(after.exitCode).toBe(0);
  expect(after.stdout.trim()).toBe("No hanging transactions found.");

  expect(await kcatConsumeAll(broker.bootstrap, TOPIC, "%s\n", ["-p", "0", "-X", "isolation.level=read_committed"])).toEqual(["before-1", "before-2", "after"]);
  expect(await kcatConsumeAll(broker.bootstrap, TOPIC, "%s\n", ["-p", "0", "-X", "isolation.level=read_uncommitted"])).toEqual(["before-1", "before-2", "hanging-1", "hanging-2", "after"]);
});
