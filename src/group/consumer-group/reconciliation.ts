// Reconciliation of one member towards its target assignment, after Kafka's CurrentAssignmentBuilder.
// A partition moves to a new owner only after the previous owner has revoked it:
//
//   STABLE ──target epoch moved──▶ UNREVOKED_PARTITIONS (epoch kept: the member must first give up
//     ▲                              partitions; it acknowledges by heartbeating without them)
//     │                                 │ revoked
//     │                                 ▼
//     └── all target partitions ◀── UNRELEASED_PARTITIONS (epoch = target epoch; waits for partitions
//          released                      another member still holds)
//
// The member's epoch only reaches the target epoch once it holds nothing it must revoke, so a member at the
// group's assignment epoch never owns a partition that another member also owns.
import type { Assignment } from "./assignors.ts";

export type MemberState = "STABLE" | "UNREVOKED_PARTITIONS" | "UNRELEASED_PARTITIONS" | "UNKNOWN";

export interface MemberAssignmentState {
  state: MemberState;
  memberEpoch: number;
  previousMemberEpoch: number;
  /** Partitions the member owns now (given to it). */
  assigned: Assignment;
  /** Partitions it still holds and must give up. */
  pendingRevocation: Assignment;
}

export interface ReconcileInput {
  member: MemberAssignmentState;
  targetEpoch: number;
  target: Assignment;
  /** What the member says it owns (null: it did not say, so revocation is not acknowledged). */
  owned: Assignment | null;
  /** Whether another member still holds the partition (assigned or pending revocation). */
  ownedByOther: (topic: string, partition: number) => boolean;
}

export function copyAssignment(assignment: Assignment): Assignment {
  return new Map([...assignment].map(([topic, partitions]) => [topic, new Set(partitions)]));
}

export function assignmentSize(assignment: Assignment): number {
  let size = 0;
  for (const partitions of assignment.values()) size += partitions.size;
  return size;
}

export function assignmentsEqual(a: Assignment, b: Assignment): boolean {
  if (assignmentSize(a) !== assignmentSize(b)) return false;
  for (const [topic, partitions] of a) {
    const other = b.get(topic);
    for (const partition of partitions) if (!other?.has(partition)) return false;
  }
  return true;
}

function has(assignment: Assignment, topic: string, partition: number): boolean {
  return assignment.get(topic)?.has(partition) ?? false;
}

function add(assignment: Assignment, topic: string, partition: number): void {
  let partitions = assignment.get(topic);
  if (!partitions) assignment.set(topic, (partitions = new Set()));
  partitions.add(partition);
}

/** The member's next state; the input is not changed. */
export function reconcile({ member, targetEpoch, target, owned, ownedByOther }: ReconcileInput): MemberAssignmentState {
  if (member.state === "UNREVOKED_PARTITIONS") {
    // Still holding a partition it must give up: wait (Kafka keeps the member as it is).
    const stillOwned = owned === null || [...member.pendingRevocation].some(([topic, partitions]) => [...partitions].some((partition) => has(owned, topic, partition)));
    if (stillOwned) return member;
  } else if (member.state === "STABLE" && member.memberEpoch === targetEpoch) {
    return member;
  }
  return computeNextAssignment(member, targetEpoch, target, ownedByOther);
}

function computeNextAssignment(member: MemberAssignmentState, targetEpoch: number, target: Assignment, ownedByOther: (topic: string, partition: number) => boolean): MemberAssignmentState {
  const kept: Assignment = new Map();
  const revoking: Assignment = new Map();
  const newlyAssignable: Assignment = new Map();
  let unreleased = false;
  for (const [topic, partitions] of member.assigned) {
    for (const partition of partitions) {
      if (has(target, topic, partition)) add(kept, topic, partition);
      else add(revoking, topic, partition);
    }
  }
  for (const [topic, partitions] of target) {
    for (const partition of partitions) {
      if (has(kept, topic, partition)) continue;
      if (ownedByOther(topic, partition)) unreleased = true;
      else add(newlyAssignable, topic, partition);
    }
  }
  if (assignmentSize(revoking) > 0) {
    // Revoke first, at the current epoch; new partitions come once the member acknowledged.
    return { state: "UNREVOKED_PARTITIONS", memberEpoch: member.memberEpoch, previousMemberEpoch: member.memberEpoch, assigned: kept, pendingRevocation: revoking };
  }
  const assigned = copyAssignment(kept);
  for (const [topic, partitions] of newlyAssignable) for (const partition of partitions) add(assigned, topic, partition);
  return {
    state: unreleased ? "UNRELEASED_PARTITIONS" : "STABLE",
    memberEpoch: targetEpoch,
    previousMemberEpoch: member.memberEpoch,
    assigned,
    pendingRevocation: new Map(),
  };
}
