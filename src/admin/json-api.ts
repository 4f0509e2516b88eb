// The JSON admin API under /api/v1/ (the web console's, and scripts'): cluster, brokers, topics with their
// partitions (leader, replicas, ISR, offsets), configs, consumer groups with lag, and messages by offset or
// timestamp. Each operation uses the capabilities the Kafka handlers use and the same ACL checks.
import { AclOperation, canCluster, canGroup, canTopic } from "../api/authorize.ts";
import type { ClientConnection } from "../api/context.ts";
import { ErrorCode, KafkaError, errorName } from "../protocol/errors.ts";
import type { TopicMetadata } from "../metadata/types.ts";
import { CONSUMER_PROTOCOL_TYPE, decodeAssignment } from "../group/consumer-protocol.ts";
import type { AdminBrokerView } from "./broker-view.ts";
import { AdminRequestError, readRecords, type ReadRecord } from "./records.ts";
import { apiName } from "./metrics.ts";

export type ValueFormat = "text" | "base64" | "hex";

interface Call {
  method: string;
  /** Path segments after /api/v1/. */
  segments: string[];
  query: URLSearchParams;
  body: () => Promise<unknown>;
  connection: ClientConnection;
}

export async function handleJsonApi(view: AdminBrokerView, call: Call): Promise<Response> {
  const { method, segments } = call;
  const [resource, name, sub, subName, leaf] = segments;
  const check = { authorizer: view.services.authorizer, connection: call.connection, audit: view.services.audit };
  const topicAllowed = (operation: number, topic: string) => {
    if (!canTopic(check, operation, topic)) throw new AdminRequestError(403, `not authorized: ${topic}`, ErrorCode.TOPIC_AUTHORIZATION_FAILED);
  };
  if (resource === "cluster" && !name && method === "GET") return json(clusterInfo(view));
  if (resource === "request-latency" && !name) return requestLatency(view, call);
  if (resource === "brokers" && !name && method === "GET") return json(clusterInfo(view).brokers);
  if (resource === "topics") {
    if (!name) {
      if (method === "GET") return json(view.topics.list().filter((topic) => canTopic(check, AclOperation.DESCRIBE, topic.name, false)).map((topic) => topicSummary(view, topic)));
      if (method === "POST") {
        const body = (await call.body()) as { name?: unknown; partitions?: unknown; replicationFactor?: unknown; configs?: unknown };
        if (typeof body?.name !== "string") throw new AdminRequestError(400, "body must be {name, partitions?, replicationFactor?, configs?}");
        if (!canCluster(check, AclOperation.CREATE, false)) topicAllowed(AclOperation.CREATE, body.name);
        const created = await view.topics.createTopic({
          name: body.name,
          numPartitions: integerOr(body.partitions, -1, "partitions"),
          replicationFactor: integerOr(body.replicationFactor, -1, "replicationFactor"),
          configs: stringMap(body.configs, "configs"),
        });
        return json(topicDetail(view, created), 201);
      }
    }
    if (name) {
      const topic = view.topics.get(name);
      if (!topic) throw new AdminRequestError(404, `topic ${name} does not exist`, ErrorCode.UNKNOWN_TOPIC_OR_PARTITION);
      if (!sub && method === "GET") {
        topicAllowed(AclOperation.DESCRIBE, name);
        return json(topicDetail(view, topic));
      }
      if (!sub && method === "DELETE") {
        topicAllowed(AclOperation.DELETE, name);
        if (!view.config.deleteTopicEnable) throw new AdminRequestError(403, "delete.topic.enable is false", ErrorCode.TOPIC_DELETION_DISABLED);
        if (topic.internal) throw new AdminRequestError(403, `topic ${name} is internal`, ErrorCode.INVALID_TOPIC_EXCEPTION);
        await view.topics.deleteTopic(name);
        return json({ deleted: name });
      }
      if (sub === "configs" && method === "GET") {
        topicAllowed(AclOperation.DESCRIBE_CONFIGS, name);
        return json(view.topics.effectiveConfigs(topic));
      }
      if (sub === "configs" && (method === "PATCH" || method === "PUT")) {
        topicAllowed(AclOperation.ALTER_CONFIGS, name);
        const changes = (await call.body()) as Record<string, unknown>;
        if (typeof changes !== "object" || changes === null || Array.isArray(changes)) throw new AdminRequestError(400, "body must be an object of config name to value (null removes it)");
        const parsed: Record<string, string | null> = {};
        for (const [key, value] of Object.entries(changes)) {
          if (value !== null && typeof value !== "string" && typeof value !== "number" && typeof value !== "boolean") throw new AdminRequestError(400, `config ${key}: a string, number, boolean or null`);
          parsed[key] = value === null ? null : String(value);
        }
        // PATCH changes the named configs only (IncrementalAlterConfigs); PUT replaces them all (AlterConfigs).
        await view.topics.alterConfigs(name, parsed, method === "PATCH", false);
        return json(view.topics.effectiveConfigs(view.topics.get(name)!));
      }
      if (sub === "partitions" && !subName && method === "GET") {
        topicAllowed(AclOperation.DESCRIBE, name);
        return json(topicDetail(view, topic).partitions);
      }
      if (sub === "partitions" && !subName && method === "POST") {
        topicAllowed(AclOperation.ALTER, name);
        const body = (await call.body()) as { count?: unknown };
        await view.topics.createPartitions(name, integerOr(body?.count, NaN, "count"), false);
        return json(topicDetail(view, view.topics.get(name)!));
      }
      if (sub === "partitions" && subName !== undefined && leaf === "messages" && method === "GET") return messages(view, call, name, Number(subName));
    }
  }
  if (resource === "groups") {
    if (!name && method === "GET") {
      const listed = view.groups.offsets.list([]).groups.filter((group) => canGroup(check, AclOperation.DESCRIBE, group.groupId, false));
      return json(listed.map((group) => ({ groupId: group.groupId, state: group.groupState, protocolType: group.protocolType })));
    }
    if (name && !canGroup(check, AclOperation.DESCRIBE, name)) throw new AdminRequestError(403, `not authorized: group ${name}`, ErrorCode.GROUP_AUTHORIZATION_FAILED);
    if (name && !sub && method === "GET") return json(groupDetail(view, name));
    if (name && sub === "reset-offsets" && method === "POST") {
      if (!canGroup(check, AclOperation.READ, name)) throw new AdminRequestError(403, `not authorized: group ${name}`, ErrorCode.GROUP_AUTHORIZATION_FAILED);
      return json(await resetOffsets(view, call, name, topicAllowed));
    }
  }
  throw new AdminRequestError(404, `no ${method} /api/v1/${segments.join("/")}`);
}

