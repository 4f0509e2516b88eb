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
  TRANSACTIONAL_FLAG_MASK,
  BASE_SEQUENCE_OFFSET,
  CONTROL_FLAG_MASK,
  LAST_OFFSET_DELTA_OFFSET,
  PRODUCER_EPOCH_OFFSET,
  PRODUCER_ID_OFFSET,
  readInt64,
} from "../records/batch.ts";
import { INVALID_PRODUCER_EPOCH, INVALID_TXN_STATE, OUT_OF_ORDER_SEQUENCE_NUMBER, TRANSACTION_COORDINATOR_FENCED } from "../records/errors.ts";

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
  /** The batch belongs to a transaction (the transactional attribute): it opens or extends one. */
  transactional?: boolean;
}

/** No offset (no ongoing transaction, no coordinator epoch yet): Kafka's -1. */
export const NO_OFFSET = -1;
/** RecordBatch.NO_SEQUENCE: the group coordinator's transactional batches carry no sequence. */
export const NO_SEQUENCE = -1;

/** A transaction that ended on this partition (Kafka's CompletedTxn). */
export interface CompletedTransaction {
  producerId: number;
  firstOffset: number;
  /** The marker's offset. */
  lastOffset: number;
  isAborted: boolean;
}

/**
 * The producer fields of the batch at `position`, or null when it does not take part in idempotence:
 * no producer id, no sequence (baseSequence -1) unless transactional, or a control batch (transaction
 * markers carry no sequence). A transactional batch without a sequence is the group coordinator's
 * (TxnOffsetCommit, Kafka's AppendOrigin.COORDINATOR): firstSeq and lastSeq are -1 (NO_SEQUENCE).
 */
export function readIdempotentBatch(view: DataView, position: number, into?: IdempotentBatch): IdempotentBatch | null {
  const producerId = readInt64(view, position + PRODUCER_ID_OFFSET);
  const firstSeq = view.getInt32(position + BASE_SEQUENCE_OFFSET);
  const attributes = view.getInt16(position + ATTRIBUTES_OFFSET);
  const transactional = (attributes & TRANSACTIONAL_FLAG_MASK) !== 0;
  if (producerId < 0 || (firstSeq < 0 && !transactional) || (attributes & CONTROL_FLAG_MASK) !== 0) return null;
  const batch = into ?? { producerId: 0, producerEpoch: 0, firstSeq: 0, lastSeq: 0 };
  batch.producerId = producerId;
  batch.producerEpoch = view.getInt16(position + PRODUCER_EPOCH_OFFSET);
  batch.firstSeq = firstSeq < 0 ? NO_SEQUENCE : firstSeq;
  batch.lastSeq = firstSeq < 0 ? NO_SEQUENCE : incrementSequence(firstSeq, view.getInt32(position + LAST_OFFSET_DELTA_OFFSET));
  batch.transactional = transactional;
  return batch;
}

/** Kafka's ProducerStateEntry: the producer's epoch and its last batches in this partition, oldest first. */
export class ProducerStateEntry {
  readonly batches: ProducerBatchMetadata[] = [];
  /** The epoch of the coordinator that wrote this producer's last marker here (fences older coordinators). */
  coordinatorEpoch = NO_OFFSET;
  /** First offset of the producer's ongoing transaction on this partition, or -1 (Kafka's currentTxnFirstOffset). */
  currentTxnFirstOffset = NO_OFFSET;
  /** Timestamp of the last marker: keeps a producer whose history is only a marker from expiring at once. */
  markerTimestampMs = -1;

  constructor(
    readonly producerId: number,
    public producerEpoch: number,
  ) {}

  get lastBatch(): ProducerBatchMetadata | undefined {
    return this.batches[this.batches.length - 1];
  }

