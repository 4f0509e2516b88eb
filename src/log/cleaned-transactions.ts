// What a cleaning pass learns about transactions while it walks the log from its start (Kafka's
// CleanedTransactionMetadata): which transaction markers have no data left behind them, and which aborted
// transactions still have data (their `.txnindex` entries stay; the others go with the data).
//
// A marker may be removed once its transaction has no batch left in the log: an ABORT whose aborted batches
// the cleaner already removed, a COMMIT whose records compaction superseded. It is first stamped with a delete
// horizon (KIP-534: the batch's DELETE_HORIZON attribute, the base timestamp = cleaning time +
// delete.retention.ms) and removed by a pass after that, so a consumer that read the transaction's records
// before they were cleaned still meets the marker that ends them.
import { ATTRIBUTES_OFFSET, BASE_TIMESTAMP_OFFSET, CRC_OFFSET, DELETE_HORIZON_FLAG_MASK, computeBatchCrc, dataViewOf, readInt64, writeInt64 } from "../records/batch.ts";
import type { AbortedTransaction } from "./transaction-index.ts";

export interface MarkerDecision {
  /** No batch of the marker's transaction is left: the marker may go once its delete horizon passed. */
  discardable: boolean;
  /** An ABORT whose transaction still has batches: its `.txnindex` entry, kept with the cleaned segment. */
  keptEntry: AbortedTransaction | null;
}

export class CleanedTransactions {
  /** The log's aborted transactions, by first offset; consumed as the walk reaches them. */
  private readonly pending: AbortedTransaction[];
  private nextPending = 0;
  private readonly ongoingAborted = new Map<number, { entry: AbortedTransaction; batchSeen: boolean }>();
  private readonly ongoingCommitted = new Set<number>();

  constructor(aborted: readonly AbortedTransaction[]) {
    // One entry per marker: a crash during a merge can leave duplicates.
    const byMarker = new Map<number, AbortedTransaction>();
    for (const entry of aborted) byMarker.set(entry.lastOffset, entry);
    this.pending = [...byMarker.values()].sort((a, b) => a.firstOffset - b.firstOffset || a.lastOffset - b.lastOffset);
  }

  /** A data batch (any, in log order, before it is filtered). */
  onBatch(producerId: number, transactional: boolean, lastOffset: number): void {
    this.consumeUpTo(lastOffset);
    if (!transactional || producerId < 0) return;
    const aborted = this.ongoingAborted.get(producerId);
    if (aborted !== undefined) aborted.batchSeen = true;
    else this.ongoingCommitted.add(producerId);
  }

  /** A COMMIT or ABORT marker of `producerId` at `offset`. */
  onMarker(producerId: number, commit: boolean, offset: number): MarkerDecision {
    this.consumeUpTo(offset);
    // A transactional batch since the producer's previous marker that no aborted entry claimed: this marker
    // ends it whatever the entry says (its first offset may be later, after a crash), so it stays.
    const unclaimedBatch = this.ongoingCommitted.delete(producerId);
    if (commit) return { discardable: !unclaimedBatch, keptEntry: null };
    const aborted = this.ongoingAborted.get(producerId);
    if (aborted === undefined || aborted.entry.lastOffset !== offset) return { discardable: aborted === undefined && !unclaimedBatch, keptEntry: null };
    this.ongoingAborted.delete(producerId);
    return aborted.batchSeen || unclaimedBatch ? { discardable: false, keptEntry: aborted.entry } : { discardable: true, keptEntry: null };
  }

  private consumeUpTo(offset: number): void {
    // Bounded by the aborted transactions of the cleaned range.
    while (this.nextPending < this.pending.length && this.pending[this.nextPending]!.firstOffset <= offset) {
      const entry = this.pending[this.nextPending++]!;
      if (entry.lastOffset < offset) continue;
      if (!this.ongoingAborted.has(entry.producerId)) this.ongoingAborted.set(entry.producerId, { entry, batchSeen: false });
    }
  }
}

/** The batch's delete horizon (KIP-534), or null when it carries none. */
export function deleteHorizonOf(batch: Uint8Array): number | null {
  const view = dataViewOf(batch);
  if ((view.getInt16(ATTRIBUTES_OFFSET) & DELETE_HORIZON_FLAG_MASK) === 0) return null;
  return readInt64(view, BASE_TIMESTAMP_OFFSET);
}

/** A copy of the (control) batch stamped with a delete horizon: the flag, the base timestamp, a new CRC. */
export function withDeleteHorizon(batch: Uint8Array, horizonMs: number): Uint8Array {
  const copy = batch.slice();
  const view = dataViewOf(copy);
  view.setInt16(ATTRIBUTES_OFFSET, view.getInt16(ATTRIBUTES_OFFSET) | DELETE_HORIZON_FLAG_MASK);
  writeInt64(view, BASE_TIMESTAMP_OFFSET, horizonMs);
  view.setUint32(CRC_OFFSET, computeBatchCrc(copy, 0, copy.byteLength));
  return copy;
}
