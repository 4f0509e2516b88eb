// Shared test helpers: temporary partition directories and batches with known content.
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { LOG_OVERHEAD, batchSizeBytes, dataViewOf, readBatchHeader, type BatchHeader } from "../../src/records/batch.ts";
import { buildBatch, readBatchRecords } from "../../src/records/compression.ts";
import type { FileSlice } from "../../src/log/partition-log.ts";

export function tempDir(prefix = "bunka-log-"): { dir: string; cleanup: () => void } {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  return { dir: path.join(root, "topic-0"), cleanup: () => fs.rmSync(root, { recursive: true, force: true }) };
}

/** A producer batch of `count` records whose values name the batch and record, timestamps from ts. */
export function producerBatch(tag: string, count: number, timestampMs: number, valueBytes = 20, compression?: number): Uint8Array {
  return buildBatch({
    records: Array.from({ length: count }, (_, index) => ({
      key: `${tag}-k${index}`,
      value: `${tag}-v${index}-`.padEnd(valueBytes, "."),
      timestampMs: timestampMs + index,
    })),
    compression,
  });
}

/** The bytes of a slice, read through a fresh file read (as a reader thread would see them). */
export function sliceBytes(slice: FileSlice): Uint8Array {
  const fd = fs.openSync(slice.path, "r");
  try {
    const out = new Uint8Array(slice.sizeBytes);
    const got = fs.readSync(fd, out, 0, slice.sizeBytes, slice.position);
    if (got !== slice.sizeBytes) throw new Error(`short read ${got} of ${slice.sizeBytes}`);
    return out;
  } finally {
    fs.closeSync(fd);
  }
}

/** Headers of every batch in `bytes`; throws unless the bytes are exactly whole batches. */
export function batchHeaders(bytes: Uint8Array): BatchHeader[] {
  const view = dataViewOf(bytes);
  const headers: BatchHeader[] = [];
  let position = 0;
  for (let guard = 0; position < bytes.byteLength; guard++) {
    if (guard > bytes.byteLength) throw new Error("runaway");
    if (bytes.byteLength - position < LOG_OVERHEAD) throw new Error(`partial batch at ${position}`);
    const sizeBytes = batchSizeBytes(view, position);
    if (position + sizeBytes > bytes.byteLength) throw new Error(`partial batch at ${position}`);
    headers.push(readBatchHeader(view, position));
    position += sizeBytes;
  }
  return headers;
}

export async function recordValues(bytes: Uint8Array): Promise<{ offset: number; value: string; timestampMs: number }[]> {
  const out: { offset: number; value: string; timestampMs: number }[] = [];
  const view = dataViewOf(bytes);
  let position = 0;
  while (position < bytes.byteLength) {
    const sizeBytes = batchSizeBytes(view, position);
    for (const record of await readBatchRecords(bytes.subarray(position, position + sizeBytes))) {
      out.push({ offset: record.offset, value: new TextDecoder().decode(record.value!), timestampMs: record.timestampMs });
    }
    position += sizeBytes;
  }
  return out;
}
