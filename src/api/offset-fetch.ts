// OffsetFetch: committed offsets of a group (v0-7) or of several groups (v8, the groups array). A partition
// without a commit answers offset -1 and empty metadata; null topics (v2+) means every committed partition.
// v0-1 have no top-level error: a coordinator error goes on every requested partition. v0 (offsets in
// ZooKeeper in Kafka) is no longer served, as in Kafka 4.0 (KIP-896): kafka-python sends v1, kafkajs v4.
// v9 (KIP-848) adds the member id and epoch of a consumer-protocol member: UNKNOWN_MEMBER_ID /
// STALE_MEMBER_EPOCH when they are not current.
import { ErrorCode } from "../protocol/errors.ts";
import { Apis } from "../protocol/generated/index.ts";
import type { OffsetFetchResponse } from "../protocol/generated/offset-fetch.ts";
import { defineHandler, type Reply } from "./handler.ts";
import { AclOperation, canGroup, canTopic } from "./authorize.ts";
import type { RequestContext } from "./context.ts";
import type { FetchingMember } from "../group/group-offsets.ts";

const FIRST_TOP_LEVEL_ERROR_VERSION = 2;
const FIRST_GROUPS_ARRAY_VERSION = 8;

/** DESCRIBE on the group, then on each topic: a listing of every topic leaves refused ones out, named ones are answered TOPIC_AUTHORIZATION_FAILED. */
function authorizedFetch(context: RequestContext, groupId: string, topics: { name: string; partitions: number[] }[] | null, requireStable: boolean, member: FetchingMember | null = null) {
  if (!canGroup(context, AclOperation.DESCRIBE, groupId)) return { errorCode: ErrorCode.GROUP_AUTHORIZATION_FAILED, topics: [] };
  const fetched = context.groups.offsets.fetch(groupId, topics, requireStable, member);
  return {
    errorCode: fetched.errorCode,
    topics: fetched.topics
      .filter((topic) => topics !== null || canTopic(context, AclOperation.DESCRIBE, topic.name, false))
      .map((topic) =>
        canTopic(context, AclOperation.DESCRIBE, topic.name)
          ? topic
          : { ...topic, partitions: topic.partitions.map((partition) => ({ ...partition, committedOffset: -1, committedLeaderEpoch: -1, metadata: "", errorCode: ErrorCode.TOPIC_AUTHORIZATION_FAILED })) },
      ),
  };
}

export const offsetFetchHandler = defineHandler(Apis.OffsetFetch, {
  minVersion: 1,
  maxVersion: 9,
  handle(context, request): Reply<OffsetFetchResponse> {
    const toQuery = (topics: { name: string; partitionIndexes: number[] }[] | null) => topics?.map((topic) => ({ name: topic.name, partitions: topic.partitionIndexes })) ?? null;
    if (context.apiVersion >= FIRST_GROUPS_ARRAY_VERSION) {
      return {
        throttleTimeMs: 0,
        groups: request.groups.map((group) => {
          // v9 (KIP-848): a member of a consumer-protocol group says who it is; its epoch must be current.
          const member = context.apiVersion >= 9 ? { memberId: group.memberId, memberEpoch: group.memberEpoch } : null;
          const fetched = authorizedFetch(context, group.groupId, toQuery(group.topics), request.requireStable, member);
          return { groupId: group.groupId, errorCode: fetched.errorCode, topics: fetched.topics };
        }),
      };
    }
    const fetched = authorizedFetch(context, request.groupId, toQuery(request.topics), request.requireStable);
    if (fetched.errorCode !== ErrorCode.NONE && context.apiVersion < FIRST_TOP_LEVEL_ERROR_VERSION) {
      const errorCode = fetched.errorCode;
      return {
        throttleTimeMs: 0,
        topics: (request.topics ?? []).map((topic) => ({
          name: topic.name,
          partitions: topic.partitionIndexes.map((partitionIndex) => ({ partitionIndex, committedOffset: -1, committedLeaderEpoch: -1, metadata: "", errorCode })),
        })),
      };
    }
    return { throttleTimeMs: 0, errorCode: fetched.errorCode, topics: fetched.topics };
  },
});
