// ReadShareGroupState (KIP-932, v0, between brokers): a share partition's leader asks the share coordinator (the
// leader of the key's __share_group_state partition) for the persisted state when it first needs the share
// partition. A share partition with no state is answered with state epoch -1 (Bunka's convention; Kafka
// initializes state with InitializeShareGroupState first). Needs CLUSTER_ACTION, as Kafka.
import { Apis } from "../protocol/generated/index.ts";
import type { ReadShareGroupStateResponse } from "../protocol/generated/read-share-group-state.ts";
import { ErrorCode, KafkaError } from "../protocol/errors.ts";
import { defineHandler, type Reply } from "./handler.ts";
import { AclOperation, canCluster } from "./authorize.ts";

export const readShareGroupStateHandler = defineHandler(Apis.ReadShareGroupState, {
  minVersion: 0,
  maxVersion: 0,
  async handle(context, request): Promise<Reply<ReadShareGroupStateResponse>> {
    const allowed = canCluster(context, AclOperation.CLUSTER_ACTION);
    const results = [];
    for (const topic of request.topics) {
      const partitions = [];
      for (const { partition } of topic.partitions) {
        const answer = { partition, errorCode: ErrorCode.NONE as number, errorMessage: null as string | null, stateEpoch: -1, startOffset: -1, stateBatches: [] as { firstOffset: number; lastOffset: number; deliveryState: number; deliveryCount: number }[] };
        if (!allowed) answer.errorCode = ErrorCode.CLUSTER_AUTHORIZATION_FAILED;
        else if (!context.shareGroups) answer.errorCode = ErrorCode.NOT_COORDINATOR;
        else {
          try {
            const snapshot = await context.shareGroups.readState(request.groupId, Buffer.from(topic.topicId).toString("hex"), partition);
            if (snapshot) Object.assign(answer, { stateEpoch: snapshot.stateEpoch, startOffset: snapshot.startOffset, stateBatches: snapshot.stateBatches });
          } catch (error) {
            if (!(error instanceof KafkaError)) throw error;
            answer.errorCode = error.errorCode;
            answer.errorMessage = error.message;
          }
        }
        partitions.push(answer);
      }
      results.push({ topicId: topic.topicId, partitions });
    }
    return { results };
  },
});
