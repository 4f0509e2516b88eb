// The .timeindex file (Kafka's TimeIndex): entry = (timestamp int64, relativeOffset int32), 12 bytes,
// big-endian. An entry (T, O) says: the largest timestamp seen up to the batch whose last offset is O
// is T. Timestamps only increase: an entry is appended only when the segment's max timestamp grew.
import { nodeFileSystem, type FileSystem } from "./file-system.ts";
import { NO_TIMESTAMP } from "../records/batch.ts";
import { assert } from "../util/assert.ts";
import { CorruptIndexError, IndexFile } from "./index-file.ts";

export const TIME_INDEX_ENTRY_BYTES = 12;
const TWO_POW_32 = 0x1_0000_0000;

export interface TimestampOffset {
  timestampMs: number;
  offset: number;
}

export class TimeIndex extends IndexFile {
  private lastTimestampMs = NO_TIMESTAMP;
  private lastEntryOffset: number;

  constructor(path: string, baseOffset: number, maxIndexBytes: number, preallocate: boolean, onMapped: (() => void) | null = null, files: FileSystem = nodeFileSystem) {
    super(path, baseOffset, TIME_INDEX_ENTRY_BYTES, onMapped, files);
    this.lastEntryOffset = baseOffset;
    this.openFile(maxIndexBytes, preallocate);
    this.afterTruncate();
  }

  /** One slot stays free for the entry written when the segment stops being active (as in Kafka). */
  override get isFull(): boolean {
    return this.entries >= this.maxEntries - 1;
  }

  /** The last entry, or (NO_TIMESTAMP, baseOffset) when empty. */
  get lastEntry(): TimestampOffset {
    return { timestampMs: this.lastTimestampMs, offset: this.lastEntryOffset };
  }

  entry(slot: number): TimestampOffset {
    if (slot < 0 || slot >= this.entries) throw new RangeError(`${this.path}: slot ${slot} of ${this.entries}`);
    return { timestampMs: this.timestampAt(slot), offset: this.baseOffset + this.relativeOffsetAt(slot) };
  }

  /**
   * Appends (timestampMs, offset) if timestampMs is larger than the last entry's. `skipFullCheck` uses
   * the reserved last slot (segment roll and close).
   */
  maybeAppend(timestampMs: number, offset: number, skipFullCheck = false): void {
    if (!skipFullCheck && this.isFull) throw new Error(`${this.path}: time index is full (${this.entries} entries)`);
    // Before writing: entries never go back in either field (lookups binary-search either).
    assert(this.entries === 0 || offset >= this.lastEntryOffset, () => `${this.path}: offset ${offset} < last entry offset ${this.lastEntryOffset}`);
    assert(this.entries === 0 || timestampMs >= this.lastTimestampMs, () => `${this.path}: timestamp ${timestampMs} < last entry timestamp ${this.lastTimestampMs}`);
    if (timestampMs <= this.lastTimestampMs) return;
    if (this.entries >= this.maxEntries) throw new Error(`${this.path}: no room for a time index entry`);
    const relativeOffset = offset - this.baseOffset;
    if (!(relativeOffset >= 0 && relativeOffset <= 0x7fff_ffff)) throw new RangeError(`${this.path}: offset ${offset} not relative to ${this.baseOffset}`);
    const data = this.requireData();
    const at = this.entries * TIME_INDEX_ENTRY_BYTES;
    const high = Math.floor(timestampMs / TWO_POW_32);
    data.setInt32(at, high);
    data.setUint32(at + 4, timestampMs - high * TWO_POW_32);
    data.setInt32(at + 8, relativeOffset);
    this.entries++;
    this.lastTimestampMs = timestampMs;
    this.lastEntryOffset = offset;
  }

  /** The entry with the largest timestamp <= targetTimestampMs; (NO_TIMESTAMP, baseOffset) if none. */
  lookup(targetTimestampMs: number): TimestampOffset {
    const slot = this.largestLowerBoundSlotFor(targetTimestampMs, 0);
    if (slot < 0) return { timestampMs: NO_TIMESTAMP, offset: this.baseOffset };
    return { timestampMs: this.timestampAt(slot), offset: this.baseOffset + this.relativeOffsetAt(slot) };
  }

  /** Removes entries whose offset is >= offset. */
  truncateTo(offset: number): void {
    const relativeOffset = offset - this.baseOffset;
    const slot = this.largestLowerBoundSlotFor(relativeOffset, 1);
    if (slot < 0) this.entries = 0;
    else if (this.relativeOffsetAt(slot) === relativeOffset) this.entries = slot;
    else this.entries = slot + 1;
    this.afterTruncate();
  }

  sanityCheck(): void {
    if (this.fileBytes % TIME_INDEX_ENTRY_BYTES !== 0) throw new CorruptIndexError(`${this.path}: length ${this.fileBytes} is not a multiple of ${TIME_INDEX_ENTRY_BYTES}`);
    if (this.entries === 0) return;
    const last = this.entries - 1;
    if (this.relativeOffsetAt(0) < 0 || this.relativeOffsetAt(last) < 0) throw new CorruptIndexError(`${this.path}: entry offset before the base offset`);
    if (this.timestampAt(last) < this.timestampAt(0)) throw new CorruptIndexError(`${this.path}: last timestamp is smaller than the first`);
    if (last > 0 && (this.timestampAt(last) <= this.timestampAt(last - 1) || this.relativeOffsetAt(last) < this.relativeOffsetAt(last - 1))) {
      throw new CorruptIndexError(`${this.path}: last entries do not increase`);
    }
  }

  protected afterTruncate(): void {
    if (this.entries === 0) {
      this.lastTimestampMs = NO_TIMESTAMP;
      this.lastEntryOffset = this.baseOffset;
    } else {
      this.lastTimestampMs = this.timestampAt(this.entries - 1);
      this.lastEntryOffset = this.baseOffset + this.relativeOffsetAt(this.entries - 1);
    }
  }

  protected keyAt(slot: number, field: number): number {
    return field === 0 ? this.timestampAt(slot) : this.relativeOffsetAt(slot);
  }

  private timestampAt(slot: number): number {
    const data = this.requireData();
    const at = slot * TIME_INDEX_ENTRY_BYTES;
    return data.getInt32(at) * TWO_POW_32 + data.getUint32(at + 4);
  }

  private relativeOffsetAt(slot: number): number {
    return this.requireData().getInt32(slot * TIME_INDEX_ENTRY_BYTES + 8);
  }
}
