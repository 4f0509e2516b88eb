// The group coordinator (classic protocol), after Kafka's GroupCoordinator.scala: JoinGroup, SyncGroup,
// Heartbeat and LeaveGroup drive each group's state machine (group-metadata.ts); session, rebalance,
// initial-delay and pending-sync timers bound every wait. Committed offsets, group deletion, describe and
// list are in group-offsets.ts; the durable store (__consumer_offsets) is offsets-store.ts.
//
// Which groups this broker coordinates is decided in one place: `coordinates()` asks
// `broker.groupCoordinatorFor(groupId)` (single node: always this broker; cluster mode: the leader of the
// group's __consumer_offsets partition) and whether that partition has been loaded here. The broker calls
// loadPartition/unloadPartition when that leadership changes; a partition led but not (yet) loaded
// answers COORDINATOR_LOAD_IN_PROGRESS and is loaded on demand, so no request ever sees half a state.
//
// Every parked request (a JoinGroup waiting for the rebalance, a SyncGroup waiting for the leader) is
// always answered: by the rebalance, by a timer, by a replacing request, or with NOT_COORDINATOR when the
// coordinator stops. A request that was never answered would block its connection's later replies.
import { randomUUID } from "node:crypto";
import { ErrorCode } from "../protocol/errors.ts";
import type { BrokerInfo } from "../metadata/types.ts";
import { decodeAssignment, encodeAssignment, CONSUMER_PROTOCOL_TYPE } from "./consumer-protocol.ts";
import { groupCoordinatorConfig, type GroupCoordinatorConfig } from "./coordinator-config.ts";
import { loadGroups } from "./group-loader.ts";
import { GroupMetadata, MemberMetadata, type JoinResult, type MemberProtocol, type SyncResult } from "./group-metadata.ts";
import { GroupOffsets, type GroupApiKind, type OffsetsCoordinator } from "./group-offsets.ts";
import { encodeGroupMetadataKey, encodeGroupMetadataValue, OFFSETS_TOPIC } from "./offsets-records.ts";
import { OffsetsStore } from "./offsets-store.ts";
import { ConsumerProtocolCoordinator } from "./consumer-group/consumer-protocol-coordinator.ts";
import { groupTombstones } from "./consumer-group/consumer-group-persistence.ts";
import type { RecordInput } from "../records/record.ts";
import { PartitionLoads } from "../metadata/partition-loads.ts";
import type { GroupCoordinatorServices } from "./services.ts";

export interface JoinGroupParams {
  groupId: string;
  memberId: string;
  groupInstanceId: string | null;
  /** JoinGroup v4+ without a group.instance.id: an unknown member first gets MEMBER_ID_REQUIRED (KIP-394). */
  requireKnownMemberId: boolean;
  /** JoinGroup v9+ (KIP-814): a rejoining static leader of a stable group is told it leads, with skipAssignment. */
  supportSkippingAssignment?: boolean;
  clientId: string;
  clientHost: string;
  rebalanceTimeoutMs: number;
  sessionTimeoutMs: number;
  protocolType: string;
  protocols: MemberProtocol[];
  /** JoinGroup v8+ (KIP-800): why the client (re)joins; only logged. */
  reason?: string | null;
}

export interface SyncGroupParams {
  groupId: string;
  generationId: number;
  memberId: string;
  groupInstanceId: string | null;
  protocolType: string | null;
  protocolName: string | null;
  assignments: { memberId: string; assignment: Uint8Array }[];
}

export interface LeaveResult {
  errorCode: number;
  members: { memberId: string; groupInstanceId: string | null; errorCode: number }[];
}

const EMPTY_BYTES = new Uint8Array(0);

export function joinError(memberId: string, errorCode: number): JoinResult {
  return { errorCode, generationId: -1, protocolName: "", leader: "", memberId, members: [] };
}

function syncError(errorCode: number): SyncResult {
  return { errorCode, protocolType: null, protocolName: null, assignment: EMPTY_BYTES };
}

export type { GroupApiKind } from "./group-offsets.ts";

export class GroupCoordinator implements OffsetsCoordinator {
  readonly config: GroupCoordinatorConfig;
  readonly store: OffsetsStore;
  readonly offsets: GroupOffsets;
  /** ConsumerGroupHeartbeat / ConsumerGroupDescribe (KIP-848) over the same groups map. */
  readonly consumerProtocol: ConsumerProtocolCoordinator;
  readonly groups = new Map<string, GroupMetadata>();
  /** __consumer_offsets partitions in memory or being replayed (those answer COORDINATOR_LOAD_IN_PROGRESS). */
  private readonly loads = new PartitionLoads();
  private active = false;
  private cleanupTimer: ReturnType<typeof setInterval> | null = null;

  constructor(readonly services: GroupCoordinatorServices) {
    this.config = groupCoordinatorConfig(services.config);
    this.store = new OffsetsStore(services, this.config, () => this.onOffsetsTopicCreated());
    this.offsets = new GroupOffsets(this);
    this.consumerProtocol = new ConsumerProtocolCoordinator(this);
  }

  log(message: string): void {
    this.services.log(message);
  }

  /** Loads every __consumer_offsets partition this broker leads, then accepts requests. */
  async start(): Promise<void> {
    const topic = this.services.topics.get(OFFSETS_TOPIC);
    if (topic) {
      for (const assignment of topic.partitions) {
        if (this.services.replication.checkLeader(topic.name, assignment.partition) !== ErrorCode.NONE) continue;
        // One partition that cannot be read (its log offline) must not stop the broker from starting: its
        // groups answer COORDINATOR_LOAD_IN_PROGRESS, and the load is tried again when they are asked for.
        await this.loadPartition(assignment.partition).catch((error) => this.log(`loading ${OFFSETS_TOPIC}-${assignment.partition} failed: ${String(error)}`));
      }
    }
    this.active = true;
    this.cleanupTimer = setInterval(() => this.offsets.expireOffsetsAndGroups().catch((error) => this.log(`group cleanup failed: ${String(error)}`)), this.config.offsetsRetentionCheckIntervalMs);
  }

