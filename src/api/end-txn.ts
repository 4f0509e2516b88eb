// EndTxn: commit or abort. The coordinator answers once the decision is stored (PrepareCommit/PrepareAbort)
// and writes the markers afterwards. v5 is transaction version 2 (KIP-890 part 2): the epoch is bumped at
// every end and the answer carries the producer id and epoch to use next.
import { ErrorCode } from "../protocol/errors.ts";
import { Apis } from "../protocol/generated/index.ts";
import type { EndTxnResponse } from "../protocol/generated/end-txn.ts";
import { defineHandler, type Reply } from "./handler.ts";
import { AclOperation, canTransactionalId } from "./authorize.ts";

/** PRODUCER_FENCED exists from v2 (KIP-588); older clients know it as INVALID_PRODUCER_EPOCH. */
const PRODUCER_FENCED_MIN_VERSION = 2;
const TRANSACTION_VERSION_2_MIN_VERSION = 5;

export const endTxnHandler = defineHandler(Apis.EndTxn, {
  minVersion: 0,
  maxVersion: 5,
  async handle(context, request): Promise<Reply<EndTxnResponse>> {
    if (!canTransactionalId(context, AclOperation.WRITE, request.transactionalId)) return { throttleTimeMs: 0, errorCode: ErrorCode.TRANSACTIONAL_ID_AUTHORIZATION_FAILED, producerId: -1, producerEpoch: -1 };
    const transactionVersion2 = context.apiVersion >= TRANSACTION_VERSION_2_MIN_VERSION;
    const result = await context.transactionCoordinator.endTxn(request.transactionalId, request.producerId, request.producerEpoch, request.committed, transactionVersion2);
    const errorCode = result.errorCode === ErrorCode.PRODUCER_FENCED && context.apiVersion < PRODUCER_FENCED_MIN_VERSION ? ErrorCode.INVALID_PRODUCER_EPOCH : result.errorCode;
    return { throttleTimeMs: 0, errorCode, producerId: result.producerId, producerEpoch: result.producerEpoch };
  },
});
