// Topics at run time: their metadata, the effective configuration of each, the logs of the partitions
// this broker holds a replica of, and the offsets the socket thread last heard from the workers.
// Create/delete/alter go through the metadata store (a file on one node, etcd in a cluster) and are
// serialised here, so two clients auto-creating the same topic at once get one topic. Changes made by other
// brokers arrive through `applyTopic`/`removeTopic` (cluster mode) and are applied the same way.
import { join } from "node:path";
import { networkThreads, type BrokerConfig } from "../config/broker-config.ts";
import { derivedMaxBrokerPartitions } from "../config/partition-limit.ts";
import { resolveTopicConfig, toSafeNumber, topicConfigDefinitions, validateTopicConfig, type ConfigSource, type TopicConfigBounds } from "../config/topic-config.ts";
import { assignReplicas } from "./placement.ts";
import type { LogConfig } from "../log/config.ts";
import type { FileSlice, LogOffsets, OpenPartitionCommand } from "../partition/messages.ts";
import type { PartitionWorkers } from "../partition/partition-workers.ts";
import { ErrorCode, KafkaError } from "../protocol/errors.ts";
import { randomTopicId, topicIdBase64, topicIdHex, topicNameProblem, type ClusterView, type MetadataStore, type PartitionAssignment, type PartitionReassignment, type PartitionState, type TopicMetadata } from "./types.ts";

/** A partition replica held by this broker: where its log stands, as last reported by its worker. */
export interface PartitionRuntime {
  topic: string;
  partition: number;
  logStartOffset: number;
  logEndOffset: number;
  /** Offsets below it are committed (replicated to the ISR) and visible to consumers. */
  highWatermark: number;
  /** The worker's version of the offsets above (LogOffsets): older answers arriving later are ignored. */
  offsetsVersion: number;
  /** The log could not be opened (its worker answers KAFKA_STORAGE_ERROR); offsets are -1. */
  offline?: boolean;
  /**
   * The last produce appended here while it was the log's last batch (a later reading of another log end
   * clears it): a tailing consumer's fetch at its base offset is answered from it without a worker read.
   */
  lastAppend?: AppendedBatch;
}

/** Where a single produce batch landed, as its worker answered (ProduceResult.appended). */
export interface AppendedBatch {
  slice: FileSlice;
  baseOffset: number;
  lastOffset: number;
  /** The leader epoch it was appended at: a leadership change since may have truncated the log. */
  leaderEpoch: number;
  /** The log's first unstable offset right after the append (-1: no transaction open). */
  firstUnstableOffset: number;
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

/** Told about every partition whose leader, epoch, ISR or replicas changed (and about new and removed ones). */
export interface PartitionListener {
  onPartitionChanged(topic: TopicMetadata, assignment: PartitionAssignment, runtime: PartitionRuntime | undefined): void;
  onPartitionRemoved(topic: string, partition: number): void;
}

const MAX_PARTITIONS_PER_TOPIC = 10_000;
/** Logs opened per message round to the workers (restart recovery and large CreateTopics). */
const OPEN_LOGS_PER_ROUND = 256;

export const partitionKey = (topic: string, partition: number): string => `${topic}\u0000${partition}`;

export class TopicManager {
  private readonly topics = new Map<string, TopicMetadata>();
  /** Topic id (hex) → name, for requests that name topics by id (Metadata v12, DeleteTopics v6, Fetch v13+). */
  private readonly namesById = new Map<string, string>();
  private readonly runtimes = new Map<string, PartitionRuntime>();
  private serial: Promise<unknown> = Promise.resolve();
  private listener: PartitionListener | null = null;
  /** Called after any topic or partition state changed (the listening partition workers' snapshot, server/broker.ts). */
  onTopicsChanged: (() => void) | null = null;
  /** Until load() finishes, the logs of the data dir may need recovery; later opens are of new partitions. */
  private recoverOnOpen = false;
  /** max.broker.partitions in effect (configured, or derived once from the machine's limits). */
  private maxBrokerPartitionsValue = 0;

  constructor(
    private readonly config: BrokerConfig,
    private readonly workers: PartitionWorkers,
    private readonly store: MetadataStore,
    private readonly cluster: ClusterView,
    private readonly log: (message: string) => void,
  ) {}

  setListener(listener: PartitionListener): void {
    this.listener = listener;
  }

