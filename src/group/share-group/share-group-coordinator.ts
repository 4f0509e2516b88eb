// Share group membership (KIP-932, Kafka's GroupMetadataManager.shareGroupHeartbeat): a member joins with
// epoch 0 (the coordinator makes up its member id, v0), heartbeats with its epoch and leaves with -1. There is
// no reconciliation: share groups do not own partitions, so the assignment is given at once. Kafka's
// SimpleAssignor gives every member every partition of the topics it subscribes to, and so does this one:
// the share partitions' acquisition locks, not the assignment, keep two members from getting one record.
//
// Every change of members, subscriptions or the subscribed topics' partition counts bumps the group epoch;
// a member's epoch follows the group epoch at its next heartbeat, with the new assignment. Members that do
// not heartbeat within group.share.session.timeout.ms are removed by a sweep. Membership is kept in memory
// only: after a restart members get UNKNOWN_MEMBER_ID and join again (their in-flight records were released
// anyway: acquisition locks do not outlive the broker, docs/share-groups.md).
import { randomUUID } from "node:crypto";
import { ErrorCode } from "../../protocol/errors.ts";
import { topicIdBytes } from "../../metadata/types.ts";
import type { TopicManager } from "../../metadata/topic-manager.ts";

export const SHARE_LEAVE_GROUP_MEMBER_EPOCH = -1;
export const SHARE_GROUP_ASSIGNOR = "simple";

export interface ShareGroupCoordinatorConfig {
  sessionTimeoutMs: number;
  heartbeatIntervalMs: number;
  maxGroups: number;
  maxSize: number;
}

export interface ShareGroupCoordinatorServices {
  readonly topics: Pick<TopicManager, "get">;
  nowMs(): number;
  /** A member left or expired: its acquired records are released and its share sessions closed. */
  onMemberRemoved(groupId: string, memberId: string): void;
  log(message: string): void;
}

interface ShareMember {
  memberId: string;
  memberEpoch: number;
  rackId: string | null;
  clientId: string;
  clientHost: string;
  subscribedTopicNames: string[];
  lastHeartbeatMs: number;
  /** The assignment last sent, as a key: a heartbeat carries the assignment only when it changed. */
  sentAssignmentKey: string | null;
}

interface ShareGroup {
  groupId: string;
  groupEpoch: number;
  members: Map<string, ShareMember>;
  /** Partition counts of the subscribed topics when the epoch was last bumped: growth bumps it again. */
  topologyKey: string;
}

export interface ShareHeartbeatParams {
  groupId: string;
  memberId: string;
  memberEpoch: number;
  rackId: string | null;
  subscribedTopicNames: string[] | null;
  clientId: string;
  clientHost: string;
}

export interface TopicPartitionsById {
  topicId: Uint8Array;
  partitions: number[];
}

export interface ShareHeartbeatResult {
  errorCode: number;
  errorMessage: string | null;
  memberId: string | null;
  memberEpoch: number;
  heartbeatIntervalMs: number;
  assignment: { topicPartitions: TopicPartitionsById[] } | null;
}

export interface DescribedShareGroup {
  errorCode: number;
  errorMessage: string | null;
  groupId: string;
  groupState: string;
  groupEpoch: number;
  assignmentEpoch: number;
  assignorName: string;
  members: {
    memberId: string;
    rackId: string | null;
    memberEpoch: number;
    clientId: string;
    clientHost: string;
    subscribedTopicNames: string[];
    assignment: { topicPartitions: { topicId: Uint8Array; topicName: string; partitions: number[] }[] };
  }[];
}

/** Topic names one member may subscribe to (more: INVALID_REQUEST); bounds what a heartbeat makes the broker keep. */
const MAX_SUBSCRIBED_TOPICS = 10_000;
const SWEEP_INTERVAL_MS = 1000;

export class ShareGroupCoordinator {
  private readonly groups = new Map<string, ShareGroup>();
  private sweepTimer: ReturnType<typeof setInterval> | null = null;

  constructor(
    private readonly config: ShareGroupCoordinatorConfig,
    private readonly services: ShareGroupCoordinatorServices,
  ) {}

  start(): void {
    this.sweepTimer ??= setInterval(() => this.expireMembers(), SWEEP_INTERVAL_MS);
    this.sweepTimer.unref?.();
  }

