// The state of one partition worker: the logs of the partitions hashed to it, their append drains and
// group commit, and the flush/retention/cleaner timers. A plain class (worker.ts only adapts it to
// messages), so partition ownership runs and is tested in-process too. Appends and reads of different
// workers' partitions run in parallel; one owner's partitions are served in arrival order.
import { rmSync } from "node:fs";
import { cleanLog, DEFAULT_LOG_CLEANER_BACKOFF_MS, needsCleaning } from "../log/log-cleaner.ts";
import { openSegments } from "../log/open-segments.ts";
import { claimPartitionDirectory } from "../log/partition-metadata-file.ts";
import { isAppendError, PartitionLog, type ReadResult } from "../log/partition-log.ts";
import { DEFAULT_MESSAGE_DECOMPRESSED_MAX_BYTES, type LogConfig } from "../log/config.ts";
import { ErrorCode } from "../protocol/errors.ts";
import { convertBatches } from "../records/conversion.ts";
import { systemClock, type Clock } from "../util/clock.ts";
import type {
  ActiveProducersResult,
  EpochEndOffsetItem,
  EpochEndOffsetResult,
  LogOffsets,
  MarkerItem,
  ProducerTransactionItem,
  ProducerTransactionResult,
  OffsetsResult,
  OpenPartitionCommand,
  PartitionKey,
  ProduceItem,
  ProduceResult,
  ReadItem,
  ReplicaAppendItem,
  TimestampLookupItem,
  TimestampLookupResult,
  TruncateItem,
  WorkerOperations,
  WorkerStats,
  PartitionLogMetrics,
  FsyncLatency,
} from "./messages.ts";
import { FsyncLatencyRecorder } from "./fsync-latency.ts";

interface PendingAppend {
  item: ProduceItem;
  resolve: (result: ProduceResult) => void;
}

interface OwnedPartition {
  log: PartitionLog;
  config: LogConfig;
  compressionType: string;
  /** Appends to one partition are applied in arrival order even when a conversion awaits. */
  appendChain: Promise<unknown>;
  /** Produce items that arrived and wait for the next drain (coalesced into one write). */
  pendingAppends: PendingAppend[];
  drainQueued: boolean;
}

export interface PartitionOwnerOptions {
  /** Where the owner's log lines go (the worker posts them to the socket thread's log). */
  log: (message: string) => void;
  /** Wall time for appends, flush.ms, retention and the cleaner, and for the logs it opens (the system clock by default). */
  clock?: Clock;
  /**
   * When a partition's queued appends are written: "turn" (default), on the next event-loop turn, so the
   * messages already waiting join the drain; "now", as soon as the append's caller yields (an owner on the
   * socket thread, whose next turn comes only after every other ready socket was served).
   */
  drainAppends?: "turn" | "now";
  /**
   * Called after appends to a partition were answered (records or a transaction marker), with its log end
   * offset: a listening partition worker wakes the fetches it holds and moves what they may read (local-fetch.ts).
   */
  onAppended?: (topic: string, partition: number, logEndOffset: number) => void;
}

const keyOf = (topic: string, partition: number): string => `${topic}\u0000${partition}`;

const RETENTION_CHECK_INTERVAL_MS = 300_000;
const FLUSH_CHECK_INTERVAL_MS = 1_000;
/** Appends coalesced into one drain (one writev) at most; more wait for the next drain. */
const APPENDS_PER_DRAIN_MAX = 256;
/**
 * A log whose cleaner pass failed (corrupt data, I/O error) is left alone this long before the next attempt
 * (Kafka marks it uncleanable); the failure is logged once per attempt.
 */
const CLEANER_FAILURE_BACKOFF_MS = 600_000;

const nextTurn = (): Promise<void> => new Promise<void>((resolve) => setImmediate(resolve));

function failedAppend(errorCode: number, errorMessage?: string, recordErrors?: ProduceResult["recordErrors"]): ProduceResult {
  return { errorCode, errorMessage, ...(recordErrors && recordErrors.length > 0 ? { recordErrors } : {}), baseOffset: -1, lastOffset: -1, logAppendTimeMs: -1, logStartOffset: -1, logEndOffset: -1 };
}

/** The real cause of an open failure, for the log line: errno code (EMFILE, ENOMEM, ...) and message. */
function openFailureReason(error: unknown): string {
  if (!(error instanceof Error)) return String(error);
  const code = (error as { code?: unknown }).code;
  const hint = code === "ENOMEM" ? " (out of memory, or vm.max_map_count reached)" : code === "EMFILE" || code === "ENFILE" ? " (out of file descriptors)" : "";
  return `${typeof code === "string" ? `${code}${hint}: ` : ""}${error.message}`;
}

