// Cluster mode on etcd: written once the etcd client lands.
import type { BrokerConfig } from "../config/broker-config.ts";
import type { BrokerInfo } from "../metadata/types.ts";
import type { PartitionWorkers } from "../partition/partition-workers.ts";
import type { ClusterMembership } from "./membership.ts";

export async function createEtcdMembership(_config: BrokerConfig, _workers: PartitionWorkers, _log: (message: string) => void, _self: () => BrokerInfo): Promise<ClusterMembership> {
  throw new Error("cluster mode is not available yet");
}
