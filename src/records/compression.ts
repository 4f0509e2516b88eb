// Compression of a batch's records section, and building batches.
// A compressed v2 batch keeps its 61-byte header uncompressed; only the records section is compressed
// (for LZ4: one standard LZ4 frame, which is what Kafka's KafkaLZ4BlockOutputStream writes).
// lz4-napi's async frame calls run on the libuv threadpool; its *Sync frame calls are 2.5-4.5x slower
// in Bun (docs/bun-runtime.md §6.2), so they are only used by buildBatch (tests, internal topics).
import { compressFrame, compressFrameSync, decompressFrame, decompressFrameSync } from "lz4-napi";
import { promisify } from "node:util";
import * as zlib from "node:zlib";
import {
  ATTRIBUTES_OFFSET,
  BASE_OFFSET_OFFSET,
  BASE_SEQUENCE_OFFSET,
  BASE_TIMESTAMP_OFFSET,
  BATCH_LENGTH_OFFSET,
  COMPRESSION_CODEC_MASK,
  CONTROL_FLAG_MASK,
  CompressionType,
  CRC_OFFSET,
  LAST_OFFSET_DELTA_OFFSET,
  LOG_OVERHEAD,
  MAGIC_OFFSET,
  MAGIC_V2,
  MAX_TIMESTAMP_OFFSET,
  NO_PARTITION_LEADER_EPOCH,
  NO_PRODUCER_ID,
  PARTITION_LEADER_EPOCH_OFFSET,
  PRODUCER_EPOCH_OFFSET,
  PRODUCER_ID_OFFSET,
  RECORDS_COUNT_OFFSET,
  RECORDS_OFFSET,
  TIMESTAMP_TYPE_MASK,
  TRANSACTIONAL_FLAG_MASK,
  batchSizeBytes,
  computeBatchCrc,
  dataViewOf,
  readInt64,
  writeInt64,
} from "./batch.ts";
import { RecordsError, UNSUPPORTED_COMPRESSION_TYPE, CORRUPT_MESSAGE } from "./errors.ts";
import { RecordReader, encodeRecords, type DecodedRecord, type RecordInput } from "./record.ts";
import { snappyDecompressBounded } from "./snappy.ts";

export { RecordReader, decodeRecords, encodeRecords } from "./record.ts";
export type { DecodedRecord, RecordHeader, RecordInput } from "./record.ts";

/** Largest records section a stored snappy batch may declare (a Uint8Array's limit; produce capped it far lower). */
const STORED_SECTION_BYTES_MAX = 2 ** 31 - 1;

const gzipAsync = promisify(zlib.gzip);
const gunzipAsync = promisify(zlib.gunzip);

function batchCodec(batch: Uint8Array): number {
  return dataViewOf(batch).getInt16(ATTRIBUTES_OFFSET) & COMPRESSION_CODEC_MASK;
}

function assertOneBatch(batch: Uint8Array): void {
  if (batch.byteLength < RECORDS_OFFSET || batchSizeBytes(dataViewOf(batch), 0) !== batch.byteLength) {
    throw new RecordsError(CORRUPT_MESSAGE, "expected exactly one record batch");
  }
}

/** Decompresses a records section (snappy: read-only, Bunka never writes it). */
export async function decompressRecordsSection(codec: number, section: Uint8Array): Promise<Uint8Array> {
  switch (codec) {
    case CompressionType.NONE:
      return section;
    case CompressionType.LZ4:
      return await decompressFrame(section);
    case CompressionType.GZIP:
      return await gunzipAsync(section);
    case CompressionType.ZSTD:
      return await Bun.zstdDecompress(section);
    case CompressionType.SNAPPY:
      // Stored batches were validated on produce, so their declared lengths are within max.message.bytes.
      return snappyDecompressBounded(section, STORED_SECTION_BYTES_MAX);
    default:
      throw new RecordsError(UNSUPPORTED_COMPRESSION_TYPE, `compression codec ${codec} is not supported`);
  }
}

/** Compresses a records section with the given codec. */
export async function compressRecordsSection(codec: number, section: Uint8Array): Promise<Uint8Array> {
  switch (codec) {
    case CompressionType.NONE:
      return section;
    case CompressionType.LZ4:
      return await compressFrame(section);
    case CompressionType.GZIP:
      return await gzipAsync(section);
    case CompressionType.ZSTD:
      return await Bun.zstdCompress(section);
    default:
      throw new RecordsError(UNSUPPORTED_COMPRESSION_TYPE, `compression codec ${codec} is not supported`);
  }
}

