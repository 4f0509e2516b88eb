// FindCoordinator: which broker coordinates a consumer group (key type 0) or a transactional id (1).
// It must be advertised from v0: librdkafka 2.0.2 enables its group consumer and LZ4 only when
// FindCoordinator v0 is inside the advertised range (docs/kafka-clients.md §4.1); kafka-python sends v0.
// Versions: v1 key type (transactions) and throttle time; v2 no change; v3 flexible (KIP-482); v4 batched
// coordinator keys (KIP-699); v5 the client may be told TRANSACTION_ABORTABLE (KIP-890; never answered here);
// v6 key type 2, share groups (KIP-932): the share coordinator of a "group:topicId:partition" key, the leader of
// its __share_group_state partition.
import { ErrorCode } from "../protocol/errors.ts";
import { Apis } from "../protocol/generated/index.ts";
import type { FindCoordinatorResponse, FindCoordinatorResponseCoordinator } from "../protocol/generated/find-coordinator.ts";
import type { RequestContext } from "./context.ts";
import { defineHandler, type Reply } from "./handler.ts";
import { endpointFor } from "../metadata/types.ts";
import { keyPartitionFor } from "../metadata/internal-topic-store.ts";
import { SHARE_STATE_TOPIC } from "../share/share-state-records.ts";
import { AclOperation, canGroup, canTransactionalId } from "./authorize.ts";

const KEY_TYPE_GROUP = 0;
const KEY_TYPE_TRANSACTION = 1;
const KEY_TYPE_SHARE = 2;

type CoordinatorAnswer = Pick<FindCoordinatorResponseCoordinator, "key" | "nodeId" | "host" | "port" | "errorCode" | "errorMessage">;

function findCoordinator(context: RequestContext, key: string, keyType: number): CoordinatorAnswer {
  if (keyType === KEY_TYPE_SHARE) return findShareCoordinator(context, key);
  if (keyType === KEY_TYPE_GROUP && !canGroup(context, AclOperation.DESCRIBE, key)) return { key, nodeId: -1, host: "", port: -1, errorCode: ErrorCode.GROUP_AUTHORIZATION_FAILED, errorMessage: null };
  if (keyType !== KEY_TYPE_GROUP && !canTransactionalId(context, AclOperation.DESCRIBE, key)) return { key, nodeId: -1, host: "", port: -1, errorCode: ErrorCode.TRANSACTIONAL_ID_AUTHORIZATION_FAILED, errorMessage: null };
  if (keyType !== KEY_TYPE_GROUP && keyType !== KEY_TYPE_TRANSACTION) return { key, nodeId: -1, host: "", port: -1, errorCode: ErrorCode.INVALID_REQUEST, errorMessage: `unknown key type ${keyType}` };
  // The leader of the key's partition of __consumer_offsets or __transaction_state (created on first use).
  const coordinator = keyType === KEY_TYPE_GROUP ? context.groups.coordinatorFor(key) : context.transactionCoordinator.coordinatorFor(key);
  if (!coordinator) return { key, nodeId: -1, host: "", port: -1, errorCode: ErrorCode.COORDINATOR_NOT_AVAILABLE, errorMessage: null };
  // Its address on the listener this client came in on.
  const endpoint = endpointFor(coordinator, context.connection.security.listener.name);
  if (!endpoint) return { key, nodeId: -1, host: "", port: -1, errorCode: ErrorCode.COORDINATOR_NOT_AVAILABLE, errorMessage: `the coordinator has no listener ${context.connection.security.listener.name}` };
  return { key, nodeId: coordinator.nodeId, host: endpoint.host, port: endpoint.port, errorCode: ErrorCode.NONE, errorMessage: null };
}

/**
 * Key type 2 (KIP-932): "group:topicId:partition", answered with the leader of that key's __share_group_state
 * partition (Bunka's share coordinator, share/share-state-store.ts); a single node before the topic exists: itself.
 */
function findShareCoordinator(context: RequestContext, key: string): CoordinatorAnswer {
  const parts = key.split(":");
  const groupId = parts.slice(0, -2).join(":");
  if (parts.length < 3 || !groupId || !/^\d+$/.test(parts[parts.length - 1]!)) return { key, nodeId: -1, host: "", port: -1, errorCode: ErrorCode.INVALID_REQUEST, errorMessage: "a share coordinator key is group:topicId:partition" };
  if (!canGroup(context, AclOperation.DESCRIBE, groupId)) return { key, nodeId: -1, host: "", port: -1, errorCode: ErrorCode.GROUP_AUTHORIZATION_FAILED, errorMessage: null };
  if (!context.shareGroups) return { key, nodeId: -1, host: "", port: -1, errorCode: ErrorCode.INVALID_REQUEST, errorMessage: "Share groups are not enabled" };
  const stateTopic = context.topics.get(SHARE_STATE_TOPIC);
  const brokers = context.cluster.brokers();
  const leader = stateTopic ? (stateTopic.partitions[keyPartitionFor(key, stateTopic.partitions.length)]?.leader ?? -1) : brokers.length === 1 ? brokers[0]!.nodeId : -1;
  const coordinator = brokers.find((info) => info.nodeId === leader);
  if (!coordinator) return { key, nodeId: -1, host: "", port: -1, errorCode: ErrorCode.COORDINATOR_NOT_AVAILABLE, errorMessage: null };
  const endpoint = endpointFor(coordinator, context.connection.security.listener.name);
  if (!endpoint) return { key, nodeId: -1, host: "", port: -1, errorCode: ErrorCode.COORDINATOR_NOT_AVAILABLE, errorMessage: null };
  return { key, nodeId: coordinator.nodeId, host: endpoint.host, port: endpoint.port, errorCode: ErrorCode.NONE, errorMessage: null };
}

export const findCoordinatorHandler = defineHandler(Apis.FindCoordinator, {
  minVersion: 0,
  maxVersion: 6,
  handle(context, request): Reply<FindCoordinatorResponse> {
    const { apiVersion } = context;
    if (apiVersion >= 4) {
      return { throttleTimeMs: 0, coordinators: request.coordinatorKeys.map((key) => findCoordinator(context, key, request.keyType)) };
    }
    const answer = findCoordinator(context, request.key, request.keyType);
    return { throttleTimeMs: 0, errorCode: answer.errorCode, errorMessage: answer.errorMessage, nodeId: answer.nodeId, host: answer.host, port: answer.port };
  },
});
