// Where each API an error fault covers keeps its topics and partitions (request and response) or its top-level
// error code: the shapes request-faults.ts answers in, as Kafka's handlers would.
import { ApiKey } from "../protocol/generated/index.ts";

export type Fields = Record<string, unknown>;

/** Where an API keeps its topics and partitions, in the request and the response, and what a failed partition carries. */
export interface PartitionLayout {
  request: { topics: string; name: string; partitions: string; index: string };
  response: { topics: string; name: string; partitions: string; index: string };
  failed: Fields;
}

export const PARTITION_APIS = new Map<number, PartitionLayout>([
  [ApiKey.Produce, {
    request: { topics: "topicData", name: "name", partitions: "partitionData", index: "index" },
    response: { topics: "responses", name: "name", partitions: "partitionResponses", index: "index" },
    failed: { baseOffset: -1, logAppendTimeMs: -1, logStartOffset: -1 },
  }],
  [ApiKey.Fetch, {
    request: { topics: "topics", name: "topic", partitions: "partitions", index: "partition" },
    response: { topics: "responses", name: "topic", partitions: "partitions", index: "partitionIndex" },
    failed: { highWatermark: -1, lastStableOffset: -1, logStartOffset: -1, abortedTransactions: null },
  }],
  [ApiKey.ListOffsets, {
    request: { topics: "topics", name: "name", partitions: "partitions", index: "partitionIndex" },
    response: { topics: "topics", name: "name", partitions: "partitions", index: "partitionIndex" },
    failed: { timestamp: -1, offset: -1, leaderEpoch: -1 },
  }],
  [ApiKey.OffsetCommit, {
    request: { topics: "topics", name: "name", partitions: "partitions", index: "partitionIndex" },
    response: { topics: "topics", name: "name", partitions: "partitions", index: "partitionIndex" },
    failed: {},
  }],
]);

/** APIs whose error goes at top level (or per group/key where the API has no top-level code). */
export const TOP_LEVEL_APIS = new Set<number>([
  ApiKey.ApiVersions, ApiKey.FindCoordinator, ApiKey.DescribeGroups, ApiKey.JoinGroup, ApiKey.SyncGroup, ApiKey.Heartbeat,
  ApiKey.LeaveGroup, ApiKey.ListGroups, ApiKey.InitProducerId, ApiKey.AddOffsetsToTxn, ApiKey.EndTxn, ApiKey.DescribeCluster,
  ApiKey.SaslHandshake, ApiKey.SaslAuthenticate,
]);

/** The APIs an error fault may name. */
export const ERROR_FAULT_APIS: ReadonlySet<string> = new Set(
  [...PARTITION_APIS.keys(), ...TOP_LEVEL_APIS].map((key) => Object.entries(ApiKey).find(([, value]) => value === key)![0]),
);

/** A partition as fault filters and offline sets name it. */
export function partitionKeyOf(topic: string, partition: number): string {
  return `${topic}\u0000${partition}`;
}
