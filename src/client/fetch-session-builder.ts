// The client's side of fetch sessions (KIP-227), after Kafka's FetchSessionHandler: the first fetch to a
// broker is full (epoch 0) and opens a session; each later one names only the partitions that are new or
// whose fetch parameters changed since the session last heard them, and forgets the ones no longer wanted.
// Bunka's followers fetch with it (cluster/replica-fetcher.ts). No real client here sends incremental fetches
// (librdkafka, kafkajs and @platformatic/kafka fetch without sessions: docs/kafka-clients.md §4.8), so it is
// also what the broker's sessions are tested with.
import { assert } from "../util/assert.ts";

const INITIAL_EPOCH = 0;
const FETCH_SESSION_ID_NOT_FOUND = 70;

/** One partition a fetch asks for; `topicId` is the topic's 16-byte id (v13+). */
export interface WantedPartition {
  topic: string;
  topicId: Uint8Array;
  partition: number;
  fetchOffset: number;
  partitionMaxBytes: number;
  currentLeaderEpoch: number;
}

export interface SessionFetchRequest {
  sessionId: number;
  sessionEpoch: number;
  topics: { topic: string; topicId: Uint8Array; partitions: { partition: number; fetchOffset: number; partitionMaxBytes: number; currentLeaderEpoch: number; logStartOffset: number; lastFetchedEpoch: number }[] }[];
  forgottenTopicsData: { topic: string; topicId: Uint8Array; partitions: number[] }[];
}

export class FetchSessionBuilder {
  private sessionId = 0;
  private epoch = INITIAL_EPOCH;
  /** What the session holds as the broker last heard it, by wantedKey. */
  private session = new Map<string, WantedPartition>();
  /** What the request being answered sent, applied to `session` once its answer says the session took it. */
  private pending: Map<string, WantedPartition> | null = null;

  get currentSessionId(): number {
    return this.sessionId;
  }

  /** The next request: everything when no session is open, else only the changes. */
  build(wanted: readonly WantedPartition[]): SessionFetchRequest {
    assert(this.pending === null, "one fetch at a time per session");
    const next = new Map<string, WantedPartition>(wanted.map((want) => [wantedKey(want), want]));
    this.pending = next;
    const full = this.sessionId === 0 || this.epoch === INITIAL_EPOCH;
    const sent = full ? [...next.values()] : [...next.values()].filter((want) => changed(this.session.get(wantedKey(want)), want));
    const forgotten = full ? [] : [...this.session.entries()].filter(([key]) => !next.has(key)).map(([, was]) => was);
    return {
      sessionId: this.sessionId,
      sessionEpoch: this.epoch,
      topics: groupByTopic(sent, (want) => ({ partition: want.partition, fetchOffset: want.fetchOffset, partitionMaxBytes: want.partitionMaxBytes, currentLeaderEpoch: want.currentLeaderEpoch, logStartOffset: -1, lastFetchedEpoch: -1 })),
      forgottenTopicsData: groupByTopic(forgotten, (was) => was.partition),
    };
  }

  /** The request got no answer (timeout, closed connection): the next fetch is full, closing the session (Kafka's handleError). */
  handleError(): void {
    this.pending = null;
    this.epoch = INITIAL_EPOCH;
    this.session.clear();
  }

  /** The answer's top-level error and session id move the session on (Kafka's handleResponse). */
  handleResponse(errorCode: number, responseSessionId: number): void {
    const sent = this.pending;
    assert(sent !== null, "a response answers a built request");
    this.pending = null;
    if (errorCode !== 0) {
      // The session is gone, or out of step: a full fetch next, closing it (Kafka's nextCloseExisting).
      if (errorCode === FETCH_SESSION_ID_NOT_FOUND) this.sessionId = 0;
      this.epoch = INITIAL_EPOCH;
      this.session.clear();
      return;
    }
    if (responseSessionId === 0) {
      // No session (the cache is full, or sessions are off): the next fetch is full again.
      this.sessionId = 0;
      this.epoch = INITIAL_EPOCH;
      this.session.clear();
      return;
    }
    this.sessionId = responseSessionId;
    this.epoch = this.epoch === 0x7fffffff ? 1 : this.epoch + 1;
    this.session = new Map([...sent].map(([key, want]) => [key, { ...want }]));
  }
}

/** A topic re-created under its name is another topic: its partitions are new, the old ones forgotten. */
function wantedKey(want: WantedPartition): string {
  return `${Buffer.from(want.topicId).toString("hex")}:${want.topic}:${want.partition}`;
}

function changed(was: WantedPartition | undefined, want: WantedPartition): boolean {
  return !was || was.fetchOffset !== want.fetchOffset || was.partitionMaxBytes !== want.partitionMaxBytes || was.currentLeaderEpoch !== want.currentLeaderEpoch;
}

function groupByTopic<T>(partitions: readonly WantedPartition[], entry: (want: WantedPartition) => T): { topic: string; topicId: Uint8Array; partitions: T[] }[] {
  const byTopic = new Map<string, { topic: string; topicId: Uint8Array; partitions: T[] }>();
  for (const want of partitions) {
    const topicKey = `${Buffer.from(want.topicId).toString("hex")}:${want.topic}`;
    let group = byTopic.get(topicKey);
    if (!group) byTopic.set(topicKey, (group = { topic: want.topic, topicId: want.topicId, partitions: [] }));
    group.partitions.push(entry(want));
  }
  return [...byTopic.values()];
}
