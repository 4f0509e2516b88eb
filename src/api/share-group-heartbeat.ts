// ShareGroupHeartbeat (KIP-932, v0: Kafka 4.0's early-access shape): a share group member joins (epoch 0; the
// coordinator makes up its member id), heartbeats, and leaves (-1). Every member is assigned every partition of
// the topics it subscribes to (Kafka's SimpleAssignor); group/share-group/ keeps the membership. A group id in
// use by a classic or consumer group is refused (GROUP_ID_NOT_FOUND, as Kafka: "not a share group").
import { Apis } from "../protocol/generated/index.ts";
import type { ShareGroupHeartbeatResponse } from "../protocol/generated/share-group-heartbeat.ts";
import { ErrorCode } from "../protocol/errors.ts";
import { defineHandler, type Reply } from "./handler.ts";
import { AclOperation, canGroup, canTopic } from "./authorize.ts";
import { clientHostOf } from "./join-group.ts";

export const shareGroupHeartbeatHandler = defineHandler(Apis.ShareGroupHeartbeat, {
  minVersion: 0,
  maxVersion: 0,
  handle(context, request): Reply<ShareGroupHeartbeatResponse> {
    const refuse = (errorCode: number, errorMessage: string | null = null) => ({ throttleTimeMs: 0, errorCode, errorMessage, memberId: null, memberEpoch: -1, heartbeatIntervalMs: 0, assignment: null });
    const shareGroups = context.shareGroups;
    if (!shareGroups) return refuse(ErrorCode.UNSUPPORTED_VERSION, "share groups are not enabled");
    if (!canGroup(context, AclOperation.READ, request.groupId)) return refuse(ErrorCode.GROUP_AUTHORIZATION_FAILED);
    if (request.subscribedTopicNames?.some((name) => !canTopic(context, AclOperation.DESCRIBE, name))) return refuse(ErrorCode.TOPIC_AUTHORIZATION_FAILED);
    // The share group coordinator is the group's coordinator (FindCoordinator key type 0), as in Kafka.
    const coordinator = context.groups.coordinatorFor(request.groupId);
    if (!coordinator) return refuse(ErrorCode.COORDINATOR_NOT_AVAILABLE);
    if (coordinator.nodeId !== context.settings.config.nodeId) return refuse(ErrorCode.NOT_COORDINATOR);
    if (!shareGroups.coordinator.has(request.groupId) && request.groupId && context.groups.offsets.describe(request.groupId).groupState !== "Dead") {
      return refuse(ErrorCode.GROUP_ID_NOT_FOUND, `Group ${request.groupId} is not a share group.`);
    }
    const result = shareGroups.coordinator.heartbeat({
      groupId: request.groupId,
      memberId: request.memberId,
      memberEpoch: request.memberEpoch,
      rackId: request.rackId,
      subscribedTopicNames: request.subscribedTopicNames,
      clientId: context.clientId ?? "",
      clientHost: clientHostOf(context),
    });
    return { throttleTimeMs: 0, ...result };
  },
});
