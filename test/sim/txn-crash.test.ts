// Goal: after any power loss, a PartitionLog's transaction state agrees with the log it recovered: every
// .txnindex entry has its ABORT marker in the log, every ABORT marker that ended a transaction with data has
// its entry (with the transaction's first offset), and the first unstable offset is the first offset of the
// oldest transaction with data and no marker. Method: seeded runs of transactional appends by a few producers,
// COMMIT/ABORT markers, plain appends, flushes, rolls, background fsyncs, log cleaner passes (compaction removes
// aborted and superseded data, then markers whose transaction has no data left, with their .txnindex entries;
// a power loss may be armed inside a pass) and clean restarts against the SimulatedFileSystem, which drops,
// tears, reorders or bit-flips what was not synced; after every restart the state is compared with a model
// computed by reading the recovered log. SIM_TXN_CYCLES=N runs more; SIM_SEED=n replays one seed.
import { expect, test } from "bun:test";
import { cleanLog } from "../../src/log/log-cleaner.ts";
import { PartitionLog } from "../../src/log/partition-log.ts";
import { ATTRIBUTES_OFFSET, CONTROL_FLAG_MASK, PRODUCER_ID_OFFSET, TRANSACTIONAL_FLAG_MASK, dataViewOf, readInt64 } from "../../src/records/batch.ts";
import { buildBatch } from "../../src/records/compression.ts";
import { readEndTransactionMarker } from "../../src/records/control.ts";
import { ManualClock } from "../../src/util/clock.ts";
import { segmentBatches } from "./log-checks.ts";
import { Prng } from "./prng.ts";
import { SimulatedFileSystem, SimulatedPowerLoss } from "./simulated-file-system.ts";

const CYCLES_TOTAL = Number(process.env.SIM_TXN_CYCLES ?? 400);
const CYCLES_PER_SEED = 20;
const STEPS_PER_CYCLE_MAX = 24;
const FIRST_SEED = 1;
const PRODUCERS = 3;
const DIR = "/sim/txn-0";
// Small segments and explicit rolls: open transactions span many segments, and power losses hit roll snapshots
// before their background fsync (recovery must then replay from an older snapshot or the log start).
// Compacted, with a short delete.retention.ms: cleaner passes remove markers within a run.
const LOG_CONFIG = { segmentBytes: 12 * 1024, segmentIndexBytes: 8 * 256, indexIntervalBytes: 700, preallocate: true, compact: true, delete: false, minCleanableDirtyRatio: 0, deleteRetentionMs: 200 };
/** A pass over these small logs takes a few dozen turns; more than this means it hangs. */
const PASS_TURNS_MAX = 10_000;
/** A power loss armed before a pass lands at most this many disk operations ahead. */
const POWER_LOSS_OPERATIONS_MAX = 80;

interface ModelState {
  firstUnstableOffset: number;
  /** Aborts with data in the log: `producer:firstOffset..marker`. */
  aborted: string[];
  /** Every ABORT marker in the log: `producer:marker`. */
  abortMarkers: Set<string>;
  /** The batches leave offsets out: unsynced data lost in the middle, or a bit flipped in a base offset (outside the CRC). */
  gap: boolean;
  /** Producers with an open transaction: the first offset of its data in the log. */
  open: Map<number, number>;
  /** Base offsets of each producer's batches (data and markers). */
  batchesOf: Map<number, number[]>;
}

/** Recoveries whose log had a gap (allowed for unsynced data, as in log-crash.test.ts; the comparison is skipped). */
let gapsSeen = 0;

