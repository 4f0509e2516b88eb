// Control batches: the COMMIT/ABORT markers a partition leader writes when a transaction ends (Kafka's
// EndTransactionMarker and ControlRecordType). A control batch has the control and transactional flags,
// no sequence, and one record: key = [int16 version 0, int16 type (0 ABORT, 1 COMMIT)], value = [int16
// version 0, int32 coordinator epoch]. docs/transactions.md has the rules.
import {
  ATTRIBUTES_OFFSET,
  BASE_OFFSET_OFFSET,
  BASE_SEQUENCE_OFFSET,
  BASE_TIMESTAMP_OFFSET,
  BATCH_LENGTH_OFFSET,
  CONTROL_FLAG_MASK,
  CRC_OFFSET,
  LAST_OFFSET_DELTA_OFFSET,
  LOG_OVERHEAD,
  MAGIC_OFFSET,
  MAGIC_V2,
  MAX_TIMESTAMP_OFFSET,
  PARTITION_LEADER_EPOCH_OFFSET,
  PRODUCER_EPOCH_OFFSET,
  PRODUCER_ID_OFFSET,
  RECORDS_COUNT_OFFSET,
  RECORDS_OFFSET,
  TRANSACTIONAL_FLAG_MASK,
  computeBatchCrc,
  writeInt64,
} from "./batch.ts";

export const ControlRecordType = { ABORT: 0, COMMIT: 1 } as const;

/** One record: length 16, attributes, timestamp delta 0, offset delta 0, 4-byte key, 6-byte value, no headers. */
const CONTROL_RECORD_BYTES = 17;
export const CONTROL_BATCH_BYTES = RECORDS_OFFSET + CONTROL_RECORD_BYTES;

export interface EndTransactionMarker {
  commit: boolean;
  coordinatorEpoch: number;
}

/** A control batch for (producerId, producerEpoch) at baseOffset 0; the log assigns its offset like any batch. */
export function buildControlBatch(producerId: number, producerEpoch: number, marker: EndTransactionMarker, timestampMs: number): Uint8Array {
  const bytes = new Uint8Array(CONTROL_BATCH_BYTES);
  const view = new DataView(bytes.buffer);
  writeInt64(view, BASE_OFFSET_OFFSET, 0);
  view.setInt32(BATCH_LENGTH_OFFSET, CONTROL_BATCH_BYTES - LOG_OVERHEAD);
  view.setInt32(PARTITION_LEADER_EPOCH_OFFSET, -1);
  view.setInt8(MAGIC_OFFSET, MAGIC_V2);
  view.setInt16(ATTRIBUTES_OFFSET, CONTROL_FLAG_MASK | TRANSACTIONAL_FLAG_MASK);
  view.setInt32(LAST_OFFSET_DELTA_OFFSET, 0);
  writeInt64(view, BASE_TIMESTAMP_OFFSET, timestampMs);
  writeInt64(view, MAX_TIMESTAMP_OFFSET, timestampMs);
  writeInt64(view, PRODUCER_ID_OFFSET, producerId);
  view.setInt16(PRODUCER_EPOCH_OFFSET, producerEpoch);
  view.setInt32(BASE_SEQUENCE_OFFSET, -1);
  view.setInt32(RECORDS_COUNT_OFFSET, 1);
  let position = RECORDS_OFFSET;
  // Zigzag varints: 16 -> 32, 0 -> 0, 4 -> 8, 6 -> 12 (all one byte).
  bytes[position++] = 32; // record length (bytes after this varint)
  bytes[position++] = 0; // attributes
  bytes[position++] = 0; // timestamp delta
  bytes[position++] = 0; // offset delta
  bytes[position++] = 8; // key length 4
  view.setInt16(position, 0); // key version
  view.setInt16(position + 2, marker.commit ? ControlRecordType.COMMIT : ControlRecordType.ABORT);
  position += 4;
  bytes[position++] = 12; // value length 6
  view.setInt16(position, 0); // value version
  view.setInt32(position + 2, marker.coordinatorEpoch);
  position += 6;
  bytes[position++] = 0; // header count
  if (position !== CONTROL_BATCH_BYTES) throw new Error(`control batch: wrote ${position} of ${CONTROL_BATCH_BYTES} bytes`);
  view.setUint32(CRC_OFFSET, computeBatchCrc(bytes, 0, CONTROL_BATCH_BYTES));
  return bytes;
}

/** A zigzag varint at `position` of at most 5 bytes: [value, next position], or null past `end`. */
function readVarint(bytes: Uint8Array, position: number, end: number): [number, number] | null {
  let raw = 0;
  for (let shift = 0; shift < 35; shift += 7) {
    if (position >= end) return null;
    const byte = bytes[position++]!;
    raw |= (byte & 0x7f) << shift;
    if ((byte & 0x80) === 0) return [(raw >>> 1) ^ -(raw & 1), position];
  }
  return null;
}

/**
 * The marker in the control batch at `position` (its first record), or null when the record is not an
 * EndTransactionMarker (other control types, a short or unknown-version key). Reads only the batch's bytes.
 */
export function readEndTransactionMarker(bytes: Uint8Array, position: number, sizeBytes: number): EndTransactionMarker | null {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if ((view.getInt16(position + ATTRIBUTES_OFFSET) & CONTROL_FLAG_MASK) === 0 || view.getInt32(position + RECORDS_COUNT_OFFSET) < 1) return null;
  const end = Math.min(bytes.byteLength, position + sizeBytes);
  let cursor = position + RECORDS_OFFSET;
  let field: [number, number] | null;
  // length, then attributes (int8), timestamp delta, offset delta
  if ((field = readVarint(bytes, cursor, end)) === null) return null;
  cursor = field[1] + 1;
  // The timestamp delta is a varlong: control records carry small ones; anything longer is not ours.
  if ((field = readVarint(bytes, cursor, end)) === null) return null;
  if ((field = readVarint(bytes, field[1], end)) === null) return null;
  if ((field = readVarint(bytes, field[1], end)) === null || field[0] < 4) return null;
  cursor = field[1];
  if (cursor + field[0] > end) return null;
  const keyVersion = view.getInt16(cursor);
  const type = view.getInt16(cursor + 2);
  cursor += field[0];
  if (keyVersion !== 0 || (type !== ControlRecordType.ABORT && type !== ControlRecordType.COMMIT)) return null;
  let coordinatorEpoch = -1;
  if ((field = readVarint(bytes, cursor, end)) !== null && field[0] >= 6 && field[1] + 6 <= end) coordinatorEpoch = view.getInt32(field[1] + 2);
  return { commit: type === ControlRecordType.COMMIT, coordinatorEpoch };
}
