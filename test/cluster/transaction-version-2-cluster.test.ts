// Transaction version 2 across brokers (real etcd and broker processes): the data partition is led by a broker
// that does not coordinate the transactional id, so a transactional Produce v12 makes that leader add the
// partition at the coordinator's broker (AddPartitionsToTxn v5 with verifyOnly false over the inter-broker
// listener), and EndTxn v5's markers go back to it as WriteTxnMarkers. In-repo client (generated codecs).
import { afterAll, beforeAll, expect, test } from "bun:test";
import { KafkaConnection } from "../../src/client/kafka-connection.ts";
import { ErrorCode } from "../../src/protocol/errors.ts";
import { ApiKey } from "../../src/protocol/generated/index.ts";
import { buildBatch } from "../../src/records/compression.ts";
import { TestCluster } from "../helpers/cluster.ts";
import { withConnection } from "../helpers/connection.ts";

const TOPIC = "tv2-remote";
const TRANSACTIONAL_ID = "tv2-remote-id";
const WAIT_STEPS_MAX = 300;
const WAIT_STEP_MS = 100;
const RETRIABLE = new Set<number>([ErrorCode.COORDINATOR_LOAD_IN_PROGRESS, ErrorCode.COORDINATOR_NOT_AVAILABLE, ErrorCode.NOT_COORDINATOR, ErrorCode.CONCURRENT_TRANSACTIONS, ErrorCode.NOT_ENOUGH_REPLICAS]);
let cluster: TestCluster;

beforeAll(async () => {
  cluster = new TestCluster(2, { "transaction.state.log.num.partitions": "1", "transaction.state.log.replication.factor": "2" });
  await cluster.start();
}, 90_000);

afterAll(async () => {
  await cluster.cleanup();
});

/** A connection to broker `nodeId` of the test cluster. */
function withBroker<T>(nodeId: number, use: (connection: KafkaConnection) => Promise<T>): Promise<T> {
  return withConnection(cluster.broker(nodeId).port, use);
}

async function retrying<T>(call: () => Promise<T>, codeOf: (answer: T) => number): Promise<T> {
  let answer = await call();
  for (let step = 0; step < WAIT_STEPS_MAX && RETRIABLE.has(codeOf(answer)); step++) {
    await Bun.sleep(WAIT_STEP_MS);
    answer = await call();
  }
  return answer;
}

test("Produce v12 on a leader that is not the coordinator adds the partition remotely; EndTxn v5's markers reach it", async () => {
  const coordinator = await cluster.waitFor(`a coordinator for ${TRANSACTIONAL_ID}`, async () => {
    const response = await withBroker(1, (connection) => connection.request(ApiKey.FindCoordinator, 3, { key: TRANSACTIONAL_ID, keyType: 1 }));
    return response.errorCode === ErrorCode.NONE ? (response.nodeId as number) : null;
  }, 60_000);
  const leader = coordinator === 1 ? 2 : 1;
  await withBroker(leader, async (connection) => {
    const created = await connection.request(ApiKey.CreateTopics, 7, { topics: [{ name: TOPIC, numPartitions: -1, replicationFactor: -1, assignments: [{ partitionIndex: 0, brokerIds: [leader] }], configs: [] }], timeoutMs: 10_000 });
    expect(created.topics[0].errorCode).toBe(ErrorCode.NONE);
  });
  await cluster.leadersReady(TOPIC);
  expect((await cluster.partitions(TOPIC))[0]!.leader).toBe(leader);

  const init = await withBroker(coordinator, (connection) =>
    retrying(() => connection.request(ApiKey.InitProducerId, 5, { transactionalId: TRANSACTIONAL_ID, transactionTimeoutMs: 60_000, producerId: -1, producerEpoch: -1 }), (r) => r.errorCode),
  );
  expect(init.errorCode).toBe(ErrorCode.NONE);
  const produce = (producerEpoch: number, baseSequence: number) =>
    withBroker(leader, (connection) =>
      retrying(
        () =>
          connection.request(ApiKey.Produce, 12, {
            transactionalId: TRANSACTIONAL_ID,
            acks: -1,
            timeoutMs: 10_000,
            topicData: [{ name: TOPIC, partitionData: [{ index: 0, records: buildBatch({ records: [{ value: "v" }], producerId: init.producerId, producerEpoch, baseSequence, isTransactional: true }) }] }],
          }),
        (r) => r.responses[0].partitionResponses[0].errorCode,
      ),
    );
  expect((await produce(init.producerEpoch, 0)).responses[0].partitionResponses[0].errorCode).toBe(ErrorCode.NONE);
  const ongoing = await withBroker(coordinator, (connection) => connection.request(ApiKey.DescribeTransactions, 0, { transactionalIds: [TRANSACTIONAL_ID] }));
  expect(ongoing.transactionStates[0]).toMatchObject({ transactionState: "Ongoing", topics: [{ topic: TOPIC, partitions: [0] }] });

  const ended = await withBroker(coordinator, (connection) =>
    retrying(() => connection.request(ApiKey.EndTxn, 5, { transactionalId: TRANSACTIONAL_ID, producerId: init.producerId, producerEpoch: init.producerEpoch, committed: true }), (r) => r.errorCode),
  );
  expect(ended).toMatchObject({ errorCode: ErrorCode.NONE, producerEpoch: init.producerEpoch + 1 });
  // The COMMIT marker lands on the leader: record + marker, all stable.
  await cluster.waitFor("the commit marker on the leader", async () => {
    const offsets = await withBroker(leader, (connection) =>
      connection.request(ApiKey.ListOffsets, 10, { replicaId: -1, isolationLevel: 1, topics: [{ name: TOPIC, partitions: [{ partitionIndex: 0, currentLeaderEpoch: -1, timestamp: -1 }] }], timeoutMs: 1000 }),
    );
    return offsets.topics[0].partitions[0].offset === 2 ? true : null;
  }, 30_000);

  // The pre-bump epoch is fenced by the remote coordinator.
  expect((await produce(init.producerEpoch, 1)).responses[0].partitionResponses[0].errorCode).toBe(ErrorCode.INVALID_PRODUCER_EPOCH);
}, 180_000);
