// Cluster metadata: what topics exist, their partitions' replicas, leaders and ISR, and their configs.
// Single node keeps it in a file (local-store.ts); a cluster keeps it in etcd (src/cluster/).

export interface PartitionAssignment {
  partition: number;
  replicas: number[];
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
}

export interface BrokerInfo {
  nodeId: number;
  host: string;
  port: number;
  rack: string | null;
}

/** Where topic metadata is persisted. All writes are atomic per call. */
export interface MetadataStore {
  load(): Promise<TopicMetadata[]>;
  putTopic(topic: TopicMetadata): Promise<void>;
  deleteTopic(name: string): Promise<void>;
  /** Monotonic counter persisted with the metadata (producer ids). */
  nextProducerIdBlock(blockSize: number): Promise<number>;
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

export function randomTopicId(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  return Buffer.from(bytes).toString("hex");
}

export function topicIdBytes(topicId: string): Uint8Array {
  return new Uint8Array(Buffer.from(topicId, "hex"));
}
