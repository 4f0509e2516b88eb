// The log cleaner's key -> latest offset map over the dirty section (Kafka's OffsetMap). Kafka's
// SkimpyOffsetMap stores an MD5 of each key in a fixed buffer and accepts the (tiny) collision risk; here the
// key bytes themselves are the map key (a latin1 string: one char per byte, so distinct keys never
// collide), and the memory is bounded by an estimate per entry instead of a preallocated buffer.

/** Estimated bytes per entry beyond the key: Map slot, string header, the offset. */
export const OFFSET_MAP_ENTRY_OVERHEAD_BYTES = 64;

export class OffsetMap {
  private readonly offsets = new Map<string, number>();
  private memoryBytes = 0;
  /** Last offset of the last batch fully added (-1 when empty): records above it were not looked at. */
  latestOffset = -1;
  private lastBytes: Uint8Array | null = null;
  private lastBuffer: Buffer | null = null;

  constructor(readonly memoryBytesMax: number) {
    if (!(memoryBytesMax > 0)) throw new RangeError(`offset map of ${memoryBytesMax} bytes`);
  }

  get size(): number {
    return this.offsets.size;
  }

  /** Estimated memory in use. */
  get usedBytes(): number {
    return this.memoryBytes;
  }

  /** Whether `keyBytes` more bytes of keys (as new entries, worst case) still fit. */
  canTake(keyCount: number, keyBytes: number): boolean {
    return this.memoryBytes + keyBytes + keyCount * OFFSET_MAP_ENTRY_OVERHEAD_BYTES <= this.memoryBytesMax;
  }

  /** The key at bytes[start, start + length) now maps to `offset` (offsets only grow for a key). */
  put(bytes: Uint8Array, start: number, length: number, offset: number): void {
    const key = this.keyOf(bytes, start, length);
    const previous = this.offsets.get(key);
    if (previous === undefined) this.memoryBytes += length + OFFSET_MAP_ENTRY_OVERHEAD_BYTES;
    else if (previous > offset) throw new Error(`offset map: key at ${offset} after ${previous}`);
    this.offsets.set(key, offset);
  }

  /** The latest offset of the key, or -1. */
  get(bytes: Uint8Array, start: number, length: number): number {
    return this.offsets.get(this.keyOf(bytes, start, length)) ?? -1;
  }

  clear(): void {
    this.offsets.clear();
    this.memoryBytes = 0;
    this.latestOffset = -1;
    this.lastBytes = null;
    this.lastBuffer = null;
  }

  /** Consecutive lookups usually read one records section: its Buffer view is made once. */
  private keyOf(bytes: Uint8Array, start: number, length: number): string {
    if (bytes !== this.lastBytes) {
      this.lastBytes = bytes;
      this.lastBuffer = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    }
    return this.lastBuffer!.toString("latin1", start, start + length);
  }
}
