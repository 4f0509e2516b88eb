// An internal compacted topic as a coordinator's durable store (__consumer_offsets for groups,
// __transaction_state for transactions): created on first need, appended to like any partition (one batch
// per state change, through the owning worker and `afterLeaderAppend`, so in cluster mode it replicates like
// any other partition), and replayed from the log when the coordinator takes a partition over (broker start,
// or leadership in cluster mode).
//
// The topic is cleanup.policy=compact like Kafka's: the log cleaner keeps the latest record per key and
// drops tombstones after delete.retention.ms (docs/compaction.md), so offsets are sparse below the active
// segment; loading reads batch by batch and skips the gaps. retention.ms/retention.bytes are -1 (ignored
// by a compact-only policy anyway) so that retention can never delete state that was not superseded.
// Loading replays the whole (compacted) log.
import type { TopicMetadata } from "./types.ts";
import { ErrorCode, KafkaError } from "../protocol/errors.ts";
import {
  batchAttributes,
  batchBaseOffset,
  batchLastOffset,
  batchSizeBytes,
  computeBatchCrc,
  CONTROL_FLAG_MASK,
  CRC_OFFSET,
  dataViewOf,
  PRODUCER_ID_OFFSET,
  readInt64,
  RECORDS_OFFSET,
  TRANSACTIONAL_FLAG_MASK,
} from "../records/batch.ts";
import { readEndTransactionMarker } from "../records/control.ts";
import type { ProduceItem } from "../partition/messages.ts";
import { buildBatch, readBatchRecords, type RecordInput } from "../records/compression.ts";
import type { ReplicaManager } from "../cluster/replica-manager.ts";
import type { SegmentViews } from "../log/segment-views.ts";
import type { PartitionWorkers } from "../partition/partition-workers.ts";
import type { TopicManager } from "./topic-manager.ts";
import type { BrokerInfo } from "./types.ts";

/** What an internal topic's store uses of the broker (the group and transaction coordinators' services satisfy it). */
export interface InternalTopicServices {
  readonly topics: Pick<TopicManager, "get" | "createTopic">;
  readonly replication: Pick<ReplicaManager, "checkLeader" | "checkProduceAllowed" | "afterLeaderAppend">;
  readonly partitions: Pick<PartitionWorkers, "produce" | "offsets" | "read" | "producerTransaction">;
  readonly fetchViews: Pick<SegmentViews, "records">;
  readonly cluster: { brokers(): BrokerInfo[] };
  log(message: string): void;
}

/** One internal topic's name and Kafka settings (offsets.topic.* or transaction.state.log.*). */
export interface InternalTopicSettings {
  readonly name: string;
  readonly numPartitions: number;
  /** -1: the live brokers, at most 3 (Kafka's default is 3). */
  readonly replicationFactor: number;
  readonly segmentBytes: number;
  /** min.insync.replicas of the topic, or null for the broker's default. */
  readonly minInsyncReplicas: number | null;
  /** How long an append waits for its batch to be committed (cluster mode). */
  readonly appendTimeoutMs: number;
  /** Bytes read per step when loading. */
  readonly loadBufferBytes: number;
}

/** One record read back from the offsets topic: key and value are views, valid only during the callback. */
export interface StoredRecord {
  key: Uint8Array | null;
  value: Uint8Array | null;
  offset: number;
  /** The batch's producer id when it is transactional (a TxnOffsetCommit's offsets), else -1. */
  transactionalProducerId: number;
}

/** A COMMIT/ABORT marker read back from the topic (it ends that producer's transaction on the partition). */
export interface StoredMarker {
  producerId: number;
  commit: boolean;
  offset: number;
}

/**
 * An append inside a producer's transaction (Kafka's storeOffsets for TxnOffsetCommit): the batch carries the
 * producer id and epoch, the transactional attribute and no sequence, and is written with origin coordinator.
 */