  stop(): void {
    if (this.sweepTimer) clearInterval(this.sweepTimer);
    this.sweepTimer = null;
  }

  has(groupId: string): boolean {
    return this.groups.has(groupId);
  }

  heartbeat(params: ShareHeartbeatParams): ShareHeartbeatResult {
    const refuse = (errorCode: number, errorMessage: string | null = null): ShareHeartbeatResult => ({ errorCode, errorMessage, memberId: null, memberEpoch: -1, heartbeatIntervalMs: 0, assignment: null });
    const { groupId, memberEpoch } = params;
    if (!groupId) return refuse(ErrorCode.INVALID_GROUP_ID, "GroupId can't be empty.");
    if (params.subscribedTopicNames && params.subscribedTopicNames.length > MAX_SUBSCRIBED_TOPICS) return refuse(ErrorCode.INVALID_REQUEST, `at most ${MAX_SUBSCRIBED_TOPICS} subscribed topics`);
    const now = this.services.nowMs();
    let group = this.groups.get(groupId);

    if (memberEpoch === SHARE_LEAVE_GROUP_MEMBER_EPOCH) {
      const member = group?.members.get(params.memberId);
      if (!group || !member) return refuse(ErrorCode.UNKNOWN_MEMBER_ID);
      this.removeMember(group, member.memberId);
      return { errorCode: ErrorCode.NONE, errorMessage: null, memberId: params.memberId, memberEpoch: SHARE_LEAVE_GROUP_MEMBER_EPOCH, heartbeatIntervalMs: 0, assignment: null };
    }

    let member: ShareMember | undefined;
    if (memberEpoch === 0) {
      if (!params.subscribedTopicNames || params.subscribedTopicNames.length === 0) return refuse(ErrorCode.INVALID_REQUEST, "SubscribedTopicNames must be set in first request.");
      if (!group) {
        // Empty groups hold nothing but their name here (membership is not persisted): they make room first.
        if (this.groups.size >= this.config.maxGroups) for (const [id, existing] of this.groups) if (existing.members.size === 0) this.groups.delete(id);
        if (this.groups.size >= this.config.maxGroups) return refuse(ErrorCode.GROUP_MAX_SIZE_REACHED, `at most ${this.config.maxGroups} share groups (group.share.max.groups)`);
        group = { groupId, groupEpoch: 0, members: new Map(), topologyKey: "" };
        this.groups.set(groupId, group);
      }
      // v0: the coordinator names the member; a known id joining again with epoch 0 rejoins as itself.
      member = params.memberId ? group.members.get(params.memberId) : undefined;
      if (!member) {
        if (group.members.size >= this.config.maxSize) return refuse(ErrorCode.GROUP_MAX_SIZE_REACHED, `at most ${this.config.maxSize} members (group.share.max.size)`);
        member = { memberId: params.memberId || randomUUID(), memberEpoch: 0, rackId: null, clientId: params.clientId, clientHost: params.clientHost, subscribedTopicNames: [], lastHeartbeatMs: now, sentAssignmentKey: null };
        group.members.set(member.memberId, member);
        group.groupEpoch++;
      }
      member.sentAssignmentKey = null;
    } else {
      member = group?.members.get(params.memberId);
      if (!group || !member) return refuse(ErrorCode.UNKNOWN_MEMBER_ID);
      if (memberEpoch !== member.memberEpoch) return refuse(ErrorCode.FENCED_MEMBER_EPOCH, `member epoch ${memberEpoch} is not ${member.memberEpoch}`);
    }

    member.lastHeartbeatMs = now;
    member.clientId = params.clientId;
    member.clientHost = params.clientHost;
    if (params.rackId !== null) member.rackId = params.rackId;
    if (params.subscribedTopicNames) {
      const names = [...new Set(params.subscribedTopicNames)].sort();
      if (names.join("\u0000") !== member.subscribedTopicNames.join("\u0000")) {
        member.subscribedTopicNames = names;
        group.groupEpoch++;
      }
    }
    const topologyKey = this.topologyKey(group);
    if (topologyKey !== group.topologyKey) {
      if (group.topologyKey !== "") group.groupEpoch++;
      group.topologyKey = topologyKey;
    }
    member.memberEpoch = group.groupEpoch;
    const assignment = this.assignmentOf(member);
    const assignmentKey = assignment.map((entry) => `${Buffer.from(entry.topicId).toString("hex")}:${entry.partitions.join(",")}`).join(";");
    const changed = assignmentKey !== member.sentAssignmentKey;
    member.sentAssignmentKey = assignmentKey;
    return {
      errorCode: ErrorCode.NONE,
      errorMessage: null,
      memberId: member.memberId,
      memberEpoch: member.memberEpoch,
      heartbeatIntervalMs: this.config.heartbeatIntervalMs,
      assignment: changed ? { topicPartitions: assignment } : null,
    };
  }

