// Offsets committed inside a transaction (TxnOffsetCommit), as Kafka's GroupMetadataManager.storeOffsets and
// its loader keep them: each TxnOffsetCommit is appended to the group's __consumer_offsets partition as a
// transactional batch of the producer (group-offsets.ts), so the partition's producer state holds the
// transaction open like any other and the transaction's COMMIT/ABORT marker ends it there. This class is the
// in-memory view of those pending records, per producer, until the marker: COMMIT makes them the groups'
// committed offsets, ABORT discards them. The loader (group-loader.ts) rebuilds the same view from the log,
// applying or discarding at the markers it reads, so a crash or a coordinator move loses nothing.
// Meanwhile OffsetFetch with require_stable answers UNSTABLE_OFFSET_COMMIT for those partitions.
//
// Bounded: a producer can stage only partitions that exist, each at most once per group (a later commit
// replaces the earlier one), only for a transaction its coordinator accepted (AddOffsetsToTxn, verified with
// the coordinator before the first batch opens the transaction on the partition), which is aborted after its
// timeout, and at most transaction.max.staged.offsets in all (group ids are not bounded otherwise: one
// transaction could stage offsets for any number of groups). A load restores what the log holds even past
// the bound (refusing it would lose committed state); the bound then refuses new ones until it drains.
import type { CommittedOffset } from "./offsets-store.ts";

/** One pending offset: its value, and whether a plain OffsetCommit later in the log overrode it. */
export interface StagedOffset {
  committed: CommittedOffset;
  /**
   * A non-transactional commit of the same group partition was written after this record (Kafka's
   * completePendingTxnOffsetCommit applies a transactional offset only over an older one): the COMMIT
   * marker then leaves the group's offset as it is.
   */
  superseded: boolean;
}

/** groupId → "topic\u0000partition" → offset, for one producer on one __consumer_offsets partition. */
export type StagedOffsets = Map<string, Map<string, StagedOffset>>;

export class TransactionalOffsets {
  /** __consumer_offsets partition → producer id → staged offsets. */
  private readonly staged = new Map<number, Map<number, StagedOffsets>>();
  /** groupId → "topic\u0000partition" → how many producers have an offset staged for it. */
  private readonly pendingCounts = new Map<string, Map<string, number>>();
  private stagedCount = 0;

  constructor(private readonly stagedMax: number) {}

  get size(): number {
    return this.stagedCount;
  }

  /**
   * Stages one offset (the record is being appended, or was read back by a load). False (nothing staged)
   * when a new one would exceed transaction.max.staged.offsets; `force` (a load) ignores the bound.
   */
  stage(offsetsPartition: number, producerId: number, groupId: string, key: string, committed: CommittedOffset, force = false): StagedOffset | null {
    let byProducer = this.staged.get(offsetsPartition);
    let byGroup = byProducer?.get(producerId);
    let offsets = byGroup?.get(groupId);
    const existing = offsets?.get(key);
    if (!existing && !force && this.stagedCount >= this.stagedMax) return null;
    if (!byProducer) this.staged.set(offsetsPartition, (byProducer = new Map()));
    if (!byGroup) byProducer.set(producerId, (byGroup = new Map()));
    if (!offsets) byGroup.set(groupId, (offsets = new Map()));
    if (!existing) {
      this.stagedCount++;
      this.countPending(groupId, key, +1);
    }
    const entry: StagedOffset = { committed, superseded: false };
    offsets.set(key, entry);
    return entry;
  }

  /** Removes `entry` if it is still what the producer has staged for that key (its append failed). */
  unstage(offsetsPartition: number, producerId: number, groupId: string, key: string, entry: StagedOffset): void {
    const byProducer = this.staged.get(offsetsPartition);
    const byGroup = byProducer?.get(producerId);
    const offsets = byGroup?.get(groupId);
    if (!byProducer || !byGroup || !offsets || offsets.get(key) !== entry) return;
    offsets.delete(key);
    this.stagedCount--;
    this.countPending(groupId, key, -1);
    if (offsets.size === 0) byGroup.delete(groupId);
    if (byGroup.size === 0) byProducer.delete(producerId);
    if (byProducer.size === 0) this.staged.delete(offsetsPartition);
  }

  /** Some open transaction has an offset staged for the group's partition. */
  isPending(groupId: string, key: string): boolean {
    return (this.pendingCounts.get(groupId)?.get(key) ?? 0) > 0;
  }

  /** A plain OffsetCommit of the group partition was written: every offset staged for it now is older. */
  supersede(offsetsPartition: number, groupId: string, key: string): void {
    if (!this.isPending(groupId, key)) return;
    // Bounded by the producers with offsets staged on this partition (transaction.max.staged.offsets).
    for (const byGroup of this.staged.get(offsetsPartition)?.values() ?? []) {
      const entry = byGroup.get(groupId)?.get(key);
      if (entry) entry.superseded = true;
    }
  }

  /** Removes and returns what the producer staged on that partition (its transaction ended). */
  take(offsetsPartition: number, producerId: number): StagedOffsets {
    const byProducer = this.staged.get(offsetsPartition);
    const byGroup = byProducer?.get(producerId);
    if (!byProducer || !byGroup) return new Map();
    byProducer.delete(producerId);
    if (byProducer.size === 0) this.staged.delete(offsetsPartition);
    for (const [groupId, offsets] of byGroup) {
      for (const key of offsets.keys()) this.countPending(groupId, key, -1);
      this.stagedCount -= offsets.size;
    }
    return byGroup;
  }

  /** Whether the producer has anything staged on that partition. */
  has(offsetsPartition: number, producerId: number): boolean {
    return this.staged.get(offsetsPartition)?.has(producerId) ?? false;
  }

  /** The coordinator no longer owns that partition: what was staged there is not ours to complete. */
  dropPartition(offsetsPartition: number): void {
    for (const producerId of [...(this.staged.get(offsetsPartition)?.keys() ?? [])]) this.take(offsetsPartition, producerId);
  }

  private countPending(groupId: string, key: string, delta: number): void {
    let counts = this.pendingCounts.get(groupId);
    if (!counts) this.pendingCounts.set(groupId, (counts = new Map()));
    const count = (counts.get(key) ?? 0) + delta;
    if (count > 0) counts.set(key, count);
    else counts.delete(key);
    if (counts.size === 0) this.pendingCounts.delete(groupId);
  }
}