  /** Loads metadata and opens every local replica's log (recovering it when the last stop was unclean). */
  async load(recover: boolean): Promise<void> {
    this.recoverOnOpen = recover;
    try {
      await this.exclusive(async () => {
        for (const topic of await this.store.load()) await this.applyTopicLocked(topic);
      });
    } finally {
      this.recoverOnOpen = false;
    }
  }

  private isLocalReplica(assignment: PartitionAssignment): boolean {
    return assignment.replicas.includes(this.cluster.nodeId);
  }

  /** Applies a topic's metadata as the store now holds it: opens new local replicas, reconfigures, notifies. */
  applyTopic(topic: TopicMetadata): Promise<void> {
    return this.exclusive(() => this.applyTopicLocked(topic));
  }

  private async applyTopicLocked(topic: TopicMetadata): Promise<void> {
    const previous = this.topics.get(topic.name);
    if (previous && previous.topicId !== topic.topicId) await this.removeTopicLocked(previous.name);
    const known = this.topics.get(topic.name);
    this.topics.set(topic.name, topic);
    this.namesById.set(topic.topicId, topic.name);
    const toOpen = topic.partitions.filter((assignment) => this.isLocalReplica(assignment) && !this.runtimes.has(partitionKey(topic.name, assignment.partition)));
    if (toOpen.length > 0) await this.openLogs(toOpen.map((assignment) => this.openCommand(topic, assignment.partition, this.recoverOnOpen)));
    // A reassignment moved replicas off this broker: stop serving them and delete their logs (Kafka's StopReplica).
    const toRemove = topic.partitions.filter((assignment) => !this.isLocalReplica(assignment) && this.runtimes.has(partitionKey(topic.name, assignment.partition)));
    if (toRemove.length > 0) {
      await this.dropLocalReplicas(topic.name, toRemove.map((assignment) => assignment.partition));
      this.log(`${topic.name}: replicas of partition(s) ${toRemove.map((assignment) => assignment.partition)} moved off this broker; their logs are deleted`);
    }
    if (known && JSON.stringify(known.configs) !== JSON.stringify(topic.configs)) {
      const local = topic.partitions.filter((assignment) => this.runtimes.has(partitionKey(topic.name, assignment.partition)));
      await this.workers.configure(local.map((assignment) => this.openCommand(topic, assignment.partition, false)));
    }
    for (const assignment of topic.partitions) {
      const before = known?.partitions[assignment.partition];
      const changed =
        !before ||
        before.leader !== assignment.leader ||
        before.leaderEpoch !== assignment.leaderEpoch ||
        before.stateVersion !== assignment.stateVersion ||
        before.isr.join() !== assignment.isr.join() ||
        before.replicas.join() !== assignment.replicas.join();
      if (changed) this.listener?.onPartitionChanged(topic, assignment, this.runtime(topic.name, assignment.partition));
    }
    this.onTopicsChanged?.();
  }

  /** A partition's leader/epoch/ISR as the store now holds it (after a compare-and-swap or a watch event). */
  applyPartitionState(name: string, partition: number, state: PartitionState, stateVersion: number): void {
    const topic = this.topics.get(name);
    const current = topic?.partitions[partition];
    if (!topic || !current || stateVersion <= current.stateVersion) return;
    const next: PartitionAssignment = { ...current, ...state, isr: [...state.isr], stateVersion };
    const partitions = [...topic.partitions];
    partitions[partition] = next;
    const updated = { ...topic, partitions };
    this.topics.set(name, updated);
    this.listener?.onPartitionChanged(updated, next, this.runtime(name, partition));
    this.onTopicsChanged?.();
  }

  removeTopic(name: string): Promise<void> {
    return this.exclusive(() => this.removeTopicLocked(name));
  }

  private async removeTopicLocked(name: string): Promise<void> {
    const topic = this.topics.get(name);
    if (!topic) return;
    this.topics.delete(name);
    this.namesById.delete(topic.topicId);
    const local = topic.partitions.filter((assignment) => this.runtimes.has(partitionKey(name, assignment.partition)));
    for (const assignment of topic.partitions) if (!local.includes(assignment)) this.listener?.onPartitionRemoved(name, assignment.partition);
    await this.dropLocalReplicas(name, local.map((assignment) => assignment.partition));
    this.onTopicsChanged?.();
    this.log(`deleted topic ${name}`);
  }