export interface TransactionalAppend {
  producerId: number;
  producerEpoch: number;
  /**
   * KIP-890: asks the transaction coordinator whether this partition is in the producer's ongoing
   * transaction (called only when the partition has none open for the producer yet). NONE to append.
   */
  verify: () => Promise<number>;
}

/** Reads retried when the segment a read named was replaced before it could be mapped (cleaner swap). */
const LOAD_VANISHED_RETRIES_MAX = 8;

/** Java's String.hashCode over UTF-16 code units. */
export function javaStringHashCode(text: string): number {
  let hash = 0;
  for (let i = 0; i < text.length; i++) hash = (Math.imul(hash, 31) + text.charCodeAt(i)) | 0;
  return hash;
}

/** Kafka's partitionFor: Utils.abs(key.hashCode) % n. */
export function keyPartitionFor(key: string, numPartitions: number): number {
  const hash = javaStringHashCode(key);
  // org.apache.kafka.common.utils.Utils.abs: Integer.MIN_VALUE maps to 0, not to itself.
  const abs = hash === -0x80000000 ? 0 : Math.abs(hash);
  return abs % numPartitions;
}

export class InternalTopicStore {
  private creating: Promise<void> | null = null;

  constructor(
    private readonly services: InternalTopicServices,
    readonly settings: InternalTopicSettings,
    /** Called when this broker created the topic (not when another broker did). */
    private readonly onCreated: () => void = () => {},
  ) {}

  private get topic(): TopicMetadata | undefined {
    return this.services.topics.get(this.settings.name);
  }

  /** The topic's real partition count once it exists (a changed config must not move groups), else the config. */
  get numPartitions(): number {
    return this.topic?.partitions.length ?? this.settings.numPartitions;
  }

  /** The partition that holds `key`'s state (a group id, a transactional id). */
  partitionFor(key: string): number {
    return keyPartitionFor(key, this.numPartitions);
  }

  get exists(): boolean {
    return this.topic !== undefined;
  }

  /** This broker is creating the topic right now. */
  get isCreating(): boolean {
    return this.creating !== null;
  }

  /** Creates the topic once; concurrent callers share the creation. */
  ensureTopic(): Promise<void> {
    // The topic is visible in the metadata before its partitions have leaders: wait for the creation.
    if (this.creating) return this.creating;
    if (this.topic) return Promise.resolve();
    this.creating ??= this.services.topics
      .createTopic({
        name: this.settings.name,
        numPartitions: this.settings.numPartitions,
        replicationFactor: this.replicationFactor(),
        configs: {
          ...(this.settings.minInsyncReplicas === null ? {} : { "min.insync.replicas": String(Math.min(this.settings.minInsyncReplicas, this.replicationFactor())) }),
          "cleanup.policy": "compact",
          "segment.bytes": String(this.settings.segmentBytes),
          "compression.type": "producer",
          "retention.ms": "-1",
          "retention.bytes": "-1",
        },
        internal: true,
      })
      .then(
        () => this.onCreated(),
        (error) => {
          if (error instanceof KafkaError && error.errorCode === ErrorCode.TOPIC_ALREADY_EXISTS) return;
          throw error;
        },
      )
      .finally(() => {
        this.creating = null;
      });
    return this.creating;
  }

  /** Kafka's default is 3; with fewer live brokers (a single node, a small test cluster) all of them. */
  private replicationFactor(): number {
    return this.settings.replicationFactor > 0 ? this.settings.replicationFactor : Math.min(3, this.services.cluster.brokers().length);
  }