/** Synchronous compression (buildBatch; the log cleaner for small sections). */
export function compressRecordsSectionSync(codec: number, section: Uint8Array): Uint8Array {
  switch (codec) {
    case CompressionType.NONE:
      return section;
    case CompressionType.LZ4:
      return compressFrameSync(Buffer.from(section.buffer, section.byteOffset, section.byteLength));
    case CompressionType.GZIP:
      return Bun.gzipSync(section as Uint8Array<ArrayBuffer>);
    case CompressionType.ZSTD:
      return Bun.zstdCompressSync(section);
    default:
      throw new RecordsError(UNSUPPORTED_COMPRESSION_TYPE, `compression codec ${codec} is not supported`);
  }
}

/**
 * Synchronous decompression, for checks that must run inside a synchronous append (the key check of a
 * compacted topic). Slower than the async calls in Bun for LZ4 (docs/bun-runtime.md §6.2): keep it off
 * paths where an await is possible.
 */
export function decompressRecordsSectionSync(codec: number, section: Uint8Array): Uint8Array {
  switch (codec) {
    case CompressionType.NONE:
      return section;
    case CompressionType.LZ4:
      return decompressFrameSync(Buffer.from(section.buffer, section.byteOffset, section.byteLength));
    case CompressionType.GZIP:
      return Bun.gunzipSync(section as Uint8Array<ArrayBuffer>);
    case CompressionType.ZSTD:
      return Bun.zstdDecompressSync(section);
    case CompressionType.SNAPPY:
      return snappyDecompressBounded(section, STORED_SECTION_BYTES_MAX);
    default:
      throw new RecordsError(UNSUPPORTED_COMPRESSION_TYPE, `compression codec ${codec} is not supported`);
  }
}

/** The raw (decompressed) records section of one batch; the batch's own bytes when uncompressed. */
export async function decompressBatchRecords(batch: Uint8Array): Promise<Uint8Array> {
  assertOneBatch(batch);
  return decompressRecordsSection(batchCodec(batch), batch.subarray(RECORDS_OFFSET));
}

/**
 * A new batch with the same header fields, `section` as its records section, compression bits set to
 * `codec`, and batchLength and CRC recomputed. This is the one place a batch is copied: the size changes.
 */
export function rebuildBatch(batch: Uint8Array, codec: number, section: Uint8Array): Uint8Array {
  const out = new Uint8Array(RECORDS_OFFSET + section.byteLength);
  out.set(batch.subarray(0, RECORDS_OFFSET), 0);
  out.set(section, RECORDS_OFFSET);
  const view = dataViewOf(out);
  view.setInt32(BATCH_LENGTH_OFFSET, out.byteLength - LOG_OVERHEAD);
  view.setInt16(ATTRIBUTES_OFFSET, (view.getInt16(ATTRIBUTES_OFFSET) & ~COMPRESSION_CODEC_MASK) | codec);
  view.setUint32(CRC_OFFSET, computeBatchCrc(out, 0, out.byteLength));
  return out;
}

/** Converts one batch (any readable codec) to codec `codec`; returns the input itself if it already is. */
export async function recompressBatch(batch: Uint8Array, codec: number): Promise<Uint8Array> {
  assertOneBatch(batch);
  const sourceCodec = batchCodec(batch);
  if (sourceCodec === codec) return batch;
  const records = await decompressRecordsSection(sourceCodec, batch.subarray(RECORDS_OFFSET));
  return rebuildBatch(batch, codec, await compressRecordsSection(codec, records));
}

/** compression.type=lz4: one v2 batch in, the same batch with an LZ4-frame records section out. */
export function compressBatchLz4(batch: Uint8Array): Promise<Uint8Array> {
  return recompressBatch(batch, CompressionType.LZ4);
}

export interface BuildBatchOptions {
  baseOffset?: number;
  records: readonly RecordInput[];
  compression?: number;
  /** Timestamp of records that carry none; also the default baseTimestamp. */
  timestampMs?: number;
  partitionLeaderEpoch?: number;
  producerId?: number;
  producerEpoch?: number;
  baseSequence?: number;
  isTransactional?: boolean;
  isControl?: boolean;
  logAppendTime?: boolean;
}

