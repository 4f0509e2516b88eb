// ListGroups: the groups this broker coordinates; v4+ may filter by state (case-insensitive, as Kafka).
import { Apis } from "../protocol/generated/index.ts";
import type { ListGroupsResponse } from "../protocol/generated/list-groups.ts";
import { defineHandler, type Reply } from "./handler.ts";
import { AclOperation, canCluster, canGroup } from "./authorize.ts";

export const listGroupsHandler = defineHandler(Apis.ListGroups, {
  minVersion: 0,
  maxVersion: 4,
  handle(context, request): Reply<ListGroupsResponse> {
    const listed = context.groups.offsets.list(request.statesFilter ?? []);
    // DESCRIBE on the cluster lists every group; otherwise only the groups the principal may DESCRIBE (never an error, as Kafka).
    const groups = canCluster(context, AclOperation.DESCRIBE, false) ? listed.groups : listed.groups.filter((group) => canGroup(context, AclOperation.DESCRIBE, group.groupId, false));
    return { throttleTimeMs: 0, errorCode: listed.errorCode, groups };
  },
});
