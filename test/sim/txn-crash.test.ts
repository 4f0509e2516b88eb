// Goal: after any power loss, a PartitionLog's transaction state agrees with the log it recovered: every
// .txnindex entry has its ABORT marker in the log, every ABORT marker that ended a transaction with data has
// its entry (with the transaction's first offset), and the first unstable offset is the first offset of the
// oldest transaction with data and no marker. Method: seeded runs of transactional appends by a few producers,
// COMMIT/ABORT markers, plain appends, flushes, rolls, background fsyncs and clean restarts against the
// SimulatedFileSystem, which drops, tears, reorders or bit-flips what was not synced; after every restart the
// state is compared with a model computed by reading the recovered log. SIM_TXN_CYCLES=N runs more; SIM_SEED=n
// replays one seed.
import { expect, test } from "bun:test";
import { PartitionLog } from "../../src/log/partition-log.ts";
import { ATTRIBUTES_OFFSET, CONTROL_FLAG_MASK, PRODUCER_ID_OFFSET, TRANSACTIONAL_FLAG_MASK, dataViewOf, readInt64 } from "../../src/records/batch.ts";
import { buildBatch } from "../../src/records/compression.ts";
import { readEndTransactionMarker } from "../../src/records/control.ts";
import { ManualClock } from "../../src/util/clock.ts";
import { segmentBatches } from "./log-checks.ts";
import { Prng } from "./prng.ts";
import { SimulatedFileSystem } from "./simulated-file-system.ts";

const CYCLES_TOTAL = Number(process.env.SIM_TXN_CYCLES ?? 400);
const CYCLES_PER_SEED = 20;
const STEPS_PER_CYCLE_MAX = 24;
const FIRST_SEED = 1;
const PRODUCERS = 3;
const DIR = "/sim/txn-0";
// Small segments and explicit rolls: open transactions span many segments, and power losses hit roll snapshots
// before their background fsync (recovery must then replay from an older snapshot or the log start).
const LOG_CONFIG = { segmentBytes: 12 * 1024, segmentIndexBytes: 8 * 256, indexIntervalBytes: 700, preallocate: true };

interface ModelState {
  firstUnstableOffset: number;
  aborted: string[];
  /** The batches leave offsets out: unsynced data lost in the middle, or a bit flipped in a base offset (outside the CRC). */
  gap: boolean;
}

/** Recoveries whose log had a gap (allowed for unsynced data, as in log-crash.test.ts; the comparison is skipped). */
let gapsSeen = 0;

/** The transaction state the recovered log's batches imply. */
function model(log: PartitionLog): ModelState {
  const open = new Map<number, number>();
  const aborted: string[] = [];
  let gap = false;
  let nextOffset = -1;
  for (const segment of log.segments) {
    for (const batch of segmentBatches(segment)) {
      if (nextOffset >= 0 && batch.baseOffset !== nextOffset) gap = true;
      nextOffset = batch.lastOffset + 1;
      const view = dataViewOf(batch.bytes);
      const attributes = view.getInt16(ATTRIBUTES_OFFSET);
      const producerId = readInt64(view, PRODUCER_ID_OFFSET);
      if ((attributes & CONTROL_FLAG_MASK) !== 0) {
        const marker = readEndTransactionMarker(batch.bytes, 0, batch.bytes.byteLength);
        if (!marker) continue;
        const firstOffset = open.get(producerId);
        open.delete(producerId);
        if (!marker.commit && firstOffset !== undefined) aborted.push(`${producerId}:${firstOffset}..${batch.baseOffset}`);
      } else if ((attributes & TRANSACTIONAL_FLAG_MASK) !== 0 && !open.has(producerId)) {
        open.set(producerId, batch.baseOffset);
      }
    }
  }
  let firstUnstableOffset = -1;
  for (const offset of open.values()) if (firstUnstableOffset < 0 || offset < firstUnstableOffset) firstUnstableOffset = offset;
  return { firstUnstableOffset, aborted, gap };
}

function check(log: PartitionLog, after: string): void {
  const expected = model(log);
  if (expected.gap) {
    gapsSeen++;
    return;
  }
  const aborted = log.abortedTransactions(log.logStartOffset, log.logEndOffset + 1).map((entry) => `${entry.producerId}:${entry.firstOffset}..${entry.lastOffset}`);
  if (JSON.stringify(aborted) !== JSON.stringify(expected.aborted)) throw new Error(`${after}: .txnindex ${JSON.stringify(aborted)}, the log's aborts ${JSON.stringify(expected.aborted)}`);
  if (log.firstUnstableOffset !== expected.firstUnstableOffset) throw new Error(`${after}: first unstable offset ${log.firstUnstableOffset}, the log's ${expected.firstUnstableOffset}`);
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
  const trace: string[] = [];
  try {
    for (let cycle = 0; cycle < CYCLES_PER_SEED; cycle++) {
      const steps = prng.between(1, STEPS_PER_CYCLE_MAX);
      for (let step = 0; step < steps; step++) {
        const roll = prng.int(100);
        clock.advance(prng.int(50));
        const producer = prng.int(PRODUCERS);
        const producerId = 1000 + producer;
        if (roll < 45) {
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
        } else if (roll < 65) {
          const commit = prng.chance(0.5);
          const result = log.appendMarker({ producerId, producerEpoch: epochs[producer]!, coordinatorEpoch: 0, commit }, 0, clock.nowMs());
          if (result.errorCode !== 0) throw new Error(`marker refused: ${JSON.stringify(result)}`);
          markers++;
          trace.push(`${commit ? "COMMIT" : "ABORT"} p${producerId} at ${(result as { baseOffset: number }).baseOffset}`);
        } else if (roll < 72) {
          log.appendAsLeader(buildBatch({ records: [{ key: "plain", value: "p".repeat(prng.between(1, 900)) }] }), 0, clock.nowMs());
          trace.push("plain append");
        } else if (roll < 80) {
          log.flush(clock.nowMs());
          trace.push("flush");
        } else if (roll < 88) {
          log.roll(clock.nowMs());
          trace.push(`roll at ${log.logEndOffset}`);
        } else if (roll < 96) {
          files.completeAsyncSyncs();
          await new Promise<void>((resolve) => setImmediate(resolve));
          trace.push("background fsyncs completed");
        } else {
          log.close();
          log = PartitionLog.open({ dir: DIR, config: LOG_CONFIG, recover: false, files, clock });
          trace.push("clean restart");
          check(log, "clean restart");
        }
      }
      const events = files.crash();
      trace.push(`CRASH: ${events.join("; ") || "nothing unsynced"}`);
      log = PartitionLog.open({ dir: DIR, config: LOG_CONFIG, recover: true, files, clock });
      trace.push(`recovered: ${log.recoveryReport.events.join("; ")}`);
      check(log, "power loss");
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
  console.log(`${seeds.length} seeds, ${markers} markers; recoveries with an offset gap (not compared): ${gapsSeen}`);
}, 600_000);