const errorText = (error: unknown): string => (error instanceof Error ? error.message : String(error));

export class PartitionOwner implements WorkerOperations {
  private readonly partitions = new Map<string, OwnedPartition>();
  /** fdatasync latency of this worker's logs (/metrics). */
  private readonly fsyncs = new FsyncLatencyRecorder();
  /**
   * Partitions whose files could not be opened (corrupt beyond the torn-tail rules, EMFILE, ENOMEM, the
   * map limit): offline, as Kafka takes a log dir offline. Every request for them gets KAFKA_STORAGE_ERROR
   * while the owner serves its other partitions; the next open (a later restart) tries again.
   */
  private readonly offlinePartitions = new Map<string, { dir: string; reason: string }>();

  /** Counters the socket thread reads with the "stats" operation (tests, the benchmark). */
  private readonly counters = {
    /** Produce items appended (one per partition per request). */
    appendedItems: 0,
    /** Drains: each wrote its coalesced items with one write call per segment (writev). */
    appendDrains: 0,
    /** Group commits: each covered every append that asked for durability before it started. */
    groupCommits: 0,
    /** fdatasync rounds of a partition log (one per log per group commit). */
    logFlushes: 0,
    /** Appends that waited for a group commit. */
    flushWaits: 0,
    /** Log cleaner passes completed, and the segment bytes they read and wrote. */
    cleanerPasses: 0,
    cleanerBytesRead: 0,
    cleanerBytesWritten: 0,
  };

  // Group commit: every append that asked for durability in this turn of the event loop shares one
  // fdatasync per log, issued after all of them were written.
  private readonly logsAwaitingFlush = new Set<PartitionLog>();
  private groupCommit: Promise<void> | null = null;

  /**
   * compression.type conversions of all this owner's partitions run one at a time: each holds a decompressed
   * section (up to message.decompressed.max.bytes) while its recompression runs on the threadpool, so the
   * worker's conversion memory is one section, not one per partition with appends in flight.
   */
  private conversionChain: Promise<unknown> = Promise.resolve();

  private flushTimer: ReturnType<typeof setInterval> | null = null;
  private retentionTimer: ReturnType<typeof setInterval> | null = null;
  // The log cleaner (Kafka's LogCleaner threads, here a task of each worker over the compacted logs it owns).
  private cleanerBackoffMs = DEFAULT_LOG_CLEANER_BACKOFF_MS;
  private readonly cleanerRetryAfterMs = new Map<string, number>();
  private cleanerTimer: ReturnType<typeof setTimeout> | null = null;
  private cleanerRound: Promise<void> | null = null;
  private started = false;
  private closing = false;

  private readonly clock: Clock;

  constructor(private readonly options: PartitionOwnerOptions) {
    this.clock = options.clock ?? systemClock;
  }

  /** A listening worker's shared cells and the index of the leadership generation in them (ProduceItem.leadershipGeneration). */
  private leadershipCell: { cells: Int32Array; index: number } | null = null;

  fenceLeaderAppends(cells: Int32Array, index: number): void {
    this.leadershipCell = { cells, index };
  }

  private log(message: string): void {
    this.options.log(message);
  }

  /** Starts the background work: the flush.ms check, retention, and the log cleaner's rounds. */
  start(): void {
    if (this.started || this.closing) return;
    this.started = true;
    // flush.ms: Kafka's log flusher checks every log on a schedule; a log past its interval is fsynced.
    this.flushTimer = setInterval(() => this.flushOverdueLogs(this.clock.nowMs()), FLUSH_CHECK_INTERVAL_MS);
    this.retentionTimer = setInterval(() => this.applyRetention(this.clock.nowMs()), RETENTION_CHECK_INTERVAL_MS);
    this.scheduleCleaner();
  }

  /**
   * Counts every reading of a log's offsets into an answer. The socket thread may apply answers out of
   * order (a reply awaited beside another worker's, a fetch's locally known partitions after a produce's
   * reply): of two answers about one partition, the higher version holds the newer offsets, so a stale
   * one never moves the broker's view of the log back (TopicManager.noteOffsets).
   */
  private offsetsVersion = 0;

