// Records of a consumer-protocol group (KIP-848) in __consumer_offsets, in Apache Kafka 4.0's format, so that
// Kafka's tools read them and a group survives a restart or a coordinator move. Schemas: apache/kafka
// group-coordinator src/main/resources/common/message/ConsumerGroup*{Key,Value}.json.
//
//   key   = int16 record type + key body, not flexible (strings: int16 length + UTF-8)
//     3 ConsumerGroupMetadataKey                 { groupId }
//     4 ConsumerGroupPartitionMetadataKey        { groupId }
//     5 ConsumerGroupMemberMetadataKey           { groupId, memberId }
//     6 ConsumerGroupTargetAssignmentMetadataKey { groupId }
//     7 ConsumerGroupTargetAssignmentMemberKey   { groupId, memberId }
//     8 ConsumerGroupCurrentMemberAssignmentKey  { groupId, memberId }
//   value = int16 version (0) + flexible body (compact strings and arrays, uuids, a tagged-field section
//     closing every struct), or null (a tombstone: the member or the group is gone)
//     3 { epoch int32 }
//     4 { epoch int32, topics [{ topicId uuid, topicName string, numPartitions int32, partitionRacks [{ partition int32, racks []string }] }] }
//     5 { instanceId string?, rackId string?, clientId, clientHost, subscribedTopicNames []string, subscribedTopicRegex string?,
//         rebalanceTimeoutMs int32, serverAssignor string?, (tag 0) classicMemberMetadata }
//     6 { assignmentEpoch int32 }
//     7 { topicPartitions [{ topicId uuid, partitions []int32 }] }
//     8 { memberEpoch int32, previousMemberEpoch int32, state int8, assignedPartitions [{ topicId, partitions }],
//         partitionsPendingRevocation [{ topicId, partitions }] }
// Every schema has one version, so this is the codec of that version, not a per-version one; tagged fields
// Bunka does not use (MetadataHash, AssignmentTimestamp, classic member metadata...) are skipped on read.
import { Reader } from "../../protocol/codec/reader.ts";
import { Writer } from "../../protocol/codec/writer.ts";
import type { MemberState } from "./reconciliation.ts";

export const enum ConsumerRecordType {
  GroupMetadata = 3,
  PartitionMetadata = 4,
  MemberMetadata = 5,
  TargetAssignmentMetadata = 6,
  TargetAssignmentMember = 7,
  CurrentMemberAssignment = 8,
}

const VALUE_VERSION = 0;

/** A copy that owns its memory (a view would pin a whole segment or write buffer; offsets-records.ts says more). */
const copyBytes = (bytes: Uint8Array): Uint8Array => new Uint8Array(bytes);

export interface ConsumerGroupRecordKey {
  kind: "consumer";
  type: ConsumerRecordType;
  group: string;
  /** The member of a member record; "" for the group's own records. */
  memberId: string;
}

export interface TopicPartitionIds {
  topicId: Uint8Array;
  partitions: number[];
}

export interface SubscribedTopicMetadata {
  topicId: Uint8Array;
  topicName: string;
  numPartitions: number;
}

export interface MemberMetadataValue {
  instanceId: string | null;
  rackId: string | null;
  clientId: string;
  clientHost: string;
  subscribedTopicNames: string[];
  subscribedTopicRegex: string | null;
  rebalanceTimeoutMs: number;
  serverAssignor: string | null;
  /** Tag 0: a member speaking the classic protocol in the group (online migration); absent otherwise. */
  classic?: ClassicMemberMetadata | null;
}

export interface ClassicMemberMetadata {
  sessionTimeoutMs: number;
  supportedProtocols: { name: string; metadata: Uint8Array }[];
}

export interface CurrentAssignmentValue {
  memberEpoch: number;
  previousMemberEpoch: number;
  state: MemberState;
  assigned: TopicPartitionIds[];
  pendingRevocation: TopicPartitionIds[];
}

/** Kafka's MemberState bytes (org.apache.kafka.coordinator.group.modern.MemberState). */
const STATE_BYTES: Record<MemberState, number> = { STABLE: 0, UNREVOKED_PARTITIONS: 1, UNRELEASED_PARTITIONS: 2, UNKNOWN: 127 };

function stateOf(byte: number): MemberState {
  for (const [state, value] of Object.entries(STATE_BYTES)) if (value === byte) return state as MemberState;
  return "UNKNOWN";
}

