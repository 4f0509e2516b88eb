// Record batch v2 (magic 2): the header layout and the operations the broker does on batches in place.
// A produce request's records are one or more concatenated batches; they are validated, get their
// offsets assigned in the same buffer and are written to the segment file as they are. No function
// here copies a batch or allocates per record.
import { crc32c } from "@node-rs/crc32";
import { CORRUPT_MESSAGE, INVALID_RECORD, MESSAGE_TOO_LARGE, UNSUPPORTED_COMPRESSION_TYPE } from "./errors.ts";

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
}

/**
 * Walks one or more concatenated v2 batches and checks what Kafka checks before appending: magic,
 * sane length inside the buffer (a trailing partial batch is CORRUPT_MESSAGE), size against
 * max.message.bytes, CRC32C, counts. Returns the summary, or the Kafka error code of the first problem.
 */
export function validateBatches(bytes: Uint8Array, maxBatchBytes: number, origin: ValidationOrigin = "client"): BatchesInfo | number {
  const view = dataViewOf(bytes);
  const endPosition = bytes.byteLength;
  if (endPosition === 0) return CORRUPT_MESSAGE;
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
  // Bounded: every accepted batch advances position by at least RECORD_BATCH_OVERHEAD bytes.
  while (position < endPosition) {
    const remainingBytes = endPosition - position;
    if (remainingBytes < HEADER_SIZE_UP_TO_MAGIC) return CORRUPT_MESSAGE;
    const magic = view.getInt8(position + MAGIC_OFFSET);
    // Produce v3+ carries only magic 2 (KIP-98); Kafka answers older formats with INVALID_RECORD.
    if (magic === 0 || magic === 1) return INVALID_RECORD;
    if (magic !== MAGIC_V2) return CORRUPT_MESSAGE;
    const batchLength = view.getInt32(position + BATCH_LENGTH_OFFSET);
    if (batchLength < RECORD_BATCH_OVERHEAD - LOG_OVERHEAD) return CORRUPT_MESSAGE;
    const sizeBytes = batchLength + LOG_OVERHEAD;
    if (sizeBytes > remainingBytes) return CORRUPT_MESSAGE;
    if (sizeBytes > maxBatchBytes) return MESSAGE_TOO_LARGE;
    if (view.getUint32(position + CRC_OFFSET) !== computeBatchCrc(bytes, position, sizeBytes)) return CORRUPT_MESSAGE;

    const attributes = view.getInt16(position + ATTRIBUTES_OFFSET);
    const codec = attributes & COMPRESSION_CODEC_MASK;
    if (codec > CompressionType.ZSTD) return UNSUPPORTED_COMPRESSION_TYPE;
    const lastOffsetDelta = view.getInt32(position + LAST_OFFSET_DELTA_OFFSET);
    const count = view.getInt32(position + RECORDS_COUNT_OFFSET);
    const isControl = (attributes & CONTROL_FLAG_MASK) !== 0;
    if (origin === "client") {
      // LogValidator.validateBatch: offsets and count must agree for a producer's batch.
      if (count <= 0 || lastOffsetDelta + 1 !== count) return INVALID_RECORD;
      if (isControl) return INVALID_RECORD; // only the transaction coordinator writes control batches
      if (codec === CompressionType.NONE && !recordsFillSection(bytes, position + RECORDS_OFFSET, position + sizeBytes, count)) {
        return CORRUPT_MESSAGE;
      }
    } else if (count < 0 || lastOffsetDelta < 0) {
      // Compaction may leave fewer records than offsets, so only negative values are impossible.
      return CORRUPT_MESSAGE;
    }
    if (codec === CompressionType.NONE && count * MIN_RECORD_SIZE_BYTES > sizeBytes - RECORDS_OFFSET) return CORRUPT_MESSAGE;

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
  };
}

/**
 * Checks that an uncompressed records section holds exactly `count` length-prefixed records, without
 * decoding them: a producer bug that lies about lengths is refused before it reaches the log.
 */
function recordsFillSection(bytes: Uint8Array, startPosition: number, endPosition: number, count: number): boolean {
  let position = startPosition;
  for (let index = 0; index < count; index++) {
    if (position >= endPosition) return false;
    // Inline zigzag varint: at most 5 bytes for an int32.
    let raw = 0;
    let shift = 0;
    let byte = 0;
    do {
      if (position >= endPosition || shift > 28) return false;
      byte = bytes[position++]!;
      raw |= (byte & 0x7f) << shift;
      shift += 7;
    } while (byte & 0x80);
    const lengthBytes = (raw >>> 1) ^ -(raw & 1);
    if (lengthBytes < MIN_RECORD_SIZE_BYTES - 1) return false;
    position += lengthBytes;
  }
  return position === endPosition;
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
