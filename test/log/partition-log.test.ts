import { afterEach, describe, expect, test } from "bun:test";
import * as fs from "node:fs";
import * as path from "node:path";
import type { LogConfig } from "../../src/log/config.ts";
import { PartitionLog, type AppendError, type AppendInfo, type FileSlice } from "../../src/log/partition-log.ts";
import { CompressionType, RECORDS_OFFSET, assignOffsets, dataViewOf } from "../../src/records/batch.ts";
import { buildBatch } from "../../src/records/compression.ts";
import { OFFSET_OUT_OF_RANGE, CORRUPT_MESSAGE, RECORD_LIST_TOO_LARGE, MESSAGE_TOO_LARGE } from "../../src/records/errors.ts";
import { batchHeaders, producerBatch, recordValues, sliceBytes, tempDir } from "./helpers.ts";

let cleanups: (() => void)[] = [];
afterEach(() => {
  for (const cleanup of cleanups) cleanup();
  cleanups = [];
});

const T0 = 1_700_000_000_000;

function freshDir(): string {
  const temp = tempDir();
  cleanups.push(temp.cleanup);
  return temp.dir;
}

function openLog(dir: string, config: Partial<LogConfig> = {}, recover = false, nowMs = T0): PartitionLog {
  return PartitionLog.open({ dir, config: { segmentBytes: 4096, indexIntervalBytes: 256, ...config }, recover, nowMs });
}

function ok(result: AppendInfo | AppendError): AppendInfo {
  if (result.errorCode !== 0) throw new Error(`append failed: ${JSON.stringify(result)}`);
  return result as AppendInfo;
}

function slice(log: PartitionLog, fetchOffset: number, maxBytes = 1 << 20, maxOffsetExclusive = log.logEndOffset, minOneBatch = true): FileSlice | null {
  const result = log.read(fetchOffset, maxBytes, maxOffsetExclusive, minOneBatch);
  if (result.errorCode !== 0) throw new Error(`read failed: ${result.errorCode}`);
  return result.slice;
}

/** Reads the whole log by following slices; returns every record in order. */
async function readAll(log: PartitionLog, fromOffset = log.logStartOffset, maxBytes = 1000) {
  const out: { offset: number; value: string; timestampMs: number }[] = [];
  let offset = fromOffset;
  for (let guard = 0; guard < 100_000 && offset < log.logEndOffset; guard++) {
    const found = slice(log, offset, maxBytes);
    if (found === null) throw new Error(`no data at ${offset} below ${log.logEndOffset}`);
    const headers = batchHeaders(sliceBytes(found));
    expect(headers[0]!.baseOffset).toBe(found.firstOffset);
    expect(headers[0]!.baseOffset + headers[0]!.lastOffsetDelta).toBeGreaterThanOrEqual(offset);
    for (const record of await recordValues(sliceBytes(found))) if (record.offset >= offset) out.push(record);
    const last = headers[headers.length - 1]!;
    offset = last.baseOffset + last.lastOffsetDelta + 1;
  }
  return out;
}

/** Appends `batches` producer batches of 1..5 records; returns the expected values by offset. */
function fill(log: PartitionLog, batches: number, tag = "b", timestampOf = (index: number) => T0 + index * 10): string[] {
  const values: string[] = [];
  for (let index = 0; index < batches; index++) {
    const count = 1 + (index % 5);
    const info = ok(log.appendAsLeader(producerBatch(`${tag}${index}`, count, timestampOf(index)), 3, T0));
    for (let record = 0; record < count; record++) values.push(`${tag}${index}-v${record}-`);
  }
  return values;
}

function segmentLogSizes(dir: string): number[] {
  return fs
    .readdirSync(dir)
    .filter((name) => name.endsWith(".log"))
    .sort()
    .map((name) => fs.statSync(path.join(dir, name)).size);
}

