// Reused SharedArrayBuffers for produce data on its way to the partition workers.
//
// Why: on the VMs Bunka is benchmarked on, touching memory the process has not touched recently costs
// a page fault the hypervisor must back (measured: allocating and filling fresh 1 MiB buffers ran at
// ~200 MiB/s, writing from warm buffers at 6-7 GB/s; BENCHMARKS.md). A fresh buffer per request frame, and
// a transferred ArrayBuffer the worker frees afterwards, pay that on every request. Blocks from this pool
// stay mapped and warm, and because they are shared, posting a view of one to a worker neither copies nor
// transfers: the worker appends straight from the bytes the socket read went into.
//
// Ownership: a block is acquired by one request (its frame, or a copy of its records) and released when
// that request has been answered; until then no one else writes it.

export interface PooledBytes {
  /** A view of exactly the requested size at the start of `block`. */
  readonly bytes: Uint8Array;
  readonly block: SharedArrayBuffer;
}

export const BLOCK_BYTES_MIN = 4 * 1024;
/** Frames above this are rare (a 1 MiB batch is Kafka's default max.message.bytes); they are not pooled. */
export const BLOCK_BYTES_MAX = 16 * 1024 * 1024;

export class BufferPool {
  /** Free blocks by size class (powers of two); a stack, so the bottom ones are those unused the longest. */
  private readonly free = new Map<number, SharedArrayBuffer[]>();
  /** When each free block was given back (same order as `free`), for trimIdle. */
  private readonly releasedAtMs = new Map<number, number[]>();
  private freeBytes = 0;
  readonly stats = { acquired: 0, reused: 0, released: 0, dropped: 0, trimmedBytes: 0 };

  constructor(readonly freeBytesMax: number) {}

  /** A block of at least sizeBytes, or null when sizeBytes is outside the pooled range. */
  acquire(sizeBytes: number): PooledBytes | null {
    if (sizeBytes > BLOCK_BYTES_MAX || sizeBytes <= 0) return null;
    const classBytes = sizeClass(sizeBytes);
    const list = this.free.get(classBytes);
    let block = list?.pop();
    if (block) {
      this.releasedAtMs.get(classBytes)!.pop();
      this.freeBytes -= classBytes;
      this.stats.reused++;
    } else {
      block = new SharedArrayBuffer(classBytes);
    }
    this.stats.acquired++;
    return { bytes: new Uint8Array(block, 0, sizeBytes), block };
  }

  release(pooled: PooledBytes): void {
    const classBytes = pooled.block.byteLength;
    this.stats.released++;
    if (this.freeBytes + classBytes > this.freeBytesMax) {
      this.stats.dropped++;
      return; // the GC takes it
    }
    let list = this.free.get(classBytes);
    if (!list) {
      this.free.set(classBytes, (list = []));
      this.releasedAtMs.set(classBytes, []);
    }
    list.push(pooled.block);
    this.releasedAtMs.get(classBytes)!.push(Date.now());
    this.freeBytes += classBytes;
  }

  /**
   * Drops free blocks nobody took for idleMs (the memory a burst left behind), keeping keepBytes of the
   * most recently used ones warm. Returns the bytes dropped; the GC frees them and the allocator gives
   * them back to the OS after its purge delay (config/process-env.ts).
   */
  trimIdle(nowMs: number, idleMs: number, keepBytes: number): number {
    let droppedBytes = 0;
    for (const [classBytes, list] of this.free) {
      const times = this.releasedAtMs.get(classBytes)!;
      let drop = 0;
      while (drop < list.length && nowMs - times[drop]! >= idleMs && this.freeBytes - droppedBytes - classBytes >= keepBytes) {
        droppedBytes += classBytes;
        drop++;
      }
      if (drop > 0) {
        list.splice(0, drop);
        times.splice(0, drop);
      }
    }
    this.freeBytes -= droppedBytes;
    this.stats.trimmedBytes += droppedBytes;
    return droppedBytes;
  }

  get pooledBytes(): number {
    return this.freeBytes;
  }
}

function sizeClass(sizeBytes: number): number {
  let classBytes = BLOCK_BYTES_MIN;
  while (classBytes < sizeBytes) classBytes *= 2;
  return classBytes;
}

/** Free blocks kept for reuse at most; in-use blocks are bounded by in-flight requests and frame sizes. */
export const PRODUCE_POOL_FREE_BYTES_MAX = 256 * 1024 * 1024;

/** Free blocks unused this long are dropped (a burst's leftovers), down to PRODUCE_POOL_KEEP_WARM_BYTES. */
export const PRODUCE_POOL_IDLE_MS = 30_000;
/** Free blocks always kept warm: a quiet broker's next burst starts on memory that is already mapped. */
export const PRODUCE_POOL_KEEP_WARM_BYTES = 64 * 1024 * 1024;

/** The socket thread's pool for produce frames and records (one per process: there is one socket thread). */
export const producePool = new BufferPool(PRODUCE_POOL_FREE_BYTES_MAX);
