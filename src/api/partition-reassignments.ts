// AlterPartitionReassignments and ListPartitionReassignments (KIP-455): move partition replicas between
// brokers without downtime, the way a cluster grows onto a new broker or drains one before it leaves.
import { ErrorCode, KafkaError } from "../protocol/errors.ts";
import { Apis } from "../protocol/generated/index.ts";
import type { AlterPartitionReassignmentsResponse } from "../protocol/generated/alter-partition-reassignments.ts";
import type { ListPartitionReassignmentsResponse } from "../protocol/generated/list-partition-reassignments.ts";
import { defineHandler, type Reply } from "./handler.ts";
import { AclOperation, canCluster } from "./authorize.ts";

export const alterPartitionReassignmentsHandler = defineHandler(Apis.AlterPartitionReassignments, {
  minVersion: 0,
  maxVersion: 0,
  async handle(context, request): Promise<Reply<AlterPartitionReassignmentsResponse>> {
    if (!canCluster(context, AclOperation.ALTER)) return { throttleTimeMs: 0, errorCode: ErrorCode.CLUSTER_AUTHORIZATION_FAILED, errorMessage: "Authorization failed.", responses: [] };
    const responses = [];
    for (const topic of request.topics) {
      try {
        const results = await context.topics.alterReassignments(
          topic.name,
          topic.partitions.map((partition) => ({ partition: partition.partitionIndex, target: partition.replicas })),
        );
        responses.push({ name: topic.name, partitions: results.map((result) => ({ partitionIndex: result.partition, errorCode: result.errorCode, errorMessage: result.errorMessage })) });
      } catch (error) {
        if (!(error instanceof KafkaError)) throw error;
        responses.push({ name: topic.name, partitions: topic.partitions.map((partition) => ({ partitionIndex: partition.partitionIndex, errorCode: error.errorCode, errorMessage: error.message })) });
      }
    }
    return { throttleTimeMs: 0, errorCode: ErrorCode.NONE, errorMessage: null, responses };
  },
});

export const listPartitionReassignmentsHandler = defineHandler(Apis.ListPartitionReassignments, {
  minVersion: 0,
  maxVersion: 0,
  handle(context, request): Reply<ListPartitionReassignmentsResponse> {
    if (!canCluster(context, AclOperation.DESCRIBE)) return { throttleTimeMs: 0, errorCode: ErrorCode.CLUSTER_AUTHORIZATION_FAILED, errorMessage: "Authorization failed.", topics: [] };
    const wanted = request.topics ? new Map(request.topics.map((topic) => [topic.name, new Set(topic.partitionIndexes)])) : null;
    const topics = [];
    for (const topic of context.topics.list()) {
      if (!topic.reassignments || (wanted && !wanted.has(topic.name))) continue;
      const partitions = [];
      for (const [partitionText, reassignment] of Object.entries(topic.reassignments)) {
        const partition = Number(partitionText);
        if (wanted && !wanted.get(topic.name)!.has(partition)) continue;
        partitions.push({
          partitionIndex: partition,
          replicas: topic.partitions[partition]?.replicas ?? reassignment.target,
          addingReplicas: reassignment.target.filter((replica) => !reassignment.original.includes(replica)),
          removingReplicas: reassignment.original.filter((replica) => !reassignment.target.includes(replica)),
        });
      }
      if (partitions.length > 0) topics.push({ name: topic.name, partitions });
    }
    return { throttleTimeMs: 0, errorCode: ErrorCode.NONE, errorMessage: null, topics };
  },
});
