// A KIP-848 consumer group across a coordinator failover: its records are in __consumer_offsets, replicated
// like any partition, so when the coordinator's broker is SIGKILLed the new leader of the group's offsets
// partition loads the group, and its members heartbeat on there with the epochs and assignments they had.
import { afterAll, beforeAll, expect, test } from "bun:test";
import { KafkaConnection } from "../../src/client/kafka-connection.ts";
import { ErrorCode } from "../../src/protocol/errors.ts";
import { ApiKey } from "../../src/protocol/generated/index.ts";
import { TestCluster } from "../helpers/cluster.ts";
import { kafkaClient } from "../helpers/kafkajs.ts";
import { ConsumerProtocolMember } from "../group/helpers.ts";

const TOPIC = "kip848-replicated";
const GROUP = "kip848-failover";
let cluster: TestCluster;

beforeAll(async () => {
  cluster = new TestCluster(3, { "group.consumer.heartbeat.interval.ms": "300", "group.consumer.session.timeout.ms": "30000" });
  await cluster.start();
  const admin = kafkaClient(cluster.bootstrap.join(","), "kip848-failover").admin();
  await admin.connect();
  await admin.createTopics({ topics: [{ topic: TOPIC, numPartitions: 6, replicationFactor: 3 }], waitForLeaders: true });
  await admin.disconnect();
}, 60_000);

afterAll(async () => {
  await cluster.cleanup();
});

async function coordinatorOf(excluding: number[] = []): Promise<number> {
  return cluster.waitFor(`a coordinator for ${GROUP}`, async () => {
    for (const [nodeId, broker] of cluster.brokers) {
      if (excluding.includes(nodeId) || !broker.pid) continue;
      const connection = await KafkaConnection.connect({ host: "127.0.0.1", port: broker.port, requestTimeoutMs: 5000 });
      try {
        const response = await connection.request(ApiKey.FindCoordinator, 2, { key: GROUP, keyType: 0 });
        if (response.errorCode === 0 && !excluding.includes(response.nodeId)) return response.nodeId as number;
      } finally {
        connection.close();
      }
    }
    return null;
  });
}


const describe = async (connection: KafkaConnection) => (await connection.request(ApiKey.ConsumerGroupDescribe, 0, { groupIds: [GROUP], includeAuthorizedOperations: false })).groups[0];

function snapshot(group: any) {
  const partitions = (assignment: any) => assignment.topicPartitions.flatMap((entry: any) => entry.partitions).sort((a: number, b: number) => a - b);
  return {
    groupEpoch: group.groupEpoch,
    assignmentEpoch: group.assignmentEpoch,
    members: group.members.map((member: any) => ({ memberId: member.memberId, memberEpoch: member.memberEpoch, assigned: partitions(member.assignment) })).sort((a: any, b: any) => (a.memberId < b.memberId ? -1 : 1)),
  };
}

test("a KIP-848 group moves with its __consumer_offsets partition: members heartbeat on at the new coordinator with their epochs", async () => {
  const coordinator = await coordinatorOf();
  let connection = await KafkaConnection.connect({ host: "127.0.0.1", port: cluster.broker(coordinator).port, requestTimeoutMs: 20_000 });
  const members = [new ConsumerProtocolMember("m1", TOPIC), new ConsumerProtocolMember("m2", TOPIC), new ConsumerProtocolMember("m3", TOPIC)];
  const stable = await cluster.waitFor("a Stable group of three", async () => {
    for (const member of members) {
      const response = await member.heartbeat(connection, GROUP);
      if (response.errorCode !== ErrorCode.NONE) throw new Error(`heartbeat: error ${response.errorCode}`);
    }
    const group = await describe(connection);
    return group.groupState === "Stable" && members.every((member) => member.epoch === group.groupEpoch) ? group : null;
  }, 60_000);
  const before = snapshot(stable);
  expect(before.members.map((member: { assigned: number[] }) => member.assigned.length)).toEqual([2, 2, 2]);
  connection.close();

  await cluster.broker(coordinator).kill();
  const next = await coordinatorOf([coordinator]);
  connection = await KafkaConnection.connect({ host: "127.0.0.1", port: cluster.broker(next).port, requestTimeoutMs: 20_000 });
  try {
    const loaded = await cluster.waitFor("the group loaded at the new coordinator", async () => {
      const group = await describe(connection);
      return group.errorCode === ErrorCode.NONE ? group : null;
    }, 60_000);
    expect(snapshot(loaded)).toEqual(before);
    for (const member of members) {
      const response = await member.heartbeat(connection, GROUP);
      expect(response.errorCode).toBe(ErrorCode.NONE);
      expect(response.memberEpoch).toBe(before.groupEpoch);
      expect(response.assignment).toBeNull();
    }
  } finally {
    connection.close();
  }
}, 150_000);
