// One consumer group's state, after Kafka's GroupMetadata / MemberMetadata (core/.../coordinator/group):
// the state machine, members and their protocols, the leader, the generation, static members, members
// still to rejoin or to sync, and the group's committed offsets. Decisions (when to rebalance, which error
// a request gets) live in group-coordinator.ts; this file keeps the bookkeeping consistent.
//
//   Empty ──join──▶ PreparingRebalance ──all joined / timeout──▶ CompletingRebalance ──leader sync──▶ Stable
//     ▲                 ▲      │ (no members left)                    │                              │
//     └─────────────────┼──────┘                                      └──── member change ◀──────────┘
//                       └──────────────────────────── member change ──────────────────────────────────┘
//   any state ──DeleteGroups / coordinator unload──▶ Dead
import type { CommittedOffset } from "./offsets-store.ts";
import type { ConsumerGroup } from "./consumer-group/consumer-group.ts";

export type GroupState = "Empty" | "PreparingRebalance" | "CompletingRebalance" | "Stable" | "Dead";

const validPreviousStates: Record<GroupState, readonly GroupState[]> = {
  Empty: ["PreparingRebalance"],
  PreparingRebalance: ["Stable", "CompletingRebalance", "Empty"],
  CompletingRebalance: ["PreparingRebalance"],
  Stable: ["CompletingRebalance"],
  Dead: ["Stable", "PreparingRebalance", "CompletingRebalance", "Empty", "Dead"],
};

export interface MemberProtocol {
  name: string;
  metadata: Uint8Array;
}

export interface JoinResult {
  errorCode: number;
  generationId: number;
  protocolName: string;
  leader: string;
  memberId: string;
  members: { memberId: string; groupInstanceId: string | null; metadata: Uint8Array }[];
  /** JoinGroup v9+ (KIP-814): the leader is told not to run the assignment (a static leader's stable rejoin). */
  skipAssignment?: boolean;
}

export interface SyncResult {
  errorCode: number;
  protocolType: string | null;
  protocolName: string | null;
  assignment: Uint8Array;
}

const EMPTY_BYTES = new Uint8Array(0);

export class MemberMetadata {
  assignment: Uint8Array = EMPTY_BYTES;
  /** The assignment of the generation before the current one: commits for it stay valid (cooperative revocation). */
  previousAssignment: Uint8Array = EMPTY_BYTES;
  /** A parked JoinGroup, answered when the rebalance completes. */
  awaitingJoin: ((result: JoinResult) => void) | null = null;
  /** A parked SyncGroup, answered when the leader's assignment is stored. */
  awaitingSync: ((result: SyncResult) => void) | null = null;
  /** Joined during the group's first rebalance and not yet through one (Kafka's isNew). */
  isNew = false;
  latestHeartbeatMs = 0;
  heartbeatTimer: ReturnType<typeof setTimeout> | null = null;

  constructor(
    public memberId: string,
    readonly groupInstanceId: string | null,
    public clientId: string,
    public clientHost: string,
    public rebalanceTimeoutMs: number,
    public sessionTimeoutMs: number,
    readonly protocolType: string,
    public protocols: MemberProtocol[],
  ) {}

  get isStatic(): boolean {
    return this.groupInstanceId !== null;
  }

  metadataFor(protocolName: string): Uint8Array {
    return this.protocols.find((protocol) => protocol.name === protocolName)?.metadata ?? EMPTY_BYTES;
  }

  /** Same protocols, same order, same metadata bytes: a rejoin that changes nothing. */
  matches(protocols: readonly MemberProtocol[]): boolean {
    if (protocols.length !== this.protocols.length) return false;
    return protocols.every((protocol, i) => protocol.name === this.protocols[i]!.name && bytesEqual(protocol.metadata, this.protocols[i]!.metadata));
  }

  /** This member's vote: its most preferred protocol among those every member supports. */
  vote(candidates: ReadonlySet<string>): string {
    const choice = this.protocols.find((protocol) => candidates.has(protocol.name));
    if (!choice) throw new Error(`member ${this.memberId} supports none of the candidate protocols`);
    return choice.name;
  }
}

/**
 * A member's protocol names, each once: a JoinGroup may list a name twice, and counting it twice made the
 * protocol look unsupported by the group (count above the member count), so selecting one threw from the
 * join timer and killed the broker (found by the fuzzer). Kafka keeps a member's protocols as a set too.
 */
function protocolNames(protocols: readonly MemberProtocol[]): Set<string> {
  return new Set(protocols.map((protocol) => protocol.name));
}

export function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.byteLength !== b.byteLength) return false;
  for (let i = 0; i < a.byteLength; i++) if (a[i] !== b[i]) return false;
  return true;
}

