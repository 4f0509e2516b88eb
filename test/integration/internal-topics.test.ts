// Internal topics against clients, with a real broker process: produce to __consumer_offsets (raw Produce
// and kafkajs), DeleteRecords, DeleteTopics, CreatePartitions and config changes are refused with Kafka's
// codes and nothing reaches the log, while the group coordinator's own commits keep working. Then a
// poisoned __consumer_offsets partition (bytes written into the stopped broker's segment file: a batch
// flagged snappy with a valid CRC, a batch whose records no longer match its CRC, a garbage tail) must
// not stop the broker from starting: it serves, the unreadable batches are skipped and logged once, and
// every group whose commits were readable keeps its offsets, on that partition and on the others.
import { afterAll, afterEach, expect, test } from "bun:test";
import { closeSync, openSync, readSync, statSync, writeSync } from "node:fs";
import { join } from "node:path";
import { KafkaConnection } from "../../src/client/kafka-connection.ts";
import { OFFSETS_TOPIC, offsetsPartitionFor } from "../../src/group/offsets-records.ts";
import { ErrorCode } from "../../src/protocol/errors.ts";
import { ApiKey } from "../../src/protocol/generated/index.ts";
import { ATTRIBUTES_OFFSET, CompressionType, computeBatchCrc, CRC_OFFSET, dataViewOf, RECORDS_OFFSET } from "../../src/records/batch.ts";
import { buildBatch } from "../../src/records/compression.ts";
import { BrokerProcess } from "../helpers/broker-process.ts";
import { createTopic, kafkaClient } from "../helpers/kafkajs.ts";
import { kcat, kcatConsumeAll } from "../helpers/kcat.ts";
import { storedBatches } from "../helpers/segments.ts";

const OFFSETS_PARTITIONS = 3;
const brokers: BrokerProcess[] = [];

afterEach(async () => {
  for (const broker of brokers.splice(0)) await broker.cleanup();
});

afterAll(async () => {
  for (const broker of brokers.splice(0)) await broker.cleanup();
});

async function startBroker(dataDir?: string): Promise<BrokerProcess> {
  const broker = new BrokerProcess({ dataDir, properties: { "offsets.topic.num.partitions": String(OFFSETS_PARTITIONS), "group.initial.rebalance.delay.ms": "0" } });
  brokers.push(broker);
  await broker.start();
  return broker;
}

async function connect(broker: BrokerProcess): Promise<KafkaConnection> {
  return KafkaConnection.connect({ host: "127.0.0.1", port: broker.port, requestTimeoutMs: 15_000 });
}

/** Group ids whose coordinator partition is `partition`, the first `count` of a bounded search. */
function groupsOnPartition(partition: number, count: number, prefix: string): string[] {
  const found: string[] = [];
  for (let i = 0; i < 1000 && found.length < count; i++) if (offsetsPartitionFor(`${prefix}-${i}`, OFFSETS_PARTITIONS) === partition) found.push(`${prefix}-${i}`);
  expect(found.length).toBe(count);
  return found;
}

/** A simple (memberless) group's commit over a raw OffsetCommit v2: exactly one batch in __consumer_offsets. */
async function commitOffset(broker: BrokerProcess, groupId: string, topic: string, offset: number): Promise<void> {
  const connection = await connect(broker);
  try {
    const partitions = [{ partitionIndex: 0, committedOffset: offset, committedLeaderEpoch: -1, commitTimestamp: -1, committedMetadata: "" }];
    const request = { groupId, generationIdOrMemberEpoch: -1, memberId: "", groupInstanceId: null, retentionTimeMs: -1, topics: [{ name: topic, partitions }] };
    // The first commit creates __consumer_offsets; the coordinator may answer "loading" meanwhile (bounded retries).
    for (let attempt = 0; attempt < 50; attempt++) {
      const response = await connection.request(ApiKey.OffsetCommit, 2, request);
      const errorCode = response.topics[0].partitions[0].errorCode;
      if (errorCode === ErrorCode.NONE) return;
      if (errorCode !== ErrorCode.COORDINATOR_LOAD_IN_PROGRESS && errorCode !== ErrorCode.COORDINATOR_NOT_AVAILABLE) throw new Error(`commit for ${groupId} failed with ${errorCode}`);
      await Bun.sleep(100);
    }
    throw new Error(`commit for ${groupId} still loading after 50 attempts`);
  } finally {
    connection.close();
  }
}

