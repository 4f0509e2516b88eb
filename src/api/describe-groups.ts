// DescribeGroups: state, protocol, members (with metadata and assignment when Stable). An unknown group
// is reported as Dead without an error, as Kafka does. A share group (KIP-932) is described with protocol type
// "share" and its members (ShareGroupDescribe has the assignments).
// Versions: v1 throttle time; v2 throttles after the response (KIP-219); v3 authorized operations (KIP-430,
// not computed: the "omitted" value); v4 members' group.instance.id (KIP-345); v5 flexible.
import { Apis } from "../protocol/generated/index.ts";
import type { DescribeGroupsResponse } from "../protocol/generated/describe-groups.ts";
import { defineHandler, type Reply } from "./handler.ts";
import { AclOperation, canGroup } from "./authorize.ts";
import { ErrorCode } from "../protocol/errors.ts";
import type { DescribedShareGroup } from "../group/share-group/share-group-coordinator.ts";

/** Kafka's "authorized operations not requested" value. */
const AUTHORIZED_OPERATIONS_OMITTED = -2147483648;

/** A share group (KIP-932) in DescribeGroups' shape: protocol type "share", members without metadata or assignment bytes. */
function describeShareGroup(group: DescribedShareGroup) {
  const empty = new Uint8Array(0);
  return {
    errorCode: group.errorCode,
    groupId: group.groupId,
    groupState: group.groupState,
    protocolType: "share",
    protocolData: "",
    members: group.members.map((member) => ({ memberId: member.memberId, groupInstanceId: null, clientId: member.clientId, clientHost: member.clientHost, memberMetadata: empty, memberAssignment: empty })),
    authorizedOperations: AUTHORIZED_OPERATIONS_OMITTED,
  };
}

export const describeGroupsHandler = defineHandler(Apis.DescribeGroups, {
  minVersion: 0,
  maxVersion: 5,
  handle(context, request): Reply<DescribeGroupsResponse> {
    return {
      throttleTimeMs: 0,
      groups: request.groups.map((groupId) => {
        if (!canGroup(context, AclOperation.DESCRIBE, groupId)) return { errorCode: ErrorCode.GROUP_AUTHORIZATION_FAILED, groupId, groupState: "", protocolType: "", protocolData: "", members: [], authorizedOperations: AUTHORIZED_OPERATIONS_OMITTED };
        if (context.shareGroups?.coordinator.has(groupId)) return describeShareGroup(context.shareGroups.coordinator.describe(groupId));
        return { ...context.groups.offsets.describe(groupId), authorizedOperations: AUTHORIZED_OPERATIONS_OMITTED };
      }),
    };
  },
});
