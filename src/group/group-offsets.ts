// Committed offsets and whole-group operations: OffsetCommit, OffsetFetch, OffsetDelete, DeleteGroups,
// DescribeGroups, ListGroups, and the periodic expiry of offsets of long-empty groups. After Kafka's
// GroupCoordinator.handleCommitOffsets / handleFetchOffsets / handleDeleteOffsets / handleDeleteGroups.
// A commit is one batch appended to the group's __consumer_offsets partition; memory changes only after
// the append is committed, so what OffsetFetch returns is always what a restarted broker would load.
import { ErrorCode } from "../protocol/errors.ts";
import type { RecordInput } from "../records/compression.ts";
import { assignedPartitionKeys, CONSUMER_PROTOCOL_TYPE, decodeSubscription, encodeAssignment, encodeSubscription } from "./consumer-protocol.ts";
import type { GroupCoordinatorConfig } from "./coordinator-config.ts";
import type { GroupMetadata, GroupState, MemberMetadata } from "./group-metadata.ts";
import { encodeGroupMetadataKey, encodeOffsetCommitKey, encodeOffsetCommitValue } from "./offsets-records.ts";
import { groupTombstones } from "./consumer-group/consumer-group-persistence.ts";
import type { CommittedOffset, OffsetsStore } from "./offsets-store.ts";
import type { GroupCoordinatorServices } from "./services.ts";
import { TransactionalOffsets, type StagedOffset } from "./transactional-offsets.ts";

/** Kafka's isValidGroupId: the membership APIs need a non-empty id; offsets, describe and delete accept "". */
export type GroupApiKind = "membership" | "offsets";

/**
 * What the offset APIs use of the coordinator (group-coordinator.ts implements it). An interface, so that the
 * coordinator, which owns a GroupOffsets, and this file do not import each other.
 */
export interface OffsetsCoordinator {
  readonly config: Pick<GroupCoordinatorConfig, "offsetMetadataMaxBytes" | "offsetsRetentionMs" | "transactionalOffsetsMax">;
  readonly services: Pick<GroupCoordinatorServices, "topics">;
  readonly store: Pick<OffsetsStore, "append" | "partitionFor">;
  readonly groups: Map<string, GroupMetadata>;
  readonly isActive: boolean;
  readonly isLoading: boolean;
  isPartitionLoaded(offsetsPartition: number): boolean;
  addGroup(groupId: string): GroupMetadata;
  coordinates(groupId: string): number;
  validateGroupStatus(groupId: string, kind: GroupApiKind): number;
  isStaticMemberFenced(group: GroupMetadata, memberId: string, groupInstanceId: string | null): boolean;
  scheduleHeartbeatExpiration(group: GroupMetadata, member: MemberMetadata, timeoutMs: number): void;
  log(message: string): void;
}

export interface CommitPartition {
  topic: string;
  partition: number;
  offset: number;
  leaderEpoch: number;
  metadata: string | null;
}

export interface CommitParams {
  groupId: string;
  memberId: string;
  groupInstanceId: string | null;
  /** -1: a commit from outside group management (admin tools, manually assigned consumers). */
  generationId: number;
  partitions: CommitPartition[];
  /** The OffsetCommit version: members of consumer-protocol groups must use v9+ (Kafka). */
  apiVersion?: number;
}

/** OffsetFetch v9+: the member asking, for consumer-protocol groups (null memberId: not a member). */
export interface FetchingMember {
  memberId: string | null;
  memberEpoch: number;
}

export interface FetchedPartition {
  partitionIndex: number;
  committedOffset: number;
  committedLeaderEpoch: number;
  metadata: string;
  errorCode: number;
}

export interface FetchedOffsets {
  errorCode: number;
  topics: { name: string; partitions: FetchedPartition[] }[];
}

export interface DescribedGroup {
  errorCode: number;
  groupId: string;
  groupState: string;
  protocolType: string;
  protocolData: string;
  members: { memberId: string; groupInstanceId: string | null; clientId: string; clientHost: string; memberMetadata: Uint8Array; memberAssignment: Uint8Array }[];
}

const EMPTY_BYTES = new Uint8Array(0);
export const topicPartitionKey = (topic: string, partition: number): string => `${topic}\u0000${partition}`;

