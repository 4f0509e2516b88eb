// Fetch on a 2-broker cluster (real etcd and broker processes): a consumer that fetches from the follower gets
// NOT_LEADER_OR_FOLLOWER with the partition's current leader and that leader's endpoint (KIP-951, Fetch v16+), and
// none of it before v16; the followers themselves replicate with Fetch v17 by topic id in fetch sessions
// (cluster/replica-fetcher.ts), so records produced with acks=all are committed and read back by id.
import { afterAll, beforeAll, expect, test } from "bun:test";
import { KafkaConnection } from "../../src/client/kafka-connection.ts";
import { ErrorCode } from "../../src/protocol/errors.ts";
import { ApiKey } from "../../src/protocol/generated/index.ts";
import { buildBatch } from "../../src/records/compression.ts";
import { TestCluster } from "../helpers/cluster.ts";
import { withConnection } from "../helpers/connection.ts";

const TOPIC = "discover";
let cluster: TestCluster;

beforeAll(async () => {
  cluster = new TestCluster(2);
  await cluster.start();
}, 60_000);

afterAll(async () => {
  await cluster.cleanup();
});

/** A connection to broker `nodeId` of the test cluster. */
function withBroker<T>(nodeId: number, use: (connection: KafkaConnection) => Promise<T>): Promise<T> {
  return withConnection(cluster.broker(nodeId).port, use);
}

test("a fetch from the follower names the leader (v16+), and followers replicate by topic id in sessions", async () => {
  await withBroker(1, async (connection) => {
    const created = await connection.request(ApiKey.CreateTopics, 7, { topics: [{ name: TOPIC, numPartitions: 1, replicationFactor: 2, configs: [] }], timeoutMs: 10_000 });
    expect(created.topics[0].errorCode).toBe(ErrorCode.NONE);
  });
  await cluster.leadersReady(TOPIC);
  const [partition] = await cluster.partitions(TOPIC);
  const leader = partition!.leader;
  const follower = leader === 1 ? 2 : 1;

  // acks=all: committed only once the follower's session fetch has copied the records.
  const produced = await withBroker(leader, (connection) =>
    connection.request(ApiKey.Produce, 7, { acks: -1, timeoutMs: 10_000, topicData: [{ name: TOPIC, partitionData: [{ index: 0, records: buildBatch({ records: [{ value: "a" }, { value: "b" }, { value: "c" }] }) }] }] }),
  );
  expect(produced.responses[0].partitionResponses[0].errorCode).toBe(ErrorCode.NONE);

  const topicId = await withBroker(leader, async (connection) => {
    const metadata = await connection.request(ApiKey.Metadata, 12, { topics: [{ name: TOPIC, topicId: new Uint8Array(16) }], allowAutoTopicCreation: false });
    return metadata.topics[0].topicId as Uint8Array;
  });
  const fetchBody = { replicaId: -1, maxWaitMs: 0, minBytes: 1, maxBytes: 1 << 20, sessionId: 0, sessionEpoch: -1, forgottenTopicsData: [], topics: [{ topic: TOPIC, topicId, partitions: [{ partition: 0, fetchOffset: 0, currentLeaderEpoch: -1, logStartOffset: -1, partitionMaxBytes: 1 << 20 }] }] };

  const fromLeader = await withBroker(leader, (connection) => connection.request(ApiKey.Fetch, 17, fetchBody));
  expect(fromLeader.responses[0].partitions[0].errorCode).toBe(ErrorCode.NONE);
  expect(fromLeader.responses[0].partitions[0].highWatermark).toBe(3);

  const fromFollower = await withBroker(follower, (connection) => connection.request(ApiKey.Fetch, 16, fetchBody));
  const answer = fromFollower.responses[0].partitions[0];
  expect(answer.errorCode).toBe(ErrorCode.NOT_LEADER_OR_FOLLOWER);
  expect(answer.currentLeader).toEqual({ leaderId: leader, leaderEpoch: partition!.leaderEpoch });
  expect(fromFollower.nodeEndpoints).toEqual([{ nodeId: leader, host: "127.0.0.1", port: cluster.broker(leader).port, rack: null }]);

  // Before v16 the answer names no leader.
  const older = await withBroker(follower, (connection) => connection.request(ApiKey.Fetch, 15, fetchBody));
  expect(older.responses[0].partitions[0].errorCode).toBe(ErrorCode.NOT_LEADER_OR_FOLLOWER);
  expect(older.responses[0].partitions[0].currentLeader).toEqual({ leaderId: -1, leaderEpoch: -1 });
  expect(older.nodeEndpoints).toEqual([]);
}, 120_000);
