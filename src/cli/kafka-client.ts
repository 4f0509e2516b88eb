// The CLI's view of a Kafka cluster over the Kafka protocol: a bootstrap connection, metadata, one connection
// per broker, the controller. Standard APIs at versions every Kafka since 2.4 answers, so the CLI works
// against any Kafka-API broker, not only Bunka.
import { KafkaConnection, type KafkaConnectionOptions } from "../client/kafka-connection.ts";
import { ErrorCode, errorName } from "../protocol/errors.ts";
import { ApiKey } from "../protocol/generated/index.ts";
import { CliError } from "./output.ts";

const METADATA_VERSION = 7;

export interface BrokerAddress {
  nodeId: number;
  host: string;
  port: number;
  rack: string | null;
}

export interface PartitionMetadata {
  partition: number;
  errorCode: number;
  leader: number;
  leaderEpoch: number;
  replicas: number[];
  isr: number[];
  offline: number[];
}

export interface TopicMetadata {
  name: string;
  errorCode: number;
  internal: boolean;
  partitions: PartitionMetadata[];
}

export interface ClusterMetadata {
  clusterId: string | null;
  controllerId: number;
  brokers: BrokerAddress[];
  topics: TopicMetadata[];
}

export interface ClientOptions {
  /** host:port[,host:port...] */
  bootstrap: string;
  requestTimeoutMs?: number;
  clientId?: string;
  /** TLS and SASL for every connection (from -X / --command-config). */
  security?: Pick<KafkaConnectionOptions, "tls" | "sasl">;
}

export function parseBootstrap(bootstrap: string): { host: string; port: number }[] {
  const servers = bootstrap.split(",").map((entry) => entry.trim()).filter((entry) => entry.length > 0);
  if (servers.length === 0) throw new CliError("no bootstrap server given (--brokers host:port)");
  return servers.map((server) => {
    const match = /^\[?([^\]]+?)\]?:(\d{1,5})$/.exec(server);
    if (!match || Number(match[2]) > 65535) throw new CliError(`bootstrap server must be host:port, got "${server}"`);
    return { host: match[1]!, port: Number(match[2]) };
  });
}

export class KafkaClient {
  private readonly connections = new Map<string, Promise<KafkaConnection>>();
  private brokers = new Map<number, BrokerAddress>();
  metadataCache: ClusterMetadata | null = null;

  private constructor(private readonly options: ClientOptions) {}

  static async connect(options: ClientOptions): Promise<KafkaClient> {
    const client = new KafkaClient(options);
    await client.metadata(null);
    return client;
  }

  close(): void {
    for (const pending of this.connections.values()) pending.then((connection) => connection.close(), () => undefined);
    this.connections.clear();
  }

  private connection(host: string, port: number): Promise<KafkaConnection> {
    const key = `${host}:${port}`;
    const existing = this.connections.get(key);
    if (existing) return existing;
    const connecting = KafkaConnection.connect({
      host,
      port,
      clientId: this.options.clientId ?? "bunka-cli",
      requestTimeoutMs: this.options.requestTimeoutMs ?? 30_000,
      connectTimeoutMs: 10_000,
      ...this.options.security,
    }).catch((error: unknown) => {
      this.connections.delete(key);
      const code = (error as { code?: string }).code;
      const reason = code ?? (error instanceof Error ? error.message : String(error));
      throw new CliError(`cannot connect to ${key}: ${reason}${code === "ECONNREFUSED" ? " (is the broker running?)" : ""}`);
    });
    this.connections.set(key, connecting);
    return connecting;
  }

  /** Any reachable bootstrap server (tried in order). */
  async bootstrapConnection(): Promise<KafkaConnection> {
    let lastError: unknown = null;
    for (const { host, port } of parseBootstrap(this.options.bootstrap)) {
      try {
        const connection = await this.connection(host, port);
        if (!connection.closed) return connection;
        this.connections.delete(`${host}:${port}`);
      } catch (error) {
        lastError = error;
      }
    }
    throw lastError ?? new CliError(`no bootstrap server reachable (${this.options.bootstrap})`);
  }

  async brokerConnection(nodeId: number): Promise<KafkaConnection> {
    let broker = this.brokers.get(nodeId);
    if (!broker) {
      await this.metadata(null);
      broker = this.brokers.get(nodeId);
    }
    if (!broker) throw new CliError(`broker ${nodeId} is not in the cluster metadata`);
    const connection = await this.connection(broker.host, broker.port);
    if (connection.closed) {
      this.connections.delete(`${broker.host}:${broker.port}`);
      return this.connection(broker.host, broker.port);
    }
    return connection;
  }

  /** The controller (CreateTopics, DeleteTopics, CreatePartitions, reassignments go there in Kafka). */
  async controllerConnection(): Promise<KafkaConnection> {
    const metadata = await this.metadata([]);
    if (metadata.controllerId < 0) throw new CliError("the cluster has no controller right now");
    return this.brokerConnection(metadata.controllerId);
  }

