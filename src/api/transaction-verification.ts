// KIP-890 part 1 on the produce path (Kafka's ReplicaManager.appendRecords with AddPartitionsToTxnManager):
// before a producer's first transactional batch on a partition is appended, the transaction coordinator
// confirms that the partition was added to that producer's ongoing transaction. A batch delayed in the
// network until after its transaction ended would otherwise open a transaction nobody will ever close,
// and hold the partition's last stable offset back for good (docs/transactions.md).
// Transaction version 2 (KIP-890 part 2): a Produce v12 client sends no AddPartitionsToTxn; the leader adds
// the partition to the transaction instead of only verifying it (Kafka's AddPartitionsToTxnManager with
// verifyOnly false, TransactionSupportedOperation addPartition).
import { ErrorCode } from "../protocol/errors.ts";
import { ATTRIBUTES_OFFSET, PRODUCER_EPOCH_OFFSET, PRODUCER_ID_OFFSET, RECORDS_OFFSET, TRANSACTIONAL_FLAG_MASK, dataViewOf, readInt64 } from "../records/batch.ts";
import type { ProduceItem } from "../partition/messages.ts";
import type { RequestContext } from "./context.ts";

interface PartitionAnswer {
  index: number;
  errorCode: number;
  baseOffset: number;
  logAppendTimeMs: number;
  logStartOffset: number;
  errorMessage?: string | null;
}

interface ItemReply {
  reply: { partitionResponses: PartitionAnswer[] };
  slot: number;
}

/** The transactional producer of the (single) batch the records start with, or null. */
function transactionalProducer(records: Uint8Array): { producerId: number; producerEpoch: number } | null {
  if (records.byteLength < RECORDS_OFFSET) return null;
  const view = dataViewOf(records);
  if ((view.getInt16(ATTRIBUTES_OFFSET) & TRANSACTIONAL_FLAG_MASK) === 0) return null;
  return { producerId: readInt64(view, PRODUCER_ID_OFFSET), producerEpoch: view.getInt16(PRODUCER_EPOCH_OFFSET) };
}

/** What the Produce version lets the leader do and answer (Kafka's TransactionSupportedOperation). */
export interface VerificationMode {
  /** Produce v12 under transaction version 2: add the partition to the transaction rather than only verify it. */
  addPartition: boolean;
  /** Produce v11+: TRANSACTION_ABORTABLE reaches the client; older versions get INVALID_TXN_STATE ("for backward compatibility with clients"). */
  abortableErrorSupported: boolean;
}

/**
 * Null when no item is transactional (the usual produce: nothing to wait for). Otherwise verifies (or adds,
 * see VerificationMode) each transactional item whose producer has no ongoing transaction on its partition
 * yet, and removes the refused ones from `items` and `itemReplies` (in place) after answering them with the refusal.
 */
export function verifyTransactionalBatches(context: RequestContext, transactionalId: string | null, items: ProduceItem[], itemReplies: ItemReply[], mode: VerificationMode): Promise<void> | null {
  let transactional: number[] | null = null;
  for (let index = 0; index < items.length; index++) if (transactionalProducer(items[index]!.records) !== null) (transactional ??= []).push(index);
  if (transactional === null) return null;
  return verify(context, transactionalId, items, itemReplies, transactional, mode);
}

async function verify(context: RequestContext, transactionalId: string | null, items: ProduceItem[], itemReplies: ItemReply[], transactional: number[], mode: VerificationMode): Promise<void> {
  const refusals = new Map<number, { errorCode: number; message: string }>();
  const producers = transactional.map((index) => transactionalProducer(items[index]!.records)!);
  let ongoing: { errorCode: number; firstOffset: number; verificationGuard?: number }[];
  try {
    ongoing = await context.partitions.producerTransaction(transactional.map((index, at) => ({ topic: items[index]!.topic, partition: items[index]!.partition, producerId: producers[at]!.producerId })));
  } catch (error) {
    context.log(`transaction verification failed: ${error instanceof Error ? error.message : String(error)}`);
    ongoing = transactional.map(() => ({ errorCode: ErrorCode.KAFKA_STORAGE_ERROR, firstOffset: -1 }));
  }
  await Promise.all(
    transactional.map(async (index, at) => {
      const item = items[index]!;
      const producer = producers[at]!;
      if (ongoing[at]!.errorCode !== ErrorCode.NONE) {
        refusals.set(index, { errorCode: ongoing[at]!.errorCode, message: "" });
        return;
      }
      // Already in a transaction here: its first batch was verified.
      if (ongoing[at]!.firstOffset >= 0) return;
      if (transactionalId === null) {
        refusals.set(index, { errorCode: ErrorCode.INVALID_TXN_STATE, message: "Record was not part of an ongoing transaction (a transactional batch in a produce without a transactional id)" });
        return;
      }
      const transactions = context.transactions;
      let verdict: number = ErrorCode.NONE;
      if (transactions && mode.addPartition) verdict = await transactions.addPartitionToTransaction(transactionalId, producer.producerId, producer.producerEpoch, item.topic, item.partition);
      else if (transactions) verdict = await transactions.verifyPartitionInTransaction(transactionalId, producer.producerId, producer.producerEpoch, item.topic, item.partition);
      if (verdict === ErrorCode.TRANSACTION_ABORTABLE && !mode.abortableErrorSupported) verdict = ErrorCode.INVALID_TXN_STATE;
      // Kafka's ReplicaManager words INVALID_TXN_STATE from verification as "Partition was not added to the transaction".
      if (verdict === ErrorCode.INVALID_TXN_STATE) refusals.set(index, { errorCode: verdict, message: "Partition was not added to the transaction" });
      else if (verdict === ErrorCode.TRANSACTION_ABORTABLE) refusals.set(index, { errorCode: verdict, message: "Partition was not added to the transaction; the transaction must be aborted" });
      else if (verdict !== ErrorCode.NONE) refusals.set(index, { errorCode: verdict, message: "" });
      // The worker appends a batch that opens a transaction only with the guard it handed out before this verification.
      else item.verificationGuard = ongoing[at]!.verificationGuard;
    }),
  );
  if (refusals.size === 0) return;
  // Bounded by the items; from the end so the remaining indexes stay valid while splicing.
  for (let index = items.length - 1; index >= 0; index--) {
    const refusal = refusals.get(index);
    if (!refusal) continue;
    const { reply, slot } = itemReplies[index]!;
    reply.partitionResponses[slot] = { index: items[index]!.partition, errorCode: refusal.errorCode, baseOffset: -1, logAppendTimeMs: -1, logStartOffset: -1, errorMessage: refusal.message || null };
    items.splice(index, 1);
    itemReplies.splice(index, 1);
  }
}
