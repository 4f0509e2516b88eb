// Writing a transaction's COMMIT/ABORT markers to the partitions this broker leads (Kafka's
// ReplicaManager.appendRecords for WriteTxnMarkers, origin coordinator, acks=all). The transaction
// coordinator calls writeTxnMarkersLocally for partitions led here; the WriteTxnMarkers handler
// (api/write-txn-markers.ts) calls it for markers sent by other brokers' coordinators. Each marker is a
// control batch appended by the partition's worker (PartitionLog.appendMarker) and then replicated like any
// batch: a partition's answer is NONE only once the marker is committed to the ISR (docs/transactions.md).
import { ErrorCode } from "../protocol/errors.ts";
import type { WriteTxnMarkersRequest, WriteTxnMarkersResponse, WriteTxnMarkersResponseWritableTxnMarkerResult } from "../protocol/generated/write-txn-markers.ts";
import type { MarkerItem, ProduceItem, ProduceResult } from "../partition/messages.ts";
import type { PartitionWorkers } from "../partition/partition-workers.ts";
import type { ReplicaManager } from "../cluster/replica-manager.ts";
import type { TopicManager } from "../metadata/topic-manager.ts";

/** How long a marker waits for the ISR when the caller names no timeout (Kafka uses request.timeout.ms). */
export const DEFAULT_MARKER_COMMIT_TIMEOUT_MS = 30_000;

export interface TxnMarkerDeps {
  topics: Pick<TopicManager, "get">;
  partitions: Pick<PartitionWorkers, "appendMarker">;
  replication: Pick<ReplicaManager, "checkLeader" | "afterLeaderAppend">;
  /** How long each marker waits to be committed to the ISR; REQUEST_TIMED_OUT after it. */
  commitTimeoutMs?: number;
  /**
   * Extension point for the coordinator's side effects (e.g. the group coordinator materialising
   * TxnOffsetCommit offsets when a marker lands in __consumer_offsets): called once per partition whose
   * marker was written and committed.
   */
  onMarkerWritten?: (topic: string, partition: number, producerId: number, commit: boolean) => void | Promise<void>;
  log?: (message: string) => void;
}

/** Writes every marker of the request to the partitions it names that this broker leads, and answers per partition. */
export async function writeTxnMarkersLocally(deps: TxnMarkerDeps, request: WriteTxnMarkersRequest): Promise<WriteTxnMarkersResponse> {
  const items: MarkerItem[] = [];
  /** The response entry of each item, whose code is set once its marker is written and committed. */
  const pending: { errorCode: number }[] = [];
  const markers: WriteTxnMarkersResponseWritableTxnMarkerResult[] = request.markers.map((marker) => ({
    producerId: marker.producerId,
    topics: marker.topics.map((topicMarker) => {
      const topic = deps.topics.get(topicMarker.name);
      return {
        name: topicMarker.name,
        partitions: topicMarker.partitionIndexes.map((partitionIndex) => {
          const entry = { partitionIndex, errorCode: ErrorCode.NONE as number };
          if (!topic || partitionIndex < 0 || partitionIndex >= topic.partitions.length) entry.errorCode = ErrorCode.UNKNOWN_TOPIC_OR_PARTITION;
          else entry.errorCode = deps.replication.checkLeader(topicMarker.name, partitionIndex);
          if (entry.errorCode !== ErrorCode.NONE) return entry;
          pending.push(entry);
          items.push({
            topic: topicMarker.name,
            partition: partitionIndex,
            producerId: marker.producerId,
            producerEpoch: marker.producerEpoch,
            coordinatorEpoch: marker.coordinatorEpoch,
            commit: marker.transactionResult,
            leaderEpoch: topic!.partitions[partitionIndex]!.leaderEpoch,
          });
          return entry;
        }),
      };
    }),
  }));
  if (items.length === 0) return { markers };

  let results: ProduceResult[];
  try {
    results = await deps.partitions.appendMarker(items);
  } catch (error) {
    deps.log?.(`writing transaction markers failed: ${error instanceof Error ? error.message : String(error)}`);
    results = items.map(() => ({ errorCode: ErrorCode.KAFKA_STORAGE_ERROR, baseOffset: -1, lastOffset: -1, logAppendTimeMs: -1, logStartOffset: -1, logEndOffset: -1 }));
  }
  // acks=all: the high watermark must pass the marker (the LSO moves with it and wakes read_committed long polls).
  const appended: ProduceItem[] = items.map((item) => ({ topic: item.topic, partition: item.partition, records: new Uint8Array(0), leaderEpoch: item.leaderEpoch }));
  const committed = await deps.replication.afterLeaderAppend(appended, results, -1, deps.commitTimeoutMs ?? DEFAULT_MARKER_COMMIT_TIMEOUT_MS);
  for (let index = 0; index < items.length; index++) {
    const errorCode = results[index]!.errorCode !== ErrorCode.NONE ? results[index]!.errorCode : committed[index]!;
    pending[index]!.errorCode = errorCode;
    if (errorCode !== ErrorCode.NONE || !deps.onMarkerWritten) continue;
    const item = items[index]!;
    try {
      await deps.onMarkerWritten(item.topic, item.partition, item.producerId, item.commit);
    } catch (error) {
      deps.log?.(`after the marker on ${item.topic}-${item.partition}: ${error instanceof Error ? error.message : String(error)}`);
    }
  }
  return { markers };
}
