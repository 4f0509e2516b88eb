// Fetch sessions (KIP-227), the broker's side, after Kafka's FetchSession.scala / FetchSessionCache:
// a client that fetches the same partitions again and again opens a session with a full fetch (epoch 0);
// its later fetches (epoch 1, 2, ...) name only the partitions whose fetch position changed, plus the ones to
// forget, and the answers carry only the partitions with something new (records, a moved high watermark or
// log start, an error). Sessions outlive connections, as in Kafka: a client may reconnect and go on.
//
// The cache holds at most `max.incremental.fetch.session.cache.slots` sessions (Kafka's setting and default,
// 1000; 0 turns sessions off) and at most `max.incremental.fetch.session.cache.partitions` partitions over all
// of them (Bunka's: Kafka bounds only the slots, so its cache grows with the partitions clients name; about 260
// bytes per cached partition here, measured). When either is full, a new session takes the place of a stale one
// (unused for FETCH_SESSION_EVICTION_MS) or of a less valuable one: sessions of followers ("privileged") are kept
// over consumers', bigger ones over smaller ones, and a consumer may evict only sessions older than the eviction
// time (Kafka's tryEvict with its two evictable maps; a linear scan here, the cache being small and eviction
// happening only when a full fetch finds the cache full).
import { assert } from "../util/assert.ts";

export const INVALID_SESSION_ID = 0;
/** A full fetch that asks for a new session. */
export const INITIAL_EPOCH = 0;
/** A full fetch that wants no session (and closes the one it names). */
export const FINAL_EPOCH = -1;
/** Kafka's MIN_INCREMENTAL_FETCH_SESSION_EVICTION_MS: younger sessions are safe from consumers' evictions. */
export const FETCH_SESSION_EVICTION_MS = 120_000;
const SESSION_ID_ATTEMPTS_MAX = 64;

/** The epoch after `epoch` (Kafka's FetchMetadata.nextEpoch): wraps to 1, never back to the initial 0. */
export function nextEpoch(epoch: number): number {
  if (epoch < 0) return FINAL_EPOCH;
  if (epoch === 0x7fffffff) return 1;
  return epoch + 1;
}

/** What a fetch request says about one partition: the parameters a session remembers. */
export interface PartitionFetchParams {
  fetchOffset: number;
  partitionMaxBytes: number;
  currentLeaderEpoch: number;
  lastFetchedEpoch: number;
  logStartOffset: number;
}

/** One partition of a session: the last request parameters and what the client was last told. */
export interface CachedPartition extends PartitionFetchParams {
  /** The topic's id (32 hex characters) in sessions of v13+ fetches; "" in sessions of older versions. */
  readonly topicId: string;
  /** The topic's name in sessions of fetches before v13; "" in v13+ sessions (resolved by id at each fetch). */
  readonly topic: string;
  readonly partition: number;
  /** The high watermark of the last answer carrying this partition; -1 forces the next answer to carry it. */
  highWatermark: number;
  /** The log start offset of the last answer carrying this partition. */
  logStartOffsetSent: number;
}

/** What a partition's answer in this fetch holds, for the incremental rule. */
export interface PartitionAnswer {
  errorCode: number;
  highWatermark: number;
  logStartOffset: number;
  recordsBytes: number;
}

export function sessionPartitionKey(topicId: string, topic: string, partition: number): string {
  return `${topicId || topic}:${partition}`;
}

export class FetchSession {
  /** Insertion order is the fetch order; a partition that answered moves to the end (Kafka's fairness rule). */
  readonly partitions = new Map<string, CachedPartition>();
  epoch: number;
  lastUsedMs: number;
  /** The size the cache last accounted for this session (Kafka's cachedSize). */
  cachedSize = 0;

  constructor(
    readonly id: number,
    /** A follower's session: kept over consumers' sessions when the cache is full. */
    readonly privileged: boolean,
    /** Opened by a v13+ fetch: its partitions are named by topic id, and only v13+ fetches may use it. */
    readonly usesTopicIds: boolean,
    readonly creationMs: number,
  ) {
    assert(id !== INVALID_SESSION_ID, "a session has a non-zero id");
    assert(creationMs >= 0, "creation time is a wall-clock time");
    this.epoch = nextEpoch(INITIAL_EPOCH);
    this.lastUsedMs = creationMs;
  }

