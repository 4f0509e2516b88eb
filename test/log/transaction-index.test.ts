// The log side of transactions on real files: the .txnindex format and its repair, the last stable offset
// and aborted transactions of a PartitionLog, followers fed the leader's bytes, recovery after a crash
// (the log reopened without a clean close), segment deletion, and the producer snapshot's version 2 (and
// version 1 files still read).
import { afterEach, describe, expect, test } from "bun:test";
import * as fs from "node:fs";
import * as path from "node:path";
import { crc32c } from "@node-rs/crc32";
import { PartitionLog, type AppendError, type AppendInfo, type TransactionMarker } from "../../src/log/partition-log.ts";
import { ProducerStateManager } from "../../src/log/producer-state.ts";
import { decodeSnapshot, encodeSnapshot } from "../../src/log/producer-state-snapshot.ts";
import { ABORTED_TXN_ENTRY_BYTES, TransactionIndex, decodeTransactionIndex } from "../../src/log/transaction-index.ts";
import { buildBatch } from "../../src/records/compression.ts";
import { INVALID_PRODUCER_EPOCH, INVALID_RECORD, INVALID_TXN_STATE, TRANSACTION_COORDINATOR_FENCED } from "../../src/records/errors.ts";
import { batchHeaders, sliceBytes, tempDir } from "./helpers.ts";

let cleanups: (() => void)[] = [];
afterEach(() => {
  for (const cleanup of cleanups) cleanup();
  cleanups = [];
});

const T0 = 1_700_000_000_000;

function freshDir(): string {
  const temp = tempDir("bunka-txn-");
  cleanups.push(temp.cleanup);
  return temp.dir;
}

function openLog(dir: string, recover = false, segmentBytes = 1024): PartitionLog {
  return PartitionLog.open({ dir, config: { segmentBytes, indexIntervalBytes: 128 }, recover, nowMs: T0 });
}

function ok(result: AppendInfo | AppendError): AppendInfo {
  if (result.errorCode !== 0) throw new Error(`append failed: ${JSON.stringify(result)}`);
  return result as AppendInfo;
}

const sequences = new Map<number, number>();

/** A transactional batch of `count` records from producer `producerId` (epoch 0), sequences continuing per producer. */
function transactionalBatch(producerId: number, count: number, producerEpoch = 0): Uint8Array {
  const baseSequence = sequences.get(producerId) ?? 0;
  sequences.set(producerId, baseSequence + count);
  return buildBatch({ producerId, producerEpoch, baseSequence, isTransactional: true, records: Array.from({ length: count }, (_, index) => ({ key: `k${index}`, value: `p${producerId}-${baseSequence + index}` })) });
}

function marker(producerId: number, commit: boolean, coordinatorEpoch = 0, producerEpoch = 0): TransactionMarker {
  return { producerId, producerEpoch, coordinatorEpoch, commit };
}

function txnIndexFiles(dir: string): string[] {
  return fs.readdirSync(dir).filter((name) => name.endsWith(".txnindex")).sort();
}

describe("the .txnindex file", () => {
  test("entries are Kafka's 34 bytes; a torn tail and entries past the segment's end are cut at load", () => {
    const dir = freshDir();
    fs.mkdirSync(dir, { recursive: true });
    const index = TransactionIndex.load(dir, 100, Number.MAX_SAFE_INTEGER).index;
    index.append({ producerId: 7, firstOffset: 100, lastOffset: 120, lastStableOffset: 121 });
    index.append({ producerId: 2 ** 40, firstOffset: 110, lastOffset: 130, lastStableOffset: 110 });
    expect(() => index.append({ producerId: 7, firstOffset: 100, lastOffset: 125, lastStableOffset: 126 })).toThrow("does not follow");
    const filePath = TransactionIndex.pathFor(dir, 100);
    expect(path.basename(filePath)).toBe("00000000000000000100.txnindex");
    const bytes = fs.readFileSync(filePath);
    expect(bytes.byteLength).toBe(2 * ABORTED_TXN_ENTRY_BYTES);
    const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    expect([view.getInt16(34), view.getBigInt64(36), view.getBigInt64(44), view.getBigInt64(52), view.getBigInt64(60)]).toEqual([0, 2n ** 40n, 110n, 130n, 110n]);
    expect(decodeTransactionIndex(bytes).entries).toEqual(index.entries);

    fs.appendFileSync(filePath, new Uint8Array(10).fill(1));
    const torn = TransactionIndex.load(dir, 100, Number.MAX_SAFE_INTEGER);
    expect(torn.cutBytes).toBe(10);
    expect(torn.index.entries.map((entry) => entry.lastOffset)).toEqual([120, 130]);
    expect(fs.statSync(filePath).size).toBe(68);
    // The log ends at 125: the entry of the marker at 130 describes an abort that is not in the log.
    const cut = TransactionIndex.load(dir, 100, 125);
    expect(cut.index.entries.map((entry) => entry.lastOffset)).toEqual([120]);
    expect(fs.statSync(filePath).size).toBe(34);
    cut.index.truncateTo(120);
    expect(cut.index.entries).toEqual([]);
    expect(fs.statSync(filePath).size).toBe(0);
  });
});

