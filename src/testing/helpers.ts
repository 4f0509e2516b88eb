// What client test suites keep rewriting, over Bunka's own minimal Kafka client (no client library needed):
// create a topic and wait until every broker has it, produce N records, read a partition up to an end
// offset, wait for a consumer group to be stable or caught up, list a group's lag, unique names per test.
// Every wait is bounded (timeoutMs) and every connection is closed before the call returns.
import { KafkaConnection } from "../client/kafka-connection.ts";
import { ApiKey } from "../protocol/generated/index.ts";
import { ErrorCode } from "../protocol/errors.ts";
import { buildBatch, readBatchRecords, type BatchRecord } from "../records/compression.ts";
import { batchSizeBytes, dataViewOf, LOG_OVERHEAD } from "../records/batch.ts";
import type { RecordInput } from "../records/record.ts";

const DEFAULT_TIMEOUT_MS = 30_000;
const POLL_MS = 20;
const FETCH_MAX_BYTES = 16 * 1024 * 1024;

export type { BatchRecord, RecordInput };

interface Address {
  host: string;
  port: number;
}

function addresses(bootstrap: string): Address[] {
  const list = bootstrap
    .split(",")
    .map((entry) => entry.trim())
    .filter((entry) => entry !== "")
    .map((entry) => {
      const colon = entry.lastIndexOf(":");
      const port = Number(entry.slice(colon + 1));
      if (colon <= 0 || !Number.isInteger(port) || port < 1 || port > 65535) throw new RangeError(`bootstrap servers: ${JSON.stringify(entry)} is not host:port`);
      return { host: entry.slice(0, colon), port };
    });
  if (list.length === 0) throw new RangeError("bootstrap servers: empty");
  return list;
}

async function withConnection<T>(address: Address, work: (connection: KafkaConnection) => Promise<T>): Promise<T> {
  const connection = await KafkaConnection.connect({ ...address, clientId: "bunka-testing" });
  try {
    return await work(connection);
  } finally {
    connection.close();
  }
}

/** A refusal that retrying does not change (bad config, invalid request). */
class FatalError extends Error {}

