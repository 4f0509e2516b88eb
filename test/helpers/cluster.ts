// A real cluster for tests: one etcd process and N broker processes (`bun src/main.ts --etcd ...`) on
// loopback, with short session and lag timeouts so that failures are noticed within seconds.
import { KafkaConnection, type KafkaConnectionSasl, type KafkaConnectionTls } from "../../src/client/kafka-connection.ts";
import { ApiKey } from "../../src/protocol/generated/index.ts";
import { BrokerProcess } from "./broker-process.ts";
import { EtcdProcess, type EtcdProcessOptions } from "./etcd-process.ts";

export const CLUSTER_TEST_PROPERTIES: Record<string, string> = {
  "broker.session.timeout.ms": "3000",
  "replica.lag.time.max.ms": "2000",
  "num.partition.workers": "1",
  "group.initial.rebalance.delay.ms": "0",
  "offsets.topic.num.partitions": "3",
  "offsets.topic.replication.factor": "3",
  "controlled.shutdown.timeout.ms": "10000",
};

export interface PartitionView {
  leader: number;
  leaderEpoch: number;
  replicas: number[];
  isr: number[];
  errorCode: number;
}

export interface TestClusterOptions {
  /** How the cluster's etcd runs (TLS, auth token TTL). */
  etcd?: EtcdProcessOptions;
  /** Runs once etcd is up, before any broker starts (e.g. etcd.enableAuth). */
  beforeBrokers?: (etcd: EtcdProcess) => Promise<void>;
  /** How the helper's own connections (membership, metadata) reach the brokers' first listener when it is TLS and/or SASL. */
  client?: { tls?: KafkaConnectionTls; sasl?: KafkaConnectionSasl };
}

export class TestCluster {
  readonly etcd: EtcdProcess;
  readonly brokers = new Map<number, BrokerProcess>();

  constructor(
    readonly size: number,
    private readonly properties: Record<string, string> = {},
    private readonly options: TestClusterOptions = {},
  ) {
    this.etcd = new EtcdProcess(options.etcd);
  }

  async start(): Promise<void> {
    await this.etcd.start();
    await this.options.beforeBrokers?.(this.etcd);
    for (let nodeId = 1; nodeId <= this.size; nodeId++) {
      const broker = new BrokerProcess({ nodeId, properties: { ...CLUSTER_TEST_PROPERTIES, ...this.properties }, extraArgs: ["--etcd", this.etcd.endpoint] });
      this.brokers.set(nodeId, broker);
    }
    await Promise.all([...this.brokers.values()].map((broker) => broker.start()));
    await this.waitForMembership();
  }

  /**
   * Until every live broker's metadata lists every live broker and names a live controller (registrations and
   * the controller election propagate through etcd watches; kafkajs' admin fails at once on controller -1).
   */
  async waitForMembership(timeoutMs = 30_000): Promise<void> {
    const live = [...this.brokers].filter(([, broker]) => broker.pid).map(([nodeId]) => nodeId);
    await this.waitFor(`every broker to see brokers [${live}] and a controller`, async () => {
      for (const nodeId of live) {
        const connection = await this.connect(this.broker(nodeId).port);
        try {
          const response = await connection.request(ApiKey.Metadata, 9, { topics: [] });
          const seen = response.brokers.map((broker: { nodeId: number }) => broker.nodeId).sort((a: number, b: number) => a - b);
          if (seen.join() !== live.join() || !live.includes(response.controllerId)) return false;
        } finally {
          connection.close();
        }
      }
      return true;
    }, timeoutMs);
  }

  /** Starts one more broker (the cluster grows). */
  async addBroker(nodeId: number): Promise<BrokerProcess> {
    const broker = new BrokerProcess({ nodeId, properties: { ...CLUSTER_TEST_PROPERTIES, ...this.properties }, extraArgs: ["--etcd", this.etcd.endpoint] });
    this.brokers.set(nodeId, broker);
    await broker.start();
    await this.waitForMembership();
    return broker;
  }

  /** A short-lived helper connection to one broker, with the cluster's client security. */
  private connect(port: number): Promise<KafkaConnection> {
    const client = this.options.client ?? {};
    return KafkaConnection.connect({ host: "127.0.0.1", port, requestTimeoutMs: 5000, connectTimeoutMs: 2000, ...(client.tls ? { tls: client.tls } : {}), ...(client.sasl ? { sasl: client.sasl } : {}) });
  }

