// Fetch: reads are resolved to file ranges by the owning workers and written to the socket straight
// from mmap'd segments. Long poll: when fewer than min.bytes are available the request waits, woken by
// appends to its partitions, until max.wait.ms; a failed read answers at once, while partitions refused before
// reading (unknown topic or id, not authorized) are answered beside the others without ending the wait, as in
// Kafka. Partitions are filled in request order within max.bytes; the first partition with data may exceed it
// by one batch (KIP-74).
// Versions: v4 isolation level (KIP-98: read_committed stops at the LSO and names the aborted transactions);
// v5 log start offset; v7 fetch sessions (KIP-227, src/fetch-session/: full and incremental fetches,
// forgotten topics, FETCH_SESSION_ID_NOT_FOUND / INVALID_FETCH_SESSION_EPOCH); v9 current leader epoch
// (KIP-320: FENCED_LEADER_EPOCH / UNKNOWN_LEADER_EPOCH); v10 zstd batches (KIP-110: served as stored); v11 rack
// id (KIP-392: no preferred read replica here, always -1); v12 flexible (KIP-482), last fetched epoch accepted
// (no diverging epoch answered: followers here truncate with OffsetForLeaderEpoch first); v13 topics by id
// (KIP-516): an id no topic has now, e.g. a topic deleted and re-created under the same name, is
// UNKNOWN_TOPIC_ID, never the new topic's data; a session opened with ids serves only v13+ fetches and the
// other way round (FETCH_SESSION_TOPIC_ID_ERROR); INCONSISTENT_TOPIC_ID does not arise, as a worker opens a
// partition only in a directory whose partition.metadata names the topic's current id
// (log/partition-metadata-file.ts); v14 same (KIP-405: no tiered storage, so never
// OFFSET_MOVED_TO_TIERED_STORAGE); v15 a follower names itself in replica_state (KIP-903; its broker epoch is
// not checked), replica_id is -1; v16 NOT_LEADER_OR_FOLLOWER and FENCED_LEADER_EPOCH carry the partition's
// current leader and the answer that leader's endpoint (KIP-951); v17 replica directory id (KIP-853),
// accepted and ignored (one log directory per broker).
import { ErrorCode } from "../protocol/errors.ts";
import { Apis } from "../protocol/generated/index.ts";
import type { Input } from "../protocol/codec/input.ts";
import type { FetchRequest, FetchResponse, FetchResponseFetchableTopicResponse, FetchResponseNodeEndpoint, FetchResponsePartitionData } from "../protocol/generated/fetch.ts";
import type { ReadItem, ReadResult } from "../partition/messages.ts";
import { SegmentMapError, type MappedRecords } from "../log/segment-views.ts";
import { endpointFor, topicIdBytes, topicIdHex, type TopicMetadata } from "../metadata/types.ts";
import { sessionPartitionKey } from "../fetch-session/fetch-session-cache.ts";
import { answerFetch, newFetchContext, type FetchTarget } from "../fetch-session/fetch-context.ts";
import type { RequestContext } from "./context.ts";
import { defineHandler, type Reply } from "./handler.ts";
import { traceWorkerRoundTrip } from "./request-trace.ts";
import { AclOperation, canCluster, canTopic } from "./authorize.ts";
import { CONSUMER_BYTE_RATE } from "../security/quotas/model.ts";

const EMPTY_RECORDS = new Uint8Array(0);
/** librdkafka, kafkajs and platformatic all send max wait <= 500 ms by default; cap what a client may ask. */
export const FETCH_MAX_WAIT_MS_CAP = 30_000;
/** Partition errors found before reading that Kafka answers without ending the long poll (KafkaApis' "erroneous"). */
export const WAIT_DESPITE_ERRORS: ReadonlySet<number> = new Set([ErrorCode.UNKNOWN_TOPIC_ID, ErrorCode.UNKNOWN_TOPIC_OR_PARTITION, ErrorCode.TOPIC_AUTHORIZATION_FAILED]);
/** Fetch isolation_level 1: only records below the last stable offset, with the aborted transactions. */
const READ_COMMITTED = 1;