describe("a partition log with transactions", () => {
  test("the LSO is the first offset of the oldest open transaction; markers end them; aborts are indexed and listed", () => {
    const dir = freshDir();
    const log = openLog(dir, false, 1 << 20);
    expect(log.firstUnstableOffset).toBe(-1);
    ok(log.appendAsLeader(transactionalBatch(1, 2), 0, T0)); // 0-1
    ok(log.appendAsLeader(transactionalBatch(2, 3), 0, T0)); // 2-4
    ok(log.appendAsLeader(transactionalBatch(1, 1), 0, T0)); // 5: same transaction
    expect(log.firstUnstableOffset).toBe(0);
    expect(log.lastStableOffset(6)).toBe(0);
    expect(log.producerState.ongoingTransactionCount).toBe(2);

    const commit = ok(log.appendMarker(marker(1, true, 4), 0, T0)); // 6
    expect(commit.baseOffset).toBe(6);
    expect(log.firstUnstableOffset).toBe(2);
    const abort = ok(log.appendMarker(marker(2, false, 4), 0, T0)); // 7
    expect(abort.baseOffset).toBe(7);
    expect(log.firstUnstableOffset).toBe(-1);
    expect(log.lastStableOffset(8)).toBe(8);
    expect(log.abortedTransactions(0, 8)).toEqual([{ producerId: 2, firstOffset: 2, lastOffset: 7, lastStableOffset: 8 }]);
    expect(log.abortedTransactions(8, 8)).toEqual([]);
    // Fetch bounds: an abort overlaps [fetchOffset, upperBound) when its marker is at or after the fetch offset.
    expect(log.abortedTransactions(7, 8)).toHaveLength(1);
    expect(log.abortedTransactions(0, 2)).toEqual([]);
    expect(txnIndexFiles(dir)).toEqual(["00000000000000000000.txnindex"]);

    // The markers are control batches at their offsets, with the leader epoch.
    const read = log.read(6, 1 << 20, 8, true);
    const headers = batchHeaders(sliceBytes(read.slice!));
    expect(headers.map((header) => [header.baseOffset, (header.attributes & 0x30) === 0x30, header.producerId, header.baseSequence])).toEqual([
      [6, true, 1, -1],
      [7, true, 2, -1],
    ]);
    // A marker with an older producer epoch, or from an older coordinator, is refused and writes nothing.
    ok(log.appendAsLeader(transactionalBatch(3, 1, 5), 0, T0)); // 8
    expect(log.appendMarker(marker(3, true, 0, 4), 0, T0).errorCode).toBe(INVALID_PRODUCER_EPOCH);
    ok(log.appendMarker(marker(3, true, 9, 5), 0, T0)); // 9
    ok(log.appendAsLeader(transactionalBatch(3, 1, 5), 0, T0)); // 10
    expect(log.appendMarker(marker(3, false, 8, 5), 0, T0).errorCode).toBe(TRANSACTION_COORDINATOR_FENCED);
    expect(log.logEndOffset).toBe(11);
    expect(log.firstUnstableOffset).toBe(10);
    // A transactional batch without a producer id is not valid at all.
    expect(log.appendAsLeader(buildBatch({ isTransactional: true, records: [{ value: "x" }] }), 0, T0).errorCode).toBe(INVALID_RECORD);
    log.close();

    // A clean reopen: the snapshot carries the open transaction and the coordinator epoch.
    const reopened = openLog(dir);
    expect(reopened.firstUnstableOffset).toBe(10);
    expect(reopened.producerState.entry(3)!.coordinatorEpoch).toBe(9);
    expect(reopened.abortedTransactions(0, 100)).toEqual([{ producerId: 2, firstOffset: 2, lastOffset: 7, lastStableOffset: 8 }]);
    reopened.close();
  });

  test("after a crash the open transactions come back from the replay, and a missing .txnindex entry is rebuilt", () => {
    const dir = freshDir();
    const log = openLog(dir, false, 1 << 20);
    ok(log.appendAsLeader(transactionalBatch(11, 2), 0, T0)); // 0-1
    ok(log.appendAsLeader(transactionalBatch(12, 1), 0, T0)); // 2
    ok(log.appendMarker(marker(11, false), 0, T0)); // 3
    ok(log.appendAsLeader(transactionalBatch(13, 1), 0, T0)); // 4
    log.flush();
    // No clean close (the process died); the index file is lost as if its write had not reached the disk.
    fs.rmSync(path.join(dir, "00000000000000000000.txnindex"));
    const recovered = openLog(dir, true, 1 << 20);
    expect(recovered.firstUnstableOffset).toBe(2);
    expect(recovered.producerState.ongoingTransactionFirstOffset(13)).toBe(4);
    expect(recovered.abortedTransactions(0, 5)).toEqual([{ producerId: 11, firstOffset: 0, lastOffset: 3, lastStableOffset: 4 }]);
    expect(recovered.recoveryReport.events.join("\n")).toContain("indexed the aborted transaction of producer 11");
    expect(txnIndexFiles(dir)).toEqual(["00000000000000000000.txnindex"]);
    recovered.close();
  });

  test("a transaction opened many segments back survives a crash that lost the roll snapshots (replay from the log start)", () => {
    const dir = freshDir();
    const log = openLog(dir, false, 1024);
    ok(log.appendAsLeader(transactionalBatch(21, 1), 0, T0)); // 0: opens producer 21's transaction
    for (let index = 0; index < 40; index++) ok(log.appendAsLeader(buildBatch({ records: [{ key: "plain", value: "v".repeat(200) }] }), 0, T0));
    expect(log.segments.length).toBeGreaterThan(4);
    log.flush();
    // As if the power loss had taken every snapshot: the replay must start at the log start.
    for (const name of fs.readdirSync(dir)) if (name.endsWith(".snapshot")) fs.rmSync(path.join(dir, name));
    const recovered = openLog(dir, true, 1024);
    expect(recovered.producerStateRebuild).toMatchObject({ snapshotOffset: -1, replayedFromOffset: 0 });
    expect(recovered.firstUnstableOffset).toBe(0);
    expect(recovered.producerState.ongoingTransactionFirstOffset(21)).toBe(0);
    recovered.close();
  });

  test("a roll's producer snapshot is fsynced in the background before the recovery point passes it", async () => {
    const dir = freshDir();
    const log = openLog(dir, false, 1024);
    ok(log.appendAsLeader(transactionalBatch(22, 1), 0, T0));
    for (let index = 0; index < 8 && log.segments.length < 3; index++) ok(log.appendAsLeader(buildBatch({ records: [{ value: "w".repeat(400) }] }), 0, T0));
    const activeBase = log.activeSegment.baseOffset;
    for (let attempt = 0; attempt < 500 && log.recoveryPoint < activeBase; attempt++) await Bun.sleep(10);
    expect(log.recoveryPoint).toBe(activeBase);
    // Crash: the snapshot at the recovery point is used, nothing before it is replayed.
    const recovered = openLog(dir, true, 1024);
    expect(recovered.producerStateRebuild).toMatchObject({ snapshotOffset: activeBase, replayedFromOffset: activeBase });
    expect(recovered.firstUnstableOffset).toBe(0);
    recovered.close();
  });

  test("a follower fed the leader's bytes has the same LSO, aborted transactions and .txnindex", () => {
    const leaderDir = freshDir();
    const followerDir = freshDir();
    const leader = openLog(leaderDir);
    const follower = openLog(followerDir);
    ok(leader.appendAsLeader(transactionalBatch(21, 3), 0, T0));
    ok(leader.appendAsLeader(transactionalBatch(22, 2), 0, T0));
    ok(leader.appendMarker(marker(21, false, 1), 0, T0));
    ok(leader.appendAsLeader(transactionalBatch(23, 1), 0, T0));
    // Bounded: every read moves the follower's end forward.
    for (let round = 0; round < 100 && follower.logEndOffset < leader.logEndOffset; round++) {
      const read = leader.read(follower.logEndOffset, 1 << 20, leader.logEndOffset, true);
      ok(follower.appendAsFollower(sliceBytes(read.slice!)));
    }
    expect(follower.logEndOffset).toBe(leader.logEndOffset);
    expect(follower.firstUnstableOffset).toBe(leader.firstUnstableOffset);
    expect(follower.firstUnstableOffset).toBe(3);
    expect(follower.abortedTransactions(0, 100)).toEqual(leader.abortedTransactions(0, 100));
    expect(follower.abortedTransactions(0, 100)).toEqual([{ producerId: 21, firstOffset: 0, lastOffset: 5, lastStableOffset: 3 }]);
    expect(txnIndexFiles(followerDir)).toEqual(txnIndexFiles(leaderDir));
    // Truncation below the marker removes its entry (the follower's tail was not the new leader's).
    follower.truncateTo(5);
    expect(follower.abortedTransactions(0, 100)).toEqual([]);
    expect(follower.firstUnstableOffset).toBe(0);
    leader.close();
    follower.close();
  });

  test("a segment's .txnindex goes with the segment (DeleteRecords, retention)", () => {
    const dir = freshDir();
    const log = openLog(dir, false, 600);
    ok(log.appendAsLeader(transactionalBatch(31, 2), 0, T0));
    ok(log.appendMarker(marker(31, false), 0, T0));
    // Fill past a few rolls so the abort's segment is not the active one.
    for (let index = 0; index < 20 && log.segments.length < 3; index++) ok(log.appendAsLeader(buildBatch({ records: [{ value: "x".repeat(200) }] }), 0, T0));
    expect(log.segments.length).toBeGreaterThanOrEqual(3);
    expect(txnIndexFiles(dir)).toEqual(["00000000000000000000.txnindex"]);
    log.deleteRecordsBefore(log.segments[1]!.baseOffset);
    expect(txnIndexFiles(dir)).toEqual([]);
    expect(log.abortedTransactions(0, log.logEndOffset)).toEqual([]);
    log.close();
  });
});

