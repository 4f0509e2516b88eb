// Produce on a 2-broker cluster (real etcd and broker processes): a produce sent to the follower gets
// NOT_LEADER_OR_FOLLOWER with the partition's current leader and epoch and that leader's endpoint (KIP-951,
// Produce v10+), so a client can go straight to the leader without a Metadata round trip; before v10 the answer
// names no leader. The same records sent to the named endpoint are stored.
import { afterAll, beforeAll, expect, test } from "bun:test";
import { ErrorCode } from "../../src/protocol/errors.ts";
import { ApiKey } from "../../src/protocol/generated/index.ts";
import { buildBatch } from "../../src/records/compression.ts";
import { TestCluster } from "../helpers/cluster.ts";
import { withConnection } from "../helpers/connection.ts";

const TOPIC = "produce-discover";
let cluster: TestCluster;

beforeAll(async () => {
  cluster = new TestCluster(2);
  await cluster.start();
}, 60_000);

afterAll(async () => {
  await cluster.cleanup();
});

test("a produce to the follower names the leader and its endpoint (v10+), none before; the named leader stores the records", async () => {
  await withConnection(cluster.broker(1).port, async (connection) => {
    const created = await connection.request(ApiKey.CreateTopics, 7, { topics: [{ name: TOPIC, numPartitions: 1, replicationFactor: 2, configs: [] }], timeoutMs: 10_000 });
    expect(created.topics[0].errorCode).toBe(ErrorCode.NONE);
  });
  await cluster.leadersReady(TOPIC);
  const [partition] = await cluster.partitions(TOPIC);
  const leader = partition!.leader;
  const follower = leader === 1 ? 2 : 1;
  const request = () => ({ acks: -1, timeoutMs: 10_000, topicData: [{ name: TOPIC, partitionData: [{ index: 0, records: buildBatch({ records: [{ value: "a" }, { value: "b" }] }) }] }] });

  for (const version of [10, 11, 12]) {
    const fromFollower = await withConnection(cluster.broker(follower).port, (connection) => connection.request(ApiKey.Produce, version, request()));
    const answer = fromFollower.responses[0].partitionResponses[0];
    expect(answer.errorCode).toBe(ErrorCode.NOT_LEADER_OR_FOLLOWER);
    expect(answer.currentLeader).toEqual({ leaderId: leader, leaderEpoch: partition!.leaderEpoch });
    expect(fromFollower.nodeEndpoints).toEqual([{ nodeId: leader, host: "127.0.0.1", port: cluster.broker(leader).port, rack: null }]);
  }

  // v9 has no place for them (current_leader and node_endpoints are v10 tagged fields).
  const older = await withConnection(cluster.broker(follower).port, (connection) => connection.request(ApiKey.Produce, 9, request()));
  expect(older.responses[0].partitionResponses[0].errorCode).toBe(ErrorCode.NOT_LEADER_OR_FOLLOWER);
  expect(older.responses[0].partitionResponses[0].currentLeader).toEqual({ leaderId: -1, leaderEpoch: -1 });
  expect(older.nodeEndpoints).toEqual([]);

  // The endpoint the answer named takes the records; a successful answer names no leader.
  const stored = await withConnection(cluster.broker(leader).port, (connection) => connection.request(ApiKey.Produce, 10, request()));
  expect(stored.responses[0].partitionResponses[0]).toMatchObject({ errorCode: ErrorCode.NONE, baseOffset: 0, currentLeader: { leaderId: -1, leaderEpoch: -1 } });
  expect(stored.nodeEndpoints).toEqual([]);
}, 120_000);
