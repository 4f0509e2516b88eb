// A worker's partition state without a Worker: PartitionOwner opens real logs in a temp dir, appends,
// reads, flushes, closes and reopens them in this process; commands reach it by operation name through
// the one table (messages.ts), which also gives the socket thread's client its methods.
import { afterEach, expect, test } from "bun:test";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { resolveLogConfig, type LogConfig } from "../../src/log/config.ts";
import { runWorkerCommand, workerOperations, type OpenPartitionCommand, type WorkerCommand } from "../../src/partition/messages.ts";
import { PartitionOwner } from "../../src/partition/partition-owner.ts";
import { PartitionWorkers } from "../../src/partition/partition-workers.ts";
import { ErrorCode } from "../../src/protocol/errors.ts";
import { ManualClock } from "../../src/util/clock.ts";
import { producerBatch, recordValues, sliceBytes } from "../log/helpers.ts";

const T0 = 1_700_000_000_000;
const TOPIC = "owned";

const roots: string[] = [];
const owners: PartitionOwner[] = [];

afterEach(async () => {
  for (const owner of owners.splice(0)) await owner.close();
  for (const root of roots.splice(0)) fs.rmSync(root, { recursive: true, force: true });
});

function dataRoot(): string {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), "bunka-owner-"));
  roots.push(root);
  return root;
}

function newOwner(lines: string[] = [], clock?: ManualClock): PartitionOwner {
  const owner = new PartitionOwner({ log: (message) => lines.push(message), clock });
  owners.push(owner);
  return owner;
}

function openCommand(root: string, partition: number, config: Partial<LogConfig> = {}, recover = false): OpenPartitionCommand {
  return { topic: TOPIC, partition, dir: path.join(root, `${TOPIC}-${partition}`), config: resolveLogConfig(config), compressionType: "producer", recover, producerIdExpirationMs: 86_400_000 };
}

async function valuesAt(owner: PartitionOwner, partition: number, fetchOffset: number): Promise<string[]> {
  const [read] = owner.read([{ topic: TOPIC, partition, fetchOffset, maxBytes: 1 << 20, maxOffsetExclusive: -1, minOneBatch: true }]);
  expect(read!.errorCode).toBe(ErrorCode.NONE);
  if (!read!.slice) return [];
  return (await recordValues(sliceBytes(read!.slice))).map((record) => record.value.replace(/\.+$/, ""));
}

