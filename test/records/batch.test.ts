import { describe, expect, test } from "bun:test";
import {
  ATTRIBUTES_OFFSET,
  BATCH_LENGTH_OFFSET,
  CRC_OFFSET,
  CompressionType,
  MAGIC_OFFSET,
  MAX_TIMESTAMP_OFFSET,
  RECORDS_OFFSET,
  TIMESTAMP_TYPE_MASK,
  assignOffsets,
  computeBatchCrc,
  dataViewOf,
  isRecordsProblem,
  readBatchHeader,
  readInt64,
  setLogAppendTime,
  validateBatches,
  writeInt64,
  type BatchesInfo,
  type RecordsProblem,
} from "../../src/records/batch.ts";
import { buildBatch, readBatchRecords } from "../../src/records/compression.ts";
import { CORRUPT_MESSAGE, INVALID_RECORD, MESSAGE_TOO_LARGE, UNSUPPORTED_COMPRESSION_TYPE } from "../../src/records/errors.ts";

const MAX = 1_048_588;

function records(count: number, firstTimestampMs = 1_700_000_000_000) {
  return Array.from({ length: count }, (_, index) => ({
    key: `key-${index}`,
    value: `value-${index}-${"x".repeat(index % 17)}`,
    headers: index % 3 === 0 ? [{ key: "h", value: new Uint8Array([index & 255]) }] : [],
    timestampMs: firstTimestampMs + index * 7,
  }));
}

function concat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((sum, part) => sum + part.byteLength, 0));
  let position = 0;
  for (const part of parts) {
    out.set(part, position);
    position += part.byteLength;
  }
  return out;
}

function valid(result: BatchesInfo | RecordsProblem): BatchesInfo {
  if (isRecordsProblem(result)) throw new Error(`expected a valid batch, got error ${result.errorCode}: ${result.errorMessage}`);
  return result;
}

function refused(result: BatchesInfo | RecordsProblem): RecordsProblem {
  if (!isRecordsProblem(result)) throw new Error("expected the batches to be refused");
  return result;
}

describe("validateBatches", () => {
  test("accepts good batches and summarises them", () => {
    const first = buildBatch({ records: records(5, 1000) });
    const second = buildBatch({ records: records(3, 5000), producerId: 7, producerEpoch: 0, baseSequence: 0 });
    const info = valid(validateBatches(concat(first, second), MAX));
    expect(info.batchCount).toBe(2);
    expect(info.recordCount).toBe(8);
    expect(info.firstTimestamp).toBe(1000);
    expect(info.maxTimestamp).toBe(5014);
    expect(info.relativeOffsetOfMaxTimestamp).toBe(7);
    expect(info.compression).toBe(CompressionType.NONE);
    expect(info.hasIdempotent).toBe(true);
    expect(info.hasControl).toBe(false);
    expect(info.sizeBytes).toBe(first.byteLength + second.byteLength);
  });

  test("a flipped bit anywhere after the CRC field is CORRUPT_MESSAGE", () => {
    const batch = buildBatch({ records: records(4) });
    for (const position of [ATTRIBUTES_OFFSET + 1, RECORDS_OFFSET + 3, batch.byteLength - 1]) {
      const copy = batch.slice();
      copy[position]! ^= 0x10;
      const problem = refused(validateBatches(copy, MAX));
      expect(problem.errorCode).toBe(CORRUPT_MESSAGE);
      expect(problem.errorMessage).toBe("batch 0: CRC32C mismatch");
    }
  });

  test("older magic is INVALID_RECORD, unknown magic is CORRUPT_MESSAGE", () => {
    const batch = buildBatch({ records: records(1) });
    const v1 = batch.slice();
    v1[MAGIC_OFFSET] = 1;
    const old = refused(validateBatches(v1, MAX));
    expect(old.errorCode).toBe(INVALID_RECORD);
    expect(old.errorMessage).toBe("batch 0 has magic 1; only magic 2 is stored");
    const v3 = batch.slice();
    v3[MAGIC_OFFSET] = 3;
    const unknown = refused(validateBatches(v3, MAX));
    expect(unknown.errorCode).toBe(CORRUPT_MESSAGE);
    expect(unknown.errorMessage).toBe("batch 0 has unknown magic 3");
  });

  test("a trailing partial batch is CORRUPT_MESSAGE", () => {
    const batch = buildBatch({ records: records(3) });
    const both = concat(batch, batch);
    for (const cut of [1, 10, 20, RECORDS_OFFSET, batch.byteLength - 1]) {
      expect(refused(validateBatches(both.subarray(0, batch.byteLength + cut), MAX)).errorCode).toBe(CORRUPT_MESSAGE);
    }
    expect(refused(validateBatches(new Uint8Array(0), MAX)).errorCode).toBe(CORRUPT_MESSAGE);
  });

  test("a batchLength that lies is CORRUPT_MESSAGE", () => {
    const batch = buildBatch({ records: records(3) });
    for (const lie of [-1, 0, 48, batch.byteLength - 12 + 1, batch.byteLength - 12 - 1, 0x7fffffff]) {
      const copy = batch.slice();
      dataViewOf(copy).setInt32(BATCH_LENGTH_OFFSET, lie);
      expect(refused(validateBatches(copy, MAX)).errorCode).toBe(CORRUPT_MESSAGE);
    }
  });

  test("a batch larger than max.message.bytes is MESSAGE_TOO_LARGE", () => {
    const batch = buildBatch({ records: [{ value: new Uint8Array(2000) }] });
    expect(isRecordsProblem(validateBatches(batch, batch.byteLength))).toBe(false);
    const tooLarge = refused(validateBatches(batch, batch.byteLength - 1));
    expect(tooLarge.errorCode).toBe(MESSAGE_TOO_LARGE);
    expect(tooLarge.errorMessage).toBe(`batch of ${batch.byteLength} bytes is larger than max.message.bytes ${batch.byteLength - 1}`);
  });

  test("count and lastOffsetDelta must agree for producer batches, leniently for replicas", () => {
    const batch = buildBatch({ records: records(3) });
    const view = dataViewOf(batch);
    view.setInt32(57, 2); // recordCount 2, lastOffsetDelta 2
    view.setUint32(CRC_OFFSET, computeBatchCrc(batch, 0, batch.byteLength));
    expect(refused(validateBatches(batch, MAX, "client")).errorCode).toBe(INVALID_RECORD);
    // A compacted batch may keep fewer records than offsets; replicas accept it.
    const info = valid(validateBatches(batch, MAX, "replica"));
    expect(info.recordCount).toBe(3);
  });

  test("record lengths that do not fill the section are CORRUPT_MESSAGE", () => {
    const batch = buildBatch({ records: records(2) });
    // Grow the batch by 7 junk bytes after the records: lengths no longer add up.
    const grown = concat(batch, new Uint8Array(7));
    const view = dataViewOf(grown);
    view.setInt32(BATCH_LENGTH_OFFSET, grown.byteLength - 12);
    view.setUint32(CRC_OFFSET, computeBatchCrc(grown, 0, grown.byteLength));
    expect(refused(validateBatches(grown, MAX, "client")).errorCode).toBe(CORRUPT_MESSAGE);
  });

  test("control batches from clients are refused", () => {
    const batch = buildBatch({ records: records(1), isControl: true });
    expect(refused(validateBatches(batch, MAX, "client")).errorCode).toBe(INVALID_RECORD);
    expect(valid(validateBatches(batch, MAX, "replica")).hasControl).toBe(true);
  });

  test("unknown compression codec is UNSUPPORTED_COMPRESSION_TYPE", () => {
    const batch = buildBatch({ records: records(1) });
    const view = dataViewOf(batch);
    view.setInt16(ATTRIBUTES_OFFSET, 6);
    view.setUint32(CRC_OFFSET, computeBatchCrc(batch, 0, batch.byteLength));
    expect(refused(validateBatches(batch, MAX)).errorCode).toBe(UNSUPPORTED_COMPRESSION_TYPE);
  });
});