  private logOffsets(partitionLog: PartitionLog): LogOffsets {
    return { logStartOffset: partitionLog.logStartOffset, logEndOffset: partitionLog.logEndOffset, offsetsVersion: ++this.offsetsVersion };
  }

  private offsetsOf(partitionLog: PartitionLog): OffsetsResult {
    return { errorCode: ErrorCode.NONE, ...this.logOffsets(partitionLog), firstUnstableOffset: partitionLog.firstUnstableOffset };
  }

  private owned(topic: string, partition: number): OwnedPartition | undefined {
    return this.partitions.get(keyOf(topic, partition));
  }

  /** The partition's log is open here (not offline, not deleted): a network shard may append to it itself. */
  isOpen(topic: string, partition: number): boolean {
    return this.partitions.has(keyOf(topic, partition));
  }

  /** The code for a partition this owner does not serve: offline (storage error) or not here. */
  private absentCode(topic: string, partition: number): number {
    return this.offlinePartitions.has(keyOf(topic, partition)) ? ErrorCode.KAFKA_STORAGE_ERROR : ErrorCode.UNKNOWN_TOPIC_OR_PARTITION;
  }

  private absent(topic: string, partition: number): OffsetsResult {
    return { errorCode: this.absentCode(topic, partition), logStartOffset: -1, logEndOffset: -1 };
  }

  open(commands: OpenPartitionCommand[]): Promise<OffsetsResult[]> {
    return Promise.all(commands.map((command) => this.openPartition(command)));
  }

  private async openPartition(command: OpenPartitionCommand): Promise<OffsetsResult> {
    const existing = this.owned(command.topic, command.partition);
    if (existing) return this.offsetsOf(existing.log);
    if (command.segmentOpenMax !== undefined && command.segmentOpenMax !== openSegments.limit) openSegments.setMaxOpen(command.segmentOpenMax);
    const key = keyOf(command.topic, command.partition);
    let partitionLog: PartitionLog;
    try {
      if (command.topicId !== undefined) {
        const event = claimPartitionDirectory(command.dir, command.topicId);
        if (event) this.log(`${command.topic}-${command.partition}: ${event}`);
      }
      partitionLog = PartitionLog.open({ dir: command.dir, config: command.config, recover: command.recover, producerIdExpirationMs: command.producerIdExpirationMs, clock: this.clock });
    } catch (error) {
      const reason = openFailureReason(error);
      this.offlinePartitions.set(key, { dir: command.dir, reason });
      this.log(`${command.topic}-${command.partition}: cannot open the log in ${command.dir}, the partition is offline (KAFKA_STORAGE_ERROR to clients): ${reason}`);
      return { errorCode: ErrorCode.KAFKA_STORAGE_ERROR, logStartOffset: -1, logEndOffset: -1 };
    }
    this.offlinePartitions.delete(key);
    if (command.cleanerBackoffMs !== undefined && command.cleanerBackoffMs !== this.cleanerBackoffMs) {
      this.cleanerBackoffMs = command.cleanerBackoffMs;
      this.scheduleCleaner();
    }
    for (const event of partitionLog.recoveryReport.events) this.log(`${command.topic}-${command.partition}: ${event}`);
    this.partitions.set(key, {
      log: partitionLog,
      config: command.config,
      compressionType: command.compressionType,
      appendChain: Promise.resolve(),
      pendingAppends: [],
      drainQueued: false,
    });
    return this.offsetsOf(partitionLog);
  }

  configure(updates: OpenPartitionCommand[]): OffsetsResult[] {
    return updates.map((update) => {
      const partition = this.owned(update.topic, update.partition);
      if (!partition) return this.absent(update.topic, update.partition);
      partition.config = update.config;
      partition.compressionType = update.compressionType;
      partition.log.updateConfig(update.config);
      return this.offsetsOf(partition.log);
    });
  }

  delete(keys: PartitionKey[]): OffsetsResult[] {
    return keys.map(({ topic, partition }) => {
      const key = keyOf(topic, partition);
      const entry = this.partitions.get(key);
      const offline = this.offlinePartitions.get(key);
      if (!entry && offline) {
        // Deleting an offline partition's topic removes what is left of its files.
        this.offlinePartitions.delete(key);
        rmSync(offline.dir, { recursive: true, force: true });
        return { errorCode: ErrorCode.NONE, logStartOffset: -1, logEndOffset: -1 };
      }
      if (!entry) return this.absent(topic, partition);
      this.partitions.delete(key);
      this.logsAwaitingFlush.delete(entry.log);
      entry.log.delete();
      return { errorCode: ErrorCode.NONE, logStartOffset: -1, logEndOffset: -1 };
    });
  }

