// Joining byte arrays: decompressed blocks, converted batches. One copy into a buffer of the summed size.

/** The parts one after the other in a new buffer; the single part itself when there is only one. */
export function concatBytes(parts: readonly Uint8Array[]): Uint8Array {
  if (parts.length === 1) return parts[0]!;
  let totalBytes = 0;
  for (const part of parts) totalBytes += part.byteLength;
  const out = new Uint8Array(totalBytes);
  let at = 0;
  for (const part of parts) {
    out.set(part, at);
    at += part.byteLength;
  }
  return out;
}
