// Rebuilds the groups of one __consumer_offsets partition from its log, like Kafka's
// GroupMetadataManager.doLoadGroupsAndOffsets: records are applied in log order, the last value per key
// wins and a tombstone (null value) deletes. A group whose last metadata has members comes back Stable
// with those members and assignments (they keep heartbeating across a restart); otherwise Empty.
// Transactional offsets (TxnOffsetCommit: batches of the producer with the transactional attribute) are kept
// per producer until that producer's marker in this partition, as Kafka's loadGroupsAndOffsets does with its
// pendingOffsets: COMMIT applies each one unless a plain commit of the same group partition came later in the
// log (the later record wins, as compaction keeps it), ABORT discards them. Those still pending at the end
// belong to open transactions: they come back as pending (group/transactional-offsets.ts).
// Whatever cannot be read (a key or value that does not decode, a batch that fails its CRC or uses a codec
// Bunka cannot read) is skipped and counted, never a reason to fail the load: the groups it held lose
// those commits, every other group comes back.
import {
  ConsumerRecordType,
  decodeCurrentAssignmentValue,
  decodeEpochValue,
  decodeMemberMetadataValue,
  decodePartitionMetadataValue,
  decodeTargetAssignmentMemberValue,
  type CurrentAssignmentValue,
  type MemberMetadataValue,
  type SubscribedTopicMetadata,
  type TopicPartitionIds,
} from "./consumer-group/consumer-group-records.ts";
import { GroupMetadata, MemberMetadata } from "./group-metadata.ts";
import { decodeGroupMetadataValue, decodeKey, decodeOffsetCommitValue, type GroupMetadataValue } from "./offsets-records.ts";
import type { CommittedOffset, OffsetsStore, StoredMarker } from "./offsets-store.ts";

export interface LoadedGroups {
  groups: GroupMetadata[];
  offsets: number;
  records: number;
  /** Offsets of transactions still open at the log end, in log order. */
  pending: LoadedPendingOffset[];
  /** Consumer-protocol groups (KIP-848) as their records left them; their GroupMetadata is in `groups`. */
  consumerGroups: LoadedConsumerGroup[];
}

/** A consumer-protocol group's records (consumer-group/consumer-group-records.ts), last value per key. */
export interface LoadedConsumerGroup {
  groupId: string;
  groupEpoch: number;
  /** -1: no ConsumerGroupTargetAssignmentMetadata record. */
  assignmentEpoch: number;
  subscribedTopics: SubscribedTopicMetadata[];
  members: Map<string, LoadedConsumerMember>;
}

export interface LoadedConsumerMember {
  metadata: MemberMetadataValue | null;
  target: TopicPartitionIds[] | null;
  current: CurrentAssignmentValue | null;
}

interface ConsumerRecords {
  /** Log offset of the group's latest consumer-group record: against its classic metadata, the later one wins. */
  lastOffset: number;
  groupEpoch: number | null;
  assignmentEpoch: number;
  subscribedTopics: SubscribedTopicMetadata[];
  members: Map<string, LoadedConsumerMember>;
}

export interface LoadedPendingOffset {
  producerId: number;
  groupId: string;
  /** "topic\u0000partition" */
  key: string;
  committed: CommittedOffset;
  /** A plain commit of the same group partition is later in the log: a COMMIT will not apply this one. */
  superseded: boolean;
}

interface PendingRecord {
  committed: CommittedOffset;
  offset: number;
}

