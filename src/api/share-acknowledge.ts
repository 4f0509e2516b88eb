// ShareAcknowledge (KIP-932, v0): acknowledgements without fetching, in the member's share session (epoch -1
// also closes it, releasing what the member still holds). Each partition answers once its new state is
// committed to __share_group_state. Needs READ on the group and on each topic.
import { Apis } from "../protocol/generated/index.ts";
import type { ShareAcknowledgeResponse } from "../protocol/generated/share-acknowledge.ts";
import { defineHandler, type Reply } from "./handler.ts";
import { shareRequestRefusal } from "./share-access.ts";

export const shareAcknowledgeHandler = defineHandler(Apis.ShareAcknowledge, {
  minVersion: 0,
  maxVersion: 0,
  async handle(context, request): Promise<Reply<ShareAcknowledgeResponse>> {
    const refusal = shareRequestRefusal(context, request);
    if (refusal) return { throttleTimeMs: 0, ...refusal, responses: [], nodeEndpoints: [] };
    const shareGroups = context.shareGroups!; // present: shareRequestRefusal refuses the request without it
    const answer = await shareGroups.partitions.acknowledge({
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
