// DeleteTopics: by name (v0-5) or by name/topic id (v6+).
// Versions: v1 throttle time; v2-v3 no change (v2: throttle after the response, KIP-219); v4 flexible (KIP-482);
// v5 per-topic error messages (KIP-599); v6 topics by name or id (KIP-516: UNKNOWN_TOPIC_ID). v0 is gone, as
// in Kafka 4.0 (KIP-896): kafkajs and librdkafka 2.0.2 send v1, kafka-python v3 (docs/kafka-clients.md).
import { ErrorCode, KafkaError } from "../protocol/errors.ts";
import { Apis } from "../protocol/generated/index.ts";
import type { DeleteTopicsResponse } from "../protocol/generated/delete-topics.ts";
import { topicIdBytes } from "../metadata/types.ts";
import { defineHandler, type Reply } from "./handler.ts";
import { isInternalTopic } from "../metadata/internal-topics.ts";
import { AclOperation, canTopic } from "./authorize.ts";

export const deleteTopicsHandler = defineHandler(Apis.DeleteTopics, {
  minVersion: 1,
  maxVersion: 6,
  async handle(context, request): Promise<Reply<DeleteTopicsResponse>> {
    const { apiVersion } = context;
    const requested: { name: string | null; topicId: Uint8Array | null }[] =
      apiVersion >= 6 ? request.topics.map((topic) => ({ name: topic.name, topicId: topic.topicId })) : request.topicNames.map((name) => ({ name, topicId: null }));
    const responses = [];
    for (const { name: requestedName, topicId } of requested) {
      let name = requestedName;
      const byId = topicId !== null && topicId.some((byte) => byte !== 0);
      if (byId && name !== null) {
        responses.push({ name, topicId, errorCode: ErrorCode.INVALID_REQUEST, errorMessage: "You may not specify both topic name and topic id." });
        continue;
      }
      if (name === null && topicId) {
        name = byId ? (context.topics.getById(topicId)?.name ?? null) : null;
        if (name === null) {
          responses.push({ name: null, topicId, errorCode: ErrorCode.UNKNOWN_TOPIC_ID, errorMessage: null });
          continue;
        }
      }
      if (!canTopic(context, AclOperation.DELETE, name ?? "")) {
        responses.push({ name, topicId: topicId ?? new Uint8Array(16), errorCode: ErrorCode.TOPIC_AUTHORIZATION_FAILED, errorMessage: "Authorization failed." });
        continue;
      }
      const existing = context.topics.get(name ?? "");
      try {
        // Deleting __consumer_offsets would drop every group's committed offsets. Kafka's own tools refuse it
        // ("is a kafka internal topic and is not allowed to be marked for deletion"); the broker refuses it here.
        if (isInternalTopic(name) || existing?.internal) throw new KafkaError(ErrorCode.INVALID_TOPIC_EXCEPTION, `Topic ${name} is an internal topic and cannot be deleted`);
        await context.topics.deleteTopic(name ?? "");
        responses.push({ name, topicId: existing ? topicIdBytes(existing.topicId) : new Uint8Array(16), errorCode: ErrorCode.NONE, errorMessage: null });
      } catch (error) {
        if (!(error instanceof KafkaError)) throw error;
        responses.push({ name, topicId: topicId ?? new Uint8Array(16), errorCode: error.errorCode, errorMessage: error.message });
      }
    }
    return { throttleTimeMs: 0, responses };
  },
});
