// fdatasync latency of one worker's logs, as bucket counts (no allocation per flush); /metrics sums the
// workers' counts into bunka_log_flush_duration_seconds (Kafka: kafka.log:type=LogFlushStats,name=LogFlushRateAndTimeMs).

/** Upper bounds in seconds: from a page-cache-only flush to a saturated disk. */
export const FSYNC_BUCKETS_SECONDS: readonly number[] = [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5];

export interface FsyncLatency {
  /** One count per bucket of FSYNC_BUCKETS_SECONDS, then +Inf (not cumulative). */
  buckets: number[];
  count: number;
  sumSeconds: number;
}

export class FsyncLatencyRecorder {
  private readonly latency: FsyncLatency = { buckets: new Array<number>(FSYNC_BUCKETS_SECONDS.length + 1).fill(0), count: 0, sumSeconds: 0 };

  /** Runs one flush and counts its time (also when it throws: a failing disk is slow too). */
  time(flush: () => void): void {
    const startedMs = performance.now();
    try {
      flush();
    } finally {
      const seconds = (performance.now() - startedMs) / 1000;
      let bucket = 0;
      while (bucket < FSYNC_BUCKETS_SECONDS.length && seconds > FSYNC_BUCKETS_SECONDS[bucket]!) bucket++;
      this.latency.buckets[bucket]!++;
      this.latency.count++;
      this.latency.sumSeconds += seconds;
    }
  }

  snapshot(): FsyncLatency {
    return { buckets: [...this.latency.buckets], count: this.latency.count, sumSeconds: this.latency.sumSeconds };
  }
}