  get lastTimestampMs(): number {
    return Math.max(this.lastBatch?.timestampMs ?? -1, this.markerTimestampMs);
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
  /**
   * Ongoing transactions on this partition: producer id -> first offset (Kafka's ongoingTxns). Their
   * smallest first offset is the first unstable offset; the last stable offset never passes it.
   */
  private readonly ongoingTransactions = new Map<number, number>();
  /**
   * KIP-890 verification guards (Kafka's VerificationGuard): producer id -> the guard handed out when a
   * transactional batch of a producer with no open transaction here went to the coordinator for
   * verification. Ending the producer's transaction (a marker) clears it, so a batch verified before an
   * abort cannot open a new, hanging transaction after it. At most producersMax (the oldest go first).
   */
  private readonly verificationGuards = new Map<number, number>();
  private nextVerificationGuard = 1;

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
    // Open transactions are never evicted, so their number is what bounds this partition's producer memory.
    if (batch.transactional && (entry?.currentTxnFirstOffset ?? NO_OFFSET) < 0 && this.ongoingTransactions.size >= this.producersMax) {
      return { errorCode: INVALID_TXN_STATE, errorMessage: `${this.ongoingTransactions.size} transactions are open on this partition, the most it keeps` };
    }
    // Unknown producer (new, expired, evicted, or beyond the rebuild bound): any sequence is accepted (KIP-360).
    if (entry === undefined) return null;
    if (batch.producerEpoch < entry.producerEpoch) {
      return {
        errorCode: INVALID_PRODUCER_EPOCH,
        errorMessage: `producer ${batch.producerId}: epoch ${batch.producerEpoch} is older than the current epoch ${entry.producerEpoch}`,
      };
    }
    // The coordinator's batch (no sequence): Kafka skips the sequence checks for AppendOrigin.COORDINATOR.
    if (batch.firstSeq < 0) return null;
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
    const entry = this.touch(batch.producerId, batch.producerEpoch);
    if (batch.firstSeq >= 0) entry.addBatch(batch.producerEpoch, batch.firstSeq, batch.lastSeq, firstOffset, lastOffset, timestampMs);
    else if (batch.producerEpoch !== entry.producerEpoch) {
      // A coordinator's batch (no sequence) has no history to dedupe against; a newer epoch still resets it.
      entry.producerEpoch = batch.producerEpoch;
      entry.batches.length = 0;
    }
    // The first transactional batch on this partition opens the producer's transaction here.
    if (batch.transactional && entry.currentTxnFirstOffset < 0) {
      entry.currentTxnFirstOffset = firstOffset;
      this.ongoingTransactions.set(batch.producerId, firstOffset);
      this.verificationGuards.delete(batch.producerId);
    }
  }

  /** The producer's entry (created if unknown), moved to the most-recently-appended end. */
  private touch(producerId: number, producerEpoch: number): ProducerStateEntry {
    let entry = this.producers.get(producerId);
    if (entry === undefined) {
      entry = new ProducerStateEntry(producerId, producerEpoch);
      if (this.producers.size >= this.producersMax) this.evictLeastRecentlyAppended();
    } else {
      this.producers.delete(producerId);
    }
    this.producers.set(producerId, entry);
    return entry;
  }

  /**
   * The producer's verification guard, created if it has none (Kafka's maybeCreateVerificationStateEntry):
   * concurrent first batches of one producer share it, so verifying one never invalidates another.
   */
  createVerificationGuard(producerId: number): number {
    const existing = this.verificationGuards.get(producerId);
    if (existing !== undefined) return existing;
    const guard = this.nextVerificationGuard++;
    if (this.verificationGuards.size >= this.producersMax) this.verificationGuards.delete(this.verificationGuards.keys().next().value!);
    this.verificationGuards.set(producerId, guard);
    return guard;
  }

  /**
   * The leader's check that a transactional batch may open a transaction here: the producer's transaction
   * is already open, or the batch carries the producer's current verification guard (its first batch,
   * verified by the coordinator, with no marker written since). Null to append, or the refusal.
   */
  checkTransactionStart(producerId: number, verificationGuard: number | undefined): ProducerCheckError | null {
    if (this.ongoingTransactions.has(producerId)) return null;
    const expected = this.verificationGuards.get(producerId);
    if (expected !== undefined && expected === verificationGuard) return null;
    return { errorCode: INVALID_TXN_STATE, errorMessage: `producer ${producerId}: the record was not part of an ongoing transaction (not verified with the transaction coordinator, or the transaction ended since)` };
  }

  /** The first offset of the producer's ongoing transaction here, or -1. */
  ongoingTransactionFirstOffset(producerId: number): number {
    return this.ongoingTransactions.get(producerId) ?? NO_OFFSET;
  }

  /** The smallest first offset of any ongoing transaction, or -1 when none is open (Kafka's firstUnstableOffset). */
  firstUnstableOffset(): number {
    let first = NO_OFFSET;
    // Bounded by the open transactions (at most one per producer, producersMax).
    for (const offset of this.ongoingTransactions.values()) if (first < 0 || offset < first) first = offset;
    return first;
  }

  get ongoingTransactionCount(): number {
    return this.ongoingTransactions.size;
  }

