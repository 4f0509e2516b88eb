// CreateAcls: stores ACL bindings (ALTER on the cluster). Each creation is answered on its own: an invalid
// binding gets INVALID_REQUEST with the reason; without an authorizer every one is SECURITY_DISABLED.
// Bounded (security/limits.ts): a principal, host or resource name longer than security.name.max.bytes is
// INVALID_REQUEST; creations that would take the set past authorizer.max.acls are refused together with
// POLICY_VIOLATION (the request is well-formed; the broker's configured policy refuses it, Kafka's code for
// that) and nothing of them is stored.
import { ErrorCode } from "../protocol/errors.ts";
import { Apis } from "../protocol/generated/index.ts";
import type { CreateAclsResponse } from "../protocol/generated/create-acls.ts";
import { AclPermission, bindingKey, invalidBindingReason, PatternType, ResourceType, type AclBinding, type AclBindingFilter } from "../security/acl/model.ts";
import { nameTooLongReason, oneAtATime, securityStateLimits } from "../security/limits.ts";
import { AclOperation, canCluster } from "./authorize.ts";
import { defineHandler, type Reply } from "./handler.ts";

const EVERY_BINDING: AclBindingFilter = {
  resourceType: ResourceType.ANY,
  resourceName: null,
  patternType: PatternType.ANY,
  principal: null,
  host: null,
  operation: AclOperation.ANY,
  permission: AclPermission.ANY,
};

export const createAclsHandler = defineHandler(Apis.CreateAcls, {
  minVersion: 0,
  maxVersion: 3,
  async handle(context, request): Promise<Reply<CreateAclsResponse>> {
    const refuse = (errorCode: number, errorMessage: string) => ({ throttleTimeMs: 0, results: request.creations.map(() => ({ errorCode, errorMessage })) });
    if (!context.authorizer.enabled) return refuse(ErrorCode.SECURITY_DISABLED, "No Authorizer is configured on the broker");
    if (!canCluster(context, AclOperation.ALTER)) return refuse(ErrorCode.CLUSTER_AUTHORIZATION_FAILED, "Authorization failed.");
    const results = request.creations.map(() => ({ errorCode: ErrorCode.NONE as number, errorMessage: null as string | null }));
    const valid: AclBinding[] = [];
    const limits = securityStateLimits(context.settings.config.properties);
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
      const reason = invalidBindingReason(binding)
        ?? nameTooLongReason("ACL principal", binding.principal, limits)
        ?? nameTooLongReason("ACL host", binding.host, limits)
        ?? nameTooLongReason("ACL resource name", binding.resourceName, limits);
      if (reason) results[index] = { errorCode: ErrorCode.INVALID_REQUEST, errorMessage: reason };
      else valid.push(binding);
    });
    if (valid.length > 0) {
      try {
        // Counted and stored as one step, so two concurrent requests cannot both pass the count.
        const overLimit = await oneAtATime(context.authorizer, async () => {
          const stored = new Set(context.authorizer.describeAcls(EVERY_BINDING).map(bindingKey));
          const added = new Set(valid.map(bindingKey).filter((key) => !stored.has(key))).size;
          if (stored.size + added > limits.aclsMax) return `${added} new ACL(s) would make ${stored.size + added}, more than authorizer.max.acls=${limits.aclsMax}`;
          await context.authorizer.createAcls(valid);
          return null;
        });
        if (overLimit !== null) for (const result of results) if (result.errorCode === ErrorCode.NONE) Object.assign(result, { errorCode: ErrorCode.POLICY_VIOLATION, errorMessage: overLimit });
      } catch (error) {
        const message = `storing ACLs failed: ${error instanceof Error ? error.message : String(error)}`;
        context.log(message);
        for (const result of results) if (result.errorCode === ErrorCode.NONE) Object.assign(result, { errorCode: ErrorCode.UNKNOWN_SERVER_ERROR, errorMessage: message });
      }
    }
    return { throttleTimeMs: 0, results };
  },
});
