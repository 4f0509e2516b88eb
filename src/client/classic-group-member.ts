// A member of a classic Kafka consumer group (JoinGroup/SyncGroup/Heartbeat/LeaveGroup, protocol type
// "consumer", the eager "range" protocol), as kcat -G and kafka-console-consumer --group are: the
// coordinator hands it partitions, shares them out again when members come and go, and takes them back when
// it leaves. Eager means a rebalance revokes everything: the owner commits what it consumed, rejoins, and
// starts its new partitions at their committed offsets, so a handover skips nothing and repeats nothing.
// The caller drives the consuming; this class keeps the membership (a heartbeat timer between joins) and
// says when the caller must rejoin. Every wait and retry here is bounded.
import { encodeSubscription, decodeAssignment, decodeSubscription, encodeAssignment, CONSUMER_PROTOCOL_TYPE } from "../group/consumer-protocol.ts";
import { ErrorCode, errorName } from "../protocol/errors.ts";
import { ApiKey } from "../protocol/generated/index.ts";
import type { KafkaConnection } from "./kafka-connection.ts";
import { RANGE_ASSIGNOR_NAME, rangeAssign } from "./range-assignor.ts";

// Versions every Kafka since 2.3 answers (KIP-394 member ids, KIP-345 fields present but unused).
const FIND_COORDINATOR_VERSION = 2;
const JOIN_GROUP_VERSION = 5;
const SYNC_GROUP_VERSION = 3;
const HEARTBEAT_VERSION = 3;
const LEAVE_GROUP_VERSION = 3;
const OFFSET_COMMIT_VERSION = 7;
const OFFSET_FETCH_VERSION = 7;
/** v1 carries owned partitions (empty: an eager member owns nothing while it joins), which cooperative assignors read. */
const SUBSCRIPTION_VERSION = 1;
const ASSIGNMENT_VERSION = 0;

/** Join/sync rounds one join() may take (MEMBER_ID_REQUIRED, a rebalance restarting under it, a moved coordinator). */
const JOIN_ROUNDS_MAX = 20;
/** FindCoordinator attempts while the coordinator loads or moves. */
const COORDINATOR_ATTEMPTS_MAX = 40;
const COMMIT_ATTEMPTS_MAX = 10;
const RETRY_BACKOFF_MS = 250;
/** JoinGroup and SyncGroup are held by the coordinator up to the rebalance timeout; give the answer this long beyond it. */
const REBALANCE_ANSWER_MARGIN_MS = 5_000;
const LEAVE_TIMEOUT_MS = 5_000;

/** A refusal the member cannot get past by retrying (authorization, a group of another protocol, bad settings). */
export class GroupMemberError extends Error {}

export interface GroupCluster {
  /** Any reachable broker: FindCoordinator goes there. */
  bootstrapConnection(): Promise<KafkaConnection>;
  brokerConnection(nodeId: number): Promise<KafkaConnection>;
  /** Partition counts of these topics; a topic the cluster does not have is absent. */
  partitionCounts(topics: string[]): Promise<Map<string, number>>;
}

export interface ClassicGroupMemberOptions {
  groupId: string;
  topics: string[];
  cluster: GroupCluster;
  /** The coordinator removes a member that has not heartbeat for this long. */
  sessionTimeoutMs: number;
  /** How long the coordinator waits for every member to rejoin in a rebalance. */
  rebalanceTimeoutMs: number;
  heartbeatIntervalMs: number;
  /** Non-fatal events worth a line on stderr (a refused commit, a lost coordinator). */
  log?: (line: string) => void;
}

/** What a join produced: this member's partitions per topic. */
export interface MemberAssignment {
  generationId: number;
  memberId: string;
  leader: boolean;
  partitions: Map<string, number[]>;
}

export class ClassicGroupMember {
  memberId = "";
  generationId = -1;
  private coordinatorId = -1;
  private rejoinReason: string | null = "first join";
  /** Set when the group refused a commit: this generation's commits are pointless until the next join. */
  private fenced = false;
  private fatal: Error | null = null;
  private heartbeatTimer: ReturnType<typeof setTimeout> | null = null;
  private heartbeatInFlight = false;
  /** Set while join() runs: a heartbeat answered meanwhile speaks of the generation being replaced and is ignored. */
  private joining = false;
  private lastHeartbeatOkMs = 0;
  private closed = false;

