// What armed faults do to one request, called by the dispatcher only while some fault is armed: answer with
// an injected error (at partition level where the API has partitions, running the
// handler for the partitions no fault takes), show offline partitions as leaderless, refuse the fetches of
// a replica whose replication is cut, and hold (while paused), delay, drop or truncate the encoded reply.
// Nothing here awaits before the handler runs: handlers such as Fetch ask the connection for their place in
// its reply order synchronously, at their start. Nothing a fault refuses
// reaches a log, so faults never corrupt stored data.
import type { RequestContext } from "../api/context.ts";
import type { ApiHandler, RegisteredHandler, ResponseBody } from "../api/handler.ts";
import type { MappedRecords } from "../log/segment-views.ts";
import { Reader } from "../protocol/codec/reader.ts";
import { ErrorCode } from "../protocol/errors.ts";
import { readRequestHeader } from "../protocol/generated/headers.ts";
import { ApiKey, requestHeaderVersion } from "../protocol/generated/index.ts";
import { PARTITION_APIS, TOP_LEVEL_APIS, partitionKeyOf, type Fields, type PartitionLayout } from "./api-shapes.ts";
import type { FaultInjector } from "./fault-injector.ts";

/** Fetch v13+ names topics by id (KIP-516); v15+ names a follower in replica_state (KIP-903). */
const FIRST_FETCH_VERSION_WITH_TOPIC_IDS = 13;
const FIRST_FETCH_VERSION_WITH_REPLICA_STATE = 15;

/** What faults do to one request's reply. `body` set: it replaces the handler's reply (null: none). */
export interface FaultedReply {
  body?: Promise<ResponseBody | null>;
  delayMs: number;
  drop: boolean;
  /** Bytes of the reply sent before the connection closes; -1: half. */
  truncateBytes: number | null;
}

/** Synchronous up to the handler's call, so that a request the faults let through runs as the dispatcher would run it. */
export function applyRequestFaults(faults: FaultInjector, registered: RegisteredHandler, context: RequestContext, payload: Uint8Array): FaultedReply {
  const apiKey = context.apiKey;
  const outcome: FaultedReply = { delayMs: 0, drop: false, truncateBytes: null };
  const latency = faults.take("latency", apiKey);
  if (latency) outcome.delayMs = latency.delayMs;
  if (faults.take("drop-response", apiKey)) outcome.drop = true;
  const truncate = faults.take("truncate-response", apiKey);
  if (truncate) outcome.truncateBytes = truncate.bytes ?? -1;

  const layout = PARTITION_APIS.get(apiKey);
  const offline = faults.offlinePartitions();
  if (!layout && !TOP_LEVEL_APIS.has(apiKey) && !(apiKey === ApiKey.Metadata && offline)) return outcome;
  // The dispatcher's decoded request is sealed in its closure; decoding again costs nothing while no fault is armed.
  const handler = registered as ApiHandler<Fields, Fields>;
  const reader = new Reader(payload);
  readRequestHeader(reader, requestHeaderVersion(apiKey, context.apiVersion));
  const request = handler.schema.readRequest(reader, context.apiVersion);
  const write = (reply: Fields | null): ResponseBody | null => (reply === null ? null : (writer) => handler.schema.writeResponse(writer, context.apiVersion, reply as never));

  if (layout) {
    const partitions = partitionsOf(layout, context, request);
    const error = faults.take("error", apiKey, (spec) => partitions.some(([topic, partition]) => matches(spec, topic, partition)));
    const replicaId = apiKey !== ApiKey.Fetch ? -1 : context.apiVersion >= FIRST_FETCH_VERSION_WITH_REPLICA_STATE ? ((request.replicaState as Fields).replicaId as number) : (request.replicaId as number);
    const cut = replicaId >= 0 && faults.replicationCut(replicaId);
    const failures = new Map<string, number>();
    for (const [topic, partition] of partitions) {
      const key = partitionKeyOf(topic, partition);
      if (error && matches(error, topic, partition)) failures.set(key, error.errorCode);
      else if (cut || offline?.has(key)) failures.set(key, ErrorCode.NOT_LEADER_OR_FOLLOWER);
    }
    if (failures.size > 0) outcome.body = partlyFailed(handler, layout, context, request, failures).then(write);
  } else if (TOP_LEVEL_APIS.has(apiKey)) {
    const error = faults.take("error", apiKey);
    if (error) outcome.body = Promise.resolve(write(topLevelError(apiKey, request, error.errorCode)));
  } else if (offline) {
    outcome.body = Promise.resolve(handler.handle(context, request)).then((reply) => write(reply === null ? null : leaderless(reply as Fields, offline)));
  }
  return outcome;
}

