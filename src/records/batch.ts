// Record batch v2 (magic 2): the header layout and the operations the broker does on batches in place.
// A produce request's records are one or more concatenated batches; they are validated, get their
// offsets assigned in the same buffer and are written to the segment file as they are. No function
// here copies a batch or allocates per record.
import { crc32c } from "@node-rs/crc32";
import { CORRUPT_MESSAGE, INVALID_RECORD, INVALID_TIMESTAMP, MESSAGE_TOO_LARGE, RecordsError, UNSUPPORTED_COMPRESSION_TYPE } from "./errors.ts";
import type { Failure } from "../util/result.ts";

// Header layout (DefaultRecordBatch in Apache Kafka). All fields are big-endian.
export const BASE_OFFSET_OFFSET = 0; // int64
export const BATCH_LENGTH_OFFSET = 8; // int32: bytes after this field
export const PARTITION_LEADER_EPOCH_OFFSET = 12; // int32, not covered by the CRC
export const MAGIC_OFFSET = 16; // int8
export const CRC_OFFSET = 17; // uint32: CRC32C of bytes [ATTRIBUTES_OFFSET, end of batch)
export const ATTRIBUTES_OFFSET = 21; // int16
export const LAST_OFFSET_DELTA_OFFSET = 23; // int32
export const BASE_TIMESTAMP_OFFSET = 27; // int64
export const MAX_TIMESTAMP_OFFSET = 35; // int64
export const PRODUCER_ID_OFFSET = 43; // int64
export const PRODUCER_EPOCH_OFFSET = 51; // int16
export const BASE_SEQUENCE_OFFSET = 53; // int32
export const RECORDS_COUNT_OFFSET = 57; // int32
export const RECORDS_OFFSET = 61;

/** baseOffset + batchLength: the bytes not counted by batchLength. */
export const LOG_OVERHEAD = 12;
/** The smallest possible batch (header, zero records). */
export const RECORD_BATCH_OVERHEAD = RECORDS_OFFSET;
/** Bytes needed to read the magic byte, which decides how the rest of the header is interpreted. */
export const HEADER_SIZE_UP_TO_MAGIC = MAGIC_OFFSET + 1;
export const MAGIC_V2 = 2;

export const COMPRESSION_CODEC_MASK = 0x07;
export const TIMESTAMP_TYPE_MASK = 0x08; // 1 = LogAppendTime
export const TRANSACTIONAL_FLAG_MASK = 0x10;
export const CONTROL_FLAG_MASK = 0x20;
export const DELETE_HORIZON_FLAG_MASK = 0x40;

export const CompressionType = { NONE: 0, GZIP: 1, SNAPPY: 2, LZ4: 3, ZSTD: 4 } as const;
export const NO_TIMESTAMP = -1;
export const NO_PRODUCER_ID = -1;
export const NO_PARTITION_LEADER_EPOCH = -1;

/** Offsets and timestamps are int64 on disk; as JS numbers they must stay exact. */
const TWO_POW_32 = 0x1_0000_0000;
/** A single record takes at least 7 bytes (length, attributes, timestampDelta, offsetDelta, key and value lengths, header count). */
const MIN_RECORD_SIZE_BYTES = 7;

export function readInt64(view: DataView, position: number): number {
  return view.getInt32(position) * TWO_POW_32 + view.getUint32(position + 4);
}

export function writeInt64(view: DataView, position: number, value: number): void {
  const high = Math.floor(value / TWO_POW_32);
  view.setInt32(position, high);
  view.setUint32(position + 4, value - high * TWO_POW_32);
}