  constructor(private readonly options: ClassicGroupMemberOptions) {
    if (options.heartbeatIntervalMs <= 0 || options.heartbeatIntervalMs >= options.sessionTimeoutMs) throw new Error("heartbeat interval must be positive and below the session timeout");
    if (options.topics.length === 0) throw new Error("a group member subscribes to at least one topic");
  }

  /** Why the member must rejoin before consuming on (a rebalance began, it was fenced), or null while it is stable. */
  get rejoinNeeded(): string | null {
    this.throwIfFatal();
    if (this.rejoinReason === null && this.generationId >= 0 && performance.now() - this.lastHeartbeatOkMs > this.options.sessionTimeoutMs) {
      this.rejoinReason = "no heartbeat answered within the session timeout";
    }
    return this.rejoinReason;
  }

  /** Makes the next rejoinNeeded say `reason`: any member rejoining starts a rebalance of the whole group. */
  requestRejoin(reason: string): void {
    this.rejoinReason ??= reason;
  }

  /**
   * Joins (or rejoins) the group and waits for this member's assignment; the leader computes every member's.
   * Null when `signal` aborts first (a JoinGroup may be held for the whole rebalance timeout).
   */
  async join(signal: AbortSignal): Promise<MemberAssignment | null> {
    this.stopHeartbeats();
    this.joining = true;
    try {
      return await this.joinRounds(signal);
    } finally {
      this.joining = false;
    }
  }

  private async joinRounds(signal: AbortSignal): Promise<MemberAssignment | null> {
    for (let round = 0; round < JOIN_ROUNDS_MAX; round++) {
      if (signal.aborted) return null;
      const coordinator = await this.coordinator();
      const joined = await untilAborted(signal, coordinator.request(ApiKey.JoinGroup, JOIN_GROUP_VERSION, {
        groupId: this.options.groupId,
        sessionTimeoutMs: this.options.sessionTimeoutMs,
        rebalanceTimeoutMs: this.options.rebalanceTimeoutMs,
        memberId: this.memberId,
        groupInstanceId: null,
        protocolType: CONSUMER_PROTOCOL_TYPE,
        protocols: [{ name: RANGE_ASSIGNOR_NAME, metadata: encodeSubscription({ topics: this.options.topics, ownedPartitions: [] }, SUBSCRIPTION_VERSION) }],
      }, true, this.options.rebalanceTimeoutMs + REBALANCE_ANSWER_MARGIN_MS));
      if (joined === ABORTED) return null;
      if (joined.errorCode === ErrorCode.MEMBER_ID_REQUIRED) {
        // KIP-394: the coordinator names the member first; the next JoinGroup carries that id.
        this.memberId = joined.memberId;
        continue;
      }
      if (joined.errorCode !== ErrorCode.NONE) {
        await this.onJoinError(joined.errorCode, "JoinGroup");
        continue;
      }
      this.memberId = joined.memberId;
      this.generationId = joined.generationId;
      const leader = joined.leader === joined.memberId;
      if (leader && joined.protocolName !== RANGE_ASSIGNOR_NAME) throw new GroupMemberError(`group ${this.options.groupId} chose assignor "${joined.protocolName}", which this member cannot run`);
      const assignments = leader ? await this.assign(joined.members) : [];
      const synced = await untilAborted(signal, coordinator.request(ApiKey.SyncGroup, SYNC_GROUP_VERSION, {
        groupId: this.options.groupId,
        generationId: this.generationId,
        memberId: this.memberId,
        groupInstanceId: null,
        assignments,
      }, true, this.options.rebalanceTimeoutMs + REBALANCE_ANSWER_MARGIN_MS));
      if (synced === ABORTED) return null;
      if (synced.errorCode !== ErrorCode.NONE) {
        await this.onJoinError(synced.errorCode, "SyncGroup");
        continue;
      }
      const assignment = decodeAssignment(synced.assignment);
      if (!assignment) throw new GroupMemberError(`group ${this.options.groupId}: the leader's assignment for this member does not decode`);
      const partitions = new Map<string, number[]>();
      for (const { topic, partitions: list } of assignment.assignedPartitions) partitions.set(topic, [...(partitions.get(topic) ?? []), ...list].sort((a, b) => a - b));
      this.rejoinReason = null;
      this.fenced = false;
      this.lastHeartbeatOkMs = performance.now();
      this.scheduleHeartbeat();
      return { generationId: this.generationId, memberId: this.memberId, leader, partitions };
    }
    throw new GroupMemberError(`group ${this.options.groupId}: no stable assignment after ${JOIN_ROUNDS_MAX} join rounds`);
  }

