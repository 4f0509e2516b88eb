// Read-only use of segment files on the socket thread: a Bun.mmap view per file, cached by fileId, so a
// fetch response's record data is written to the socket straight from the page cache (no copy in JS).
// Views are never unmapped by us (Bun has no munmap); dropping one from the cache lets the GC unmap it.
import type { ExternalRecords } from "../protocol/codec/records.ts";
import type { FileSlice } from "../partition/messages.ts";

/** Fetch data for the Writer: a hole of `sizeBytes` filled from `bytes`, a subarray of a mapped segment. */
export interface MappedRecords extends ExternalRecords {
  readonly bytes: Uint8Array;
}

export class SegmentViews {
  private readonly views = new Map<string, Uint8Array>();

  constructor(private readonly maxViews: number) {}

  /** Maps the slice's file (once per fileId) and returns the slice as external records, or null if gone. */
  records(slice: FileSlice): MappedRecords | null {
    let view = this.views.get(slice.fileId);
    if (view) {
      // Refresh recency: Map iteration order is insertion order.
      this.views.delete(slice.fileId);
      this.views.set(slice.fileId, view);
    } else {
      try {
        view = Bun.mmap(slice.path, { shared: true });
      } catch {
        return null; // The segment was deleted (retention, topic deletion) between the read and now.
      }
      this.views.set(slice.fileId, view);
      if (this.views.size > this.maxViews) this.views.delete(this.views.keys().next().value!);
    }
    const end = slice.position + slice.sizeBytes;
    if (end > view.byteLength) {
      // A view mapped before the file grew (only possible for a file not preallocated): map it again.
      this.views.delete(slice.fileId);
      try {
        view = Bun.mmap(slice.path, { shared: true });
      } catch {
        return null;
      }
      this.views.set(slice.fileId, view);
      if (end > view.byteLength) return null;
    }
    return { external: true, sizeBytes: slice.sizeBytes, bytes: view.subarray(slice.position, end) };
  }

  forget(pathPrefix: string): void {
    for (const fileId of [...this.views.keys()]) if (fileId.startsWith(pathPrefix)) this.views.delete(fileId);
  }
}
