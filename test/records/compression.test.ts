import { describe, expect, test } from "bun:test";
import { CompressionType, RECORDS_OFFSET, dataViewOf, isRecordsProblem, readBatchHeader, validateBatches, ATTRIBUTES_OFFSET } from "../../src/records/batch.ts";
import {
  RecordReader,
  buildBatch,
  compressBatchLz4,
  decompressBatchRecords,
  readBatchRecords,
  recompressBatch,
} from "../../src/records/compression.ts";
import { convertBatches, type ConversionLimits } from "../../src/records/conversion.ts";
import { UNSUPPORTED_COMPRESSION_TYPE, CORRUPT_MESSAGE } from "../../src/records/errors.ts";

/** Bounds far above what these tests send: the conversions here are about codecs, not limits. */
const LIMITS: ConversionLimits = { maxMessageBytes: 10_000_000, decompressedMaxBytes: 10_000_000 };

const input = Array.from({ length: 200 }, (_, index) => ({
  key: index % 5 === 0 ? null : `k${index}`,
  value: index % 7 === 0 ? null : JSON.stringify({ index, text: "lorem ipsum dolor sit amet ".repeat(index % 9) }),
  headers: index % 4 === 0 ? [{ key: "trace", value: new TextEncoder().encode(`t-${index}`) }, { key: "nil", value: null }] : [],
  timestampMs: 1_700_000_000_000 + ((index * 37) % 1000) - 300,
}));

describe("buildBatch and the record reader", () => {
  test("records round-trip with keys, null values, headers and negative timestamp deltas", async () => {
    const batch = buildBatch({ baseOffset: 42, records: input, timestampMs: 1 });
    expect(isRecordsProblem(validateBatches(batch, 10_000_000))).toBe(false);
    const decoded = await readBatchRecords(batch);
    expect(decoded.length).toBe(input.length);
    decoded.forEach((record, index) => {
      expect(record.offset).toBe(42 + index);
      expect(record.timestampMs).toBe(input[index]!.timestampMs);
      expect(record.key === null ? null : new TextDecoder().decode(record.key)).toBe(input[index]!.key);
      expect(record.value === null ? null : new TextDecoder().decode(record.value)).toBe(input[index]!.value);
      expect(record.headers.length).toBe(input[index]!.headers.length);
    });
    expect(decoded[0]!.headers[1]).toEqual({ key: "nil", value: null });
  });

  test("RecordReader refuses a truncated section instead of looping", () => {
    const batch = buildBatch({ records: input.slice(0, 3) });
    const section = batch.subarray(RECORDS_OFFSET, batch.byteLength - 2);
    const reader = new RecordReader(section, 3);
    expect(() => {
      for (let guard = 0; guard < 10 && reader.next(); guard++);
    }).toThrow();
  });
});

describe("LZ4 conversion", () => {
  test("compressBatchLz4 keeps the header, sets codec 3, and decompresses to the original records", async () => {
    const plain = buildBatch({ baseOffset: 0, records: input, producerId: 99, producerEpoch: 3, baseSequence: 10, partitionLeaderEpoch: 5 });
    const lz4 = await compressBatchLz4(plain);
    expect(lz4.byteLength).toBeLessThan(plain.byteLength);
    const info = validateBatches(lz4, 10_000_000);
    if (isRecordsProblem(info)) throw new Error(`invalid: ${info.errorMessage}`);
    expect(info.compression).toBe(CompressionType.LZ4);
    const before = readBatchHeader(dataViewOf(plain), 0);
    const after = readBatchHeader(dataViewOf(lz4), 0);
    for (const field of ["baseOffset", "partitionLeaderEpoch", "lastOffsetDelta", "baseTimestamp", "maxTimestamp", "producerId", "producerEpoch", "baseSequence", "recordCount"] as const) {
      expect(after[field]).toBe(before[field]);
    }
    expect(after.attributes & 7).toBe(3);
    // The records section is a standard LZ4 frame.
    expect([...lz4.subarray(RECORDS_OFFSET, RECORDS_OFFSET + 4)]).toEqual([0x04, 0x22, 0x4d, 0x18]);
    const records = await decompressBatchRecords(lz4);
    expect(Buffer.from(records).equals(Buffer.from(plain.subarray(RECORDS_OFFSET)))).toBe(true);
  });

  test("gzip and zstd batches decompress, and convert to lz4", async () => {
    for (const codec of [CompressionType.GZIP, CompressionType.ZSTD, CompressionType.LZ4]) {
      const batch = buildBatch({ records: input, compression: codec });
      expect(isRecordsProblem(validateBatches(batch, 10_000_000))).toBe(false);
      expect((await readBatchRecords(batch)).length).toBe(input.length);
      const lz4 = await recompressBatch(batch, CompressionType.LZ4);
      expect((await readBatchRecords(lz4)).map((record) => record.offset)).toEqual(input.map((_, index) => index));
    }
  });

  test("a batch flagged snappy whose section is not snappy is CORRUPT_MESSAGE (snappy is read, never written)", async () => {
    const batch = buildBatch({ records: input.slice(0, 2) });
    const view = dataViewOf(batch);
    view.setInt16(ATTRIBUTES_OFFSET, CompressionType.SNAPPY);
    await expect(decompressBatchRecords(batch)).rejects.toMatchObject({ errorCode: CORRUPT_MESSAGE });
  });

  test("convertBatches converts every batch of a buffer and passes matching input through", async () => {
    const a = buildBatch({ records: input.slice(0, 50) });
    const b = buildBatch({ records: input.slice(50), compression: CompressionType.GZIP });
    const both = new Uint8Array(a.byteLength + b.byteLength);
    both.set(a, 0);
    both.set(b, a.byteLength);
    const converted = await convertBatches(both, "lz4", LIMITS);
    if (isRecordsProblem(converted)) throw new Error(`error ${converted.errorMessage}`);
    const info = validateBatches(converted, 10_000_000);
    if (isRecordsProblem(info)) throw new Error(`invalid ${info.errorMessage}`);
    expect(info.batchCount).toBe(2);
    expect(info.compressionMask).toBe(1 << CompressionType.LZ4);
    expect(await convertBatches(converted, "lz4", LIMITS)).toBe(converted);
    expect(await convertBatches(both, "producer", LIMITS)).toBe(both);
    expect(await convertBatches(both, "snappy", LIMITS)).toMatchObject({ errorCode: UNSUPPORTED_COMPRESSION_TYPE, errorMessage: "compression.type=snappy cannot be written by this broker" });
    const broken = both.slice();
    broken[broken.byteLength - 1]! ^= 1;
    expect(await convertBatches(broken, "lz4", LIMITS)).toMatchObject({ errorCode: CORRUPT_MESSAGE, errorMessage: "batch 1: CRC32C mismatch" });
    const plain = await convertBatches(converted, "uncompressed", LIMITS);
    if (isRecordsProblem(plain)) throw new Error(`error ${plain.errorMessage}`);
    expect(plain.byteLength).toBe(a.byteLength + RECORDS_OFFSET + (await decompressBatchRecords(b)).byteLength);
  });
});
