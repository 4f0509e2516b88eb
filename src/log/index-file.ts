// The common part of .index and .timeindex (Kafka's AbstractIndex): fixed-size big-endian entries in a
// preallocated file that is memory-mapped once. Entries are sorted by both of their fields, so one
// binary search serves lookups by either.
//
// Mapping rules (docs/bun-runtime.md §3.3, §3.4, §3.5): Bun.mmap cannot map an empty file, clamps the
// view to the file length and cannot unmap. The file is mapped lazily, on the first read or write of an
// entry (Kafka's LazyIndex), and an inactive segment's index may drop its view (releaseMapping, driven
// by the open-segments LRU) and map again later. The active segment's view is made once at the
// preallocated size; when the file shrinks (trimToValidSize) the old view stays alive but no code reads
// past `entries`, which never exceeds the new size, so no page past EOF is ever touched (that would be
// a SIGBUS). Growing the file (a segment that becomes active again) drops the view so the next access
// maps the new length. Only the partition's owning worker maps index files.
import { OPEN_CREATE, OPEN_READ_WRITE, nodeFileSystem, type FileSystem } from "./file-system.ts";

/** Kafka's AbstractIndex: lookups cluster near the tail, so the last 8 KiB ("warm" entries, whose pages
 * stay in the page cache) are searched first and a cold lookup touches the rest only when needed. */
const WARM_SECTION_BYTES = 8192;

export class CorruptIndexError extends Error {
  override name = "CorruptIndexError";
}

export abstract class IndexFile {
  /** Entries written so far; everything at or past `entries * entrySizeBytes` is never read. */
  entries = 0;
  /** How many entries the file has room for at its current length. */
  maxEntries = 0;
  /** Current length of the file on disk. */
  fileBytes = 0;
  protected view: Uint8Array | null = null;
  protected data: DataView | null = null;

  protected constructor(
    readonly path: string,
    readonly baseOffset: number,
    readonly entrySizeBytes: number,
    /** Called whenever the file gets mapped (the owning segment counts its maps). */
    private readonly onMapped: (() => void) | null = null,
    protected readonly files: FileSystem = nodeFileSystem,
  ) {}

  /**
   * Opens (or creates) the file. Existing files count file length / entry size entries, which is exact
   * for files trimmed at roll or clean close; the caller sanity-checks them and rebuilds on doubt.
   */
  protected openFile(maxIndexBytes: number, preallocate: boolean): void {
    const fd = this.files.open(this.path, OPEN_READ_WRITE | OPEN_CREATE, 0o644);
    try {
      this.fileBytes = this.files.fstat(fd).size;
    } finally {
      this.files.close(fd);
    }
    this.entries = Math.floor(this.fileBytes / this.entrySizeBytes);
    this.maxEntries = this.entries;
    if (preallocate) this.resize(maxIndexBytes);
  }

  get sizeBytes(): number {
    return this.entries * this.entrySizeBytes;
  }

  get isFull(): boolean {
    return this.entries >= this.maxEntries;
  }

  /**
   * Sets the file length to `fileBytes` rounded down to whole entries. Shrinking never cuts a valid
   * entry. Growing maps a new view; shrinking keeps the old one (it is never read past `entries`).
   */
  resize(fileBytes: number): void {
    const roundedBytes = Math.floor(fileBytes / this.entrySizeBytes) * this.entrySizeBytes;
    if (roundedBytes < this.sizeBytes) throw new Error(`${this.path}: resize to ${roundedBytes} would cut ${this.entries} entries`);
    if (roundedBytes === this.fileBytes) return;
    this.files.truncate(this.path, roundedBytes);
    const grew = roundedBytes > this.fileBytes;
    this.fileBytes = roundedBytes;
    this.maxEntries = roundedBytes / this.entrySizeBytes;
    // A shorter view would not cover the new entries: the next access maps the whole file.
    if (grew) this.releaseMapping();
  }

  /** Drops the view (the GC unmaps it once no caller holds it); the next access maps again. */
  releaseMapping(): void {
    this.view = null;
    this.data = null;
  }

  get isMapped(): boolean {
    return this.view !== null;
  }

  /** Called when the segment stops being active: the file keeps only its valid entries. */
  trimToValidSize(): void {
    this.resize(this.sizeBytes);
  }

  /** Forgets every entry (recovery rebuilds the index from the .log). */
  reset(): void {
    this.entries = 0;
    this.afterTruncate();
  }

  /** fsync: index pages written through the mapping are dirty page-cache pages of the file. */
  flush(): void {
    const fd = this.files.open(this.path, OPEN_READ_WRITE);
    try {
      this.files.fsync(fd);
    } finally {
      this.files.close(fd);
    }
  }

  /** Clean close: trim and fsync. The view stays until GC; nothing reads it any more. */
  close(): void {
    this.trimToValidSize();
    this.flush();
  }

  deleteFile(): void {
    this.files.unlink(this.path);
    this.releaseMapping();
  }

  /** A subclass resets its cached last entry here. */
  protected abstract afterTruncate(): void;

  /** The key of `slot` used by a search: field 0 is the first field of the entry, 1 the second. */
  protected abstract keyAt(slot: number, field: number): number;

  /** Largest slot whose key (by `field`) is <= target, or -1. */
  protected largestLowerBoundSlotFor(target: number, field: number): number {
    const entries = this.entries;
    if (entries === 0) return -1;
    const warmEntries = Math.floor(WARM_SECTION_BYTES / this.entrySizeBytes);
    const firstHotEntry = Math.max(0, entries - 1 - warmEntries);
    if (this.keyAt(firstHotEntry, field) <= target) return this.binarySearch(target, field, firstHotEntry, entries - 1);
    if (this.keyAt(0, field) > target) return -1;
    return this.binarySearch(target, field, 0, firstHotEntry);
  }

  private binarySearch(target: number, field: number, begin: number, end: number): number {
    let low = begin;
    let high = end;
    // Invariant: keyAt(low) <= target; the range halves each round, so at most 32 rounds.
    while (low < high) {
      const middle = (low + high + 1) >>> 1;
      const found = this.keyAt(middle, field);
      if (found > target) high = middle - 1;
      else if (found < target) low = middle;
      else return middle;
    }
    return low;
  }

  protected requireData(): DataView {
    return this.data ?? this.map();
  }

  private map(): DataView {
    // An empty file cannot be mapped; callers never read an entry of an empty index.
    if (this.fileBytes === 0) throw new Error(`${this.path}: index is empty, nothing to map`);
    const view = this.files.mmap(this.path);
    if (view.byteLength < this.fileBytes) throw new Error(`${this.path}: mapped ${view.byteLength} of ${this.fileBytes} bytes`);
    this.view = view;
    this.data = new DataView(view.buffer, view.byteOffset, view.byteLength);
    this.onMapped?.();
    return this.data;
  }
}
