// JoinGroup: a member joins (or rejoins) a consumer group; the response is parked until the rebalance
// completes (group/group-coordinator.ts). v4+ without group.instance.id gets MEMBER_ID_REQUIRED first
// (KIP-394); v5+ carries group.instance.id (static membership, KIP-345).
import { Apis } from "../protocol/generated/index.ts";
import type { JoinGroupResponse } from "../protocol/generated/join-group.ts";
import { defineHandler, type Reply } from "./handler.ts";
import type { RequestContext } from "./context.ts";
import { AclOperation, canGroup } from "./authorize.ts";
import { ErrorCode } from "../protocol/errors.ts";

const FIRST_VERSION_WITH_MEMBER_ID_REQUIRED = 4;

/** Kafka reports a member's host as "/" + its address. */
export function clientHostOf(context: RequestContext): string {
  return `/${context.connection.remoteIp ?? "unknown"}`;
}

export const joinGroupHandler = defineHandler(Apis.JoinGroup, {
  minVersion: 0,
  maxVersion: 6,
  async handle(context, request): Promise<Reply<JoinGroupResponse>> {
    const { apiVersion } = context;
    if (!canGroup(context, AclOperation.READ, request.groupId)) {
      return { throttleTimeMs: 0, errorCode: ErrorCode.GROUP_AUTHORIZATION_FAILED, generationId: -1, protocolName: "", leader: "", memberId: request.memberId, members: [] };
    }
    // A live share group (KIP-932) keeps its id: Kafka answers a classic join of another group type so.
    if (context.shareGroups?.coordinator.has(request.groupId)) {
      return { throttleTimeMs: 0, errorCode: ErrorCode.INCONSISTENT_GROUP_PROTOCOL, generationId: -1, protocolName: "", leader: "", memberId: request.memberId, members: [] };
    }
    const result = await context.groups.join({
      groupId: request.groupId,
      memberId: request.memberId,
      groupInstanceId: request.groupInstanceId,
      requireKnownMemberId: apiVersion >= FIRST_VERSION_WITH_MEMBER_ID_REQUIRED && request.groupInstanceId === null,
      clientId: context.clientId ?? "",
      clientHost: clientHostOf(context),
      // v0 has no rebalance timeout: the session timeout serves for both (Kafka).
      rebalanceTimeoutMs: Math.max(0, apiVersion >= 1 ? request.rebalanceTimeoutMs : request.sessionTimeoutMs),
      sessionTimeoutMs: request.sessionTimeoutMs,
      protocolType: request.protocolType,
      // Copies: the request's bytes are views of the socket read, and members keep their metadata.
      protocols: request.protocols.map((protocol) => ({ name: protocol.name, metadata: new Uint8Array(protocol.metadata) })),
    });
    return {
      throttleTimeMs: 0,
      errorCode: result.errorCode,
      generationId: result.generationId,
      protocolName: result.protocolName,
      leader: result.leader,
      memberId: result.memberId,
      members: result.members.map((member) => ({ memberId: member.memberId, groupInstanceId: member.groupInstanceId, metadata: member.metadata })),
    };
  },
});
