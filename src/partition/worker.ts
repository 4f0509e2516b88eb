// A partition worker: owns the logs of the partitions hashed to it. Appends and reads of different
// workers' partitions run in parallel; one worker's partitions are served in arrival order.
declare const self: Worker;

import { cleanLog, DEFAULT_LOG_CLEANER_BACKOFF_MS, needsCleaning } from "../log/log-cleaner.ts";
import { rmSync } from "node:fs";
import { openSegments } from "../log/open-segments.ts";
import { PartitionLog, type AppendError } from "../log/partition-log.ts";
import { DEFAULT_MESSAGE_DECOMPRESSED_MAX_BYTES, type LogConfig } from "../log/config.ts";
import { ErrorCode } from "../protocol/errors.ts";
import { convertBatchesChecked } from "../records/conversion.ts";
import type {
  EpochEndOffsetResult,
  OffsetsResult,
  OpenPartitionCommand,
  ProduceItem,
  ProduceResult,
  ReadResult,
  TimestampLookupResult,
  WorkerCommand,
  WorkerReply,
} from "./messages.ts";

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

const partitions = new Map<string, OwnedPartition>();
const keyOf = (topic: string, partition: number): string => `${topic}\u0000${partition}`;

const RETENTION_CHECK_INTERVAL_MS = 300_000;
/** Appends coalesced into one drain (one writev) at most; more wait for the next drain. */
const APPENDS_PER_DRAIN_MAX = 256;