/** Retries `attempt` (which answers undefined for "not yet") until it answers or the deadline passes. */
async function until<T>(what: string, timeoutMs: number, attempt: () => Promise<T | undefined>): Promise<T> {
  const deadline = performance.now() + timeoutMs;
  let lastError: unknown = null;
  for (;;) {
    try {
      const result = await attempt();
      if (result !== undefined) return result;
    } catch (error) {
      if (error instanceof FatalError) throw error;
      lastError = error;
    }
    if (performance.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${lastError ? `: ${String(lastError)}` : ""}`);
    await Bun.sleep(POLL_MS);
  }
}

async function metadata(address: Address, topics: string[] | null): Promise<any> {
  return withConnection(address, (connection) => connection.request(ApiKey.Metadata, 9, { topics: topics?.map((name) => ({ name })) ?? null, allowAutoTopicCreation: false }));
}

export interface TopicSpec {
  partitions?: number;
  replicationFactor?: number;
  /** Topic configs, e.g. { "min.insync.replicas": "2" }. */
  configs?: Record<string, string>;
  timeoutMs?: number;
}

/**
 * Creates the topic (an existing one is fine) and waits until every broker of the cluster reports every
 * partition with a leader, so that the next produce to any broker does not meet UNKNOWN_TOPIC_OR_PARTITION.
 */
export async function createTopic(bootstrap: string, topic: string, spec: TopicSpec = {}): Promise<void> {
  const timeoutMs = spec.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  const partitions = spec.partitions ?? 1;
  const [first] = addresses(bootstrap);
  await until(`topic ${topic} to be created`, timeoutMs, async () => {
    const response = await withConnection(first!, (connection) =>
      connection.request(ApiKey.CreateTopics, 5, {
        topics: [{ name: topic, numPartitions: partitions, replicationFactor: spec.replicationFactor ?? -1, assignments: [], configs: Object.entries(spec.configs ?? {}).map(([name, value]) => ({ name, value })) }],
        timeoutMs,
        validateOnly: false,
      }),
    );
    const result = response.topics[0];
    if (result.errorCode === ErrorCode.NONE || result.errorCode === ErrorCode.TOPIC_ALREADY_EXISTS) return true;
    if (result.errorCode === ErrorCode.NOT_CONTROLLER || result.errorCode === ErrorCode.REQUEST_TIMED_OUT) return undefined;
    throw new FatalError(`create topic ${topic}: error ${result.errorCode}${result.errorMessage ? ` (${result.errorMessage})` : ""}`);
  });
  await until(`every broker to see topic ${topic} with ${partitions} partition(s) and their leaders`, timeoutMs, async () => {
    const cluster = await metadata(first!, [topic]);
    for (const broker of cluster.brokers) {
      const view = await metadata({ host: broker.host, port: broker.port }, [topic]);
      const described = view.topics[0];
      if (described.errorCode !== ErrorCode.NONE || described.partitions.length < partitions) return undefined;
      if (described.partitions.some((partition: any) => partition.errorCode !== ErrorCode.NONE || partition.leaderId < 0)) return undefined;
    }
    return true;
  });
}

async function leaderOf(bootstrap: string, topic: string, partition: number, timeoutMs: number): Promise<Address> {
  const [first] = addresses(bootstrap);
  return until(`a leader for ${topic}-${partition}`, timeoutMs, async () => {
    const view = await metadata(first!, [topic]);
    const leaderId = view.topics[0]?.partitions.find((entry: any) => entry.partitionIndex === partition)?.leaderId;
    const leader = view.brokers.find((broker: any) => broker.nodeId === leaderId);
    return leader ? { host: leader.host, port: leader.port } : undefined;
  });
}

export interface ProduceOptions {
  partition?: number;
  /** -1 (all in-sync replicas, default), 1 or 0. */
  acks?: -1 | 0 | 1;
  timeoutMs?: number;
}

/**
 * Produces records to one partition's leader in one batch: a count makes records with values
 * "record-0".."record-<n-1>" (keys "key-<i>"). Returns the offset of the first record.
 */
export async function produceRecords(bootstrap: string, topic: string, records: number | RecordInput[], options: ProduceOptions = {}): Promise<{ baseOffset: number; count: number }> {
  const partition = options.partition ?? 0;
  const timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  const inputs = typeof records === "number" ? Array.from({ length: records }, (_, i) => ({ key: `key-${i}`, value: `record-${i}` })) : records;
  if (inputs.length === 0) throw new RangeError("produceRecords: no records");
  const batch = buildBatch({ records: inputs });
  return until(`a produce to ${topic}-${partition}`, timeoutMs, async () => {
    const leader = await leaderOf(bootstrap, topic, partition, timeoutMs);
    const response = await withConnection(leader, (connection) =>
      connection.request(ApiKey.Produce, 7, { transactionalId: null, acks: options.acks ?? -1, timeoutMs, topicData: [{ name: topic, partitionData: [{ index: partition, records: batch }] }] }, options.acks !== 0),
    );
    if (options.acks === 0) return { baseOffset: -1, count: inputs.length };
    const result = response.responses[0].partitionResponses[0];
    if (result.errorCode === ErrorCode.NONE) return { baseOffset: Number(result.baseOffset), count: inputs.length };
    // Leadership moving during the call: look the leader up again.
    if (result.errorCode === ErrorCode.NOT_LEADER_OR_FOLLOWER || result.errorCode === ErrorCode.UNKNOWN_TOPIC_OR_PARTITION) return undefined;
    throw new FatalError(`produce to ${topic}-${partition}: error ${result.errorCode}`);
  });
}

/** The partition's end offsets: the high watermark (what consumers can read) and the log start. */
export async function endOffset(bootstrap: string, topic: string, partition = 0, timeoutMs = DEFAULT_TIMEOUT_MS): Promise<number> {
  return until(`the end offset of ${topic}-${partition}`, timeoutMs, async () => {
    const leader = await leaderOf(bootstrap, topic, partition, timeoutMs);
    const response = await withConnection(leader, (connection) =>
      connection.request(ApiKey.ListOffsets, 5, { replicaId: -1, isolationLevel: 0, topics: [{ name: topic, partitions: [{ partitionIndex: partition, currentLeaderEpoch: -1, timestamp: -1 }] }] }),
    );
    const result = response.topics[0].partitions[0];
    return result.errorCode === ErrorCode.NONE ? Number(result.offset) : undefined;
  });
}

export interface ReadOptions {
  partition?: number;
  /** Read records with offsets below this; default: the end offset when the call starts. */
  untilOffset?: number;
  fromOffset?: number;
  timeoutMs?: number;
}

/** Every record of one partition from `fromOffset` (default 0) up to `untilOffset`, decoded. */
export async function readAll(bootstrap: string, topic: string, options: ReadOptions = {}): Promise<BatchRecord[]> {
  const partition = options.partition ?? 0;
  const timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  const end = options.untilOffset ?? (await endOffset(bootstrap, topic, partition, timeoutMs));
  const records: BatchRecord[] = [];
  let next = options.fromOffset ?? 0;
  const deadline = performance.now() + timeoutMs;
  while (next < end) {
    if (performance.now() > deadline) throw new Error(`readAll ${topic}-${partition}: read up to offset ${next} of ${end} in ${timeoutMs} ms`);
    const leader = await leaderOf(bootstrap, topic, partition, timeoutMs);
    const response = await withConnection(leader, (connection) =>
      connection.request(ApiKey.Fetch, 11, {
        replicaId: -1,
        maxWaitMs: 100,
        minBytes: 1,
        maxBytes: FETCH_MAX_BYTES,
        isolationLevel: 0,
        sessionId: 0,
        sessionEpoch: -1,
        topics: [{ topic, partitions: [{ partition, currentLeaderEpoch: -1, fetchOffset: next, logStartOffset: -1, partitionMaxBytes: FETCH_MAX_BYTES }] }],
        forgottenTopicsData: [],
        rackId: "",
      }),
    );
    const result = response.responses[0].partitions[0];
    if (result.errorCode !== ErrorCode.NONE) {
      if (result.errorCode === ErrorCode.NOT_LEADER_OR_FOLLOWER) continue;
      throw new Error(`readAll ${topic}-${partition} at offset ${next}: error ${result.errorCode}`);
    }
    const bytes: Uint8Array = result.records ?? new Uint8Array(0);
    const view = dataViewOf(bytes);
    for (let position = 0; position + LOG_OVERHEAD <= bytes.byteLength; ) {
      const size = batchSizeBytes(view, position);
      if (position + size > bytes.byteLength) break;
      for (const record of await readBatchRecords(bytes.subarray(position, position + size))) {
        if (record.offset >= next && record.offset < end) records.push(record);
      }
      position += size;
    }
    const last = records.at(-1);
    if (last && last.offset >= next) next = last.offset + 1;
    else if (bytes.byteLength === 0) await Bun.sleep(POLL_MS);
    else next = Math.min(end, next + 1);
  }
  return records;
}

async function coordinatorOf(bootstrap: string, groupId: string, timeoutMs: number): Promise<Address> {
  const [first] = addresses(bootstrap);
  return until(`the coordinator of group ${groupId}`, timeoutMs, async () => {
    const response = await withConnection(first!, (connection) => connection.request(ApiKey.FindCoordinator, 3, { key: groupId, keyType: 0 }));
    return response.errorCode === ErrorCode.NONE ? { host: response.host, port: response.port } : undefined;
  });
}

export interface GroupDescription {
  state: string;
  members: string[];
}

export async function describeGroup(bootstrap: string, groupId: string, timeoutMs = DEFAULT_TIMEOUT_MS): Promise<GroupDescription> {
  return until(`a description of group ${groupId}`, timeoutMs, async () => {
    const coordinator = await coordinatorOf(bootstrap, groupId, timeoutMs);
    const response = await withConnection(coordinator, (connection) => connection.request(ApiKey.DescribeGroups, 5, { groups: [groupId], includeAuthorizedOperations: false }));
    const group = response.groups[0];
    if (group.errorCode !== ErrorCode.NONE) return undefined;
    return { state: group.groupState, members: group.members.map((member: any) => member.memberId) };
  });
}

/** Until the group is Stable, with `members` members when given. */
export async function waitForGroupStable(bootstrap: string, groupId: string, options: { members?: number; timeoutMs?: number } = {}): Promise<GroupDescription> {
  const timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  return until(`group ${groupId} to be Stable${options.members !== undefined ? ` with ${options.members} member(s)` : ""}`, timeoutMs, async () => {
    const group = await describeGroup(bootstrap, groupId, timeoutMs);
    return group.state === "Stable" && (options.members === undefined || group.members.length === options.members) ? group : undefined;
  });
}

export interface PartitionLag {
  topic: string;
  partition: number;
  /** The group's committed offset, -1 when it has none. */
  committed: number;
  end: number;
  /** end - committed (end when nothing is committed). */
  lag: number;
}

/** The group's committed offsets against each partition's end offset. */
export async function groupLag(bootstrap: string, groupId: string, topic: string, options: { partitions?: number; timeoutMs?: number } = {}): Promise<PartitionLag[]> {
  const timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  const [first] = addresses(bootstrap);
  const partitionCount = options.partitions ?? (await metadata(first!, [topic])).topics[0].partitions.length;
  const indexes = Array.from({ length: partitionCount }, (_, i) => i);
  const committed = await until(`committed offsets of group ${groupId}`, timeoutMs, async () => {
    const coordinator = await coordinatorOf(bootstrap, groupId, timeoutMs);
    const response = await withConnection(coordinator, (connection) => connection.request(ApiKey.OffsetFetch, 7, { groupId, topics: [{ name: topic, partitionIndexes: indexes }], requireStable: true }));
    if (response.errorCode !== ErrorCode.NONE) return undefined;
    const partitions = response.topics[0]?.partitions ?? [];
    if (partitions.some((entry: any) => entry.errorCode !== ErrorCode.NONE)) return undefined;
    return new Map<number, number>(partitions.map((entry: any) => [entry.partitionIndex, Number(entry.committedOffset)]));
  });
  const lags: PartitionLag[] = [];
  for (const partition of indexes) {
    const end = await endOffset(bootstrap, topic, partition, timeoutMs);
    const offset = committed.get(partition) ?? -1;
    lags.push({ topic, partition, committed: offset, end, lag: offset < 0 ? end : Math.max(0, end - offset) });
  }
  return lags;
}

/** Until the group has committed up to every partition's end offset. */
export async function waitForGroupCaughtUp(bootstrap: string, groupId: string, topic: string, options: { timeoutMs?: number } = {}): Promise<PartitionLag[]> {
  const timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  return until(`group ${groupId} to catch up on ${topic}`, timeoutMs, async () => {
    const lags = await groupLag(bootstrap, groupId, topic, { timeoutMs });
    return lags.every((entry) => entry.lag === 0) ? lags : undefined;
  });
}

let nameCount = 0;

/**
 * Unique topic and group names for one test on a shared broker: `names("orders").topic()` →
 * "orders-<run>-<n>-topic". Tests sharing one broker then never see each other's data.
 */
export function uniqueNames(label = "test"): { topic(suffix?: string): string; group(suffix?: string): string } {
  const base = `${label.replace(/[^\w.-]/g, "_").slice(0, 100)}-${process.pid.toString(36)}${Date.now().toString(36)}-${++nameCount}`;
  return {
    topic: (suffix = "topic") => `${base}-${suffix}`,
    group: (suffix = "group") => `${base}-${suffix}`,
  };
}