  /**
   * Produce: each item waits in its partition's queue for the next drain, so appends to one partition from
   * many connections that arrive together are coalesced: validated and given offsets one by one, written
   * with one writev, and covered by one group commit when they need durability.
   */
  produce(items: ProduceItem[]): Promise<ProduceResult[]> {
    return Promise.all(items.map((item) => this.produceOne(item)));
  }

  private produceOne(item: ProduceItem): Promise<ProduceResult> {
    const partition = this.owned(item.topic, item.partition);
    if (!partition) return Promise.resolve(failedAppend(this.absentCode(item.topic, item.partition)));
    const receivedMs = performance.now();
    return new Promise<ProduceResult>((resolve) => {
      partition.pendingAppends.push({
        item,
        resolve: (result) => {
          result.inWorkerMs = performance.now() - receivedMs;
          resolve(result);
        },
      });
      this.queueDrain(partition);
    });
  }

  private queueDrain(partition: OwnedPartition): void {
    if (partition.drainQueued) return;
    partition.drainQueued = true;
    // setImmediate: the messages already waiting for this worker are read first, and their appends join this drain.
    partition.appendChain = (this.options.drainAppends === "now" ? partition.appendChain : partition.appendChain.then(nextTurn)).then(() => this.drainAppends(partition));
  }

  private async drainAppends(partition: OwnedPartition): Promise<void> {
    partition.drainQueued = false;
    const appends = partition.pendingAppends.splice(0, APPENDS_PER_DRAIN_MAX);
    if (partition.pendingAppends.length > 0) this.queueDrain(partition);
    if (appends.length === 0) return;
    try {
      const results = await this.appendAll(partition, appends.map((pending) => pending.item));
      appends.forEach((pending, index) => pending.resolve(results[index]!));
      if (this.options.onAppended && results.some((result) => result.errorCode === ErrorCode.NONE)) {
        const first = appends[0]!.item;
        this.options.onAppended(first.topic, first.partition, partition.log.logEndOffset);
      }
    } catch (error) {
      const message = errorText(error);
      this.log(`append to ${partition.log.dir} failed: ${message}`);
      for (const pending of appends) pending.resolve(failedAppend(ErrorCode.KAFKA_STORAGE_ERROR, message));
    }
  }

  private convertInTurn(partition: OwnedPartition, records: Uint8Array): ReturnType<typeof convertBatches> {
    const config = partition.config;
    const converted = this.conversionChain.then(() =>
      convertBatches(records, partition.compressionType, {
        maxMessageBytes: config.maxMessageBytes,
        decompressedMaxBytes: Math.max(config.maxMessageBytes, config.messageDecompressedMaxBytes ?? DEFAULT_MESSAGE_DECOMPRESSED_MAX_BYTES),
      }),
    );
    this.conversionChain = converted.catch(() => undefined);
    return converted;
  }