describe("KIP-890 verification guards", () => {
  test("a batch may open a transaction only with the producer's current guard; a marker in between voids it", () => {
    const dir = freshDir();
    const log = openLog(dir, false, 1 << 20);
    const state = log.producerState;
    // No guard at all (never verified): refused, nothing written.
    expect(log.appendManyAsLeader([transactionalBatch(51, 1)], 0, T0, [undefined])[0]!.errorCode).toBe(INVALID_TXN_STATE);
    sequences.set(51, 0);
    expect(log.logEndOffset).toBe(0);
    // Verified with the guard handed out before: appended, and later batches of the open transaction need none.
    const guard = state.createVerificationGuard(51);
    expect(state.createVerificationGuard(51)).toBe(guard);
    ok(log.appendManyAsLeader([transactionalBatch(51, 1)], 0, T0, [guard])[0]!);
    ok(log.appendManyAsLeader([transactionalBatch(51, 1)], 0, T0, [undefined])[0]!);
    ok(log.appendMarker(marker(51, false), 0, T0));
    // A batch verified for the next transaction, but the coordinator aborted it (marker) before the append: refused.
    const late = state.createVerificationGuard(51);
    ok(log.appendMarker(marker(51, false), 0, T0));
    const endBefore = log.logEndOffset;
    expect(log.appendManyAsLeader([transactionalBatch(51, 1)], 0, T0, [late])[0]!.errorCode).toBe(INVALID_TXN_STATE);
    expect(log.logEndOffset).toBe(endBefore);
    expect(log.firstUnstableOffset).toBe(-1);
    // A stale guard from an earlier round does not match a new one either.
    const fresh = state.createVerificationGuard(51);
    expect(fresh).not.toBe(late);
    expect(log.appendManyAsLeader([transactionalBatch(51, 1)], 0, T0, [late])[0]!.errorCode).toBe(INVALID_TXN_STATE);
    log.close();
  });
});

