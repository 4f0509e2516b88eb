// Group coordinator settings, with Kafka's names and defaults. The ones in BrokerConfig come from there;
// the rest are read from the broker's raw properties (the same key=value file), so every bound is a named
// value an operator can change.
import type { BrokerConfig } from "../config/broker-config.ts";

export interface GroupCoordinatorConfig {
  /** group.initial.rebalance.delay.ms: how long the first rebalance of an empty group waits for more members. */
  groupInitialRebalanceDelayMs: number;
  /** group.min.session.timeout.ms / group.max.session.timeout.ms: JoinGroup outside → INVALID_SESSION_TIMEOUT. */
  groupMinSessionTimeoutMs: number;
  groupMaxSessionTimeoutMs: number;
  /** group.max.size: members per group (Kafka: unbounded by default; a bound here). */
  groupMaxSize: number;
  /** Members that got MEMBER_ID_REQUIRED but have not joined yet, per group. */
  groupPendingMembersMax: number;
  /** offset.metadata.max.bytes: longer commit metadata → OFFSET_METADATA_TOO_LARGE. */
  offsetMetadataMaxBytes: number;
  /** offsets.topic.num.partitions / offsets.topic.segment.bytes / offsets.topic.replication.factor. */
  offsetsTopicNumPartitions: number;
  offsetsTopicSegmentBytes: number;
  offsetsTopicReplicationFactor: number;
  /** offsets.commit.timeout.ms: how long a commit waits for its append to be committed (cluster mode). */
  offsetCommitTimeoutMs: number;
  /** offsets.retention.minutes: committed offsets of a group that stayed empty this long are expired. */
  offsetsRetentionMs: number;
  /** offsets.retention.check.interval.ms: how often expired offsets and dead empty groups are removed. */
  offsetsRetentionCheckIntervalMs: number;
  /** offsets.load.buffer.size: bytes read per step when loading the offsets topic. */
  offsetsLoadBufferBytes: number;
  /** transaction.max.staged.offsets (Bunka's own): offsets open transactions hold staged on this broker (TxnOffsetCommit). */
  transactionalOffsetsMax: number;
  /** A new member's JoinGroup may wait this long in a rebalance before it is dropped (Kafka's NewMemberJoinTimeoutMs). */
  newMemberJoinTimeoutMs: number;
  /** The consumer protocol (KIP-848): group.consumer.* settings. */
  consumer: ConsumerProtocolConfig;
}

export interface ConsumerProtocolConfig {
  sessionTimeoutMs: number;
  heartbeatIntervalMs: number;
  /** group.consumer.assignors: the names members may ask for; the first is the default. */
  assignors: string[];
  maxSize: number;
  maxGroups: number;
  maxSubscribedTopics: number;
  maxRegexLength: number;
  /** group.consumer.migration.policy: which online conversions between classic and consumer groups happen. */
  migrationPolicy: ConsumerMigrationPolicy;
}

export type ConsumerMigrationPolicy = "bidirectional" | "upgrade" | "downgrade" | "disabled";
const MIGRATION_POLICIES: readonly ConsumerMigrationPolicy[] = ["bidirectional", "upgrade", "downgrade", "disabled"];

function integerProperty(properties: Record<string, string>, name: string, fallback: number): number {
  const text = properties[name];
  if (text === undefined) return fallback;
  if (!/^-?\d+$/.test(text.trim())) throw new Error(`config: ${name} must be an integer, got "${text}"`);
  return Number(text.trim());
}

/** The broker settings the coordinator reads: its typed ones, and the rest by Kafka name from `properties`. */
export type GroupBrokerSettings = Pick<
  BrokerConfig,
  "nodeId" | "properties" | "groupInitialRebalanceDelayMs" | "groupMinSessionTimeoutMs" | "groupMaxSessionTimeoutMs" | "offsetsTopicNumPartitions" | "offsetsTopicSegmentBytes"
