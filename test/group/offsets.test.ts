// Committed offsets over real sockets: every OffsetCommit/OffsetFetch version clients send, metadata,
// bad commits, OffsetDelete, DeleteGroups, DescribeGroups, ListGroups, expiry, and what survives a restart
// (offsets, tombstones, group metadata) because it was read back from __consumer_offsets.
import { afterAll, beforeAll, expect, test } from "bun:test";
import { readdirSync } from "node:fs";
import { ErrorCode } from "../../src/protocol/errors.ts";
import { ApiKey } from "../../src/protocol/generated/index.ts";
import { OFFSETS_TOPIC } from "../../src/group/offsets-records.ts";
import { assignment, createTopic, describeGroup, eventually, RawMember, startTestBroker, subscription, type TestBroker } from "./helpers.ts";

let test_: TestBroker;

beforeAll(async () => {
  test_ = await startTestBroker();
  const connection = await test_.connect();
  await createTopic(connection, "orders", 4);
  await createTopic(connection, "audit", 2);
});

afterAll(async () => {
  await test_.stop();
});

async function adminCommit(groupId: string, topic: string, offsets: Record<number, number>, version = 8, metadata = "") {
  const connection = await test_.connect();
  const response = await connection.request(ApiKey.OffsetCommit, version, {
    groupId,
    generationIdOrMemberEpoch: -1,
    memberId: "",
    groupInstanceId: null,
    retentionTimeMs: -1,
    topics: [{ name: topic, partitions: Object.entries(offsets).map(([p, offset]) => ({ partitionIndex: Number(p), committedOffset: offset, committedLeaderEpoch: 3, committedMetadata: metadata, commitTimestamp: -1 })) }],
  });
  return response.topics[0].partitions.map((p: { errorCode: number }) => p.errorCode);
}

async function fetchOffsets(groupId: string, topics: { name: string; partitionIndexes: number[] }[] | null, version = 7) {
  const connection = await test_.connect();
  if (version >= 8) {
    const response = await connection.request(ApiKey.OffsetFetch, 8, { groups: [{ groupId, topics }], requireStable: false });
    return { errorCode: response.groups[0].errorCode, topics: response.groups[0].topics };
  }
  const response = await connection.request(ApiKey.OffsetFetch, version, { groupId, topics, requireStable: false });
  return { errorCode: response.errorCode, topics: response.topics };
}

function offsetsOf(fetched: { topics: { name: string; partitions: { partitionIndex: number; committedOffset: number }[] }[] }): Record<string, number> {
  const out: Record<string, number> = {};
  for (const topic of fetched.topics) for (const p of topic.partitions) out[`${topic.name}-${p.partitionIndex}`] = p.committedOffset;
  return out;
}

