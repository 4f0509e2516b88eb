// The "consumer" embedded protocol (ConsumerProtocolSubscription / ConsumerProtocolAssignment): what
// consumers put into JoinGroup metadata and what the leader's assignor puts into SyncGroup. The broker
// treats these bytes as opaque except in three places: it checks the leader's assignment bytes before
// handing them out, it knows which partitions a member was assigned (OffsetCommit ownership), and which
// topics a group subscribes to (OffsetDelete, DescribeGroups tooling).
// Every payload starts with an int16 version. Newer versions only append fields, so a version above 3
// is read as version 3 and the rest ignored (Kafka's ConsumerProtocol does the same).
import { Reader } from "../protocol/codec/reader.ts";
import { Writer } from "../protocol/codec/writer.ts";
import {
  readConsumerProtocolAssignment,
  readConsumerProtocolSubscription,
  writeConsumerProtocolAssignment,
  writeConsumerProtocolSubscription,
  type ConsumerProtocolAssignment,
  type ConsumerProtocolSubscription,
} from "../protocol/generated/data.ts";

export const CONSUMER_PROTOCOL_TYPE = "consumer";
const HIGHEST_KNOWN_VERSION = 3;

/** The decoded assignment, or null when the bytes are not a consumer assignment. Empty bytes = nothing assigned. */
export function decodeAssignment(bytes: Uint8Array): ConsumerProtocolAssignment | null {
  if (bytes.byteLength === 0) return { assignedPartitions: [], userData: null };
  try {
    const reader = new Reader(bytes);
    const version = reader.readInt16();
    if (version < 0) return null;
    const assignment = readConsumerProtocolAssignment(reader, Math.min(version, HIGHEST_KNOWN_VERSION));
    for (const topicPartitions of assignment.assignedPartitions) {
      if (topicPartitions.topic.length === 0 || topicPartitions.partitions.some((partition) => partition < 0)) return null;
    }
    return assignment;
  } catch {
    return null;
  }
}

export function decodeSubscription(bytes: Uint8Array): ConsumerProtocolSubscription | null {
  try {
    const reader = new Reader(bytes);
    const version = reader.readInt16();
    if (version < 0) return null;
    return readConsumerProtocolSubscription(reader, Math.min(version, HIGHEST_KNOWN_VERSION));
  } catch {
    return null;
  }
}

/** "topic\0partition" keys of an assignment, or null when it does not decode. */
export function assignedPartitionKeys(bytes: Uint8Array): Set<string> | null {
  const assignment = decodeAssignment(bytes);
  if (!assignment) return null;
  const keys = new Set<string>();
  for (const { topic, partitions } of assignment.assignedPartitions) for (const partition of partitions) keys.add(`${topic}\u0000${partition}`);
  return keys;
}

export function encodeAssignment(assignment: Partial<ConsumerProtocolAssignment>, version = 0): Uint8Array {
  const writer = new Writer(64);
  writer.writeInt16(version);
  writeConsumerProtocolAssignment(writer, version, assignment);
  return new Uint8Array(writer.toUint8Array());
}

export function encodeSubscription(subscription: Partial<ConsumerProtocolSubscription>, version = 0): Uint8Array {
  const writer = new Writer(64);
  writer.writeInt16(version);
  writeConsumerProtocolSubscription(writer, version, subscription);
  return new Uint8Array(writer.toUint8Array());
}
