// What listening partition workers answer themselves (partition.workers.listen), as the network shard in
// their thread sees it (network-shard.ts forward): the interfaces between the shard and local-*.ts.
import type { SegmentViews } from "../../log/segment-views.ts";
import type { Input } from "../../protocol/codec/input.ts";
import type { FetchRequest, FetchResponse } from "../../protocol/generated/fetch.ts";
import type { Connection, ReplyChunks } from "../connection.ts";
import type { Frame } from "../frame-reader.ts";

/** A request a listening partition worker can answer: which worker, and the request decoded for it. */
export interface LocalPlan {
  /** The listening worker that owns every partition the request names. */
  readonly worker: number;
  /** Answers it in this thread (the plan's worker is this one); null when it cannot after all (sent to the main thread). */
  answer(connection: Connection, views: SegmentViews): Promise<ReplyChunks> | null;
}

/** Requests listening partition workers answer themselves: a produce or a consumer's fetch of one worker's partitions. */
export interface LocalRequests {
  /** A consumer's fetch whose partitions several workers own, split by owner; null: not one to split. */
  planSplitFetch(connection: Connection, frame: Frame, peers: ReadonlySet<number>): SplitFetch | null;
  /** This worker's part of a split fetch, read at once. */
  fetchPart(request: FetchRequest, apiVersion: number, views: SegmentViews): Promise<Input<FetchResponse>>;
  /** Which worker may answer this request, judged from the main thread's last word (local-view.ts); null: the main thread. */
  plan(connection: Connection, frame: Frame): LocalPlan | null;
  /** A request another listening worker read and sent here: the reply, or null when this worker cannot answer it. */
  servePeer(frame: Frame, views: SegmentViews): Promise<ReplyChunks> | null;
  /** Calls `wake` once when one of these partitions of this worker is appended to; answers the withdrawal. */
  watch(partitions: readonly WatchedPartition[], wake: () => void): () => void;
}

/** A partition a split fetch's long poll waits on, by name (what the owners' PartitionWatchers key on). */
export interface WatchedPartition {
  readonly topic: string;
  readonly partition: number;
}

/** A fetch split over the workers that own its partitions (LocalFetch.planSplit). */
export interface SplitFetch {
  readonly apiVersion: number;
  /** Each owner's part: the sub-request (no wait), and its partitions by name for a long poll. */
  readonly parts: readonly { readonly worker: number; readonly request: FetchRequest; readonly watched: readonly WatchedPartition[] }[];
  /** The fetch's max.wait.ms (capped as the Fetch handler caps it); 0: answer at once. */
  readonly maxWaitMs: number;
  /**
   * The parts' answers, in `parts` order: the encoded reply, or null when it holds fewer than min.bytes and the
   * fetch should wait on (never when `final`: the wait is over).
   */
  merge(replies: readonly Input<FetchResponse>[], final: boolean, waitedMs: number): ReplyChunks;
}