test("commits round-trip with metadata and leader epoch through OffsetCommit v2/v5/v7/v8 and OffsetFetch v1/v4/v7/v8", async () => {
  for (const [version, groupId] of [[2, "c-v2"], [5, "c-v5"], [7, "c-v7"], [8, "c-v8"]] as const) {
    expect(await adminCommit(groupId, "orders", { 0: 10, 3: 42 }, version, `meta-${version}`)).toEqual([ErrorCode.NONE, ErrorCode.NONE]);
  }
  const v1 = await fetchOffsets("c-v2", [{ name: "orders", partitionIndexes: [0, 1, 3] }], 1);
  expect(v1.topics[0].partitions.map((p: { committedOffset: number; metadata: string }) => [p.committedOffset, p.metadata])).toEqual([[10, "meta-2"], [-1, ""], [42, "meta-2"]]);
  const v4 = await fetchOffsets("c-v5", [{ name: "orders", partitionIndexes: [3] }], 4);
  expect(v4.topics[0].partitions[0].committedOffset).toBe(42);
  const v7 = await fetchOffsets("c-v7", null, 7);
  expect(v7.errorCode).toBe(ErrorCode.NONE);
  expect(offsetsOf(v7)).toEqual({ "orders-0": 10, "orders-3": 42 });
  expect(v7.topics[0].partitions[0].committedLeaderEpoch).toBe(3);
  expect(v7.topics[0].partitions[0].metadata).toBe("meta-7");
  const v8 = await fetchOffsets("c-v8", null, 8);
  expect(offsetsOf(v8)).toEqual({ "orders-0": 10, "orders-3": 42 });
  // Several groups in one v8 request, one of them unknown (offsets -1, no error).
  const connection = await test_.connect();
  const both = await connection.request(ApiKey.OffsetFetch, 8, { groups: [{ groupId: "c-v7", topics: [{ name: "orders", partitionIndexes: [0] }] }, { groupId: "c-unknown", topics: [{ name: "orders", partitionIndexes: [0] }] }], requireStable: true });
  expect(both.groups.map((g: { groupId: string; topics: { partitions: { committedOffset: number }[] }[] }) => [g.groupId, g.topics[0]!.partitions[0]!.committedOffset])).toEqual([["c-v7", 10], ["c-unknown", -1]]);
  // A later commit wins.
  expect(await adminCommit("c-v8", "orders", { 0: 11 })).toEqual([ErrorCode.NONE]);
  expect(offsetsOf(await fetchOffsets("c-v8", null))["orders-0"]).toBe(11);
});

test("bad commits: UNKNOWN_TOPIC_OR_PARTITION, OFFSET_METADATA_TOO_LARGE; a generation for an unknown group is ILLEGAL_GENERATION; outside commits to an active group UNKNOWN_MEMBER_ID", async () => {
  const connection = await test_.connect();
  const response = await connection.request(ApiKey.OffsetCommit, 8, {
    groupId: "c-bad",
    generationIdOrMemberEpoch: -1,
    memberId: "",
    topics: [
      { name: "orders", partitions: [{ partitionIndex: 1, committedOffset: 5, committedMetadata: "ok" }, { partitionIndex: 9, committedOffset: 5, committedMetadata: "" }, { partitionIndex: 2, committedOffset: 5, committedMetadata: "x".repeat(4097) }] },
      { name: "no-such-topic", partitions: [{ partitionIndex: 0, committedOffset: 1, committedMetadata: "" }] },
    ],
  });
  expect(response.topics.map((t: { partitions: { errorCode: number }[] }) => t.partitions.map((p) => p.errorCode))).toEqual([
    [ErrorCode.NONE, ErrorCode.UNKNOWN_TOPIC_OR_PARTITION, ErrorCode.OFFSET_METADATA_TOO_LARGE],
    [ErrorCode.UNKNOWN_TOPIC_OR_PARTITION],
  ]);
  expect(offsetsOf(await fetchOffsets("c-bad", null))).toEqual({ "orders-1": 5 });

  const member = await RawMember.create(test_, "c-active", { protocols: [{ name: "range", metadata: subscription(["orders"]) }] });
  await member.join();
  await member.sync([{ memberId: member.memberId, assignment: assignment("orders", [0, 1, 2, 3]) }]);
  expect(await adminCommit("c-active", "orders", { 0: 1 })).toEqual([ErrorCode.UNKNOWN_MEMBER_ID]);
  expect(await member.commit("orders", { 0: 1 }, { metadata: "from the member" })).toEqual([ErrorCode.NONE]);
  expect(await member.leave()).toBe(ErrorCode.NONE);
  expect(await eventually(async () => (await describeGroup(connection, "c-active")).groupState === "Empty")).toBe(true);
  // Once Empty, an outside commit (a reset tool) is accepted.
  expect(await adminCommit("c-active", "orders", { 0: 0 })).toEqual([ErrorCode.NONE]);
});