  private async appendAll(partition: OwnedPartition, items: ProduceItem[]): Promise<ProduceResult[]> {
    const results = new Array<ProduceResult>(items.length);
    const parts = items.map((item) => item.records);
    if (partition.compressionType !== "producer") {
      // One at a time across the owner (convertInTurn): bounded memory, whatever the clients send.
      for (let index = 0; index < parts.length; index++) {
        const outcome = await this.convertInTurn(partition, parts[index]!);
        if (outcome instanceof Uint8Array) parts[index] = outcome;
        else results[index] = failedAppend(outcome.errorCode, outcome.errorMessage, outcome.recordErrors);
      }
    }
    // Judged the leader by a generation that has moved on since: this broker may be a follower now, whose log
    // the replica fetcher truncates and fills; a leader append there would fork it. Read in the turn that writes.
    const fence = this.leadershipCell;
    if (fence) {
      const generation = Atomics.load(fence.cells, fence.index);
      items.forEach((item, index) => {
        if (!results[index] && item.leadershipGeneration !== undefined && item.leadershipGeneration !== generation) results[index] = failedAppend(ErrorCode.NOT_LEADER_OR_FOLLOWER);
      });
    }
    // Runs of items with the same leader epoch are appended together (an epoch change splits a drain).
    let needsFlush = false;
    for (let start = 0; start < items.length; ) {
      let end = start;
      const leaderEpoch = items[start]!.leaderEpoch;
      const indexes: number[] = [];
      for (; end < items.length && items[end]!.leaderEpoch === leaderEpoch; end++) if (!results[end]) indexes.push(end);
      let infos: ReturnType<PartitionLog["appendManyAsLeader"]>;
      try {
        infos = partition.log.appendManyAsLeader(
          indexes.map((index) => parts[index]!),
          leaderEpoch,
          this.clock.nowMs(),
          indexes.map((index) => items[index]!.verificationGuard),
          indexes.map((index) => items[index]!.coordinatorOrigin === true),
        );
      } catch (error) {
        // The log itself refuses work (closed, a failed background fsync): this run fails, earlier runs stand.
        const message = errorText(error);
        this.log(`append to ${partition.log.dir} failed: ${message}`);
        infos = indexes.map(() => ({ errorCode: ErrorCode.KAFKA_STORAGE_ERROR, errorMessage: message }));
      }
      this.counters.appendDrains++;
      infos.forEach((info, position) => {
        const index = indexes[position]!;
        if (isAppendError(info)) {
          results[index] = failedAppend(info.errorCode, info.errorMessage, info.recordErrors);
          return;
        }
        if (!info.duplicate) this.counters.appendedItems++;
        if (items[index]!.requireFlush) needsFlush = true;
        results[index] = {
          errorCode: ErrorCode.NONE,
          baseOffset: info.baseOffset,
          lastOffset: info.lastOffset,
          logAppendTimeMs: info.logAppendTimeMs,
          logStartOffset: -1,
          logEndOffset: -1,
          // A retried idempotent batch: success with the original's offsets; acks=all then waits for those.
          ...(info.duplicate ? { duplicate: true } : {}),
          ...(info.slice ? { appended: info.slice } : {}),
        };
      });
      start = end;
    }
    if (needsFlush || partition.log.unflushedMessages >= partition.config.flushMessages) {
      this.counters.flushWaits += items.length;
      const flushStartedMs = performance.now();
      await this.flushSoon(partition.log);
      const flushMs = performance.now() - flushStartedMs;
      for (const result of results) result.flushMs = flushMs;
    }
    const firstUnstableOffset = partition.log.firstUnstableOffset;
    for (const result of results) {
      if (result.errorCode !== ErrorCode.NONE) continue;
      Object.assign(result, this.logOffsets(partition.log));
      if (result.appended) result.firstUnstableOffset = firstUnstableOffset;
    }
    return results;
  }

  private flushSoon(partitionLog: PartitionLog): Promise<void> {
    this.logsAwaitingFlush.add(partitionLog);
    if (!this.groupCommit) {
      this.groupCommit = new Promise<void>((resolve, reject) => {
        setImmediate(() => {
          const logs = [...this.logsAwaitingFlush];
          this.logsAwaitingFlush.clear();
          this.groupCommit = null;
          try {
            this.counters.groupCommits++;
            for (const each of logs) {
              this.counters.logFlushes++;
              this.fsyncs.time(() => each.flush());
            }
            resolve();
          } catch (error) {
            reject(error);
          }
        });
      });
    }
    return this.groupCommit;
  }

  /**
   * Transaction markers: each is written in turn with the partition's appends (after the produce drains
   * queued before it), flushed by the same policy as a produce.
   */
  appendMarker(items: MarkerItem[]): Promise<ProduceResult[]> {
    return Promise.all(
      items.map((item) => {
        const partition = this.owned(item.topic, item.partition);
        if (!partition) return Promise.resolve(failedAppend(this.absentCode(item.topic, item.partition)));
        const written = partition.appendChain.then(async (): Promise<ProduceResult> => {
          const partitionLog = partition.log;
          let info: ReturnType<PartitionLog["appendMarker"]>;
          try {
            info = partitionLog.appendMarker(item, item.leaderEpoch, this.clock.nowMs());
          } catch (error) {
            const message = errorText(error);
            this.log(`marker append to ${partitionLog.dir} failed: ${message}`);
            return failedAppend(ErrorCode.KAFKA_STORAGE_ERROR, message);
          }
          if (isAppendError(info)) return failedAppend(info.errorCode, info.errorMessage);
          if (partitionLog.unflushedMessages >= partition.config.flushMessages) await this.flushSoon(partitionLog);
          this.options.onAppended?.(item.topic, item.partition, partitionLog.logEndOffset);
          return { errorCode: ErrorCode.NONE, baseOffset: info.baseOffset, lastOffset: info.lastOffset, logAppendTimeMs: -1, ...this.logOffsets(partitionLog) };
        });
        partition.appendChain = written.catch(() => undefined);
        return written;
      }),
    );
  }

