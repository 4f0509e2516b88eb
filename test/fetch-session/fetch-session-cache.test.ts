// The fetch session cache and contexts (KIP-227) against Kafka's rules, with a hand-driven clock: full and
// incremental fetches, the epoch checks, forgotten partitions, what an incremental answer carries, the slot
// and per-session partition bounds, and eviction (stale first, then consumers' small sessions, followers kept).
import { expect, test } from "bun:test";
import { ErrorCode } from "../../src/protocol/errors.ts";
import { FETCH_SESSION_EVICTION_MS, FetchSessionCache, INVALID_SESSION_ID, nextEpoch, type PartitionAnswer } from "../../src/fetch-session/fetch-session-cache.ts";
import { answerFetch, newFetchContext, type FetchSessionRequest, type FetchTarget } from "../../src/fetch-session/fetch-context.ts";

const TOPIC_ID = "0123456789abcdef0123456789abcdef";

function target(partition: number, fetchOffset = 0): FetchTarget {
  return { topicId: TOPIC_ID, topic: "", partition, fetchOffset, partitionMaxBytes: 1 << 20, currentLeaderEpoch: -1, lastFetchedEpoch: -1, logStartOffset: -1 };
}

function request(sessionId: number, sessionEpoch: number, targets: FetchTarget[], forgotten: string[] = [], privileged = false): FetchSessionRequest {
  return { sessionId, sessionEpoch, usesTopicIds: true, privileged, targets, forgotten };
}

const quiet = (highWatermark = 10): PartitionAnswer => ({ errorCode: ErrorCode.NONE, highWatermark, logStartOffset: 0, recordsBytes: 0 });

function harness(slotsMax = 10, partitionsMax = 100) {
  let nowMs = 1_000_000;
  let nextId = 1;
  const cache = new FetchSessionCache({ slotsMax, partitionsMax, nowMs: () => nowMs, randomId: () => nextId++ });
  /** A full fetch of `size` partitions that opens a session; its id. */
  const open = (size: number, privileged = false): number => {
    const targets = Array.from({ length: size }, (_, index) => target(index));
    const context = newFetchContext(cache, request(0, 0, targets, [], privileged));
    return answerFetch(cache, context, targets.map(() => quiet())).sessionId;
  };
  return { cache, open, advance: (ms: number) => (nowMs += ms) };
}

test("a full fetch opens a session; incremental fetches carry only partitions with news", () => {
  const { cache } = harness();
  const targets = [target(0), target(1), target(2)];
  const full = newFetchContext(cache, request(0, 0, targets));
  expect(full.kind).toBe("full");
  const opened = answerFetch(cache, full, targets.map(() => quiet()));
  expect(opened.sessionId).not.toBe(INVALID_SESSION_ID);
  expect(opened.carried).toEqual([true, true, true]);

  // Epoch 1: nothing changed, nothing is carried; the session still reads all three.
  const first = newFetchContext(cache, request(opened.sessionId, 1, []));
  expect(first.kind).toBe("incremental");
  if (first.kind !== "incremental") return;
  expect(first.targets.map((cached) => cached.partition)).toEqual([0, 1, 2]);
  expect(answerFetch(cache, first, [quiet(), quiet(), quiet()]).carried).toEqual([false, false, false]);

  // Epoch 2: partition 1 has records, partition 2 a new high watermark; both move to the end of the session.
  const second = newFetchContext(cache, request(opened.sessionId, 2, [target(1, 10)]));
  if (second.kind !== "incremental") throw new Error(second.kind);
  expect(second.targets.find((cached) => cached.partition === 1)!.fetchOffset).toBe(10);
  const shaped = answerFetch(cache, second, [quiet(), { ...quiet(), recordsBytes: 100 }, quiet(11)]);
  expect(shaped.carried).toEqual([false, true, true]);
  expect(shaped.sessionId).toBe(opened.sessionId);
  const third = newFetchContext(cache, request(opened.sessionId, 3, []));
  if (third.kind !== "incremental") throw new Error(third.kind);
  expect(third.targets.map((cached) => cached.partition)).toEqual([0, 1, 2]);

  // An error is always carried, and once it is gone the partition is carried again (its cached high watermark is -1).
  expect(answerFetch(cache, third, [{ ...quiet(), errorCode: ErrorCode.NOT_LEADER_OR_FOLLOWER }, quiet(), quiet(11)]).carried).toEqual([true, false, false]);
  const fourth = newFetchContext(cache, request(opened.sessionId, 4, []));
  if (fourth.kind !== "incremental") throw new Error(fourth.kind);
  expect(fourth.targets.map((cached) => cached.partition)).toEqual([1, 2, 0]);
  expect(answerFetch(cache, fourth, [quiet(), quiet(11), quiet()]).carried).toEqual([false, false, true]);
});