test("OffsetDelete: GROUP_ID_NOT_FOUND for an unknown group, GROUP_SUBSCRIBED_TO_TOPIC for a topic an active group reads; other topics' offsets are deleted", async () => {
  const connection = await test_.connect();
  const remove = (groupId: string, topics: { name: string; partitions: number[] }[]) =>
    connection.request(ApiKey.OffsetDelete, 0, { groupId, topics: topics.map((t) => ({ name: t.name, partitions: t.partitions.map((partitionIndex) => ({ partitionIndex })) })) });
  expect((await remove("d-unknown", [{ name: "orders", partitions: [0] }])).errorCode).toBe(ErrorCode.GROUP_ID_NOT_FOUND);

  const member = await RawMember.create(test_, "d-active", { protocols: [{ name: "range", metadata: subscription(["orders"]) }] });
  await member.join();
  await member.sync([{ memberId: member.memberId, assignment: assignment("orders", [0, 1, 2, 3]) }]);
  expect(await member.commit("orders", { 0: 3 })).toEqual([ErrorCode.NONE]);
  await member.leave();
  await eventually(async () => (await describeGroup(connection, "d-active")).groupState === "Empty");
  expect(await adminCommit("d-active", "audit", { 0: 7, 1: 8 })).toEqual([ErrorCode.NONE, ErrorCode.NONE]);
  await member.join();
  await member.sync([{ memberId: member.memberId, assignment: assignment("orders", [0, 1, 2, 3]) }]);

  const response = await remove("d-active", [{ name: "orders", partitions: [0] }, { name: "audit", partitions: [0] }, { name: "nope", partitions: [0] }]);
  expect(response.errorCode).toBe(ErrorCode.NONE);
  expect(response.topics.map((t: { partitions: { errorCode: number }[] }) => t.partitions[0]!.errorCode)).toEqual([ErrorCode.GROUP_SUBSCRIBED_TO_TOPIC, ErrorCode.NONE, ErrorCode.UNKNOWN_TOPIC_OR_PARTITION]);
  expect(offsetsOf(await fetchOffsets("d-active", null))).toEqual({ "orders-0": 3, "audit-1": 8 });
  // Once the group is Empty, its subscribed topic's offsets can go too.
  await member.leave();
  await eventually(async () => (await describeGroup(connection, "d-active")).groupState === "Empty");
  expect((await remove("d-active", [{ name: "orders", partitions: [0] }])).topics[0].partitions[0].errorCode).toBe(ErrorCode.NONE);
  expect(offsetsOf(await fetchOffsets("d-active", null))).toEqual({ "audit-1": 8 });
});

test("DeleteGroups: NON_EMPTY_GROUP while it has members, GROUP_ID_NOT_FOUND for an unknown group; an empty group goes with its offsets", async () => {
  const connection = await test_.connect();
  const member = await RawMember.create(test_, "x-busy");
  await member.join();
  await member.sync([{ memberId: member.memberId, assignment: assignment("orders", [0]) }]);
  expect(await adminCommit("x-idle", "orders", { 0: 5, 1: 6 })).toEqual([ErrorCode.NONE, ErrorCode.NONE]);
  const response = await connection.request(ApiKey.DeleteGroups, 2, { groupsNames: ["x-busy", "x-idle", "x-unknown"] });
  expect(response.results.map((r: { groupId: string; errorCode: number }) => [r.groupId, r.errorCode])).toEqual([
    ["x-busy", ErrorCode.NON_EMPTY_GROUP],
    ["x-idle", ErrorCode.NONE],
    ["x-unknown", ErrorCode.GROUP_ID_NOT_FOUND],
  ]);
  expect(offsetsOf(await fetchOffsets("x-idle", null))).toEqual({});
  expect((await describeGroup(connection, "x-idle")).groupState).toBe("Dead");
  expect(await member.heartbeat()).toBe(ErrorCode.NONE);
});

