// Hostile produces against a real broker process over real sockets (issue 8's audit, reproduced): garbage
// records flagged with every codec, record counts that lie, two batches claiming 2^31-1 records racing an
// honest producer, compression bombs on a compression.type=lz4 topic (broker RSS measured from /proc),
// transactional batches without a transaction, and a mixed stream where every answer is checked against
// what kcat then reads: an error answer is never stored, a success always is.
import { afterAll, beforeAll, expect, test } from "bun:test";
import { readdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { KafkaConnection } from "../../src/client/kafka-connection.ts";
import { ErrorCode } from "../../src/protocol/errors.ts";
import { ApiKey } from "../../src/protocol/generated/index.ts";
import { CompressionType, LAST_OFFSET_DELTA_OFFSET, RECORDS_COUNT_OFFSET, dataViewOf, updateBatchCrc } from "../../src/records/batch.ts";
import { buildBatch, compressRecordsSectionSync, encodeRecords, rebuildBatch } from "../../src/records/compression.ts";
import { BrokerProcess } from "../helpers/broker-process.ts";
import { kcatConsumeAll } from "../helpers/kcat.ts";

const broker = new BrokerProcess({ properties: { "num.partitions": "1", "auto.create.topics.enable": "false" } });
const connections: KafkaConnection[] = [];
const encoder = new TextEncoder();
const decoder = new TextDecoder();

beforeAll(async () => {
  await broker.start();
});

afterAll(async () => {
  for (const connection of connections) connection.close();
  if (process.env.DEBUG_LOG) console.log(broker.output);
  await broker.stop();
  await broker.cleanup();
});

async function connect(): Promise<KafkaConnection> {
  const connection = await KafkaConnection.connect({ host: "127.0.0.1", port: broker.port, requestTimeoutMs: 60_000 });
  connections.push(connection);
  return connection;
}

async function createTopic(name: string, configs: Record<string, string> = {}): Promise<void> {
  const admin = await connect();
  const response = await admin.request(ApiKey.CreateTopics, 4, {
    topics: [{ name, numPartitions: 1, replicationFactor: 1, configs: Object.entries(configs).map(([configName, value]) => ({ name: configName, value })) }],
    timeoutMs: 10_000,
  });
  expect(response.topics[0].errorCode).toBe(ErrorCode.NONE);
}

async function produce(connection: KafkaConnection, topic: string, records: Uint8Array): Promise<{ errorCode: number; baseOffset: number }> {
  const response = await connection.request(ApiKey.Produce, 7, { acks: -1, timeoutMs: 10_000, topicData: [{ name: topic, partitionData: [{ index: 0, records }] }] });
  return response.responses[0].partitionResponses[0];
}

/** The partition's high watermark (the log end offset on one node) and how many batches a read_committed fetch returns. */
async function partitionState(connection: KafkaConnection, topic: string, isolationLevel = 0): Promise<{ highWatermark: number; recordsBytes: number }> {
  const fetched = await connection.request(ApiKey.Fetch, 11, {
    replicaId: -1,
    maxWaitMs: 0,
    minBytes: 0,
    maxBytes: 1 << 20,
    isolationLevel,
    topics: [{ topic, partitions: [{ partition: 0, fetchOffset: 0, partitionMaxBytes: 1 << 20 }] }],
  });
  const partition = fetched.responses[0].partitions[0];
  expect(partition.errorCode).toBe(ErrorCode.NONE);
  return { highWatermark: Number(partition.highWatermark), recordsBytes: (partition.records as Uint8Array | null)?.byteLength ?? 0 };
}

function honestBatch(values: string[], compression: number = CompressionType.NONE): Uint8Array {
  return buildBatch({ records: values.map((value) => ({ key: encoder.encode(value), value: encoder.encode(value) })), compression });
}

/** A batch that claims `count` records (count and lastOffsetDelta agree, the CRC is valid) but holds three. */
function lyingBatch(count: number, compression: number): Uint8Array {
  const batch = honestBatch(["l1", "l2", "l3"], compression);
  dataViewOf(batch).setInt32(RECORDS_COUNT_OFFSET, count);
  dataViewOf(batch).setInt32(LAST_OFFSET_DELTA_OFFSET, count - 1);
  updateBatchCrc(batch);
  return batch;
}

/** A batch flagged `codec` whose records section is `section` as given (a valid CRC over it). */
function flagged(codec: number, section: Uint8Array): Uint8Array {
  return rebuildBatch(honestBatch(["x"]), codec, section);
}

async function kcatValues(topic: string): Promise<string[]> {
  return kcatConsumeAll(broker.bootstrap, topic, "%s\\n", ["-p", "0"], 60_000);
}

function memoryKiB(field: "VmRSS" | "VmHWM"): number {
  const status = readFileSync(`/proc/${broker.pid}/status`, "utf8");
  const match = status.match(new RegExp(`^${field}:\\s+(\\d+) kB`, "m"));
  if (!match) throw new Error(`no ${field} in /proc/${broker.pid}/status`);
  return Number(match[1]);
}

test("garbage records flagged gzip, lz4, zstd or snappy are refused, not stored, and kcat reads the partition cleanly", async () => {
  const topic = "hostile-garbage";
  await createTopic(topic);
  const connection = await connect();
  expect((await produce(connection, topic, honestBatch(["before"]))).errorCode).toBe(ErrorCode.NONE);
  const garbage = new Uint8Array(261).map((_, index) => (index * 97 + 13) & 255);
  // Snappy too: Bunka reads it (never writes it), so garbage flagged snappy is found out like the others.
  expect((await produce(connection, topic, flagged(CompressionType.SNAPPY, garbage))).errorCode).toBe(ErrorCode.CORRUPT_MESSAGE);
  for (const codec of [CompressionType.GZIP, CompressionType.LZ4, CompressionType.ZSTD]) {
    expect((await produce(connection, topic, flagged(codec, garbage))).errorCode).toBe(ErrorCode.CORRUPT_MESSAGE);
    // A valid frame of the codec whose content is not records at all.
    expect((await produce(connection, topic, flagged(codec, compressRecordsSectionSync(codec, garbage)))).errorCode).toBe(ErrorCode.CORRUPT_MESSAGE);
  }
  expect((await produce(connection, topic, honestBatch(["after"], CompressionType.LZ4))).baseOffset).toBe(1);
  expect((await partitionState(connection, topic)).highWatermark).toBe(2);
  expect(await kcatValues(topic)).toEqual(["before", "after"]);
});

test("count and lastOffsetDelta that lie are refused for every codec and the log end offset stays", async () => {
  const topic = "hostile-counts";
  await createTopic(topic);
  const connection = await connect();
  expect((await produce(connection, topic, honestBatch(["a", "b"]))).errorCode).toBe(ErrorCode.NONE);
  for (const codec of [CompressionType.NONE, CompressionType.GZIP, CompressionType.LZ4, CompressionType.ZSTD]) {
    for (const count of [4, 1000, 0x7fff_ffff]) {
      const answer = await produce(connection, topic, lyingBatch(count, codec));
      expect(answer.errorCode).toBe(ErrorCode.CORRUPT_MESSAGE);
    }
    // A header whose count and lastOffsetDelta disagree.
    const disagreeing = honestBatch(["c"], codec);
    dataViewOf(disagreeing).setInt32(LAST_OFFSET_DELTA_OFFSET, 0x7fff_fffe);
    updateBatchCrc(disagreeing);
    expect((await produce(connection, topic, disagreeing)).errorCode).toBe(ErrorCode.INVALID_RECORD);
  }
  expect((await partitionState(connection, topic)).highWatermark).toBe(2);
  expect(await kcatValues(topic)).toEqual(["a", "b"]);
});

test("two batches claiming 2^31-1 records racing an honest producer: the honest producer is unaffected and no empty segment is left", async () => {
  const topic = "hostile-race";
  await createTopic(topic, { "segment.bytes": String(1 << 20) });
  const [honest, evilA, evilB] = [await connect(), await connect(), await connect()];
  const acknowledged: string[] = [];
  const rounds = 10;
  for (let round = 0; round < rounds; round++) {
    const values = [`r${round}-0`, `r${round}-1`];
    const [honestAnswer, evilAnswerA, evilAnswerB] = await Promise.all([
      produce(honest, topic, honestBatch(values)),
      produce(evilA, topic, lyingBatch(0x7fff_ffff, CompressionType.ZSTD)),
      produce(evilB, topic, lyingBatch(0x7fff_ffff, CompressionType.LZ4)),
    ]);
    expect(honestAnswer.errorCode).toBe(ErrorCode.NONE);
    expect(evilAnswerA.errorCode).toBe(ErrorCode.CORRUPT_MESSAGE);
    expect(evilAnswerB.errorCode).toBe(ErrorCode.CORRUPT_MESSAGE);
    acknowledged.push(...values);
  }
  expect((await partitionState(honest, topic)).highWatermark).toBe(rounds * 2);
  expect(await kcatValues(topic)).toEqual(acknowledged);
  const partitionDir = join(broker.dataDir, `${topic}-0`);
  const logFiles = readdirSync(partitionDir).filter((name) => name.endsWith(".log"));
  expect(logFiles.length).toBe(1);
  expect(statSync(join(partitionDir, logFiles[0]!)).size).toBeGreaterThan(0);
});

test("compression bombs on a compression.type=lz4 topic are refused with MESSAGE_TOO_LARGE and broker RSS grows less than 256 MiB", async () => {
  const topic = "hostile-bomb";
  await createTopic(topic, { "compression.type": "lz4" });
  const connection = await connect();
  expect((await produce(connection, topic, honestBatch(["first"], CompressionType.GZIP))).errorCode).toBe(ErrorCode.NONE);
  // One record whose value is 1 GiB of zeros (zstd), 256 MiB (gzip: 1 MiB of input would exceed max.message.bytes).
  const zstdBomb = rebuildBatch(honestBatch(["bomb"]), CompressionType.ZSTD, Bun.zstdCompressSync(encodeRecords([{ key: "k", value: new Uint8Array(1 << 30) }], 0, 0)));
  const gzipBomb = rebuildBatch(honestBatch(["bomb"]), CompressionType.GZIP, Bun.gzipSync(encodeRecords([{ key: "k", value: new Uint8Array(256 << 20) }], 0, 0) as Uint8Array<ArrayBuffer>));
  const lz4Bomb = rebuildBatch(honestBatch(["bomb"]), CompressionType.LZ4, compressRecordsSectionSync(CompressionType.LZ4, encodeRecords([{ key: "k", value: new Uint8Array(128 << 20) }], 0, 0)));
  expect(zstdBomb.byteLength).toBeLessThan(64 * 1024);
  expect(gzipBomb.byteLength).toBeLessThan(1_048_588);
  expect(lz4Bomb.byteLength).toBeLessThan(1_048_588);
  const rssBeforeKiB = memoryKiB("VmRSS");
  const bombers = [await connect(), await connect(), await connect()];
  for (let round = 0; round < 3; round++) {
    const answers = await Promise.all([produce(bombers[0]!, topic, zstdBomb), produce(bombers[1]!, topic, gzipBomb), produce(bombers[2]!, topic, lz4Bomb)]);
    expect(answers.map((answer) => answer.errorCode)).toEqual([ErrorCode.MESSAGE_TOO_LARGE, ErrorCode.MESSAGE_TOO_LARGE, ErrorCode.MESSAGE_TOO_LARGE]);
  }
  // The same bombs on a topic that keeps the producer's codec.
  await createTopic("hostile-bomb-producer-codec");
  for (const bomb of [zstdBomb, gzipBomb, lz4Bomb]) expect((await produce(connection, "hostile-bomb-producer-codec", bomb)).errorCode).toBe(ErrorCode.MESSAGE_TOO_LARGE);
  const peakGrowthMiB = (memoryKiB("VmHWM") - rssBeforeKiB) / 1024;
  if (process.env.DEBUG_LOG) console.log(`bombs: broker peak RSS growth ${peakGrowthMiB.toFixed(1)} MiB`);
  expect(peakGrowthMiB).toBeLessThan(256);
  expect((await produce(connection, topic, honestBatch(["last"], CompressionType.ZSTD))).baseOffset).toBe(1);
  expect(await kcatValues(topic)).toEqual(["first", "last"]);
});

test("a transactional batch without a transaction is INVALID_TXN_STATE and invisible to every reader", async () => {
  const topic = "hostile-txn";
  await createTopic(topic);
  const connection = await connect();
  const transactional = buildBatch({ records: [{ key: "t", value: "uncommitted" }], producerId: 777_777, producerEpoch: 0, baseSequence: 0, isTransactional: true });
  expect((await produce(connection, topic, transactional)).errorCode).toBe(ErrorCode.INVALID_TXN_STATE);
  for (const isolationLevel of [0, 1]) {
    const state = await partitionState(connection, topic, isolationLevel);
    expect(state.highWatermark).toBe(0);
    expect(state.recordsBytes).toBe(0);
  }
  expect((await produce(connection, topic, honestBatch(["plain"]))).baseOffset).toBe(0);
  expect(await kcatValues(topic)).toEqual(["plain"]);
});

test("records outside message.timestamp.before.max.ms are INVALID_TIMESTAMP; keyless records on a compacted topic INVALID_RECORD", async () => {
  const connection = await connect();
  await createTopic("hostile-timestamps", { "message.timestamp.before.max.ms": "3600000" });
  const old = buildBatch({ records: [{ key: "k", value: "from 2001", timestampMs: 1_000_000_000_000 }], compression: CompressionType.GZIP });
  expect((await produce(connection, "hostile-timestamps", old)).errorCode).toBe(ErrorCode.INVALID_TIMESTAMP);
  expect((await produce(connection, "hostile-timestamps", honestBatch(["now"], CompressionType.GZIP))).errorCode).toBe(ErrorCode.NONE);
  await createTopic("hostile-compacted", { "cleanup.policy": "compact" });
  const keyless = buildBatch({ records: [{ key: "k", value: "v" }, { key: null, value: "no key" }], compression: CompressionType.ZSTD });
  expect((await produce(connection, "hostile-compacted", keyless)).errorCode).toBe(ErrorCode.INVALID_RECORD);
  expect((await partitionState(connection, "hostile-compacted")).highWatermark).toBe(0);
});

test("a produce answered with an error is never stored, and every success is (mixed honest and hostile stream)", async () => {
  const topic = "hostile-mixed";
  await createTopic(topic);
  const connections = [await connect(), await connect(), await connect(), await connect()];
  const garbage = new Uint8Array(64).map((_, index) => (index * 31 + 5) & 255);
  const hostile = (index: number): Uint8Array => {
    switch (index % 5) {
      case 0:
        return lyingBatch(0x7fff_ffff, CompressionType.ZSTD);
      case 1:
        return flagged(CompressionType.GZIP, garbage);
      case 2:
        return buildBatch({ records: [{ key: "t", value: `txn-${index}` }], producerId: 5000 + index, producerEpoch: 0, baseSequence: 0, isTransactional: true });
      case 3:
        return lyingBatch(7, CompressionType.NONE);
      default:
        return flagged(CompressionType.SNAPPY, garbage);
    }
  };
  const stored: string[] = [];
  const refused: string[] = [];
  const rounds = 15;
  for (let round = 0; round < rounds; round++) {
    const sends = connections.map(async (connection, slot) => {
      const honestTurn = (round + slot) % 2 === 0;
      const value = `m${round}-${slot}`;
      const batch = honestTurn ? honestBatch([value], [CompressionType.NONE, CompressionType.GZIP, CompressionType.LZ4, CompressionType.ZSTD][slot]!) : hostile(round * 4 + slot);
      const answer = await produce(connection, topic, batch);
      if (honestTurn) expect(answer.errorCode).toBe(ErrorCode.NONE);
      else expect(answer.errorCode).not.toBe(ErrorCode.NONE);
      return { value: honestTurn ? value : `hostile-${round}-${slot}`, ok: answer.errorCode === ErrorCode.NONE, baseOffset: answer.baseOffset };
    });
    for (const outcome of await Promise.all(sends)) (outcome.ok ? stored : refused).push(outcome.value);
  }
  expect(refused.length).toBeGreaterThan(0);
  const values = await kcatValues(topic);
  expect(values.length).toBe(stored.length);
  expect(new Set(values)).toEqual(new Set(stored));
  expect((await partitionState(connections[0]!, topic)).highWatermark).toBe(stored.length);
  expect(decoder.decode(encoder.encode(values[0]!))).toMatch(/^m\d+-\d$/);
});
