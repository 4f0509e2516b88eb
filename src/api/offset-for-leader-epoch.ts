// OffsetForLeaderEpoch (KIP-101/279): the end offset of a leader epoch on this leader, so that a follower
// (or a client validating its position after a leader change, KIP-320) can cut a divergent tail.
import { ErrorCode } from "../protocol/errors.ts";
import { ApiKey } from "../protocol/generated/index.ts";
import type { OffsetForLeaderEpochRequest } from "../protocol/generated/offset-for-leader-epoch.ts";
import type { EpochEndOffsetItem } from "../partition/messages.ts";
import type { ApiHandler } from "./handler.ts";

interface Answer {
  errorCode: number;
  partition: number;
  leaderEpoch: number;
  endOffset: number;
}

export const offsetForLeaderEpochHandler: ApiHandler = {
  apiKey: ApiKey.OffsetForLeaderEpoch,
  minVersion: 0,
  maxVersion: 4,
  async handle(context, request: OffsetForLeaderEpochRequest) {
    const { broker } = context;
    const lookups: { answer: Answer; item: EpochEndOffsetItem }[] = [];
    const topics = request.topics.map((requestTopic) => ({
      topic: requestTopic.topic,
      partitions: requestTopic.partitions.map((requestPartition) => {
        const answer: Answer = { errorCode: ErrorCode.NONE, partition: requestPartition.partition, leaderEpoch: -1, endOffset: -1 };
        const topic = broker.topics.get(requestTopic.topic);
        if (!topic || requestPartition.partition < 0 || requestPartition.partition >= topic.partitions.length) answer.errorCode = ErrorCode.UNKNOWN_TOPIC_OR_PARTITION;
        else answer.errorCode = broker.checkLeader(topic, requestPartition.partition, requestPartition.currentLeaderEpoch);
        if (answer.errorCode === ErrorCode.NONE) lookups.push({ answer, item: { topic: requestTopic.topic, partition: requestPartition.partition, leaderEpoch: requestPartition.leaderEpoch } });
        return answer;
      }),
    }));
    const results = await broker.workers.epochEndOffset(lookups.map((lookup) => lookup.item));
    lookups.forEach(({ answer }, index) => {
      const result = results[index]!;
      answer.errorCode = result.errorCode;
      answer.leaderEpoch = result.leaderEpoch;
      answer.endOffset = result.endOffset;
    });
    return { throttleTimeMs: 0, topics };
  },
};
