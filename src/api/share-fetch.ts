// ShareFetch (KIP-932, v0): on the partition leader, within the member's share session, acknowledges what the
// request carries and acquires records for the member (share/share-partition-manager.ts). The response carries
// whole batches as Fetch does, plus AcquiredRecords: the offsets this member now holds under an acquisition
// lock (the client delivers only those; offsets without a record are acknowledged as gaps).
// Needs READ on the group and on each topic. Delivered bytes count against consumer_byte_rate and /metrics' fetched bytes.
import { Apis } from "../protocol/generated/index.ts";
import type { ShareFetchResponse } from "../protocol/generated/share-fetch.ts";
import { ErrorCode } from "../protocol/errors.ts";
import { defineHandler, type Reply } from "./handler.ts";
import { shareRequestRefusal } from "./share-access.ts";
import { CONSUMER_BYTE_RATE } from "../security/quotas/model.ts";

const EMPTY_RECORDS = new Uint8Array(0);

export const shareFetchHandler = defineHandler(Apis.ShareFetch, {
  minVersion: 0,
  maxVersion: 0,
  async handle(context, request): Promise<Reply<ShareFetchResponse>> {
    const refusal = shareRequestRefusal(context, request);
    if (refusal) return { throttleTimeMs: 0, ...refusal, responses: [], nodeEndpoints: [] };
    const shareGroups = context.shareGroups!; // present: shareRequestRefusal refuses the request without it
    const room = context.connection.waitForWriteRoom();
    if (room) await room;
    const answer = await shareGroups.partitions.fetch({
      groupId: request.groupId,
      memberId: request.memberId,
      shareSessionEpoch: request.shareSessionEpoch,
      maxWaitMs: request.maxWaitMs,
      maxBytes: request.maxBytes,
      // Copies: the request's buffers are views of the socket read, and the session keeps topic ids.
      topics: request.topics.map((topic) => ({
        topicId: new Uint8Array(topic.topicId),
        partitions: topic.partitions.map((partition) => ({
          partition: partition.partitionIndex,
          partitionMaxBytes: partition.partitionMaxBytes,
          acknowledgementBatches: partition.acknowledgementBatches.map((batch) => ({ firstOffset: batch.firstOffset, lastOffset: batch.lastOffset, acknowledgeTypes: [...batch.acknowledgeTypes] })),
        })),
      })),
      forgottenTopicsData: request.forgottenTopicsData.map((topic) => ({ topicId: new Uint8Array(topic.topicId), partitions: [...topic.partitions] })),
      isStopping: () => context.isStopping(),
    });
    let bytes = 0;
    const responses = answer.responses.map((topic) => {
      const name = context.topics.getById(topic.topicId)?.name;
      return {
        topicId: topic.topicId,
        partitions: topic.partitions.map((partition) => {
          if (partition.errorCode !== ErrorCode.NONE) context.traffic?.error(Apis.ShareFetch.apiKey, partition.errorCode);
          const size = partition.records ? ("sizeBytes" in partition.records ? partition.records.sizeBytes : partition.records.byteLength) : 0;
          if (size > 0 && name) context.traffic?.fetched(name, partition.partitionIndex, size, false);
          bytes += size;
          return { ...partition, records: partition.records ?? EMPTY_RECORDS };
        }),
      };
    });
    // Delivered bytes count against consumer_byte_rate, as Fetch's do (KIP-219: answered, then muted).
    const throttleTimeMs = context.quotas.record(CONSUMER_BYTE_RATE, context.connection.security.principal, context.clientId, bytes);
    if (throttleTimeMs > 0) context.connection.mute(throttleTimeMs);
    return { throttleTimeMs, errorCode: answer.errorCode, errorMessage: answer.errorMessage, responses, nodeEndpoints: [] };
  },
});
