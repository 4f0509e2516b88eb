// Goal: the log cleaner never loses the latest fsynced value of a key, never makes offsets go backwards,
// and a power loss at any point of a pass (while writing `.cleaned` files, between the renames of a swap,
// while old segments are deleted) leaves a log that recovery opens without throwing. Method: seeded runs of
// a compacted PartitionLog on the SimulatedFileSystem (test/sim/): appends to a small key space, flushes,
// rolls, background fsyncs, truncations inside the active segment, clean restarts and cleaner passes (with
// appends between the pass's turns). Before some passes a power loss is armed at a random operation count,
// so it lands anywhere in the pass or in the steps after it; every cycle ends with a power loss. After a
// clean pass or restart every key's latest appended value must be in the log at its offset; after a power
// loss every key's latest value appended before a flush must be there (or a later one). SIM_CLEANER_CYCLES=N
// runs more power losses; SIM_SEED=<n> replays one failing seed exactly (the failure message prints it).
import { expect, test } from "bun:test";
import { cleanLog } from "../../src/log/log-cleaner.ts";
import { PartitionLog } from "../../src/log/partition-log.ts";
import { buildBatch, readBatchRecords } from "../../src/records/compression.ts";
import { ManualClock } from "../../src/util/clock.ts";
import { checkIndexes, segmentBatches } from "./log-checks.ts";
import { Prng } from "./prng.ts";
import { SimulatedFileSystem, SimulatedPowerLoss } from "./simulated-file-system.ts";

const CYCLES_TOTAL = Number(process.env.SIM_CLEANER_CYCLES ?? 600);
/** Power losses per seed: each seed is one disk living through this many crashes. */
const CYCLES_PER_SEED = 10;
const STEPS_PER_CYCLE_MAX = 30;
/** Seeds of this simulation start here, apart from log-crash's, so the two explore different runs. */
const FIRST_SEED = 100_001;
/** A pass over these small logs yields a few dozen times; more turns than this means it hangs. */
const PASS_TURNS_MAX = 10_000;
/** Turns a pass abandoned by a power loss gets to run into the dead disk and stop, before the restart. */
const ZOMBIE_TURNS_MAX = 50;
/** A power loss is armed at most this many disk operations ahead (a pass over these logs does a few dozen). */
const POWER_LOSS_OPERATIONS_MAX = 80;
const KEYS_TOTAL = 12;
const DIR = "/sim/compacted-0";
const LOG_CONFIG = {
  segmentBytes: 6 * 1024,
  segmentIndexBytes: 8 * 32,
  indexIntervalBytes: 400,
  preallocate: true,
  compact: true,
  delete: false,
  minCleanableDirtyRatio: 0,
};

interface ModelRecord {
  /** The batch holding the record (a truncation removes whole batches). */
  batchBaseOffset: number;
  key: string;
  value: string | null;
  /** Appended before a flush (or a clean close): must survive any power loss, or be superseded. */
  durable: boolean;
}

interface StoredRecord {
  batchBaseOffset: number;
  offset: number;
  key: string;
  value: string | null;
}

/** What the run saw, over every seed (printed; some must be non-zero so the test proves something). */
const seen = { passes: 0, passesSwapped: 0, powerLossesInPass: 0, powerLossesElsewhere: 0, unsyncedMismatchesKept: 0, recordsRemovedByCleaner: 0 };

class SeedRun {
  readonly prng: Prng;
  readonly files: SimulatedFileSystem;
  readonly clock = new ManualClock(1_700_000_000_000);
  log: PartitionLog;
  /** Every record the log may hold, by offset (ascending insertion). */
  model = new Map<number, ModelRecord>();
  readonly trace: string[] = [];
  /**
   * No pass has mapped offsets at or past this (a pass maps below the active segment's base at its start):
   * a record the cleaner removed was superseded below it, so a truncation above it never cuts the only
   * copy of a key. Below it, compaction plus truncation may lose a key, in Kafka too.
   */
  cleanedEnd = 0;
  private valueCounter = 0;

