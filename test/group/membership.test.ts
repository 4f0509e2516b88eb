// The group state machine driven over real sockets by raw members: joins, rebalances, generations,
// timeouts, static membership and every error code a client must be able to rely on. No case may leave
// a group stuck: each ends with the group Stable or Empty and answering.
import { afterAll, beforeAll, expect, test } from "bun:test";
import { ErrorCode } from "../../src/protocol/errors.ts";
import { ApiKey } from "../../src/protocol/generated/index.ts";
import { assignment, createTopic, describeGroup, eventually, RawMember, startTestBroker, subscription, type TestBroker } from "./helpers.ts";

let test_: TestBroker;
const TOPIC = "t";

beforeAll(async () => {
  test_ = await startTestBroker({ "group.max.session.timeout.ms": "60000" });
  await createTopic(await test_.connect(), TOPIC, 6);
});

afterAll(async () => {
  await test_.stop();
});

/** Two members into one stable generation: a joins alone, b joins, a learns of it by heartbeat and rejoins. */
async function twoMemberGroup(groupId: string, options: { sessionTimeoutMs?: number; rebalanceTimeoutMs?: number } = {}, instanceIds?: [string, string]) {
  const a = await RawMember.create(test_, groupId, { ...options, groupInstanceId: instanceIds?.[0] });
  const b = await RawMember.create(test_, groupId, { ...options, groupInstanceId: instanceIds?.[1] });
  expect((await a.join()).errorCode).toBe(ErrorCode.NONE);
  expect((await a.sync([{ memberId: a.memberId, assignment: assignment(TOPIC, [0, 1, 2, 3, 4, 5]) }])).errorCode).toBe(ErrorCode.NONE);
  const bJoin = b.join();
  expect(await eventually(async () => (await a.heartbeat()) === ErrorCode.REBALANCE_IN_PROGRESS)).toBe(true);
  const [aJoin, bJoined] = await Promise.all([a.join(), bJoin]);
  expect(aJoin.errorCode).toBe(ErrorCode.NONE);
  expect(bJoined.errorCode).toBe(ErrorCode.NONE);
  const leader = a.isLeader ? a : b;
  const follower = leader === a ? b : a;
  const [leaderSync, followerSync] = await Promise.all([
    leader.sync([
      { memberId: leader.memberId, assignment: assignment(TOPIC, [0, 1, 2]) },
      { memberId: follower.memberId, assignment: assignment(TOPIC, [3, 4, 5]) },
    ]),
    follower.sync(),
  ]);
  expect(leaderSync.errorCode).toBe(ErrorCode.NONE);
  expect(followerSync.errorCode).toBe(ErrorCode.NONE);
  return { a, b, leader, follower };
}

test("a new member gets MEMBER_ID_REQUIRED (JoinGroup v4+), joins with that id and leads generation 1; v0-3 join at once", async () => {
  const member = await RawMember.create(test_, "g-join");
  const first = await member.joinOnce();
  expect(first.errorCode).toBe(ErrorCode.MEMBER_ID_REQUIRED);
  expect(first.memberId).toStartWith("bunka-");
  const joined = await member.joinOnce({ memberId: first.memberId });
  expect(joined.errorCode).toBe(ErrorCode.NONE);
  expect(joined.generationId).toBe(1);
  expect(joined.leader).toBe(first.memberId);
  expect(joined.protocolName).toBe("range");
  expect(joined.members.map((m: { memberId: string }) => m.memberId)).toEqual([first.memberId]);
  expect(Buffer.from(joined.members[0].metadata)).toEqual(Buffer.from(subscription(["t"])));
  const synced = await member.sync([{ memberId: member.memberId, assignment: assignment(TOPIC, [0, 1]) }]);
  expect(synced.errorCode).toBe(ErrorCode.NONE);
  expect(Buffer.from(synced.assignment)).toEqual(Buffer.from(assignment(TOPIC, [0, 1])));
  expect(await member.heartbeat()).toBe(ErrorCode.NONE);
  const described = await describeGroup(member.connection, "g-join");
  expect(described.groupState).toBe("Stable");
  expect(described.protocolData).toBe("range");
  expect(described.members[0].clientHost).toBe("/127.0.0.1");

  const old = await RawMember.create(test_, "g-join-v2", { version: 2 });
  const oldJoin = await old.joinOnce();
  expect(oldJoin.errorCode).toBe(ErrorCode.NONE);
  expect(oldJoin.generationId).toBe(1);
});

