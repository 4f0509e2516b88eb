// AddOffsetsToTxn: the group's __consumer_offsets partition joins the producer's transaction, so that its
// TxnOffsetCommit offsets get the transaction's COMMIT/ABORT marker (Kafka adds exactly that partition).
import { ErrorCode } from "../protocol/errors.ts";
import { Apis } from "../protocol/generated/index.ts";
import type { AddOffsetsToTxnResponse } from "../protocol/generated/add-offsets-to-txn.ts";
import { OFFSETS_TOPIC } from "../group/offsets-records.ts";
import { defineHandler, type Reply } from "./handler.ts";
import { AclOperation, canGroup, canTransactionalId } from "./authorize.ts";

/** PRODUCER_FENCED exists from v2 (KIP-588); older clients know it as INVALID_PRODUCER_EPOCH. */
const PRODUCER_FENCED_MIN_VERSION = 2;

export const addOffsetsToTxnHandler = defineHandler(Apis.AddOffsetsToTxn, {
  minVersion: 0,
  maxVersion: 4,
  async handle(context, request): Promise<Reply<AddOffsetsToTxnResponse>> {
    if (!canTransactionalId(context, AclOperation.WRITE, request.transactionalId)) return { throttleTimeMs: 0, errorCode: ErrorCode.TRANSACTIONAL_ID_AUTHORIZATION_FAILED };
    if (!canGroup(context, AclOperation.READ, request.groupId)) return { throttleTimeMs: 0, errorCode: ErrorCode.GROUP_AUTHORIZATION_FAILED };
    try {
      await context.groups.ensureOffsetsTopic();
    } catch (error) {
      context.log(`AddOffsetsToTxn: cannot create __consumer_offsets: ${error instanceof Error ? error.message : String(error)}`);
      return { throttleTimeMs: 0, errorCode: ErrorCode.COORDINATOR_NOT_AVAILABLE };
    }
    const partition = context.groups.offsetsPartitionFor(request.groupId);
    const errorCode = await context.transactionCoordinator.addPartitions(request.transactionalId, request.producerId, request.producerEpoch, [{ topic: OFFSETS_TOPIC, partition }]);
    return { throttleTimeMs: 0, errorCode: errorCode === ErrorCode.PRODUCER_FENCED && context.apiVersion < PRODUCER_FENCED_MIN_VERSION ? ErrorCode.INVALID_PRODUCER_EPOCH : errorCode };
  },
});
