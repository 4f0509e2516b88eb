// Hot-path counters for /metrics: produce, fetch and dispatch only add to plain numbers here; the
// registry's collect() callbacks (metrics.ts) read them at scrape time. Nothing is formatted, labelled or
// allocated per request beyond a partition's first record.
import type { RequestTrace, TrafficCounters } from "../api/context.ts";
import { SlowestRequests, stageMs, TRACE_STAGES } from "./slowest-requests.ts";

/** One partition's traffic since the broker started (Kafka's BrokerTopicMetrics, per partition). */
export interface PartitionTraffic {
  bytesIn: number;
  recordsIn: number;
  bytesOut: number;
  replicationBytesOut: number;
}

/** Upper bounds of the request latency buckets, in seconds (Prometheus' defaults plus sub-millisecond ones). */
export const REQUEST_LATENCY_BUCKETS_SECONDS: readonly number[] = [0.0001, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];

/** One API's requests: a count, a latency sum and cumulative-later bucket counts (one slot per bucket plus +Inf). */
export interface ApiRequestStats {
  count: number;
  sumSeconds: number;
  buckets: number[];
}

export class BrokerTraffic implements TrafficCounters {
  /** By topic, then partition index. */
  readonly partitions = new Map<string, PartitionTraffic[]>();
  /** By API key: from dispatch to the handler's answer. */
  readonly requests = new Map<number, ApiRequestStats>();
  /** By API key: from the frame handed to the dispatcher to the handler's start (startup wait and decoding). */
  readonly queueTimes = new Map<number, ApiRequestStats>();
  /** By API key: from the handler's answer to the reply's last byte taken by the socket. */
  readonly sendTimes = new Map<number, ApiRequestStats>();
  /** By `apiKey:errorCode`: partition-level (and request-level) errors answered. */
  readonly errors = new Map<string, number>();
  /** By `listener:mechanism`. */
  readonly authenticationFailures = new Map<string, number>();
  /** This broker became leader of a partition (Kafka's LeaderElectionRateAndTimeMs counts elections). */
  leadershipGains = 0;
  /**
   * By API key, one entry per TRACE_STAGES stage: the time requests spent in it. A stage is observed when the
   * request passed it (non-zero time); read, queue, handler_other and send always.
   */
  readonly stageTimes = new Map<number, ApiRequestStats[]>();
  /** The slowest requests per API with their stages (metrics.slowest.requests, set by the broker). */
  readonly slowest = new SlowestRequests(1000);

  private partition(topic: string, partition: number): PartitionTraffic {
    let byIndex = this.partitions.get(topic);
    if (!byIndex) this.partitions.set(topic, (byIndex = []));
    return (byIndex[partition] ??= { bytesIn: 0, recordsIn: 0, bytesOut: 0, replicationBytesOut: 0 });
  }

  produced(topic: string, partition: number, bytes: number, records: number): void {
    const traffic = this.partition(topic, partition);
    traffic.bytesIn += bytes;
    traffic.recordsIn += records;
  }

  fetched(topic: string, partition: number, bytes: number, follower: boolean): void {
    const traffic = this.partition(topic, partition);
    if (follower) traffic.replicationBytesOut += bytes;
    else traffic.bytesOut += bytes;
  }

  error(apiKey: number, errorCode: number): void {
    const key = `${apiKey}:${errorCode}`;
    this.errors.set(key, (this.errors.get(key) ?? 0) + 1);
  }

  request(apiKey: number, seconds: number): void {
    countLatency(this.requests, apiKey, seconds);
  }

  queued(apiKey: number, seconds: number): void {
    countLatency(this.queueTimes, apiKey, seconds);
  }

  sent(apiKey: number, seconds: number): void {
    countLatency(this.sendTimes, apiKey, seconds);
  }
  traced(trace: RequestTrace): void {
    let stages = this.stageTimes.get(trace.apiKey);
    if (!stages) this.stageTimes.set(trace.apiKey, (stages = TRACE_STAGES.map(() => newStats())));
    for (let index = 0; index < TRACE_STAGES.length; index++) {
      const stage = TRACE_STAGES[index]!;
      const ms = stageMs(trace, stage);
      if (ms > 0 || ALWAYS_OBSERVED.has(stage)) observe(stages[index]!, ms / 1000);
    }
    this.slowest.record(trace);
  }

  authenticationFailed(listener: string, mechanism: string): void {
    const key = `${listener}:${mechanism}`;
    this.authenticationFailures.set(key, (this.authenticationFailures.get(key) ?? 0) + 1);
  }

  /** Forgets the counters of topics that no longer exist (called at scrape time). */
  forgetTopicsExcept(existing: (topic: string) => boolean): void {
    for (const topic of this.partitions.keys()) if (!existing(topic)) this.partitions.delete(topic);
  }
}

const ALWAYS_OBSERVED: ReadonlySet<string> = new Set(["read", "queue", "handler_other", "send"]);

function newStats(): ApiRequestStats {
  return { count: 0, sumSeconds: 0, buckets: new Array<number>(REQUEST_LATENCY_BUCKETS_SECONDS.length + 1).fill(0) };
}

function countLatency(byApi: Map<number, ApiRequestStats>, apiKey: number, seconds: number): void {
  let stats = byApi.get(apiKey);
  if (!stats) byApi.set(apiKey, (stats = newStats()));
  observe(stats, seconds);
}

function observe(stats: ApiRequestStats, seconds: number): void {
  stats.count++;
  stats.sumSeconds += seconds;
  let bucket = 0;
  while (bucket < REQUEST_LATENCY_BUCKETS_SECONDS.length && seconds > REQUEST_LATENCY_BUCKETS_SECONDS[bucket]!) bucket++;
  stats.buckets[bucket]!++;
}