describe("append and read", () => {
  test("appends across segment rolls and reads every offset back, whole batches only", async () => {
    const dir = freshDir();
    const log = openLog(dir);
    const values = fill(log, 200);
    expect(log.logEndOffset).toBe(values.length);
    expect(log.segments.length).toBeGreaterThan(5);
    // Inactive segments were trimmed to their data; the active one is preallocated.
    for (const segment of log.segments.slice(0, -1)) expect(fs.statSync(segment.logPath).size).toBe(segment.sizeBytes);
    expect(fs.statSync(log.activeSegment.logPath).size).toBe(4096);
    const records = await readAll(log);
    expect(records.map((record) => record.offset)).toEqual(values.map((_, offset) => offset));
    expect(records.map((record) => record.value.replace(/\.+$/, ""))).toEqual(values);
    // Every fetch offset lands in the batch that holds it.
    for (let offset = 0; offset < log.logEndOffset; offset += 7) {
      const found = slice(log, offset, 1)!;
      const [first] = batchHeaders(sliceBytes(found));
      expect(first!.baseOffset).toBeLessThanOrEqual(offset);
      expect(first!.baseOffset + first!.lastOffsetDelta).toBeGreaterThanOrEqual(offset);
    }
    log.close();
  });

  test("offset index lookups agree with a linear scan of the batches", () => {
    const dir = freshDir();
    const log = openLog(dir, { indexIntervalBytes: 100, segmentBytes: 64 * 1024 });
    fill(log, 600);
    for (const segment of log.segments) {
      const bytes = fs.readFileSync(segment.logPath).subarray(0, segment.sizeBytes);
      const headers = batchHeaders(bytes);
      expect(segment.offsetIndex.entries).toBeGreaterThan(10);
      let position = 0;
      const positions = headers.map((header) => {
        const at = position;
        position += header.sizeBytes;
        return at;
      });
      for (let offset = segment.baseOffset; offset < segment.nextOffset; offset++) {
        const expected = headers.findIndex((header) => header.baseOffset + header.lastOffsetDelta >= offset);
        const found = segment.translateOffset(offset)!;
        expect(found.position).toBe(positions[expected]!);
        expect(found.baseOffset).toBe(headers[expected]!.baseOffset);
        // An index entry never points past the batch holding its offset.
        expect(segment.offsetIndex.lookup(offset).position).toBeLessThanOrEqual(found.position);
      }
    }
    log.close();
  });

  test("reads stop before maxOffsetExclusive and within maxBytes; minOneBatch returns one oversized batch (KIP-74)", () => {
    const dir = freshDir();
    const log = openLog(dir, { segmentBytes: 1 << 20 });
    const sizes: number[] = [];
    for (let index = 0; index < 10; index++) {
      const batch = producerBatch(`m${index}`, 2, T0 + index, 100);
      sizes.push(batch.byteLength);
      ok(log.appendAsLeader(batch, 0, T0));
    }
    // High watermark at offset 6 (batch boundary): batches 0..2 only.
    const bounded = slice(log, 0, 1 << 20, 6)!;
    expect(bounded.sizeBytes).toBe(sizes[0]! + sizes[1]! + sizes[2]!);
    expect(slice(log, 6, 1 << 20, 6)).toBeNull();
    // High watermark inside a batch (offset 7): that batch is not readable yet.
    expect(batchHeaders(sliceBytes(slice(log, 0, 1 << 20, 7)!)).length).toBe(3);
    // maxBytes cuts at a batch boundary, never inside a batch.
    const budget = sizes[0]! + sizes[1]! + 10;
    expect(slice(log, 0, budget)!.sizeBytes).toBe(sizes[0]! + sizes[1]!);
    // KIP-74: the first batch is returned whole even when larger than maxBytes, if minOneBatch.
    expect(slice(log, 2, 10, log.logEndOffset, true)!.sizeBytes).toBe(sizes[1]!);
    expect(slice(log, 2, 10, log.logEndOffset, false)).toBeNull();
    expect(slice(log, log.logEndOffset)).toBeNull();
    log.close();
  });

  test("OFFSET_OUT_OF_RANGE below the log start and above the log end", () => {
    const dir = freshDir();
    const log = openLog(dir);
    fill(log, 10);
    expect(log.read(log.logEndOffset + 1, 1000, log.logEndOffset, true).errorCode).toBe(OFFSET_OUT_OF_RANGE);
    expect(log.read(-1, 1000, log.logEndOffset, true).errorCode).toBe(OFFSET_OUT_OF_RANGE);
    expect(log.read(log.logEndOffset, 1000, log.logEndOffset, true)).toEqual({ errorCode: 0, slice: null });
    log.deleteRecordsBefore(5);
    expect(log.read(4, 1000, log.logEndOffset, true).errorCode).toBe(OFFSET_OUT_OF_RANGE);
    expect(log.read(5, 1000, log.logEndOffset, true).errorCode).toBe(0);
    log.close();
  });

  test("refuses invalid produce data without touching the log", () => {
    const dir = freshDir();
    const log = openLog(dir, { maxMessageBytes: 500 });
    fill(log, 3);
    const endBefore = log.logEndOffset;
    const bad = producerBatch("x", 2, T0);
    bad[bad.byteLength - 1]! ^= 1;
    expect(log.appendAsLeader(bad, 0, T0).errorCode).toBe(CORRUPT_MESSAGE);
    expect(log.appendAsLeader(producerBatch("big", 5, T0, 200), 0, T0).errorCode).toBe(MESSAGE_TOO_LARGE);
    expect(log.appendAsLeader(new Uint8Array(5000), 0, T0).errorCode).toBe(RECORD_LIST_TOO_LARGE);
    expect(log.logEndOffset).toBe(endBefore);
    log.close();
  });

  test("LogAppendTime stamps the broker time and reports it", async () => {
    const dir = freshDir();
    const log = openLog(dir, { messageTimestampType: "LogAppendTime" });
    const info = ok(log.appendAsLeader(producerBatch("t", 3, 5), 0, T0 + 123));
    expect(info.logAppendTimeMs).toBe(T0 + 123);
    const records = await recordValues(sliceBytes(slice(log, 0)!));
    expect(records.map((record) => record.timestampMs)).toEqual([T0 + 123, T0 + 123, T0 + 123]);
    expect(await log.offsetForTimestamp(T0 + 100)).toEqual({ offset: 0, timestampMs: T0 + 123 });
    log.close();
  });

  test("rolls by segment.ms (record time) and when the index is full", () => {
    const dir = freshDir();
    const log = openLog(dir, { segmentBytes: 1 << 20, segmentMs: 1000 });
    ok(log.appendAsLeader(producerBatch("a", 1, T0), 0, T0));
    ok(log.appendAsLeader(producerBatch("b", 1, T0 + 500), 0, T0));
    expect(log.segments.length).toBe(1);
    ok(log.appendAsLeader(producerBatch("c", 1, T0 + 1500), 0, T0));
    expect(log.segments.length).toBe(2);
    expect(log.activeSegment.baseOffset).toBe(2);
    log.close();

    const small = openLog(freshDir(), { segmentBytes: 1 << 20, segmentIndexBytes: 32, indexIntervalBytes: 0 });
    for (let index = 0; index < 20; index++) ok(small.appendAsLeader(producerBatch(`i${index}`, 1, T0 + index), 0, T0));
    expect(small.segments.length).toBeGreaterThan(3);
    for (const segment of small.segments) expect(segment.offsetIndex.entries).toBeLessThanOrEqual(4);
    small.close();
  });
});