  get size(): number {
    return this.partitions.size;
  }

  /**
   * An incremental request's changes: its partitions are added or their parameters replaced, the forgotten
   * ones removed (Kafka's FetchSession.update). Answers false, changing nothing, when the session would grow past
   * `partitionsMax`.
   */
  update(changes: readonly (PartitionFetchParams & { topicId: string; topic: string; partition: number })[], forgotten: readonly string[], partitionsMax: number): boolean {
    let added = 0;
    for (const change of changes) if (!this.partitions.has(sessionPartitionKey(change.topicId, change.topic, change.partition))) added++;
    let removed = 0;
    for (const key of forgotten) if (this.partitions.has(key)) removed++;
    if (this.partitions.size + added - removed > partitionsMax) return false;
    for (const change of changes) {
      const key = sessionPartitionKey(change.topicId, change.topic, change.partition);
      const cached = this.partitions.get(key);
      if (cached) {
        cached.fetchOffset = change.fetchOffset;
        cached.partitionMaxBytes = change.partitionMaxBytes;
        cached.currentLeaderEpoch = change.currentLeaderEpoch;
        cached.lastFetchedEpoch = change.lastFetchedEpoch;
        cached.logStartOffset = change.logStartOffset;
      } else {
        // A new partition has never been answered in this session: its first answer always carries it.
        this.partitions.set(key, { ...change, highWatermark: -1, logStartOffsetSent: -1 });
      }
    }
    for (const key of forgotten) this.partitions.delete(key);
    return true;
  }

  /**
   * Kafka's CachedPartition.maybeUpdateResponseData: whether an incremental answer must carry this partition
   * (records, a high watermark or log start the client has not seen, an error), remembering what it is told.
   * A partition that answers moves to the end of the session so that the next fetches start with the others.
   */
  mustAnswer(key: string, answer: PartitionAnswer): boolean {
    const cached = this.partitions.get(key);
    assert(cached !== undefined, "an answered partition is in the session");
    let must = answer.recordsBytes > 0;
    if (cached.highWatermark !== answer.highWatermark) {
      must = true;
      cached.highWatermark = answer.highWatermark;
    }
    if (cached.logStartOffsetSent !== answer.logStartOffset) {
      must = true;
      cached.logStartOffsetSent = answer.logStartOffset;
    }
    if (answer.errorCode !== 0) {
      // Told -1, the partition is answered again once the error is gone.
      must = true;
      cached.highWatermark = -1;
    }
    if (must) {
      this.partitions.delete(key);
      this.partitions.set(key, cached);
    }
    return must;
  }
}

export interface FetchSessionCacheOptions {
  /** max.incremental.fetch.session.cache.slots: sessions held at most (0: no sessions). */
  slotsMax: number;
  /** max.incremental.fetch.session.cache.partitions: partitions all sessions hold together at most. */
  partitionsMax: number;
  /** Wall clock (ms); tests give their own. */
  nowMs?: () => number;
  /** Session ids; tests give their own. */
  randomId?: () => number;
}

export class FetchSessionCache {
  private readonly sessions = new Map<number, FetchSession>();
  private readonly nowMs: () => number;
  private readonly randomId: () => number;
  /** Partitions over all sessions, as last accounted (Kafka's NumIncrementalFetchPartitionsCached). */
  private partitionsCached = 0;
  /** Sessions evicted to make room (Kafka's IncrementalFetchSessionEvictionsPerSec, as a count). */
  evictions = 0;

  constructor(readonly options: FetchSessionCacheOptions) {
    assert(options.slotsMax >= 0, "slots are not negative");
    assert(options.partitionsMax >= 1, "a session may hold a partition");
    this.nowMs = options.nowMs ?? (() => Date.now());
    this.randomId = options.randomId ?? (() => 1 + Math.floor(Math.random() * 0x7ffffffe));
  }

  get size(): number {
    return this.sessions.size;
  }

  get partitionCount(): number {
    return this.partitionsCached;
  }

  /** The most partitions this session may hold: what the cache's bound leaves it beside the others. */
  partitionRoom(session: FetchSession): number {
    return this.options.partitionsMax - (this.partitionsCached - session.cachedSize);
  }

  get(sessionId: number): FetchSession | undefined {
    return this.sessions.get(sessionId);
  }

