// High watermarks of partitions this broker does not replicate, for consumer group lag in /metrics: a
// partition's high watermark lives on its leader only, and a follower's copy (updated on every fetch) is
// used whenever this broker has one. For the rest, one ListOffsets (latest, read_uncommitted: the leader
// answers its high watermark) per leader broker per scrape, over the inter-broker listener with its
// security, one connection per broker kept open between scrapes. Asked only at scrape time, bounded by the
// partitions the caller passes (metrics.max.partitions) and by a deadline, so a slow or dead leader leaves
// its partitions out of that scrape instead of holding it.
import { KafkaConnection } from "../client/kafka-connection.ts";
import { ApiKey } from "../protocol/generated/index.ts";
import type { ListOffsetsResponse } from "../protocol/generated/list-offsets.ts";
import type { BrokerInfo } from "../metadata/types.ts";
import type { InterBrokerClientSecurity } from "../security/inter-broker.ts";

const LATEST_TIMESTAMP = -1;
const READ_UNCOMMITTED = 0;
/** ListOffsets v5 is the newest Bunka answers; v1+ is enough for one offset per partition. */
const LIST_OFFSETS_VERSION = 5;

export interface RemotePartition {
  topic: string;
  partition: number;
  leader: number;
}

export class LeaderHighWatermarks {
  private readonly connections = new Map<number, KafkaConnection>();
  private stopped = false;

  constructor(
    private readonly deps: {
      nodeId: number;
      liveBrokers: () => BrokerInfo[];
      security: InterBrokerClientSecurity;
    },
  ) {}

  /** `topic\0partition` -> the leader's high watermark, for the partitions whose leader answered by the deadline. */
  async fetch(partitions: readonly RemotePartition[], timeoutMs: number): Promise<Map<string, number>> {
    const found = new Map<string, number>();
    const byLeader = new Map<number, Map<string, number[]>>();
    for (const { topic, partition, leader } of partitions) {
      if (leader < 0 || leader === this.deps.nodeId) continue;
      let topics = byLeader.get(leader);
      if (!topics) byLeader.set(leader, (topics = new Map()));
      let indexes = topics.get(topic);
      if (!indexes) topics.set(topic, (indexes = []));
      indexes.push(partition);
    }
    const asks = [...byLeader].map(async ([leader, topics]) => {
      const connection = await this.connect(leader, timeoutMs);
      if (!connection) return;
      const response = await connection.request<ListOffsetsResponse>(ApiKey.ListOffsets, LIST_OFFSETS_VERSION, {
        replicaId: -1,
        isolationLevel: READ_UNCOMMITTED,
        topics: [...topics].map(([name, indexes]) => ({ name, partitions: indexes.map((partitionIndex) => ({ partitionIndex, currentLeaderEpoch: -1, timestamp: LATEST_TIMESTAMP, maxNumOffsets: 1 })) })),
        timeoutMs: 0,
      });
      for (const topic of response.topics) for (const answer of topic.partitions) if (answer.errorCode === 0 && answer.offset >= 0) found.set(`${topic.name}\u0000${answer.partitionIndex}`, answer.offset);
    });
    let timer: ReturnType<typeof setTimeout> | undefined;
    const deadline = new Promise<void>((resolve) => (timer = setTimeout(resolve, timeoutMs)));
    // A leader that fails or is late only loses its own partitions.
    await Promise.race([Promise.allSettled(asks), deadline]);
    clearTimeout(timer);
    return new Map(found);
  }

  private async connect(nodeId: number, timeoutMs: number): Promise<KafkaConnection | null> {
    const open = this.connections.get(nodeId);
    if (open && !open.closed) return open;
    const broker = this.deps.liveBrokers().find((info) => info.nodeId === nodeId);
    if (!broker || this.stopped) return null;
    const connection = await KafkaConnection.connect({ host: broker.host, port: broker.port, clientId: `bunka-metrics-${this.deps.nodeId}`, requestTimeoutMs: timeoutMs, connectTimeoutMs: timeoutMs, ...this.deps.security });
    if (this.stopped) {
      connection.close();
      return null;
    }
    this.connections.set(nodeId, connection);
    return connection;
  }

  stop(): void {
    this.stopped = true;
    for (const connection of this.connections.values()) connection.close();
    this.connections.clear();
  }
}
