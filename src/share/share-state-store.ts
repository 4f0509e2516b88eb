// Share-group state on disk: the compacted internal topic __share_group_state (docs/share-groups.md §4),
// written and replayed through InternalTopicStore like __consumer_offsets. A share partition's
// snapshot and a group's configs live in the partition their key hashes to (Kafka's share coordinator keys
// state by "group:topicId:partition"). A state partition is replayed once, on first need, into memory; every
// write afterwards updates that copy, so reads after the load never touch the log.
//
// The broker leading a key's state partition is its share coordinator. A share partition's leader elsewhere in a
// cluster reads and writes its snapshot there with ReadShareGroupState/WriteShareGroupState (Kafka's persister);
// the coordinator refuses a write whose leader epoch is older than the stored one (FENCED_LEADER_EPOCH), so a
// deposed leader cannot overwrite its successor's state. Group configs are written on their partition's leader;
// another broker reads them from its own replica of the partition, at most CONFIG_REFRESH_MS old.
import { InternalTopicStore, keyPartitionFor, type InternalTopicServices } from "../metadata/internal-topic-store.ts";
import { ErrorCode, KafkaError } from "../protocol/errors.ts";
import { ApiKey } from "../protocol/generated/index.ts";
import type { ReadShareGroupStateResponse } from "../protocol/generated/read-share-group-state.ts";
import type { WriteShareGroupStateResponse } from "../protocol/generated/write-share-group-state.ts";
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

/** How this broker reaches the share coordinator on another broker (absent: a single node, everything is local). */
export interface ShareStateRemote {
  readonly nodeId: number;
  request<T>(nodeId: number, apiKey: number, apiVersion: number, body: object): Promise<T>;
}

/** A remote reader's view of the group configs of another broker's state partition is reloaded after this long. */
const CONFIG_REFRESH_MS = 5000;

type Route = { local: true } | { local: false; leader: number } | { local: false; errorCode: number };

type StoredValue = { kind: "snapshot"; snapshot: ShareSnapshot } | { kind: "config"; configs: Record<string, string> };

export class ShareStateStore {
  private readonly store: InternalTopicStore;
  private readonly values = new Map<string, StoredValue>();
  private readonly loads = new Map<number, Promise<boolean>>();
  private readonly loadedAtMs = new Map<number, number>();
  private readonly snapshotEpochs = new Map<string, number>();