  /**
   * The leader's check before writing a marker (Kafka's ProducerAppendInfo.appendEndTxnMarker): the
   * producer epoch must not be older than the current one, nor the coordinator epoch older than the one
   * of the last marker. Returns null to write it, or the error.
   */
  checkMarker(producerId: number, producerEpoch: number, coordinatorEpoch: number): ProducerCheckError | null {
    const entry = this.producers.get(producerId);
    if (entry === undefined) return null;
    if (producerEpoch < entry.producerEpoch) {
      return { errorCode: INVALID_PRODUCER_EPOCH, errorMessage: `producer ${producerId}: marker epoch ${producerEpoch} is older than the current epoch ${entry.producerEpoch}` };
    }
    if (coordinatorEpoch < entry.coordinatorEpoch) {
      return {
        errorCode: TRANSACTION_COORDINATOR_FENCED,
        errorMessage: `producer ${producerId}: coordinator epoch ${coordinatorEpoch} is older than ${entry.coordinatorEpoch}, which wrote the last marker`,
      };
    }
    return null;
  }

  /**
   * Records a marker now in the log at `markerOffset` (leader, follower, replay): the producer's
   * transaction on this partition is over. Returns it (firstOffset -1 when none was open: a marker the
   * coordinator retried, or a partition with no data in the transaction).
   */
  completeTransaction(producerId: number, producerEpoch: number, coordinatorEpoch: number, commit: boolean, markerOffset: number, timestampMs: number): CompletedTransaction {
    const entry = this.touch(producerId, producerEpoch);
    if (producerEpoch !== entry.producerEpoch) {
      // Kafka's maybeUpdateProducerEpoch: a newer epoch starts a new sequence history.
      entry.producerEpoch = producerEpoch;
      entry.batches.length = 0;
    }
    const firstOffset = entry.currentTxnFirstOffset;
    entry.currentTxnFirstOffset = NO_OFFSET;
    entry.coordinatorEpoch = coordinatorEpoch;
    entry.markerTimestampMs = timestampMs;
    this.ongoingTransactions.delete(producerId);
    this.verificationGuards.delete(producerId);
    return { producerId, firstOffset, lastOffset: markerOffset, isAborted: !commit };
  }

  /**
   * Restores one entry from a snapshot, as it was (at most PRODUCER_BATCHES_RETAINED batches, oldest first;
   * none for a producer known only by its last marker).
   */
  restore(
    producerId: number,
    producerEpoch: number,
    batches: readonly ProducerBatchMetadata[],
    transaction: { coordinatorEpoch: number; currentTxnFirstOffset: number; markerTimestampMs: number } = { coordinatorEpoch: NO_OFFSET, currentTxnFirstOffset: NO_OFFSET, markerTimestampMs: -1 },
  ): void {
    if (batches.length > PRODUCER_BATCHES_RETAINED || (batches.length === 0 && transaction.markerTimestampMs < 0 && transaction.currentTxnFirstOffset < 0)) {
      throw new RangeError(`producer ${producerId}: ${batches.length} batches`);
    }
    const entry = new ProducerStateEntry(producerId, producerEpoch);
    for (const batch of batches) entry.addBatch(producerEpoch, batch.firstSeq, batch.lastSeq, batch.firstOffset, batch.lastOffset, batch.timestampMs);
    entry.coordinatorEpoch = transaction.coordinatorEpoch;
    entry.currentTxnFirstOffset = transaction.currentTxnFirstOffset;
    entry.markerTimestampMs = transaction.markerTimestampMs;
    this.producers.delete(producerId);
    if (this.producers.size >= this.producersMax) this.evictLeastRecentlyAppended();
    this.producers.set(producerId, entry);
    if (entry.currentTxnFirstOffset >= 0) this.ongoingTransactions.set(producerId, entry.currentTxnFirstOffset);
    else this.ongoingTransactions.delete(producerId);
  }

  private evictLeastRecentlyAppended(): void {
    // A producer with an open transaction is never evicted: forgetting it would move the LSO past its data.
    for (const [producerId, entry] of this.producers) {
      if (entry.currentTxnFirstOffset >= 0) continue;
      this.producers.delete(producerId);
      return;
    }
  }

  /**
   * producer.id.expiration.ms (Kafka's removeExpiredProducers): forgets producers whose last batch
   * timestamp is that old. Returns how many were removed. O(producers), bounded by producersMax.
   */
  removeExpired(nowMs: number): number {
    let removed = 0;
    for (const [producerId, entry] of this.producers) {
      // Kafka's isProducerExpired: never while its transaction is open (the coordinator aborts it first).
      if (entry.currentTxnFirstOffset < 0 && nowMs - entry.lastTimestampMs >= this.producerIdExpirationMs) {
        this.producers.delete(producerId);
        removed++;
      }
    }
    return removed;
  }

  clear(): void {
    this.producers.clear();
    this.ongoingTransactions.clear();
    this.verificationGuards.clear();
  }
}
