// Per-topic log settings, with Kafka's topic config names beside each field and Kafka's defaults.
export interface LogConfig {
  /** segment.bytes: roll the active segment before it would exceed this. Also the preallocated .log size. */
  segmentBytes: number;
  /** segment.ms: roll once the segment's first batch is this old (by record timestamps). */
  segmentMs: number;
  /** segment.index.bytes: preallocated size of each .index/.timeindex file. */
  segmentIndexBytes: number;
  /** index.interval.bytes: bytes of batches between two offset index entries. */
  indexIntervalBytes: number;
  /** max.message.bytes: largest batch a producer may send. */
  maxMessageBytes: number;
  /** retention.ms: delete segments whose newest record is older than this; -1 = forever. */
  retentionMs: number;
  /** retention.bytes: delete oldest segments while the partition is larger than this; -1 = no limit. */
  retentionBytes: number;
  /** flush.messages: fdatasync after this many unflushed messages (the caller decides when). */
  flushMessages: number;
  /** flush.ms: fdatasync when the last flush is older than this (the caller decides when). */
  flushMs: number;
  /** message.timestamp.type */
  messageTimestampType: "CreateTime" | "LogAppendTime";
  /**
   * message.timestamp.before.max.ms (KIP-937; also bounded by the legacy message.timestamp.difference.max.ms):
   * a CreateTime record older than now minus this is refused with INVALID_TIMESTAMP.
   */
  messageTimestampBeforeMaxMs: number;
  /** message.timestamp.after.max.ms (KIP-937): a CreateTime record newer than now plus this is refused. */
  messageTimestampAfterMaxMs: number;
  /**
   * message.decompressed.max.bytes (a Bunka broker setting): the most bytes a produced batch's compressed
   * records may expand to (never below max.message.bytes); more is MESSAGE_TOO_LARGE, refused before the
   * memory is allocated (records/decompression.ts).
   */
  messageDecompressedMaxBytes: number;
  /** preallocate: the active .log is created at segmentBytes (sparse), so one mmap view covers its life. */
  preallocate: boolean;
  /** cleanup.policy contains "compact": the log cleaner keeps the latest record per key (docs/compaction.md). */
  compact: boolean;
  /** cleanup.policy contains "delete": retention.ms / retention.bytes delete old segments. */
  delete: boolean;
  /** delete.retention.ms: a tombstone (null value) is kept at least this long after its timestamp. */
  deleteRetentionMs: number;
  /** min.cleanable.dirty.ratio: clean when dirty bytes / cleanable bytes reaches this. */
  minCleanableDirtyRatio: number;
  /** min.compaction.lag.ms: segments holding a record younger than this are not cleaned. */
  minCompactionLagMs: number;
}

/** message.decompressed.max.bytes default: 32 MiB, 32 times Kafka's default max.message.bytes. */
export const DEFAULT_MESSAGE_DECOMPRESSED_MAX_BYTES = 32 * 1024 * 1024;

export const defaultLogConfig: Readonly<LogConfig> = {
  segmentBytes: 1_073_741_824,
  segmentMs: 604_800_000,
  segmentIndexBytes: 10_485_760,
  indexIntervalBytes: 4096,
  maxMessageBytes: 1_048_588,
  retentionMs: 604_800_000,
  retentionBytes: -1,
  flushMessages: Number.MAX_SAFE_INTEGER,
  flushMs: Number.MAX_SAFE_INTEGER,
  messageTimestampType: "CreateTime",
  messageTimestampBeforeMaxMs: Number.MAX_SAFE_INTEGER,
  messageTimestampAfterMaxMs: Number.MAX_SAFE_INTEGER,
  messageDecompressedMaxBytes: DEFAULT_MESSAGE_DECOMPRESSED_MAX_BYTES,
  preallocate: true,
  compact: false,
  delete: true,
  deleteRetentionMs: 86_400_000,
  minCleanableDirtyRatio: 0.5,
  minCompactionLagMs: 0,
};

/** The smallest segment that can hold one batch header; Kafka's segment.bytes minimum is 14. */
const MIN_SEGMENT_BYTES = 14;
/** Room for two time index entries (12 bytes each): one for appends, one reserved for the roll. */
const MIN_INDEX_BYTES = 24;
/** Positions in the offset index are int32. */
const MAX_SEGMENT_BYTES = 0x7fff_ffff;

/** Fills defaults and checks the bounds the on-disk formats impose. */
export function resolveLogConfig(config: Partial<LogConfig> = {}): LogConfig {
  const resolved: LogConfig = { ...defaultLogConfig, ...config };
  if (!Number.isSafeInteger(resolved.segmentBytes) || resolved.segmentBytes < MIN_SEGMENT_BYTES || resolved.segmentBytes > MAX_SEGMENT_BYTES) {
    throw new Error(`segment.bytes ${resolved.segmentBytes} out of range [${MIN_SEGMENT_BYTES}, ${MAX_SEGMENT_BYTES}]`);
  }
  // Kafka accepts segment.index.bytes >= 4, which holds no time index entry; keep room for a few.
  if (!Number.isSafeInteger(resolved.segmentIndexBytes)) throw new Error(`segment.index.bytes ${resolved.segmentIndexBytes} is not an integer`);
  resolved.segmentIndexBytes = Math.max(resolved.segmentIndexBytes, MIN_INDEX_BYTES);
  if (resolved.indexIntervalBytes < 0) throw new Error(`index.interval.bytes ${resolved.indexIntervalBytes} < 0`);
  if (resolved.segmentMs < 1) throw new Error(`segment.ms ${resolved.segmentMs} < 1`);
  if (!(resolved.minCleanableDirtyRatio >= 0 && resolved.minCleanableDirtyRatio <= 1)) throw new Error(`min.cleanable.dirty.ratio ${resolved.minCleanableDirtyRatio} out of [0, 1]`);
  if (!(resolved.messageTimestampBeforeMaxMs >= 0) || !(resolved.messageTimestampAfterMaxMs >= 0)) throw new Error("message.timestamp.before.max.ms and message.timestamp.after.max.ms must be >= 0");
  if (!(resolved.messageDecompressedMaxBytes >= 1)) throw new Error(`message.decompressed.max.bytes ${resolved.messageDecompressedMaxBytes} < 1`);
  if (!(resolved.deleteRetentionMs >= 0) || !(resolved.minCompactionLagMs >= 0)) throw new Error("delete.retention.ms and min.compaction.lag.ms must be >= 0");
  return resolved;
}
