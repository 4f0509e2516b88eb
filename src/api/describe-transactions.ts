// DescribeTransactions (KIP-664): the state of transactional ids this broker coordinates.
import { ErrorCode } from "../protocol/errors.ts";
import { Apis } from "../protocol/generated/index.ts";
import type { DescribeTransactionsResponse } from "../protocol/generated/describe-transactions.ts";
import { defineHandler, type Reply } from "./handler.ts";
import { AclOperation, canTopic, canTransactionalId } from "./authorize.ts";

export const describeTransactionsHandler = defineHandler(Apis.DescribeTransactions, {
  minVersion: 0,
  maxVersion: 0,
  handle(context, request): Reply<DescribeTransactionsResponse> {
    const empty = { transactionState: "", transactionTimeoutMs: 0, transactionStartTimeMs: -1, producerId: -1, producerEpoch: -1, topics: [] };
    const transactionStates = request.transactionalIds.map((transactionalId) => {
      if (!canTransactionalId(context, AclOperation.DESCRIBE, transactionalId)) return { errorCode: ErrorCode.TRANSACTIONAL_ID_AUTHORIZATION_FAILED, transactionalId, ...empty };
      const described = context.transactionCoordinator.describe(transactionalId);
      if (typeof described === "number") return { errorCode: described, transactionalId, ...empty };
      return {
        errorCode: ErrorCode.NONE,
        transactionalId,
        transactionState: described.state,
        transactionTimeoutMs: described.timeoutMs,
        transactionStartTimeMs: described.startTimestampMs,
        producerId: described.producerId,
        producerEpoch: described.producerEpoch,
        // Kafka lists only the topics the caller may describe.
        topics: [...described.partitions].filter(([topic]) => canTopic(context, AclOperation.DESCRIBE, topic, false)).map(([topic, partitions]) => ({ topic, partitions })),
      };
    });
    return { throttleTimeMs: 0, transactionStates };
  },
});
