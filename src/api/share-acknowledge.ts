// ShareAcknowledge (KIP-932, v0): acknowledgements without fetching, in the member's share session (epoch -1
// also closes it, releasing what the member still holds). Each partition answers once its new state is
// committed to __share_group_state. Needs READ on the group and on each topic.
import { Apis } from "../protocol/generated/index.ts";
import type { ShareAcknowledgeResponse } from "../protocol/generated/share-acknowledge.ts";
import { ErrorCode } from "../protocol/errors.ts";
import { defineHandler, type Reply } from "./handler.ts";
import { AclOperation, canGroup, canTopic } from "./authorize.ts";

export const shareAcknowledgeHandler = defineHandler(Apis.ShareAcknowledge, {
  minVersion: 0,
  maxVersion: 0,
  async handle(context, request): Promise<Reply<ShareAcknowledgeResponse>> {
    const fail = (errorCode: number, errorMessage: string | null = null) => ({ throttleTimeMs: 0, errorCode, errorMessage, responses: [], nodeEndpoints: [] });
    if (!context.shareGroups) return fail(ErrorCode.UNSUPPORTED_VERSION, "share groups are not enabled");
    if (request.groupId && !canGroup(context, AclOperation.READ, request.groupId)) return fail(ErrorCode.GROUP_AUTHORIZATION_FAILED);
    for (const topic of request.topics) {
      const name = context.topics.getById(topic.topicId)?.name;
      if (name && !canTopic(context, AclOperation.READ, name)) return fail(ErrorCode.TOPIC_AUTHORIZATION_FAILED);
    }
    const answer = await context.shareGroups.partitions.acknowledge({
      groupId: request.groupId,
      memberId: request.memberId,
      shareSessionEpoch: request.shareSessionEpoch,
      topics: request.topics.map((topic) => ({
        topicId: new Uint8Array(topic.topicId),
        partitions: topic.partitions.map((partition) => ({
          partition: partition.partitionIndex,
          acknowledgementBatches: partition.acknowledgementBatches.map((batch) => ({ firstOffset: batch.firstOffset, lastOffset: batch.lastOffset, acknowledgeTypes: [...batch.acknowledgeTypes] })),
        })),
      })),
    });
    return { throttleTimeMs: 0, errorCode: answer.errorCode, errorMessage: answer.errorMessage, responses: answer.responses, nodeEndpoints: [] };
  },
});
