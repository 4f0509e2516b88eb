// Reads a partition's segment files the way recovery does, for tests that damage or compare them.
// Headers are read with pread: an active segment is a preallocated (sparse) file of segment.bytes.
import { closeSync, fstatSync, openSync, readdirSync, readSync } from "node:fs";
import { join } from "node:path";

export interface StoredBatch {
  file: string;
  position: number;
  sizeBytes: number;
  baseOffset: number;
  lastOffset: number;
  /** Batch attributes: compression codec in the low 3 bits. */
  attributes: number;
  /** Records in the batch (0 for an empty batch a compacted log keeps for an idempotent producer). */
  recordCount: number;
}

const HEADER_BYTES = 61;

/** Batches of every .log in a partition dir, in offset order, stopping at a zero length (preallocated tail). */
export function storedBatches(partitionDir: string): StoredBatch[] {
  const batches: StoredBatch[] = [];
  const header = new Uint8Array(HEADER_BYTES);
  const view = new DataView(header.buffer);
  const files = readdirSync(partitionDir).filter((name) => name.endsWith(".log")).sort();
  for (const file of files) {
    const path = join(partitionDir, file);
    const fd = openSync(path, "r");
    try {
      const fileBytes = fstatSync(fd).size;
      let position = 0;
      for (let count = 0; count < 10_000_000 && position + HEADER_BYTES <= fileBytes; count++) {
        if (readSync(fd, header, 0, HEADER_BYTES, position) < HEADER_BYTES) break;
        const length = view.getInt32(8);
        if (length <= 0 || position + 12 + length > fileBytes) break;
        const baseOffset = Number(view.getBigInt64(0));
        batches.push({ file: path, position, sizeBytes: 12 + length, baseOffset, lastOffset: baseOffset + view.getInt32(23), attributes: view.getInt16(21), recordCount: view.getInt32(57) });
        position += 12 + length;
      }
    } finally {
      closeSync(fd);
    }
  }
  return batches;
}
