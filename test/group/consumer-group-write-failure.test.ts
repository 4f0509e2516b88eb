// A ConsumerGroupHeartbeat whose __consumer_offsets write fails leaves the group as it was before it (Kafka's
// coordinator reverts its timeline snapshot): the member gets the error, and its epoch, assignment and the
// group's epoch are unchanged. The write is made to fail for real: __consumer_offsets gets
// min.insync.replicas=2 on a single broker, so every acks=all append is NOT_ENOUGH_REPLICAS.
import { afterAll, beforeAll, expect, test } from "bun:test";
import type { KafkaConnection } from "../../src/client/kafka-connection.ts";
import { ErrorCode } from "../../src/protocol/errors.ts";
import { ApiKey } from "../../src/protocol/generated/index.ts";
import { OFFSETS_TOPIC } from "../../src/group/offsets-records.ts";
import { createTopic, RawMember, startTestBroker, subscription, type TestBroker } from "./helpers.ts";

let broker: TestBroker;
let connection: KafkaConnection;
let topicId: Uint8Array;

beforeAll(async () => {
  broker = await startTestBroker({ "group.consumer.heartbeat.interval.ms": "200", "group.consumer.session.timeout.ms": "30000" });
  connection = await broker.connect();
  await createTopic(connection, "unwritten", 4);
  await createTopic(connection, "unwritten-other", 2);
  topicId = Uint8Array.from(Buffer.from(broker.broker.topics.get("unwritten")!.topicId, "hex"));
});

afterAll(async () => {
  await broker?.stop();
});

function heartbeat(body: { groupId?: string; memberId: string; memberEpoch: number; subscribedTopicNames?: string[] | null; topicPartitions?: { topicId: Uint8Array; partitions: number[] }[] | null }) {
  return connection.request(ApiKey.ConsumerGroupHeartbeat, 1, {
    groupId: "unwritten-group",
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

const partitionsOf = (response: any): number[] => (response.assignment?.topicPartitions ?? []).flatMap((entry: { partitions: number[] }) => entry.partitions).sort((a: number, b: number) => a - b);

async function describeGroup(groupId = "unwritten-group") {
  const described = await connection.request(ApiKey.ConsumerGroupDescribe, 0, { groupIds: [groupId], includeAuthorizedOperations: false });
  return described.groups[0];
}

const breakWrites = (broken: boolean) => broker.broker.topics.alterConfigs(OFFSETS_TOPIC, { "min.insync.replicas": broken ? "2" : null }, true, false);

test("a heartbeat whose write fails changes nothing; the retry after the partition recovers applies it", async () => {
  const a = await heartbeat({ memberId: "member-a", memberEpoch: 0, subscribedTopicNames: ["unwritten"] });
  expect(a.errorCode).toBe(ErrorCode.NONE);
  expect(a.memberEpoch).toBe(1);
  expect(partitionsOf(a)).toEqual([0, 1, 2, 3]);

  await breakWrites(true);
  try {
    // A new member: refused, and not a member (no epoch bump, nothing to revoke for member-a).
    const b = await heartbeat({ memberId: "member-b", memberEpoch: 0, subscribedTopicNames: ["unwritten"] });
    expect(b.errorCode).not.toBe(ErrorCode.NONE);
    // A subscription change of member-a: refused, its subscription and epoch stay.
    const widened = await heartbeat({ memberId: "member-a", memberEpoch: 1, subscribedTopicNames: ["unwritten", "unwritten-other"], topicPartitions: [{ topicId, partitions: [0, 1, 2, 3] }] });
    expect(widened.errorCode).not.toBe(ErrorCode.NONE);

    const info = await describeGroup();
    expect(info.groupEpoch).toBe(1);
    expect(info.assignmentEpoch).toBe(1);
    expect(info.groupState).toBe("Stable");
    expect(info.members.map((member: any) => member.memberId)).toEqual(["member-a"]);
    const [memberA] = info.members;
    expect(memberA.memberEpoch).toBe(1);
    expect(memberA.subscribedTopicNames).toEqual(["unwritten"]);
    expect(memberA.assignment.topicPartitions.flatMap((entry: any) => entry.partitions).sort()).toEqual([0, 1, 2, 3]);
    expect(memberA.targetAssignment.topicPartitions.flatMap((entry: any) => entry.partitions).sort()).toEqual([0, 1, 2, 3]);

    // An unchanged heartbeat writes nothing, so it is answered as usual, with the epoch member-a had.
    const steady = await heartbeat({ memberId: "member-a", memberEpoch: 1, topicPartitions: [{ topicId, partitions: [0, 1, 2, 3] }] });
    expect(steady.errorCode).toBe(ErrorCode.NONE);
    expect(steady.memberEpoch).toBe(1);
    expect(steady.assignment).toBeNull();
  } finally {
    await breakWrites(false);
  }

  // The same requests again, written this time: the group moves on from where it was.
  const b = await heartbeat({ memberId: "member-b", memberEpoch: 0, subscribedTopicNames: ["unwritten"] });
  expect(b.errorCode).toBe(ErrorCode.NONE);
  expect(b.memberEpoch).toBe(2);
  const revoking = await heartbeat({ memberId: "member-a", memberEpoch: 1, topicPartitions: [{ topicId, partitions: [0, 1, 2, 3] }] });
  expect(revoking.errorCode).toBe(ErrorCode.NONE);
  expect(revoking.memberEpoch).toBe(1);
  const kept = partitionsOf(revoking);
  expect(kept.length).toBe(2);
  const settled = await heartbeat({ memberId: "member-a", memberEpoch: 1, topicPartitions: [{ topicId, partitions: kept }] });
  expect(settled.memberEpoch).toBe(2);
  const given = await heartbeat({ memberId: "member-b", memberEpoch: 2, topicPartitions: [] });
  expect([...kept, ...partitionsOf(given)].sort()).toEqual([0, 1, 2, 3]);
  const info = await describeGroup();
  expect(info.groupEpoch).toBe(2);
  expect(info.groupState).toBe("Stable");
}, 120_000);

test("a classic member's JoinGroup whose write fails is not a member; its retry is", async () => {
  const groupId = "unwritten-classic";
  expect((await heartbeat({ groupId, memberId: "kip848-only", memberEpoch: 0, subscribedTopicNames: ["unwritten"] })).errorCode).toBe(ErrorCode.NONE);
  const classic = await RawMember.create(broker, groupId, { protocols: [{ name: "range", metadata: subscription(["unwritten"]) }] });
  try {
    await breakWrites(true);
    try {
      const refused = await classic.join();
      expect(refused.errorCode).not.toBe(ErrorCode.NONE);
      const info = await describeGroup(groupId);
      expect(info.groupEpoch).toBe(1);
      expect(info.members.map((member: any) => member.memberId)).toEqual(["kip848-only"]);
    } finally {
      await breakWrites(false);
    }
    const joined = await classic.join();
    expect(joined.errorCode).toBe(ErrorCode.NONE);
    expect(joined.generationId).toBe(2);
    expect((await describeGroup(groupId)).members.length).toBe(2);
  } finally {
    classic.connection.close();
  }
}, 120_000);
