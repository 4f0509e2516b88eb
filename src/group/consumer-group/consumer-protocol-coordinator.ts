// ConsumerGroupHeartbeat and ConsumerGroupDescribe (KIP-848), after Kafka's
// GroupMetadataManager.consumerGroupHeartbeat: a member joins with epoch 0, heartbeats with its epoch, and
// leaves with -1 (a static member with -2, keeping its partitions until its session ends). Every change of
// members, subscriptions or subscribed topics bumps the group epoch; the target assignment is then computed
// again by the group's server-side assignor, and each member reconciles towards its target at its own
// heartbeats (reconciliation.ts: revoke first, then receive what the previous owner released).
//
// Each member has a session timer (group.consumer.session.timeout.ms) restarted by every heartbeat, and a
// revocation timer (its rebalance timeout) while it must give partitions up: either expiring removes it.
//
// Every change is written to __consumer_offsets in Kafka's records (consumer-group-persistence.ts) before the
// heartbeat is answered; a coordinator that loads the partition restores the groups from them (restore()),
// members keep their epochs and assignments and heartbeat on as if nothing happened. A failed append answers
// the heartbeat with the append's error and puts the group back as it was before the heartbeat (Kafka reverts
// its timeline snapshot), so the member retries from where it stood.
import { randomUUID } from "node:crypto";
import type { RecordInput } from "../../records/record.ts";
import { ErrorCode } from "../../protocol/errors.ts";
import { topicIdBytes } from "../../metadata/types.ts";
import type { GroupCoordinatorConfig } from "../coordinator-config.ts";
import type { GroupMetadata } from "../group-metadata.ts";
import type { GroupApiKind } from "../group-offsets.ts";
import type { GroupCoordinatorServices } from "../services.ts";
import type { LoadedConsumerGroup } from "../group-loader.ts";
import { assignorByName, type Assignment } from "./assignors.ts";
import { ConsumerGroup, LEAVE_GROUP_MEMBER_EPOCH, LEAVE_GROUP_STATIC_MEMBER_EPOCH, partitionKey, snapshotGroup, type ConsumerMember } from "./consumer-group.ts";
import { markAllWritten, takeChangedRecords } from "./consumer-group-persistence.ts";
import type { TopicPartitionIds as StoredTopicPartitions } from "./consumer-group-records.ts";
import { assignmentsEqual, copyAssignment, reconcile } from "./reconciliation.ts";
import { CONSUMER_PROTOCOL_TYPE, decodeAssignment, decodeSubscription, encodeAssignment } from "../consumer-protocol.ts";
import { compileSubscriptionRegex } from "./subscription-regex.ts";

/** What this file uses of the group coordinator (an interface, so the two do not import each other). */
export interface ConsumerGroupHost {
  readonly config: Pick<GroupCoordinatorConfig, "consumer" | "groupMinSessionTimeoutMs" | "groupMaxSessionTimeoutMs" | "groupMaxSize">;
  readonly services: Pick<GroupCoordinatorServices, "topics">;
  readonly groups: Map<string, GroupMetadata>;
  readonly isActive: boolean;
  validateGroupStatus(groupId: string, kind: GroupApiKind): number;
  addGroup(groupId: string): GroupMetadata;
  /** Appends to the group's __consumer_offsets partition; the error as a group API answers it. */
  appendGroupRecords(groupId: string, records: RecordInput[]): Promise<number>;
  /** Clears a classic group's timers and parked requests before it is converted. */
  releaseClassicGroup(group: GroupMetadata): void;
  /**
   * Turns a consumer group whose members all speak the classic protocol back into a classic group: rebalancing
   * (after a departure), or Stable at once (a classic static member replaced the last consumer-protocol one).
   */
  downgradeToClassic(group: GroupMetadata, rebalance?: boolean): Promise<number>;
  log(message: string): void;
}

export interface ClassicJoinParams {
  memberId: string;
  groupInstanceId: string | null;
  requireKnownMemberId: boolean;
  clientId: string;
  clientHost: string;
  rebalanceTimeoutMs: number;
  sessionTimeoutMs: number;
  protocolType: string;
  protocols: { name: string; metadata: Uint8Array }[];
}

export interface ClassicJoinResult {
  errorCode: number;
  generationId: number;
  protocolName: string;
  leader: string;
  memberId: string;
  members: { memberId: string; groupInstanceId: string | null; metadata: Uint8Array }[];
}

export interface TopicPartitionsById {
  topicId: Uint8Array;
  partitions: number[];
}

export interface ConsumerHeartbeatParams {
  apiVersion: number;
  groupId: string;
  memberId: string;
  memberEpoch: number;
  instanceId: string | null;
  rackId: string | null;
  rebalanceTimeoutMs: number;
  subscribedTopicNames: string[] | null;
  subscribedTopicRegex: string | null;
  serverAssignor: string | null;
  topicPartitions: TopicPartitionsById[] | null;
  clientId: string;
  clientHost: string;
}

export interface ConsumerHeartbeatResult {
  errorCode: number;
  errorMessage: string | null;
  memberId: string | null;
  memberEpoch: number;
  heartbeatIntervalMs: number;
  assignment: { topicPartitions: TopicPartitionsById[] } | null;
}

export interface DescribedConsumerGroup {
  errorCode: number;
  errorMessage: string | null;
  groupId: string;
  groupState: string;
  groupEpoch: number;
  assignmentEpoch: number;
  assignorName: string;
  members: {
    memberId: string;
    instanceId: string | null;
    rackId: string | null;
    memberEpoch: number;
    clientId: string;
    clientHost: string;
    subscribedTopicNames: string[];
    subscribedTopicRegex: string | null;
    assignment: { topicPartitions: { topicId: Uint8Array; topicName: string; partitions: number[] }[] };
    targetAssignment: { topicPartitions: { topicId: Uint8Array; topicName: string; partitions: number[] }[] };
  }[];
}

/** Subscribed topics are looked up again at most this often per group (Kafka refreshes on a deadline too). */
const METADATA_REFRESH_INTERVAL_MS = 1000;

class HeartbeatError extends Error {
  constructor(
    readonly errorCode: number,
    message: string | null = null,
  ) {
    super(message ?? String(errorCode));
  }
}

export class ConsumerProtocolCoordinator {
  private readonly lastRefreshMs = new WeakMap<ConsumerGroup, number>();
  /** Group id → the change of the group still being written (exclusive()). */
  private readonly pending = new Map<string, Promise<void>>();

  constructor(private readonly host: ConsumerGroupHost) {}

  private get config() {
    return this.host.config.consumer;
  }

  /** Consumer-protocol groups with members or state in memory (bounded by group.consumer.max.groups). */
  private consumerGroupCount(): number {
    let count = 0;
    for (const group of this.host.groups.values()) if (group.consumerGroup) count++;
    return count;
  }

  /**
   * Answered once the records of whatever the heartbeat changed are in __consumer_offsets. A failed write
   * leaves the group as it was before the heartbeat (Kafka reverts to its timeline snapshot): the member gets
   * the error and retries from where it stood. The group's changes are applied one at a time (exclusive()),
   * so that the snapshot a failed write goes back to holds no other request's change.
   */
  heartbeat(params: ConsumerHeartbeatParams): ConsumerHeartbeatResult | Promise<ConsumerHeartbeatResult> {
    return this.exclusive(params.groupId, () => this.heartbeatNow(params));
  }

