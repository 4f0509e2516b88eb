// What crosses between the main thread and a network shard (shard-thread.ts). A shard holds sockets and
// frames; the main thread holds every connection's request state and handles the requests. Requests go
// main-ward as their bytes (a transferred ArrayBuffer, or a view of a SharedArrayBuffer pool block);
// replies come back as heap bytes (transferred) and file ranges named by file identity, which the shard
// writes from its own mmap view of the segment: record data is never copied between threads.
import type { ConnectionLimits } from "../connection.ts";
import type { ListenerIdentity } from "../../security/principal.ts";
import type { ProduceResult } from "../../partition/messages.ts";
import type { RequestTrace } from "../../api/context.ts";
import type { FetchRequest, FetchResponse } from "../../protocol/generated/fetch.ts";
import type { Input } from "../../protocol/codec/input.ts";
import type { WatchedPartition } from "./local-requests.ts";

/** A listener a shard also accepts on (the port is already bound by the main thread, with SO_REUSEPORT). */
export interface ShardListener extends ListenerIdentity {
  readonly host: string;
  readonly port: number;
}

/** A fetch's record data in a reply: a byte range of one segment file, named as the worker's read named it. */
export interface FileRange {
  readonly path: string;
  readonly inode: number;
  readonly generation: number;
  readonly fileId: string;
  readonly position: number;
  readonly sizeBytes: number;
}

export type ReplyChunk = Uint8Array | FileRange;

export interface SharedBudget {
  readonly maxBytes: number;
  /** One cell per thread (request-budget.ts); a shard charges cell `shard`. */
  readonly shared: BigInt64Array | null;
}

/** A listening partition worker (partition.workers.listen): the topics as the main thread sees them now (its flags are in `localFlags`). */
export interface LocalPartitions {
  readonly nodeId: number;
  /**
   * The leadership generation this snapshot was taken at (local-view.ts LEADERSHIP_GENERATION): once the main
   * thread has moved it on, the snapshot may name a partition this broker no longer leads.
   */
  readonly generation: number;
  /** A cluster: consumers read to the high watermarks published here and in `highWatermarks` messages, acks=all waits for the main thread. */
  readonly cluster: boolean;
  /**
   * Every topic: its id (hex, for Fetch v13+), its partitions' leader epochs (-1: not led here), their high
   * watermarks (cluster only, -1 where not led here), and whether acks=all is refused (an ISR of a partition
   * led here is smaller than min.insync.replicas).
   */
  readonly topics: readonly { readonly name: string; readonly topicId: string; readonly leaderEpochs: readonly number[]; readonly highWatermarks: readonly number[]; readonly acksAllRefused: boolean }[];
}

/** One partition a shard appended to itself (its records stayed in the shard). */
export interface AppendedItem {
  readonly topic: string;
  readonly partition: number;
  readonly leaderEpoch: number;
  readonly bytes: number;
}

/**
 * A listening partition worker answered a produce itself: the main thread applies the results as after its own
 * append (offsets, high watermark, long polls, traffic). Posted on the notices port before the reply is written.
 */
export interface AppendedNotice {
  readonly kind: "appended";
  readonly items: readonly AppendedItem[];
  readonly results: readonly ProduceResult[];
  /** The request's handling time, for the request-time metric. */
  readonly seconds: number;
  readonly trace: RequestTrace;
  /**
   * acks=all in a cluster: the worker waits for the main thread's "committed" with this id (the ISR has every
   * record, or the error), which comes within `timeoutMs` (the request's timeout).
   */
  readonly commit?: { readonly id: number; readonly timeoutMs: number };
}

/** A listening partition worker answered a consumer's fetch itself: the traffic it served, for /metrics. */
export interface FetchedNotice {
  readonly kind: "fetched";
  readonly partitions: readonly { readonly topic: string; readonly partition: number; readonly bytes: number }[];
  /** Partition error codes answered, for the error counters. */
  readonly errorCodes: readonly number[];
  readonly seconds: number;
  readonly trace: RequestTrace;
}

/**
 * Between listening partition workers: a request one read for partitions another owns ("serve"), and the
 * answer ("served": the reply as for a shard, or declined with the bytes handed back, or a failure).
 */
export type PeerMessage =
  | { readonly type: "serve"; readonly id: number; readonly payload: Uint8Array; readonly readMs: number }
  /** One owner's part of a consumer's fetch split over several workers (local-fetch.ts planSplit), read at once. */
  | { readonly type: "fetchPart"; readonly id: number; readonly apiVersion: number; readonly request: FetchRequest }
  /** Its answer, unencoded, each partition's records as a file range; or why it failed. */
  | { readonly type: "fetchPartDone"; readonly id: number; readonly reply: Input<FetchResponse> | null; readonly failure?: string }
  /**
   * A split fetch's long poll: tell me once any of these partitions of yours is appended to ("partsAppended"),
   * unless I withdraw first ("unwatchParts"). Posted before the part's read, on the same port.
   */
  | { readonly type: "watchParts"; readonly id: number; readonly partitions: readonly WatchedPartition[] }
  | { readonly type: "unwatchParts"; readonly id: number }
  | { readonly type: "partsAppended"; readonly id: number }
  | { readonly type: "served"; readonly id: number; readonly chunks: readonly ReplyChunk[] | null; readonly declined: boolean; readonly payload?: Uint8Array; readonly failure?: string };