export class GroupMetadata {
  state: GroupState = "Empty";
  stateTimestampMs = Date.now();
  generationId = 0;
  protocolType: string | null = null;
  protocolName: string | null = null;
  leaderId: string | null = null;
  readonly members = new Map<string, MemberMetadata>();
  /** group.instance.id → member id. */
  readonly staticMembers = new Map<string, string>();
  /** Member ids handed out with MEMBER_ID_REQUIRED, waiting for the member's second JoinGroup; value = expiry timer. */
  readonly pendingMembers = new Map<string, ReturnType<typeof setTimeout>>();
  /** Members of the current generation that have not sent SyncGroup yet. */
  readonly pendingSyncMembers = new Set<string>();
  /** How many members support each protocol (a protocol is a candidate when every member does). */
  private readonly supportedProtocols = new Map<string, number>();
  numMembersAwaitingJoin = 0;
  /** Set when a member joins during the first rebalance: the initial delay is extended (InitialDelayedJoin). */
  newMemberAdded = false;
  /** The rebalance timer: DelayedJoin or InitialDelayedJoin. */
  joinTimer: ReturnType<typeof setTimeout> | null = null;
  joinTimerIsInitialDelay = false;
  pendingSyncTimer: ReturnType<typeof setTimeout> | null = null;
  /** Committed offsets, "topic\0partition" → offset. */
  readonly offsets = new Map<string, CommittedOffset>();
  /** Appends in flight for this group (commits, group metadata): a deleted group ignores their results. */
  pendingAppends = 0;
  /**
   * Set while the group speaks the consumer protocol (KIP-848; consumer-group/): its members, epochs and
   * assignments live there, and the classic state stays Empty. A group id is one or the other.
   */
  consumerGroup: ConsumerGroup | null = null;

  constructor(readonly groupId: string) {}

  /** No member of either protocol (classic Empty, and no consumer-protocol member). */
  get hasNoMembers(): boolean {
    return this.is("Empty") && (this.consumerGroup?.members.size ?? 0) === 0;
  }

  is(state: GroupState): boolean {
    return this.state === state;
  }

  transitionTo(state: GroupState): void {
    if (!validPreviousStates[state].includes(this.state)) {
      throw new Error(`group ${this.groupId}: illegal transition ${this.state} -> ${state}`);
    }
    this.state = state;
    this.stateTimestampMs = Date.now();
  }

  get canRebalance(): boolean {
    return validPreviousStates.PreparingRebalance.includes(this.state);
  }

  has(memberId: string): boolean {
    return this.members.has(memberId);
  }

  get(memberId: string): MemberMetadata | undefined {
    return this.members.get(memberId);
  }

  isLeader(memberId: string): boolean {
    return this.leaderId === memberId;
  }

  get hasAllMembersJoined(): boolean {
    return this.members.size === this.numMembersAwaitingJoin && this.pendingMembers.size === 0;
  }

  /** The longest rebalance timeout of any member: how long a rebalance waits for everyone to rejoin. */
  get rebalanceTimeoutMs(): number {
    let timeoutMs = 0;
    for (const member of this.members.values()) timeoutMs = Math.max(timeoutMs, member.rebalanceTimeoutMs);
    return timeoutMs;
  }

  notYetRejoinedMembers(): MemberMetadata[] {
    return [...this.members.values()].filter((member) => member.awaitingJoin === null);
  }

  add(member: MemberMetadata, callback: ((result: JoinResult) => void) | null): void {
    if (this.members.size === 0) this.protocolType = member.protocolType;
    if (member.protocolType !== this.protocolType) throw new Error(`group ${this.groupId}: member protocol type ${member.protocolType} differs from ${this.protocolType}`);
    if (this.leaderId === null) this.leaderId = member.memberId;
    this.members.set(member.memberId, member);
    for (const name of protocolNames(member.protocols)) this.supportedProtocols.set(name, (this.supportedProtocols.get(name) ?? 0) + 1);
    member.awaitingJoin = callback;
    if (callback) this.numMembersAwaitingJoin++;
    if (member.groupInstanceId !== null) this.staticMembers.set(member.groupInstanceId, member.memberId);
  }

  remove(memberId: string): MemberMetadata | undefined {
    const member = this.members.get(memberId);
    if (!member) return undefined;
    this.members.delete(memberId);
    for (const name of protocolNames(member.protocols)) this.decrementProtocol(name);
    if (member.awaitingJoin) this.numMembersAwaitingJoin--;
    if (member.groupInstanceId !== null && this.staticMembers.get(member.groupInstanceId) === memberId) this.staticMembers.delete(member.groupInstanceId);
    this.pendingSyncMembers.delete(memberId);
    if (member.heartbeatTimer) clearTimeout(member.heartbeatTimer);
    member.heartbeatTimer = null;
    if (this.leaderId === memberId) this.leaderId = this.members.keys().next().value ?? null;
    return member;
  }

  private decrementProtocol(name: string): void {
    const count = (this.supportedProtocols.get(name) ?? 0) - 1;
    if (count <= 0) this.supportedProtocols.delete(name);
    else this.supportedProtocols.set(name, count);
  }

