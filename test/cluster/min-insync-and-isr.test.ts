// min.insync.replicas holds: with two of three brokers down, acks=all produces are refused with
// NOT_ENOUGH_REPLICAS and nothing is written, while acks=1 still works; when a broker returns, acks=all
// works again. A follower stopped with SIGSTOP leaves the ISR and returns to it once it has caught up.
import { afterAll, beforeAll, expect, test } from "bun:test";
import { KafkaConnection } from "../../src/client/kafka-connection.ts";
import { ErrorCode } from "../../src/protocol/errors.ts";
import { ApiKey } from "../../src/protocol/generated/index.ts";
import { buildBatch } from "../../src/records/compression.ts";
import { TestCluster } from "../helpers/cluster.ts";

let cluster: TestCluster;

beforeAll(async () => {
  cluster = new TestCluster(3);
  await cluster.start();
}, 60_000);

afterAll(async () => {
  await cluster.cleanup();
});

async function connectTo(nodeId: number): Promise<KafkaConnection> {
  return KafkaConnection.connect({ host: "127.0.0.1", port: cluster.broker(nodeId).port, requestTimeoutMs: 15_000 });
}

async function createTopic(name: string): Promise<void> {
  const connection = await connectTo(1);
  try {
    const response = await connection.request(ApiKey.CreateTopics, 7, {
      topics: [{ name, numPartitions: 1, replicationFactor: 3, configs: [{ name: "min.insync.replicas", value: "2" }] }],
      timeoutMs: 10_000,
    });
    expect(response.topics[0].errorCode).toBe(ErrorCode.NONE);
  } finally {
    connection.close();
  }
  // Every test sends to the leader it reads next: wait until each leader has taken its partition over.
  await cluster.leadersReady(name);
}

async function produce(nodeId: number, topic: string, acks: number, value: string) {
  const connection = await connectTo(nodeId);
  try {
    const response = await connection.request(ApiKey.Produce, 7, {
      acks,
      timeoutMs: 10_000,
      topicData: [{ name: topic, partitionData: [{ index: 0, records: buildBatch({ records: [{ value }] }) }] }],
    });
    return response.responses[0].partitionResponses[0];
  } finally {
    connection.close();
  }
}

async function logEndOffset(nodeId: number, topic: string): Promise<number> {
  const connection = await connectTo(nodeId);
  try {
    const response = await connection.request(ApiKey.ListOffsets, 5, { replicaId: -1, topics: [{ name: topic, partitions: [{ partitionIndex: 0, timestamp: -1 }] }] });
    return response.topics[0].partitions[0].offset;
  } finally {
    connection.close();
  }
}

test("with two of three brokers down acks=all is refused (NOT_ENOUGH_REPLICAS, nothing written), acks=1 works; a returning broker restores acks=all", async () => {
  const topic = "min-isr";
  await createTopic(topic);
  const initial = (await cluster.partitions(topic))[0]!;
  expect((await produce(initial.leader, topic, -1, "before")).errorCode).toBe(ErrorCode.NONE);

  const survivor = initial.leader;
  const stopped = [1, 2, 3].filter((id) => id !== survivor);
  for (const id of stopped) await cluster.broker(id).kill();
  const alone = await cluster.waitFor("the ISR to shrink to the survivor", async () => {
    const [partition] = await cluster.partitions(topic, stopped);
    return partition!.leader === survivor && partition!.isr.length === 1 ? partition : null;
  });
  expect(alone.isr).toEqual([survivor]);

  const endBefore = await logEndOffset(survivor, topic);
  const refused = await produce(survivor, topic, -1, "must-not-be-written");
  expect(refused.errorCode).toBe(ErrorCode.NOT_ENOUGH_REPLICAS);
  expect(await logEndOffset(survivor, topic)).toBe(endBefore);

  const weak = await produce(survivor, topic, 1, "acks-1");
  expect(weak.errorCode).toBe(ErrorCode.NONE);
  expect(weak.baseOffset).toBe(endBefore);

  await cluster.broker(stopped[0]!).start();
  await cluster.waitFor("a second in-sync replica", async () => {
    const [partition] = await cluster.partitions(topic, [stopped[1]!]);
    return partition!.isr.length >= 2 ? partition : null;
  });
  const restored = await produce(survivor, topic, -1, "after");
  expect(restored.errorCode).toBe(ErrorCode.NONE);
  expect(restored.baseOffset).toBe(endBefore + 1);

  await cluster.broker(stopped[1]!).start();
  await cluster.waitFor("all three in sync", async () => ((await cluster.partitions(topic))[0]!.isr.length === 3 ? true : null));
}, 120_000);

test("a follower stopped with SIGSTOP leaves the ISR, and rejoins after SIGCONT once it has caught up", async () => {
  const topic = "isolated";
  await createTopic(topic);
  const [initial] = await cluster.partitions(topic);
  const follower = initial!.replicas.find((id) => id !== initial!.leader)!;
  await cluster.leadersReady(topic);
  cluster.broker(follower).signal("SIGSTOP");
  try {
    // acks=all waits for the stopped follower until the leader drops it (replica.lag.time.max.ms), then succeeds.
    const writes = await Promise.all(Array.from({ length: 5 }, (_, i) => produce(initial!.leader, topic, -1, `while-stopped-${i}`)));
    for (const write of writes) expect(write.errorCode).toBe(ErrorCode.NONE);
    const shrunk = await cluster.waitFor("the stopped follower to leave the ISR", async () => {
      const [partition] = await cluster.partitions(topic, [follower]);
      return partition!.isr.includes(follower) ? null : partition;
    });
    expect(shrunk.isr.length).toBe(2);
  } finally {
    cluster.broker(follower).signal("SIGCONT");
  }
  const expected = await logEndOffset(initial!.leader, topic);
  expect(expected).toBe(5);
  const rejoined = await cluster.waitFor("the follower back in the ISR", async () => {
    const [partition] = await cluster.partitions(topic);
    return partition!.isr.includes(follower) ? partition : null;
  });
  expect(rejoined.isr).toEqual([1, 2, 3]);
}, 120_000);

test("a produce or fetch sent to a broker that does not lead the partition gets NOT_LEADER_OR_FOLLOWER", async () => {
  const topic = "wrong-broker";
  await createTopic(topic);
  await cluster.waitForMembership();
  const [partition] = await cluster.partitions(topic);
  const follower = partition!.replicas.find((id) => id !== partition!.leader)!;
  expect((await produce(follower, topic, 1, "misdirected")).errorCode).toBe(ErrorCode.NOT_LEADER_OR_FOLLOWER);
  const connection = await connectTo(follower);
  try {
    const fetched = await connection.request(ApiKey.Fetch, 11, {
      replicaId: -1,
      maxWaitMs: 0,
      minBytes: 0,
      maxBytes: 1 << 20,
      topics: [{ topic, partitions: [{ partition: 0, fetchOffset: 0, partitionMaxBytes: 1 << 20 }] }],
    });
    expect(fetched.responses[0].partitions[0].errorCode).toBe(ErrorCode.NOT_LEADER_OR_FOLLOWER);
  } finally {
    connection.close();
  }
  expect((await produce(partition!.leader, topic, 1, "to-the-leader")).errorCode).toBe(ErrorCode.NONE);
}, 60_000);