test("DescribeGroups reports state, protocol, members and assignments; ListGroups lists groups and filters by state", async () => {
  const connection = await test_.connect();
  const member = await RawMember.create(test_, "l-stable");
  await member.join();
  await member.sync([{ memberId: member.memberId, assignment: assignment("orders", [1, 2]) }]);
  expect(await adminCommit("l-offsets-only", "orders", { 0: 1 })).toEqual([ErrorCode.NONE]);
  const described = await describeGroup(connection, "l-stable");
  expect(described.errorCode).toBe(ErrorCode.NONE);
  expect(described.groupState).toBe("Stable");
  expect(described.protocolType).toBe("consumer");
  expect(described.members.length).toBe(1);
  expect(described.members[0].memberId).toBe(member.memberId);
  expect(described.members[0].clientId).toBe("bunka");
  expect(Buffer.from(described.members[0].memberAssignment)).toEqual(Buffer.from(assignment("orders", [1, 2])));
  expect((await describeGroup(connection, "l-never")).groupState).toBe("Dead");
  const all = await connection.request(ApiKey.ListGroups, 4, { statesFilter: [] });
  const listed = new Map(all.groups.map((g: { groupId: string; groupState: string; protocolType: string }) => [g.groupId, g]));
  expect(listed.get("l-stable")).toMatchObject({ groupState: "Stable", protocolType: "consumer" });
  expect(listed.get("l-offsets-only")).toMatchObject({ groupState: "Empty", protocolType: "" });
  const stableOnly = await connection.request(ApiKey.ListGroups, 4, { statesFilter: ["stable"] });
  expect(stableOnly.groups.every((g: { groupState: string }) => g.groupState === "Stable")).toBe(true);
  expect(stableOnly.groups.some((g: { groupId: string }) => g.groupId === "l-stable")).toBe(true);
  const v0 = await connection.request(ApiKey.ListGroups, 0, {});
  expect(v0.groups.some((g: { groupId: string }) => g.groupId === "l-offsets-only")).toBe(true);
});

test("offsets of a group empty for offsets.retention.minutes expire, and the empty group is removed", async () => {
  expect(await adminCommit("e-old", "orders", { 0: 1 })).toEqual([ErrorCode.NONE]);
  const coordinator = test_.broker.groups;
  await coordinator.offsets.expireOffsetsAndGroups(Date.now() + coordinator.config.offsetsRetentionMs + 1000);
  expect(offsetsOf(await fetchOffsets("e-old", null))).toEqual({});
  expect(coordinator.groups.has("e-old")).toBe(false);
  expect(test_.logLines.some((line) => line.includes("removed") && line.includes("empty group"))).toBe(true);
});

test("offsets of a deleted topic are removed by the next expiry pass, in any group state", async () => {
  const connection = await test_.connect();
  await createTopic(connection, "short-lived", 2);
  expect(await adminCommit("t-deleted", "short-lived", { 0: 4, 1: 5 })).toEqual([ErrorCode.NONE, ErrorCode.NONE]);
  expect(await adminCommit("t-deleted", "orders", { 0: 6 })).toEqual([ErrorCode.NONE]);
  const deleted = await connection.request(ApiKey.DeleteTopics, 4, { topicNames: ["short-lived"], timeoutMs: 10_000 });
  expect(deleted.responses[0].errorCode).toBe(ErrorCode.NONE);
  await test_.broker.groups.offsets.expireOffsetsAndGroups();
  expect(offsetsOf(await fetchOffsets("t-deleted", null))).toEqual({ "orders-0": 6 });
});

