// OffsetCommit: one batch to the group's __consumer_offsets partition per request (group/group-offsets.ts).
// v0 carries no generation or member: it is a commit from outside group management, like generation -1.
// v0-1 are no longer served, as in Kafka 4.0 (KIP-896): kafka-python sends v2, kafkajs v5, librdkafka v7-8.
// v9 (KIP-848): the same fields; for a consumer-protocol group the generation is the member epoch
// (STALE_MEMBER_EPOCH when not current), and its members must use v9+ (UNSUPPORTED_VERSION below).
import { Apis } from "../protocol/generated/index.ts";
import type { OffsetCommitResponse } from "../protocol/generated/offset-commit.ts";
import type { CommitPartition } from "../group/group-offsets.ts";
import { defineHandler, type Reply } from "./handler.ts";
import { AclOperation, canGroup, canTopic } from "./authorize.ts";
import { ErrorCode } from "../protocol/errors.ts";

export const offsetCommitHandler = defineHandler(Apis.OffsetCommit, {
  minVersion: 2,
  maxVersion: 9,
  async handle(context, request): Promise<Reply<OffsetCommitResponse>> {
    // READ on the group, then READ on each topic; refused partitions are answered without being committed.
    const groupAllowed = canGroup(context, AclOperation.READ, request.groupId);
    const refused = new Map<string, number>();
    for (const topic of request.topics) {
      if (!groupAllowed) refused.set(topic.name, ErrorCode.GROUP_AUTHORIZATION_FAILED);
      else if (!canTopic(context, AclOperation.READ, topic.name)) refused.set(topic.name, ErrorCode.TOPIC_AUTHORIZATION_FAILED);
    }
    const partitions: CommitPartition[] = [];
    for (const topic of request.topics) {
      if (refused.has(topic.name)) continue;
      for (const partition of topic.partitions) {
        partitions.push({ topic: topic.name, partition: partition.partitionIndex, offset: partition.committedOffset, leaderEpoch: partition.committedLeaderEpoch, metadata: partition.committedMetadata });
      }
    }
    const errors = partitions.length === 0 && refused.size > 0 ? [] : await context.groups.offsets.commit({
      groupId: request.groupId,
      memberId: request.memberId,
      groupInstanceId: request.groupInstanceId,
      generationId: request.generationIdOrMemberEpoch,
      partitions,
      apiVersion: context.apiVersion,
    });
    let next = 0;
    return {
      throttleTimeMs: 0,
      topics: request.topics.map((topic) => ({
        name: topic.name,
        partitions: topic.partitions.map((partition) => ({ partitionIndex: partition.partitionIndex, errorCode: refused.get(topic.name) ?? errors[next++]! })),
      })),
    };
  },
});