test("open, produce, read, flush, close and reopen partitions in-process", async () => {
  const root = dataRoot();
  const owner = newOwner();
  const opened = await owner.open([openCommand(root, 0), openCommand(root, 1)]);
  expect(opened).toEqual([
    { errorCode: ErrorCode.NONE, logStartOffset: 0, logEndOffset: 0, firstUnstableOffset: -1, offsetsVersion: expect.any(Number) },
    { errorCode: ErrorCode.NONE, logStartOffset: 0, logEndOffset: 0, firstUnstableOffset: -1, offsetsVersion: expect.any(Number) },
  ]);

  // One call, two partitions: each item gets its own result, in item order.
  const produced = await owner.produce([
    { topic: TOPIC, partition: 0, records: producerBatch("a", 5, T0), leaderEpoch: 0 },
    { topic: TOPIC, partition: 1, records: producerBatch("b", 3, T0), leaderEpoch: 0 },
    { topic: TOPIC, partition: 0, records: producerBatch("c", 2, T0), leaderEpoch: 0 },
    { topic: TOPIC, partition: 7, records: producerBatch("d", 1, T0), leaderEpoch: 0 },
  ]);
  expect(produced.map((result) => [result.errorCode, result.baseOffset, result.lastOffset])).toEqual([
    [ErrorCode.NONE, 0, 4],
    [ErrorCode.NONE, 0, 2],
    [ErrorCode.NONE, 5, 6],
    [ErrorCode.UNKNOWN_TOPIC_OR_PARTITION, -1, -1],
  ]);
  expect(produced[2]!.logEndOffset).toBe(7);

  expect(await valuesAt(owner, 0, 0)).toEqual(["a-v0-", "a-v1-", "a-v2-", "a-v3-", "a-v4-", "c-v0-", "c-v1-"]);
  expect(await valuesAt(owner, 1, 0)).toEqual(["b-v0-", "b-v1-", "b-v2-"]);

  // The slice names its file by fields: the inode is the one on disk now.
  const [read] = owner.read([{ topic: TOPIC, partition: 0, fetchOffset: 0, maxBytes: 1 << 20, maxOffsetExclusive: -1, minOneBatch: true }]);
  const slice = read!.slice!;
  expect(slice.inode).toBe(fs.statSync(slice.path).ino);
  expect(slice.generation).toBeGreaterThan(0);
  expect(read!.logEndOffset).toBe(7);

  expect(owner.stats().appendedItems).toBe(3);
  expect(owner.stats().unflushedMessages).toBe(10);
  owner.flush();
  expect(owner.stats().unflushedMessages).toBe(0);
  await owner.close();

  const reopened = newOwner();
  expect(await reopened.open([openCommand(root, 0), openCommand(root, 1)])).toEqual([
    { errorCode: ErrorCode.NONE, logStartOffset: 0, logEndOffset: 7, firstUnstableOffset: -1, offsetsVersion: expect.any(Number) },
    { errorCode: ErrorCode.NONE, logStartOffset: 0, logEndOffset: 3, firstUnstableOffset: -1, offsetsVersion: expect.any(Number) },
  ]);
  expect(await valuesAt(reopened, 0, 5)).toEqual(["c-v0-", "c-v1-"]);
  expect(reopened.offsets([{ topic: TOPIC, partition: 1 }, { topic: TOPIC, partition: 9 }])).toEqual([
    { errorCode: ErrorCode.NONE, logStartOffset: 0, logEndOffset: 3, firstUnstableOffset: -1, offsetsVersion: expect.any(Number) },
    { errorCode: ErrorCode.UNKNOWN_TOPIC_OR_PARTITION, logStartOffset: -1, logEndOffset: -1 },
  ]);
});

test("appends that require a flush are answered after one group commit shared by the partitions", async () => {
  const root = dataRoot();
  const owner = newOwner();
  await owner.open([openCommand(root, 0), openCommand(root, 1)]);
  const results = await owner.produce([
    { topic: TOPIC, partition: 0, records: producerBatch("x", 4, T0), leaderEpoch: 0, requireFlush: true },
    { topic: TOPIC, partition: 1, records: producerBatch("y", 4, T0), leaderEpoch: 0, requireFlush: true },
  ]);
  expect(results.map((result) => result.errorCode)).toEqual([ErrorCode.NONE, ErrorCode.NONE]);
  const stats = owner.stats();
  expect(stats.unflushedMessages).toBe(0);
  expect(stats.groupCommits).toBe(1);
  expect(stats.logFlushes).toBe(2);
});

test("truncation gives the segment a new file identity; epochs and deleteRecords answer through the same owner", async () => {
  const root = dataRoot();
  const owner = newOwner();
  await owner.open([openCommand(root, 0)]);
  await owner.produce([{ topic: TOPIC, partition: 0, records: producerBatch("a", 3, T0), leaderEpoch: 0 }]);
  await owner.produce([{ topic: TOPIC, partition: 0, records: producerBatch("b", 3, T0), leaderEpoch: 0 }]);
  const key = { topic: TOPIC, partition: 0 };
  const before = owner.read([{ ...key, fetchOffset: 0, maxBytes: 1 << 20, maxOffsetExclusive: -1, minOneBatch: true }])[0]!.slice!;

  expect(owner.truncate([{ ...key, offset: 3 }])).toEqual([{ errorCode: ErrorCode.NONE, logStartOffset: 0, logEndOffset: 3, firstUnstableOffset: -1, offsetsVersion: expect.any(Number) }]);
  const after = owner.read([{ ...key, fetchOffset: 0, maxBytes: 1 << 20, maxOffsetExclusive: -1, minOneBatch: true }])[0]!.slice!;
  expect(after.path).toBe(before.path);
  expect(after.inode).not.toBe(before.inode);
  expect(after.generation).not.toBe(before.generation);
  expect(after.inode).toBe(fs.statSync(after.path).ino);
  expect(await valuesAt(owner, 0, 0)).toEqual(["a-v0-", "a-v1-", "a-v2-"]);

  expect(owner.assignEpoch([{ ...key, leaderEpoch: 4 }])[0]!.errorCode).toBe(ErrorCode.NONE);
  expect(owner.latestEpoch([key])).toEqual([{ errorCode: ErrorCode.NONE, leaderEpoch: 4, endOffset: 3 }]);
  expect(owner.deleteRecords([{ ...key, offset: 10 }])[0]!.errorCode).toBe(ErrorCode.OFFSET_OUT_OF_RANGE);
  expect(owner.deleteRecords([{ ...key, offset: 2 }])).toEqual([{ errorCode: ErrorCode.NONE, logStartOffset: 2, logEndOffset: 3, firstUnstableOffset: -1, offsetsVersion: expect.any(Number) }]);
});