  producerTransaction(items: ProducerTransactionItem[]): ProducerTransactionResult[] {
    return items.map((item) => {
      const partition = this.owned(item.topic, item.partition);
      if (!partition) return { errorCode: this.absentCode(item.topic, item.partition), firstOffset: -1 };
      const producerState = partition.log.producerState;
      const firstOffset = producerState.ongoingTransactionFirstOffset(item.producerId);
      // None open: the batch goes to the coordinator, and only this guard lets it open one (until a marker).
      return firstOffset >= 0 ? { errorCode: ErrorCode.NONE, firstOffset } : { errorCode: ErrorCode.NONE, firstOffset, verificationGuard: producerState.createVerificationGuard(item.producerId) };
    });
  }

  activeProducers(keys: PartitionKey[]): ActiveProducersResult[] {
    return keys.map(({ topic, partition }) => {
      const entry = this.owned(topic, partition);
      if (!entry) return { errorCode: this.absentCode(topic, partition), producers: [] };
      const producers = [...entry.log.producerState.entries()].map((producer) => ({
        producerId: producer.producerId,
        producerEpoch: producer.producerEpoch,
        lastSequence: producer.lastBatch?.lastSeq ?? -1,
        lastTimestampMs: producer.lastTimestampMs,
        coordinatorEpoch: producer.coordinatorEpoch,
        currentTxnStartOffset: producer.currentTxnFirstOffset,
      }));
      return { errorCode: ErrorCode.NONE, producers };
    });
  }

  appendReplica(items: ReplicaAppendItem[]): ProduceResult[] {
    return items.map((item) => {
      const partition = this.owned(item.topic, item.partition);
      if (!partition) return failedAppend(this.absentCode(item.topic, item.partition));
      const info = partition.log.appendAsFollower(item.records);
      if (isAppendError(info)) return failedAppend(info.errorCode);
      return {
        errorCode: ErrorCode.NONE,
        baseOffset: info.baseOffset,
        lastOffset: info.lastOffset,
        logAppendTimeMs: info.logAppendTimeMs,
        ...this.logOffsets(partition.log),
      };
    });
  }

  read(items: ReadItem[]): (ReadResult & LogOffsets)[] {
    const startedMs = performance.now();
    const results = items.map((item): ReadResult & LogOffsets => {
      const partition = this.owned(item.topic, item.partition);
      if (!partition) return { ...this.absent(item.topic, item.partition), slice: null };
      const partitionLog = partition.log;
      const highWatermark = item.maxOffsetExclusive < 0 ? partitionLog.logEndOffset : item.maxOffsetExclusive;
      // READ_COMMITTED stops at the last stable offset; the consumer drops the aborted transactions' records.
      const maxOffset = item.readCommitted ? partitionLog.lastStableOffset(highWatermark) : highWatermark;
      const result = partitionLog.read(item.fetchOffset, item.maxBytes, maxOffset, item.minOneBatch);
      const readResult: ReadResult & LogOffsets = {
        errorCode: result.errorCode,
        ...this.logOffsets(partitionLog),
        slice: result.errorCode === ErrorCode.NONE ? result.slice : null,
      };
      if (item.readCommitted) {
        readResult.lastStableOffset = maxOffset;
        if (readResult.slice !== null) {
          readResult.abortedTransactions = partitionLog.abortedTransactions(item.fetchOffset, maxOffset).map((aborted) => ({ producerId: aborted.producerId, firstOffset: aborted.firstOffset }));
        }
      }
      return readResult;
    });
    if (results.length > 0) results[0]!.inWorkerMs = performance.now() - startedMs;
    return results;
  }

  offsets(keys: PartitionKey[]): OffsetsResult[] {
    return keys.map(({ topic, partition }) => {
      const entry = this.owned(topic, partition);
      return entry ? this.offsetsOf(entry.log) : this.absent(topic, partition);
    });
  }

