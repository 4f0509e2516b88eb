// What one Fetch request is to the session cache (Kafka's FetchManager.newContext and its FetchContexts):
//   epoch -1 (FINAL): a full fetch without a session, closing the one it names;
//   epoch 0 (INITIAL): a full fetch that also asks for a new session (closing the one it names);
//   epoch > 0: an incremental fetch in the named session, which must be at that epoch. Its partitions update
//   the session, the forgotten ones leave it, and the fetch reads every partition of the session.
// After the read, `answerFetch` says which partitions the answer carries and under which session id.
import { ErrorCode } from "../protocol/errors.ts";
import { assert } from "../util/assert.ts";
import {
  FINAL_EPOCH,
  INITIAL_EPOCH,
  INVALID_SESSION_ID,
  nextEpoch,
  sessionPartitionKey,
  type CachedPartition,
  type FetchSession,
  type FetchSessionCache,
  type PartitionAnswer,
  type PartitionFetchParams,
} from "./fetch-session-cache.ts";

/** A partition as a fetch names it: by topic id from v13 (topic ""), by name before (topicId ""). */
export interface FetchTarget extends PartitionFetchParams {
  readonly topicId: string;
  readonly topic: string;
  readonly partition: number;
}

export interface FetchSessionRequest {
  sessionId: number;
  sessionEpoch: number;
  /** v13+: topics named by id; a session opened with ids serves only such fetches, and the other way round. */
  usesTopicIds: boolean;
  /** A follower's fetch. */
  privileged: boolean;
  targets: FetchTarget[];
  /** Keys (sessionPartitionKey) of the forgotten partitions. */
  forgotten: string[];
}

export type FetchContext =
  | { readonly kind: "error"; readonly errorCode: number }
  | { readonly kind: "sessionless"; readonly targets: readonly FetchTarget[] }
  | { readonly kind: "full"; readonly targets: readonly FetchTarget[]; readonly privileged: boolean; readonly usesTopicIds: boolean }
  | { readonly kind: "incremental"; readonly session: FetchSession; readonly epoch: number; readonly targets: readonly CachedPartition[] };

export function newFetchContext(cache: FetchSessionCache | undefined, request: FetchSessionRequest): FetchContext {
  const full = request.sessionEpoch === INITIAL_EPOCH || request.sessionEpoch === FINAL_EPOCH;
  if (full) {
    // Any session a full fetch names is closed (the client starts over).
    if (request.sessionId !== INVALID_SESSION_ID) cache?.remove(request.sessionId);
    if (request.sessionEpoch === FINAL_EPOCH || !cache) return { kind: "sessionless", targets: request.targets };
    return { kind: "full", targets: request.targets, privileged: request.privileged, usesTopicIds: request.usesTopicIds };
  }
  const session = cache?.get(request.sessionId);
  if (!cache || !session) return { kind: "error", errorCode: ErrorCode.FETCH_SESSION_ID_NOT_FOUND };
  if (session.epoch !== request.sessionEpoch) return { kind: "error", errorCode: ErrorCode.INVALID_FETCH_SESSION_EPOCH };
  if (session.usesTopicIds !== request.usesTopicIds) return { kind: "error", errorCode: ErrorCode.FETCH_SESSION_TOPIC_ID_ERROR };
  if (!session.update(request.targets, request.forgotten, cache.partitionRoom(session))) {
    // Past max.incremental.fetch.session.cache.partitions: the session ends; the client's next full fetch gets a
    // session only if room can be made.
    cache.remove(session.id);
    return { kind: "error", errorCode: ErrorCode.FETCH_SESSION_ID_NOT_FOUND };
  }
  if (session.size === 0) {
    // Everything forgotten: no session is left to answer in (Kafka answers sessionless).
    cache.remove(session.id);
    return { kind: "sessionless", targets: request.targets };
  }
  cache.touch(session);
  session.epoch = nextEpoch(session.epoch);
  return { kind: "incremental", session, epoch: session.epoch, targets: [...session.partitions.values()] };
}

export interface FetchAnswerShape {
  /** A top-level error replacing every partition (the session changed while this fetch waited). */
  errorCode: number;
  sessionId: number;
  /** Per target: whether the answer carries it. */
  carried: boolean[];
}

/**
 * After the read: the session id the answer names and the partitions it carries. A full fetch (epoch 0)
 * creates its session now, remembering what each partition's answer told the client; an incremental one carries
 * only the partitions with news (FetchSession.mustAnswer).
 */
export function answerFetch(cache: FetchSessionCache | undefined, context: FetchContext, answers: readonly PartitionAnswer[]): FetchAnswerShape {
  assert(context.kind === "error" || answers.length === context.targets.length, "one answer per target");
  switch (context.kind) {
    case "error":
      return { errorCode: context.errorCode, sessionId: INVALID_SESSION_ID, carried: [] };
    case "sessionless":
      return { errorCode: ErrorCode.NONE, sessionId: INVALID_SESSION_ID, carried: answers.map(() => true) };
    case "full": {
      assert(cache !== undefined, "a full context with a session needs the cache");
      const sessionId = cache.maybeCreate(context.privileged, context.targets.length, context.usesTopicIds, () =>
        context.targets.map((target, index): [string, CachedPartition] => {
          const answer = answers[index]!;
          return [sessionPartitionKey(target.topicId, target.topic, target.partition), {
            ...target,
            highWatermark: answer.errorCode === ErrorCode.NONE ? answer.highWatermark : -1,
            logStartOffsetSent: answer.logStartOffset,
          }];
        }),
      );
      return { errorCode: ErrorCode.NONE, sessionId, carried: answers.map(() => true) };
    }
    case "incremental": {
      const { session } = context;
      // Another fetch of this session, or its eviction, came while this one waited (Kafka's expected-epoch check).
      if (cache?.get(session.id) !== session) return { errorCode: ErrorCode.FETCH_SESSION_ID_NOT_FOUND, sessionId: INVALID_SESSION_ID, carried: [] };
      if (session.epoch !== context.epoch) return { errorCode: ErrorCode.INVALID_FETCH_SESSION_EPOCH, sessionId: session.id, carried: [] };
      const carried = context.targets.map((target, index) => {
        const key = sessionPartitionKey(target.topicId, target.topic, target.partition);
        return session.partitions.has(key) ? session.mustAnswer(key, answers[index]!) : false;
      });
      return { errorCode: ErrorCode.NONE, sessionId: session.id, carried };
    }
  }
}