export function dataViewOf(bytes: Uint8Array): DataView {
  return new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

/** The batch header fields, filled in place by `readBatchHeader` so a scan can reuse one object. */
export interface BatchHeader {
  baseOffset: number;
  batchLength: number;
  /** batchLength + LOG_OVERHEAD: the whole batch on disk. */
  sizeBytes: number;
  partitionLeaderEpoch: number;
  magic: number;
  crc: number;
  attributes: number;
  lastOffsetDelta: number;
  baseTimestamp: number;
  maxTimestamp: number;
  producerId: number;
  producerEpoch: number;
  baseSequence: number;
  recordCount: number;
}

export function newBatchHeader(): BatchHeader {
  return {
    baseOffset: 0,
    batchLength: 0,
    sizeBytes: 0,
    partitionLeaderEpoch: 0,
    magic: 0,
    crc: 0,
    attributes: 0,
    lastOffsetDelta: 0,
    baseTimestamp: 0,
    maxTimestamp: 0,
    producerId: 0,
    producerEpoch: 0,
    baseSequence: 0,
    recordCount: 0,
  };
}

/** Reads the v2 header at `position` (the caller checked that RECORD_BATCH_OVERHEAD bytes are there). */
export function readBatchHeader(view: DataView, position: number, into: BatchHeader = newBatchHeader()): BatchHeader {
  into.baseOffset = readInt64(view, position + BASE_OFFSET_OFFSET);
  into.batchLength = view.getInt32(position + BATCH_LENGTH_OFFSET);
  into.sizeBytes = into.batchLength + LOG_OVERHEAD;
  into.partitionLeaderEpoch = view.getInt32(position + PARTITION_LEADER_EPOCH_OFFSET);
  into.magic = view.getInt8(position + MAGIC_OFFSET);
  into.crc = view.getUint32(position + CRC_OFFSET);
  into.attributes = view.getInt16(position + ATTRIBUTES_OFFSET);
  into.lastOffsetDelta = view.getInt32(position + LAST_OFFSET_DELTA_OFFSET);
  into.baseTimestamp = readInt64(view, position + BASE_TIMESTAMP_OFFSET);
  into.maxTimestamp = readInt64(view, position + MAX_TIMESTAMP_OFFSET);
  into.producerId = readInt64(view, position + PRODUCER_ID_OFFSET);
  into.producerEpoch = view.getInt16(position + PRODUCER_EPOCH_OFFSET);
  into.baseSequence = view.getInt32(position + BASE_SEQUENCE_OFFSET);
  into.recordCount = view.getInt32(position + RECORDS_COUNT_OFFSET);
  return into;
}

// Single-field readers for hot scans (segment reads walk batch headers without building objects).
export const batchBaseOffset = (view: DataView, position: number): number => readInt64(view, position + BASE_OFFSET_OFFSET);
export const batchSizeBytes = (view: DataView, position: number): number => view.getInt32(position + BATCH_LENGTH_OFFSET) + LOG_OVERHEAD;
export const batchLastOffset = (view: DataView, position: number): number =>
  readInt64(view, position + BASE_OFFSET_OFFSET) + view.getInt32(position + LAST_OFFSET_DELTA_OFFSET);
export const batchMaxTimestamp = (view: DataView, position: number): number => readInt64(view, position + MAX_TIMESTAMP_OFFSET);
export const batchAttributes = (view: DataView, position: number): number => view.getInt16(position + ATTRIBUTES_OFFSET);

/** CRC32C as Kafka computes it: from the attributes to the end of the batch. */
export function computeBatchCrc(bytes: Uint8Array, position: number, sizeBytes: number): number {
  return crc32c(bytes.subarray(position + ATTRIBUTES_OFFSET, position + sizeBytes)) >>> 0;
}

/** Which producer-side checks apply: "client" is a produce request (Kafka's AppendOrigin.CLIENT);
 * "replica" is data that a leader already validated (follower fetch, recovery), checked leniently. */
export type ValidationOrigin = "client" | "replica";

/** Kafka's Long.MAX_VALUE for the message.timestamp.* configs: no bound. */
const TIMESTAMP_BOUND_NONE_MS = Number.MAX_SAFE_INTEGER;

/** The per-record rules of Kafka's LogValidator that depend on the topic (client batches only). */
export interface RecordChecks {
  /** cleanup.policy=compact: every record needs a key. */
  compact: boolean;
  /** message.timestamp.before.max.ms: a CreateTime record may be at most this much older than nowMs. */
  timestampBeforeMaxMs: number;
  /** message.timestamp.after.max.ms: a CreateTime record may be at most this much newer than nowMs. */
  timestampAfterMaxMs: number;
  /** message.timestamp.type=LogAppendTime: record timestamps are replaced, so they are not checked. */
  logAppendTime: boolean;
  nowMs: number;
  /**
   * Decompresses a compressed records section to at most capBytes (throws RecordsError). Without it,
   * compressed batches get header checks only (the records are checked by a caller that decompresses).
   */
  openSection?: (codec: number, section: Uint8Array, capBytes: number) => Uint8Array;
  /** The decompressed bytes all compressed batches of one produce may expand to, together. */
  decompressedMaxBytes?: number;
  /**
   * Kafka's AppendOrigin.COORDINATOR: a batch the group coordinator writes for a transaction (TxnOffsetCommit)
   * is transactional without a sequence (RecordBatch.NO_SEQUENCE); a client's never is.
   */
  coordinatorOrigin?: boolean;
}

export const NO_RECORD_CHECKS: Readonly<RecordChecks> = {
  compact: false,
  timestampBeforeMaxMs: TIMESTAMP_BOUND_NONE_MS,
  timestampAfterMaxMs: TIMESTAMP_BOUND_NONE_MS,
  logAppendTime: false,
  nowMs: 0,
};

/** ProduceResponse's record_errors entry (v8+): which record made the batch fail, and why. */
export interface RecordError {
  /** Index of the record among all records of the partition's data in the request, from 0. */
  batchIndex: number;
  message: string;
}

/**
 * Why records were refused, in the one failure shape (util/result.ts): the partition's error code and message,
 * and the per-record errors if any (an AppendError as it stands).
 */
export interface RecordsProblem extends Failure {
  recordErrors: RecordError[];
}

/** Record errors listed in one response at most (Kafka lists all; this bounds the response to a garbage batch). */
const RECORD_ERRORS_MAX = 100;

const problem = (errorCode: number, errorMessage: string, recordErrors: RecordError[] = []): RecordsProblem => ({ errorCode, errorMessage, recordErrors });

/** The failure side of validateBatches and convertBatches (their success sides never carry an errorMessage). */
export function isRecordsProblem<T extends object>(value: T | RecordsProblem): value is RecordsProblem {
  return "errorMessage" in value;
}

export interface BatchesInfo {
  batchCount: number;
  /** Sum of lastOffsetDelta + 1: the offsets the batches take. */
  recordCount: number;
  sizeBytes: number;
  /** baseOffset of the first batch as found in the buffer (0 from producers). */
  firstOffset: number;
  /** baseOffset + lastOffsetDelta of the last batch, as found in the buffer. */
  lastOffset: number;
  /** True when every batch starts right after the previous one's last offset. */
  offsetsContiguous: boolean;
  /** True when every batch starts after the previous one's last offset (gaps allowed: a compacted log). */
  offsetsIncreasing: boolean;
  firstTimestamp: number;
  maxTimestamp: number;
  /** Last offset of the batch holding maxTimestamp, relative to the first offset, counting contiguously. */
  relativeOffsetOfMaxTimestamp: number;
  /** Compression codec (attributes & 7) of the first batch. */
  compression: number;
  /** Bit (1 << codec) set for every codec seen. */
  compressionMask: number;
  hasControl: boolean;
  hasTransactional: boolean;
  hasIdempotent: boolean;
  /** partitionLeaderEpoch of the first batch (meaningful for replica data). */
  firstPartitionLeaderEpoch: number;
  /** True when every record of every batch was read and checked (client batches with RecordChecks). */
  recordsChecked: boolean;
}

/**
 * Kafka's LogValidator for v2 batches: magic, a sane length inside the buffer (a trailing partial batch is
 * CORRUPT_MESSAGE), size against maxBatchBytes (max.message.bytes), CRC32C, counts. Returns the summary, or
 * why the batches are refused (the first problem found). For client batches every record
 * is read too (uncompressed ones in place, compressed ones through checks.openSection): the count equals
 * recordsCount, offset deltas run 0..lastOffsetDelta in order, every length fits its record exactly, keys
 * are present on compacted topics, CreateTime timestamps lie within message.timestamp.*. A CreateTime
 * batch whose maxTimestamp disagrees with its records is corrected in place (Kafka's setMaxTimestamp).
 */
export function validateBatches(
  bytes: Uint8Array,
  maxBatchBytes: number,
  origin: ValidationOrigin = "client",
  checks: Readonly<RecordChecks> = NO_RECORD_CHECKS,
): BatchesInfo | RecordsProblem {
  const view = dataViewOf(bytes);
  const endPosition = bytes.byteLength;
  if (endPosition === 0) return problem(CORRUPT_MESSAGE, "empty records");
  let position = 0;
  let batchCount = 0;
  let recordCount = 0;
  let maxTimestamp = NO_TIMESTAMP;
  let relativeOffsetOfMaxTimestamp = -1;
  let firstTimestamp = NO_TIMESTAMP;
  let firstOffset = -1;
  let lastOffset = -1;
  let offsetsContiguous = true;
  let offsetsIncreasing = true;
  let compression = 0;
  let compressionMask = 0;
  let hasControl = false;
  let hasTransactional = false;
  let hasIdempotent = false;
  let firstPartitionLeaderEpoch = NO_PARTITION_LEADER_EPOCH;
  let recordsChecked = origin === "client";
  let recordErrors: RecordError[] | null = null;
  let recordErrorCode = 0;
  // Shared by every batch of the produce, so many small bombs cost no more than one big one.
  let decompressedBudgetBytes = checks.decompressedMaxBytes ?? Number.MAX_SAFE_INTEGER;
  // Bounded: every accepted batch advances position by at least RECORD_BATCH_OVERHEAD bytes.
  while (position < endPosition) {
    const remainingBytes = endPosition - position;
    if (remainingBytes < HEADER_SIZE_UP_TO_MAGIC) return problem(CORRUPT_MESSAGE, `${remainingBytes} bytes after batch ${batchCount} are not a batch`);
    const magic = view.getInt8(position + MAGIC_OFFSET);
    // Produce v3+ carries only magic 2 (KIP-98); Kafka answers older formats with INVALID_RECORD.
    if (magic === 0 || magic === 1) return problem(INVALID_RECORD, `batch ${batchCount} has magic ${magic}; only magic 2 is stored`);
    if (magic !== MAGIC_V2) return problem(CORRUPT_MESSAGE, `batch ${batchCount} has unknown magic ${magic}`);
    const batchLength = view.getInt32(position + BATCH_LENGTH_OFFSET);
    if (batchLength < RECORD_BATCH_OVERHEAD - LOG_OVERHEAD) return problem(CORRUPT_MESSAGE, `batch ${batchCount} has batchLength ${batchLength}`);
    const sizeBytes = batchLength + LOG_OVERHEAD;
    if (sizeBytes > remainingBytes) return problem(CORRUPT_MESSAGE, `batch ${batchCount} claims ${sizeBytes} bytes, ${remainingBytes} are left`);
    if (sizeBytes > maxBatchBytes) return problem(MESSAGE_TOO_LARGE, `batch of ${sizeBytes} bytes is larger than max.message.bytes ${maxBatchBytes}`);
    if (view.getUint32(position + CRC_OFFSET) !== computeBatchCrc(bytes, position, sizeBytes)) return problem(CORRUPT_MESSAGE, `batch ${batchCount}: CRC32C mismatch`);

    const attributes = view.getInt16(position + ATTRIBUTES_OFFSET);
    const codec = attributes & COMPRESSION_CODEC_MASK;
    if (codec > CompressionType.ZSTD) return problem(UNSUPPORTED_COMPRESSION_TYPE, `compression codec ${codec} is not supported`);
    const lastOffsetDelta = view.getInt32(position + LAST_OFFSET_DELTA_OFFSET);
    const count = view.getInt32(position + RECORDS_COUNT_OFFSET);
    const isControl = (attributes & CONTROL_FLAG_MASK) !== 0;
    if (origin === "client") {
      // LogValidator.validateBatch: offsets and count must agree for a producer's batch.
      if (count <= 0 || lastOffsetDelta + 1 !== count) return problem(INVALID_RECORD, `batch ${batchCount}: recordsCount ${count} and lastOffsetDelta ${lastOffsetDelta} disagree`);
      if (isControl) return problem(INVALID_RECORD, "control batches are written by the transaction coordinator only");
      // Kafka's LogValidator: a transactional batch names its producer (the log checks its epoch and sequence).
      if ((attributes & TRANSACTIONAL_FLAG_MASK) !== 0 && (readInt64(view, position + PRODUCER_ID_OFFSET) < 0 || (view.getInt32(position + BASE_SEQUENCE_OFFSET) < 0 && checks.coordinatorOrigin !== true))) {
        return problem(INVALID_RECORD, `batch ${batchCount} is transactional without a producer id and sequence`);
      }
      if (codec === CompressionType.NONE && count * MIN_RECORD_SIZE_BYTES > sizeBytes - RECORDS_OFFSET) {
        return problem(CORRUPT_MESSAGE, `batch ${batchCount}: ${count} records cannot fit ${sizeBytes - RECORDS_OFFSET} bytes`);
      }
      let section: Uint8Array | null = null;
      if (codec === CompressionType.NONE) section = bytes.subarray(position + RECORDS_OFFSET, position + sizeBytes);
      else if (checks.openSection) {
        try {
          section = checks.openSection(codec, bytes.subarray(position + RECORDS_OFFSET, position + sizeBytes), decompressedBudgetBytes);
          decompressedBudgetBytes -= section.byteLength;
        } catch (error) {
          if (error instanceof RecordsError) return problem(error.errorCode, error.message);
          return problem(CORRUPT_MESSAGE, `batch ${batchCount}: ${error instanceof Error ? error.message : String(error)}`);
        }
      } else recordsChecked = false;
      if (section !== null) {
        const baseTimestamp = readInt64(view, position + BASE_TIMESTAMP_OFFSET);
        const outcome = checkRecords(section, count, baseTimestamp, checks, recordCount);
        if (outcome !== null) {
          if (outcome.recordErrors.length === 0) return outcome;
          // Per-record problems: keep walking the other batches to report theirs too.
          recordErrorCode ||= outcome.errorCode;
          recordErrors ??= [];
          for (const each of outcome.recordErrors) if (recordErrors.length < RECORD_ERRORS_MAX) recordErrors.push(each);
        } else if ((attributes & TIMESTAMP_TYPE_MASK) === 0 && !checks.logAppendTime && sectionMaxTimestamp !== readInt64(view, position + MAX_TIMESTAMP_OFFSET)) {
          // Kafka's setMaxTimestamp: the time index and ListOffsets trust the header, so it must match the records.
          writeInt64(view, position + MAX_TIMESTAMP_OFFSET, sectionMaxTimestamp);
          view.setUint32(position + CRC_OFFSET, computeBatchCrc(bytes, position, sizeBytes));
        }
      }
    } else if (count < 0 || lastOffsetDelta < 0) {
      // Compaction may leave fewer records than offsets, so only negative values are impossible.
      return problem(CORRUPT_MESSAGE, `batch ${batchCount}: recordsCount ${count}, lastOffsetDelta ${lastOffsetDelta}`);
    } else if (codec === CompressionType.NONE && count * MIN_RECORD_SIZE_BYTES > sizeBytes - RECORDS_OFFSET) {
      return problem(CORRUPT_MESSAGE, `batch ${batchCount}: ${count} records cannot fit ${sizeBytes - RECORDS_OFFSET} bytes`);
    }

    const baseOffset = readInt64(view, position + BASE_OFFSET_OFFSET);
    const batchMaxTs = readInt64(view, position + MAX_TIMESTAMP_OFFSET);
    if (batchCount === 0) {
      firstOffset = baseOffset;
      firstTimestamp = readInt64(view, position + BASE_TIMESTAMP_OFFSET);
      compression = codec;
      firstPartitionLeaderEpoch = view.getInt32(position + PARTITION_LEADER_EPOCH_OFFSET);
    } else if (baseOffset !== lastOffset + 1) {
      offsetsContiguous = false;
      if (baseOffset <= lastOffset) offsetsIncreasing = false;
    }
    lastOffset = baseOffset + lastOffsetDelta;
    recordCount += lastOffsetDelta + 1;
    if (batchMaxTs > maxTimestamp) {
      maxTimestamp = batchMaxTs;
      relativeOffsetOfMaxTimestamp = recordCount - 1;
    }
    compressionMask |= 1 << codec;
    hasControl ||= isControl;
    hasTransactional ||= (attributes & TRANSACTIONAL_FLAG_MASK) !== 0;
    hasIdempotent ||= readInt64(view, position + PRODUCER_ID_OFFSET) >= 0;
    batchCount++;
    position += sizeBytes;
  }
  if (recordErrors !== null) {
    const what = recordErrorCode === INVALID_TIMESTAMP ? "invalid timestamp" : "invalid records";
    return problem(recordErrorCode, `One or more records have been rejected due to ${what}: ${recordErrors[0]!.message}`, recordErrors);
  }
  if (relativeOffsetOfMaxTimestamp < 0) relativeOffsetOfMaxTimestamp = recordCount - 1;
  return {
    batchCount,
    recordCount,
    sizeBytes: endPosition,
    firstOffset,
    lastOffset,
    offsetsContiguous,
    offsetsIncreasing,
    firstTimestamp,
    maxTimestamp,
    relativeOffsetOfMaxTimestamp,
    compression,
    compressionMask,
    hasControl,
    hasTransactional,
    hasIdempotent,
    firstPartitionLeaderEpoch,
    recordsChecked,
  };
}

// The record walk reads varints through one module-level cursor object (a property of a constant object: measured
// 17 ns per record against 24 for a module-level let), so the success path allocates nothing.
const walk = { cursor: 0 };
/** Set by a successful checkRecords: the largest record timestamp of the section. */
let sectionMaxTimestamp = NO_TIMESTAMP;
/** Sentinel returned by the varint readers when the bytes run out or the varint is too long. */
const VARINT_INVALID = 0x1_0000_0000;

/** Zigzag varint (int32) at walk.cursor, not reading at or past limit. */
function readVarintAt(bytes: Uint8Array, limit: number): number {
  // Most fields (attributes-free deltas, -1 key lengths, header counts) fit one byte: skip the loop.
  if (walk.cursor < limit) {
    const first = bytes[walk.cursor]!;
    if (first < 0x80) {
      walk.cursor++;
      return (first >>> 1) ^ -(first & 1);
    }
  }
  let raw = 0;
  for (let shift = 0; shift <= 28; shift += 7) {
    if (walk.cursor >= limit) return VARINT_INVALID;
    const byte = bytes[walk.cursor++]!;
    raw |= (byte & 0x7f) << shift;
    if ((byte & 0x80) === 0) return (raw >>> 1) ^ -(raw & 1);
  }
  return VARINT_INVALID;
}

/** Zigzag varlong at walk.cursor (exact within ±2^53; timestamps deltas), not reading at or past limit. */
function readVarlongAt(bytes: Uint8Array, limit: number): number {
  if (walk.cursor < limit) {
    const first = bytes[walk.cursor]!;
    if (first < 0x80) {
      walk.cursor++;
      return (first >>> 1) ^ -(first & 1);
    }
  }
  let raw = 0;
  let multiplier = 1;
  for (let index = 0; index < 10; index++) {
    if (walk.cursor >= limit) return Number.NaN;
    const byte = bytes[walk.cursor++]!;
    raw += (byte & 0x7f) * multiplier;
    if ((byte & 0x80) === 0) return raw % 2 === 0 ? raw / 2 : -(raw + 1) / 2;
    multiplier *= 128;
  }
  return Number.NaN;
}

/**
 * Reads every record of one records section (uncompressed bytes) in one pass over the varint headers.
 * Returns null when the section holds exactly `count` well-formed records that pass `checks` (and sets
 * sectionMaxTimestamp), a problem with no record errors for a structural fault (CORRUPT_MESSAGE), or one
 * with record errors (INVALID_RECORD, INVALID_TIMESTAMP) for records Kafka refuses one by one.
 */
export function checkRecords(section: Uint8Array, count: number, baseTimestamp: number, checks: Readonly<RecordChecks>, firstRecordIndex = 0): RecordsProblem | null {
  const endPosition = section.byteLength;
  const checkTimestamps = !checks.logAppendTime && (checks.timestampBeforeMaxMs < TIMESTAMP_BOUND_NONE_MS || checks.timestampAfterMaxMs < TIMESTAMP_BOUND_NONE_MS);
  const earliestMs = checks.nowMs - checks.timestampBeforeMaxMs;
  const latestMs = checks.nowMs + checks.timestampAfterMaxMs;
  let errors: RecordError[] | null = null;
  let errorCode = 0;
  let maxTimestampSeen = NO_TIMESTAMP;
  walk.cursor = 0;
  // Bounded by count, and each record advances walk.cursor by at least MIN_RECORD_SIZE_BYTES.
  for (let index = 0; index < count; index++) {
    if (walk.cursor >= endPosition) return problem(CORRUPT_MESSAGE, `records end after ${index} of ${count} records`);
    const lengthBytes = readVarintAt(section, endPosition);
    if (lengthBytes === VARINT_INVALID || lengthBytes < MIN_RECORD_SIZE_BYTES - 1 || lengthBytes > endPosition - walk.cursor) {
      return problem(CORRUPT_MESSAGE, `record ${firstRecordIndex + index}: invalid record length ${lengthBytes === VARINT_INVALID ? "varint" : lengthBytes}`);
    }
    const recordEnd = walk.cursor + lengthBytes;
    walk.cursor++; // attributes: unused in v2
    const timestampDelta = readVarlongAt(section, recordEnd);
    const offsetDelta = readVarintAt(section, recordEnd);
    const keyLength = readVarintAt(section, recordEnd);
    if (Number.isNaN(timestampDelta) || offsetDelta === VARINT_INVALID || keyLength === VARINT_INVALID || keyLength < -1 || keyLength > recordEnd - walk.cursor) {
      return problem(CORRUPT_MESSAGE, `record ${firstRecordIndex + index}: invalid header fields`);
    }
    if (keyLength > 0) walk.cursor += keyLength;
    const valueLength = readVarintAt(section, recordEnd);
    if (valueLength === VARINT_INVALID || valueLength < -1 || valueLength > recordEnd - walk.cursor) return problem(CORRUPT_MESSAGE, `record ${firstRecordIndex + index}: invalid value length`);
    if (valueLength > 0) walk.cursor += valueLength;
    const headerCount = readVarintAt(section, recordEnd);
    if (headerCount === VARINT_INVALID || headerCount < 0) return problem(CORRUPT_MESSAGE, `record ${firstRecordIndex + index}: invalid header count`);
    // Bounded by headerCount, and each header takes at least 2 bytes inside the record.
    for (let header = 0; header < headerCount; header++) {
      const headerKeyLength = readVarintAt(section, recordEnd);
      if (headerKeyLength === VARINT_INVALID || headerKeyLength < 0 || headerKeyLength > recordEnd - walk.cursor) return problem(CORRUPT_MESSAGE, `record ${firstRecordIndex + index}: invalid header key`);
      walk.cursor += headerKeyLength;
      const headerValueLength = readVarintAt(section, recordEnd);
      if (headerValueLength === VARINT_INVALID || headerValueLength < -1 || headerValueLength > recordEnd - walk.cursor) return problem(CORRUPT_MESSAGE, `record ${firstRecordIndex + index}: invalid header value`);
      if (headerValueLength > 0) walk.cursor += headerValueLength;
    }
    // DefaultRecord.readFrom: the fields must take exactly the record's length.
    if (walk.cursor !== recordEnd) return problem(CORRUPT_MESSAGE, `record ${firstRecordIndex + index}: fields take ${lengthBytes - (recordEnd - walk.cursor)} bytes, the record's length is ${lengthBytes}`);

    let refusal: string | null = null;
    let refusalCode: number = INVALID_RECORD;
    if (offsetDelta !== index) refusal = `Inner record with offset delta ${offsetDelta} does not have incremental offsets, expected ${index}`;
    else if (checks.compact && keyLength < 0) refusal = "Compacted topic cannot accept message without key";
    else {
      const timestampMs = baseTimestamp + timestampDelta;
      if (timestampMs > maxTimestampSeen) maxTimestampSeen = timestampMs;
      if (checkTimestamps && timestampMs !== NO_TIMESTAMP && (timestampMs < earliestMs || timestampMs > latestMs)) {
        refusalCode = INVALID_TIMESTAMP;
        refusal = `Timestamp ${timestampMs} of message with offset ${index} is out of range. The timestamp should be within [${earliestMs}, ${latestMs}]`;
      }
    }
    if (refusal !== null) {
      errors ??= [];
      errorCode ||= refusalCode;
      if (errors.length < RECORD_ERRORS_MAX) errors.push({ batchIndex: firstRecordIndex + index, message: refusal });
    }
  }
  if (walk.cursor !== endPosition) return problem(CORRUPT_MESSAGE, `${endPosition - walk.cursor} bytes after the last of ${count} records`);
  if (errors !== null) return problem(errorCode, errors[0]!.message, errors);
  sectionMaxTimestamp = maxTimestampSeen;
  return null;
}

/**
 * Stamps offsets and the leader epoch on every batch, in place. Neither field is covered by the CRC,
 * so the CRC stays valid. Returns the next offset (the log end offset after this append).
 */
export function assignOffsets(bytes: Uint8Array, baseOffset: number, partitionLeaderEpoch: number): number {
  const view = dataViewOf(bytes);
  let nextOffset = baseOffset;
  let position = 0;
  while (position < bytes.byteLength) {
    const sizeBytes = batchSizeBytes(view, position);
    if (sizeBytes < RECORD_BATCH_OVERHEAD || position + sizeBytes > bytes.byteLength) throw new Error("assignOffsets: batches were not validated");
    writeInt64(view, position + BASE_OFFSET_OFFSET, nextOffset);
    view.setInt32(position + PARTITION_LEADER_EPOCH_OFFSET, partitionLeaderEpoch);
    nextOffset += view.getInt32(position + LAST_OFFSET_DELTA_OFFSET) + 1;
    position += sizeBytes;
  }
  return nextOffset;
}

/**
 * message.timestamp.type=LogAppendTime: sets the timestamp-type bit and maxTimestamp of every batch
 * (consumers then use maxTimestamp for all its records) and recomputes the CRC, which covers both.
 */
export function setLogAppendTime(bytes: Uint8Array, timestampMs: number): void {
  const view = dataViewOf(bytes);
  let position = 0;
  while (position < bytes.byteLength) {
    const sizeBytes = batchSizeBytes(view, position);
    if (sizeBytes < RECORD_BATCH_OVERHEAD || position + sizeBytes > bytes.byteLength) throw new Error("setLogAppendTime: batches were not validated");
    view.setInt16(position + ATTRIBUTES_OFFSET, view.getInt16(position + ATTRIBUTES_OFFSET) | TIMESTAMP_TYPE_MASK);
    writeInt64(view, position + MAX_TIMESTAMP_OFFSET, timestampMs);
    view.setUint32(position + CRC_OFFSET, computeBatchCrc(bytes, position, sizeBytes));
    position += sizeBytes;
  }
}

/** Recomputes and stores the CRC of the batch at `position` (after a header field it covers changed). */
export function updateBatchCrc(bytes: Uint8Array, position = 0): void {
  const view = dataViewOf(bytes);
  view.setUint32(position + CRC_OFFSET, computeBatchCrc(bytes, position, batchSizeBytes(view, position)));
}