const GROUP_LEVEL_TYPES = new Set<number>([ConsumerRecordType.GroupMetadata, ConsumerRecordType.PartitionMetadata, ConsumerRecordType.TargetAssignmentMetadata]);
const MEMBER_LEVEL_TYPES = new Set<number>([ConsumerRecordType.MemberMetadata, ConsumerRecordType.TargetAssignmentMember, ConsumerRecordType.CurrentMemberAssignment]);

export function isConsumerRecordType(type: number): boolean {
  return GROUP_LEVEL_TYPES.has(type) || MEMBER_LEVEL_TYPES.has(type);
}

export function encodeConsumerRecordKey(type: ConsumerRecordType, groupId: string, memberId = ""): Uint8Array {
  const writer = new Writer(64);
  writer.writeInt16(type);
  writer.writeString(groupId);
  if (MEMBER_LEVEL_TYPES.has(type)) writer.writeString(memberId);
  return copyBytes(writer.toUint8Array());
}

/** The rest of a key whose int16 type (already read) is a consumer-group record type. */
export function decodeConsumerRecordKey(type: number, reader: Reader): ConsumerGroupRecordKey {
  const group = reader.readString();
  const memberId = MEMBER_LEVEL_TYPES.has(type) ? reader.readString() : "";
  return { kind: "consumer", type, group, memberId };
}

function valueWriter(): Writer {
  const writer = new Writer(128);
  writer.writeInt16(VALUE_VERSION);
  return writer;
}

function finish(writer: Writer): Uint8Array {
  writer.writeEmptyTaggedFields();
  return copyBytes(writer.toUint8Array());
}

function writeStringArray(writer: Writer, values: string[]): void {
  writer.writeCompactArrayLength(values.length);
  for (const value of values) writer.writeCompactString(value);
}

function writeTopicPartitions(writer: Writer, topics: TopicPartitionIds[]): void {
  writer.writeCompactArrayLength(topics.length);
  for (const topic of topics) {
    writer.writeUuid(topic.topicId);
    writer.writeCompactArrayLength(topic.partitions.length);
    for (const partition of topic.partitions) writer.writeInt32(partition);
    writer.writeEmptyTaggedFields();
  }
}

export function encodeGroupEpochValue(epoch: number): Uint8Array {
  const writer = valueWriter();
  writer.writeInt32(epoch);
  return finish(writer);
}

export function encodePartitionMetadataValue(epoch: number, topics: SubscribedTopicMetadata[]): Uint8Array {
  const writer = valueWriter();
  writer.writeInt32(epoch);
  writer.writeCompactArrayLength(topics.length);
  for (const topic of topics) {
    writer.writeUuid(topic.topicId);
    writer.writeCompactString(topic.topicName);
    writer.writeInt32(topic.numPartitions);
    writer.writeCompactArrayLength(0); // partitionRacks: Bunka's assignors are not rack-aware
    writer.writeEmptyTaggedFields();
  }
  return finish(writer);
}

export function encodeMemberMetadataValue(value: MemberMetadataValue): Uint8Array {
  const writer = valueWriter();
  writer.writeCompactNullableString(value.instanceId);
  writer.writeCompactNullableString(value.rackId);
  writer.writeCompactString(value.clientId);
  writer.writeCompactString(value.clientHost);
  writeStringArray(writer, value.subscribedTopicNames);
  writer.writeCompactNullableString(value.subscribedTopicRegex);
  writer.writeInt32(value.rebalanceTimeoutMs);
  writer.writeCompactNullableString(value.serverAssignor);
  if (!value.classic) return finish(writer);
  writer.writeUnsignedVarint(1); // one tagged field: ClassicMemberMetadata (tag 0)
  const start = writer.beginTaggedField(0);
  writer.writeInt32(value.classic.sessionTimeoutMs);
  writer.writeCompactArrayLength(value.classic.supportedProtocols.length);
  for (const protocol of value.classic.supportedProtocols) {
    writer.writeCompactString(protocol.name);
    writer.writeCompactBytes(protocol.metadata);
    writer.writeEmptyTaggedFields();
  }
  writer.writeEmptyTaggedFields();
  writer.endTaggedField(start);
  return copyBytes(writer.toUint8Array());
}

export function encodeTargetAssignmentMetadataValue(assignmentEpoch: number): Uint8Array {
  return encodeGroupEpochValue(assignmentEpoch); // the same shape: one int32
}

export function encodeTargetAssignmentMemberValue(topics: TopicPartitionIds[]): Uint8Array {
  const writer = valueWriter();
  writeTopicPartitions(writer, topics);
  return finish(writer);
}

