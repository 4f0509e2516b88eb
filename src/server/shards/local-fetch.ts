// A listening partition worker (partition.workers.listen) answers a consumer's fetch of its own partitions in
// its own thread: the owner resolves offsets to file ranges, and the connection writes them from this thread's
// mapping of the segments, with no thread hop either way. The same Fetch handler as on the main thread runs,
// with capabilities that hold in the cases accepted here; anything else goes to the main thread:
//   - what a local produce needs of the broker (local-view.ts, the main thread's flags), and no consumer quota;
//   - a consumer (replica id < 0) fetching without a session (session id 0, epoch -1: librdkafka, kafkajs), with
//     no forgotten topics; the main thread keeps the fetch sessions;
//   - no request of the connection is in flight anywhere (network-shard.ts: a produce sent before this fetch
//     must be appended before it reads);
//   - every partition known, led here, owned by this worker and open in it, and the current leader epoch either
//     not given or the one the main thread published.
// A read stops at the high watermark as LocalAppends knows it: single-node, the end of the appends this owner
// has answered; in a cluster, the one the main thread publishes. Long polls wait for it to move.
import type { RequestContext, RequestTrace } from "../../api/context.ts";
import { newRequestTrace } from "../../api/request-trace.ts";
import { FETCH_MAX_WAIT_MS_CAP, fetchHandler, FIRST_FETCH_VERSION_WITH_TOPIC_IDS, WAIT_DESPITE_ERRORS } from "../../api/fetch.ts";
import type { SegmentViews } from "../../log/segment-views.ts";
import type { MappedRecords } from "../../log/segment-views.ts";
import { topicIdHex } from "../../metadata/types.ts";
import type { ReadItem } from "../../partition/messages.ts";
import { PartitionWatchers } from "../../partition/partition-watchers.ts";
import { partitionKey } from "../../metadata/topic-manager.ts";
import { ErrorCode } from "../../protocol/errors.ts";
import { ApiKey, Apis } from "../../protocol/generated/index.ts";
import type { FetchRequest, FetchResponse } from "../../protocol/generated/fetch.ts";
import type { Input } from "../../protocol/codec/input.ts";
import type { Connection, ReplyChunks } from "../connection.ts";
import { encodeResponse } from "../dispatch.ts";
import type { Frame } from "../frame-reader.ts";
import type { FetchedNotice, LocalPartitions } from "./messages.ts";
import { LOCAL_CAPABILITIES, LocalApi, PEER_CONNECTION, decodeRequest, type DecodedRequest, type LocalPartitionView } from "./local-view.ts";
import type { SplitFetch, WatchedPartition } from "./local-requests.ts";

/** Fetch v15 (KIP-903): the replica id moved into replica_state. */
const FIRST_VERSION_WITH_REPLICA_STATE = 15;
const SESSIONLESS_ID = 0;
const SESSIONLESS_EPOCH = -1;

/**
 * Where a consumer's read of this owner's partitions stops, and what wakes its long poll. Single-node: the
 * appends this owner has answered (fed by PartitionOwner's onAppended), which is where the main thread's high
 * watermark moves when it applies them. In a cluster: the high watermark the main thread publishes (it moves
 * when the followers have the records), in the snapshot and in `highWatermarks` messages after it.
 */
export class LocalAppends {
  readonly watchers = new PartitionWatchers();
  private readonly answeredEnds = new Map<string, number>();
  private cluster = false;
  private readonly highWatermarks = new Map<string, number>();

  onAppended(topic: string, partition: number, logEndOffset: number): void {
    if (this.cluster) return;
    const key = partitionKey(topic, partition);
    if ((this.answeredEnds.get(key) ?? -1) < logEndOffset) this.answeredEnds.set(key, logEndOffset);
    this.watchers.notify(topic, partition);
  }

  /** The main thread's snapshot: the mode, and in a cluster every led partition's high watermark as of then. */
  useSnapshot(snapshot: LocalPartitions): void {
    this.cluster = snapshot.cluster;
    if (!snapshot.cluster) return;
    const previous = new Map(this.highWatermarks);
    this.highWatermarks.clear();
    for (const topic of snapshot.topics) {
      topic.highWatermarks.forEach((highWatermark, partition) => {
        if (highWatermark < 0) return;
        const key = partitionKey(topic.name, partition);
        this.highWatermarks.set(key, highWatermark);
        if (previous.get(key) !== highWatermark) this.watchers.notify(topic.name, partition);
      });
    }
  }

  /** Cluster: high watermarks that moved since (posted after the snapshot on the same channel, so newer). */
  publishHighWatermarks(entries: readonly { readonly topic: string; readonly partition: number; readonly highWatermark: number }[]): void {
    for (const { topic, partition, highWatermark } of entries) {
      this.highWatermarks.set(partitionKey(topic, partition), highWatermark);
      this.watchers.notify(topic, partition);
    }
  }

