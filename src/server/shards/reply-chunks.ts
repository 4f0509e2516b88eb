// A reply crossing threads: heap bytes transferred, fetch record data as file ranges the receiving thread maps
// itself (its own SegmentViews), so record data is never copied between threads. Used from the main thread to
// a shard, and between listening partition workers (peer-requests.ts).
import type { MappedRecords, SegmentViews } from "../../log/segment-views.ts";
import type { ReplyChunks } from "../connection.ts";
import type { FileRange, ReplyChunk } from "./messages.ts";

/**
 * Heap chunks are views of the encoder's own buffer (protocol/codec/writer.ts allocates one per response),
 * so that buffer is transferred whole, once; file ranges cross as names.
 */
export function replyForThread(chunks: ReplyChunks): { chunks: ReplyChunk[] | null; transfer: ArrayBuffer[] } {
  if (chunks === null) return { chunks: null, transfer: [] };
  const transfer = new Set<ArrayBuffer>();
  const posted: ReplyChunk[] = chunks.map((chunk) => {
    if (chunk instanceof Uint8Array) {
      if (!(chunk.buffer instanceof SharedArrayBuffer)) transfer.add(chunk.buffer as ArrayBuffer);
      return chunk;
    }
    return fileRange(chunk);
  });
  return { chunks: posted, transfer: [...transfer] };
}

export function fileRange(records: MappedRecords): FileRange {
  const identity = records.file.identity;
  if (!identity) throw new Error(`${records.file.path}: a mapped file without its identity cannot cross to another thread`);
  return { path: records.file.path, inode: identity.inode, generation: identity.generation, fileId: identity.fileId, position: records.position, sizeBytes: records.sizeBytes };
}

/** A file range as this thread's mapped records; throws when the file was replaced or removed (see mapReply). */
export function mapFileRange(range: FileRange, views: SegmentViews, thread: string): MappedRecords {
  const records = views.records({ ...range, firstOffset: 0 });
  if (!records) throw new Error(`${range.path} was replaced or removed before ${thread} mapped it`);
  return records;
}

/**
 * File ranges turned back into this thread's mapped records. Throws when a file was replaced or removed
 * before this thread mapped it (a cleaner swap, a truncation, retention): the reply cannot be completed, and
 * the connection is closed so that the client fetches again.
 */
export function mapReply(chunks: readonly ReplyChunk[], views: SegmentViews, thread: string): (Uint8Array | MappedRecords)[] {
  const local: (Uint8Array | MappedRecords)[] = [];
  for (const chunk of chunks) {
    if (chunk instanceof Uint8Array) {
      local.push(chunk);
      continue;
    }
    local.push(mapFileRange(chunk, views, thread));
  }
  return local;
}
