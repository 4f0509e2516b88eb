// Topics at run time: their metadata, the effective configuration of each, and the offsets the socket
// thread last heard from the partition workers. Create/delete/alter are serialised so that two clients
// auto-creating the same topic at once get one topic.
import { join } from "node:path";
import type { BrokerConfig } from "../config/broker-config.ts";
import { resolveTopicConfig, toSafeNumber, topicConfigDefinitions, validateTopicConfig, type ConfigSource } from "../config/topic-config.ts";
import type { LogConfig } from "../log/config.ts";
import type { OpenPartitionCommand } from "../partition/messages.ts";
import type { PartitionWorkers } from "../partition/partition-workers.ts";
import { ErrorCode, KafkaError } from "../protocol/errors.ts";
import { randomTopicId, topicNameProblem, type MetadataStore, type PartitionAssignment, type TopicMetadata } from "./types.ts";

export interface PartitionRuntime {
  topic: string;
  partition: number;
  logStartOffset: number;
  logEndOffset: number;
  /** Offsets below it are committed: readable by consumers. Single node: equals the log end offset. */
  highWatermark: number;
}

export interface EffectiveConfig {
  name: string;
  value: string;
  source: ConfigSource;
}

export interface CreateTopicRequest {
  name: string;
  numPartitions: number;
  replicationFactor: number;
  configs: Record<string, string>;
  validateOnly?: boolean;
  internal?: boolean;
  /** Explicit replica lists per partition (CreateTopics assignments); the first replica is the preferred leader. */
  replicaAssignments?: number[][];
}

const MAX_PARTITIONS_PER_TOPIC = 10_000;

export const partitionKey = (topic: string, partition: number): string => `${topic}\u0000${partition}`;

export class TopicManager {
  private readonly topics = new Map<string, TopicMetadata>();
  private readonly runtimes = new Map<string, PartitionRuntime>();
  private serial: Promise<unknown> = Promise.resolve();

  constructor(
    private readonly config: BrokerConfig,
    private readonly workers: PartitionWorkers,
    private readonly store: MetadataStore,
    private readonly log: (message: string) => void,
  ) {}

  /** Loads metadata and opens every partition's log (recovering it when the last stop was unclean). */
  async load(recover: boolean): Promise<void> {
    for (const topic of await this.store.load()) this.topics.set(topic.name, topic);
    const commands: OpenPartitionCommand[] = [];
    for (const topic of this.topics.values()) {
      for (const assignment of topic.partitions) commands.push(this.openCommand(topic, assignment.partition, recover));
    }
    await this.openLogs(commands);
  }

  private async openLogs(commands: OpenPartitionCommand[]): Promise<void> {
    const results = await this.workers.open(commands);
    commands.forEach((command, index) => {
      const offsets = results[index]!;
      this.runtimes.set(partitionKey(command.topic, command.partition), {
        topic: command.topic,
        partition: command.partition,
        logStartOffset: offsets.logStartOffset,
        logEndOffset: offsets.logEndOffset,
        highWatermark: offsets.logEndOffset,
      });
    });
  }

  private openCommand(topic: TopicMetadata, partition: number, recover: boolean): OpenPartitionCommand {
    return {
      topic: topic.name,
      partition,
      dir: join(this.config.dataDir, `${topic.name}-${partition}`),
      config: this.logConfigFor(topic),
      compressionType: this.configValue(topic, "compression.type"),
      recover,
    };
  }

  private exclusive<T>(operation: () => Promise<T>): Promise<T> {
    const result = this.serial.then(operation);
    this.serial = result.catch(() => undefined);
    return result;
  }

  get(name: string): TopicMetadata | undefined {
    return this.topics.get(name);
  }

  list(): TopicMetadata[] {
    return [...this.topics.values()];
  }

  runtime(topic: string, partition: number): PartitionRuntime | undefined {
    return this.runtimes.get(partitionKey(topic, partition));
  }

  assignment(topic: string, partition: number): PartitionAssignment | undefined {
    return this.topics.get(topic)?.partitions[partition];
  }

