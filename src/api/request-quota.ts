// request_percentage (KIP-124): the share of the broker's request-handling time one user/client id may use,
// 100 being one thread busy the whole window, as in Kafka ("percentage of time on request handler and network
// threads"). What Bunka measures per request, from the socket thread:
// * decoding it and encoding its response;
// * for most APIs, everything from decode to the handler's answer: the handler's own work and the partition
//   worker round trip it waits for (the worker time attributed to it). Under load this also includes time the
//   socket thread spent on other connections' requests in between: Bunka has no per-request CPU clock;
// * for APIs that wait on purpose (Fetch long polls, Produce with acks=all, group rebalances, topic admin
//   waiting for leaders) only the time until the handler first yields, so a consumer idling in a long poll is
//   not charged for the wait (Kafka's purgatory time is not request time either).
// Over the quota the response carries the throttle time (at most one sample, Kafka's
// ClientRequestQuotaManager) and the connection is muted that long (KIP-219).
import { ApiKey } from "../protocol/generated/index.ts";
import type { Input } from "../protocol/codec/input.ts";
import type { RequestContext } from "./context.ts";

/**
 * APIs Kafka exempts from request quotas (KafkaApis: ApiVersions and SASL are answered with
 * sendResponseExemptThrottle; Bunka serves no controller/CLUSTER_ACTION-only API).
 */
export function exemptFromRequestQuota(apiKey: number): boolean {
  return apiKey === ApiKey.ApiVersions || apiKey === ApiKey.SaslHandshake || apiKey === ApiKey.SaslAuthenticate;
}

/** APIs whose handlers wait for something other than work (see the top of this file). */
const WAITING_APIS: ReadonlySet<number> = new Set([
  ApiKey.Fetch, ApiKey.JoinGroup, ApiKey.SyncGroup, ApiKey.CreateTopics, ApiKey.DeleteTopics, ApiKey.CreatePartitions,
]);

/**
 * Records the request's time so far and, when the client is over its request_percentage, mutes the connection
 * and answers with that throttle time unless the handler's own (byte-rate) throttle is already longer.
 */
export function applyRequestQuota<Response>(context: RequestContext, request: unknown, reply: Input<Response> | null): Input<Response> | null {
  const timer = context.requestTimer;
  if (!timer) return reply;
  if (context.apiKey === ApiKey.Fetch && fetchReplicaId(request, context.apiVersion) >= 0) {
    timer.exempt = true; // replication between brokers is a cluster action in Kafka
    return reply;
  }
  // A Produce waits for replication only with acks=all; otherwise its time is its append on the worker.
  const waits = WAITING_APIS.has(context.apiKey) || (context.apiKey === ApiKey.Produce && (request as { acks?: number }).acks === -1);
  const handlingMs = waits ? timer.syncMs : performance.now() - timer.startedMs;
  const throttleMs = context.quotas.recordRequestTime(context.connection.security.principal, context.clientId, handlingMs);
  if (throttleMs <= 0) return reply;
  const own = reply === null ? 0 : ((reply as { throttleTimeMs?: number }).throttleTimeMs ?? 0);
  if (throttleMs <= own) return reply;
  context.connection.mute(throttleMs);
  return reply === null ? null : ({ ...(reply as object), throttleTimeMs: throttleMs } as Input<Response>);
}

/** A follower's id in a Fetch: replica_id before v15, replica_state from v15 (KIP-903); -1 for a consumer. */
function fetchReplicaId(request: unknown, apiVersion: number): number {
  const fetch = request as { replicaId?: number; replicaState?: { replicaId?: number } };
  return (apiVersion >= 15 ? fetch.replicaState?.replicaId : fetch.replicaId) ?? -1;
}
