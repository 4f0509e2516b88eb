// ConsumerGroupHeartbeat (KIP-848): the one request of the next-generation consumer group protocol; the
// member joins (epoch 0), heartbeats, acknowledges revocations by what it says it owns, and leaves (-1, or -2
// for a static member). The coordinator's state machine is in group/consumer-group/.
// v0: the coordinator makes up the member id; v1 (KIP-1082): the client does, and may subscribe by regex.
import { Apis } from "../protocol/generated/index.ts";
import type { ConsumerGroupHeartbeatResponse } from "../protocol/generated/consumer-group-heartbeat.ts";
import { defineHandler, type Reply } from "./handler.ts";
import { AclOperation, canGroup, canTopic } from "./authorize.ts";
import { ErrorCode } from "../protocol/errors.ts";
import { clientHostOf } from "./join-group.ts";

export const consumerGroupHeartbeatHandler = defineHandler(Apis.ConsumerGroupHeartbeat, {
  minVersion: 0,
  maxVersion: 1,
  async handle(context, request): Promise<Reply<ConsumerGroupHeartbeatResponse>> {
    const refuse = (errorCode: number) => ({ throttleTimeMs: 0, errorCode, errorMessage: null, memberId: null, memberEpoch: -1, heartbeatIntervalMs: 0, assignment: null });
    if (!canGroup(context, AclOperation.READ, request.groupId)) return refuse(ErrorCode.GROUP_AUTHORIZATION_FAILED);
    // Kafka: DESCRIBE on every subscribed topic name (a regex is matched against the topics only).
    if (request.subscribedTopicNames?.some((name) => !canTopic(context, AclOperation.DESCRIBE, name))) return refuse(ErrorCode.TOPIC_AUTHORIZATION_FAILED);
    // A live share group (KIP-932) keeps its id (Kafka: "Group X is not a consumer group").
    if (context.shareGroups?.coordinator.has(request.groupId)) return refuse(ErrorCode.GROUP_ID_NOT_FOUND);
    // Answered once what the heartbeat changed is in __consumer_offsets.
    const result = await context.groups.consumerProtocol.heartbeat({
      apiVersion: context.apiVersion,
      groupId: request.groupId,
      memberId: request.memberId,
      memberEpoch: request.memberEpoch,
      instanceId: request.instanceId,
      rackId: request.rackId,
      rebalanceTimeoutMs: request.rebalanceTimeoutMs,
      subscribedTopicNames: request.subscribedTopicNames,
      subscribedTopicRegex: request.subscribedTopicRegex,
      serverAssignor: request.serverAssignor,
      // Copies: the request's buffers are views of the socket read.
      topicPartitions: request.topicPartitions?.map((entry) => ({ topicId: new Uint8Array(entry.topicId), partitions: [...entry.partitions] })) ?? null,
      clientId: context.clientId ?? "",
      clientHost: clientHostOf(context),
    });
    return { throttleTimeMs: 0, ...result };
  },
});