  /** Answers every parked request with NOT_COORDINATOR, cancels every timer. In-flight appends finish on their own. */
  stop(): void {
    this.active = false;
    if (this.cleanupTimer) clearInterval(this.cleanupTimer);
    this.cleanupTimer = null;
    for (const group of this.groups.values()) this.unloadGroup(group);
    this.groups.clear();
    this.loads.clear();
  }

  /**
   * Replays partition `partition` of __consumer_offsets into memory (broker start; leadership gained in
   * cluster mode). Idempotent: a loaded partition is not read again, concurrent calls share one load.
   */
  loadPartition(partition: number): Promise<void> {
    return this.loads.load(partition, (isCurrent) => this.doLoadPartition(partition, isCurrent));
  }

  private async doLoadPartition(partition: number, isCurrent: () => boolean): Promise<void> {
    const startedMs = Date.now();
    // A marker is committed to the log before it is reported: those reported so far are in what this load reads
    // (one kept from an earlier leadership would be stale), only those reported from now on may be past it.
    this.offsets.forgetMarkersDuringLoad(partition);
    const loaded = await loadGroups(this.store, partition, this.log.bind(this));
    if (!isCurrent()) {
      this.log(`discarding the load of ${OFFSETS_TOPIC}-${partition}: leadership moved while it ran`);
      return;
    }
    const consumerGroups = new Map(loaded.consumerGroups.map((consumer) => [consumer.groupId, consumer]));
    for (const group of loaded.groups) {
      // A group already in memory was created here while this broker coordinated it: it is newer than the log.
      if (this.groups.has(group.groupId)) continue;
      this.groups.set(group.groupId, group);
      const consumer = consumerGroups.get(group.groupId);
      if (consumer) this.consumerProtocol.restore(group, consumer);
      // Loaded members keep their generation; each must heartbeat within its session timeout or leave.
      for (const member of group.members.values()) this.scheduleHeartbeatExpiration(group, member, member.sessionTimeoutMs);
    }
    // Offsets of transactions still open in the log: pending until their marker (what memory already stages is newer).
    const stagedBefore = new Set(loaded.pending.filter((pending) => this.offsets.transactional.has(partition, pending.producerId)).map((pending) => pending.producerId));
    for (const pending of loaded.pending) {
      if (stagedBefore.has(pending.producerId)) continue;
      const staged = this.offsets.transactional.stage(partition, pending.producerId, pending.groupId, pending.key, pending.committed, true);
      if (staged) staged.superseded = pending.superseded;
    }
    this.offsets.completeMarkersDuringLoad(partition);
    this.log(
      `loaded ${loaded.groups.length} group(s) (${loaded.consumerGroups.length} of the consumer protocol), ${loaded.offsets} committed offset(s) and ${loaded.pending.length} offset(s) of open transactions from ${OFFSETS_TOPIC}-${partition} (${loaded.records} records) in ${Date.now() - startedMs} ms`,
    );
  }

  /** Drops the groups of a partition this broker no longer leads (cluster mode); parked requests get NOT_COORDINATOR. */
  unloadPartition(partition: number): void {
    this.loads.unload(partition);
    this.offsets.transactional.dropPartition(partition);
    this.offsets.forgetMarkersDuringLoad(partition);
    let count = 0;
    for (const group of [...this.groups.values()]) {
      if (this.store.partitionFor(group.groupId) !== partition) continue;
      this.unloadGroup(group);
      this.groups.delete(group.groupId);
      count++;
    }
    if (count > 0) this.log(`unloaded ${count} group(s) of ${OFFSETS_TOPIC}-${partition}: this broker no longer leads it`);
  }

  /** This broker created the topic: it is empty, so the groups in memory (single node, before it existed) are complete. */
  private onOffsetsTopicCreated(): void {
    const topic = this.services.topics.get(OFFSETS_TOPIC);
    if (!topic) return;
    for (const { partition } of topic.partitions) if (this.services.replication.checkLeader(topic.name, partition) === ErrorCode.NONE) this.loads.markLoaded(partition);
  }

  private unloadGroup(group: GroupMetadata): void {
    this.clearGroupTimers(group);
    if (group.consumerGroup) this.consumerProtocol.unload(group.consumerGroup);
    for (const member of group.members.values()) {
      group.invokeJoinCallback(member, joinError(member.memberId, ErrorCode.NOT_COORDINATOR));
      group.invokeSyncCallback(member, syncError(ErrorCode.NOT_COORDINATOR));
      if (member.heartbeatTimer) clearTimeout(member.heartbeatTimer);
      member.heartbeatTimer = null;
    }
    group.state = "Dead";
  }

  private clearGroupTimers(group: GroupMetadata): void {
    if (group.joinTimer) clearTimeout(group.joinTimer);
    group.joinTimer = null;
    if (group.pendingSyncTimer) clearTimeout(group.pendingSyncTimer);
    group.pendingSyncTimer = null;
    for (const timer of group.pendingMembers.values()) clearTimeout(timer);
    group.pendingMembers.clear();
  }

  /** Error for a request about `groupId`, or NONE: validity, coordinator running, ours, loaded. */
  validateGroupStatus(groupId: string, kind: GroupApiKind): number {
    if (groupId === null || groupId === undefined || (kind === "membership" && groupId.length === 0)) return ErrorCode.INVALID_GROUP_ID;
    if (!this.active) return ErrorCode.COORDINATOR_NOT_AVAILABLE;
    return this.coordinates(groupId);
  }

  /**
   * The broker coordinating a consumer group: the leader of the group's __consumer_offsets partition, so that
   * coordination moves with that partition's leadership. Single node: this one. Null while the partition
   * has no leader (or the topic is being created on first use): clients retry on COORDINATOR_NOT_AVAILABLE.
   */
  coordinatorFor(groupId: string): BrokerInfo | null {
    const { cluster } = this.services;
    if (cluster.singleNode) return cluster.self();
    const topic = this.services.topics.get(OFFSETS_TOPIC);
    if (!topic) {
      this.store.ensureTopic().catch((error) => this.log(`creating ${OFFSETS_TOPIC} failed: ${String(error)}`));
      return null;
    }
    const leader = topic.partitions[this.store.partitionFor(groupId)]?.leader ?? -1;
    return cluster.brokers().find((info) => info.nodeId === leader) ?? null;
  }