interface PartitionFetch {
  target: FetchTarget;
  item: ReadItem;
  errorCode: number;
}

/** v13 (KIP-516): topics are named by id. */
export const FIRST_FETCH_VERSION_WITH_TOPIC_IDS = 13;
/** v15 (KIP-903): a follower's id is in replica_state. */
const FIRST_VERSION_WITH_REPLICA_STATE = 15;
/** v16 (KIP-951): leader changes are answered with the new leader. */
const FIRST_VERSION_WITH_LEADER_DISCOVERY = 16;
const ZERO_TOPIC_ID = new Uint8Array(16);

export const fetchHandler = defineHandler(Apis.Fetch, {
  minVersion: 4,
  maxVersion: 17,
  async handle(context, request): Promise<Reply<FetchResponse>> {
    // A consumer that is not reading what it already got does not get more file ranges queued.
    const room = context.connection.waitForWriteRoom();
    if (room) await room;
    const version = context.apiVersion;
    const usesTopicIds = version >= FIRST_FETCH_VERSION_WITH_TOPIC_IDS;
    const responseMaxBytes = request.maxBytes > 0 ? request.maxBytes : 0x7fffffff;
    const replicaId = version >= FIRST_VERSION_WITH_REPLICA_STATE ? request.replicaState.replicaId : request.replicaId;
    const session = newFetchContext(context.fetchSessions, {
      sessionId: request.sessionId,
      sessionEpoch: request.sessionEpoch,
      usesTopicIds,
      privileged: replicaId >= 0,
      targets: fetchTargets(request, usesTopicIds),
      forgotten: request.forgottenTopicsData.flatMap((forgotten) => {
        const topicId = usesTopicIds ? topicIdHex(forgotten.topicId) : "";
        return forgotten.partitions.map((partition) => sessionPartitionKey(topicId, usesTopicIds ? "" : forgotten.topic, partition));
      }),
    });
    if (session.kind === "error") {
      context.traffic?.error(Apis.Fetch.apiKey, session.errorCode);
      return { throttleTimeMs: 0, errorCode: session.errorCode, sessionId: 0, responses: [] };
    }
    const fetches = resolveTargets(context, session.targets, replicaId, responseMaxBytes, request.isolationLevel === READ_COMMITTED);

    // A follower's fetch offsets are its log end offsets: they may commit records (high watermark) and
    // bring it back into the ISR before anything is read.
    if (replicaId >= 0) context.replication.onReplicaFetch(replicaId, fetches.filter((fetch) => fetch.errorCode === ErrorCode.NONE).map((fetch) => fetch.item));
    const deadline = Date.now() + Math.min(Math.max(0, request.maxWaitMs), FETCH_MAX_WAIT_MS_CAP);
    const watched = fetches.filter((fetch) => fetch.errorCode === ErrorCode.NONE).map((fetch) => fetch.item);
    let versionBeforeRead = context.watchers.version(watched);
    const trace = context.trace;
    let outcome = await readAll(context, fetches, responseMaxBytes, replicaId < 0);
    // Long poll, bounded by max.wait.ms: each wake-up re-reads; the loop ends at the deadline at the latest.
    while (watched.length > 0 && outcome.bytes < request.minBytes && !outcome.hasError && Date.now() < deadline && !context.isStopping()) {
      const remainingMs = deadline - Date.now();
      const waitStartedMs = trace ? performance.now() : 0;
      // An append that landed during the read would otherwise go unnoticed until max.wait.ms.
      if (context.watchers.version(watched) === versionBeforeRead) await new Promise<void>((resolve) => {
        const timer = setTimeout(() => {
          unwatch();
          resolve();
        }, remainingMs);
        const unwatch = context.watchers.watch(
          watched,
          () => {
            clearTimeout(timer);
            unwatch();
            resolve();
          },
        );
      });
      if (trace) trace.waitMs += performance.now() - waitStartedMs;
      for (const fetch of fetches) {
        if (fetch.errorCode === ErrorCode.NONE) fetch.item.maxOffsetExclusive = context.replication.readLimit(fetch.item.topic, fetch.item.partition, replicaId);
      }
      versionBeforeRead = context.watchers.version(watched);
      outcome = await readAll(context, fetches, responseMaxBytes, replicaId < 0);
    }

    const partitions = fetches.map((fetch, index): Input<FetchResponsePartitionData> => {
      const result = outcome.results[index]!;
      const runtime = fetch.errorCode === ErrorCode.NONE ? context.topics.runtime(fetch.item.topic, fetch.item.partition) : undefined;
      const highWatermark = runtime?.highWatermark ?? -1;
      return {
        partitionIndex: fetch.item.partition,
        errorCode: result.errorCode,
        highWatermark,
        // The worker's LSO for read_committed reads (docs/transactions.md); otherwise the high watermark, as
        // librdkafka stops at the LSO whenever it is set (docs/kafka-clients.md §4.8).
        lastStableOffset: result.lastStableOffset ?? highWatermark,
        logStartOffset: runtime?.logStartOffset ?? -1,
        abortedTransactions: result.abortedTransactions ?? [],
        preferredReadReplica: -1,
        records: outcome.records[index] ?? EMPTY_RECORDS,
      };
    });
    const shape = answerFetch(context.fetchSessions, session, partitions.map((partition, index) => ({
      errorCode: partition.errorCode!,
      highWatermark: partition.highWatermark!,
      logStartOffset: partition.logStartOffset!,
      recordsBytes: outcome.records[index]?.sizeBytes ?? 0,
    })));
    if (shape.errorCode !== ErrorCode.NONE) {
      context.traffic?.error(Apis.Fetch.apiKey, shape.errorCode);
      return { throttleTimeMs: 0, errorCode: shape.errorCode, sessionId: shape.sessionId, responses: [] };
    }

    const responses: Input<FetchResponseFetchableTopicResponse>[] = [];
    const leaders = new Set<number>();
    let previousTopicKey: string | null = null;
    fetches.forEach((fetch, index) => {
      if (!shape.carried[index]) return;
      const partition = partitions[index]!;
      const errorCode = partition.errorCode!;
      if (errorCode !== ErrorCode.NONE) context.traffic?.error(Apis.Fetch.apiKey, errorCode);
      else if (outcome.records[index]) context.traffic?.fetched(fetch.item.topic, fetch.item.partition, outcome.records[index]!.sizeBytes, replicaId >= 0);
      if (version >= FIRST_VERSION_WITH_LEADER_DISCOVERY && (errorCode === ErrorCode.NOT_LEADER_OR_FOLLOWER || errorCode === ErrorCode.FENCED_LEADER_EPOCH)) {
        const assignment = context.topics.get(fetch.item.topic)?.partitions[fetch.item.partition];
        if (assignment) {
          partition.currentLeader = { leaderId: assignment.leader, leaderEpoch: assignment.leaderEpoch };
          if (assignment.leader >= 0) leaders.add(assignment.leader);
        }
      }
      // Consecutive partitions of one topic share its entry (Kafka's FetchResponse.toMessage).
      const topicKey = fetch.target.topicId || fetch.target.topic;
      if (topicKey !== previousTopicKey) {
        responses.push({ topic: fetch.target.topic, topicId: fetch.target.topicId ? topicIdBytes(fetch.target.topicId) : ZERO_TOPIC_ID, partitions: [] });
        previousTopicKey = topicKey;
      }
      (responses[responses.length - 1]!.partitions as Input<FetchResponsePartitionData>[]).push(partition);
    });
    // Consumers' fetched bytes count against consumer_byte_rate (followers are not client-quota'd, as in Kafka).
    const throttleTimeMs = replicaId >= 0 ? 0 : context.quotas.record(CONSUMER_BYTE_RATE, context.connection.security.principal, context.clientId, outcome.bytes);
    if (throttleTimeMs > 0) context.connection.mute(throttleTimeMs);
    return { throttleTimeMs, errorCode: ErrorCode.NONE, sessionId: shape.sessionId, responses, nodeEndpoints: leaderEndpoints(context, leaders) };
  },
});

