// A classic cooperative member (cooperative-sticky: its rejoins list its owned partitions) in a consumer-protocol
// group is reconciled as Kafka does (classicGroupJoinToConsumerGroup / classicGroupHeartbeatToConsumerGroup):
// told to rejoin, it reports what it owns and gets the reduced assignment at its old generation; only at the
// rejoin after that does it move to the new generation. While the partitions of its target are still held by
// another member it heartbeats on without being told to rejoin, and is told once they are free.
// The KIP-848 members ask for the range assignor, so that who gives up what is known: members sorted by id.
import { afterAll, beforeAll, expect, test } from "bun:test";
import type { KafkaConnection } from "../../src/client/kafka-connection.ts";
import { ErrorCode } from "../../src/protocol/errors.ts";
import { ApiKey } from "../../src/protocol/generated/index.ts";
import { decodeAssignment, encodeSubscription } from "../../src/group/consumer-protocol.ts";
import { createTopic, RawMember, startTestBroker, type TestBroker } from "./helpers.ts";

const TOPIC = "cooperative";
const GROUP = "cooperative-group";

let broker: TestBroker;
let connection: KafkaConnection;
let topicId: Uint8Array;

beforeAll(async () => {
  broker = await startTestBroker({ "group.consumer.heartbeat.interval.ms": "200", "group.consumer.session.timeout.ms": "30000" });
  connection = await broker.connect();
  await createTopic(connection, TOPIC, 4);
  topicId = Uint8Array.from(Buffer.from(broker.broker.topics.get(TOPIC)!.topicId, "hex"));
});

afterAll(async () => {
  await broker?.stop();
});

/** A KIP-848 member that acknowledges what it is given at once. */
async function kip848(memberId: string, epoch: number, owned: number[] | null) {
  const joining = epoch === 0;
  return connection.request(ApiKey.ConsumerGroupHeartbeat, 1, {
    groupId: GROUP,
    memberId,
    memberEpoch: epoch,
    instanceId: null,
    rackId: null,
    rebalanceTimeoutMs: joining ? 30_000 : -1,
    subscribedTopicNames: joining ? [TOPIC] : null,
    subscribedTopicRegex: null,
    serverAssignor: joining ? "range" : null,
    topicPartitions: joining ? [] : owned === null ? null : [{ topicId, partitions: owned }],
  });
}

const partitionsOf = (response: any): number[] => (response.assignment?.topicPartitions ?? []).flatMap((entry: { partitions: number[] }) => entry.partitions).sort((a: number, b: number) => a - b);
const synced = (response: any): number[] => (decodeAssignment(response.assignment)?.assignedPartitions ?? []).flatMap((entry) => entry.partitions).sort((a, b) => a - b);
/** cooperative-sticky's subscription (version 1 carries the owned partitions). */
const cooperative = (owned: number[]) => [{ name: "cooperative-sticky", metadata: encodeSubscription({ topics: [TOPIC], userData: null, ownedPartitions: owned.length > 0 ? [{ topic: TOPIC, partitions: owned }] : [] }, 1) }];

test("a cooperative classic member waits for unreleased partitions without rejoining, then gives up only what it must, one generation at a time", async () => {
  const k1 = await kip848("k1", 0, null);
  expect(k1.memberEpoch).toBe(1);
  expect(partitionsOf(k1)).toEqual([0, 1, 2, 3]);

  // "zz-classic..." sorts after the KIP-848 members: range gives it the last partitions.
  const classic = await RawMember.create(broker, GROUP, { groupInstanceId: "zz-classic", protocols: cooperative([]) });
  try {
    const join = await classic.join();
    expect(join.errorCode).toBe(ErrorCode.NONE);
    expect(join.generationId).toBe(2);
    expect(synced(await classic.sync())).toEqual([]); // 2 and 3 are still k1's
    // Waiting for k1 to release them is no reason to rejoin (Kafka's waitingOnUnreleasedPartition).
    expect(await classic.heartbeat()).toBe(ErrorCode.NONE);

    const revoking = await kip848("k1", 1, [0, 1, 2, 3]);
    expect(partitionsOf(revoking)).toEqual([0, 1]);
    expect((await kip848("k1", 1, [0, 1])).memberEpoch).toBe(2);
    // Released: now it is told to rejoin, and gets them.
    expect(await classic.heartbeat()).toBe(ErrorCode.REBALANCE_IN_PROGRESS);
    expect((await classic.join({ protocols: cooperative([]) })).generationId).toBe(2);
    expect(synced(await classic.sync())).toEqual([2, 3]);
    expect(await classic.heartbeat()).toBe(ErrorCode.NONE);

    // k2 joins: range over [k1, k2, zz-classic...] gives k1 0-1, k2 2, the classic member 3.
    const k2 = await kip848("k2", 0, null);
    expect(k2.memberEpoch).toBe(3);
    expect(partitionsOf(k2)).toEqual([]);
    expect(await classic.heartbeat()).toBe(ErrorCode.REBALANCE_IN_PROGRESS);
    // It rejoins owning 2 and 3: it keeps 3 and must give up 2, still at generation 2.
    const revokeJoin = await classic.join({ protocols: cooperative([2, 3]) });
    expect(revokeJoin.generationId).toBe(2);
    expect(synced(await classic.sync())).toEqual([3]);
    // k2 cannot have partition 2 while the classic member has not confirmed it gave it up.
    expect(partitionsOf(await kip848("k2", 3, []))).toEqual([]);
    expect(await classic.heartbeat()).toBe(ErrorCode.REBALANCE_IN_PROGRESS);
    // The rejoin after the revocation (owning only 3) moves it to generation 3.
    const settledJoin = await classic.join({ protocols: cooperative([3]) });
    expect(settledJoin.generationId).toBe(3);
    expect(synced(await classic.sync())).toEqual([3]);
    expect(await classic.heartbeat()).toBe(ErrorCode.NONE);
    expect(partitionsOf(await kip848("k2", 3, []))).toEqual([2]);
    expect((await kip848("k1", 2, [0, 1])).memberEpoch).toBe(3); // its partitions unchanged, its epoch catches up

    const described = await connection.request(ApiKey.ConsumerGroupDescribe, 0, { groupIds: [GROUP], includeAuthorizedOperations: false });
    expect(described.groups[0].groupState).toBe("Stable");
  } finally {
    classic.connection.close();
  }
}, 60_000);
