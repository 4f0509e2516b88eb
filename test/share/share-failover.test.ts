// Share groups in a 3-broker embedded cluster (docs/share-groups.md §6): the share partition's leader persists
// its state at the share coordinator (the leader of the key's __share_group_state partition, here or over
// WriteShareGroupState on another broker). Killing the topic partition's leader mid-way moves the share
// partition to the new leader, which reads the last committed state (ReadShareGroupState or its own replica):
// no record accepted before the failover is delivered again, and every record is accepted once.
import { afterAll, beforeAll, expect, test } from "bun:test";
import { startCluster, type EmbeddedCluster } from "../../src/testing/cluster.ts";
import { createTopic, produceRecords } from "../../src/testing/helpers.ts";
import { KafkaConnection } from "../../src/client/kafka-connection.ts";
import { AcknowledgeType, ShareConsumer } from "../../src/client/share-consumer.ts";
import { Apis } from "../../src/protocol/generated/index.ts";
import { ErrorCode } from "../../src/protocol/errors.ts";

const TOPIC = "share-failover";
const GROUP = "share-failover-group";
const RECORDS = 3000;
const CONSUMERS = 2;
const DEADLINE_MS = 60_000;

let cluster: EmbeddedCluster;

beforeAll(async () => {
  cluster = await startCluster({ brokers: 3, properties: { "share.coordinator.state.topic.num.partitions": "3", "group.share.heartbeat.interval.ms": "200" } });
  await createTopic(cluster.bootstrapServers, TOPIC, { partitions: 1, replicationFactor: 3 });
}, 60_000);

afterAll(async () => {
  await cluster?.stop();
});

/** Asks a live broker who coordinates the group and who leads the topic's partition 0. */
async function locate(): Promise<{ coordinator: { nodeId: number; port: number }; leader: { nodeId: number; port: number } } | null> {
  for (const nodeId of cluster.liveBrokerIds) {
    const port = cluster.broker(nodeId).port;
    let connection: KafkaConnection | null = null;
    try {
      connection = await KafkaConnection.connect({ host: "127.0.0.1", port, requestTimeoutMs: 5000 });
      const found = await connection.request(Apis.FindCoordinator.apiKey, 3, { key: GROUP, keyType: 0 });
      const metadata = await connection.request(Apis.Metadata.apiKey, 9, { topics: [{ name: TOPIC }], allowAutoTopicCreation: false });
      const leaderId = metadata.topics[0]?.partitions[0]?.leaderId ?? -1;
      const leaderBroker = metadata.brokers.find((broker: { nodeId: number }) => broker.nodeId === leaderId);
      if (found.errorCode !== ErrorCode.NONE || !leaderBroker || !cluster.liveBrokerIds.includes(leaderId) || !cluster.liveBrokerIds.includes(found.nodeId)) continue;
      return { coordinator: { nodeId: found.nodeId, port: found.port }, leader: { nodeId: leaderId, port: leaderBroker.port } };
    } catch {
      // That broker is down or busy: ask the next one.
    } finally {
      connection?.close();
    }
  }
  return null;
}

test("a share partition's state survives its leader's crash: no record accepted twice, none lost", async () => {
  // Everything is produced (acks=all) before the consumers start, and the group reads from the earliest offset.
  // (Produced meanwhile, the test meets a replication stall of concurrent acks=all appends to several partitions
  // of one worker in embedded clusters, reproduced without share groups; reported, not fixed here.)
  for (let base = 0; base < RECORDS; base += 100) await produceRecords(cluster.bootstrapServers, TOPIC, Array.from({ length: 100 }, (_, j) => ({ value: `r${base + j}` })));
  await setGroupConfig("share.auto.offset.reset", "earliest");
  const acceptedOk = new Uint8Array(RECORDS);
  const unknown = new Set<number>();
  let accepted = 0;
  let done = false;
  const started = performance.now();

  const worker = async (id: number) => {
    let consumer: ShareConsumer | null = null;
    while (!done && performance.now() - started < DEADLINE_MS) {
      if (!consumer) {
        const where = await locate();
        if (!where) {
          await Bun.sleep(100);
          continue;
        }
        try {
          consumer = await ShareConsumer.connect({ host: "127.0.0.1", port: where.coordinator.port, leader: { host: "127.0.0.1", port: where.leader.port }, groupId: GROUP, topics: [TOPIC], maxWaitMs: 200, maxBytes: 1024, clientId: `failover-${id}` });
        } catch {
          await Bun.sleep(100);
          continue;
        }
      }
      let sent: number[] = [];
      try {
        const records = await consumer.poll();
        for (const record of records) {
          consumer.ack(record, AcknowledgeType.ACCEPT);
          sent.push(Number(record.offset));
        }
        const { taken } = await consumer.acknowledge();
        for (const ack of taken) {
          acceptedOk[ack.offset]!++;
          accepted++;
        }
        sent = [];
        // Paced, so that the crash below lands while most records are still to come.
        await Bun.sleep(40);
      } catch {
        // A broker died (or leadership moved): acknowledgements in flight have an unknown outcome.
        for (const offset of sent) unknown.add(offset);
        consumer.closeConnections();
        consumer = null;
        await Bun.sleep(100);
      }
    }
    await consumer?.close();
  };
  const workers = Array.from({ length: CONSUMERS }, (_, id) => worker(id));

  // Crash the partition's leader once a part is accepted.
  while (accepted < 300 && performance.now() - started < DEADLINE_MS) await Bun.sleep(5);
  const before = await locate();
  expect(before).not.toBeNull();
  await cluster.kill(before!.leader.nodeId);
  const acceptedAtKill = accepted;

  const remaining = () => {
    let count = 0;
    for (let i = 0; i < RECORDS; i++) if (acceptedOk[i] === 0 && !unknown.has(i)) count++;
    return count;
  };
  while (remaining() > 0 && performance.now() - started < DEADLINE_MS) await Bun.sleep(50);
  done = true;
  await Promise.all(workers);
  const after = await locate();
  console.log(`share failover: leader ${before!.leader.nodeId} -> ${after?.leader.nodeId}, ${acceptedAtKill} accepted before the kill, ${accepted} in all, ${unknown.size} unknown at the kill`);

  expect(after!.leader.nodeId).not.toBe(before!.leader.nodeId);
  expect(accepted).toBeGreaterThan(acceptedAtKill);
  for (let i = 0; i < RECORDS; i++) {
    expect(acceptedOk[i]!).toBeLessThanOrEqual(1);
    if (acceptedOk[i] === 0) expect(unknown.has(i)).toBe(true);
  }
}, 120_000);

/** Group configs are written on the leader of the group id's __share_group_state partition: the others answer NOT_COORDINATOR. */
async function setGroupConfig(name: string, value: string): Promise<void> {
  const deadline = performance.now() + 30_000;
  while (performance.now() < deadline) {
    for (const nodeId of cluster.liveBrokerIds) {
      const connection = await KafkaConnection.connect({ host: "127.0.0.1", port: cluster.broker(nodeId).port, requestTimeoutMs: 10_000 });
      try {
        const response = await connection.request(Apis.IncrementalAlterConfigs.apiKey, 1, { resources: [{ resourceType: 32, resourceName: GROUP, configs: [{ name, configOperation: 0, value }] }], validateOnly: false });
        if (response.responses[0].errorCode === ErrorCode.NONE) return;
      } finally {
        connection.close();
      }
    }
    await Bun.sleep(100);
  }
  throw new Error(`no broker took ${name}=${value}`);
}