test("a second member triggers a rebalance: heartbeat says REBALANCE_IN_PROGRESS, both rejoin into generation 2, each gets the leader's assignment", async () => {
  const { leader, follower } = await twoMemberGroup("g-two");
  expect(leader.generationId).toBe(2);
  expect(follower.generationId).toBe(2);
  expect(leader.lastJoin.members.length).toBe(2);
  expect(follower.lastJoin.members.length).toBe(0);
  expect(await leader.heartbeat()).toBe(ErrorCode.NONE);
  expect(await follower.heartbeat()).toBe(ErrorCode.NONE);
  // A follower that rejoins with the same metadata in a stable group changes nothing.
  const rejoin = await follower.join();
  expect(rejoin.errorCode).toBe(ErrorCode.NONE);
  expect(rejoin.generationId).toBe(2);
  expect((await describeGroup(leader.connection, "g-two")).groupState).toBe("Stable");
});

test("unknown member ids get UNKNOWN_MEMBER_ID from JoinGroup, SyncGroup, Heartbeat, OffsetCommit and LeaveGroup", async () => {
  const { leader } = await twoMemberGroup("g-unknown");
  const stranger = await RawMember.create(test_, "g-unknown");
  const bogus = { memberId: "no-such-member", generationId: leader.generationId };
  expect((await stranger.joinOnce({ memberId: "no-such-member" })).errorCode).toBe(ErrorCode.UNKNOWN_MEMBER_ID);
  expect((await stranger.sync([], bogus)).errorCode).toBe(ErrorCode.UNKNOWN_MEMBER_ID);
  expect(await stranger.heartbeat(bogus)).toBe(ErrorCode.UNKNOWN_MEMBER_ID);
  expect(await stranger.commit(TOPIC, { 0: 1 }, bogus)).toEqual([ErrorCode.UNKNOWN_MEMBER_ID]);
  stranger.memberId = "no-such-member";
  expect(await stranger.leave()).toBe(ErrorCode.UNKNOWN_MEMBER_ID);
  // A group this broker never saw: a member id is stale, a heartbeat unknown.
  const lost = await RawMember.create(test_, "g-never-seen");
  expect((await lost.joinOnce({ memberId: "ghost" })).errorCode).toBe(ErrorCode.UNKNOWN_MEMBER_ID);
  expect(await lost.heartbeat({ memberId: "ghost", generationId: 3 })).toBe(ErrorCode.UNKNOWN_MEMBER_ID);
  expect(await lost.commit(TOPIC, { 0: 1 }, { memberId: "ghost", generationId: 3 })).toEqual([ErrorCode.ILLEGAL_GENERATION]);
  expect(await leader.heartbeat()).toBe(ErrorCode.NONE);
});

test("a stale generation gets ILLEGAL_GENERATION from SyncGroup, Heartbeat and OffsetCommit", async () => {
  const { leader, follower } = await twoMemberGroup("g-stale");
  const stale = { generationId: leader.generationId - 1 };
  expect((await follower.sync([], stale)).errorCode).toBe(ErrorCode.ILLEGAL_GENERATION);
  expect(await follower.heartbeat(stale)).toBe(ErrorCode.ILLEGAL_GENERATION);
  expect(await follower.commit(TOPIC, { 3: 10 }, stale)).toEqual([ErrorCode.ILLEGAL_GENERATION]);
  expect(await follower.heartbeat({ generationId: leader.generationId + 5 })).toBe(ErrorCode.ILLEGAL_GENERATION);
  expect(await leader.heartbeat()).toBe(ErrorCode.NONE);
});