test("offsets, deletions and group metadata survive a restart; members of a stable group keep their generation across it", async () => {
  expect(await adminCommit("r-kept", "orders", { 0: 100, 1: 101 }, 8, "kept")).toEqual([ErrorCode.NONE, ErrorCode.NONE]);
  expect(await adminCommit("r-deleted", "orders", { 0: 5 })).toEqual([ErrorCode.NONE]);
  const connection = await test_.connect();
  expect((await connection.request(ApiKey.DeleteGroups, 2, { groupsNames: ["r-deleted"] })).results[0].errorCode).toBe(ErrorCode.NONE);
  const member = await RawMember.create(test_, "r-stable", { sessionTimeoutMs: 30_000 });
  await member.join();
  await member.sync([{ memberId: member.memberId, assignment: assignment("orders", [2, 3]) }]);
  expect(await member.commit("orders", { 2: 20 })).toEqual([ErrorCode.NONE]);
  const generation = member.generationId;
  const memberId = member.memberId;

  await test_.restart();
  expect(readdirSync(test_.dataDir).filter((name) => name.startsWith(`${OFFSETS_TOPIC}-`)).length).toBe(4);
  const kept = await fetchOffsets("r-kept", null);
  expect(offsetsOf(kept)).toEqual({ "orders-0": 100, "orders-1": 101 });
  expect(kept.topics[0].partitions[0].metadata).toBe("kept");
  expect(offsetsOf(await fetchOffsets("r-deleted", null))).toEqual({});
  expect(offsetsOf(await fetchOffsets("r-stable", null))).toEqual({ "orders-2": 20 });
  // The member comes back on a new connection with what it knew: no rebalance needed.
  const again = await RawMember.create(test_, "r-stable");
  again.memberId = memberId;
  again.generationId = generation;
  expect(await again.heartbeat()).toBe(ErrorCode.NONE);
  const described = await describeGroup(again.connection, "r-stable");
  expect(described.groupState).toBe("Stable");
  expect(Buffer.from(described.members[0].memberAssignment)).toEqual(Buffer.from(assignment("orders", [2, 3])));
  expect(await again.commit("orders", { 3: 30 })).toEqual([ErrorCode.NONE]);
  expect(test_.logLines.some((line) => line.includes("loaded") && line.includes("__consumer_offsets"))).toBe(true);
});

test("twenty concurrent first commits on a fresh broker create __consumer_offsets once and all succeed", async () => {
  const fresh = await startTestBroker();
  try {
    const setup = await fresh.connect();
    await createTopic(setup, "burst", 3);
    const connections = await Promise.all(Array.from({ length: 20 }, () => fresh.connect()));
    const results = await Promise.all(
      connections.map((connection, i) =>
        connection.request(ApiKey.OffsetCommit, 8, { groupId: `burst-${i}`, generationIdOrMemberEpoch: -1, memberId: "", topics: [{ name: "burst", partitions: [0, 1, 2].map((partitionIndex) => ({ partitionIndex, committedOffset: i, committedMetadata: "" })) }] }),
      ),
    );
    for (const response of results) expect(response.topics[0].partitions.map((p: { errorCode: number }) => p.errorCode)).toEqual([0, 0, 0]);
    expect(fresh.logLines.filter((line) => line.startsWith(`created topic ${OFFSETS_TOPIC}`)).length).toBe(1);
  } finally {
    await fresh.stop();
  }
});

test("a broker stop answers a parked JoinGroup with NOT_COORDINATOR instead of leaving it hanging", async () => {
  const other = await startTestBroker();
  try {
    const a = await RawMember.create(other, "s-parked", { rebalanceTimeoutMs: 60_000 });
    await a.join();
    await a.sync([{ memberId: a.memberId, assignment: assignment("x", [0]) }]);
    // b's join parks: the group waits (up to a minute) for a to rejoin.
    const b = await RawMember.create(other, "s-parked");
    const parked = b.join();
    expect(await eventually(async () => (await a.heartbeat()) === ErrorCode.REBALANCE_IN_PROGRESS)).toBe(true);
    const stoppedMs = Date.now();
    const stopping = other.broker.stop();
    expect((await parked).errorCode).toBe(ErrorCode.NOT_COORDINATOR);
    await stopping;
    expect(Date.now() - stoppedMs).toBeLessThan(5000);
  } finally {
    await other.stop();
  }
});