/** The transaction state the recovered log's batches imply. */
function model(log: PartitionLog): ModelState {
  const open = new Map<number, number>();
  const aborted: string[] = [];
  const abortMarkers = new Set<string>();
  const batchesOf = new Map<number, number[]>();
  let gap = false;
  let nextOffset = -1;
  for (const segment of log.segments) {
    for (const batch of segmentBatches(segment)) {
      // Compaction leaves gaps too, and a gap below where a pass reached may still be a power loss's (a marker
      // lost with its segment while a later one survived), so every gap skips the comparison.
      if (nextOffset >= 0 && batch.baseOffset !== nextOffset) gap = true;
      nextOffset = batch.lastOffset + 1;
      const view = dataViewOf(batch.bytes);
      const attributes = view.getInt16(ATTRIBUTES_OFFSET);
      const producerId = readInt64(view, PRODUCER_ID_OFFSET);
      if (producerId >= 0) {
        let offsets = batchesOf.get(producerId);
        if (offsets === undefined) batchesOf.set(producerId, (offsets = []));
        offsets.push(batch.baseOffset);
      }
      if ((attributes & CONTROL_FLAG_MASK) !== 0) {
        const marker = readEndTransactionMarker(batch.bytes, 0, batch.bytes.byteLength);
        if (!marker) continue;
        const firstOffset = open.get(producerId);
        open.delete(producerId);
        if (!marker.commit) abortMarkers.add(`${producerId}:${batch.baseOffset}`);
        if (!marker.commit && firstOffset !== undefined) aborted.push(`${producerId}:${firstOffset}..${batch.baseOffset}`);
      } else if ((attributes & TRANSACTIONAL_FLAG_MASK) !== 0 && !open.has(producerId)) {
        open.set(producerId, batch.baseOffset);
      }
    }
  }
  let firstUnstableOffset = -1;
  for (const offset of open.values()) if (firstUnstableOffset < 0 || offset < firstUnstableOffset) firstUnstableOffset = offset;
  return { firstUnstableOffset, aborted, abortMarkers, gap, open, batchesOf };
}

/** Cleaner passes that swapped, and markers they removed (printed: the run must have exercised them). */
const cleaning = { passesSwapped: 0, markersRemoved: 0, powerLossesInPass: 0 };

/**
 * Before any cleaning the .txnindex is exactly the log's aborts. Once the cleaner removed data, an entry may
 * outlive its transaction's data (until the marker's delete horizon), but never its ABORT marker, and every
 * abort with data must still have its entry, starting at or before that data.
 */
function check(log: PartitionLog, after: string, cleaned: boolean): void {
  const expected = model(log);
  if (expected.gap) {
    gapsSeen++;
    return;
  }
  const entries = log.abortedTransactions(log.logStartOffset, log.logEndOffset + 1);
  const aborted = entries.map((entry) => `${entry.producerId}:${entry.firstOffset}..${entry.lastOffset}`);
  if (!cleaned) {
    if (JSON.stringify(aborted) !== JSON.stringify(expected.aborted)) throw new Error(`${after}: .txnindex ${JSON.stringify(aborted)}, the log's aborts ${JSON.stringify(expected.aborted)}`);
  } else {
    for (const entry of entries) {
      if (!expected.abortMarkers.has(`${entry.producerId}:${entry.lastOffset}`)) throw new Error(`${after}: .txnindex entry ${entry.producerId}:${entry.firstOffset}..${entry.lastOffset} has no ABORT marker in the log`);
    }
    for (const abort of expected.aborted) {
      const [producer, range] = abort.split(":");
      const [first, last] = range!.split("..").map(Number);
      const found = entries.some((entry) => String(entry.producerId) === producer && entry.lastOffset === last && entry.firstOffset <= first!);
      if (!found) throw new Error(`${after}: the log's abort ${abort} has no .txnindex entry covering it (${JSON.stringify(aborted)})`);
    }
  }
  if (cleaned) {
    // The cleaner may remove the first records of a transaction whose marker a power loss then took (it was
    // not flushed): the transaction is open again and its first offset stays where the state saw it, at or
    // before its first record left in the log. The open producers must be the same.
    for (const [producerId, firstOffset] of expected.open) {
      const stateFirst = log.producerState.ongoingTransactionFirstOffset(producerId);
      if (stateFirst < 0 || stateFirst > firstOffset) throw new Error(`${after}: producer ${producerId}'s transaction opens at ${firstOffset} in the log, at ${stateFirst} in the producer state`);
    }
    // Its records all cleaned and its marker lost: open in the state, nothing of it in the log (a hanging
    // transaction, as a lost marker makes one without the cleaner). Any later batch of it must have ended it.
    for (const entry of log.producerState.entries()) {
      if (entry.currentTxnFirstOffset < 0 || expected.open.has(entry.producerId)) continue;
      const later = expected.batchesOf.get(entry.producerId)?.find((offset) => offset >= entry.currentTxnFirstOffset);
      if (later !== undefined) throw new Error(`${after}: producer ${entry.producerId}'s transaction is open in the producer state only (from ${entry.currentTxnFirstOffset}; its batch at ${later} is in the log)`);
    }
  } else if (log.firstUnstableOffset !== expected.firstUnstableOffset) {
    throw new Error(`${after}: first unstable offset ${log.firstUnstableOffset}, the log's ${expected.firstUnstableOffset} (producer state rebuilt: ${JSON.stringify(log.producerStateRebuild)})`);
  }
}