  /** Committed offsets of `partitions` (absent: none committed). */
  async committedOffsets(topic: string, partitions: number[]): Promise<Map<number, number>> {
    for (let attempt = 0; attempt < COMMIT_ATTEMPTS_MAX; attempt++) {
      const response = await (await this.coordinator()).request(ApiKey.OffsetFetch, OFFSET_FETCH_VERSION, { groupId: this.options.groupId, topics: [{ name: topic, partitionIndexes: partitions }], requireStable: false });
      let errorCode: number = response.errorCode;
      const offsets = new Map<number, number>();
      for (const p of response.topics[0]?.partitions ?? []) {
        if (p.errorCode !== ErrorCode.NONE) errorCode = p.errorCode;
        else if (p.committedOffset >= 0) offsets.set(p.partitionIndex, p.committedOffset);
      }
      if (errorCode === ErrorCode.NONE) return offsets;
      if (!this.coordinatorMoved(errorCode)) throw new GroupMemberError(`OffsetFetch for group ${this.options.groupId}: ${errorName(errorCode)}`);
      await Bun.sleep(RETRY_BACKOFF_MS);
    }
    throw new GroupMemberError(`OffsetFetch for group ${this.options.groupId}: the coordinator kept moving`);
  }

  /**
   * Commits `positions` in this member's generation. False when the group no longer accepts them from this
   * member (a rebalance moved on without it): the caller must rejoin, and the partitions' next owner starts
   * at the previous commit.
   */
  async commit(topic: string, positions: Map<number, number>): Promise<boolean> {
    if (this.fenced) return false;
    if (positions.size === 0 || this.generationId < 0) return true;
    for (let attempt = 0; attempt < COMMIT_ATTEMPTS_MAX; attempt++) {
      const response = await (await this.coordinator()).request(ApiKey.OffsetCommit, OFFSET_COMMIT_VERSION, {
        groupId: this.options.groupId,
        generationIdOrMemberEpoch: this.generationId,
        memberId: this.memberId,
        groupInstanceId: null,
        topics: [{ name: topic, partitions: [...positions].map(([partitionIndex, committedOffset]) => ({ partitionIndex, committedOffset, committedLeaderEpoch: -1, committedMetadata: "" })) }],
      });
      const errorCode: number = (response.topics[0]?.partitions ?? []).find((p: { errorCode: number }) => p.errorCode !== ErrorCode.NONE)?.errorCode ?? ErrorCode.NONE;
      if (errorCode === ErrorCode.NONE) return true;
      if (errorCode === ErrorCode.REBALANCE_IN_PROGRESS || errorCode === ErrorCode.ILLEGAL_GENERATION || errorCode === ErrorCode.UNKNOWN_MEMBER_ID || errorCode === ErrorCode.FENCED_INSTANCE_ID) {
        if (errorCode === ErrorCode.UNKNOWN_MEMBER_ID) this.memberId = "";
        this.fenced = true;
        this.rejoinReason ??= `commit refused: ${errorName(errorCode)}`;
        this.options.log?.(`group ${this.options.groupId}: commit refused (${errorName(errorCode)}); the partitions' next owner starts at the previous commit`);
        return false;
      }
      if (!this.coordinatorMoved(errorCode) && errorCode !== ErrorCode.REQUEST_TIMED_OUT) throw new GroupMemberError(`commit for group ${this.options.groupId} on ${topic}: ${errorName(errorCode)}`);
      await Bun.sleep(RETRY_BACKOFF_MS);
    }
    throw new GroupMemberError(`commit for group ${this.options.groupId}: the coordinator kept moving`);
  }

