// Idempotent producers on a real PartitionLog (real files): retries answered with the original offsets,
// sequence and epoch errors, followers, snapshots, the bounded replay, truncation and expiration.
import { afterEach, describe, expect, test } from "bun:test";
import * as fs from "node:fs";
import * as path from "node:path";
import type { LogConfig } from "../../src/log/config.ts";
import { PartitionLog, type AppendError, type AppendInfo } from "../../src/log/partition-log.ts";
import { ProducerStateManager, incrementSequence, inSequence } from "../../src/log/producer-state.ts";
import { PRODUCER_SNAPSHOTS_RETAINED, decodeSnapshot, encodeSnapshot, listSnapshotOffsets, snapshotPath } from "../../src/log/producer-state-snapshot.ts";
import { buildBatch } from "../../src/records/compression.ts";
import { INVALID_PRODUCER_EPOCH, INVALID_RECORD, OUT_OF_ORDER_SEQUENCE_NUMBER } from "../../src/records/errors.ts";
import { batchHeaders, recordValues, sliceBytes, tempDir } from "./helpers.ts";

let cleanups: (() => void)[] = [];
afterEach(() => {
  for (const cleanup of cleanups) cleanup();
  cleanups = [];
});

const T0 = 1_700_000_000_000;
const INT32_MAX = 0x7fff_ffff;

function freshDir(): string {
  const temp = tempDir("bunka-producer-state-");
  cleanups.push(temp.cleanup);
  return temp.dir;
}

function openLog(dir: string, options: { config?: Partial<LogConfig>; recover?: boolean; nowMs?: number; producerIdExpirationMs?: number } = {}): PartitionLog {
  return PartitionLog.open({
    dir,
    config: { segmentBytes: 1024, indexIntervalBytes: 128, ...options.config },
    recover: options.recover ?? false,
    nowMs: options.nowMs ?? T0,
    producerIdExpirationMs: options.producerIdExpirationMs,
  });
}

/** An idempotent producer's batch of `count` records. */
function idempotentBatch(producerId: number, producerEpoch: number, baseSequence: number, count: number, tag = `p${producerId}-e${producerEpoch}-s${baseSequence}`, timestampMs = T0): Uint8Array {
  return buildBatch({
    producerId,
    producerEpoch,
    baseSequence,
    records: Array.from({ length: count }, (_, index) => ({ value: `${tag}-${index}`, timestampMs: timestampMs + index })),
  });
}

function ok(result: AppendInfo | AppendError): AppendInfo {
  if (result.errorCode !== 0) throw new Error(`append failed: ${JSON.stringify(result)}`);
  return result as AppendInfo;
}

function append(log: PartitionLog, batch: Uint8Array, nowMs = T0): AppendInfo | AppendError {
  return log.appendAsLeader(batch, 0, nowMs);
}

/** Every record value in the log, in offset order. */
async function allValues(log: PartitionLog): Promise<string[]> {
  const values: string[] = [];
  let offset = log.logStartOffset;
  for (let guard = 0; guard < 10_000 && offset < log.logEndOffset; guard++) {
    const result = log.read(offset, 1 << 20, log.logEndOffset, true);
    if (result.errorCode !== 0 || result.slice === null) throw new Error(`no data at ${offset}`);
    const bytes = sliceBytes(result.slice);
    for (const record of await recordValues(bytes)) if (record.offset >= offset) values.push(record.value);
    const last = batchHeaders(bytes).at(-1)!;
    offset = last.baseOffset + last.lastOffsetDelta + 1;
  }
  return values;
}

