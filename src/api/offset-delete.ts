// OffsetDelete (KIP-496): removes a group's committed offsets for partitions of topics it does not
// subscribe to (GROUP_SUBSCRIBED_TO_TOPIC otherwise); tombstones go to __consumer_offsets.
import { Apis } from "../protocol/generated/index.ts";
import type { OffsetDeleteResponse } from "../protocol/generated/offset-delete.ts";
import { defineHandler, type Reply } from "./handler.ts";
import { AclOperation, canGroup, canTopic } from "./authorize.ts";
import { ErrorCode } from "../protocol/errors.ts";

export const offsetDeleteHandler = defineHandler(Apis.OffsetDelete, {
  minVersion: 0,
  maxVersion: 0,
  async handle(context, request): Promise<Reply<OffsetDeleteResponse>> {
    if (!canGroup(context, AclOperation.DELETE, request.groupId)) return { errorCode: ErrorCode.GROUP_AUTHORIZATION_FAILED, throttleTimeMs: 0, topics: [] };
    const unreadable = new Set(request.topics.filter((topic) => !canTopic(context, AclOperation.READ, topic.name)).map((topic) => topic.name));
    const partitions = request.topics.filter((topic) => !unreadable.has(topic.name)).flatMap((topic) => topic.partitions.map((partition) => ({ topic: topic.name, partition: partition.partitionIndex })));
    const result = await context.groups.offsets.deleteOffsets(request.groupId, partitions);
    if (result.errorCode !== 0) return { errorCode: result.errorCode, throttleTimeMs: 0, topics: [] };
    let next = 0;
    return {
      errorCode: 0,
      throttleTimeMs: 0,
      topics: request.topics.map((topic) => ({
        name: topic.name,
        partitions: topic.partitions.map((partition) => ({ partitionIndex: partition.partitionIndex, errorCode: unreadable.has(topic.name) ? ErrorCode.TOPIC_AUTHORIZATION_FAILED : result.errors[next++]! })),
      })),
    };
  },
});