  /** Metadata for `topics` (null: every topic; []: brokers only). */
  async metadata(topics: string[] | null, allowAutoTopicCreation = false): Promise<ClusterMetadata> {
    const connection = await this.bootstrapConnection();
    const response = await connection.request(ApiKey.Metadata, METADATA_VERSION, {
      topics: topics === null ? null : topics.map((name) => ({ name })),
      allowAutoTopicCreation,
    });
    const metadata: ClusterMetadata = {
      clusterId: response.clusterId,
      controllerId: response.controllerId,
      brokers: response.brokers.map((broker: BrokerAddress) => ({ nodeId: broker.nodeId, host: broker.host, port: broker.port, rack: broker.rack ?? null })),
      topics: response.topics.map((topic: any) => ({
        name: topic.name,
        errorCode: topic.errorCode,
        internal: topic.isInternal,
        partitions: topic.partitions
          .map((p: any) => ({ partition: p.partitionIndex, errorCode: p.errorCode, leader: p.leaderId, leaderEpoch: p.leaderEpoch, replicas: p.replicaNodes, isr: p.isrNodes, offline: p.offlineReplicas ?? [] }))
          .sort((a: PartitionMetadata, b: PartitionMetadata) => a.partition - b.partition),
      })),
    };
    this.brokers = new Map(metadata.brokers.map((broker) => [broker.nodeId, broker]));
    if (topics === null) this.metadataCache = metadata;
    return metadata;
  }

  /**
   * One topic's partitions, waiting (bounded) while it is being created or elects leaders.
   * An unknown topic is an error unless autoCreate.
   */
  async topic(name: string, options: { autoCreate?: boolean; attempts?: number } = {}): Promise<TopicMetadata> {
    const attempts = options.attempts ?? 40;
    let last: TopicMetadata | undefined;
    for (let attempt = 0; attempt < attempts; attempt++) {
      const metadata = await this.metadata([name], options.autoCreate ?? false);
      last = metadata.topics.find((topic) => topic.name === name);
      if (last && last.errorCode === ErrorCode.NONE && last.partitions.length > 0 && last.partitions.every((p) => p.leader >= 0)) return last;
      if (last && last.errorCode === ErrorCode.UNKNOWN_TOPIC_OR_PARTITION && !options.autoCreate) break;
      if (last && last.errorCode !== ErrorCode.NONE && !isRetriable(last.errorCode)) break;
      await Bun.sleep(250);
    }
    if (!last || last.errorCode === ErrorCode.UNKNOWN_TOPIC_OR_PARTITION) throw new CliError(`topic ${name} does not exist`);
    if (last.errorCode !== ErrorCode.NONE) throw new CliError(`topic ${name}: ${errorName(last.errorCode)}`);
    throw new CliError(`topic ${name}: some partitions have no leader`);
  }

  /** Offsets by timestamp per partition (-1 latest, -2 earliest), asked of each leader. */
  async listOffsets(topic: TopicMetadata, partitions: number[], timestamp: number): Promise<Map<number, number>> {
    const byLeader = new Map<number, number[]>();
    for (const partition of partitions) {
      const leader = topic.partitions.find((p) => p.partition === partition)?.leader ?? -1;
      if (leader < 0) throw new CliError(`${topic.name}-${partition} has no leader`);
      byLeader.set(leader, [...(byLeader.get(leader) ?? []), partition]);
    }
    const offsets = new Map<number, number>();
    await Promise.all(
      [...byLeader].map(async ([leader, list]) => {
        const response = await (await this.brokerConnection(leader)).request(ApiKey.ListOffsets, 5, {
          replicaId: -1,
          isolationLevel: 0,
          topics: [{ name: topic.name, partitions: list.map((partitionIndex) => ({ partitionIndex, currentLeaderEpoch: -1, timestamp })) }],
        });
        for (const partition of response.topics[0]?.partitions ?? []) {
          if (partition.errorCode !== ErrorCode.NONE) throw new CliError(`ListOffsets ${topic.name}-${partition.partitionIndex}: ${errorName(partition.errorCode)}`);
          offsets.set(partition.partitionIndex, partition.offset);
        }
      }),
    );
    return offsets;
  }
}

export function isRetriable(errorCode: number): boolean {
  return (
    errorCode === ErrorCode.LEADER_NOT_AVAILABLE ||
    errorCode === ErrorCode.NOT_LEADER_OR_FOLLOWER ||
    errorCode === ErrorCode.UNKNOWN_TOPIC_OR_PARTITION ||
    errorCode === ErrorCode.REQUEST_TIMED_OUT ||
    errorCode === ErrorCode.NOT_ENOUGH_REPLICAS ||
    errorCode === ErrorCode.NOT_ENOUGH_REPLICAS_AFTER_APPEND ||
    errorCode === ErrorCode.COORDINATOR_LOAD_IN_PROGRESS ||
    errorCode === ErrorCode.COORDINATOR_NOT_AVAILABLE ||
    errorCode === ErrorCode.NOT_COORDINATOR
  );
}

export function checkError(errorCode: number, what: string, errorMessage?: string | null): void {
  if (errorCode !== ErrorCode.NONE) throw new CliError(`${what}: ${errorName(errorCode)}${errorMessage ? ` (${errorMessage})` : ""}`);
}
