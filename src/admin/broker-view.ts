// What the admin listener reads and does: parts of the broker, named here so that src/admin/ never imports
// the broker itself (server/broker.ts builds this view once). The JSON API and HTTP produce/consume use the
// same capabilities the Kafka handlers get (api/context.ts), not a Kafka client talking to itself.
import type { BrokerServices } from "../api/context.ts";
import type { BrokerConfig } from "../config/broker-config.ts";
import type { GroupCoordinator } from "../group/group-coordinator.ts";
import type { TopicManager } from "../metadata/topic-manager.ts";
import type { PartitionWorkers } from "../partition/partition-workers.ts";
import type { ScramCredentialStore } from "../security/credentials.ts";
import type { BrokerTraffic } from "./traffic-counters.ts";
import type { FaultInjector } from "../faults/fault-injector.ts";
import type { ControllerStats } from "../cluster/controller.ts";
import type { RemotePartition } from "../cluster/leader-high-watermarks.ts";

export interface BoundListener {
  name: string;
  securityProtocol: string;
  host: string;
  port: number;
}

/** One network shard's figures (server/shards/network-shards.ts). */
export interface NetworkShardFigures {
  readonly shard: number;
  readonly alive: boolean;
  readonly connections: number;
  readonly connectionsAccepted: number;
  readonly requests: number;
  /** Of those, produce and fetch requests a listening partition worker answered itself (partition.workers.listen). */
  readonly localRequests: number;
  /** localRequests split: the produces and the consumer fetches. */
  readonly localProduces: number;
  readonly localFetches: number;
}

export interface AdminBrokerView {
  readonly config: BrokerConfig;
  readonly services: BrokerServices;
  readonly topics: TopicManager;
  readonly workers: Pick<PartitionWorkers, "logMetrics" | "fsyncLatency" | "stats">;
  readonly groups: GroupCoordinator;
  readonly traffic: BrokerTraffic;
  /** True in single-node mode; false when brokers coordinate through etcd. */
  readonly singleNode: boolean;
  /** Logs loaded, listeners up, registered in the cluster: the broker serves requests. */
  isReady(): boolean;
  listeners(): BoundListener[];
  /** Open Kafka connections by listener name. */
  connectionsByListener(): Map<string, number>;
  /**
   * Applies what other threads reported and the main thread has not applied yet (listening partition workers'
   * appends and fetches): called before every admin request, so what it reads is as current as a Kafka request's view.
   */
  catchUp(): void;
  /** Per network shard (num.network.shards; 0 is the main thread): open connections and requests handed over. */
  networkShards(): NetworkShardFigures[];
  /** Bytes the produce buffer pool holds (free and in use). */
  pooledBufferBytes(): number;
  /** ISR changes of partitions this broker leads, since it started. */
  isrChanges(): { readonly shrinks: number; readonly expands: number };
  /** Cluster mode: elections and controller terms of this broker; null in single-node mode. */
  controllerStats(): ControllerStats | null;
  /** Cluster mode: asks other leaders their high watermarks (group lag); null in single-node mode. */
  readonly leaderHighWatermarks: { fetch(partitions: readonly RemotePartition[], timeoutMs: number): Promise<Map<string, number>> } | null;
  /** Security is on: an authorizer, or a SASL listener. The admin listener then requires a login. */
  readonly securityEnabled: boolean;
  /** PLAIN users of every SASL listener (user -> password), for HTTP Basic. */
  readonly plainUsers: ReadonlyMap<string, string>;
  readonly scramCredentials: ScramCredentialStore;
  /** Scriptable faults (faults.enable), for /api/v1/faults. */
  readonly faults: FaultInjector;
  log(message: string): void;
}
