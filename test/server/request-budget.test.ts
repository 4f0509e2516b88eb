// queued.max.request.bytes at the frame level: frames are charged until released; a frame spanning reads
// reserves its declared size first, and when the budget is spent the reader stops and keeps the bytes it
// was given, to go on (same frames, same bytes) once the budget has room.
import { expect, test } from "bun:test";
import { FrameReader } from "../../src/server/frame-reader.ts";
import { RequestBudget, sharedBudgetCells } from "../../src/server/request-budget.ts";

function frame(payloadBytes: number, fill: number): Uint8Array {
  const bytes = new Uint8Array(4 + payloadBytes).fill(fill);
  new DataView(bytes.buffer).setInt32(0, payloadBytes);
  return bytes;
}

test("whole frames are charged; a spanning frame past the spent budget waits, then completes intact", () => {
  const budget = new RequestBudget(1000);
  const first = new FrameReader(1 << 20, null, budget);
  const second = new FrameReader(1 << 20, null, budget);
  // A 1200-byte frame arriving in two reads: the budget has room, so it reserves its declared size (non-strict).
  const big = frame(1200, 9);
  expect(first.push(big.subarray(0, 600))).toEqual([]);
  expect(budget.usedBytes).toBe(1200);
  expect(budget.exhausted).toBe(true);
  // Another connection's spanning frame must wait: the reader blocks and keeps the bytes.
  const other = frame(500, 5);
  expect(second.push(other.subarray(0, 100))).toEqual([]);
  expect(second.blocked).toBe(true);
  let granted = 0;
  budget.wait({ onBudgetAvailable: () => granted++ });
  // The reserved frame completes without asking the budget again.
  const [done] = first.push(big.subarray(600));
  expect(done!.payload.byteLength).toBe(1200);
  expect(done!.chargedBytes).toBe(1200);
  expect(granted).toBe(0);
  budget.release(done!.chargedBytes);
  expect(granted).toBe(1);
  expect(second.unblock()).toEqual([]);
  expect(budget.usedBytes).toBe(500);
  const [late] = second.push(other.subarray(100));
  expect(late!.payload).toEqual(other.subarray(4));
  budget.release(late!.chargedBytes);
  expect(budget.usedBytes).toBe(0);
});

test("a connection closing mid-frame gives its reservation back", () => {
  const budget = new RequestBudget(10_000);
  const reader = new FrameReader(1 << 20, null, budget);
  reader.push(frame(5000, 1).subarray(0, 10));
  expect(budget.usedBytes).toBe(5000);
  reader.discardPartial();
  expect(budget.usedBytes).toBe(0);
});

test("an unbounded budget (-1) never blocks", () => {
  const budget = new RequestBudget(-1);
  for (let i = 0; i < 10; i++) {
    const reader = new FrameReader(1 << 20, null, budget);
    reader.push(frame(100_000, i).subarray(0, 50));
    expect(reader.blocked).toBe(false);
  }
  expect(budget.usedBytes).toBe(1_000_000);
  expect(budget.exhausted).toBe(false);
});

test("a budget shared by threads is used, paused and counted broker-wide: each thread reads every thread's pauses and the highest use", () => {
  const cells = sharedBudgetCells(3);
  const main = new RequestBudget(1000, { cells, row: 0 });
  const shardA = new RequestBudget(1000, { cells, row: 1 });
  const shardB = new RequestBudget(1000, { cells, row: 2 });
  expect(shardA.tryReserve(600)).toBe(true);
  expect(shardB.tryReserve(500)).toBe(true);
  expect(main.usedBytes).toBe(1100);
  expect(main.exhausted).toBe(true);
  // Both shards' connections wait; the main thread, which held none of them, sees the pauses and the peak.
  shardA.wait({ onBudgetAvailable: () => undefined });
  shardB.wait({ onBudgetAvailable: () => undefined });
  expect(main.stats).toEqual({ pauses: 2, reservedBytesMax: 1100 });
  shardA.release(600);
  shardB.release(500);
  expect(main.usedBytes).toBe(0);
  // The peak stays a peak.
  expect(shardA.stats.reservedBytesMax).toBe(1100);
  // A thread that died takes only its own reservation with it.
  expect(shardA.tryReserve(300)).toBe(true);
  main.forgetThread(1);
  expect(main.usedBytes).toBe(0);
});