test("during a rebalance: Heartbeat and SyncGroup say REBALANCE_IN_PROGRESS; commits pass while preparing and are refused while completing", async () => {
  const { leader, follower } = await twoMemberGroup("g-rebalancing", { rebalanceTimeoutMs: 20_000 });
  // The leader rejoining forces a rebalance; the follower has not rejoined yet.
  const leaderJoin = leader.join();
  expect(await eventually(async () => (await describeGroup(follower.connection, "g-rebalancing")).groupState === "PreparingRebalance")).toBe(true);
  expect(await follower.heartbeat()).toBe(ErrorCode.REBALANCE_IN_PROGRESS);
  expect((await follower.sync()).errorCode).toBe(ErrorCode.REBALANCE_IN_PROGRESS);
  // Kafka lets members commit what they consumed before they rejoin.
  expect(await follower.commit(TOPIC, { 3: 7 })).toEqual([ErrorCode.NONE]);
  const [leaderJoined, followerJoined] = await Promise.all([leaderJoin, follower.join()]);
  expect(leaderJoined.errorCode).toBe(ErrorCode.NONE);
  expect(followerJoined.generationId).toBe(leaderJoined.generationId);
  expect((await describeGroup(follower.connection, "g-rebalancing")).groupState).toBe("CompletingRebalance");
  expect(await follower.commit(TOPIC, { 3: 8 })).toEqual([ErrorCode.REBALANCE_IN_PROGRESS]);
  // Between its JoinGroup response and SyncGroup a member may heartbeat (NONE, as in current Kafka).
  expect(await follower.heartbeat()).toBe(ErrorCode.NONE);
  const [leaderSync, followerSync] = await Promise.all([
    leader.sync([{ memberId: leader.memberId, assignment: assignment(TOPIC, [0, 1, 2]) }, { memberId: follower.memberId, assignment: assignment(TOPIC, [3, 4, 5]) }]),
    follower.sync(),
  ]);
  expect(leaderSync.errorCode).toBe(ErrorCode.NONE);
  expect(followerSync.errorCode).toBe(ErrorCode.NONE);
  expect(await follower.commit(TOPIC, { 3: 8 })).toEqual([ErrorCode.NONE]);
});

test("session timeouts outside group.min/max.session.timeout.ms get INVALID_SESSION_TIMEOUT", async () => {
  const member = await RawMember.create(test_, "g-session-bounds");
  expect((await member.joinOnce({ sessionTimeoutMs: 50 })).errorCode).toBe(ErrorCode.INVALID_SESSION_TIMEOUT);
  expect((await member.joinOnce({ sessionTimeoutMs: 60_001 })).errorCode).toBe(ErrorCode.INVALID_SESSION_TIMEOUT);
  expect((await member.join({ sessionTimeoutMs: 100 })).errorCode).toBe(ErrorCode.NONE);
  await member.leave();
});

