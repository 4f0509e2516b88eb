// How a broker takes part in a cluster: where metadata lives, who the other brokers are, and what happens
// at start and stop. Implemented by SingleNodeCluster (a file, no peers) and EtcdCluster (etcd, replication).
import type { TopicManager } from "../metadata/topic-manager.ts";
import type { ClusterView, MetadataStore } from "../metadata/types.ts";
import type { ReplicaManager } from "./replica-manager.ts";
import type { ControllerStats } from "./controller.ts";
import type { LeaderHighWatermarks } from "./leader-high-watermarks.ts";

export interface MembershipContext {
  topics: TopicManager;
  replicas: ReplicaManager;
  /** True after an unclean shutdown: logs opened at start are recovered. */
  recover: boolean;
  /** The cut-replication test fault (src/faults/), checked by the replica fetchers only while armed. */
  faults?: ReplicationFaults;
}

export interface ReplicationFaults {
  readonly armed: boolean;
  /** Replication between this broker and `peer` is cut. */
  replicationCut(peer: number): boolean;
}

export interface ClusterMembership {
  readonly view: ClusterView;
  readonly store: MetadataStore;
  /** Cluster mode: what this broker did as controller. */
  readonly controllerStats?: ControllerStats;
  /** Cluster mode: high watermarks asked from other leaders (group lag in /metrics). */
  readonly leaderHighWatermarks?: Pick<LeaderHighWatermarks, "fetch">;
  /** Joins the cluster and loads its metadata, opening the logs of local replicas. */
  start(context: MembershipContext): Promise<void>;
  /** Moves leadership away from this broker before it stops (bounded). */
  controlledShutdown(): Promise<void>;
  /** Leaves the cluster: stops fetchers and timers, deregisters. */
  stop(): Promise<void>;
}
