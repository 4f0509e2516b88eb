// CreateTopics: validates names, partition counts, replication factors and configs the way Kafka does,
// answering each topic with its own error code and message.
// Versions: v1 validateOnly and per-topic error messages; v2 throttle time; v3 throttles after the response
// (KIP-219); v4 partitions/replication factor -1 for the broker's defaults (KIP-464); v5 flexible, the topic's
// configs in the answer (KIP-525); v6 THROTTLING_QUOTA_EXCEEDED (KIP-599); v7 the topic id (KIP-516).
// v0-1 are gone, as in Kafka 4.0 (KIP-896): no client in docs/kafka-clients.md sends them (kafkajs and
// kafka-python send v3, librdkafka v4, @platformatic/kafka v7).
import { ErrorCode, KafkaError, errorName } from "../protocol/errors.ts";
import { Apis } from "../protocol/generated/index.ts";
import type { Input } from "../protocol/codec/input.ts";
import type { CreateTopicsResponse, CreateTopicsResponseCreatableTopicConfigs } from "../protocol/generated/create-topics.ts";
import { topicIdBytes } from "../metadata/types.ts";
import { configSourceCode } from "./describe-configs.ts";
import { defineHandler, type Reply } from "./handler.ts";
import { isInternalTopic } from "../metadata/internal-topics.ts";
import { AclOperation, canCluster, canTopic } from "./authorize.ts";

export const createTopicsHandler = defineHandler(Apis.CreateTopics, {
  minVersion: 2,
  maxVersion: 7,
  async handle(context, request): Promise<Reply<CreateTopicsResponse>> {
    const seen = new Map<string, number>();
    for (const topic of request.topics) seen.set(topic.name, (seen.get(topic.name) ?? 0) + 1);
    const topics = [];
    // CREATE on the cluster covers every topic; otherwise CREATE on each topic (Kafka's KafkaApis.handleCreateTopicsRequest).
    const clusterCreate = canCluster(context, AclOperation.CREATE, false);
    for (const requested of request.topics) {
      const result = { name: requested.name, topicId: new Uint8Array(16) as Uint8Array, errorCode: ErrorCode.NONE as number, errorMessage: null as string | null, numPartitions: -1, replicationFactor: -1, configs: null as Input<CreateTopicsResponseCreatableTopicConfigs>[] | null };
      topics.push(result);
      if (seen.get(requested.name)! > 1) {
        result.errorCode = ErrorCode.INVALID_REQUEST;
        result.errorMessage = `Create topics request from client contains multiple entries for topic ${requested.name}`;
        continue;
      }
      if (!clusterCreate && !canTopic(context, AclOperation.CREATE, requested.name)) {
        result.errorCode = ErrorCode.TOPIC_AUTHORIZATION_FAILED;
        result.errorMessage = "Authorization failed.";
        continue;
      }
      // The coordinator creates __consumer_offsets itself (compacted, offsets.topic.* settings, marked internal);
      // a client-made one would keep a plain topic's retention and lose committed offsets. Kafka words the same
      // refusal for its own metadata topic this way.
      if (isInternalTopic(requested.name)) {
        result.errorCode = ErrorCode.INVALID_REQUEST;
        result.errorMessage = `Creation of internal topic ${requested.name} is prohibited: the broker creates it when it is first needed`;
        continue;
      }
      try {
        // No prototype: a config named "__proto__" must reach validation (INVALID_CONFIG), not the prototype.
        const configs: Record<string, string> = Object.create(null);
        // Names and values are checked by createTopic (validateTopicConfig: INVALID_CONFIG with a message);
        // a null value cannot be checked and was silently dropped before: Kafka refuses it.
        const nullNames = requested.configs.filter((config) => config.value === null).map((config) => config.name);
        if (nullNames.length > 0) throw new KafkaError(ErrorCode.INVALID_CONFIG, `Null value not supported for topic configs: ${nullNames.join(",")}`);
        for (const config of requested.configs) configs[config.name] = config.value!;
        let numPartitions = requested.numPartitions;
        let replicationFactor = requested.replicationFactor;
        if (requested.assignments.length > 0) {
          if (numPartitions !== -1 || replicationFactor !== -1)
            throw new KafkaError(ErrorCode.INVALID_REQUEST, "Both numPartitions or replicationFactor and replicasAssignments were set. Both cannot be used at the same time.");
          numPartitions = requested.assignments.length;
          replicationFactor = requested.assignments[0]!.brokerIds.length;
        }
        const created = await context.topics.createTopic({
          name: requested.name,
          numPartitions,
          replicationFactor,
          configs,
          validateOnly: request.validateOnly,
          replicaAssignments: requested.assignments.length > 0 ? requested.assignments.map((assignment) => assignment.brokerIds) : undefined,
        });
        result.topicId = topicIdBytes(created.topicId);
        result.numPartitions = created.partitions.length;
        result.replicationFactor = created.partitions[0]?.replicas.length ?? -1;
        result.configs = context.topics.effectiveConfigs(created).map((config) => ({
          name: config.name,
          value: config.value,
          readOnly: false,
          configSource: configSourceCode(config.source),
          isSensitive: false,
        }));
      } catch (error) {
        if (!(error instanceof KafkaError)) throw error;
        result.errorCode = error.errorCode;
        result.errorMessage = error.message === errorName(error.errorCode) ? null : error.message;
      }
    }
    return { throttleTimeMs: 0, topics };
  },
});
