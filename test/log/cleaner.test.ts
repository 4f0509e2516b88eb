// The log cleaner on real files: compaction to the latest value per key, tombstones and
// delete.retention.ms, compressed batches, idempotent producers' last batches, sparse offsets everywhere
// (reads, ListOffsets, reopen, producer state), a follower appending a cleaned leader's batches, the swap's
// crash states, bounded passes that yield, and a pass abandoned when retention moves the log under it.
import { afterEach, describe, expect, test } from "bun:test";
import * as fs from "node:fs";
import * as path from "node:path";
import { cleanLog, cleanableState, needsCleaning } from "../../src/log/log-cleaner.ts";
import type { LogConfig } from "../../src/log/config.ts";
import { PartitionLog, type AppendError, type AppendInfo } from "../../src/log/partition-log.ts";
import { COMPRESSION_CODEC_MASK, CompressionType, dataViewOf, isRecordsProblem, validateBatches, batchSizeBytes } from "../../src/records/batch.ts";
import { buildBatch, readBatchRecords, type RecordInput } from "../../src/records/compression.ts";
import { INVALID_RECORD, OFFSET_OUT_OF_RANGE } from "../../src/records/errors.ts";
import { batchHeaders, sliceBytes, tempDir } from "./helpers.ts";

let cleanups: (() => void)[] = [];
afterEach(() => {
  for (const cleanup of cleanups) cleanup();
  cleanups = [];
});

const T0 = 1_700_000_000_000;
const decoder = new TextDecoder();

function freshDir(): string {
  const temp = tempDir("bunka-cleaner-");
  cleanups.push(temp.cleanup);
  return temp.dir;
}

const compactConfig: Partial<LogConfig> = { segmentBytes: 4096, indexIntervalBytes: 256, compact: true, delete: false, deleteRetentionMs: 1000, minCleanableDirtyRatio: 0.5 };

function openLog(dir: string, config: Partial<LogConfig> = {}, nowMs = T0, recover = false): PartitionLog {
  return PartitionLog.open({ dir, config: { ...compactConfig, ...config }, recover, nowMs });
}

function ok(result: AppendInfo | AppendError): AppendInfo {
  if (result.errorCode !== 0) throw new Error(`append failed: ${JSON.stringify(result)}`);
  return result as AppendInfo;
}

interface StoredRecord {
  offset: number;
  key: string | null;
  value: string | null;
  timestampMs: number;
}

interface StoredBatchInfo {
  baseOffset: number;
  lastOffset: number;
  recordCount: number;
  codec: number;
  producerId: number;
}

/** Reads the whole log by following slices from the log start: records and batch headers, all CRC-checked. */
async function readLog(log: PartitionLog): Promise<{ records: StoredRecord[]; batches: StoredBatchInfo[] }> {
  const records: StoredRecord[] = [];
  const batches: StoredBatchInfo[] = [];
  let offset = log.logStartOffset;
  for (let guard = 0; guard < 100_000 && offset < log.logEndOffset; guard++) {
    const result = log.read(offset, 64 * 1024, log.logEndOffset, true);
    expect(result.errorCode).toBe(0);
    if (result.slice === null) break;
    const bytes = sliceBytes(result.slice);
    expect(isRecordsProblem(validateBatches(bytes, 1 << 30, "replica"))).toBe(false);
    const view = dataViewOf(bytes);
    for (let position = 0; position < bytes.byteLength; position += batchSizeBytes(view, position)) {
      const batch = bytes.subarray(position, position + batchSizeBytes(view, position));
      const [header] = batchHeaders(batch);
      batches.push({ baseOffset: header!.baseOffset, lastOffset: header!.baseOffset + header!.lastOffsetDelta, recordCount: header!.recordCount, codec: header!.attributes & COMPRESSION_CODEC_MASK, producerId: header!.producerId });
      for (const record of await readBatchRecords(batch)) {
        records.push({ offset: record.offset, key: record.key && decoder.decode(record.key), value: record.value && decoder.decode(record.value), timestampMs: record.timestampMs });
      }
      offset = header!.baseOffset + header!.lastOffsetDelta + 1;
    }
  }
  return { records, batches };
}

/** Appends `count` batches of 1..4 records over `keyCount` keys; returns every record as written. */
function writeUpdates(log: PartitionLog, count: number, keyCount: number, options: { tag?: string; compression?: number; firstTimestampMs?: number } = {}): StoredRecord[] {
  const written: StoredRecord[] = [];
  const tag = options.tag ?? "v";
  for (let index = 0; index < count; index++) {
    const records: RecordInput[] = [];
    const recordCount = 1 + (index % 4);
    for (let slot = 0; slot < recordCount; slot++) {
      const sequence = written.length + records.length;
      records.push({ key: `key-${(sequence * 7) % keyCount}`, value: `${tag}-${sequence}-${"x".repeat(sequence % 30)}`, timestampMs: (options.firstTimestampMs ?? T0) + sequence });
    }
    const info = ok(log.appendAsLeader(buildBatch({ records, compression: options.compression }), 1, T0));
    records.forEach((record, slot) => written.push({ offset: info.baseOffset + slot, key: record.key as string, value: record.value as string, timestampMs: record.timestampMs! }));
  }
  // Rolled segments are fsynced in the background; the cleaner leaves a segment alone until that is done.
  log.flush();
  return written;
}

