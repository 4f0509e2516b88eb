// Single-node metadata: one msgpackr file in the data dir, replaced atomically (write, fsync, rename).
import { existsSync, mkdirSync, readFileSync } from "node:fs";
import { writeFileDurably } from "../util/durable-file.ts";
import { join } from "node:path";
import { pack, unpack } from "msgpackr";
import { ErrorCode, KafkaError } from "../protocol/errors.ts";
import { randomTopicId, ZERO_TOPIC_ID, type MetadataStore, type PartitionState, type TopicMetadata } from "./types.ts";

interface StoredState {
  version: 1;
  topics: TopicMetadata[];
  nextProducerId: number;
}

export class LocalMetadataStore implements MetadataStore {
  private readonly path: string;
  private state: StoredState = { version: 1, topics: [], nextProducerId: 1000 };

  constructor(dataDir: string) {
    const dir = join(dataDir, "meta");
    mkdirSync(dir, { recursive: true });
    this.path = join(dir, "topics.bin");
  }

  async load(): Promise<TopicMetadata[]> {
    if (existsSync(this.path)) {
      const stored = unpack(readFileSync(this.path)) as StoredState;
      if (stored?.version !== 1 || !Array.isArray(stored.topics)) throw new Error(`metadata file ${this.path} is not a Bunka metadata file`);
      for (const topic of stored.topics) for (const assignment of topic.partitions) assignment.stateVersion ??= 0;
      // Files written before topic ids (KIP-516): each such topic gets its id once, kept from now on.
      const withoutId = stored.topics.filter((topic) => typeof topic.topicId !== "string" || !/^[0-9a-f]{32}$/.test(topic.topicId) || topic.topicId === ZERO_TOPIC_ID);
      for (const topic of withoutId) topic.topicId = randomTopicId();
      this.state = stored;
      if (withoutId.length > 0) this.persist();
    }
    return this.state.topics.map((topic) => structuredClone(topic));
  }

  async createTopic(topic: TopicMetadata): Promise<void> {
    if (this.state.topics.some((existing) => existing.name === topic.name)) throw new KafkaError(ErrorCode.TOPIC_ALREADY_EXISTS, `Topic '${topic.name}' already exists.`);
    this.state = { ...this.state, topics: [...this.state.topics, structuredClone(topic)] };
    this.persist();
  }

  async updateTopic(topic: TopicMetadata): Promise<void> {
    const others = this.state.topics.filter((existing) => existing.name !== topic.name);
    this.state = { ...this.state, topics: [...others, structuredClone(topic)] };
    this.persist();
  }

  async updatePartitionState(topicName: string, partition: number, expectedVersion: number, next: PartitionState): Promise<number | null> {
    const topic = this.state.topics.find((existing) => existing.name === topicName);
    const assignment = topic?.partitions[partition];
    if (!assignment || assignment.stateVersion !== expectedVersion) return null;
    Object.assign(assignment, next, { stateVersion: expectedVersion + 1 });
    this.persist();
    return expectedVersion + 1;
  }

  async deleteTopic(name: string): Promise<void> {
    this.state = { ...this.state, topics: this.state.topics.filter((existing) => existing.name !== name) };
    this.persist();
  }

  async completeReassignment(topic: TopicMetadata, partition: number, expectedVersion: number, next: PartitionState): Promise<number | null> {
    const stored = this.state.topics.find((existing) => existing.name === topic.name);
    if (!stored || stored.partitions[partition]?.stateVersion !== expectedVersion) return null;
    const updated = structuredClone(topic);
    Object.assign(updated.partitions[partition]!, next, { stateVersion: expectedVersion + 1 });
    this.state = { ...this.state, topics: [...this.state.topics.filter((existing) => existing.name !== topic.name), updated] };
    this.persist();
    return expectedVersion + 1;
  }

  async nextProducerIdBlock(blockSize: number): Promise<number> {
    const start = this.state.nextProducerId;
    this.state = { ...this.state, nextProducerId: start + blockSize };
    this.persist();
    return start;
  }

  private persist(): void {
    writeFileDurably(this.path, pack(this.state));
  }
}