  /** Stops serving these local replicas and deletes their logs. */
  private async dropLocalReplicas(topic: string, partitions: number[]): Promise<void> {
    for (const partition of partitions) this.listener?.onPartitionRemoved(topic, partition);
    await this.workers.delete(partitions.map((partition) => ({ topic, partition })));
    for (const partition of partitions) this.runtimes.delete(partitionKey(topic, partition));
  }

  /**
   * Opens logs in groups of OPEN_LOGS_PER_ROUND, so a restart with tens of thousands of partitions
   * recovers them with bounded work in flight. A log that cannot be opened stays offline (its worker
   * answers KAFKA_STORAGE_ERROR for it) and every other partition is served.
   */
  private async openLogs(commands: OpenPartitionCommand[]): Promise<void> {
    for (let start = 0; start < commands.length; start += OPEN_LOGS_PER_ROUND) {
      const round = commands.slice(start, start + OPEN_LOGS_PER_ROUND);
      const results = await this.workers.open(round);
      round.forEach((command, index) => {
        const offsets = results[index]!;
        const offline = offsets.errorCode !== ErrorCode.NONE;
        this.runtimes.set(partitionKey(command.topic, command.partition), {
          topic: command.topic,
          partition: command.partition,
          logStartOffset: offsets.logStartOffset,
          logEndOffset: offsets.logEndOffset,
          offsetsVersion: offsets.offsetsVersion ?? 0,
          // Not yet known to be committed; the replica manager sets it when this broker takes a role.
          // Offline: -1, so no read is answered from these numbers without asking the worker.
          highWatermark: offline ? -1 : 0,
          ...(offline ? { offline: true } : {}),
        });
      });
    }
  }

  /** Partitions of `topic` whose log could not be opened here. */
  offlinePartitions(topic: string): number[] {
    const partitions: number[] = [];
    for (const runtime of this.runtimes.values()) if (runtime.topic === topic && runtime.offline) partitions.push(runtime.partition);
    return partitions;
  }

  /** max.broker.partitions: configured, else derived once from vm.max_map_count and the open-file limit. */
  get maxBrokerPartitions(): number {
    if (this.maxBrokerPartitionsValue > 0) return this.maxBrokerPartitionsValue;
    if (this.config.maxBrokerPartitions > 0) {
      this.maxBrokerPartitionsValue = this.config.maxBrokerPartitions;
    } else {
      const derived = derivedMaxBrokerPartitions({ partitionWorkers: this.config.partitionWorkers, segmentOpenMax: this.config.logSegmentOpenMax, maxConnections: this.config.maxConnections, networkShards: networkThreads(this.config) });
      this.maxBrokerPartitionsValue = derived.limit;
      this.log(derived.explanation);
    }
    return this.maxBrokerPartitionsValue;
  }

  /**
   * Refuses (POLICY_VIOLATION, before anything is written) a change that would make some broker hold more
   * than max.broker.partitions partition replicas (KIP-578; every broker is assumed to have the same limit).
   */
  private checkPartitionLimit(addedReplicaLists: readonly number[][], what: string): void {
    const limit = this.maxBrokerPartitions;
    const perBroker = new Map<number, number>();
    const add = (replicas: readonly number[]) => {
      for (const replica of replicas) perBroker.set(replica, (perBroker.get(replica) ?? 0) + 1);
    };
    for (const topic of this.topics.values()) for (const assignment of topic.partitions) add(assignment.replicas);
    for (const replicas of addedReplicaLists) add(replicas);
    for (const [brokerId, count] of perBroker) {
      if (count > limit) {
        throw new KafkaError(
          ErrorCode.POLICY_VIOLATION,
          `${what} would place ${count} partition replicas on broker ${brokerId}, more than max.broker.partitions (${limit}). Delete topics or raise the limit.`,
        );
      }
    }
  }

  /** The bounds a client's topic configs are checked against (internal topics use the operator's values as given). */
  private configBounds(internal: boolean): TopicConfigBounds {
    return { segmentBytesMin: internal ? 14 : this.config.logSegmentBytesMin };
  }

