// A data partition's leader is SIGKILLed while a transaction on it is open: the new leader built its
// producer state, LSO and .txnindex from the batches and markers it replicated as a follower, so
// read_committed readers of the new leader stop at the open transaction's first offset and are told about
// the earlier aborted one; when the producer commits, the coordinator's marker reaches the new leader and
// the LSO moves on. kafkajs writes the transactions, kcat reads them back.
import { afterAll, beforeAll, expect, test } from "bun:test";
import type { Producer } from "kafkajs";
import { KafkaConnection } from "../../src/client/kafka-connection.ts";
import { ErrorCode } from "../../src/protocol/errors.ts";
import { ApiKey } from "../../src/protocol/generated/index.ts";
import { TestCluster } from "../helpers/cluster.ts";
import { kafkaClient } from "../helpers/kafkajs.ts";
import { kcatConsumeAll } from "../helpers/kcat.ts";

const TOPIC = "txn-leader-failover";
const READ_COMMITTED = 1;
let cluster: TestCluster;

beforeAll(async () => {
  cluster = new TestCluster(3, { "transaction.state.log.num.partitions": "3", "transaction.state.log.replication.factor": "3" });
  await cluster.start();
  const admin = kafkaClient(cluster.bootstrap.join(","), "txn-failover-admin").admin();
  await admin.connect();
  await admin.createTopics({ topics: [{ topic: TOPIC, numPartitions: 1, replicationFactor: 3, configEntries: [{ name: "min.insync.replicas", value: "2" }] }], waitForLeaders: true });
  await admin.disconnect();
  await cluster.leadersReady(TOPIC);
}, 90_000);

afterAll(async () => {
  await cluster.cleanup();
});

async function coordinatorOf(transactionalId: string): Promise<number> {
  return cluster.waitFor(`a coordinator for ${transactionalId}`, async () => {
    for (const broker of cluster.brokers.values()) {
      if (!broker.pid) continue;
      const connection = await KafkaConnection.connect({ host: "127.0.0.1", port: broker.port, requestTimeoutMs: 5000 });
      try {
        const response = await connection.request(ApiKey.FindCoordinator, 2, { key: transactionalId, keyType: 1 });
        if (response.errorCode === ErrorCode.NONE) return response.nodeId as number;
      } finally {
        connection.close();
      }
    }
    return null;
  });
}

/** A transactional id whose coordinator is not `avoid` (bounded search), so killing `avoid` leaves the coordinator up. */
async function transactionalIdAwayFrom(avoid: number, prefix: string): Promise<string> {
  for (let index = 0; index < 30; index++) {
    const id = `${prefix}-${index}`;
    if ((await coordinatorOf(id)) !== avoid) return id;
  }
  throw new Error(`no transactional id with a coordinator other than broker ${avoid}`);
}

test("the new leader after a SIGKILL has the open transaction's LSO and the aborted transaction, then follows the commit", async () => {
  const [partition] = await cluster.partitions(TOPIC);
  const oldLeader = partition!.leader;
  const producers: Producer[] = [];
  const transactional = async (prefix: string) => {
    const producer = kafkaClient(cluster.bootstrap.join(","), prefix).producer({ transactionalId: await transactionalIdAwayFrom(oldLeader, prefix), idempotent: true, maxInFlightRequests: 1 });
    producers.push(producer);
    await producer.connect();
    return producer;
  };
  try {
    const committer = await transactional("committer");
    const committed = await committer.transaction();
    await committed.send({ topic: TOPIC, acks: -1, messages: [{ value: "committed", partition: 0 }] }); // 0
    await committed.commit(); // marker 1
    const aborter = await transactional("aborter");
    const aborted = await aborter.transaction();
    await aborted.send({ topic: TOPIC, acks: -1, messages: [{ value: "aborted", partition: 0 }] }); // 2
    await aborted.abort(); // marker 3
    const opener = await transactional("opener");
    const open = await opener.transaction();
    await open.send({ topic: TOPIC, acks: -1, messages: [{ value: "open", partition: 0 }] }); // 4, left open
    // Every replica has the markers (acks=all for them too) before the leader dies.
    await cluster.waitFor("the ISR to hold every replica", async () => (await cluster.partitions(TOPIC))[0]!.isr.length === 3);

    await cluster.broker(oldLeader).kill();
    const newLeader = await cluster.waitFor("a new leader", async () => {
      const [now] = await cluster.partitions(TOPIC, [oldLeader]);
      return now && now.leader >= 0 && now.leader !== oldLeader ? now.leader : null;
    });
    const fetched = await cluster.waitFor("the new leader to answer a read_committed fetch", async () => {
      const connection = await KafkaConnection.connect({ host: "127.0.0.1", port: cluster.broker(newLeader).port, requestTimeoutMs: 5000 });
      try {
        const response = await connection.request(ApiKey.Fetch, 11, {
          replicaId: -1,
          maxWaitMs: 0,
          minBytes: 0,
          maxBytes: 1 << 20,
          isolationLevel: READ_COMMITTED,
          topics: [{ topic: TOPIC, partitions: [{ partition: 0, fetchOffset: 0, partitionMaxBytes: 1 << 20 }] }],
        });
        const data = response.responses[0].partitions[0];
        // The high watermark reaches the log end once the followers fetch from the new leader.
        return data.errorCode === ErrorCode.NONE && Number(data.highWatermark) === 5 ? data : null;
      } finally {
        connection.close();
      }
    });
    expect(Number(fetched.lastStableOffset)).toBe(4);
    expect(fetched.abortedTransactions.map((each: { firstOffset: number | bigint }) => Number(each.firstOffset))).toEqual([2]);
    expect(await kcatConsumeAll(cluster.bootstrap.join(","), TOPIC, "%s\n", ["-X", "isolation.level=read_committed"])).toEqual(["committed"]);

    await open.commit();
    expect(await kcatConsumeAll(cluster.bootstrap.join(","), TOPIC, "%s\n", ["-X", "isolation.level=read_committed"])).toEqual(["committed", "open"]);
    expect(await kcatConsumeAll(cluster.bootstrap.join(","), TOPIC, "%s\n", ["-X", "isolation.level=read_uncommitted"])).toEqual(["committed", "aborted", "open"]);
  } finally {
    for (const producer of producers) await producer.disconnect().catch(() => undefined);
  }
}, 180_000);
