// OffsetForLeaderEpoch (KIP-101/279): the end offset of a leader epoch on this leader, so that a follower
// (or a client validating its position after a leader change, KIP-320) can cut a divergent tail.
import { ErrorCode } from "../protocol/errors.ts";
import { Apis } from "../protocol/generated/index.ts";
import type { OffsetForLeaderEpochResponse, OffsetForLeaderEpochResponseEpochEndOffset } from "../protocol/generated/offset-for-leader-epoch.ts";
import type { EpochEndOffsetItem } from "../partition/messages.ts";
import { defineHandler, type Reply } from "./handler.ts";
import { AclOperation, canCluster, canTopic } from "./authorize.ts";

type Answer = Pick<OffsetForLeaderEpochResponseEpochEndOffset, "errorCode" | "partition" | "leaderEpoch" | "endOffset">;

export const offsetForLeaderEpochHandler = defineHandler(Apis.OffsetForLeaderEpoch, {
  minVersion: 0,
  maxVersion: 4,
  async handle(context, request): Promise<Reply<OffsetForLeaderEpochResponse>> {
    const lookups: { answer: Answer; item: EpochEndOffsetItem }[] = [];
    // CLUSTER_ACTION on the cluster (followers) covers every topic; otherwise DESCRIBE on each.
    const clusterAction = canCluster(context, AclOperation.CLUSTER_ACTION, false);
    const topics = request.topics.map((requestTopic) => ({
      topic: requestTopic.topic,
      partitions: requestTopic.partitions.map((requestPartition) => {
        const answer: Answer = { errorCode: ErrorCode.NONE, partition: requestPartition.partition, leaderEpoch: -1, endOffset: -1 };
        const topic = context.topics.get(requestTopic.topic);
        if (!clusterAction && !canTopic(context, AclOperation.DESCRIBE, requestTopic.topic)) answer.errorCode = ErrorCode.TOPIC_AUTHORIZATION_FAILED;
        else if (!topic || requestPartition.partition < 0 || requestPartition.partition >= topic.partitions.length) answer.errorCode = ErrorCode.UNKNOWN_TOPIC_OR_PARTITION;
        else answer.errorCode = context.replication.checkLeader(topic.name, requestPartition.partition, requestPartition.currentLeaderEpoch);
        if (answer.errorCode === ErrorCode.NONE) lookups.push({ answer, item: { topic: requestTopic.topic, partition: requestPartition.partition, leaderEpoch: requestPartition.leaderEpoch } });
        return answer;
      }),
    }));
    const results = await context.partitions.epochEndOffset(lookups.map((lookup) => lookup.item));
    lookups.forEach(({ answer }, index) => {
      const result = results[index]!;
      answer.errorCode = result.errorCode;
      answer.leaderEpoch = result.leaderEpoch;
      answer.endOffset = result.endOffset;
    });
    return { throttleTimeMs: 0, topics };
  },
});
