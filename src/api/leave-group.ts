// LeaveGroup: v0-2 one member by id; v3+ a batch of members by id or group.instance.id (KIP-345); v4 is
// flexible; v5 carries each member's reason (KIP-800), logged with its departure.
import { Apis } from "../protocol/generated/index.ts";
import type { LeaveGroupResponse } from "../protocol/generated/leave-group.ts";
import { defineHandler, type Reply } from "./handler.ts";
import { AclOperation, canGroup } from "./authorize.ts";
import { ErrorCode } from "../protocol/errors.ts";

const FIRST_BATCH_VERSION = 3;

export const leaveGroupHandler = defineHandler(Apis.LeaveGroup, {
  minVersion: 0,
  maxVersion: 5,
  handle(context, request): Reply<LeaveGroupResponse> {
    const batch = context.apiVersion >= FIRST_BATCH_VERSION;
    if (!canGroup(context, AclOperation.READ, request.groupId)) return { throttleTimeMs: 0, errorCode: ErrorCode.GROUP_AUTHORIZATION_FAILED, members: [] };
    const leaving = batch
      ? request.members.map((member) => ({ memberId: member.memberId, groupInstanceId: member.groupInstanceId, reason: member.reason }))
      : [{ memberId: request.memberId, groupInstanceId: null }];
    const result = context.groups.leave(request.groupId, leaving);
    if (batch) return { throttleTimeMs: 0, errorCode: result.errorCode, members: result.members };
    // v0-2 have no per-member errors: the member's error is the response's.
    return { throttleTimeMs: 0, errorCode: result.errorCode !== 0 ? result.errorCode : (result.members[0]?.errorCode ?? 0) };
  },
});
