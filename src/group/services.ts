// What the group coordinator uses of the rest of the broker, and nothing more: topics, leadership checks and
// commit waits, the partition workers that read and write __consumer_offsets, and who the brokers are.
// server/broker.ts wires these in; group/ never sees the broker itself.
import type { ReplicaManager } from "../cluster/replica-manager.ts";
import type { SegmentViews } from "../log/segment-views.ts";
import type { TopicManager } from "../metadata/topic-manager.ts";
import type { BrokerInfo } from "../metadata/types.ts";
import type { PartitionWorkers } from "../partition/partition-workers.ts";
import type { GroupBrokerSettings } from "./coordinator-config.ts";

export interface GroupCoordinatorServices {
  /** The offsets.* and group.* settings, and this broker's node id. */
  readonly config: GroupBrokerSettings;
  readonly topics: Pick<TopicManager, "get" | "getById" | "list" | "createTopic">;
  readonly replication: Pick<ReplicaManager, "checkLeader" | "checkProduceAllowed" | "afterLeaderAppend">;
  readonly partitions: Pick<PartitionWorkers, "produce" | "offsets" | "read" | "producerTransaction">;
  /** Loading a partition maps the slices a read returns, as fetch does. */
  readonly fetchViews: Pick<SegmentViews, "records">;
  readonly cluster: {
    /** Single node: this broker coordinates every group, before __consumer_offsets exists too. */
    readonly singleNode: boolean;
    self(): BrokerInfo;
    brokers(): BrokerInfo[];
  };
  log(message: string): void;
}