/** Decoded "topic\0partition" sets per assignment buffer: members commit far more often than they are assigned. */
const ownedCache = new WeakMap<Uint8Array, Set<string> | null>();

function ownedKeys(assignment: Uint8Array): Set<string> | null {
  if (!ownedCache.has(assignment)) ownedCache.set(assignment, assignedPartitionKeys(assignment));
  return ownedCache.get(assignment)!;
}

/**
 * Partitions a member may commit: its current assignment and the one before (a cooperative consumer
 * commits revoked partitions after it got the new generation). null = not a consumer assignment: no check.
 */
function committablePartitions(member: MemberMetadata): Set<string> | null {
  const current = ownedKeys(member.assignment);
  const previous = ownedKeys(member.previousAssignment);
  if (!current || !previous) return null;
  if (previous.size === 0) return current;
  return new Set([...current, ...previous]);
}

/** How a failed commit append reaches clients (Kafka's GroupMetadataManager.storeOffsets). */
function commitError(errorCode: number): number {
  switch (errorCode) {
    case ErrorCode.UNKNOWN_TOPIC_OR_PARTITION:
    case ErrorCode.NOT_ENOUGH_REPLICAS:
    case ErrorCode.NOT_ENOUGH_REPLICAS_AFTER_APPEND:
    case ErrorCode.REQUEST_TIMED_OUT:
      return ErrorCode.COORDINATOR_NOT_AVAILABLE;
    case ErrorCode.NOT_LEADER_OR_FOLLOWER:
    case ErrorCode.KAFKA_STORAGE_ERROR:
      return ErrorCode.NOT_COORDINATOR;
    case ErrorCode.MESSAGE_TOO_LARGE:
    case ErrorCode.RECORD_LIST_TOO_LARGE:
    case ErrorCode.INVALID_FETCH_SIZE:
      return ErrorCode.INVALID_COMMIT_OFFSET_SIZE;
    default:
      return errorCode;
  }
}

/** TxnOffsetCommit: a commit inside the producer's transaction, pending until its marker (group/transactional-offsets.ts). */
export interface TransactionalCommitParams extends CommitParams {
  producerId: number;
  producerEpoch: number;
  /** KIP-890: asks the transaction coordinator whether the group's partition is in the producer's transaction. */
  verify: () => Promise<number>;
}

export class GroupOffsets {
  /** Offsets of open transactions (TxnOffsetCommit), visible once their COMMIT marker lands. */
  readonly transactional: TransactionalOffsets;
  /**
   * Markers written on a __consumer_offsets partition while it was being loaded (producer id → commit): the
   * load may have read the log before them, so they are applied again once it is in memory.
   */
  private readonly markersDuringLoad = new Map<number, Map<number, boolean>>();

  constructor(private readonly coordinator: OffsetsCoordinator) {
    this.transactional = new TransactionalOffsets(coordinator.config.transactionalOffsetsMax);
  }

  // ---- TxnOffsetCommit and the transaction's end ----

