// KIP-848 server-side assignors, after Kafka's UniformAssignor and RangeAssignor (group-coordinator
// module, org.apache.kafka.coordinator.group.assignor). Both are pure functions from the members'
// subscriptions, the subscribed topics' partition counts and the previous target assignment to the new one.
//
// uniform: every partition of a topic goes to one of the members subscribed to it, each member ending
// with floor or ceil of its fair share when subscriptions are alike; partitions stay where they were as far as
// that balance allows (sticky), so a member joining or leaving moves only what it must.
// range: per topic, the subscribed members sorted by id take consecutive ranges, the first
// (partitions % members) one more (co-partitioned topics land on the same member).

/** topic name → partitions. */
export type Assignment = Map<string, Set<number>>;

export interface AssignorMember {
  memberId: string;
  /** Resolved topic names (names and regex matches) that exist. */
  subscribedTopics: ReadonlySet<string>;
}

export interface AssignorInput {
  members: readonly AssignorMember[];
  /** Partition count per subscribed topic that exists. */
  topics: ReadonlyMap<string, number>;
  /** The current target assignment, for stickiness. */
  previous: ReadonlyMap<string, Assignment>;
}

export type Assignor = (input: AssignorInput) => Map<string, Assignment>;

export const ASSIGNOR_NAMES = ["uniform", "range"] as const;
export type AssignorName = (typeof ASSIGNOR_NAMES)[number];

export function assignorByName(name: string): Assignor | null {
  if (name === "uniform") return uniformAssign;
  if (name === "range") return rangeAssign;
  return null;
}

function addPartition(assignment: Assignment, topic: string, partition: number): void {
  let partitions = assignment.get(topic);
  if (!partitions) assignment.set(topic, (partitions = new Set()));
  partitions.add(partition);
}

function emptyResult(members: readonly AssignorMember[]): Map<string, Assignment> {
  return new Map(members.map((member) => [member.memberId, new Map()]));
}

export function uniformAssign({ members, topics, previous }: AssignorInput): Map<string, Assignment> {
  const result = emptyResult(members);
  const sorted = [...members].sort((a, b) => (a.memberId < b.memberId ? -1 : a.memberId > b.memberId ? 1 : 0));
  const counts = new Map<string, number>(sorted.map((member) => [member.memberId, 0]));
  // Fair share of a member: the partitions it could take divided among the members that could take them.
  // With identical subscriptions this is exactly floor/ceil of partitions / members.
  let eligiblePartitions = 0;
  const subscribers = new Map<string, AssignorMember[]>();
  for (const [topic, count] of topics) {
    const subscribed = sorted.filter((member) => member.subscribedTopics.has(topic));
    subscribers.set(topic, subscribed);
    if (subscribed.length > 0) eligiblePartitions += count;
  }
  const subscribingMembers = sorted.filter((member) => [...member.subscribedTopics].some((topic) => topics.has(topic))).length;
  const minQuota = subscribingMembers === 0 ? 0 : Math.floor(eligiblePartitions / subscribingMembers);
  let extras = subscribingMembers === 0 ? 0 : eligiblePartitions % subscribingMembers;
  const taken = new Set<string>();
  const key = (topic: string, partition: number) => `${topic}\u0000${partition}`;
  // 1. Sticky: each member keeps up to its quota of what it had and may still have.
  for (const member of sorted) {
    const had = previous.get(member.memberId);
    if (!had) continue;
    const kept: [string, number][] = [];
    for (const [topic, partitions] of had) {
      const count = topics.get(topic);
      if (count === undefined || !member.subscribedTopics.has(topic)) continue;
      for (const partition of partitions) if (partition < count) kept.push([topic, partition]);
    }
    let quota = minQuota;
    if (kept.length > minQuota && extras > 0) {
      quota++;
      extras--;
    }
    for (const [topic, partition] of kept.slice(0, quota)) {
      addPartition(result.get(member.memberId)!, topic, partition);
      taken.add(key(topic, partition));
      counts.set(member.memberId, counts.get(member.memberId)! + 1);
    }
  }
  // 2. The rest, each partition to the eligible member holding the fewest (ties: member id order).
  for (const [topic, count] of [...topics].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) {
    const eligible = subscribers.get(topic)!;
    if (eligible.length === 0) continue;
    for (let partition = 0; partition < count; partition++) {
      if (taken.has(key(topic, partition))) continue;
      let best = eligible[0]!;
      for (const member of eligible) if (counts.get(member.memberId)! < counts.get(best.memberId)!) best = member;
      addPartition(result.get(best.memberId)!, topic, partition);
      counts.set(best.memberId, counts.get(best.memberId)! + 1);
    }
  }
  return result;
}

export function rangeAssign({ members, topics }: AssignorInput): Map<string, Assignment> {
  const result = emptyResult(members);
  for (const [topic, count] of topics) {
    const subscribed = members.filter((member) => member.subscribedTopics.has(topic)).sort((a, b) => (a.memberId < b.memberId ? -1 : a.memberId > b.memberId ? 1 : 0));
    if (subscribed.length === 0) continue;
    const base = Math.floor(count / subscribed.length);
    const extra = count % subscribed.length;
    let next = 0;
    subscribed.forEach((member, index) => {
      const size = base + (index < extra ? 1 : 0);
      for (let i = 0; i < size; i++) addPartition(result.get(member.memberId)!, topic, next++);
    });
  }
  return result;
}