async function committedOffset(broker: BrokerProcess, groupId: string, topic: string): Promise<string> {
  const admin = kafkaClient(broker.bootstrap).admin();
  await admin.connect();
  try {
    const [answer] = await admin.fetchOffsets({ groupId, topics: [topic] });
    return answer!.partitions.find((partition) => partition.partition === 0)!.offset;
  } finally {
    await admin.disconnect();
  }
}

async function offsetsLogEndOffsets(connection: KafkaConnection): Promise<number[]> {
  const partitions = Array.from({ length: OFFSETS_PARTITIONS }, (_, partitionIndex) => ({ partitionIndex, timestamp: -1 }));
  const response = await connection.request(ApiKey.ListOffsets, 5, { replicaId: -1, isolationLevel: 0, topics: [{ name: OFFSETS_TOPIC, partitions }] });
  return response.topics[0].partitions.map((partition: { errorCode: number; offset: bigint | number }) => {
    expect(partition.errorCode).toBe(ErrorCode.NONE);
    return Number(partition.offset);
  });
}

test("clients cannot create, produce to, delete, trim, grow or reconfigure __consumer_offsets; the coordinator still commits", async () => {
  const broker = await startBroker();
  await createTopic(broker.bootstrap, "payments", 1);
  const connection = await connect(broker);
  // Before any group exists: a client can neither auto-create nor create __consumer_offsets as a plain topic.
  const autoCreated = await connection.request(ApiKey.Metadata, 4, { topics: [{ name: OFFSETS_TOPIC }], allowAutoTopicCreation: true });
  expect(autoCreated.topics[0].errorCode).toBe(ErrorCode.UNKNOWN_TOPIC_OR_PARTITION);
  const created = await connection.request(ApiKey.CreateTopics, 5, { topics: [{ name: OFFSETS_TOPIC, numPartitions: 1, replicationFactor: 1, assignments: [], configs: [{ name: "cleanup.policy", value: "delete" }] }], timeoutMs: 5000, validateOnly: false });
  expect(created.topics[0].errorCode).toBe(ErrorCode.INVALID_REQUEST);
  // A real commit creates __consumer_offsets through the coordinator's own path.
  await commitOffset(broker, "ledger", "payments", 0);
  const endsBefore = await offsetsLogEndOffsets(connection);
  expect(endsBefore.reduce((sum, end) => sum + end, 0)).toBeGreaterThan(0);

  // Raw Produce v7, every partition, acks=-1 and acks=1: INVALID_TOPIC_EXCEPTION (Kafka: "Cannot append to internal topic").
  for (const acks of [-1, 1]) {
    const partitionData = Array.from({ length: OFFSETS_PARTITIONS }, (_, index) => ({ index, records: buildBatch({ records: [{ key: new TextEncoder().encode("k"), value: new TextEncoder().encode("forged") }] }) }));
    const produced = await connection.request(ApiKey.Produce, 7, { acks, timeoutMs: 5000, topicData: [{ name: OFFSETS_TOPIC, partitionData }] });
    for (const reply of produced.responses[0].partitionResponses) expect(reply.errorCode).toBe(ErrorCode.INVALID_TOPIC_EXCEPTION);
  }

  // kafkajs: the producer sees the same error (not retriable) and gives up.
  const producer = kafkaClient(broker.bootstrap).producer({ retry: { retries: 0 } });
  await producer.connect();
  try {
    let failure: { type?: string } | null = null;
    await producer.send({ topic: OFFSETS_TOPIC, acks: -1, messages: [{ key: "k", value: "forged" }] }).catch((error) => (failure = error));
    expect(failure).not.toBeNull();
    expect(JSON.stringify(failure, Object.getOwnPropertyNames(failure!))).toContain("INVALID_TOPIC_EXCEPTION");
  } finally {
    await producer.disconnect();
  }

  const deletedRecords = await connection.request(ApiKey.DeleteRecords, 2, { topics: [{ name: OFFSETS_TOPIC, partitions: [{ partitionIndex: 0, offset: -1 }] }], timeoutMs: 5000 });
  expect(deletedRecords.topics[0].partitions[0].errorCode).toBe(ErrorCode.INVALID_TOPIC_EXCEPTION);

  const deletedTopics = await connection.request(ApiKey.DeleteTopics, 4, { topicNames: [OFFSETS_TOPIC], timeoutMs: 5000 });
  expect(deletedTopics.responses[0].errorCode).toBe(ErrorCode.INVALID_TOPIC_EXCEPTION);

  const grown = await connection.request(ApiKey.CreatePartitions, 1, { topics: [{ name: OFFSETS_TOPIC, count: OFFSETS_PARTITIONS + 1, assignments: null }], timeoutMs: 5000, validateOnly: false });
  expect(grown.results[0].errorCode).toBe(ErrorCode.POLICY_VIOLATION);
  expect(grown.results[0].errorMessage).toContain("internal topic");

  for (const validateOnly of [false, true]) {
    const altered = await connection.request(ApiKey.AlterConfigs, 1, { resources: [{ resourceType: 2, resourceName: OFFSETS_TOPIC, configs: [{ name: "cleanup.policy", value: "delete" }] }], validateOnly });
    expect(altered.responses[0].errorCode).toBe(ErrorCode.POLICY_VIOLATION);
    const incremental = await connection.request(ApiKey.IncrementalAlterConfigs, 1, { resources: [{ resourceType: 2, resourceName: OFFSETS_TOPIC, configs: [{ name: "retention.ms", configOperation: 0, value: "1" }] }], validateOnly });
    expect(incremental.responses[0].errorCode).toBe(ErrorCode.POLICY_VIOLATION);
  }

  // Nothing reached the log, the topic and its configs are unchanged, and the coordinator still writes.
  expect(await offsetsLogEndOffsets(connection)).toEqual(endsBefore);
  const described = await connection.request(ApiKey.DescribeConfigs, 1, { resources: [{ resourceType: 2, resourceName: OFFSETS_TOPIC, configurationKeys: ["cleanup.policy"] }], includeSynonyms: false });
  expect(described.results[0].configs[0].value).toBe("compact");
  const metadata = await connection.request(ApiKey.Metadata, 4, { topics: [{ name: OFFSETS_TOPIC }], allowAutoTopicCreation: false });
  expect(metadata.topics[0].partitions.length).toBe(OFFSETS_PARTITIONS);
  await commitOffset(broker, "ledger", "payments", 0);
  expect(await committedOffset(broker, "ledger", "payments")).toBe("0");
  connection.close();
}, 120_000);

