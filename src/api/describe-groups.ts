// DescribeGroups: state, protocol, members (with metadata and assignment when Stable). An unknown group
// is reported as Dead without an error, as Kafka does.
// Versions: v1 throttle time; v2 throttles after the response (KIP-219); v3 authorized operations (KIP-430,
// not computed: the "omitted" value); v4 members' group.instance.id (KIP-345); v5 flexible.
import { Apis } from "../protocol/generated/index.ts";
import type { DescribeGroupsResponse } from "../protocol/generated/describe-groups.ts";
import { defineHandler, type Reply } from "./handler.ts";
import { AclOperation, canGroup } from "./authorize.ts";
import { ErrorCode } from "../protocol/errors.ts";

/** Kafka's "authorized operations not requested" value. */
const AUTHORIZED_OPERATIONS_OMITTED = -2147483648;

export const describeGroupsHandler = defineHandler(Apis.DescribeGroups, {
  minVersion: 0,
  maxVersion: 5,
  handle(context, request): Reply<DescribeGroupsResponse> {
    return {
      throttleTimeMs: 0,
      groups: request.groups.map((groupId) =>
        canGroup(context, AclOperation.DESCRIBE, groupId)
          ? { ...context.groups.offsets.describe(groupId), authorizedOperations: AUTHORIZED_OPERATIONS_OMITTED }
          : { errorCode: ErrorCode.GROUP_AUTHORIZATION_FAILED, groupId, groupState: "", protocolType: "", protocolData: "", members: [], authorizedOperations: AUTHORIZED_OPERATIONS_OMITTED },
      ),
    };
  },
});
