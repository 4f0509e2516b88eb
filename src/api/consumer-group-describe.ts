// ConsumerGroupDescribe (KIP-848): a consumer-protocol group's epochs, assignor, and every member's
// subscription, current and target assignment. A classic group answers GROUP_ID_NOT_FOUND (as Kafka).
import { Apis } from "../protocol/generated/index.ts";
import type { ConsumerGroupDescribeResponse } from "../protocol/generated/consumer-group-describe.ts";
import { defineHandler, type Reply } from "./handler.ts";
import { AclOperation, canGroup } from "./authorize.ts";
import { ErrorCode } from "../protocol/errors.ts";

/** Kafka's "authorized operations not requested" value. */
const AUTHORIZED_OPERATIONS_OMITTED = -2147483648;

export const consumerGroupDescribeHandler = defineHandler(Apis.ConsumerGroupDescribe, {
  minVersion: 0,
  maxVersion: 0,
  handle(context, request): Reply<ConsumerGroupDescribeResponse> {
    return {
      throttleTimeMs: 0,
      groups: request.groupIds.map((groupId) => {
        if (!canGroup(context, AclOperation.DESCRIBE, groupId)) {
          return { errorCode: ErrorCode.GROUP_AUTHORIZATION_FAILED, errorMessage: null, groupId, groupState: "", groupEpoch: -1, assignmentEpoch: -1, assignorName: "", members: [], authorizedOperations: AUTHORIZED_OPERATIONS_OMITTED };
        }
        return { ...context.groups.consumerProtocol.describe(groupId), authorizedOperations: AUTHORIZED_OPERATIONS_OMITTED };
      }),
    };
  },
});
