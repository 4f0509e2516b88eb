// A partition leader's requests to the share coordinator on another broker (Kafka's persister path): ReadShareGroupState
// and WriteShareGroupState v0 over the inter-broker listener, one cached connection per broker. A failed
// connection is dropped and answered COORDINATOR_NOT_AVAILABLE, so the caller's client retries and the next
// request looks the coordinator up again (leadership of __share_group_state may have moved).
import { BrokerConnections } from "../client/broker-connections.ts";
import type { BrokerInfo } from "../metadata/types.ts";
import type { InterBrokerClientSecurity } from "../security/inter-broker.ts";

const REQUEST_TIMEOUT_MS = 30_000;
const CONNECT_TIMEOUT_MS = 5000;

export interface ShareCoordinatorChannelDeps {
  nodeId: number;
  brokers(): BrokerInfo[];
  security: InterBrokerClientSecurity;
}

export class ShareCoordinatorChannel {
  private readonly connections: BrokerConnections;

  constructor(deps: ShareCoordinatorChannelDeps) {
    this.connections = new BrokerConnections({
      nodeId: deps.nodeId,
      clientIdPrefix: "bunka-share-persister",
      brokers: () => deps.brokers(),
      security: deps.security,
      requestTimeoutMs: REQUEST_TIMEOUT_MS,
      connectTimeoutMs: CONNECT_TIMEOUT_MS,
    });
  }

  /** Sends one request to broker `nodeId`; throws when it cannot be reached (the connection is dropped). */
  request<T>(nodeId: number, apiKey: number, apiVersion: number, body: object): Promise<T> {
    return this.connections.request<T>(nodeId, apiKey, apiVersion, body);
  }

  close(): void {
    this.connections.close();
  }
}
