// Removing records from a stored batch (Kafka's MemoryRecords.filterTo, one batch at a time), for the log
// cleaner. A filtered batch keeps everything that identifies it: baseOffset, lastOffsetDelta (so its
// offset range stays the same even when its last records are gone), baseTimestamp, producer fields,
// partition leader epoch and codec. Only the records count, the records section, maxTimestamp (CreateTime)
// and the CRC change. Retained records are copied byte for byte: their offset and timestamp deltas are
// relative to fields that did not move, so they need no re-encoding.
import {
  ATTRIBUTES_OFFSET,
  BASE_OFFSET_OFFSET,
  BASE_TIMESTAMP_OFFSET,
  BATCH_LENGTH_OFFSET,
  COMPRESSION_CODEC_MASK,
  CompressionType,
  CRC_OFFSET,
  LOG_OVERHEAD,
  MAX_TIMESTAMP_OFFSET,
  RECORDS_COUNT_OFFSET,
  RECORDS_OFFSET,
  TIMESTAMP_TYPE_MASK,
  batchSizeBytes,
  computeBatchCrc,
  dataViewOf,
  readInt64,
  writeInt64,
} from "./batch.ts";
import { compressRecordsSection, compressRecordsSectionSync, decompressRecordsSection, decompressRecordsSectionSync } from "./compression.ts";
import { RecordReader } from "./record.ts";

/**
 * Sections up to this size are (de)compressed synchronously: a threadpool round trip costs ~40 µs in Bun,
 * more than the work itself for a typical batch (measured, LZ4 frames of base64 text: 64 KiB decompresses
 * in 16 µs sync vs 61 µs async, 256 KiB in 69 vs 139 µs; at 1 MiB async is as fast and leaves the event
 * loop free meanwhile, docs/bun-runtime.md §6.2).
 */
const SYNC_CODEC_BYTES_MAX = 256 * 1024;

function decompress(codec: number, section: Uint8Array): Uint8Array | Promise<Uint8Array> {
  return section.byteLength <= SYNC_CODEC_BYTES_MAX ? decompressRecordsSectionSync(codec, section) : decompressRecordsSection(codec, section);
}

function compress(codec: number, section: Uint8Array): Uint8Array | Promise<Uint8Array> {
  return section.byteLength <= SYNC_CODEC_BYTES_MAX ? compressRecordsSectionSync(codec, section) : compressRecordsSection(codec, section);
}

/** Codecs the cleaner can rewrite: it must compress what it filtered with the same codec, and Bunka has no snappy compressor (snappy batches are kept whole). */
export function canReadCodec(codec: number): boolean {
  return codec === CompressionType.NONE || codec === CompressionType.GZIP || codec === CompressionType.LZ4 || codec === CompressionType.ZSTD;
}

/**
 * Called once per record with the reader positioned on it (key and value are positions in reader.bytes),
 * its absolute offset and its timestamp (the batch's maxTimestamp for LogAppendTime).
 */
export type RecordVisitor<T> = (reader: RecordReader, offset: number, timestampMs: number) => T;

interface OpenedBatch {
  section: Uint8Array;
  recordCount: number;
  baseOffset: number;
  baseTimestamp: number;
  logAppendTime: boolean;
  maxTimestamp: number;
}

function header(batch: Uint8Array): Omit<OpenedBatch, "section"> & { codec: number } {
  const view = dataViewOf(batch);
  if (batch.byteLength < RECORDS_OFFSET || batchSizeBytes(view, 0) !== batch.byteLength) throw new Error("batch-filter: expected exactly one whole batch");
  const attributes = view.getInt16(ATTRIBUTES_OFFSET);
  return {
    codec: attributes & COMPRESSION_CODEC_MASK,
    recordCount: view.getInt32(RECORDS_COUNT_OFFSET),
    baseOffset: readInt64(view, BASE_OFFSET_OFFSET),
    baseTimestamp: readInt64(view, BASE_TIMESTAMP_OFFSET),
    logAppendTime: (attributes & TIMESTAMP_TYPE_MASK) !== 0,
    maxTimestamp: readInt64(view, MAX_TIMESTAMP_OFFSET),
  };
}

async function openBatch(batch: Uint8Array): Promise<OpenedBatch | null> {
  const { codec, ...fields } = header(batch);
  if (!canReadCodec(codec)) return null;
  if (fields.recordCount < 0) throw new Error(`batch-filter: record count ${fields.recordCount}`);
  return { ...fields, section: await decompress(codec, batch.subarray(RECORDS_OFFSET)) };
}

/** Walks every record; bounded by the record count, and the section must hold exactly those records. */
function walk<T>(opened: OpenedBatch, visit: RecordVisitor<T>, onResult: (start: number, end: number, result: T, timestampMs: number) => void): void {
  const reader = new RecordReader(opened.section, opened.recordCount);
  for (let start = reader.position; reader.next(); start = reader.position) {
    const timestampMs = opened.logAppendTime ? opened.maxTimestamp : opened.baseTimestamp + reader.timestampDelta;
    onResult(start, reader.position, visit(reader, opened.baseOffset + reader.offsetDelta, timestampMs), timestampMs);
  }
  if (reader.position !== opened.section.byteLength) throw new Error(`batch-filter: ${opened.section.byteLength - reader.position} bytes after the last record`);
}

