// What a listening partition worker (partition.workers.listen) knows of the broker when it answers a request
// itself: the main thread's last word on whether it may (the flags) and on the topics, plus its own
// partitions. Every request it cannot decide from this goes to the main thread (local-produce.ts, local-fetch.ts).
import type { TopicMetadata } from "../../metadata/types.ts";
import type { PartitionOwner } from "../../partition/partition-owner.ts";
import { ownerOfPartition } from "../../partition/partition-workers.ts";
import type { LocalPartitions } from "./messages.ts";
import type { Connection, ReplyChunks } from "../connection.ts";
import type { Frame } from "../frame-reader.ts";
import type { SegmentViews } from "../../log/segment-views.ts";
import type { ApiSchema } from "../../protocol/generated/index.ts";
import { requestHeaderVersion } from "../../protocol/generated/index.ts";
import { readRequestHeader } from "../../protocol/generated/headers.ts";
import { Reader } from "../../protocol/codec/reader.ts";
import type { LocalPlan } from "./local-requests.ts";
import { ANONYMOUS_PRINCIPAL } from "../../security/principal.ts";

/**
 * The connection a handler sees for a request another listening worker read: that worker checked it is a
 * PLAINTEXT one, waited for its write queue and writes the reply; no quota applies (local answers need none).
 */
export const PEER_CONNECTION = {
  id: -1,
  remoteIp: "",
  security: { listener: { name: "", securityProtocol: "PLAINTEXT" }, principal: ANONYMOUS_PRINCIPAL, authenticated: true },
  waitForWriteRoom: () => null,
  mute: () => undefined,
} as unknown as Connection;

export interface LocalTopic {
  /** Enough of TopicMetadata for the Produce and Fetch handlers: name, id and each partition's leader and epoch. */
  readonly metadata: TopicMetadata;
  readonly acksAllRefused: boolean;
}

/** Bits of the shared flags cell: what listening workers may answer now (set by the main thread, server/broker.ts). */
export const LOCAL_PRODUCE_FLAG = 1;
export const LOCAL_FETCH_FLAG = 2;

/** The shared cells (an Int32Array the main thread writes, every listening worker reads): the flags above. */
export const LOCAL_FLAGS = 0;
/**
 * The leadership generation: the main thread adds one, before it acts on the change, whenever this broker stops
 * leading a partition or a partition it leads gets a new epoch (cluster only). A worker answers only while it
 * equals its snapshot's (a stale snapshot could name a partition that is now a follower here, whose log the
 * replica fetcher is about to truncate), and its owner refuses a leader append stamped with an older one.
 */
export const LEADERSHIP_GENERATION = 1;
export const LOCAL_CELLS = 2;

export class LocalPartitionView {
  private byName = new Map<string, LocalTopic>();
  private byId = new Map<string, LocalTopic>();
  /** The snapshot's leadership generation (LEADERSHIP_GENERATION); -1 before the first. */
  private generation = -1;
  /** A cluster (the snapshot says): acks=all waits for the main thread, consumers read to published high watermarks. */
  cluster = false;

  constructor(
    readonly owner: PartitionOwner,
    readonly workerIndex: number,
    private readonly workerCount: number,
    /** The main thread's flags (LOCAL_*_FLAG), read at every request: a change applies to the next one at once. */
    private readonly flags: Int32Array,
  ) {}

  /** Produce may be answered here (local-produce.ts lists the conditions the main thread checked). */
  get produceEnabled(): boolean {
    return (Atomics.load(this.flags, LOCAL_FLAGS) & LOCAL_PRODUCE_FLAG) !== 0 && this.leadershipCurrent;
  }

  /** Consumers' fetches may be answered here (also no consumer_byte_rate quota). */
  get fetchEnabled(): boolean {
    return (Atomics.load(this.flags, LOCAL_FLAGS) & LOCAL_FETCH_FLAG) !== 0 && this.leadershipCurrent;
  }

  /** No partition led here when the snapshot was taken has changed hands since (the owner reads it again at the write). */
  get leadershipCurrent(): boolean {
    return Atomics.load(this.flags, LEADERSHIP_GENERATION) === this.generation;
  }

  /** What a leader append answered here is stamped with (ProduceItem.leadershipGeneration). */
  get leadershipGeneration(): number {
    return this.generation;
  }

  update(snapshot: LocalPartitions): void {
    this.generation = snapshot.generation;
    this.cluster = snapshot.cluster;
    const byName = new Map<string, LocalTopic>();
    const byId = new Map<string, LocalTopic>();
    for (const topic of snapshot.topics) {
      const partitions = topic.leaderEpochs.map((leaderEpoch, partition) => ({ partition, leader: leaderEpoch < 0 ? -1 : snapshot.nodeId, leaderEpoch }));
      const local: LocalTopic = { metadata: { name: topic.name, topicId: topic.topicId, partitions } as unknown as TopicMetadata, acksAllRefused: topic.acksAllRefused };
      byName.set(topic.name, local);
      if (topic.topicId) byId.set(topic.topicId, local);
    }
    this.byName = byName;
    this.byId = byId;
  }