describe("timestamps", () => {
  test("offsetForTimestamp finds the first record at or after a timestamp, in compressed batches too", async () => {
    const dir = freshDir();
    const log = openLog(dir, { segmentBytes: 2048, indexIntervalBytes: 64 });
    const all: { offset: number; timestampMs: number }[] = [];
    for (let index = 0; index < 120; index++) {
      // Mostly increasing, with some batches from a producer whose clock is behind.
      const base = T0 + index * 100 - (index % 7 === 3 ? 450 : 0);
      const compression = index % 3 === 0 ? CompressionType.LZ4 : index % 3 === 1 ? CompressionType.GZIP : undefined;
      const batch = buildBatch({ records: Array.from({ length: 4 }, (_, r) => ({ value: `r${index}.${r}`, timestampMs: base + r * 20 })), compression });
      const info = ok(log.appendAsLeader(batch, 0, T0));
      for (let r = 0; r < 4; r++) all.push({ offset: info.baseOffset + r, timestampMs: base + r * 20 });
    }
    expect(log.segments.length).toBeGreaterThan(2);
    for (let target = T0 - 1000; target <= T0 + 12_500; target += 37) {
      const expected = all.find((record) => record.timestampMs >= target) ?? null;
      expect(await log.offsetForTimestamp(target)).toEqual(expected);
    }
    log.close();
  });
});

