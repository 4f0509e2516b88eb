// Heartbeat: keeps a member's session alive; REBALANCE_IN_PROGRESS tells it to rejoin.
import { Apis } from "../protocol/generated/index.ts";
import type { HeartbeatResponse } from "../protocol/generated/heartbeat.ts";
import { defineHandler, type Reply } from "./handler.ts";
import { AclOperation, canGroup } from "./authorize.ts";
import { ErrorCode } from "../protocol/errors.ts";

export const heartbeatHandler = defineHandler(Apis.Heartbeat, {
  minVersion: 0,
  maxVersion: 4,
  handle(context, request): Reply<HeartbeatResponse> {
    if (!canGroup(context, AclOperation.READ, request.groupId)) return { throttleTimeMs: 0, errorCode: ErrorCode.GROUP_AUTHORIZATION_FAILED };
    const errorCode = context.groups.heartbeat(request.groupId, request.memberId, request.groupInstanceId, request.generationId);
    return { throttleTimeMs: 0, errorCode };
  },
});
