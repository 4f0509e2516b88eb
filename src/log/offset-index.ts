// The .index file (Kafka's OffsetIndex): sparse map from offset to the byte position of a batch in the
// .log. Entry = (relativeOffset int32, position int32), 8 bytes, big-endian. An entry (O, P) says: the
// batch starting at position P has last offset O, so every offset > O is at or after P.
import { assert } from "../util/assert.ts";
import { nodeFileSystem, type FileSystem } from "./file-system.ts";
import { CorruptIndexError, IndexFile } from "./index-file.ts";

export const OFFSET_INDEX_ENTRY_BYTES = 8;
const MAX_RELATIVE_OFFSET = 0x7fff_ffff;

export interface OffsetPosition {
  offset: number;
  position: number;
}

export class OffsetIndex extends IndexFile {
  private lastOffsetCache: number;

  /**
   * Opens or creates `path`. `preallocate` (the active segment) grows the file to maxIndexBytes and
   * maps it; otherwise the file keeps its trimmed length.
   */
  constructor(path: string, baseOffset: number, maxIndexBytes: number, preallocate: boolean, onMapped: (() => void) | null = null, files: FileSystem = nodeFileSystem) {
    super(path, baseOffset, OFFSET_INDEX_ENTRY_BYTES, onMapped, files);
    this.openFile(maxIndexBytes, preallocate);
    this.lastOffsetCache = this.readLastOffset();
  }

  /** Offset of the last entry, or the base offset when empty. */
  get lastOffset(): number {
    return this.lastOffsetCache;
  }

  entry(slot: number): OffsetPosition {
    if (slot < 0 || slot >= this.entries) throw new RangeError(`${this.path}: slot ${slot} of ${this.entries}`);
    return { offset: this.baseOffset + this.relativeOffsetAt(slot), position: this.positionAt(slot) };
  }

  /** Adds an entry; offsets and positions must increase (the caller indexes batches in log order). */
  append(offset: number, position: number): void {
    if (this.isFull) throw new Error(`${this.path}: index is full (${this.entries} entries)`);
    const relativeOffset = offset - this.baseOffset;
    if (!(relativeOffset >= 0 && relativeOffset <= MAX_RELATIVE_OFFSET)) throw new RangeError(`${this.path}: offset ${offset} not relative to ${this.baseOffset}`);
    // Before writing: the entry is larger than the last in both fields (lookups binary-search either).
    assert(this.entries === 0 || offset > this.lastOffsetCache, () => `${this.path}: entry offset ${offset} is not after the last one (${this.lastOffsetCache})`);
    assert(this.entries === 0 || position > this.positionAt(this.entries - 1), () => `${this.path}: entry position ${position} is not after the last one (${this.positionAt(this.entries - 1)})`);
    if (!(position >= 0 && position <= 0x7fff_ffff)) throw new RangeError(`${this.path}: position ${position}`);
    const data = this.requireData();
    const at = this.entries * OFFSET_INDEX_ENTRY_BYTES;
    data.setInt32(at, relativeOffset);
    data.setInt32(at + 4, position);
    this.entries++;
    this.lastOffsetCache = offset;
  }

  /** The largest entry with offset <= targetOffset; (baseOffset, 0) when there is none. */
  lookup(targetOffset: number): OffsetPosition {
    const slot = this.largestLowerBoundSlotFor(targetOffset - this.baseOffset, 0);
    if (slot < 0) return { offset: this.baseOffset, position: 0 };
    const relativeOffset = this.relativeOffsetAt(slot);
    const position = this.positionAt(slot);
    // After reading: an entry read back from the mapping is one append() could have written.
    assert(relativeOffset >= 0, "offset index entry before the base offset");
    assert(position > 0, "offset index entry at a non-positive position");
    return { offset: this.baseOffset + relativeOffset, position };
  }

  /** The largest indexed position <= targetPosition (a batch boundary), or 0. */
  lookupPosition(targetPosition: number): number {
    const slot = this.largestLowerBoundSlotFor(targetPosition, 1);
    return slot < 0 ? 0 : this.positionAt(slot);
  }

  /** Removes entries for offsets >= offset (the batches holding them are being cut from the log). */
  truncateTo(offset: number): void {
    const relativeOffset = offset - this.baseOffset;
    const slot = this.largestLowerBoundSlotFor(relativeOffset, 0);
    if (slot < 0) this.entries = 0;
    else if (this.relativeOffsetAt(slot) === relativeOffset) this.entries = slot;
    else this.entries = slot + 1;
    this.afterTruncate();
  }

  /**
   * Kafka's sanityCheck plus checks that catch an untrimmed (zero-filled) preallocated file: the file
   * holds whole entries, and the last two entries increase and point inside the log.
   */
  sanityCheck(logSizeBytes: number): void {
    if (this.fileBytes % OFFSET_INDEX_ENTRY_BYTES !== 0) throw new CorruptIndexError(`${this.path}: length ${this.fileBytes} is not a multiple of ${OFFSET_INDEX_ENTRY_BYTES}`);
    if (this.entries === 0) return;
    const last = this.entries - 1;
    if (this.relativeOffsetAt(0) < 0) throw new CorruptIndexError(`${this.path}: first entry is before the base offset`);
    if (this.positionAt(last) >= logSizeBytes) throw new CorruptIndexError(`${this.path}: last entry position ${this.positionAt(last)} is past the log size ${logSizeBytes}`);
    if (last > 0 && (this.relativeOffsetAt(last) <= this.relativeOffsetAt(last - 1) || this.positionAt(last) <= this.positionAt(last - 1))) {
      throw new CorruptIndexError(`${this.path}: last entries do not increase`);
    }
  }

  protected afterTruncate(): void {
    this.lastOffsetCache = this.readLastOffset();
  }

  protected keyAt(slot: number, field: number): number {
    return field === 0 ? this.relativeOffsetAt(slot) : this.positionAt(slot);
  }

  private relativeOffsetAt(slot: number): number {
    return this.requireData().getInt32(slot * OFFSET_INDEX_ENTRY_BYTES);
  }

  private positionAt(slot: number): number {
    return this.requireData().getInt32(slot * OFFSET_INDEX_ENTRY_BYTES + 4);
  }

  private readLastOffset(): number {
    return this.entries === 0 ? this.baseOffset : this.baseOffset + this.relativeOffsetAt(this.entries - 1);
  }
}