/** Counters the socket thread reads with the "stats" command (tests, the benchmark). */
const stats = {
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
const FLUSH_CHECK_INTERVAL_MS = 1_000;

function log(message: string): void {
  self.postMessage({ event: "log", message });
}

function reply(message: WorkerReply): void {
  self.postMessage(message);
}

function owned(topic: string, partition: number): OwnedPartition | undefined {
  return partitions.get(keyOf(topic, partition));
}

// Group commit: every append that asked for durability in this turn of the event loop shares one
// fdatasync per log, issued after all of them were written.
const logsAwaitingFlush = new Set<PartitionLog>();
let groupCommit: Promise<void> | null = null;

function flushSoon(partitionLog: PartitionLog): Promise<void> {
  logsAwaitingFlush.add(partitionLog);
  if (!groupCommit) {
    groupCommit = new Promise<void>((resolve, reject) => {
      setImmediate(() => {
        const logs = [...logsAwaitingFlush];
        logsAwaitingFlush.clear();
        groupCommit = null;
        try {
          stats.groupCommits++;
          for (const each of logs) {
            stats.logFlushes++;
            each.flush();
          }
          resolve();
        } catch (error) {
          reject(error);
        }
      });
    });
  }
  return groupCommit;
}

function offsetsOf(partitionLog: PartitionLog): OffsetsResult {
  return { errorCode: ErrorCode.NONE, logStartOffset: partitionLog.logStartOffset, logEndOffset: partitionLog.logEndOffset };
}

/**
 * Partitions whose files could not be opened (corrupt beyond the torn-tail rules, EMFILE, ENOMEM, the
 * map limit): offline, as Kafka takes a log dir offline. Every request for them gets KAFKA_STORAGE_ERROR
 * while the worker serves its other partitions; the next open (a later restart) tries again.
 */
const offlinePartitions = new Map<string, { dir: string; reason: string }>();

/** The code for a partition this worker does not serve: offline (storage error) or not here. */
function absentCode(topic: string, partition: number): number {
  return offlinePartitions.has(keyOf(topic, partition)) ? ErrorCode.KAFKA_STORAGE_ERROR : ErrorCode.UNKNOWN_TOPIC_OR_PARTITION;
}

function absent(topic: string, partition: number): OffsetsResult {
  return { errorCode: absentCode(topic, partition), logStartOffset: -1, logEndOffset: -1 };
}

/** The real cause of an open failure, for the log line: errno code (EMFILE, ENOMEM, ...) and message. */
function openFailureReason(error: unknown): string {
  if (!(error instanceof Error)) return String(error);
  const code = (error as { code?: unknown }).code;
  const hint = code === "ENOMEM" ? " (out of memory, or vm.max_map_count reached)" : code === "EMFILE" || code === "ENFILE" ? " (out of file descriptors)" : "";
  return `${typeof code === "string" ? `${code}${hint}: ` : ""}${error.message}`;
}

async function openPartition(command: OpenPartitionCommand): Promise<OffsetsResult> {
  const existing = owned(command.topic, command.partition);
  if (existing) return offsetsOf(existing.log);
  if (command.segmentOpenMax !== undefined && command.segmentOpenMax !== openSegments.limit) openSegments.setMaxOpen(command.segmentOpenMax);
  const key = keyOf(command.topic, command.partition);
  let partitionLog: PartitionLog;
  try {
    partitionLog = PartitionLog.open({ dir: command.dir, config: command.config, recover: command.recover, producerIdExpirationMs: command.producerIdExpirationMs });
  } catch (error) {
    const reason = openFailureReason(error);
    offlinePartitions.set(key, { dir: command.dir, reason });
    log(`${command.topic}-${command.partition}: cannot open the log in ${command.dir}, the partition is offline (KAFKA_STORAGE_ERROR to clients): ${reason}`);
    return { errorCode: ErrorCode.KAFKA_STORAGE_ERROR, logStartOffset: -1, logEndOffset: -1 };
  }
  offlinePartitions.delete(key);
  if (command.cleanerBackoffMs !== undefined && command.cleanerBackoffMs !== cleanerBackoffMs) {
    cleanerBackoffMs = command.cleanerBackoffMs;
    scheduleCleaner();
  }
  for (const event of partitionLog.recoveryReport.events) log(`${command.topic}-${command.partition}: ${event}`);
  partitions.set(keyOf(command.topic, command.partition), {
    log: partitionLog,
    config: command.config,
    compressionType: command.compressionType,
    appendChain: Promise.resolve(),
    pendingAppends: [],
    drainQueued: false,
  });
  return offsetsOf(partitionLog);
}

function failedAppend(errorCode: number, errorMessage?: string, recordErrors?: ProduceResult["recordErrors"]): ProduceResult {
  return { errorCode, errorMessage, ...(recordErrors && recordErrors.length > 0 ? { recordErrors } : {}), baseOffset: -1, lastOffset: -1, logAppendTimeMs: -1, logStartOffset: -1, logEndOffset: -1 };
}

/**
 * compression.type conversions of all this worker's partitions run one at a time: each holds a decompressed
 * section (up to message.decompressed.max.bytes) while its recompression runs on the threadpool, so the
 * worker's conversion memory is one section, not one per partition with appends in flight.
 */
let conversionChain: Promise<unknown> = Promise.resolve();

function convertInTurn(partition: OwnedPartition, records: Uint8Array): ReturnType<typeof convertBatchesChecked> {
  const config = partition.config;
  const converted = conversionChain.then(() =>
    convertBatchesChecked(records, partition.compressionType, {
      maxMessageBytes: config.maxMessageBytes,
      decompressedMaxBytes: Math.max(config.maxMessageBytes, config.messageDecompressedMaxBytes ?? DEFAULT_MESSAGE_DECOMPRESSED_MAX_BYTES),
    }),
  );
  conversionChain = converted.catch(() => undefined);
  return converted;
}

/**
 * Produce: the item waits in its partition's queue for the next drain, so appends to one partition from
 * many connections that arrive together are coalesced: validated and given offsets one by one, written
 * with one writev, and covered by one group commit when they need durability.
 */
function produce(item: ProduceItem): Promise<ProduceResult> {
  const partition = owned(item.topic, item.partition);
  if (!partition) return Promise.resolve(failedAppend(absentCode(item.topic, item.partition)));
  return new Promise<ProduceResult>((resolve) => {
    partition.pendingAppends.push({ item, resolve });
    queueDrain(partition);
  });
}

function queueDrain(partition: OwnedPartition): void {
  if (partition.drainQueued) return;
  partition.drainQueued = true;
  // setImmediate: the messages already waiting for this worker are read first, and their appends join this drain.
  partition.appendChain = partition.appendChain.then(nextTurn).then(() => drainAppends(partition));
}

const nextTurn = (): Promise<void> => new Promise<void>((resolve) => setImmediate(resolve));

async function drainAppends(partition: OwnedPartition): Promise<void> {
  partition.drainQueued = false;
  const appends = partition.pendingAppends.splice(0, APPENDS_PER_DRAIN_MAX);
  if (partition.pendingAppends.length > 0) queueDrain(partition);
  if (appends.length === 0) return;
  try {
    const results = await appendAll(partition, appends.map((pending) => pending.item));
    appends.forEach((pending, index) => pending.resolve(results[index]!));
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    log(`append to ${partition.log.dir} failed: ${message}`);
    for (const pending of appends) pending.resolve(failedAppend(ErrorCode.KAFKA_STORAGE_ERROR, message));
  }
}

async function appendAll(partition: OwnedPartition, items: ProduceItem[]): Promise<ProduceResult[]> {
  const results = new Array<ProduceResult>(items.length);
  const parts = items.map((item) => item.records);
  if (partition.compressionType !== "producer") {
    // One at a time across the worker (convertInTurn): bounded memory, whatever the clients send.
    for (let index = 0; index < parts.length; index++) {
      const outcome = await convertInTurn(partition, parts[index]!);
      if (outcome instanceof Uint8Array) parts[index] = outcome;
      else results[index] = failedAppend(outcome.errorCode, outcome.errorMessage, outcome.recordErrors);
    }
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
      infos = partition.log.appendManyAsLeader(indexes.map((index) => parts[index]!), leaderEpoch, Date.now());
    } catch (error) {
      // The log itself refuses work (closed, a failed background fsync): this run fails, earlier runs stand.
      const message = error instanceof Error ? error.message : String(error);
      log(`append to ${partition.log.dir} failed: ${message}`);
      infos = indexes.map(() => ({ errorCode: ErrorCode.KAFKA_STORAGE_ERROR, errorMessage: message }));
    }
    stats.appendDrains++;
    infos.forEach((info, position) => {
      const index = indexes[position]!;
      if (info.errorCode !== ErrorCode.NONE) {
        const refused = info as AppendError;
        results[index] = failedAppend(refused.errorCode, refused.errorMessage, refused.recordErrors);
        return;
      }
      const appended = info as { baseOffset: number; lastOffset: number; logAppendTimeMs: number; duplicate: boolean };
      if (!appended.duplicate) stats.appendedItems++;
      if (items[index]!.requireFlush) needsFlush = true;
      results[index] = {
        errorCode: ErrorCode.NONE,
        baseOffset: appended.baseOffset,
        lastOffset: appended.lastOffset,
        logAppendTimeMs: appended.logAppendTimeMs,
        logStartOffset: -1,
        logEndOffset: -1,
        // A retried idempotent batch: success with the original's offsets; acks=all then waits for those.
        ...(appended.duplicate ? { duplicate: true } : {}),
      };
    });
    start = end;
  }
  if (needsFlush || partition.log.unflushedMessages >= partition.config.flushMessages) {
    stats.flushWaits += items.length;
    await flushSoon(partition.log);
  }
  for (const result of results) {
    if (result.errorCode !== ErrorCode.NONE) continue;
    result.logStartOffset = partition.log.logStartOffset;
    result.logEndOffset = partition.log.logEndOffset;
  }
  return results;
}

