// A classic static member (JoinGroup with the group.instance.id of a KIP-848 static member) takes that
// member's place, as Kafka does: under a new member id, with its partitions. When it replaced the group's last
// consumer-protocol member, the group is classic again at once (Kafka's validateOnlineDowngradeWithReplacedMember
// and convertToClassicGroup): Stable at generation = the group epoch, no rebalance, and the joiner's SyncGroup
// hands it the partitions the replaced member had.
import { afterAll, beforeAll, expect, test } from "bun:test";
import type { KafkaConnection } from "../../src/client/kafka-connection.ts";
import { ErrorCode } from "../../src/protocol/errors.ts";
import { ApiKey } from "../../src/protocol/generated/index.ts";
import { decodeAssignment } from "../../src/group/consumer-protocol.ts";
import { createTopic, describeGroup, RawMember, startTestBroker, subscription, type TestBroker } from "./helpers.ts";

const TOPIC = "replaced";

let broker: TestBroker;
let connection: KafkaConnection;

beforeAll(async () => {
  broker = await startTestBroker({ "group.consumer.heartbeat.interval.ms": "200", "group.consumer.session.timeout.ms": "30000" });
  connection = await broker.connect();
  await createTopic(connection, TOPIC, 4);
});

afterAll(async () => {
  await broker?.stop();
});

function kip848Join(groupId: string, memberId: string, instanceId: string) {
  return connection.request(ApiKey.ConsumerGroupHeartbeat, 1, { groupId, memberId, memberEpoch: 0, instanceId, rackId: null, rebalanceTimeoutMs: 30_000, subscribedTopicNames: [TOPIC], subscribedTopicRegex: null, serverAssignor: null, topicPartitions: [] });
}

async function consumerGroupDescribe(groupId: string) {
  const described = await connection.request(ApiKey.ConsumerGroupDescribe, 0, { groupIds: [groupId], includeAuthorizedOperations: false });
  return described.groups[0];
}

const classicStatic = (groupId: string, instanceId: string) => RawMember.create(broker, groupId, { groupInstanceId: instanceId, protocols: [{ name: "range", metadata: subscription([TOPIC]) }] });
const syncedPartitions = (response: any): number[] => (decodeAssignment(response.assignment)?.assignedPartitions ?? []).flatMap((entry) => entry.partitions).sort((a, b) => a - b);

test("a classic static member replacing the last KIP-848 member turns the group classic, Stable, with that member's partitions", async () => {
  const groupId = "static-downgrade";
  const joined = await kip848Join(groupId, "kip848-static", "instance-1");
  expect(joined.errorCode).toBe(ErrorCode.NONE);
  expect(joined.memberEpoch).toBe(1);

  const classic = await classicStatic(groupId, "instance-1");
  try {
    const join = await classic.join();
    expect(join.errorCode).toBe(ErrorCode.NONE);
    expect(join.memberId).not.toBe("kip848-static");
    expect(join.memberId).not.toBe("");
    expect(join.generationId).toBe(1); // the group epoch: nothing was rebalanced
    expect(join.leader).toBe(""); // no client-side assignment: the group keeps the one it had

    const described = await describeGroup(connection, groupId);
    expect(described.protocolType).toBe("consumer");
    expect(described.groupState).toBe("Stable");
    expect(described.members.map((member: any) => member.memberId)).toEqual([join.memberId]);
    expect(described.members[0].groupInstanceId).toBe("instance-1");
    expect((await consumerGroupDescribe(groupId)).errorCode).toBe(ErrorCode.GROUP_ID_NOT_FOUND);

    const sync = await classic.sync();
    expect(sync.errorCode).toBe(ErrorCode.NONE);
    expect(syncedPartitions(sync)).toEqual([0, 1, 2, 3]);
    expect(await classic.heartbeat()).toBe(ErrorCode.NONE);

    // The replaced member is gone: its heartbeat is refused, and rejoining it would go through the online upgrade.
    const stale = await connection.request(ApiKey.ConsumerGroupHeartbeat, 1, { groupId, memberId: "kip848-static", memberEpoch: 1, instanceId: null, rackId: null, rebalanceTimeoutMs: -1, subscribedTopicNames: null, subscribedTopicRegex: null, serverAssignor: null, topicPartitions: null });
    expect(stale.errorCode).not.toBe(ErrorCode.NONE);
  } finally {
    classic.connection.close();
  }
}, 60_000);

test("replacing a KIP-848 static member while another one stays keeps the consumer group; the classic member takes its place", async () => {
  const groupId = "static-replace-stays";
  expect((await kip848Join(groupId, "kip848-a", "instance-a")).errorCode).toBe(ErrorCode.NONE);
  expect((await kip848Join(groupId, "kip848-b", "instance-b")).errorCode).toBe(ErrorCode.NONE);
  const before = await consumerGroupDescribe(groupId);
  const targetOfA = before.members.find((member: any) => member.memberId === "kip848-a").targetAssignment.topicPartitions.flatMap((entry: any) => entry.partitions).sort();

  const classic = await classicStatic(groupId, "instance-a");
  try {
    const join = await classic.join();
    expect(join.errorCode).toBe(ErrorCode.NONE);
    const after = await consumerGroupDescribe(groupId);
    expect(after.errorCode).toBe(ErrorCode.NONE);
    expect(after.groupEpoch).toBe(before.groupEpoch); // a replacement, not a new member
    expect(after.members.map((member: any) => member.memberId).sort()).toEqual([join.memberId, "kip848-b"].sort());
    const replacement = after.members.find((member: any) => member.memberId === join.memberId);
    expect(replacement.instanceId).toBe("instance-a");
    expect(replacement.targetAssignment.topicPartitions.flatMap((entry: any) => entry.partitions).sort()).toEqual(targetOfA);
  } finally {
    classic.connection.close();
  }
}, 60_000);