/**
 * The request's partitions, keyed as a session keys them: by topic id from v13, by name before. A partition
 * named twice is fetched once, at its first place with its last parameters (Kafka's FetchRequest.fetchData map).
 */
function fetchTargets(request: FetchRequest, usesTopicIds: boolean): FetchTarget[] {
  const targets = new Map<string, FetchTarget>();
  for (const fetchTopic of request.topics) {
    const topicId = usesTopicIds ? topicIdHex(fetchTopic.topicId) : "";
    const topic = usesTopicIds ? "" : fetchTopic.topic;
    for (const fetchPartition of fetchTopic.partitions) {
      targets.set(sessionPartitionKey(topicId, topic, fetchPartition.partition), {
        topicId,
        topic,
        partition: fetchPartition.partition,
        fetchOffset: fetchPartition.fetchOffset,
        partitionMaxBytes: fetchPartition.partitionMaxBytes,
        currentLeaderEpoch: fetchPartition.currentLeaderEpoch,
        lastFetchedEpoch: fetchPartition.lastFetchedEpoch,
        logStartOffset: fetchPartition.logStartOffset,
      });
    }
  }
  return [...targets.values()];
}

/**
 * Each target's topic (by id from v13: an id no topic has now is UNKNOWN_TOPIC_ID), access and leadership,
 * and the read it asks of the worker. Topic and access are looked up once per topic of the request.
 */