  private heartbeatNow(params: ConsumerHeartbeatParams): ConsumerHeartbeatResult | Promise<ConsumerHeartbeatResult> {
    const undo = this.undoPoint(params.groupId);
    let result: ConsumerHeartbeatResult;
    try {
      result = this.doHeartbeat(params);
    } catch (error) {
      if (!(error instanceof HeartbeatError)) throw error;
      result = heartbeatError(error.errorCode, error.message === String(error.errorCode) ? null : error.message);
    }
    const group = this.host.isActive ? this.host.groups.get(params.groupId)?.consumerGroup : undefined;
    const written = group ? this.persist(group, undo) : null;
    if (!written) return result;
    return written.then((errorCode) => (errorCode === ErrorCode.NONE || result.errorCode !== ErrorCode.NONE ? result : heartbeatError(errorCode, null)));
  }

  /** Runs the group's changes one after another: a change whose write is in flight delays the next one. */
  private exclusive<T>(groupId: string, operation: () => T | Promise<T>): T | Promise<T> {
    const tail = this.pending.get(groupId);
    const result = tail ? tail.then(operation) : operation();
    if (result instanceof Promise) {
      const settled: Promise<void> = result.then(
        () => undefined,
        () => undefined,
      );
      this.pending.set(groupId, settled);
      void settled.then(() => {
        if (this.pending.get(groupId) === settled) this.pending.delete(groupId);
      });
    }
    return result;
  }

  /**
   * What puts the group back as it is now. A consumer group the change creates is removed again (the group id
   * unknown or an empty classic group as before); one upgraded from a classic group with members is not
   * reverted (its classic members were already answered and moved over).
   */
  private undoPoint(groupId: string): () => boolean {
    const metadata = this.host.groups.get(groupId);
    const before = metadata?.consumerGroup ?? null;
    const protocolType = metadata?.protocolType ?? null;
    const restore = before ? snapshotGroup(before) : null;
    const convertsMembers = !before && metadata !== undefined && metadata.members.size > 0;
    return () => {
      const now = this.host.groups.get(groupId);
      if (restore && before && now?.consumerGroup === before) {
        const { dropped, returned } = restore();
        for (const member of dropped) this.stopTimers(member);
        for (const member of returned) this.scheduleSessionExpiration(before, member);
        for (const member of before.members.values()) {
          if (member.classic) continue; // a classic member's rejoin wait is set by its heartbeats
          if (member.state === "UNREVOKED_PARTITIONS" && !member.revocationTimer) this.startRevocationTimer(before, member);
          if (member.state !== "UNREVOKED_PARTITIONS") this.clearRevocationTimer(member);
        }
        this.host.log(`consumer group ${groupId}: its change was not written; the group is back at epoch ${before.groupEpoch}`);
        return true;
      }
      if (!before && !convertsMembers && now?.consumerGroup) {
        this.unload(now.consumerGroup);
        if (metadata === undefined) this.host.groups.delete(groupId);
        else {
          now.consumerGroup = null;
          now.protocolType = protocolType;
        }
        return true;
      }
      return false;
    };
  }

  private stopTimers(member: ConsumerMember): void {
    if (member.sessionTimer) clearTimeout(member.sessionTimer);
    member.sessionTimer = null;
    this.clearRevocationTimer(member);
  }

  /** Appends the group's changed records; null when nothing changed. */
  private persist(group: ConsumerGroup, undo?: () => boolean): Promise<number> | null {
    const write = takeChangedRecords(group, this.host.services.topics);
    if (!write) return null;
    // Reverted, the group is as the log has it; otherwise what failed is written again with its next change.
    const failed = () => (undo?.() ? write.reverted() : write.failed());
    return this.host.appendGroupRecords(group.groupId, write.records).then(
      (errorCode) => {
        if (errorCode !== ErrorCode.NONE) failed();
        return errorCode;
      },
      (error) => {
        failed();
        this.host.log(`consumer group ${group.groupId}: writing its records failed: ${String(error)}`);
        return ErrorCode.COORDINATOR_NOT_AVAILABLE;
      },
    );
  }

  /** A change no request waits for (a timer removed a member): written, failures logged. */
  private persistInBackground(group: ConsumerGroup): void {
    this.persist(group)?.then((errorCode) => {
      if (errorCode !== ErrorCode.NONE) this.host.log(`consumer group ${group.groupId}: writing its records failed (error ${errorCode}); retried with its next change`);
    });
  }

  private validateRequest(params: ConsumerHeartbeatParams): void {
    const invalid = (message: string) => new HeartbeatError(ErrorCode.INVALID_REQUEST, message);
    if (params.groupId.length === 0) throw new HeartbeatError(ErrorCode.INVALID_GROUP_ID, "GroupId can't be empty.");
    if (params.instanceId !== null && params.instanceId.length === 0) throw invalid("InstanceId can't be empty.");
    if (params.rackId !== null && params.rackId.length === 0) throw invalid("RackId can't be empty.");
    if (params.memberEpoch < LEAVE_GROUP_STATIC_MEMBER_EPOCH) throw invalid(`MemberEpoch ${params.memberEpoch} is invalid.`);
    // v1 (KIP-1082): the client makes up its member id, also when it joins.
    if ((params.memberEpoch !== 0 || params.apiVersion >= 1) && params.memberId.length === 0) throw invalid("MemberId can't be empty.");
    if (params.memberEpoch === 0) {
      if (params.rebalanceTimeoutMs === -1) throw invalid("RebalanceTimeoutMs must be provided in first request.");
      if (params.topicPartitions === null || params.topicPartitions.length > 0) throw invalid("TopicPartitions must be empty when (re-)joining.");
      if (params.subscribedTopicNames === null && params.subscribedTopicRegex === null) throw invalid("SubscribedTopicNames or SubscribedTopicRegex must be set in first request.");
    }
    if (params.memberEpoch === LEAVE_GROUP_STATIC_MEMBER_EPOCH && params.instanceId === null) throw invalid("InstanceId can't be null.");
    if (params.subscribedTopicNames !== null && params.subscribedTopicNames.length > this.config.maxSubscribedTopics) {
      throw invalid(`more than group.consumer.max.subscribed.topics (${this.config.maxSubscribedTopics}) subscribed topic names`);
    }
    if (params.serverAssignor !== null && !this.config.assignors.includes(params.serverAssignor)) {
      throw new HeartbeatError(ErrorCode.UNSUPPORTED_ASSIGNOR, `ServerAssignor ${params.serverAssignor} is not supported. Supported assignors: ${this.config.assignors.join(", ")}.`);
    }
  }

