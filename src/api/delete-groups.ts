// DeleteGroups: an Empty group and all its committed offsets are removed (tombstones in
// __consumer_offsets); a group with members gets NON_EMPTY_GROUP, an unknown one GROUP_ID_NOT_FOUND.
// Versions: v1 throttles after the response (KIP-219); v2 flexible. v0 is gone, as in Kafka 4.0 (KIP-896):
// kafkajs, librdkafka 2.0.2 and kafka-python send v1.
import { Apis } from "../protocol/generated/index.ts";
import type { DeleteGroupsResponse } from "../protocol/generated/delete-groups.ts";
import { defineHandler, type Reply } from "./handler.ts";
import { AclOperation, canGroup } from "./authorize.ts";
import { ErrorCode } from "../protocol/errors.ts";

export const deleteGroupsHandler = defineHandler(Apis.DeleteGroups, {
  minVersion: 1,
  maxVersion: 2,
  async handle(context, request): Promise<Reply<DeleteGroupsResponse>> {
    const allowed = request.groupsNames.filter((groupId) => canGroup(context, AclOperation.DELETE, groupId));
    const deleted = new Map((await context.groups.offsets.deleteGroups(allowed)).map((result) => [result.groupId, result]));
    const results = request.groupsNames.map((groupId) => deleted.get(groupId) ?? { groupId, errorCode: ErrorCode.GROUP_AUTHORIZATION_FAILED });
    return { throttleTimeMs: 0, results };
  },
});
