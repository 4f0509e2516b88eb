// The partition leader's side of share groups (Kafka's SharePartitionManager): ShareFetch and ShareAcknowledge
// arrive here, per share session (share-sessions.ts). Each (group, topic, partition) has one SharePartition,
// created on first fetch from __share_group_state (share-state-store.ts) or, never seen before, at the log
// start or the high watermark (share.auto.offset.reset) and persisted at once. Acknowledgements change the
// state in memory, copy archived records to the dead-letter topic, then append the share partition's snapshot
// and answer only once it is committed: an accepted acknowledgement survives a crash.
//
// A fetch first applies the acknowledgements it carries, then, for every partition of the session, reads the
// log from the lowest acquirable offset (a released or expired record, else the first never delivered) and
// acquires what the read returned, within the in-flight bound. With nothing acquired it waits (long poll) for
// appends, releases or a lock expiry, until MaxWaitMs.
import { ErrorCode, KafkaError } from "../protocol/errors.ts";
import { topicIdBytes, topicIdHex, type TopicMetadata } from "../metadata/types.ts";
import { batchLastOffset, batchSizeBytes, dataViewOf, RECORDS_OFFSET } from "../records/batch.ts";
import type { MappedRecords } from "../log/segment-views.ts";
import { AcknowledgeError, SharePartition, type AcknowledgeBatch, type AcquiredRange, type ArchivedRecord, type SharePartitionLimits } from "./share-partition.ts";
import type { ShareStateStore } from "./share-state-store.ts";
import type { ShareSnapshot } from "./share-state-records.ts";
import { SnapshotWriter } from "./snapshot-writer.ts";
import { ShareSessions, sessionPartitionKey, type ShareSession } from "./share-sessions.ts";
import { effectiveShareConfig, type EffectiveShareConfig, type ShareBrokerDefaults } from "./share-group-configs.ts";
import { writeDeadLetters } from "./dead-letter.ts";
import type { ShareServices } from "./share-services.ts";

/** A cap on what a client may ask to wait (Fetch has the same). */
const SHARE_FETCH_MAX_WAIT_MS_CAP = 30_000;
/** Long-poll rounds per request at most (each ends on a wake-up or the deadline). */
const LONG_POLL_ROUNDS_MAX = 1000;

export interface ShareManagerSettings extends ShareBrokerDefaults {
  maxSessions: number;
  /** group.share.session.timeout.ms: a share session unused this long is closed. */
  sessionTimeoutMs: number;
  /** Share groups whose share partitions this broker keeps in memory (group.share.max.groups). */
  maxGroups: number;
}

export interface PartitionAcks {
  partition: number;
  acknowledgementBatches: AcknowledgeBatch[];
}

export interface ShareFetchParams {
  groupId: string | null;
  memberId: string | null;
  shareSessionEpoch: number;
  maxWaitMs: number;
  maxBytes: number;
  topics: { topicId: Uint8Array; partitions: (PartitionAcks & { partitionMaxBytes: number })[] }[];
  forgottenTopicsData: { topicId: Uint8Array; partitions: number[] }[];
  isStopping(): boolean;
}

export interface LeaderIdAndEpoch {
  leaderId: number;
  leaderEpoch: number;
}

export interface ShareFetchPartitionAnswer {
  partitionIndex: number;
  errorCode: number;
  errorMessage: string | null;
  acknowledgeErrorCode: number;
  acknowledgeErrorMessage: string | null;
  currentLeader: LeaderIdAndEpoch;
  records: MappedRecords | Uint8Array | null;
  acquiredRecords: AcquiredRange[];
}

export interface ShareFetchAnswer {
  errorCode: number;
  errorMessage: string | null;
  responses: { topicId: Uint8Array; partitions: ShareFetchPartitionAnswer[] }[];
}

export interface ShareAcknowledgeParams {
  groupId: string | null;
  memberId: string | null;
  shareSessionEpoch: number;
  topics: { topicId: Uint8Array; partitions: PartitionAcks[] }[];
}

