// The KIP-848 state machine over real sockets with raw members (ConsumerGroupHeartbeat v0/v1): joins and
// epochs, revocation before assignment, fencing, static members, bad requests, OffsetCommit v9/OffsetFetch
// v9 member epochs, ConsumerGroupDescribe, ListGroups v5 types, classic and consumer groups side by side.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import type { KafkaConnection } from "../../src/client/kafka-connection.ts";
import { ErrorCode } from "../../src/protocol/errors.ts";
import { ApiKey } from "../../src/protocol/generated/index.ts";
import { GroupAdmin } from "../../src/tools/group-admin.ts";
import { decodeAssignment, encodeSubscription } from "../../src/group/consumer-protocol.ts";
import { createTopic, startTestBroker, type TestBroker } from "./helpers.ts";

let broker: TestBroker;
let connection: KafkaConnection;
let topicId: Uint8Array;

beforeAll(async () => {
  broker = await startTestBroker({ "group.consumer.heartbeat.interval.ms": "200", "group.consumer.session.timeout.ms": "3000", "group.consumer.max.size": "4" });
  connection = await broker.connect();
  await createTopic(connection, "kip848", 6);
  topicId = Uint8Array.from(Buffer.from(broker.broker.topics.get("kip848")!.topicId, "hex"));
});

afterAll(async () => {
  await broker?.stop();
});

interface Owned {
  topicId: Uint8Array;
  partitions: number[];
}

function heartbeat(body: { groupId: string; memberId: string; memberEpoch: number; instanceId?: string | null; subscribedTopicNames?: string[] | null; subscribedTopicRegex?: string | null; serverAssignor?: string | null; topicPartitions?: Owned[] | null; rebalanceTimeoutMs?: number }, version = 1) {
  return connection.request(ApiKey.ConsumerGroupHeartbeat, version, {
    instanceId: null,
    rackId: null,
    rebalanceTimeoutMs: body.memberEpoch === 0 ? 30_000 : -1,
    subscribedTopicNames: null,
    subscribedTopicRegex: null,
    serverAssignor: null,
    topicPartitions: body.memberEpoch === 0 ? [] : null,
    ...body,
  });
}

const partitionsOf = (response: any): number[] => (response.assignment?.topicPartitions ?? []).flatMap((entry: Owned) => entry.partitions).sort((a: number, b: number) => a - b);