test("every answer's offsets carry a version that grows with each reading: the newer answer wins even when its log end is lower", async () => {
  const owner = newOwner();
  const key = { topic: TOPIC, partition: 0 };
  const [opened] = await owner.open([openCommand(dataRoot(), 0)]);
  // A read answered before an append and a produce answered after it, as the socket thread may get them in
  // either order: the produce's version is higher.
  const [readBefore] = owner.read([{ ...key, fetchOffset: 0, maxBytes: 1 << 20, maxOffsetExclusive: -1, minOneBatch: true }]);
  await owner.produce([{ ...key, records: producerBatch("a", 3, T0), leaderEpoch: 0 }]);
  const [produced] = await owner.produce([{ ...key, records: producerBatch("b", 3, T0), leaderEpoch: 0 }]);
  expect([readBefore!.logEndOffset, produced!.logEndOffset]).toEqual([0, 6]);
  expect(produced!.offsetsVersion!).toBeGreaterThan(readBefore!.offsetsVersion!);
  expect(readBefore!.offsetsVersion!).toBeGreaterThan(opened!.offsetsVersion!);
  // A truncation moves the log end back: its answer is the newer one all the same.
  const [truncated] = owner.truncate([{ ...key, offset: 3 }]);
  expect(truncated!.logEndOffset).toBe(3);
  expect(truncated!.offsetsVersion!).toBeGreaterThan(produced!.offsetsVersion!);
  // A transaction marker's answer too.
  const [marker] = await owner.appendMarker([{ ...key, producerId: 1, producerEpoch: 0, coordinatorEpoch: 0, commit: true, leaderEpoch: 0 }]);
  expect([marker!.errorCode, marker!.logEndOffset]).toEqual([ErrorCode.NONE, 4]);
  expect(marker!.offsetsVersion!).toBeGreaterThan(truncated!.offsetsVersion!);
});

test("a partition whose log cannot be opened is offline (KAFKA_STORAGE_ERROR) while the others are served", async () => {
  const root = dataRoot();
  const lines: string[] = [];
  const owner = newOwner(lines);
  // A file where the partition's directory should be: the log cannot be opened.
  const broken = openCommand(root, 1);
  fs.writeFileSync(broken.dir, "not a directory");
  const opened = await owner.open([openCommand(root, 0), broken]);
  expect(opened.map((result) => result.errorCode)).toEqual([ErrorCode.NONE, ErrorCode.KAFKA_STORAGE_ERROR]);
  expect(lines.some((line) => line.includes(`${TOPIC}-1: cannot open the log`))).toBe(true);

  const produced = await owner.produce([
    { topic: TOPIC, partition: 0, records: producerBatch("ok", 1, T0), leaderEpoch: 0 },
    { topic: TOPIC, partition: 1, records: producerBatch("no", 1, T0), leaderEpoch: 0 },
  ]);
  expect(produced.map((result) => result.errorCode)).toEqual([ErrorCode.NONE, ErrorCode.KAFKA_STORAGE_ERROR]);
  // Not toEqual: the answer also carries the worker's reading time (inWorkerMs).
  expect(owner.read([{ topic: TOPIC, partition: 1, fetchOffset: 0, maxBytes: 100, maxOffsetExclusive: -1, minOneBatch: true }])[0]).toMatchObject({
    errorCode: ErrorCode.KAFKA_STORAGE_ERROR,
    logStartOffset: -1,
    logEndOffset: -1,
    slice: null,
  });

  // Deleting the offline partition removes what is left of it; afterwards it is simply unknown.
  expect(owner.delete([{ topic: TOPIC, partition: 1 }])[0]!.errorCode).toBe(ErrorCode.NONE);
  expect(fs.existsSync(broken.dir)).toBe(false);
  expect(owner.offsets([{ topic: TOPIC, partition: 1 }])[0]!.errorCode).toBe(ErrorCode.UNKNOWN_TOPIC_OR_PARTITION);
});

