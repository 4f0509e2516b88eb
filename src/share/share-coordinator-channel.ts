// A partition leader's requests to the share coordinator on another broker (Kafka's persister path): ReadShareGroupState
// and WriteShareGroupState v0 over the inter-broker listener, one cached connection per broker. A failed
// connection is dropped and answered COORDINATOR_NOT_AVAILABLE, so the caller's client retries and the next
// request looks the coordinator up again (leadership of __share_group_state may have moved).
import { KafkaConnection } from "../client/kafka-connection.ts";
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
  private readonly connections = new Map<number, KafkaConnection>();

  constructor(private readonly deps: ShareCoordinatorChannelDeps) {}

  /** Sends one request to broker `nodeId`; throws when it cannot be reached (the connection is dropped). */
  async request<T>(nodeId: number, apiKey: number, apiVersion: number, body: object): Promise<T> {
    try {
      const connection = await this.connect(nodeId);
      return await connection.request<T>(apiKey, apiVersion, body);
    } catch (error) {
      this.connections.get(nodeId)?.close();
      this.connections.delete(nodeId);
      throw error;
    }
  }

  private async connect(nodeId: number): Promise<KafkaConnection> {
    const open = this.connections.get(nodeId);
    if (open && !open.closed) return open;
    const broker = this.deps.brokers().find((info) => info.nodeId === nodeId);
    if (!broker) throw new Error(`broker ${nodeId} is not alive`);
    const connection = await KafkaConnection.connect({
      host: broker.host,
      port: broker.port,
      clientId: `bunka-share-persister-${this.deps.nodeId}`,
      requestTimeoutMs: REQUEST_TIMEOUT_MS,
      connectTimeoutMs: CONNECT_TIMEOUT_MS,
      ...this.deps.security,
    });
    this.connections.set(nodeId, connection);
    return connection;
  }

  close(): void {
    for (const connection of this.connections.values()) connection.close();
    this.connections.clear();
  }
}