describe("the log start and open transactions", () => {
  test("DeleteRecords past an open transaction's first offset moves the LSO up to the new log start, no further", () => {
    const dir = freshDir();
    const log = openLog(dir, false, 600);
    ok(log.appendAsLeader(transactionalBatch(41, 2), 0, T0)); // 0-1, stays open
    for (let index = 0; index < 20 && log.segments.length < 3; index++) ok(log.appendAsLeader(buildBatch({ records: [{ value: "x".repeat(200) }] }), 0, T0));
    expect(log.firstUnstableOffset).toBe(0);
    const newStart = log.segments[1]!.baseOffset;
    log.deleteRecordsBefore(newStart);
    expect(log.logStartOffset).toBe(newStart);
    expect(log.firstUnstableOffset).toBe(newStart);
    expect(log.lastStableOffset(log.logEndOffset)).toBe(newStart);
    // The transaction is still open: its marker ends it and the LSO reaches the high watermark.
    ok(log.appendMarker(marker(41, true), 0, T0));
    expect(log.lastStableOffset(log.logEndOffset)).toBe(log.logEndOffset);
    log.close();
  });
});

describe("producer snapshots with transactions", () => {
  test("version 2 round-trips open transactions, coordinator epochs and producers known only by a marker", () => {
    const manager = new ProducerStateManager();
    manager.update({ producerId: 1, producerEpoch: 3, firstSeq: 0, lastSeq: 4, transactional: true }, 100, 104, T0);
    manager.update({ producerId: 2, producerEpoch: 0, firstSeq: 0, lastSeq: 0 }, 105, 105, T0);
    manager.completeTransaction(4, 7, 12, false, 106, T0 + 5);
    const loaded = new ProducerStateManager();
    expect(decodeSnapshot(encodeSnapshot(manager, 107), 107, loaded)).toBeNull();
    expect(loaded.firstUnstableOffset()).toBe(100);
    expect(loaded.ongoingTransactionFirstOffset(1)).toBe(100);
    expect(loaded.entry(4)!.coordinatorEpoch).toBe(12);
    expect(loaded.entry(4)!.batches).toEqual([]);
    expect(loaded.entry(4)!.lastTimestampMs).toBe(T0 + 5);
    expect(loaded.entry(2)!.currentTxnFirstOffset).toBe(-1);
  });

  test("a version 1 snapshot (written before transactions) is still read", () => {
    // int16 version, uint32 crc, int64 offset, int32 count; producer: int64 id, int16 epoch, int8 batches; batch: 2×int32, 3×int64.
    const bytes = new Uint8Array(18 + 11 + 32);
    const view = new DataView(bytes.buffer);
    view.setInt16(0, 1);
    view.setBigInt64(6, 50n);
    view.setInt32(14, 1);
    view.setBigInt64(18, 9n);
    view.setInt16(26, 2);
    view.setInt8(28, 1);
    view.setInt32(29, 0);
    view.setInt32(33, 4);
    view.setBigInt64(37, 40n);
    view.setBigInt64(45, 44n);
    view.setBigInt64(53, BigInt(T0));
    view.setUint32(2, crc32c(bytes.subarray(6)) >>> 0);
    const loaded = new ProducerStateManager();
    expect(decodeSnapshot(bytes, 50, loaded)).toBeNull();
    expect(loaded.entry(9)!.producerEpoch).toBe(2);
    expect(loaded.entry(9)!.lastBatch).toEqual({ firstSeq: 0, lastSeq: 4, firstOffset: 40, lastOffset: 44, timestampMs: T0 });
    expect(loaded.entry(9)!.coordinatorEpoch).toBe(-1);
    expect(loaded.firstUnstableOffset()).toBe(-1);
  });

  test("producers with an open transaction are neither expired nor evicted", () => {
    const manager = new ProducerStateManager(1000, 2);
    manager.update({ producerId: 1, producerEpoch: 0, firstSeq: 0, lastSeq: 0, transactional: true }, 0, 0, T0);
    manager.update({ producerId: 2, producerEpoch: 0, firstSeq: 0, lastSeq: 0 }, 1, 1, T0);
    manager.update({ producerId: 3, producerEpoch: 0, firstSeq: 0, lastSeq: 0 }, 2, 2, T0);
    expect([...manager.entries()].map((entry) => entry.producerId).sort()).toEqual([1, 3]);
    expect(manager.removeExpired(T0 + 10_000)).toBe(1);
    expect(manager.entry(1)).toBeDefined();
  });
});