/** Visits every record of one batch. False when its codec cannot be read here (nothing visited). */
export async function forEachRecord(batch: Uint8Array, visit: RecordVisitor<void>): Promise<boolean> {
  const opened = await openBatch(batch);
  if (opened === null) return false;
  walk(opened, visit, () => {});
  return true;
}

export type FilterOutcome =
  /** Every record is kept: write the original bytes. */
  | { kind: "unchanged"; recordCount: number }
  /** No record is kept and the batch need not stay: drop it. */
  | { kind: "removed"; recordCount: number }
  /** Some records (possibly none, when the batch must stay) are kept in a new batch. */
  | { kind: "rewritten"; batch: Uint8Array; recordCount: number; retainedCount: number }
  /** A codec this broker cannot read: the caller keeps the batch as it is. */
  | { kind: "unreadable" };

/**
 * Keeps the records `retain` says yes to. `retainEmpty` keeps a batch that lost every record as an empty
 * batch (header only, codec none: Kafka's RETAIN_EMPTY, used for the last batch of an idempotent
 * producer so its sequence survives). A compressed batch is recompressed with its own codec.
 */
export async function filterBatch(batch: Uint8Array, retain: RecordVisitor<boolean>, retainEmpty: boolean): Promise<FilterOutcome> {
  const { codec } = header(batch);
  const opened = await openBatch(batch);
  if (opened === null) return { kind: "unreadable" };
  // Retained byte ranges of the records section, merged when adjacent.
  const ranges: number[] = [];
  let retainedCount = 0;
  let retainedMaxTimestamp = Number.NEGATIVE_INFINITY;
  walk(opened, retain, (start, end, keep, timestampMs) => {
    if (!keep) return;
    retainedCount++;
    if (timestampMs > retainedMaxTimestamp) retainedMaxTimestamp = timestampMs;
    if (ranges.length > 0 && ranges[ranges.length - 1] === start) ranges[ranges.length - 1] = end;
    else ranges.push(start, end);
  });
  const recordCount = opened.recordCount;
  if (retainedCount === recordCount) return { kind: "unchanged", recordCount };
  if (retainedCount === 0 && !retainEmpty) return { kind: "removed", recordCount };

  let sectionBytes = 0;
  for (let index = 0; index < ranges.length; index += 2) sectionBytes += ranges[index + 1]! - ranges[index]!;
  let section: Uint8Array = new Uint8Array(sectionBytes);
  let at = 0;
  for (let index = 0; index < ranges.length; index += 2) {
    section.set(opened.section.subarray(ranges[index]!, ranges[index + 1]!), at);
    at += ranges[index + 1]! - ranges[index]!;
  }
  const outCodec = retainedCount === 0 ? CompressionType.NONE : codec;
  if (outCodec !== CompressionType.NONE) section = await compress(outCodec, section);

  const out = new Uint8Array(RECORDS_OFFSET + section.byteLength);
  out.set(batch.subarray(0, RECORDS_OFFSET), 0);
  out.set(section, RECORDS_OFFSET);
  const view = dataViewOf(out);
  view.setInt32(BATCH_LENGTH_OFFSET, out.byteLength - LOG_OVERHEAD);
  view.setInt16(ATTRIBUTES_OFFSET, (view.getInt16(ATTRIBUTES_OFFSET) & ~COMPRESSION_CODEC_MASK) | outCodec);
  view.setInt32(RECORDS_COUNT_OFFSET, retainedCount);
  // CreateTime: the largest timestamp among the records kept (ListOffsets and the time index use it).
  if (!opened.logAppendTime && retainedCount > 0) writeInt64(view, MAX_TIMESTAMP_OFFSET, retainedMaxTimestamp);
  view.setUint32(CRC_OFFSET, computeBatchCrc(out, 0, out.byteLength));
  return { kind: "rewritten", batch: out, recordCount, retainedCount };
}

/**
 * Kafka's LogValidator check for a compacted topic: every record needs a key. `records` is one or more
 * validated batches. Compressed batches are decompressed synchronously (the append that calls this is
 * synchronous); batches of a codec this broker cannot read are not checked.
 */
export function hasRecordWithoutKey(records: Uint8Array): boolean {
  const view = dataViewOf(records);
  // Bounded: the caller validated that the buffer is whole batches.
  for (let position = 0; position < records.byteLength; position += batchSizeBytes(view, position)) {
    const sizeBytes = batchSizeBytes(view, position);
    const codec = view.getInt16(position + ATTRIBUTES_OFFSET) & COMPRESSION_CODEC_MASK;
    if (!canReadCodec(codec)) continue;
    const section = decompressRecordsSectionSync(codec, records.subarray(position + RECORDS_OFFSET, position + sizeBytes));
    const reader = new RecordReader(section, view.getInt32(position + RECORDS_COUNT_OFFSET));
    while (reader.next()) if (reader.keyLength < 0) return true;
  }
  return false;
}
