// One cached connection per peer broker, over the inter-broker listener, for the requests a broker makes of
// its peers itself (transaction markers and KIP-890 verification, the share-group state persister). A
// connection that failed is dropped, so the next request dials again: the peer may have restarted or moved.
import type { BrokerInfo } from "../metadata/types.ts";
import type { InterBrokerClientSecurity } from "../security/inter-broker.ts";
import { KafkaConnection } from "./kafka-connection.ts";

export interface BrokerConnectionsOptions {
  /** This broker's id, in the client id the peers see. */
  nodeId: number;
  /** What the connections are for, e.g. `bunka-txn-markers`; the node id is appended. */
  clientIdPrefix: string;
  brokers(): BrokerInfo[];
  security: InterBrokerClientSecurity;
  requestTimeoutMs: number;
  connectTimeoutMs: number;
}

export class BrokerConnections {
  private readonly connections = new Map<number, KafkaConnection>();

  constructor(private readonly options: BrokerConnectionsOptions) {}

  /** Sends one request to broker `nodeId`; on any failure the connection is dropped and the error rethrown. */
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
    const broker = this.options.brokers().find((info) => info.nodeId === nodeId);
    if (!broker) throw new Error(`broker ${nodeId} is not alive`);
    const connection = await KafkaConnection.connect({
      host: broker.host,
      port: broker.port,
      clientId: `${this.options.clientIdPrefix}-${this.options.nodeId}`,
      requestTimeoutMs: this.options.requestTimeoutMs,
      connectTimeoutMs: this.options.connectTimeoutMs,
      ...this.options.security,
    });
    this.connections.set(nodeId, connection);
    return connection;
  }

  close(): void {
    for (const connection of this.connections.values()) connection.close();
    this.connections.clear();
  }
}
