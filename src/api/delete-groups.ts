// DeleteGroups: an Empty group and all its committed offsets are removed (tombstones in
// __consumer_offsets); a group with members gets NON_EMPTY_GROUP, an unknown one GROUP_ID_NOT_FOUND.
import { Apis } from "../protocol/generated/index.ts";
import type { DeleteGroupsResponse } from "../protocol/generated/delete-groups.ts";
import { defineHandler, type Reply } from "./handler.ts";

export const deleteGroupsHandler = defineHandler(Apis.DeleteGroups, {
  minVersion: 0,
  maxVersion: 2,
  async handle(context, request): Promise<Reply<DeleteGroupsResponse>> {
    const results = await context.groups.offsets.deleteGroups(request.groupsNames);
    return { throttleTimeMs: 0, results };
  },
});
