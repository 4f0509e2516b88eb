// CreateAcls: stores ACL bindings (ALTER on the cluster). Each creation is answered on its own: an invalid
// binding gets INVALID_REQUEST with the reason; without an authorizer every one is SECURITY_DISABLED.
import { ErrorCode } from "../protocol/errors.ts";
import { Apis } from "../protocol/generated/index.ts";
import type { CreateAclsResponse } from "../protocol/generated/create-acls.ts";
import { invalidBindingReason, type AclBinding } from "../security/acl/model.ts";
import { AclOperation, canCluster } from "./authorize.ts";
import { defineHandler, type Reply } from "./handler.ts";

export const createAclsHandler = defineHandler(Apis.CreateAcls, {
  minVersion: 0,
  maxVersion: 3,
  async handle(context, request): Promise<Reply<CreateAclsResponse>> {
    const refuse = (errorCode: number, errorMessage: string) => ({ throttleTimeMs: 0, results: request.creations.map(() => ({ errorCode, errorMessage })) });
    if (!context.authorizer.enabled) return refuse(ErrorCode.SECURITY_DISABLED, "No Authorizer is configured on the broker");
    if (!canCluster(context, AclOperation.ALTER)) return refuse(ErrorCode.CLUSTER_AUTHORIZATION_FAILED, "Authorization failed.");
    const results = request.creations.map(() => ({ errorCode: ErrorCode.NONE as number, errorMessage: null as string | null }));
    const valid: AclBinding[] = [];
    request.creations.forEach((creation, index) => {
      const binding: AclBinding = {
        resourceType: creation.resourceType,
        resourceName: creation.resourceName,
        patternType: creation.resourcePatternType,
        principal: creation.principal,
        host: creation.host,
        operation: creation.operation,
        permission: creation.permissionType,
      };
      const reason = invalidBindingReason(binding);
      if (reason) results[index] = { errorCode: ErrorCode.INVALID_REQUEST, errorMessage: reason };
      else valid.push(binding);
    });
    if (valid.length > 0) {
      try {
        await context.authorizer.createAcls(valid);
      } catch (error) {
        const message = `storing ACLs failed: ${error instanceof Error ? error.message : String(error)}`;
        context.log(message);
        for (const result of results) if (result.errorCode === ErrorCode.NONE) Object.assign(result, { errorCode: ErrorCode.UNKNOWN_SERVER_ERROR, errorMessage: message });
      }
    }
    return { throttleTimeMs: 0, results };
  },
});