test("INCONSISTENT_GROUP_PROTOCOL without a common protocol or with another protocol type; INVALID_GROUP_ID for an empty id; the protocol is chosen by vote", async () => {
  const first = await RawMember.create(test_, "g-protocols", { protocols: [{ name: "roundrobin", metadata: subscription(["t"]) }, { name: "range", metadata: subscription(["t"]) }] });
  expect((await first.join()).errorCode).toBe(ErrorCode.NONE);
  expect(first.protocolName).toBe("roundrobin");
  await first.sync([{ memberId: first.memberId, assignment: assignment(TOPIC, [0]) }]);
  const other = await RawMember.create(test_, "g-protocols");
  expect((await other.joinOnce({ protocols: [{ name: "cooperative-sticky", metadata: subscription(["t"]) }] })).errorCode).toBe(ErrorCode.INCONSISTENT_GROUP_PROTOCOL);
  expect((await other.joinOnce({ protocolType: "connect" })).errorCode).toBe(ErrorCode.INCONSISTENT_GROUP_PROTOCOL);
  const fresh = await RawMember.create(test_, "g-no-protocols");
  expect((await fresh.joinOnce({ protocols: [] })).errorCode).toBe(ErrorCode.INCONSISTENT_GROUP_PROTOCOL);
  expect((await (await RawMember.create(test_, "")).joinOnce()).errorCode).toBe(ErrorCode.INVALID_GROUP_ID);
  // Two members prefer range, one roundrobin: range wins the vote.
  const voters = await Promise.all([0, 1].map(() => RawMember.create(test_, "g-protocols", { protocols: [{ name: "range", metadata: subscription(["t"]) }, { name: "roundrobin", metadata: subscription(["t"]) }] })));
  const voterJoins = voters.map((voter) => voter.join());
  // The first member rejoins only once both voters are in the group (joined, not just pending).
  expect(await eventually(async () => (await describeGroup(first.connection, "g-protocols")).members.length === 3)).toBe(true);
  const results = await Promise.all([first.join(), ...voterJoins]);
  for (const result of results) expect(result.errorCode).toBe(ErrorCode.NONE);
  expect(new Set(results.map((result) => result.protocolName))).toEqual(new Set(["range"]));
  expect(new Set(results.map((result) => result.generationId)).size).toBe(1);
});

test("a malformed assignment from the leader: the leader gets INVALID_REQUEST, the follower REBALANCE_IN_PROGRESS, and the group rebalances to a valid one", async () => {
  const { leader, follower } = await twoMemberGroup("g-malformed");
  const leaderJoin = leader.join();
  const followerJoin = (async () => {
    expect(await eventually(async () => (await follower.heartbeat()) === ErrorCode.REBALANCE_IN_PROGRESS)).toBe(true);
    return follower.join();
  })();
  await Promise.all([leaderJoin, followerJoin]);
  const followerSync = follower.sync();
  const garbage = new Uint8Array([0, 0, 0, 0, 0, 9, 0xff]); // version 0, one topic, then a truncated string
  const leaderSync = await leader.sync([{ memberId: leader.memberId, assignment: assignment(TOPIC, [0]) }, { memberId: follower.memberId, assignment: garbage }]);
  expect(leaderSync.errorCode).toBe(ErrorCode.INVALID_REQUEST);
  expect((await followerSync).errorCode).toBe(ErrorCode.REBALANCE_IN_PROGRESS);
  expect((await describeGroup(leader.connection, "g-malformed")).groupState).toBe("PreparingRebalance");
  // Both rejoin; this time the leader sends a good assignment.
  await Promise.all([leader.join(), follower.join()]);
  const [good, followerGood] = await Promise.all([
    leader.sync([{ memberId: leader.memberId, assignment: assignment(TOPIC, [0, 1, 2]) }, { memberId: follower.memberId, assignment: assignment(TOPIC, [3, 4, 5]) }]),
    follower.sync(),
  ]);
  expect(good.errorCode).toBe(ErrorCode.NONE);
  expect(Buffer.from(followerGood.assignment)).toEqual(Buffer.from(assignment(TOPIC, [3, 4, 5])));
  expect(test_.logLines.some((line) => line.includes("malformed consumer assignment"))).toBe(true);
});

test("a member commits only partitions assigned to it: others get ILLEGAL_GENERATION, its own commit", async () => {
  const { leader, follower } = await twoMemberGroup("g-owned");
  expect(await follower.commit(TOPIC, { 3: 5, 4: 6 })).toEqual([ErrorCode.NONE, ErrorCode.NONE]);
  expect(await follower.commit(TOPIC, { 0: 5, 5: 1 })).toEqual([ErrorCode.ILLEGAL_GENERATION, ErrorCode.NONE]);
  expect(await leader.commit(TOPIC, { 0: 9 })).toEqual([ErrorCode.NONE]);
});

