// ListGroups: the groups this broker coordinates; v4+ may filter by state (case-insensitive, as Kafka), v5+ by
// type (classic or consumer, KIP-848; share, KIP-932).
import { Apis } from "../protocol/generated/index.ts";
import type { ListGroupsResponse } from "../protocol/generated/list-groups.ts";
import { defineHandler, type Reply } from "./handler.ts";
import { AclOperation, canCluster, canGroup } from "./authorize.ts";

export const listGroupsHandler = defineHandler(Apis.ListGroups, {
  minVersion: 0,
  maxVersion: 5,
  handle(context, request): Reply<ListGroupsResponse> {
    // v5 (KIP-848): types filter ("classic", "consumer") and each group's type.
    const types = (request.typesFilter ?? []).map((type) => type.toLowerCase());
    const listed = context.groups.offsets.list(request.statesFilter ?? [], request.typesFilter ?? []);
    // Share groups (KIP-932) are listed with type "share" (v5), and with protocol type "share" to older versions.
    if (context.shareGroups && (types.length === 0 || types.includes("share"))) {
      const known = new Set(listed.groups.map((group) => group.groupId));
      listed.groups = [...listed.groups, ...context.shareGroups.coordinator.list(request.statesFilter ?? []).filter((group) => !known.has(group.groupId))];
    }
    // DESCRIBE on the cluster lists every group; otherwise only the groups the principal may DESCRIBE (never an error, as Kafka).
    const groups = canCluster(context, AclOperation.DESCRIBE, false) ? listed.groups : listed.groups.filter((group) => canGroup(context, AclOperation.DESCRIBE, group.groupId, false));
    return { throttleTimeMs: 0, errorCode: listed.errorCode, groups };
  },
});
