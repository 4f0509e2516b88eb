// Idempotent producers (Kafka's ProducerStateManager and ProducerStateEntry, KIP-98): per producer id, the
// current epoch and the metadata of its last 5 batches in this partition. A produce retried after a lost
// reply (leader failover, timeout) carries the same sequence numbers; the leader recognises it and answers
// with the offsets of the copy already in the log instead of writing it twice.
//
// One manager per partition log, owned by the partition's worker: check-then-append is atomic because the
// worker serialises appends per partition. Followers feed the same state from the leader's batches, so a
// follower that becomes leader dedupes retries too. The state survives restarts through snapshot files
// (producer-state-snapshot.ts) plus a bounded replay of batch headers. docs/idempotence.md has the rules.
import {
  ATTRIBUTES_OFFSET,
  BASE_SEQUENCE_OFFSET,
  CONTROL_FLAG_MASK,
  LAST_OFFSET_DELTA_OFFSET,
  PRODUCER_EPOCH_OFFSET,
  PRODUCER_ID_OFFSET,
  readInt64,
} from "../records/batch.ts";
import { INVALID_PRODUCER_EPOCH, OUT_OF_ORDER_SEQUENCE_NUMBER } from "../records/errors.ts";

/**
 * Batches remembered per producer (Kafka's ProducerStateEntry.NUM_BATCHES_TO_RETAIN): Java, librdkafka
 * and kafkajs keep at most 5 requests in flight per partition with idempotence, so a retry is always a
 * copy of one of the last 5.
 */
export const PRODUCER_BATCHES_RETAINED = 5;
/**
 * Producer ids remembered per partition. Kafka has no such bound; past it the least recently appended
 * producer is forgotten (it becomes unknown, which accepts any sequence: KIP-360), so a client that makes
 * up producer ids cannot grow a partition's memory (a few hundred bytes per producer) without limit.
 */
export const PRODUCERS_PER_PARTITION_MAX = 100_000;
/** producer.id.expiration.ms: a producer whose last batch is older than this is forgotten (Kafka's default, 1 day). */
export const DEFAULT_PRODUCER_ID_EXPIRATION_MS = 86_400_000;

const INT32_MAX = 0x7fff_ffff;

/** Kafka's DefaultRecordBatch.incrementSequence: sequences wrap from Int32.MAX to 0. */
export function incrementSequence(sequence: number, increment: number): number {
  if (sequence > INT32_MAX - increment) return increment - (INT32_MAX - sequence) - 1;
  return sequence + increment;
}

/** Kafka's ProducerAppendInfo.inSequence: the next batch starts right after the last one (with wraparound). */
export function inSequence(lastSeq: number, nextSeq: number): boolean {
  return nextSeq === lastSeq + 1 || (nextSeq === 0 && lastSeq === INT32_MAX);
}

/** One appended batch of a producer (Kafka's BatchMetadata). */
export interface ProducerBatchMetadata {
  firstSeq: number;
  lastSeq: number;
  firstOffset: number;
  lastOffset: number;
  /** maxTimestamp of the batch as stored (the append time for LogAppendTime topics). */
  timestampMs: number;
}

/** The producer fields of one batch that takes part in idempotence. */
export interface IdempotentBatch {
  producerId: number;
  producerEpoch: number;
  firstSeq: number;
  lastSeq: number;
}

/**
 * The producer fields of the batch at `position`, or null when it does not take part in idempotence:
 * no producer id, no sequence (baseSequence -1), or a control batch (transaction markers carry no sequence).
 */
export function readIdempotentBatch(view: DataView, position: number, into?: IdempotentBatch): IdempotentBatch | null {
  const producerId = readInt64(view, position + PRODUCER_ID_OFFSET);
  const firstSeq = view.getInt32(position + BASE_SEQUENCE_OFFSET);
  if (producerId < 0 || firstSeq < 0 || (view.getInt16(position + ATTRIBUTES_OFFSET) & CONTROL_FLAG_MASK) !== 0) return null;
  const batch = into ?? { producerId: 0, producerEpoch: 0, firstSeq: 0, lastSeq: 0 };
  batch.producerId = producerId;
  batch.producerEpoch = view.getInt16(position + PRODUCER_EPOCH_OFFSET);
  batch.firstSeq = firstSeq;
  batch.lastSeq = incrementSequence(firstSeq, view.getInt32(position + LAST_OFFSET_DELTA_OFFSET));
  return batch;
}

/** Kafka's ProducerStateEntry: the producer's epoch and its last batches in this partition, oldest first. */
export class ProducerStateEntry {
  readonly batches: ProducerBatchMetadata[] = [];

  constructor(
    readonly producerId: number,
    public producerEpoch: number,
  ) {}

  get lastBatch(): ProducerBatchMetadata | undefined {
    return this.batches[this.batches.length - 1];
  }

  get lastTimestampMs(): number {
    return this.lastBatch?.timestampMs ?? -1;
  }

  /** Kafka's findDuplicateBatch: same epoch and the same first and last sequence as a retained batch. */
  findDuplicate(producerEpoch: number, firstSeq: number, lastSeq: number): ProducerBatchMetadata | null {
    if (producerEpoch !== this.producerEpoch) return null;
    for (const batch of this.batches) if (batch.firstSeq === firstSeq && batch.lastSeq === lastSeq) return batch;
    return null;
  }