/** How many records writeUpdates(count, ...) writes (batches of 1..4 records, cycling). */
function writeUpdatesCount(count: number): number {
  let total = 0;
  for (let index = 0; index < count; index++) total += 1 + (index % 4);
  return total;
}

/** What a clean with a map over [0, uncleanable) must leave: the last record per key below it, everything at or above it. */
function expectedAfterClean(written: readonly StoredRecord[], uncleanableOffset: number, nowMs: number, deleteRetentionMs: number): StoredRecord[] {
  const latest = new Map<string, number>();
  for (const record of written) if (record.offset < uncleanableOffset) latest.set(record.key!, record.offset);
  return written.filter((record) => {
    if (record.offset >= uncleanableOffset) return true;
    if (latest.get(record.key!) !== record.offset) return false;
    return record.value !== null || nowMs - record.timestampMs <= deleteRetentionMs;
  });
}

describe("compaction", () => {
  test("keeps the latest record per key below the active segment; batches keep their offset ranges; sparse offsets read back", async () => {
    const dir = freshDir();
    const log = openLog(dir);
    const written = writeUpdates(log, 400, 25);
    const before = await readLog(log);
    const originalRanges = new Set(before.batches.map((batch) => `${batch.baseOffset}-${batch.lastOffset}`));
    const segmentsBefore = log.segments.length;
    const bytesBefore = log.sizeBytes;
    const uncleanable = log.activeSegment.baseOffset;
    expect(segmentsBefore).toBeGreaterThan(10);
    expect(needsCleaning(log, T0)).toBe(true);

    const result = (await cleanLog(log, { nowMs: T0 }))!;
    expect(result.aborted).toBe(false);
    expect(result.endOffset).toBe(uncleanable);
    expect(result.keys).toBe(25);
    expect(log.cleanerCheckpoint.firstDirtyOffset).toBe(uncleanable);
    expect(log.sizeBytes).toBeLessThan(bytesBefore / 3);
    // Segments are grouped by their size before cleaning (as Kafka does): full ones are cleaned one by one,
    // and the next pass merges the small results.
    expect(log.segments.length).toBe(segmentsBefore);
    await cleanLog(log, { nowMs: T0, force: true });
    expect(log.segments.length).toBeLessThan(segmentsBefore / 3);

    const after = await readLog(log);
    const expected = expectedAfterClean(written, uncleanable, T0, 1000);
    expect(after.records).toEqual(expected);
    // Offsets only increase, with gaps; every batch kept the offset range it was written with.
    for (let index = 1; index < after.records.length; index++) expect(after.records[index]!.offset).toBeGreaterThan(after.records[index - 1]!.offset);
    for (const batch of after.batches) expect(originalRanges.has(`${batch.baseOffset}-${batch.lastOffset}`)).toBe(true);
    expect(log.logEndOffset).toBe(written.length);

    // A read at an offset inside a gap answers with the next batch.
    const kept = new Set(after.records.map((record) => record.offset));
    const gapOffset = [...Array(uncleanable).keys()].find((offset) => !after.batches.some((batch) => offset >= batch.baseOffset && offset <= batch.lastOffset))!;
    const nextBatch = after.batches.find((batch) => batch.baseOffset > gapOffset)!;
    const atGap = log.read(gapOffset, 1 << 20, log.logEndOffset, true);
    expect(atGap.slice!.firstOffset).toBe(nextBatch.baseOffset);
    // ListOffsets by timestamp finds the first kept record at or after it.
    const target = written[Math.floor(uncleanable / 2)]!.timestampMs;
    const firstAtOrAfter = after.records.find((record) => record.timestampMs >= target)!;
    expect(await log.offsetForTimestamp(target)).toEqual({ offset: firstAtOrAfter.offset, timestampMs: firstAtOrAfter.timestampMs });
    expect(kept.size).toBe(expected.length);

    // Nothing is dirty now; after a clean reopen the log and the checkpoint are the same.
    expect(needsCleaning(log, T0)).toBe(false);
    log.close();
    const reopened = openLog(dir);
    expect(reopened.recoveryReport.rebuiltIndexes).toBe(0);
    expect((await readLog(reopened)).records).toEqual(expected);
    expect(reopened.cleanerCheckpoint.firstDirtyOffset).toBe(uncleanable);
    // Appends continue densely at the log end.
    expect(ok(reopened.appendAsLeader(buildBatch({ records: [{ key: "key-1", value: "after" }] }), 1, T0)).baseOffset).toBe(written.length);
    reopened.close();
    // An unclean reopen re-validates the cleaned segments (sparse offsets pass recovery).
    const recovered = openLog(dir, {}, T0, true);
    expect((await readLog(recovered)).records.length).toBe(expected.length + 1);
    recovered.close();
  });

  test("a second round of updates cleans the clean section again; dirty ratio decides when", async () => {
    const log = openLog(freshDir());
    const first = writeUpdates(log, 200, 10, { tag: "a" });
    await cleanLog(log, { nowMs: T0 });
    const cleanedEnd = log.cleanerCheckpoint.firstDirtyOffset;
    // A little new data: below min.cleanable.dirty.ratio, nothing to do.
    const second = writeUpdates(log, 3, 10, { tag: "b" });
    const state = cleanableState(log, T0);
    expect(state.firstDirtyOffset).toBe(cleanedEnd);
    if (state.dirtyRatio < 0.5) expect(needsCleaning(log, T0)).toBe(false);
    // Much more: the ratio passes and the whole cleanable log is compacted against the new map.
    const third = writeUpdates(log, 300, 10, { tag: "c" });
    expect(needsCleaning(log, T0)).toBe(true);
    const uncleanable = log.activeSegment.baseOffset;
    await cleanLog(log, { nowMs: T0 });
    const all = [...first, ...second, ...third].map((record) => ({ ...record, offset: record.offset }));
    expect((await readLog(log)).records).toEqual(expectedAfterClean(all, uncleanable, T0, 1000));
    log.close();
  });

  test("tombstones remove their key, stay for delete.retention.ms, then go; a pass runs for them alone", async () => {
    const log = openLog(freshDir(), { deleteRetentionMs: 60_000 });
    const written = writeUpdates(log, 100, 8);
    // Tombstones for key-0..key-3, then enough updates of other keys to push them out of the active segment.
    const tombstoneTimestamp = T0 + 10_000;
    const tombstones = buildBatch({ records: [0, 1, 2, 3].map((index) => ({ key: `key-${index}`, value: null, timestampMs: tombstoneTimestamp })) });
    const info = ok(log.appendAsLeader(tombstones, 1, T0));
    [0, 1, 2, 3].forEach((index) => written.push({ offset: info.baseOffset + index, key: `key-${index}`, value: null, timestampMs: tombstoneTimestamp }));
    for (let index = 0; index < 60; index++) {
      const filler = ok(log.appendAsLeader(buildBatch({ records: [{ key: `other-${index % 3}`, value: `filler-${index}`.padEnd(60, "."), timestampMs: T0 + 20_000 + index }] }), 1, T0));
      written.push({ offset: filler.baseOffset, key: `other-${index % 3}`, value: `filler-${index}`.padEnd(60, "."), timestampMs: T0 + 20_000 + index });
    }
    log.flush();
    const uncleanable = log.activeSegment.baseOffset;
    expect(uncleanable).toBeGreaterThan(info.lastOffset);

    // Young tombstones: kept, and every older value of their keys is gone.
    const youngNowMs = tombstoneTimestamp + 1000;
    await cleanLog(log, { nowMs: youngNowMs });
    let records = (await readLog(log)).records;
    expect(records).toEqual(expectedAfterClean(written, uncleanable, youngNowMs, 60_000));
    for (const index of [0, 1, 2, 3]) expect(records.filter((record) => record.key === `key-${index}`)).toEqual([{ offset: info.baseOffset + index, key: `key-${index}`, value: null, timestampMs: tombstoneTimestamp }]);
    expect(log.cleanerCheckpoint.oldestTombstoneMs).toBe(tombstoneTimestamp);

    // Nothing dirty: no pass until the tombstones pass delete.retention.ms, then one runs for them.
    expect(needsCleaning(log, tombstoneTimestamp + 59_000)).toBe(false);
    expect(needsCleaning(log, tombstoneTimestamp + 61_000)).toBe(true);
    const result = (await cleanLog(log, { nowMs: tombstoneTimestamp + 61_000 }))!;
    expect(result.tombstonesRemoved).toBe(4);
    records = (await readLog(log)).records;
    for (const index of [0, 1, 2, 3]) expect(records.some((record) => record.key === `key-${index}`)).toBe(false);
    expect(log.cleanerCheckpoint.oldestTombstoneMs).toBe(-1);
    expect(needsCleaning(log, tombstoneTimestamp + 1_000_000)).toBe(false);
    log.close();
  });

  test("compressed batches are recompressed with their own codec; records without a key are refused at produce", async () => {
    for (const compression of [CompressionType.LZ4, CompressionType.GZIP, CompressionType.ZSTD]) {
      const log = openLog(freshDir());
      const written = writeUpdates(log, 150, 6, { compression });
      const uncleanable = log.activeSegment.baseOffset;
      await cleanLog(log, { nowMs: T0 });
      const after = await readLog(log);
      expect(after.records).toEqual(expectedAfterClean(written, uncleanable, T0, 1000));
      for (const batch of after.batches) expect(batch.codec).toBe(compression);

      const keyless = buildBatch({ records: [{ key: "k", value: "a" }, { value: "no key" }], compression });
      const refused = log.appendAsLeader(keyless, 1, T0) as AppendError;
      expect(refused.errorCode).toBe(INVALID_RECORD);
      expect(refused.errorMessage).toContain("Compacted topic cannot accept message without key");
      log.close();
    }
    // The same batch is fine for a topic that is not compacted.
    const plain = openLog(freshDir(), { compact: false, delete: true });
    ok(plain.appendAsLeader(buildBatch({ records: [{ value: "no key" }] }), 1, T0));
    plain.close();
  });

  test("the last batch of an idempotent producer stays (emptied) so a restart still dedupes its retry", async () => {
    const dir = freshDir();
    const log = openLog(dir);
    const producerId = 42;
    // Three batches of producer 42, each superseded later by a plain producer's update of the same key.
    const idempotent = (sequence: number) =>
      buildBatch({ records: [{ key: `p-${sequence}`, value: `idempotent-${sequence}`, timestampMs: T0 }], producerId, producerEpoch: 0, baseSequence: sequence });
    const infos = [0, 1, 2].map((sequence) => ok(log.appendAsLeader(idempotent(sequence), 1, T0)));
    for (const sequence of [0, 1, 2]) ok(log.appendAsLeader(buildBatch({ records: [{ key: `p-${sequence}`, value: `newer-${sequence}` }] }), 1, T0));
    writeUpdates(log, 120, 5);
    expect(log.activeSegment.baseOffset).toBeGreaterThan(infos[2]!.lastOffset);
    await cleanLog(log, { nowMs: T0 });
    const batches = (await readLog(log)).batches.filter((batch) => batch.producerId === producerId);
    // The first two are gone; the last one is kept with no records and its offset range.
    expect(batches).toEqual([{ baseOffset: infos[2]!.baseOffset, lastOffset: infos[2]!.lastOffset, recordCount: 0, codec: 0, producerId }]);
    log.close();
    const reopened = openLog(dir);
    const retry = reopened.appendAsLeader(idempotent(2), 1, T0) as AppendInfo;
    expect(retry.duplicate).toBe(true);
    expect(retry.baseOffset).toBe(infos[2]!.baseOffset);
    expect(ok(reopened.appendAsLeader(idempotent(3), 1, T0)).duplicate).toBe(false);
    reopened.close();
  });

  test("transactions: an aborted value never supersedes a committed one and is removed; markers stay; open transactions are not cleaned", async () => {
    const dir = freshDir();
    const log = openLog(dir);
    const txn = (producerId: number, sequence: number, key: string, value: string) =>
      buildBatch({ records: [{ key, value, timestampMs: T0 }], producerId, producerEpoch: 0, baseSequence: sequence, isTransactional: true });
    ok(log.appendAsLeader(buildBatch({ records: [{ key: "k", value: "committed-1" }] }), 1, T0));
    ok(log.appendAsLeader(txn(7, 0, "k", "aborted"), 1, T0));
    ok(log.appendAsLeader(txn(7, 1, "other", "aborted-too"), 1, T0));
    const abortMarker = ok(log.appendMarker({ producerId: 7, producerEpoch: 0, coordinatorEpoch: 0, commit: false }, 1, T0));
    ok(log.appendAsLeader(txn(8, 0, "j", "committed-txn"), 1, T0));
    const commitMarker = ok(log.appendMarker({ producerId: 8, producerEpoch: 0, coordinatorEpoch: 0, commit: true }, 1, T0));
    writeUpdates(log, 120, 5);
    // An open transaction in a later segment: nothing from its first offset on is cleaned.
    const openStart = ok(log.appendAsLeader(txn(9, 0, "key-1", "open"), 1, T0)).baseOffset;
    writeUpdates(log, 60, 5, { tag: "late" });
    expect(log.firstUnstableOffset).toBe(openStart);
    await cleanLog(log, { nowMs: T0, force: true });
    const { records, batches } = await readLog(log);
    const values = records.map((record) => record.value);
    // The aborted "k" did not supersede "committed-1", and both aborted records are gone.
    expect(values).toContain("committed-1");
    expect(values).not.toContain("aborted");
    expect(values).not.toContain("aborted-too");
    expect(values).toContain("committed-txn");
    expect(values).toContain("open");
    // The markers are still there (with their offsets), and so is the abort's .txnindex entry.
    const markerOffsets = batches.filter((batch) => batch.producerId === 7 || batch.producerId === 8).map((batch) => batch.baseOffset);
    expect(markerOffsets).toContain(abortMarker.baseOffset);
    expect(markerOffsets).toContain(commitMarker.baseOffset);
    expect(log.abortedTransactions(0, log.logEndOffset).map((entry) => entry.lastOffset)).toEqual([abortMarker.baseOffset]);
    // Nothing at or past the open transaction's first offset was rewritten: every late update is still there.
    expect(records.filter((record) => record.value?.startsWith("late-")).length).toBe(writeUpdatesCount(60));
    log.close();
  });

  test("a marker goes once its transaction has no data left and delete.retention.ms passed since; the abort's .txnindex entry goes with its data", async () => {
    const dir = freshDir();
    const log = openLog(dir);
    const txn = (producerId: number, sequence: number, key: string, value: string) =>
      buildBatch({ records: [{ key, value, timestampMs: T0 }], producerId, producerEpoch: 0, baseSequence: sequence, isTransactional: true });
    const marker = (producerId: number, commit: boolean) => ok(log.appendMarker({ producerId, producerEpoch: 0, coordinatorEpoch: 0, commit }, 1, T0)).baseOffset;
    ok(log.appendAsLeader(txn(7, 0, "k", "aborted"), 1, T0));
    const abortOffset = marker(7, false);
    ok(log.appendAsLeader(txn(7, 1, "x", "committed-then-superseded"), 1, T0));
    const supersededCommitOffset = marker(7, true);
    // Producer 7's last batch (kept by the cleaner for its sequence) is in a later transaction, with data.
    ok(log.appendAsLeader(txn(7, 2, "y", "committed-kept"), 1, T0));
    const keptCommitOffset = marker(7, true);
    ok(log.appendAsLeader(buildBatch({ records: [{ key: "x", value: "plain-x", timestampMs: T0 }] }), 1, T0));
    writeUpdates(log, 240, 5);
    expect(log.producerSnapshotOffsets[0]!).toBeGreaterThan(keptCommitOffset);
    const markerOffsets = async () => (await readLog(log)).batches.filter((batch) => batch.producerId === 7 && batch.recordCount === 1 && batch.baseOffset > 0).map((batch) => batch.baseOffset);
    const controlOffsets = [abortOffset, supersededCommitOffset, keptCommitOffset];
    const presentMarkers = async () => (await markerOffsets()).filter((offset) => controlOffsets.includes(offset));

    // Pass 1 removes the aborted and superseded records; their markers and the abort's entry stay (data was there).
    const first = (await cleanLog(log, { nowMs: T0, force: true }))!;
    expect(first.markersStamped).toBe(0);
    expect(log.abortedTransactions(0, log.logEndOffset).map((entry) => entry.lastOffset)).toEqual([abortOffset]);
    expect(fs.readdirSync(dir).filter((name) => name.endsWith(".txnindex"))).toHaveLength(1);
    const values = (await readLog(log)).records.map((record) => record.value);
    expect(values).not.toContain("aborted");
    expect(values).not.toContain("committed-then-superseded");
    expect(await presentMarkers()).toEqual(controlOffsets);

    // Pass 2 finds no data behind two markers: they get a delete horizon; the abort's entry goes now.
    const second = (await cleanLog(log, { nowMs: T0 + 10, force: true }))!;
    expect(second.markersStamped).toBe(2);
    expect(second.markersRemoved).toBe(0);
    expect(log.abortedTransactions(0, log.logEndOffset)).toEqual([]);
    expect(fs.readdirSync(dir).filter((name) => name.endsWith(".txnindex"))).toEqual([]);
    expect(await presentMarkers()).toEqual(controlOffsets);
    // Due only once delete.retention.ms (1000) passed since the stamp.
    expect(needsCleaning(log, T0 + 10 + 1000)).toBe(false);
    expect(needsCleaning(log, T0 + 10 + 1001)).toBe(true);

    // Pass 3, past the horizon: both go; the marker of the transaction with data stays.
    const third = (await cleanLog(log, { nowMs: T0 + 10 + 1001 }))!;
    expect(third.markersRemoved).toBe(2);
    expect(await presentMarkers()).toEqual([keptCommitOffset]);
    expect((await readLog(log)).records.map((record) => record.value)).toContain("committed-kept");
    expect(log.firstUnstableOffset).toBe(-1);
    // A crash (no clean close) and a reopen agree: no open transaction, no aborted transaction.
    const recovered = openLog(dir, {}, T0 + 2000, true);
    expect(recovered.firstUnstableOffset).toBe(-1);
    expect(recovered.abortedTransactions(0, recovered.logEndOffset)).toEqual([]);
    expect(recovered.producerState.entry(7)!.lastBatch!.lastOffset).toBe(keptCommitOffset - 1);
    recovered.close();
  });

  test("a marker above the oldest producer snapshot stays past its horizon until later rolls move the snapshots past it", async () => {
    const dir = freshDir();
    const log = openLog(dir);
    writeUpdates(log, 40, 5);
    ok(log.appendAsLeader(buildBatch({ records: [{ key: "k", value: "aborted", timestampMs: T0 }], producerId: 7, producerEpoch: 0, baseSequence: 0, isTransactional: true }), 1, T0));
    const abortOffset = ok(log.appendMarker({ producerId: 7, producerEpoch: 0, coordinatorEpoch: 0, commit: false }, 1, T0)).baseOffset;
    // Producer 7's last batch is a later plain idempotent one, so the aborted batch is not kept for its sequence.
    ok(log.appendAsLeader(buildBatch({ records: [{ key: "z", value: "after", timestampMs: T0 }], producerId: 7, producerEpoch: 0, baseSequence: 1 }), 1, T0));
    const rollWithData = (tag: string) => {
      ok(log.appendAsLeader(buildBatch({ records: [{ key: `roll-${tag}`, value: tag, timestampMs: T0 }] }), 1, T0));
      log.roll(T0);
    };
    rollWithData("a");
    rollWithData("b");
    log.flush();
    expect(log.producerSnapshotOffsets[0]!).toBeLessThan(abortOffset);
    const markerPresent = async () => (await readLog(log)).batches.some((batch) => batch.baseOffset === abortOffset);
    await cleanLog(log, { nowMs: T0, force: true });
    expect((await cleanLog(log, { nowMs: T0 + 10, force: true }))!.markersStamped).toBe(1);
    // Past the horizon, but a replay from the oldest snapshot would still need the marker.
    expect((await cleanLog(log, { nowMs: T0 + 2000, force: true }))!.markersRemoved).toBe(0);
    expect(await markerPresent()).toBe(true);
    for (const tag of ["c", "d", "e"]) rollWithData(tag);
    log.flush();
    expect(log.producerSnapshotOffsets[0]!).toBeGreaterThan(abortOffset);
    expect((await cleanLog(log, { nowMs: T0 + 3000, force: true }))!.markersRemoved).toBe(1);
    expect(await markerPresent()).toBe(false);
    log.close();
  });

  test("cleanup.policy: compact alone ignores retention, compact,delete applies it; truncation lowers the checkpoint", async () => {
    const compactOnly = openLog(freshDir(), { retentionMs: 1 });
    writeUpdates(compactOnly, 100, 5);
    const segments = compactOnly.segments.length;
    expect(compactOnly.applyRetention(T0 + 1_000_000)).toBe(0);
    expect(compactOnly.segments.length).toBe(segments);
    await cleanLog(compactOnly, { nowMs: T0 });
    const checkpoint = compactOnly.cleanerCheckpoint.firstDirtyOffset;
    expect(checkpoint).toBe(compactOnly.activeSegment.baseOffset);
    // A follower truncation below the checkpoint: what is left is clean, up to the new log end.
    compactOnly.truncateTo(checkpoint - 10);
    expect(compactOnly.cleanerCheckpoint.firstDirtyOffset).toBeLessThanOrEqual(compactOnly.logEndOffset);
    compactOnly.truncateFullyAndStartAt(5000);
    expect(compactOnly.cleanerCheckpoint.firstDirtyOffset).toBe(5000);
    compactOnly.close();

    const both = openLog(freshDir(), { retentionMs: 1, delete: true });
    writeUpdates(both, 100, 5);
    expect(both.applyRetention(T0 + 1_000_000)).toBeGreaterThan(0);
    expect(both.segments.length).toBe(1);
    both.close();
  });

  test("min.compaction.lag.ms keeps young segments dirty", async () => {
    const log = openLog(freshDir(), { minCompactionLagMs: 60_000 });
    writeUpdates(log, 200, 10);
    expect(cleanableState(log, T0 + 1000).cleanable.length).toBe(0);
    expect(needsCleaning(log, T0 + 1000)).toBe(false);
    expect(cleanableState(log, T0 + 120_000).cleanable.length).toBe(log.segments.length - 1);
    log.close();
  });
});