describe("options", () => {
  test("preallocate=false: the .log grows with the data and reads remap as needed", async () => {
    const dir = freshDir();
    const log = openLog(dir, { preallocate: false });
    const values = fill(log, 60);
    expect(fs.statSync(log.activeSegment.logPath).size).toBe(log.activeSegment.sizeBytes);
    expect((await readAll(log)).length).toBe(values.length);
    const more = fill(log, 5, "late");
    expect((await readAll(log)).map((record) => record.value.replace(/\.+$/, ""))).toEqual([...values, ...more]);
    log.close();
    const reopened = openLog(dir, { preallocate: false }, true);
    expect(reopened.logEndOffset).toBe(values.length + more.length);
    reopened.close();
  });

  test("maxTimestampOffset finds the first record with the largest timestamp", async () => {
    const log = openLog(freshDir());
    expect(await log.maxTimestampOffset()).toBeNull();
    fill(log, 30, "m", (index) => (index === 11 ? T0 + 1_000_000 : T0 + index));
    const records = await readAll(log);
    const maxTimestampMs = Math.max(...records.map((record) => record.timestampMs));
    expect(maxTimestampMs).toBeGreaterThanOrEqual(T0 + 1_000_000);
    const expected = records.find((record) => record.timestampMs === maxTimestampMs)!;
    expect(await log.maxTimestampOffset()).toEqual({ offset: expected.offset, timestampMs: maxTimestampMs });
    log.close();
  });
});