>;

export function groupCoordinatorConfig(config: GroupBrokerSettings): GroupCoordinatorConfig {
  const properties = config.properties;
  const result: GroupCoordinatorConfig = {
    groupInitialRebalanceDelayMs: config.groupInitialRebalanceDelayMs,
    groupMinSessionTimeoutMs: config.groupMinSessionTimeoutMs,
    groupMaxSessionTimeoutMs: config.groupMaxSessionTimeoutMs,
    groupMaxSize: integerProperty(properties, "group.max.size", 10_000),
    groupPendingMembersMax: integerProperty(properties, "group.pending.members.max", 10_000),
    offsetMetadataMaxBytes: integerProperty(properties, "offset.metadata.max.bytes", 4096),
    offsetsTopicNumPartitions: config.offsetsTopicNumPartitions,
    offsetsTopicSegmentBytes: config.offsetsTopicSegmentBytes,
    offsetsTopicReplicationFactor: integerProperty(properties, "offsets.topic.replication.factor", -1),
    offsetCommitTimeoutMs: integerProperty(properties, "offsets.commit.timeout.ms", 5000),
    offsetsRetentionMs: integerProperty(properties, "offsets.retention.minutes", 10080) * 60_000,
    offsetsRetentionCheckIntervalMs: integerProperty(properties, "offsets.retention.check.interval.ms", 600_000),
    offsetsLoadBufferBytes: integerProperty(properties, "offsets.load.buffer.size", 5 * 1024 * 1024),
    newMemberJoinTimeoutMs: integerProperty(properties, "group.new.member.join.timeout.ms", 300_000),
    transactionalOffsetsMax: integerProperty(properties, "transaction.max.staged.offsets", 100_000),
    consumer: {
      sessionTimeoutMs: integerProperty(properties, "group.consumer.session.timeout.ms", 45_000),
      heartbeatIntervalMs: integerProperty(properties, "group.consumer.heartbeat.interval.ms", 5000),
      assignors: (properties["group.consumer.assignors"] ?? "uniform,range").split(",").map((name) => name.trim()).filter((name) => name.length > 0),
      maxSize: integerProperty(properties, "group.consumer.max.size", 10_000),
      maxGroups: integerProperty(properties, "group.consumer.max.groups", 10_000),
      maxSubscribedTopics: integerProperty(properties, "group.consumer.max.subscribed.topics", 10_000),
      maxRegexLength: integerProperty(properties, "group.consumer.max.regex.length", 1024),
      migrationPolicy: (properties["group.consumer.migration.policy"] ?? "bidirectional").trim().toLowerCase() as ConsumerMigrationPolicy,
    },
  };
  const unknownAssignor = result.consumer.assignors.find((name) => name !== "uniform" && name !== "range");
  if (unknownAssignor !== undefined) throw new Error(`config: group.consumer.assignors: unknown assignor "${unknownAssignor}" (uniform and range exist)`);
  if (!MIGRATION_POLICIES.includes(result.consumer.migrationPolicy)) throw new Error(`config: group.consumer.migration.policy must be one of ${MIGRATION_POLICIES.join(", ")}`);
  if (result.consumer.assignors.length === 0) throw new Error("config: group.consumer.assignors names no assignor");
  if (result.consumer.heartbeatIntervalMs >= result.consumer.sessionTimeoutMs) throw new Error("config: group.consumer.heartbeat.interval.ms must be less than group.consumer.session.timeout.ms");
  if (result.offsetsTopicNumPartitions < 1) throw new Error("config: offsets.topic.num.partitions must be at least 1");
  if (result.groupMinSessionTimeoutMs > result.groupMaxSessionTimeoutMs) throw new Error("config: group.min.session.timeout.ms exceeds group.max.session.timeout.ms");
  if (result.offsetsLoadBufferBytes < 1024) throw new Error("config: offsets.load.buffer.size must be at least 1024");
  return result;
}