describe("bounded passes", () => {
  test("a small per-pass budget takes several passes to the same result, and the pass yields to the event loop", async () => {
    const written: StoredRecord[][] = [];
    const results: StoredRecord[][] = [];
    for (const budget of [Number.MAX_SAFE_INTEGER, 8 * 1024]) {
      const log = openLog(freshDir());
      written.push(writeUpdates(log, 400, 30));
      let passes = 0;
      let turns = 0;
      let ticking = true;
      const tick = () => {
        turns++;
        if (ticking) setImmediate(tick);
      };
      setImmediate(tick);
      for (; passes < 50 && log.cleanerCheckpoint.firstDirtyOffset < log.activeSegment.baseOffset; passes++) {
        const result = (await cleanLog(log, { nowMs: T0, force: true, dirtyBytesPerPassMax: budget, yieldEveryBytes: 4096 }))!;
        expect(result.aborted).toBe(false);
        if (budget < Number.MAX_SAFE_INTEGER) expect(result.mapBytesRead).toBeLessThanOrEqual(budget + 2048);
      }
      ticking = false;
      if (budget < Number.MAX_SAFE_INTEGER) expect(passes).toBeGreaterThan(2);
      else expect(passes).toBe(1);
      expect(turns).toBeGreaterThan(passes);
      results.push((await readLog(log)).records);
      log.close();
    }
    expect(results[1]).toEqual(results[0]!);
  });

  test("a pass abandons its work when retention deletes the segments it is rewriting", async () => {
    const dir = freshDir();
    const log = openLog(dir);
    writeUpdates(log, 300, 20);
    const pass = cleanLog(log, { nowMs: T0, yieldEveryBytes: 1024 });
    await new Promise<void>((resolve) => setImmediate(resolve));
    // DeleteRecords while the pass maps the dirty section: its first group is gone when it wants to swap.
    log.deleteRecordsBefore(log.segments[2]!.baseOffset);
    const result = (await pass)!;
    expect(result.aborted).toBe(true);
    expect(fs.readdirSync(dir).filter((name) => name.includes(".cleaned") || name.includes(".swap"))).toEqual([]);
    expect(log.cleanerCheckpoint.firstDirtyOffset).toBe(0);
    // A new pass starts from the new log start and succeeds.
    const again = (await cleanLog(log, { nowMs: T0 }))!;
    expect(again.aborted).toBe(false);
    expect(again.firstDirtyOffset).toBe(log.logStartOffset);
    log.close();
  });
});