  constructor(
    private readonly services: InternalTopicServices,
    settings: ShareStateTopicSettings,
    private readonly remote: ShareStateRemote | null = null,
    private readonly nowMs: () => number = Date.now,
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

  /** Where a state partition's coordinator is: here (or no topic yet: it will be created here), another broker, or nowhere. */
  private route(statePartition: number): Route {
    const topic = this.services.topics.get(SHARE_STATE_TOPIC);
    if (!topic || !this.remote) return { local: true };
    const leader = topic.partitions[statePartition]?.leader ?? -1;
    if (leader === this.remote.nodeId) return { local: true };
    if (leader < 0) return { local: false, errorCode: ErrorCode.COORDINATOR_NOT_AVAILABLE };
    return { local: false, leader };
  }

  private async ensureLoaded(partition: number): Promise<void> {
    let load = this.loads.get(partition);
    if (!load) {
      this.loadedAtMs.set(partition, this.nowMs());
      load = this.loadPartition(partition);
      this.loads.set(partition, load);
      // A failed load is tried again by the next caller, and so is one that found no topic yet (another broker
      // may be creating it and writing to it: this one must not keep "nothing" as what the partition holds).
      const loading = load;
      load.then(
        (found) => {
          if (!found && this.loads.get(partition) === loading) this.loads.delete(partition);
        },
        () => this.loads.delete(partition),
      );
    }
    await load;
  }

  /** Replays one state partition into memory; false when the topic did not exist yet (nothing was read). */
  private async loadPartition(partition: number): Promise<boolean> {
    if (!this.store.exists) return false;
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
    return true;
  }

  /** The share partition's state from its coordinator, here or on another broker; null when it has none. */
  async readSnapshot(groupId: string, topicId: string, partition: number, leaderEpoch = -1): Promise<ShareSnapshot | null> {
    const key: ShareStateKey = { kind: "snapshot", groupId, topicId, partition };
    const route = this.route(this.partitionOf(key));
    if (!route.local) {
      if ("errorCode" in route) throw new KafkaError(route.errorCode);
      return this.readRemote(route.leader, groupId, topicId, partition, leaderEpoch);
    }
    return this.readLocal(groupId, topicId, partition);
  }

  /** As the share coordinator: the stored snapshot (ReadShareGroupState). NOT_COORDINATOR when this broker does not lead its partition. */
  async readLocal(groupId: string, topicId: string, partition: number): Promise<ShareSnapshot | null> {
    const key: ShareStateKey = { kind: "snapshot", groupId, topicId, partition };
    const statePartition = this.partitionOf(key);
    if (!this.route(statePartition).local) throw new KafkaError(ErrorCode.NOT_COORDINATOR);
    await this.ensureLoaded(statePartition);
    const value = this.values.get(shareStateKeyString(key));
    return value?.kind === "snapshot" ? value.snapshot : null;
  }

  /** Writes the snapshot at its coordinator and waits until it is committed; the error code (NONE when durable). */
  async writeSnapshot(groupId: string, topicId: string, partition: number, snapshot: ShareSnapshot): Promise<number> {
    const key: ShareStateKey = { kind: "snapshot", groupId, topicId, partition };
    // The topic first: in a cluster its partitions' leaders decide where the snapshot goes.
    if (!this.store.exists && this.remote) {
      try {
        await this.store.ensureTopic();
      } catch {
        return ErrorCode.COORDINATOR_NOT_AVAILABLE;
      }
    }
    const route = this.route(this.partitionOf(key));
    if (!route.local) return "errorCode" in route ? route.errorCode : this.writeRemote(route.leader, groupId, topicId, partition, snapshot);
    return this.writeLocal(groupId, topicId, partition, snapshot);
  }

  /**
   * As the share coordinator (WriteShareGroupState, or a share partition led here): appends the snapshot unless a
   * newer leader epoch already wrote one (FENCED_LEADER_EPOCH). NOT_COORDINATOR when this broker does not lead its partition.
   */
  async writeLocal(groupId: string, topicId: string, partition: number, snapshot: ShareSnapshot): Promise<number> {
    const key: ShareStateKey = { kind: "snapshot", groupId, topicId, partition };
    const statePartition = this.partitionOf(key);
    if (!this.route(statePartition).local) return ErrorCode.NOT_COORDINATOR;
    await this.ensureLoaded(statePartition);
    const keyString = shareStateKeyString(key);
    const stored = this.values.get(keyString);
    const storedSnapshot = stored?.kind === "snapshot" ? stored.snapshot : null;
    if (storedSnapshot && snapshot.leaderEpoch >= 0 && storedSnapshot.leaderEpoch > snapshot.leaderEpoch) return ErrorCode.FENCED_LEADER_EPOCH;
    // The coordinator numbers the snapshots of a key (whichever leader wrote them), in the order they are appended.
    const snapshotEpoch = Math.max(this.snapshotEpochs.get(keyString) ?? 0, storedSnapshot?.snapshotEpoch ?? 0) + 1;
    this.snapshotEpochs.set(keyString, snapshotEpoch);
    snapshot = { ...snapshot, snapshotEpoch };
    const errorCode = await this.store.append(statePartition, [{ key: encodeShareStateKey(key), value: encodeShareSnapshot(snapshot) }]);
    if (errorCode === ErrorCode.NONE) {
      const current = this.values.get(keyString);
      // Appends complete in log order, but keep the newest in memory even if their promises do not.
      if (current?.kind !== "snapshot" || current.snapshot.snapshotEpoch <= snapshot.snapshotEpoch) this.values.set(keyString, { kind: "snapshot", snapshot });
    }
    return errorCode;
  }

  /**
   * The group's configs. Another broker's partition is read from this broker's replica, again once that copy is
   * CONFIG_REFRESH_MS old, or now with `fresh` (a share partition's first fetch decides where it starts by them).
   */
  async readConfig(groupId: string, fresh = false): Promise<Record<string, string>> {
    const key: ShareStateKey = { kind: "config", groupId };
    const statePartition = this.partitionOf(key);
    if (!this.route(statePartition).local && (fresh || this.nowMs() - (this.loadedAtMs.get(statePartition) ?? 0) > CONFIG_REFRESH_MS)) this.loads.delete(statePartition);
    await this.ensureLoaded(statePartition);
    const value = this.values.get(shareStateKeyString(key));
    return value?.kind === "config" ? { ...value.configs } : {};
  }

  /** This broker leads the group's config partition (or nobody has created the topic yet): it may write them. */
  coordinatesConfig(groupId: string): boolean {
    return this.route(this.partitionOf({ kind: "config", groupId })).local;
  }

  async writeConfig(groupId: string, configs: Record<string, string>): Promise<number> {
    const key: ShareStateKey = { kind: "config", groupId };
    const statePartition = this.partitionOf(key);
    if (!this.route(statePartition).local) return ErrorCode.NOT_COORDINATOR;
    await this.ensureLoaded(statePartition);
    const errorCode = await this.store.append(statePartition, [{ key: encodeShareStateKey(key), value: encodeShareGroupConfig(configs) }]);
    if (errorCode === ErrorCode.NONE) this.values.set(shareStateKeyString(key), { kind: "config", configs: { ...configs } });
    return errorCode;
  }

  private async readRemote(leader: number, groupId: string, topicId: string, partition: number, leaderEpoch: number): Promise<ShareSnapshot | null> {
    let response: ReadShareGroupStateResponse;
    try {
      response = await this.remote!.request<ReadShareGroupStateResponse>(leader, ApiKey.ReadShareGroupState, 0, { groupId, topics: [{ topicId: Buffer.from(topicId, "hex"), partitions: [{ partition, leaderEpoch }] }] });
    } catch {
      throw new KafkaError(ErrorCode.COORDINATOR_NOT_AVAILABLE, `the share coordinator (broker ${leader}) cannot be reached`);
    }
    const result = response.results[0]?.partitions[0];
    if (!result) throw new KafkaError(ErrorCode.UNKNOWN_SERVER_ERROR, "empty ReadShareGroupState answer");
    if (result.errorCode !== ErrorCode.NONE) throw new KafkaError(result.errorCode, result.errorMessage ?? undefined);
    // Bunka's coordinator answers a share partition without state with state epoch -1.
    if (result.stateEpoch < 0) return null;
    return {
      snapshotEpoch: 0,
      leaderEpoch,
      stateEpoch: result.stateEpoch,
      startOffset: Number(result.startOffset),
      stateBatches: result.stateBatches.map((batch) => ({ firstOffset: Number(batch.firstOffset), lastOffset: Number(batch.lastOffset), deliveryState: batch.deliveryState, deliveryCount: batch.deliveryCount })),
    };
  }

  private async writeRemote(leader: number, groupId: string, topicId: string, partition: number, snapshot: ShareSnapshot): Promise<number> {
    try {
      const response = await this.remote!.request<WriteShareGroupStateResponse>(leader, ApiKey.WriteShareGroupState, 0, {
        groupId,
        topics: [{ topicId: Buffer.from(topicId, "hex"), partitions: [{ partition, stateEpoch: snapshot.stateEpoch, leaderEpoch: snapshot.leaderEpoch, startOffset: snapshot.startOffset, stateBatches: snapshot.stateBatches }] }],
      });
      return response.results[0]?.partitions[0]?.errorCode ?? ErrorCode.UNKNOWN_SERVER_ERROR;
    } catch {
      return ErrorCode.COORDINATOR_NOT_AVAILABLE;
    }
  }

  /** Leadership of a state partition moved (cluster mode): its copy in memory is read again on next need. */
  forgetPartition(partition: number): void {
    this.loads.delete(partition);
  }
}