describe("ConsumerGroupHeartbeat", () => {
  test("two members split a topic; the second gets partitions only after the first revoked them", async () => {
    const group = "kip848-split";
    const a = await heartbeat({ groupId: group, memberId: "member-a", memberEpoch: 0, subscribedTopicNames: ["kip848"] });
    expect(a.errorCode).toBe(ErrorCode.NONE);
    expect(a.memberId).toBe("member-a");
    expect(a.memberEpoch).toBe(1);
    expect(a.heartbeatIntervalMs).toBe(200);
    expect(partitionsOf(a)).toEqual([0, 1, 2, 3, 4, 5]);

    const b = await heartbeat({ groupId: group, memberId: "member-b", memberEpoch: 0, subscribedTopicNames: ["kip848"] });
    expect(b.memberEpoch).toBe(2);
    expect(partitionsOf(b)).toEqual([]); // a still holds everything

    const aRevoke = await heartbeat({ groupId: group, memberId: "member-a", memberEpoch: 1, topicPartitions: [{ topicId, partitions: [0, 1, 2, 3, 4, 5] }] });
    expect(aRevoke.memberEpoch).toBe(1); // revoking happens at the old epoch
    const kept = partitionsOf(aRevoke);
    expect(kept.length).toBe(3);

    // b cannot have a's partitions yet.
    const bWaiting = await heartbeat({ groupId: group, memberId: "member-b", memberEpoch: 2, topicPartitions: [] });
    expect(bWaiting.assignment).toBeNull();

    const aDone = await heartbeat({ groupId: group, memberId: "member-a", memberEpoch: 1, topicPartitions: [{ topicId, partitions: kept }] });
    expect(aDone.memberEpoch).toBe(2);
    const bGets = await heartbeat({ groupId: group, memberId: "member-b", memberEpoch: 2, topicPartitions: [] });
    const given = partitionsOf(bGets);
    expect(given.length).toBe(3);
    expect([...kept, ...given].sort()).toEqual([0, 1, 2, 3, 4, 5]);

    const described = await connection.request(ApiKey.ConsumerGroupDescribe, 0, { groupIds: [group], includeAuthorizedOperations: false });
    const info = described.groups[0];
    expect(info.errorCode).toBe(ErrorCode.NONE);
    expect(info.groupState).toBe("Stable");
    expect(info.groupEpoch).toBe(2);
    expect(info.assignorName).toBe("uniform");
    expect(info.members.length).toBe(2);

    // Epochs: ahead is fenced, the member id must exist.
    expect((await heartbeat({ groupId: group, memberId: "member-a", memberEpoch: 9, topicPartitions: [] })).errorCode).toBe(ErrorCode.FENCED_MEMBER_EPOCH);
    expect((await heartbeat({ groupId: group, memberId: "nobody", memberEpoch: 1, topicPartitions: [] })).errorCode).toBe(ErrorCode.UNKNOWN_MEMBER_ID);

    // OffsetCommit v9 / OffsetFetch v9 check the member epoch.
    const commit = (epoch: number, version = 9) =>
      connection.request(ApiKey.OffsetCommit, version, { groupId: group, generationIdOrMemberEpoch: epoch, memberId: "member-b", groupInstanceId: null, topics: [{ name: "kip848", partitions: [{ partitionIndex: given[0], committedOffset: 5, committedLeaderEpoch: -1, committedMetadata: "" }] }] });
    expect((await commit(2)).topics[0].partitions[0].errorCode).toBe(ErrorCode.NONE);
    expect((await commit(1)).topics[0].partitions[0].errorCode).toBe(ErrorCode.STALE_MEMBER_EPOCH);
    expect((await commit(2, 8)).topics[0].partitions[0].errorCode).toBe(ErrorCode.UNSUPPORTED_VERSION);
    const fetch = (epoch: number) => connection.request(ApiKey.OffsetFetch, 9, { groups: [{ groupId: group, memberId: "member-b", memberEpoch: epoch, topics: [{ name: "kip848", partitionIndexes: [given[0]] }] }], requireStable: false });
    expect((await fetch(2)).groups[0].topics[0].partitions[0].committedOffset).toBe(5);
    expect((await fetch(1)).groups[0].errorCode).toBe(ErrorCode.STALE_MEMBER_EPOCH);

    // The groups tool (bun run groups, bunka group) sees the consumer group: members, assignments, offsets.
    const admin = await GroupAdmin.connect(`127.0.0.1:${broker.broker.port}`);
    try {
      expect((await admin.listGroups()).find((entry) => entry.groupId === group)).toMatchObject({ protocolType: "consumer", state: "Stable" });
      const toolView = await admin.describeGroup(group);
      expect(toolView.members.map((member) => member.memberId).sort()).toEqual(["member-a", "member-b"]);
      expect(toolView.members.find((member) => member.memberId === "member-b")!.assignment).toEqual([{ topic: "kip848", partitions: given }]);
      expect(toolView.partitions.find((entry) => entry.partition === given[0])).toMatchObject({ currentOffset: 5, consumerId: "member-b" });
    } finally {
      admin.close();
    }

    // A classic member cannot join a consumer group with members.
    const join = await connection.request(ApiKey.JoinGroup, 5, { groupId: group, sessionTimeoutMs: 10_000, rebalanceTimeoutMs: 10_000, memberId: "", groupInstanceId: null, protocolType: "consumer", protocols: [{ name: "range", metadata: new Uint8Array(0) }] });
    expect(join.errorCode).toBe(ErrorCode.INCONSISTENT_GROUP_PROTOCOL);

    // Leaving releases the partitions to the other member at once.
    const left = await heartbeat({ groupId: group, memberId: "member-a", memberEpoch: -1 });
    expect(left.errorCode).toBe(ErrorCode.NONE);
    expect(left.memberEpoch).toBe(-1);
    const bAll = await heartbeat({ groupId: group, memberId: "member-b", memberEpoch: 2, topicPartitions: [{ topicId, partitions: given }] });
    expect(bAll.memberEpoch).toBe(3);
    expect(partitionsOf(bAll)).toEqual([0, 1, 2, 3, 4, 5]);

    const listed = await connection.request(ApiKey.ListGroups, 5, { statesFilter: [], typesFilter: ["consumer"] });
    expect(listed.groups.map((entry: any) => entry.groupId)).toContain(group);
    expect(listed.groups.find((entry: any) => entry.groupId === group).groupType).toBe("consumer");
    const classicOnly = await connection.request(ApiKey.ListGroups, 5, { statesFilter: [], typesFilter: ["classic"] });
    expect(classicOnly.groups.map((entry: any) => entry.groupId)).not.toContain(group);
  });

  test("v0: the coordinator makes up the member id; regex subscriptions; range assignor", async () => {
    const joined = await heartbeat({ groupId: "kip848-v0", memberId: "", memberEpoch: 0, subscribedTopicNames: ["kip848"], serverAssignor: "range" }, 0);
    expect(joined.errorCode).toBe(ErrorCode.NONE);
    expect(joined.memberId.length).toBeGreaterThan(0);
    expect(partitionsOf(joined)).toEqual([0, 1, 2, 3, 4, 5]);
    const regex = await heartbeat({ groupId: "kip848-regex", memberId: "r1", memberEpoch: 0, subscribedTopicRegex: "kip8[0-9]+" });
    expect(partitionsOf(regex)).toEqual([0, 1, 2, 3, 4, 5]);
    const refused = await heartbeat({ groupId: "kip848-regex2", memberId: "r2", memberEpoch: 0, subscribedTopicRegex: "(k+)+" });
    expect(refused.errorCode).toBe(ErrorCode.INVALID_REGULAR_EXPRESSION);
    expect(refused.errorMessage).toContain("quantified group");
    expect((await heartbeat({ groupId: "kip848-x", memberId: "x", memberEpoch: 0, subscribedTopicNames: ["kip848"], serverAssignor: "sticky" })).errorCode).toBe(ErrorCode.UNSUPPORTED_ASSIGNOR);
    expect((await heartbeat({ groupId: "kip848-x", memberId: "x", memberEpoch: 0 })).errorCode).toBe(ErrorCode.INVALID_REQUEST);
    expect((await heartbeat({ groupId: "kip848-x", memberId: "", memberEpoch: 0, subscribedTopicNames: ["kip848"] })).errorCode).toBe(ErrorCode.INVALID_REQUEST);
  });

  test("group.consumer.max.size, static members, and a session that expires", async () => {
    const group = "kip848-static";
    for (let i = 0; i < 4; i++) expect((await heartbeat({ groupId: group, memberId: `m${i}`, memberEpoch: 0, subscribedTopicNames: ["kip848"], instanceId: i === 0 ? "instance-0" : null })).errorCode).toBe(ErrorCode.NONE);
    expect((await heartbeat({ groupId: group, memberId: "m4", memberEpoch: 0, subscribedTopicNames: ["kip848"] })).errorCode).toBe(ErrorCode.GROUP_MAX_SIZE_REACHED);
    // The instance id is taken while its member is active.
    expect((await heartbeat({ groupId: group, memberId: "m0-again", memberEpoch: 0, subscribedTopicNames: ["kip848"], instanceId: "instance-0" })).errorCode).toBe(ErrorCode.UNRELEASED_INSTANCE_ID);
    const first = await heartbeat({ groupId: group, memberId: "m0", memberEpoch: 1, instanceId: "instance-0", topicPartitions: [] });
    expect(first.errorCode).toBe(ErrorCode.NONE);
    const leave = await heartbeat({ groupId: group, memberId: "m0", memberEpoch: -2, instanceId: "instance-0" });
    expect(leave.memberEpoch).toBe(-2);
    const back = await heartbeat({ groupId: group, memberId: "m0-again", memberEpoch: 0, subscribedTopicNames: ["kip848"], instanceId: "instance-0" });
    expect(back.errorCode).toBe(ErrorCode.NONE);
    expect(back.memberId).toBe("m0-again");
    // The others stop heartbeating: their sessions (3 s here) expire and the member left takes everything.
    const deadline = Date.now() + 20_000;
    let partitions: number[] = [];
    let epoch = back.memberEpoch;
    let owned: number[] = partitionsOf(back);
    for (let attempt = 0; attempt < 100 && Date.now() < deadline && partitions.length < 6; attempt++) {
      await Bun.sleep(300);
      const beat = await heartbeat({ groupId: group, memberId: "m0-again", memberEpoch: epoch, instanceId: "instance-0", topicPartitions: [{ topicId, partitions: owned }] });
      expect(beat.errorCode).toBe(ErrorCode.NONE);
      epoch = beat.memberEpoch;
      if (beat.assignment) owned = partitionsOf(beat);
      partitions = owned;
    }
    expect(partitions).toEqual([0, 1, 2, 3, 4, 5]);
  });

  test("an empty classic group becomes a consumer group; a classic group with members of another protocol type is not one", async () => {
    // With the consumer embedded protocol it would be upgraded online (consumer-group-migration.test.ts).
    const joinBody = (memberId: string) => ({ groupId: "kip848-classic", sessionTimeoutMs: 10_000, rebalanceTimeoutMs: 10_000, memberId, groupInstanceId: null, protocolType: "connect", protocols: [{ name: "default", metadata: new Uint8Array(0) }] });
    const required = await connection.request(ApiKey.JoinGroup, 5, joinBody(""));
    expect(required.errorCode).toBe(ErrorCode.MEMBER_ID_REQUIRED);
    const join = await connection.request(ApiKey.JoinGroup, 5, joinBody(required.memberId));
    expect(join.errorCode).toBe(ErrorCode.NONE);
    const refused = await heartbeat({ groupId: "kip848-classic", memberId: "c1", memberEpoch: 0, subscribedTopicNames: ["kip848"] });
    expect(refused.errorCode).toBe(ErrorCode.GROUP_ID_NOT_FOUND);
    const described = await connection.request(ApiKey.ConsumerGroupDescribe, 0, { groupIds: ["kip848-classic"], includeAuthorizedOperations: false });
    expect(described.groups[0].errorCode).toBe(ErrorCode.GROUP_ID_NOT_FOUND);
    const left = await connection.request(ApiKey.LeaveGroup, 3, { groupId: "kip848-classic", members: [{ memberId: join.memberId, groupInstanceId: null }] });
    expect(left.errorCode).toBe(ErrorCode.NONE);
    const upgraded = await heartbeat({ groupId: "kip848-classic", memberId: "c1", memberEpoch: 0, subscribedTopicNames: ["kip848"] });
    expect(upgraded.errorCode).toBe(ErrorCode.NONE);
  });

  test("a classic group in the middle of a rebalance is upgraded: its member syncs, is told to rejoin, and rejoins into the consumer group", async () => {
    const groupId = "kip848-upgrade-mid-rebalance";
    const joinBody = (memberId: string) => ({ groupId, sessionTimeoutMs: 10_000, rebalanceTimeoutMs: 10_000, memberId, groupInstanceId: null, protocolType: "consumer", protocols: [{ name: "range", metadata: encodeSubscription({ topics: ["kip848"] }) }] });
    const required = await connection.request(ApiKey.JoinGroup, 5, joinBody(""));
    const join = await connection.request(ApiKey.JoinGroup, 5, joinBody(required.memberId));
    expect(join.errorCode).toBe(ErrorCode.NONE); // CompletingRebalance: the leader has not synced yet
    const kip848 = await heartbeat({ groupId, memberId: "new-protocol", memberEpoch: 0, subscribedTopicNames: ["kip848"] });
    expect(kip848.errorCode).toBe(ErrorCode.NONE);
    expect(kip848.memberEpoch).toBe(join.generationId + 1);
    const described = (await connection.request(ApiKey.ConsumerGroupDescribe, 0, { groupIds: [groupId], includeAuthorizedOperations: false })).groups[0];
    expect(described.members.map((member: any) => member.memberId).sort()).toEqual([join.memberId, "new-protocol"].sort());
    // The classic member's SyncGroup at its generation: what it holds (nothing yet); its heartbeat: rejoin.
    const sync = await connection.request(ApiKey.SyncGroup, 3, { groupId, generationId: join.generationId, memberId: join.memberId, groupInstanceId: null, assignments: [] });
    expect(sync.errorCode).toBe(ErrorCode.NONE);
    const beat = await connection.request(ApiKey.Heartbeat, 3, { groupId, generationId: join.generationId, memberId: join.memberId, groupInstanceId: null });
    expect(beat.errorCode).toBe(ErrorCode.REBALANCE_IN_PROGRESS);
    const rejoined = await connection.request(ApiKey.JoinGroup, 5, joinBody(join.memberId));
    expect(rejoined.errorCode).toBe(ErrorCode.NONE);
    expect(rejoined.generationId).toBe(kip848.memberEpoch);
    expect(rejoined.leader).toBe("");
    const synced = await connection.request(ApiKey.SyncGroup, 3, { groupId, generationId: rejoined.generationId, memberId: join.memberId, groupInstanceId: null, assignments: [] });
    expect(synced.errorCode).toBe(ErrorCode.NONE);
    const assigned = decodeAssignment(synced.assignment)!.assignedPartitions.flatMap((entry) => entry.partitions);
    expect(assigned.length).toBe(3); // half of the six partitions, the other half the KIP-848 member's
    const steady = await connection.request(ApiKey.Heartbeat, 3, { groupId, generationId: rejoined.generationId, memberId: join.memberId, groupInstanceId: null });
    expect(steady.errorCode).toBe(ErrorCode.NONE);
    await connection.request(ApiKey.LeaveGroup, 3, { groupId, members: [{ memberId: join.memberId, groupInstanceId: null }] });
    await heartbeat({ groupId, memberId: "new-protocol", memberEpoch: -1 });
  });
});