  private doHeartbeat(params: ConsumerHeartbeatParams): ConsumerHeartbeatResult {
    this.validateRequest(params);
    const status = this.host.validateGroupStatus(params.groupId, "membership");
    if (status !== ErrorCode.NONE) throw new HeartbeatError(status);
    const regex = params.subscribedTopicRegex === null || params.subscribedTopicRegex.length === 0 ? null : compileSubscriptionRegex(params.subscribedTopicRegex, this.config.maxRegexLength);
    if (regex && !regex.ok) throw new HeartbeatError(ErrorCode.INVALID_REGULAR_EXPRESSION, regex.message);
    const group = this.groupFor(params.groupId, params.memberEpoch === 0);
    if (params.memberEpoch === LEAVE_GROUP_MEMBER_EPOCH || params.memberEpoch === LEAVE_GROUP_STATIC_MEMBER_EPOCH) return this.leave(group, params);

    let member: ConsumerMember;
    let bumpEpoch = false;
    if (params.memberEpoch === 0) {
      const joined = this.join(group, params);
      member = joined.member;
      bumpEpoch = joined.isNew;
    } else {
      member = group.members.get(params.memberId) ?? throwError(ErrorCode.UNKNOWN_MEMBER_ID, `Member ${params.memberId} is not a member of group ${params.groupId}.`);
      // The request's InstanceId is null when it did not change since the last heartbeat (librdkafka sends it
      // only when joining): only a different one is fenced, as Kafka's throwIfInstanceIdIsFenced.
      if (params.instanceId !== null && member.instanceId !== params.instanceId) throw new HeartbeatError(ErrorCode.FENCED_INSTANCE_ID);
      this.checkMemberEpoch(member, params.memberEpoch, params.topicPartitions);
    }
    // The subscription, as given (a field left null is unchanged).
    if (params.subscribedTopicNames !== null) {
      const names = [...new Set(params.subscribedTopicNames)].sort();
      if (names.join("\u0000") !== [...member.subscribedTopicNames].sort().join("\u0000")) bumpEpoch = true;
      member.subscribedTopicNames = names;
    }
    if (params.subscribedTopicRegex !== null) {
      const pattern = params.subscribedTopicRegex.length === 0 ? null : params.subscribedTopicRegex;
      if (pattern !== member.subscribedTopicRegex) bumpEpoch = true;
      member.subscribedTopicRegex = pattern;
      member.regex = regex && regex.ok ? regex.regex : null;
    }
    if (params.serverAssignor !== null && params.serverAssignor !== member.serverAssignor) {
      member.serverAssignor = params.serverAssignor;
      bumpEpoch = true;
    }
    if (params.rebalanceTimeoutMs > 0) member.rebalanceTimeoutMs = params.rebalanceTimeoutMs;
    if (params.rackId !== null) member.rackId = params.rackId;
    member.clientId = params.clientId;
    member.clientHost = params.clientHost;
    group.dirtyMembers.add(member.memberId);
    if (bumpEpoch) group.groupEpoch++;
    this.refreshTarget(group, bumpEpoch);

    const owned = params.topicPartitions === null ? null : this.namesOf(params.topicPartitions);
    const before = member.assigned;
    const next = reconcile({
      member,
      targetEpoch: group.assignmentEpoch,
      target: group.targetAssignment.get(member.memberId) ?? new Map(),
      owned,
      ownedByOther: (topic, partition) => group.ownedByOther(member.memberId, topic, partition),
    });
    if (next !== member) {
      const wasRevoking = member.state === "UNREVOKED_PARTITIONS";
      group.setHoldings(member, next);
      if (member.state === "UNREVOKED_PARTITIONS" && !wasRevoking) this.startRevocationTimer(group, member);
      if (member.state !== "UNREVOKED_PARTITIONS") this.clearRevocationTimer(member);
    }
    this.scheduleSessionExpiration(group, member);
    const sendAssignment = params.memberEpoch === 0 || !assignmentsEqual(before, member.assigned) || (owned !== null && !assignmentsEqual(owned, member.assigned));
    return {
      errorCode: ErrorCode.NONE,
      errorMessage: null,
      memberId: member.memberId,
      memberEpoch: member.memberEpoch,
      heartbeatIntervalMs: this.config.heartbeatIntervalMs,
      assignment: sendAssignment ? { topicPartitions: this.idsOf(member.assigned) } : null,
    };
  }

  /** The group's consumer-protocol state; an empty classic group becomes a consumer group on a join (Kafka). */
  private groupFor(groupId: string, createIfMissing: boolean): ConsumerGroup {
    const metadata = this.host.groups.get(groupId);
    if (metadata?.consumerGroup) return metadata.consumerGroup;
    if (metadata && (metadata.members.size > 0 || !metadata.is("Empty") || metadata.pendingMembers.size > 0)) {
      if (createIfMissing && this.canUpgrade(metadata)) return this.upgrade(metadata);
      throw new HeartbeatError(ErrorCode.GROUP_ID_NOT_FOUND, `Group ${groupId} is not a consumer group.`);
    }
    // Unknown member of an unknown group: the group (and the member) were lost (a coordinator move): rejoin.
    if (!createIfMissing) throw new HeartbeatError(ErrorCode.UNKNOWN_MEMBER_ID, `Group ${groupId} has no such member.`);
    if (this.consumerGroupCount() >= this.config.maxGroups) throw new HeartbeatError(ErrorCode.GROUP_MAX_SIZE_REACHED, `this broker coordinates group.consumer.max.groups (${this.config.maxGroups}) consumer groups`);
    const group = metadata ?? this.host.addGroup(groupId);
    group.protocolType = "consumer";
    group.consumerGroup = new ConsumerGroup(groupId, this.config.assignors[0]!);
    // An empty classic group converted (Kafka): its classic metadata record goes.
    group.consumerGroup.classicTombstonePending = metadata !== undefined;
    return group.consumerGroup;
  }

  private join(group: ConsumerGroup, params: ConsumerHeartbeatParams): { member: ConsumerMember; isNew: boolean } {
    const memberId = params.memberId.length > 0 ? params.memberId : randomUUID();
    if (params.instanceId !== null) {
      const previousId = group.staticMembers.get(params.instanceId);
      const previous = previousId === undefined ? undefined : group.members.get(previousId);
      if (previous && previous.memberId !== memberId) {
        if (previous.memberEpoch !== LEAVE_GROUP_STATIC_MEMBER_EPOCH) throw new HeartbeatError(ErrorCode.UNRELEASED_INSTANCE_ID, `Static member ${previous.memberId} with instance id ${params.instanceId} is not released yet.`);
        // The restarted static member takes its predecessor's place: its epoch and partitions, no rebalance.
        this.removeMember(group, previous, false);
        const member = this.newMember(memberId, params);
        group.members.set(memberId, member);
        group.staticMembers.set(params.instanceId, memberId);
        member.subscribedTopicNames = previous.subscribedTopicNames;
        member.subscribedTopicRegex = previous.subscribedTopicRegex;
        member.regex = previous.regex;
        member.serverAssignor = previous.serverAssignor;
        const target = group.targetAssignment.get(previous.memberId);
        group.targetAssignment.delete(previous.memberId);
        if (target) group.targetAssignment.set(memberId, target);
        group.setHoldings(member, { state: previous.state, memberEpoch: previous.previousMemberEpoch > 0 ? previous.previousMemberEpoch : 0, previousMemberEpoch: previous.previousMemberEpoch, assigned: previous.assigned, pendingRevocation: previous.pendingRevocation });
        this.host.log(`consumer group ${group.groupId}: static member ${params.instanceId} rejoined as ${memberId}, replacing ${previous.memberId}`);
        return { member, isNew: false };
      }
    }
    const existing = group.members.get(memberId);
    if (existing) {
      // Rejoining with epoch 0 (it lost its state): it starts over, its partitions released.
      this.removeMember(group, existing, false);
    } else if (group.members.size >= this.config.maxSize) {
      throw new HeartbeatError(ErrorCode.GROUP_MAX_SIZE_REACHED, `group.consumer.max.size (${this.config.maxSize}) members`);
    }
    const member = this.newMember(memberId, params);
    group.members.set(memberId, member);
    if (params.instanceId !== null) group.staticMembers.set(params.instanceId, memberId);
    this.host.log(`consumer group ${group.groupId}: member ${memberId} joined`);
    return { member, isNew: true };
  }

