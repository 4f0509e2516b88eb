// WriteTxnMarkers (KIP-98): a transaction coordinator asks this broker, the leader of some of the
// transaction's partitions, to write COMMIT or ABORT markers there. Inter-broker only: CLUSTER_ACTION on
// the cluster, as in Kafka. The markers are written and committed by transactions/markers.ts, the same
// function the coordinator calls for partitions led by its own broker.
import { ErrorCode } from "../protocol/errors.ts";
import { Apis } from "../protocol/generated/index.ts";
import type { WriteTxnMarkersResponse } from "../protocol/generated/write-txn-markers.ts";
import { writeTxnMarkersLocally } from "../transactions/markers.ts";
import { defineHandler, type Reply } from "./handler.ts";
import { AclOperation, canCluster } from "./authorize.ts";

export const writeTxnMarkersHandler = defineHandler(Apis.WriteTxnMarkers, {
  minVersion: 0,
  maxVersion: 1,
  async handle(context, request): Promise<Reply<WriteTxnMarkersResponse>> {
    if (!canCluster(context, AclOperation.CLUSTER_ACTION)) {
      return {
        markers: request.markers.map((marker) => ({
          producerId: marker.producerId,
          topics: marker.topics.map((topic) => ({
            name: topic.name,
            partitions: topic.partitionIndexes.map((partitionIndex) => ({ partitionIndex, errorCode: ErrorCode.CLUSTER_AUTHORIZATION_FAILED })),
          })),
        })),
      };
    }
    return writeTxnMarkersLocally(
      {
        topics: context.topics,
        partitions: context.partitions,
        replication: context.replication,
        onMarkerWritten: context.transactions?.onMarkerWritten?.bind(context.transactions),
        log: (message) => context.log(message),
      },
      request,
    );
  },
});
