// The frame reader must return the same frames however the byte stream is split into reads.
import { expect, test } from "bun:test";
import { BufferPool } from "../../src/partition/buffer-pool.ts";
import { FrameReader, FrameTooLargeError } from "../../src/server/frame-reader.ts";

function stream(payloads: Uint8Array[]): Uint8Array {
  const total = payloads.reduce((sum, payload) => sum + 4 + payload.byteLength, 0);
  const out = new Uint8Array(total);
  const view = new DataView(out.buffer);
  let position = 0;
  for (const payload of payloads) {
    view.setInt32(position, payload.byteLength);
    out.set(payload, position + 4);
    position += 4 + payload.byteLength;
  }
  return out;
}

test("frames survive every way of splitting the stream into reads", () => {
  let seed = 7;
  const random = (limit: number) => ((seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) >>> 8) % limit;
  for (let round = 0; round < 300; round++) {
    const payloads = Array.from({ length: 1 + random(6) }, (_, i) => Uint8Array.from({ length: random(3000) }, (_, j) => (i * 31 + j) & 0xff));
    const bytes = stream(payloads);
    const reader = new FrameReader(1 << 20);
    const received: Uint8Array[] = [];
    let position = 0;
    for (let reads = 0; position < bytes.byteLength && reads < 100_000; reads++) {
      const size = 1 + random(round % 3 === 0 ? 7 : 5000);
      // Copy each read into its own buffer, as the socket hands over a fresh buffer per read.
      const chunk = bytes.slice(position, Math.min(bytes.byteLength, position + size));
      position += chunk.byteLength;
      for (const frame of reader.push(chunk)) received.push(frame.payload.slice());
    }
    expect(received.length).toBe(payloads.length);
    received.forEach((payload, i) => expect(payload).toEqual(payloads[i]!));
    expect(reader.hasPartialFrame).toBe(false);
  }
});

test("a frame is marked as owning its buffer only when nothing else shares it", () => {
  const reader = new FrameReader(1 << 20);
  const single = stream([new Uint8Array(10)]);
  expect(reader.push(single)[0]!.ownsBuffer).toBe(true);
  const two = reader.push(stream([new Uint8Array(10), new Uint8Array(5)]));
  expect(two.map((frame) => frame.ownsBuffer)).toEqual([false, false]);
  const big = stream([new Uint8Array(100)]);
  expect(reader.push(big.slice(0, 50))).toEqual([]);
  const assembled = reader.push(big.slice(50));
  expect(assembled[0]!.ownsBuffer).toBe(true);
});

test("oversized and negative sizes are refused", () => {
  expect(() => new FrameReader(100).push(stream([new Uint8Array(101)]))).toThrow(FrameTooLargeError);
  expect(() => new FrameReader(100).push(new Uint8Array([0xff, 0xff, 0xff, 0xff]))).toThrow(FrameTooLargeError);
});

test("a large frame spanning reads is held in chunks as its bytes arrive, not at its declared size", () => {
  // Goal: a client that declares 100 MB and sends part of it makes the reader hold only what was sent.
  const declaredBytes = 100 * 1024 * 1024;
  const reader = new FrameReader(declaredBytes);
  const prefix = new Uint8Array(4);
  new DataView(prefix.buffer).setInt32(0, declaredBytes);
  expect(reader.push(prefix)).toEqual([]);
  const piece = new Uint8Array(3 * 1024 * 1024 + 5).fill(7);
  expect(reader.push(piece)).toEqual([]);
  expect(reader.bufferedBytes).toBe(piece.byteLength);
  expect(reader.inFrameBody).toBe(true);
  reader.discardPartial();
  expect(reader.hasPartialFrame).toBe(false);
});

test.each([false, true])("a chunked frame is joined byte for byte however it is split (chunks pooled: %p)", (pooled) => {
  let seed = 11;
  const random = (limit: number) => ((seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) >>> 8) % limit;
  const payload = Uint8Array.from({ length: 9 * 1024 * 1024 + 123 }, (_, i) => (i * 7 + (i >> 11)) & 0xff);
  const bytes = stream([payload, new Uint8Array([1, 2, 3])]);
  const pool = pooled ? new BufferPool(64 * 1024 * 1024) : null;
  const reader = new FrameReader(16 * 1024 * 1024, pool);
  const received: Uint8Array[] = [];
  let position = 0;
  for (let reads = 0; position < bytes.byteLength && reads < 10_000; reads++) {
    const chunk = bytes.slice(position, Math.min(bytes.byteLength, position + 1 + random(700_000)));
    position += chunk.byteLength;
    for (const frame of reader.push(chunk)) received.push(frame.payload);
  }
  expect(received.length).toBe(2);
  expect(Buffer.compare(Buffer.from(received[0]!), Buffer.from(payload))).toBe(0);
  expect([...received[1]!]).toEqual([1, 2, 3]);
  // The chunks went back to the pool once the frame was joined (10 of them: 9 MiB + 123 bytes).
  if (pool) expect(pool.stats.released).toBe(10);
});
