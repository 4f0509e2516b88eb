// What a consumer-protocol group writes to __consumer_offsets, and when (Kafka's GroupMetadataManager writes
// the same records as it changes a group): every heartbeat that changed something appends, in one batch, the
// records whose value changed since the last write, and the response waits for that append. A member that
// left gets tombstones for its three records; a deleted group for all of them.
//
// The group remembers what it wrote last per record key (a fingerprint of the value), so the diff is the
// group's three group-level records plus the records of the members marked dirty (those a heartbeat, a
// timer or a new target assignment touched): a steady heartbeat writes nothing.
import type { RecordInput } from "../../records/record.ts";
import { topicIdBytes } from "../../metadata/types.ts";
import { encodeGroupMetadataKey } from "../offsets-records.ts";
import type { Assignment } from "./assignors.ts";
import {
  ConsumerRecordType,
  encodeConsumerRecordKey,
  encodeCurrentAssignmentValue,
  encodeGroupEpochValue,
  encodeMemberMetadataValue,
  encodePartitionMetadataValue,
  encodeTargetAssignmentMemberValue,
  encodeTargetAssignmentMetadataValue,
  type SubscribedTopicMetadata,
  type TopicPartitionIds,
} from "./consumer-group-records.ts";
import type { ConsumerGroup, ConsumerMember } from "./consumer-group.ts";

export interface TopicLookup {
  get(name: string): { topicId: string } | undefined;
}

const MEMBER_RECORDS = [ConsumerRecordType.CurrentMemberAssignment, ConsumerRecordType.TargetAssignmentMember, ConsumerRecordType.MemberMetadata] as const;
const GROUP_RECORDS = [ConsumerRecordType.GroupMetadata, ConsumerRecordType.PartitionMetadata, ConsumerRecordType.TargetAssignmentMetadata] as const;

const keyId = (type: ConsumerRecordType, memberId = ""): string => `${type}:${memberId}`;
const fingerprint = (value: Uint8Array): string => Buffer.from(value.buffer, value.byteOffset, value.byteLength).toString("base64");

export function assignmentIds(assignment: Assignment | undefined, topics: TopicLookup): TopicPartitionIds[] {
  const result: TopicPartitionIds[] = [];
  for (const [name, partitions] of [...(assignment ?? [])].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) {
    const topic = topics.get(name);
    if (!topic || partitions.size === 0) continue;
    result.push({ topicId: topicIdBytes(topic.topicId), partitions: [...partitions].sort((a, b) => a - b) });
  }
  return result;
}

/** The subscribed topics the target was computed for, from the group's "name:count,..." signature. */
function subscribedTopicMetadata(group: ConsumerGroup, topics: TopicLookup): SubscribedTopicMetadata[] {
  if (group.subscriptionSignature === "") return [];
  const result: SubscribedTopicMetadata[] = [];
  for (const entry of group.subscriptionSignature.split(",")) {
    const separator = entry.lastIndexOf(":");
    const topicName = entry.slice(0, separator);
    const topic = topics.get(topicName);
    if (topic) result.push({ topicId: topicIdBytes(topic.topicId), topicName, numPartitions: Number(entry.slice(separator + 1)) });
  }
  return result;
}

function memberValue(type: ConsumerRecordType, group: ConsumerGroup, member: ConsumerMember, topics: TopicLookup): Uint8Array {
  switch (type) {
    case ConsumerRecordType.MemberMetadata:
      return encodeMemberMetadataValue({
        instanceId: member.instanceId,
        rackId: member.rackId,
        clientId: member.clientId,
        clientHost: member.clientHost,
        subscribedTopicNames: member.subscribedTopicNames,
        subscribedTopicRegex: member.subscribedTopicRegex,
        rebalanceTimeoutMs: member.rebalanceTimeoutMs,
        serverAssignor: member.serverAssignor,
        classic: member.classic ? { sessionTimeoutMs: member.classic.sessionTimeoutMs, supportedProtocols: member.classic.protocols } : null,
      });
    case ConsumerRecordType.TargetAssignmentMember:
      return encodeTargetAssignmentMemberValue(assignmentIds(group.targetAssignment.get(member.memberId), topics));
    default:
      return encodeCurrentAssignmentValue({
        memberEpoch: member.memberEpoch,
        previousMemberEpoch: member.previousMemberEpoch,
        state: member.state,
        assigned: assignmentIds(member.assigned, topics),
        pendingRevocation: assignmentIds(member.pendingRevocation, topics),
      });
  }
}

function groupValue(type: ConsumerRecordType, group: ConsumerGroup, topics: TopicLookup): Uint8Array {
  if (type === ConsumerRecordType.GroupMetadata) return encodeGroupEpochValue(group.groupEpoch);
  if (type === ConsumerRecordType.TargetAssignmentMetadata) return encodeTargetAssignmentMetadataValue(group.assignmentEpoch);
  return encodePartitionMetadataValue(group.groupEpoch, subscribedTopicMetadata(group, topics));
}

