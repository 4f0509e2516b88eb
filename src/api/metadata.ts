// Metadata: brokers, controller, topics with their partitions' leaders, replicas and ISR.
// Topics a client names but that do not exist are created when auto.create.topics.enable and the
// request allows it (v4+ flag; before v4 the broker's policy alone decides).
// Versions: v1 null = all topics, controller, internal flag; v2 cluster id; v3 throttle time; v4 allow auto
// creation; v5 offline replicas; v7 leader epoch (KIP-320); v8 authorized operations (KIP-430); v9 flexible
// (KIP-482); v10 topic ids in the response (KIP-516); v11 drops cluster authorized operations (KIP-700);
// v12 topics requested by id (KIP-516: UNKNOWN_TOPIC_ID, the name null). v0-v3 are kept though KIP-896
// deprecates them: kafka-python sends v0 and v1, kcat/librdkafka 2.0.2 v4 (docs: kafka-clients note §1).
// v10-12 go together with Fetch v13+ (topics by id, api/fetch.ts): @platformatic/kafka and librdkafka 2.15
// take the topic ids of Metadata v10+ and fetch by them.
import { ErrorCode, KafkaError } from "../protocol/errors.ts";
import { Apis } from "../protocol/generated/index.ts";
import type { Input } from "../protocol/codec/input.ts";
import type { MetadataResponse, MetadataResponseTopic } from "../protocol/generated/metadata.ts";
import { endpointFor, topicIdBytes, topicNameProblem, type TopicMetadata } from "../metadata/types.ts";
import type { RequestContext } from "./context.ts";
import { defineHandler, type Reply } from "./handler.ts";
import { isInternalTopic } from "../metadata/internal-topics.ts";
import { AclOperation, canCluster, canTopic } from "./authorize.ts";

const ZERO_UUID = new Uint8Array(16);

export const metadataHandler = defineHandler(Apis.Metadata, {
  minVersion: 0,
  maxVersion: 12,
  async handle(context, request): Promise<Reply<MetadataResponse>> {
    const { apiVersion } = context;
    // v0: an empty list means every topic; v1+: null means every topic and [] means none.
    const allTopics = request.topics === null || (apiVersion === 0 && request.topics.length === 0);
    const topics = [];
    if (allTopics) {
      // Topics the principal may not DESCRIBE are left out of the listing, as in Kafka.
      for (const topic of context.topics.list()) if (canTopic(context, AclOperation.DESCRIBE, topic.name, false)) topics.push(describeTopic(context, topic));
    } else {
      const allowAutoCreate = context.settings.config.autoCreateTopicsEnable && (apiVersion < 4 || request.allowAutoTopicCreation);
      for (const requested of request.topics!) {
        const byId = requested.topicId.some((byte) => byte !== 0);
        // Before v12 a topic is named; Kafka refuses ids and null names there (InvalidRequestException).
        if (apiVersion < 12 && (byId || requested.name === null)) {
          topics.push({ errorCode: ErrorCode.INVALID_REQUEST, name: requested.name ?? "", topicId: requested.topicId, partitions: [] });
        } else if (byId) {
          topics.push(describeById(context, requested.topicId));
        } else {
          topics.push(await describeOrCreate(context, requested.name ?? "", allowAutoCreate));
        }
      }
    }
    return {
      throttleTimeMs: 0,
      // Each broker's address on the listener this client came in on (brokers without it are left out, as in Kafka).
      brokers: context.cluster.brokers().flatMap((info) => {
        const endpoint = endpointFor(info, context.connection.security.listener.name);
        return endpoint ? [{ nodeId: info.nodeId, host: endpoint.host, port: endpoint.port, rack: info.rack }] : [];
      }),
      clusterId: context.settings.config.clusterId,
      controllerId: context.cluster.controllerId(),
      topics,
    };
  },
});