  /** Stops heartbeating and leaves the group so its partitions move on at once (best effort, bounded). */
  async leave(): Promise<void> {
    this.closed = true;
    this.stopHeartbeats();
    if (this.memberId === "" || this.coordinatorId < 0) return;
    try {
      const connection = await this.options.cluster.brokerConnection(this.coordinatorId);
      await connection.request(ApiKey.LeaveGroup, LEAVE_GROUP_VERSION, { groupId: this.options.groupId, members: [{ memberId: this.memberId, groupInstanceId: null }] }, true, LEAVE_TIMEOUT_MS);
    } catch {
      // The coordinator is gone or slow: the session timeout removes this member instead.
    }
    this.memberId = "";
    this.generationId = -1;
  }

  private async coordinator(): Promise<KafkaConnection> {
    for (let attempt = 0; attempt < COORDINATOR_ATTEMPTS_MAX; attempt++) {
      if (this.coordinatorId >= 0) {
        try {
          return await this.options.cluster.brokerConnection(this.coordinatorId);
        } catch (error) {
          // The coordinator's broker went away: find the new one (the last failure is reported when none answers).
          this.coordinatorId = -1;
          if (attempt === COORDINATOR_ATTEMPTS_MAX - 1) throw error;
        }
      }
      const found = await (await this.options.cluster.bootstrapConnection()).request(ApiKey.FindCoordinator, FIND_COORDINATOR_VERSION, { key: this.options.groupId, keyType: 0 });
      if (found.errorCode === ErrorCode.NONE) {
        this.coordinatorId = found.nodeId;
        continue;
      }
      if (found.errorCode !== ErrorCode.COORDINATOR_NOT_AVAILABLE && found.errorCode !== ErrorCode.COORDINATOR_LOAD_IN_PROGRESS && found.errorCode !== ErrorCode.NOT_COORDINATOR) {
        throw new GroupMemberError(`FindCoordinator for group ${this.options.groupId}: ${errorName(found.errorCode)}${found.errorMessage ? ` (${found.errorMessage})` : ""}`);
      }
      await Bun.sleep(RETRY_BACKOFF_MS);
    }
    throw new GroupMemberError(`group ${this.options.groupId}: no coordinator available`);
  }

  /** True (and the coordinator forgotten) for the errors that mean "ask FindCoordinator again". */
  private coordinatorMoved(errorCode: number): boolean {
    if (errorCode === ErrorCode.NOT_COORDINATOR || errorCode === ErrorCode.COORDINATOR_NOT_AVAILABLE) {
      this.coordinatorId = -1;
      return true;
    }
    return errorCode === ErrorCode.COORDINATOR_LOAD_IN_PROGRESS;
  }

  private async onJoinError(errorCode: number, api: string): Promise<void> {
    if (errorCode === ErrorCode.UNKNOWN_MEMBER_ID) {
      this.memberId = "";
      return;
    }
    if (errorCode === ErrorCode.REBALANCE_IN_PROGRESS || errorCode === ErrorCode.ILLEGAL_GENERATION) return;
    if (this.coordinatorMoved(errorCode)) {
      await Bun.sleep(RETRY_BACKOFF_MS);
      return;
    }
    const hint =
      errorCode === ErrorCode.INCONSISTENT_GROUP_PROTOCOL ? " (the group's members use another protocol type or no common assignor; this member offers \"range\")"
      : errorCode === ErrorCode.INVALID_SESSION_TIMEOUT ? ` (${this.options.sessionTimeoutMs} ms is outside the broker's group.min.session.timeout.ms..group.max.session.timeout.ms)`
      : "";
    throw new GroupMemberError(`group ${this.options.groupId} refused the ${api}: ${errorName(errorCode)}${hint}`);
  }

