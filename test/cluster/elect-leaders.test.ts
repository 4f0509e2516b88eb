// ElectLeaders (KIP-460) in a 3-broker embedded cluster, with the controller's own preferred-leader check
// off (auto.leader.rebalance.enable=false) so only the request can move leadership back: leadership moved
// away (the move-leader fault, then a broker restart) goes back to the first replica on a PREFERRED
// election sent to a broker that is not the controller; a preferred replica that is down is
// PREFERRED_LEADER_NOT_AVAILABLE; a partition with a live leader needs no UNCLEAN election; null partitions
// leave out the ones that needed nothing. Every record produced before is still there afterwards.
import { expect, test } from "bun:test";
import { KafkaConnection } from "../../src/client/kafka-connection.ts";
import { ErrorCode } from "../../src/protocol/errors.ts";
import { ApiKey } from "../../src/protocol/generated/index.ts";
import { createTopic, produceRecords, readAll, startCluster } from "../../src/testing/index.ts";

const TOPIC = "elect-leaders";
const PREFERRED = 0;
const UNCLEAN = 1;

interface PartitionMetadata {
  leader: number;
  leaderEpoch: number;
  replicas: number[];
  isr: number[];
}

async function withConnection<T>(port: number, work: (connection: KafkaConnection) => Promise<T>): Promise<T> {
  const connection = await KafkaConnection.connect({ host: "127.0.0.1", port, requestTimeoutMs: 30_000 });
  try {
    return await work(connection);
  } finally {
    connection.close();
  }
}

function partitionsAt(port: number): Promise<PartitionMetadata[]> {
  return withConnection(port, async (connection) => {
    const response = await connection.request(ApiKey.Metadata, 9, { topics: [{ name: TOPIC }], allowAutoTopicCreation: false });
    const partitions = [...response.topics[0].partitions].sort((a: { partitionIndex: number }, b: { partitionIndex: number }) => a.partitionIndex - b.partitionIndex);
    return partitions.map((p: { leaderId: number; leaderEpoch: number; replicaNodes: number[]; isrNodes: number[] }) => ({ leader: p.leaderId, leaderEpoch: p.leaderEpoch, replicas: [...p.replicaNodes], isr: [...p.isrNodes].sort() }));
  });
}

async function waitUntil(what: string, timeoutMs: number, condition: () => Promise<boolean>): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  while (!(await condition().catch(() => false))) {
    if (performance.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await Bun.sleep(25);
  }
}

type Results = Map<string, number>;

async function electLeaders(port: number, electionType: number, topicPartitions: { topic: string; partitions: number[] }[] | null, version = 2): Promise<{ errorCode: number; results: Results }> {
  return withConnection(port, async (connection) => {
    const response = await connection.request(ApiKey.ElectLeaders, version, { electionType, topicPartitions, timeoutMs: 30_000 });
    const results: Results = new Map();
    for (const topic of response.replicaElectionResults) for (const partition of topic.partitionResult) results.set(`${topic.topic}-${partition.partitionId}`, partition.errorCode);
    return { errorCode: response.errorCode, results };
  });
}

