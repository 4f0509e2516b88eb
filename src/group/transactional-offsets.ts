// Offsets committed inside a transaction (TxnOffsetCommit): staged per producer until the transaction's
// marker reaches the group's __consumer_offsets partition. COMMIT makes them the group's committed offsets
// (appended as ordinary offset commits, then visible); ABORT discards them. Meanwhile OffsetFetch with
// require_stable answers UNSTABLE_OFFSET_COMMIT for those partitions, as Kafka does.
//
// Bounded: a producer can stage only partitions that exist, each at most once per group (a later commit
// replaces the earlier one), only for a transaction its coordinator accepted (AddOffsetsToTxn), which is
// aborted after its timeout, and at most transaction.max.staged.offsets in all (group ids are not bounded
// otherwise: one transaction could stage offsets for any number of groups).
import type { CommittedOffset } from "./offsets-store.ts";

/** groupId → "topic\u0000partition" → offset, for one producer on one __consumer_offsets partition. */
export type StagedOffsets = Map<string, Map<string, CommittedOffset>>;

export class TransactionalOffsets {
  /** __consumer_offsets partition → producer id → staged offsets. */
  private readonly staged = new Map<number, Map<number, StagedOffsets>>();
  /** groupId → "topic\u0000partition" → how many producers have an offset staged for it. */
  private readonly pendingCounts = new Map<string, Map<string, number>>();
  private stagedCount = 0;

  constructor(private readonly stagedMax: number) {}

  /** False (nothing staged) when a new offset would exceed transaction.max.staged.offsets. */
  stage(offsetsPartition: number, producerId: number, groupId: string, key: string, committed: CommittedOffset): boolean {
    let byProducer = this.staged.get(offsetsPartition);
    if (!byProducer) this.staged.set(offsetsPartition, (byProducer = new Map()));
    let byGroup = byProducer.get(producerId);
    if (!byGroup) byProducer.set(producerId, (byGroup = new Map()));
    let offsets = byGroup.get(groupId);
    if (!offsets) byGroup.set(groupId, (offsets = new Map()));
    if (!offsets.has(key)) {
      if (this.stagedCount >= this.stagedMax) return false;
      this.stagedCount++;
      this.countPending(groupId, key, +1);
    }
    offsets.set(key, committed);
    return true;
  }

  /** Some open transaction has an offset staged for the group's partition. */
  isPending(groupId: string, key: string): boolean {
    return (this.pendingCounts.get(groupId)?.get(key) ?? 0) > 0;
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