export function encodeCurrentAssignmentValue(value: CurrentAssignmentValue): Uint8Array {
  const writer = valueWriter();
  writer.writeInt32(value.memberEpoch);
  writer.writeInt32(value.previousMemberEpoch);
  writer.writeInt8(STATE_BYTES[value.state]);
  writeTopicPartitions(writer, value.assigned);
  writeTopicPartitions(writer, value.pendingRevocation);
  return finish(writer);
}

// ---- decoding (values are views of a mapped segment: everything kept is copied) ----

function valueReader(bytes: Uint8Array): Reader | null {
  const reader = new Reader(bytes);
  return reader.readInt16() === VALUE_VERSION ? reader : null;
}

function readStringArray(reader: Reader): string[] {
  const count = reader.readCompactArrayLength();
  const values: string[] = [];
  for (let i = 0; i < count; i++) values.push(reader.readCompactString());
  return values;
}

function readTopicPartitions(reader: Reader): TopicPartitionIds[] {
  const count = reader.readCompactArrayLength();
  const topics: TopicPartitionIds[] = [];
  for (let i = 0; i < count; i++) {
    const topicId = copyBytes(reader.readUuid());
    const partitionCount = reader.readCompactArrayLength();
    const partitions: number[] = [];
    for (let j = 0; j < partitionCount; j++) partitions.push(reader.readInt32());
    reader.skipTaggedFields();
    topics.push({ topicId, partitions });
  }
  return topics;
}

/** The int32 of a ConsumerGroupMetadataValue or ConsumerGroupTargetAssignmentMetadataValue; null if not version 0. */
export function decodeEpochValue(bytes: Uint8Array): number | null {
  const reader = valueReader(bytes);
  return reader ? reader.readInt32() : null;
}

export function decodePartitionMetadataValue(bytes: Uint8Array): { epoch: number; topics: SubscribedTopicMetadata[] } | null {
  const reader = valueReader(bytes);
  if (!reader) return null;
  const epoch = reader.readInt32();
  const count = reader.readCompactArrayLength();
  const topics: SubscribedTopicMetadata[] = [];
  for (let i = 0; i < count; i++) {
    const topicId = copyBytes(reader.readUuid());
    const topicName = reader.readCompactString();
    const numPartitions = reader.readInt32();
    const racks = reader.readCompactArrayLength();
    for (let j = 0; j < racks; j++) {
      reader.readInt32();
      readStringArray(reader);
      reader.skipTaggedFields();
    }
    reader.skipTaggedFields();
    topics.push({ topicId, topicName, numPartitions });
  }
  return { epoch, topics };
}

export function decodeMemberMetadataValue(bytes: Uint8Array): MemberMetadataValue | null {
  const reader = valueReader(bytes);
  if (!reader) return null;
  const value: MemberMetadataValue = {
    instanceId: reader.readCompactNullableString(),
    rackId: reader.readCompactNullableString(),
    clientId: reader.readCompactString(),
    clientHost: reader.readCompactString(),
    subscribedTopicNames: readStringArray(reader),
    subscribedTopicRegex: reader.readCompactNullableString(),
    rebalanceTimeoutMs: reader.readInt32(),
    serverAssignor: reader.readCompactNullableString(),
  };
  reader.readTaggedFields((tag, _size, field) => {
    if (tag !== 0) return;
    const sessionTimeoutMs = field.readInt32();
    const count = field.readCompactArrayLength();
    const supportedProtocols: { name: string; metadata: Uint8Array }[] = [];
    for (let i = 0; i < count; i++) {
      supportedProtocols.push({ name: field.readCompactString(), metadata: copyBytes(field.readCompactBytes()) });
      field.skipTaggedFields();
    }
    field.skipTaggedFields();
    value.classic = { sessionTimeoutMs, supportedProtocols };
  });
  return value;
}

export function decodeTargetAssignmentMemberValue(bytes: Uint8Array): TopicPartitionIds[] | null {
  const reader = valueReader(bytes);
  return reader ? readTopicPartitions(reader) : null;
}

export function decodeCurrentAssignmentValue(bytes: Uint8Array): CurrentAssignmentValue | null {
  const reader = valueReader(bytes);
  if (!reader) return null;
  const memberEpoch = reader.readInt32();
  const previousMemberEpoch = reader.readInt32();
  const state = stateOf(reader.readInt8());
  const assigned = readTopicPartitions(reader);
  const pendingRevocation = readTopicPartitions(reader);
  return { memberEpoch, previousMemberEpoch, state, assigned, pendingRevocation };
}
