// Checks shared by the disk simulations (log-crash, cleaner-crash): read a segment back batch by batch
// with the CRC verified (assert after reading), and check that the indexes agree with the log.
import { crc32c } from "@node-rs/crc32";
import type { LogSegment } from "../../src/log/segment.ts";
import { ATTRIBUTES_OFFSET, CRC_OFFSET, RECORD_BATCH_OVERHEAD, batchBaseOffset, batchLastOffset, batchSizeBytes, dataViewOf } from "../../src/records/batch.ts";
import { assert } from "../../src/util/assert.ts";

export interface StoredBatch {
  baseOffset: number;
  lastOffset: number;
  bytes: Uint8Array;
}

/** The segment's batches, read through its mapping, each CRC-checked (assert after reading). */
export function segmentBatches(segment: LogSegment): StoredBatch[] {
  const bytes = segment.batchBytes();
  const view = dataViewOf(bytes);
  const batches: StoredBatch[] = [];
  for (let position = 0, guard = 0; position < bytes.byteLength && guard <= bytes.byteLength / RECORD_BATCH_OVERHEAD; guard++) {
    const sizeBytes = batchSizeBytes(view, position);
    assert(sizeBytes >= RECORD_BATCH_OVERHEAD, `${segment.logPath}: batch size ${sizeBytes} at ${position}`);
    assert(position + sizeBytes <= bytes.byteLength, `${segment.logPath}: batch at ${position} runs past the data`);
    const crc = crc32c(bytes.subarray(position + ATTRIBUTES_OFFSET, position + sizeBytes)) >>> 0;
    assert(crc === view.getUint32(position + CRC_OFFSET), `${segment.logPath}: CRC mismatch at ${position}`);
    batches.push({ baseOffset: batchBaseOffset(view, position), lastOffset: batchLastOffset(view, position), bytes: bytes.slice(position, position + sizeBytes) });
    position += sizeBytes;
  }
  return batches;
}

/** Every offset index entry points at the start of a batch whose last offset it names; time index entries stay inside the segment. */
export function checkIndexes(segment: LogSegment, after: string): void {
  const bytes = segment.batchBytes();
  const view = dataViewOf(bytes);
  const index = segment.offsetIndex;
  for (let slot = 0; slot < index.entries; slot++) {
    const entry = index.entry(slot);
    if (entry.position + RECORD_BATCH_OVERHEAD > bytes.byteLength) throw new Error(`${after}: ${index.path} entry ${slot} points at ${entry.position}, past the data (${bytes.byteLength})`);
    const lastOffset = batchLastOffset(view, entry.position);
    if (lastOffset !== entry.offset) throw new Error(`${after}: ${index.path} entry ${slot} says offset ${entry.offset} at ${entry.position}, the batch there ends at ${lastOffset}`);
  }
  const timeIndex = segment.timeIndex;
  for (let slot = 0; slot < timeIndex.entries; slot++) {
    const entry = timeIndex.entry(slot);
    if (entry.offset < segment.baseOffset || entry.offset >= segment.nextOffset) throw new Error(`${after}: ${timeIndex.path} entry ${slot} offset ${entry.offset} outside ${segment.baseOffset}..${segment.nextOffset - 1}`);
  }
}