function clusterInfo(view: AdminBrokerView) {
  const controllerId = view.services.cluster.controllerId();
  return {
    clusterId: view.config.clusterId,
    nodeId: view.config.nodeId,
    controllerId,
    mode: view.singleNode ? "single-node" : "cluster",
    brokers: view.services.cluster.brokers().map((broker) => ({ nodeId: broker.nodeId, host: broker.host, port: broker.port, rack: broker.rack, controller: broker.nodeId === controllerId, endpoints: broker.endpoints ?? [] })),
  };
}

function topicSummary(view: AdminBrokerView, topic: TopicMetadata) {
  const partitions = topic.partitions;
  return {
    name: topic.name,
    topicId: topic.topicId,
    internal: topic.internal,
    partitions: partitions.length,
    replicationFactor: partitions[0]?.replicas.length ?? 0,
    underReplicatedPartitions: partitions.filter((p) => p.leader >= 0 && p.isr.length < p.replicas.length).length,
    offlinePartitions: partitions.filter((p) => p.leader < 0).length,
  };
}

function topicDetail(view: AdminBrokerView, topic: TopicMetadata) {
  return {
    ...topicSummary(view, topic),
    configs: topic.configs,
    partitions: topic.partitions.map((assignment) => {
      const runtime = view.topics.runtime(topic.name, assignment.partition);
      return {
        partition: assignment.partition,
        leader: assignment.leader,
        leaderEpoch: assignment.leaderEpoch,
        replicas: assignment.replicas,
        isr: assignment.isr,
        offlineReplicas: view.services.cluster.offlineReplicas(assignment.replicas),
        underReplicated: assignment.leader >= 0 && assignment.isr.length < assignment.replicas.length,
        // Offsets as this broker knows them (its own replica): null where it holds none.
        logStartOffset: runtime?.logStartOffset ?? null,
        highWatermark: runtime?.highWatermark ?? null,
        logEndOffset: runtime?.logEndOffset ?? null,
      };
    }),
  };
}

function groupDetail(view: AdminBrokerView, groupId: string) {
  const described = view.groups.offsets.describe(groupId);
  if (described.errorCode !== ErrorCode.NONE) throw new AdminRequestError(described.errorCode === ErrorCode.NOT_COORDINATOR ? 421 : 503, `group ${groupId}: ${errorName(described.errorCode)}`, described.errorCode);
  const group = view.groups.groups.get(groupId);
  const offsets = [...(group?.offsets ?? new Map())].map(([key, committed]) => {
    const separator = key.lastIndexOf("\u0000");
    const topic = key.slice(0, separator);
    const partition = Number(key.slice(separator + 1));
    const highWatermark = view.topics.runtime(topic, partition)?.highWatermark ?? null;
    return { topic, partition, committedOffset: committed.offset, highWatermark, lag: highWatermark === null ? null : Math.max(0, highWatermark - committed.offset), metadata: committed.metadata };
  });
  return {
    groupId,
    state: described.groupState,
    protocolType: described.protocolType,
    protocol: described.protocolData,
    members: described.members.map((member) => ({
      memberId: member.memberId,
      groupInstanceId: member.groupInstanceId,
      clientId: member.clientId,
      clientHost: member.clientHost,
      // The partitions a consumer group's member is assigned (the console's Members table); null for other protocols.
      assignment: described.protocolType === CONSUMER_PROTOCOL_TYPE ? (decodeAssignment(member.memberAssignment)?.assignedPartitions.map(({ topic, partitions }) => ({ topic, partitions })) ?? null) : null,
    })),
    offsets,
    totalLag: offsets.reduce((sum, row) => sum + (row.lag ?? 0), 0),
  };
}