  /** SimpleAssignor: every partition of every subscribed topic that exists. */
  private assignmentOf(member: ShareMember): TopicPartitionsById[] {
    const assignment: TopicPartitionsById[] = [];
    for (const name of member.subscribedTopicNames) {
      const topic = this.services.topics.get(name);
      if (!topic) continue;
      assignment.push({ topicId: topicIdBytes(topic.topicId), partitions: topic.partitions.map((_, index) => index) });
    }
    return assignment;
  }

  private topologyKey(group: ShareGroup): string {
    const names = new Set<string>();
    for (const member of group.members.values()) for (const name of member.subscribedTopicNames) names.add(name);
    return [...names].sort().map((name) => {
      const topic = this.services.topics.get(name);
      return topic ? `${name}:${topic.topicId}:${topic.partitions.length}` : `${name}:-`;
    }).join(";");
  }

  private removeMember(group: ShareGroup, memberId: string): void {
    group.members.delete(memberId);
    group.groupEpoch++;
    this.services.onMemberRemoved(group.groupId, memberId);
  }

  /** Members whose session ran out are removed (their records released). */
  expireMembers(): void {
    const now = this.services.nowMs();
    for (const group of this.groups.values()) {
      for (const member of [...group.members.values()]) {
        if (now - member.lastHeartbeatMs <= this.config.sessionTimeoutMs) continue;
        this.services.log(`share group ${group.groupId}: member ${member.memberId} expired (no heartbeat for ${this.config.sessionTimeoutMs} ms)`);
        this.removeMember(group, member.memberId);
      }
    }
  }

  list(statesFilter: readonly string[]): { groupId: string; protocolType: string; groupState: string; groupType: string }[] {
    const states = statesFilter.map((state) => state.toLowerCase());
    return [...this.groups.values()]
      .map((group) => ({ groupId: group.groupId, protocolType: "share", groupState: stateOf(group), groupType: "share" }))
      .filter((group) => states.length === 0 || states.includes(group.groupState.toLowerCase()));
  }

  describe(groupId: string): DescribedShareGroup {
    const group = this.groups.get(groupId);
    if (!group) return { errorCode: ErrorCode.GROUP_ID_NOT_FOUND, errorMessage: `Group ${groupId} not found.`, groupId, groupState: "Dead", groupEpoch: -1, assignmentEpoch: -1, assignorName: "", members: [] };
    return {
      errorCode: ErrorCode.NONE,
      errorMessage: null,
      groupId,
      groupState: stateOf(group),
      groupEpoch: group.groupEpoch,
      assignmentEpoch: group.groupEpoch,
      assignorName: SHARE_GROUP_ASSIGNOR,
      members: [...group.members.values()].map((member) => ({
        memberId: member.memberId,
        rackId: member.rackId,
        memberEpoch: member.memberEpoch,
        clientId: member.clientId,
        clientHost: member.clientHost,
        subscribedTopicNames: member.subscribedTopicNames,
        assignment: {
          topicPartitions: this.assignmentOf(member).map((entry) => ({
            topicId: entry.topicId,
            topicName: member.subscribedTopicNames.find((name) => this.services.topics.get(name)?.topicId === Buffer.from(entry.topicId).toString("hex")) ?? "",
            partitions: entry.partitions,
          })),
        },
      })),
    };
  }
}

/** Kafka's share group states: Empty with no members, Stable otherwise (no reconciliation, so never Assigning). */
function stateOf(group: ShareGroup): string {
  return group.members.size === 0 ? "Empty" : "Stable";
}
