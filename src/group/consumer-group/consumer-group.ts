// One consumer-protocol group (KIP-848), after Kafka's ConsumerGroup / ConsumerGroupMember: the group
// epoch (bumped by every change of members, subscriptions or subscribed topics' partitions), the target
// assignment computed at the assignment epoch, each member's reconciliation state, and who holds which
// partition (a partition is held by at most one member: assigned to it or pending its revocation).
import type { Assignment } from "./assignors.ts";
import type { MemberAssignmentState } from "./reconciliation.ts";

export type ConsumerGroupState = "Empty" | "Assigning" | "Reconciling" | "Stable";

/** memberEpoch of a static member that left temporarily (it keeps its partitions until its session ends). */
export const LEAVE_GROUP_STATIC_MEMBER_EPOCH = -2;
export const LEAVE_GROUP_MEMBER_EPOCH = -1;

export interface ConsumerMember extends MemberAssignmentState {
  memberId: string;
  instanceId: string | null;
  rackId: string | null;
  clientId: string;
  clientHost: string;
  rebalanceTimeoutMs: number;
  subscribedTopicNames: string[];
  subscribedTopicRegex: string | null;
  /** The compiled regex (subscription-regex.ts), matching whole names. */
  regex: RegExp | null;
  serverAssignor: string | null;
  sessionTimer: ReturnType<typeof setTimeout> | null;
  /** Running while the member must revoke partitions: past the rebalance timeout it is removed. */
  revocationTimer: ReturnType<typeof setTimeout> | null;
  /** A member that speaks the classic protocol (JoinGroup, SyncGroup, Heartbeat) in this group; null otherwise. */
  classic: ClassicMemberState | null;
}

/** What a classic member of a consumer group (an upgraded group, KIP-848's online migration) has besides. */
export interface ClassicMemberState {
  protocols: { name: string; metadata: Uint8Array }[];
  sessionTimeoutMs: number;
  /** What its last SyncGroup handed it; null until it syncs after a join. */
  synced: Assignment | null;
}

export const partitionKey = (topic: string, partition: number): string => `${topic}\u0000${partition}`;

export class ConsumerGroup {
  groupEpoch = 0;
  assignmentEpoch = 0;
  assignorName: string;
  readonly members = new Map<string, ConsumerMember>();
  /** instance id → member id. */
  readonly staticMembers = new Map<string, string>();
  /** Target assignment per member id, at assignmentEpoch. */
  targetAssignment = new Map<string, Assignment>();
  /** "topic\0partition" → the member id that holds it (assigned or pending revocation). */
  readonly owners = new Map<string, string>();
  /** The subscribed topics and their partition counts the target was computed for ("name:count,..."). */
  subscriptionSignature = "";
  /** Members whose records may have changed since the group last wrote (consumer-group-persistence.ts). */
  readonly dirtyMembers = new Set<string>();
  /** Record key ("type:memberId") → fingerprint of the value last appended for it. */
  readonly written = new Map<string, string>();
  /** The group was classic: its classic metadata record gets a tombstone with the first write. */
  classicTombstonePending = false;

  constructor(
    readonly groupId: string,
    defaultAssignor: string,
  ) {
    this.assignorName = defaultAssignor;
  }

  get state(): ConsumerGroupState {
    if (this.members.size === 0) return "Empty";
    if (this.groupEpoch > this.assignmentEpoch) return "Assigning";
    for (const member of this.members.values()) {
      if (member.memberEpoch === LEAVE_GROUP_STATIC_MEMBER_EPOCH) continue;
      if (member.state !== "STABLE" || member.memberEpoch !== this.assignmentEpoch) return "Reconciling";
    }
    return "Stable";
  }

  /** Records what `member` holds now (after its reconciliation state changed). */
  setHoldings(member: ConsumerMember, next: MemberAssignmentState): void {
    this.dirtyMembers.add(member.memberId);
    this.releaseHoldings(member);
    Object.assign(member, next);
    for (const held of [member.assigned, member.pendingRevocation]) {
      for (const [topic, partitions] of held) for (const partition of partitions) this.owners.set(partitionKey(topic, partition), member.memberId);
    }
  }

  releaseHoldings(member: ConsumerMember): void {
    for (const held of [member.assigned, member.pendingRevocation]) {
      for (const [topic, partitions] of held) {
        for (const partition of partitions) {
          const key = partitionKey(topic, partition);
          if (this.owners.get(key) === member.memberId) this.owners.delete(key);
        }
      }
    }
  }

  ownedByOther(memberId: string, topic: string, partition: number): boolean {
    const owner = this.owners.get(partitionKey(topic, partition));
    return owner !== undefined && owner !== memberId;
  }

  /** Topic names every member subscribes to (names only; regexes are resolved against the topics). */
  subscribedTopicNames(): Set<string> {
    const names = new Set<string>();
    for (const member of this.members.values()) for (const name of member.subscribedTopicNames) names.add(name);
    return names;
  }
}

/** What restoring a snapshot changed in the group's membership, so that the coordinator fixes timers. */
export interface RestoredMembers {
  /** Members added since the snapshot, gone again (their timers must stop). */
  dropped: ConsumerMember[];
  /** Members removed since the snapshot, back (their timers must run again). */
  returned: ConsumerMember[];
}

/**
 * The group's state now, to put back when the write of a change fails (Kafka's coordinator reverts its
 * timeline snapshot then). Members are restored in place, so that their timers' closures stay valid.
 */
export function snapshotGroup(group: ConsumerGroup): () => RestoredMembers {
  const { groupEpoch, assignmentEpoch, assignorName, subscriptionSignature, classicTombstonePending } = group;
  const targetAssignment = new Map(group.targetAssignment);
  const staticMembers = new Map(group.staticMembers);
  const owners = new Map(group.owners);
  const members = new Map([...group.members].map(([memberId, member]) => {
    const { sessionTimer: _session, revocationTimer: _revocation, ...fields } = member;
    const assigned = new Map([...member.assigned].map(([topic, partitions]) => [topic, new Set(partitions)]));
    const pendingRevocation = new Map([...member.pendingRevocation].map(([topic, partitions]) => [topic, new Set(partitions)]));
    return [memberId, { member, fields: { ...fields, assigned, pendingRevocation, classic: member.classic ? { ...member.classic } : null } }];
  }));
  return () => {
    const dropped = [...group.members.values()].filter((member) => members.get(member.memberId)?.member !== member);
    const returned = [...members.values()].filter(({ member }) => group.members.get(member.memberId) !== member).map(({ member }) => member);
    group.groupEpoch = groupEpoch;
    group.assignmentEpoch = assignmentEpoch;
    group.assignorName = assignorName;
    group.subscriptionSignature = subscriptionSignature;
    group.classicTombstonePending = classicTombstonePending;
    group.targetAssignment = targetAssignment;
    group.members.clear();
    for (const [memberId, { member, fields }] of members) group.members.set(memberId, Object.assign(member, fields));
    group.staticMembers.clear();
    for (const [instanceId, memberId] of staticMembers) group.staticMembers.set(instanceId, memberId);
    group.owners.clear();
    for (const [key, memberId] of owners) group.owners.set(key, memberId);
    return { dropped, returned };
  };
}