  /** A static member rejoining with a new member id takes over the old member's slot (and leadership). */
  replaceStaticMember(oldMemberId: string, newMemberId: string): MemberMetadata {
    const member = this.members.get(oldMemberId);
    if (!member || member.groupInstanceId === null) throw new Error(`group ${this.groupId}: ${oldMemberId} is not a static member`);
    this.members.delete(oldMemberId);
    member.memberId = newMemberId;
    this.members.set(newMemberId, member);
    this.staticMembers.set(member.groupInstanceId, newMemberId);
    if (this.leaderId === oldMemberId) this.leaderId = newMemberId;
    if (this.pendingSyncMembers.delete(oldMemberId)) this.pendingSyncMembers.add(newMemberId);
    return member;
  }

  updateMember(member: MemberMetadata, protocols: MemberProtocol[], rebalanceTimeoutMs: number, sessionTimeoutMs: number, callback: ((result: JoinResult) => void) | null): void {
    for (const name of protocolNames(member.protocols)) this.decrementProtocol(name);
    member.protocols = protocols;
    for (const name of protocolNames(protocols)) this.supportedProtocols.set(name, (this.supportedProtocols.get(name) ?? 0) + 1);
    member.rebalanceTimeoutMs = rebalanceTimeoutMs;
    member.sessionTimeoutMs = sessionTimeoutMs;
    if (callback && !member.awaitingJoin) this.numMembersAwaitingJoin++;
    else if (!callback && member.awaitingJoin) this.numMembersAwaitingJoin--;
    member.awaitingJoin = callback;
  }

  /** Answers and clears a parked JoinGroup; false when there was none. */
  invokeJoinCallback(member: MemberMetadata, result: JoinResult): boolean {
    const callback = member.awaitingJoin;
    if (!callback) return false;
    member.awaitingJoin = null;
    this.numMembersAwaitingJoin--;
    callback(result);
    return true;
  }

  invokeSyncCallback(member: MemberMetadata, result: SyncResult): boolean {
    const callback = member.awaitingSync;
    if (!callback) return false;
    member.awaitingSync = null;
    callback(result);
    return true;
  }

  /** Kafka's supportsProtocols: an empty group takes any non-empty protocol list; otherwise same type and a common protocol. */
  supportsProtocols(protocolType: string, protocols: readonly MemberProtocol[]): boolean {
    if (this.is("Empty") && this.members.size === 0) return protocolType.length > 0 && protocols.length > 0;
    return protocolType === this.protocolType && protocols.some((protocol) => (this.supportedProtocols.get(protocol.name) ?? 0) === this.members.size);
  }

  candidateProtocols(): Set<string> {
    const candidates = new Set<string>();
    for (const [name, count] of this.supportedProtocols) if (count === this.members.size) candidates.add(name);
    return candidates;
  }

  /** Every member votes for its preferred candidate; most votes wins, ties go to the leader's preference order. */
  selectProtocol(): string {
    const candidates = this.candidateProtocols();
    if (candidates.size === 0) throw new Error(`group ${this.groupId}: no protocol supported by all members`);
    const votes = new Map<string, number>();
    for (const member of this.members.values()) {
      const choice = member.vote(candidates);
      votes.set(choice, (votes.get(choice) ?? 0) + 1);
    }
    const leader = this.leaderId ? this.members.get(this.leaderId) : undefined;
    const order = leader ? leader.protocols.map((protocol) => protocol.name) : [...votes.keys()];
    let best: string | null = null;
    for (const name of order) {
      const count = votes.get(name) ?? 0;
      if (count > 0 && (best === null || count > votes.get(best)!)) best = name;
    }
    return best ?? [...votes.keys()][0]!;
  }

  /** After a rebalance: the leader must be a member that rejoined. */
  maybeElectNewJoinedLeader(): boolean {
    if (this.leaderId !== null) {
      const leader = this.members.get(this.leaderId);
      if (leader?.awaitingJoin) return true;
      for (const member of this.members.values()) {
        if (member.awaitingJoin) {
          this.leaderId = member.memberId;
          return true;
        }
      }
      return false;
    }
    return false;
  }

  initNextGeneration(): void {
    this.generationId++;
    if (this.members.size > 0) {
      this.protocolName = this.selectProtocol();
      this.transitionTo("CompletingRebalance");
    } else {
      this.protocolName = null;
      this.transitionTo("Empty");
    }
  }

  /** What the leader's JoinGroup response carries: every member's metadata for the chosen protocol. */
  currentMemberMetadata(): JoinResult["members"] {
    const protocolName = this.protocolName ?? "";
    return [...this.members.values()].map((member) => ({ memberId: member.memberId, groupInstanceId: member.groupInstanceId, metadata: member.metadataFor(protocolName) }));
  }

  hasOffsets(): boolean {
    return this.offsets.size > 0;
  }
}