describe("offsets and timestamps in place", () => {
  test("assignOffsets stamps offsets and the leader epoch and keeps the CRC valid", async () => {
    const buffer = concat(buildBatch({ records: records(4) }), buildBatch({ records: records(2) }), buildBatch({ records: records(1) }));
    const nextOffset = assignOffsets(buffer, 1_000_000_000_000, 17);
    expect(nextOffset).toBe(1_000_000_000_007);
    const info = valid(validateBatches(buffer, MAX));
    expect(info.firstOffset).toBe(1_000_000_000_000);
    expect(info.lastOffset).toBe(1_000_000_000_006);
    expect(info.offsetsContiguous).toBe(true);
    expect(info.firstPartitionLeaderEpoch).toBe(17);
    const view = dataViewOf(buffer);
    const second = readBatchHeader(view, readBatchHeader(view, 0).sizeBytes);
    expect(second.baseOffset).toBe(1_000_000_000_004);
    expect(second.partitionLeaderEpoch).toBe(17);
    const decoded = await readBatchRecords(buffer.subarray(readBatchHeader(view, 0).sizeBytes, readBatchHeader(view, 0).sizeBytes + second.sizeBytes));
    expect(decoded.map((record) => record.offset)).toEqual([1_000_000_000_004, 1_000_000_000_005]);
  });

  test("setLogAppendTime sets the type bit and maxTimestamp and recomputes the CRC", async () => {
    const buffer = buildBatch({ records: records(3, 1000) });
    setLogAppendTime(buffer, 1_800_000_000_123);
    const info = valid(validateBatches(buffer, MAX));
    expect(info.maxTimestamp).toBe(1_800_000_000_123);
    expect(dataViewOf(buffer).getInt16(ATTRIBUTES_OFFSET) & TIMESTAMP_TYPE_MASK).toBe(TIMESTAMP_TYPE_MASK);
    const decoded = await readBatchRecords(buffer);
    expect(decoded.every((record) => record.timestampMs === 1_800_000_000_123)).toBe(true);
  });

  test("int64 helpers are exact for offsets and negative timestamps", () => {
    const bytes = new Uint8Array(8);
    const view = dataViewOf(bytes);
    for (const value of [0, 1, -1, 2 ** 32, 2 ** 32 - 1, -(2 ** 32), 2 ** 53 - 1, -(2 ** 53 - 1), 1_700_000_000_000]) {
      writeInt64(view, 0, value);
      expect(readInt64(view, 0)).toBe(value);
      expect(view.getBigInt64(0)).toBe(BigInt(value));
    }
    expect(MAX_TIMESTAMP_OFFSET).toBe(35);
  });
});