  /**
   * Appends one batch of records to partition `partition` and waits until it is committed (acks=all).
   * Resolves with the append's error code (Kafka's, before the coordinator maps it for its clients).
   */
  async append(partition: number, records: RecordInput[], transaction?: TransactionalAppend): Promise<number> {
    if (records.length === 0) return ErrorCode.NONE;
    try {
      await this.ensureTopic();
    } catch (error) {
      this.services.log(`cannot create ${this.settings.name}: ${error instanceof Error ? error.message : String(error)}`);
      return ErrorCode.UNKNOWN_TOPIC_OR_PARTITION;
    }
    const topic = this.topic;
    if (!topic || partition < 0 || partition >= topic.partitions.length) return ErrorCode.UNKNOWN_TOPIC_OR_PARTITION;
    const allowed = this.services.replication.checkProduceAllowed(topic, partition, -1);
    if (allowed !== ErrorCode.NONE) return allowed;
    const item: ProduceItem = { topic: this.settings.name, partition, records: new Uint8Array(0), leaderEpoch: topic.partitions[partition]!.leaderEpoch };
    if (transaction) {
      // As on the produce path, the guard handed out before the coordinator is asked is what lets the batch
      // open a transaction here: a marker written meanwhile (the transaction aborted) voids it.
      const [open] = await this.services.partitions.producerTransaction([{ topic: this.settings.name, partition, producerId: transaction.producerId }]);
      if (!open || open.errorCode !== ErrorCode.NONE) return open?.errorCode ?? ErrorCode.UNKNOWN_SERVER_ERROR;
      if (open.firstOffset < 0) {
        const verified = await transaction.verify();
        if (verified !== ErrorCode.NONE) return verified;
        item.verificationGuard = open.verificationGuard;
      }
      item.coordinatorOrigin = true;
    }
    const batch = transaction
      ? buildBatch({ records, producerId: transaction.producerId, producerEpoch: transaction.producerEpoch, isTransactional: true })
      : buildBatch({ records });
    item.records = batch;
    try {
      // The batch's buffer is ours alone: it is transferred to the worker, not copied.
      const results = await this.services.partitions.produce([item], batch.buffer as ArrayBuffer);
      const committed = await this.services.replication.afterLeaderAppend([item], results, -1, this.settings.appendTimeoutMs);
      return results[0]!.errorCode !== ErrorCode.NONE ? results[0]!.errorCode : committed[0]!;
    } catch (error) {
      this.services.log(`append to ${this.settings.name}-${partition} failed: ${error instanceof Error ? error.message : String(error)}`);
      return ErrorCode.KAFKA_STORAGE_ERROR;
    }
  }