  private newMember(memberId: string, params: ConsumerHeartbeatParams): ConsumerMember {
    return {
      memberId,
      instanceId: params.instanceId,
      rackId: params.rackId,
      clientId: params.clientId,
      clientHost: params.clientHost,
      rebalanceTimeoutMs: params.rebalanceTimeoutMs > 0 ? params.rebalanceTimeoutMs : 60_000,
      subscribedTopicNames: [],
      subscribedTopicRegex: null,
      regex: null,
      serverAssignor: null,
      state: "STABLE",
      memberEpoch: 0,
      previousMemberEpoch: 0,
      assigned: new Map(),
      pendingRevocation: new Map(),
      sessionTimer: null,
      revocationTimer: null,
      classic: null,
    };
  }

  /** Kafka's throwIfMemberEpochIsInvalid: the previous epoch is accepted while the member owns a subset of its partitions. */
  private checkMemberEpoch(member: ConsumerMember, received: number, owned: TopicPartitionsById[] | null): void {
    if (received > member.memberEpoch) throw new HeartbeatError(ErrorCode.FENCED_MEMBER_EPOCH, `The member epoch ${received} is ahead of ${member.memberEpoch}.`);
    if (received < member.memberEpoch) {
      const ownedNames = owned === null ? null : this.namesOf(owned);
      const subset = ownedNames !== null && [...ownedNames].every(([topic, partitions]) => [...partitions].every((partition) => member.assigned.get(topic)?.has(partition) ?? false));
      if (received !== member.previousMemberEpoch || !subset) throw new HeartbeatError(ErrorCode.FENCED_MEMBER_EPOCH, `The member epoch ${received} is behind ${member.memberEpoch}.`);
    }
  }

  private leave(group: ConsumerGroup, params: ConsumerHeartbeatParams): ConsumerHeartbeatResult {
    const memberId = params.instanceId !== null ? (group.staticMembers.get(params.instanceId) ?? params.memberId) : params.memberId;
    const member = group.members.get(memberId);
    if (!member) throw new HeartbeatError(ErrorCode.UNKNOWN_MEMBER_ID, `Member ${params.memberId} is not a member of group ${params.groupId}.`);
    if (params.instanceId !== null && member.memberId !== params.memberId) throw new HeartbeatError(ErrorCode.FENCED_INSTANCE_ID);
    if (params.memberEpoch === LEAVE_GROUP_STATIC_MEMBER_EPOCH) {
      // A static member's temporary leave: its partitions wait for it until its session expires.
      member.previousMemberEpoch = member.memberEpoch;
      member.memberEpoch = LEAVE_GROUP_STATIC_MEMBER_EPOCH;
      group.dirtyMembers.add(member.memberId);
      this.scheduleSessionExpiration(group, member);
      this.host.log(`consumer group ${group.groupId}: static member ${member.instanceId} left temporarily`);
    } else {
      this.host.log(`consumer group ${group.groupId}: member ${member.memberId} left`);
      this.removeMember(group, member, true);
      this.maybeDowngrade(group);
    }
    return { errorCode: ErrorCode.NONE, errorMessage: null, memberId: params.memberId, memberEpoch: params.memberEpoch, heartbeatIntervalMs: 0, assignment: null };
  }

  /** Removes the member, releasing its partitions; `bump`: the group epoch moves (a real departure). */
  removeMember(group: ConsumerGroup, member: ConsumerMember, bump: boolean): void {
    if (member.sessionTimer) clearTimeout(member.sessionTimer);
    this.clearRevocationTimer(member);
    member.sessionTimer = null;
    group.releaseHoldings(member);
    group.members.delete(member.memberId);
    group.dirtyMembers.add(member.memberId);
    if (member.instanceId !== null && group.staticMembers.get(member.instanceId) === member.memberId) group.staticMembers.delete(member.instanceId);
    if (bump) {
      group.targetAssignment.delete(member.memberId);
      group.groupEpoch++;
    }
    if (group.members.size === 0) {
      const metadata = this.host.groups.get(group.groupId);
      if (metadata) metadata.stateTimestampMs = Date.now();
    }
  }

  private scheduleSessionExpiration(group: ConsumerGroup, member: ConsumerMember): void {
    if (member.sessionTimer) clearTimeout(member.sessionTimer);
    const timer = setTimeout(() => {
      if (member.sessionTimer === timer) member.sessionTimer = null;
      // After the change being written, if any: undoing that must not bring the expired member back.
      void this.exclusive(group.groupId, () => this.expireSession(group, member, timer));
    }, member.classic?.sessionTimeoutMs ?? this.config.sessionTimeoutMs);
    member.sessionTimer = timer;
  }

  private expireSession(group: ConsumerGroup, member: ConsumerMember, timer: ReturnType<typeof setTimeout>): void {
    if (member.sessionTimer !== null && member.sessionTimer !== timer) return; // a heartbeat meanwhile restarted it
    if (group.members.get(member.memberId) !== member || !this.host.isActive) return;
    this.host.log(`consumer group ${group.groupId}: member ${member.memberId} session expired, removing it`);
    this.removeMember(group, member, true);
    this.afterDeparture(group);
  }

  private startRevocationTimer(group: ConsumerGroup, member: ConsumerMember): void {
    this.clearRevocationTimer(member);
    member.revocationTimer = setTimeout(() => {
      member.revocationTimer = null;
      void this.exclusive(group.groupId, () => {
        if (group.members.get(member.memberId) !== member || member.state !== "UNREVOKED_PARTITIONS" || !this.host.isActive) return;
        this.host.log(`consumer group ${group.groupId}: member ${member.memberId} did not revoke its partitions within its rebalance timeout, removing it`);
        this.removeMember(group, member, true);
        this.afterDeparture(group);
      });
    }, member.rebalanceTimeoutMs);
  }

  private clearRevocationTimer(member: ConsumerMember): void {
    if (member.revocationTimer) clearTimeout(member.revocationTimer);
    member.revocationTimer = null;
  }

