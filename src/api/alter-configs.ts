// AlterConfigs (replace a topic's overrides) and IncrementalAlterConfigs (SET/DELETE per key; APPEND and
// SUBTRACT for list configs). Only topic resources can change; broker configs are static (the config file).
// Every client mistake is answered per resource with Kafka's code and a message, never by closing the
// connection: an unknown name or a bad value is INVALID_CONFIG, a null value or a repeated key in one
// incremental resource INVALID_REQUEST (Kafka's ConfigAdminManager), an internal topic POLICY_VIOLATION.
// Versions: AlterConfigs v1 throttles after the response (KIP-219), v2 flexible; IncrementalAlterConfigs
// (KIP-339) v1 flexible.
import { topicConfigByName, validateTopicConfig } from "../config/topic-config.ts";
import { isInternalTopic } from "../metadata/internal-topics.ts";
import { ErrorCode, KafkaError } from "../protocol/errors.ts";
import { Apis } from "../protocol/generated/index.ts";
import type { AlterConfigsResponse, AlterConfigsResponseAlterConfigsResourceResponse } from "../protocol/generated/alter-configs.ts";
import type { IncrementalAlterConfigsResponse, IncrementalAlterConfigsResponseAlterConfigsResourceResponse } from "../protocol/generated/incremental-alter-configs.ts";
import type { RequestContext } from "./context.ts";
import { ResourceType } from "./describe-configs.ts";
import { defineHandler, type Reply } from "./handler.ts";
import { AclOperation, canCluster, canGroup, canTopic } from "./authorize.ts";

const OpType = { SET: 0, DELETE: 1, APPEND: 2, SUBTRACT: 3 } as const;

/** The same four fields in AlterConfigs and IncrementalAlterConfigs answers. */
type ResourceAnswer = Pick<AlterConfigsResponseAlterConfigsResourceResponse, "errorCode" | "errorMessage" | "resourceType" | "resourceName"> &
  Pick<IncrementalAlterConfigsResponseAlterConfigsResourceResponse, "errorCode" | "errorMessage" | "resourceType" | "resourceName">;

async function alterTopic(
  context: RequestContext,
  resourceType: number,
  resourceName: string,
  change: () => Record<string, string | null>,
  incremental: boolean,
  validateOnly: boolean,
): Promise<ResourceAnswer> {
  const answer: ResourceAnswer = { errorCode: ErrorCode.NONE, errorMessage: null, resourceType, resourceName };
  try {
    if (resourceType === ResourceType.BROKER && !canCluster(context, AclOperation.ALTER_CONFIGS)) throw new KafkaError(ErrorCode.CLUSTER_AUTHORIZATION_FAILED, "Authorization failed.");
    if (resourceType === ResourceType.TOPIC && !canTopic(context, AclOperation.ALTER_CONFIGS, resourceName)) throw new KafkaError(ErrorCode.TOPIC_AUTHORIZATION_FAILED, "Authorization failed.");
    if (resourceType === ResourceType.BROKER) throw new KafkaError(ErrorCode.INVALID_REQUEST, "Broker configs are static in Bunka: set them in the --config file");
    if (resourceType !== ResourceType.TOPIC) throw new KafkaError(ErrorCode.INVALID_REQUEST, `Unsupported resource type ${resourceType}`);
    // The coordinator relies on __consumer_offsets staying compacted, unexpired and readable; its configs
    // come from the broker's offsets.topic.* settings, not from clients.
    if (isInternalTopic(resourceName)) throw new KafkaError(ErrorCode.POLICY_VIOLATION, `Topic ${resourceName} is an internal topic: its configs cannot be changed by clients`);
    await context.topics.alterConfigs(resourceName, change(), incremental, validateOnly);
  } catch (error) {
    if (!(error instanceof KafkaError)) throw error;
    answer.errorCode = error.errorCode;
    answer.errorMessage = error.message;
  }
  return answer;
}