  /**
   * Appends the offsets to the group's __consumer_offsets partition as a transactional batch of the producer
   * (Kafka's storeOffsets with a producer id: no sequence, origin coordinator, acks=all) and keeps them
   * pending until the transaction's marker. One error code per partition, in request order. The group
   * checks are OffsetCommit's (a generation of -1 commits from outside group management).
   */
  async commitTransactional(params: TransactionalCommitParams): Promise<number[]> {
    const all = (errorCode: number) => params.partitions.map(() => errorCode);
    const coordinator = this.coordinator;
    const status = coordinator.validateGroupStatus(params.groupId, "offsets");
    if (status !== ErrorCode.NONE) return all(status);
    const group = coordinator.groups.get(params.groupId);
    if (group && params.generationId >= 0) {
      if (coordinator.isStaticMemberFenced(group, params.memberId, params.groupInstanceId)) return all(ErrorCode.FENCED_INSTANCE_ID);
      if (!group.get(params.memberId)) return all(ErrorCode.UNKNOWN_MEMBER_ID);
      if (params.generationId !== group.generationId) return all(ErrorCode.ILLEGAL_GENERATION);
    } else if (!group && params.generationId >= 0) {
      return all(ErrorCode.ILLEGAL_GENERATION);
    }
    const offsetsPartition = coordinator.store.partitionFor(params.groupId);
    const nowMs = Date.now();
    const errors = params.partitions.map(() => ErrorCode.NONE as number);
    const records: RecordInput[] = [];
    const staged: { index: number; key: string; entry: StagedOffset }[] = [];
    params.partitions.forEach((entry, index) => {
      const topic = coordinator.services.topics.get(entry.topic);
      const metadata = entry.metadata ?? "";
      if (!topic || entry.partition < 0 || entry.partition >= topic.partitions.length) errors[index] = ErrorCode.UNKNOWN_TOPIC_OR_PARTITION;
      else if (Buffer.byteLength(metadata) > coordinator.config.offsetMetadataMaxBytes) errors[index] = ErrorCode.OFFSET_METADATA_TOO_LARGE;
      else {
        const committed: CommittedOffset = { offset: entry.offset, leaderEpoch: entry.leaderEpoch, metadata, commitTimestampMs: nowMs };
        const key = topicPartitionKey(entry.topic, entry.partition);
        // Staged before the append, so a require_stable fetch meanwhile already sees the offset as unstable.
        const stagedEntry = this.transactional.stage(offsetsPartition, params.producerId, params.groupId, key, committed);
        if (!stagedEntry) {
          errors[index] = ErrorCode.INVALID_COMMIT_OFFSET_SIZE;
          return;
        }
        staged.push({ index, key, entry: stagedEntry });
        records.push({ key: encodeOffsetCommitKey(params.groupId, entry.topic, entry.partition), value: encodeOffsetCommitValue(committed), timestampMs: nowMs });
      }
    });
    if (records.length === 0) return errors;
    const errorCode = commitError(
      await coordinator.store.append(offsetsPartition, records, { producerId: params.producerId, producerEpoch: params.producerEpoch, verify: params.verify }),
    );
    for (const { index, key, entry } of staged) {
      errors[index] = errorCode;
      if (errorCode !== ErrorCode.NONE) this.transactional.unstage(offsetsPartition, params.producerId, params.groupId, key, entry);
    }
    return errors;
  }

  /**
   * The transaction of `producerId` ended on __consumer_offsets partition `offsetsPartition` (its marker was
   * written and committed): COMMIT makes what it staged the groups' committed offsets, ABORT drops it. The
   * records are already in the log, before the marker: a load replays the same (group-loader.ts).
   */
  completeTransaction(offsetsPartition: number, producerId: number, commit: boolean): void {
    if (!this.coordinator.isPartitionLoaded(offsetsPartition)) {
      // Being loaded (the marker is written here, so this broker leads it): the load may have read the log
      // before this marker; it is applied again after the load. One entry per producer; dropped at unload.
      let markers = this.markersDuringLoad.get(offsetsPartition);
      if (!markers) this.markersDuringLoad.set(offsetsPartition, (markers = new Map()));
      markers.set(producerId, commit);
      return;
    }
    this.applyTransactionEnd(offsetsPartition, producerId, commit);
  }

  /** After a partition's load: the markers written while it ran (see markersDuringLoad). */
  completeMarkersDuringLoad(offsetsPartition: number): void {
    const markers = this.markersDuringLoad.get(offsetsPartition);
    this.markersDuringLoad.delete(offsetsPartition);
    for (const [producerId, commit] of markers ?? []) this.applyTransactionEnd(offsetsPartition, producerId, commit);
  }

  /** The partition is no longer ours (or its load was dropped): forget the markers seen during its load. */
  forgetMarkersDuringLoad(offsetsPartition: number): void {
    this.markersDuringLoad.delete(offsetsPartition);
  }

  private applyTransactionEnd(offsetsPartition: number, producerId: number, commit: boolean): void {
    const staged = this.transactional.take(offsetsPartition, producerId);
    if (!commit) return;
    for (const [groupId, offsets] of staged) {
      const group = this.coordinator.groups.get(groupId) ?? this.coordinator.addGroup(groupId);
      for (const [key, { committed, superseded }] of offsets) if (!superseded) group.offsets.set(key, committed);
    }
  }

  // ---- OffsetCommit ----