describe("followers", () => {
  test("a follower appends a cleaned leader's batches, gaps included, and ends at the leader's log end", async () => {
    const leader = openLog(freshDir());
    writeUpdates(leader, 400, 12);
    await cleanLog(leader, { nowMs: T0 });
    const leaderLog = await readLog(leader);
    // A follower with smaller segments, so that some rolls happen at a gap.
    const follower = openLog(freshDir(), { segmentBytes: 1024, compact: false, delete: true });
    let offset = 0;
    let gaps = 0;
    for (let guard = 0; guard < 10_000 && offset < leader.logEndOffset; guard++) {
      const result = leader.read(offset, 700, leader.logEndOffset, true);
      expect(result.errorCode).toBe(0);
      const bytes = sliceBytes(result.slice!);
      if (result.slice!.firstOffset > offset) gaps++;
      ok(follower.appendAsFollower(bytes));
      offset = follower.logEndOffset;
    }
    expect(gaps).toBeGreaterThan(0);
    expect(follower.logEndOffset).toBe(leader.logEndOffset);
    const followerLog = await readLog(follower);
    expect(followerLog.records).toEqual(leaderLog.records);
    expect(followerLog.batches).toEqual(leaderLog.batches);
    // The follower learns epoch 1 at the first batch it sees: the cleaner removed the earlier ones (as in Kafka).
    expect(leader.leaderEpochCache.entries).toEqual([{ epoch: 1, startOffset: 0 }]);
    expect(follower.leaderEpochCache.entries).toEqual([{ epoch: 1, startOffset: leaderLog.batches[0]!.baseOffset }]);
    // Batches that go back, or overlap the log end, are refused.
    const stale = sliceBytes(leader.read(0, 700, leader.logEndOffset, true).slice!);
    expect(follower.appendAsFollower(stale).errorCode).toBe(OFFSET_OUT_OF_RANGE);
    const twoBatches = new Uint8Array([...buildBatchAt(leader.logEndOffset + 10), ...buildBatchAt(leader.logEndOffset + 5)]);
    expect(follower.appendAsFollower(twoBatches).errorCode).toBe(OFFSET_OUT_OF_RANGE);
    // A gap ahead of the log end is accepted, and the log end follows the last batch.
    expect(ok(follower.appendAsFollower(buildBatchAt(leader.logEndOffset + 100))).lastOffset).toBe(leader.logEndOffset + 100);
    expect(follower.logEndOffset).toBe(leader.logEndOffset + 101);
    follower.close();
    leader.close();
  });
});

