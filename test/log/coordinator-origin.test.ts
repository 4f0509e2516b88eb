// The group coordinator's transactional batches (TxnOffsetCommit into __consumer_offsets, Kafka's
// AppendOrigin.COORDINATOR): transactional with a producer id and epoch but no sequence. Only an append
// marked coordinatorOrigin takes them (a client's is INVALID_RECORD); they open the producer's transaction on
// the partition (with the KIP-890 guard, as any first transactional batch) without sequence checks, an older epoch is still refused, a marker ends the transaction, and
// a reopened log (crash: header replay, no snapshot of the batch) has the same open transaction.
import { afterEach, expect, test } from "bun:test";
import { PartitionLog, type AppendError, type AppendInfo } from "../../src/log/partition-log.ts";
import { buildBatch } from "../../src/records/compression.ts";
import { INVALID_PRODUCER_EPOCH, INVALID_RECORD } from "../../src/records/errors.ts";
import { tempDir } from "./helpers.ts";

let cleanups: (() => void)[] = [];
afterEach(() => {
  for (const cleanup of cleanups) cleanup();
  cleanups = [];
});

const T0 = 1_700_000_000_000;
const PRODUCER_ID = 7;

function freshLog(): { dir: string; log: PartitionLog } {
  const temp = tempDir("bunka-coordinator-origin-");
  cleanups.push(temp.cleanup);
  return { dir: temp.dir, log: PartitionLog.open({ dir: temp.dir, config: { segmentBytes: 64 * 1024, indexIntervalBytes: 128 }, recover: false, nowMs: T0 }) };
}

/** An offset-commit-like batch of the producer: transactional, no sequence (RecordBatch.NO_SEQUENCE). */
function coordinatorBatch(producerEpoch: number, value: string): Uint8Array {
  return buildBatch({ producerId: PRODUCER_ID, producerEpoch, isTransactional: true, records: [{ key: "group-key", value }] });
}

function ok(result: AppendInfo | AppendError): AppendInfo {
  if (result.errorCode !== 0) throw new Error(`append failed: ${JSON.stringify(result)}`);
  return result as AppendInfo;
}

/** As the internal topic store appends it: with the producer's KIP-890 guard (the coordinator verified the transaction). */
const asCoordinator = (log: PartitionLog, records: Uint8Array) => log.appendManyAsLeader([records], 0, T0, [log.producerState.createVerificationGuard(PRODUCER_ID)], [true])[0]!;

test("a transactional batch without a sequence is refused from a client and accepted from the coordinator, which opens the producer's transaction", () => {
  const { log } = freshLog();
  ok(log.appendAsLeader(buildBatch({ records: [{ key: "k", value: "plain" }] }), 0, T0)); // offset 0
  expect(log.appendManyAsLeader([coordinatorBatch(0, "client")], 0, T0)[0]!.errorCode).toBe(INVALID_RECORD);
  const first = ok(asCoordinator(log, coordinatorBatch(0, "first"))); // offset 1
  expect(first.baseOffset).toBe(1);
  expect(log.firstUnstableOffset).toBe(1);
  expect(log.producerState.ongoingTransactionFirstOffset(PRODUCER_ID)).toBe(1);
  // No sequence history: the same batch again is appended again (a retried TxnOffsetCommit replaces the value).
  expect(ok(asCoordinator(log, coordinatorBatch(0, "first"))).baseOffset).toBe(2);
  // The producer's epoch is still checked.
  ok(asCoordinator(log, coordinatorBatch(1, "bumped"))); // offset 3
  expect(asCoordinator(log, coordinatorBatch(0, "stale")).errorCode).toBe(INVALID_PRODUCER_EPOCH);
  expect(log.firstUnstableOffset).toBe(1);
  ok(log.appendMarker({ producerId: PRODUCER_ID, producerEpoch: 1, coordinatorEpoch: 0, commit: true }, 0, T0)); // offset 4
  expect(log.producerState.ongoingTransactionFirstOffset(PRODUCER_ID)).toBe(-1);
  log.close();
});

test("after a crash the header replay finds the coordinator's open transaction again", () => {
  const { dir, log } = freshLog();
  ok(log.appendAsLeader(buildBatch({ records: [{ key: "k", value: "plain" }] }), 0, T0)); // offset 0
  ok(asCoordinator(log, coordinatorBatch(0, "pending"))); // offset 1
  // Crash: the object is dropped without close (no snapshot at the log end).
  const recovered = PartitionLog.open({ dir, config: { segmentBytes: 64 * 1024, indexIntervalBytes: 128 }, recover: true, nowMs: T0 });
  try {
    expect(recovered.logEndOffset).toBe(2);
    expect(recovered.producerState.ongoingTransactionFirstOffset(PRODUCER_ID)).toBe(1);
    expect(recovered.firstUnstableOffset).toBe(1);
  } finally {
    recovered.close();
  }
});