  offsetForTimestamp(items: TimestampLookupItem[]): Promise<TimestampLookupResult[]> {
    return Promise.all(
      items.map(async (item): Promise<TimestampLookupResult> => {
        const entry = this.owned(item.topic, item.partition);
        if (!entry) return { errorCode: this.absentCode(item.topic, item.partition), offset: -1, timestampMs: -1 };
        let found;
        try {
          found = item.maxTimestamp ? await entry.log.maxTimestampOffset() : await entry.log.offsetForTimestamp(item.timestampMs);
        } catch (error) {
          // A batch this lookup must decompress is unreadable: that partition answers with an error,
          // the other partitions of the request still get theirs (the fuzzer found gzip sections that
          // end early failing the whole ListOffsets).
          this.log(`offset for timestamp in ${entry.log.dir} failed: ${errorText(error)}`);
          return { errorCode: ErrorCode.KAFKA_STORAGE_ERROR, offset: -1, timestampMs: -1 };
        }
        const firstUnstableOffset = entry.log.firstUnstableOffset;
        return found ? { errorCode: ErrorCode.NONE, offset: found.offset, timestampMs: found.timestampMs, firstUnstableOffset } : { errorCode: ErrorCode.NONE, offset: -1, timestampMs: -1, firstUnstableOffset };
      }),
    );
  }

  /** Runs `change` on each item's log and answers its offsets afterwards (absent partitions get their code). */
  private eachLog<Item extends PartitionKey>(items: Item[], change: (log: PartitionLog, item: Item) => OffsetsResult | void): OffsetsResult[] {
    return items.map((item) => {
      const entry = this.owned(item.topic, item.partition);
      if (!entry) return this.absent(item.topic, item.partition);
      return change(entry.log, item) ?? this.offsetsOf(entry.log);
    });
  }

  truncate(items: TruncateItem[]): OffsetsResult[] {
    return this.eachLog(items, (log, item) => void log.truncateTo(item.offset));
  }

  truncateFully(items: TruncateItem[]): OffsetsResult[] {
    return this.eachLog(items, (log, item) => log.truncateFullyAndStartAt(item.offset));
  }

  assignEpoch(items: EpochEndOffsetItem[]): OffsetsResult[] {
    return this.eachLog(items, (log, item) => {
      if (item.leaderEpoch > log.leaderEpochCache.latestEpoch) log.leaderEpochCache.assign(item.leaderEpoch, log.logEndOffset);
    });
  }

  deleteRecords(items: TruncateItem[]): OffsetsResult[] {
    return this.eachLog(items, (log, item) => {
      if (item.offset > log.logEndOffset) return { ...this.offsetsOf(log), errorCode: ErrorCode.OFFSET_OUT_OF_RANGE };
      log.deleteRecordsBefore(item.offset);
    });
  }

  latestEpoch(keys: PartitionKey[]): EpochEndOffsetResult[] {
    return keys.map(({ topic, partition }): EpochEndOffsetResult => {
      const entry = this.owned(topic, partition);
      if (!entry) return { errorCode: this.absentCode(topic, partition), leaderEpoch: -1, endOffset: -1 };
      return { errorCode: ErrorCode.NONE, leaderEpoch: entry.log.leaderEpochCache.latestEpoch, endOffset: entry.log.logEndOffset };
    });
  }

  epochEndOffset(items: EpochEndOffsetItem[]): EpochEndOffsetResult[] {
    return items.map((item): EpochEndOffsetResult => {
      const entry = this.owned(item.topic, item.partition);
      if (!entry) return { errorCode: this.absentCode(item.topic, item.partition), leaderEpoch: -1, endOffset: -1 };
      const found = entry.log.endOffsetForEpoch(item.leaderEpoch);
      return { errorCode: ErrorCode.NONE, leaderEpoch: found.epoch, endOffset: found.endOffset };
    });
  }

  flush(): void {
    for (const entry of this.partitions.values()) this.fsyncs.time(() => entry.log.flush());
  }

  stats(): WorkerStats {
    let unflushedMessages = 0;
    for (const entry of this.partitions.values()) unflushedMessages += entry.log.unflushedMessages;
    return { ...this.counters, unflushedMessages };
  }

  fsyncLatency(): FsyncLatency {
    return this.fsyncs.snapshot();
  }

  logMetrics(): PartitionLogMetrics[] {
    const metrics: PartitionLogMetrics[] = [];
    for (const [key, entry] of this.partitions) {
      const separator = key.lastIndexOf("\u0000");
      const log = entry.log;
      metrics.push({ topic: key.slice(0, separator), partition: Number(key.slice(separator + 1)), logStartOffset: log.logStartOffset, logEndOffset: log.logEndOffset, segments: log.segments.length, sizeBytes: log.sizeBytes });
    }
    return metrics;
  }