/** The encoded reply as the faults leave it: later, not at all, or cut short with the connection closed after it. */
export async function shapeFaultedReply(faults: FaultInjector, outcome: FaultedReply, connection: { close(reason?: string): void }, chunks: (Uint8Array | MappedRecords)[]): Promise<(Uint8Array | MappedRecords)[] | null> {
  await faults.waitWhilePaused();
  if (outcome.delayMs > 0) await Bun.sleep(outcome.delayMs);
  if (outcome.drop) return null;
  if (outcome.truncateBytes === null) return chunks;
  // The heap part of the reply (a fetch's file ranges come after its header): enough to cut from.
  const heap: Uint8Array[] = [];
  for (const chunk of chunks) {
    if (!(chunk instanceof Uint8Array)) break;
    heap.push(chunk);
  }
  const total = heap.reduce((sum, chunk) => sum + chunk.byteLength, 0);
  const keep = outcome.truncateBytes < 0 ? Math.floor(total / 2) : Math.min(outcome.truncateBytes, total);
  const cut = new Uint8Array(keep);
  let at = 0;
  for (const chunk of heap) {
    if (at >= keep) break;
    const part = chunk.subarray(0, keep - at);
    cut.set(part, at);
    at += part.byteLength;
  }
  // The reply is queued when dispatch resolves; closing on the next turn lets the cut reply go out first.
  setTimeout(() => connection.close("fault: truncated response"), 0);
  return [cut];
}

function matches(spec: { topic?: string; partition?: number }, topic: string, partition: number): boolean {
  return (spec.topic === undefined || spec.topic === topic) && (spec.partition === undefined || spec.partition === partition);
}

/** The topic a request's entry names: Fetch v13+ names it by id ("" when no topic has that id now). */
function topicNameOf(layout: PartitionLayout, context: RequestContext, topic: Fields): string {
  if (context.apiKey === ApiKey.Fetch && context.apiVersion >= FIRST_FETCH_VERSION_WITH_TOPIC_IDS) return context.topics.getById(topic.topicId as Uint8Array)?.name ?? "";
  return topic[layout.request.name] as string;
}

function partitionsOf(layout: PartitionLayout, context: RequestContext, request: Fields): [string, number][] {
  const result: [string, number][] = [];
  for (const topic of (request[layout.request.topics] as Fields[] | null) ?? []) {
    const name = topicNameOf(layout, context, topic);
    for (const partition of (topic[layout.request.partitions] as Fields[]) ?? []) result.push([name, partition[layout.request.index] as number]);
  }
  return result;
}

/** Runs the handler for the partitions no fault takes and adds the failed ones to its reply. */
async function partlyFailed(handler: ApiHandler<Fields, Fields>, layout: PartitionLayout, context: RequestContext, request: Fields, failures: Map<string, number>): Promise<Fields | null> {
  const { request: from, response: to } = layout;
  const restTopics = ((request[from.topics] as Fields[]) ?? [])
    .map((topic) => ({ ...topic, [from.partitions]: (topic[from.partitions] as Fields[]).filter((partition) => !failures.has(partitionKeyOf(topicNameOf(layout, context, topic), partition[from.index] as number))) }))
    .filter((topic) => (topic[from.partitions] as Fields[]).length > 0);
  const acksZero = context.apiKey === ApiKey.Produce && request.acks === 0;
  let reply: Fields | null = {};
  if (restTopics.length > 0) reply = (await handler.handle(context, { ...request, [from.topics]: restTopics })) as Fields | null;
  if (reply === null || acksZero) return null;
  const topics = [...((reply[to.topics] as Fields[] | undefined) ?? [])].map((topic) => ({ ...topic, [to.partitions]: [...((topic[to.partitions] as Fields[]) ?? [])] }));
  for (const topic of (request[from.topics] as Fields[]) ?? []) {
    const name = topicNameOf(layout, context, topic);
    const byId = context.apiKey === ApiKey.Fetch && context.apiVersion >= FIRST_FETCH_VERSION_WITH_TOPIC_IDS;
    for (const partition of topic[from.partitions] as Fields[]) {
      const index = partition[from.index] as number;
      const errorCode = failures.get(partitionKeyOf(name, index));
      if (errorCode === undefined) continue;
      let entry = topics.find((each) => (byId ? Buffer.from(each.topicId as Uint8Array).equals(Buffer.from(topic.topicId as Uint8Array)) : each[to.name] === name));
      if (!entry) topics.push((entry = { [to.name]: name, ...(context.apiKey === ApiKey.Fetch ? { topicId: topic.topicId } : {}), [to.partitions]: [] }));
      (entry[to.partitions] as Fields[]).push({ [to.index]: index, errorCode, ...layout.failed });
    }
  }
  return { ...reply, [to.topics]: topics };
}

function topLevelError(apiKey: number, request: Fields, errorCode: number): Fields {
  switch (apiKey) {
    case ApiKey.FindCoordinator:
      // v4+ answers per key; older versions at top level.
      return { errorCode, nodeId: -1, host: "", port: -1, coordinators: ((request.coordinatorKeys as string[]) ?? []).map((key) => ({ key, nodeId: -1, host: "", port: -1, errorCode })) };
    case ApiKey.DescribeGroups:
      return { groups: ((request.groups as string[]) ?? []).map((groupId) => ({ groupId, errorCode })) };
    default:
      return { errorCode };
  }
}

/** Metadata with the offline partitions leaderless, as Kafka shows a partition with no live in-sync replica. */
function leaderless(reply: Fields, offline: Set<string>): Fields {
  const topics = ((reply.topics as Fields[]) ?? []).map((topic) => ({
    ...topic,
    partitions: ((topic.partitions as Fields[]) ?? []).map((partition) =>
      offline.has(partitionKeyOf(topic.name as string, partition.partitionIndex as number)) ? { ...partition, leaderId: -1, errorCode: ErrorCode.LEADER_NOT_AVAILABLE } : partition,
    ),
  }));
  return { ...reply, topics };
}