/**
 * Builds one valid v2 batch (tests, benchmarks, internal topics). Compression uses the synchronous
 * codecs: fine off the hot path; use `compressBatchLz4(buildBatch(...))` where it matters.
 */
export function buildBatch(options: BuildBatchOptions): Uint8Array {
  const { records } = options;
  const defaultTimestampMs = options.timestampMs ?? Date.now();
  const timestamps = records.map((record) => record.timestampMs ?? defaultTimestampMs);
  const baseTimestampMs = timestamps.length > 0 ? Math.min(...timestamps) : defaultTimestampMs;
  const maxTimestampMs = timestamps.length > 0 ? Math.max(...timestamps) : defaultTimestampMs;
  const codec = options.compression ?? CompressionType.NONE;
  const section = compressRecordsSectionSync(codec, encodeRecords(records, baseTimestampMs, defaultTimestampMs));

  const batch = new Uint8Array(RECORDS_OFFSET + section.byteLength);
  const view = dataViewOf(batch);
  let attributes = codec;
  if (options.logAppendTime) attributes |= TIMESTAMP_TYPE_MASK;
  if (options.isTransactional) attributes |= TRANSACTIONAL_FLAG_MASK;
  if (options.isControl) attributes |= CONTROL_FLAG_MASK;
  writeInt64(view, BASE_OFFSET_OFFSET, options.baseOffset ?? 0);
  view.setInt32(BATCH_LENGTH_OFFSET, batch.byteLength - LOG_OVERHEAD);
  view.setInt32(PARTITION_LEADER_EPOCH_OFFSET, options.partitionLeaderEpoch ?? NO_PARTITION_LEADER_EPOCH);
  view.setInt8(MAGIC_OFFSET, MAGIC_V2);
  view.setInt16(ATTRIBUTES_OFFSET, attributes);
  view.setInt32(LAST_OFFSET_DELTA_OFFSET, records.length - 1);
  writeInt64(view, BASE_TIMESTAMP_OFFSET, baseTimestampMs);
  writeInt64(view, MAX_TIMESTAMP_OFFSET, maxTimestampMs);
  writeInt64(view, PRODUCER_ID_OFFSET, options.producerId ?? NO_PRODUCER_ID);
  view.setInt16(PRODUCER_EPOCH_OFFSET, options.producerEpoch ?? -1);
  view.setInt32(BASE_SEQUENCE_OFFSET, options.baseSequence ?? -1);
  view.setInt32(RECORDS_COUNT_OFFSET, records.length);
  batch.set(section, RECORDS_OFFSET);
  view.setUint32(CRC_OFFSET, computeBatchCrc(batch, 0, batch.byteLength));
  return batch;
}

/** A decoded record with its absolute offset and timestamp (LogAppendTime batches use maxTimestamp). */
export interface BatchRecord extends DecodedRecord {
  offset: number;
  timestampMs: number;
}

/** Decodes all records of one batch (tests and tools). */
export async function readBatchRecords(batch: Uint8Array): Promise<BatchRecord[]> {
  const view = dataViewOf(batch);
  const baseOffset = readInt64(view, BASE_OFFSET_OFFSET);
  const baseTimestamp = readInt64(view, BASE_TIMESTAMP_OFFSET);
  const logAppendTime = (view.getInt16(ATTRIBUTES_OFFSET) & TIMESTAMP_TYPE_MASK) !== 0;
  const maxTimestamp = readInt64(view, MAX_TIMESTAMP_OFFSET);
  const section = await decompressBatchRecords(batch);
  const reader = new RecordReader(section, view.getInt32(RECORDS_COUNT_OFFSET));
  const out: BatchRecord[] = [];
  while (reader.next()) {
    out.push({
      offsetDelta: reader.offsetDelta,
      timestampDelta: reader.timestampDelta,
      key: reader.key(),
      value: reader.value(),
      headers: reader.headers(),
      offset: baseOffset + reader.offsetDelta,
      timestampMs: logAppendTime ? maxTimestamp : baseTimestamp + reader.timestampDelta,
    });
  }
  return out;
}