  /** Stops the timers and the cleaner, and nothing else: what a killed worker leaves (an inline owner's terminate). */
  halt(): void {
    if (this.flushTimer) clearInterval(this.flushTimer);
    if (this.retentionTimer) clearInterval(this.retentionTimer);
    this.closing = true;
    if (this.cleanerTimer) clearTimeout(this.cleanerTimer);
  }

  /** Stops the timers, lets running appends and the cleaner finish, and closes every log cleanly. */
  async close(): Promise<void> {
    if (this.flushTimer) clearInterval(this.flushTimer);
    if (this.retentionTimer) clearInterval(this.retentionTimer);
    // A running cleaner pass sees `closing` at its next check and deletes its unfinished output.
    this.closing = true;
    if (this.cleanerTimer) clearTimeout(this.cleanerTimer);
    await this.cleanerRound;
    await Promise.all([...this.partitions.values()].map((entry) => entry.appendChain));
    for (const entry of this.partitions.values()) entry.log.close();
    this.partitions.clear();
  }

  private flushOverdueLogs(nowMs: number): void {
    for (const entry of this.partitions.values()) {
      if (entry.log.unflushedMessages > 0 && nowMs - entry.log.lastFlushMs >= entry.config.flushMs) this.fsyncs.time(() => entry.log.flush());
    }
  }

  private applyRetention(nowMs: number): void {
    for (const entry of this.partitions.values()) {
      try {
        entry.log.applyRetention(nowMs);
      } catch (error) {
        this.log(`retention failed for ${entry.log.dir}: ${String(error)}`);
      }
    }
  }

  // A cleaner round visits every compacted log, cleans those whose dirty ratio reached
  // min.cleanable.dirty.ratio (or that hold a tombstone past delete.retention.ms), one at a time, each pass
  // bounded and yielding to the event loop so produce and fetch keep flowing; then it sleeps log.cleaner.backoff.ms.
  private scheduleCleaner(): void {
    if (!this.started || this.closing) return;
    if (this.cleanerTimer) clearTimeout(this.cleanerTimer);
    // A round in progress schedules the next one when it ends.
    if (this.cleanerRound) return;
    this.cleanerTimer = setTimeout(() => {
      this.cleanerTimer = null;
      this.cleanerRound = this.runCleanerRound().finally(() => {
        this.cleanerRound = null;
        this.scheduleCleaner();
      });
    }, this.cleanerBackoffMs);
  }

  private async runCleanerRound(): Promise<void> {
    // A snapshot: partitions opened or deleted during the round are seen by the next one.
    for (const [key, entry] of [...this.partitions]) {
      if (this.closing) return;
      const stillOwned = (): boolean => this.partitions.get(key) === entry;
      if (!stillOwned() || !entry.log.config.compact) continue;
      const nowMs = this.clock.nowMs();
      if ((this.cleanerRetryAfterMs.get(key) ?? 0) > nowMs) continue;
      try {
        if (!needsCleaning(entry.log, nowMs)) continue;
        const result = await cleanLog(entry.log, { nowMs, shouldStop: () => this.closing || !stillOwned() });
        if (result && !result.aborted) {
          this.counters.cleanerPasses++;
          this.counters.cleanerBytesRead += result.bytesRead;
          this.counters.cleanerBytesWritten += result.bytesWritten;
          const rateMBps = result.durationMs > 0 ? result.bytesRead / 1e3 / result.durationMs : 0;
          this.log(
            `log cleaner: ${key.replace("\u0000", "-")}: ${result.segmentsCleaned} segments (${result.bytesRead} bytes) -> ${result.segmentsWritten} (${result.bytesWritten} bytes), ` +
              `${result.recordsRead} records -> ${result.recordsRetained}, ${result.tombstonesRemoved} tombstones removed, ${result.keys} keys mapped from ${result.mapBytesRead} dirty bytes, ` +
              `dirty ratio ${result.dirtyRatio.toFixed(2)}, checkpoint ${result.firstDirtyOffset} -> ${result.endOffset}, ${result.durationMs.toFixed(1)} ms (${rateMBps.toFixed(1)} MB/s)`,
          );
        }
      } catch (error) {
        this.cleanerRetryAfterMs.set(key, nowMs + CLEANER_FAILURE_BACKOFF_MS);
        this.log(`log cleaner: ${entry.log.dir} failed (next attempt in ${CLEANER_FAILURE_BACKOFF_MS} ms): ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`);
      }
      await nextTurn();
    }
  }
}
