// Read-only use of segment files on the socket thread: a Bun.mmap view per file, cached by file identity, so a
// fetch response's record data is written to the socket straight from the page cache (no copy in JS).
// When some connection sends with sendfile(2), the cached file also keeps a read-only fd.
// Views are never unmapped by us (Bun has no munmap); dropping one from the cache lets the GC unmap it.
// An fd is closed only when its file left the cache *and* no queued file range still points at it: a
// closed fd number can be reused at once (by a socket, say), and sendfile on it would send foreign bytes.
import { closeSync, openSync, statSync } from "node:fs";
import type { ExternalRecords } from "../protocol/codec/records.ts";
import type { FileSlice } from "./partition-log.ts";
import type { FileIdentity } from "./segment.ts";

/**
 * A segment file that exists but cannot be mapped: out of address space or maps (ENOMEM, vm.max_map_count),
 * out of file descriptors (EMFILE/ENFILE), an I/O error. Unlike a file that vanished, retrying will not help.
 */
export class SegmentMapError extends Error {
  constructor(
    readonly path: string,
    readonly causeCode: string,
    detail: string,
  ) {
    super(`cannot map ${path}: ${detail}${mapErrorHint(causeCode)}`);
  }
}

function mapErrorHint(code: string): string {
  if (code === "ENOMEM") return " (the process may be at vm.max_map_count: see max.broker.partitions and log.segment.open.max)";
  if (code === "EMFILE" || code === "ENFILE") return " (out of file descriptors: see the open-file limit logged at start and max.connections)";
  return "";
}

/** One segment file as the socket thread sees it. */
export class MappedFile {
  /** -1 until opened for sendfile, and again after it is closed. */
  private fdValue = -1;
  private pins = 0;
  private evicted = false;

  constructor(
    readonly path: string,
    readonly view: Uint8Array,
    /** Which file this is (inode, generation): a network shard maps the same file by it (server/shards/). */
    readonly identity: FileIdentity | null = null,
  ) {}

  /**
   * Pins the file's fd for one queued range and returns it, opening it on first use; -1 when the file
   * left the cache already or cannot be opened (the range is then written from the view instead).
   */
  pinFd(): number {
    if (this.evicted) return -1;
    if (this.fdValue < 0) {
      try {
        this.fdValue = openSync(this.path, "r");
      } catch {
        return -1; // deleted meanwhile: the mmap view still holds the inode's pages
      }
    }
    this.pins++;
    return this.fdValue;
  }

  unpinFd(): void {
    if (this.pins <= 0) throw new Error(`${this.path}: fd unpinned more often than pinned`);
    this.pins--;
    if (this.pins === 0 && this.evicted) this.closeFd();
  }

  /** Called when the cache drops this file. */
  evict(): void {
    this.evicted = true;
    if (this.pins === 0) this.closeFd();
  }

  get openFd(): number {
    return this.fdValue;
  }

  get pinCount(): number {
    return this.pins;
  }

  private closeFd(): void {
    if (this.fdValue >= 0) closeSync(this.fdValue);
    this.fdValue = -1;
  }
}

/**
 * Fetch data for the Writer: a hole of `sizeBytes` filled from `bytes`, a subarray of a mapped segment,
 * which is `file`'s bytes [position, position + sizeBytes).
 */
export interface MappedRecords extends ExternalRecords {
  readonly bytes: Uint8Array;
  readonly file: MappedFile;
  readonly position: number;
}

export function isMappedRecords(value: unknown): value is MappedRecords {
  return typeof value === "object" && value !== null && (value as { file?: unknown }).file instanceof MappedFile;
}

/**
 * Views dropped between two forced collections. The GC unmaps a dropped view only when it runs; a fetch
 * pattern that cycles through many small segments could otherwise leave thousands of maps awaiting it
 * (vm.max_map_count is shared with the workers' maps: config/partition-limit.ts).
 */
const GC_EVERY_DROPS = 1024;

export class SegmentViews {
  private readonly files = new Map<string, MappedFile>();
  private dropsSinceGc = 0;

  constructor(private readonly maxViews: number) {}

  /**
   * Maps the slice's file (once per fileId) and returns the slice as external records, or null if the file
   * is gone or was replaced (the caller reads again). Throws SegmentMapError when it exists but cannot be mapped.
   */
  records(slice: FileSlice): MappedRecords | null {
    let file: MappedFile | null | undefined = this.files.get(slice.fileId);
    if (file) {
      // Refresh recency: Map iteration order is insertion order.
      this.files.delete(slice.fileId);
      this.files.set(slice.fileId, file);
    } else {
      file = this.map(slice);
      if (!file) return null; // The segment was deleted (retention, topic deletion) between the read and now.
    }
    const end = slice.position + slice.sizeBytes;
    if (end > file.view.byteLength) {
      // A view mapped before the file grew (only possible for a file not preallocated): map it again.
      this.drop(slice.fileId);
      file = this.map(slice);
      if (!file || end > file.view.byteLength) return null;
    }
    return { external: true, sizeBytes: slice.sizeBytes, bytes: file.view.subarray(slice.position, end), file, position: slice.position };
  }

  private map(slice: FileSlice): MappedFile | null {
    let view: Uint8Array;
    try {
      view = Bun.mmap(slice.path, { shared: true });
      // The path may name a newer file than the read saw (a cleaned segment or a follower truncation was
      // renamed over it meanwhile): only a view of the slice's own inode is usable. Checked after mapping,
      // so a mismatch can only refuse a good view, never accept a wrong one.
      if (statSync(slice.path).ino !== slice.inode) return null;
    } catch (error) {
      const code = (error as { code?: unknown }).code;
      // Deleted (retention, topic deletion) or renamed over between the worker's read and now: read again.
      if (code === "ENOENT" || code === undefined) return null;
      throw new SegmentMapError(slice.path, String(code), error instanceof Error ? error.message : String(error));
    }
    const file = new MappedFile(slice.path, view, { inode: slice.inode, generation: slice.generation, fileId: slice.fileId });
    this.files.set(slice.fileId, file);
    if (this.files.size > this.maxViews) this.drop(this.files.keys().next().value!);
    return file;
  }

  private drop(fileId: string): void {
    const file = this.files.get(fileId);
    if (!file) return;
    this.files.delete(fileId);
    file.evict();
    if (++this.dropsSinceGc >= GC_EVERY_DROPS) {
      this.dropsSinceGc = 0;
      Bun.gc(true);
    }
  }

  forget(pathPrefix: string): void {
    for (const fileId of [...this.files.keys()]) if (fileId.startsWith(pathPrefix)) this.drop(fileId);
  }

  /** File ranges queued for sendfile across all connections (tests check that none leak). */
  get pinnedFds(): number {
    let count = 0;
    for (const file of this.files.values()) count += file.pinCount;
    return count;
  }

  /** Open fds held for sendfile (tests check that none leak). */
  get openFds(): number {
    let count = 0;
    for (const file of this.files.values()) if (file.openFd >= 0) count++;
    return count;
  }
}
