// The range assignor a Bunka group leader runs (src/client/range-assignor.ts) gives the ranges Kafka's
// RangeAssignor computes: contiguous ranges per topic in member order, the first (partitions % members) one
// partition longer, each partition to exactly one subscriber.
import { describe, expect, test } from "bun:test";
import { rangeAssign, type RangeMember } from "../../src/client/range-assignor.ts";

const member = (memberId: string, topics: string[], groupInstanceId: string | null = null): RangeMember => ({ memberId, groupInstanceId, topics });

function asObject(plan: ReturnType<typeof rangeAssign>): Record<string, Record<string, number[]>> {
  return Object.fromEntries([...plan].map(([memberId, byTopic]) => [memberId, Object.fromEntries(byTopic)]));
}

describe("rangeAssign", () => {
  test("4 partitions over 2 members, 5 over 3, 2 over 3 (the last member gets nothing)", () => {
    expect(asObject(rangeAssign([member("b", ["t"]), member("a", ["t"])], new Map([["t", 4]])))).toEqual({ b: { t: [2, 3] }, a: { t: [0, 1] } });
    expect(asObject(rangeAssign([member("c", ["t"]), member("a", ["t"]), member("b", ["t"])], new Map([["t", 5]])))).toEqual({ a: { t: [0, 1] }, b: { t: [2, 3] }, c: { t: [4] } });
    expect(asObject(rangeAssign([member("a", ["t"]), member("b", ["t"]), member("c", ["t"])], new Map([["t", 2]])))).toEqual({ a: { t: [0] }, b: { t: [1] }, c: {} });
  });

  test("per topic among its subscribers only; an unknown topic is left out; static members sort by instance id", () => {
    const plan = rangeAssign([member("m1", ["x", "y"]), member("m2", ["y"]), member("m3", ["x", "gone"])], new Map([["x", 3], ["y", 2]]));
    expect(asObject(plan)).toEqual({ m1: { x: [0, 1], y: [0] }, m2: { y: [1] }, m3: { x: [2] } });
    // Instance ids reverse the member-id order.
    const statics = rangeAssign([member("a", ["t"], "z"), member("b", ["t"], "y")], new Map([["t", 2]]));
    expect(asObject(statics)).toEqual({ a: { t: [1] }, b: { t: [0] } });
  });

  test("every partition exactly once for many shapes", () => {
    for (let members = 1; members <= 7; members++) {
      for (let partitions = 0; partitions <= 20; partitions++) {
        const group = Array.from({ length: members }, (_, i) => member(`member-${i}`, ["t"]));
        const owned = [...rangeAssign(group, new Map([["t", partitions]])).values()].flatMap((byTopic) => byTopic.get("t") ?? []);
        expect(owned.sort((a, b) => a - b)).toEqual(Array.from({ length: partitions }, (_, p) => p));
      }
    }
  });

  test("a member listed twice is a programming error", () => {
    expect(() => rangeAssign([member("a", ["t"]), member("a", ["t"])], new Map([["t", 1]]))).toThrow("appears twice");
  });
});