describe("leader checks", () => {
  test("a retried batch is not written again and answers with the original offsets", async () => {
    const log = openLog(freshDir());
    const first = ok(append(log, idempotentBatch(7, 0, 0, 3)));
    const second = ok(append(log, idempotentBatch(7, 0, 3, 2)));
    expect([first.baseOffset, first.lastOffset, first.duplicate]).toEqual([0, 2, false]);
    expect([second.baseOffset, second.lastOffset, second.duplicate]).toEqual([3, 4, false]);
    const sizeBytes = log.sizeBytes;

    const retryFirst = ok(append(log, idempotentBatch(7, 0, 0, 3)));
    expect(retryFirst).toMatchObject({ errorCode: 0, baseOffset: 0, lastOffset: 2, duplicate: true, recordCount: 3, batchCount: 1, logAppendTimeMs: -1 });
    const retrySecond = ok(append(log, idempotentBatch(7, 0, 3, 2)));
    expect(retrySecond).toMatchObject({ baseOffset: 3, lastOffset: 4, duplicate: true });
    expect(log.logEndOffset).toBe(5);
    expect(log.sizeBytes).toBe(sizeBytes);
    expect(await allValues(log)).toEqual(["p7-e0-s0-0", "p7-e0-s0-1", "p7-e0-s0-2", "p7-e0-s3-0", "p7-e0-s3-1"]);
    // The producer carries on after its retries.
    expect(ok(append(log, idempotentBatch(7, 0, 5, 1))).baseOffset).toBe(5);
    log.close();
  });

  test("each of the last 5 batches is recognised; an older one is OUT_OF_ORDER_SEQUENCE_NUMBER", () => {
    const log = openLog(freshDir());
    for (let index = 0; index < 7; index++) ok(append(log, idempotentBatch(1, 0, index * 2, 2)));
    for (let index = 2; index < 7; index++) {
      expect(ok(append(log, idempotentBatch(1, 0, index * 2, 2)))).toMatchObject({ baseOffset: index * 2, duplicate: true });
    }
    const tooOld = append(log, idempotentBatch(1, 0, 2, 2));
    expect(tooOld.errorCode).toBe(OUT_OF_ORDER_SEQUENCE_NUMBER);
    // Same first sequence but a different length is not the same batch.
    expect(append(log, idempotentBatch(1, 0, 12, 1)).errorCode).toBe(OUT_OF_ORDER_SEQUENCE_NUMBER);
    expect(log.logEndOffset).toBe(14);
    log.close();
  });

  test("a sequence gap is OUT_OF_ORDER_SEQUENCE_NUMBER and writes nothing", () => {
    const log = openLog(freshDir());
    ok(append(log, idempotentBatch(3, 0, 0, 5)));
    const gap = append(log, idempotentBatch(3, 0, 6, 1)) as AppendError;
    expect(gap.errorCode).toBe(OUT_OF_ORDER_SEQUENCE_NUMBER);
    expect(gap.errorMessage).toContain("sequence 6 does not follow 4");
    expect(log.logEndOffset).toBe(5);
    expect(ok(append(log, idempotentBatch(3, 0, 5, 1))).baseOffset).toBe(5);
    log.close();
  });

  test("an older epoch is INVALID_PRODUCER_EPOCH; a newer epoch must start at sequence 0", () => {
    const log = openLog(freshDir());
    ok(append(log, idempotentBatch(9, 2, 0, 2)));
    expect(append(log, idempotentBatch(9, 1, 2, 1)).errorCode).toBe(INVALID_PRODUCER_EPOCH);
    expect(append(log, idempotentBatch(9, 3, 2, 1)).errorCode).toBe(OUT_OF_ORDER_SEQUENCE_NUMBER);
    expect(ok(append(log, idempotentBatch(9, 3, 0, 1))).duplicate).toBe(false);
    // The old epoch's batches no longer count as duplicates, and the old epoch is fenced.
    expect(append(log, idempotentBatch(9, 2, 0, 2)).errorCode).toBe(INVALID_PRODUCER_EPOCH);
    expect(log.producerState.entry(9)!.producerEpoch).toBe(3);
    expect(log.logEndOffset).toBe(3);
    log.close();
  });

  test("an unknown producer may start at any sequence (KIP-360); sequences wrap from Int32.MAX to 0", () => {
    const log = openLog(freshDir());
    ok(append(log, idempotentBatch(4, 0, 1000, 1)));
    ok(append(log, idempotentBatch(5, 0, INT32_MAX - 1, 2)));
    expect(log.producerState.entry(5)!.lastBatch!.lastSeq).toBe(INT32_MAX);
    ok(append(log, idempotentBatch(5, 0, 0, 3)));
    ok(append(log, idempotentBatch(6, 0, INT32_MAX, 3)));
    expect(log.producerState.entry(6)!.lastBatch!.lastSeq).toBe(1);
    expect(ok(append(log, idempotentBatch(6, 0, INT32_MAX, 3))).duplicate).toBe(true);
    ok(append(log, idempotentBatch(6, 0, 2, 1)));
    expect(incrementSequence(INT32_MAX, 1)).toBe(0);
    expect(inSequence(INT32_MAX, 0)).toBe(true);
    expect(inSequence(INT32_MAX, 1)).toBe(false);
    log.close();
  });

  test("batches without a producer id are never deduplicated", async () => {
    const log = openLog(freshDir());
    const plain = buildBatch({ records: [{ value: "plain", timestampMs: T0 }] });
    ok(append(log, plain.slice()));
    ok(append(log, plain.slice()));
    expect(await allValues(log)).toEqual(["plain", "plain"]);
    expect(log.producerState.producerCount).toBe(0);
    log.close();
  });

  test("a request part with two idempotent batches is refused with INVALID_RECORD, like Kafka", () => {
    const log = openLog(freshDir());
    const a = idempotentBatch(2, 0, 0, 1);
    const b = idempotentBatch(2, 0, 1, 1);
    const both = new Uint8Array(a.byteLength + b.byteLength);
    both.set(a);
    both.set(b, a.byteLength);
    expect(append(log, both).errorCode).toBe(INVALID_RECORD);
    expect(log.logEndOffset).toBe(0);
    log.close();
  });

  test("a coalesced drain checks each part against the parts before it, retries included", async () => {
    const log = openLog(freshDir());
    const results = log.appendManyAsLeader(
      [
        idempotentBatch(1, 0, 0, 2),
        idempotentBatch(2, 0, 0, 1),
        idempotentBatch(1, 0, 2, 2),
        idempotentBatch(1, 0, 0, 2), // a retry of the first part, in the same drain
        idempotentBatch(1, 0, 9, 1), // a gap
        idempotentBatch(2, 0, 1, 1),
      ],
      0,
      T0,
    );
    expect(results.map((result) => result.errorCode)).toEqual([0, 0, 0, 0, OUT_OF_ORDER_SEQUENCE_NUMBER, 0]);
    expect(results.map((result) => (result as AppendInfo).baseOffset ?? -1)).toEqual([0, 2, 3, 0, -1, 5]);
    expect(results.map((result): boolean | string => (result as AppendInfo).duplicate ?? "error")).toEqual([false, false, false, true, "error", false]);
    expect(log.logEndOffset).toBe(6);
    expect(await allValues(log)).toEqual(["p1-e0-s0-0", "p1-e0-s0-1", "p2-e0-s0-0", "p1-e0-s2-0", "p1-e0-s2-1", "p2-e0-s1-0"]);
    log.close();
  });

  test("on a LogAppendTime topic a duplicate answers the original append time", () => {
    const log = openLog(freshDir(), { config: { messageTimestampType: "LogAppendTime" } });
    const first = ok(log.appendAsLeader(idempotentBatch(1, 0, 0, 1), 0, T0 + 5));
    expect(first.logAppendTimeMs).toBe(T0 + 5);
    const retry = ok(log.appendAsLeader(idempotentBatch(1, 0, 0, 1), 0, T0 + 900));
    expect(retry).toMatchObject({ duplicate: true, baseOffset: 0, logAppendTimeMs: T0 + 5 });
    log.close();
  });
});

