// AlterClientQuotas v0-1 (KIP-546): sets or removes quota keys per entity (user and/or client id; a null
// name is `<default>`). Needs ALTER_CONFIGS on the cluster. Each entity is answered on its own: an unknown
// entity type or key, a repeated component or a value that is not positive is INVALID_REQUEST for that entity
// and changes nothing of it. validateOnly checks without storing. Bounded (security/limits.ts): an entity
// name longer than security.name.max.bytes is INVALID_REQUEST; a new entity beyond client.quota.max.entities
// is POLICY_VIOLATION (a valid request the broker's configured policy refuses), nothing of it stored.
import { ErrorCode } from "../protocol/errors.ts";
import { Apis } from "../protocol/generated/index.ts";
import type { AlterClientQuotasRequestEntryData, AlterClientQuotasResponse } from "../protocol/generated/alter-client-quotas.ts";
import { CLIENT_ID_ENTITY, entityKey, SUPPORTED_QUOTA_KEYS, USER_ENTITY, type QuotaEntity } from "../security/quotas/model.ts";
import { nameTooLongReason, oneAtATime, securityStateLimits, type SecurityStateLimits } from "../security/limits.ts";
import { defineHandler, type Reply } from "./handler.ts";
import { AclOperation, canCluster } from "./authorize.ts";

function validate(entry: AlterClientQuotasRequestEntryData, limits: SecurityStateLimits): { entity: QuotaEntity } | { error: string } {
  const entity: QuotaEntity = {};
  if (entry.entity.length === 0) return { error: "Invalid empty client quota entity" };
  for (const { entityType, entityName } of entry.entity) {
    const tooLong = nameTooLongReason(`Quota ${entityType} entity name`, entityName, limits);
    if (tooLong !== null) return { error: tooLong };
    if (entityType === USER_ENTITY) {
      if (entity.user !== undefined) return { error: `Duplicate user entity type` };
      entity.user = entityName;
    } else if (entityType === CLIENT_ID_ENTITY) {
      if (entity.clientId !== undefined) return { error: `Duplicate client-id entity type` };
      entity.clientId = entityName;
    } else {
      return { error: `Unsupported quota entity type: ${entityType}` };
    }
  }
  const keys = new Set<string>();
  for (const op of entry.ops) {
    if (!SUPPORTED_QUOTA_KEYS.includes(op.key)) return { error: `Unsupported quota key: ${op.key} (this broker enforces ${SUPPORTED_QUOTA_KEYS.join(", ")})` };
    if (keys.has(op.key)) return { error: `Duplicate quota key: ${op.key}` };
    keys.add(op.key);
    if (!op.remove && !(Number.isFinite(op.value) && op.value > 0)) return { error: `Quota ${op.key} must be a positive number, got ${op.value}` };
  }
  return { entity };
}

export const alterClientQuotasHandler = defineHandler(Apis.AlterClientQuotas, {
  minVersion: 0,
  maxVersion: 1,
  async handle(context, request): Promise<Reply<AlterClientQuotasResponse>> {
    const allowed = canCluster(context, AclOperation.ALTER_CONFIGS);
    const limits = securityStateLimits(context.settings.config.properties);
    const entries = [];
    for (const entry of request.entries) {
      const entity = entry.entity.map(({ entityType, entityName }) => ({ entityType, entityName }));
      if (!allowed) {
        entries.push({ errorCode: ErrorCode.CLUSTER_AUTHORIZATION_FAILED, errorMessage: "Authorization failed.", entity });
        continue;
      }
      const checked = validate(entry, limits);
      if ("error" in checked) {
        entries.push({ errorCode: ErrorCode.INVALID_REQUEST, errorMessage: checked.error, entity });
        continue;
      }
      if (!request.validateOnly) {
        try {
          // Counted and stored as one step, so two concurrent requests cannot both take the last free place.
          const overLimit = await oneAtATime(context.quotas, async () => {
            const stored = context.quotas.list();
            const key = entityKey(checked.entity);
            const adds = entry.ops.some((op) => !op.remove);
            if (adds && stored.length >= limits.quotaEntitiesMax && !stored.some((known) => entityKey(known.entity) === key)) return `${stored.length} quota entities exist: a new one would exceed client.quota.max.entities=${limits.quotaEntitiesMax}`;
            await context.quotas.alter(checked.entity, entry.ops);
            return null;
          });
          if (overLimit !== null) {
            entries.push({ errorCode: ErrorCode.POLICY_VIOLATION, errorMessage: overLimit, entity });
            continue;
          }
        } catch (error) {
          context.log(`storing client quotas failed: ${error instanceof Error ? error.message : String(error)}`);
          entries.push({ errorCode: ErrorCode.UNKNOWN_SERVER_ERROR, errorMessage: "storing the quotas failed", entity });
          continue;
        }
      }
      entries.push({ errorCode: ErrorCode.NONE, errorMessage: null, entity });
    }
    return { throttleTimeMs: 0, entries };
  },
});