test("a member that stops heartbeating is removed after its session timeout and the group rebalances without it", async () => {
  const { leader, follower } = await twoMemberGroup("g-session", { sessionTimeoutMs: 600 });
  const startedMs = Date.now();
  // Only the leader keeps heartbeating; it learns of the rebalance and rejoins alone.
  let rejoined: any = null;
  expect(
    await eventually(async () => {
      const errorCode = await leader.heartbeat();
      if (errorCode === ErrorCode.REBALANCE_IN_PROGRESS) rejoined = await leader.join();
      return rejoined !== null;
    }, 10_000),
  ).toBe(true);
  expect(Date.now() - startedMs).toBeGreaterThanOrEqual(500);
  expect(rejoined.errorCode).toBe(ErrorCode.NONE);
  expect(rejoined.members.map((m: { memberId: string }) => m.memberId)).toEqual([leader.memberId]);
  expect(await follower.heartbeat()).toBe(ErrorCode.UNKNOWN_MEMBER_ID);
  expect(test_.logLines.some((line) => line.includes(`member ${follower.memberId} session expired`))).toBe(true);
});

test("a member that does not rejoin within the rebalance timeout is removed; the others get the next generation", async () => {
  const { leader, follower } = await twoMemberGroup("g-rebalance-timeout", { sessionTimeoutMs: 30_000, rebalanceTimeoutMs: 800 });
  const startedMs = Date.now();
  // The follower keeps heartbeating (its session stays alive) but never rejoins.
  const heartbeats = (async () => {
    for (let i = 0; i < 100 && Date.now() - startedMs < 5000; i++) {
      if ((await follower.heartbeat()) === ErrorCode.UNKNOWN_MEMBER_ID) return;
      await Bun.sleep(50);
    }
  })();
  const joined = await leader.join();
  expect(Date.now() - startedMs).toBeGreaterThanOrEqual(700);
  expect(joined.errorCode).toBe(ErrorCode.NONE);
  expect(joined.members.length).toBe(1);
  await heartbeats;
  expect(await follower.heartbeat()).toBe(ErrorCode.UNKNOWN_MEMBER_ID);
});

test("a member that does not send SyncGroup within the rebalance timeout is removed and the group rebalances", async () => {
  const { leader, follower } = await twoMemberGroup("g-pending-sync", { sessionTimeoutMs: 30_000, rebalanceTimeoutMs: 800 });
  const leaderJoin = leader.join();
  expect(await eventually(async () => (await follower.heartbeat()) === ErrorCode.REBALANCE_IN_PROGRESS)).toBe(true);
  await Promise.all([leaderJoin, follower.join()]);
  // Only the leader syncs; the follower's silence ends its membership.
  expect((await leader.sync([{ memberId: leader.memberId, assignment: assignment(TOPIC, [0, 1, 2]) }, { memberId: follower.memberId, assignment: assignment(TOPIC, [3, 4, 5]) }])).errorCode).toBe(ErrorCode.NONE);
  expect(await eventually(async () => (await leader.heartbeat()) === ErrorCode.REBALANCE_IN_PROGRESS, 5000)).toBe(true);
  const rejoined = await leader.join();
  expect(rejoined.members.length).toBe(1);
  expect(test_.logLines.some((line) => line.includes("did not send SyncGroup in time"))).toBe(true);
});