function buildBatchAt(baseOffset: number): Uint8Array {
  return buildBatch({ baseOffset, records: [{ key: "k", value: "v" }], partitionLeaderEpoch: 1 });
}

describe("crash safety of the swap", () => {
  /**
   * Two copies of one log, both closed: `original` was cleaned once and got more updates (its cleaned
   * segments are small); `cleaned` is a copy of it cleaned again, which groups those small segments.
   */
  async function twoCopies(): Promise<{ original: string; cleaned: string; replaced: number[] }> {
    const original = freshDir();
    const log = openLog(original);
    writeUpdates(log, 300, 15, { tag: "a" });
    await cleanLog(log, { nowMs: T0 });
    writeUpdates(log, 300, 15, { tag: "b" });
    log.close();
    const cleaned = freshDir();
    fs.cpSync(original, cleaned, { recursive: true });
    const copy = openLog(cleaned);
    const before = copy.segments.map((segment) => segment.baseOffset);
    await cleanLog(copy, { nowMs: T0 });
    const after = new Set(copy.segments.map((segment) => segment.baseOffset));
    copy.close();
    return { original, cleaned, replaced: before.filter((base) => !after.has(base)) };
  }

  async function recordsOf(dir: string): Promise<StoredRecord[]> {
    const log = openLog(dir);
    try {
      return (await readLog(log)).records;
    } finally {
      log.close();
    }
  }

  const name = (baseOffset: number, suffix: string) => String(baseOffset).padStart(20, "0") + suffix;

  test("leftover .cleaned files and index .swap files without a .log.swap are removed; the log is the original", async () => {
    const { original, cleaned } = await twoCopies();
    const expected = await recordsOf(original);
    fs.copyFileSync(path.join(cleaned, name(0, ".log")), path.join(original, name(0, ".log.cleaned")));
    fs.copyFileSync(path.join(cleaned, name(0, ".index")), path.join(original, name(0, ".index.swap")));
    fs.copyFileSync(path.join(cleaned, name(0, ".timeindex")), path.join(original, name(0, ".timeindex.cleaned")));
    const log = openLog(original);
    expect(log.recoveryReport.removedFiles).toBe(3);
    expect((await readLog(log)).records).toEqual(expected);
    expect(fs.readdirSync(original).filter((file) => file.includes(".cleaned") || file.includes(".swap"))).toEqual([]);
    log.close();
  });

  test("a committed swap (.log.swap) is completed at open, at every step of the swap", async () => {
    const { original, cleaned, replaced } = await twoCopies();
    expect(replaced.length).toBeGreaterThan(1);
    const expected = await recordsOf(cleaned);
    // The group that starts at 0: the files of the replaced segments, and the cleaned output's.
    const cleanedLog = openLog(cleaned);
    const groupEnd = cleanedLog.segments[1]!.baseOffset;
    cleanedLog.close();
    const group = fs
      .readdirSync(original)
      .filter((file) => /^\d{20}\.log$/.test(file))
      .map((file) => Number(file.slice(0, 20)))
      .filter((base) => base < groupEnd);
    expect(group.length).toBeGreaterThan(1);
    const steps = ["committed", "old deleted in part", "indexes renamed"];
    for (const step of steps) {
      const dir = freshDir();
      fs.cpSync(original, dir, { recursive: true });
      // Only the first group is swapped in this crash copy; the others stay as they were (uncleaned).
      for (const suffix of [".log", ".index", ".timeindex"]) fs.copyFileSync(path.join(cleaned, name(0, suffix)), path.join(dir, name(0, suffix + ".swap")));
      if (step !== "committed") for (const base of group.slice(0, 2)) for (const suffix of [".log", ".index", ".timeindex"]) fs.rmSync(path.join(dir, name(base, suffix)), { force: true });
      if (step === "indexes renamed") {
        for (const base of group) for (const suffix of [".log", ".index", ".timeindex"]) fs.rmSync(path.join(dir, name(base, suffix)), { force: true });
        for (const suffix of [".index", ".timeindex"]) fs.renameSync(path.join(dir, name(0, suffix + ".swap")), path.join(dir, name(0, suffix)));
      }
      const log = openLog(dir);
      expect(log.recoveryReport.events.some((event) => event.includes("completed the interrupted swap"))).toBe(true);
      expect(log.segments[0]!.baseOffset).toBe(0);
      const records = (await readLog(log)).records;
      // The first group reads as in the cleaned copy (a replaced segment past the swap's last batch may be
      // left: its data is valid, only not compacted); the rest is the original data, cleanable later.
      const present = new Set(records.map((record) => `${record.offset}:${record.value}`));
      for (const record of expected.filter((record) => record.offset < groupEnd)) expect(present.has(`${record.offset}:${record.value}`)).toBe(true);
      for (let index = 1; index < records.length; index++) expect(records[index]!.offset).toBeGreaterThan(records[index - 1]!.offset);
      expect(fs.readdirSync(dir).filter((file) => file.includes(".swap"))).toEqual([]);
      await cleanLog(log, { nowMs: T0, force: true });
      expect((await readLog(log)).records).toEqual(expected);
      log.close();
    }
  });
});