  constructor(readonly seed: number) {
    this.prng = new Prng(seed);
    this.files = new SimulatedFileSystem(this.prng);
    this.files.mkdir(DIR);
    this.log = PartitionLog.open({ dir: DIR, config: LOG_CONFIG, recover: false, files: this.files, clock: this.clock });
  }

  append(): void {
    const count = this.prng.between(1, 5);
    const records = Array.from({ length: count }, () => {
      const key = `k${this.prng.int(KEYS_TOTAL)}`;
      const value = this.prng.chance(0.05) ? null : `${this.seed}.${++this.valueCounter}.${"v".repeat(this.prng.between(1, 300))}`;
      return { key, value, timestampMs: this.clock.nowMs() };
    });
    const result = this.log.appendAsLeader(buildBatch({ records }), 0, this.clock.nowMs());
    // The log turns a failed write into KAFKA_STORAGE_ERROR for the producer: here that is the power loss.
    if (result.errorCode !== 0 && this.files.isPoweredOff) throw new SimulatedPowerLoss(`append failed: ${JSON.stringify(result)}`);
    if (result.errorCode !== 0) throw new Error(`append refused: ${JSON.stringify(result)}`);
    const info = result as { baseOffset: number; lastOffset: number };
    records.forEach((record, index) => this.model.set(info.baseOffset + index, { batchBaseOffset: info.baseOffset, key: record.key, value: record.value, durable: false }));
    this.trace.push(`append ${info.baseOffset}..${info.lastOffset}`);
  }

  /** One cleaner pass, with appends and background fsyncs between its turns. Stops waiting at a power loss. */
  async cleanerPass(): Promise<void> {
    const force = this.prng.chance(0.5);
    const yieldEveryBytes = this.prng.between(256, 8192);
    let settled = false;
    let failure: unknown = null;
    let swapped = false;
    seen.passes++;
    this.cleanedEnd = Math.max(this.cleanedEnd, this.log.activeSegment.baseOffset);
    const pass = cleanLog(this.log, { nowMs: this.clock.nowMs(), force, yieldEveryBytes }).then(
      (result) => {
        settled = true;
        swapped = (result?.segmentsWritten ?? 0) > 0;
      },
      (error: unknown) => {
        settled = true;
        failure = error;
      },
    );
    void pass;
    for (let turn = 0; !settled && !this.files.isPoweredOff; turn++) {
      if (turn >= PASS_TURNS_MAX) throw new Error(`cleaner pass still running after ${PASS_TURNS_MAX} turns`);
      // The threadpool completes the pass's fsync of its output (and any roll's) between turns.
      this.files.completeAsyncSyncs();
      if (this.prng.chance(0.2)) {
        try {
          this.append();
        } catch (error) {
          if (!(error instanceof SimulatedPowerLoss)) throw error;
          break;
        }
      }
      await nextTurn();
    }
    if (this.files.isPoweredOff) {
      seen.powerLossesInPass++;
      // The pass runs into the dead disk (every operation throws) and stops before the machine restarts; one
      // stuck on a dropped fsync never resumes.
      for (let turn = 0; !settled && turn < ZOMBIE_TURNS_MAX; turn++) await nextTurn();
      throw new SimulatedPowerLoss("power lost during a cleaner pass");
    }
    if (failure !== null) throw failure;
    if (swapped) seen.passesSwapped++;
    this.trace.push(`cleaner pass (force ${force}): ${swapped ? "swapped" : "nothing swapped"}`);
    await this.checkNothingLost("cleaner pass");
  }

