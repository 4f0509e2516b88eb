// Share groups as one broker part (KIP-932, docs/share-groups.md): membership (group/share-group/), the
// leader's share partitions and sessions (share-partition-manager.ts), their durable state and the groups'
// configs in __share_group_state (share-state-store.ts). server/broker.ts builds it from the settings; the
// handlers reach it as `context.shareGroups`.
import { ShareGroupCoordinator } from "../group/share-group/share-group-coordinator.ts";
import { KafkaError, ErrorCode } from "../protocol/errors.ts";
import { describeShareGroupConfig, validateShareGroupConfig, type ShareBrokerDefaults } from "./share-group-configs.ts";
import { SharePartitionManager } from "./share-partition-manager.ts";
import type { ShareServices } from "./share-services.ts";
import { ShareStateStore, type ShareStateRemote } from "./share-state-store.ts";
import type { ShareSnapshot } from "./share-state-records.ts";
import { SHARE_STATE_TOPIC } from "./share-state-records.ts";

export interface ShareGroupSettings extends ShareBrokerDefaults {
  sessionTimeoutMs: number;
  heartbeatIntervalMs: number;
  maxGroups: number;
  maxSize: number;
  maxSessions: number;
  stateTopicPartitions: number;
  stateTopicReplicationFactor: number;
  stateTopicSegmentBytes: number;
}

/** The share-group settings from the broker's properties (defaults and bounds: config/broker-config.ts). */
export function shareGroupSettings(properties: Readonly<Record<string, string>>): ShareGroupSettings {
  const int = (name: string, fallback: number) => (properties[name] === undefined ? fallback : Number(properties[name]));
  return {
    sessionTimeoutMs: int("group.share.session.timeout.ms", 45_000),
    heartbeatIntervalMs: int("group.share.heartbeat.interval.ms", 5000),
    maxGroups: int("group.share.max.groups", 10),
    maxSize: int("group.share.max.size", 200),
    lockDurationMs: int("group.share.record.lock.duration.ms", 30_000),
    maxLockDurationMs: int("group.share.max.record.lock.duration.ms", 60_000),
    deliveryCountLimit: int("group.share.delivery.count.limit", 5),
    maxRecordLocks: int("group.share.partition.max.record.locks", 200),
    maxSessions: int("group.share.max.share.sessions", 2000),
    stateTopicPartitions: int("share.coordinator.state.topic.num.partitions", 50),
    stateTopicReplicationFactor: int("share.coordinator.state.topic.replication.factor", -1),
    stateTopicSegmentBytes: int("share.coordinator.state.topic.segment.bytes", 104_857_600),
    deadLetterTopicPrefix: properties["errors.deadletterqueue.topic.name.prefix"] ?? "dlq.",
  };
}

/** How often idle share sessions are looked for. */
const SESSION_SWEEP_INTERVAL_MS = 1000;

export class ShareGroups {
  readonly coordinator: ShareGroupCoordinator;
  readonly partitions: SharePartitionManager;
  private readonly store: ShareStateStore;

  constructor(
    services: ShareServices,
    private readonly settings: ShareGroupSettings,
    /** The share coordinators on other brokers (cluster mode); null on a single node. */
    remote: ShareStateRemote | null = null,
  ) {
    this.store = new ShareStateStore(
      services,
      {
        numPartitions: settings.stateTopicPartitions,
        replicationFactor: settings.stateTopicReplicationFactor,
        segmentBytes: settings.stateTopicSegmentBytes,
        appendTimeoutMs: 30_000,
      },
      remote,
      () => services.nowMs(),
    );
    this.partitions = new SharePartitionManager(services, this.store, settings);
    this.coordinator = new ShareGroupCoordinator(settings, {
      topics: services.topics,
      nowMs: () => services.nowMs(),
      onMemberRemoved: (groupId, memberId) => {
        this.partitions.releaseMember(groupId, memberId).catch((error) => services.log(`share group ${groupId}: releasing member ${memberId} failed: ${String(error)}`));
      },
      log: (message) => services.log(message),
    });
  }

  private sessionSweep: ReturnType<typeof setInterval> | null = null;

  start(): void {
    this.coordinator.start();
    this.sessionSweep ??= setInterval(() => {
      this.partitions.expireSessions().catch(() => undefined);
    }, SESSION_SWEEP_INTERVAL_MS);
    this.sessionSweep.unref?.();
  }

  stop(): void {
    this.coordinator.stop();
    if (this.sessionSweep) clearInterval(this.sessionSweep);
    this.sessionSweep = null;
  }

  /** A data partition's leadership left this broker: its share partitions go (read again from the store if it returns). */
  onLeadershipChange(topic: string, partition: number, leading: boolean): void {
    if (topic === SHARE_STATE_TOPIC) this.store.forgetPartition(partition);
    else if (!leading) this.partitions.dropPartition(topic, partition);
  }

  /** As the share coordinator: ReadShareGroupState. */
  readState(groupId: string, topicId: string, partition: number): Promise<ShareSnapshot | null> {
    return this.store.readLocal(groupId, topicId, partition);
  }

  /** As the share coordinator: WriteShareGroupState. */
  writeState(groupId: string, topicId: string, partition: number, snapshot: ShareSnapshot): Promise<number> {
    return this.store.writeLocal(groupId, topicId, partition, snapshot);
  }

  /** DescribeConfigs on the GROUP resource. */
  async describeConfigs(groupId: string): Promise<{ name: string; value: string | null; isDefault: boolean }[]> {
    return describeShareGroupConfig(await this.store.readConfig(groupId), this.settings);
  }

  /** IncrementalAlterConfigs on the GROUP resource: SET (0) and DELETE (1) of share configs, persisted before the answer. */
  async alterConfigs(groupId: string, changes: readonly { name: string; operation: number; value: string | null }[], validateOnly: boolean): Promise<void> {
    if (!groupId) throw new KafkaError(ErrorCode.INVALID_GROUP_ID);
    // Only the leader of the group's config partition reads and writes them (elsewhere the copy may be stale).
    if (!this.store.coordinatesConfig(groupId)) throw new KafkaError(ErrorCode.NOT_COORDINATOR, "group configs are written on the leader of the group's __share_group_state partition");
    const configs = await this.store.readConfig(groupId);
    for (const change of changes) {
      if (change.operation === 0) {
        if (change.value === null) throw new KafkaError(ErrorCode.INVALID_CONFIG, `${change.name}: a value is required`);
        validateShareGroupConfig(change.name, change.value, this.settings);
        configs[change.name] = change.value;
      } else if (change.operation === 1) {
        validateShareGroupConfig(change.name, describeDefault(change.name, this.settings), this.settings);
        delete configs[change.name];
      } else throw new KafkaError(ErrorCode.INVALID_CONFIG, `${change.name}: only SET and DELETE apply to group configs`);
    }
    if (validateOnly) return;
    const errorCode = await this.store.writeConfig(groupId, configs);
    if (errorCode !== ErrorCode.NONE) throw new KafkaError(errorCode, "the group configs could not be persisted");
  }
}

/** A value that passes validation, to check only the name of a DELETE. */
function describeDefault(name: string, settings: ShareBrokerDefaults): string {
  const value = describeShareGroupConfig({}, settings).find((config) => config.name === name)?.value;
  return value ?? `${settings.deadLetterTopicPrefix}x`;
}