  /** The __consumer_offsets partition of `groupId` (AddOffsetsToTxn adds it to a transaction). */
  offsetsPartitionFor(groupId: string): number {
    return this.store.partitionFor(groupId);
  }

  /** Creates __consumer_offsets if it does not exist yet: a transaction's marker must have a partition to land in. */
  ensureOffsetsTopic(): Promise<void> {
    return this.store.ensureTopic();
  }

  /** The one place that decides whether this broker coordinates `groupId`. */
  coordinates(groupId: string): number {
    const coordinator = this.coordinatorFor(groupId);
    if (!coordinator) return ErrorCode.COORDINATOR_NOT_AVAILABLE;
    if (coordinator.nodeId !== this.services.config.nodeId) return ErrorCode.NOT_COORDINATOR;
    const topic = this.services.topics.get(OFFSETS_TOPIC);
    // Before the topic exists, or while this broker creates it: it is empty, memory is the whole state.
    if (!topic || this.store.isCreating) return ErrorCode.NONE;
    const partition = this.store.partitionFor(groupId);
    if (this.loads.isLoaded(partition)) return ErrorCode.NONE;
    // The metadata names this broker but its replica has not taken the leadership yet: retry shortly.
    if (this.services.replication.checkLeader(topic.name, partition) !== ErrorCode.NONE) return ErrorCode.COORDINATOR_LOAD_IN_PROGRESS;
    // Led but not loaded (the leadership notice is still on its way): load now; the client retries.
    this.loadPartition(partition).catch((error) => this.log(`loading ${OFFSETS_TOPIC}-${partition} failed: ${String(error)}`));
    return ErrorCode.COORDINATOR_LOAD_IN_PROGRESS;
  }

  isPartitionLoaded(offsetsPartition: number): boolean {
    return this.loads.isLoaded(offsetsPartition);
  }

  get isLoading(): boolean {
    return this.loads.isLoading;
  }

  get isActive(): boolean {
    return this.active;
  }

  addGroup(groupId: string): GroupMetadata {
    let group = this.groups.get(groupId);
    if (!group) {
      group = new GroupMetadata(groupId);
      this.groups.set(groupId, group);
    }
    return group;
  }

  // ---- JoinGroup ----

  join(params: JoinGroupParams): Promise<JoinResult> | JoinResult {
    const { groupId, memberId } = params;
    const status = this.validateGroupStatus(groupId, "membership");
    if (status !== ErrorCode.NONE) return joinError(memberId, status);
    if (params.sessionTimeoutMs < this.config.groupMinSessionTimeoutMs || params.sessionTimeoutMs > this.config.groupMaxSessionTimeoutMs) {
      return joinError(memberId, ErrorCode.INVALID_SESSION_TIMEOUT);
    }
    const isUnknownMember = memberId === "";
    let group = this.groups.get(groupId);
    if (group?.consumerGroup) {
      // An empty consumer-protocol group becomes classic (Kafka's downgrade of an empty group); one with
      // members takes the classic member in (KIP-848's online migration, consumer-group/).
      if (group.consumerGroup.members.size > 0) return this.consumerProtocol.classicJoin(group, params);
      const tombstones = groupTombstones(group.consumerGroup);
      this.consumerProtocol.unload(group.consumerGroup);
      group.consumerGroup = null;
      group.protocolType = null;
      // Its consumer-protocol records go before the classic group's metadata is written (at its first sync).
      this.appendGroupRecords(groupId, tombstones).then((errorCode) => {
        if (errorCode !== ErrorCode.NONE) this.log(`group ${groupId}: tombstones of its consumer-protocol records failed (error ${errorCode})`);
      });
    }
    if (!group) {
      // Only an unknown member creates a group; a member id for a group we do not know is stale.
      if (!isUnknownMember) return joinError(memberId, ErrorCode.UNKNOWN_MEMBER_ID);
      if (params.protocolType.length === 0 || params.protocols.length === 0) return joinError(memberId, ErrorCode.INCONSISTENT_GROUP_PROTOCOL);
      group = this.addGroup(groupId);
    }
    if (isUnknownMember && group.members.size >= this.config.groupMaxSize) return joinError("", ErrorCode.GROUP_MAX_SIZE_REACHED);
    const target = group;
    return new Promise<JoinResult>((resolve) => {
      if (isUnknownMember) this.doUnknownJoin(target, params, resolve);
      else this.doJoin(target, params, resolve);
      if (target.is("PreparingRebalance")) this.checkJoinComplete(target);
    });
  }