/** Appends `bytes` to the end of the (trimmed, stopped) segment file. */
function appendToFile(path: string, bytes: Uint8Array): void {
  const fd = openSync(path, "a");
  try {
    writeSync(fd, bytes);
  } finally {
    closeSync(fd);
  }
}

/** Flips bytes inside the records section of the stored batch at `position`, leaving its header (and CRC) as it was. */
function corruptRecordsOf(path: string, position: number, sizeBytes: number): void {
  const fd = openSync(path, "r+");
  try {
    const batch = new Uint8Array(sizeBytes);
    expect(readSync(fd, batch, 0, sizeBytes, position)).toBe(sizeBytes);
    for (let i = RECORDS_OFFSET; i < sizeBytes; i++) batch[i] = batch[i]! ^ 0x5a;
    writeSync(fd, batch, 0, sizeBytes, position);
  } finally {
    closeSync(fd);
  }
}

test("a poisoned __consumer_offsets partition does not stop the broker: unreadable batches are skipped, other groups keep their offsets", async () => {
  const first = await startBroker();
  const dataDir = first.dataDir;
  await createTopic(first.bootstrap, "orders", 1);
  const produced = await kcat(first.bootstrap, ["-P", "-t", "orders", "-p", "0"], { input: "a\nb\nc\nd\ne\n" });
  expect(produced.exitCode).toBe(0);
  const [before, poisonedVictim, after, later] = groupsOnPartition(0, 4, "poisoned");
  const [elsewhere] = groupsOnPartition(1, 1, "elsewhere");
  const [garbageTail] = groupsOnPartition(2, 1, "tail");
  // One commit batch each, in this order on partition 0: intact, corrupted below, intact.
  await commitOffset(first, before!, "orders", 1);
  await commitOffset(first, poisonedVictim!, "orders", 2);
  await commitOffset(first, after!, "orders", 3);
  await commitOffset(first, elsewhere!, "orders", 4);
  await commitOffset(first, garbageTail!, "orders", 5);
  expect(await first.stop()).toBe(0);

  const partitionDir = join(dataDir, `${OFFSETS_TOPIC}-0`);
  const batches = storedBatches(partitionDir);
  expect(batches.length).toBe(3);
  const logPath = batches[0]!.file;
  // The middle batch (poisonedVictim's commit): records changed, CRC not.
  corruptRecordsOf(logPath, batches[1]!.position, batches[1]!.sizeBytes);
  // A batch flagged snappy (a codec Bunka cannot read) with a valid CRC, at the next offset.
  const snappy = buildBatch({ baseOffset: batches[2]!.lastOffset + 1, records: [{ key: new TextEncoder().encode("not"), value: new TextEncoder().encode("snappy at all") }] });
  const view = dataViewOf(snappy);
  view.setInt16(ATTRIBUTES_OFFSET, CompressionType.SNAPPY);
  view.setUint32(CRC_OFFSET, computeBatchCrc(snappy, 0, snappy.byteLength));
  appendToFile(logPath, snappy);
  // Partition 2: a tail of garbage that is no batch at all. The start finds the tail off a batch boundary and
  // recovers that partition (cuts the tail); partition 0 ends on a boundary and is trusted as it is, so its
  // corrupt batch is only met when the groups are loaded.
  const tailLogPath = storedBatches(join(dataDir, `${OFFSETS_TOPIC}-2`))[0]!.file;
  const tailSizeBytes = statSync(tailLogPath).size;
  appendToFile(tailLogPath, new TextEncoder().encode("\u0000\u0000\u0007garbage that is not a record batch".repeat(8)));
  expect(statSync(tailLogPath).size).toBeGreaterThan(tailSizeBytes);

  const second = await startBroker(dataDir);
  // One line per partition names what was skipped; nothing about failing to load.
  expect(second.output).toContain(`${OFFSETS_TOPIC}-0: 2 unreadable batch(es) skipped while loading`);
  expect(second.output).not.toContain("failed to start");
  expect(await committedOffset(second, before!, "orders")).toBe("1");
  expect(await committedOffset(second, after!, "orders")).toBe("3");
  expect(await committedOffset(second, elsewhere!, "orders")).toBe("4");
  expect(await committedOffset(second, garbageTail!, "orders")).toBe("5");
  expect(second.output).toContain("does not end on a batch boundary after a clean shutdown");
  // The victim's only commit was unreadable: it has none (-1), not a made-up one.
  expect(await committedOffset(second, poisonedVictim!, "orders")).toBe("-1");
  // It serves: a new commit on the poisoned partition is stored after the skipped batches and survives a restart.
  await commitOffset(second, later!, "orders", 5);
  expect(await kcatConsumeAll(second.bootstrap, "orders", "%s\\n")).toEqual(["a", "b", "c", "d", "e"]);
  expect(await second.stop()).toBe(0);
  // The garbage tail was cut by the recovery of that one partition (the file is trimmed again after the stop).
  expect(statSync(tailLogPath).size).toBe(tailSizeBytes);

  const third = await startBroker(dataDir);
  expect(third.output).not.toContain("was not shut down cleanly");
  expect(await committedOffset(third, later!, "orders")).toBe("5");
  expect(await committedOffset(third, after!, "orders")).toBe("3");
}, 180_000);
