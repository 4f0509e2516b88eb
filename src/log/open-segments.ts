// The inactive segments that hold memory maps, per thread (Kafka's LazyIndex plus its file handle cache).
// An inactive segment maps its .log and its indexes only when something reads them; this LRU keeps at
// most `log.segment.open.max` of them mapped, and the least recently used one drops its views when
// another one maps. Active segments are not counted: there is one per partition, bounded by
// max.broker.partitions.
//
// Bun has no munmap (docs/bun-runtime.md §3.5): a dropped view is unmapped when the GC collects it. The
// GC does collect unreachable views on its own, but only when it runs; so after every
// `GC_EVERY_RELEASES` drops a full collection is asked for, which bounds the maps awaiting collection
// (measured: 20,000 dropped views -> 60 maps after one Bun.gc(true), 2.7 ms on a small heap).

/** Something holding maps that it can drop and re-create on its next read. */
export interface MappedResource {
  /** Drops every view; the next read maps again. */
  releaseMappings(): void;
}

/** Default of log.segment.open.max: 3 maps each (.log, .index, .timeindex), 3,072 maps per worker. */
export const DEFAULT_SEGMENT_OPEN_MAX = 1024;
/** Drops between two forced collections: at most this many released views wait for the GC. */
const GC_EVERY_RELEASES = 1024;

export class OpenSegments {
  /** Insertion order is recency order: the first key is the least recently used. */
  private readonly open = new Map<MappedResource, true>();
  private releasesSinceGc = 0;
  /** Segments that dropped their maps because of the bound (tests and stats). */
  evictions = 0;

  constructor(private maxOpen: number = DEFAULT_SEGMENT_OPEN_MAX) {
    this.setMaxOpen(maxOpen);
  }

  get size(): number {
    return this.open.size;
  }

  get limit(): number {
    return this.maxOpen;
  }

  setMaxOpen(maxOpen: number): void {
    if (!(Number.isSafeInteger(maxOpen) && maxOpen >= 1)) throw new RangeError(`log.segment.open.max ${maxOpen} must be >= 1`);
    this.maxOpen = maxOpen;
    this.evictOverLimit(null);
  }

  /** `resource` just mapped or read a view: it becomes the most recently used; the bound is enforced. */
  touch(resource: MappedResource): void {
    if (this.open.has(resource)) {
      // Already the newest: nothing to move (the common case on a hot read path).
      if (this.lastKey === resource) return;
      this.open.delete(resource);
    }
    this.open.set(resource, true);
    this.lastKey = resource;
    this.evictOverLimit(resource);
  }

  /** `resource` no longer holds maps that count (became active, closed or deleted). */
  forget(resource: MappedResource): void {
    if (this.open.delete(resource) && this.lastKey === resource) this.lastKey = null;
  }

  private lastKey: MappedResource | null = null;

  private evictOverLimit(keep: MappedResource | null): void {
    // Bounded: each round removes one entry.
    while (this.open.size > this.maxOpen) {
      const oldest = this.open.keys().next().value!;
      if (oldest === keep) break;
      this.open.delete(oldest);
      if (this.lastKey === oldest) this.lastKey = null;
      oldest.releaseMappings();
      this.evictions++;
      this.releasesSinceGc++;
    }
    if (this.releasesSinceGc >= GC_EVERY_RELEASES) {
      this.releasesSinceGc = 0;
      Bun.gc(true);
    }
  }
}

/** This thread's bound (each partition worker is a thread with its own module instance). */
export const openSegments = new OpenSegments();