  /**
   * Rebuilds a group from its records (a __consumer_offsets partition loaded): members come back with their
   * epochs, assignments and subscriptions, each with a fresh session timer; partitions of deleted topics are dropped.
   */
  restore(metadata: GroupMetadata, loaded: LoadedConsumerGroup): void {
    const group = new ConsumerGroup(loaded.groupId, this.config.assignors[0]!);
    group.groupEpoch = loaded.groupEpoch;
    group.assignmentEpoch = Math.max(0, Math.min(loaded.assignmentEpoch, loaded.groupEpoch));
    // The same form refreshTarget computes (sorted by name), so an unchanged subscription does not bump the epoch.
    group.subscriptionSignature = [...loaded.subscribedTopics]
      .sort((a, b) => (a.topicName < b.topicName ? -1 : a.topicName > b.topicName ? 1 : 0))
      .map((topic) => `${topic.topicName}:${topic.numPartitions}`)
      .join(",");
    for (const [memberId, stored] of loaded.members) {
      if (!stored.metadata) continue; // a member's records without its metadata: it left mid-write
      const { metadata: fields, current } = stored;
      const regex = fields.subscribedTopicRegex === null ? null : compileSubscriptionRegex(fields.subscribedTopicRegex, Number.MAX_SAFE_INTEGER);
      const member: ConsumerMember = {
        memberId,
        instanceId: fields.instanceId,
        rackId: fields.rackId,
        clientId: fields.clientId,
        clientHost: fields.clientHost,
        rebalanceTimeoutMs: fields.rebalanceTimeoutMs > 0 ? fields.rebalanceTimeoutMs : 60_000,
        subscribedTopicNames: fields.subscribedTopicNames,
        subscribedTopicRegex: fields.subscribedTopicRegex,
        regex: regex?.ok ? regex.regex : null,
        serverAssignor: fields.serverAssignor,
        state: current?.state ?? "STABLE",
        memberEpoch: current?.memberEpoch ?? 0,
        previousMemberEpoch: current?.previousMemberEpoch ?? 0,
        assigned: this.storedNames(current?.assigned ?? []),
        pendingRevocation: this.storedNames(current?.pendingRevocation ?? []),
        sessionTimer: null,
        revocationTimer: null,
        // Synced: a restored classic member goes on heartbeating with what it was given.
        classic: fields.classic ? { protocols: fields.classic.supportedProtocols, sessionTimeoutMs: fields.classic.sessionTimeoutMs, synced: null } : null,
      };
      if (member.classic) member.classic.synced = copyAssignment(member.assigned);
      group.members.set(memberId, member);
      if (member.instanceId !== null) group.staticMembers.set(member.instanceId, memberId);
      if (stored.target) group.targetAssignment.set(memberId, this.storedNames(stored.target));
      for (const held of [member.assigned, member.pendingRevocation]) for (const [topic, partitions] of held) for (const partition of partitions) group.owners.set(partitionKey(topic, partition), memberId);
    }
    group.assignorName = this.preferredAssignor(group);
    metadata.protocolType = "consumer";
    metadata.consumerGroup = group;
    markAllWritten(group, this.host.services.topics);
    for (const member of group.members.values()) {
      this.scheduleSessionExpiration(group, member);
      if (member.state === "UNREVOKED_PARTITIONS") this.startRevocationTimer(group, member);
    }
  }

  private storedNames(stored: StoredTopicPartitions[]): Assignment {
    const names: Assignment = new Map();
    for (const entry of stored) {
      const topic = this.host.services.topics.getById(entry.topicId);
      if (!topic) continue;
      names.set(topic.name, new Set(entry.partitions.filter((partition) => partition >= 0 && partition < topic.partitions.length)));
    }
    return names;
  }

  // ---- online migration (KIP-848): classic members in a consumer group, upgrade and downgrade ----
  //
  // Kafka converts a classic group whose clients use the consumer embedded protocol into a consumer group
  // when a consumer-protocol member joins it (group.consumer.migration.policy `upgrade` or `bidirectional`),
  // and back when the last consumer-protocol member leaves (`downgrade` or `bidirectional`). Meanwhile its
  // classic members stay members: the server-side assignor assigns them too, JoinGroup answers at once with
  // their member epoch as the generation, SyncGroup hands them their assignment, and Heartbeat answers
  // REBALANCE_IN_PROGRESS whenever their assignment is to change, so that they rejoin (giving up their
  // partitions, as eager clients do) and sync again.

  private policyAllows(direction: "upgrade" | "downgrade"): boolean {
    const policy = this.config.migrationPolicy;
    return policy === "bidirectional" || policy === direction;
  }

  private canUpgrade(metadata: GroupMetadata): boolean {
    // Kafka's validateOnlineUpgrade: the policy, the consumer embedded protocol, the size; in any state (a
    // rebalance in progress is abandoned: its parked requests are answered REBALANCE_IN_PROGRESS, and the
    // members rejoin into the consumer group).
    return this.policyAllows("upgrade") && metadata.protocolType === CONSUMER_PROTOCOL_TYPE && !metadata.is("Dead") && metadata.members.size < this.config.maxSize;
  }

  /** The Stable classic group becomes a consumer group; its members keep their assignments at epoch = generation. */
  private upgrade(metadata: GroupMetadata): ConsumerGroup {
    if (this.consumerGroupCount() >= this.config.maxGroups) throw new HeartbeatError(ErrorCode.GROUP_MAX_SIZE_REACHED, `this broker coordinates group.consumer.max.groups (${this.config.maxGroups}) consumer groups`);
    this.host.releaseClassicGroup(metadata);
    const group = new ConsumerGroup(metadata.groupId, this.config.assignors[0]!);
    group.groupEpoch = metadata.generationId;
    group.assignmentEpoch = metadata.generationId;
    for (const classic of [...metadata.members.values()]) {
      const subscription = decodeSubscription(classic.metadataFor(metadata.protocolName ?? ""));
      const assigned = assignmentOf(classic.assignment);
      const member: ConsumerMember = {
        ...this.newMember(classic.memberId, { instanceId: classic.groupInstanceId, rackId: subscription?.rackId ?? null, clientId: classic.clientId, clientHost: classic.clientHost, rebalanceTimeoutMs: classic.rebalanceTimeoutMs } as ConsumerHeartbeatParams),
        subscribedTopicNames: [...new Set(subscription?.topics ?? [])].sort(),
        memberEpoch: metadata.generationId,
        previousMemberEpoch: metadata.generationId,
        classic: { protocols: classic.protocols, sessionTimeoutMs: classic.sessionTimeoutMs, synced: copyAssignment(assigned) },
      };
      group.members.set(member.memberId, member);
      if (member.instanceId !== null) group.staticMembers.set(member.instanceId, member.memberId);
      group.targetAssignment.set(member.memberId, copyAssignment(assigned));
      group.setHoldings(member, { state: "STABLE", memberEpoch: member.memberEpoch, previousMemberEpoch: member.previousMemberEpoch, assigned, pendingRevocation: new Map() });
      metadata.remove(classic.memberId);
    }
    metadata.state = "Empty"; // the classic state machine is idle; the consumer group has the members
    metadata.protocolType = CONSUMER_PROTOCOL_TYPE;
    metadata.consumerGroup = group;
    group.classicTombstonePending = true;
    for (const member of group.members.values()) this.scheduleSessionExpiration(group, member);
    this.host.log(`group ${metadata.groupId}: upgraded from the classic protocol at generation ${metadata.generationId} with ${group.members.size} classic member(s)`);
    return group;
  }

  /** After a member left: the group goes back to classic when only classic members are left (policy permitting), else its records are written. */
  private afterDeparture(group: ConsumerGroup): void {
    if (!this.maybeDowngrade(group)) this.persistInBackground(group);
  }

