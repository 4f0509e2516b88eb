// Records of the internal topic __consumer_offsets, in Apache Kafka's own binary format, so that Kafka's
// tools (kafka-console-consumer with the offsets formatters, kafka-dump-log --offsets-decoder) read Bunka's
// topic and a future migration needs no conversion. Schemas: apache/kafka group-coordinator
// src/main/resources/common/message/{OffsetCommitKey,OffsetCommitValue,GroupMetadataKey,GroupMetadataValue}.json.
//
//   key   = int16 keyVersion + body            (big-endian; strings are int16 length + UTF-8)
//     keyVersion 0/1  OffsetCommitKey    { group string, topic string, partition int32 }
//     keyVersion 2    GroupMetadataKey   { group string }
//   value = int16 valueVersion + body, or null (a tombstone: the offset or the group was deleted)
//     OffsetCommitValue v3 (written)     { offset int64, leaderEpoch int32, metadata string, commitTimestamp int64 }
//       v0 { offset, metadata, commitTimestamp }  v1 { offset, metadata, commitTimestamp, expireTimestamp }
//       v2 { offset, metadata, commitTimestamp }  (all read)
//     GroupMetadataValue v3 (written)    { protocolType string, generation int32, protocol string?, leader string?,
//       currentStateTimestamp int64 (v2+), members [int32 count] { memberId string, groupInstanceId string? (v3+),
//       clientId string, clientHost string, rebalanceTimeout int32 (v1+), sessionTimeout int32,
//       subscription bytes, assignment bytes } }   (v0-v3 read)
// The newer flexible versions Kafka 3.x+ can write (OffsetCommitValue v4, GroupMetadataValue v4) are not
// read: Bunka never writes them, and a record it cannot read is skipped with a log line, never guessed at.
import { Reader } from "../protocol/codec/reader.ts";
import { Writer } from "../protocol/codec/writer.ts";
import { decodeConsumerRecordKey, isConsumerRecordType, type ConsumerGroupRecordKey } from "./consumer-group/consumer-group-records.ts";

export const OFFSETS_TOPIC = "__consumer_offsets";

/**
 * A copy that owns its memory. Not `.slice()`: on a Buffer (what the Writer and Bun's sockets use) slice()
 * is a view, and a kept view pins the whole underlying buffer (a request frame, a socket read, a segment).
 */
export function copyBytes(bytes: Uint8Array): Uint8Array {
  return new Uint8Array(bytes);
}

const OFFSET_COMMIT_KEY_VERSION = 1;
const GROUP_METADATA_KEY_VERSION = 2;
const OFFSET_COMMIT_VALUE_VERSION = 3;
const GROUP_METADATA_VALUE_VERSION = 3;

/** Kafka's partitionFor for a group id (the same rule as every internal topic's key). */
export { javaStringHashCode, keyPartitionFor as offsetsPartitionFor } from "../metadata/internal-topic-store.ts";

export interface OffsetCommitKey {
  kind: "offset";
  group: string;
  topic: string;
  partition: number;
}

export interface GroupMetadataKey {
  kind: "group";
  group: string;
}

export interface OffsetCommitValue {
  offset: number;
  leaderEpoch: number;
  metadata: string;
  commitTimestampMs: number;
}

export interface StoredMember {
  memberId: string;
  groupInstanceId: string | null;
  clientId: string;
  clientHost: string;
  rebalanceTimeoutMs: number;
  sessionTimeoutMs: number;
  subscription: Uint8Array;
  assignment: Uint8Array;
}

export interface GroupMetadataValue {
  protocolType: string;
  generation: number;
  protocol: string | null;
  leader: string | null;
  currentStateTimestampMs: number;
  members: StoredMember[];
}

export function encodeOffsetCommitKey(group: string, topic: string, partition: number): Uint8Array {
  const writer = new Writer(64);
  writer.writeInt16(OFFSET_COMMIT_KEY_VERSION);
  writer.writeString(group);
  writer.writeString(topic);
  writer.writeInt32(partition);
  return copyBytes(writer.toUint8Array());
}

export function encodeGroupMetadataKey(group: string): Uint8Array {
  const writer = new Writer(64);
  writer.writeInt16(GROUP_METADATA_KEY_VERSION);
  writer.writeString(group);
  return copyBytes(writer.toUint8Array());
}