  /** Records offsets a worker reported (after a produce or read), keeping them monotonic where they must be. */
  noteOffsets(topic: string, partition: number, logStartOffset: number, logEndOffset: number): void {
    const runtime = this.runtimes.get(partitionKey(topic, partition));
    if (!runtime || logEndOffset < 0) return;
    runtime.logStartOffset = logStartOffset;
    runtime.logEndOffset = logEndOffset;
    runtime.highWatermark = logEndOffset;
  }

  configValue(topic: TopicMetadata, name: string): string {
    return resolveTopicConfig(name, topic.configs, this.config.topicDefaults).value;
  }

  effectiveConfigs(topic: TopicMetadata): EffectiveConfig[] {
    return topicConfigDefinitions.map((definition) => {
      const { value, source } = resolveTopicConfig(definition.name, topic.configs, this.config.topicDefaults);
      return { name: definition.name, value, source };
    });
  }

  logConfigFor(topic: TopicMetadata): LogConfig {
    const value = (name: string) => this.configValue(topic, name);
    return {
      segmentBytes: toSafeNumber(value("segment.bytes")),
      segmentMs: toSafeNumber(value("segment.ms")),
      segmentIndexBytes: toSafeNumber(value("segment.index.bytes")),
      indexIntervalBytes: toSafeNumber(value("index.interval.bytes")),
      maxMessageBytes: toSafeNumber(value("max.message.bytes")),
      retentionMs: toSafeNumber(value("retention.ms")),
      retentionBytes: toSafeNumber(value("retention.bytes")),
      flushMessages: toSafeNumber(value("flush.messages")),
      flushMs: toSafeNumber(value("flush.ms")),
      messageTimestampType: value("message.timestamp.type") === "LogAppendTime" ? "LogAppendTime" : "CreateTime",
      preallocate: value("preallocate") === "true",
    };
  }

  createTopic(request: CreateTopicRequest): Promise<TopicMetadata> {
    return this.exclusive(async () => {
      const problem = topicNameProblem(request.name);
      if (problem) throw new KafkaError(ErrorCode.INVALID_TOPIC_EXCEPTION, problem);
      if (this.topics.has(request.name)) throw new KafkaError(ErrorCode.TOPIC_ALREADY_EXISTS, `Topic '${request.name}' already exists.`);
      const numPartitions = request.numPartitions === -1 ? this.config.numPartitions : request.numPartitions;
      if (numPartitions <= 0 || numPartitions > MAX_PARTITIONS_PER_TOPIC)
        throw new KafkaError(ErrorCode.INVALID_PARTITIONS, `Number of partitions must be between 1 and ${MAX_PARTITIONS_PER_TOPIC}, got ${numPartitions}.`);
      const replicationFactor = request.replicationFactor === -1 ? this.config.defaultReplicationFactor : request.replicationFactor;
      const brokers = [this.config.nodeId];
      if (replicationFactor <= 0 || replicationFactor > brokers.length)
        throw new KafkaError(ErrorCode.INVALID_REPLICATION_FACTOR, `Replication factor: ${replicationFactor} larger than available brokers: ${brokers.length}.`);
      for (const [name, value] of Object.entries(request.configs)) validateTopicConfig(name, value);
      if (request.replicaAssignments) this.validateReplicaAssignments(request.replicaAssignments, replicationFactor);
      const topic: TopicMetadata = {
        name: request.name,
        topicId: randomTopicId(),
        partitions: Array.from({ length: numPartitions }, (_, partition) => this.singleNodeAssignment(partition)),
        configs: { ...request.configs },
        internal: request.internal ?? false,
      };
      if (request.validateOnly) return topic;
      await this.store.putTopic(topic);
      this.topics.set(topic.name, topic);
      await this.openLogs(topic.partitions.map((assignment) => this.openCommand(topic, assignment.partition, false)));
      this.log(`created topic ${topic.name} with ${numPartitions} partition(s)`);
      return topic;
    });
  }

  private validateReplicaAssignments(assignments: number[][], replicationFactor: number): void {
    const live = new Set([this.config.nodeId]);
    for (const replicas of assignments) {
      if (replicas.length !== replicationFactor || new Set(replicas).size !== replicas.length)
        throw new KafkaError(ErrorCode.INVALID_REPLICA_ASSIGNMENT, "All partitions should have the same number of distinct replicas.");
      for (const replica of replicas)
        if (!live.has(replica)) throw new KafkaError(ErrorCode.INVALID_REPLICA_ASSIGNMENT, `Replica assignment names broker ${replica}, which is not registered.`);
    }
  }

