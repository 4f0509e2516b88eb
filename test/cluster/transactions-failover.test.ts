// A stream of kafkajs transactions (commits, and every fourth one aborted) on a 3-broker cluster while the
// transaction coordinator's broker is SIGKILLed in the middle of a transaction. That broker also leads a data
// partition, so the markers of the transactions in flight go to a leader that moved. The history checker
// (test/helpers/history.ts, checkTransactions) then reads everything with a read_committed kcat: every
// committed transaction exactly once, nothing of an aborted one, all or nothing of one whose commit call
// failed; and every partition's last stable offset reaches its high watermark.
import { afterAll, beforeAll, expect, test } from "bun:test";
import type { Producer } from "kafkajs";
import { KafkaConnection } from "../../src/client/kafka-connection.ts";
import { ErrorCode } from "../../src/protocol/errors.ts";
import { ApiKey } from "../../src/protocol/generated/index.ts";
import { TestCluster } from "../helpers/cluster.ts";
import { History, type TransactionOutcome } from "../helpers/history.ts";
import { kafkaClient } from "../helpers/kafkajs.ts";
import { kcat } from "../helpers/kcat.ts";

const TOPIC = "txn-failover";
const PARTITIONS = 3;
const TRANSACTIONAL_ID = "failover-stream";
const TRANSACTIONS = 24;
const KILL_AT = 6;
const VALUES_PER_TRANSACTION = PARTITIONS * 2;
let cluster: TestCluster;

beforeAll(async () => {
  cluster = new TestCluster(3, { "transaction.state.log.num.partitions": "3", "transaction.state.log.replication.factor": "3", "transaction.state.log.min.isr": "2" });
  await cluster.start();
  const admin = kafkaClient(cluster.bootstrap.join(","), "txn-failover-admin").admin();
  await admin.connect();
  await admin.createTopics({ topics: [{ topic: TOPIC, numPartitions: PARTITIONS, replicationFactor: 3, configEntries: [{ name: "min.insync.replicas", value: "2" }] }], waitForLeaders: true });
  await admin.disconnect();
  await cluster.leadersReady(TOPIC);
}, 90_000);

afterAll(async () => {
  await cluster?.cleanup();
});

async function onBroker<T>(nodeId: number, use: (connection: KafkaConnection) => Promise<T>): Promise<T> {
  const connection = await KafkaConnection.connect({ host: "127.0.0.1", port: cluster.broker(nodeId).port, requestTimeoutMs: 5000 });
  try {
    return await use(connection);
  } finally {
    connection.close();
  }
}

async function coordinatorOf(excluding: number[] = []): Promise<number> {
  return cluster.waitFor(`a transaction coordinator for ${TRANSACTIONAL_ID}`, async () => {
    for (const [nodeId, broker] of cluster.brokers) {
      if (excluding.includes(nodeId) || !broker.pid) continue;
      const found = await onBroker(nodeId, (connection) => connection.request(ApiKey.FindCoordinator, 2, { key: TRANSACTIONAL_ID, keyType: 1 }));
      if (found.errorCode === ErrorCode.NONE && !excluding.includes(found.nodeId)) return found.nodeId as number;
    }
    return null;
  }, 60_000);
}

function newProducer(): Producer {
  return kafkaClient(cluster.bootstrap.join(","), "txn-failover-producer").producer({ transactionalId: TRANSACTIONAL_ID, idempotent: true, maxInFlightRequests: 1, transactionTimeout: 30_000 });
}