  topic(name: string): LocalTopic | undefined {
    return this.byName.get(name);
  }

  topicById(topicIdHex: string): LocalTopic | undefined {
    return this.byId.get(topicIdHex);
  }

  /** Led here, hashed to this worker and open in it (a deleted partition is closed here before the main thread forgets it). */
  serves(topic: LocalTopic, partition: number): boolean {
    return this.ownerOf(topic, partition) === this.workerIndex && this.owner.isOpen(topic.metadata.name, partition);
  }

  /** The worker a partition led here is hashed to; -1 when it is not known or not led here. */
  ownerOf(topic: LocalTopic, partition: number): number {
    const state = topic.metadata.partitions[partition];
    if (!state || state.leaderEpoch < 0) return -1;
    return ownerOfPartition(topic.metadata.name, partition, this.workerCount);
  }
}

/**
 * What the handlers may ask of the broker that is the same for every local answer: every check passes (no
 * authorizer, no quota: the conditions for answering here at all), and no other broker is named (a
 * NOT_LEADER_OR_FOLLOWER answered here carries no current leader: the client asks the metadata again).
 */
export const LOCAL_CAPABILITIES = {
  authorizer: { enabled: false, authorize: () => true, authorizeAny: () => true },
  quotas: { record: () => 0 },
  cluster: { brokers: () => [] },
};

/** A request decoded by a listening worker: the header fields the answer needs and the body. */
export interface DecodedRequest<Request> {
  readonly apiVersion: number;
  readonly correlationId: number;
  readonly clientId: string | null;
  readonly request: Request;
}

/** Decodes a request of `schema` between `minVersion` and `maxVersion`; null otherwise or when malformed (the main thread then closes the connection, naming why). */
export function decodeRequest<Request>(frame: Frame, schema: ApiSchema<Request, unknown>, minVersion: number, maxVersion: number): DecodedRequest<Request> | null {
  const payload = frame.payload;
  if (payload.byteLength < 8) return null;
  const apiVersion = ((payload[2]! << 8) | payload[3]!) << 16 >> 16;
  if (apiVersion < minVersion || apiVersion > maxVersion) return null;
  try {
    const reader = new Reader(payload);
    const header = readRequestHeader(reader, requestHeaderVersion(schema.apiKey, apiVersion));
    return { apiVersion, correlationId: header.correlationId, clientId: header.clientId, request: schema.readRequest(reader, apiVersion) };
  } catch {
    return null;
  }
}

/**
 * One API a listening worker answers for its own partitions (local-produce.ts, local-fetch.ts): which worker may
 * answer a request read here (plan), and the answer to one a peer read (servePeer), from the same four steps.
 */
export abstract class LocalApi<Request> {
  constructor(protected readonly view: LocalPartitionView) {}

  /** The main thread's flags allow this API here now. */
  protected abstract enabled(): boolean;
  protected abstract decode(frame: Frame): DecodedRequest<Request> | null;
  /** The one worker owning every partition the request names, as the main thread last said; -1 when there is none or it may not be answered there. */
  protected abstract ownerOfAll(decoded: DecodedRequest<Request>): number;
  /** Every partition it names is open in this worker now. */
  protected abstract isOpenHere(decoded: DecodedRequest<Request>): boolean;
  protected abstract answer(connection: Connection, frame: Frame, views: SegmentViews, decoded: DecodedRequest<Request>, startedMs: number): Promise<ReplyChunks>;

  /** The listening worker that may answer this request of a PLAINTEXT connection read here; null: the main thread. */
  plan(connection: Connection, frame: Frame): LocalPlan | null {
    if (!this.enabled() || connection.security.listener.securityProtocol !== "PLAINTEXT") return null;
    const startedMs = performance.now();
    const decoded = this.decode(frame);
    if (!decoded) return null;
    const worker = this.ownerOfAll(decoded);
    if (worker < 0) return null;
    return { worker, answer: (answerOn, views) => (this.isOpenHere(decoded) ? this.answer(answerOn, frame, views, decoded, startedMs) : null) };
  }

  /** A request another listening worker read for partitions this one owns (that worker waited for its write queue). */
  servePeer(frame: Frame, views: SegmentViews): Promise<ReplyChunks> | null {
    if (!this.enabled()) return null;
    const startedMs = performance.now();
    const decoded = this.decode(frame);
    if (!decoded || this.ownerOfAll(decoded) !== this.view.workerIndex || !this.isOpenHere(decoded)) return null;
    return this.answer(PEER_CONNECTION, frame, views, decoded, startedMs);
  }
}