  /** Kafka's validateOnlineDowngrade: only classic members are left, the policy allows it, and they fit a classic group. */
  private canDowngrade(group: ConsumerGroup): boolean {
    if (group.members.size === 0 || !this.policyAllows("downgrade") || group.members.size > this.host.config.groupMaxSize) return false;
    for (const member of group.members.values()) if (!member.classic) return false;
    return true;
  }

  private maybeDowngrade(group: ConsumerGroup): boolean {
    if (!this.canDowngrade(group)) return false;
    const metadata = this.host.groups.get(group.groupId);
    if (!metadata || metadata.consumerGroup !== group) return false;
    this.host.log(`consumer group ${group.groupId}: its last consumer-protocol member left; downgrading to a classic group of ${group.members.size} member(s)`);
    void this.host.downgradeToClassic(metadata);
    return true;
  }

  /**
   * JoinGroup of a classic member into a consumer group: answered at once, generation = its member epoch. Like a
   * heartbeat, applied after the group's change being written, and undone when its own write fails.
   */
  classicJoin(metadata: GroupMetadata, params: ClassicJoinParams): ClassicJoinResult | Promise<ClassicJoinResult> {
    return this.exclusive(metadata.groupId, () => {
      // The group stopped being a consumer group while the previous change was written: the client rejoins.
      if (!metadata.consumerGroup || this.host.groups.get(metadata.groupId) !== metadata) return classicJoinError(ErrorCode.REBALANCE_IN_PROGRESS, params.memberId);
      return this.classicJoinNow(metadata, metadata.consumerGroup, params);
    });
  }

  private classicJoinNow(metadata: GroupMetadata, group: ConsumerGroup, params: ClassicJoinParams): ClassicJoinResult | Promise<ClassicJoinResult> {
    const undo = this.undoPoint(metadata.groupId);
    const fail = (errorCode: number, memberId = params.memberId): ClassicJoinResult => classicJoinError(errorCode, memberId);
    // Kafka takes classic members into a consumer group whatever group.consumer.migration.policy says (it
    // governs conversions), as long as they speak the consumer embedded protocol.
    if (params.protocolType !== CONSUMER_PROTOCOL_TYPE || params.protocols.length === 0) return fail(ErrorCode.INCONSISTENT_GROUP_PROTOCOL);
    const subscription = decodeSubscription(params.protocols[0]!.metadata);
    if (!subscription) return fail(ErrorCode.INCONSISTENT_GROUP_PROTOCOL);
    let memberId = params.memberId;
    const staticMemberId = params.groupInstanceId === null ? undefined : group.staticMembers.get(params.groupInstanceId);
    const staticMember = staticMemberId === undefined ? undefined : group.members.get(staticMemberId);
    // A classic static member takes a consumer-protocol member's place (Kafka does not wait for its leave, as
    // classic static members fence their predecessor), under a new member id.
    const replaces = staticMember && !staticMember.classic && memberId === "" ? staticMember : undefined;
    if (memberId === "" && staticMember && !replaces) memberId = staticMember.memberId;
    if (memberId === "") {
      memberId = `${params.groupInstanceId ?? params.clientId}-${randomUUID()}`;
      // KIP-394 as for classic groups: the member comes back with the id it was given.
      if (params.requireKnownMemberId) return fail(ErrorCode.MEMBER_ID_REQUIRED, memberId);
    }
    let member = group.members.get(memberId);
    let bumpEpoch = false;
    if (member && !member.classic) return fail(ErrorCode.UNKNOWN_MEMBER_ID);
    if (!member && replaces) {
      member = this.replaceWithClassic(group, replaces, memberId, params);
    } else if (!member) {
      if (group.members.size >= this.config.maxSize) return fail(ErrorCode.GROUP_MAX_SIZE_REACHED, "");
      member = this.newMember(memberId, { instanceId: params.groupInstanceId, rackId: null, clientId: params.clientId, clientHost: params.clientHost, rebalanceTimeoutMs: params.rebalanceTimeoutMs } as ConsumerHeartbeatParams);
      member.classic = { protocols: params.protocols, sessionTimeoutMs: params.sessionTimeoutMs, synced: null };
      group.members.set(memberId, member);
      if (params.groupInstanceId !== null) group.staticMembers.set(params.groupInstanceId, memberId);
      bumpEpoch = true;
      this.host.log(`consumer group ${group.groupId}: classic member ${memberId} joined`);
    }
    const classic = member.classic!;
    const topics = [...new Set(subscription.topics)].sort();
    if (topics.join("\u0000") !== member.subscribedTopicNames.join("\u0000")) bumpEpoch = true;
    member.subscribedTopicNames = topics;
    classic.protocols = params.protocols;
    classic.sessionTimeoutMs = params.sessionTimeoutMs;
    classic.synced = null;
    member.rebalanceTimeoutMs = params.rebalanceTimeoutMs;
    member.clientId = params.clientId;
    member.clientHost = params.clientHost;
    group.dirtyMembers.add(memberId);
    if (bumpEpoch) group.groupEpoch++;
    this.refreshTarget(group, bumpEpoch);
    // Rejoining, an eager client has given every partition up; a cooperative one lists what it kept.
    const owned: Assignment = new Map();
    for (const { topic, partitions } of subscription.ownedPartitions ?? []) owned.set(topic, new Set(partitions));
    for (let step = 0; step < 3; step++) {
      const next = reconcile({ member, targetEpoch: group.assignmentEpoch, target: group.targetAssignment.get(memberId) ?? new Map(), owned, ownedByOther: (topic, partition) => group.ownedByOther(memberId, topic, partition) });
      if (next === member) break;
      group.setHoldings(member, next);
    }
    this.clearRevocationTimer(member);
    this.scheduleSessionExpiration(group, member);
    const joined = member;
    if (replaces && this.canDowngrade(group)) {
      // Kafka's validateOnlineDowngradeWithReplacedMember: the last consumer-protocol member was replaced, so
      // the group is classic again, Stable with everyone's assignment: the joiner syncs at its generation.
      this.host.log(`consumer group ${group.groupId}: classic static member ${memberId} replaced the last consumer-protocol member ${replaces.memberId}; downgrading to a classic group`);
      const converted = this.host.downgradeToClassic(metadata, false);
      const answer = (): ClassicJoinResult => ({ errorCode: ErrorCode.NONE, generationId: metadata.generationId, protocolName: metadata.protocolName ?? params.protocols[0]!.name, leader: "", memberId, members: [] });
      return converted.then((errorCode) => (errorCode === ErrorCode.NONE ? answer() : fail(errorCode)));
    }
    const result: ClassicJoinResult = { errorCode: ErrorCode.NONE, generationId: joined.memberEpoch, protocolName: params.protocols[0]!.name, leader: "", memberId, members: [] };
    const written = this.persist(group, undo);
    return written ? written.then((errorCode) => (errorCode === ErrorCode.NONE ? result : fail(errorCode))) : result;
  }

