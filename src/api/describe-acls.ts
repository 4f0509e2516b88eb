// DescribeAcls: the bindings a filter selects (DESCRIBE on the cluster), grouped by resource pattern.
import { ErrorCode } from "../protocol/errors.ts";
import { Apis } from "../protocol/generated/index.ts";
import type { DescribeAclsResponse } from "../protocol/generated/describe-acls.ts";
import { invalidFilterReason, type AclBinding, type AclBindingFilter } from "../security/acl/model.ts";
import { AclOperation, canCluster } from "./authorize.ts";
import { defineHandler, type Reply } from "./handler.ts";

export const describeAclsHandler = defineHandler(Apis.DescribeAcls, {
  minVersion: 0,
  maxVersion: 3,
  handle(context, request): Reply<DescribeAclsResponse> {
    const refuse = (errorCode: number, errorMessage: string) => ({ throttleTimeMs: 0, errorCode, errorMessage, resources: [] });
    if (!context.authorizer.enabled) return refuse(ErrorCode.SECURITY_DISABLED, "No Authorizer is configured on the broker");
    if (!canCluster(context, AclOperation.DESCRIBE)) return refuse(ErrorCode.CLUSTER_AUTHORIZATION_FAILED, "Authorization failed.");
    const filter: AclBindingFilter = {
      resourceType: request.resourceTypeFilter,
      resourceName: request.resourceNameFilter,
      // v0 has no pattern type: it means literal bindings only (the schema's default, 3).
      patternType: request.patternTypeFilter,
      principal: request.principalFilter,
      host: request.hostFilter,
      operation: request.operation,
      permission: request.permissionType,
    };
    const problem = invalidFilterReason(filter);
    if (problem) return refuse(ErrorCode.INVALID_REQUEST, `invalid ACL filter: ${problem}`);
    return { throttleTimeMs: 0, errorCode: ErrorCode.NONE, errorMessage: null, resources: groupByResource(context.authorizer.describeAcls(filter)) };
  },
});

export function groupByResource(bindings: AclBinding[]) {
  const resources = new Map<string, { resourceType: number; resourceName: string; patternType: number; acls: { principal: string; host: string; operation: number; permissionType: number }[] }>();
  for (const binding of bindings) {
    const key = `${binding.resourceType}\u0000${binding.patternType}\u0000${binding.resourceName}`;
    let resource = resources.get(key);
    if (!resource) resources.set(key, (resource = { resourceType: binding.resourceType, resourceName: binding.resourceName, patternType: binding.patternType, acls: [] }));
    resource.acls.push({ principal: binding.principal, host: binding.host, operation: binding.operation, permissionType: binding.permission });
  }
  return [...resources.values()];
}
