// KIP-848 pieces as pure functions: the uniform and range assignors, reconciliation (revoke before
// assign), and the RE2/J subset of subscription regexes.
import { describe, expect, test } from "bun:test";
import { rangeAssign, uniformAssign, type Assignment, type AssignorMember } from "../../src/group/consumer-group/assignors.ts";
import { reconcile, type MemberAssignmentState } from "../../src/group/consumer-group/reconciliation.ts";
import { compileSubscriptionRegex } from "../../src/group/consumer-group/subscription-regex.ts";

const members = (ids: string[], topics: string[]): AssignorMember[] => ids.map((memberId) => ({ memberId, subscribedTopics: new Set(topics) }));
const size = (assignment: Assignment | undefined) => [...(assignment ?? new Map()).values()].reduce((sum, partitions) => sum + partitions.size, 0);
const flat = (result: Map<string, Assignment>) => [...result.values()].flatMap((assignment) => [...assignment].flatMap(([topic, partitions]) => [...partitions].map((p) => `${topic}-${p}`)));
const asg = (entries: Record<string, number[]>): Assignment => new Map(Object.entries(entries).map(([topic, partitions]) => [topic, new Set(partitions)]));

describe("uniform assignor", () => {
  test("every partition exactly once, balanced within one", () => {
    const result = uniformAssign({ members: members(["a", "b", "c"], ["t", "u"]), topics: new Map([["t", 6], ["u", 5]]), previous: new Map() });
    const all = flat(result);
    expect(all.length).toBe(11);
    expect(new Set(all).size).toBe(11);
    const sizes = [...result.values()].map(size).sort();
    expect(sizes).toEqual([3, 4, 4]);
  });

  test("sticky: a member joining takes partitions only from the others' surplus", () => {
    const first = uniformAssign({ members: members(["a", "b"], ["t"]), topics: new Map([["t", 6]]), previous: new Map() });
    const second = uniformAssign({ members: members(["a", "b", "c"], ["t"]), topics: new Map([["t", 6]]), previous: first });
    for (const id of ["a", "b"]) {
      const kept = [...second.get(id)!.get("t") ?? []];
      for (const partition of kept) expect(first.get(id)!.get("t")!.has(partition)).toBe(true);
      expect(kept.length).toBe(2);
    }
    expect(size(second.get("c"))).toBe(2);
    // A member leaving: the survivors keep what they had.
    const third = uniformAssign({ members: members(["a", "c"], ["t"]), topics: new Map([["t", 6]]), previous: second });
    for (const partition of second.get("a")!.get("t")!) expect(third.get("a")!.get("t")!.has(partition)).toBe(true);
    expect(size(third.get("a")) + size(third.get("c"))).toBe(6);
  });

  test("a topic goes only to members subscribed to it", () => {
    const result = uniformAssign({ members: [{ memberId: "a", subscribedTopics: new Set(["t"]) }, { memberId: "b", subscribedTopics: new Set(["u"]) }], topics: new Map([["t", 3], ["u", 2]]), previous: new Map() });
    expect([...result.get("a")!.keys()]).toEqual(["t"]);
    expect(size(result.get("b"))).toBe(2);
  });
});

describe("range assignor", () => {
  test("consecutive ranges per topic, the first members one more", () => {
    const result = rangeAssign({ members: members(["b", "a", "c"], ["t"]), topics: new Map([["t", 7]]), previous: new Map() });
    expect([...result.get("a")!.get("t")!]).toEqual([0, 1, 2]);
    expect([...result.get("b")!.get("t")!]).toEqual([3, 4]);
    expect([...result.get("c")!.get("t")!]).toEqual([5, 6]);
  });
});

describe("reconciliation", () => {
  const stable = (epoch: number, assigned: Assignment): MemberAssignmentState => ({ state: "STABLE", memberEpoch: epoch, previousMemberEpoch: epoch - 1, assigned, pendingRevocation: new Map() });

  test("partitions to revoke first, at the same epoch; the new epoch once revoked", () => {
    const member = stable(1, asg({ t: [0, 1, 2] }));
    const step1 = reconcile({ member, targetEpoch: 2, target: asg({ t: [0, 3] }), owned: asg({ t: [0, 1, 2] }), ownedByOther: () => false });
    expect(step1.state).toBe("UNREVOKED_PARTITIONS");
    expect(step1.memberEpoch).toBe(1);
    expect([...step1.assigned.get("t")!]).toEqual([0]);
    expect([...step1.pendingRevocation.get("t")!].sort()).toEqual([1, 2]);
    // Still owning a revoked partition: no progress.
    expect(reconcile({ member: step1, targetEpoch: 2, target: asg({ t: [0, 3] }), owned: asg({ t: [0, 1] }), ownedByOther: () => false })).toBe(step1);
    const step2 = reconcile({ member: step1, targetEpoch: 2, target: asg({ t: [0, 3] }), owned: asg({ t: [0] }), ownedByOther: () => false });
    expect(step2.state).toBe("STABLE");
    expect(step2.memberEpoch).toBe(2);
    expect([...step2.assigned.get("t")!].sort()).toEqual([0, 3]);
  });

  test("a partition another member still holds is not given until released", () => {
    let held = true;
    const member = stable(1, asg({ t: [0] }));
    const step1 = reconcile({ member, targetEpoch: 2, target: asg({ t: [0, 1] }), owned: asg({ t: [0] }), ownedByOther: (_topic, partition) => held && partition === 1 });
    expect(step1.state).toBe("UNRELEASED_PARTITIONS");
    expect(step1.memberEpoch).toBe(2);
    expect([...step1.assigned.get("t")!]).toEqual([0]);
    held = false;
    const step2 = reconcile({ member: step1, targetEpoch: 2, target: asg({ t: [0, 1] }), owned: asg({ t: [0] }), ownedByOther: (_topic, partition) => held && partition === 1 });
    expect(step2.state).toBe("STABLE");
    expect([...step2.assigned.get("t")!].sort()).toEqual([0, 1]);
  });
});

describe("subscription regex (RE2/J subset)", () => {
  test("common syntax is accepted and matches whole names", () => {
    const check = compileSubscriptionRegex("(orders|payments)-[0-9]+", 1024);
    expect(check.ok).toBe(true);
    if (!check.ok) return;
    expect(check.regex.test("orders-12")).toBe(true);
    expect(check.regex.test("xorders-12")).toBe(false);
    expect(check.regex.test("orders-12x")).toBe(false);
    expect(compileSubscriptionRegex("topic\\.a.*", 1024).ok).toBe(true);
  });

  test("what RE2/J lacks, or what would backtrack exponentially, is refused with a reason", () => {
    for (const pattern of ["(?=a)b", "(?!a)", "(?<=a)b", "(a)\\1", "(?>a)", "a*+", "(?i)abc", "(?<n>a)", "(a+)+", "(a|ab)*c", "((a+))*", "", "(a"]) {
      const check = compileSubscriptionRegex(pattern, 1024);
      expect(check.ok).toBe(false);
      if (!check.ok) expect(check.message.length).toBeGreaterThan(0);
    }
    expect(compileSubscriptionRegex("a".repeat(20), 10).ok).toBe(false);
  });
});
