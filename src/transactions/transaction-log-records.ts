// Records of the internal topic __transaction_state, in Apache Kafka's own binary format (apache/kafka
// transaction-coordinator src/main/resources/common/message/{TransactionLogKey,TransactionLogValue}.json),
// so that Kafka's tools read Bunka's topic and a migration needs no conversion.
//
//   key   = int16 keyVersion (0) + TransactionLogKey { transactionalId string }
//   value = int16 valueVersion + TransactionLogValue, or null (a tombstone: the transactional id expired)
//     v0  { producerId int64, producerEpoch int16, transactionTimeoutMs int32, transactionStatus int8,
//           transactionPartitions [int32 count, nullable] { topic string, partitionIds [int32] },
//           transactionLastUpdateTimestampMs int64, transactionStartTimestampMs int64 }
//     v1 (written; flexible: compact strings and arrays, tagged fields) the same, plus the tagged fields
//           previousProducerId (tag 0), nextProducerId (tag 1), clientTransactionVersion (tag 2)
import { Reader } from "../protocol/codec/reader.ts";
import { Writer } from "../protocol/codec/writer.ts";

export const TRANSACTION_STATE_TOPIC = "__transaction_state";

const KEY_VERSION = 0;
const VALUE_VERSION_WRITTEN = 1;
const TAG_PREVIOUS_PRODUCER_ID = 0;
const TAG_NEXT_PRODUCER_ID = 1;
const TAG_CLIENT_TRANSACTION_VERSION = 2;

/** Kafka's TransactionState ids, as stored (TransactionState.java). */
export const TransactionStatus = {
  Empty: 0,
  Ongoing: 1,
  PrepareCommit: 2,
  PrepareAbort: 3,
  CompleteCommit: 4,
  CompleteAbort: 5,
  Dead: 6,
  PrepareEpochFence: 7,
} as const;
export type TransactionStatus = (typeof TransactionStatus)[keyof typeof TransactionStatus];

/** The names DescribeTransactions and ListTransactions use (TransactionState.stateName). */
export const TRANSACTION_STATUS_NAMES: Record<TransactionStatus, string> = {
  0: "Empty",
  1: "Ongoing",
  2: "PrepareCommit",
  3: "PrepareAbort",
  4: "CompleteCommit",
  5: "CompleteAbort",
  6: "Dead",
  7: "PrepareEpochFence",
};

export interface TransactionLogValue {
  producerId: number;
  previousProducerId: number;
  nextProducerId: number;
  producerEpoch: number;
  transactionTimeoutMs: number;
  status: TransactionStatus;
  /** topic → partitions in the transaction. */
  partitions: Map<string, number[]>;
  lastUpdateTimestampMs: number;
  startTimestampMs: number;
  /** 2 = KIP-890 part 2 (EndTxn v5+): the epoch is bumped at every commit/abort. */
  clientTransactionVersion: number;
}

export function encodeTransactionLogKey(transactionalId: string): Uint8Array {
  const writer = new Writer(8 + transactionalId.length * 3);
  writer.writeInt16(KEY_VERSION);
  writer.writeString(transactionalId);
  return new Uint8Array(writer.toUint8Array());
}

/** The transactional id, or null for a key version this broker does not know. */
export function decodeTransactionLogKey(bytes: Uint8Array): string | null {
  const reader = new Reader(bytes);
  if (reader.readInt16() !== KEY_VERSION) return null;
  return reader.readString();
}

export function encodeTransactionLogValue(value: TransactionLogValue): Uint8Array {
  const writer = new Writer(64);
  writer.writeInt16(VALUE_VERSION_WRITTEN);
  writer.writeInt64(value.producerId);
  writer.writeInt16(value.producerEpoch);
  writer.writeInt32(value.transactionTimeoutMs);
  writer.writeInt8(value.status);
  writer.writeUnsignedVarint(value.partitions.size + 1);
  for (const [topic, partitionIds] of value.partitions) {
    writer.writeCompactString(topic);
    writer.writeUnsignedVarint(partitionIds.length + 1);
    for (const partition of partitionIds) writer.writeInt32(partition);
    writer.writeUnsignedVarint(0);
  }
  writer.writeInt64(value.lastUpdateTimestampMs);
  writer.writeInt64(value.startTimestampMs);
  // Tagged fields, in tag order, each only when it differs from its default (-1, -1, 0).
  const tags: Array<[number, (w: Writer) => void, number]> = [];
  if (value.previousProducerId !== -1) tags.push([TAG_PREVIOUS_PRODUCER_ID, (w) => w.writeInt64(value.previousProducerId), 8]);
  if (value.nextProducerId !== -1) tags.push([TAG_NEXT_PRODUCER_ID, (w) => w.writeInt64(value.nextProducerId), 8]);
  if (value.clientTransactionVersion !== 0) tags.push([TAG_CLIENT_TRANSACTION_VERSION, (w) => w.writeInt16(value.clientTransactionVersion), 2]);
  writer.writeUnsignedVarint(tags.length);
  for (const [tag, write, sizeBytes] of tags) {
    writer.writeUnsignedVarint(tag);
    writer.writeUnsignedVarint(sizeBytes);
    write(writer);
  }
  return new Uint8Array(writer.toUint8Array());
}

/** Versions 0 and 1; null for a version this broker does not know (skipped by the loader, never guessed at). */
export function decodeTransactionLogValue(bytes: Uint8Array): TransactionLogValue | null {
  const reader = new Reader(bytes);
  const version = reader.readInt16();
  if (version !== 0 && version !== 1) return null;
  const flexible = version >= 1;
  const producerId = reader.readInt64();
  const producerEpoch = reader.readInt16();
  const transactionTimeoutMs = reader.readInt32();
  const status = reader.readInt8();
  if (status < 0 || status > 7) return null;
  const partitions = new Map<string, number[]>();
  const topicCount = flexible ? reader.readCompactNullableArrayLength() : reader.readNullableArrayLength();
  for (let t = 0; t < topicCount; t++) {
    const topic = flexible ? reader.readCompactString() : reader.readString();
    const count = flexible ? reader.readCompactArrayLength() : reader.readArrayLength();
    const ids: number[] = [];
    for (let p = 0; p < count; p++) ids.push(reader.readInt32());
    if (flexible) reader.skipTaggedFields();
    partitions.set(topic, ids);
  }
  const value: TransactionLogValue = {
    producerId,
    previousProducerId: -1,
    nextProducerId: -1,
    producerEpoch,
    transactionTimeoutMs,
    status: status as TransactionStatus,
    partitions,
    lastUpdateTimestampMs: reader.readInt64(),
    startTimestampMs: reader.readInt64(),
    clientTransactionVersion: 0,
  };
  if (flexible) {
    reader.readTaggedFields((tag, _size, r) => {
      if (tag === TAG_PREVIOUS_PRODUCER_ID) value.previousProducerId = r.readInt64();
      else if (tag === TAG_NEXT_PRODUCER_ID) value.nextProducerId = r.readInt64();
      else if (tag === TAG_CLIENT_TRANSACTION_VERSION) value.clientTransactionVersion = r.readInt16();
      else r.skip(_size);
    });
  }
  return value;
}