function read(command: Extract<WorkerCommand, { op: "read" }>): ReadResult[] {
  return command.items.map((item) => {
    const partition = owned(item.topic, item.partition);
    if (!partition) return { ...absent(item.topic, item.partition), slice: null };
    const partitionLog = partition.log;
    const maxOffset = item.maxOffsetExclusive < 0 ? partitionLog.logEndOffset : item.maxOffsetExclusive;
    const result = partitionLog.read(item.fetchOffset, item.maxBytes, maxOffset, item.minOneBatch);
    return {
      errorCode: result.errorCode,
      logStartOffset: partitionLog.logStartOffset,
      logEndOffset: partitionLog.logEndOffset,
      slice: result.errorCode === ErrorCode.NONE ? (result.slice ?? null) : null,
    };
  });
}

async function handle(command: WorkerCommand): Promise<unknown[]> {
  switch (command.op) {
    case "open":
      return Promise.all(command.partitions.map(openPartition));
    case "configure":
      return command.partitions.map((update) => {
        const partition = owned(update.topic, update.partition);
        if (!partition) return absent(update.topic, update.partition);
        partition.config = update.config;
        partition.compressionType = update.compressionType;
        partition.log.updateConfig(update.config);
        return offsetsOf(partition.log);
      });
    case "delete":
      return command.partitions.map(({ topic, partition }) => {
        const entry = owned(topic, partition);
        const offline = offlinePartitions.get(keyOf(topic, partition));
        if (!entry && offline) {
          // Deleting an offline partition's topic removes what is left of its files.
          offlinePartitions.delete(keyOf(topic, partition));
          rmSync(offline.dir, { recursive: true, force: true });
          return { errorCode: ErrorCode.NONE, logStartOffset: -1, logEndOffset: -1 };
        }
        if (!entry) return absent(topic, partition);
        partitions.delete(keyOf(topic, partition));
        logsAwaitingFlush.delete(entry.log);
        entry.log.delete();
        return { errorCode: ErrorCode.NONE, logStartOffset: -1, logEndOffset: -1 };
      });
    case "produce":
      return Promise.all(command.items.map(produce));
    case "appendReplica":
      return command.items.map((item) => {
        const partition = owned(item.topic, item.partition);
        if (!partition) return failedAppend(absentCode(item.topic, item.partition));
        const info = partition.log.appendAsFollower(item.records);
        if ("errorCode" in info && info.errorCode !== ErrorCode.NONE) return failedAppend(info.errorCode);
        return { ...(info as ProduceResult), errorCode: ErrorCode.NONE, logStartOffset: partition.log.logStartOffset, logEndOffset: partition.log.logEndOffset };
      });
    case "read":
      return read(command);
    case "offsets":
      return command.items.map(({ topic, partition }) => {
        const entry = owned(topic, partition);
        return entry ? offsetsOf(entry.log) : absent(topic, partition);
      });
    case "offsetForTimestamp":
      return Promise.all(
        command.items.map(async (item): Promise<TimestampLookupResult> => {
          const entry = owned(item.topic, item.partition);
          if (!entry) return { errorCode: absentCode(item.topic, item.partition), offset: -1, timestampMs: -1 };
          let found;
          try {
            found = await entry.log.offsetForTimestamp(item.timestampMs);
          } catch (error) {
            // A batch this lookup must decompress is unreadable: that partition answers with an error,
            // the other partitions of the request still get theirs (the fuzzer found gzip sections that
            // end early failing the whole ListOffsets).
            log(`offset for timestamp in ${entry.log.dir} failed: ${error instanceof Error ? error.message : String(error)}`);
            return { errorCode: ErrorCode.KAFKA_STORAGE_ERROR, offset: -1, timestampMs: -1 };
          }
          return found ? { errorCode: ErrorCode.NONE, offset: found.offset, timestampMs: found.timestampMs } : { errorCode: ErrorCode.NONE, offset: -1, timestampMs: -1 };
        }),
      );
    case "truncate":
      return command.items.map((item) => {
        const entry = owned(item.topic, item.partition);
        if (!entry) return absent(item.topic, item.partition);
        entry.log.truncateTo(item.offset);
        return offsetsOf(entry.log);
      });
    case "truncateFully":
      return command.items.map((item) => {
        const entry = owned(item.topic, item.partition);
        if (!entry) return absent(item.topic, item.partition);
        entry.log.truncateFullyAndStartAt(item.offset);
        return offsetsOf(entry.log);
      });
    case "latestEpoch":
      return command.items.map(({ topic, partition }): EpochEndOffsetResult => {
        const entry = owned(topic, partition);
        if (!entry) return { errorCode: absentCode(topic, partition), leaderEpoch: -1, endOffset: -1 };
        return { errorCode: ErrorCode.NONE, leaderEpoch: entry.log.leaderEpochCache.latestEpoch, endOffset: entry.log.logEndOffset };
      });
    case "assignEpoch":
      return command.items.map((item) => {
        const entry = owned(item.topic, item.partition);
        if (!entry) return absent(item.topic, item.partition);
        if (item.leaderEpoch > entry.log.leaderEpochCache.latestEpoch) entry.log.leaderEpochCache.assign(item.leaderEpoch, entry.log.logEndOffset);
        return offsetsOf(entry.log);
      });
    case "deleteRecords":
      return command.items.map((item) => {
        const entry = owned(item.topic, item.partition);
        if (!entry) return absent(item.topic, item.partition);
        if (item.offset > entry.log.logEndOffset) return { ...offsetsOf(entry.log), errorCode: ErrorCode.OFFSET_OUT_OF_RANGE };
        entry.log.deleteRecordsBefore(item.offset);
        return offsetsOf(entry.log);
      });
    case "epochEndOffset":
      return command.items.map((item): EpochEndOffsetResult => {
        const entry = owned(item.topic, item.partition);
        if (!entry) return { errorCode: absentCode(item.topic, item.partition), leaderEpoch: -1, endOffset: -1 };
        const found = entry.log.endOffsetForEpoch(item.leaderEpoch);
        return { errorCode: ErrorCode.NONE, leaderEpoch: found.epoch, endOffset: found.endOffset };
      });
    case "flush":
      for (const entry of partitions.values()) entry.log.flush();
      return [];
    case "stats": {
      let unflushedMessages = 0;
      for (const entry of partitions.values()) unflushedMessages += entry.log.unflushedMessages;
      return [{ ...stats, unflushedMessages }];
    }
    case "close": {
      clearInterval(flushTimer);
      clearInterval(retentionTimer);
      // A running cleaner pass sees `closing` at its next check and deletes its unfinished output.
      closing = true;
      if (cleanerTimer) clearTimeout(cleanerTimer);
      await cleanerRound;
      await Promise.all([...partitions.values()].map((entry) => entry.appendChain));
      for (const entry of partitions.values()) entry.log.close();
      partitions.clear();
      return [];
    }
  }
}

