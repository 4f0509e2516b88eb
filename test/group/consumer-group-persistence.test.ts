// KIP-848 groups in __consumer_offsets: the records' bytes are Kafka's, and a consumer-protocol group keeps its
// epochs, target and members' assignments across a broker SIGKILL: after the restart its members heartbeat on
// with the epochs they had (accepted, nothing reassigned), a newcomer rebalances it from there, a member that
// left before the kill stays gone, and a deleted group does not come back.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { KafkaConnection } from "../../src/client/kafka-connection.ts";
import { ErrorCode } from "../../src/protocol/errors.ts";
import { ApiKey } from "../../src/protocol/generated/index.ts";
import {
  ConsumerRecordType,
  decodeCurrentAssignmentValue,
  decodeMemberMetadataValue,
  encodeConsumerRecordKey,
  encodeCurrentAssignmentValue,
  encodeGroupEpochValue,
  encodeMemberMetadataValue,
} from "../../src/group/consumer-group/consumer-group-records.ts";
import { decodeKey } from "../../src/group/offsets-records.ts";
import { BrokerProcess } from "../helpers/broker-process.ts";
import { ConsumerProtocolMember, copyOwned, eventually } from "./helpers.ts";

const hex = (bytes: Uint8Array) => Buffer.from(bytes).toString("hex");

describe("consumer group records (Kafka 4.0's byte layout)", () => {
  test("keys: int16 record type, then non-flexible strings", () => {
    expect(hex(encodeConsumerRecordKey(ConsumerRecordType.GroupMetadata, "g"))).toBe("0003" + "0001" + "67");
    expect(hex(encodeConsumerRecordKey(ConsumerRecordType.CurrentMemberAssignment, "g", "m1"))).toBe("0008" + "0001" + "67" + "0002" + "6d31");
    expect(decodeKey(encodeConsumerRecordKey(ConsumerRecordType.TargetAssignmentMember, "group", "member"))).toEqual({ kind: "consumer", type: 7, group: "group", memberId: "member" });
  });

  test("values: int16 version 0, then a flexible body closed by its tagged fields", () => {
    expect(hex(encodeGroupEpochValue(5))).toBe("0000" + "00000005" + "00");
    const member = { instanceId: null, rackId: "r", clientId: "c", clientHost: "/h", subscribedTopicNames: ["t"], subscribedTopicRegex: null, rebalanceTimeoutMs: 300, serverAssignor: "uniform" };
    // compact nullable strings: length+1 as an unsigned varint, 0 for null
    expect(hex(encodeMemberMetadataValue(member))).toBe("0000" + "00" + "0272" + "0263" + "032f68" + "02" + "0274" + "00" + "0000012c" + "08" + Buffer.from("uniform").toString("hex") + "00");
    expect(decodeMemberMetadataValue(encodeMemberMetadataValue(member))).toEqual(member);
    // A classic member of an upgraded group: ClassicMemberMetadata in tagged field 0.
    const classic = { ...member, classic: { sessionTimeoutMs: 10_000, supportedProtocols: [{ name: "range", metadata: new Uint8Array([0, 1, 2]) }] } };
    const classicBytes = encodeMemberMetadataValue(classic);
    expect(hex(classicBytes).endsWith("01" + "00" + "11" + "00002710" + "02" + "0672616e6765" + "04000102" + "00" + "00")).toBe(true);
    expect(decodeMemberMetadataValue(classicBytes)).toEqual(classic);
    const topicId = new Uint8Array(16).fill(7);
    const current = { memberEpoch: 4, previousMemberEpoch: 3, state: "UNREVOKED_PARTITIONS" as const, assigned: [{ topicId, partitions: [0, 2] }], pendingRevocation: [{ topicId, partitions: [1] }] };
    const bytes = encodeCurrentAssignmentValue(current);
    expect(hex(bytes.subarray(0, 11))).toBe("0000" + "00000004" + "00000003" + "01"); // MemberState.UNREVOKED_PARTITIONS = 1
    expect(decodeCurrentAssignmentValue(bytes)).toEqual(current);
  });
});


const GROUP = "persisted-kip848";
const TOPIC = "persisted-orders";
let broker: BrokerProcess;
let connection: KafkaConnection;

async function connect(): Promise<KafkaConnection> {
  connection?.close();
  connection = await KafkaConnection.connect({ host: "127.0.0.1", port: broker.port, requestTimeoutMs: 20_000 });
  return connection;
}

async function describeGroup(groupId = GROUP): Promise<any> {
  return (await connection.request(ApiKey.ConsumerGroupDescribe, 0, { groupIds: [groupId], includeAuthorizedOperations: false })).groups[0];
}