/** Kafka's `--reset-offsets` for an empty group: to earliest, latest, a timestamp or an offset, per partition of one topic. */
async function resetOffsets(view: AdminBrokerView, call: Call, groupId: string, topicAllowed: (operation: number, topic: string) => void) {
  const body = (await call.body()) as { topic?: unknown; partitions?: unknown; to?: unknown };
  if (typeof body?.topic !== "string" || (body.to !== "earliest" && body.to !== "latest" && typeof body.to !== "number" && typeof (body.to as { timestamp?: unknown })?.timestamp !== "number"))
    throw new AdminRequestError(400, 'body must be {topic, partitions?: number[], to: "earliest" | "latest" | offset | {timestamp}}');
  topicAllowed(AclOperation.READ, body.topic);
  const topic = view.topics.get(body.topic);
  if (!topic) throw new AdminRequestError(404, `topic ${body.topic} does not exist`, ErrorCode.UNKNOWN_TOPIC_OR_PARTITION);
  const group = view.groups.groups.get(groupId);
  if (group && !group.is("Empty")) throw new AdminRequestError(409, `group ${groupId} is ${group.state}: offsets are reset only while it has no members`, ErrorCode.NON_EMPTY_GROUP);
  const partitions = Array.isArray(body.partitions) ? body.partitions.map((p) => integerOr(p, NaN, "partitions")) : topic.partitions.map((p) => p.partition);
  for (const partition of partitions) if (partition < 0 || partition >= topic.partitions.length) throw new AdminRequestError(404, `topic ${body.topic} has no partition ${partition}`, ErrorCode.UNKNOWN_TOPIC_OR_PARTITION);
  const keys = partitions.map((partition) => ({ topic: body.topic as string, partition }));
  const offsets = await view.services.partitions.offsets(keys);
  let targets: number[];
  if (typeof body.to === "object" && body.to !== null) {
    const found = await view.services.partitions.offsetForTimestamp(keys.map((key) => ({ ...key, timestampMs: (body.to as { timestamp: number }).timestamp })));
    targets = found.map((result, index) => (result.offset >= 0 ? result.offset : offsets[index]!.logEndOffset));
  } else {
    targets = offsets.map((result) => (body.to === "earliest" ? result.logStartOffset : body.to === "latest" ? result.logEndOffset : Math.min(Math.max(body.to as number, result.logStartOffset), result.logEndOffset)));
  }
  const errors = await view.groups.offsets.commit({
    groupId,
    memberId: "",
    groupInstanceId: null,
    generationId: -1,
    partitions: keys.map((key, index) => ({ ...key, offset: targets[index]!, leaderEpoch: -1, metadata: null })),
  });
  return keys.map((key, index) => ({ ...key, offset: targets[index]!, error: errors[index] === ErrorCode.NONE ? null : errorName(errors[index]!) }));
}

async function messages(view: AdminBrokerView, call: Call, topic: string, partition: number): Promise<Response> {
  const { query } = call;
  const format = valueFormat(query.get("format"));
  const limit = Math.min(boundedInteger(query.get("limit"), 100, "limit"), Number(view.config.properties["admin.consume.max.records"] ?? 1000));
  const maxBytes = Number(view.config.properties["admin.consume.max.bytes"] ?? 4_194_304);
  let offset: number;
  const timestamp = query.get("timestamp");
  if (query.get("offset") !== null) offset = boundedInteger(query.get("offset"), 0, "offset");
  else if (timestamp !== null) {
    const [found] = await view.services.partitions.offsetForTimestamp([{ topic, partition, timestampMs: boundedInteger(timestamp, 0, "timestamp") }]);
    if (!found || found.errorCode !== ErrorCode.NONE) throw new AdminRequestError(404, `no offset for that timestamp in ${topic}-${partition}`, found?.errorCode ?? ErrorCode.UNKNOWN_TOPIC_OR_PARTITION);
    offset = found.offset;
  } else {
    // Latest: the last `limit` records before the high watermark.
    const runtime = view.topics.runtime(topic, partition);
    offset = Math.max(runtime?.logStartOffset ?? 0, (runtime?.highWatermark ?? 0) - limit);
  }
  const read = offset < 0 ? { records: [], highWatermark: view.topics.runtime(topic, partition)?.highWatermark ?? -1, logStartOffset: -1 } : await readRecords({ services: view.services, connection: call.connection, traffic: view.traffic, decompressedMaxBytes: view.config.messageDecompressedMaxBytes }, topic, partition, offset, limit, maxBytes);
  return json({ topic, partition, highWatermark: read.highWatermark, logStartOffset: read.logStartOffset, messages: read.records.map((record) => formatRecord(record, format)) });
}

