// WriteShareGroupState (KIP-932, v0, between brokers): a share partition's leader persists its state at the share
// coordinator (the leader of the key's __share_group_state partition), answered once committed. A write from an
// older partition leader epoch than the stored one is FENCED_LEADER_EPOCH. Needs CLUSTER_ACTION, as Kafka.
import { Apis } from "../protocol/generated/index.ts";
import type { WriteShareGroupStateResponse } from "../protocol/generated/write-share-group-state.ts";
import { ErrorCode } from "../protocol/errors.ts";
import { defineHandler, type Reply } from "./handler.ts";
import { AclOperation, canCluster } from "./authorize.ts";

export const writeShareGroupStateHandler = defineHandler(Apis.WriteShareGroupState, {
  minVersion: 0,
  maxVersion: 0,
  async handle(context, request): Promise<Reply<WriteShareGroupStateResponse>> {
    const allowed = canCluster(context, AclOperation.CLUSTER_ACTION);
    const results = [];
    for (const topic of request.topics) {
      const topicId = Buffer.from(topic.topicId).toString("hex");
      const partitions = await Promise.all(
        topic.partitions.map(async (data) => {
          if (!allowed) return { partition: data.partition, errorCode: ErrorCode.CLUSTER_AUTHORIZATION_FAILED, errorMessage: null };
          if (!context.shareGroups) return { partition: data.partition, errorCode: ErrorCode.NOT_COORDINATOR, errorMessage: null };
          const errorCode = await context.shareGroups.writeState(request.groupId, topicId, data.partition, {
            snapshotEpoch: 0,
            stateEpoch: data.stateEpoch,
            leaderEpoch: data.leaderEpoch,
            startOffset: Number(data.startOffset),
            stateBatches: data.stateBatches.map((batch) => ({ firstOffset: Number(batch.firstOffset), lastOffset: Number(batch.lastOffset), deliveryState: batch.deliveryState, deliveryCount: batch.deliveryCount })),
          });
          return { partition: data.partition, errorCode, errorMessage: null };
        }),
      );
      results.push({ topicId: topic.topicId, partitions });
    }
    return { results };
  },
});