self.onmessage = (event: MessageEvent<WorkerCommand>) => {
  const command = event.data;
  handle(command).then(
    (results) => reply({ id: command.id, ok: true, results }),
    (error) => {
      log(`partition worker: ${command.op} failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`);
      reply({ id: command.id, ok: false, error: error instanceof Error ? error.message : String(error) });
    },
  );
};

// flush.ms: Kafka's log flusher checks every log on a schedule; a log past its interval is fsynced.
const flushTimer = setInterval(() => {
  const nowMs = Date.now();
  for (const entry of partitions.values()) {
    if (entry.log.unflushedMessages > 0 && nowMs - entry.log.lastFlushMs >= entry.config.flushMs) entry.log.flush();
  }
}, FLUSH_CHECK_INTERVAL_MS);

const retentionTimer = setInterval(() => {
  const nowMs = Date.now();
  for (const entry of partitions.values()) {
    try {
      entry.log.applyRetention(nowMs);
    } catch (error) {
      log(`retention failed for ${entry.log.dir}: ${String(error)}`);
    }
  }
}, RETENTION_CHECK_INTERVAL_MS);

// The log cleaner (Kafka's LogCleaner threads, here a task of each worker over the compacted logs it owns):
// a round visits every compacted log, cleans those whose dirty ratio reached min.cleanable.dirty.ratio (or
// that hold a tombstone past delete.retention.ms), one at a time, each pass bounded and yielding to the
// event loop so produce and fetch keep flowing; then it sleeps log.cleaner.backoff.ms.
let cleanerBackoffMs = DEFAULT_LOG_CLEANER_BACKOFF_MS;
/**
 * A log whose pass failed (corrupt data, I/O error) is left alone this long before the next attempt
 * (Kafka marks it uncleanable); the failure is logged once per attempt.
 */
