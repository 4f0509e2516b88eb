// Cluster metadata in etcd: the key layout, the values (msgpackr), the mirror every broker keeps of it, and
// the MetadataStore whose writes are etcd transactions (compare-and-swap), so that two brokers can never
// both install a leader for the same partition epoch.
//
//   <root>/brokers/<id>               BrokerRecord, on the broker's lease: present while it is alive
//   <root>/controller                 ControllerRecord, on the controller's lease
//   <root>/topics/<name>              TopicRecord: id, replica lists, configs
//   <root>/partitions/<name>/<index>  PartitionState: leader, leader epoch, ISR (its mod revision versions it)
//   <root>/producer-ids               next producer id block
import { pack, unpack } from "msgpackr";
import { ErrorCode, KafkaError } from "../protocol/errors.ts";
import type { BrokerInfo, MetadataStore, PartitionReassignment, PartitionState, TopicMetadata } from "../metadata/types.ts";
import type { KeyValue, MetadataKv, Op, WatchEvent } from "./etcd/index.ts";

export interface TopicRecord {
  name: string;
  topicId: string;
  replicas: number[][];
  configs: Record<string, string>;
  internal: boolean;
  reassignments?: Record<number, PartitionReassignment>;
}

export interface ControllerRecord {
  nodeId: number;
}

const encode = (value: unknown): Uint8Array => new Uint8Array(pack(value));
const decode = <T>(bytes: Uint8Array): T => unpack(bytes) as T;

export class EtcdKeys {
  constructor(readonly root: string) {}
  get brokers(): string {
    return `${this.root}brokers/`;
  }
  broker(nodeId: number): string {
    return `${this.brokers}${nodeId}`;
  }
  get controller(): string {
    return `${this.root}controller`;
  }
  get topics(): string {
    return `${this.root}topics/`;
  }
  topic(name: string): string {
    return `${this.topics}${name}`;
  }
  get partitions(): string {
    return `${this.root}partitions/`;
  }
  partitionsOf(topic: string): string {
    return `${this.partitions}${topic}/`;
  }
  partition(topic: string, partition: number): string {
    return `${this.partitionsOf(topic)}${partition}`;
  }
  get producerIds(): string {
    return `${this.root}producer-ids`;
  }
}

/** What changed when a batch of watch events was applied to the mirror. */
export interface MirrorChanges {
  brokersChanged: boolean;
  controllerChanged: boolean;
  /** Topics created or whose record changed (configs, partitions added). */
  topics: Set<string>;
  removedTopics: Set<string>;
  /** Partitions whose state changed, of topics not in `topics`. */
  partitions: { topic: string; partition: number }[];
}

/** This broker's copy of the cluster metadata, kept current by one prefix watch. */
export class MetadataMirror {
  readonly brokers = new Map<number, BrokerInfo>();
  controllerId = -1;
  readonly topicRecords = new Map<string, TopicRecord>();
  readonly topicRecordVersions = new Map<string, number>();
  readonly partitionStates = new Map<string, { state: PartitionState; version: number }>();
  revision = 0;

  constructor(readonly keys: EtcdKeys) {}

  /** Replaces everything with a full listing of the root prefix. */
  load(kvs: KeyValue[], revision: number): void {
    this.brokers.clear();
    this.topicRecords.clear();
    this.topicRecordVersions.clear();
    this.partitionStates.clear();
    this.controllerId = -1;
    for (const kv of kvs) this.put(kv);
    this.revision = revision;
  }

  apply(events: WatchEvent[], revision: number): MirrorChanges {
    const changes: MirrorChanges = { brokersChanged: false, controllerChanged: false, topics: new Set(), removedTopics: new Set(), partitions: [] };
    for (const event of events) {
      const key = event.kv.key;
      if (event.type === "put") this.put(event.kv, changes);
      else this.remove(key, changes);
    }
    changes.partitions = changes.partitions.filter(({ topic }) => !changes.topics.has(topic) && !changes.removedTopics.has(topic));
    this.revision = revision;
    return changes;
  }

