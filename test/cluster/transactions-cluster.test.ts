// Transactions in a 3-broker cluster: a transactional id's coordinator is the leader of its
// __transaction_state partition, and the data partitions are led by all three brokers, so markers reach
// most of them as WriteTxnMarkers requests over the inter-broker listener and the leaders ask the coordinator
// to verify first batches (AddPartitionsToTxn verify-only). A committed kafkajs transaction is read back by a
// read_committed kcat, an aborted one is not. Then the coordinator's broker is SIGKILLed: the id moves with
// the partition's leadership, its committed state survives, and the producer goes on with a bumped epoch.
import { afterAll, beforeAll, expect, test } from "bun:test";
import { KafkaConnection } from "../../src/client/kafka-connection.ts";
import { ErrorCode } from "../../src/protocol/errors.ts";
import { ApiKey } from "../../src/protocol/generated/index.ts";
import { TestCluster } from "../helpers/cluster.ts";
import { kafkaClient } from "../helpers/kafkajs.ts";
import { kcatConsumeAll } from "../helpers/kcat.ts";

const TOPIC = "txn-replicated";
const PARTITIONS = 3;
const TRANSACTIONAL_ID = "cluster-txn";
let cluster: TestCluster;

beforeAll(async () => {
  cluster = new TestCluster(3, { "transaction.state.log.num.partitions": "3", "transaction.state.log.replication.factor": "3" });
  await cluster.start();
  const admin = kafkaClient(cluster.bootstrap.join(","), "txn-cluster-admin").admin();
  await admin.connect();
  await admin.createTopics({ topics: [{ topic: TOPIC, numPartitions: PARTITIONS, replicationFactor: 3, configEntries: [{ name: "min.insync.replicas", value: "2" }] }], waitForLeaders: true });
  await admin.disconnect();
  await cluster.leadersReady(TOPIC);
}, 90_000);

afterAll(async () => {
  await cluster.cleanup();
});

/** Asks the live brokers (not `excluding`) until one names a coordinator for the id that is not excluded either. */
async function coordinatorOf(excluding: number[] = []): Promise<number> {
  return cluster.waitFor(`a transaction coordinator for ${TRANSACTIONAL_ID}`, async () => {
    for (const [nodeId, broker] of cluster.brokers) {
      if (excluding.includes(nodeId) || !broker.pid) continue;
      const connection = await KafkaConnection.connect({ host: "127.0.0.1", port: broker.port, requestTimeoutMs: 5000 });
      try {
        const response = await connection.request(ApiKey.FindCoordinator, 2, { key: TRANSACTIONAL_ID, keyType: 1 });
        if (response.errorCode === ErrorCode.NONE && !excluding.includes(response.nodeId)) return response.nodeId as number;
      } finally {
        connection.close();
      }
    }
    return null;
  }, 60_000);
}

async function describeOn(nodeId: number): Promise<{ errorCode: number; transactionState: string; producerId: number; producerEpoch: number }> {
  const connection = await KafkaConnection.connect({ host: "127.0.0.1", port: cluster.broker(nodeId).port, requestTimeoutMs: 5000 });
  try {
    return (await connection.request(ApiKey.DescribeTransactions, 0, { transactionalIds: [TRANSACTIONAL_ID] })).transactionStates[0];
  } finally {
    connection.close();
  }
}

async function runTransaction(prefix: string, commit: boolean): Promise<void> {
  const producer = kafkaClient(cluster.bootstrap.join(","), `txn-${prefix}`).producer({ transactionalId: TRANSACTIONAL_ID, idempotent: true, maxInFlightRequests: 1 });
  await producer.connect();
  try {
    const transaction = await producer.transaction();
    await transaction.send({ topic: TOPIC, acks: -1, messages: Array.from({ length: PARTITIONS * 2 }, (_, i) => ({ value: `${prefix}-${i}`, partition: i % PARTITIONS })) });
    if (commit) await transaction.commit();
    else await transaction.abort();
  } finally {
    await producer.disconnect();
  }
}

async function readCommitted(): Promise<string[]> {
  return (await kcatConsumeAll(cluster.bootstrap.join(","), TOPIC, "%s\n", ["-X", "isolation.level=read_committed"])).sort();
}

test("markers reach leaders on every broker: read_committed sees the committed transaction and not the aborted one", async () => {
  const partitions = await cluster.partitions(TOPIC);
  expect(new Set(partitions.map((p) => p.leader)).size).toBeGreaterThan(1);
  await runTransaction("committed", true);
  await runTransaction("aborted", false);
  const coordinator = await coordinatorOf();
  await cluster.waitFor("the abort to complete", async () => (await describeOn(coordinator)).transactionState === "CompleteAbort", 30_000);
  const expected = Array.from({ length: PARTITIONS * 2 }, (_, i) => `committed-${i}`).sort();
  expect(await readCommitted()).toEqual(expected);
});

test("the coordinator's broker is SIGKILLed: the id moves with its partition, keeps its state, and the producer goes on", async () => {
  const coordinator = await coordinatorOf();
  const before = await describeOn(coordinator);
  expect(before.transactionState).toBe("CompleteAbort");
  await cluster.broker(coordinator).kill();
  const successor = await coordinatorOf([coordinator]);
  expect(successor).not.toBe(coordinator);
  const after = await cluster.waitFor("the new coordinator to load the id", async () => {
    const described = await describeOn(successor);
    return described.errorCode === ErrorCode.NONE ? described : null;
  });
  expect(after).toMatchObject({ transactionState: "CompleteAbort", producerId: before.producerId, producerEpoch: before.producerEpoch });
  await runTransaction("after-failover", true);
  const expected = [...Array.from({ length: PARTITIONS * 2 }, (_, i) => `committed-${i}`), ...Array.from({ length: PARTITIONS * 2 }, (_, i) => `after-failover-${i}`)].sort();
  expect(await readCommitted()).toEqual(expected);
  expect((await describeOn(successor)).producerEpoch).toBeGreaterThan(before.producerEpoch);
});