describe("clean and unclean reopen", () => {
  test("clean close and reopen: no rescan, same offsets, appends continue", async () => {
    const dir = freshDir();
    const log = openLog(dir);
    const values = fill(log, 80);
    const segmentCount = log.segments.length;
    log.close();
    for (const size of segmentLogSizes(dir)) expect(size).toBeLessThanOrEqual(4096);
    const reopened = openLog(dir);
    expect(reopened.recoveryReport.recoveredSegments).toBe(0);
    expect(reopened.recoveryReport.rebuiltIndexes).toBe(0);
    expect(reopened.logEndOffset).toBe(values.length);
    expect(reopened.segments.length).toBe(segmentCount);
    expect(reopened.unflushedMessages).toBe(0);
    const more = fill(reopened, 20, "c");
    const records = await readAll(reopened);
    expect(records.map((record) => record.value.replace(/\.+$/, ""))).toEqual([...values, ...more]);
    reopened.close();
  });

  /** Appends, "crashes" (the object is dropped without close), damages the files, reopens with recovery. */
  async function crashAndRecover(damage: (activeLogPath: string, lastBatchPosition: number, dataBytes: number) => void) {
    const dir = freshDir();
    const log = openLog(dir);
    const values = fill(log, 60);
    const active = log.activeSegment;
    const headers = batchHeaders(fs.readFileSync(active.logPath).subarray(0, active.sizeBytes));
    expect(headers.length).toBeGreaterThan(1);
    const lastBatchPosition = active.sizeBytes - headers[headers.length - 1]!.sizeBytes;
    const lastBatchRecords = headers[headers.length - 1]!.recordCount;
    damage(active.logPath, lastBatchPosition, active.sizeBytes);
    const recovered = openLog(dir, {}, true);
    return { recovered, values, lastBatchRecords, activeLogPath: active.logPath };
  }

  test("unclean reopen with garbage after the last batch keeps every batch", async () => {
    const { recovered, values } = await crashAndRecover((logPath, _last, dataBytes) => {
      const fd = fs.openSync(logPath, "r+");
      fs.writeSync(fd, new Uint8Array(300).map((_, index) => (index * 37 + 11) & 255), 0, 300, dataBytes);
      fs.closeSync(fd);
    });
    expect(recovered.logEndOffset).toBe(values.length);
    expect(recovered.recoveryReport.recoveredSegments).toBeGreaterThanOrEqual(1);
    expect(recovered.recoveryReport.truncatedBytes).toBeGreaterThan(0);
    const more = fill(recovered, 5, "after");
    expect((await readAll(recovered)).map((record) => record.value.replace(/\.+$/, ""))).toEqual([...values, ...more]);
    recovered.close();
  });

  test("unclean reopen with preallocated zeros after the last batch (plain crash) keeps every batch", async () => {
    const { recovered, values } = await crashAndRecover(() => {});
    expect(recovered.logEndOffset).toBe(values.length);
    recovered.close();
  });

  test("unclean reopen with the .log cut in the middle of the last batch drops that batch only", async () => {
    const { recovered, values, lastBatchRecords } = await crashAndRecover((logPath, lastBatchPosition) => {
      fs.truncateSync(logPath, lastBatchPosition + 30);
    });
    expect(recovered.logEndOffset).toBe(values.length - lastBatchRecords);
    const more = fill(recovered, 5, "after");
    expect(more.length).toBeGreaterThan(0);
    const records = await readAll(recovered);
    expect(records.map((record) => record.offset)).toEqual(records.map((_, offset) => offset));
    expect(records.map((record) => record.value.replace(/\.+$/, ""))).toEqual([...values.slice(0, values.length - lastBatchRecords), ...more]);
    recovered.close();
  });

  test("unclean reopen with a flipped bit in the last batch drops that batch only", async () => {
    const { recovered, values, lastBatchRecords } = await crashAndRecover((logPath, lastBatchPosition) => {
      const fd = fs.openSync(logPath, "r+");
      const byte = new Uint8Array(1);
      fs.readSync(fd, byte, 0, 1, lastBatchPosition + RECORDS_OFFSET + 3);
      byte[0]! ^= 0x04;
      fs.writeSync(fd, byte, 0, 1, lastBatchPosition + RECORDS_OFFSET + 3);
      fs.closeSync(fd);
    });
    expect(recovered.logEndOffset).toBe(values.length - lastBatchRecords);
    expect(recovered.recoveryReport.events.join("\n")).toContain("CRC mismatch");
    ok(recovered.appendAsLeader(producerBatch("next", 2, T0), 3, T0));
    expect(recovered.logEndOffset).toBe(values.length - lastBatchRecords + 2);
    recovered.close();
  });

  test("a corrupt middle segment ends the log there: later segments are deleted", async () => {
    const dir = freshDir();
    const log = openLog(dir);
    fill(log, 80);
    const victim = log.segments[2]!;
    const victimEnd = victim.nextOffset;
    const segmentsBefore = log.segments.length;
    log.close();
    // Recovery point 0 makes recovery re-read every segment.
    fs.writeFileSync(path.join(dir, "recovery-point"), "0\n");
    const fd = fs.openSync(victim.logPath, "r+");
    const size = fs.fstatSync(fd).size;
    fs.writeSync(fd, new Uint8Array([0xff, 0xff]), 0, 2, size - 5);
    fs.closeSync(fd);
    const recovered = openLog(dir, {}, true);
    expect(recovered.segments.length).toBe(3);
    expect(recovered.recoveryReport.deletedSegments).toBe(segmentsBefore - 3);
    expect(recovered.logEndOffset).toBeLessThan(victimEnd);
    const records = await readAll(recovered);
    expect(records.map((record) => record.offset)).toEqual(records.map((_, offset) => offset));
    recovered.close();
  });

  test("missing or damaged indexes are rebuilt on a clean open", async () => {
    const dir = freshDir();
    const log = openLog(dir, { indexIntervalBytes: 64 });
    const values = fill(log, 80);
    const [first, second] = log.segments;
    const firstEntries = first!.offsetIndex.entries;
    expect(firstEntries).toBeGreaterThan(2);
    log.close();
    fs.rmSync(first!.offsetIndex.path);
    fs.writeFileSync(second!.timeIndex.path, new Uint8Array(30)); // not a multiple of 12
    const reopened = openLog(dir, { indexIntervalBytes: 64 });
    expect(reopened.recoveryReport.rebuiltIndexes).toBe(2);
    expect(reopened.segments[0]!.offsetIndex.entries).toBe(firstEntries);
    expect(fs.statSync(first!.offsetIndex.path).size).toBe(firstEntries * 8);
    expect((await readAll(reopened)).length).toBe(values.length);
    expect(await reopened.offsetForTimestamp(T0 + 155)).toEqual({ offset: (await readAll(reopened)).findIndex((record) => record.timestampMs >= T0 + 155), timestampMs: T0 + 160 });
    reopened.close();
  });

  test("a clean open whose last segment has a torn tail recovers it anyway", () => {
    const dir = freshDir();
    const log = openLog(dir);
    const values = fill(log, 20);
    log.close();
    const last = log.activeSegment.logPath;
    fs.appendFileSync(last, new Uint8Array(40).fill(7));
    const reopened = openLog(dir);
    expect(reopened.recoveryReport.recoveredSegments).toBe(1);
    expect(reopened.logEndOffset).toBe(values.length);
    reopened.close();
  });
});

