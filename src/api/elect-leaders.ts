// ElectLeaders (KIP-460; kafka-leader-election.sh, Admin.electLeaders): PREFERRED (0) moves leadership back
// to each partition's first replica, UNCLEAN (1) gives a leaderless partition any live replica when no
// in-sync one is left. v0 is preferred only; v1 adds the election type and the top-level error; v2 is
// flexible. Null partitions mean every partition, and then partitions that needed no election are left out
// of the answer, as Kafka does. The election is written by cluster/leader-elections.ts. ALTER on CLUSTER.
import { ErrorCode } from "../protocol/errors.ts";
import { Apis } from "../protocol/generated/index.ts";
import type { ElectLeadersResponse, ElectLeadersResponseReplicaElectionResult } from "../protocol/generated/elect-leaders.ts";
import { defineHandler, type Reply } from "./handler.ts";
import { AclOperation, canCluster } from "./authorize.ts";

export const electLeadersHandler = defineHandler(Apis.ElectLeaders, {
  minVersion: 0,
  maxVersion: 2,
  async handle(context, request): Promise<Reply<ElectLeadersResponse>> {
    const everyPartition = request.topicPartitions === null;
    const asked = request.topicPartitions ?? context.topics.list().map((topic) => ({ topic: topic.name, partitions: topic.partitions.map((assignment) => assignment.partition) }));
    if (!canCluster(context, AclOperation.ALTER)) {
      const denied = (request.topicPartitions ?? []).map((topic) => ({
        topic: topic.topic,
        partitionResult: topic.partitions.map((partitionId) => ({ partitionId, errorCode: ErrorCode.CLUSTER_AUTHORIZATION_FAILED, errorMessage: null })),
      }));
      return { throttleTimeMs: 0, errorCode: ErrorCode.CLUSTER_AUTHORIZATION_FAILED, replicaElectionResults: denied };
    }
    const results: ElectLeadersResponseReplicaElectionResult[] = [];
    for (const topic of asked) {
      const partitionResult = [];
      for (const partitionId of new Set(topic.partitions)) {
        const result = context.leaderElections
          ? await context.leaderElections.elect(request.electionType, topic.topic, partitionId)
          : { errorCode: ErrorCode.ELECTION_NOT_NEEDED, errorMessage: null };
        if (everyPartition && result.errorCode === ErrorCode.ELECTION_NOT_NEEDED) continue;
        partitionResult.push({ partitionId, errorCode: result.errorCode, errorMessage: result.errorMessage });
      }
      if (partitionResult.length > 0 || !everyPartition) results.push({ topic: topic.topic, partitionResult });
    }
    return { throttleTimeMs: 0, errorCode: ErrorCode.NONE, replicaElectionResults: results };
  },
});