function resolveTargets(context: RequestContext, targets: readonly FetchTarget[], replicaId: number, responseMaxBytes: number, isolationCommitted: boolean): PartitionFetch[] {
  // Followers need CLUSTER_ACTION on the cluster, consumers READ on each topic (Kafka's KafkaApis.handleFetchRequest).
  const followerAllowed = replicaId < 0 || canCluster(context, AclOperation.CLUSTER_ACTION);
  const readCommitted = replicaId < 0 && isolationCommitted;
  const allowedByTopic = new Map<string, boolean>();
  const topicsByKey = new Map<string, TopicMetadata | undefined>();
  return targets.map((target) => {
    const topicKey = target.topicId || target.topic;
    let topic = topicsByKey.get(topicKey);
    if (topic === undefined && !topicsByKey.has(topicKey)) {
      topic = target.topicId ? context.topics.getById(target.topicId) : context.topics.get(target.topic);
      topicsByKey.set(topicKey, topic);
    }
    const name = target.topicId ? (topic?.name ?? "") : target.topic;
    const partition = target.partition;
    let errorCode: number = ErrorCode.NONE;
    if (target.topicId && !topic) errorCode = ErrorCode.UNKNOWN_TOPIC_ID;
    else {
      let authorized = allowedByTopic.get(name);
      if (authorized === undefined) {
        authorized = replicaId >= 0 ? followerAllowed : canTopic(context, AclOperation.READ, name);
        allowedByTopic.set(name, authorized);
      }
      if (!authorized) errorCode = ErrorCode.TOPIC_AUTHORIZATION_FAILED;
      else if (!topic || partition < 0 || partition >= topic.partitions.length) errorCode = ErrorCode.UNKNOWN_TOPIC_OR_PARTITION;
      else errorCode = context.replication.checkFetchAllowed(name, partition, replicaId, target.currentLeaderEpoch);
    }
    return {
      target,
      errorCode,
      item: {
        topic: name,
        partition,
        fetchOffset: target.fetchOffset,
        maxBytes: Math.max(0, Math.min(target.partitionMaxBytes, responseMaxBytes)),
        maxOffsetExclusive: errorCode === ErrorCode.NONE ? context.replication.readLimit(name, partition, replicaId) : -1,
        minOneBatch: true,
        // READ_COMMITTED: the worker stops at the LSO and names the aborted transactions (followers read everything).
        ...(readCommitted ? { readCommitted } : {}),
      },
    };
  });
}

