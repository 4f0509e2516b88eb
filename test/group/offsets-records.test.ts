// The __consumer_offsets record format is Kafka's, byte for byte, and a group lands on the partition
// Kafka would choose (Utils.abs(groupId.hashCode) % n with Java's String.hashCode).
import { expect, test } from "bun:test";
import { decodeAssignment, encodeAssignment } from "../../src/group/consumer-protocol.ts";
import {
  decodeGroupMetadataValue,
  decodeKey,
  decodeOffsetCommitValue,
  encodeGroupMetadataKey,
  encodeGroupMetadataValue,
  encodeOffsetCommitKey,
  encodeOffsetCommitValue,
  javaStringHashCode,
  offsetsPartitionFor,
} from "../../src/group/offsets-records.ts";

test("group ids hash like Java's String.hashCode and map to Kafka's partition, Integer.MIN_VALUE included", () => {
  expect(javaStringHashCode("")).toBe(0);
  expect(javaStringHashCode("hello")).toBe(99162322);
  expect(javaStringHashCode("Aa")).toBe(javaStringHashCode("BB"));
  expect(javaStringHashCode("polygenelubricants")).toBe(-2147483648);
  expect(offsetsPartitionFor("polygenelubricants", 50)).toBe(0); // Utils.abs(MIN_VALUE) = 0
  expect(javaStringHashCode("héllo→")).toBe(((((("h".charCodeAt(0) * 31 + 0xe9) * 31 + 0x6c) * 31 + 0x6c) * 31 + 0x6f) * 31 + 0x2192) | 0);
  expect(offsetsPartitionFor("hello", 50)).toBe(99162322 % 50);
  for (const groupId of ["a", "my-group", "console-consumer-12345", "x".repeat(200)]) {
    const partition = offsetsPartitionFor(groupId, 7);
    expect(partition).toBeGreaterThanOrEqual(0);
    expect(partition).toBeLessThan(7);
  }
});

test("keys and values have Kafka's layout: OffsetCommitKey v1, OffsetCommitValue v3, GroupMetadataKey v2, GroupMetadataValue v3", () => {
  expect([...encodeOffsetCommitKey("g", "t", 5)]).toEqual([0, 1, 0, 1, 0x67, 0, 1, 0x74, 0, 0, 0, 5]);
  expect([...encodeGroupMetadataKey("g")]).toEqual([0, 2, 0, 1, 0x67]);
  const value = encodeOffsetCommitValue({ offset: 258, leaderEpoch: 7, metadata: "m", commitTimestampMs: 1 });
  expect([...value]).toEqual([0, 3, 0, 0, 0, 0, 0, 0, 1, 2, 0, 0, 0, 7, 0, 1, 0x6d, 0, 0, 0, 0, 0, 0, 0, 1]);
  expect(decodeKey(encodeOffsetCommitKey("group-1", "orders", 3))).toEqual({ kind: "offset", group: "group-1", topic: "orders", partition: 3 });
  expect(decodeKey(encodeGroupMetadataKey("group-1"))).toEqual({ kind: "group", group: "group-1" });
  expect(decodeKey(new Uint8Array([0, 9, 0, 0]))).toBeNull();
  expect(decodeOffsetCommitValue(value)).toEqual({ offset: 258, leaderEpoch: 7, metadata: "m", commitTimestampMs: 1 });
  // Version 1 (what Kafka 2.0 wrote): offset, metadata, commit and expire timestamps.
  const v1 = new Uint8Array([0, 1, 0, 0, 0, 0, 0, 0, 0, 9, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0, 3]);
  expect(decodeOffsetCommitValue(v1)).toEqual({ offset: 9, leaderEpoch: -1, metadata: "", commitTimestampMs: 2 });
  const group = {
    protocolType: "consumer",
    generation: 4,
    protocol: "range",
    leader: "m1",
    currentStateTimestampMs: 1234,
    members: [
      { memberId: "m1", groupInstanceId: "i1", clientId: "c", clientHost: "/127.0.0.1", rebalanceTimeoutMs: 60000, sessionTimeoutMs: 10000, subscription: new Uint8Array([1, 2]), assignment: encodeAssignment({ assignedPartitions: [{ topic: "t", partitions: [0, 1] }] }) },
    ],
  };
  const decoded = decodeGroupMetadataValue(encodeGroupMetadataValue(group))!;
  expect(decoded).toEqual(group);
  expect(decodeAssignment(decoded.members[0]!.assignment)!.assignedPartitions).toEqual([{ topic: "t", partitions: [0, 1] }]);
});

test("consumer assignments that do not decode are recognised; empty bytes mean nothing assigned", () => {
  expect(decodeAssignment(new Uint8Array(0))).toEqual({ assignedPartitions: [], userData: null });
  expect(decodeAssignment(new Uint8Array([0, 0, 0, 0, 0, 9, 0xff]))).toBeNull();
  expect(decodeAssignment(new Uint8Array([0xff, 0xff]))).toBeNull();
  // A newer version is read as version 3 and its extra bytes ignored.
  const newer = encodeAssignment({ assignedPartitions: [{ topic: "t", partitions: [2] }] }, 3);
  newer[1] = 9;
  expect(decodeAssignment(new Uint8Array([...newer, 1, 2, 3]))!.assignedPartitions).toEqual([{ topic: "t", partitions: [2] }]);
});