  /** The leader's part: every member's partitions from the range assignor, encoded for SyncGroup. */
  private async assign(members: { memberId: string; groupInstanceId: string | null; metadata: Uint8Array }[]): Promise<{ memberId: string; assignment: Uint8Array }[]> {
    const subscribers = members.map((member) => {
      const subscription = decodeSubscription(member.metadata);
      if (!subscription) throw new GroupMemberError(`group ${this.options.groupId}: member ${member.memberId}'s subscription does not decode`);
      return { memberId: member.memberId, groupInstanceId: member.groupInstanceId, topics: subscription.topics };
    });
    const topics = [...new Set(subscribers.flatMap((member) => member.topics))];
    const plan = rangeAssign(subscribers, await this.options.cluster.partitionCounts(topics));
    return [...plan].map(([memberId, byTopic]) => ({
      memberId,
      assignment: encodeAssignment({ assignedPartitions: [...byTopic].map(([topic, partitions]) => ({ topic, partitions })) }, ASSIGNMENT_VERSION),
    }));
  }

  private scheduleHeartbeat(): void {
    if (this.closed) return;
    this.heartbeatTimer = setTimeout(() => void this.heartbeat(), this.options.heartbeatIntervalMs);
  }

  private stopHeartbeats(): void {
    if (this.heartbeatTimer) clearTimeout(this.heartbeatTimer);
    this.heartbeatTimer = null;
  }

  /** One heartbeat; its answer may ask for a rejoin. Runs on a timer so slow output cannot cost the membership. */
  private async heartbeat(): Promise<void> {
    this.heartbeatTimer = null;
    if (this.heartbeatInFlight || this.rejoinReason !== null || this.closed || this.joining) return;
    this.heartbeatInFlight = true;
    const generationId = this.generationId;
    try {
      const response = await (await this.coordinator()).request(ApiKey.Heartbeat, HEARTBEAT_VERSION, { groupId: this.options.groupId, generationId, memberId: this.memberId, groupInstanceId: null });
      if (this.joining || this.closed || generationId !== this.generationId) return;
      const errorCode: number = response.errorCode;
      if (errorCode === ErrorCode.NONE) this.lastHeartbeatOkMs = performance.now();
      else if (errorCode === ErrorCode.REBALANCE_IN_PROGRESS) this.rejoinReason = "the group is rebalancing";
      else if (errorCode === ErrorCode.ILLEGAL_GENERATION || errorCode === ErrorCode.FENCED_INSTANCE_ID) this.rejoinReason = `heartbeat: ${errorName(errorCode)}`;
      else if (errorCode === ErrorCode.UNKNOWN_MEMBER_ID) {
        this.memberId = "";
        this.rejoinReason = "the coordinator no longer knows this member";
      } else if (!this.coordinatorMoved(errorCode)) this.fatal = new GroupMemberError(`heartbeat for group ${this.options.groupId}: ${errorName(errorCode)}`);
    } catch (error) {
      // A lost connection: the next heartbeat finds the coordinator again; the session timeout bounds how long that may take.
      this.coordinatorId = -1;
      if (error instanceof GroupMemberError) this.fatal = error;
    } finally {
      this.heartbeatInFlight = false;
      if (this.rejoinReason === null && this.fatal === null && !this.joining && this.heartbeatTimer === null) this.scheduleHeartbeat();
    }
  }

  private throwIfFatal(): void {
    if (this.fatal) throw this.fatal;
  }
}

const ABORTED = Symbol("aborted");

/** `promise`, or ABORTED as soon as `signal` fires (the request itself is left to finish or time out). */
function untilAborted<T>(signal: AbortSignal, promise: Promise<T>): Promise<T | typeof ABORTED> {
  if (signal.aborted) return Promise.resolve(ABORTED);
  return new Promise((resolve, reject) => {
    const onAbort = () => resolve(ABORTED);
    signal.addEventListener("abort", onAbort, { once: true });
    promise.then(
      (value) => {
        signal.removeEventListener("abort", onAbort);
        resolve(value);
      },
      (error: unknown) => {
        signal.removeEventListener("abort", onAbort);
        reject(error);
      },
    );
  });
}