  /** Resolves with one error code per partition, in request order. */
  async commit(params: CommitParams): Promise<number[]> {
    const all = (errorCode: number) => params.partitions.map(() => errorCode);
    const coordinator = this.coordinator;
    const status = coordinator.validateGroupStatus(params.groupId, "offsets");
    if (status !== ErrorCode.NONE) return all(status);
    let group = coordinator.groups.get(params.groupId);
    if (!group) {
      // A group unknown here with a generation is a commit from an older generation; without one, the
      // group only stores offsets in Kafka (no group management).
      if (params.generationId >= 0) return all(ErrorCode.ILLEGAL_GENERATION);
      group = coordinator.addGroup(params.groupId);
    }
    if (group.is("Dead")) return all(ErrorCode.COORDINATOR_NOT_AVAILABLE);
    if (group.consumerGroup) return this.commitToConsumerGroup(group, params);
    if (coordinator.isStaticMemberFenced(group, params.memberId, params.groupInstanceId)) return all(ErrorCode.FENCED_INSTANCE_ID);
    if (params.generationId < 0 && group.is("Empty")) return this.storeOffsets(group, params.partitions, null);
    const member = group.get(params.memberId);
    if (!member) return all(ErrorCode.UNKNOWN_MEMBER_ID);
    if (params.generationId !== group.generationId) return all(ErrorCode.ILLEGAL_GENERATION);
    if (group.is("CompletingRebalance")) return all(ErrorCode.REBALANCE_IN_PROGRESS);
    // Stable, or PreparingRebalance: members may commit what they consumed before they rejoin.
    coordinator.scheduleHeartbeatExpiration(group, member, member.sessionTimeoutMs);
    const owned = group.protocolType === CONSUMER_PROTOCOL_TYPE ? committablePartitions(member) : null;
    return this.storeOffsets(group, params.partitions, owned);
  }

  /**
   * A commit to a consumer-protocol group (Kafka's ConsumerGroup.validateOffsetCommit): epoch -1 only while
   * the group has no member; a member must use OffsetCommit v9+ and its current member epoch
   * (STALE_MEMBER_EPOCH otherwise: it heartbeats and commits again).
   */
  private commitToConsumerGroup(group: GroupMetadata, params: CommitParams): Promise<number[]> | number[] {
    const all = (errorCode: number) => params.partitions.map(() => errorCode);
    const consumerGroup = group.consumerGroup!;
    if (params.generationId < 0 && consumerGroup.members.size === 0) return this.storeOffsets(group, params.partitions, null);
    const member = consumerGroup.members.get(params.memberId);
    if (!member) return all(ErrorCode.UNKNOWN_MEMBER_ID);
    // A classic member of an upgraded group commits as in a classic group: its generation is its member epoch.
    if (member.classic) return params.generationId === member.memberEpoch ? this.storeOffsets(group, params.partitions, null) : all(ErrorCode.ILLEGAL_GENERATION);
    if (params.apiVersion !== undefined && params.apiVersion < 9) return all(ErrorCode.UNSUPPORTED_VERSION);
    if (params.generationId !== member.memberEpoch) return all(ErrorCode.STALE_MEMBER_EPOCH);
    return this.storeOffsets(group, params.partitions, null);
  }