/** Main thread → shard. */
export type ToShard =
  | {
      readonly type: "start";
      readonly shard: number;
      readonly listeners: readonly ShardListener[];
      readonly limits: ConnectionLimits;
      /** queued.max.request.bytes (<= 0: unbounded) and the cell every thread charges it to. */
      readonly budget: SharedBudget;
      readonly segmentViewsMax: number;
      /** The socket thread's counter tables (thread-counters.ts); this shard writes row `shard`. */
      readonly counters: { readonly fileTransfer: Float64Array; readonly writeQueue: Float64Array };
      /**
       * The socket thread's BUNKA_FETCH_TRANSFER and BUNKA_NATIVE (sendfile.ts): a Bun worker sees the
       * process environment as it was at start, not as the embedding process changed it since.
       */
      readonly environment: Readonly<Record<string, string | undefined>>;
      /** Set for listening partition workers (partition.workers.listen): how many workers own partitions. */
      readonly listeningWorkers?: number;
      /**
       * A listening partition worker's port for its append notices (AppendedNotice). A port, not the worker's
       * own channel, so the main thread can take the notices synchronously (receiveMessageOnPort) before it
       * handles any request: a request sent after an acknowledgement then always sees that append.
       */
      readonly notices?: MessagePort;
      /** With `notices`: the wake-up port and the shared cell saying when the main thread wants one (notice-wakes.ts). */
      readonly noticeWakes?: { readonly port: MessagePort; readonly cell: Int32Array };
      /**
       * Listening partition workers: whether they may answer produce (bit 0) and consumers' fetches (bit 1) now,
       * in shared memory so that a quota or a fault applies to every request sent after it was set (local-view.ts).
       */
      readonly localFlags?: Int32Array;
      /** Listening partition workers: a port to every other worker, by worker index (null at this worker's own). */
      readonly peers?: readonly (MessagePort | null)[];
    }
  /**
   * The answer to request `request` of `connection`, exactly one per request, also when the connection
   * closed meanwhile: only then may the shard give back the frame (a pooled block a partition worker may
   * still be reading). Null chunks: no reply (acks=0, or the connection is gone).
   */
  | { readonly type: "reply"; readonly connection: number; readonly request: number; readonly chunks: readonly ReplyChunk[] | null }
  /** Close the connection (the main thread logged why); replies still queued are dropped, as on the main thread. */
  | { readonly type: "close"; readonly connection: number }
  /** Close every connection the shard holds, also those whose "open" the main thread has not read yet (close-connections fault). */
  | { readonly type: "closeAll" }
  | { readonly type: "mute"; readonly connection: number; readonly ms: number }
  | { readonly type: "authenticated"; readonly connection: number }
  /** How the connection sends fetch data (sendfile.ts fileTransferMode on the socket thread, at admission). */
  | { readonly type: "fileTransfer"; readonly connection: number; readonly mode: "mmap" | "sendfile" }
  /** Admission found it comes from another broker (replica fetcher): never paused at a frame boundary for the budget. */
  | { readonly type: "interBroker"; readonly connection: number }
  /** Stop accepting; with `closeActive`, drop every connection too. */
  | { readonly type: "stopListening"; readonly closeActive: boolean }
  /** Clean stop: no new connections, replies still queued written (up to `timeoutMs`), then every connection closed. */
  | { readonly type: "drainAndClose"; readonly timeoutMs: number }
  /** Test hook (faults): the shard throws from its event loop, as a bug would. */
  | { readonly type: "crash" }
  /** To listening partition workers: worker `worker` died; what was sent to it will not be answered. */
  | { readonly type: "peerFailed"; readonly worker: number }
  /** To a listening partition worker: the produce requests it may answer itself (local-produce.ts). */
  | { readonly type: "partitions"; readonly partitions: LocalPartitions }
  /** To a listening partition worker in a cluster: the high watermarks of its partitions that moved (consumers read to them). */
  | { readonly type: "highWatermarks"; readonly entries: readonly { readonly topic: string; readonly partition: number; readonly highWatermark: number }[] }
  /** To a listening partition worker in a cluster: the outcome of an acks=all produce it appended (AppendedNotice.commit), one code per item. */
  | { readonly type: "committed"; readonly id: number; readonly errorCodes: readonly number[] };

/** Shard → main thread. */
export type FromShard =
  | { readonly type: "listening" }
  | { readonly type: "listenFailed"; readonly reason: string }
  | { readonly type: "open"; readonly connection: number; readonly listener: number; readonly remoteIp: string; readonly remotePort: number | undefined }
  /** `readMs`: the frame's network read time (frame-reader.ts), for the request's stage timings. */
  | { readonly type: "request"; readonly connection: number; readonly request: number; readonly payload: Uint8Array; readonly readMs: number }
  | { readonly type: "closed"; readonly connection: number }
  /** Reply send times (apiKey, seconds pairs, flat), batched: bunka's response send time metric. */
  | { readonly type: "sent"; readonly times: number[] }
  /** drainAndClose finished. */
  | { readonly type: "drained" }
  | { readonly type: "log"; readonly message: string };
