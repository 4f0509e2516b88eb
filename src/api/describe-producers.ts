// DescribeProducers (KIP-664): a partition leader's active producers as its producer state knows them:
// id, epoch, last sequence and timestamp, the coordinator epoch of its last marker and the first offset of
// its open transaction (-1 when none). What `kafka-transactions.sh describe-producers` and
// `--find-hanging` read. READ on the topic, as in Kafka; only the leader answers.
import { ErrorCode } from "../protocol/errors.ts";
import { Apis } from "../protocol/generated/index.ts";
import type { DescribeProducersResponse, DescribeProducersResponsePartitionResponse } from "../protocol/generated/describe-producers.ts";
import type { PartitionKey } from "../partition/messages.ts";
import { defineHandler, type Reply } from "./handler.ts";
import { AclOperation, canTopic } from "./authorize.ts";

export const describeProducersHandler = defineHandler(Apis.DescribeProducers, {
  minVersion: 0,
  maxVersion: 0,
  async handle(context, request): Promise<Reply<DescribeProducersResponse>> {
    const lookups: { answer: DescribeProducersResponsePartitionResponse; key: PartitionKey }[] = [];
    const topics = request.topics.map((requestTopic) => {
      const topic = context.topics.get(requestTopic.name);
      const authorized = canTopic(context, AclOperation.READ, requestTopic.name);
      return {
        name: requestTopic.name,
        partitions: requestTopic.partitionIndexes.map((partitionIndex) => {
          const answer: DescribeProducersResponsePartitionResponse = { partitionIndex, errorCode: ErrorCode.NONE, errorMessage: null, activeProducers: [] };
          if (!authorized) answer.errorCode = ErrorCode.TOPIC_AUTHORIZATION_FAILED;
          else if (!topic || partitionIndex < 0 || partitionIndex >= topic.partitions.length) answer.errorCode = ErrorCode.UNKNOWN_TOPIC_OR_PARTITION;
          else answer.errorCode = context.replication.checkLeader(requestTopic.name, partitionIndex);
          if (answer.errorCode === ErrorCode.NONE) lookups.push({ answer, key: { topic: requestTopic.name, partition: partitionIndex } });
          return answer;
        }),
      };
    });
    if (lookups.length > 0) {
      const results = await context.partitions.activeProducers(lookups.map((lookup) => lookup.key));
      lookups.forEach(({ answer }, index) => {
        const result = results[index]!;
        answer.errorCode = result.errorCode;
        answer.activeProducers = result.producers.map((producer) => ({
          producerId: producer.producerId,
          producerEpoch: producer.producerEpoch,
          lastSequence: producer.lastSequence,
          lastTimestamp: producer.lastTimestampMs,
          coordinatorEpoch: producer.coordinatorEpoch,
          currentTxnStartOffset: producer.currentTxnStartOffset,
        }));
      });
    }
    return { throttleTimeMs: 0, topics };
  },
});
