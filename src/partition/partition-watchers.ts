// Long-poll support: fetches waiting for data register a callback on the partitions they read; an
// append (or a high watermark move) on one of them wakes them. Callbacks are one-shot. A notification that
// lands while a fetch's read is in flight (before it registers) is caught by comparing versions.
import { partitionKey } from "../metadata/topic-manager.ts";

export class PartitionWatchers {
  private readonly watchers = new Map<string, Set<() => void>>();
  /** Notifications per partition so far: a fetch compares them across its read to catch a wake-up it missed. */
  private readonly versions = new Map<string, number>();
  /**
   * Told when the first fetch starts waiting (true) and when none waits any more (false): the main thread asks
   * listening partition workers to wake it for their appends only while a long poll of its own waits.
   */
  onActiveChange: ((active: boolean) => void) | null = null;

  /** The sum of the partitions' notification counts; it changes whenever one of them was notified. */
  version(partitions: ReadonlyArray<{ topic: string; partition: number }>): number {
    let sum = 0;
    for (const { topic, partition } of partitions) sum += this.versions.get(partitionKey(topic, partition)) ?? 0;
    return sum;
  }

  /** Registers `wake` on every partition; returns a function that unregisters it everywhere. */
  watch(partitions: ReadonlyArray<{ topic: string; partition: number }>, wake: () => void): () => void {
    const keys = partitions.map(({ topic, partition }) => partitionKey(topic, partition));
    const wasIdle = this.watchers.size === 0;
    for (const key of keys) {
      let set = this.watchers.get(key);
      if (!set) this.watchers.set(key, (set = new Set()));
      set.add(wake);
    }
    if (wasIdle && this.watchers.size > 0) this.onActiveChange?.(true);
    return () => {
      if (this.watchers.size === 0) return;
      for (const key of keys) {
        const set = this.watchers.get(key);
        if (!set) continue;
        set.delete(wake);
        if (set.size === 0) this.watchers.delete(key);
      }
      if (this.watchers.size === 0) this.onActiveChange?.(false);
    };
  }

  notify(topic: string, partition: number): void {
    const key = partitionKey(topic, partition);
    this.versions.set(key, (this.versions.get(key) ?? 0) + 1);
    const set = this.watchers.get(key);
    if (!set) return;
    this.watchers.delete(key);
    if (this.watchers.size === 0) this.onActiveChange?.(false);
    for (const wake of set) wake();
  }
}