test("the coordinator's broker SIGKILLed during a stream of transactions: committed ones exactly once, aborted ones never (read_committed)", async () => {
  const history = new History();
  const coordinator = await coordinatorOf();
  const leadersBefore = (await cluster.partitions(TOPIC)).map((p) => p.leader);
  // Leaders are spread over the three brokers, so the coordinator's broker leads a data partition too.
  expect(leadersBefore).toContain(coordinator);

  let producer = newProducer();
  await producer.connect();
  const outcomes: TransactionOutcome[] = [];
  for (let n = 0; n < TRANSACTIONS; n++) {
    const abort = n % 4 === 3;
    const values = Array.from({ length: VALUES_PER_TRANSACTION }, (_, i) => `t${n}-${i}`);
    let outcome: TransactionOutcome;
    let transaction: Awaited<ReturnType<Producer["transaction"]>> | null = null;
    try {
      transaction = await producer.transaction();
      await transaction.send({ topic: TOPIC, acks: -1, messages: values.map((value, i) => ({ value, partition: i % PARTITIONS })) });
      if (n === KILL_AT) await cluster.broker(coordinator).kill();
      if (abort) await transaction.abort();
      else await transaction.commit();
      outcome = abort ? "aborted" : "committed";
    } catch {
      // Nobody commits an abort; a failed commit may or may not have been decided by the coordinator.
      outcome = abort ? "aborted" : "unknown";
      await transaction?.abort().catch(() => undefined);
      await producer.disconnect().catch(() => undefined);
      producer = newProducer();
      // The next InitProducerId fences the old epoch and ends whatever it left open (bounded by kafkajs' retries).
      await cluster.waitFor("a new transactional producer", async () => {
        try {
          await producer.connect();
          return true;
        } catch {
          return null;
        }
      }, 60_000, 500);
    }
    outcomes.push(outcome);
    history.transaction({ id: `t${n}`, outcome, values });
  }
  await producer.disconnect();
  const afterKill = outcomes.slice(KILL_AT + 1);
  expect(afterKill.filter((o) => o === "committed").length).toBeGreaterThan(0);
  expect(afterKill.filter((o) => o === "aborted").length).toBeGreaterThan(0);

  // The data partition the killed broker led has a new leader, and the new coordinator finished every transaction.
  const leadersAfter = await cluster.waitFor("leaders on live brokers", async () => {
    const found = (await cluster.partitions(TOPIC, [coordinator])).map((p) => p.leader);
    return found.every((leader) => leader >= 0 && leader !== coordinator) ? found : null;
  });
  expect(leadersAfter).not.toEqual(leadersBefore);
  const successor = await coordinatorOf([coordinator]);
  await cluster.waitFor("the last transaction to complete", async () => {
    const described = await onBroker(successor, (connection) => connection.request(ApiKey.DescribeTransactions, 0, { transactionalIds: [TRANSACTIONAL_ID] }));
    const state = described.transactionStates[0];
    return state.errorCode === ErrorCode.NONE && ["CompleteCommit", "CompleteAbort", "Empty"].includes(state.transactionState);
  }, 60_000);

  // No partition's LSO stays behind: read_committed latest = read_uncommitted latest on each leader.
  for (const [partition, leader] of leadersAfter.entries()) {
    await cluster.waitFor(`the LSO of ${TOPIC}-${partition} to reach its high watermark`, async () => {
      const [stable, end] = await onBroker(leader, async (connection) =>
        Promise.all(
          [1, 0].map(async (isolationLevel) => {
            const response = await connection.request(ApiKey.ListOffsets, 5, { replicaId: -1, isolationLevel, topics: [{ name: TOPIC, partitions: [{ partitionIndex: partition, currentLeaderEpoch: -1, timestamp: -1 }] }] });
            return Number(response.topics[0].partitions[0].offset);
          }),
        ),
      );
      return stable === end && end > 0;
    }, 30_000);
  }

  const live = [...cluster.brokers].filter(([nodeId]) => nodeId !== coordinator).map(([, broker]) => broker.bootstrap).join(",");
  const read = await kcat(live, ["-C", "-t", TOPIC, "-o", "beginning", "-e", "-q", "-f", "%p\t%o\t%s\n", "-X", "isolation.level=read_committed"], { timeoutMs: 120_000 });
  expect(read.exitCode).toBe(0);
  for (const line of read.stdout.split("\n").filter((l) => l.length > 0)) {
    const [partition, offset, value] = line.split("\t");
    history.poll({ consumer: "final", partition: Number(partition), offset: Number(offset), value: value! });
  }
  expect(history.checkTransactions("final")).toEqual([]);
  // The check has something to check: every committed transaction is in the read.
  const committedValues = history.transactions.filter((t) => t.outcome === "committed").length * VALUES_PER_TRANSACTION;
  expect(history.polls.length).toBeGreaterThanOrEqual(committedValues);
}, 300_000);