  private openCommand(topic: TopicMetadata, partition: number, recover: boolean): OpenPartitionCommand {
    return {
      topic: topic.name,
      partition,
      dir: join(this.config.dataDir, `${topic.name}-${partition}`),
      topicId: topicIdBase64(topic.topicId),
      config: this.logConfigFor(topic),
      compressionType: this.configValue(topic, "compression.type"),
      recover,
      producerIdExpirationMs: this.config.producerIdExpirationMs,
      cleanerBackoffMs: this.config.logCleanerBackoffMs,
      segmentOpenMax: this.config.logSegmentOpenMax,
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

  /** The topic with this id (32 hex characters or the wire's 16 bytes); undefined for an unknown or deleted one. */
  getById(topicId: string | Uint8Array): TopicMetadata | undefined {
    const hex = typeof topicId === "string" ? topicId : topicIdHex(topicId);
    const name = this.namesById.get(hex);
    const topic = name === undefined ? undefined : this.topics.get(name);
    return topic?.topicId === hex ? topic : undefined;
  }

  list(): TopicMetadata[] {
    return [...this.topics.values()];
  }

  runtime(topic: string, partition: number): PartitionRuntime | undefined {
    return this.runtimes.get(partitionKey(topic, partition));
  }

  localRuntimes(): IterableIterator<PartitionRuntime> {
    return this.runtimes.values();
  }

  assignment(topic: string, partition: number): PartitionAssignment | undefined {
    return this.topics.get(topic)?.partitions[partition];
  }

  /**
   * Takes a worker's answer about a partition's log as the broker's view of it, unless a newer one was
   * applied already: answers can arrive here out of order, and a log end offset moved back by a stale one
   * leaves followers long-polling below the real end (acks=all then times out). Answers without a
   * version (made on this thread) change nothing.
   */
  noteOffsets(topic: string, partition: number, offsets: LogOffsets): PartitionRuntime | undefined {
    const runtime = this.runtimes.get(partitionKey(topic, partition));
    if (!runtime || offsets.logEndOffset < 0 || offsets.offsetsVersion === undefined || offsets.offsetsVersion <= runtime.offsetsVersion) return runtime;
    runtime.logStartOffset = offsets.logStartOffset;
    runtime.logEndOffset = offsets.logEndOffset;
    runtime.offsetsVersion = offsets.offsetsVersion;
    if (runtime.lastAppend && runtime.lastAppend.lastOffset + 1 !== offsets.logEndOffset) runtime.lastAppend = undefined;
    return runtime;
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
      messageTimestampBeforeMaxMs: Math.min(toSafeNumber(value("message.timestamp.before.max.ms")), toSafeNumber(value("message.timestamp.difference.max.ms"))),
      messageTimestampAfterMaxMs: Math.min(toSafeNumber(value("message.timestamp.after.max.ms")), toSafeNumber(value("message.timestamp.difference.max.ms"))),
      messageDecompressedMaxBytes: this.config.messageDecompressedMaxBytes,
      preallocate: value("preallocate") === "true",
      compact: value("cleanup.policy").split(",").includes("compact"),
      delete: value("cleanup.policy").split(",").includes("delete"),
      deleteRetentionMs: toSafeNumber(value("delete.retention.ms")),
      minCleanableDirtyRatio: Number(value("min.cleanable.dirty.ratio")),
      minCompactionLagMs: toSafeNumber(value("min.compaction.lag.ms")),
    };
  }

  private liveBrokerIds(): number[] {
    return this.cluster.liveBrokers().filter((broker) => !broker.shuttingDown).map((broker) => broker.nodeId);
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
      for (const [name, value] of Object.entries(request.configs)) validateTopicConfig(name, value, this.configBounds(request.internal ?? false));
      const minInsyncReplicas = Number(resolveTopicConfig("min.insync.replicas", request.configs, this.config.topicDefaults).value);
      if (minInsyncReplicas > replicationFactor && request.configs["min.insync.replicas"] !== undefined)
        throw new KafkaError(ErrorCode.INVALID_CONFIG, `min.insync.replicas (${minInsyncReplicas}) must not exceed the replication factor (${replicationFactor}).`);
      let replicaLists: number[][];
      if (request.replicaAssignments) {
        this.validateReplicaAssignments(request.replicaAssignments, replicationFactor);
        replicaLists = request.replicaAssignments;
      } else {
        replicaLists = assignReplicas(this.liveBrokerIds(), numPartitions, replicationFactor);
      }
      this.checkPartitionLimit(replicaLists, `Creating topic ${request.name} with ${numPartitions} partitions`);
      const topic: TopicMetadata = {
        name: request.name,
        topicId: randomTopicId(),
        partitions: replicaLists.map((replicas, partition) => initialAssignment(partition, replicas)),
        configs: { ...request.configs },
        internal: request.internal ?? false,
      };
      if (request.validateOnly) return topic;
      const version = await this.store.createTopic(topic);
      if (typeof version === "number") {
        // The partition states were written in the same revision: that is their version too.
        topic.recordVersion = version;
        for (const assignment of topic.partitions) assignment.stateVersion = version;
      }
      await this.applyTopicLocked(topic);
      const offline = this.offlinePartitions(topic.name);
      if (offline.length > 0) {
        // Never a half-created topic: what was written is removed and the client told why.
        await this.store.deleteTopic(topic.name);
        await this.removeTopicLocked(topic.name);
        throw new KafkaError(ErrorCode.KAFKA_STORAGE_ERROR, `Could not create the logs of partition(s) ${offline.slice(0, 10).join(", ")} of ${topic.name} (see the broker log); the topic was not created.`);
      }
      this.log(`created topic ${topic.name} with ${numPartitions} partition(s), replication factor ${replicationFactor}`);
      return topic;
    });
  }