  /** Records an appended batch; a new epoch starts a new history (Kafka's ProducerAppendInfo.updateCurrentEntry). */
  addBatch(producerEpoch: number, firstSeq: number, lastSeq: number, firstOffset: number, lastOffset: number, timestampMs: number): void {
    if (producerEpoch !== this.producerEpoch) {
      this.producerEpoch = producerEpoch;
      this.batches.length = 0;
    }
    // At capacity the oldest metadata object is reused: no allocation per append in the steady state.
    const batch = this.batches.length >= PRODUCER_BATCHES_RETAINED ? this.batches.shift()! : ({} as ProducerBatchMetadata);
    batch.firstSeq = firstSeq;
    batch.lastSeq = lastSeq;
    batch.firstOffset = firstOffset;
    batch.lastOffset = lastOffset;
    batch.timestampMs = timestampMs;
    this.batches.push(batch);
  }
}

/** A refused idempotent batch: the Kafka error code for the partition's produce response. */
export interface ProducerCheckError {
  errorCode: number;
  errorMessage: string;
}

export class ProducerStateManager {
  /** In least-recently-appended order (an update moves the entry to the end): eviction takes the first. */
  private readonly producers = new Map<number, ProducerStateEntry>();

  constructor(
    readonly producerIdExpirationMs: number = DEFAULT_PRODUCER_ID_EXPIRATION_MS,
    readonly producersMax: number = PRODUCERS_PER_PARTITION_MAX,
  ) {
    if (!(producerIdExpirationMs > 0)) throw new RangeError(`producer.id.expiration.ms ${producerIdExpirationMs}`);
    if (!(Number.isSafeInteger(producersMax) && producersMax > 0)) throw new RangeError(`producers per partition ${producersMax}`);
  }

  get producerCount(): number {
    return this.producers.size;
  }

  entry(producerId: number): ProducerStateEntry | undefined {
    return this.producers.get(producerId);
  }

  /** Entries in least-recently-appended order (snapshots write them in this order, so loading keeps it). */
  entries(): IterableIterator<ProducerStateEntry> {
    return this.producers.values();
  }

  /**
   * The leader's check before appending a client's batch (Kafka's UnifiedLog.analyzeAndValidateProducerState
   * with ProducerAppendInfo.checkProducerEpoch/checkSequence). Returns null to append, the metadata of the
   * retained batch it duplicates, or the error to answer with.
   */
  check(batch: IdempotentBatch): ProducerBatchMetadata | ProducerCheckError | null {
    const entry = this.producers.get(batch.producerId);
    // Unknown producer (new, expired, evicted, or beyond the rebuild bound): any sequence is accepted (KIP-360).
    if (entry === undefined) return null;
    if (batch.producerEpoch < entry.producerEpoch) {
      return {
        errorCode: INVALID_PRODUCER_EPOCH,
        errorMessage: `producer ${batch.producerId}: epoch ${batch.producerEpoch} is older than the current epoch ${entry.producerEpoch}`,
      };
    }
    const duplicate = entry.findDuplicate(batch.producerEpoch, batch.firstSeq, batch.lastSeq);
    if (duplicate !== null) return duplicate;
    if (batch.producerEpoch !== entry.producerEpoch) {
      if (batch.firstSeq === 0) return null;
      return {
        errorCode: OUT_OF_ORDER_SEQUENCE_NUMBER,
        errorMessage: `producer ${batch.producerId}: new epoch ${batch.producerEpoch} must start at sequence 0, got ${batch.firstSeq}`,
      };
    }
    const lastBatch = entry.lastBatch;
    if (lastBatch === undefined || inSequence(lastBatch.lastSeq, batch.firstSeq)) return null;
    return {
      errorCode: OUT_OF_ORDER_SEQUENCE_NUMBER,
      errorMessage: `producer ${batch.producerId} epoch ${batch.producerEpoch}: sequence ${batch.firstSeq} does not follow ${lastBatch.lastSeq}`,
    };
  }

  /** Records a batch that is now in the log (leader after the write, follower, replay). No checks. */
  update(batch: IdempotentBatch, firstOffset: number, lastOffset: number, timestampMs: number): void {
    let entry = this.producers.get(batch.producerId);
    if (entry === undefined) {
      entry = new ProducerStateEntry(batch.producerId, batch.producerEpoch);
      if (this.producers.size >= this.producersMax) this.evictLeastRecentlyAppended();
    } else {
      this.producers.delete(batch.producerId);
    }
    this.producers.set(batch.producerId, entry);
    entry.addBatch(batch.producerEpoch, batch.firstSeq, batch.lastSeq, firstOffset, lastOffset, timestampMs);
  }

  /** Restores one entry from a snapshot, as it was (at most PRODUCER_BATCHES_RETAINED batches, oldest first). */
  restore(producerId: number, producerEpoch: number, batches: readonly ProducerBatchMetadata[]): void {
    if (batches.length === 0 || batches.length > PRODUCER_BATCHES_RETAINED) throw new RangeError(`producer ${producerId}: ${batches.length} batches`);
    const entry = new ProducerStateEntry(producerId, producerEpoch);
    for (const batch of batches) entry.addBatch(producerEpoch, batch.firstSeq, batch.lastSeq, batch.firstOffset, batch.lastOffset, batch.timestampMs);
    this.producers.delete(producerId);
    if (this.producers.size >= this.producersMax) this.evictLeastRecentlyAppended();
    this.producers.set(producerId, entry);
  }

  private evictLeastRecentlyAppended(): void {
    const oldest = this.producers.keys().next();
    if (!oldest.done) this.producers.delete(oldest.value);
  }

  /**
   * producer.id.expiration.ms (Kafka's removeExpiredProducers): forgets producers whose last batch
   * timestamp is that old. Returns how many were removed. O(producers), bounded by producersMax.
   */
  removeExpired(nowMs: number): number {
    let removed = 0;
    for (const [producerId, entry] of this.producers) {
      if (nowMs - entry.lastTimestampMs >= this.producerIdExpirationMs) {
        this.producers.delete(producerId);
        removed++;
      }
    }
    return removed;
  }

  clear(): void {
    this.producers.clear();
  }
}