export async function loadGroups(store: OffsetsStore, partition: number, log: (message: string) => void): Promise<LoadedGroups> {
  const offsetsByGroup = new Map<string, Map<string, CommittedOffset>>();
  /** groupId → key → log offset of the record that set (or deleted) the group's committed offset. */
  const offsetPositions = new Map<string, Map<string, number>>();
  /** producer id → groupId → key → its latest transactional offset, until the producer's marker. */
  const pendingByProducer = new Map<number, Map<string, Map<string, PendingRecord>>>();
  const setPosition = (groupId: string, key: string, offset: number) => {
    let positions = offsetPositions.get(groupId);
    if (!positions) offsetPositions.set(groupId, (positions = new Map()));
    positions.set(key, offset);
  };
  const onMarker = ({ producerId, commit }: StoredMarker) => {
    const pending = pendingByProducer.get(producerId);
    if (!pending) return;
    pendingByProducer.delete(producerId);
    if (!commit) return;
    for (const [groupId, records] of pending) {
      for (const [key, { committed, offset }] of records) {
        // Kafka's completePendingTxnOffsetCommit: only over an offset written earlier in the log.
        if ((offsetPositions.get(groupId)?.get(key) ?? -1) > offset) continue;
        let offsets = offsetsByGroup.get(groupId);
        if (!offsets) offsetsByGroup.set(groupId, (offsets = new Map()));
        offsets.set(key, committed);
        setPosition(groupId, key, offset);
      }
    }
  };
  /** null = tombstoned (the group was deleted or expired). */
  const metadataByGroup = new Map<string, GroupMetadataValue | null>();
  /** Log offset of each group's latest classic metadata record (value or tombstone). */
  const metadataOffsets = new Map<string, number>();
  const consumerByGroup = new Map<string, ConsumerRecords>();
  let skipped = 0;
  let firstSkippedRecord: string | null = null;
  const loaded = await store.load(partition, ({ key, value, offset, transactionalProducerId }) => {
    if (!key) {
      skipped++;
      firstSkippedRecord ??= `a record without a key at offset ${offset}`;
      return;
    }
    let decodedKey;
    try {
      decodedKey = decodeKey(key);
    } catch {
      decodedKey = null;
    }
    if (!decodedKey) {
      skipped++;
      firstSkippedRecord ??= `a key it cannot read at offset ${offset}`;
      return;
    }
    if (decodedKey.kind === "offset") {
      const topicPartition = `${decodedKey.topic}\u0000${decodedKey.partition}`;
      let offsets = offsetsByGroup.get(decodedKey.group);
      if (value === null) {
        offsets?.delete(topicPartition);
        setPosition(decodedKey.group, topicPartition, offset);
        return;
      }
      const committed = safeDecode(() => decodeOffsetCommitValue(value));
      if (!committed) {
        skipped++;
        firstSkippedRecord ??= `an offset commit value it cannot read at offset ${offset}`;
        return;
      }
      if (transactionalProducerId >= 0) {
        let byGroup = pendingByProducer.get(transactionalProducerId);
        if (!byGroup) pendingByProducer.set(transactionalProducerId, (byGroup = new Map()));
        let records = byGroup.get(decodedKey.group);
        if (!records) byGroup.set(decodedKey.group, (records = new Map()));
        records.set(topicPartition, { committed, offset });
        return;
      }
      if (!offsets) offsetsByGroup.set(decodedKey.group, (offsets = new Map()));
      offsets.set(topicPartition, committed);
      setPosition(decodedKey.group, topicPartition, offset);
      return;
    }
    if (decodedKey.kind === "consumer") {
      let records = consumerByGroup.get(decodedKey.group);
      if (!records) consumerByGroup.set(decodedKey.group, (records = { lastOffset: offset, groupEpoch: null, assignmentEpoch: -1, subscribedTopics: [], members: new Map() }));
      records.lastOffset = offset;
      if (!applyConsumerRecord(records, decodedKey.type, decodedKey.memberId, value)) {
        skipped++;
        firstSkippedRecord ??= `a consumer group record (type ${decodedKey.type}) it cannot read at offset ${offset}`;
      }
      return;
    }
    metadataOffsets.set(decodedKey.group, offset);
    if (value === null) {
      metadataByGroup.set(decodedKey.group, null);
      return;
    }
    const metadata = safeDecode(() => decodeGroupMetadataValue(value));
    if (!metadata) {
      skipped++;
      firstSkippedRecord ??= `group metadata it cannot read at offset ${offset}`;
      return;
    }
    metadataByGroup.set(decodedKey.group, metadata);
  }, onMarker);
  // One line per partition however much is unreadable (a poisoned log must not flood the broker log).
  if (skipped > 0) log(`__consumer_offsets-${partition}: ${skipped} record(s) skipped while loading (first: ${firstSkippedRecord})`);
  if (loaded.skippedBatches > 0) log(`__consumer_offsets-${partition}: ${loaded.skippedBatches} unreadable batch(es) skipped while loading (first: ${loaded.firstSkipReason})`);
  if (loaded.stoppedAtOffset !== null)
    log(`__consumer_offsets-${partition}: loading stopped at offset ${loaded.stoppedAtOffset} (${loaded.firstSkipReason}); offsets committed after it are not restored`);
  const records = loaded.records;

  const groups: GroupMetadata[] = [];
  const consumerGroups: LoadedConsumerGroup[] = [];
  let offsetCount = 0;
  const groupIds = new Set([...offsetsByGroup.keys(), ...metadataByGroup.keys(), ...consumerByGroup.keys()]);
  for (const groupId of groupIds) {
    const offsets = offsetsByGroup.get(groupId);
    let metadata = metadataByGroup.get(groupId) ?? null;
    const consumer = consumerByGroup.get(groupId);
    // A group converted between protocols: the records written last are its current protocol (Kafka
    // tombstones the other protocol's records as it converts, so both are rarely present).
    const isConsumerGroup = consumer !== undefined && consumer.groupEpoch !== null && consumer.lastOffset > (metadataOffsets.get(groupId) ?? -1);
    if (isConsumerGroup) metadata = null;
    if (!metadata && !isConsumerGroup && (!offsets || offsets.size === 0)) continue;
    const group = metadata ? restoreGroup(groupId, metadata) : new GroupMetadata(groupId);
    if (isConsumerGroup) {
      group.protocolType = "consumer";
      consumerGroups.push({ groupId, groupEpoch: consumer.groupEpoch!, assignmentEpoch: consumer.assignmentEpoch, subscribedTopics: consumer.subscribedTopics, members: consumer.members });
    }
    for (const [topicPartition, committed] of offsets ?? []) group.offsets.set(topicPartition, committed);
    offsetCount += group.offsets.size;
    groups.push(group);
  }
  const pending: LoadedPendingOffset[] = [];
  for (const [producerId, byGroup] of pendingByProducer) {
    for (const [groupId, records] of byGroup) {
      for (const [key, { committed, offset }] of records) {
        pending.push({ producerId, groupId, key, committed, superseded: (offsetPositions.get(groupId)?.get(key) ?? -1) > offset });
      }
    }
  }
  return { groups, offsets: offsetCount, records, pending, consumerGroups };
}

