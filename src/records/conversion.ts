// Topic compression.type other than "producer": the broker rewrites each batch to the topic's codec
// before appending (Kafka's LogValidator recompression path). Offsets are assigned afterwards, in place.
import { CompressionType, batchSizeBytes, dataViewOf, validateBatches, ATTRIBUTES_OFFSET, COMPRESSION_CODEC_MASK } from "./batch.ts";
import { recompressBatch } from "./compression.ts";
import { RecordsError, UNSUPPORTED_COMPRESSION_TYPE, CORRUPT_MESSAGE } from "./errors.ts";

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

/**
 * Rewrites every batch whose codec differs from the topic's. Returns the input buffer itself when no
 * batch needs conversion, a new buffer otherwise, or a Kafka error code (invalid input, or a codec
 * this broker cannot read or write: snappy).
 */
export async function convertBatches(records: Uint8Array, compressionType: string): Promise<Uint8Array | number> {
  const codec = codecForCompressionType(compressionType);
  if (codec === null) return records;
  // Validate first, so garbage is refused with the same code appendAsLeader would give, not recompressed.
  const info = validateBatches(records, Number.MAX_SAFE_INTEGER, "client");
  if (typeof info === "number") return info;
  if (info.compressionMask === 1 << codec) return records;
  if (codec === CompressionType.SNAPPY) return UNSUPPORTED_COMPRESSION_TYPE;

  const view = dataViewOf(records);
  const parts: Uint8Array[] = [];
  let totalBytes = 0;
  let position = 0;
  try {
    for (let index = 0; index < info.batchCount; index++) {
      const sizeBytes = batchSizeBytes(view, position);
      const batch = records.subarray(position, position + sizeBytes);
      const converted = (view.getInt16(position + ATTRIBUTES_OFFSET) & COMPRESSION_CODEC_MASK) === codec ? batch : await recompressBatch(batch, codec);
      parts.push(converted);
      totalBytes += converted.byteLength;
      position += sizeBytes;
    }
  } catch (error) {
    if (error instanceof RecordsError) return error.errorCode;
    return CORRUPT_MESSAGE; // the codec rejected the compressed bytes
  }
  if (parts.length === 1) return parts[0]!;
  const out = new Uint8Array(totalBytes);
  let outPosition = 0;
  for (const part of parts) {
    out.set(part, outPosition);
    outPosition += part.byteLength;
  }
  return out;
}
