// DeleteRecords: moves a partition's log start offset forward (whole segments below it are deleted). The
// new low watermark reaches followers with their next fetch.
// Versions: v1 throttles after the response (KIP-219); v2 flexible. v0 stays: nothing removed it (KIP-896).
import { ErrorCode } from "../protocol/errors.ts";
import { Apis } from "../protocol/generated/index.ts";
import type { DeleteRecordsResponse } from "../protocol/generated/delete-records.ts";
import type { TruncateItem } from "../partition/messages.ts";
import { defineHandler, type Reply } from "./handler.ts";
import { isInternalTopic } from "../metadata/internal-topics.ts";
import { AclOperation, canTopic } from "./authorize.ts";

/** Offset -1 means "up to the high watermark" (Kafka's DeleteRecordsRequest.HIGH_WATERMARK). */
const HIGH_WATERMARK = -1;

export const deleteRecordsHandler = defineHandler(Apis.DeleteRecords, {
  minVersion: 0,
  maxVersion: 2,
  async handle(context, request): Promise<Reply<DeleteRecordsResponse>> {
    const work: { answer: { partitionIndex: number; lowWatermark: number; errorCode: number }; item: TruncateItem }[] = [];
    const topics = request.topics.map((requestTopic) => ({
      name: requestTopic.name,
      partitions: requestTopic.partitions.map((requestPartition) => {
        const answer = { partitionIndex: requestPartition.partitionIndex, lowWatermark: -1, errorCode: ErrorCode.NONE as number };
        const topic = context.topics.get(requestTopic.name);
        // Kafka's ReplicaManager.deleteRecords: "Cannot delete records of internal topic".
        if (!canTopic(context, AclOperation.DELETE, requestTopic.name)) answer.errorCode = ErrorCode.TOPIC_AUTHORIZATION_FAILED;
        else if (isInternalTopic(requestTopic.name)) answer.errorCode = ErrorCode.INVALID_TOPIC_EXCEPTION;
        else if (!topic || requestPartition.partitionIndex < 0 || requestPartition.partitionIndex >= topic.partitions.length) answer.errorCode = ErrorCode.UNKNOWN_TOPIC_OR_PARTITION;
        else answer.errorCode = context.replication.checkLeader(topic.name, requestPartition.partitionIndex);
        if (answer.errorCode !== ErrorCode.NONE) return answer;
        const highWatermark = context.topics.runtime(requestTopic.name, requestPartition.partitionIndex)?.highWatermark ?? 0;
        const offset = requestPartition.offset === HIGH_WATERMARK ? highWatermark : requestPartition.offset;
        // Only committed records may be deleted.
        if (offset < 0 || offset > highWatermark) answer.errorCode = ErrorCode.OFFSET_OUT_OF_RANGE;
        else work.push({ answer, item: { topic: requestTopic.name, partition: requestPartition.partitionIndex, offset } });
        return answer;
      }),
    }));
    const results = await context.partitions.deleteRecords(work.map(({ item }) => item));
    work.forEach(({ answer, item }, index) => {
      const result = results[index]!;
      answer.errorCode = result.errorCode;
      answer.lowWatermark = result.logStartOffset;
      if (result.errorCode === ErrorCode.NONE) context.topics.noteOffsets(item.topic, item.partition, result);
    });
    return { throttleTimeMs: 0, topics };
  },
});