test("PREFERRED elections put leadership back on the first replica after a moved leader and after a broker restart", async () => {
  await using cluster = await startCluster({ brokers: 3, properties: { "auto.leader.rebalance.enable": "false" } });
  await createTopic(cluster.bootstrapServers, TOPIC, { partitions: 2, replicationFactor: 3, configs: { "min.insync.replicas": "2" } });
  const portOf = (id: number) => cluster.broker(id).port;
  for (const partition of [0, 1]) await produceRecords(cluster.bootstrapServers, TOPIC, 20, { partition });
  await waitUntil("both partitions fully in sync", 30_000, async () => (await partitionsAt(portOf(1))).every((p) => p.isr.length === 3));
  const initial = await partitionsAt(portOf(1));
  const preferred = initial.map((p) => p.replicas[0]!);
  expect(initial.map((p) => p.leader)).toEqual(preferred);

  // Partition 0's leadership moves to another in-sync replica.
  const elsewhere = initial[0]!.replicas[1]!;
  await cluster.faults.add({ type: "move-leader", topic: TOPIC, partition: 0, broker: elsewhere });
  for (const id of cluster.liveBrokerIds) await waitUntil(`broker ${id} to see leader ${elsewhere}`, 20_000, async () => (await partitionsAt(portOf(id)))[0]!.leader === elsewhere);
  const moved = (await partitionsAt(portOf(1)))[0]!;

  // Asked at a broker that is not the controller: partition 0 is elected, partition 1 needed nothing.
  const asker = cluster.liveBrokerIds.find((id) => id !== cluster.controllerId())!;
  const elected = await electLeaders(portOf(asker), PREFERRED, [{ topic: TOPIC, partitions: [0, 1] }, { topic: "no-such-topic", partitions: [0] }]);
  expect(elected.errorCode).toBe(ErrorCode.NONE);
  expect(Object.fromEntries(elected.results)).toEqual({ [`${TOPIC}-0`]: ErrorCode.NONE, [`${TOPIC}-1`]: ErrorCode.ELECTION_NOT_NEEDED, "no-such-topic-0": ErrorCode.UNKNOWN_TOPIC_OR_PARTITION });
  for (const id of cluster.liveBrokerIds) {
    await waitUntil(`broker ${id} to see partition 0 led by its preferred replica ${preferred[0]}`, 20_000, async () => {
      const [p0] = await partitionsAt(portOf(id));
      return p0!.leader === preferred[0] && p0!.leaderEpoch > moved.leaderEpoch;
    });
  }
  // A partition with a live leader needs no unclean election.
  expect(Object.fromEntries((await electLeaders(portOf(asker), UNCLEAN, [{ topic: TOPIC, partitions: [0] }])).results)).toEqual({ [`${TOPIC}-0`]: ErrorCode.ELECTION_NOT_NEEDED });

  // The preferred replica of partition 1 restarts: while it is down, leadership is elsewhere and it cannot
  // be elected; once it is back in sync, a PREFERRED election over every partition (null) returns it.
  const restarted = preferred[1]!;
  await cluster.kill(restarted);
  const survivor = cluster.liveBrokerIds[0]!;
  await waitUntil("partition 1 to get another leader", 30_000, async () => {
    const leader = (await partitionsAt(portOf(survivor)))[1]!.leader;
    return leader > 0 && leader !== restarted;
  });
  const whileDown = await electLeaders(portOf(survivor), PREFERRED, [{ topic: TOPIC, partitions: [1] }]);
  expect(whileDown.results.get(`${TOPIC}-1`)).toBe(ErrorCode.PREFERRED_LEADER_NOT_AVAILABLE);
  await cluster.restart(restarted);
  await waitUntil(`broker ${restarted} back in partition 1's ISR`, 30_000, async () => (await partitionsAt(portOf(survivor)))[1]!.isr.includes(restarted));
  const all = await electLeaders(portOf(survivor), PREFERRED, null);
  expect(all.errorCode).toBe(ErrorCode.NONE);
  expect(all.results.get(`${TOPIC}-1`)).toBe(ErrorCode.NONE);
  // Partitions whose preferred replica already leads are left out of an every-partition answer.
  expect(all.results.has(`${TOPIC}-0`)).toBe(false);
  for (const id of cluster.liveBrokerIds) await waitUntil(`broker ${id} to see partition 1 led by ${restarted}`, 20_000, async () => (await partitionsAt(portOf(id)))[1]!.leader === restarted);

  // Nothing was lost on the way: every record is read back from the current leaders (up to offset 20: a leader
  // just elected may answer a lower high watermark until its followers have fetched from it, as in Kafka).
  for (const partition of [0, 1]) {
    const records = await readAll(cluster.bootstrapServers, TOPIC, { partition, untilOffset: 20 });
    expect(records.map((record) => Buffer.from(record.value!).toString())).toEqual(Array.from({ length: 20 }, (_, i) => `record-${i}`));
  }
});