  private async storeOffsets(group: GroupMetadata, partitions: CommitPartition[], owned: Set<string> | null): Promise<number[]> {
    const coordinator = this.coordinator;
    const errors = partitions.map(() => ErrorCode.NONE as number);
    const records: RecordInput[] = [];
    const accepted: { index: number; key: string; committed: CommittedOffset }[] = [];
    const nowMs = Date.now();
    partitions.forEach((entry, index) => {
      const topic = coordinator.services.topics.get(entry.topic);
      const metadata = entry.metadata ?? "";
      if (!topic || entry.partition < 0 || entry.partition >= topic.partitions.length) errors[index] = ErrorCode.UNKNOWN_TOPIC_OR_PARTITION;
      else if (Buffer.byteLength(metadata) > coordinator.config.offsetMetadataMaxBytes) errors[index] = ErrorCode.OFFSET_METADATA_TOO_LARGE;
      // Not in Kafka: a member of a consumer group commits only partitions it was assigned (in this or the
      // previous generation). Anything else means its view of the group is stale: it must rejoin.
      else if (owned && !owned.has(topicPartitionKey(entry.topic, entry.partition))) errors[index] = ErrorCode.ILLEGAL_GENERATION;
      else {
        const committed: CommittedOffset = { offset: entry.offset, leaderEpoch: entry.leaderEpoch, metadata, commitTimestampMs: nowMs };
        records.push({ key: encodeOffsetCommitKey(group.groupId, entry.topic, entry.partition), value: encodeOffsetCommitValue(committed), timestampMs: nowMs });
        accepted.push({ index, key: topicPartitionKey(entry.topic, entry.partition), committed });
      }
    });
    if (records.length === 0) return errors;
    group.pendingAppends++;
    let errorCode: number;
    try {
      errorCode = commitError(await coordinator.store.append(coordinator.store.partitionFor(group.groupId), records));
    } finally {
      group.pendingAppends--;
    }
    // Appends to one partition complete in log order, so applying them in completion order keeps memory
    // equal to what a replay of the log gives. A group deleted meanwhile keeps its tombstones.
    const live = coordinator.groups.get(group.groupId) === group && !group.is("Dead");
    const offsetsPartition = coordinator.store.partitionFor(group.groupId);
    for (const { index, key, committed } of accepted) {
      errors[index] = errorCode;
      if (errorCode !== ErrorCode.NONE) continue;
      if (live) group.offsets.set(key, committed);
      // This record is later in the log than any transactional offset pending for the partition.
      this.transactional.supersede(offsetsPartition, group.groupId, key);
    }
    return errors;
  }

  // ---- OffsetFetch ----

  /** `topics` null = every partition the group has an offset for. Unknown partitions answer offset -1. */
  fetch(groupId: string, topics: { name: string; partitions: number[] }[] | null, requireStable = false, fetchingMember: FetchingMember | null = null): FetchedOffsets {
    const status = this.coordinator.validateGroupStatus(groupId, "offsets");
    if (status !== ErrorCode.NONE) return { errorCode: status, topics: [] };
    const group = this.coordinator.groups.get(groupId);
    // OffsetFetch v9 from a member of a consumer-protocol group: it must be a member at its current epoch.
    if (fetchingMember && fetchingMember.memberId !== null && group?.consumerGroup) {
      const member = group.consumerGroup.members.get(fetchingMember.memberId);
      if (!member) return { errorCode: ErrorCode.UNKNOWN_MEMBER_ID, topics: [] };
      if (member.memberEpoch !== fetchingMember.memberEpoch) return { errorCode: ErrorCode.STALE_MEMBER_EPOCH, topics: [] };
    }
    const answer = (partitionIndex: number, committed: CommittedOffset | undefined, name = ""): FetchedPartition =>
      // require_stable (KIP-447): an offset an open transaction may still change is not given out.
      requireStable && this.transactional.isPending(groupId, topicPartitionKey(name, partitionIndex))
        ? { partitionIndex, committedOffset: -1, committedLeaderEpoch: -1, metadata: "", errorCode: ErrorCode.UNSTABLE_OFFSET_COMMIT }
        : committed
        ? { partitionIndex, committedOffset: committed.offset, committedLeaderEpoch: committed.leaderEpoch, metadata: committed.metadata, errorCode: ErrorCode.NONE }
        : { partitionIndex, committedOffset: -1, committedLeaderEpoch: -1, metadata: "", errorCode: ErrorCode.NONE };
    if (topics === null) {
      const byTopic = new Map<string, FetchedPartition[]>();
      for (const [key, committed] of group?.offsets ?? []) {
        const separator = key.lastIndexOf("\u0000");
        const name = key.slice(0, separator);
        let partitions = byTopic.get(name);
        if (!partitions) byTopic.set(name, (partitions = []));
        partitions.push(answer(Number(key.slice(separator + 1)), committed, name));
      }
      return { errorCode: ErrorCode.NONE, topics: [...byTopic].map(([name, partitions]) => ({ name, partitions: partitions.sort((a, b) => a.partitionIndex - b.partitionIndex) })) };
    }
    return {
      errorCode: ErrorCode.NONE,
      topics: topics.map(({ name, partitions }) => ({ name, partitions: partitions.map((partition) => answer(partition, group?.offsets.get(topicPartitionKey(name, partition)), name)) })),
    };
  }

  // ---- OffsetDelete ----

