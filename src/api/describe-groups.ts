// DescribeGroups: state, protocol, members (with metadata and assignment when Stable). An unknown group
// is reported as Dead without an error, as Kafka does.
import { ApiKey } from "../protocol/generated/index.ts";
import type { DescribeGroupsRequest } from "../protocol/generated/describe-groups.ts";
import type { ApiHandler } from "./handler.ts";

/** Kafka's "authorized operations not requested" value. */
const AUTHORIZED_OPERATIONS_OMITTED = -2147483648;

export const describeGroupsHandler: ApiHandler = {
  apiKey: ApiKey.DescribeGroups,
  minVersion: 0,
  maxVersion: 5,
  handle(context, request: DescribeGroupsRequest) {
    return {
      throttleTimeMs: 0,
      groups: request.groups.map((groupId) => ({ ...context.broker.groups.offsets.describe(groupId), authorizedOperations: AUTHORIZED_OPERATIONS_OMITTED })),
    };
  },
};
