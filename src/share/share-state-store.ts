// Share-group state on disk: the compacted internal topic __share_group_state (docs/share-groups.md §4),
// written and replayed through InternalTopicStore like __consumer_offsets. A share partition's
// snapshot and a group's configs live in the partition their key hashes to (Kafka's share coordinator keys
// state by "group:topicId:partition"). A state partition is replayed once, on first need, into memory; every
// write afterwards updates that copy, so reads after the load never touch the log.
import { InternalTopicStore, keyPartitionFor, type InternalTopicServices } from "../metadata/internal-topic-store.ts";
import { ErrorCode } from "../protocol/errors.ts";
import {
  decodeShareGroupConfig,
  decodeShareSnapshot,
  decodeShareStateKey,
  encodeShareGroupConfig,
  encodeShareSnapshot,
  encodeShareStateKey,
  SHARE_STATE_TOPIC,
  shareStateKeyString,
  type ShareSnapshot,
  type ShareStateKey,
} from "./share-state-records.ts";

export interface ShareStateTopicSettings {
  numPartitions: number;
  replicationFactor: number;
  segmentBytes: number;
  appendTimeoutMs: number;
}

type StoredValue = { kind: "snapshot"; snapshot: ShareSnapshot } | { kind: "config"; configs: Record<string, string> };

export class ShareStateStore {
  private readonly store: InternalTopicStore;
  private readonly values = new Map<string, StoredValue>();
  private readonly loads = new Map<number, Promise<void>>();

  constructor(
    private readonly services: InternalTopicServices,
    settings: ShareStateTopicSettings,
  ) {
    this.store = new InternalTopicStore(services, {
      name: SHARE_STATE_TOPIC,
      numPartitions: settings.numPartitions,
      replicationFactor: settings.replicationFactor,
      segmentBytes: settings.segmentBytes,
      minInsyncReplicas: null,
      appendTimeoutMs: settings.appendTimeoutMs,
      loadBufferBytes: 1024 * 1024,
    });
  }

  /** Kafka's share coordinator key: "group:topicId:partition" for a share partition, the group id for configs. */
  private partitionOf(key: ShareStateKey): number {
    return keyPartitionFor(key.kind === "snapshot" ? `${key.groupId}:${key.topicId}:${key.partition}` : key.groupId, this.store.numPartitions);
  }

  private ensureLoaded(partition: number): Promise<void> {
    let load = this.loads.get(partition);
    if (!load) {
      load = this.loadPartition(partition);
      this.loads.set(partition, load);
      // A failed load is tried again by the next caller.
      load.catch(() => this.loads.delete(partition));
    }
    return load;
  }

  private async loadPartition(partition: number): Promise<void> {
    if (!this.store.exists) return;
    let unreadable = 0;
    const result = await this.store.load(partition, (record) => {
      if (!record.key) return;
      try {
        const key = decodeShareStateKey(record.key);
        const keyString = shareStateKeyString(key);
        if (!record.value) this.values.delete(keyString);
        else if (key.kind === "snapshot") this.values.set(keyString, { kind: "snapshot", snapshot: decodeShareSnapshot(record.value) });
        else this.values.set(keyString, { kind: "config", configs: decodeShareGroupConfig(record.value) });
      } catch {
        unreadable++;
      }
    });
    if (unreadable > 0 || result.skippedBatches > 0) this.services.log(`${SHARE_STATE_TOPIC}-${partition}: ${unreadable} unreadable records, ${result.skippedBatches} skipped batches (${result.firstSkipReason ?? "bad records"})`);
  }

  async readSnapshot(groupId: string, topicId: string, partition: number): Promise<ShareSnapshot | null> {
    const key: ShareStateKey = { kind: "snapshot", groupId, topicId, partition };
    await this.ensureLoaded(this.partitionOf(key));
    const value = this.values.get(shareStateKeyString(key));
    return value?.kind === "snapshot" ? value.snapshot : null;
  }

  /** Appends the snapshot and waits until it is committed; the error code of the append (NONE when durable). */
  async writeSnapshot(groupId: string, topicId: string, partition: number, snapshot: ShareSnapshot): Promise<number> {
    const key: ShareStateKey = { kind: "snapshot", groupId, topicId, partition };
    const statePartition = this.partitionOf(key);
    await this.ensureLoaded(statePartition);
    const errorCode = await this.store.append(statePartition, [{ key: encodeShareStateKey(key), value: encodeShareSnapshot(snapshot) }]);
    if (errorCode === ErrorCode.NONE) {
      const keyString = shareStateKeyString(key);
      const current = this.values.get(keyString);
      // Appends complete in log order, but keep the newest in memory even if their promises do not.
      if (current?.kind !== "snapshot" || current.snapshot.snapshotEpoch <= snapshot.snapshotEpoch) this.values.set(keyString, { kind: "snapshot", snapshot });
    }
    return errorCode;
  }

  async readConfig(groupId: string): Promise<Record<string, string>> {
    const key: ShareStateKey = { kind: "config", groupId };
    await this.ensureLoaded(this.partitionOf(key));
    const value = this.values.get(shareStateKeyString(key));
    return value?.kind === "config" ? { ...value.configs } : {};
  }

  async writeConfig(groupId: string, configs: Record<string, string>): Promise<number> {
    const key: ShareStateKey = { kind: "config", groupId };
    const statePartition = this.partitionOf(key);
    await this.ensureLoaded(statePartition);
    const errorCode = await this.store.append(statePartition, [{ key: encodeShareStateKey(key), value: encodeShareGroupConfig(configs) }]);
    if (errorCode === ErrorCode.NONE) this.values.set(shareStateKeyString(key), { kind: "config", configs: { ...configs } });
    return errorCode;
  }

  /** Leadership of a state partition moved (cluster mode): its copy in memory is read again on next need. */
  forgetPartition(partition: number): void {
    this.loads.delete(partition);
  }
}