  private put(kv: KeyValue, changes?: MirrorChanges): void {
    const { key } = kv;
    const keys = this.keys;
    if (key.startsWith(keys.brokers)) {
      const broker = decode<BrokerInfo>(kv.value);
      this.brokers.set(broker.nodeId, broker);
      if (changes) changes.brokersChanged = true;
    } else if (key === keys.controller) {
      this.controllerId = decode<ControllerRecord>(kv.value).nodeId;
      if (changes) changes.controllerChanged = true;
    } else if (key.startsWith(keys.topics)) {
      const record = decode<TopicRecord>(kv.value);
      // A record written before topic ids (KIP-516): every broker derives the same id from the key's creation
      // revision (a re-created topic has a new one); the next write of the record stores it.
      if (typeof record.topicId !== "string" || !/^[0-9a-f]{32}$/.test(record.topicId)) record.topicId = derivedTopicId(key, kv.createRevision);
      this.topicRecords.set(record.name, record);
      this.topicRecordVersions.set(record.name, kv.modRevision);
      changes?.topics.add(record.name);
      changes?.removedTopics.delete(record.name);
    } else if (key.startsWith(keys.partitions)) {
      const rest = key.slice(keys.partitions.length);
      const slash = rest.lastIndexOf("/");
      const topic = rest.slice(0, slash);
      const partition = Number(rest.slice(slash + 1));
      this.partitionStates.set(`${topic}\u0000${partition}`, { state: decode<PartitionState>(kv.value), version: kv.modRevision });
      changes?.partitions.push({ topic, partition });
    }
  }

  private remove(key: string, changes: MirrorChanges): void {
    const keys = this.keys;
    if (key.startsWith(keys.brokers)) {
      this.brokers.delete(Number(key.slice(keys.brokers.length)));
      changes.brokersChanged = true;
    } else if (key === keys.controller) {
      this.controllerId = -1;
      changes.controllerChanged = true;
    } else if (key.startsWith(keys.topics)) {
      const name = key.slice(keys.topics.length);
      const record = this.topicRecords.get(name);
      this.topicRecords.delete(name);
      this.topicRecordVersions.delete(name);
      if (record) for (let partition = 0; partition < record.replicas.length; partition++) this.partitionStates.delete(`${name}\u0000${partition}`);
      changes.topics.delete(name);
      changes.removedTopics.add(name);
    }
  }

  /** A topic as TopicManager knows it: the record plus each partition's current state. */
  topic(name: string): TopicMetadata | undefined {
    const record = this.topicRecords.get(name);
    if (!record) return undefined;
    return {
      name: record.name,
      topicId: record.topicId,
      configs: { ...record.configs },
      internal: record.internal,
      recordVersion: this.topicRecordVersions.get(name) ?? 0,
      ...(record.reassignments && Object.keys(record.reassignments).length > 0 ? { reassignments: structuredClone(record.reassignments) } : {}),
      partitions: record.replicas.map((replicas, partition) => {
        const stored = this.partitionStates.get(`${name}\u0000${partition}`);
        const state = stored?.state ?? { leader: -1, leaderEpoch: -1, isr: [] };
        return { partition, replicas: [...replicas], leader: state.leader, leaderEpoch: state.leaderEpoch, isr: [...state.isr], stateVersion: stored?.version ?? 0 };
      }),
    };
  }

  topics(): TopicMetadata[] {
    return [...this.topicRecords.keys()].sort().map((name) => this.topic(name)!);
  }

  liveBrokers(): BrokerInfo[] {
    return [...this.brokers.values()].sort((a, b) => a.nodeId - b.nodeId);
  }
}

const PRODUCER_ID_CAS_ATTEMPTS_MAX = 20;

export class EtcdMetadataStore implements MetadataStore {
  constructor(
    private readonly etcd: MetadataKv,
    private readonly mirror: MetadataMirror,
  ) {}

  private get keys(): EtcdKeys {
    return this.mirror.keys;
  }

  async load(): Promise<TopicMetadata[]> {
    return this.mirror.topics();
  }

  /** Returns the topic record's new version. */
  async createTopic(topic: TopicMetadata): Promise<number> {
    const record = recordOf(topic);
    const result = await this.etcd.txn({
      compare: [{ key: this.keys.topic(topic.name), target: "createRevision", op: "=", value: 0 }],
      success: [
        { type: "put", key: this.keys.topic(topic.name), value: encode(record) },
        ...topic.partitions.map((p): Op => ({ type: "put", key: this.keys.partition(topic.name, p.partition), value: encode(stateOf(p)) })),
      ],
    });
    if (!result.succeeded) throw new KafkaError(ErrorCode.TOPIC_ALREADY_EXISTS, `Topic '${topic.name}' already exists.`);
    return result.revision;
  }