  private validateReplicaAssignments(assignments: number[][], replicationFactor: number): void {
    const live = new Set(this.liveBrokerIds());
    for (const replicas of assignments) {
      if (replicas.length !== replicationFactor || new Set(replicas).size !== replicas.length)
        throw new KafkaError(ErrorCode.INVALID_REPLICA_ASSIGNMENT, "All partitions should have the same number of distinct replicas.");
      for (const replica of replicas)
        if (!live.has(replica)) throw new KafkaError(ErrorCode.INVALID_REPLICA_ASSIGNMENT, `Replica assignment names broker ${replica}, which is not registered.`);
    }
  }

  deleteTopic(name: string): Promise<void> {
    return this.exclusive(async () => {
      const topic = this.topics.get(name);
      if (!topic) throw new KafkaError(ErrorCode.UNKNOWN_TOPIC_OR_PARTITION, `Topic '${name}' does not exist.`);
      if (!this.config.deleteTopicEnable) throw new KafkaError(ErrorCode.TOPIC_DELETION_DISABLED);
      await this.store.deleteTopic(name);
      await this.removeTopicLocked(name);
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
      const replicationFactor = topic.partitions[0]!.replicas.length;
      let replicaLists: number[][];
      if (replicaAssignments) {
        if (replicaAssignments.length !== totalCount - current)
          throw new KafkaError(ErrorCode.INVALID_REPLICA_ASSIGNMENT, `Increasing the number of partitions by ${totalCount - current} but ${replicaAssignments.length} assignments provided.`);
        this.validateReplicaAssignments(replicaAssignments, replicationFactor);
        replicaLists = replicaAssignments;
      } else {
        replicaLists = assignReplicas(this.liveBrokerIds(), totalCount - current, replicationFactor, { firstPartition: current });
      }
      this.checkPartitionLimit(replicaLists, `Growing topic ${name} to ${totalCount} partitions`);
      if (validateOnly) return;
      const added = replicaLists.map((replicas, index) => initialAssignment(current + index, replicas));
      const updated: TopicMetadata = { ...topic, partitions: [...topic.partitions, ...added] };
      const version = await this.store.updateTopic(updated);
      if (typeof version === "number") {
        updated.recordVersion = version;
        for (const assignment of added) assignment.stateVersion = version;
      }
      await this.applyTopicLocked(updated);
      const offline = this.offlinePartitions(name).filter((partition) => partition >= current);
      if (offline.length > 0) {
        // Back to the old partition count: the new partitions' logs are dropped, the metadata restored.
        await this.dropLocalReplicas(name, added.map((assignment) => assignment.partition));
        const restored: TopicMetadata = { ...updated, partitions: updated.partitions.slice(0, current) };
        const restoredVersion = await this.store.updateTopic(restored);
        if (typeof restoredVersion === "number") restored.recordVersion = restoredVersion;
        this.topics.set(name, restored);
        throw new KafkaError(ErrorCode.KAFKA_STORAGE_ERROR, `Could not create the logs of partition(s) ${offline.slice(0, 10).join(", ")} of ${name} (see the broker log); the partition count stays ${current}.`);
      }
      this.log(`topic ${name} now has ${totalCount} partitions`);
    });
  }

