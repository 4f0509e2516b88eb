// ListTransactions (KIP-664): the transactional ids this broker coordinates, filtered by state, producer id
// and (v1) how long the transaction has been open; only ids the caller may describe.
import { ErrorCode } from "../protocol/errors.ts";
import { Apis } from "../protocol/generated/index.ts";
import type { ListTransactionsResponse } from "../protocol/generated/list-transactions.ts";
import { TRANSACTION_STATUS_NAMES } from "../transactions/transaction-log-records.ts";
import { defineHandler, type Reply } from "./handler.ts";
import { AclOperation, canTransactionalId } from "./authorize.ts";

const KNOWN_STATES = new Set(Object.values(TRANSACTION_STATUS_NAMES));

export const listTransactionsHandler = defineHandler(Apis.ListTransactions, {
  minVersion: 0,
  maxVersion: 1,
  handle(context, request): Reply<ListTransactionsResponse> {
    const unknownStateFilters = request.stateFilters.filter((state) => !KNOWN_STATES.has(state));
    const durationFilterMs = context.apiVersion >= 1 ? request.durationFilter : -1;
    const listed = context.transactionCoordinator.list(request.stateFilters, request.producerIdFilters, durationFilterMs);
    const transactionStates = listed
      .filter((description) => canTransactionalId(context, AclOperation.DESCRIBE, description.transactionalId))
      .map((description) => ({ transactionalId: description.transactionalId, producerId: description.producerId, transactionState: description.state }));
    return { throttleTimeMs: 0, errorCode: ErrorCode.NONE, unknownStateFilters, transactionStates };
  },
});
