// The broker-wide budget for request bytes held by the socket thread (queued.max.request.bytes; Kafka's
// MemoryPool behind SocketServer, KIP-72). Every frame is charged from its first byte until its request is
// answered (or its connection closes). A frame spanning reads reserves its *declared* size before its body
// is read, so a reserved frame can always complete: connections pause only at a frame boundary, never
// holding budget they are waiting for, and the budget cannot deadlock. Like Kafka's non-strict pool, a
// reservation succeeds while anything is left, so one frame larger than the whole budget still gets in.
//
// What the budget bounds is what clients can make the broker hold: bytes of frames being received
// (allocated as they arrive, frame-reader.ts) plus frames waiting for answers. Bytes Bun has already read
// when a connection pauses (at most one read per connection) are kept and charged as they are framed.

export interface BudgetWaiter {
  /** Called once when the budget has room again; the waiter reserves what it needs then. */
  onBudgetAvailable(): void;
}

/** How often a thread with paused connections looks at a budget shared with other threads (network shards). */
const SHARED_BUDGET_POLL_MS = 5;

/**
 * A budget shared by `threads` threads holding connections: per thread, its reserved bytes (row), its pauses
 * (threads + row) and the highest broker-wide use it saw (2 × threads + row), so the stats are broker-wide too.
 */
export function sharedBudgetCells(threads: number): BigInt64Array {
  return new BigInt64Array(new SharedArrayBuffer(8 * 3 * threads));
}

export class RequestBudget {
  /** Bytes this thread reserved (and, without a shared cell, the whole budget's use). */
  private reservedBytes = 0;
  private pollTimer: ReturnType<typeof setTimeout> | null = null;
  private readonly waiters: BudgetWaiter[] = [];
  private waitersHead = 0;
  private granting = false;
  private readonly local = { reservedBytesMax: 0, pauses: 0 };
  /** Threads sharing the budget: the cells hold their reservations, then their pauses, then their peaks. */
  private readonly threads: number;

  /**
   * `maxBytes` <= 0 means unbounded (Kafka's -1). `shared` is sharedBudgetCells of every thread holding
   * connections (network shards: server/shards/); this thread keeps its reservations in cell `row` and the
   * budget's use is the sum of the threads' reservation cells, so it stays broker-wide, and a thread that dies takes only
   * its own cell with it (the socket thread zeroes it: forgetThread). A thread whose connections wait for the
   * budget looks at the cells every SHARED_BUDGET_POLL_MS, since a release on another thread cannot call its
   * waiters.
   */
  constructor(
    readonly maxBytes: number,
    private readonly shared: { readonly cells: BigInt64Array; readonly row: number } | null = null,
  ) {
    this.threads = shared ? shared.cells.length / 3 : 1;
  }

  get usedBytes(): number {
    if (!this.shared) return this.reservedBytes;
    let used = 0n;
    const cells = this.shared.cells;
    for (let row = 0; row < this.threads; row++) used += Atomics.load(cells, row);
    return Number(used);
  }

  /** Pauses and the highest use of the budget: over every thread sharing it. */
  get stats(): { reservedBytesMax: number; pauses: number } {
    if (!this.shared) return { ...this.local };
    const cells = this.shared.cells;
    let pauses = 0n;
    let reservedBytesMax = 0n;
    for (let row = 0; row < this.threads; row++) {
      pauses += Atomics.load(cells, this.threads + row);
      const seen = Atomics.load(cells, 2 * this.threads + row);
      if (seen > reservedBytesMax) reservedBytesMax = seen;
    }
    return { reservedBytesMax: Number(reservedBytesMax), pauses: Number(pauses) };
  }

  /** The socket thread, for a network shard that died: its reservations went with its connections. */
  forgetThread(row: number): void {
    if (!this.shared || row === this.shared.row) return;
    Atomics.store(this.shared.cells, row, 0n);
    this.grant();
  }

  get exhausted(): boolean {
    return this.maxBytes > 0 && this.usedBytes >= this.maxBytes;
  }

  /** Reserves bytes unconditionally: for bytes already in memory, or after tryReserve's caller was granted room. */
  charge(sizeBytes: number): void {
    this.reservedBytes += sizeBytes;
    if (this.shared) Atomics.add(this.shared.cells, this.shared.row, BigInt(sizeBytes));
    const used = this.shared ? this.usedBytes : this.reservedBytes;
    if (used > this.local.reservedBytesMax) {
      this.local.reservedBytesMax = used;
      if (this.shared) Atomics.store(this.shared.cells, 2 * this.threads + this.shared.row, BigInt(used));
    }
  }

  /** Reserves sizeBytes if anything is left of the budget (non-strict, as Kafka's SimpleMemoryPool). */
  tryReserve(sizeBytes: number): boolean {
    if (this.exhausted) return false;
    this.charge(sizeBytes);
    return true;
  }

  release(sizeBytes: number): void {
    this.reservedBytes -= sizeBytes;
    if (this.reservedBytes < 0) throw new Error(`request budget released more than it reserved (${this.reservedBytes})`);
    if (this.shared) Atomics.sub(this.shared.cells, this.shared.row, BigInt(sizeBytes));
    this.grant();
  }

  /** Queues a paused connection; it is called back (FIFO) once the budget has room. */
  wait(waiter: BudgetWaiter): void {
    this.local.pauses++;
    if (this.shared) Atomics.add(this.shared.cells, this.threads + this.shared.row, 1n);
    this.waiters.push(waiter);
    this.pollShared();
  }

  /** Shared budget: room made by another thread is found by looking, while anyone here waits. */
  private pollShared(): void {
    if (!this.shared || this.pollTimer || this.waiting === 0) return;
    this.pollTimer = setTimeout(() => {
      this.pollTimer = null;
      this.grant();
      this.pollShared();
    }, SHARED_BUDGET_POLL_MS);
  }

  /** A waiter that went away (connection closed) is skipped when its turn comes. */
  forget(waiter: BudgetWaiter): void {
    const index = this.waiters.indexOf(waiter, this.waitersHead);
    if (index >= 0) this.waiters.splice(index, 1);
  }

  get waiting(): number {
    return this.waiters.length - this.waitersHead;
  }

  private grant(): void {
    // A granted waiter may release bytes synchronously (a frame it completes): no re-entrant grant loop.
    if (this.granting) return;
    this.granting = true;
    try {
      while (this.waitersHead < this.waiters.length && !this.exhausted) {
        const waiter = this.waiters[this.waitersHead]!;
        this.waiters[this.waitersHead++] = undefined as unknown as BudgetWaiter;
        waiter.onBudgetAvailable();
      }
      if (this.waitersHead > 0 && this.waitersHead * 2 >= this.waiters.length) {
        this.waiters.splice(0, this.waitersHead);
        this.waitersHead = 0;
      }
    } finally {
      this.granting = false;
    }
  }
}