  /** Log records in order: offsets strictly increase across batches and segments; indexes agree with the log. */
  async readLog(after: string): Promise<StoredRecord[]> {
    const stored: StoredRecord[] = [];
    let previousOffset = -1;
    for (const segment of this.log.segments) {
      for (const batch of segmentBatches(segment)) {
        for (const record of await readBatchRecords(batch.bytes)) {
          const offset = batch.baseOffset + record.offsetDelta;
          if (offset <= previousOffset) throw new Error(`${after}: offset ${offset} after ${previousOffset}`);
          previousOffset = offset;
          const key = record.key === null ? "" : new TextDecoder().decode(record.key);
          stored.push({ batchBaseOffset: batch.baseOffset, offset, key, value: record.value === null ? null : new TextDecoder().decode(record.value) });
        }
      }
      checkIndexes(segment, after);
    }
    if (previousOffset >= this.log.logEndOffset) throw new Error(`${after}: record at ${previousOffset}, log end offset ${this.log.logEndOffset}`);
    return stored;
  }

  /** Nothing was lost (a pass, a clean restart): every key's latest appended record is in the log, as appended. */
  async checkNothingLost(after: string): Promise<void> {
    const stored = await this.readLog(after);
    const byOffset = new Map(stored.map((record) => [record.offset, record]));
    for (const record of stored) {
      const expected = this.model.get(record.offset);
      if (expected === undefined || expected.key !== record.key || expected.value !== record.value) throw new Error(`${after}: offset ${record.offset} holds ${record.key}=${record.value?.slice(0, 20)}, never appended there`);
    }
    for (const [key, offset] of latestOffsets(this.model, false)) {
      if (!byOffset.has(offset)) throw new Error(`${after}: key ${key}'s latest record at ${offset} is gone`);
    }
    seen.recordsRemovedByCleaner += this.model.size - stored.length;
  }

  /**
   * After a power loss: the log holds only appended records (unsynced ones may carry a bit flipped outside
   * the CRC), and every key's latest record appended before a flush is there or superseded by a later one.
   * The model becomes what the log holds (recovery fsynced it).
   */
  async checkRecovered(after: string): Promise<void> {
    const stored = await this.readLog(after);
    let durableEnd = -1;
    for (const [offset, record] of this.model) if (record.durable) durableEnd = Math.max(durableEnd, offset);
    const latestByKey = new Map<string, number>();
    for (const record of stored) {
      const expected = this.model.get(record.offset);
      const same = expected !== undefined && expected.key === record.key && expected.value === record.value;
      if (!same && record.offset <= durableEnd) throw new Error(`${after}: offset ${record.offset} holds ${record.key}=${record.value?.slice(0, 20)}, not what was appended and fsynced there`);
      if (!same) seen.unsyncedMismatchesKept++;
      latestByKey.set(record.key, record.offset);
    }
    for (const [key, offset] of latestOffsets(this.model, true)) {
      const found = latestByKey.get(key);
      if (found === undefined || found < offset) throw new Error(`${after}: key ${key}'s latest fsynced record at ${offset} is gone (log has ${found ?? "none"})`);
    }
    this.model = new Map(stored.map((record) => [record.offset, { batchBaseOffset: record.batchBaseOffset, key: record.key, value: record.value, durable: true }]));
  }

  markDurable(): void {
    for (const record of this.model.values()) record.durable = true;
  }
}

/** Each key's latest offset in the model (only records marked durable when `durableOnly`). */
function latestOffsets(model: Map<number, ModelRecord>, durableOnly: boolean): Map<string, number> {
  const latest = new Map<string, number>();
  for (const [offset, record] of model) if (!durableOnly || record.durable) latest.set(record.key, Math.max(offset, latest.get(record.key) ?? -1));
  return latest;
}

const nextTurn = (): Promise<void> => new Promise<void>((resolve) => setImmediate(resolve));