  private doUnknownJoin(group: GroupMetadata, params: JoinGroupParams, respond: (result: JoinResult) => void): void {
    if (group.is("Dead")) return respond(joinError("", ErrorCode.COORDINATOR_NOT_AVAILABLE));
    if (!group.supportsProtocols(params.protocolType, params.protocols)) return respond(joinError("", ErrorCode.INCONSISTENT_GROUP_PROTOCOL));
    const newMemberId = `${params.groupInstanceId ?? params.clientId}-${randomUUID()}`;
    const instanceId = params.groupInstanceId;
    if (instanceId !== null && group.staticMembers.has(instanceId)) {
      // A static member restarted: it takes over its old slot without a rebalance when nothing changed.
      const oldMemberId = group.staticMembers.get(instanceId)!;
      const currentLeader = group.leaderId ?? "";
      const old = group.get(oldMemberId)!;
      group.invokeJoinCallback(old, joinError(oldMemberId, ErrorCode.FENCED_INSTANCE_ID));
      group.invokeSyncCallback(old, syncError(ErrorCode.FENCED_INSTANCE_ID));
      const member = group.replaceStaticMember(oldMemberId, newMemberId);
      member.clientId = params.clientId;
      member.clientHost = params.clientHost;
      this.log(`group ${group.groupId}: static member ${instanceId} rejoined as ${newMemberId}, replacing ${oldMemberId}`);
      const unchanged = member.matches(params.protocols);
      if ((group.is("Stable") || group.is("CompletingRebalance")) && unchanged) {
        this.scheduleHeartbeatExpiration(group, member, member.sessionTimeoutMs);
        // v9+ (KIP-814): a rejoining leader learns it leads (with every member's metadata, so it can watch
        // metadata changes) but skips the assignment. Older versions get the old leader id, so the replacement
        // does not compute an assignment that a stable group would not distribute (Kafka does the same).
        if (params.supportSkippingAssignment) {
          const isLeader = group.isLeader(newMemberId);
          return respond({ errorCode: ErrorCode.NONE, generationId: group.generationId, protocolName: group.protocolName ?? "", leader: group.leaderId ?? "", memberId: newMemberId, members: isLeader ? group.currentMemberMetadata() : [], skipAssignment: isLeader });
        }
        return respond({ errorCode: ErrorCode.NONE, generationId: group.generationId, protocolName: group.protocolName ?? "", leader: currentLeader, memberId: newMemberId, members: [] });
      }
      this.scheduleHeartbeatExpiration(group, member, member.sessionTimeoutMs);
      return this.updateMemberAndRebalance(group, member, params, respond, "static member rejoined with new metadata");
    }
    if (params.requireKnownMemberId) {
      if (group.pendingMembers.size >= this.config.groupPendingMembersMax) return respond(joinError("", ErrorCode.GROUP_MAX_SIZE_REACHED));
      // KIP-394: hand out the id and expect the member back with it within its session timeout.
      const timer = setTimeout(() => this.onPendingMemberExpired(group, newMemberId), params.sessionTimeoutMs);
      group.pendingMembers.set(newMemberId, timer);
      return respond(joinError(newMemberId, ErrorCode.MEMBER_ID_REQUIRED));
    }
    this.addMemberAndRebalance(group, newMemberId, params, respond);
  }

  private doJoin(group: GroupMetadata, params: JoinGroupParams, respond: (result: JoinResult) => void): void {
    const { memberId, groupInstanceId } = params;
    if (group.is("Dead")) return respond(joinError(memberId, ErrorCode.COORDINATOR_NOT_AVAILABLE));
    if (!group.supportsProtocols(params.protocolType, params.protocols)) return respond(joinError(memberId, ErrorCode.INCONSISTENT_GROUP_PROTOCOL));
    if (group.pendingMembers.has(memberId)) {
      if (groupInstanceId !== null) return respond(joinError(memberId, ErrorCode.UNKNOWN_MEMBER_ID));
      return this.addMemberAndRebalance(group, memberId, params, respond);
    }
    if (this.isStaticMemberFenced(group, memberId, groupInstanceId)) return respond(joinError(memberId, ErrorCode.FENCED_INSTANCE_ID));
    const member = group.get(memberId);
    if (!member || (groupInstanceId !== null && !group.staticMembers.has(groupInstanceId))) return respond(joinError(memberId, ErrorCode.UNKNOWN_MEMBER_ID));
    member.clientId = params.clientId;
    member.clientHost = params.clientHost;
    switch (group.state) {
      case "PreparingRebalance":
        return this.updateMemberAndRebalance(group, member, params, respond, `member ${memberId} rejoined`);
      case "CompletingRebalance":
        if (member.matches(params.protocols)) {
          // It missed the JoinGroup response: the same generation again.
          return respond({
            errorCode: ErrorCode.NONE,
            generationId: group.generationId,
            protocolName: group.protocolName ?? "",
            leader: group.leaderId ?? "",
            memberId,
            members: group.isLeader(memberId) ? group.currentMemberMetadata() : [],
          });
        }
        return this.updateMemberAndRebalance(group, member, params, respond, `member ${memberId} changed its metadata`);
      case "Stable":
        // The leader rejoining forces a rebalance: that is how a consumer reacts to changed topic metadata.
        if (group.isLeader(memberId) || !member.matches(params.protocols)) {
          return this.updateMemberAndRebalance(group, member, params, respond, group.isLeader(memberId) ? `leader ${memberId} rejoined` : `member ${memberId} changed its metadata`);
        }
        return respond({ errorCode: ErrorCode.NONE, generationId: group.generationId, protocolName: group.protocolName ?? "", leader: group.leaderId ?? "", memberId, members: [] });
      default:
        return respond(joinError(memberId, ErrorCode.UNKNOWN_MEMBER_ID));
    }
  }

  isStaticMemberFenced(group: GroupMetadata, memberId: string, groupInstanceId: string | null): boolean {
    if (groupInstanceId === null) return false;
    const current = group.staticMembers.get(groupInstanceId);
    return current !== undefined && current !== memberId;
  }

  private addMemberAndRebalance(group: GroupMetadata, memberId: string, params: JoinGroupParams, respond: (result: JoinResult) => void): void {
    const member = new MemberMetadata(memberId, params.groupInstanceId, params.clientId, params.clientHost, params.rebalanceTimeoutMs, params.sessionTimeoutMs, params.protocolType, params.protocols);
    member.isNew = true;
    if (group.is("PreparingRebalance") && group.generationId === 0) group.newMemberAdded = true;
    const pending = group.pendingMembers.get(memberId);
    if (pending) clearTimeout(pending);
    group.pendingMembers.delete(memberId);
    group.add(member, respond);
    // A new member cannot heartbeat until it has joined, and a parked JoinGroup does not show a dead
    // client: it gets the new-member join timeout instead of its session timeout (Kafka, KIP-394).
    this.scheduleHeartbeatExpiration(group, member, this.config.newMemberJoinTimeoutMs);
    this.maybePrepareRebalance(group, `member ${memberId} joined${clientReason(params.reason)}`);
  }

  private updateMemberAndRebalance(group: GroupMetadata, member: MemberMetadata, params: JoinGroupParams, respond: (result: JoinResult) => void, reason: string): void {
    // A second JoinGroup from the same member replaces the first; the first is answered, never dropped.
    group.invokeJoinCallback(member, joinError(member.memberId, ErrorCode.REBALANCE_IN_PROGRESS));
    group.updateMember(member, params.protocols, params.rebalanceTimeoutMs, params.sessionTimeoutMs, respond);
    this.maybePrepareRebalance(group, `${reason}${clientReason(params.reason)}`);
  }

