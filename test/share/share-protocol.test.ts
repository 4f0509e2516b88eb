// Share groups (KIP-932) over the wire, one behaviour at a time, against a broker process: membership and its
// views (ShareGroupDescribe, ListGroups, DescribeGroups, FindCoordinator share keys), group configs and their
// bounds, share.auto.offset.reset, acquisition locks that expire, a leaving member's records released at once,
// and the errors a client gets for acknowledging what it does not hold or using a session that does not exist.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { BrokerProcess } from "../helpers/broker-process.ts";
import { createTopic, produceRecords, uniqueNames } from "../../src/testing/helpers.ts";
import { KafkaConnection } from "../../src/client/kafka-connection.ts";
import { AcknowledgeType, ShareConsumer, type ShareRecord } from "../../src/client/share-consumer.ts";
import { Apis } from "../../src/protocol/generated/index.ts";
import { ErrorCode } from "../../src/protocol/errors.ts";

const names = uniqueNames("share-protocol");
const POLL_DEADLINE_MS = 20_000;

describe("share groups over the wire", () => {
  let broker: BrokerProcess;
  let admin: KafkaConnection;

  const alterGroup = async (groupId: string, configs: Record<string, string>) => {
    const response = await admin.request(Apis.IncrementalAlterConfigs.apiKey, 1, {
      resources: [{ resourceType: 32, resourceName: groupId, configs: Object.entries(configs).map(([name, value]) => ({ name, configOperation: 0, value })) }],
      validateOnly: false,
    });
    return response.responses[0] as { errorCode: number; errorMessage: string | null };
  };
  const consumer = (groupId: string, topic: string, clientId = "c") => ShareConsumer.connect({ host: "127.0.0.1", port: broker.port, groupId, topics: [topic], maxWaitMs: 200, clientId });
  /** Polls until `count` records arrived (bounded by POLL_DEADLINE_MS). */
  const pollUntil = async (share: ShareConsumer, count: number): Promise<ShareRecord[]> => {
    const got: ShareRecord[] = [];
    const deadline = performance.now() + POLL_DEADLINE_MS;
    while (got.length < count && performance.now() < deadline) got.push(...(await share.poll()));
    return got;
  };

  beforeAll(async () => {
    broker = new BrokerProcess({ properties: { "share.coordinator.state.topic.num.partitions": "3", "offsets.topic.num.partitions": "3", "group.share.heartbeat.interval.ms": "200", "group.share.max.groups": "4" } });
    await broker.start();
    admin = await KafkaConnection.connect({ host: "127.0.0.1", port: broker.port });
  }, 60_000);

  afterAll(async () => {
    admin?.close();
    await broker?.cleanup();
  });

  test("members, assignments and the group as ShareGroupDescribe, ListGroups, DescribeGroups and FindCoordinator show them", async () => {
    const topic = names.topic("t1");
    const groupId = names.group("g2");
    await createTopic(broker.bootstrap, topic, { partitions: 3 });
    const a = await consumer(groupId, topic, "client-a");
    const b = await consumer(groupId, topic, "client-b");
    try {
      // SimpleAssignor: every member gets every partition.
      expect(a.assignedPartitions).toBe(3);
      expect(b.assignedPartitions).toBe(3);
      const described = await admin.request(Apis.ShareGroupDescribe.apiKey, 0, { groupIds: [groupId, "no-such-share-group"], includeAuthorizedOperations: false });
      const group = described.groups[0];
      expect(group.errorCode).toBe(ErrorCode.NONE);
      expect(group.groupState).toBe("Stable");
      expect(group.assignorName).toBe("simple");
      expect(group.members.map((member: { clientId: string }) => member.clientId).sort()).toEqual(["client-a", "client-b"]);
      for (const member of group.members) {
        expect(member.subscribedTopicNames).toEqual([topic]);
        expect(member.assignment.topicPartitions[0].topicName).toBe(topic);
        expect([...member.assignment.topicPartitions[0].partitions].sort()).toEqual([0, 1, 2]);
      }
      expect(described.groups[1].errorCode).toBe(ErrorCode.GROUP_ID_NOT_FOUND);

      const listed = await admin.request(Apis.ListGroups.apiKey, 5, { statesFilter: [], typesFilter: ["share"] });
      expect(listed.groups.find((entry: { groupId: string }) => entry.groupId === groupId)).toMatchObject({ groupType: "share", groupState: "Stable" });
      const classicOnly = await admin.request(Apis.ListGroups.apiKey, 5, { statesFilter: [], typesFilter: ["classic"] });
      expect(classicOnly.groups.some((entry: { groupId: string }) => entry.groupId === groupId)).toBe(false);
      const describedClassic = await admin.request(Apis.DescribeGroups.apiKey, 5, { groups: [groupId], includeAuthorizedOperations: false });
      expect(describedClassic.groups[0]).toMatchObject({ errorCode: ErrorCode.NONE, protocolType: "share", groupState: "Stable" });
      expect(describedClassic.groups[0].members).toHaveLength(2);

      const coordinator = await admin.request(Apis.FindCoordinator.apiKey, 6, { keyType: 2, coordinatorKeys: [`${groupId}:AAAAAAAAAAAAAAAAAAAAAA:0`, "not-a-share-key"] });
      expect(coordinator.coordinators[0]).toMatchObject({ errorCode: ErrorCode.NONE, port: broker.port });
      expect(coordinator.coordinators[1].errorCode).toBe(ErrorCode.INVALID_REQUEST);

      // The id is the share group's: a classic join or a consumer-protocol heartbeat is refused.
      const join = await admin.request(Apis.JoinGroup.apiKey, 5, { groupId, sessionTimeoutMs: 10_000, rebalanceTimeoutMs: 10_000, memberId: "", groupInstanceId: null, protocolType: "consumer", protocols: [{ name: "range", metadata: new Uint8Array(0) }] });
      expect(join.errorCode).toBe(ErrorCode.INCONSISTENT_GROUP_PROTOCOL);
      const consumerHeartbeat = await admin.request(Apis.ConsumerGroupHeartbeat.apiKey, 0, { groupId, memberId: "", memberEpoch: 0, instanceId: null, rackId: null, rebalanceTimeoutMs: 10_000, subscribedTopicNames: [topic], serverAssignor: null, topicPartitions: [] });
      expect(consumerHeartbeat.errorCode).toBe(ErrorCode.GROUP_ID_NOT_FOUND);
    } finally {
      await a.close();
      await b.close();
    }
    // Both left: the group is empty.
    const after = await admin.request(Apis.ShareGroupDescribe.apiKey, 0, { groupIds: [groupId], includeAuthorizedOperations: false });
    expect(after.groups[0].groupState).toBe("Empty");
  }, 60_000);

  test("group configs: described with their defaults, bounded, and a classic group's id is not a share group", async () => {
    const groupId = names.group("g3");
    const described = await admin.request(Apis.DescribeConfigs.apiKey, 4, { resources: [{ resourceType: 32, resourceName: groupId, configurationKeys: null }], includeSynonyms: false, includeDocumentation: false });
    expect(Object.fromEntries(described.results[0].configs.map((config: { name: string; value: string }) => [config.name, config.value]))).toEqual({
      "share.auto.offset.reset": "latest",
      "share.record.lock.duration.ms": "30000",
      "share.delivery.count.limit": "5",
      "errors.deadletterqueue.topic.name": null,
    });
    expect((await alterGroup(groupId, { "errors.deadletterqueue.topic.name": "not-prefixed" })).errorCode).toBe(ErrorCode.INVALID_CONFIG);
    expect((await alterGroup(groupId, { "share.delivery.count.limit": "11" })).errorCode).toBe(ErrorCode.INVALID_CONFIG);
    expect((await alterGroup(groupId, { "share.record.lock.duration.ms": "999999999" })).errorCode).toBe(ErrorCode.INVALID_CONFIG);
    expect((await alterGroup(groupId, { "no.such.config": "1" })).errorCode).toBe(ErrorCode.INVALID_CONFIG);
    expect((await alterGroup(groupId, { "share.auto.offset.reset": "earliest" })).errorCode).toBe(ErrorCode.NONE);

    // A group id with committed offsets (a classic group) cannot be joined as a share group.
    const classic = names.group("classic");
    const topic = names.topic("t4");
    await createTopic(broker.bootstrap, topic);
    const commit = await admin.request(Apis.OffsetCommit.apiKey, 2, { groupId: classic, generationIdOrMemberEpoch: -1, memberId: "", retentionTimeMs: -1, topics: [{ name: topic, partitions: [{ partitionIndex: 0, committedOffset: 0, committedMetadata: null }] }] });
    expect(commit.topics[0].partitions[0].errorCode).toBe(ErrorCode.NONE);
    const heartbeat = await admin.request(Apis.ShareGroupHeartbeat.apiKey, 0, { groupId: classic, memberId: "", memberEpoch: 0, rackId: null, subscribedTopicNames: [topic] });
    expect(heartbeat.errorCode).toBe(ErrorCode.GROUP_ID_NOT_FOUND);
  }, 60_000);

  test("share.auto.offset.reset latest (the default) starts at the end; records produced later are delivered", async () => {
    const topic = names.topic("t5");
    const groupId = names.group("g6");
    await createTopic(broker.bootstrap, topic);
    await produceRecords(broker.bootstrap, topic, 5);
    const share = await consumer(groupId, topic);
    try {
      expect(await share.poll()).toEqual([]);
      await produceRecords(broker.bootstrap, topic, [{ value: "late-0" }, { value: "late-1" }]);
      const got = await pollUntil(share, 2);
      expect(got.map((record) => Number(record.offset))).toEqual([5, 6]);
    } finally {
      await share.close();
    }
  }, 60_000);

  test("an expired acquisition lock redelivers the record; a leaving member's records are released at once", async () => {
    const topic = names.topic("t7");
    const groupId = names.group("g8");
    await createTopic(broker.bootstrap, topic);
    await produceRecords(broker.bootstrap, topic, 4);
    expect((await alterGroup(groupId, { "share.auto.offset.reset": "earliest", "share.record.lock.duration.ms": "1000" })).errorCode).toBe(ErrorCode.NONE);

    // A consumer that takes the records and vanishes without a word: the lock runs out, another gets them.
    const crashed = await consumer(groupId, topic, "crashed");
    expect((await pollUntil(crashed, 4)).map((record) => record.deliveryCount)).toEqual([1, 1, 1, 1]);
    crashed.closeConnections();
    // Locks taken from now on outlive the test's poll deadline: only a release can hand them on in time.
    expect((await alterGroup(groupId, { "share.record.lock.duration.ms": "60000" })).errorCode).toBe(ErrorCode.NONE);
    const next = await consumer(groupId, topic, "next");
    const redelivered = await pollUntil(next, 4);
    expect(redelivered.map((record) => [Number(record.offset), record.deliveryCount])).toEqual([[0, 2], [1, 2], [2, 2], [3, 2]]);

    // Acknowledging an offset this member does not hold: INVALID_RECORD_STATE, and nothing else changes.
    next.ack({ topicId: redelivered[0]!.topicId, partition: 0, offset: 99 });
    const refused = await next.acknowledge();
    expect(refused.refused.map((entry) => entry.errorCode)).toEqual([ErrorCode.INVALID_RECORD_STATE]);

    // Leaving (session closed, heartbeat -1) releases what it held before any lock expiry.
    next.ack(redelivered[0]!, AcknowledgeType.ACCEPT);
    expect((await next.acknowledge()).taken).toHaveLength(1);
    await next.close();
    const last = await consumer(groupId, topic, "last");
    try {
      // Released by the leave: the 60 s locks would not have run out within pollUntil's deadline.
      const again = await pollUntil(last, 3);
      expect(again.map((record) => [Number(record.offset), record.deliveryCount])).toEqual([[1, 3], [2, 3], [3, 3]]);
    } finally {
      await last.close();
    }
  }, 60_000);

  test("share partitions are kept for at most group.share.max.groups groups; groups without a session make room", async () => {
    const topic = names.topic("bounded");
    await createTopic(broker.bootstrap, topic);
    const metadata = await admin.request(Apis.Metadata.apiKey, 12, { topics: [{ name: topic, topicId: new Uint8Array(16) }], allowAutoTopicCreation: false, includeTopicAuthorizedOperations: false });
    const topicId = metadata.topics[0].topicId;
    const open = (groupId: string, epoch = 0) =>
      admin.request(Apis.ShareFetch.apiKey, 0, { groupId, memberId: "m", shareSessionEpoch: epoch, maxWaitMs: 0, minBytes: 1, maxBytes: 1024, topics: epoch === 0 ? [{ topicId, partitions: [{ partitionIndex: 0, partitionMaxBytes: 1024, acknowledgementBatches: [] }] }] : [], forgottenTopicsData: [] });
    // group.share.max.groups is 4 on this broker. Groups of the earlier tests without a session left make room;
    // one whose member vanished still has its session (until the member expires) and keeps its place.
    const opened: string[] = [];
    let refused: string | null = null;
    for (let i = 0; i < 5 && refused === null; i++) {
      const groupId = names.group(`bounded-${i}`);
      const partition = (await open(groupId)).responses[0].partitions[0];
      if (partition.errorCode === ErrorCode.NONE) opened.push(groupId);
      else {
        expect(partition.errorCode).toBe(ErrorCode.GROUP_MAX_SIZE_REACHED);
        refused = groupId;
      }
    }
    expect(opened.length).toBeGreaterThan(0);
    expect(refused).not.toBeNull();
    // One closes its session: its share partitions can go, and the refused group gets in.
    expect((await open(opened[0]!, -1)).errorCode).toBe(ErrorCode.NONE);
    expect((await open(refused!)).responses[0].partitions[0].errorCode).toBe(ErrorCode.NONE);
  }, 30_000);

  test("at most group.share.max.groups share groups: empty ones make room for a new one", async () => {
    const topic = names.topic("members");
    await createTopic(broker.bootstrap, topic);
    const join = (groupId: string) => admin.request(Apis.ShareGroupHeartbeat.apiKey, 0, { groupId, memberId: "", memberEpoch: 0, rackId: null, subscribedTopicNames: [topic] });
    const joined: { groupId: string; memberId: string; memberEpoch: number }[] = [];
    let refused: string | null = null;
    for (let i = 0; i < 5 && refused === null; i++) {
      const groupId = names.group(`members-${i}`);
      const answer = await join(groupId);
      if (answer.errorCode === ErrorCode.NONE) joined.push({ groupId, memberId: answer.memberId, memberEpoch: answer.memberEpoch });
      else {
        expect(answer.errorCode).toBe(ErrorCode.GROUP_MAX_SIZE_REACHED);
        refused = groupId;
      }
    }
    expect(refused).not.toBeNull();
    // The first one's only member leaves: the group is empty and gives its place up.
    const first = joined[0]!;
    expect((await admin.request(Apis.ShareGroupHeartbeat.apiKey, 0, { groupId: first.groupId, memberId: first.memberId, memberEpoch: -1, rackId: null, subscribedTopicNames: null })).errorCode).toBe(ErrorCode.NONE);
    expect((await join(refused!)).errorCode).toBe(ErrorCode.NONE);
  }, 30_000);

  test("the share coordinator's RPCs: WriteShareGroupState then ReadShareGroupState, an older leader epoch fenced", async () => {
    const groupId = names.group("coordinator");
    const topicId = new Uint8Array(16).fill(7);
    const read = async () => (await admin.request(Apis.ReadShareGroupState.apiKey, 0, { groupId, topics: [{ topicId, partitions: [{ partition: 3, leaderEpoch: -1 }] }] })).results[0].partitions[0];
    const write = async (leaderEpoch: number, startOffset: number) =>
      (await admin.request(Apis.WriteShareGroupState.apiKey, 0, {
        groupId,
        topics: [{ topicId, partitions: [{ partition: 3, stateEpoch: 0, leaderEpoch, startOffset, stateBatches: [{ firstOffset: startOffset, lastOffset: startOffset + 1, deliveryState: 0, deliveryCount: 2 }] }] }],
      })).results[0].partitions[0].errorCode;
    expect(await read()).toMatchObject({ errorCode: ErrorCode.NONE, stateEpoch: -1 });
    expect(await write(5, 10)).toBe(ErrorCode.NONE);
    expect(await read()).toMatchObject({ errorCode: ErrorCode.NONE, stateEpoch: 0, startOffset: 10, stateBatches: [{ firstOffset: 10, lastOffset: 11, deliveryState: 0, deliveryCount: 2 }] });
    expect(await write(4, 20)).toBe(ErrorCode.FENCED_LEADER_EPOCH);
    expect(await write(6, 30)).toBe(ErrorCode.NONE);
    expect((await read()).startOffset).toBe(30);
  }, 30_000);

  test("share sessions: an unknown session and a wrong epoch are refused", async () => {
    const fetch = (epoch: number, memberId = "nobody") =>
      admin.request(Apis.ShareFetch.apiKey, 0, { groupId: names.group("g9"), memberId, shareSessionEpoch: epoch, maxWaitMs: 0, minBytes: 1, maxBytes: 1024, topics: [], forgottenTopicsData: [] });
    expect((await fetch(3)).errorCode).toBe(ErrorCode.SHARE_SESSION_NOT_FOUND);
    const acknowledge = await admin.request(Apis.ShareAcknowledge.apiKey, 0, { groupId: names.group("g10"), memberId: "nobody", shareSessionEpoch: 0, topics: [] });
    expect(acknowledge.errorCode).toBe(ErrorCode.INVALID_SHARE_SESSION_EPOCH);
    const noMember = await admin.request(Apis.ShareFetch.apiKey, 0, { groupId: "g", memberId: "", shareSessionEpoch: 0, maxWaitMs: 0, minBytes: 1, maxBytes: 1024, topics: [], forgottenTopicsData: [] });
    expect(noMember.errorCode).toBe(ErrorCode.UNKNOWN_MEMBER_ID);
  }, 30_000);
});
