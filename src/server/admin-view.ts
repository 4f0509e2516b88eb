// The admin listener's view of a broker (admin/broker-view.ts): built here so that src/admin/ never imports
// the broker class.
import type { AdminBrokerView } from "../admin/broker-view.ts";
import { SingleNodeCluster } from "../cluster/single-node.ts";
import { producePool } from "../partition/buffer-pool.ts";
import type { ClusterMembership } from "../cluster/membership.ts";
import type { SaslAuthenticator } from "../security/sasl/authenticator.ts";
import type { ReplicaManager } from "../cluster/replica-manager.ts";

/** The parts of server/broker.ts's Broker the view reads (named here: importing the class would be a cycle). */
export interface AdminViewSource extends Pick<AdminBrokerView, "config" | "services" | "topics" | "workers" | "groups" | "traffic" | "scramCredentials" | "faults" | "log"> {
  readonly membership: ClusterMembership;
  readonly replicas: Pick<ReplicaManager, "isrChanges">;
  readonly sasl: SaslAuthenticator | null;
  readonly serving: boolean;
  readonly isStopping: boolean;
  boundListeners(): ReturnType<AdminBrokerView["listeners"]>;
  connectionsByListener(): Map<string, number>;
  networkShardStats(): ReturnType<AdminBrokerView["networkShards"]>;
  catchUp(): void;
}

export function adminBrokerView(broker: AdminViewSource): AdminBrokerView {
  const plainUsers = new Map<string, string>();
  for (const listener of broker.sasl?.settings.listeners.values() ?? []) for (const [user, password] of listener.plainUsers) plainUsers.set(user, password);
  return {
    config: broker.config,
    services: broker.services,
    topics: broker.topics,
    workers: broker.workers,
    groups: broker.groups,
    traffic: broker.traffic,
    singleNode: broker.membership instanceof SingleNodeCluster,
    isReady: () => broker.serving && !broker.isStopping,
    listeners: () => broker.boundListeners(),
    connectionsByListener: () => broker.connectionsByListener(),
    catchUp: () => broker.catchUp(),
    networkShards: () => broker.networkShardStats(),
    pooledBufferBytes: () => producePool.pooledBytes,
    isrChanges: () => broker.replicas.isrChanges,
    controllerStats: () => broker.membership.controllerStats ?? null,
    leaderHighWatermarks: broker.membership.leaderHighWatermarks ?? null,
    securityEnabled: broker.config.authorizerClassName !== "" || broker.sasl !== null,
    plainUsers,
    scramCredentials: broker.scramCredentials,
    faults: broker.faults,
    log: broker.log,
  };
}