test("static membership: a restarted instance takes its slot back without a rebalance, the old member id is fenced, LeaveGroup by instance id removes it", async () => {
  // One member after the other (as twoMemberGroup does): joined together, the second could arrive after
  // the first's generation completed and wait out the rebalance timeout for a rejoin nobody sends.
  const { leader, follower } = await twoMemberGroup("g-static", {}, ["instance-a", "instance-b"]);
  const generation = follower.generationId;
  const oldMemberId = follower.memberId;
  // The follower "restarts": same instance id, no member id. No MEMBER_ID_REQUIRED for static members.
  const restarted = await RawMember.create(test_, "g-static", { groupInstanceId: follower.options.groupInstanceId });
  const rejoin = await restarted.joinOnce();
  expect(rejoin.errorCode).toBe(ErrorCode.NONE);
  expect(rejoin.generationId).toBe(generation);
  expect(rejoin.memberId).not.toBe(oldMemberId);
  expect(rejoin.memberId).toStartWith(`${follower.options.groupInstanceId}-`);
  const synced = await restarted.sync();
  expect(synced.errorCode).toBe(ErrorCode.NONE);
  expect(Buffer.from(synced.assignment)).toEqual(Buffer.from(assignment(TOPIC, [3, 4, 5])));
  expect((await describeGroup(leader.connection, "g-static")).groupState).toBe("Stable");
  expect(await leader.heartbeat()).toBe(ErrorCode.NONE);
  // The old incarnation is fenced everywhere.
  expect(await follower.heartbeat()).toBe(ErrorCode.FENCED_INSTANCE_ID);
  expect((await follower.sync()).errorCode).toBe(ErrorCode.FENCED_INSTANCE_ID);
  expect(await follower.commit(TOPIC, { 3: 1 })).toEqual([ErrorCode.FENCED_INSTANCE_ID]);
  expect((await follower.joinOnce()).errorCode).toBe(ErrorCode.FENCED_INSTANCE_ID);
  // LeaveGroup v3+ by instance id alone (what an operator's tool sends).
  const response = await leader.connection.request(ApiKey.LeaveGroup, 3, { groupId: "g-static", members: [{ memberId: "", groupInstanceId: follower.options.groupInstanceId }] });
  expect(response.members[0].errorCode).toBe(ErrorCode.NONE);
  expect(await restarted.heartbeat()).toBe(ErrorCode.UNKNOWN_MEMBER_ID);
  expect(await leader.heartbeat()).toBe(ErrorCode.REBALANCE_IN_PROGRESS);
  const alone = await leader.join();
  expect(alone.members.length).toBe(1);
});

test("LeaveGroup v3 removes several members in one request and reports the unknown ones; the group ends Empty", async () => {
  const { a, b } = await twoMemberGroup("g-leave-batch");
  const response = await a.connection.request(ApiKey.LeaveGroup, 3, {
    groupId: "g-leave-batch",
    members: [
      { memberId: a.memberId, groupInstanceId: null },
      { memberId: "nobody", groupInstanceId: null },
      { memberId: b.memberId, groupInstanceId: null },
    ],
  });
  expect(response.errorCode).toBe(ErrorCode.NONE);
  expect(response.members.map((m: { errorCode: number }) => m.errorCode)).toEqual([ErrorCode.NONE, ErrorCode.UNKNOWN_MEMBER_ID, ErrorCode.NONE]);
  expect(await eventually(async () => (await describeGroup(a.connection, "g-leave-batch")).groupState === "Empty")).toBe(true);
  expect(await a.heartbeat()).toBe(ErrorCode.UNKNOWN_MEMBER_ID);
  // LeaveGroup v1 (librdkafka's) for a group this broker does not know.
  const v1 = await a.connection.request(ApiKey.LeaveGroup, 1, { groupId: "g-nope", memberId: "x" });
  expect(v1.errorCode).toBe(ErrorCode.UNKNOWN_MEMBER_ID);
});

test("a second JoinGroup from a member whose first is still parked answers the first; neither is left hanging", async () => {
  const { leader, follower } = await twoMemberGroup("g-duplicate-join", { rebalanceTimeoutMs: 10_000 });
  const first = leader.join();
  expect(await eventually(async () => (await describeGroup(follower.connection, "g-duplicate-join")).groupState === "PreparingRebalance")).toBe(true);
  const secondConnection = await test_.connect();
  const again = new RawMember(secondConnection, "g-duplicate-join");
  again.memberId = leader.memberId;
  const second = again.join();
  expect((await first).errorCode).toBe(ErrorCode.REBALANCE_IN_PROGRESS);
  const [secondDone, followerDone] = await Promise.all([second, follower.join()]);
  expect(secondDone.errorCode).toBe(ErrorCode.NONE);
  expect(followerDone.generationId).toBe(secondDone.generationId);
});