  async deleteOffsets(groupId: string, partitions: { topic: string; partition: number }[]): Promise<{ errorCode: number; errors: number[] }> {
    const coordinator = this.coordinator;
    const status = coordinator.validateGroupStatus(groupId, "membership");
    if (status !== ErrorCode.NONE) return { errorCode: status, errors: [] };
    const group = coordinator.groups.get(groupId);
    if (!group || group.is("Dead")) return { errorCode: ErrorCode.GROUP_ID_NOT_FOUND, errors: [] };
    if (group.protocolType !== null && group.protocolType !== CONSUMER_PROTOCOL_TYPE && !group.is("Empty")) return { errorCode: ErrorCode.NON_EMPTY_GROUP, errors: [] };
    const subscribed = group.hasNoMembers ? new Set<string>() : group.consumerGroup ? consumerGroupTopics(group, partitions.map(({ topic }) => topic)) : subscribedTopics(group);
    const errors = partitions.map(() => ErrorCode.NONE as number);
    const doomed: { index: number; key: string }[] = [];
    partitions.forEach(({ topic, partition }, index) => {
      const metadata = coordinator.services.topics.get(topic);
      if (!metadata || partition < 0 || partition >= metadata.partitions.length) errors[index] = ErrorCode.UNKNOWN_TOPIC_OR_PARTITION;
      else if (subscribed === null || subscribed.has(topic)) errors[index] = ErrorCode.GROUP_SUBSCRIBED_TO_TOPIC;
      else doomed.push({ index, key: topicPartitionKey(topic, partition) });
    });
    const present = doomed.filter(({ key }) => group.offsets.has(key));
    if (present.length > 0) {
      const records = present.map(({ key }) => {
        const separator = key.lastIndexOf("\u0000");
        return { key: encodeOffsetCommitKey(groupId, key.slice(0, separator), Number(key.slice(separator + 1))), value: null };
      });
      const errorCode = commitError(await coordinator.store.append(coordinator.store.partitionFor(groupId), records));
      for (const { index, key } of present) {
        errors[index] = errorCode;
        if (errorCode === ErrorCode.NONE) group.offsets.delete(key);
      }
    }
    return { errorCode: ErrorCode.NONE, errors };
  }

  // ---- DeleteGroups ----

  async deleteGroups(groupIds: string[]): Promise<{ groupId: string; errorCode: number }[]> {
    const coordinator = this.coordinator;
    const results = new Map<string, number>();
    const doomed: GroupMetadata[] = [];
    for (const groupId of new Set(groupIds)) {
      const status = coordinator.validateGroupStatus(groupId, "offsets");
      if (status !== ErrorCode.NONE) {
        results.set(groupId, status);
        continue;
      }
      const group = coordinator.groups.get(groupId);
      if (!group || group.is("Dead")) results.set(groupId, ErrorCode.GROUP_ID_NOT_FOUND);
      else if (!group.hasNoMembers) results.set(groupId, ErrorCode.NON_EMPTY_GROUP);
      else {
        group.transitionTo("Dead");
        coordinator.groups.delete(groupId);
        doomed.push(group);
      }
    }
    const errorsByGroup = await this.writeTombstones(doomed, (group) => [...group.offsets.keys()]);
    for (const group of doomed) {
      const errorCode = errorsByGroup.get(group.groupId) ?? ErrorCode.NONE;
      results.set(group.groupId, errorCode);
      coordinator.log(`group ${group.groupId} deleted with ${group.offsets.size} committed offset(s)${errorCode === ErrorCode.NONE ? "" : ` (tombstones failed: error ${errorCode})`}`);
    }
    return groupIds.map((groupId) => ({ groupId, errorCode: results.get(groupId) ?? ErrorCode.NONE }));
  }

