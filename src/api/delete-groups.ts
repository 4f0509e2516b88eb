// DeleteGroups: an Empty group and all its committed offsets are removed (tombstones in
// __consumer_offsets); a group with members gets NON_EMPTY_GROUP, an unknown one GROUP_ID_NOT_FOUND.
import { ApiKey } from "../protocol/generated/index.ts";
import type { DeleteGroupsRequest } from "../protocol/generated/delete-groups.ts";
import type { ApiHandler } from "./handler.ts";

export const deleteGroupsHandler: ApiHandler = {
  apiKey: ApiKey.DeleteGroups,
  minVersion: 0,
  maxVersion: 2,
  async handle(context, request: DeleteGroupsRequest) {
    const results = await context.broker.groups.offsets.deleteGroups(request.groupsNames);
    return { throttleTimeMs: 0, results };
  },
};
