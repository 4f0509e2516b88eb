// ShareGroupDescribe (KIP-932, v0): members, their subscriptions and assignments, the group and assignment
// epochs. An unknown group is GROUP_ID_NOT_FOUND. Authorized operations (KIP-430) are not computed.
import { Apis } from "../protocol/generated/index.ts";
import type { ShareGroupDescribeResponse } from "../protocol/generated/share-group-describe.ts";
import { ErrorCode } from "../protocol/errors.ts";
import { defineHandler, type Reply } from "./handler.ts";
import { AclOperation, canGroup } from "./authorize.ts";

const AUTHORIZED_OPERATIONS_OMITTED = -2147483648;

export const shareGroupDescribeHandler = defineHandler(Apis.ShareGroupDescribe, {
  minVersion: 0,
  maxVersion: 0,
  handle(context, request): Reply<ShareGroupDescribeResponse> {
    const empty = (groupId: string, errorCode: number) => ({ errorCode, errorMessage: null, groupId, groupState: "", groupEpoch: -1, assignmentEpoch: -1, assignorName: "", members: [], authorizedOperations: AUTHORIZED_OPERATIONS_OMITTED });
    return {
      throttleTimeMs: 0,
      groups: request.groupIds.map((groupId) => {
        if (!context.shareGroups) return empty(groupId, ErrorCode.GROUP_ID_NOT_FOUND);
        if (!canGroup(context, AclOperation.DESCRIBE, groupId)) return empty(groupId, ErrorCode.GROUP_AUTHORIZATION_FAILED);
        const coordinator = context.groups.coordinatorFor(groupId);
        if (!coordinator) return empty(groupId, ErrorCode.COORDINATOR_NOT_AVAILABLE);
        if (coordinator.nodeId !== context.settings.config.nodeId) return empty(groupId, ErrorCode.NOT_COORDINATOR);
        return { ...context.shareGroups.coordinator.describe(groupId), authorizedOperations: AUTHORIZED_OPERATIONS_OMITTED };
      }),
    };
  },
});