/** KIP-951: the endpoints of the leaders named in the answer, on the listener the client came in on. */
function leaderEndpoints(context: RequestContext, leaders: ReadonlySet<number>): Input<FetchResponseNodeEndpoint>[] {
  if (leaders.size === 0) return [];
  const endpoints: Input<FetchResponseNodeEndpoint>[] = [];
  for (const info of context.cluster.brokers()) {
    if (!leaders.has(info.nodeId)) continue;
    const endpoint = endpointFor(info, context.connection.security.listener.name);
    if (endpoint) endpoints.push({ nodeId: info.nodeId, host: endpoint.host, port: endpoint.port, rack: info.rack });
  }
  return endpoints;
}

interface ReadOutcome {
  results: ReadResult[];
  records: (MappedRecords | null)[];
  bytes: number;
  /** A partition's read failed (leadership, offsets, storage): the answer goes at once, as in Kafka. */
  hasError: boolean;
}

/**
 * A read that can only come back empty: the fetch offset is exactly where the partition's readable data
 * ends (the high watermark for consumers, the log end for followers), as the socket thread last heard.
 * A tailing consumer's fetch then waits without a worker round trip; data that arrives meanwhile wakes it.
 */
function knownEmpty(context: RequestContext, item: ReadItem): ReadResult | null {
  const runtime = context.topics.runtime(item.topic, item.partition);
  if (!runtime) return null;
  const readableEnd = item.maxOffsetExclusive >= 0 ? item.maxOffsetExclusive : runtime.logEndOffset;
  if (item.fetchOffset !== readableEnd || item.fetchOffset < runtime.logStartOffset || item.fetchOffset > runtime.logEndOffset) return null;
  return { errorCode: ErrorCode.NONE, logStartOffset: runtime.logStartOffset, logEndOffset: runtime.logEndOffset, slice: null };
}

/** A fetch answered from the batch a produce just appended: the read result and its records, already mapped. */
interface AppendedRead {
  result: ReadResult;
  mapped: MappedRecords;
}

/**
 * A consumer's read that would return exactly the batch a produce last appended (TopicManager's lastAppend):
 * the fetch offset is its base offset, it is the log's last batch as the socket thread last heard, and the
 * high watermark ends exactly after it. A worker read would return that one batch (minOneBatch, KIP-74),
 * so the answer is built from where the worker said it landed, without the round trip. For read_committed
 * no transaction may be open at or before it (then the LSO is the high watermark and nothing in the range
 * was aborted). Anything else (more batches, a moved log start, a new leader epoch, a file that cannot be
 * mapped) is left to the worker.
 */
function fromAppend(context: RequestContext, item: ReadItem): AppendedRead | null {
  const runtime = context.topics.runtime(item.topic, item.partition);
  const appended = runtime?.lastAppend;
  if (!runtime || !appended || item.fetchOffset !== appended.baseOffset || !item.minOneBatch) return null;
  const end = appended.lastOffset + 1;
  if (runtime.logEndOffset !== end || item.maxOffsetExclusive !== end || item.fetchOffset < runtime.logStartOffset) return null;
  if (context.topics.get(item.topic)?.partitions[item.partition]?.leaderEpoch !== appended.leaderEpoch) return null;
  if (item.readCommitted && appended.firstUnstableOffset >= 0 && appended.firstUnstableOffset < end) return null;
  let mapped: MappedRecords | null;
  try {
    mapped = context.fetchViews.records(appended.slice);
  } catch (error) {
    if (error instanceof SegmentMapError) return null;
    throw error;
  }
  if (!mapped) return null;
  const result: ReadResult = { errorCode: ErrorCode.NONE, logStartOffset: runtime.logStartOffset, logEndOffset: runtime.logEndOffset, slice: appended.slice };
  if (item.readCommitted) {
    result.lastStableOffset = end;
    result.abortedTransactions = [];
  }
  return { result, mapped };
}