  /**
   * Reads partition `partition` from its log start to its log end offset and hands every record to `apply`
   * in log order. Each batch's CRC is checked again (data crossing the disk boundary). Bounded: every
   * step must advance the read offset, and there are at most (end - start) steps.
   *
   * Unreadable data never fails the load (it would fail every start of the broker): a batch that fails its
   * CRC or cannot be decompressed is skipped, and where no whole batch can be found at all the load stops
   * there. Both are counted and the first reason kept, for one log line per partition. Only a partition
   * that cannot be read at all (its log unavailable) throws.
   */
  async load(partition: number, apply: (record: StoredRecord) => void, onMarker?: (marker: StoredMarker) => void): Promise<InternalTopicLoadResult> {
    const result: InternalTopicLoadResult = { records: 0, batches: 0, skippedBatches: 0, firstSkipReason: null, stoppedAtOffset: null };
    const topic = this.topic;
    if (!topic || partition >= topic.partitions.length) return result;
    const key = { topic: this.settings.name, partition };
    const [offsets] = await this.services.partitions.offsets([key]);
    if (!offsets || offsets.errorCode !== ErrorCode.NONE) throw new Error(`${this.settings.name}-${partition}: cannot read offsets (error ${offsets?.errorCode})`);
    const endOffset = offsets.logEndOffset;
    let fetchOffset = offsets.logStartOffset;
    const skip = (reason: string) => {
      result.skippedBatches++;
      result.firstSkipReason ??= reason;
    };
    const stepsMax = endOffset - fetchOffset + 1 + LOAD_VANISHED_RETRIES_MAX;
    let vanished = 0;
    for (let step = 0; fetchOffset < endOffset; step++) {
      if (step >= stepsMax) throw new Error(`${this.settings.name}-${partition}: load made no progress at offset ${fetchOffset}`);
      const [read] = await this.services.partitions.read([{ ...key, fetchOffset, maxBytes: this.settings.loadBufferBytes, maxOffsetExclusive: endOffset, minOneBatch: true }]);
      if (!read || read.errorCode !== ErrorCode.NONE) throw new Error(`${this.settings.name}-${partition}: read at ${fetchOffset} failed (error ${read?.errorCode})`);
      if (!read.slice) break;
      const mapped = this.services.fetchViews.records(read.slice);
      if (!mapped) {
        // The cleaner (or retention) replaced the segment between the read and the mapping: read again.
        if (++vanished > LOAD_VANISHED_RETRIES_MAX) throw new Error(`${this.settings.name}-${partition}: segment ${read.slice.path} was replaced ${vanished} times during load`);
        continue;
      }
      const bytes = mapped.bytes;
      const view = dataViewOf(bytes);
      const before = fetchOffset;
      let position = 0;
      while (position + RECORDS_OFFSET <= bytes.byteLength) {
        const sizeBytes = batchSizeBytes(view, position);
        if (sizeBytes < RECORDS_OFFSET || position + sizeBytes > bytes.byteLength) break;
        const lastOffset = batchLastOffset(view, position);
        const batchOffset = Math.max(fetchOffset, batchBaseOffset(view, position));
        const attributes = batchAttributes(view, position);
        if (computeBatchCrc(bytes, position, sizeBytes) !== view.getUint32(position + CRC_OFFSET)) {
          skip(`batch at offset ${batchOffset} fails its CRC check`);
        } else if (lastOffset >= fetchOffset && (attributes & CONTROL_FLAG_MASK) !== 0) {
          const producerId = readInt64(view, position + PRODUCER_ID_OFFSET);
          const marker = onMarker && producerId >= 0 ? readEndTransactionMarker(bytes, position, sizeBytes) : null;
          if (marker) onMarker!({ producerId, commit: marker.commit, offset: batchBaseOffset(view, position) });
        } else if (lastOffset >= fetchOffset) {
          const transactionalProducerId = (attributes & TRANSACTIONAL_FLAG_MASK) !== 0 ? readInt64(view, position + PRODUCER_ID_OFFSET) : -1;
          let batchRecords;
          try {
            batchRecords = await readBatchRecords(bytes.subarray(position, position + sizeBytes));
          } catch (error) {
            // A codec Bunka cannot read, or a records section that does not decode: nothing in it is usable.
            skip(`batch at offset ${batchOffset} cannot be read: ${error instanceof Error ? error.message : String(error)}`);
            batchRecords = null;
          }
          for (const record of batchRecords ?? []) {
            if (record.offset < fetchOffset) continue;
            apply({ key: record.key, value: record.value, offset: record.offset, transactionalProducerId });
            result.records++;
          }
          if (batchRecords) result.batches++;
        }
        // A batch that failed its CRC may carry a wrong lastOffsetDelta: one pointing past the log end must
        // not skip the intact batches after it (they advance the offset themselves).
        if (lastOffset < endOffset) fetchOffset = Math.max(fetchOffset, lastOffset + 1);
        position += sizeBytes;
      }
      if (fetchOffset === before) {
        // No whole batch where one must start: nothing later can be found reliably in this partition.
        result.stoppedAtOffset = fetchOffset;
        result.firstSkipReason ??= `no whole batch at offset ${fetchOffset}`;
        break;
      }
    }
    return result;
  }
}

export interface InternalTopicLoadResult {
  records: number;
  batches: number;
  /** Batches skipped because they failed their CRC or could not be decompressed or decoded. */
  skippedBatches: number;
  firstSkipReason: string | null;
  /** Where the load gave up on the rest of the partition (no whole batch found), or null. */
  stoppedAtOffset: number | null;
}
