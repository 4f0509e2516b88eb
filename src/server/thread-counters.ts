// Counters that every thread holding connections adds to: the socket thread and the network shards
// (shards/). One row per thread in one SharedArrayBuffer, each row written only by its own thread (so no
// update is lost without atomics), summed or maxed when read. Tests and the benchmark read them on the
// socket thread and see every shard's traffic too.

/** The socket thread and up to 256 network shards (num.network.shards' bound). */
export const THREAD_ROWS_MAX = 257;

export class ThreadCounters<Field extends string> {
  private table: Float64Array;
  private row = 0;
  private readonly width: number;
  private readonly index: Record<Field, number>;

  constructor(readonly fields: readonly Field[]) {
    this.width = fields.length;
    this.table = new Float64Array(new SharedArrayBuffer(THREAD_ROWS_MAX * fields.length * Float64Array.BYTES_PER_ELEMENT));
    this.index = Object.fromEntries(fields.map((field, position) => [field, position])) as Record<Field, number>;
  }

  /** The shared table, for a shard to join with joinAs(). */
  get shared(): Float64Array {
    return this.table;
  }

  /** In a shard thread: write into row `row` of the socket thread's table from now on. */
  joinAs(table: Float64Array, row: number): void {
    if (table.length !== this.table.length || row < 0 || row >= THREAD_ROWS_MAX) throw new Error(`thread counters: bad table or row ${row}`);
    this.table = table;
    this.row = row;
  }

  add(field: Field, amount: number): void {
    this.table[this.row * this.width + this.index[field]] += amount;
  }

  /** Raises this thread's value of `field` to `value` if it is higher (a high-water mark). */
  raise(field: Field, value: number): void {
    const at = this.row * this.width + this.index[field];
    if (value > this.table[at]!) this.table[at] = value;
  }

  sum(field: Field): number {
    let total = 0;
    for (let row = 0, at = this.index[field]; row < THREAD_ROWS_MAX; row++, at += this.width) total += this.table[at]!;
    return total;
  }

  max(field: Field): number {
    let highest = 0;
    for (let row = 0, at = this.index[field]; row < THREAD_ROWS_MAX; row++, at += this.width) highest = Math.max(highest, this.table[at]!);
    return highest;
  }

  /** Sets `field` in every thread's row (tests: reset a high-water mark). */
  setAll(field: Field, value: number): void {
    for (let row = 0, at = this.index[field]; row < THREAD_ROWS_MAX; row++, at += this.width) this.table[at] = value;
  }
}