export interface ShareAcknowledgeAnswer {
  errorCode: number;
  errorMessage: string | null;
  responses: { topicId: Uint8Array; partitions: { partitionIndex: number; errorCode: number; errorMessage: string | null; currentLeader: LeaderIdAndEpoch }[] }[];
}

interface ShareEntry {
  share: SharePartition;
  /** Long polls waiting on this share partition: woken by releases. */
  waiters: Set<() => void>;
  writer: SnapshotWriter<ShareSnapshot>;
}

/** One partition a request names, resolved. */
interface Target {
  topicId: string;
  topic: TopicMetadata | null;
  partition: number;
  errorCode: number;
}

export class SharePartitionManager {
  private readonly entries = new Map<string, ShareEntry>();
  private readonly creating = new Map<string, Promise<ShareEntry>>();
  readonly sessions: ShareSessions;

  constructor(
    private readonly services: ShareServices,
    readonly store: ShareStateStore,
    private readonly settings: ShareManagerSettings,
  ) {
    this.sessions = new ShareSessions(settings.maxSessions, settings.sessionTimeoutMs, () => services.nowMs());
  }

  private entryKey(groupId: string, topicId: string, partition: number): string {
    return `${groupId}\u0000${topicId}\u0000${partition}`;
  }

  async groupConfig(groupId: string, fresh = false): Promise<EffectiveShareConfig> {
    return effectiveShareConfig(await this.store.readConfig(groupId, fresh), this.settings);
  }

  private limitsOf(config: EffectiveShareConfig): SharePartitionLimits {
    return { lockDurationMs: config.lockDurationMs, deliveryCountLimit: config.deliveryCountLimit, maxInFlight: this.settings.maxRecordLocks };
  }

  private resolve(topicIdRaw: Uint8Array, partition: number): Target {
    const topicId = topicIdHex(topicIdRaw);
    const topic = this.services.topics.getById(topicIdRaw) ?? null;
    if (!topic) return { topicId, topic: null, partition, errorCode: ErrorCode.UNKNOWN_TOPIC_ID };
    if (partition < 0 || partition >= topic.partitions.length) return { topicId, topic, partition, errorCode: ErrorCode.UNKNOWN_TOPIC_OR_PARTITION };
    return { topicId, topic, partition, errorCode: this.services.replication.checkFetchAllowed(topic.name, partition, -1, -1) };
  }

  private leaderOf(target: Target): LeaderIdAndEpoch {
    const state = target.topic?.partitions[target.partition];
    return state ? { leaderId: state.leader, leaderEpoch: state.leaderEpoch } : { leaderId: -1, leaderEpoch: -1 };
  }

  /** The share partition, loaded or initialized (and its initial state persisted) on first use. */
  private async entryFor(groupId: string, topic: TopicMetadata, partition: number): Promise<ShareEntry> {
    const key = this.entryKey(groupId, topic.topicId, partition);
    const existing = this.entries.get(key);
    if (existing) return existing;
    let creating = this.creating.get(key);
    if (!creating) {
      this.makeRoomForGroup(groupId);
      creating = this.createEntry(groupId, topic, partition).finally(() => this.creating.delete(key));
      this.creating.set(key, creating);
    }
    return creating;
  }

