// The handler table: one entry per API this broker implements. ApiVersions advertises exactly these
// ranges (docs/kafka-clients.md §5: the set every real client negotiated against).
import { alterConfigsHandler, incrementalAlterConfigsHandler } from "./alter-configs.ts";
import { apiVersionsHandler } from "./api-versions.ts";
import { createPartitionsHandler } from "./create-partitions.ts";
import { createTopicsHandler } from "./create-topics.ts";
import { deleteRecordsHandler } from "./delete-records.ts";
import { deleteTopicsHandler } from "./delete-topics.ts";
import { describeClusterHandler } from "./describe-cluster.ts";
import { describeTopicPartitionsHandler } from "./describe-topic-partitions.ts";
import { describeConfigsHandler } from "./describe-configs.ts";
import { describeLogDirsHandler } from "./describe-log-dirs.ts";
import { electLeadersHandler } from "./elect-leaders.ts";
import { fetchHandler } from "./fetch.ts";
import { findCoordinatorHandler } from "./find-coordinator.ts";
import { advertisedApis, type RegisteredHandler } from "./handler.ts";
import { initProducerIdHandler } from "./init-producer-id.ts";
import { listOffsetsHandler } from "./list-offsets.ts";
import { metadataHandler } from "./metadata.ts";
import { offsetForLeaderEpochHandler } from "./offset-for-leader-epoch.ts";
import { alterPartitionReassignmentsHandler, listPartitionReassignmentsHandler } from "./partition-reassignments.ts";
import { produceHandler } from "./produce.ts";
import { deleteGroupsHandler } from "./delete-groups.ts";
import { describeGroupsHandler } from "./describe-groups.ts";
import { heartbeatHandler } from "./heartbeat.ts";
import { joinGroupHandler } from "./join-group.ts";
import { leaveGroupHandler } from "./leave-group.ts";
import { listGroupsHandler } from "./list-groups.ts";
import { offsetCommitHandler } from "./offset-commit.ts";
import { offsetDeleteHandler } from "./offset-delete.ts";
import { offsetFetchHandler } from "./offset-fetch.ts";
import { syncGroupHandler } from "./sync-group.ts";
import { createAclsHandler } from "./create-acls.ts";
import { deleteAclsHandler } from "./delete-acls.ts";
import { describeAclsHandler } from "./describe-acls.ts";
import { saslHandshakeHandler } from "./sasl-handshake.ts";
import { saslAuthenticateHandler } from "./sasl-authenticate.ts";
import { describeUserScramCredentialsHandler } from "./describe-user-scram-credentials.ts";
import { alterUserScramCredentialsHandler } from "./alter-user-scram-credentials.ts";
import { describeClientQuotasHandler } from "./describe-client-quotas.ts";
import { alterClientQuotasHandler } from "./alter-client-quotas.ts";
import { addPartitionsToTxnHandler } from "./add-partitions-to-txn.ts";
import { addOffsetsToTxnHandler } from "./add-offsets-to-txn.ts";
import { endTxnHandler } from "./end-txn.ts";
import { txnOffsetCommitHandler } from "./txn-offset-commit.ts";
import { describeTransactionsHandler } from "./describe-transactions.ts";
import { listTransactionsHandler } from "./list-transactions.ts";
import { writeTxnMarkersHandler } from "./write-txn-markers.ts";
import { describeProducersHandler } from "./describe-producers.ts";
import { consumerGroupHeartbeatHandler } from "./consumer-group-heartbeat.ts";
import { consumerGroupDescribeHandler } from "./consumer-group-describe.ts";
import { shareGroupHeartbeatHandler } from "./share-group-heartbeat.ts";
import { shareGroupDescribeHandler } from "./share-group-describe.ts";
import { shareFetchHandler } from "./share-fetch.ts";
import { shareAcknowledgeHandler } from "./share-acknowledge.ts";
import { readShareGroupStateHandler } from "./read-share-group-state.ts";
import { writeShareGroupStateHandler } from "./write-share-group-state.ts";
import { getTelemetrySubscriptionsHandler } from "./get-telemetry-subscriptions.ts";
import { pushTelemetryHandler } from "./push-telemetry.ts";
import { listClientMetricsResourcesHandler } from "./list-client-metrics-resources.ts";

const all: RegisteredHandler[] = [
  produceHandler,
  fetchHandler,
  listOffsetsHandler,
  metadataHandler,
  findCoordinatorHandler,
  apiVersionsHandler,
  createTopicsHandler,
  deleteTopicsHandler,
  initProducerIdHandler,
  describeConfigsHandler,
  createPartitionsHandler,
  describeClusterHandler,
  describeTopicPartitionsHandler,
  offsetForLeaderEpochHandler,
  alterConfigsHandler,
  incrementalAlterConfigsHandler,
  deleteRecordsHandler,
  alterPartitionReassignmentsHandler,
  listPartitionReassignmentsHandler,
  describeLogDirsHandler,
  electLeadersHandler,
  // Consumer groups (issue 4): group/ holds the coordinator.
  joinGroupHandler,
  syncGroupHandler,
  heartbeatHandler,
  leaveGroupHandler,
  offsetCommitHandler,
  offsetFetchHandler,
  offsetDeleteHandler,
  describeGroupsHandler,
  listGroupsHandler,
  deleteGroupsHandler,
  consumerGroupHeartbeatHandler,
  consumerGroupDescribeHandler,
  // Share groups (KIP-932, issue 14): group/share-group/ and share/.
  shareGroupHeartbeatHandler,
  shareGroupDescribeHandler,
  shareFetchHandler,
  shareAcknowledgeHandler,
  // The share coordinator's side, between brokers (KIP-932 persister).
  readShareGroupStateHandler,
  writeShareGroupStateHandler,
  // Client telemetry (KIP-714, issue 14): telemetry/.
  getTelemetrySubscriptionsHandler,
  pushTelemetryHandler,
  listClientMetricsResourcesHandler,
  // ACLs (issue 10): security/acl/.
  describeAclsHandler,
  createAclsHandler,
  deleteAclsHandler,
  // SASL and SCRAM users (issue 10): security/sasl/.
  saslHandshakeHandler,
  saslAuthenticateHandler,
  describeUserScramCredentialsHandler,
  alterUserScramCredentialsHandler,
  // Client quotas (issue 10, KIP-546): security/quotas/.
  describeClientQuotasHandler,
  alterClientQuotasHandler,
  // Transactions, the partition leader's side (issue 11): transactions/markers.ts.
  writeTxnMarkersHandler,
  describeProducersHandler,
  // Transactions, the coordinator's side (issue 11): transactions/transaction-coordinator.ts.
  addPartitionsToTxnHandler,
  addOffsetsToTxnHandler,
  endTxnHandler,
  txnOffsetCommitHandler,
  describeTransactionsHandler,
  listTransactionsHandler,
];

export const handlers: ReadonlyMap<number, RegisteredHandler> = new Map(all.map((handler) => [handler.apiKey, handler]));

/** What ApiVersions advertises: exactly the table above. */
export const advertised = advertisedApis(all);