/** One forced cleaner pass, the threadpool's fsyncs completed between its turns; whether it swapped anything. */
async function cleanerPass(log: PartitionLog, files: SimulatedFileSystem, nowMs: number, trace: string[]): Promise<boolean> {
  let settled = false;
  let failure: unknown = null;
  let swapped = false;
  void cleanLog(log, { nowMs, force: true }).then(
    (result) => {
      settled = true;
      swapped = (result?.segmentsWritten ?? 0) > 0;
      cleaning.markersRemoved += result?.markersRemoved ?? 0;
    },
    (error: unknown) => {
      settled = true;
      failure = error;
    },
  );
  for (let turn = 0; !settled && !files.isPoweredOff; turn++) {
    if (turn >= PASS_TURNS_MAX) throw new Error(`cleaner pass still running after ${PASS_TURNS_MAX} turns`);
    files.completeAsyncSyncs();
    await new Promise<void>((resolve) => setImmediate(resolve));
  }
  if (files.isPoweredOff) {
    cleaning.powerLossesInPass++;
    throw new SimulatedPowerLoss("power lost during a cleaner pass");
  }
  if (failure !== null) throw failure;
  if (swapped) cleaning.passesSwapped++;
  trace.push(`cleaner pass: ${swapped ? "swapped" : "nothing swapped"}`);
  return swapped;
}