  private maybePrepareRebalance(group: GroupMetadata, reason: string): void {
    if (group.canRebalance) this.prepareRebalance(group, reason);
  }

  prepareRebalance(group: GroupMetadata, reason: string): void {
    if (group.is("CompletingRebalance")) this.resetAndPropagateAssignmentError(group, ErrorCode.REBALANCE_IN_PROGRESS);
    this.clearPendingSync(group);
    if (group.joinTimer) clearTimeout(group.joinTimer);
    const wasEmpty = group.is("Empty");
    group.transitionTo("PreparingRebalance");
    this.log(`group ${group.groupId}: preparing to rebalance from generation ${group.generationId} (${reason})`);
    if (wasEmpty) {
      // group.initial.rebalance.delay.ms: the first rebalance waits for more members, extended while they come.
      const delayMs = this.config.groupInitialRebalanceDelayMs;
      this.scheduleInitialDelayedJoin(group, delayMs, Math.max(group.rebalanceTimeoutMs - delayMs, 0));
    } else {
      group.joinTimerIsInitialDelay = false;
      group.joinTimer = setTimeout(() => {
        group.joinTimer = null;
        this.completeJoin(group);
      }, group.rebalanceTimeoutMs);
      this.checkJoinComplete(group);
    }
  }

  private scheduleInitialDelayedJoin(group: GroupMetadata, delayMs: number, remainingMs: number): void {
    group.joinTimerIsInitialDelay = true;
    group.newMemberAdded = false;
    group.joinTimer = setTimeout(() => {
      group.joinTimer = null;
      if (!group.is("PreparingRebalance")) return;
      if (group.newMemberAdded && remainingMs > 0) {
        const nextDelayMs = Math.min(this.config.groupInitialRebalanceDelayMs, remainingMs);
        this.scheduleInitialDelayedJoin(group, nextDelayMs, remainingMs - nextDelayMs);
      } else {
        this.completeJoin(group);
      }
    }, delayMs);
  }

  /** Completes the rebalance early when every member has rejoined (not during the initial delay). */
  checkJoinComplete(group: GroupMetadata): void {
    if (!group.is("PreparingRebalance") || group.joinTimerIsInitialDelay || !group.hasAllMembersJoined) return;
    if (group.joinTimer) clearTimeout(group.joinTimer);
    group.joinTimer = null;
    this.completeJoin(group);
  }

  private completeJoin(group: GroupMetadata): void {
    if (!group.is("PreparingRebalance")) return;
    if (group.joinTimer) clearTimeout(group.joinTimer);
    group.joinTimer = null;
    group.joinTimerIsInitialDelay = false;
    // Dynamic members that did not rejoin within the rebalance timeout are out; static members stay
    // (their session timeout decides).
    for (const member of group.notYetRejoinedMembers()) {
      if (member.isStatic) continue;
      this.log(`group ${group.groupId}: member ${member.memberId} did not rejoin in time, removing it`);
      group.invokeSyncCallback(member, syncError(ErrorCode.UNKNOWN_MEMBER_ID));
      group.remove(member.memberId);
    }
    if (!group.maybeElectNewJoinedLeader() && group.members.size > 0) {
      // Only static members that have not rejoined are left: wait for them (or their session timeouts).
      this.log(`group ${group.groupId}: no member rejoined, waiting another rebalance timeout`);
      group.joinTimer = setTimeout(() => {
        group.joinTimer = null;
        this.completeJoin(group);
      }, group.rebalanceTimeoutMs);
      return;
    }
    group.initNextGeneration();
    if (group.is("Empty")) {
      this.log(`group ${group.groupId}: generation ${group.generationId} is empty`);
      this.storeGroup(group, new Map()).then((errorCode) => {
        if (errorCode !== ErrorCode.NONE) this.log(`group ${group.groupId}: failed to store empty group metadata (error ${errorCode})`);
      });
      return;
    }
    this.log(`group ${group.groupId}: generation ${group.generationId} with ${group.members.size} member(s), protocol ${group.protocolName}, leader ${group.leaderId}`);
    for (const member of group.members.values()) {
      group.invokeJoinCallback(member, {
        errorCode: ErrorCode.NONE,
        generationId: group.generationId,
        protocolName: group.protocolName ?? "",
        leader: group.leaderId ?? "",
        memberId: member.memberId,
        members: group.isLeader(member.memberId) ? group.currentMemberMetadata() : [],
      });
      this.scheduleHeartbeatExpiration(group, member, member.sessionTimeoutMs);
      member.isNew = false;
    }
    this.schedulePendingSync(group);
  }

  /** Members that got the JoinGroup response must send SyncGroup within the rebalance timeout, or they are removed. */
  private schedulePendingSync(group: GroupMetadata): void {
    this.clearPendingSync(group);
    for (const memberId of group.members.keys()) group.pendingSyncMembers.add(memberId);
    const generationId = group.generationId;
    group.pendingSyncTimer = setTimeout(() => {
      group.pendingSyncTimer = null;
      if (group.generationId !== generationId || !(group.is("CompletingRebalance") || group.is("Stable")) || group.pendingSyncMembers.size === 0) return;
      const late = [...group.pendingSyncMembers];
      this.log(`group ${group.groupId}: member(s) ${late.join(", ")} did not send SyncGroup in time, removing them`);
      for (const memberId of late) {
        const member = group.get(memberId);
        if (!member) continue;
        group.invokeJoinCallback(member, joinError(memberId, ErrorCode.UNKNOWN_MEMBER_ID));
        group.remove(memberId);
      }
      this.prepareRebalance(group, "members missed the sync deadline");
    }, group.rebalanceTimeoutMs);
  }

  private clearPendingSync(group: GroupMetadata): void {
    group.pendingSyncMembers.clear();
    if (group.pendingSyncTimer) clearTimeout(group.pendingSyncTimer);
    group.pendingSyncTimer = null;
  }

