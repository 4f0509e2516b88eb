// Snappy decompression (src/records/snappy.ts): raw and xerial-framed sections from a test encoder that
// emits every element type, batches of snappy records validated record by record, and the cap that refuses
// a section declaring more than it may before anything is allocated.
import { describe, expect, test } from "bun:test";
import { CompressionType, NO_RECORD_CHECKS, validateBatches, type RecordChecks } from "../../src/records/batch.ts";
import { buildBatch, encodeRecords, readBatchRecords, rebuildBatch } from "../../src/records/compression.ts";
import { decompressBounded } from "../../src/records/decompression.ts";
import { CORRUPT_MESSAGE, MESSAGE_TOO_LARGE } from "../../src/records/errors.ts";
import { snappyDecompressBounded, snappyOutputBoundBytes } from "../../src/records/snappy.ts";
import { snappyCompress, snappyCompressXerial } from "../helpers/snappy-encoder.ts";

const CAP = 32 * 1024 * 1024;

/** Deterministic bytes: random-looking runs mixed with repeats, so both literals and copies occur. */
function sample(sizeBytes: number, seed: number): Uint8Array {
  const out = new Uint8Array(sizeBytes);
  let state = seed >>> 0 || 1;
  for (let index = 0; index < sizeBytes; index++) {
    state ^= state << 13;
    state ^= state >>> 17;
    state ^= state << 5;
    state >>>= 0;
    // Every 64 bytes, a stretch that repeats an earlier one.
    out[index] = index >= 300 && (index >> 6) % 3 === 0 ? out[index - 257]! : state & 0xff;
  }
  return out;
}

describe("snappy decompression", () => {
  test("raw sections of every element type decode to their input, near and far offsets", () => {
    for (const [sizeBytes, seed] of [[0, 1], [1, 2], [59, 3], [61, 4], [300, 5], [70_000, 6], [300_000, 7]] as const) {
      const input = sample(sizeBytes, seed);
      for (const longOffsets of [false, true]) {
        const compressed = snappyCompress(input, longOffsets);
        expect(snappyOutputBoundBytes(compressed)).toBe(sizeBytes);
        expect(Buffer.from(snappyDecompressBounded(compressed, CAP)).equals(Buffer.from(input))).toBe(true);
      }
    }
    // An overlapping copy (offset 1, length 64): a run of one byte.
    const run = new Uint8Array(1000).fill(0x41);
    const compressed = snappyCompress(run);
    expect(compressed.byteLength).toBeLessThan(100);
    expect(snappyDecompressBounded(compressed, CAP)).toEqual(run);
  });

  test("xerial-framed sections (Java's SnappyOutputStream) decode block by block", () => {
    const input = sample(200_000, 11);
    const framed = snappyCompressXerial(input, 32 * 1024);
    expect(snappyOutputBoundBytes(framed)).toBe(input.byteLength);
    expect(Buffer.from(snappyDecompressBounded(framed, CAP)).equals(Buffer.from(input))).toBe(true);
  });

  test("a section declaring more than the cap is MESSAGE_TOO_LARGE before decoding; lies and bad offsets are CORRUPT_MESSAGE", () => {
    // Declares 4 GiB - 1 in five bytes: refused from the header alone.
    const bomb = Uint8Array.from([0xff, 0xff, 0xff, 0xff, 0x0f, 0x00, 0x41]);
    expect(() => snappyDecompressBounded(bomb, CAP)).toThrow(expect.objectContaining({ errorCode: MESSAGE_TOO_LARGE }));
    // The xerial blocks' declared lengths add up against the cap too.
    const framed = snappyCompressXerial(new Uint8Array(600_000), 100_000);
    expect(() => snappyDecompressBounded(framed, 500_000)).toThrow(expect.objectContaining({ errorCode: MESSAGE_TOO_LARGE }));
    const corrupt = (bytes: number[]) => expect(() => snappyDecompressBounded(Uint8Array.from(bytes), CAP)).toThrow(expect.objectContaining({ errorCode: CORRUPT_MESSAGE }));
    corrupt([5, 0x04, 0x41, 0x42]); // a literal of 2 bytes where 5 are declared
    corrupt([4, 0x0c, 0x41, 0x42, 0x43, 0x44, 0x00, 0x45]); // 4 bytes declared, then a fifth literal byte
    corrupt([8, 0x00, 0x41, 0x01 | (0 << 2), 0x05]); // a copy reaching before the output
    corrupt([8, 0x00, 0x41, 0x02 | (6 << 2), 0x00, 0x00]); // offset 0
    corrupt([0xff, 0xff, 0xff, 0xff, 0xff, 0x01]); // a length varint of six bytes
    corrupt([3, 0xf0]); // a literal whose 4-byte length is missing
  });

  test("a batch of snappy records is validated record by record, and a lying one is refused", async () => {
    const records = Array.from({ length: 40 }, (_, index) => ({ key: `k${index}`, value: `value ${index} `.repeat(20) }));
    const plain = buildBatch({ records });
    const section = encodeRecords(records, 0, 0);
    const checks: RecordChecks = { ...NO_RECORD_CHECKS, nowMs: Date.now(), openSection: decompressBounded, decompressedMaxBytes: CAP };
    for (const compressed of [snappyCompress(section), snappyCompressXerial(section, 256)]) {
      const batch = rebuildBatch(plain, CompressionType.SNAPPY, compressed);
      const info = validateBatches(batch, 1_048_588, "client", checks);
      expect(typeof info === "object" && "recordCount" in info ? info.recordCount : info).toBe(40);
      expect((await readBatchRecords(batch)).map((record) => new TextDecoder().decode(record.key!))).toEqual(records.map((record) => record.key));
    }
    // The same section under a header that claims 41 records.
    const lying = rebuildBatch(buildBatch({ records: [...records, { key: "extra", value: "x" }] }), CompressionType.SNAPPY, snappyCompress(section));
    const refused = validateBatches(lying, 1_048_588, "client", checks);
    expect(typeof refused === "object" && "errorCode" in refused ? refused.errorCode : 0).not.toBe(0);
  });
});