export function encodeOffsetCommitValue(value: OffsetCommitValue): Uint8Array {
  const writer = new Writer(64);
  writer.writeInt16(OFFSET_COMMIT_VALUE_VERSION);
  writer.writeInt64(value.offset);
  writer.writeInt32(value.leaderEpoch);
  writer.writeString(value.metadata);
  writer.writeInt64(value.commitTimestampMs);
  return copyBytes(writer.toUint8Array());
}

export function encodeGroupMetadataValue(value: GroupMetadataValue): Uint8Array {
  const writer = new Writer(256);
  writer.writeInt16(GROUP_METADATA_VALUE_VERSION);
  writer.writeString(value.protocolType);
  writer.writeInt32(value.generation);
  writer.writeNullableString(value.protocol);
  writer.writeNullableString(value.leader);
  writer.writeInt64(value.currentStateTimestampMs);
  writer.writeArrayLength(value.members.length);
  for (const member of value.members) {
    writer.writeString(member.memberId);
    writer.writeNullableString(member.groupInstanceId);
    writer.writeString(member.clientId);
    writer.writeString(member.clientHost);
    writer.writeInt32(member.rebalanceTimeoutMs);
    writer.writeInt32(member.sessionTimeoutMs);
    writer.writeBytes(member.subscription);
    writer.writeBytes(member.assignment);
  }
  return copyBytes(writer.toUint8Array());
}

/**
 * Decodes a record key; null for a key version this broker does not know (the caller skips the record).
 * Types 3-8 are the records of consumer-protocol groups (consumer-group/consumer-group-records.ts).
 */
export function decodeKey(bytes: Uint8Array): OffsetCommitKey | GroupMetadataKey | ConsumerGroupRecordKey | null {
  const reader = new Reader(bytes);
  const version = reader.readInt16();
  if (version === 0 || version === 1) {
    return { kind: "offset", group: reader.readString(), topic: reader.readString(), partition: reader.readInt32() };
  }
  if (version === 2) return { kind: "group", group: reader.readString() };
  if (isConsumerRecordType(version)) return decodeConsumerRecordKey(version, reader);
  return null;
}

export function decodeOffsetCommitValue(bytes: Uint8Array): OffsetCommitValue | null {
  const reader = new Reader(bytes);
  const version = reader.readInt16();
  if (version < 0 || version > 3) return null;
  const offset = reader.readInt64();
  const leaderEpoch = version >= 3 ? reader.readInt32() : -1;
  const metadata = reader.readString();
  const commitTimestampMs = reader.readInt64();
  if (version === 1) reader.readInt64(); // expireTimestamp: Bunka expires by offsets.retention.minutes only
  return { offset, leaderEpoch, metadata, commitTimestampMs };
}

export function decodeGroupMetadataValue(bytes: Uint8Array): GroupMetadataValue | null {
  const reader = new Reader(bytes);
  const version = reader.readInt16();
  if (version < 0 || version > 3) return null;
  const protocolType = reader.readString();
  const generation = reader.readInt32();
  const protocol = reader.readNullableString();
  const leader = reader.readNullableString();
  const currentStateTimestampMs = version >= 2 ? reader.readInt64() : -1;
  const count = reader.readArrayLength();
  const members: StoredMember[] = [];
  for (let i = 0; i < count; i++) {
    const memberId = reader.readString();
    const groupInstanceId = version >= 3 ? reader.readNullableString() : null;
    const clientId = reader.readString();
    const clientHost = reader.readString();
    const rebalanceTimeoutMs = version >= 1 ? reader.readInt32() : -1;
    const sessionTimeoutMs = reader.readInt32();
    // Copies: the record bytes are a view of a mapped segment, and a member outlives the load.
    const subscription = copyBytes(reader.readBytes());
    const assignment = copyBytes(reader.readBytes());
    members.push({
      memberId,
      groupInstanceId,
      clientId,
      clientHost,
      rebalanceTimeoutMs: rebalanceTimeoutMs < 0 ? sessionTimeoutMs : rebalanceTimeoutMs,
      sessionTimeoutMs,
      subscription,
      assignment,
    });
  }
  return { protocolType, generation, protocol, leader, currentStateTimestampMs, members };
}