  /**
   * Share partitions are kept for at most group.share.max.groups groups (ShareFetch names any group id). A new
   * group first evicts the share partitions of groups with no open share session here (their state is persisted;
   * nothing is acquired without a session), else it is refused with GROUP_MAX_SIZE_REACHED.
   */
  private makeRoomForGroup(groupId: string): void {
    const groups = new Set<string>();
    for (const entry of this.entries.values()) groups.add(entry.share.groupId);
    for (const key of this.creating.keys()) groups.add(key.slice(0, key.indexOf("\u0000")));
    if (groups.has(groupId) || groups.size < this.settings.maxGroups) return;
    for (const [key, entry] of this.entries) {
      const idle = !this.sessions.hasGroup(entry.share.groupId) && !entry.share.dirty && entry.writer.idle && entry.waiters.size === 0;
      if (idle) this.entries.delete(key);
    }
    const left = new Set([...this.entries.values()].map((entry) => entry.share.groupId));
    if (left.size >= this.settings.maxGroups) throw new KafkaError(ErrorCode.GROUP_MAX_SIZE_REACHED, `share partitions of at most ${this.settings.maxGroups} groups are kept here (group.share.max.groups)`);
  }

  private async createEntry(groupId: string, topic: TopicMetadata, partition: number): Promise<ShareEntry> {
    const key = this.entryKey(groupId, topic.topicId, partition);
    const snapshot = await this.store.readSnapshot(groupId, topic.topicId, partition, topic.partitions[partition]?.leaderEpoch ?? -1);
    let entry: ShareEntry;
    if (snapshot) {
      entry = this.newEntry(SharePartition.restore(groupId, topic.name, topic.topicId, partition, snapshot));
      const config = await this.groupConfig(groupId);
      const exhausted = entry.share.archiveExhausted(this.limitsOf(config));
      if (exhausted.length > 0) {
        await this.deadLetter(entry, exhausted, config);
        const errorCode = await this.persist(entry);
        if (errorCode !== ErrorCode.NONE) throw new KafkaError(errorCode, "the share partition's restored state could not be persisted");
      }
    } else {
      // Kafka's InitializeShareGroupState: where the group starts reading this partition, persisted before any delivery.
      const config = await this.groupConfig(groupId, true);
      const [offsets] = await this.services.partitions.offsets([{ topic: topic.name, partition }]);
      if (!offsets || offsets.errorCode !== ErrorCode.NONE) throw new KafkaError(offsets?.errorCode ?? ErrorCode.UNKNOWN_SERVER_ERROR);
      const start = config.autoOffsetReset === "earliest" ? offsets.logStartOffset : this.services.replication.readLimit(topic.name, partition, -1);
      this.services.log(`share group ${groupId}: ${topic.name}-${partition} starts at offset ${start} (share.auto.offset.reset ${config.autoOffsetReset})`);
      entry = this.newEntry(new SharePartition(groupId, topic.name, topic.topicId, partition, start, 0));
      const errorCode = await this.persist(entry, true);
      if (errorCode !== ErrorCode.NONE) throw new KafkaError(errorCode, "the share partition's initial state could not be persisted");
    }
    // Another request may have created it meanwhile (the creating map makes that impossible, but stay safe).
    const raced = this.entries.get(key);
    if (raced) return raced;
    this.entries.set(key, entry);
    return entry;
  }

  private newEntry(share: SharePartition): ShareEntry {
    const writer = new SnapshotWriter<ShareSnapshot>(
      () => {
        const leaderEpoch = this.services.topics.get(share.topic)?.partitions[share.partition]?.leaderEpoch ?? -1;
        return { ...share.snapshot(), snapshotEpoch: 0, leaderEpoch };
      },
      (snapshot) => this.store.writeSnapshot(share.groupId, share.topicId, share.partition, snapshot),
    );
    return { share, waiters: new Set(), writer };
  }

  /** Writes the share partition's snapshot at its share coordinator (which numbers it); NONE once a snapshot with every change so far is committed. */
  private persist(entry: ShareEntry, force = false): Promise<number> {
    return entry.writer.persist(force || entry.share.dirty);
  }

