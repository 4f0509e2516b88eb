// Delivers a transaction's COMMIT/ABORT markers to the leaders of its partitions (Kafka's
// TransactionMarkerChannelManager): partitions this broker leads are written locally, the others go to their
// current leader as WriteTxnMarkers requests over the inter-broker listener with its TLS/SASL settings. A
// partition whose leader is unknown or unreachable answers a retriable error; the coordinator retries it with
// backoff, so markers follow leaders that move. The same connections carry a partition leader's KIP-890
// verification to the coordinator of a transactional id on another broker (AddPartitionsToTxn v4, verifyOnly).
import { BrokerConnections } from "../client/broker-connections.ts";
import type { BrokerInfo } from "../metadata/types.ts";
import { ErrorCode } from "../protocol/errors.ts";
import { ApiKey } from "../protocol/generated/index.ts";
import type { WriteTxnMarkersRequest, WriteTxnMarkersResponse, WriteTxnMarkersResponseWritableTxnMarkerResult } from "../protocol/generated/write-txn-markers.ts";
import type { AddPartitionsToTxnResponse } from "../protocol/generated/add-partitions-to-txn.ts";
import type { InterBrokerClientSecurity } from "../security/inter-broker.ts";

const WRITE_TXN_MARKERS_VERSION = 1;
const ADD_PARTITIONS_TO_TXN_VERIFY_VERSION = 4;
const REQUEST_TIMEOUT_MS = 30_000;
const CONNECT_TIMEOUT_MS = 5000;

export interface MarkerChannelDeps {
  nodeId: number;
  /** The live brokers (their inter-broker address). */
  brokers(): BrokerInfo[];
  /** The current leader of a partition, -1 if none (or the topic is gone: -2). */
  leaderOf(topic: string, partition: number): number;
  /** Writes markers for partitions this broker leads. */
  writeLocally(request: WriteTxnMarkersRequest): Promise<WriteTxnMarkersResponse>;
  security: InterBrokerClientSecurity;
  log(message: string): void;
}

/** Where a partition's leader is not known: the topic was deleted (no marker needed) or it has no leader now. */
export const LEADER_TOPIC_GONE = -2;

export class MarkerChannel {
  private readonly connections: BrokerConnections;

  constructor(private readonly deps: MarkerChannelDeps) {
    this.connections = new BrokerConnections({
      nodeId: deps.nodeId,
      clientIdPrefix: "bunka-txn-markers",
      brokers: () => deps.brokers(),
      security: deps.security,
      requestTimeoutMs: REQUEST_TIMEOUT_MS,
      connectTimeoutMs: CONNECT_TIMEOUT_MS,
    });
  }

  /** One marker per request (what the coordinator sends); every partition of it gets one result. */
  async deliver(request: WriteTxnMarkersRequest): Promise<WriteTxnMarkersResponse> {
    const results: WriteTxnMarkersResponseWritableTxnMarkerResult[] = [];
    for (const marker of request.markers) {
      const byLeader = new Map<number, Map<string, number[]>>();
      const failed: { name: string; partitions: { partitionIndex: number; errorCode: number }[] }[] = [];
      for (const topic of marker.topics) {
        for (const partition of topic.partitionIndexes) {
          const leader = this.deps.leaderOf(topic.name, partition);
          if (leader < 0) {
            const errorCode = leader === LEADER_TOPIC_GONE ? ErrorCode.UNKNOWN_TOPIC_OR_PARTITION : ErrorCode.NOT_LEADER_OR_FOLLOWER;
            failed.push({ name: topic.name, partitions: [{ partitionIndex: partition, errorCode }] });
            continue;
          }
          let topics = byLeader.get(leader);
          if (!topics) byLeader.set(leader, (topics = new Map()));
          let ids = topics.get(topic.name);
          if (!ids) topics.set(topic.name, (ids = []));
          ids.push(partition);
        }
      }
      const answers = await Promise.all(
        [...byLeader].map(([leader, topics]) => {
          const one: WriteTxnMarkersRequest = { markers: [{ ...marker, topics: [...topics].map(([name, partitionIndexes]) => ({ name, partitionIndexes })) }] };
          return this.send(leader, one).then((response) => response.markers.flatMap((m) => m.topics));
        }),
      );
      results.push({ producerId: marker.producerId, topics: [...failed, ...answers.flat()] });
    }
    return { markers: results };
  }

  private async send(leader: number, request: WriteTxnMarkersRequest): Promise<WriteTxnMarkersResponse> {
    if (leader === this.deps.nodeId) return this.deps.writeLocally(request);
    try {
      return await this.connections.request<WriteTxnMarkersResponse>(leader, ApiKey.WriteTxnMarkers, WRITE_TXN_MARKERS_VERSION, request);
    } catch (error) {
      this.deps.log(`markers to broker ${leader} failed: ${error instanceof Error ? error.message : String(error)}`);
      // Retriable: the coordinator tries again (the leader may have moved or be restarting).
      return everyPartition(request, ErrorCode.NOT_LEADER_OR_FOLLOWER);
    }
  }

  /**
   * Asks broker `coordinator` whether the partition is in the producer's ongoing transaction (verifyOnly, KIP-890
   * part 1), or to add it (transaction version 2: the leader of a Produce v12's partition adds it, KIP-890 part 2);
   * a retriable error if it cannot be asked.
   */
  async verifyRemotely(coordinator: number, transactionalId: string, producerId: number, producerEpoch: number, topic: string, partition: number, verifyOnly = true): Promise<number> {
    try {
      const response = await this.connections.request<AddPartitionsToTxnResponse>(coordinator, ApiKey.AddPartitionsToTxn, ADD_PARTITIONS_TO_TXN_VERIFY_VERSION, {
        transactions: [{ transactionalId, producerId, producerEpoch, verifyOnly, topics: [{ name: topic, partitions: [partition] }] }],
      });
      if (response.errorCode !== ErrorCode.NONE) return response.errorCode;
      return response.resultsByTransaction[0]?.topicResults[0]?.resultsByPartition[0]?.partitionErrorCode ?? ErrorCode.UNKNOWN_SERVER_ERROR;
    } catch (error) {
      this.deps.log(`verifying a transaction with broker ${coordinator} failed: ${error instanceof Error ? error.message : String(error)}`);
      return ErrorCode.NOT_COORDINATOR;
    }
  }

  close(): void {
    this.connections.close();
  }
}

function everyPartition(request: WriteTxnMarkersRequest, errorCode: number): WriteTxnMarkersResponse {
  return {
    markers: request.markers.map((marker) => ({
      producerId: marker.producerId,
      topics: marker.topics.map((topic) => ({ name: topic.name, partitions: topic.partitionIndexes.map((partitionIndex) => ({ partitionIndex, errorCode })) })),
    })),
  };
}
