// Produce frames assembled from several reads land in pooled SharedArrayBuffer blocks, which are
// reused once released and kept only up to the pool's bound.
import { expect, test } from "bun:test";
import { BLOCK_BYTES_MAX, BufferPool } from "../../src/partition/buffer-pool.ts";
import { FrameReader } from "../../src/server/frame-reader.ts";

function frameBytes(apiKey: number, payloadBytes: number): Uint8Array {
  const frame = new Uint8Array(4 + payloadBytes);
  new DataView(frame.buffer).setInt32(0, payloadBytes);
  new DataView(frame.buffer).setInt16(4, apiKey);
  for (let i = 6; i < frame.byteLength; i++) frame[i] = i & 0xff;
  return frame;
}

test("a released block is handed out again; sizes round up to a power-of-two class", () => {
  const pool = new BufferPool(1024 * 1024);
  const first = pool.acquire(5000)!;
  expect(first.bytes.byteLength).toBe(5000);
  expect(first.block.byteLength).toBe(8192);
  pool.release(first);
  const second = pool.acquire(6000)!;
  expect(second.block).toBe(first.block);
  expect(pool.stats.reused).toBe(1);
  expect(pool.acquire(BLOCK_BYTES_MAX + 1)).toBeNull();
});

test("free blocks are kept only up to the pool's bound", () => {
  const pool = new BufferPool(64 * 1024);
  const blocks = Array.from({ length: 4 }, () => pool.acquire(32 * 1024)!);
  for (const block of blocks) pool.release(block);
  expect(pool.pooledBytes).toBe(64 * 1024);
  expect(pool.stats.dropped).toBe(2);
});

test("a Produce frame split over reads is assembled in a pooled block; other frames are not pooled", () => {
  const pool = new BufferPool(16 * 1024 * 1024);
  const reader = new FrameReader(100 * 1024 * 1024, pool);
  const produce = frameBytes(0, 300_000);
  expect(reader.push(produce.subarray(0, 100_000))).toEqual([]);
  const [frame] = reader.push(produce.subarray(100_000));
  expect(frame!.pooled).not.toBeNull();
  expect(frame!.payload.buffer).toBeInstanceOf(SharedArrayBuffer);
  expect(frame!.ownsBuffer).toBe(false);
  expect(Buffer.compare(Buffer.from(frame!.payload), Buffer.from(produce.subarray(4)))).toBe(0);

  const metadata = frameBytes(3, 300_000);
  reader.push(metadata.subarray(0, 1000));
  const [other] = reader.push(metadata.subarray(1000));
  expect(other!.pooled).toBeNull();
  expect(other!.ownsBuffer).toBe(true);

  // A connection closing mid-frame gives the block back.
  reader.push(produce.subarray(0, 5000));
  const releasedBefore = pool.stats.released;
  reader.discardPartial();
  expect(pool.stats.released).toBe(releasedBefore + 1);
});

test("blocks unused for the idle time are dropped down to the warm reserve; recently used ones stay", () => {
  const pool = new BufferPool(64 * 1024 * 1024);
  const blocks = Array.from({ length: 8 }, () => pool.acquire(1024 * 1024)!);
  for (const block of blocks) pool.release(block);
  expect(pool.pooledBytes).toBe(8 * 1024 * 1024);
  // Nothing is old enough yet.
  expect(pool.trimIdle(Date.now(), 60_000, 0)).toBe(0);
  // All are idle: dropped down to the 3 MiB kept warm, the most recently released ones.
  const last = blocks[7]!.block;
  expect(pool.trimIdle(Date.now() + 120_000, 60_000, 3 * 1024 * 1024)).toBe(5 * 1024 * 1024);
  expect(pool.pooledBytes).toBe(3 * 1024 * 1024);
  expect(pool.stats.trimmedBytes).toBe(5 * 1024 * 1024);
  expect(pool.acquire(1024 * 1024)!.block).toBe(last);
});