  /**
   * Archived records go to the group's dead-letter topic when it has one, then leave ARCHIVING for ARCHIVED (a
   * snapshot taken meanwhile still delivers them again after a crash). A failed copy is logged and the record
   * archived all the same: a dead-letter topic that cannot be written must not stall the share partition.
   */
  private async deadLetter(entry: ShareEntry, archived: ArchivedRecord[], config: EffectiveShareConfig): Promise<void> {
    if (archived.length === 0) return;
    if (config.deadLetterTopic) {
      const { groupId, topic, partition } = entry.share;
      const errorCode = await writeDeadLetters(this.services, { groupId, topic, partition }, archived, config.deadLetterTopic).catch((error) => {
        this.services.log(`share group ${groupId}: dead-letter copy failed: ${error instanceof Error ? error.message : String(error)}`);
        return ErrorCode.UNKNOWN_SERVER_ERROR;
      });
      if (errorCode !== ErrorCode.NONE) this.services.log(`share group ${groupId}: ${archived.length} archived records of ${topic}-${partition} not written to ${config.deadLetterTopic} (error ${errorCode})`);
    }
    entry.share.completeArchiving(archived);
  }

  /**
   * A snapshot could not be persisted: the share partition's memory is ahead of what is durable. It is dropped and
   * read again from the last committed snapshot at the next fetch (Kafka rolls its in-memory state back the same
   * way): the failed acknowledgement is undone, and records acquired meanwhile are delivered again.
   */
  private forget(entry: ShareEntry): void {
    const key = this.entryKey(entry.share.groupId, entry.share.topicId, entry.share.partition);
    if (this.entries.get(key) === entry) this.entries.delete(key);
    this.wake(entry);
  }

  private wake(entry: ShareEntry): void {
    for (const waiter of [...entry.waiters]) waiter();
  }

  /** Applies one partition's acknowledgements for a member; the error code answered for them. */
  private async acknowledgePartition(groupId: string, memberId: string, target: Target, batches: AcknowledgeBatch[]): Promise<{ errorCode: number; errorMessage: string | null }> {
    if (target.errorCode !== ErrorCode.NONE || !target.topic) return { errorCode: target.errorCode, errorMessage: null };
    const entry = this.entries.get(this.entryKey(groupId, target.topicId, target.partition));
    if (!entry) return { errorCode: ErrorCode.INVALID_RECORD_STATE, errorMessage: "nothing was acquired from this share partition" };
    const config = await this.groupConfig(groupId);
    const limits = this.limitsOf(config);
    let archived: ArchivedRecord[];
    try {
      archived = entry.share.expireLocks(this.services.nowMs(), limits);
      await this.deadLetter(entry, archived, config);
      archived = entry.share.acknowledge(memberId, batches, limits);
    } catch (error) {
      if (error instanceof AcknowledgeError) return { errorCode: ErrorCode.INVALID_RECORD_STATE, errorMessage: error.message };
      throw error;
    }
    // Released records, or room in the window once the SPSO moved: waiting fetches may acquire now.
    this.wake(entry);
    await this.deadLetter(entry, archived, config);
    const errorCode = await this.persist(entry);
    if (errorCode !== ErrorCode.NONE) this.forget(entry);
    return { errorCode, errorMessage: errorCode === ErrorCode.NONE ? null : "the acknowledgement could not be persisted" };
  }

  /** Closes share sessions unused for group.share.session.timeout.ms and releases what their members held (periodic). */
  async expireSessions(): Promise<void> {
    for (const session of this.sessions.expireIdle()) await this.releaseHeld(session.groupId, session.memberId);
  }

  /** A member's session ended or it left the group: what it held is released, and long polls are woken. */
  async releaseMember(groupId: string, memberId: string): Promise<void> {
    this.sessions.remove(groupId, memberId);
    await this.releaseHeld(groupId, memberId);
  }

