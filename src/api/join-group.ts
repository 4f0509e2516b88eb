// JoinGroup: a member joins (or rejoins) a consumer group; the response is parked until the rebalance
// completes (group/group-coordinator.ts). v4+ without group.instance.id gets MEMBER_ID_REQUIRED first
// (KIP-394); v5+ carries group.instance.id (static membership, KIP-345); v6 is flexible; v7 returns the
// protocol type (protocol type and name are null on errors, as Kafka answers); v8 carries the client's reason
// (KIP-800, logged); v9 lets a static leader rejoining a stable group learn it leads with skipAssignment
// (KIP-814) instead of being handed the old leader's id.
import { Apis } from "../protocol/generated/index.ts";
import type { JoinGroupResponse } from "../protocol/generated/join-group.ts";
import { defineHandler, type Reply } from "./handler.ts";
import type { RequestContext } from "./context.ts";
import { AclOperation, canGroup } from "./authorize.ts";
import { ErrorCode } from "../protocol/errors.ts";

const FIRST_VERSION_WITH_MEMBER_ID_REQUIRED = 4;
const FIRST_VERSION_WITH_NULLABLE_PROTOCOL_NAME = 7;
const FIRST_VERSION_WITH_SKIP_ASSIGNMENT = 9;

/** Kafka reports a member's host as "/" + its address. */
export function clientHostOf(context: RequestContext): string {
  return `/${context.connection.remoteIp ?? "unknown"}`;
}

export const joinGroupHandler = defineHandler(Apis.JoinGroup, {
  minVersion: 0,
  maxVersion: 9,
  async handle(context, request): Promise<Reply<JoinGroupResponse>> {
    const { apiVersion } = context;
    const noProtocolName = apiVersion >= FIRST_VERSION_WITH_NULLABLE_PROTOCOL_NAME ? null : "";
    const failed = (errorCode: number): Reply<JoinGroupResponse> => ({ throttleTimeMs: 0, errorCode, generationId: -1, protocolType: null, protocolName: noProtocolName, leader: "", skipAssignment: false, memberId: request.memberId, members: [] });
    if (!canGroup(context, AclOperation.READ, request.groupId)) return failed(ErrorCode.GROUP_AUTHORIZATION_FAILED);
    // A live share group (KIP-932) keeps its id: Kafka answers a classic join of another group type so.
    if (context.shareGroups?.coordinator.has(request.groupId)) return failed(ErrorCode.INCONSISTENT_GROUP_PROTOCOL);
    const result = await context.groups.join({
      groupId: request.groupId,
      memberId: request.memberId,
      groupInstanceId: request.groupInstanceId,
      requireKnownMemberId: apiVersion >= FIRST_VERSION_WITH_MEMBER_ID_REQUIRED && request.groupInstanceId === null,
      supportSkippingAssignment: apiVersion >= FIRST_VERSION_WITH_SKIP_ASSIGNMENT,
      clientId: context.clientId ?? "",
      clientHost: clientHostOf(context),
      // v0 has no rebalance timeout: the session timeout serves for both (Kafka).
      rebalanceTimeoutMs: Math.max(0, apiVersion >= 1 ? request.rebalanceTimeoutMs : request.sessionTimeoutMs),
      sessionTimeoutMs: request.sessionTimeoutMs,
      protocolType: request.protocolType,
      // Copies: the request's bytes are views of the socket read, and members keep their metadata.
      protocols: request.protocols.map((protocol) => ({ name: protocol.name, metadata: new Uint8Array(protocol.metadata) })),
      reason: request.reason,
    });
    const joined = result.errorCode === ErrorCode.NONE;
    return {
      throttleTimeMs: 0,
      errorCode: result.errorCode,
      generationId: result.generationId,
      // A successful join matched the group's protocol type, so the request's is the group's.
      protocolType: joined ? request.protocolType : null,
      protocolName: joined ? result.protocolName : noProtocolName,
      leader: result.leader,
      skipAssignment: result.skipAssignment ?? false,
      memberId: result.memberId,
      members: result.members.map((member) => ({ memberId: member.memberId, groupInstanceId: member.groupInstanceId, metadata: member.metadata })),
    };
  },
});
