// The "range" assignor of Kafka's classic consumer groups (org.apache.kafka.clients.consumer.RangeAssignor),
// run by the group leader: per topic, the members subscribed to it in a fixed order each take a contiguous
// range of partitions, the first (partitions % members) of them one more. Every library's "range" computes
// the same answer, so a group whose leader is kcat and one whose leader is Bunka hand out the same ranges.

export const RANGE_ASSIGNOR_NAME = "range";

export interface RangeMember {
  memberId: string;
  /** A static member (KIP-345) sorts by its instance id, as Kafka's RangeAssignor does. */
  groupInstanceId: string | null;
  topics: string[];
}

/** member id → topic → partitions (ascending); every member appears, with no topics when it gets nothing. */
export type GroupAssignmentPlan = Map<string, Map<string, number[]>>;

/**
 * Assigns every partition of every subscribed topic to exactly one member subscribed to it. Topics absent from
 * `partitionCounts` (unknown to the leader's metadata) are left unassigned, as Kafka does.
 */
export function rangeAssign(members: RangeMember[], partitionCounts: Map<string, number>): GroupAssignmentPlan {
  const plan: GroupAssignmentPlan = new Map();
  for (const member of members) {
    if (plan.has(member.memberId)) throw new Error(`member ${member.memberId} appears twice in the group`);
    plan.set(member.memberId, new Map());
  }
  const order = (a: RangeMember, b: RangeMember) => compareKeys(a.groupInstanceId ?? a.memberId, b.groupInstanceId ?? b.memberId) || compareKeys(a.memberId, b.memberId);
  const topics = [...new Set(members.flatMap((member) => member.topics))].sort(compareKeys);
  for (const topic of topics) {
    const partitionCount = partitionCounts.get(topic) ?? 0;
    if (partitionCount <= 0) continue;
    const subscribers = members.filter((member) => member.topics.includes(topic)).sort(order);
    const perMember = Math.floor(partitionCount / subscribers.length);
    const extra = partitionCount % subscribers.length;
    let next = 0;
    subscribers.forEach((member, index) => {
      const length = perMember + (index < extra ? 1 : 0);
      if (length === 0) return;
      plan.get(member.memberId)!.set(topic, Array.from({ length }, (_, i) => next + i));
      next += length;
    });
    if (next !== partitionCount) throw new Error(`range assignment of ${topic} covered ${next} of ${partitionCount} partitions`);
  }
  return plan;
}

/** Java's String.compareTo order for the ASCII ids clients generate (UTF-16 code units, not locale). */
function compareKeys(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
