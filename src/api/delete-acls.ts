// DeleteAcls: removes every binding each filter selects (ALTER on the cluster) and answers with them.
import { ErrorCode } from "../protocol/errors.ts";
import { Apis } from "../protocol/generated/index.ts";
import type { DeleteAclsResponse } from "../protocol/generated/delete-acls.ts";
import { invalidFilterReason, type AclBindingFilter } from "../security/acl/model.ts";
import { AclOperation, canCluster } from "./authorize.ts";
import { defineHandler, type Reply } from "./handler.ts";

export const deleteAclsHandler = defineHandler(Apis.DeleteAcls, {
  minVersion: 0,
  maxVersion: 3,
  async handle(context, request): Promise<Reply<DeleteAclsResponse>> {
    const refuse = (errorCode: number, errorMessage: string) => ({ throttleTimeMs: 0, filterResults: request.filters.map(() => ({ errorCode, errorMessage, matchingAcls: [] })) });
    if (!context.authorizer.enabled) return refuse(ErrorCode.SECURITY_DISABLED, "No Authorizer is configured on the broker");
    if (!canCluster(context, AclOperation.ALTER)) return refuse(ErrorCode.CLUSTER_AUTHORIZATION_FAILED, "Authorization failed.");
    const filters: AclBindingFilter[] = request.filters.map((filter) => ({
      resourceType: filter.resourceTypeFilter,
      resourceName: filter.resourceNameFilter,
      patternType: filter.patternTypeFilter,
      principal: filter.principalFilter,
      host: filter.hostFilter,
      operation: filter.operation,
      permission: filter.permissionType,
    }));
    const problems = filters.map(invalidFilterReason);
    const usable = filters.filter((_, index) => problems[index] === null);
    let deleted: ReturnType<typeof context.authorizer.describeAcls>[];
    try {
      deleted = await context.authorizer.deleteAcls(usable);
    } catch (error) {
      const message = `deleting ACLs failed: ${error instanceof Error ? error.message : String(error)}`;
      context.log(message);
      return refuse(ErrorCode.UNKNOWN_SERVER_ERROR, message);
    }
    let next = 0;
    return {
      throttleTimeMs: 0,
      filterResults: problems.map((problem) => {
        if (problem) return { errorCode: ErrorCode.INVALID_REQUEST, errorMessage: `invalid ACL filter: ${problem}`, matchingAcls: [] };
        return {
          errorCode: ErrorCode.NONE,
          errorMessage: null,
          matchingAcls: deleted[next++]!.map((binding) => ({
            errorCode: ErrorCode.NONE,
            errorMessage: null,
            resourceType: binding.resourceType,
            resourceName: binding.resourceName,
            patternType: binding.patternType,
            principal: binding.principal,
            host: binding.host,
            operation: binding.operation,
            permissionType: binding.permission,
          })),
        };
      }),
    };
  },
});