  /** The classic member `memberId` in `replaced`'s place: its target and partitions, at epoch 0 (Kafka copies the member). */
  private replaceWithClassic(group: ConsumerGroup, replaced: ConsumerMember, memberId: string, params: ClassicJoinParams): ConsumerMember {
    this.removeMember(group, replaced, false);
    const member = this.newMember(memberId, { instanceId: params.groupInstanceId, rackId: replaced.rackId, clientId: params.clientId, clientHost: params.clientHost, rebalanceTimeoutMs: params.rebalanceTimeoutMs } as ConsumerHeartbeatParams);
    member.classic = { protocols: params.protocols, sessionTimeoutMs: params.sessionTimeoutMs, synced: null };
    member.subscribedTopicNames = replaced.subscribedTopicNames;
    member.serverAssignor = replaced.serverAssignor;
    group.members.set(memberId, member);
    if (params.groupInstanceId !== null) group.staticMembers.set(params.groupInstanceId, memberId);
    const target = group.targetAssignment.get(replaced.memberId);
    group.targetAssignment.delete(replaced.memberId);
    if (target) group.targetAssignment.set(memberId, target);
    group.setHoldings(member, { state: replaced.state, memberEpoch: 0, previousMemberEpoch: 0, assigned: replaced.assigned, pendingRevocation: replaced.pendingRevocation });
    this.host.log(`consumer group ${group.groupId}: classic static member ${params.groupInstanceId} joined as ${memberId}, replacing ${replaced.memberId}`);
    return member;
  }

  /** SyncGroup of a classic member: its current assignment, in the consumer embedded protocol. */
  classicSync(metadata: GroupMetadata, memberId: string, generationId: number, protocolName: string | null): { errorCode: number; protocolName: string | null; assignment: Uint8Array } {
    const member = metadata.consumerGroup!.members.get(memberId);
    if (!member?.classic) return { errorCode: ErrorCode.UNKNOWN_MEMBER_ID, protocolName: null, assignment: new Uint8Array(0) };
    if (generationId !== member.memberEpoch) return { errorCode: ErrorCode.ILLEGAL_GENERATION, protocolName: null, assignment: new Uint8Array(0) };
    if (protocolName !== null && !member.classic.protocols.some((protocol) => protocol.name === protocolName)) return { errorCode: ErrorCode.INCONSISTENT_GROUP_PROTOCOL, protocolName: null, assignment: new Uint8Array(0) };
    member.classic.synced = copyAssignment(member.assigned);
    this.scheduleSessionExpiration(metadata.consumerGroup!, member);
    const assignedPartitions = [...member.assigned].filter(([, partitions]) => partitions.size > 0).map(([topic, partitions]) => ({ topic, partitions: [...partitions].sort((a, b) => a - b) }));
    return { errorCode: ErrorCode.NONE, protocolName: protocolName ?? member.classic.protocols[0]?.name ?? null, assignment: encodeAssignment({ assignedPartitions, userData: null }) };
  }

  /** Heartbeat of a classic member: REBALANCE_IN_PROGRESS while its assignment is to change (it rejoins). */
  classicHeartbeat(metadata: GroupMetadata, memberId: string, generationId: number): number {
    const group = metadata.consumerGroup!;
    const member = group.members.get(memberId);
    if (!member?.classic) return ErrorCode.UNKNOWN_MEMBER_ID;
    if (generationId !== member.memberEpoch) return ErrorCode.ILLEGAL_GENERATION;
    this.scheduleSessionExpiration(group, member);
    this.refreshTarget(group, false);
    this.persistInBackground(group);
    // Kafka's classicGroupHeartbeatToConsumerGroup: rejoin to catch up with the group epoch, to revoke (a
    // cooperative client gives up only what it must, and gets its new partitions at the rejoin after that), or
    // to take partitions the others released; while some are still held elsewhere it heartbeats on as it is.
    const synced = member.classic.synced !== null && assignmentsEqual(member.classic.synced, member.assigned);
    const mustRejoin =
      !synced ||
      member.memberEpoch < group.groupEpoch ||
      member.state === "UNREVOKED_PARTITIONS" ||
      (member.state === "UNRELEASED_PARTITIONS" && !this.waitingOnUnreleased(group, member));
    if (!mustRejoin) return ErrorCode.NONE;
    // Told to rejoin: one that keeps heartbeating without rejoining would hold its partitions for ever, so
    // its rebalance timeout bounds the wait, as for a consumer-protocol member's revocation.
    if (!member.revocationTimer) {
      member.revocationTimer = setTimeout(() => {
        member.revocationTimer = null;
        void this.exclusive(group.groupId, () => {
          if (group.members.get(member.memberId) !== member || !this.host.isActive) return;
          this.host.log(`consumer group ${group.groupId}: classic member ${member.memberId} did not rejoin within its rebalance timeout, removing it`);
          this.removeMember(group, member, true);
          this.afterDeparture(group);
        });
      }, member.rebalanceTimeoutMs);
    }
    return ErrorCode.REBALANCE_IN_PROGRESS;
  }

  /** Kafka's waitingOnUnreleasedPartition: a partition of its target is still held by another member. */
  private waitingOnUnreleased(group: ConsumerGroup, member: ConsumerMember): boolean {
    for (const [topic, partitions] of group.targetAssignment.get(member.memberId) ?? []) {
      for (const partition of partitions) if (!(member.assigned.get(topic)?.has(partition) ?? false) && group.ownedByOther(member.memberId, topic, partition)) return true;
    }
    return false;
  }

  /** LeaveGroup of classic members of a consumer group. */
  classicLeave(metadata: GroupMetadata, leaving: { memberId: string; groupInstanceId: string | null }[]): { memberId: string; groupInstanceId: string | null; errorCode: number }[] {
    const group = metadata.consumerGroup!;
    const answers = leaving.map(({ memberId, groupInstanceId }) => {
      const id = groupInstanceId !== null ? (group.staticMembers.get(groupInstanceId) ?? memberId) : memberId;
      const member = group.members.get(id);
      if (!member?.classic) return { memberId, groupInstanceId, errorCode: ErrorCode.UNKNOWN_MEMBER_ID };
      if (groupInstanceId !== null && memberId !== "" && memberId !== member.memberId) return { memberId, groupInstanceId, errorCode: ErrorCode.FENCED_INSTANCE_ID };
      this.host.log(`consumer group ${group.groupId}: classic member ${member.memberId} left`);
      this.removeMember(group, member, true);
      return { memberId, groupInstanceId, errorCode: ErrorCode.NONE };
    });
    this.persistInBackground(group);
    return answers;
  }

  /** Cancels every timer of the group (coordinator stop or unload). */
  unload(group: ConsumerGroup): void {
    for (const member of group.members.values()) {
      if (member.sessionTimer) clearTimeout(member.sessionTimer);
      member.sessionTimer = null;
      this.clearRevocationTimer(member);
    }
  }

  /** The subscribed topics (names and regex matches) that exist, with their partition counts. */
  private subscribedTopics(group: ConsumerGroup, regexMatches: Map<string, Set<string>>): Map<string, number> {
    const topics = new Map<string, number>();
    const add = (name: string) => {
      const topic = this.host.services.topics.get(name);
      if (topic && !topic.internal) topics.set(name, topic.partitions.length);
    };
    for (const name of group.subscribedTopicNames()) add(name);
    for (const names of regexMatches.values()) for (const name of names) add(name);
    return topics;
  }

