// Heartbeat: keeps a member's session alive; REBALANCE_IN_PROGRESS tells it to rejoin.
import { ApiKey } from "../protocol/generated/index.ts";
import type { HeartbeatRequest } from "../protocol/generated/heartbeat.ts";
import type { ApiHandler } from "./handler.ts";

export const heartbeatHandler: ApiHandler = {
  apiKey: ApiKey.Heartbeat,
  minVersion: 0,
  maxVersion: 4,
  handle(context, request: HeartbeatRequest) {
    const errorCode = context.broker.groups.heartbeat(request.groupId, request.memberId, request.groupInstanceId, request.generationId);
    return { throttleTimeMs: 0, errorCode };
  },
};
