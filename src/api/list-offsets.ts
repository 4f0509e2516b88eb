// ListOffsets: earliest (-2), latest (-1: the high watermark; the last stable offset for isolation level
// read_committed) and by timestamp (first record at or after it).
// Versions: v1 one offset and its timestamp; v2 isolation level (KIP-98) and throttle time; v3 same; v4 current
// leader epoch (KIP-320) and the leader epoch in the answer; v5 same; v6 flexible; v7 MAX_TIMESTAMP (-3, KIP-734):
// the first record with the largest timestamp and that timestamp; v8 EARLIEST_LOCAL (-4, KIP-405): the first
// offset on local disk, the log start offset here (no tiered storage); v9 LATEST_TIERED (-5, KIP-1005): the
// highest offset in remote storage, which Kafka answers -1 with leader epoch -1 when the topic is not tiered, as
// every topic here; v10 timeout_ms (KIP-1075) for remote lookups, which Bunka never waits on. A special
// timestamp below the version that introduced it is INVALID_REQUEST. v0 (several offsets) is not served.
import { ErrorCode } from "../protocol/errors.ts";
import { Apis } from "../protocol/generated/index.ts";
import type { ListOffsetsResponse, ListOffsetsResponseListOffsetsPartitionResponse } from "../protocol/generated/list-offsets.ts";
import type { PartitionKey, TimestampLookupItem } from "../partition/messages.ts";
import { defineHandler, type Reply } from "./handler.ts";
import { AclOperation, canTopic } from "./authorize.ts";

const LATEST_TIMESTAMP = -1;
const EARLIEST_TIMESTAMP = -2;
const MAX_TIMESTAMP = -3;
const EARLIEST_LOCAL_TIMESTAMP = -4;
const LATEST_TIERED_TIMESTAMP = -5;
/** The version each special timestamp is accepted from (Kafka's ListOffsetsRequest.Builder requires them). */
const SPECIAL_TIMESTAMP_MIN_VERSION: ReadonlyMap<number, number> = new Map([
  [LATEST_TIMESTAMP, 0],
  [EARLIEST_TIMESTAMP, 0],
  [MAX_TIMESTAMP, 7],
  [EARLIEST_LOCAL_TIMESTAMP, 8],
  [LATEST_TIERED_TIMESTAMP, 9],
]);
const READ_COMMITTED = 1;

type PartitionAnswer = Pick<ListOffsetsResponseListOffsetsPartitionResponse, "partitionIndex" | "errorCode" | "timestamp" | "offset" | "leaderEpoch" | "oldStyleOffsets">;

export const listOffsetsHandler = defineHandler(Apis.ListOffsets, {
  minVersion: 1,
  maxVersion: 10,
  async handle(context, request): Promise<Reply<ListOffsetsResponse>> {
    const topics: { name: string; partitions: PartitionAnswer[] }[] = [];
    const offsetLookups: { answer: PartitionAnswer; key: PartitionKey; earliest: boolean }[] = [];
    const timeLookups: { answer: PartitionAnswer; item: TimestampLookupItem }[] = [];
    const readCommitted = request.isolationLevel === READ_COMMITTED;

    for (const requestTopic of request.topics) {
      const topic = context.topics.get(requestTopic.name);
      const authorized = canTopic(context, AclOperation.DESCRIBE, requestTopic.name);
      const partitions: PartitionAnswer[] = [];
      topics.push({ name: requestTopic.name, partitions });
      for (const requestPartition of requestTopic.partitions) {
        const index = requestPartition.partitionIndex;
        const answer: PartitionAnswer = { partitionIndex: index, errorCode: ErrorCode.NONE, timestamp: -1, offset: -1, leaderEpoch: -1, oldStyleOffsets: [] };
        partitions.push(answer);
        if (!authorized) {
          answer.errorCode = ErrorCode.TOPIC_AUTHORIZATION_FAILED;
          continue;
        }
        if (!topic || index < 0 || index >= topic.partitions.length) {
          answer.errorCode = ErrorCode.UNKNOWN_TOPIC_OR_PARTITION;
          continue;
        }
        const leaderCheck = context.replication.checkLeader(topic.name, index, requestPartition.currentLeaderEpoch);
        if (leaderCheck !== ErrorCode.NONE) {
          answer.errorCode = leaderCheck;
          continue;
        }
        answer.leaderEpoch = topic.partitions[index]!.leaderEpoch;
        const key = { topic: requestTopic.name, partition: index };
        const timestamp = requestPartition.timestamp;
        const specialFrom = SPECIAL_TIMESTAMP_MIN_VERSION.get(timestamp);
        if (timestamp < 0 && (specialFrom === undefined || context.apiVersion < specialFrom)) {
          answer.errorCode = ErrorCode.INVALID_REQUEST;
        } else if (timestamp === LATEST_TIMESTAMP || timestamp === EARLIEST_TIMESTAMP || timestamp === EARLIEST_LOCAL_TIMESTAMP) {
          // Without tiered storage the local log starts where the log does.
          offsetLookups.push({ answer, key, earliest: timestamp !== LATEST_TIMESTAMP });
        } else if (timestamp === LATEST_TIERED_TIMESTAMP) {
          // Kafka's UnifiedLog for a topic without remote storage: offset -1, leader epoch -1.
          answer.leaderEpoch = -1;
        } else {
          timeLookups.push({ answer, item: { ...key, timestampMs: timestamp, maxTimestamp: timestamp === MAX_TIMESTAMP } });
        }
      }
    }

    const [offsets, found] = await Promise.all([
      context.partitions.offsets(offsetLookups.map((lookup) => lookup.key)),
      context.partitions.offsetForTimestamp(timeLookups.map((lookup) => lookup.item)),
    ]);
    offsetLookups.forEach(({ answer, key, earliest }, i) => {
      const result = offsets[i]!;
      if (result.errorCode !== ErrorCode.NONE) {
        answer.errorCode = result.errorCode;
        return;
      }
      context.topics.noteOffsets(key.topic, key.partition, result);
      const runtime = context.topics.runtime(key.topic, key.partition)!;
      const firstUnstableOffset = result.firstUnstableOffset ?? -1;
      // read_committed's latest is the LSO: min(first offset of an ongoing transaction, high watermark).
      const latest = readCommitted && firstUnstableOffset >= 0 ? Math.min(firstUnstableOffset, runtime.highWatermark) : runtime.highWatermark;
      answer.offset = earliest ? result.logStartOffset : latest;
    });
    timeLookups.forEach(({ answer, item }, i) => {
      const result = found[i]!;
      answer.errorCode = result.errorCode;
      const highWatermark = context.topics.runtime(item.topic, item.partition)?.highWatermark ?? -1;
      const firstUnstableOffset = result.firstUnstableOffset ?? -1;
      // Only committed records (below the high watermark; the LSO for read_committed) are visible to consumers.
      const visibleEnd = readCommitted && firstUnstableOffset >= 0 ? Math.min(firstUnstableOffset, highWatermark) : highWatermark;
      if (result.offset >= 0 && result.offset < visibleEnd) {
        answer.offset = result.offset;
        answer.timestamp = result.timestampMs;
      }
    });
    return { throttleTimeMs: 0, topics };
  },
});