  async fetch(params: ShareFetchParams): Promise<ShareFetchAnswer> {
    const fail = (errorCode: number, errorMessage: string | null = null): ShareFetchAnswer => ({ errorCode, errorMessage, responses: [] });
    const { groupId, memberId } = params;
    if (!groupId) return fail(ErrorCode.INVALID_GROUP_ID);
    if (!memberId) return fail(ErrorCode.UNKNOWN_MEMBER_ID);
    const hasAcks = params.topics.some((topic) => topic.partitions.some((partition) => partition.acknowledgementBatches.length > 0));
    // Kafka: a request opening a session cannot acknowledge (nothing was acquired in it yet).
    if (params.shareSessionEpoch === 0 && hasAcks) return fail(ErrorCode.INVALID_REQUEST, "acknowledgements in a request that opens a share session");
    const outcome = this.sessions.begin(groupId, memberId, params.shareSessionEpoch, true);
    if (outcome.errorCode !== ErrorCode.NONE) return fail(outcome.errorCode);
    const session = outcome.session!;
    // A member opening a new session gives up what its old one held.
    if (outcome.replaced) await this.releaseHeld(groupId, memberId);

    const answers = new Map<string, { target: Target; answer: ShareFetchPartitionAnswer; maxBytes: number }>();
    const answerFor = (target: Target, maxBytes: number) => {
      const key = sessionPartitionKey(target.topicId, target.partition);
      let found = answers.get(key);
      if (!found) {
        found = {
          target,
          maxBytes,
          answer: { partitionIndex: target.partition, errorCode: target.errorCode, errorMessage: null, acknowledgeErrorCode: ErrorCode.NONE, acknowledgeErrorMessage: null, currentLeader: this.leaderOf(target), records: null, acquiredRecords: [] },
        };
        answers.set(key, found);
      }
      return found;
    };

    for (const forgotten of params.forgottenTopicsData) {
      for (const partition of forgotten.partitions) session.partitions.delete(sessionPartitionKey(topicIdHex(forgotten.topicId), partition));
    }
    for (const topic of params.topics) {
      for (const requested of topic.partitions) {
        const target = this.resolve(topic.topicId, requested.partition);
        const found = answerFor(target, requested.partitionMaxBytes);
        if (requested.acknowledgementBatches.length > 0) {
          const acked = await this.acknowledgePartition(groupId, memberId, target, requested.acknowledgementBatches);
          found.answer.acknowledgeErrorCode = acked.errorCode;
          found.answer.acknowledgeErrorMessage = acked.errorMessage;
        }
        if (!outcome.closing && requested.partitionMaxBytes > 0 && target.topic) session.partitions.set(sessionPartitionKey(target.topicId, target.partition), { topic: target.topic.name, topicId: target.topicId, partition: target.partition });
      }
    }
    if (outcome.closing) {
      await this.releaseHeld(groupId, memberId);
      return { errorCode: ErrorCode.NONE, errorMessage: null, responses: this.group(answers) };
    }

    // Every partition of the session is fetched, also those this request did not name (incremental).
    const fetchable: { target: Target; entry: ShareEntry | null; answer: ShareFetchPartitionAnswer; maxBytes: number }[] = [];
    for (const sessionPartition of session.partitions.values()) {
      const target = this.resolve(topicIdBytes(sessionPartition.topicId), sessionPartition.partition);
      const found = answerFor(target, Number.MAX_SAFE_INTEGER);
      if (target.errorCode !== ErrorCode.NONE || !target.topic) continue;
      let entry: ShareEntry | null = null;
      try {
        entry = await this.entryFor(groupId, target.topic, target.partition);
      } catch (error) {
        found.answer.errorCode = error instanceof KafkaError ? error.errorCode : ErrorCode.UNKNOWN_SERVER_ERROR;
        found.answer.errorMessage = error instanceof Error ? error.message : String(error);
        continue;
      }
      fetchable.push({ target, entry, answer: found.answer, maxBytes: found.maxBytes });
    }

    const config = await this.groupConfig(groupId);
    const limits = this.limitsOf(config);
    const deadline = this.services.nowMs() + Math.min(Math.max(0, params.maxWaitMs), SHARE_FETCH_MAX_WAIT_MS_CAP);
    const watched = fetchable.map((item) => ({ topic: item.target.topic!.name, partition: item.target.partition }));
    for (let round = 0; round < LONG_POLL_ROUNDS_MAX; round++) {
      const versionBefore = this.services.watchers.version(watched);
      let bytesLeft = params.maxBytes > 0 ? params.maxBytes : 0x7fffffff;
      let acquiredAny = false;
      for (const item of fetchable) {
        if (bytesLeft <= 0) break;
        const got = await this.acquireFrom(memberId, item.entry!, item.target, Math.min(item.maxBytes, bytesLeft), limits, config);
        if (got.errorCode !== ErrorCode.NONE) item.answer.errorCode = got.errorCode;
        if (got.ranges.length > 0) {
          item.answer.records = got.records;
          item.answer.acquiredRecords = got.ranges;
          bytesLeft -= got.records?.sizeBytes ?? 0;
          acquiredAny = true;
        }
      }
      const now = this.services.nowMs();
      if (acquiredAny || fetchable.length === 0 || now >= deadline || params.isStopping()) break;
      await this.waitForWork(fetchable.map((item) => item.entry!), watched, versionBefore, deadline);
    }
    return { errorCode: ErrorCode.NONE, errorMessage: null, responses: this.group(answers) };
  }