  /** Returns the topic record's new version. */
  async updateTopic(topic: TopicMetadata): Promise<number> {
    const known = this.mirror.topicRecords.get(topic.name);
    const record = recordOf(topic);
    const added = topic.partitions.slice(known?.replicas.length ?? 0);
    const result = await this.etcd.txn({
      compare: [
        topic.recordVersion
          ? { key: this.keys.topic(topic.name), target: "modRevision", op: "=", value: topic.recordVersion }
          : { key: this.keys.topic(topic.name), target: "createRevision", op: ">", value: 0 },
      ],
      success: [
        { type: "put", key: this.keys.topic(topic.name), value: encode(record) },
        ...added.map((p): Op => ({ type: "put", key: this.keys.partition(topic.name, p.partition), value: encode(stateOf(p)) })),
      ],
    });
    if (!result.succeeded) throw new KafkaError(ErrorCode.REASSIGNMENT_IN_PROGRESS, `Topic '${topic.name}' changed concurrently (or was deleted); retry.`);
    return result.revision;
  }

  async deleteTopic(name: string): Promise<void> {
    await this.etcd.txn({
      compare: [],
      success: [
        { type: "delete", key: this.keys.topic(name) },
        { type: "delete", key: this.keys.partitionsOf(name), prefix: true },
      ],
    });
  }

  async updatePartitionState(topic: string, partition: number, expectedVersion: number, next: PartitionState): Promise<number | null> {
    const key = this.keys.partition(topic, partition);
    const result = await this.etcd.txn({
      compare: [{ key, target: "modRevision", op: "=", value: expectedVersion }],
      success: [{ type: "put", key, value: encode(next) }],
    });
    return result.succeeded ? result.revision : null;
  }

  async completeReassignment(topic: TopicMetadata, partition: number, expectedVersion: number, next: PartitionState): Promise<number | null> {
    const key = this.keys.partition(topic.name, partition);
    const result = await this.etcd.txn({
      compare: [
        { key, target: "modRevision", op: "=", value: expectedVersion },
        { key: this.keys.topic(topic.name), target: "modRevision", op: "=", value: topic.recordVersion ?? 0 },
      ],
      success: [
        { type: "put", key: this.keys.topic(topic.name), value: encode(recordOf(topic)) },
        { type: "put", key, value: encode(next) },
      ],
    });
    return result.succeeded ? result.revision : null;
  }

  async nextProducerIdBlock(blockSize: number): Promise<number> {
    const key = this.keys.producerIds;
    for (let attempt = 0; attempt < PRODUCER_ID_CAS_ATTEMPTS_MAX; attempt++) {
      const current = await this.etcd.get(key);
      const start = current ? decode<{ next: number }>(current.value).next : 1000;
      const result = await this.etcd.txn({
        compare: [current ? { key, target: "modRevision", op: "=", value: current.modRevision } : { key, target: "createRevision", op: "=", value: 0 }],
        success: [{ type: "put", key, value: encode({ next: start + blockSize }) }],
      });
      if (result.succeeded) return start;
    }
    throw new KafkaError(ErrorCode.COORDINATOR_NOT_AVAILABLE, "could not reserve producer ids: too much contention");
  }
}

/** A version 4-shaped UUID from a hash of the topic key and its creation revision: the same on every broker. */
export function derivedTopicId(key: string, createRevision: number): string {
  const bytes = new Uint8Array(new Bun.CryptoHasher("sha256").update(`${key}\u0000${createRevision}`).digest().subarray(0, 16));
  bytes[6] = (bytes[6]! & 0x0f) | 0x40;
  bytes[8] = (bytes[8]! & 0x3f) | 0x80;
  return Buffer.from(bytes).toString("hex");
}

function recordOf(topic: TopicMetadata): TopicRecord {
  const record: TopicRecord = { name: topic.name, topicId: topic.topicId, replicas: topic.partitions.map((p) => p.replicas), configs: topic.configs, internal: topic.internal };
  if (topic.reassignments && Object.keys(topic.reassignments).length > 0) record.reassignments = topic.reassignments;
  return record;
}

function stateOf(assignment: { leader: number; leaderEpoch: number; isr: number[] }): PartitionState {
  return { leader: assignment.leader, leaderEpoch: assignment.leaderEpoch, isr: [...assignment.isr] };
}

export { encode as encodeRecord, decode as decodeRecord };