async function step(run: SeedRun): Promise<void> {
  const roll = run.prng.int(100);
  run.clock.advance(run.prng.int(50));
  const log = run.log;
  if (roll < 40) {
    run.append();
  } else if (roll < 50) {
    log.flush(run.clock.nowMs());
    run.markDurable();
    run.trace.push("flush");
  } else if (roll < 60) {
    log.roll(run.clock.nowMs());
    run.trace.push(`roll at ${log.logEndOffset}`);
  } else if (roll < 72) {
    const synced = run.files.completeAsyncSyncs();
    await nextTurn();
    run.trace.push(`background fsyncs completed (${synced})`);
  } else if (roll < 92) {
    if (run.prng.chance(0.5)) {
      const operations = run.prng.int(POWER_LOSS_OPERATIONS_MAX);
      run.files.armPowerLoss(operations);
      run.trace.push(`power loss armed ${operations} operations ahead`);
    }
    await run.cleanerPass();
  } else if (roll < 96) {
    // A follower's truncation, above what any pass mapped (see cleanedEnd).
    const candidates = [...run.model.keys()].filter((offset) => offset >= run.cleanedEnd);
    if (candidates.length === 0) return;
    const cut = candidates[run.prng.int(candidates.length)]!;
    // A truncation under way may complete or not at a power loss: what it removes is not promised any more.
    const removedFrom = run.model.get(cut)!.batchBaseOffset;
    for (const [offset, record] of run.model) if (offset >= removedFrom) record.durable = false;
    run.trace.push(`truncating to ${cut}`);
    log.truncateTo(cut, run.clock.nowMs());
    for (const offset of [...run.model.keys()]) if (offset >= log.logEndOffset) run.model.delete(offset);
    run.trace.push(`truncateTo ${cut} (log end ${log.logEndOffset})`);
  } else {
    log.close();
    run.markDurable();
    run.log = PartitionLog.open({ dir: DIR, config: LOG_CONFIG, recover: false, files: run.files, clock: run.clock });
    run.trace.push("clean restart");
    await run.checkNothingLost("clean restart");
  }
}

/** One seed: a fresh simulated disk, CYCLES_PER_SEED power losses. Throws with the seed on a violation. */
async function runSeed(seed: number): Promise<void> {
  const run = new SeedRun(seed);
  try {
    for (let cycle = 0; cycle < CYCLES_PER_SEED; cycle++) {
      const steps = run.prng.between(1, STEPS_PER_CYCLE_MAX);
      try {
        for (let index = 0; index < steps; index++) await step(run);
      } catch (error) {
        // Once the machine is off, whatever error surfaces (a background fsync's storage error, say) is its consequence.
        if (!(error instanceof SimulatedPowerLoss) && !run.files.isPoweredOff) throw error;
        const message = error instanceof Error ? error.message : String(error);
        if (!message.includes("cleaner pass")) seen.powerLossesElsewhere++;
        run.trace.push(`POWER LOSS: ${message}`);
      }
      const events = run.files.crash();
      run.trace.push(`CRASH: ${events.join("; ") || "nothing unsynced"}`);
      run.log = PartitionLog.open({ dir: DIR, config: LOG_CONFIG, recover: true, files: run.files, clock: run.clock });
      run.trace.push(`recovered: ${run.log.recoveryReport.events.join("; ")}`);
      await run.checkRecovered("power loss");
    }
    run.log.close();
  } catch (error) {
    const message = error instanceof Error ? `${error.message}\n${error.stack}` : String(error);
    throw new Error(`cleaner simulation failed, seed ${seed} (replay: SIM_SEED=${seed} bun test test/sim/cleaner-crash.test.ts)\n${message}\nlast steps:\n  ${run.trace.slice(-40).join("\n  ")}`);
  }
}

test("cleaner passes with power losses anywhere keep every key's latest fsynced value, offsets increasing, and recovery never throws", async () => {
  const replaying = process.env.SIM_SEED !== undefined;
  const seeds = replaying ? [Number(process.env.SIM_SEED)] : Array.from({ length: Math.ceil(CYCLES_TOTAL / CYCLES_PER_SEED) }, (_, index) => FIRST_SEED + index);
  for (const seed of seeds) await runSeed(seed);
  console.log(`${seeds.length} seeds, ${seeds.length * CYCLES_PER_SEED} power losses; ${JSON.stringify(seen)}`);
  if (!replaying) {
    expect(seen.passesSwapped).toBeGreaterThan(0);
    expect(seen.powerLossesInPass).toBeGreaterThan(0);
    expect(seen.recordsRemovedByCleaner).toBeGreaterThan(0);
  }
}, 600_000);