async function runSeed(seed: number): Promise<number> {
  const prng = new Prng(seed);
  const files = new SimulatedFileSystem(prng);
  const clock = new ManualClock(1_700_000_000_000);
  files.mkdir(DIR);
  let log = PartitionLog.open({ dir: DIR, config: LOG_CONFIG, recover: false, files, clock });
  // Each producer's next sequence and epoch: a marker bumps nothing here, a crash may lose sequences (a new epoch starts at 0).
  const epochs = Array.from({ length: PRODUCERS }, () => 0);
  const sequences = Array.from({ length: PRODUCERS }, () => 0);
  let markers = 0;
  /** A cleaner pass ran on this disk (entries may then outlive their data, see check). */
  let cleaned = false;
  const trace: string[] = [];
  try {
    for (let cycle = 0; cycle < CYCLES_PER_SEED; cycle++) {
      const steps = prng.between(1, STEPS_PER_CYCLE_MAX);
      try {
        for (let step = 0; step < steps; step++) {
          const roll = prng.int(100);
          clock.advance(prng.int(50));
          const producer = prng.int(PRODUCERS);
          const producerId = 1000 + producer;
          if (roll < 40) {
            const count = prng.between(1, 4);
            const bytes = buildBatch({
              producerId,
              producerEpoch: epochs[producer]!,
              baseSequence: sequences[producer]!,
              isTransactional: true,
              records: Array.from({ length: count }, (_, index) => ({ key: `k${index}`, value: "t".repeat(prng.between(1, 600)) })),
            });
            const result = log.appendAsLeader(bytes, 0, clock.nowMs());
            if (result.errorCode !== 0) throw new Error(`transactional append refused: ${JSON.stringify(result)}`);
            sequences[producer]! += count;
            trace.push(`txn append p${producerId} at ${(result as { baseOffset: number }).baseOffset}`);
          } else if (roll < 58) {
            const commit = prng.chance(0.5);
            const result = log.appendMarker({ producerId, producerEpoch: epochs[producer]!, coordinatorEpoch: 0, commit }, 0, clock.nowMs());
            if (result.errorCode !== 0) throw new Error(`marker refused: ${JSON.stringify(result)}`);
            markers++;
            trace.push(`${commit ? "COMMIT" : "ABORT"} p${producerId} at ${(result as { baseOffset: number }).baseOffset}`);
          } else if (roll < 65) {
            log.appendAsLeader(buildBatch({ records: [{ key: "plain", value: "p".repeat(prng.between(1, 900)) }] }), 0, clock.nowMs());
            trace.push("plain append");
          } else if (roll < 72) {
            log.flush(clock.nowMs());
            trace.push("flush");
          } else if (roll < 80) {
            log.roll(clock.nowMs());
            trace.push(`roll at ${log.logEndOffset}`);
          } else if (roll < 88) {
            files.completeAsyncSyncs();
            await new Promise<void>((resolve) => setImmediate(resolve));
            trace.push("background fsyncs completed");
          } else if (roll < 96) {
            // Sometimes a power loss lands inside the pass (writing the output, between the swap's renames).
            if (prng.chance(0.3)) {
              const operations = prng.int(POWER_LOSS_OPERATIONS_MAX);
              files.armPowerLoss(operations);
              trace.push(`power loss armed ${operations} operations ahead`);
            }
            cleaned = true;
            await cleanerPass(log, files, clock.nowMs(), trace);
          } else {
            log.close();
            log = PartitionLog.open({ dir: DIR, config: LOG_CONFIG, recover: false, files, clock });
            trace.push("clean restart");
            check(log, "clean restart", cleaned);
          }
        }
      } catch (error) {
        // Once the machine is off, whatever surfaces (a pass's or a background fsync's error) is its consequence.
        if (!(error instanceof SimulatedPowerLoss) && !files.isPoweredOff) throw error;
        trace.push(`POWER LOSS: ${error instanceof Error ? error.message : String(error)}`);
      }
      const events = files.crash();
      trace.push(`CRASH: ${events.join("; ") || "nothing unsynced"}`);
      log = PartitionLog.open({ dir: DIR, config: LOG_CONFIG, recover: true, files, clock });
      trace.push(`recovered: ${log.recoveryReport.events.join("; ")}`);
      check(log, "power loss", cleaned);
      // Sequences may have been lost with the tail: each producer goes on with a new epoch from sequence 0.
      for (let index = 0; index < PRODUCERS; index++) {
        epochs[index]! += 1;
        sequences[index] = 0;
      }
    }
    log.close();
  } catch (error) {
    const message = error instanceof Error ? `${error.message}\n${error.stack}` : String(error);
    throw new Error(`simulation failed, seed ${seed} (replay: SIM_SEED=${seed} bun test test/sim/txn-crash.test.ts)\n${message}\nlast steps:\n  ${trace.slice(-40).join("\n  ")}`);
  }
  return markers;
}

test("power losses keep the .txnindex, the open transactions and the LSO in agreement with the recovered log", async () => {
  const seeds = process.env.SIM_SEED !== undefined ? [Number(process.env.SIM_SEED)] : Array.from({ length: Math.ceil(CYCLES_TOTAL / CYCLES_PER_SEED) }, (_, index) => FIRST_SEED + index);
  let markers = 0;
  for (const seed of seeds) markers += await runSeed(seed);
  expect(markers).toBeGreaterThan(seeds.length);
  console.log(`${seeds.length} seeds, ${markers} markers; recoveries with an offset gap (not compared): ${gapsSeen}; cleaner: ${JSON.stringify(cleaning)}`);
  if (process.env.SIM_SEED === undefined) {
    expect(cleaning.passesSwapped).toBeGreaterThan(0);
    expect(cleaning.markersRemoved).toBeGreaterThan(0);
  }
}, 600_000);
