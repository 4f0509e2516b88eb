// What ShareFetch and ShareAcknowledge check before touching any share partition (KIP-932): share groups are
// on, the principal may READ the group and every topic the request names. An id no topic has is left to the
// partition answers (UNKNOWN_TOPIC_ID there), as Kafka does.
import { ErrorCode } from "../protocol/errors.ts";
import type { RequestContext } from "./context.ts";
import { AclOperation, canGroup, canTopic } from "./authorize.ts";

export interface ShareRefusal {
  errorCode: number;
  errorMessage: string | null;
}

export function shareRequestRefusal(context: RequestContext, request: { groupId: string | null; topics: readonly { topicId: Uint8Array }[] }): ShareRefusal | null {
  if (!context.shareGroups) return { errorCode: ErrorCode.UNSUPPORTED_VERSION, errorMessage: "share groups are not enabled" };
  if (request.groupId && !canGroup(context, AclOperation.READ, request.groupId)) return { errorCode: ErrorCode.GROUP_AUTHORIZATION_FAILED, errorMessage: null };
  for (const topic of request.topics) {
    const name = context.topics.getById(topic.topicId)?.name;
    if (name && !canTopic(context, AclOperation.READ, name)) return { errorCode: ErrorCode.TOPIC_AUTHORIZATION_FAILED, errorMessage: null };
  }
  return null;
}