  /** Where a consumer's read stops; `logEndOffset` is asked only single-node, before this thread answered an append. */
  readableEnd(topic: string, partition: number, logEndOffset: () => number): number {
    const key = partitionKey(topic, partition);
    if (this.cluster) return this.highWatermarks.get(key) ?? 0;
    // Nothing appended since this thread started: the log as recovered is readable to its end.
    return this.answeredEnds.get(key) ?? logEndOffset();
  }
}

export class LocalFetch extends LocalApi<FetchRequest> {
  constructor(
    view: LocalPartitionView,
    private readonly appends: LocalAppends,
    private readonly notify: (notice: FetchedNotice) => void,
    private readonly log: (message: string) => void,
  ) {
    super(view);
  }

  protected enabled(): boolean {
    return this.view.fetchEnabled;
  }

  protected decode(frame: Frame): DecodedFetch | null {
    return decodeRequest(frame, Apis.Fetch, fetchHandler.minVersion, fetchHandler.maxVersion);
  }

  protected ownerOfAll({ request, apiVersion }: DecodedFetch): number {
    const replicaId = apiVersion >= FIRST_VERSION_WITH_REPLICA_STATE ? request.replicaState.replicaId : request.replicaId;
    if (replicaId >= 0 || request.sessionId !== SESSIONLESS_ID || request.sessionEpoch !== SESSIONLESS_EPOCH) return -1;
    if (request.forgottenTopicsData.length > 0 || request.topics.length === 0) return -1;
    let worker = -1;
    for (const fetchTopic of request.topics) {
      const topic = this.topicOf(fetchTopic, apiVersion);
      if (!topic) return -1;
      for (const fetchPartition of fetchTopic.partitions) {
        const owner = this.view.ownerOf(topic, fetchPartition.partition);
        if (owner < 0 || (worker >= 0 && owner !== worker)) return -1;
        worker = owner;
        const epoch = topic.metadata.partitions[fetchPartition.partition]!.leaderEpoch;
        if (fetchPartition.currentLeaderEpoch >= 0 && fetchPartition.currentLeaderEpoch !== epoch) return -1;
      }
    }
    return worker;
  }

  private topicOf(fetchTopic: FetchRequest["topics"][number], apiVersion: number) {
    return apiVersion >= FIRST_FETCH_VERSION_WITH_TOPIC_IDS ? this.view.topicById(topicIdHex(fetchTopic.topicId)) : this.view.topic(fetchTopic.topic);
  }

  protected isOpenHere({ request, apiVersion }: DecodedFetch): boolean {
    return request.topics.every((fetchTopic) => {
      const name = this.topicOf(fetchTopic, apiVersion)?.metadata.name;
      return name !== undefined && fetchTopic.partitions.every((fetchPartition) => this.view.owner.isOpen(name, fetchPartition.partition));
    });
  }

  protected async answer(connection: Connection, frame: Frame, views: SegmentViews, decoded: DecodedFetch, startedMs: number): Promise<ReplyChunks> {
    const { apiVersion, correlationId } = decoded;
    const trace = newRequestTrace(ApiKey.Fetch, frame.readMs ?? 0);
    const reply = await this.run(connection, frame, views, decoded, trace);
    if (reply === null) return null;
    // The whole handler, its wait included, as the dispatcher counts it (the stages are parts of it).
    trace.handlerMs = performance.now() - startedMs;
    this.notifyFetched(reply, (performance.now() - startedMs) / 1000, trace);
    return encodeResponse(ApiKey.Fetch, apiVersion, correlationId, (writer) => Apis.Fetch.writeResponse(writer, apiVersion, reply));
  }

  private notifyFetched(reply: Input<FetchResponse>, seconds: number, trace: RequestTrace): void {
    this.notify({ kind: "fetched", ...servedTraffic(reply, (topicId) => this.view.topicById(topicIdHex(topicId))?.metadata.name ?? ""), seconds, trace });
  }

