// A partition worker that is also a network shard (partition.workers.listen) answers a produce whose every
// partition it owns in its own thread: the batches are appended from the very bytes the socket read, and the
// reply goes out without crossing a thread (issue 13 item 1). It runs the same Produce handler as the main
// thread, with capabilities that are true only in the cases it accepts; anything else goes to the main
// thread, which answers it as it answers every shard's request:
//   - the broker is single-node (leadership never moves, the ISR is this broker, acks=all commits at append),
//     no authorizer, no produce or request-time quota and no armed fault (the main thread's flags), a
//     PLAINTEXT connection (no SASL state here);
//   - every partition is open here, known to the main thread's last snapshot, not internal, and no batch is
//     transactional (verification needs the coordinator); acks=all only where min.insync.replicas <= 1.
// The main thread learns of each append from a notice posted on a port of its own before the reply is
// written: it records the offsets, moves the high watermark, wakes long-polling fetches and counts the
// traffic exactly as after an append it asked for. It takes the queued notices synchronously before it
// handles any request, so a request sent after an acknowledgement sees that append (docs/ARCHITECTURE.md).
import type { RequestContext } from "../../api/context.ts";
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
    let appended: { items: ProduceItem[]; results: ProduceResult[]; bytes: number[] } | null = null;
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
        checkProduceAllowed: () => ErrorCode.NONE,
        // Single-node, ISR = this broker: committed once appended. The main thread's bookkeeping follows the notice.
        afterLeaderAppend: (items: ProduceItem[], results: ProduceResult[]) => {
          appended = { items, results, bytes: items.map((item) => item.records.byteLength) };
          return Promise.resolve(results.map((result) => result.errorCode));
        },
      },
      partitions: { produce: (items: ProduceItem[]) => owner.produce(items) },
      log: this.log,
    } as unknown as RequestContext;
    const reply = await produceHandler.handle(context, request);
    const done = appended as { items: ProduceItem[]; results: ProduceResult[]; bytes: number[] } | null;
    if (done) {
      const seconds = (performance.now() - startedMs) / 1000;
      // The whole handler, as the dispatcher counts it; the handler itself split the owner's part into stages.
      trace.handlerMs = seconds * 1000;
      this.notify({
        kind: "appended",
        items: done.items.map((item, index) => ({ topic: item.topic, partition: item.partition, leaderEpoch: item.leaderEpoch, bytes: done.bytes[index]! })),
        results: done.results,
        seconds,
        trace,
      });
    }
    if (reply === null) return null;
    return encodeResponse(ApiKey.Produce, apiVersion, correlationId, (writer) => Apis.Produce.writeResponse(writer, apiVersion, reply)) as Uint8Array[];
  }
}

type DecodedProduce = DecodedRequest<ProduceRequest>;

function isTransactional(records: Uint8Array): boolean {
  return records.byteLength >= RECORDS_OFFSET && (dataViewOf(records).getInt16(ATTRIBUTES_OFFSET) & TRANSACTIONAL_FLAG_MASK) !== 0;
}