  /** Tombstones for each group's metadata and the given offsets, one batch per __consumer_offsets partition. */
  private async writeTombstones(groups: GroupMetadata[], offsetKeys: (group: GroupMetadata) => string[], withGroupKey = true): Promise<Map<string, number>> {
    const store = this.coordinator.store;
    const byPartition = new Map<number, { groups: GroupMetadata[]; records: RecordInput[] }>();
    for (const group of groups) {
      const partition = store.partitionFor(group.groupId);
      let entry = byPartition.get(partition);
      if (!entry) byPartition.set(partition, (entry = { groups: [], records: [] }));
      entry.groups.push(group);
      if (withGroupKey) entry.records.push({ key: encodeGroupMetadataKey(group.groupId), value: null });
      if (withGroupKey && group.consumerGroup) entry.records.push(...groupTombstones(group.consumerGroup));
      for (const key of offsetKeys(group)) {
        const separator = key.lastIndexOf("\u0000");
        entry.records.push({ key: encodeOffsetCommitKey(group.groupId, key.slice(0, separator), Number(key.slice(separator + 1))), value: null });
      }
    }
    const errors = new Map<string, number>();
    await Promise.all(
      [...byPartition].map(async ([partition, entry]) => {
        const errorCode = entry.records.length > 0 ? commitError(await store.append(partition, entry.records)) : ErrorCode.NONE;
        for (const group of entry.groups) errors.set(group.groupId, errorCode);
      }),
    );
    return errors;
  }

  // ---- DescribeGroups / ListGroups ----

  describe(groupId: string): DescribedGroup {
    const status = this.coordinator.validateGroupStatus(groupId, "offsets");
    const described: DescribedGroup = { errorCode: status, groupId, groupState: "", protocolType: "", protocolData: "", members: [] };
    if (status !== ErrorCode.NONE) return described;
    const group = this.coordinator.groups.get(groupId);
    if (!group) return { ...described, groupState: "Dead" };
    if (group.consumerGroup) {
      // A consumer-protocol group as DescribeGroups shows it (Kafka's ConsumerGroup.asDescribedGroup): members
      // with their subscription and current assignment in the classic consumer protocol's encoding.
      const consumerGroup = group.consumerGroup;
      return {
        errorCode: ErrorCode.NONE,
        groupId,
        groupState: consumerGroup.state,
        protocolType: CONSUMER_PROTOCOL_TYPE,
        protocolData: consumerGroup.assignorName,
        members: [...consumerGroup.members.values()].map((member) => ({
          memberId: member.memberId,
          groupInstanceId: member.instanceId,
          clientId: member.clientId,
          clientHost: member.clientHost,
          memberMetadata: encodeSubscription({ topics: member.subscribedTopicNames, userData: null, ownedPartitions: [] }),
          memberAssignment: encodeAssignment({ assignedPartitions: [...member.assigned].map(([topic, partitions]) => ({ topic, partitions: [...partitions].sort((a, b) => a - b) })), userData: null }),
        })),
      };
    }
    const stable = group.is("Stable");
    return {
      errorCode: ErrorCode.NONE,
      groupId,
      groupState: group.state,
      protocolType: group.protocolType ?? "",
      // Kafka reports the protocol, metadata and assignments only of a stable group.
      protocolData: stable ? (group.protocolName ?? "") : "",
      members: [...group.members.values()].map((member) => ({
        memberId: member.memberId,
        groupInstanceId: member.groupInstanceId,
        clientId: member.clientId,
        clientHost: member.clientHost,
        memberMetadata: stable ? member.metadataFor(group.protocolName ?? "") : EMPTY_BYTES,
        memberAssignment: stable ? member.assignment : EMPTY_BYTES,
      })),
    };
  }

  /** `typesFilter` (ListGroups v5, KIP-848): "classic" and/or "consumer", case-insensitive; empty = all. */
  list(statesFilter: string[], typesFilter: string[] = []): { errorCode: number; groups: { groupId: string; protocolType: string; groupState: string; groupType: string }[] } {
    if (!this.coordinator.isActive) return { errorCode: ErrorCode.COORDINATOR_NOT_AVAILABLE, groups: [] };
    const states = new Set(statesFilter.map((state) => state.toLowerCase()));
    const types = new Set(typesFilter.map((type) => type.toLowerCase()));
    const groups = [...this.coordinator.groups.values()]
      .filter((group) => !group.is("Dead") && this.coordinator.coordinates(group.groupId) === ErrorCode.NONE)
      .map((group) => ({
        groupId: group.groupId,
        protocolType: group.consumerGroup ? CONSUMER_PROTOCOL_TYPE : (group.protocolType ?? ""),
        groupState: group.consumerGroup ? group.consumerGroup.state : (group.state as GroupState),
        groupType: group.consumerGroup ? "consumer" : "classic",
      }))
      .filter((group) => states.size === 0 || states.has(group.groupState.toLowerCase()))
      .filter((group) => types.size === 0 || types.has(group.groupType));
    return { errorCode: this.coordinator.isLoading ? ErrorCode.COORDINATOR_LOAD_IN_PROGRESS : ErrorCode.NONE, groups };
  }

