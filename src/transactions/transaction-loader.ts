// Rebuilds the transactional ids of one __transaction_state partition from its log (Kafka's
// TransactionStateManager.loadTransactionMetadata): records in log order, the last value per key wins, a
// tombstone removes the id. A key or value that does not decode is skipped and counted (one log line per
// partition), never a reason to fail the load.
import type { InternalTopicStore } from "../metadata/internal-topic-store.ts";
import { decodeTransactionLogKey, decodeTransactionLogValue, TRANSACTION_STATE_TOPIC, type TransactionLogValue } from "./transaction-log-records.ts";
import { TransactionMetadata } from "./transaction-metadata.ts";

export async function loadTransactions(store: InternalTopicStore, partition: number, log: (message: string) => void): Promise<TransactionMetadata[]> {
  const latest = new Map<string, TransactionLogValue | null>();
  let skipped = 0;
  let firstSkipped: string | null = null;
  const loaded = await store.load(partition, ({ key, value, offset }) => {
    const transactionalId = key ? safeDecode(() => decodeTransactionLogKey(key)) : null;
    if (transactionalId === null) {
      skipped++;
      firstSkipped ??= `a key it cannot read at offset ${offset}`;
      return;
    }
    if (value === null) {
      latest.set(transactionalId, null);
      return;
    }
    const decoded = safeDecode(() => decodeTransactionLogValue(value));
    if (!decoded) {
      skipped++;
      firstSkipped ??= `a value it cannot read at offset ${offset}`;
      return;
    }
    latest.set(transactionalId, decoded);
  });
  const name = `${TRANSACTION_STATE_TOPIC}-${partition}`;
  if (skipped > 0) log(`${name}: ${skipped} record(s) skipped while loading (first: ${firstSkipped})`);
  if (loaded.skippedBatches > 0) log(`${name}: ${loaded.skippedBatches} unreadable batch(es) skipped while loading (first: ${loaded.firstSkipReason})`);
  if (loaded.stoppedAtOffset !== null) log(`${name}: loading stopped at offset ${loaded.stoppedAtOffset} (${loaded.firstSkipReason})`);
  const result: TransactionMetadata[] = [];
  for (const [transactionalId, value] of latest) if (value) result.push(TransactionMetadata.fromLog(transactionalId, value));
  return result;
}

function safeDecode<T>(decode: () => T | null): T | null {
  try {
    return decode();
  } catch {
    return null;
  }
}