  private singleNodeAssignment(partition: number): PartitionAssignment {
    return { partition, replicas: [this.config.nodeId], leader: this.config.nodeId, leaderEpoch: 0, isr: [this.config.nodeId] };
  }

  deleteTopic(name: string): Promise<void> {
    return this.exclusive(async () => {
      const topic = this.topics.get(name);
      if (!topic) throw new KafkaError(ErrorCode.UNKNOWN_TOPIC_OR_PARTITION, `Topic '${name}' does not exist.`);
      if (!this.config.deleteTopicEnable) throw new KafkaError(ErrorCode.TOPIC_DELETION_DISABLED);
      await this.store.deleteTopic(name);
      this.topics.delete(name);
      await this.workers.delete(topic.partitions.map((assignment) => ({ topic: name, partition: assignment.partition })));
      for (const assignment of topic.partitions) this.runtimes.delete(partitionKey(name, assignment.partition));
      this.log(`deleted topic ${name}`);
    });
  }

  createPartitions(name: string, totalCount: number, validateOnly: boolean, replicaAssignments?: number[][] | null): Promise<void> {
    return this.exclusive(async () => {
      const topic = this.topics.get(name);
      if (!topic) throw new KafkaError(ErrorCode.UNKNOWN_TOPIC_OR_PARTITION, `Topic '${name}' does not exist.`);
      const current = topic.partitions.length;
      if (totalCount < current) throw new KafkaError(ErrorCode.INVALID_PARTITIONS, `Topic currently has ${current} partitions, which is higher than the requested ${totalCount}.`);
      if (totalCount === current) throw new KafkaError(ErrorCode.INVALID_PARTITIONS, `Topic already has ${current} partitions.`);
      if (totalCount > MAX_PARTITIONS_PER_TOPIC) throw new KafkaError(ErrorCode.INVALID_PARTITIONS, `Number of partitions must be at most ${MAX_PARTITIONS_PER_TOPIC}.`);
      if (replicaAssignments) {
        if (replicaAssignments.length !== totalCount - current)
          throw new KafkaError(ErrorCode.INVALID_REPLICA_ASSIGNMENT, `Increasing the number of partitions by ${totalCount - current} but ${replicaAssignments.length} assignments provided.`);
        this.validateReplicaAssignments(replicaAssignments, topic.partitions[0]!.replicas.length);
      }
      if (validateOnly) return;
      const added = Array.from({ length: totalCount - current }, (_, index) => this.singleNodeAssignment(current + index));
      const updated: TopicMetadata = { ...topic, partitions: [...topic.partitions, ...added] };
      await this.store.putTopic(updated);
      this.topics.set(name, updated);
      await this.openLogs(added.map((assignment) => this.openCommand(updated, assignment.partition, false)));
      this.log(`topic ${name} now has ${totalCount} partitions`);
    });
  }

  /** Replaces (incremental=false) or merges topic config overrides; null deletes an override. */
  alterConfigs(name: string, changes: Record<string, string | null>, incremental: boolean, validateOnly: boolean): Promise<void> {
    return this.exclusive(async () => {
      const topic = this.topics.get(name);
      if (!topic) throw new KafkaError(ErrorCode.UNKNOWN_TOPIC_OR_PARTITION, `Topic '${name}' does not exist.`);
      for (const [configName, value] of Object.entries(changes)) validateTopicConfig(configName, value);
      const configs: Record<string, string> = incremental ? { ...topic.configs } : {};
      for (const [configName, value] of Object.entries(changes)) {
        if (value === null) delete configs[configName];
        else configs[configName] = value;
      }
      if (validateOnly) return;
      const updated: TopicMetadata = { ...topic, configs };
      await this.store.putTopic(updated);
      this.topics.set(name, updated);
      await this.workers.configure(updated.partitions.map((assignment) => this.openCommand(updated, assignment.partition, false)));
    });
  }
}