  private removePendingSyncMember(group: GroupMetadata, memberId: string): void {
    group.pendingSyncMembers.delete(memberId);
    if (group.pendingSyncMembers.size === 0 && group.pendingSyncTimer) {
      clearTimeout(group.pendingSyncTimer);
      group.pendingSyncTimer = null;
    }
  }

  // ---- SyncGroup ----

  sync(params: SyncGroupParams): Promise<SyncResult> | SyncResult {
    const status = this.validateGroupStatus(params.groupId, "membership");
    // A loading coordinator has lost the rebalance in progress: the member must rejoin (Kafka).
    if (status === ErrorCode.COORDINATOR_LOAD_IN_PROGRESS) return syncError(ErrorCode.REBALANCE_IN_PROGRESS);
    if (status !== ErrorCode.NONE) return syncError(status);
    const group = this.groups.get(params.groupId);
    if (!group) return syncError(ErrorCode.UNKNOWN_MEMBER_ID);
    if (group.is("Dead")) return syncError(ErrorCode.COORDINATOR_NOT_AVAILABLE);
    if (group.consumerGroup) {
      // SyncGroup v5's protocol type: a consumer-protocol group's classic members speak "consumer" only.
      if (params.protocolType !== null && params.protocolType !== CONSUMER_PROTOCOL_TYPE) return syncError(ErrorCode.INCONSISTENT_GROUP_PROTOCOL);
      const synced = this.consumerProtocol.classicSync(group, params.memberId, params.generationId, params.protocolName);
      return { errorCode: synced.errorCode, protocolType: synced.errorCode === ErrorCode.NONE ? CONSUMER_PROTOCOL_TYPE : null, protocolName: synced.protocolName, assignment: synced.assignment };
    }
    if (this.isStaticMemberFenced(group, params.memberId, params.groupInstanceId)) return syncError(ErrorCode.FENCED_INSTANCE_ID);
    const member = group.get(params.memberId);
    if (!member) return syncError(ErrorCode.UNKNOWN_MEMBER_ID);
    if (params.generationId !== group.generationId) return syncError(ErrorCode.ILLEGAL_GENERATION);
    if ((params.protocolType !== null && params.protocolType !== group.protocolType) || (params.protocolName !== null && params.protocolName !== group.protocolName)) {
      return syncError(ErrorCode.INCONSISTENT_GROUP_PROTOCOL);
    }
    switch (group.state) {
      case "Empty":
        return syncError(ErrorCode.UNKNOWN_MEMBER_ID);
      case "PreparingRebalance":
        return syncError(ErrorCode.REBALANCE_IN_PROGRESS);
      case "Stable":
        this.removePendingSyncMember(group, member.memberId);
        this.scheduleHeartbeatExpiration(group, member, member.sessionTimeoutMs);
        return { errorCode: ErrorCode.NONE, protocolType: group.protocolType, protocolName: group.protocolName, assignment: member.assignment };
      default:
        break;
    }
    // CompletingRebalance: park until the leader's assignment is stored.
    this.removePendingSyncMember(group, member.memberId);
    return new Promise<SyncResult>((resolve) => {
      group.invokeSyncCallback(member, syncError(ErrorCode.REBALANCE_IN_PROGRESS));
      member.awaitingSync = resolve;
      if (group.isLeader(member.memberId)) this.onLeaderAssignment(group, member, params);
    });
  }

  private onLeaderAssignment(group: GroupMetadata, leader: MemberMetadata, params: SyncGroupParams): void {
    const assignment = new Map<string, Uint8Array>();
    for (const entry of params.assignments) if (group.has(entry.memberId)) assignment.set(entry.memberId, new Uint8Array(entry.assignment));
    if (group.protocolType === CONSUMER_PROTOCOL_TYPE) {
      // Not in Kafka (it passes the bytes on): a consumer assignment that does not decode would make every
      // member fail at once. The leader gets INVALID_REQUEST, the others REBALANCE_IN_PROGRESS, and the group
      // rebalances instead of handing garbage out.
      const malformed = [...assignment].filter(([, bytes]) => decodeAssignment(bytes) === null).map(([memberId]) => memberId);
      if (malformed.length > 0) {
        this.log(`group ${group.groupId}: leader ${leader.memberId} sent a malformed consumer assignment for ${malformed.join(", ")}; rebalancing`);
        group.invokeSyncCallback(leader, syncError(ErrorCode.INVALID_REQUEST));
        this.resetAndPropagateAssignmentError(group, ErrorCode.REBALANCE_IN_PROGRESS);
        this.prepareRebalance(group, "malformed assignment from the leader");
        return;
      }
    }
    for (const memberId of group.members.keys()) if (!assignment.has(memberId)) assignment.set(memberId, EMPTY_BYTES);
    const generationId = group.generationId;
    this.storeGroup(group, assignment).then((errorCode) => {
      // A member may have joined (or the group died) while the append was in flight: then nothing happens.
      if (!group.is("CompletingRebalance") || group.generationId !== generationId) return;
      if (errorCode !== ErrorCode.NONE) {
        this.resetAndPropagateAssignmentError(group, errorCode);
        this.maybePrepareRebalance(group, `storing the assignment failed (error ${errorCode})`);
        return;
      }
      this.setAndPropagateAssignment(group, assignment);
      group.transitionTo("Stable");
      this.log(`group ${group.groupId}: generation ${generationId} is stable`);
    });
  }

  private setAndPropagateAssignment(group: GroupMetadata, assignment: Map<string, Uint8Array>): void {
    for (const member of group.members.values()) {
      if (member.assignment.byteLength > 0) member.previousAssignment = member.assignment;
      member.assignment = assignment.get(member.memberId) ?? EMPTY_BYTES;
    }
    this.propagateAssignment(group, ErrorCode.NONE);
  }

  private resetAndPropagateAssignmentError(group: GroupMetadata, errorCode: number): void {
    for (const member of group.members.values()) {
      if (member.assignment.byteLength > 0) member.previousAssignment = member.assignment;
      member.assignment = EMPTY_BYTES;
    }
    this.propagateAssignment(group, errorCode);
  }

