// What the fault tests read back from a cluster: one partition's leader, epoch and ISR as a broker's Metadata
// shows them, and a bounded wait for a condition.
import { KafkaConnection } from "../../src/client/kafka-connection.ts";
import { ApiKey } from "../../src/protocol/generated/index.ts";

export interface PartitionView {
  leader: number;
  leaderEpoch: number;
  isr: number[];
  errorCode: number;
}

export async function partitionView(address: string, topic: string, partition = 0): Promise<PartitionView> {
  const [host, port] = address.split(",")[0]!.split(":");
  const connection = await KafkaConnection.connect({ host: host!, port: Number(port) });
  try {
    const response = await connection.request(ApiKey.Metadata, 9, { topics: [{ name: topic }], allowAutoTopicCreation: false });
    const found = response.topics[0].partitions.find((entry: { partitionIndex: number }) => entry.partitionIndex === partition);
    return { leader: found.leaderId, leaderEpoch: found.leaderEpoch, isr: [...found.isrNodes].sort(), errorCode: found.errorCode };
  } finally {
    connection.close();
  }
}

export async function waitUntil(what: string, timeoutMs: number, condition: () => Promise<boolean>): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  while (!(await condition().catch(() => false))) {
    if (performance.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await Bun.sleep(25);
  }
}
