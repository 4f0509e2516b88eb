// DescribeTopicPartitions (KIP-966, v0): topics with their partitions, paged. Kafka 3.8+ admin clients describe
// topics with it instead of Metadata. Topics are answered in name order (every topic the principal may
// DESCRIBE when none are named); at most min(responsePartitionLimit, max.request.partition.size.limit)
// partitions per answer, and nextCursor says where the next page starts (a topic and a partition index).
// No eligible leader replicas (KIP-966's ELR) here: those fields are null.
import { ErrorCode } from "../protocol/errors.ts";
import { Apis } from "../protocol/generated/index.ts";
import type { Input } from "../protocol/codec/input.ts";
import type { DescribeTopicPartitionsResponse, DescribeTopicPartitionsResponseCursor, DescribeTopicPartitionsResponseTopic } from "../protocol/generated/describe-topic-partitions.ts";
import { topicIdBytes, type TopicMetadata } from "../metadata/types.ts";
import type { RequestContext } from "./context.ts";
import { defineHandler, type Reply } from "./handler.ts";
import { AclOperation, canTopic } from "./authorize.ts";

/** Kafka's max.request.partition.size.limit default: partitions one answer may carry. */
export const DEFAULT_MAX_REQUEST_PARTITION_SIZE_LIMIT = 2000;
const ZERO_UUID = new Uint8Array(16);

export const describeTopicPartitionsHandler = defineHandler(Apis.DescribeTopicPartitions, {
  minVersion: 0,
  maxVersion: 0,
  handle(context, request): Reply<DescribeTopicPartitionsResponse> {
    const configured = Number(context.settings.config.properties["max.request.partition.size.limit"] ?? DEFAULT_MAX_REQUEST_PARTITION_SIZE_LIMIT);
    const limit = Math.max(1, Math.min(configured, request.responsePartitionLimit));
    const fetchAll = request.topics.length === 0;
    const cursor = request.cursor;
    const names = fetchAll ? context.topics.list().map((topic) => topic.name) : [...new Set(request.topics.map((topic) => topic.name))];
    names.sort();
    // A cursor outside the request, or a negative partition index, is refused as Kafka's handler does.
    if (cursor && (cursor.partitionIndex < 0 || (!fetchAll && !names.includes(cursor.topicName)))) {
      return { throttleTimeMs: 0, topics: names.map((name) => errorTopic(ErrorCode.INVALID_REQUEST, name)), nextCursor: null };
    }
    const topics: Input<DescribeTopicPartitionsResponseTopic>[] = [];
    let nextCursor: DescribeTopicPartitionsResponseCursor | null = null;
    let remaining = limit;
    const fromCursor = cursor ? names.filter((name) => name >= cursor.topicName) : names;
    for (let index = 0; index < fromCursor.length; index++) {
      const name = fromCursor[index]!;
      if (!canTopic(context, AclOperation.DESCRIBE, name, !fetchAll)) {
        // A listing of every topic leaves unauthorized ones out; a named one is answered, as in Metadata.
        if (!fetchAll) topics.push(errorTopic(ErrorCode.TOPIC_AUTHORIZATION_FAILED, name));
        continue;
      }
      const topic = context.topics.get(name);
      if (!topic) {
        if (!fetchAll) topics.push(errorTopic(ErrorCode.UNKNOWN_TOPIC_OR_PARTITION, name));
        continue;
      }
      const start = cursor && name === cursor.topicName ? cursor.partitionIndex : 0;
      const end = Math.min(topic.partitions.length, start + remaining);
      topics.push(describeTopic(context, topic, start, end));
      remaining -= Math.max(0, end - start);
      if (end < topic.partitions.length) {
        nextCursor = { topicName: name, partitionIndex: end };
        break;
      }
      if (remaining === 0) {
        const following = fromCursor.slice(index + 1).find((candidate) => context.topics.get(candidate) !== undefined);
        if (following !== undefined) nextCursor = { topicName: following, partitionIndex: 0 };
        break;
      }
    }
    return { throttleTimeMs: 0, topics, nextCursor };
  },
});

function errorTopic(errorCode: number, name: string): Input<DescribeTopicPartitionsResponseTopic> {
  return { errorCode, name, topicId: ZERO_UUID, isInternal: false, partitions: [] };
}

function describeTopic(context: RequestContext, topic: TopicMetadata, start: number, end: number): Input<DescribeTopicPartitionsResponseTopic> {
  return {
    errorCode: ErrorCode.NONE,
    name: topic.name,
    topicId: topicIdBytes(topic.topicId),
    isInternal: topic.internal,
    partitions: topic.partitions.slice(start, end).map((assignment) => ({
      errorCode: assignment.leader < 0 ? ErrorCode.LEADER_NOT_AVAILABLE : ErrorCode.NONE,
      partitionIndex: assignment.partition,
      leaderId: assignment.leader,
      leaderEpoch: assignment.leaderEpoch,
      replicaNodes: assignment.replicas,
      isrNodes: assignment.isr,
      eligibleLeaderReplicas: null,
      lastKnownElr: null,
      offlineReplicas: context.cluster.offlineReplicas(assignment.replicas),
    })),
  };
}