export interface PendingWrite {
  records: RecordInput[];
  /** Undoes the bookkeeping when the append fails, so that the next change writes these records again. */
  failed(): void;
  /** The append failed and the group was put back as it was before the change: what was written before stands. */
  reverted(): void;
}

/**
 * The records to append for the group's changes since its last write, the bookkeeping already updated (so a
 * concurrent heartbeat does not write them twice); null when nothing changed.
 */
export function takeChangedRecords(group: ConsumerGroup, topics: TopicLookup): PendingWrite | null {
  const records: RecordInput[] = [];
  const written: string[] = [];
  /** Fingerprint per key before this write (undefined: never written). */
  const previous = new Map<string, string | undefined>();
  const dirty = [...group.dirtyMembers];
  group.dirtyMembers.clear();
  const put = (type: ConsumerRecordType, memberId: string, value: Uint8Array | null) => {
    const id = keyId(type, memberId);
    const before = group.written.get(id);
    if (value === null) {
      if (!group.written.has(id)) return;
      group.written.delete(id);
    } else {
      const print = fingerprint(value);
      if (group.written.get(id) === print) return;
      group.written.set(id, print);
    }
    written.push(id);
    previous.set(id, before);
    records.push({ key: encodeConsumerRecordKey(type, group.groupId, memberId), value });
  };
  if (group.classicTombstonePending) {
    records.push({ key: encodeGroupMetadataKey(group.groupId), value: null });
    group.classicTombstonePending = false;
  }
  // Departed members first (Kafka's order), then members' metadata, the group's epoch and subscription,
  // the target and its epoch, and last where each member stands.
  for (const memberId of dirty) if (!group.members.has(memberId)) for (const type of MEMBER_RECORDS) put(type, memberId, null);
  const present = dirty.map((memberId) => group.members.get(memberId)).filter((member): member is ConsumerMember => member !== undefined);
  for (const member of present) put(ConsumerRecordType.MemberMetadata, member.memberId, memberValue(ConsumerRecordType.MemberMetadata, group, member, topics));
  put(ConsumerRecordType.GroupMetadata, "", groupValue(ConsumerRecordType.GroupMetadata, group, topics));
  put(ConsumerRecordType.PartitionMetadata, "", groupValue(ConsumerRecordType.PartitionMetadata, group, topics));
  for (const member of present) put(ConsumerRecordType.TargetAssignmentMember, member.memberId, memberValue(ConsumerRecordType.TargetAssignmentMember, group, member, topics));
  put(ConsumerRecordType.TargetAssignmentMetadata, "", groupValue(ConsumerRecordType.TargetAssignmentMetadata, group, topics));
  for (const member of present) put(ConsumerRecordType.CurrentMemberAssignment, member.memberId, memberValue(ConsumerRecordType.CurrentMemberAssignment, group, member, topics));
  if (records.length === 0) return null;
  return {
    records,
    failed: () => {
      // Forget what this batch claimed to write: the next change of the group writes it again.
      for (const id of written) group.written.set(id, "unwritten");
      for (const memberId of dirty) group.dirtyMembers.add(memberId);
    },
    reverted: () => {
      for (const [id, print] of previous) {
        if (print === undefined) group.written.delete(id);
        else group.written.set(id, print);
      }
      for (const memberId of dirty) group.dirtyMembers.add(memberId);
    },
  };
}

/** After a load: what the log holds is what the restored state encodes to, so nothing is written again. */
export function markAllWritten(group: ConsumerGroup, topics: TopicLookup): void {
  group.written.clear();
  for (const type of GROUP_RECORDS) group.written.set(keyId(type), fingerprint(groupValue(type, group, topics)));
  for (const member of group.members.values()) for (const type of MEMBER_RECORDS) group.written.set(keyId(type, member.memberId), fingerprint(memberValue(type, group, member, topics)));
  group.dirtyMembers.clear();
}

/** Tombstones for every record of the group (deleted, expired, or converted to the classic protocol). */
export function groupTombstones(group: ConsumerGroup): RecordInput[] {
  const records: RecordInput[] = [];
  const memberIds = new Set<string>(group.members.keys());
  for (const id of group.written.keys()) {
    const memberId = id.slice(id.indexOf(":") + 1);
    if (memberId !== "") memberIds.add(memberId);
  }
  for (const memberId of memberIds) for (const type of MEMBER_RECORDS) records.push({ key: encodeConsumerRecordKey(type, group.groupId, memberId), value: null });
  // The group's epoch record last: a load that sees it gone does not restore the group.
  for (const type of [ConsumerRecordType.TargetAssignmentMetadata, ConsumerRecordType.PartitionMetadata, ConsumerRecordType.GroupMetadata]) records.push({ key: encodeConsumerRecordKey(type, group.groupId), value: null });
  group.written.clear();
  return records;
}