describe("truncation and retention", () => {
  test("truncateTo writes a new file: new fileId, and an old reader's view is untouched", async () => {
    const dir = freshDir();
    const log = openLog(dir, { segmentBytes: 1 << 16 });
    const values = fill(log, 40);
    const before = slice(log, 0, 1 << 20)!;
    // A reader thread maps the file and keeps the view.
    const readerView = Bun.mmap(before.path, { shared: true });
    const original = readerView.slice(0, before.sizeBytes);
    const cutOffset = 37; // inside a batch: the whole batch goes
    log.truncateTo(cutOffset);
    expect(log.logEndOffset).toBeLessThanOrEqual(cutOffset);
    const after = slice(log, 0, 1 << 20)!;
    expect(after.path).toBe(before.path);
    expect(after.fileId).not.toBe(before.fileId);
    expect(after.sizeBytes).toBeLessThan(before.sizeBytes);
    // The old view still reads all the old bytes, including the cut ones.
    expect(Buffer.from(readerView.subarray(0, before.sizeBytes)).equals(Buffer.from(original))).toBe(true);
    expect(Buffer.from(sliceBytes(after)).equals(Buffer.from(original.subarray(0, after.sizeBytes)))).toBe(true);
    const kept = log.logEndOffset;
    const more = fill(log, 3, "new");
    expect((await readAll(log)).map((record) => record.value.replace(/\.+$/, ""))).toEqual([...values.slice(0, kept), ...more]);
    log.close();
    const reopened = openLog(dir, { segmentBytes: 1 << 16 }, true);
    expect(reopened.logEndOffset).toBe(kept + more.length);
    reopened.close();
  });

  test("truncateTo across segments deletes later segments and truncates the epoch cache", () => {
    const dir = freshDir();
    const log = openLog(dir);
    for (let epoch = 1; epoch <= 4; epoch++) {
      for (let index = 0; index < 20; index++) ok(log.appendAsLeader(producerBatch(`e${epoch}.${index}`, 2, T0), epoch, T0));
    }
    expect(log.leaderEpochCache.entries.map((entry) => entry.startOffset)).toEqual([0, 40, 80, 120]);
    const segmentsBefore = log.segments.length;
    log.truncateTo(50);
    expect(log.logEndOffset).toBe(50);
    expect(log.segments.length).toBeLessThan(segmentsBefore);
    expect(log.activeSegment.active).toBe(true);
    expect(log.leaderEpochCache.entries).toEqual([
      { epoch: 1, startOffset: 0 },
      { epoch: 2, startOffset: 40 },
    ]);
    expect(log.endOffsetForEpoch(1)).toEqual({ epoch: 1, endOffset: 40 });
    expect(log.endOffsetForEpoch(2)).toEqual({ epoch: 2, endOffset: 50 });
    ok(log.appendAsLeader(producerBatch("x", 1, T0), 5, T0));
    expect(log.logEndOffset).toBe(51);
    log.truncateTo(0);
    expect(log.logEndOffset).toBe(0);
    expect(log.segments.length).toBe(1);
    log.close();
  });

  test("appendAsFollower keeps the leader's offsets, refuses overlaps and learns epochs", () => {
    const leader = openLog(freshDir());
    const follower = openLog(freshDir());
    for (let index = 0; index < 30; index++) ok(leader.appendAsLeader(producerBatch(`f${index}`, 3, T0 + index), index < 15 ? 1 : 2, T0));
    let offset = 0;
    for (let guard = 0; guard < 1000 && offset < leader.logEndOffset; guard++) {
      const found = slice(leader, offset, 700)!;
      const info = ok(follower.appendAsFollower(sliceBytes(found)));
      offset = info.lastOffset + 1;
    }
    expect(follower.logEndOffset).toBe(leader.logEndOffset);
    expect(follower.leaderEpochCache.entries).toEqual(leader.leaderEpochCache.entries);
    // Below the log end offset: refused. (A gap ahead of it is accepted: a compacted leader, cleaner.test.ts.)
    const overlap = producerBatch("overlap", 1, T0);
    assignOffsets(overlap, follower.logEndOffset - 1, 2);
    expect(follower.appendAsFollower(overlap).errorCode).toBe(OFFSET_OUT_OF_RANGE);
    leader.close();
    follower.close();
  });

  test("appendAsFollower refuses corrupt batches from the leader with the validator's reason and writes nothing", () => {
    const follower = openLog(freshDir());
    const corrupt = producerBatch("corrupt", 3, T0);
    assignOffsets(corrupt, 0, 1);
    corrupt[corrupt.byteLength - 1]! ^= 0x01;
    const refused = follower.appendAsFollower(corrupt);
    expect(refused.errorCode).toBe(CORRUPT_MESSAGE);
    expect((refused as AppendError).errorMessage).toBe("invalid record batches from the leader: batch 0: CRC32C mismatch");
    expect(follower.logEndOffset).toBe(0);
    follower.close();
  });

  test("retention.ms and retention.bytes delete whole old segments, never the active one", () => {
    const dir = freshDir();
    const log = openLog(dir, { retentionMs: 60_000 });
    // Old records first, then recent ones.
    fill(log, 40, "old", () => T0);
    fill(log, 40, "new", () => T0 + 1_000_000);
    const segmentsBefore = log.segments.length;
    const deleted = log.applyRetention(T0 + 1_000_000 + 1000);
    expect(deleted).toBeGreaterThan(0);
    expect(log.segments.length).toBe(segmentsBefore - deleted);
    expect(log.logStartOffset).toBe(log.segments[0]!.baseOffset);
    expect(log.read(0, 100, log.logEndOffset, true).errorCode).toBe(OFFSET_OUT_OF_RANGE);
    // Everything expired: the active segment stays.
    log.applyRetention(T0 + 10_000_000);
    expect(log.segments.length).toBe(1);
    log.close();
    const reopened = openLog(dir);
    expect(reopened.logStartOffset).toBe(reopened.segments[0]!.baseOffset);
    reopened.close();

    const bytesLog = openLog(freshDir(), { retentionMs: -1, retentionBytes: 10_000 });
    fill(bytesLog, 100);
    bytesLog.applyRetention(T0);
    // Kafka's rule: delete the oldest segment only while what remains is still >= retention.bytes.
    expect(bytesLog.sizeBytes).toBeGreaterThanOrEqual(10_000);
    expect(bytesLog.sizeBytes - bytesLog.segments[0]!.sizeBytes).toBeLessThan(10_000);
    expect(bytesLog.logStartOffset).toBeGreaterThan(0);
    bytesLog.close();
  });

  test("deleteRecordsBefore moves the log start offset (persisted) and drops whole segments below it", () => {
    const dir = freshDir();
    const log = openLog(dir);
    fill(log, 80);
    const third = log.segments[3]!.baseOffset;
    log.deleteRecordsBefore(third + 1);
    expect(log.logStartOffset).toBe(third + 1);
    expect(log.segments[0]!.baseOffset).toBe(third);
    expect(log.deleteRecordsBefore(log.logEndOffset + 1).errorCode).toBe(OFFSET_OUT_OF_RANGE);
    log.close();
    const reopened = openLog(dir);
    expect(reopened.logStartOffset).toBe(third + 1);
    expect(reopened.read(third, 100, reopened.logEndOffset, true).errorCode).toBe(OFFSET_OUT_OF_RANGE);
    reopened.close();
  });

  test("flush fdatasyncs and records the recovery point; rolled segments are synced in the background; delete removes the directory", async () => {
    const dir = freshDir();
    const log = openLog(dir, { flushMessages: 10 });
    fill(log, 3);
    expect(log.unflushedMessages).toBe(6);
    expect(log.needsFlush(T0)).toBe(false);
    fill(log, 3, "more");
    expect(log.needsFlush(T0)).toBe(true);
    log.flush(T0 + 5);
    expect(log.unflushedMessages).toBe(0);
    expect(log.lastFlushMs).toBe(T0 + 5);
    fill(log, 60);
    const recoveryPointFile = path.join(dir, "recovery-point");
    // Rolled segments are fsynced on the threadpool; the recovery point follows when that completes.
    for (let waitedMs = 0; waitedMs < 5000 && Number(fs.readFileSync(recoveryPointFile, "utf8")) !== log.activeSegment.baseOffset; waitedMs += 10) {
      await Bun.sleep(10);
    }
    expect(Number(fs.readFileSync(recoveryPointFile, "utf8"))).toBe(log.activeSegment.baseOffset);
    expect(log.recoveryPoint).toBe(log.activeSegment.baseOffset);
    log.delete();
    expect(fs.existsSync(dir)).toBe(false);
  });
});
