// Fetch: reads are resolved to file ranges by the owning workers and written to the socket straight
// from mmap'd segments. Long poll: when fewer than min.bytes are available the request waits, woken by
// appends to its partitions, until max.wait.ms. Partitions are filled in request order within max.bytes;
// the first partition with data may exceed it by one batch (KIP-74).
import { ErrorCode } from "../protocol/errors.ts";
import { Apis } from "../protocol/generated/index.ts";
import type { Input } from "../protocol/codec/input.ts";
import type { FetchResponse, FetchResponsePartitionData } from "../protocol/generated/fetch.ts";
import type { ReadItem, ReadResult } from "../partition/messages.ts";
import { SegmentMapError, type MappedRecords } from "../log/segment-views.ts";
import type { RequestContext } from "./context.ts";
import { defineHandler, type Reply } from "./handler.ts";
import { AclOperation, canCluster, canTopic } from "./authorize.ts";
import { CONSUMER_BYTE_RATE } from "../security/quotas/model.ts";

const EMPTY_RECORDS = new Uint8Array(0);
/** librdkafka, kafkajs and platformatic all send max wait <= 500 ms by default; cap what a client may ask. */
const FETCH_MAX_WAIT_MS_CAP = 30_000;
/** Fetch isolation_level 1: only records below the last stable offset, with the aborted transactions. */
const READ_COMMITTED = 1;

interface PartitionFetch {
  topicIndex: number;
  item: ReadItem;
  errorCode: number;
}

export const fetchHandler = defineHandler(Apis.Fetch, {
  minVersion: 4,
  maxVersion: 12,
  async handle(context, request): Promise<Reply<FetchResponse>> {
    // A consumer that is not reading what it already got does not get more file ranges queued.
    const room = context.connection.waitForWriteRoom();
    if (room) await room;
    const responseMaxBytes = request.maxBytes > 0 ? request.maxBytes : 0x7fffffff;
    const replicaId = request.replicaId;
    const fetches: PartitionFetch[] = [];
    // Followers need CLUSTER_ACTION on the cluster, consumers READ on each topic (Kafka's KafkaApis.handleFetchRequest).
    const followerAllowed = replicaId < 0 || canCluster(context, AclOperation.CLUSTER_ACTION);
    const readCommitted = replicaId < 0 && request.isolationLevel === READ_COMMITTED;
    request.topics.forEach((fetchTopic, topicIndex) => {
      const topic = context.topics.get(fetchTopic.topic);
      const authorized = replicaId >= 0 ? followerAllowed : canTopic(context, AclOperation.READ, fetchTopic.topic);
      for (const fetchPartition of fetchTopic.partitions) {
        const partition = fetchPartition.partition;
        let errorCode: number = ErrorCode.NONE;
        if (!authorized) errorCode = ErrorCode.TOPIC_AUTHORIZATION_FAILED;
        else if (!topic || partition < 0 || partition >= topic.partitions.length) errorCode = ErrorCode.UNKNOWN_TOPIC_OR_PARTITION;
        else errorCode = context.replication.checkFetchAllowed(topic.name, partition, replicaId, fetchPartition.currentLeaderEpoch);
        fetches.push({
          topicIndex,
          errorCode,
          item: {
            topic: fetchTopic.topic,
            partition,
            fetchOffset: fetchPartition.fetchOffset,
            maxBytes: Math.max(0, Math.min(fetchPartition.partitionMaxBytes, responseMaxBytes)),
            maxOffsetExclusive: errorCode === ErrorCode.NONE ? context.replication.readLimit(fetchTopic.topic, partition, replicaId) : -1,
            minOneBatch: true,
            // READ_COMMITTED: the worker stops at the LSO and names the aborted transactions (followers read everything).
            ...(readCommitted ? { readCommitted } : {}),
          },
        });
      }
    });

    // A follower's fetch offsets are its log end offsets: they may commit records (high watermark) and
    // bring it back into the ISR before anything is read.
    if (replicaId >= 0) context.replication.onReplicaFetch(replicaId, fetches.filter((fetch) => fetch.errorCode === ErrorCode.NONE).map((fetch) => fetch.item));
    const deadline = Date.now() + Math.min(Math.max(0, request.maxWaitMs), FETCH_MAX_WAIT_MS_CAP);
    const watched = fetches.filter((fetch) => fetch.errorCode === ErrorCode.NONE).map((fetch) => fetch.item);
    let versionBeforeRead = context.watchers.version(watched);
    let outcome = await readAll(context, fetches, responseMaxBytes);
    // Long poll, bounded by max.wait.ms: each wake-up re-reads; the loop ends at the deadline at the latest.
    while (outcome.bytes < request.minBytes && !outcome.hasError && Date.now() < deadline && !context.isStopping()) {
      const remainingMs = deadline - Date.now();
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
      for (const fetch of fetches) {
        if (fetch.errorCode === ErrorCode.NONE) fetch.item.maxOffsetExclusive = context.replication.readLimit(fetch.item.topic, fetch.item.partition, replicaId);
      }
      versionBeforeRead = context.watchers.version(watched);
      outcome = await readAll(context, fetches, responseMaxBytes);
    }

    const responses = request.topics.map((fetchTopic) => ({ topic: fetchTopic.topic, partitions: [] as Input<FetchResponsePartitionData>[] }));
    fetches.forEach((fetch, index) => {
      const result = outcome.results[index]!;
      const runtime = context.topics.runtime(fetch.item.topic, fetch.item.partition);
      const highWatermark = runtime?.highWatermark ?? -1;
      if (result.errorCode !== ErrorCode.NONE) context.traffic?.error(Apis.Fetch.apiKey, result.errorCode);
      else if (outcome.records[index]) context.traffic?.fetched(fetch.item.topic, fetch.item.partition, outcome.records[index]!.sizeBytes, replicaId >= 0);
      responses[fetch.topicIndex]!.partitions.push({
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
      });
    });
    // Consumers' fetched bytes count against consumer_byte_rate (followers are not client-quota'd, as in Kafka).
    const throttleTimeMs = replicaId >= 0 ? 0 : context.quotas.record(CONSUMER_BYTE_RATE, context.connection.security.principal, context.clientId, outcome.bytes);
    if (throttleTimeMs > 0) context.connection.mute(throttleTimeMs);
    return { throttleTimeMs, errorCode: ErrorCode.NONE, sessionId: 0, responses };
  },
});

interface ReadOutcome {
  results: ReadResult[];
  records: (MappedRecords | null)[];
  bytes: number;
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

async function readAll(context: RequestContext, fetches: PartitionFetch[], responseMaxBytes: number): Promise<ReadOutcome> {
  const readable = fetches.filter((fetch) => fetch.errorCode === ErrorCode.NONE);
  const local = readable.map((fetch) => knownEmpty(context, fetch.item));
  const toWorkers = readable.filter((_, index) => local[index] === null);
  let workerResults: ReadResult[];
  try {
    workerResults = toWorkers.length > 0 ? await context.partitions.read(toWorkers.map((fetch) => fetch.item)) : [];
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
      hasError = true;
      continue;
    }
    const result = readResults[next++]!;
    context.topics.noteOffsets(fetch.item.topic, fetch.item.partition, result.logStartOffset, result.logEndOffset);
    results.push(result);
    if (result.errorCode !== ErrorCode.NONE) hasError = true;
    let mapped: MappedRecords | null = null;
    // Whole batches only: a partition that would overflow max.bytes is left for the next fetch,
    // unless nothing was added yet (KIP-74: the first batch is always returned).
    if (result.slice && (bytes === 0 || bytes + result.slice.sizeBytes <= responseMaxBytes)) {
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