  /**
   * The topics each distinct subscription regex of the group matches. Members of a group usually share one
   * regex: each distinct one is tested once per topic per refresh (at most once a second per group), not once
   * per member (Kafka also resolves each distinct regex once, asynchronously).
   */
  private regexMatches(group: ConsumerGroup): Map<string, Set<string>> {
    const byPattern = new Map<string, RegExp>();
    for (const member of group.members.values()) if (member.regex && member.subscribedTopicRegex !== null) byPattern.set(member.subscribedTopicRegex, member.regex);
    const matches = new Map<string, Set<string>>();
    if (byPattern.size === 0) return matches;
    const names = this.host.services.topics.list().filter((topic) => !topic.internal).map((topic) => topic.name);
    for (const [pattern, regex] of byPattern) matches.set(pattern, new Set(names.filter((name) => regex.test(name))));
    return matches;
  }

  private memberTopics(member: ConsumerMember, topics: Map<string, number>, regexMatches: Map<string, Set<string>>): Set<string> {
    const subscribed = new Set<string>();
    for (const name of member.subscribedTopicNames) if (topics.has(name)) subscribed.add(name);
    if (member.regex && member.subscribedTopicRegex !== null) for (const name of regexMatches.get(member.subscribedTopicRegex) ?? []) if (topics.has(name)) subscribed.add(name);
    return subscribed;
  }

  /** Recomputes the target assignment when the group epoch moved or the subscribed topics changed. */
  private refreshTarget(group: ConsumerGroup, force: boolean): void {
    const nowMs = Date.now();
    const due = force || group.groupEpoch > group.assignmentEpoch || nowMs - (this.lastRefreshMs.get(group) ?? 0) >= METADATA_REFRESH_INTERVAL_MS;
    if (!due) return;
    this.lastRefreshMs.set(group, nowMs);
    const regexMatches = this.regexMatches(group);
    const topics = this.subscribedTopics(group, regexMatches);
    const signature = [...topics].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([name, count]) => `${name}:${count}`).join(",");
    if (signature !== group.subscriptionSignature) {
      if (group.subscriptionSignature !== "" || group.groupEpoch === group.assignmentEpoch) group.groupEpoch++;
      group.subscriptionSignature = signature;
    }
    if (group.groupEpoch <= group.assignmentEpoch) return;
    group.assignorName = this.preferredAssignor(group);
    const assign = assignorByName(group.assignorName)!;
    const members = [...group.members.values()].map((member) => ({ memberId: member.memberId, subscribedTopics: this.memberTopics(member, topics, regexMatches) }));
    group.targetAssignment = assign({ members, topics, previous: group.targetAssignment });
    group.assignmentEpoch = group.groupEpoch;
    for (const memberId of group.members.keys()) group.dirtyMembers.add(memberId);
  }

  /** The assignor most members ask for; the configured default when none asks (Kafka's ties: any). */
  private preferredAssignor(group: ConsumerGroup): string {
    const votes = new Map<string, number>();
    for (const member of group.members.values()) if (member.serverAssignor) votes.set(member.serverAssignor, (votes.get(member.serverAssignor) ?? 0) + 1);
    let best = this.config.assignors[0]!;
    let bestVotes = 0;
    for (const [name, count] of votes) if (count > bestVotes) [best, bestVotes] = [name, count];
    return best;
  }

  private namesOf(partitions: TopicPartitionsById[]): Assignment {
    const names: Assignment = new Map();
    for (const entry of partitions) {
      const topic = this.host.services.topics.getById(entry.topicId);
      if (!topic) continue; // a deleted topic: nothing of it can be owned any more
      let set = names.get(topic.name);
      if (!set) names.set(topic.name, (set = new Set()));
      for (const partition of entry.partitions) set.add(partition);
    }
    return names;
  }

  private idsOf(assignment: Assignment): TopicPartitionsById[] {
    const result: TopicPartitionsById[] = [];
    for (const [name, partitions] of assignment) {
      const topic = this.host.services.topics.get(name);
      if (!topic || partitions.size === 0) continue;
      result.push({ topicId: topicIdBytes(topic.topicId), partitions: [...partitions].sort((a, b) => a - b) });
    }
    return result;
  }

  private describedAssignment(assignment: Assignment): { topicPartitions: { topicId: Uint8Array; topicName: string; partitions: number[] }[] } {
    const topicPartitions: { topicId: Uint8Array; topicName: string; partitions: number[] }[] = [];
    for (const [name, partitions] of assignment) {
      const topic = this.host.services.topics.get(name);
      if (!topic || partitions.size === 0) continue;
      topicPartitions.push({ topicId: topicIdBytes(topic.topicId), topicName: name, partitions: [...partitions].sort((a, b) => a - b) });
    }
    return { topicPartitions };
  }

  describe(groupId: string): DescribedConsumerGroup {
    const status = this.host.validateGroupStatus(groupId, "offsets");
    const empty: DescribedConsumerGroup = { errorCode: status, errorMessage: null, groupId, groupState: "", groupEpoch: -1, assignmentEpoch: -1, assignorName: "", members: [] };
    if (status !== ErrorCode.NONE) return empty;
    const metadata = this.host.groups.get(groupId);
    const group = metadata?.consumerGroup;
    if (!metadata || metadata.is("Dead")) return { ...empty, errorCode: ErrorCode.GROUP_ID_NOT_FOUND, errorMessage: `Group ${groupId} not found.` };
    if (!group) return { ...empty, errorCode: ErrorCode.GROUP_ID_NOT_FOUND, errorMessage: `Group ${groupId} is not a consumer group.` };
    return {
      errorCode: ErrorCode.NONE,
      errorMessage: null,
      groupId,
      groupState: group.state,
      groupEpoch: group.groupEpoch,
      assignmentEpoch: group.assignmentEpoch,
      assignorName: group.assignorName,
      members: [...group.members.values()].map((member) => ({
        memberId: member.memberId,
        instanceId: member.instanceId,
        rackId: member.rackId,
        memberEpoch: member.memberEpoch,
        clientId: member.clientId,
        clientHost: member.clientHost,
        subscribedTopicNames: member.subscribedTopicNames,
        subscribedTopicRegex: member.subscribedTopicRegex,
        assignment: this.describedAssignment(member.assigned),
        targetAssignment: this.describedAssignment(group.targetAssignment.get(member.memberId) ?? new Map()),
      })),
    };
  }
}

function assignmentOf(bytes: Uint8Array): Assignment {
  const assignment: Assignment = new Map();
  for (const { topic, partitions } of decodeAssignment(bytes)?.assignedPartitions ?? []) assignment.set(topic, new Set(partitions));
  return assignment;
}

function classicJoinError(errorCode: number, memberId: string): ClassicJoinResult {
  return { errorCode, generationId: -1, protocolName: "", leader: "", memberId, members: [] };
}

function heartbeatError(errorCode: number, errorMessage: string | null): ConsumerHeartbeatResult {
  return { errorCode, errorMessage, memberId: null, memberEpoch: -1, heartbeatIntervalMs: 0, assignment: null };
}

function throwError(errorCode: number, message: string): never {
  throw new HeartbeatError(errorCode, message);
}
