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
// Single-node, so the high watermark is the log end offset once an append is answered: a read stops at the end
// of the appends this owner has answered (LocalAppends), which is where the main thread's high watermark moves
// when it applies them. Long polls wait on this owner's appends, whichever thread asked for them.
import type { RequestContext, RequestTrace } from "../../api/context.ts";
import { fetchHandler, FIRST_FETCH_VERSION_WITH_TOPIC_IDS } from "../../api/fetch.ts";
import type { SegmentViews } from "../../log/segment-views.ts";
import type { MappedRecords } from "../../log/segment-views.ts";
import { topicIdHex } from "../../metadata/types.ts";
import type { ReadItem } from "../../partition/messages.ts";
import { PartitionWatchers } from "../../partition/partition-watchers.ts";
import { ErrorCode } from "../../protocol/errors.ts";
import { ApiKey, Apis } from "../../protocol/generated/index.ts";
import type { FetchRequest, FetchResponse } from "../../protocol/generated/fetch.ts";
import type { Input } from "../../protocol/codec/input.ts";
import type { Connection, ReplyChunks } from "../connection.ts";
import { encodeResponse } from "../dispatch.ts";
import type { Frame } from "../frame-reader.ts";
import type { FetchedNotice } from "./messages.ts";
import { LocalApi, decodeRequest, type DecodedRequest, type LocalPartitionView } from "./local-view.ts";

/** Fetch v15 (KIP-903): the replica id moved into replica_state. */
const FIRST_VERSION_WITH_REPLICA_STATE = 15;
const SESSIONLESS_ID = 0;
const SESSIONLESS_EPOCH = -1;

const keyOf = (topic: string, partition: number): string => `${topic}\u0000${partition}`;

/**
 * The appends this owner has answered, per partition: where a consumer's read stops (the high watermark, as
 * single-node) and what wakes a long poll. Fed by PartitionOwner's onAppended.
 */
export class LocalAppends {
  readonly watchers = new PartitionWatchers();
  private readonly answeredEnds = new Map<string, number>();

  onAppended(topic: string, partition: number, logEndOffset: number): void {
    const key = keyOf(topic, partition);
    if ((this.answeredEnds.get(key) ?? -1) < logEndOffset) this.answeredEnds.set(key, logEndOffset);
    this.watchers.notify(topic, partition);
  }

  /** -1: nothing appended since this thread started (the log as recovered is readable to its end). */
  answeredEnd(topic: string, partition: number): number {
    return this.answeredEnds.get(keyOf(topic, partition)) ?? -1;
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
    const { apiVersion, correlationId, clientId, request } = decoded;
    const { owner } = this.view;
    const view = this.view;
    const appends = this.appends;
    const readableEnd = (topic: string, partition: number): number => {
      const answered = appends.answeredEnd(topic, partition);
      if (answered >= 0) return answered;
      return owner.offsets([{ topic, partition }])[0]!.logEndOffset;
    };
    const trace: RequestTrace = { apiKey: ApiKey.Fetch, readMs: frame.readMs ?? 0, queueMs: 0, handlerMs: 0, handoffMs: 0, workerMs: 0, fsyncMs: 0, replicationMs: 0, waitMs: 0, sendMs: 0 };
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
      authorizer: { enabled: false, authorize: () => true, authorizeAny: () => true },
      quotas: { record: () => 0 },
      cluster: { brokers: () => [] },
      isStopping: () => false,
      log: this.log,
    } as unknown as RequestContext;
    const reply = await fetchHandler.handle(context, request);
    if (reply === null) return null;
    trace.handlerMs = Math.max(0, performance.now() - startedMs - trace.waitMs);
    this.notify({ kind: "fetched", ...servedTraffic(reply, (topicId) => view.topicById(topicIdHex(topicId))?.metadata.name ?? ""), seconds: (performance.now() - startedMs) / 1000, trace });
    return encodeResponse(ApiKey.Fetch, apiVersion, correlationId, (writer) => Apis.Fetch.writeResponse(writer, apiVersion, reply));
  }
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