/** Heartbeats every member in turn until the group is Stable with all of them at its epoch (bounded). */
async function reconcile(members: ConsumerProtocolMember[], groupId = GROUP): Promise<boolean> {
  return eventually(async () => {
    for (const member of members) {
      const response = await member.heartbeat(connection, groupId);
      if (response.errorCode !== ErrorCode.NONE) throw new Error(`heartbeat of ${member.memberId}: error ${response.errorCode} ${response.errorMessage}`);
    }
    const group = await describeGroup(groupId);
    return group.groupState === "Stable" && group.members.length === members.length && members.every((member) => member.epoch === group.groupEpoch);
  }, 30_000);
}

/** What describe shows, in a comparable form: epochs and each member's assignment and target. */
function snapshot(group: any) {
  const partitions = (assignment: any) => assignment.topicPartitions.flatMap((entry: any) => entry.partitions).sort((a: number, b: number) => a - b);
  return {
    groupState: group.groupState,
    groupEpoch: group.groupEpoch,
    assignmentEpoch: group.assignmentEpoch,
    members: group.members
      .map((member: any) => ({ memberId: member.memberId, instanceId: member.instanceId, memberEpoch: member.memberEpoch, subscribed: member.subscribedTopicNames, assigned: partitions(member.assignment), target: partitions(member.targetAssignment) }))
      .sort((a: any, b: any) => (a.memberId < b.memberId ? -1 : 1)),
  };
}

/** SIGKILL, start again on the same data dir and port, wait until the group's coordinator has loaded it. */
async function killAndRestart(): Promise<void> {
  await broker.kill();
  await broker.start();
  await connect();
  expect(await eventually(async () => (await describeGroup()).errorCode !== ErrorCode.COORDINATOR_LOAD_IN_PROGRESS, 30_000)).toBe(true);
}

beforeAll(async () => {
  broker = new BrokerProcess({ properties: { "group.consumer.heartbeat.interval.ms": "200", "group.consumer.session.timeout.ms": "30000", "offsets.topic.num.partitions": "4" } });
  await broker.start();
  await connect();
  const created = await connection.request(ApiKey.CreateTopics, 4, { topics: [{ name: TOPIC, numPartitions: 6, replicationFactor: 1 }], timeoutMs: 10_000 });
  expect(created.topics[0].errorCode).toBe(ErrorCode.NONE);
});

afterAll(async () => {
  connection?.close();
  await broker?.cleanup();
});

test("a KIP-848 group keeps its epochs and assignments across a broker SIGKILL; its members heartbeat on", async () => {
  const a = new ConsumerProtocolMember("member-a", TOPIC);
  const b = new ConsumerProtocolMember("member-b", TOPIC);
  const c = new ConsumerProtocolMember("member-c", TOPIC, "static-c");
  expect(await reconcile([a, b, c])).toBe(true);
  const before = snapshot(await describeGroup());
  expect(before.groupEpoch).toBe(3);
  expect(before.members.map((member: any) => member.assigned.length)).toEqual([2, 2, 2]);
  // A committed offset with the member's epoch (OffsetCommit v9) comes back too.
  const commit = await connection.request(ApiKey.OffsetCommit, 9, {
    groupId: GROUP,
    generationIdOrMemberEpoch: a.epoch,
    memberId: a.memberId,
    groupInstanceId: null,
    retentionTimeMs: -1,
    topics: [{ name: TOPIC, partitions: [{ partitionIndex: a.partitions()[0]!, committedOffset: 42, committedLeaderEpoch: -1, committedMetadata: null }] }],
  });
  expect(commit.topics[0].partitions[0].errorCode).toBe(ErrorCode.NONE);

  await killAndRestart();
  expect(snapshot(await describeGroup())).toEqual(before);
  // Each member heartbeats with the epoch and partitions it had: accepted, same epoch, nothing to change.
  for (const member of [a, b, c]) {
    const response = await member.heartbeat(connection, GROUP);
    expect(response.errorCode).toBe(ErrorCode.NONE);
    expect(response.memberEpoch).toBe(before.groupEpoch);
    expect(response.assignment).toBeNull();
  }
  const fetched = await connection.request(ApiKey.OffsetFetch, 9, { groups: [{ groupId: GROUP, memberId: a.memberId, memberEpoch: a.epoch, topics: [{ name: TOPIC, partitionIndexes: [a.partitions()[0]!] }] }], requireStable: false });
  expect(fetched.groups[0].topics[0].partitions[0].committedOffset).toBe(42);

  // A newcomer after the restart: the group rebalances from the restored epoch, each partition owned once.
  const d = new ConsumerProtocolMember("member-d", TOPIC);
  expect(await reconcile([a, b, c, d])).toBe(true);
  const grown = snapshot(await describeGroup());
  expect(grown.groupEpoch).toBe(before.groupEpoch + 1);
  const owned = [a, b, c, d].flatMap((member) => member.partitions()).sort((x, y) => x - y);
  expect(owned).toEqual([0, 1, 2, 3, 4, 5]);

  // b leaves (epoch -1) and the static member leaves temporarily (-2) just before the next kill.
  expect((await connection.request(ApiKey.ConsumerGroupHeartbeat, 1, { groupId: GROUP, memberId: b.memberId, memberEpoch: -1, instanceId: null, rackId: null, rebalanceTimeoutMs: -1, subscribedTopicNames: null, subscribedTopicRegex: null, serverAssignor: null, topicPartitions: null })).errorCode).toBe(ErrorCode.NONE);
  expect((await connection.request(ApiKey.ConsumerGroupHeartbeat, 1, { groupId: GROUP, memberId: c.memberId, memberEpoch: -2, instanceId: "static-c", rackId: null, rebalanceTimeoutMs: -1, subscribedTopicNames: null, subscribedTopicRegex: null, serverAssignor: null, topicPartitions: null })).errorCode).toBe(ErrorCode.NONE);
  const beforeSecondKill = snapshot(await describeGroup());
  await killAndRestart();
  const restored = snapshot(await describeGroup());
  expect(restored).toEqual(beforeSecondKill);
  expect(restored.members.map((member: any) => member.memberId)).toEqual(["member-a", "member-c", "member-d"]);
  expect(restored.members.find((member: any) => member.memberId === "member-c").memberEpoch).toBe(-2);

  // The static member restarts under a new member id: it takes its predecessor's place and partitions (and
  // what its target gained meanwhile: b's partitions are free).
  const c2 = new ConsumerProtocolMember("member-c2", TOPIC, "static-c");
  const rejoined = await c2.heartbeat(connection, GROUP);
  expect(rejoined.errorCode).toBe(ErrorCode.NONE);
  const keptByStatic = restored.members.find((member: any) => member.memberId === "member-c").assigned as number[];
  expect(keptByStatic.length).toBeGreaterThan(0);
  for (const partition of keptByStatic) expect(c2.partitions()).toContain(partition);
  expect(await reconcile([a, c2, d])).toBe(true);
  expect([a, c2, d].flatMap((member) => member.partitions()).sort((x, y) => x - y)).toEqual([0, 1, 2, 3, 4, 5]);
}, 150_000);