  /** Waits until an append to a watched partition, a release on a share partition, the next lock expiry or the deadline. */
  private waitForWork(entries: ShareEntry[], watched: { topic: string; partition: number }[], versionBefore: number, deadline: number): Promise<void> {
    if (this.services.watchers.version(watched) !== versionBefore) return Promise.resolve();
    let wakeAt = deadline;
    for (const entry of entries) {
      const expiry = entry.share.nextLockExpiryMs();
      if (expiry !== null) wakeAt = Math.min(wakeAt, expiry + 1);
    }
    return new Promise<void>((resolve) => {
      const done = () => {
        clearTimeout(timer);
        unwatch();
        for (const entry of entries) entry.waiters.delete(done);
        resolve();
      };
      const timer = setTimeout(done, Math.max(0, wakeAt - this.services.nowMs()));
      const unwatch = this.services.watchers.watch(watched, done);
      for (const entry of entries) entry.waiters.add(done);
    });
  }

  /** One read of the log for one share partition and the acquisition of what it returned. */
  private async acquireFrom(memberId: string, entry: ShareEntry, target: Target, maxBytes: number, limits: SharePartitionLimits, config: EffectiveShareConfig): Promise<{ errorCode: number; records: MappedRecords | null; ranges: AcquiredRange[] }> {
    const topic = target.topic!.name;
    const share = entry.share;
    const expired = share.expireLocks(this.services.nowMs(), limits);
    if (expired.length > 0) {
      await this.deadLetter(entry, expired, config);
      await this.persist(entry);
    }
    const readableEnd = this.services.replication.readLimit(topic, target.partition, -1);
    const from = share.firstAcquirable(readableEnd, limits);
    if (from === null) return { errorCode: ErrorCode.NONE, records: null, ranges: [] };
    const [read] = await this.services.partitions.read([{ topic, partition: target.partition, fetchOffset: from, maxBytes: Math.max(1, maxBytes), maxOffsetExclusive: readableEnd, minOneBatch: true }]);
    if (!read) return { errorCode: ErrorCode.UNKNOWN_SERVER_ERROR, records: null, ranges: [] };
    if (read.errorCode === ErrorCode.OFFSET_OUT_OF_RANGE && read.logStartOffset > from) {
      // Retention or DeleteRecords removed records the group had not finished: they are gone for it too.
      share.skipTo(read.logStartOffset);
      await this.persist(entry);
      return { errorCode: ErrorCode.NONE, records: null, ranges: [] };
    }
    if (read.errorCode !== ErrorCode.NONE) return { errorCode: read.errorCode, records: null, ranges: [] };
    if (!read.slice) return { errorCode: ErrorCode.NONE, records: null, ranges: [] };
    const mapped = this.services.fetchViews.records(read.slice);
    if (!mapped) return { errorCode: ErrorCode.NONE, records: null, ranges: [] };
    // The whole batches the read returned: acquisition stays within them, so every acquired record is in the response.
    const view = dataViewOf(mapped.bytes);
    let through = -1;
    for (let position = 0; position + RECORDS_OFFSET <= mapped.bytes.byteLength; ) {
      const size = batchSizeBytes(view, position);
      if (size < RECORDS_OFFSET || position + size > mapped.bytes.byteLength) break;
      through = batchLastOffset(view, position);
      position += size;
    }
    if (through < from) return { errorCode: ErrorCode.NONE, records: null, ranges: [] };
    const ranges = share.acquire(memberId, from, Math.min(through, readableEnd - 1), readableEnd, this.services.nowMs(), limits, limits.maxInFlight);
    return { errorCode: ErrorCode.NONE, records: ranges.length > 0 ? mapped : null, ranges };
  }

