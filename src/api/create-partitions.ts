// CreatePartitions: grows a topic's partition count (never shrinks it, like Kafka).
// Versions: v1 throttles after the response (KIP-219); v2 flexible; v3 THROTTLING_QUOTA_EXCEEDED (KIP-599).
// v0 stays: librdkafka 2.0.2 sends it.
import { ErrorCode, KafkaError } from "../protocol/errors.ts";
import { Apis } from "../protocol/generated/index.ts";
import type { CreatePartitionsResponse } from "../protocol/generated/create-partitions.ts";
import { defineHandler, type Reply } from "./handler.ts";
import { isInternalTopic } from "../metadata/internal-topics.ts";
import { AclOperation, canTopic } from "./authorize.ts";

export const createPartitionsHandler = defineHandler(Apis.CreatePartitions, {
  minVersion: 0,
  maxVersion: 3,
  async handle(context, request): Promise<Reply<CreatePartitionsResponse>> {
    const results = [];
    for (const topic of request.topics) {
      if (!canTopic(context, AclOperation.ALTER, topic.name)) {
        results.push({ name: topic.name, errorCode: ErrorCode.TOPIC_AUTHORIZATION_FAILED, errorMessage: "Authorization failed." });
        continue;
      }
      // Groups are placed by hash % partition count: growing __consumer_offsets would move groups away
      // from their committed offsets. Kafka leaves this to a warning in its docs; Bunka refuses it.
      if (isInternalTopic(topic.name)) {
        results.push({ name: topic.name, errorCode: ErrorCode.POLICY_VIOLATION, errorMessage: `Topic ${topic.name} is an internal topic: its partition count cannot change` });
        continue;
      }
      try {
        await context.topics.createPartitions(topic.name, topic.count, request.validateOnly, topic.assignments?.map((assignment) => assignment.brokerIds));
        results.push({ name: topic.name, errorCode: ErrorCode.NONE, errorMessage: null });
      } catch (error) {
        if (!(error instanceof KafkaError)) throw error;
        results.push({ name: topic.name, errorCode: error.errorCode, errorMessage: error.message });
      }
    }
    return { throttleTimeMs: 0, results };
  },
});