/** Fetches answered from a produce's append (fromAppend) since the broker started (/metrics, tests). */
export const fetchFromAppendCounters = { partitions: 0 };

async function readAll(context: RequestContext, fetches: PartitionFetch[], responseMaxBytes: number, consumer: boolean): Promise<ReadOutcome> {
  const readable = fetches.filter((fetch) => fetch.errorCode === ErrorCode.NONE);
  const appendedReads = readable.map((fetch) => (consumer ? fromAppend(context, fetch.item) : null));
  const local = readable.map((fetch, index) => appendedReads[index]?.result ?? knownEmpty(context, fetch.item));
  const toWorkers = readable.filter((_, index) => local[index] === null);
  let workerResults: ReadResult[];
  try {
    if (toWorkers.length === 0) workerResults = [];
    else {
      const toWorkersMs = context.trace ? performance.now() : 0;
      workerResults = await context.partitions.read(toWorkers.map((fetch) => fetch.item));
      if (context.trace) traceWorkerRoundTrip(context.trace, performance.now() - toWorkersMs, workerResults);
    }
  } catch (error) {
    context.log(`fetch read failed: ${error instanceof Error ? error.message : String(error)}`);
    workerResults = toWorkers.map(() => ({ errorCode: ErrorCode.KAFKA_STORAGE_ERROR, logStartOffset: -1, logEndOffset: -1, slice: null }));
  }
  let fromWorkers = 0;
  const readResults = local.map((known) => known ?? workerResults[fromWorkers++]!);
  const results: ReadResult[] = [];
  const records: (MappedRecords | null)[] = [];
  let bytes = 0;
  let hasError = false;
  let next = 0;
  for (const fetch of fetches) {
    if (fetch.errorCode !== ErrorCode.NONE) {
      results.push({ errorCode: fetch.errorCode, logStartOffset: -1, logEndOffset: -1, slice: null });
      records.push(null);
      // Kafka's "erroneous" partitions (unknown topic or id, not authorized) are answered beside the others without
      // ending their long poll: a session holding a deleted topic's partition would otherwise never wait.
      if (!WAIT_DESPITE_ERRORS.has(fetch.errorCode)) hasError = true;
      continue;
    }
    const result = readResults[next++]!;
    // A worker's answer only: a locally known one is the runtime's own offsets from before the await, and a
    // produce answered meanwhile may have moved them on (noteOffsets keeps the newest version either way).
    if (local[next - 1] === null) context.topics.noteOffsets(fetch.item.topic, fetch.item.partition, result);
    results.push(result);
    if (result.errorCode !== ErrorCode.NONE) hasError = true;
    let mapped: MappedRecords | null = null;
    // Whole batches only: a partition that would overflow max.bytes is left for the next fetch,
    // unless nothing was added yet (KIP-74: the first batch is always returned).
    const appendedRead = appendedReads[next - 1];
    if (appendedRead && (bytes === 0 || bytes + appendedRead.mapped.sizeBytes <= responseMaxBytes)) {
      mapped = appendedRead.mapped;
      bytes += mapped.sizeBytes;
      fetchFromAppendCounters.partitions++;
    } else if (result.slice && !appendedRead && (bytes === 0 || bytes + result.slice.sizeBytes <= responseMaxBytes)) {
      try {
        mapped = context.fetchViews.records(result.slice);
      } catch (error) {
        if (!(error instanceof SegmentMapError)) throw error;
        // This partition only: the others of the fetch are still answered.
        context.log(`fetch of ${fetch.item.topic}-${fetch.item.partition}: ${error.message}`);
        results[results.length - 1] = { ...result, errorCode: ErrorCode.KAFKA_STORAGE_ERROR, slice: null };
        hasError = true;
      }
      if (mapped) bytes += mapped.sizeBytes;
    }
    records.push(mapped);
  }
  return { results, records, bytes, hasError };
}
