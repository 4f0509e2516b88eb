// SyncGroup: the leader sends the assignment it computed; every member waits for its own part.
import { ApiKey } from "../protocol/generated/index.ts";
import type { SyncGroupRequest } from "../protocol/generated/sync-group.ts";
import type { ApiHandler } from "./handler.ts";

export const syncGroupHandler: ApiHandler = {
  apiKey: ApiKey.SyncGroup,
  minVersion: 0,
  maxVersion: 4,
  async handle(context, request: SyncGroupRequest) {
    const result = await context.broker.groups.sync({
      groupId: request.groupId,
      generationId: request.generationId,
      memberId: request.memberId,
      groupInstanceId: request.groupInstanceId,
      protocolType: request.protocolType,
      protocolName: request.protocolName,
      assignments: request.assignments,
    });
    return { throttleTimeMs: 0, errorCode: result.errorCode, protocolType: result.protocolType, protocolName: result.protocolName, assignment: result.assignment };
  },
};