describe("followers", () => {
  test("a follower records the leader's batches, so after a leader change a retry is still deduplicated", () => {
    const leader = openLog(freshDir());
    const follower = openLog(freshDir());
    ok(leader.appendAsLeader(idempotentBatch(11, 0, 0, 2), 5, T0));
    ok(leader.appendAsLeader(idempotentBatch(11, 0, 2, 3), 5, T0));
    ok(leader.appendAsLeader(buildBatch({ records: [{ value: "plain", timestampMs: T0 }] }), 5, T0));
    const slice = leader.read(0, 1 << 20, leader.logEndOffset, true).slice!;
    ok(follower.appendAsFollower(sliceBytes(slice), T0));
    expect(follower.logEndOffset).toBe(6);
    // The leader died before answering the second batch; the client retries on the follower, now leader.
    const retry = ok(follower.appendAsLeader(idempotentBatch(11, 0, 2, 3), 6, T0));
    expect(retry).toMatchObject({ duplicate: true, baseOffset: 2, lastOffset: 4 });
    expect(follower.logEndOffset).toBe(6);
    expect(ok(follower.appendAsLeader(idempotentBatch(11, 0, 5, 1), 6, T0)).baseOffset).toBe(6);
    leader.close();
    follower.close();
  });
});

describe("restarts", () => {
  test("clean close writes a snapshot at the log end: the reopened log replays nothing and still dedupes", () => {
    const dir = freshDir();
    const log = openLog(dir);
    for (let index = 0; index < 40; index++) ok(append(log, idempotentBatch(index % 4, 0, Math.floor(index / 4) * 3, 3)));
    const logEndOffset = log.logEndOffset;
    expect(log.segments.length).toBeGreaterThan(2);
    log.close();
    expect(listSnapshotOffsets(dir).at(-1)).toBe(logEndOffset);
    expect(listSnapshotOffsets(dir).length).toBeLessThanOrEqual(PRODUCER_SNAPSHOTS_RETAINED);

    const reopened = openLog(dir);
    expect(reopened.producerStateRebuild).toMatchObject({ snapshotOffset: logEndOffset, replayedFromOffset: logEndOffset });
    expect(reopened.producerState.producerCount).toBe(4);
    for (let producerId = 0; producerId < 4; producerId++) {
      // Producer p's last batch was append number 36 + p (sequence 27).
      expect(ok(append(reopened, idempotentBatch(producerId, 0, 27, 3)))).toMatchObject({ duplicate: true, baseOffset: (36 + producerId) * 3 });
      expect(ok(append(reopened, idempotentBatch(producerId, 0, 18, 3)))).toMatchObject({ duplicate: true, baseOffset: (24 + producerId) * 3 });
    }
    expect(reopened.logEndOffset).toBe(logEndOffset);
    reopened.close();
  });

  test("after a crash the roll snapshot plus a header replay of the active segment restore the state", async () => {
    const dir = freshDir();
    const log = openLog(dir);
    for (let index = 0; index < 30; index++) ok(append(log, idempotentBatch(1, 0, index * 2, 2)));
    expect(log.segments.length).toBeGreaterThan(1);
    const activeBase = log.activeSegment.baseOffset;
    // The roll's background fsyncs (segment, then its snapshot) move the recovery point to the active segment.
    for (let attempt = 0; attempt < 500 && log.recoveryPoint < activeBase; attempt++) await Bun.sleep(10);
    expect(log.recoveryPoint).toBe(activeBase);
    // Crash: the object is dropped without close.
    const recovered = openLog(dir, { recover: true });
    expect(recovered.logEndOffset).toBe(60);
    expect(recovered.producerStateRebuild).toMatchObject({ snapshotOffset: activeBase, replayedFromOffset: activeBase });
    expect(ok(append(recovered, idempotentBatch(1, 0, 58, 2)))).toMatchObject({ duplicate: true, baseOffset: 58 });
    expect(append(recovered, idempotentBatch(1, 0, 61, 2)).errorCode).toBe(OUT_OF_ORDER_SEQUENCE_NUMBER);
    expect(ok(append(recovered, idempotentBatch(1, 0, 60, 2))).baseOffset).toBe(60);
    recovered.close();
  });

  test("the header replay steps over batches larger than its 64 KiB reads", () => {
    const dir = freshDir();
    const log = openLog(dir, { config: { segmentBytes: 8 * 1024 * 1024 } });
    const big = "y".repeat(150_000);
    for (let index = 0; index < 6; index++) ok(append(log, buildBatch({ producerId: 3, producerEpoch: 0, baseSequence: index * 2, records: [{ value: big, timestampMs: T0 }, { value: `small-${index}`, timestampMs: T0 }] })));
    const recovered = openLog(dir, { config: { segmentBytes: 8 * 1024 * 1024 }, recover: true });
    expect(recovered.producerStateRebuild).toMatchObject({ snapshotOffset: -1, replayedFromOffset: 0, events: [] });
    expect(recovered.producerState.entry(3)!.batches.map((batch) => batch.firstOffset)).toEqual([2, 4, 6, 8, 10]);
    recovered.close();
  });

  test("a batch cut off by crash recovery is not a duplicate: its retry is appended", async () => {
    const dir = freshDir();
    const log = openLog(dir);
    for (let index = 0; index < 5; index++) ok(append(log, idempotentBatch(1, 0, index, 1)));
    const active = log.activeSegment;
    const lastBatchBytes = batchHeaders(fs.readFileSync(active.logPath).subarray(0, active.sizeBytes)).at(-1)!.sizeBytes;
    fs.truncateSync(active.logPath, active.sizeBytes - lastBatchBytes + 20);
    const recovered = openLog(dir, { recover: true });
    expect(recovered.logEndOffset).toBe(4);
    expect(ok(append(recovered, idempotentBatch(1, 0, 4, 1)))).toMatchObject({ duplicate: false, baseOffset: 4 });
    expect(ok(append(recovered, idempotentBatch(1, 0, 3, 1)))).toMatchObject({ duplicate: true, baseOffset: 3 });
    recovered.close();
  });

  test("without a usable snapshot the replay starts at the log start; producers seen only there are still known", () => {
    const dir = freshDir();
    const log = openLog(dir);
    ok(append(log, idempotentBatch(100, 0, 0, 1, "early")));
    // Producer 200 fills several segments after producer 100's only batch.
    for (let index = 0; index < 60; index++) ok(append(log, idempotentBatch(200, 0, index * 2, 2)));
    expect(log.segments.length).toBeGreaterThan(3);
    log.close();
    const offsets = listSnapshotOffsets(dir);
    // Damage the newest snapshot, delete the others.
    const newest = snapshotPath(dir, offsets.at(-1)!);
    const bytes = fs.readFileSync(newest);
    bytes[bytes.byteLength - 1]! ^= 0x01;
    fs.writeFileSync(newest, bytes);
    for (const offset of offsets.slice(0, -1)) fs.rmSync(snapshotPath(dir, offset));

    const reopened = openLog(dir);
    expect(reopened.recoveryReport.events.join("\n")).toContain("CRC mismatch");
    expect(fs.existsSync(newest)).toBe(false);
    expect(reopened.producerStateRebuild).toMatchObject({ snapshotOffset: -1, replayedFromOffset: 0 });
    expect(reopened.producerState.entry(100)).toBeDefined();
    expect(ok(append(reopened, idempotentBatch(200, 0, 118, 2)))).toMatchObject({ duplicate: true, baseOffset: 119 });
    // Known from its batch in the first segment: a duplicate is found, a sequence gap refused.
    expect(ok(append(reopened, idempotentBatch(100, 0, 0, 1)))).toMatchObject({ duplicate: true, baseOffset: 0 });
    expect(append(reopened, idempotentBatch(100, 0, 57, 1)).errorCode).toBe(OUT_OF_ORDER_SEQUENCE_NUMBER);
    reopened.close();
  });

  test("a snapshot above the log end (its segment was lost) is removed, not loaded", () => {
    const dir = freshDir();
    const log = openLog(dir);
    for (let index = 0; index < 10; index++) ok(append(log, idempotentBatch(1, 0, index, 1)));
    log.close();
    const stale = new ProducerStateManager();
    stale.update({ producerId: 1, producerEpoch: 0, firstSeq: 500, lastSeq: 500 }, 999, 999, T0);
    fs.writeFileSync(snapshotPath(dir, 1000), encodeSnapshot(stale, 1000));
    const reopened = openLog(dir);
    expect(fs.existsSync(snapshotPath(dir, 1000))).toBe(false);
    expect(reopened.producerStateRebuild!.snapshotOffset).toBe(10);
    expect(ok(append(reopened, idempotentBatch(1, 0, 10, 1))).baseOffset).toBe(10);
    reopened.close();
  });
});

