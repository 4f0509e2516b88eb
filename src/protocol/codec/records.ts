/**
 * Records fields (record batches) are opaque to the codec.
 *
 * When decoding, a records field is a view (subarray) of the request bytes.
 * When encoding, it may also be an ExternalRecords: bytes that live elsewhere
 * (for Fetch, a file range written straight from an mmap'd segment). The Writer
 * emits the length prefix and leaves a hole; it never touches those bytes.
 */
export interface ExternalRecords {
  readonly external: true;
  /** Number of bytes the hole stands for (the length prefix written before it). */
  readonly sizeBytes: number;
}

/** Type of every `records` field in the generated messages. */
export type Records = Uint8Array | ExternalRecords | null;

export function isExternalRecords(value: unknown): value is ExternalRecords {
  return typeof value === "object" && value !== null && (value as { external?: unknown }).external === true;
}