  /**
   * Starts (target replica list) or cancels (null) partition reassignments (KIP-455). While one runs the
   * partition's replicas are the target followed by the original replicas not in it; new replicas follow
   * the leader, and the controller completes the move once every target replica is in sync.
   */
  alterReassignments(name: string, changes: { partition: number; target: number[] | null }[]): Promise<{ partition: number; errorCode: number; errorMessage: string | null }[]> {
    return this.exclusive(async () => {
      const topic = this.topics.get(name);
      if (!topic) throw new KafkaError(ErrorCode.UNKNOWN_TOPIC_OR_PARTITION, `Topic '${name}' does not exist.`);
      const reassignments: Record<number, PartitionReassignment> = structuredClone(topic.reassignments ?? {});
      const partitions = topic.partitions.map((assignment) => ({ ...assignment, replicas: [...assignment.replicas] }));
      const live = new Set(this.liveBrokerIds());
      const results = changes.map(({ partition, target }) => {
        const assignment = partitions[partition];
        if (!assignment) return { partition, errorCode: ErrorCode.UNKNOWN_TOPIC_OR_PARTITION as number, errorMessage: `Partition ${partition} of ${name} does not exist.` };
        const ongoing = reassignments[partition];
        if (target === null) {
          if (!ongoing) return { partition, errorCode: ErrorCode.NO_REASSIGNMENT_IN_PROGRESS as number, errorMessage: null };
          assignment.replicas = [...ongoing.original];
          delete reassignments[partition];
          return { partition, errorCode: ErrorCode.NONE as number, errorMessage: null };
        }
        if (target.length === 0 || new Set(target).size !== target.length) return { partition, errorCode: ErrorCode.INVALID_REPLICA_ASSIGNMENT as number, errorMessage: "The target replicas must be distinct and not empty." };
        const unknown = target.filter((replica) => !live.has(replica));
        if (unknown.length > 0) return { partition, errorCode: ErrorCode.INVALID_REPLICA_ASSIGNMENT as number, errorMessage: `Broker(s) ${unknown} are not registered.` };
        const original = ongoing?.original ?? assignment.replicas;
        if (!ongoing && target.join() === original.join()) return { partition, errorCode: ErrorCode.NONE as number, errorMessage: null };
        reassignments[partition] = { target: [...target], original: [...original] };
        assignment.replicas = [...target, ...original.filter((replica) => !target.includes(replica))];
        return { partition, errorCode: ErrorCode.NONE as number, errorMessage: null };
      });
      if (results.every((result) => result.errorCode !== ErrorCode.NONE)) return results;
      const updated: TopicMetadata = { ...topic, partitions, reassignments };
      if (Object.keys(reassignments).length === 0) delete updated.reassignments;
      const version = await this.store.updateTopic(updated);
      if (typeof version === "number") updated.recordVersion = version;
      await this.applyTopicLocked(updated);
      this.log(`${name}: reassignment of partition(s) ${changes.map((change) => `${change.partition} -> [${change.target ?? "cancel"}]`).join(", ")}`);
      return results;
    });
  }

  /** Replaces (incremental=false) or merges topic config overrides; null deletes an override. */
  alterConfigs(name: string, changes: Record<string, string | null>, incremental: boolean, validateOnly: boolean): Promise<void> {
    return this.exclusive(async () => {
      const topic = this.topics.get(name);
      if (!topic) throw new KafkaError(ErrorCode.UNKNOWN_TOPIC_OR_PARTITION, `Topic '${name}' does not exist.`);
      for (const [configName, value] of Object.entries(changes)) validateTopicConfig(configName, value, this.configBounds(topic.internal ?? false));
      const configs: Record<string, string> = incremental ? { ...topic.configs } : {};
      for (const [configName, value] of Object.entries(changes)) {
        if (value === null) delete configs[configName];
        else configs[configName] = value;
      }
      if (validateOnly) return;
      const updated: TopicMetadata = { ...topic, configs };
      const version = await this.store.updateTopic(updated);
      if (typeof version === "number") updated.recordVersion = version;
      await this.applyTopicLocked(updated);
    });
  }
}

/** A new partition starts with its preferred replica leading and every replica in sync (all logs are empty). */
function initialAssignment(partition: number, replicas: number[]): PartitionAssignment {
  return { partition, replicas: [...replicas], leader: replicas[0]!, leaderEpoch: 0, isr: [...replicas], stateVersion: 0 };
}
