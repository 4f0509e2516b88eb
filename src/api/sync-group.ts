// SyncGroup: the leader sends the assignment it computed; every member waits for its own part. v3+ carries
// group.instance.id (KIP-345); v4 is flexible; v5 carries the protocol type and name, checked against the
// group's (INCONSISTENT_GROUP_PROTOCOL on a mismatch) and returned in the response.
import { Apis } from "../protocol/generated/index.ts";
import type { SyncGroupResponse } from "../protocol/generated/sync-group.ts";
import { defineHandler, type Reply } from "./handler.ts";
import { AclOperation, canGroup } from "./authorize.ts";
import { ErrorCode } from "../protocol/errors.ts";

export const syncGroupHandler = defineHandler(Apis.SyncGroup, {
  minVersion: 0,
  maxVersion: 5,
  async handle(context, request): Promise<Reply<SyncGroupResponse>> {
    if (!canGroup(context, AclOperation.READ, request.groupId)) return { throttleTimeMs: 0, errorCode: ErrorCode.GROUP_AUTHORIZATION_FAILED, protocolType: null, protocolName: null, assignment: new Uint8Array(0) };
    const result = await context.groups.sync({
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
});