export function formatRecord(record: ReadRecord, format: ValueFormat) {
  return {
    offset: record.offset,
    timestamp: record.timestampMs,
    key: encodeBytes(record.key, format),
    value: encodeBytes(record.value, format),
    headers: record.headers.map((header) => ({ key: header.key, value: encodeBytes(header.value, format) })),
  };
}

const decoder = new TextDecoder();

export function encodeBytes(bytes: Uint8Array | null, format: ValueFormat): string | null {
  if (bytes === null) return null;
  if (format === "base64") return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString("base64");
  if (format === "hex") return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString("hex");
  return decoder.decode(bytes);
}

export function valueFormat(value: string | null): ValueFormat {
  if (value === null || value === "text") return "text";
  if (value === "base64" || value === "hex") return value;
  throw new AdminRequestError(400, `format must be text, base64 or hex, not ${value}`);
}

export function boundedInteger(value: string | null, fallback: number, name: string): number {
  if (value === null || value === "") return fallback;
  if (!/^-?\d{1,16}$/.test(value)) throw new AdminRequestError(400, `${name} must be an integer`);
  return Number(value);
}

function integerOr(value: unknown, fallback: number, name: string): number {
  if (value === undefined) {
    if (Number.isNaN(fallback)) throw new AdminRequestError(400, `${name} is required`);
    return fallback;
  }
  if (typeof value !== "number" || !Number.isInteger(value)) throw new AdminRequestError(400, `${name} must be an integer`);
  return value;
}

function stringMap(value: unknown, name: string): Record<string, string> {
  if (value === undefined) return {};
  if (typeof value !== "object" || value === null || Array.isArray(value)) throw new AdminRequestError(400, `${name} must be an object of strings`);
  return Object.fromEntries(Object.entries(value).map(([key, entry]) => [key, String(entry)]));
}

/**
 * GET: per API, the stage timings of its slowest requests since the last reset (`?share=0.01`, the slowest 1%,
 * by default), and the stage histograms' scope; DELETE: reset (a benchmark point starts clean). DESCRIBE and
 * ALTER on the cluster, as for the broker's configs.
 */
function requestLatency(view: AdminBrokerView, call: Call): Response {
  const check = { authorizer: view.services.authorizer, connection: call.connection, audit: view.services.audit };
  const slowest = view.traffic.slowest;
  if (call.method === "GET") {
    if (!canCluster(check, AclOperation.DESCRIBE)) throw new AdminRequestError(403, "not authorized: DESCRIBE on the cluster", ErrorCode.CLUSTER_AUTHORIZATION_FAILED);
    const share = Number(call.query.get("share") ?? 0.01);
    if (!(share > 0 && share <= 1)) throw new AdminRequestError(400, "share must be a number in (0, 1]");
    const apis = slowest.report(share).map((report) => ({ ...report, api: apiName(report.api) }));
    return json({ since: new Date(slowest.sinceMs).toISOString(), share, kept: slowest.capacity, apis });
  }
  if (call.method === "DELETE") {
    if (!canCluster(check, AclOperation.ALTER)) throw new AdminRequestError(403, "not authorized: ALTER on the cluster", ErrorCode.CLUSTER_AUTHORIZATION_FAILED);
    slowest.reset();
    return json({ since: new Date(slowest.sinceMs).toISOString() });
  }
  throw new AdminRequestError(405, `${call.method} is not allowed on /api/v1/request-latency`);
}

export function json(body: unknown, status = 200): Response {
  return new Response(JSON.stringify(body), { status, headers: { "content-type": "application/json" } });
}

/** A KafkaError from the internals (a bad topic name, a config out of bounds) as the HTTP answer. */
export function errorResponse(error: unknown): Response {
  if (error instanceof AdminRequestError) return json({ error_code: error.status, kafka_error: error.errorCode === ErrorCode.NONE ? null : errorName(error.errorCode), message: error.message }, error.status);
  if (error instanceof KafkaError) return json({ error_code: 400, kafka_error: errorName(error.errorCode), message: error.message }, 400);
  return json({ error_code: 500, message: error instanceof Error ? error.message : String(error) }, 500);
}