/** Applies one consumer-group record (null value: a tombstone); false when the value does not decode. */
function applyConsumerRecord(records: ConsumerRecords, type: ConsumerRecordType, memberId: string, value: Uint8Array | null): boolean {
  if (type === ConsumerRecordType.MemberMetadata || type === ConsumerRecordType.TargetAssignmentMember || type === ConsumerRecordType.CurrentMemberAssignment) {
    let member = records.members.get(memberId);
    if (!member) records.members.set(memberId, (member = { metadata: null, target: null, current: null }));
    if (type === ConsumerRecordType.MemberMetadata) member.metadata = value === null ? null : safeDecode(() => decodeMemberMetadataValue(value));
    else if (type === ConsumerRecordType.TargetAssignmentMember) member.target = value === null ? null : safeDecode(() => decodeTargetAssignmentMemberValue(value));
    else member.current = value === null ? null : safeDecode(() => decodeCurrentAssignmentValue(value));
    if (!member.metadata && !member.target && !member.current) records.members.delete(memberId);
    return value === null || (type === ConsumerRecordType.MemberMetadata ? member.metadata : type === ConsumerRecordType.TargetAssignmentMember ? member.target : member.current) !== null;
  }
  if (type === ConsumerRecordType.GroupMetadata) {
    records.groupEpoch = value === null ? null : safeDecode(() => decodeEpochValue(value));
    return value === null || records.groupEpoch !== null;
  }
  if (type === ConsumerRecordType.TargetAssignmentMetadata) {
    const epoch = value === null ? -1 : safeDecode(() => decodeEpochValue(value));
    records.assignmentEpoch = epoch ?? -1;
    return epoch !== null;
  }
  const partitionMetadata = value === null ? { epoch: -1, topics: [] } : safeDecode(() => decodePartitionMetadataValue(value));
  records.subscribedTopics = partitionMetadata?.topics ?? [];
  return partitionMetadata !== null;
}

function safeDecode<T>(decode: () => T | null): T | null {
  try {
    return decode();
  } catch {
    return null;
  }
}

function restoreGroup(groupId: string, metadata: GroupMetadataValue): GroupMetadata {
  const group = new GroupMetadata(groupId);
  group.generationId = metadata.generation;
  group.protocolType = metadata.protocolType.length > 0 ? metadata.protocolType : null;
  if (metadata.currentStateTimestampMs > 0) group.stateTimestampMs = metadata.currentStateTimestampMs;
  if (metadata.members.length === 0 || metadata.protocol === null) return group;
  const protocolName = metadata.protocol;
  for (const stored of metadata.members) {
    const member = new MemberMetadata(
      stored.memberId,
      stored.groupInstanceId,
      stored.clientId,
      stored.clientHost,
      stored.rebalanceTimeoutMs,
      stored.sessionTimeoutMs,
      metadata.protocolType,
      // Only the selected protocol's metadata is stored (as Kafka does): a member rejoining with its full
      // protocol list therefore counts as changed, and the leader gets a fresh rebalance.
      [{ name: protocolName, metadata: stored.subscription }],
    );
    member.assignment = stored.assignment;
    group.add(member, null);
  }
  group.protocolName = protocolName;
  if (metadata.leader !== null && group.has(metadata.leader)) group.leaderId = metadata.leader;
  group.state = "Stable";
  return group;
}