const CLEANER_FAILURE_BACKOFF_MS = 600_000;
const cleanerRetryAfterMs = new Map<string, number>();
let cleanerTimer: ReturnType<typeof setTimeout> | null = null;
let cleanerRound: Promise<void> | null = null;
let closing = false;

function scheduleCleaner(): void {
  if (closing) return;
  if (cleanerTimer) clearTimeout(cleanerTimer);
  // A round in progress schedules the next one when it ends.
  if (cleanerRound) return;
  cleanerTimer = setTimeout(() => {
    cleanerTimer = null;
    cleanerRound = runCleanerRound().finally(() => {
      cleanerRound = null;
      scheduleCleaner();
    });
  }, cleanerBackoffMs);
}

async function runCleanerRound(): Promise<void> {
  // A snapshot: partitions opened or deleted during the round are seen by the next one.
  for (const [key, entry] of [...partitions]) {
    if (closing) return;
    const stillOwned = (): boolean => partitions.get(key) === entry;
    if (!stillOwned() || !entry.log.config.compact) continue;
    const nowMs = Date.now();
    if ((cleanerRetryAfterMs.get(key) ?? 0) > nowMs) continue;
    try {
      if (!needsCleaning(entry.log, nowMs)) continue;
      const result = await cleanLog(entry.log, { nowMs, shouldStop: () => closing || !stillOwned() });
      if (result && !result.aborted) {
        stats.cleanerPasses++;
        stats.cleanerBytesRead += result.bytesRead;
        stats.cleanerBytesWritten += result.bytesWritten;
        const rateMBps = result.durationMs > 0 ? result.bytesRead / 1e3 / result.durationMs : 0;
        log(
          `log cleaner: ${key.replace("\u0000", "-")}: ${result.segmentsCleaned} segments (${result.bytesRead} bytes) -> ${result.segmentsWritten} (${result.bytesWritten} bytes), ` +
            `${result.recordsRead} records -> ${result.recordsRetained}, ${result.tombstonesRemoved} tombstones removed, ${result.keys} keys mapped from ${result.mapBytesRead} dirty bytes, ` +
            `dirty ratio ${result.dirtyRatio.toFixed(2)}, checkpoint ${result.firstDirtyOffset} -> ${result.endOffset}, ${result.durationMs.toFixed(1)} ms (${rateMBps.toFixed(1)} MB/s)`,
        );
      }
    } catch (error) {
      cleanerRetryAfterMs.set(key, nowMs + CLEANER_FAILURE_BACKOFF_MS);
      log(`log cleaner: ${entry.log.dir} failed (next attempt in ${CLEANER_FAILURE_BACKOFF_MS} ms): ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`);
    }
    await nextTurn();
  }
}

scheduleCleaner();