  broker(nodeId: number): BrokerProcess {
    const broker = this.brokers.get(nodeId);
    if (!broker) throw new Error(`no broker ${nodeId}`);
    return broker;
  }

  /** Bootstrap list of every broker (clients skip the dead ones). */
  get bootstrap(): string[] {
    return [...this.brokers.values()].map((broker) => broker.bootstrap);
  }

  /** Metadata of one topic as seen by a live broker (tries them in order). */
  async partitions(topic: string, excluding: number[] = []): Promise<PartitionView[]> {
    let lastError: unknown;
    for (const [nodeId, broker] of this.brokers) {
      if (excluding.includes(nodeId) || !broker.pid) continue;
      let connection: KafkaConnection | null = null;
      try {
        connection = await this.connect(broker.port);
        const response = await connection.request(ApiKey.Metadata, 9, { topics: [{ name: topic }], allowAutoTopicCreation: false });
        const found = response.topics[0];
        if (!found || found.errorCode !== 0) throw new Error(`metadata for ${topic}: error ${found?.errorCode}`);
        return found.partitions
          .sort((a: { partitionIndex: number }, b: { partitionIndex: number }) => a.partitionIndex - b.partitionIndex)
          .map((p: { leaderId: number; leaderEpoch: number; replicaNodes: number[]; isrNodes: number[]; errorCode: number }) => ({
            leader: p.leaderId,
            leaderEpoch: p.leaderEpoch,
            replicas: p.replicaNodes,
            isr: [...p.isrNodes].sort((a, b) => a - b),
            errorCode: p.errorCode,
          }));
      } catch (error) {
        lastError = error;
      } finally {
        connection?.close();
      }
    }
    throw new Error(`no live broker answered metadata for ${topic}: ${String(lastError)}`);
  }

  /** Polls (bounded) until `check` returns a value; throws with `what` on timeout. */
  /**
   * Waits until every partition's leader itself says it leads with all replicas in sync. Metadata from one
   * broker may name a leader a moment before that leader hears of it through its own etcd watch (until then it
   * answers NOT_LEADER_OR_FOLLOWER, and a real client would retry); a test that sends to the leader at once waits here.
   */
  async leadersReady(topic: string): Promise<void> {
    const partitions = await this.waitFor(`metadata for ${topic}`, async () => {
      const found = await this.partitions(topic);
      return found.every((partition) => partition.leader >= 0) ? found : null;
    });
    for (const [index, partition] of partitions.entries()) {
      await this.waitFor(`broker ${partition.leader} to know it leads ${topic}-${index}`, async () => {
        const connection = await this.connect(this.broker(partition.leader).port);
        try {
          const response = await connection.request(ApiKey.Metadata, 9, { topics: [{ name: topic }], allowAutoTopicCreation: false });
          const seen = response.topics[0]?.partitions.find((each: { partitionIndex: number }) => each.partitionIndex === index);
          if (seen?.leaderId !== partition.leader || seen.isrNodes.length !== partition.replicas.length) return null;
          // Metadata comes from the etcd mirror; the replica manager takes the partition over a moment later.
          // ListOffsets is answered by the replica manager, so NONE here means produce will find a leader too.
          const offsets = await connection.request(ApiKey.ListOffsets, 1, {
            replicaId: -1,
            topics: [{ name: topic, partitions: [{ partitionIndex: index, timestamp: -1 }] }],
          });
          return offsets.topics[0]?.partitions[0]?.errorCode === 0 ? true : null;
        } finally {
          connection.close();
        }
      });
    }
  }

  async waitFor<T>(what: string, check: () => Promise<T | null | undefined | false>, timeoutMs = 30_000, pollMs = 100): Promise<T> {
    const deadline = Date.now() + timeoutMs;
    let lastError: unknown = null;
    while (Date.now() < deadline) {
      try {
        const value = await check();
        if (value) return value;
      } catch (error) {
        lastError = error;
      }
      await Bun.sleep(pollMs);
    }
    throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${lastError ? `: ${String(lastError)}` : ""}`);
  }

  async cleanup(): Promise<void> {
    await Promise.all([...this.brokers.values()].map((broker) => broker.cleanup()));
    await this.etcd.cleanup();
  }
}
