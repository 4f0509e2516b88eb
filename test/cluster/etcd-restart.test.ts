// The brokers ride out an etcd restart: their watches resume, their registrations are renewed (or
// re-created), and the cluster still elects new leaders afterwards.
import { afterAll, beforeAll, expect, test } from "bun:test";
import { KafkaConnection } from "../../src/client/kafka-connection.ts";
import { ErrorCode } from "../../src/protocol/errors.ts";
import { ApiKey } from "../../src/protocol/generated/index.ts";
import { buildBatch } from "../../src/records/compression.ts";
import { TestCluster } from "../helpers/cluster.ts";

let cluster: TestCluster;
const TOPIC = "survives-etcd";

beforeAll(async () => {
  cluster = new TestCluster(3);
  await cluster.start();
  const connection = await KafkaConnection.connect({ host: "127.0.0.1", port: cluster.broker(1).port });
  const created = await connection.request(ApiKey.CreateTopics, 7, { topics: [{ name: TOPIC, numPartitions: 1, replicationFactor: 3, configs: [{ name: "min.insync.replicas", value: "2" }] }], timeoutMs: 10_000 });
  connection.close();
  expect(created.topics[0].errorCode).toBe(ErrorCode.NONE);
  await cluster.leadersReady(TOPIC);
}, 60_000);

afterAll(async () => {
  await cluster.cleanup();
});

async function produceTo(nodeId: number, value: string): Promise<number> {
  const connection = await KafkaConnection.connect({ host: "127.0.0.1", port: cluster.broker(nodeId).port, requestTimeoutMs: 15_000 });
  try {
    const response = await connection.request(ApiKey.Produce, 7, { acks: -1, timeoutMs: 10_000, topicData: [{ name: TOPIC, partitionData: [{ index: 0, records: buildBatch({ records: [{ value }] }) }] }] });
    return response.responses[0].partitionResponses[0].errorCode;
  } finally {
    connection.close();
  }
}

test("after etcd restarts, acks=all produces work and a killed leader is still replaced", async () => {
  const [before] = await cluster.partitions(TOPIC);
  expect(await produceTo(before!.leader, "before")).toBe(ErrorCode.NONE);

  await cluster.etcd.stop();
  await Bun.sleep(1000);
  await cluster.etcd.start();
  await cluster.waitForMembership();

  const [current] = await cluster.partitions(TOPIC);
  expect(await produceTo(current!.leader, "after-etcd-restart")).toBe(ErrorCode.NONE);

  const victim = current!.leader;
  await cluster.broker(victim).kill();
  const replaced = await cluster.waitFor("a new leader after the etcd restart", async () => {
    const [partition] = await cluster.partitions(TOPIC, [victim]);
    return partition!.leader >= 0 && partition!.leader !== victim ? partition : null;
  }, 30_000);
  expect(replaced.leaderEpoch).toBeGreaterThan(current!.leaderEpoch);
  expect(await produceTo(replaced.leader, "after-failover")).toBe(ErrorCode.NONE);
}, 120_000);
