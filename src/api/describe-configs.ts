// DescribeConfigs: topic configs (override, broker default or Kafka default, with their source) and
// the broker's own properties; share groups' group configs (resource type GROUP, KIP-932).
// Versions: v1 config sources and synonyms (KIP-226); v2 throttles after the response (KIP-219); v3 config
// types (KIP-569; documentation stays null); v4 flexible. v0 is gone, as in Kafka 4.0 (KIP-896): the oldest client
// here, librdkafka 2.0.2, sends v1.
import { topicConfigByName, type ConfigSource } from "../config/topic-config.ts";
import { ErrorCode } from "../protocol/errors.ts";
import { Apis } from "../protocol/generated/index.ts";
import type { Input } from "../protocol/codec/input.ts";
import type { DescribeConfigsResponse, DescribeConfigsResponseDescribeConfigsResourceResult } from "../protocol/generated/describe-configs.ts";
import { defineHandler, type Reply } from "./handler.ts";
import { AclOperation, canCluster, canGroup, canTopic } from "./authorize.ts";

export const ResourceType = { TOPIC: 2, BROKER: 4, GROUP: 32 } as const;

/** org.apache.kafka.clients.admin.ConfigEntry.ConfigSource wire ids. */
const ConfigSourceCode = { TOPIC_CONFIG: 1, STATIC_BROKER_CONFIG: 4, DEFAULT_CONFIG: 5, GROUP_CONFIG: 8 } as const;
/** ConfigEntry.ConfigType wire ids (DescribeConfigs v3+). */
const ConfigTypeCode: Record<string, number> = { boolean: 1, string: 2, int: 3, long: 5, double: 6, list: 7 };

export function configSourceCode(source: ConfigSource): number {
  if (source === "topic") return ConfigSourceCode.TOPIC_CONFIG;
  if (source === "broker") return ConfigSourceCode.STATIC_BROKER_CONFIG;
  return ConfigSourceCode.DEFAULT_CONFIG;
}

export const describeConfigsHandler = defineHandler(Apis.DescribeConfigs, {
  minVersion: 1,
  maxVersion: 4,
  async handle(context, request): Promise<Reply<DescribeConfigsResponse>> {
    const results = await Promise.all(request.resources.map(async (resource) => {
      const wanted = resource.configurationKeys ? new Set(resource.configurationKeys) : null;
      const base = { resourceType: resource.resourceType, resourceName: resource.resourceName, errorCode: ErrorCode.NONE as number, errorMessage: null as string | null, configs: [] as Input<DescribeConfigsResponseDescribeConfigsResourceResult>[] };
      if (resource.resourceType === ResourceType.TOPIC) {
        if (!canTopic(context, AclOperation.DESCRIBE_CONFIGS, resource.resourceName)) return { ...base, errorCode: ErrorCode.TOPIC_AUTHORIZATION_FAILED, errorMessage: "Authorization failed." };
        const topic = context.topics.get(resource.resourceName);
        if (!topic) return { ...base, errorCode: ErrorCode.UNKNOWN_TOPIC_OR_PARTITION, errorMessage: `Topic ${resource.resourceName} does not exist` };
        base.configs = context.topics
          .effectiveConfigs(topic)
          .filter((config) => !wanted || wanted.has(config.name))
          .map((config) => ({
            name: config.name,
            value: config.value,
            readOnly: false,
            isDefault: config.source === "default",
            configSource: configSourceCode(config.source),
            isSensitive: false,
            synonyms: request.includeSynonyms ? [{ name: config.name, value: config.value, source: configSourceCode(config.source) }] : [],
            configType: ConfigTypeCode[topicConfigByName.get(config.name)?.type ?? "string"] ?? 2,
            documentation: null,
          }));
        return base;
      }
      if (resource.resourceType === ResourceType.BROKER) {
        if (!canCluster(context, AclOperation.DESCRIBE_CONFIGS)) return { ...base, errorCode: ErrorCode.CLUSTER_AUTHORIZATION_FAILED, errorMessage: "Authorization failed." };
        if (resource.resourceName !== "" && resource.resourceName !== String(context.settings.config.nodeId))
          return { ...base, errorCode: ErrorCode.INVALID_REQUEST, errorMessage: `Unexpected broker id, expected ${context.settings.config.nodeId} but received ${resource.resourceName}` };
        base.configs = Object.entries(context.settings.describe())
          .filter(([name]) => !wanted || wanted.has(name))
          .map(([name, value]) => ({ name, value, readOnly: true, isDefault: false, configSource: ConfigSourceCode.STATIC_BROKER_CONFIG, isSensitive: false, synonyms: [], configType: 2, documentation: null }));
        return base;
      }
      if (resource.resourceType === ResourceType.GROUP && context.shareGroups) {
        // KIP-932 group configs (share groups), kept in __share_group_state.
        if (!canGroup(context, AclOperation.DESCRIBE_CONFIGS, resource.resourceName)) return { ...base, errorCode: ErrorCode.GROUP_AUTHORIZATION_FAILED, errorMessage: "Authorization failed." };
        base.configs = (await context.shareGroups.describeConfigs(resource.resourceName))
          .filter((config) => !wanted || wanted.has(config.name))
          .map((config) => ({ name: config.name, value: config.value, readOnly: false, isDefault: config.isDefault, configSource: config.isDefault ? ConfigSourceCode.DEFAULT_CONFIG : ConfigSourceCode.GROUP_CONFIG, isSensitive: false, synonyms: [], configType: 2, documentation: null }));
        return base;
      }
      return { ...base, errorCode: ErrorCode.INVALID_REQUEST, errorMessage: `Unsupported resource type ${resource.resourceType}` };
    }));
    return { throttleTimeMs: 0, results };
  },
});
