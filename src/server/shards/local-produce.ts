// A partition worker that is also a network shard (partition.workers.listen) answers a produce whose every
// partition it owns in its own thread: the batches are appended from the very bytes the socket read, and the
// reply goes out without crossing a thread (issue 13 item 1). It runs the same Produce handler as the main
// thread, with capabilities that are true only in the cases it accepts; anything else goes to the main
// thread, which answers it as it answers every shard's request:
//   - no authorizer, no produce or request-time quota and no armed fault (the main thread's flags), a
//     PLAINTEXT connection (no SASL state here), and no partition led here changed hands since the main
//     thread's last snapshot (the leadership generation, checked again by the owner in the turn that writes);
//   - every partition is open here, led here in that snapshot, not internal, and no batch is transactional
//     (verification needs the coordinator); acks=all only where each ISR led here is at least
//     min.insync.replicas.
// The main thread learns of each append from a notice posted on a port of its own before the reply is
// written: it records the offsets, moves the high watermark, wakes long-polling fetches and counts the
// traffic exactly as after an append it asked for. It takes the queued notices synchronously before it
// handles any request, so a request sent after an acknowledgement sees that append (docs/ARCHITECTURE.md).
// Single-node, acks=all is committed once appended (the ISR is this broker); in a cluster the notice asks the
// main thread to wait for the ISR as for its own produce, and the reply waits for its "committed".
import type { RequestContext, RequestTrace } from "../../api/context.ts";
import { newRequestTrace } from "../../api/request-trace.ts";
import { produceHandler } from "../../api/produce.ts";
import { isInternalTopic } from "../../metadata/internal-topics.ts";
import type { ProduceItem, ProduceResult } from "../../partition/messages.ts";
import { ErrorCode } from "../../protocol/errors.ts";
import { ApiKey, Apis } from "../../protocol/generated/index.ts";
import type { ProduceRequest } from "../../protocol/generated/produce.ts";
import { ATTRIBUTES_OFFSET, RECORDS_OFFSET, TRANSACTIONAL_FLAG_MASK, dataViewOf } from "../../records/batch.ts";
import type { Connection, ReplyChunks } from "../connection.ts";
import { encodeResponse } from "../dispatch.ts";
import type { Frame } from "../frame-reader.ts";
import type { AppendedNotice } from "./messages.ts";
import { LOCAL_CAPABILITIES, LocalApi, decodeRequest, type DecodedRequest, type LocalPartitionView } from "./local-view.ts";
import type { SegmentViews } from "../../log/segment-views.ts";

/** Produce v3 is the first with record batches; older versions go to the main thread, which refuses them. */
const FIRST_LOCAL_VERSION = 3;
/** How long past its timeout an acks=all produce waits for the main thread's answer before it answers REQUEST_TIMED_OUT itself. */
const COMMIT_ANSWER_GRACE_MS = 5_000;
const TIMER_MAX_MS = 2 ** 31 - 1;

export class LocalProduce extends LocalApi<ProduceRequest> {
  constructor(
    view: LocalPartitionView,
    private readonly notify: (notice: AppendedNotice) => void,
    private readonly log: (message: string) => void,
  ) {
    super(view);
  }

  protected enabled(): boolean {
    return this.view.produceEnabled;
  }

  protected decode(frame: Frame): DecodedProduce | null {
    return decodeRequest(frame, Apis.Produce, FIRST_LOCAL_VERSION, produceHandler.maxVersion);
  }

  protected ownerOfAll({ request }: DecodedProduce): number {
    if (request.transactionalId !== null || (request.acks !== 0 && request.acks !== 1 && request.acks !== -1)) return -1;
    let worker = -1;
    for (const topicData of request.topicData) {
      const topic = this.view.topic(topicData.name);
      if (!topic || isInternalTopic(topicData.name) || (request.acks === -1 && topic.acksAllRefused)) return -1;
      for (const partitionData of topicData.partitionData) {
        const owner = this.view.ownerOf(topic, partitionData.index);
        if (owner < 0 || (worker >= 0 && owner !== worker)) return -1;
        worker = owner;
        const records = partitionData.records;
        if (!(records instanceof Uint8Array) || records.byteLength === 0 || isTransactional(records)) return -1;
      }
    }
    return worker;
  }

  protected isOpenHere({ request }: DecodedProduce): boolean {
    return request.topicData.every((topicData) => topicData.partitionData.every((partitionData) => this.view.owner.isOpen(topicData.name, partitionData.index)));
  }