describe("truncation and expiration", () => {
  test("truncateTo rebuilds from what remains: a batch cut away is no longer a duplicate", () => {
    const dir = freshDir();
    const log = openLog(dir);
    for (let index = 0; index < 30; index++) ok(append(log, idempotentBatch(1, 0, index * 2, 2)));
    const rolls = log.segments.length;
    expect(rolls).toBeGreaterThan(2);
    log.truncateTo(50, T0);
    expect(log.logEndOffset).toBe(50);
    expect(listSnapshotOffsets(dir).every((offset) => offset <= 50)).toBe(true);
    expect(log.producerState.entry(1)!.lastBatch).toMatchObject({ lastSeq: 49, lastOffset: 49 });
    expect(ok(append(log, idempotentBatch(1, 0, 48, 2)))).toMatchObject({ duplicate: true, baseOffset: 48 });
    expect(ok(append(log, idempotentBatch(1, 0, 50, 2)))).toMatchObject({ duplicate: false, baseOffset: 50 });
    log.close();
  });

  test("truncateFullyAndStartAt forgets every producer and every snapshot", () => {
    const dir = freshDir();
    const log = openLog(dir);
    for (let index = 0; index < 30; index++) ok(append(log, idempotentBatch(1, 0, index, 1)));
    log.truncateFullyAndStartAt(1000, T0);
    expect(log.producerState.producerCount).toBe(0);
    expect(listSnapshotOffsets(dir)).toEqual([]);
    expect(ok(append(log, idempotentBatch(1, 0, 29, 1)))).toMatchObject({ duplicate: false, baseOffset: 1000 });
    log.close();
  });

  test("producers expire after producer.id.expiration.ms (checked by applyRetention, at roll and on open)", () => {
    const dir = freshDir();
    const expirationMs = 60_000;
    const log = openLog(dir, { producerIdExpirationMs: expirationMs });
    ok(append(log, idempotentBatch(1, 0, 0, 1, "old", T0)));
    ok(append(log, idempotentBatch(2, 0, 0, 1, "recent", T0 + 50_000)));
    expect(log.applyRetention(T0 + 30_000)).toBe(0);
    expect(log.producerState.producerCount).toBe(2);
    log.applyRetention(T0 + expirationMs + 10);
    expect(log.producerState.entry(1)).toBeUndefined();
    expect(log.producerState.entry(2)).toBeDefined();
    // Producer 1 is unknown now: any sequence goes.
    expect(ok(append(log, idempotentBatch(1, 0, 42, 1, "old", T0 + expirationMs + 20))).duplicate).toBe(false);
    log.close();
    const reopened = openLog(dir, { producerIdExpirationMs: expirationMs, nowMs: T0 + 10 * expirationMs });
    expect(reopened.producerState.producerCount).toBe(0);
    reopened.close();
  });
});

