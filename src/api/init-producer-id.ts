// InitProducerId: a fresh producer id (epoch 0) for idempotent producers; with a transactional.id, the id's
// producer id and a bumped epoch from its transaction coordinator, which fences the previous producer
// (aborting its open transaction first) and checks transaction.timeout.ms (transactions/).
import { ErrorCode } from "../protocol/errors.ts";
import { Apis } from "../protocol/generated/index.ts";
import type { InitProducerIdResponse } from "../protocol/generated/init-producer-id.ts";
import { defineHandler, type Reply } from "./handler.ts";
import { AclOperation, canAnyTopic, canCluster, canTransactionalId } from "./authorize.ts";

/** PRODUCER_FENCED exists from v4 (KIP-588); older clients know it as INVALID_PRODUCER_EPOCH. */
const PRODUCER_FENCED_MIN_VERSION = 4;

export const initProducerIdHandler = defineHandler(Apis.InitProducerId, {
  minVersion: 0,
  maxVersion: 5,
  async handle(context, request): Promise<Reply<InitProducerIdResponse>> {
    if (request.transactionalId !== null && request.transactionalId !== "") {
      if (!canTransactionalId(context, AclOperation.WRITE, request.transactionalId)) return { throttleTimeMs: 0, errorCode: ErrorCode.TRANSACTIONAL_ID_AUTHORIZATION_FAILED, producerId: -1, producerEpoch: -1 };
      const result = await context.transactionCoordinator.initProducerId({
        transactionalId: request.transactionalId,
        transactionTimeoutMs: request.transactionTimeoutMs,
        producerId: request.producerId,
        producerEpoch: request.producerEpoch,
      });
      const errorCode = result.errorCode === ErrorCode.PRODUCER_FENCED && context.apiVersion < PRODUCER_FENCED_MIN_VERSION ? ErrorCode.INVALID_PRODUCER_EPOCH : result.errorCode;
      return { throttleTimeMs: 0, errorCode, producerId: result.producerId, producerEpoch: result.producerEpoch };
    }
    // IDEMPOTENT_WRITE on the cluster; since Kafka 3.0 WRITE on any topic implies it (KIP-679).
    if (!canCluster(context, AclOperation.IDEMPOTENT_WRITE, false) && !canAnyTopic(context, AclOperation.WRITE)) {
      return { throttleTimeMs: 0, errorCode: ErrorCode.CLUSTER_AUTHORIZATION_FAILED, producerId: -1, producerEpoch: -1 };
    }
    const producerId = await context.producerIds.allocate();
    return { throttleTimeMs: 0, errorCode: ErrorCode.NONE, producerId, producerEpoch: 0 };
  },
});
