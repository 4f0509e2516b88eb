// Four acks=all produce loops at once, each on its own partition of one 3-broker cluster with one partition
// worker per broker: every produce is acknowledged and every high watermark reaches its log end. A leader's
// view of a partition's log end offset once went back to an older value (a stale offsets result applied
// after a newer one), its followers then long-polled below the real end and the produce timed out.
import { expect, test } from "bun:test";
import { KafkaConnection } from "../../src/client/kafka-connection.ts";
import { ErrorCode } from "../../src/protocol/errors.ts";
import { ApiKey } from "../../src/protocol/generated/index.ts";
import { buildBatch } from "../../src/records/compression.ts";
import { createTopic, startCluster, type EmbeddedCluster } from "../../src/testing/index.ts";
import { partitionView, waitUntil } from "../faults/partition-state.ts";

const ROUNDS = 60;
const RECORDS_PER_BATCH = 100;
const PRODUCE_TIMEOUT_MS = 15_000;

async function produceLoop(cluster: EmbeddedCluster, topic: string, partition: number): Promise<{ failures: string[] }> {
  const { leader } = await partitionView(cluster.bootstrapServers, topic, partition);
  const connection = await KafkaConnection.connect({ host: "127.0.0.1", port: cluster.broker(leader).port, requestTimeoutMs: PRODUCE_TIMEOUT_MS + 15_000 });
  const failures: string[] = [];
  try {
    for (let round = 0; round < ROUNDS; round++) {
      const records = buildBatch({ records: Array.from({ length: RECORDS_PER_BATCH }, (_, index) => ({ value: `${topic}-${partition}-${round}-${index}` })) });
      const response = await connection.request(ApiKey.Produce, 9, { transactionalId: null, acks: -1, timeoutMs: PRODUCE_TIMEOUT_MS, topicData: [{ name: topic, partitionData: [{ index: partition, records }] }] });
      const result = response.responses[0].partitionResponses[0];
      if (result.errorCode !== ErrorCode.NONE) {
        failures.push(`${topic}-${partition} round ${round}: error ${result.errorCode}`);
        break;
      }
    }
  } finally {
    connection.close();
  }
  return { failures };
}

/** The leader's answer to ListOffsets latest (the high watermark for a consumer). */
async function highWatermark(cluster: EmbeddedCluster, topic: string, partition: number): Promise<number> {
  const { leader } = await partitionView(cluster.bootstrapServers, topic, partition);
  const connection = await KafkaConnection.connect({ host: "127.0.0.1", port: cluster.broker(leader).port });
  try {
    const response = await connection.request(ApiKey.ListOffsets, 5, { replicaId: -1, isolationLevel: 0, topics: [{ name: topic, partitions: [{ partitionIndex: partition, timestamp: -1 }] }] });
    return response.topics[0].partitions[0].offset;
  } finally {
    connection.close();
  }
}

test("four concurrent acks=all produce loops on partitions of one worker: every produce is acknowledged, every high watermark reaches the log end", async () => {
  await using cluster = await startCluster({ brokers: 3, properties: { "num.partition.workers": "1" } });
  const configs = { "min.insync.replicas": "2" };
  await createTopic(cluster.bootstrapServers, "t", { partitions: 1, replicationFactor: 3, configs });
  await createTopic(cluster.bootstrapServers, "u", { partitions: 3, replicationFactor: 3, configs });
  const partitions = [
    { topic: "t", partition: 0 },
    { topic: "u", partition: 0 },
    { topic: "u", partition: 1 },
    { topic: "u", partition: 2 },
  ];
  for (const { topic, partition } of partitions) {
    await waitUntil(`${topic}-${partition} fully in sync, its leader leading`, 30_000, async () => {
      const view = await partitionView(cluster.bootstrapServers, topic, partition);
      return view.isr.length === 3 && cluster.broker(view.leader).replicas.role(topic, partition) === "leader";
    });
  }

  const outcomes = await Promise.all(partitions.map(({ topic, partition }) => produceLoop(cluster, topic, partition)));
  expect(outcomes.flatMap((outcome) => outcome.failures)).toEqual([]);

  const expectedEnd = ROUNDS * RECORDS_PER_BATCH;
  for (const { topic, partition } of partitions) {
    await waitUntil(`${topic}-${partition}'s high watermark at ${expectedEnd}`, 15_000, async () => (await highWatermark(cluster, topic, partition)) === expectedEnd);
    const leader = cluster.broker((await partitionView(cluster.bootstrapServers, topic, partition)).leader);
    const runtime = leader.topics.runtime(topic, partition)!;
    expect({ logEndOffset: runtime.logEndOffset, highWatermark: runtime.highWatermark }).toEqual({ logEndOffset: expectedEnd, highWatermark: expectedEnd });
  }
}, 180_000);