describe("speed", () => {
  test("cleaning speed: 16 MiB of updates to 1000 keys, uncompressed and lz4", async () => {
    for (const compression of [CompressionType.NONE, CompressionType.LZ4]) {
      const log = openLog(freshDir(), { segmentBytes: 1024 * 1024, indexIntervalBytes: 4096 });
      // Values that compress about as well as real data (random base64), so both codecs write ~16 MiB.
      const values = Array.from({ length: 997 }, () => Buffer.from(crypto.getRandomValues(new Uint8Array(75))).toString("base64"));
      let sequence = 0;
      for (let index = 0; log.sizeBytes < 16 * 1024 * 1024 && index < 1_000_000; index++) {
        const records = Array.from({ length: 50 }, () => ({ key: `key-${(sequence * 7919) % 1000}`, value: values[sequence++ % 997]!, timestampMs: T0 }));
        ok(log.appendAsLeader(buildBatch({ records, compression }), 1, T0));
      }
      log.flush();
      const bytesBefore = log.sizeBytes;
      const started = performance.now();
      const result = (await cleanLog(log, { nowMs: T0 }))!;
      const elapsedMs = performance.now() - started;
      console.log(
        `cleaner ${compression === CompressionType.NONE ? "none" : "lz4"}: ${(result.bytesRead / 1048576).toFixed(1)} MiB, ${result.recordsRead} records -> ${result.recordsRetained} in ${elapsedMs.toFixed(0)} ms = ${(result.bytesRead / 1048576 / (elapsedMs / 1000)).toFixed(0)} MiB/s (map ${result.keys} keys; log ${bytesBefore} -> ${log.sizeBytes} bytes)`,
      );
      expect(result.keys).toBe(1000);
      expect(log.sizeBytes).toBeLessThan(bytesBefore / 4);
      log.close();
    }
  });
});