test("epochs, unknown sessions, forgotten partitions and the topic-id kind are checked", () => {
  const { cache, open } = harness();
  const sessionId = open(2);
  expect(newFetchContext(cache, request(sessionId, 5, [])).kind).toBe("error");
  expect(newFetchContext(cache, request(sessionId, 5, []))).toEqual({ kind: "error", errorCode: ErrorCode.INVALID_FETCH_SESSION_EPOCH });
  expect(newFetchContext(cache, request(sessionId + 1000, 1, []))).toEqual({ kind: "error", errorCode: ErrorCode.FETCH_SESSION_ID_NOT_FOUND });
  expect(newFetchContext(cache, { ...request(sessionId, 1, []), usesTopicIds: false })).toEqual({ kind: "error", errorCode: ErrorCode.FETCH_SESSION_TOPIC_ID_ERROR });

  // Forgetting one partition leaves the other; forgetting the last closes the session (answered sessionless).
  const partial = newFetchContext(cache, request(sessionId, 1, [], [`${TOPIC_ID}:0`]));
  if (partial.kind !== "incremental") throw new Error(partial.kind);
  expect(partial.targets.map((cached) => cached.partition)).toEqual([1]);
  answerFetch(cache, partial, [quiet()]);
  expect(newFetchContext(cache, request(sessionId, 2, [], [`${TOPIC_ID}:1`])).kind).toBe("sessionless");
  expect(cache.get(sessionId)).toBeUndefined();

  // A full fetch naming a session closes it; epoch -1 opens none.
  const again = open(1);
  const closing = newFetchContext(cache, request(again, -1, [target(0)]));
  expect(closing.kind).toBe("sessionless");
  expect(cache.get(again)).toBeUndefined();
  expect(answerFetch(cache, closing, [quiet()]).sessionId).toBe(INVALID_SESSION_ID);
  expect(nextEpoch(0x7fffffff)).toBe(1);
  expect(nextEpoch(-1)).toBe(-1);
});

test("a fetch that waited while its session moved on is answered INVALID_FETCH_SESSION_EPOCH", () => {
  const { cache, open } = harness();
  const sessionId = open(2);
  const waiting = newFetchContext(cache, request(sessionId, 1, []));
  const overtaking = newFetchContext(cache, request(sessionId, 2, []));
  expect(overtaking.kind).toBe("incremental");
  expect(answerFetch(cache, waiting, [quiet(), quiet()]).errorCode).toBe(ErrorCode.INVALID_FETCH_SESSION_EPOCH);
  cache.remove(sessionId);
  expect(answerFetch(cache, overtaking, [quiet(), quiet()]).errorCode).toBe(ErrorCode.FETCH_SESSION_ID_NOT_FOUND);
});

test("sessions are bounded: slots, and partitions over all sessions; an incremental fetch past the bound ends its session", () => {
  const { cache, open, advance } = harness(3, 5);
  expect(open(6)).toBe(INVALID_SESSION_ID);
  const sessionId = open(3);
  expect(sessionId).not.toBe(INVALID_SESSION_ID);
  expect(cache.partitionCount).toBe(3);
  expect(newFetchContext(cache, request(sessionId, 1, [target(7), target(8), target(9)]))).toEqual({ kind: "error", errorCode: ErrorCode.FETCH_SESSION_ID_NOT_FOUND });
  expect(cache.get(sessionId)).toBeUndefined();
  expect(cache.partitionCount).toBe(0);
  // The partitions are taken before the slots: a young newcomer finds no room...
  expect(open(3)).not.toBe(INVALID_SESSION_ID);
  expect(open(2)).not.toBe(INVALID_SESSION_ID);
  expect(open(1)).toBe(INVALID_SESSION_ID);
  expect(cache.partitionCount).toBe(5);
  // ...until the others are stale: then it takes the place of as many as it needs.
  advance(FETCH_SESSION_EVICTION_MS + 1);
  expect(open(4)).not.toBe(INVALID_SESSION_ID);
  expect(cache.size).toBe(1);
  expect(cache.partitionCount).toBe(4);

  const slots = harness(2, 100);
  expect(slots.open(2)).not.toBe(INVALID_SESSION_ID);
  expect(slots.open(2)).not.toBe(INVALID_SESSION_ID);
  expect(slots.open(2)).toBe(INVALID_SESSION_ID);
  expect(slots.cache.size).toBe(2);
  const off = new FetchSessionCache({ slotsMax: 0, partitionsMax: 10 });
  expect(newFetchContext(off, request(0, 0, [target(0)])).kind).toBe("full");
  expect(off.maybeCreate(false, 1, true, () => [])).toBe(INVALID_SESSION_ID);
});

test("eviction follows Kafka: stale sessions first, then the least valuable one a newcomer outweighs", () => {
  const { cache, open, advance } = harness(2);
  const small = open(1);
  const big = open(5);
  // Young sessions: a consumer may not evict them, however big it is.
  expect(open(50)).toBe(INVALID_SESSION_ID);
  // A follower may evict a consumer's session smaller than its own.
  const follower = open(3, true);
  expect(follower).not.toBe(INVALID_SESSION_ID);
  expect(cache.get(small)).toBeUndefined();
  expect(cache.get(big)).toBeDefined();
  expect(cache.evictions).toBe(1);
  // A follower outweighs any consumer's session, even a bigger one...
  const second = open(2, true);
  expect(second).not.toBe(INVALID_SESSION_ID);
  expect(cache.get(big)).toBeUndefined();
  // ...but followers' young sessions are safe even from a bigger follower.
  expect(open(6, true)).toBe(INVALID_SESSION_ID);
  expect(cache.evictions).toBe(2);
  // Unused for longer than the eviction time, a session is stale and the next newcomer takes its slot.
  advance(FETCH_SESSION_EVICTION_MS + 1);
  cache.touch(cache.get(follower)!);
  expect(open(1)).not.toBe(INVALID_SESSION_ID);
  expect(cache.get(second)).toBeUndefined();
  expect(cache.get(follower)).toBeDefined();
  expect(cache.evictions).toBe(3);
});