/** KIP-932 group configs (share groups' share.* and KIP-1191's dead-letter topic), kept in __share_group_state. */
async function alterGroup(context: RequestContext, groupId: string, changes: { name: string; operation: number; value: string | null }[], validateOnly: boolean): Promise<ResourceAnswer> {
  const answer: ResourceAnswer = { errorCode: ErrorCode.NONE, errorMessage: null, resourceType: ResourceType.GROUP, resourceName: groupId };
  try {
    if (!canGroup(context, AclOperation.ALTER_CONFIGS, groupId)) throw new KafkaError(ErrorCode.GROUP_AUTHORIZATION_FAILED, "Authorization failed.");
    if (!context.shareGroups) throw new KafkaError(ErrorCode.INVALID_REQUEST, "Unsupported resource type 32");
    await context.shareGroups.alterConfigs(groupId, changes, validateOnly);
  } catch (error) {
    if (!(error instanceof KafkaError)) throw error;
    answer.errorCode = error.errorCode;
    answer.errorMessage = error.message;
  }
  return answer;
}

/** Throws INVALID_CONFIG for a name Bunka does not know (before any lookup that assumes a known name). */
function checkConfigName(name: string): void {
  if (!topicConfigByName.has(name)) throw new KafkaError(ErrorCode.INVALID_CONFIG, `Unknown topic config name: ${name}`);
}

export const alterConfigsHandler = defineHandler(Apis.AlterConfigs, {
  minVersion: 0,
  maxVersion: 2,
  async handle(context, request): Promise<Reply<AlterConfigsResponse>> {
    const responses = [];
    for (const resource of request.resources) {
      const change = () => {
        const changes: Record<string, string | null> = {};
        const nullNames: string[] = [];
        for (const config of resource.configs) {
          checkConfigName(config.name);
          if (config.value === null) nullNames.push(config.name);
          changes[config.name] = config.value;
        }
        // A replace has no "delete" meaning for null (omitting the key does that): Kafka refuses it.
        if (nullNames.length > 0) throw new KafkaError(ErrorCode.INVALID_CONFIG, `Null value not supported for topic configs: ${nullNames.join(",")}`);
        return changes;
      };
      responses.push(await alterTopic(context, resource.resourceType, resource.resourceName, change, false, request.validateOnly));
    }
    return { throttleTimeMs: 0, responses };
  },
});

export const incrementalAlterConfigsHandler = defineHandler(Apis.IncrementalAlterConfigs, {
  minVersion: 0,
  maxVersion: 1,
  async handle(context, request): Promise<Reply<IncrementalAlterConfigsResponse>> {
    const responses = [];
    for (const resource of request.resources) {
      if (resource.resourceType === ResourceType.GROUP) {
        responses.push(await alterGroup(context, resource.resourceName, resource.configs.map((config) => ({ name: config.name, operation: config.configOperation, value: config.value })), request.validateOnly));
        continue;
      }
      const change = () => {
        const names = resource.configs.map((config) => config.name);
        if (new Set(names).size !== names.length) throw new KafkaError(ErrorCode.INVALID_REQUEST, "Error due to duplicate config keys");
        const nullNames = resource.configs.filter((config) => config.configOperation !== OpType.DELETE && config.value === null).map((config) => config.name);
        if (nullNames.length > 0) throw new KafkaError(ErrorCode.INVALID_REQUEST, `Null value not supported for : ${nullNames.join(", ")}`);
        const current = context.topics.get(resource.resourceName);
        const changes: Record<string, string | null> = {};
        for (const config of resource.configs) {
          checkConfigName(config.name);
          switch (config.configOperation) {
            case OpType.SET:
              changes[config.name] = config.value;
              break;
            case OpType.DELETE:
              changes[config.name] = null;
              break;
            case OpType.APPEND:
            case OpType.SUBTRACT: {
              if (topicConfigByName.get(config.name)!.type !== "list") throw new KafkaError(ErrorCode.INVALID_CONFIG, `Config ${config.name} is not a list: APPEND and SUBTRACT apply to list configs only`);
              const existing = current ? context.topics.configValue(current, config.name) : "";
              const items = existing.split(",").filter(Boolean);
              const given = (config.value ?? "").split(",").filter(Boolean);
              const next = config.configOperation === OpType.APPEND ? [...items, ...given.filter((item) => !items.includes(item))] : items.filter((item) => !given.includes(item));
              changes[config.name] = next.join(",");
              break;
            }
            default:
              throw new KafkaError(ErrorCode.INVALID_REQUEST, `Unknown config operation ${config.configOperation} for ${config.name}`);
          }
          validateTopicConfig(config.name, changes[config.name] ?? null);
        }
        return changes;
      };
      responses.push(await alterTopic(context, resource.resourceType, resource.resourceName, change, true, request.validateOnly));
    }
    return { throttleTimeMs: 0, responses };
  },
});
