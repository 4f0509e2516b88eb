// The newest classic-group versions over real sockets: JoinGroup v7 (protocol type in the response), v8
// (KIP-800 reason), v9 (KIP-814 skipAssignment for a static leader's rejoin), SyncGroup v5 (protocol type
// and name checked and returned), LeaveGroup v5 (per-member reason).
import { afterAll, beforeAll, expect, test } from "bun:test";
import { ErrorCode } from "../../src/protocol/errors.ts";
import { ApiKey } from "../../src/protocol/generated/index.ts";
import { assignment, createTopic, eventually, RawMember, startTestBroker, subscription, type TestBroker } from "./helpers.ts";

let test_: TestBroker;
const TOPIC = "t";

beforeAll(async () => {
  test_ = await startTestBroker({ "group.max.session.timeout.ms": "60000" });
  await createTopic(await test_.connect(), TOPIC, 2);
});

afterAll(async () => {
  await test_.stop();
});

function syncV5(member: RawMember, protocolType: string | null, protocolName: string | null, assignments: { memberId: string; assignment: Uint8Array }[] = []): Promise<any> {
  return member.connection.request(ApiKey.SyncGroup, 5, { groupId: member.groupId, generationId: member.generationId, memberId: member.memberId, groupInstanceId: member.options.groupInstanceId ?? null, protocolType, protocolName, assignments });
}

test("JoinGroup v7/v8: the protocol type comes back, errors carry null type and name, the client's reason is logged", async () => {
  const member = await RawMember.create(test_, "g-v8", { version: 8 });
  const first = await member.joinOnce();
  expect(first.errorCode).toBe(ErrorCode.MEMBER_ID_REQUIRED);
  expect(first.protocolType).toBeNull();
  expect(first.protocolName).toBeNull();
  const joined = await member.connection.request(ApiKey.JoinGroup, 8, {
    groupId: "g-v8",
    sessionTimeoutMs: 10_000,
    rebalanceTimeoutMs: 10_000,
    memberId: first.memberId,
    groupInstanceId: null,
    protocolType: "consumer",
    protocols: [{ name: "range", metadata: subscription([TOPIC]) }],
    reason: "rebalance needed: the v8 test says so",
  });
  expect(joined.errorCode).toBe(ErrorCode.NONE);
  expect(joined.protocolType).toBe("consumer");
  expect(joined.protocolName).toBe("range");
  expect(joined.leader).toBe(first.memberId);
  expect(test_.logLines.some((line) => line.includes("g-v8") && line.includes("client reason: rebalance needed: the v8 test says so"))).toBe(true);
  // v6 and below keep the non-nullable empty protocol name on an error.
  const old = await member.connection.request(ApiKey.JoinGroup, 6, { groupId: "g-v8", sessionTimeoutMs: 10_000, rebalanceTimeoutMs: 10_000, memberId: "", groupInstanceId: null, protocolType: "other", protocols: [{ name: "x", metadata: new Uint8Array(0) }] });
  expect(old.errorCode).toBe(ErrorCode.INCONSISTENT_GROUP_PROTOCOL);
  expect(old.protocolName).toBe("");
});

test("SyncGroup v5: a mismatched protocol type or name is INCONSISTENT_GROUP_PROTOCOL; the right ones come back", async () => {
  const member = await RawMember.create(test_, "g-sync5", { version: 7 });
  expect((await member.join()).errorCode).toBe(ErrorCode.NONE);
  const mine = [{ memberId: member.memberId, assignment: assignment(TOPIC, [0, 1]) }];
  expect((await syncV5(member, "consumer", "roundrobin", mine)).errorCode).toBe(ErrorCode.INCONSISTENT_GROUP_PROTOCOL);
  expect((await syncV5(member, "connect", "range", mine)).errorCode).toBe(ErrorCode.INCONSISTENT_GROUP_PROTOCOL);
  const synced = await syncV5(member, "consumer", "range", mine);
  expect(synced.errorCode).toBe(ErrorCode.NONE);
  expect(synced.protocolType).toBe("consumer");
  expect(synced.protocolName).toBe("range");
  expect(Buffer.from(synced.assignment)).toEqual(Buffer.from(assignment(TOPIC, [0, 1])));
  await member.leave();
});

test("JoinGroup v9: a static leader rejoining a stable group is told it leads, with every member, and skips the assignment; v8 gets the old leader's id", async () => {
  const a = await RawMember.create(test_, "g-skip", { version: 9, groupInstanceId: "skip-a" });
  expect((await a.join()).errorCode).toBe(ErrorCode.NONE);
  expect(a.lastJoin.skipAssignment).toBe(false);
  expect((await syncV5(a, "consumer", "range", [{ memberId: a.memberId, assignment: assignment(TOPIC, [0, 1]) }])).errorCode).toBe(ErrorCode.NONE);
  const generation = a.generationId;

  // The leader "restarts" speaking v8: the old leader id comes back, so it does not compute an assignment.
  const v8 = await RawMember.create(test_, "g-skip", { version: 8, groupInstanceId: "skip-a" });
  const oldStyle = await v8.joinOnce();
  expect(oldStyle.errorCode).toBe(ErrorCode.NONE);
  expect(oldStyle.generationId).toBe(generation);
  expect(oldStyle.leader).toBe(a.memberId);
  expect(oldStyle.members).toEqual([]);

  // It restarts again speaking v9: it leads, sees the members' metadata, and is told to skip the assignment.
  const v9 = await RawMember.create(test_, "g-skip", { version: 9, groupInstanceId: "skip-a" });
  const skipped = await v9.joinOnce();
  expect(skipped.errorCode).toBe(ErrorCode.NONE);
  expect(skipped.generationId).toBe(generation);
  expect(skipped.skipAssignment).toBe(true);
  expect(skipped.leader).toBe(skipped.memberId);
  expect(skipped.protocolType).toBe("consumer");
  expect(skipped.members.map((member: { groupInstanceId: string | null }) => member.groupInstanceId)).toEqual(["skip-a"]);
  // No rebalance: its sync without assignments gets the assignment it had.
  const synced = await syncV5(v9, "consumer", "range");
  expect(synced.errorCode).toBe(ErrorCode.NONE);
  expect(Buffer.from(synced.assignment)).toEqual(Buffer.from(assignment(TOPIC, [0, 1])));
  expect(await v9.heartbeat()).toBe(ErrorCode.NONE);
  await v9.leave();
});

test("LeaveGroup v5: each member's reason is logged with its departure", async () => {
  const member = await RawMember.create(test_, "g-leave5", { version: 9 });
  expect((await member.join()).errorCode).toBe(ErrorCode.NONE);
  const memberId = member.memberId;
  const response = await member.connection.request(ApiKey.LeaveGroup, 5, { groupId: "g-leave5", members: [{ memberId, groupInstanceId: null, reason: "the application is shutting down" }, { memberId: "nobody", groupInstanceId: null, reason: null }] });
  expect(response.errorCode).toBe(ErrorCode.NONE);
  expect(response.members.map((m: { memberId: string; errorCode: number }) => [m.memberId, m.errorCode])).toEqual([
    [memberId, ErrorCode.NONE],
    ["nobody", ErrorCode.UNKNOWN_MEMBER_ID],
  ]);
  expect(await eventually(() => test_.logLines.some((line) => line.includes(`member ${memberId} left; client reason: the application is shutting down`)))).toBe(true);
});
