// InitProducerId: a fresh producer id (epoch 0) for idempotent producers. Bunka has no transaction
// coordinator, so transactional ids are refused rather than half-supported.
import { ErrorCode } from "../protocol/errors.ts";
import { Apis } from "../protocol/generated/index.ts";
import type { InitProducerIdResponse } from "../protocol/generated/init-producer-id.ts";
import { defineHandler, type Reply } from "./handler.ts";
import { AclOperation, canAnyTopic, canCluster, canTransactionalId } from "./authorize.ts";

export const initProducerIdHandler = defineHandler(Apis.InitProducerId, {
  minVersion: 0,
  maxVersion: 3,
  async handle(context, request): Promise<Reply<InitProducerIdResponse>> {
    if (request.transactionalId !== null && request.transactionalId !== "") {
      if (!canTransactionalId(context, AclOperation.WRITE, request.transactionalId)) return { throttleTimeMs: 0, errorCode: ErrorCode.TRANSACTIONAL_ID_AUTHORIZATION_FAILED, producerId: -1, producerEpoch: -1 };
      return { throttleTimeMs: 0, errorCode: ErrorCode.TRANSACTIONAL_ID_AUTHORIZATION_FAILED, producerId: -1, producerEpoch: -1 };
    }
    // IDEMPOTENT_WRITE on the cluster; since Kafka 3.0 WRITE on any topic implies it (KIP-679).
    if (!canCluster(context, AclOperation.IDEMPOTENT_WRITE, false) && !canAnyTopic(context, AclOperation.WRITE)) {
      return { throttleTimeMs: 0, errorCode: ErrorCode.CLUSTER_AUTHORIZATION_FAILED, producerId: -1, producerEpoch: -1 };
    }
    const producerId = await context.producerIds.allocate();
    return { throttleTimeMs: 0, errorCode: ErrorCode.NONE, producerId, producerEpoch: 0 };
  },
});
