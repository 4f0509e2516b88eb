// Cluster metadata: what topics exist, their partitions' replicas, leaders and ISR, and their configs.
// Single node keeps it in a file (local-store.ts); a cluster keeps it in etcd (src/cluster/).

export interface PartitionAssignment {
  partition: number;
  /** Replica broker ids; the first is the preferred leader. */
  replicas: number[];
  /** -1 while no in-sync replica is alive (the partition is offline). */
  leader: number;
  leaderEpoch: number;
  isr: number[];
  /** Version of this partition's state in the store, for compare-and-swap updates (etcd mod revision). */
  stateVersion: number;
}

/** The part of a partition's state that leader elections and ISR changes rewrite. */
export interface PartitionState {
  leader: number;
  leaderEpoch: number;
  isr: number[];
}

export interface TopicMetadata {
  name: string;
  /** 16-byte topic id as 32 hex characters (Kafka's Uuid; clients see it in Metadata v10+). */
  topicId: string;
  partitions: PartitionAssignment[];
  /** Topic-level config overrides only; defaults are resolved at read time. */
  configs: Record<string, string>;
  internal: boolean;
  /**
   * Reassignments in progress (KIP-455), by partition. While one runs, the partition's `replicas` are the
   * target followed by the original replicas not in it; the controller completes it once every target
   * replica is in the ISR.
   */
  reassignments?: Record<number, PartitionReassignment>;
  /** Version of the topic's own record in the store (etcd mod revision): updates compare it. */
  recordVersion?: number;
}

export interface PartitionReassignment {
  target: number[];
  original: number[];
}

export interface BrokerInfo {
  nodeId: number;
  host: string;
  port: number;
  rack: string | null;
  /** Set during a controlled shutdown: the controller moves leadership away and places nothing new here. */
  shuttingDown?: boolean;
  /**
   * Every listener's advertised address (named listeners); host/port above are the inter-broker listener's.
   * Absent in registrations written before named listeners: then host/port serve every client.
   */
  endpoints?: BrokerEndpoint[];
}

export interface BrokerEndpoint {
  listener: string;
  host: string;
  port: number;
  securityProtocol: string;
}

/**
 * Where a client connected to `listener` reaches a broker: that listener's endpoint, or null when the broker
 * has no such listener (Kafka leaves such brokers out of Metadata). Brokers without endpoints answer host/port.
 */
export function endpointFor(info: BrokerInfo, listener: string): { host: string; port: number } | null {
  if (!info.endpoints) return { host: info.host, port: info.port };
  const endpoint = info.endpoints.find((candidate) => candidate.listener === listener);
  return endpoint ? { host: endpoint.host, port: endpoint.port } : null;
}

/** Where topic metadata is persisted. All writes are atomic per call. */
export interface MetadataStore {
  load(): Promise<TopicMetadata[]>;
  /** Creates a topic with its partitions' initial state; TOPIC_ALREADY_EXISTS if the name is taken. */
  createTopic(topic: TopicMetadata): Promise<number | void>;
  /** Rewrites a topic's configs or adds partitions (existing partitions' state is left alone). */
  updateTopic(topic: TopicMetadata): Promise<number | void>;
  deleteTopic(name: string): Promise<void>;
  /**
   * Compare-and-swap of one partition's leader, epoch and ISR: applied only if the stored state is still at
   * `expectedVersion`. Returns the new version, or null when someone else changed it first.
   */
  updatePartitionState(topic: string, partition: number, expectedVersion: number, next: PartitionState): Promise<number | null>;
  /**
   * Ends a reassignment: the topic's new replica lists (without the reassignment) and the partition's new
   * state in one atomic write, if the partition state is still at `expectedVersion`.
   */
  completeReassignment(topic: TopicMetadata, partition: number, expectedVersion: number, next: PartitionState): Promise<number | null>;
  /** Monotonic counter persisted with the metadata (producer ids). */
  nextProducerIdBlock(blockSize: number): Promise<number>;
}

/** Who is in the cluster, as this broker sees it. Single node: just itself. */
export interface ClusterView {
  readonly nodeId: number;
  /** Registered, live brokers, sorted by id. */
  liveBrokers(): BrokerInfo[];
  /** The controller's node id (-1 while there is none). */
  controllerId(): number;
}

const TOPIC_NAME_MAX_LENGTH = 249;
const legalTopicName = /^[a-zA-Z0-9._-]+$/;

/** Kafka's Topic.validate: returns an error message, or null when the name is legal. */
export function topicNameProblem(name: string): string | null {
  if (name.length === 0) return "Topic name is illegal, it can't be empty";
  if (name === "." || name === "..") return "Topic name cannot be \".\" or \"..\"";
  if (name.length > TOPIC_NAME_MAX_LENGTH) return `Topic name is illegal, it can't be longer than ${TOPIC_NAME_MAX_LENGTH} characters`;
  if (!legalTopicName.test(name)) return `Topic name "${name}" is illegal, it contains a character other than ASCII alphanumerics, '.', '_' and '-'`;
  return null;
}

/** The all-zero id: "no topic id" on the wire (Metadata before v10, requests by name). */
export const ZERO_TOPIC_ID = "0".repeat(32);

/**
 * A random version 4 UUID, as Kafka's Uuid.randomUuid: never the zero id nor the metadata topic's id
 * (AAAAAAAAAAAAAAAAAAAAAQ), and never one whose base64url form starts with "-" (a command-line flag look-alike).
 */
export function randomTopicId(): string {
  for (;;) {
    const bytes = crypto.getRandomValues(new Uint8Array(16));
    bytes[6] = (bytes[6]! & 0x0f) | 0x40;
    bytes[8] = (bytes[8]! & 0x3f) | 0x80;
    const hex = Buffer.from(bytes).toString("hex");
    if (hex === ZERO_TOPIC_ID || hex === "0".repeat(31) + "1" || topicIdBase64(hex).startsWith("-")) continue;
    return hex;
  }
}

export function topicIdBytes(topicId: string): Uint8Array {
  return new Uint8Array(Buffer.from(topicId, "hex"));
}

/** The stored form (32 hex characters) of a topic id as it arrives on the wire. */
export function topicIdHex(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString("hex");
}

/** Kafka's Uuid.toString: base64url without padding (22 characters), as in partition.metadata and Kafka's tools. */
export function topicIdBase64(topicId: string): string {
  return Buffer.from(topicId, "hex").toString("base64url");
}