describe("ProducerStateManager and snapshots", () => {
  test("snapshot bytes round-trip; a flipped bit or a wrong offset is refused and loads nothing", () => {
    const manager = new ProducerStateManager();
    for (let index = 0; index < 8; index++) manager.update({ producerId: 5, producerEpoch: 1, firstSeq: index * 10, lastSeq: index * 10 + 9 }, index * 10, index * 10 + 9, T0 + index);
    manager.update({ producerId: 2 ** 40, producerEpoch: 32767, firstSeq: INT32_MAX, lastSeq: 3 }, 2 ** 45, 2 ** 45 + 4, T0);
    const bytes = encodeSnapshot(manager, 12345);
    const loaded = new ProducerStateManager();
    expect(decodeSnapshot(bytes, 12345, loaded)).toBeNull();
    expect([...loaded.entries()].map((entry) => [entry.producerId, entry.producerEpoch, entry.batches.map((batch) => ({ ...batch }))])).toEqual(
      [...manager.entries()].map((entry) => [entry.producerId, entry.producerEpoch, entry.batches.map((batch) => ({ ...batch }))]),
    );
    expect(loaded.entry(5)!.batches.length).toBe(5);
    expect(decodeSnapshot(bytes, 12346, loaded)).toContain("name says");
    expect(loaded.producerCount).toBe(0);
    for (const position of [0, 3, 10, 20, bytes.byteLength - 1]) {
      const damaged = bytes.slice();
      damaged[position]! ^= 0x10;
      expect(decodeSnapshot(damaged, 12345, loaded)).not.toBeNull();
      expect(loaded.producerCount).toBe(0);
    }
    expect(decodeSnapshot(bytes.subarray(0, 10), 12345, loaded)).toContain("shorter");
  });

  test("the number of producers per partition is bounded: the least recently appended one is forgotten", () => {
    const manager = new ProducerStateManager(86_400_000, 3);
    for (let producerId = 0; producerId < 3; producerId++) manager.update({ producerId, producerEpoch: 0, firstSeq: 0, lastSeq: 0 }, producerId, producerId, T0);
    manager.update({ producerId: 0, producerEpoch: 0, firstSeq: 1, lastSeq: 1 }, 3, 3, T0);
    manager.update({ producerId: 9, producerEpoch: 0, firstSeq: 0, lastSeq: 0 }, 4, 4, T0);
    expect([...manager.entries()].map((entry) => entry.producerId)).toEqual([2, 0, 9]);
    expect(manager.check({ producerId: 1, producerEpoch: 0, firstSeq: 77, lastSeq: 77 })).toBeNull();
  });

  test("snapshots beyond the newest few are removed at each roll", () => {
    const dir = freshDir();
    const log = openLog(dir);
    for (let index = 0; index < 80; index++) ok(append(log, idempotentBatch(1, 0, index, 1)));
    expect(log.segments.length).toBeGreaterThan(PRODUCER_SNAPSHOTS_RETAINED + 1);
    const offsets = listSnapshotOffsets(dir);
    expect(offsets).toEqual(log.segments.slice(-PRODUCER_SNAPSHOTS_RETAINED).map((segment) => segment.baseOffset));
    expect(fs.readdirSync(dir).filter((name) => name.endsWith(".tmp"))).toEqual([]);
    log.close();
    expect(path.basename(snapshotPath(dir, 80))).toBe("00000000000000000080.snapshot");
  });
});