/** v12: a topic by id. An unknown id is UNKNOWN_TOPIC_ID with a null name; ids are not secret, so an
 * unauthorized one is TOPIC_AUTHORIZATION_FAILED with its id (Kafka's KafkaApis.handleTopicMetadataRequest). */
function describeById(context: RequestContext, topicId: Uint8Array): Input<MetadataResponseTopic> {
  const topic = context.topics.getById(topicId);
  if (!topic) return { errorCode: ErrorCode.UNKNOWN_TOPIC_ID, name: null, topicId, partitions: [] };
  if (!canTopic(context, AclOperation.DESCRIBE, topic.name)) return { errorCode: ErrorCode.TOPIC_AUTHORIZATION_FAILED, name: null, topicId, partitions: [] };
  return describeTopic(context, topic);
}

async function describeOrCreate(context: RequestContext, name: string, allowAutoCreate: boolean): Promise<Input<MetadataResponseTopic>> {
  if (!canTopic(context, AclOperation.DESCRIBE, name)) return { errorCode: ErrorCode.TOPIC_AUTHORIZATION_FAILED, name, topicId: ZERO_UUID, partitions: [] };
  const existing = context.topics.get(name);
  if (existing) return describeTopic(context, existing);
  const problem = topicNameProblem(name);
  if (problem) return { errorCode: ErrorCode.INVALID_TOPIC_EXCEPTION, name, topicId: ZERO_UUID, partitions: [] };
  // Internal topics are created by the broker (the group coordinator), never auto-created as plain topics.
  if (!allowAutoCreate || isInternalTopic(name)) return { errorCode: ErrorCode.UNKNOWN_TOPIC_OR_PARTITION, name, topicId: ZERO_UUID, partitions: [] };
  // Auto-creation only for principals allowed to CREATE on the cluster or on the topic.
  if (!canCluster(context, AclOperation.CREATE, false) && !canTopic(context, AclOperation.CREATE, name)) return { errorCode: ErrorCode.TOPIC_AUTHORIZATION_FAILED, name, topicId: ZERO_UUID, partitions: [] };
  try {
    const created = await context.topics.createTopic({ name, numPartitions: -1, replicationFactor: -1, configs: {} });
    return describeTopic(context, created);
  } catch (error) {
    if (error instanceof KafkaError && error.errorCode === ErrorCode.TOPIC_ALREADY_EXISTS) {
      const raced = context.topics.get(name);
      if (raced) return describeTopic(context, raced);
    }
    const errorCode = error instanceof KafkaError ? error.errorCode : ErrorCode.UNKNOWN_SERVER_ERROR;
    return { errorCode, name, topicId: ZERO_UUID, partitions: [] };
  }
}

/**
 * Replicas on brokers that are down, and this broker's own replica when its log could not be opened (KIP-112:
 * an offline log dir's replicas are listed offline; produce and fetch to it answer KAFKA_STORAGE_ERROR).
 */
function offlineReplicasOf(context: RequestContext, topic: string, partition: number, replicas: number[]): number[] {
  const offline = context.cluster.offlineReplicas(replicas);
  const self = context.settings.config.nodeId;
  if (context.topics.runtime(topic, partition)?.offline && replicas.includes(self) && !offline.includes(self)) offline.push(self);
  return offline;
}

function describeTopic(context: RequestContext, topic: TopicMetadata): Input<MetadataResponseTopic> {
  return {
    errorCode: ErrorCode.NONE,
    name: topic.name,
    topicId: topicIdBytes(topic.topicId),
    isInternal: topic.internal,
    partitions: topic.partitions.map((assignment) => ({
      errorCode: assignment.leader < 0 ? ErrorCode.LEADER_NOT_AVAILABLE : ErrorCode.NONE,
      partitionIndex: assignment.partition,
      leaderId: assignment.leader,
      leaderEpoch: assignment.leaderEpoch,
      replicaNodes: assignment.replicas,
      isrNodes: assignment.isr,
      offlineReplicas: offlineReplicasOf(context, topic.name, assignment.partition, assignment.replicas),
    })),
  };
}
