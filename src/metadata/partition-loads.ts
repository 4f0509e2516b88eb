// Which partitions of an internal topic a coordinator has in memory: loads run once per partition (concurrent
// callers share one), and a load that started before the partition was unloaded (leadership moved while it
// ran) must not install its state. The group and transaction coordinators keep the same bookkeeping.
export class PartitionLoads {
  private readonly loading = new Map<number, Promise<void>>();
  private readonly loaded = new Set<number>();
  /** Bumped by every unload: a load that started before it is stale. */
  private readonly unloadCounts = new Map<number, number>();

  /** Runs `load(isCurrent)` once for `partition`; `isCurrent()` is false once the partition was unloaded meanwhile. */
  load(partition: number, load: (isCurrent: () => boolean) => Promise<void>): Promise<void> {
    if (this.loaded.has(partition)) return Promise.resolve();
    let running = this.loading.get(partition);
    if (!running) {
      const unloadsBefore = this.unloadCounts.get(partition) ?? 0;
      const isCurrent = () => (this.unloadCounts.get(partition) ?? 0) === unloadsBefore;
      running = load(isCurrent)
        .then(() => {
          if (isCurrent()) this.loaded.add(partition);
        })
        .finally(() => this.loading.delete(partition));
      this.loading.set(partition, running);
    }
    return running;
  }

  /** The partition's state is complete in memory without a load (the topic was just created empty). */
  markLoaded(partition: number): void {
    this.loaded.add(partition);
  }

  unload(partition: number): void {
    this.unloadCounts.set(partition, (this.unloadCounts.get(partition) ?? 0) + 1);
    this.loaded.delete(partition);
  }

  isLoaded(partition: number): boolean {
    return this.loaded.has(partition);
  }

  get isLoading(): boolean {
    return this.loading.size > 0;
  }

  clear(): void {
    for (const partition of this.loaded) this.unload(partition);
  }
}
