// What share partitions use of the broker: topics, the leader's reads and appends, long-poll watchers and the
// clock. server/broker.ts wires these in; share/ never sees the broker itself.
import type { ReplicaManager } from "../cluster/replica-manager.ts";
import type { SegmentViews } from "../log/segment-views.ts";
import type { TopicManager } from "../metadata/topic-manager.ts";
import type { BrokerInfo } from "../metadata/types.ts";
import type { PartitionWorkers } from "../partition/partition-workers.ts";

export interface ShareServices {
  readonly topics: Pick<TopicManager, "get" | "getById" | "runtime" | "createTopic">;
  readonly replication: Pick<ReplicaManager, "checkLeader" | "checkFetchAllowed" | "readLimit" | "checkProduceAllowed" | "afterLeaderAppend">;
  readonly partitions: Pick<PartitionWorkers, "produce" | "offsets" | "read" | "producerTransaction">;
  readonly fetchViews: Pick<SegmentViews, "records">;
  readonly watchers: {
    version(partitions: ReadonlyArray<{ topic: string; partition: number }>): number;
    watch(partitions: ReadonlyArray<{ topic: string; partition: number }>, wake: () => void): () => void;
  };
  readonly cluster: { brokers(): BrokerInfo[] };
  nowMs(): number;
  log(message: string): void;
}