test("an unchanged subscription does not move the group epoch after a restart (topic names that prefix each other)", async () => {
  const groupId = "prefixed-topics";
  const created = await connection.request(ApiKey.CreateTopics, 4, { topics: [{ name: `${TOPIC}-eu`, numPartitions: 2, replicationFactor: 1 }], timeoutMs: 10_000 });
  expect(created.topics[0].errorCode).toBe(ErrorCode.NONE);
  const member = new ConsumerProtocolMember("prefix-member", TOPIC);
  // Joins subscribed to both topics ("persisted-orders" and "persisted-orders-eu").
  const joined = await connection.request(ApiKey.ConsumerGroupHeartbeat, 1, { groupId, memberId: member.memberId, memberEpoch: 0, instanceId: null, rackId: null, rebalanceTimeoutMs: 30_000, subscribedTopicNames: [TOPIC, `${TOPIC}-eu`], subscribedTopicRegex: null, serverAssignor: null, topicPartitions: [] });
  expect(joined.errorCode).toBe(ErrorCode.NONE);
  member.epoch = joined.memberEpoch;
  member.owned = copyOwned(joined.assignment.topicPartitions);
  expect(member.partitions().length).toBe(8);
  const before = await describeGroup(groupId);
  await killAndRestart();
  const response = await member.heartbeat(connection, groupId);
  expect(response.errorCode).toBe(ErrorCode.NONE);
  expect(response.memberEpoch).toBe(before.groupEpoch);
  expect((await describeGroup(groupId)).groupEpoch).toBe(before.groupEpoch);
}, 90_000);

test("a deleted consumer-protocol group does not come back after a SIGKILL", async () => {
  const groupId = "deleted-kip848";
  const member = new ConsumerProtocolMember("gone-member", TOPIC);
  expect(await reconcile([member], groupId)).toBe(true);
  const left = await connection.request(ApiKey.ConsumerGroupHeartbeat, 1, { groupId, memberId: member.memberId, memberEpoch: -1, instanceId: null, rackId: null, rebalanceTimeoutMs: -1, subscribedTopicNames: null, subscribedTopicRegex: null, serverAssignor: null, topicPartitions: null });
  expect(left.errorCode).toBe(ErrorCode.NONE);
  const deleted = await connection.request(ApiKey.DeleteGroups, 2, { groupsNames: [groupId] });
  expect(deleted.results[0].errorCode).toBe(ErrorCode.NONE);
  await killAndRestart();
  expect((await describeGroup(groupId)).errorCode).toBe(ErrorCode.GROUP_ID_NOT_FOUND);
}, 90_000);
