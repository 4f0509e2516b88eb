// Reads a partition's segment files the way recovery does, for tests that damage them on purpose.
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";

export interface StoredBatch {
  file: string;
  position: number;
  sizeBytes: number;
  baseOffset: number;
  lastOffset: number;
}

/** Batches of every .log in a partition dir, in offset order, stopping at a zero length (preallocated tail). */
export function storedBatches(partitionDir: string): StoredBatch[] {
  const batches: StoredBatch[] = [];
  const files = readdirSync(partitionDir).filter((name) => name.endsWith(".log")).sort();
  for (const file of files) {
    const bytes = readFileSync(join(partitionDir, file));
    const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    let position = 0;
    for (let count = 0; count < 10_000_000 && position + 61 <= bytes.byteLength; count++) {
      const length = view.getInt32(position + 8);
      if (length <= 0 || position + 12 + length > bytes.byteLength) break;
      const baseOffset = Number(view.getBigInt64(position));
      batches.push({ file: join(partitionDir, file), position, sizeBytes: 12 + length, baseOffset, lastOffset: baseOffset + view.getInt32(position + 23) });
      position += 12 + length;
    }
  }
  return batches;
}
