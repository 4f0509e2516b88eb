// ListGroups: the groups this broker coordinates; v4+ may filter by state (case-insensitive, as Kafka).
import { ApiKey } from "../protocol/generated/index.ts";
import type { ListGroupsRequest } from "../protocol/generated/list-groups.ts";
import type { ApiHandler } from "./handler.ts";

export const listGroupsHandler: ApiHandler = {
  apiKey: ApiKey.ListGroups,
  minVersion: 0,
  maxVersion: 4,
  handle(context, request: ListGroupsRequest) {
    const listed = context.broker.groups.offsets.list(request.statesFilter ?? []);
    return { throttleTimeMs: 0, errorCode: listed.errorCode, groups: listed.groups };
  },
};