test("commands dispatch by operation name through the table; a name not in it is refused", async () => {
  const root = dataRoot();
  const owner = newOwner();
  await runWorkerCommand(owner, { op: "open", id: 1, items: [openCommand(root, 0)] });
  await runWorkerCommand(owner, { op: "produce", id: 2, items: [{ topic: TOPIC, partition: 0, records: producerBatch("a", 2, T0), leaderEpoch: 0 }] });
  expect(await runWorkerCommand(owner, { op: "offsets", id: 3, items: [{ topic: TOPIC, partition: 0 }] })).toEqual([{ errorCode: ErrorCode.NONE, logStartOffset: 0, logEndOffset: 2, firstUnstableOffset: -1, offsetsVersion: expect.any(Number) }]);
  expect(await runWorkerCommand(owner, { op: "stats", id: 4 })).toMatchObject({ appendedItems: 1 });

  // Names that exist on the object but are not operations (a worker must not call them for a message).
  for (const op of ["constructor", "start", "scheduleCleaner", "nope"]) {
    const command = { op, id: 5, items: [] } as unknown as WorkerCommand;
    await expect(runWorkerCommand(owner, command)).rejects.toThrow(`unknown worker operation "${op}"`);
  }
});

test("both sides come from the table: the owner implements every operation, the client has a method per partition operation", () => {
  const names = Object.keys(workerOperations) as (keyof typeof workerOperations)[];
  expect(names.length).toBeGreaterThanOrEqual(17);
  for (const name of names) {
    expect(typeof PartitionOwner.prototype[name]).toBe("function");
    expect(typeof PartitionWorkers.prototype[name]).toBe("function");
  }
  // Each generated client method is distinct (it sends its own operation name).
  const partitionNames = names.filter((name) => workerOperations[name].kind === "partition");
  expect(new Set(partitionNames.map((name) => PartitionWorkers.prototype[name])).size).toBe(partitionNames.length);
});

test("appends take the owner's clock: a LogAppendTime topic stamps the time the clock says", async () => {
  const root = dataRoot();
  const clock = new ManualClock(T0 + 123_456);
  const owner = newOwner([], clock);
  await owner.open([openCommand(root, 0, { messageTimestampType: "LogAppendTime" })]);
  const [first] = await owner.produce([{ topic: TOPIC, partition: 0, records: producerBatch("a", 2, T0), leaderEpoch: 0 }]);
  expect(first!.logAppendTimeMs).toBe(T0 + 123_456);
  clock.advance(5_000);
  const [second] = await owner.produce([{ topic: TOPIC, partition: 0, records: producerBatch("b", 2, T0), leaderEpoch: 0 }]);
  expect(second!.logAppendTimeMs).toBe(T0 + 128_456);
  const [read] = owner.read([{ topic: TOPIC, partition: 0, fetchOffset: 2, maxBytes: 1 << 20, maxOffsetExclusive: -1, minOneBatch: true }]);
  expect((await recordValues(sliceBytes(read!.slice!))).map((record) => record.timestampMs)).toEqual([T0 + 128_456, T0 + 128_456]);
});
