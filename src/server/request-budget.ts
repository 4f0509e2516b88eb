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

export class RequestBudget {
  private reservedBytes = 0;
  private readonly waiters: BudgetWaiter[] = [];
  private waitersHead = 0;
  private granting = false;
  readonly stats = { reservedBytesMax: 0, pauses: 0 };

  /** `maxBytes` <= 0 means unbounded (Kafka's -1). */
  constructor(readonly maxBytes: number) {}

  get usedBytes(): number {
    return this.reservedBytes;
  }

  get exhausted(): boolean {
    return this.maxBytes > 0 && this.reservedBytes >= this.maxBytes;
  }

  /** Reserves bytes unconditionally: for bytes already in memory, or after tryReserve's caller was granted room. */
  charge(sizeBytes: number): void {
    this.reservedBytes += sizeBytes;
    if (this.reservedBytes > this.stats.reservedBytesMax) this.stats.reservedBytesMax = this.reservedBytes;
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
    this.grant();
  }

  /** Queues a paused connection; it is called back (FIFO) once the budget has room. */
  wait(waiter: BudgetWaiter): void {
    this.stats.pauses++;
    this.waiters.push(waiter);
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