  private propagateAssignment(group: GroupMetadata, errorCode: number): void {
    for (const member of group.members.values()) {
      const answered = group.invokeSyncCallback(member, {
        errorCode,
        protocolType: group.protocolType,
        protocolName: group.protocolName,
        assignment: errorCode === ErrorCode.NONE ? member.assignment : EMPTY_BYTES,
      });
      // A session that expired while the member waited for the leader was ignored; start it afresh.
      if (answered) this.scheduleHeartbeatExpiration(group, member, member.sessionTimeoutMs);
    }
  }

  releaseClassicGroup(group: GroupMetadata): void {
    this.clearGroupTimers(group);
    this.clearPendingSync(group);
    for (const member of group.members.values()) {
      group.invokeJoinCallback(member, joinError(member.memberId, ErrorCode.REBALANCE_IN_PROGRESS));
      group.invokeSyncCallback(member, syncError(ErrorCode.REBALANCE_IN_PROGRESS));
      if (member.heartbeatTimer) clearTimeout(member.heartbeatTimer);
      member.heartbeatTimer = null;
    }
  }

  /**
   * KIP-848's downgrade: the consumer group's members all speak the classic protocol, so it becomes a classic
   * group again at generation = its group epoch, with their assignments. Its consumer-protocol records get
   * tombstones. After a departure it rebalances (the members rejoin at their next heartbeat; the classic record
   * follows the rebalance); after a classic static member replaced the last consumer-protocol one (`rebalance`
   * false, Kafka's convertToClassicGroup with a joining member) it is Stable at once and its classic record is
   * written now. Resolves with the error of the appends.
   */
  downgradeToClassic(group: GroupMetadata, rebalance = true): Promise<number> {
    const consumer = group.consumerGroup!;
    const tombstones = groupTombstones(consumer);
    this.consumerProtocol.unload(consumer);
    group.consumerGroup = null;
    group.protocolType = CONSUMER_PROTOCOL_TYPE;
    group.generationId = consumer.groupEpoch;
    group.state = "Empty";
    for (const member of consumer.members.values()) {
      const classic = member.classic!;
      const restored = new MemberMetadata(member.memberId, member.instanceId, member.clientId, member.clientHost, member.rebalanceTimeoutMs, classic.sessionTimeoutMs, CONSUMER_PROTOCOL_TYPE, classic.protocols);
      const assignedPartitions = [...member.assigned].map(([topic, partitions]) => ({ topic, partitions: [...partitions].sort((a, b) => a - b) }));
      restored.assignment = encodeAssignment({ assignedPartitions, userData: null });
      group.add(restored, null);
      this.scheduleHeartbeatExpiration(group, restored, classic.sessionTimeoutMs);
    }
    const removed = this.appendGroupRecords(group.groupId, tombstones).then((errorCode) => {
      if (errorCode !== ErrorCode.NONE) this.log(`group ${group.groupId}: tombstones of its consumer-protocol records failed (error ${errorCode})`);
      return errorCode;
    });
    if (rebalance) {
      this.prepareRebalance(group, "downgraded from the consumer protocol");
      return removed;
    }
    if (group.candidateProtocols().size === 0) {
      this.prepareRebalance(group, "downgraded from the consumer protocol (its members share no protocol)");
      return removed;
    }
    group.protocolName = group.selectProtocol();
    group.state = "Stable";
    group.stateTimestampMs = Date.now();
    const assignments = new Map([...group.members.values()].map((member) => [member.memberId, member.assignment]));
    const stored = this.storeGroup(group, assignments);
    return Promise.all([removed, stored]).then(([first, second]) => (first !== ErrorCode.NONE ? first : second));
  }

  appendGroupRecords(groupId: string, records: RecordInput[]): Promise<number> {
    if (records.length === 0) return Promise.resolve(ErrorCode.NONE);
    return this.store.append(this.store.partitionFor(groupId), records).then(groupStoreError);
  }

  /** Appends the group's metadata (members and assignments) to its __consumer_offsets partition. */
  storeGroup(group: GroupMetadata, assignment: Map<string, Uint8Array>): Promise<number> {
    const value = encodeGroupMetadataValue({
      protocolType: group.protocolType ?? "",
      generation: group.generationId,
      protocol: group.protocolName,
      leader: group.leaderId,
      currentStateTimestampMs: group.stateTimestampMs,
      members: [...group.members.values()].map((member) => ({
        memberId: member.memberId,
        groupInstanceId: member.groupInstanceId,
        clientId: member.clientId,
        clientHost: member.clientHost,
        rebalanceTimeoutMs: member.rebalanceTimeoutMs,
        sessionTimeoutMs: member.sessionTimeoutMs,
        subscription: member.metadataFor(group.protocolName ?? ""),
        assignment: assignment.get(member.memberId) ?? EMPTY_BYTES,
      })),
    });
    group.pendingAppends++;
    return this.store.append(this.store.partitionFor(group.groupId), [{ key: encodeGroupMetadataKey(group.groupId), value }]).then((errorCode) => {
      group.pendingAppends--;
      return groupStoreError(errorCode);
    });
  }

  // ---- Heartbeat ----

  heartbeat(groupId: string, memberId: string, groupInstanceId: string | null, generationId: number): number {
    const status = this.validateGroupStatus(groupId, "membership");
    if (status === ErrorCode.COORDINATOR_LOAD_IN_PROGRESS) return ErrorCode.NONE; // Kafka answers blindly while loading
    if (status !== ErrorCode.NONE) return status;
    const group = this.groups.get(groupId);
    if (!group) return ErrorCode.UNKNOWN_MEMBER_ID;
    if (group.is("Dead")) return ErrorCode.COORDINATOR_NOT_AVAILABLE;
    if (group.consumerGroup) return this.consumerProtocol.classicHeartbeat(group, memberId, generationId);
    if (this.isStaticMemberFenced(group, memberId, groupInstanceId)) return ErrorCode.FENCED_INSTANCE_ID;
    const member = group.get(memberId);
    if (!member) return ErrorCode.UNKNOWN_MEMBER_ID;
    if (generationId !== group.generationId) return ErrorCode.ILLEGAL_GENERATION;
    switch (group.state) {
      case "Empty":
        return ErrorCode.UNKNOWN_MEMBER_ID;
      case "PreparingRebalance":
        this.scheduleHeartbeatExpiration(group, member, member.sessionTimeoutMs);
        return ErrorCode.REBALANCE_IN_PROGRESS;
      default:
        // CompletingRebalance too: a member may heartbeat between its JoinGroup response and SyncGroup.
        this.scheduleHeartbeatExpiration(group, member, member.sessionTimeoutMs);
        return ErrorCode.NONE;
    }
  }