  /** The Fetch handler on this owner's partitions, with the capabilities that hold here; its answer unencoded. */
  private run(connection: Connection, frame: Frame, views: SegmentViews, decoded: DecodedFetch, trace: RequestTrace | null): Promise<Input<FetchResponse> | null> {
    const { apiVersion, correlationId, clientId, request } = decoded;
    const { owner } = this.view;
    const view = this.view;
    const appends = this.appends;
    const readableEnd = (topic: string, partition: number): number => appends.readableEnd(topic, partition, () => owner.offsets([{ topic, partition }])[0]!.logEndOffset);
    const context = {
      apiKey: ApiKey.Fetch,
      apiVersion,
      correlationId,
      clientId,
      frame,
      connection,
      requestTimer: null,
      trace,
      topics: {
        get: (name: string) => view.topic(name)?.metadata,
        getById: (topicId: string) => view.topicById(topicId)?.metadata,
        runtime: (topic: string, partition: number) => {
          const offsets = owner.offsets([{ topic, partition }])[0]!;
          if (offsets.errorCode !== ErrorCode.NONE) return undefined;
          return { topic, partition, logStartOffset: offsets.logStartOffset, logEndOffset: offsets.logEndOffset, highWatermark: readableEnd(topic, partition) };
        },
        noteOffsets: () => undefined,
      },
      replication: {
        checkFetchAllowed: () => ErrorCode.NONE,
        readLimit: (topic: string, partition: number) => readableEnd(topic, partition),
        onReplicaFetch: () => undefined,
      },
      watchers: appends.watchers,
      partitions: { read: (items: ReadItem[]) => Promise.resolve(owner.read(items)) },
      fetchViews: views,
      ...LOCAL_CAPABILITIES,
      isStopping: () => false,
      log: this.log,
    } as unknown as RequestContext;
    return Promise.resolve(fetchHandler.handle(context, request));
  }

  /**
   * A consumer's fetch whose partitions are owned by several listening workers (what librdkafka and kafkajs send
   * for every partition of a broker): split by owner, each part read at once (no wait) by its owner, the answers
   * merged in request order within max.bytes. When the parts together hold fewer than min.bytes the fetch waits
   * (network-shard.ts splitFetch): on the owners' appends to its partitions, up to max.wait.ms, then reads again.
   */
  planSplit(connection: Connection, frame: Frame, peers: ReadonlySet<number>): SplitFetch | null {
    if (!this.view.fetchEnabled || connection.security.listener.securityProtocol !== "PLAINTEXT") return null;
    const startedMs = performance.now();
    const decoded = this.decode(frame);
    if (!decoded) return null;
    const { request, apiVersion } = decoded;
    const replicaId = apiVersion >= FIRST_VERSION_WITH_REPLICA_STATE ? request.replicaState.replicaId : request.replicaId;
    if (replicaId >= 0 || request.sessionId !== SESSIONLESS_ID || request.sessionEpoch !== SESSIONLESS_EPOCH || request.forgottenTopicsData.length > 0) return null;
    const byOwner = new Map<number, FetchRequest["topics"]>();
    const watchedBy = new Map<number, WatchedPartition[]>();
    for (const fetchTopic of request.topics) {
      const topic = this.topicOf(fetchTopic, apiVersion);
      if (!topic) return null;
      for (const fetchPartition of fetchTopic.partitions) {
        const owner = this.view.ownerOf(topic, fetchPartition.partition);
        if (owner < 0 || (owner !== this.view.workerIndex && !peers.has(owner))) return null;
        const epoch = topic.metadata.partitions[fetchPartition.partition]!.leaderEpoch;
        if (fetchPartition.currentLeaderEpoch >= 0 && fetchPartition.currentLeaderEpoch !== epoch) return null;
        let topics = byOwner.get(owner);
        if (!topics) byOwner.set(owner, (topics = []));
        let watched = watchedBy.get(owner);
        if (!watched) watchedBy.set(owner, (watched = []));
        watched.push({ topic: topic.metadata.name, partition: fetchPartition.partition });
        const last = topics[topics.length - 1];
        if (last && last.topic === fetchTopic.topic && last.topicId === fetchTopic.topicId) last.partitions.push(fetchPartition);
        else topics.push({ ...fetchTopic, partitions: [fetchPartition] });
      }
    }
    if (byOwner.size < 2) return null;
    const parts = [...byOwner].map(([worker, topics]) => ({ worker, request: { ...request, maxWaitMs: 0, minBytes: 0, topics }, watched: watchedBy.get(worker)! }));
    return {
      apiVersion,
      parts,
      maxWaitMs: Math.max(0, Math.min(request.maxWaitMs, FETCH_MAX_WAIT_MS_CAP)),
      merge: (replies, final, waitedMs) => {
        const merged = mergeFetchReplies(request, apiVersion, replies);
        // As the Fetch handler: a partition error ends the wait, except the ones Kafka answers beside a long poll.
        if (!final && merged.bytes < request.minBytes && request.maxWaitMs > 0 && !merged.hasError) return null;
        const trace = newRequestTrace(ApiKey.Fetch, frame.readMs ?? 0);
        trace.handlerMs = performance.now() - startedMs;
        trace.waitMs = waitedMs;
        this.notifyFetched(merged.reply, (performance.now() - startedMs) / 1000, trace);
        return encodeResponse(ApiKey.Fetch, apiVersion, decoded.correlationId, (writer) => Apis.Fetch.writeResponse(writer, apiVersion, merged.reply));
      },
    };
  }