  /** Releases every record a member holds in this broker's share partitions of the group. */
  private async releaseHeld(groupId: string, memberId: string): Promise<void> {
    for (const entry of this.entries.values()) {
      if (entry.share.groupId !== groupId) continue;
      const config = await this.groupConfig(groupId);
      const archived = entry.share.releaseMember(memberId, this.limitsOf(config));
      if (!entry.share.dirty) continue;
      this.wake(entry);
      await this.deadLetter(entry, archived, config);
      await this.persist(entry);
    }
  }

  async acknowledge(params: ShareAcknowledgeParams): Promise<ShareAcknowledgeAnswer> {
    const { groupId, memberId } = params;
    if (!groupId) return { errorCode: ErrorCode.INVALID_GROUP_ID, errorMessage: null, responses: [] };
    if (!memberId) return { errorCode: ErrorCode.UNKNOWN_MEMBER_ID, errorMessage: null, responses: [] };
    const outcome = this.sessions.begin(groupId, memberId, params.shareSessionEpoch, false);
    if (outcome.errorCode !== ErrorCode.NONE) return { errorCode: outcome.errorCode, errorMessage: null, responses: [] };
    const responses: ShareAcknowledgeAnswer["responses"] = [];
    for (const topic of params.topics) {
      const partitions: ShareAcknowledgeAnswer["responses"][number]["partitions"] = [];
      for (const requested of topic.partitions) {
        const target = this.resolve(topic.topicId, requested.partition);
        const acked = await this.acknowledgePartition(groupId, memberId, target, requested.acknowledgementBatches);
        partitions.push({ partitionIndex: requested.partition, errorCode: acked.errorCode, errorMessage: acked.errorMessage, currentLeader: this.leaderOf(target) });
      }
      responses.push({ topicId: topic.topicId, partitions });
    }
    if (outcome.closing) await this.releaseHeld(groupId, memberId);
    return { errorCode: ErrorCode.NONE, errorMessage: null, responses };
  }

  private group(answers: Map<string, { target: Target; answer: ShareFetchPartitionAnswer }>): ShareFetchAnswer["responses"] {
    const byTopic = new Map<string, ShareFetchAnswer["responses"][number]>();
    for (const { target, answer } of answers.values()) {
      let topic = byTopic.get(target.topicId);
      if (!topic) {
        topic = { topicId: topicIdBytes(target.topicId), partitions: [] };
        byTopic.set(target.topicId, topic);
      }
      topic.partitions.push(answer);
    }
    return [...byTopic.values()];
  }

  /** Leadership of a data partition moved away (cluster mode): its share partitions are dropped, read again from the store if it returns. */
  dropPartition(topic: string, partition: number): void {
    for (const [key, entry] of this.entries) {
      if (entry.share.topic !== topic || entry.share.partition !== partition) continue;
      this.wake(entry);
      this.entries.delete(key);
    }
  }
}