  /** Restarts the member's expiration timer: `timeoutMs` from now without a heartbeat, it is removed. */
  scheduleHeartbeatExpiration(group: GroupMetadata, member: MemberMetadata, timeoutMs: number): void {
    member.latestHeartbeatMs = Date.now();
    if (member.heartbeatTimer) clearTimeout(member.heartbeatTimer);
    member.heartbeatTimer = setTimeout(() => {
      member.heartbeatTimer = null;
      this.onHeartbeatExpired(group, member);
    }, timeoutMs);
  }

  private onHeartbeatExpired(group: GroupMetadata, member: MemberMetadata): void {
    if (group.get(member.memberId) !== member || !this.active) return;
    // Kafka's shouldKeepAlive: a parked JoinGroup or SyncGroup is bounded by the rebalance itself, except for
    // a new member, whose timer was the new-member join timeout.
    if (member.awaitingJoin) {
      if (!member.isNew) return;
    } else if (member.awaitingSync) {
      return;
    }
    this.log(`group ${group.groupId}: member ${member.memberId} session expired, removing it`);
    this.removeMemberAndUpdateGroup(group, member, `member ${member.memberId} session expired`);
  }

  private onPendingMemberExpired(group: GroupMetadata, memberId: string): void {
    if (!group.pendingMembers.delete(memberId)) return;
    if (group.is("PreparingRebalance")) this.checkJoinComplete(group);
  }

  removeMemberAndUpdateGroup(group: GroupMetadata, member: MemberMetadata, reason: string): void {
    group.invokeJoinCallback(member, joinError("", ErrorCode.UNKNOWN_MEMBER_ID));
    group.invokeSyncCallback(member, syncError(ErrorCode.UNKNOWN_MEMBER_ID));
    group.remove(member.memberId);
    switch (group.state) {
      case "Stable":
      case "CompletingRebalance":
        this.maybePrepareRebalance(group, reason);
        break;
      case "PreparingRebalance":
        this.checkJoinComplete(group);
        break;
      default:
        break;
    }
  }

  // ---- LeaveGroup ----

  leave(groupId: string, leaving: { memberId: string; groupInstanceId: string | null; reason?: string | null }[]): LeaveResult {
    const status = this.validateGroupStatus(groupId, "membership");
    if (status !== ErrorCode.NONE) return { errorCode: status, members: [] };
    const group = this.groups.get(groupId);
    if (!group) return { errorCode: ErrorCode.NONE, members: leaving.map((identity) => ({ ...identity, errorCode: ErrorCode.UNKNOWN_MEMBER_ID })) };
    if (group.is("Dead")) return { errorCode: ErrorCode.COORDINATOR_NOT_AVAILABLE, members: [] };
    if (group.consumerGroup) return { errorCode: ErrorCode.NONE, members: this.consumerProtocol.classicLeave(group, leaving) };
    const members = leaving.map(({ memberId, groupInstanceId, reason }) => {
      const answer = (errorCode: number) => ({ memberId, groupInstanceId, errorCode });
      if (memberId !== "" && this.isStaticMemberFenced(group, memberId, groupInstanceId)) return answer(ErrorCode.FENCED_INSTANCE_ID);
      if (group.pendingMembers.has(memberId)) {
        clearTimeout(group.pendingMembers.get(memberId)!);
        group.pendingMembers.delete(memberId);
        if (group.is("PreparingRebalance")) this.checkJoinComplete(group);
        return answer(ErrorCode.NONE);
      }
      const staticMemberId = groupInstanceId !== null ? group.staticMembers.get(groupInstanceId) : undefined;
      const member = group.get(staticMemberId ?? memberId);
      if (!member) return answer(ErrorCode.UNKNOWN_MEMBER_ID);
      this.log(`group ${group.groupId}: member ${member.memberId}${member.groupInstanceId ? ` (instance ${member.groupInstanceId})` : ""} left${clientReason(reason)}`);
      this.removeMemberAndUpdateGroup(group, member, `member ${member.memberId} left${clientReason(reason)}`);
      return answer(ErrorCode.NONE);
    });
    return { errorCode: ErrorCode.NONE, members };
  }
}

/** A client's KIP-800 reason, for a log line: clipped, since the client chooses its length. */
const MAX_LOGGED_REASON_CHARS = 200;
function clientReason(reason: string | null | undefined): string {
  if (!reason) return "";
  return `; client reason: ${reason.length > MAX_LOGGED_REASON_CHARS ? `${reason.slice(0, MAX_LOGGED_REASON_CHARS)}…` : reason}`;
}

/** How a failed group-metadata append reaches SyncGroup clients (Kafka's GroupMetadataManager.storeGroup). */
function groupStoreError(errorCode: number): number {
  switch (errorCode) {
    case ErrorCode.NONE:
      return ErrorCode.NONE;
    case ErrorCode.UNKNOWN_TOPIC_OR_PARTITION:
    case ErrorCode.NOT_ENOUGH_REPLICAS:
    case ErrorCode.NOT_ENOUGH_REPLICAS_AFTER_APPEND:
    case ErrorCode.REQUEST_TIMED_OUT:
      return ErrorCode.COORDINATOR_NOT_AVAILABLE;
    case ErrorCode.NOT_LEADER_OR_FOLLOWER:
    case ErrorCode.KAFKA_STORAGE_ERROR:
      return ErrorCode.NOT_COORDINATOR;
    default:
      return ErrorCode.UNKNOWN_SERVER_ERROR;
  }
}