  protected async answer(connection: Connection, frame: Frame, _views: SegmentViews, decoded: DecodedProduce, startedMs: number): Promise<ReplyChunks> {
    const { apiVersion, correlationId, clientId, request } = decoded;
    const trace = newRequestTrace(ApiKey.Produce, frame.readMs ?? 0);
    const owner = this.view.owner;
    const view = this.view;
    const context = {
      apiKey: ApiKey.Produce,
      apiVersion,
      correlationId,
      clientId,
      frame,
      connection,
      requestTimer: null,
      trace,
      topics: { get: (name: string) => view.topic(name)?.metadata },
      ...LOCAL_CAPABILITIES,
      replication: {
        // Leadership was judged at plan; the owner checks the stamped generation again in the turn that writes.
        checkProduceAllowed: () => ErrorCode.NONE,
        afterLeaderAppend: (items: ProduceItem[], results: ProduceResult[], acks: number, timeoutMs: number) => this.afterAppend(items, results, acks, timeoutMs, startedMs, trace),
      },
      partitions: {
        produce: (items: ProduceItem[]) => {
          if (view.cluster) for (const item of items) item.leadershipGeneration = view.leadershipGeneration;
          return owner.produce(items);
        },
      },
      log: this.log,
    } as unknown as RequestContext;
    const reply = await produceHandler.handle(context, request);
    if (reply === null) return null;
    return encodeResponse(ApiKey.Produce, apiVersion, correlationId, (writer) => Apis.Produce.writeResponse(writer, apiVersion, reply)) as Uint8Array[];
  }

  /**
   * The main thread's bookkeeping follows the notice, posted here before the reply is written. Single-node (the
   * ISR is this broker) an append is committed at once; in a cluster acks=all waits for the main thread's word
   * that the ISR has every record ("committed"), and acks 0 and 1 are answered at once as on the main thread.
   */
  private afterAppend(items: ProduceItem[], results: ProduceResult[], acks: number, timeoutMs: number, startedMs: number, trace: RequestTrace): Promise<number[]> {
    const seconds = (performance.now() - startedMs) / 1000;
    // The handler up to here, as the dispatcher counts a request; the handler itself split the owner's part into stages.
    trace.handlerMs = seconds * 1000;
    const waits = this.view.cluster && acks === -1 && results.some((result) => result.errorCode === ErrorCode.NONE);
    const commit = waits ? { id: this.nextCommitId++, timeoutMs } : undefined;
    const committed = commit ? this.awaitCommit(commit.id, timeoutMs, items.length) : null;
    this.notify({
      kind: "appended",
      items: items.map((item) => ({ topic: item.topic, partition: item.partition, leaderEpoch: item.leaderEpoch, bytes: item.records.byteLength })),
      results,
      seconds,
      trace,
      commit,
    });
    return committed ?? Promise.resolve(results.map((result) => result.errorCode));
  }

  private readonly commits = new Map<number, { resolve: (errorCodes: number[]) => void; items: number; timer: ReturnType<typeof setTimeout> }>();
  private nextCommitId = 1;

  private awaitCommit(id: number, timeoutMs: number, items: number): Promise<number[]> {
    return new Promise<number[]>((resolve) => {
      // The main thread answers within timeoutMs (its own timer); this one only keeps a lost answer from holding the request forever.
      // Capped: a timer past 2^31-1 ms would fire at once.
      const timer = setTimeout(() => this.committed(id, null), Math.min(Math.max(0, timeoutMs) + COMMIT_ANSWER_GRACE_MS, TIMER_MAX_MS));
      this.commits.set(id, { resolve, items, timer });
    });
  }

  /** The main thread's answer to an acks=all append (null: none came in time, REQUEST_TIMED_OUT). */
  committed(id: number, errorCodes: readonly number[] | null): void {
    const waiting = this.commits.get(id);
    if (!waiting) return;
    this.commits.delete(id);
    clearTimeout(waiting.timer);
    waiting.resolve(errorCodes ? [...errorCodes] : new Array<number>(waiting.items).fill(ErrorCode.REQUEST_TIMED_OUT));
  }
}

type DecodedProduce = DecodedRequest<ProduceRequest>;

function isTransactional(records: Uint8Array): boolean {
  return records.byteLength >= RECORDS_OFFSET && (dataViewOf(records).getInt16(ATTRIBUTES_OFFSET) & TRANSACTIONAL_FLAG_MASK) !== 0;
}