  /** One owner's part of a split fetch (planSplit): read at once, answered unencoded, counted by the worker that merges. */
  async fetchPart(request: FetchRequest, apiVersion: number, views: SegmentViews): Promise<Input<FetchResponse>> {
    const frame: Frame = { payload: EMPTY_PAYLOAD, ownsBuffer: false, pooled: null, chargedBytes: 0 };
    const reply = await this.run(PEER_CONNECTION, frame, views, { apiVersion, correlationId: 0, clientId: null, request }, null);
    if (reply === null) throw new Error("a fetch part was answered with nothing");
    return reply;
  }
}

const EMPTY_PAYLOAD = new Uint8Array(0);

type PartitionAnswer = NonNullable<Input<FetchResponse>["responses"]>[number]["partitions"] extends readonly (infer Answer)[] | undefined ? Answer : never;

/**
 * The parts' partition answers in the request's order (a partition named twice answered once, at its first
 * place, as the handler does), consecutive partitions of one topic in one entry; records past max.bytes are
 * left out, but the first partition with data keeps its batch (KIP-74), as in the handler.
 */
function mergeFetchReplies(request: FetchRequest, apiVersion: number, replies: readonly Input<FetchResponse>[]): { reply: Input<FetchResponse>; bytes: number; hasError: boolean } {
  const usesTopicIds = apiVersion >= FIRST_FETCH_VERSION_WITH_TOPIC_IDS;
  const keyOfTopic = (topic: string | undefined, topicId: Uint8Array | undefined) => (usesTopicIds ? topicIdHex(topicId ?? new Uint8Array(16)) : (topic ?? ""));
  const answers = new Map<string, { topic: string | undefined; topicId: Uint8Array | undefined; answer: PartitionAnswer }>();
  for (const reply of replies) {
    for (const topic of reply.responses ?? []) {
      for (const answer of topic.partitions ?? []) answers.set(`${keyOfTopic(topic.topic, topic.topicId)}\u0000${answer.partitionIndex}`, { topic: topic.topic, topicId: topic.topicId, answer });
    }
  }
  const responseMaxBytes = request.maxBytes > 0 ? request.maxBytes : 0x7fffffff;
  const responses: NonNullable<Input<FetchResponse>["responses"]>[number][] = [];
  const seen = new Set<string>();
  let bytes = 0;
  let hasError = false;
  let previousTopicKey: string | null = null;
  for (const fetchTopic of request.topics) {
    const topicKey = keyOfTopic(fetchTopic.topic, fetchTopic.topicId);
    for (const fetchPartition of fetchTopic.partitions) {
      const key = `${topicKey}\u0000${fetchPartition.partition}`;
      if (seen.has(key)) continue;
      seen.add(key);
      const found = answers.get(key);
      if (!found) continue;
      let answer = found.answer;
      if (answer.errorCode !== undefined && answer.errorCode !== ErrorCode.NONE && !WAIT_DESPITE_ERRORS.has(answer.errorCode)) hasError = true;
      const records = answer.records as MappedRecords | Uint8Array | null | undefined;
      const size = !records ? 0 : records instanceof Uint8Array ? records.byteLength : records.sizeBytes;
      if (size > 0 && bytes > 0 && bytes + size > responseMaxBytes) answer = { ...answer, records: EMPTY_PAYLOAD };
      else bytes += size;
      if (topicKey !== previousTopicKey) {
        responses.push({ topic: found.topic, topicId: found.topicId, partitions: [] });
        previousTopicKey = topicKey;
      }
      (responses[responses.length - 1]!.partitions as PartitionAnswer[]).push(answer);
    }
  }
  return { reply: { throttleTimeMs: 0, errorCode: ErrorCode.NONE, sessionId: 0, responses, nodeEndpoints: [] }, bytes, hasError };
}

type DecodedFetch = DecodedRequest<FetchRequest>;

/** What the answer carries, per partition: bytes for the traffic counters, error codes for the error counters. */
function servedTraffic(reply: Input<FetchResponse>, nameOf: (topicId: Uint8Array) => string): Pick<FetchedNotice, "partitions" | "errorCodes"> {
  const partitions: { topic: string; partition: number; bytes: number }[] = [];
  const errorCodes: number[] = [];
  for (const topic of reply.responses ?? []) {
    for (const partition of topic.partitions ?? []) {
      if (partition.errorCode !== undefined && partition.errorCode !== ErrorCode.NONE) errorCodes.push(partition.errorCode);
      const records = partition.records as MappedRecords | Uint8Array | null | undefined;
      const bytes = !records ? 0 : records instanceof Uint8Array ? records.byteLength : records.sizeBytes;
      // From v13 the answer names topics by id only.
      if (bytes > 0) partitions.push({ topic: topic.topic || (topic.topicId ? nameOf(topic.topicId) : ""), partition: partition.partitionIndex ?? -1, bytes });
    }
  }
  return { partitions, errorCodes };
}