  remove(sessionId: number): boolean {
    const session = this.sessions.get(sessionId);
    if (!session) return false;
    this.sessions.delete(sessionId);
    this.partitionsCached -= session.cachedSize;
    assert(this.partitionsCached >= 0, "cached partitions never go negative");
    return true;
  }

  /** A session used: its last-use time and size as eviction sees them. */
  touch(session: FetchSession): void {
    assert(this.sessions.get(session.id) === session, "only a cached session is touched");
    session.lastUsedMs = this.nowMs();
    this.partitionsCached += session.size - session.cachedSize;
    session.cachedSize = session.size;
  }

  /**
   * A full fetch (epoch 0) asks for a session: one is created when a slot and room for its partitions are free
   * or can be freed, its partitions given by `partitions` (called only then); otherwise the answer is
   * INVALID_SESSION_ID and the client goes on with full fetches.
   */
  maybeCreate(privileged: boolean, size: number, usesTopicIds: boolean, partitions: () => Iterable<[string, CachedPartition]>): number {
    if (this.options.slotsMax === 0 || size > this.options.partitionsMax) return INVALID_SESSION_ID;
    const nowMs = this.nowMs();
    // Each round frees one session or gives up, so this ends within the number of sessions.
    while (this.sessions.size >= this.options.slotsMax || this.partitionsCached + size > this.options.partitionsMax) {
      if (!this.tryEvict(privileged, size, nowMs)) return INVALID_SESSION_ID;
    }
    const id = this.newSessionId();
    if (id === INVALID_SESSION_ID) return INVALID_SESSION_ID;
    const session = new FetchSession(id, privileged, usesTopicIds, nowMs);
    for (const [key, cached] of partitions()) session.partitions.set(key, cached);
    this.sessions.set(id, session);
    this.touch(session);
    assert(this.sessions.size <= this.options.slotsMax, "the cache never holds more sessions than its slots");
    assert(this.partitionsCached <= this.options.partitionsMax, "the cache never holds more partitions than its bound");
    return id;
  }

  private newSessionId(): number {
    for (let attempt = 0; attempt < SESSION_ID_ATTEMPTS_MAX; attempt++) {
      const id = this.randomId();
      if (id > 0 && !this.sessions.has(id)) return id;
    }
    return INVALID_SESSION_ID;
  }

  /**
   * Kafka's tryEvict: the least recently used session goes if it is stale; otherwise the least valuable
   * evictable one (not privileged before privileged, then smaller, then lower id) goes if the newcomer is worth
   * more. Consumers may evict only sessions older than the eviction time; followers also any consumer's.
   */
  private tryEvict(privileged: boolean, size: number, nowMs: number): boolean {
    let leastRecent: FetchSession | undefined;
    for (const session of this.sessions.values()) {
      if (!leastRecent || session.lastUsedMs < leastRecent.lastUsedMs || (session.lastUsedMs === leastRecent.lastUsedMs && session.id < leastRecent.id)) leastRecent = session;
    }
    if (!leastRecent) return false;
    if (nowMs - leastRecent.lastUsedMs > FETCH_SESSION_EVICTION_MS) return this.evict(leastRecent);
    let cheapest: FetchSession | undefined;
    for (const session of this.sessions.values()) {
      const old = nowMs - session.creationMs > FETCH_SESSION_EVICTION_MS;
      const evictable = privileged ? !session.privileged || old : old;
      if (evictable && (!cheapest || compareValue(session.privileged, session.cachedSize, session.id, cheapest.privileged, cheapest.cachedSize, cheapest.id) < 0)) cheapest = session;
    }
    // The newcomer's key has id 0: it must be strictly more valuable than the session it would replace.
    if (!cheapest || compareValue(privileged, size, 0, cheapest.privileged, cheapest.cachedSize, cheapest.id) < 0) return false;
    return this.evict(cheapest);
  }

  private evict(session: FetchSession): boolean {
    this.remove(session.id);
    this.evictions++;
    return true;
  }
}

/** Kafka's EvictableKey order: privileged after not, then by size, then by id. */
function compareValue(privilegedA: boolean, sizeA: number, idA: number, privilegedB: boolean, sizeB: number, idB: number): number {
  if (privilegedA !== privilegedB) return privilegedA ? 1 : -1;
  if (sizeA !== sizeB) return sizeA - sizeB;
  return idA - idB;
}