test("UNCLEAN: a partition left without a live in-sync replica is led by a live out-of-sync one; with none live, ELIGIBLE_LEADERS_NOT_AVAILABLE", async () => {
  await using cluster = await startCluster({ brokers: 3, properties: { "auto.leader.rebalance.enable": "false" } });
  await createTopic(cluster.bootstrapServers, TOPIC, { partitions: 1, replicationFactor: 2 });
  const survivor = () => cluster.liveBrokerIds[0]!;
  const at = async () => (await partitionsAt(cluster.broker(survivor()).port))[0]!;
  await produceRecords(cluster.bootstrapServers, TOPIC, 5);
  await waitUntil("both replicas in sync", 30_000, async () => (await at()).isr.length === 2);
  const { leader, replicas } = await at();
  const follower = replicas.find((id) => id !== leader)!;

  // The follower dies and leaves the ISR; then the leader dies: no in-sync replica is left, the partition is offline.
  await cluster.kill(follower);
  await waitUntil("the ISR to shrink to the leader", 30_000, async () => (await at()).isr.join() === String(leader));
  await cluster.kill(leader);
  await waitUntil("the partition to go offline", 30_000, async () => (await at()).leader === -1);
  const noneLive = await electLeaders(cluster.broker(survivor()).port, UNCLEAN, [{ topic: TOPIC, partitions: [0] }]);
  expect(noneLive.results.get(`${TOPIC}-0`)).toBe(ErrorCode.ELIGIBLE_LEADERS_NOT_AVAILABLE);
  // A PREFERRED election cannot help: the preferred replica is not live.
  expect((await electLeaders(cluster.broker(survivor()).port, PREFERRED, [{ topic: TOPIC, partitions: [0] }])).results.get(`${TOPIC}-0`)).toBe(ErrorCode.PREFERRED_LEADER_NOT_AVAILABLE);

  // The out-of-sync follower comes back: the controller leaves the partition offline (unclean elections are
  // off), and only an UNCLEAN election makes it the leader.
  await cluster.restart(follower);
  const offline = await at();
  expect(offline.leader).toBe(-1);
  const unclean = await electLeaders(cluster.broker(survivor()).port, UNCLEAN, [{ topic: TOPIC, partitions: [0] }]);
  expect(unclean.results.get(`${TOPIC}-0`)).toBe(ErrorCode.NONE);
  for (const id of cluster.liveBrokerIds) {
    await waitUntil(`broker ${id} to see ${follower} leading alone`, 20_000, async () => {
      const state = (await partitionsAt(cluster.broker(id).port))[0]!;
      return state.leader === follower && state.isr.join() === String(follower) && state.leaderEpoch > offline.leaderEpoch;
    });
  }
});

test("one broker alone: a PREFERRED election is never needed; v0 (preferred only) answers the same", async () => {
  await using cluster = await startCluster({ brokers: 1 });
  await createTopic(cluster.bootstrapServers, TOPIC, { partitions: 1, replicationFactor: 1 });
  const port = cluster.broker(1).port;
  const v2 = await electLeaders(port, PREFERRED, [{ topic: TOPIC, partitions: [0] }]);
  expect(Object.fromEntries(v2.results)).toEqual({ [`${TOPIC}-0`]: ErrorCode.ELECTION_NOT_NEEDED });
  const v0 = await electLeaders(port, PREFERRED, [{ topic: TOPIC, partitions: [0] }], 0);
  expect(Object.fromEntries(v0.results)).toEqual({ [`${TOPIC}-0`]: ErrorCode.ELECTION_NOT_NEEDED });
  expect((await electLeaders(port, PREFERRED, null)).results.size).toBe(0);
});
