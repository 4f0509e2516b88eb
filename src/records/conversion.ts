// Topic compression.type other than "producer": the broker rewrites each batch to the topic's codec
// before appending (Kafka's LogValidator recompression path). Offsets are assigned afterwards, in place.
// The client's batches are validated first, with the same bounded decompression as any produce, and
// max.message.bytes applies both before conversion (the batch as sent) and after (the batch as stored).
import { concatBytes } from "../util/bytes.ts";
import {
  ATTRIBUTES_OFFSET,
  COMPRESSION_CODEC_MASK,
  CompressionType,
  RECORDS_OFFSET,
  batchSizeBytes,
  dataViewOf,
  isRecordsProblem,
  validateBatches,
  type RecordChecks,
  type RecordsProblem,
} from "./batch.ts";
import { compressRecordsSection, rebuildBatch } from "./compression.ts";
import { decompressBounded } from "./decompression.ts";
import { CORRUPT_MESSAGE, MESSAGE_TOO_LARGE, RecordsError, UNSUPPORTED_COMPRESSION_TYPE } from "./errors.ts";

/** Kafka's compression.type values mapped to the codec bits; "producer" keeps what the client sent. */
export function codecForCompressionType(compressionType: string): number | null {
  switch (compressionType) {
    case "uncompressed":
      return CompressionType.NONE;
    case "gzip":
      return CompressionType.GZIP;
    case "snappy":
      return CompressionType.SNAPPY;
    case "lz4":
      return CompressionType.LZ4;
    case "zstd":
      return CompressionType.ZSTD;
    default:
      return null;
  }
}

export interface ConversionLimits {
  /** max.message.bytes: the largest batch, as sent and as converted. */
  maxMessageBytes: number;
  /** The most bytes one batch's records may decompress to (message.decompressed.max.bytes). */
  decompressedMaxBytes: number;
  /** The per-record checks (compacted keys, timestamps); decompression is supplied here. */
  checks?: Omit<RecordChecks, "openSection" | "decompressedMaxBytes">;
}

const problem = (errorCode: number, errorMessage: string): RecordsProblem => ({ errorCode, errorMessage, recordErrors: [] });

/**
 * Rewrites every batch whose codec differs from the topic's, one batch at a time (at most one decompressed
 * section held). Returns the input buffer itself when no batch needs conversion, a new buffer otherwise, or
 * the problem: invalid input, a batch too large before or after conversion, or a codec this broker cannot
 * read or write (snappy).
 */
export async function convertBatches(records: Uint8Array, compressionType: string, limits: ConversionLimits): Promise<Uint8Array | RecordsProblem> {
  const codec = codecForCompressionType(compressionType);
  if (codec === null) return records;
  const info = validateBatches(records, limits.maxMessageBytes, "client", {
    compact: false,
    timestampBeforeMaxMs: Number.MAX_SAFE_INTEGER,
    timestampAfterMaxMs: Number.MAX_SAFE_INTEGER,
    logAppendTime: false,
    nowMs: 0,
    ...limits.checks,
    openSection: decompressBounded,
    decompressedMaxBytes: limits.decompressedMaxBytes,
  });
  if (isRecordsProblem(info)) return info;
  if (info.compressionMask === 1 << codec) return records;
  if (codec === CompressionType.SNAPPY) return problem(UNSUPPORTED_COMPRESSION_TYPE, "compression.type=snappy cannot be written by this broker");

  const view = dataViewOf(records);
  const parts: Uint8Array[] = [];
  let position = 0;
  try {
    // Bounded by the batch count validateBatches found.
    for (let index = 0; index < info.batchCount; index++) {
      const sizeBytes = batchSizeBytes(view, position);
      const batch = records.subarray(position, position + sizeBytes);
      const sourceCodec = view.getInt16(position + ATTRIBUTES_OFFSET) & COMPRESSION_CODEC_MASK;
      let converted = batch;
      if (sourceCodec !== codec) {
        const section = decompressBounded(sourceCodec, batch.subarray(RECORDS_OFFSET), limits.decompressedMaxBytes);
        converted = rebuildBatch(batch, codec, await compressRecordsSection(codec, section));
      }
      // LogValidator: the batch as it will be stored must fit max.message.bytes too.
      if (converted.byteLength > limits.maxMessageBytes) {
        return problem(MESSAGE_TOO_LARGE, `batch of ${converted.byteLength} bytes after conversion to ${compressionType} is larger than max.message.bytes ${limits.maxMessageBytes}`);
      }
      parts.push(converted);
      position += sizeBytes;
    }
  } catch (error) {
    if (error instanceof RecordsError) return problem(error.errorCode, error.message);
    return problem(CORRUPT_MESSAGE, `conversion to ${compressionType} failed: ${error instanceof Error ? error.message : String(error)}`);
  }
  return concatBytes(parts);
}
