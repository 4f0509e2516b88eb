// DescribeClientQuotas v0-1 (KIP-546): the quota entries whose entity matches every filter component
// (EXACT name, DEFAULT, or ANY name of that entity type); strict: entities with no other component.
// Needs DESCRIBE_CONFIGS on the cluster (Kafka's table).
import { ErrorCode } from "../protocol/errors.ts";
import { Apis } from "../protocol/generated/index.ts";
import type { DescribeClientQuotasResponse } from "../protocol/generated/describe-client-quotas.ts";
import { CLIENT_ID_ENTITY, USER_ENTITY, type QuotaEntity } from "../security/quotas/model.ts";
import { defineHandler, type Reply } from "./handler.ts";
import { AclOperation, canCluster } from "./authorize.ts";

const MATCH_EXACT = 0;
const MATCH_DEFAULT = 1;
const MATCH_ANY = 2;

function component(entity: QuotaEntity, entityType: string): string | null | undefined {
  return entityType === USER_ENTITY ? entity.user : entityType === CLIENT_ID_ENTITY ? entity.clientId : undefined;
}

export const describeClientQuotasHandler = defineHandler(Apis.DescribeClientQuotas, {
  minVersion: 0,
  maxVersion: 1,
  handle(context, request): Reply<DescribeClientQuotasResponse> {
    const fail = (errorCode: number, errorMessage: string): Reply<DescribeClientQuotasResponse> => ({ throttleTimeMs: 0, errorCode, errorMessage, entries: null });
    if (!canCluster(context, AclOperation.DESCRIBE_CONFIGS)) return fail(ErrorCode.CLUSTER_AUTHORIZATION_FAILED, "Authorization failed.");
    const seen = new Set<string>();
    for (const filter of request.components) {
      if (filter.entityType !== USER_ENTITY && filter.entityType !== CLIENT_ID_ENTITY) return fail(ErrorCode.INVALID_REQUEST, `Unsupported quota entity type: ${filter.entityType}`);
      if (seen.has(filter.entityType)) return fail(ErrorCode.INVALID_REQUEST, `Duplicate filter component entity type: ${filter.entityType}`);
      if (filter.matchType !== MATCH_EXACT && filter.matchType !== MATCH_DEFAULT && filter.matchType !== MATCH_ANY) return fail(ErrorCode.INVALID_REQUEST, `Unknown match type: ${filter.matchType}`);
      if (filter.matchType === MATCH_EXACT && filter.match === null) return fail(ErrorCode.INVALID_REQUEST, "An EXACT filter component needs a name");
      seen.add(filter.entityType);
    }
    const matching = context.quotas.list().filter(({ entity }) => {
      for (const filter of request.components) {
        const value = component(entity, filter.entityType);
        if (value === undefined) return false;
        if (filter.matchType === MATCH_EXACT && value !== filter.match) return false;
        if (filter.matchType === MATCH_DEFAULT && value !== null) return false;
      }
      if (request.strict) {
        const present = (entity.user !== undefined ? 1 : 0) + (entity.clientId !== undefined ? 1 : 0);
        if (present !== request.components.length) return false;
      }
      return true;
    });
    const entries = matching.map(({ entity, values }) => ({
      entity: [
        ...(entity.user !== undefined ? [{ entityType: USER_ENTITY, entityName: entity.user }] : []),
        ...(entity.clientId !== undefined ? [{ entityType: CLIENT_ID_ENTITY, entityName: entity.clientId }] : []),
      ],
      values: Object.entries(values).map(([key, value]) => ({ key, value })),
    }));
    return { throttleTimeMs: 0, errorCode: ErrorCode.NONE, errorMessage: null, entries };
  },
});