  private partitionExists(key: string): boolean {
    const separator = key.lastIndexOf("\u0000");
    const topic = this.coordinator.services.topics.get(key.slice(0, separator));
    return topic !== undefined && Number(key.slice(separator + 1)) < topic.partitions.length;
  }

  // ---- expiry (offsets.retention.minutes, KIP-211) ----

  /**
   * Offsets of a consumer group expire once it has been Empty for the retention time; offsets committed
   * outside group management expire one by one, retention after their commit. Offsets of topics that were
   * deleted go in any group state. An Empty group left with no offsets is removed (tombstoned), so groups
   * that came and went do not accumulate.
   */
  async expireOffsetsAndGroups(nowMs = Date.now()): Promise<void> {
    const coordinator = this.coordinator;
    const retentionMs = coordinator.config.offsetsRetentionMs;
    const expiredOffsets = new Map<GroupMetadata, string[]>();
    const removed: GroupMetadata[] = [];
    for (const group of coordinator.groups.values()) {
      if (group.pendingAppends > 0 || coordinator.coordinates(group.groupId) !== ErrorCode.NONE) continue;
      const keys: string[] = [];
      const empty = group.hasNoMembers && group.pendingMembers.size === 0;
      const wholeGroupExpired = empty && group.protocolType !== null && nowMs - group.stateTimestampMs >= retentionMs;
      for (const [key, committed] of group.offsets) {
        const expired = wholeGroupExpired || (empty && group.protocolType === null && nowMs - committed.commitTimestampMs >= retentionMs);
        // Offsets of deleted topics (or partitions) go too, in any state, as Kafka's handleDeletedPartitions.
        if (expired || !this.partitionExists(key)) keys.push(key);
      }
      if (empty && keys.length === group.offsets.size) removed.push(group);
      else if (keys.length > 0) expiredOffsets.set(group, keys);
    }
    for (const group of removed) {
      group.transitionTo("Dead");
      coordinator.groups.delete(group.groupId);
    }
    const [removedErrors] = await Promise.all([
      this.writeTombstones(removed, (group) => [...group.offsets.keys()]),
      this.writeTombstones([...expiredOffsets.keys()], (group) => expiredOffsets.get(group)!, false).then((errors) => {
        for (const [group, keys] of expiredOffsets) if ((errors.get(group.groupId) ?? ErrorCode.NONE) === ErrorCode.NONE) for (const key of keys) group.offsets.delete(key);
      }),
    ]);
    const expiredCount = [...expiredOffsets.values()].reduce((sum, keys) => sum + keys.length, 0) + removed.reduce((sum, group) => sum + group.offsets.size, 0);
    if (removed.length > 0 || expiredCount > 0) {
      const failed = [...removedErrors.values()].filter((errorCode) => errorCode !== ErrorCode.NONE).length;
      coordinator.log(`expired ${expiredCount} committed offset(s); removed ${removed.length} empty group(s)${failed > 0 ? ` (${failed} tombstone append(s) failed)` : ""}`);
    }
  }
}

/** Of `topics`, those a member of a consumer-protocol group subscribes to (by name or regex). */
function consumerGroupTopics(group: GroupMetadata, topics: string[]): Set<string> {
  const consumerGroup = group.consumerGroup!;
  const subscribed = consumerGroup.subscribedTopicNames();
  for (const member of consumerGroup.members.values()) if (member.regex) for (const topic of topics) if (member.regex.test(topic)) subscribed.add(topic);
  return subscribed;
}

/** Topics any member of a consumer group subscribes to; null when a subscription does not decode (assume all). */
function subscribedTopics(group: GroupMetadata): Set<string> | null {
  if (group.protocolType !== CONSUMER_PROTOCOL_TYPE) return new Set();
  const topics = new Set<string>();
  for (const member of group.members.values()) {
    const subscription = decodeSubscription(member.metadataFor(group.protocolName ?? member.protocols[0]?.name ?? ""));
    if (!subscription) return null;
    for (const topic of subscription.topics) topics.add(topic);
  }
  return topics;
}
