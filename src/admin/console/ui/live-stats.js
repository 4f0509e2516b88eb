// Rates and latency percentiles from two /metrics scrapes: counters become per-second rates per topic, the
// request-duration histogram's bucket deltas become p50/p99 per API (the window between the scrapes, as
// Prometheus' histogram_quantile over rate() does). A bounded history (HISTORY_POINTS) feeds the charts.
import { scrapeMetrics } from "./api.js";

export const HISTORY_POINTS = 150;
const TOPIC_COUNTERS = {
  bytesIn: "bunka_partition_bytes_in_total",
  bytesOut: "bunka_partition_bytes_out_total",
  recordsIn: "bunka_partition_records_in_total",
};
const LATENCY_BUCKET = "bunka_request_duration_seconds_bucket";

/** Per topic sums of the partition counters and gauges in one scrape. */
export function topicTotals(samples) {
  const topics = new Map();
  const of = (topic) => {
    let entry = topics.get(topic);
    if (!entry) topics.set(topic, (entry = { bytesIn: 0, bytesOut: 0, recordsIn: 0, sizeBytes: 0, logEndOffset: 0 }));
    return entry;
  };
  for (const sample of samples) {
    const topic = sample.labels.topic;
    if (topic === undefined) continue;
    if (sample.name === TOPIC_COUNTERS.bytesIn) of(topic).bytesIn += sample.value;
    else if (sample.name === TOPIC_COUNTERS.bytesOut) of(topic).bytesOut += sample.value;
    else if (sample.name === TOPIC_COUNTERS.recordsIn) of(topic).recordsIn += sample.value;
    else if (sample.name === "bunka_partition_log_size_bytes") of(topic).sizeBytes += sample.value;
    else if (sample.name === "bunka_partition_log_end_offset") of(topic).logEndOffset += sample.value;
  }
  return topics;
}

function latencyBuckets(samples) {
  const apis = new Map();
  for (const sample of samples) {
    if (sample.name !== LATENCY_BUCKET) continue;
    let buckets = apis.get(sample.labels.api);
    if (!buckets) apis.set(sample.labels.api, (buckets = []));
    buckets.push({ le: sample.labels.le === "+Inf" ? Infinity : Number(sample.labels.le), count: sample.value });
  }
  for (const buckets of apis.values()) buckets.sort((a, b) => a.le - b.le);
  return apis;
}

/** The quantile q of a cumulative histogram (upper bound of the bucket it falls in, linear within it). */
export function quantile(buckets, q) {
  const total = buckets.at(-1)?.count ?? 0;
  if (total <= 0) return null;
  const rank = q * total;
  let lowerBound = 0;
  let lowerCount = 0;
  for (const bucket of buckets) {
    if (bucket.count >= rank) {
      if (bucket.le === Infinity) return lowerBound;
      const inBucket = bucket.count - lowerCount;
      return inBucket <= 0 ? bucket.le : lowerBound + ((bucket.le - lowerBound) * (rank - lowerCount)) / inBucket;
    }
    lowerBound = bucket.le;
    lowerCount = bucket.count;
  }
  return lowerBound;
}

export class LiveStats {
  constructor() {
    this.previous = null;
    this.history = []; // {timeSeconds, topics: Map<topic, rates>, latency: Map<api, {p50, p99}>}
    this.totals = new Map();
    this.listeners = new Set();
    this.timer = null;
    this.error = null;
  }

  subscribe(listener) {
    this.listeners.add(listener);
    if (this.timer === null) {
      this.tick();
      this.timer = setInterval(() => document.hidden || this.tick(), 2000);
    }
    return () => {
      this.listeners.delete(listener);
      if (this.listeners.size === 0) {
        clearInterval(this.timer);
        this.timer = null;
      }
    };
  }

  async tick() {
    try {
      const samples = await scrapeMetrics();
      const now = { timeSeconds: Date.now() / 1000, totals: topicTotals(samples), latency: latencyBuckets(samples) };
      this.totals = now.totals;
      if (this.previous) this.record(this.previous, now);
      this.previous = now;
      this.error = null;
    } catch (error) {
      this.error = error.message;
    }
    for (const listener of this.listeners) listener(this);
  }

  record(before, now) {
    const seconds = Math.max(0.001, now.timeSeconds - before.timeSeconds);
    const topics = new Map();
    for (const [topic, totals] of now.totals) {
      const earlier = before.totals.get(topic);
      if (!earlier) continue;
      const rate = (key) => Math.max(0, totals[key] - earlier[key]) / seconds;
      topics.set(topic, { bytesIn: rate("bytesIn"), bytesOut: rate("bytesOut"), recordsIn: rate("recordsIn") });
    }
    const latency = new Map();
    for (const [apiName, buckets] of now.latency) {
      const earlier = before.latency.get(apiName) ?? [];
      const window = buckets.map((bucket, index) => ({ le: bucket.le, count: bucket.count - (earlier[index]?.count ?? 0) }));
      latency.set(apiName, { p50: quantile(window, 0.5), p99: quantile(window, 0.99) });
    }
    this.history.push({ timeSeconds: now.timeSeconds, topics, latency });
    if (this.history.length > HISTORY_POINTS) this.history.shift();
  }

  /** Latest per-second rates of a topic (zeros before the second scrape). */
  rates(topic) {
    return this.history.at(-1)?.topics.get(topic) ?? { bytesIn: 0, bytesOut: 0, recordsIn: 0 };
  }
}

export const liveStats = new LiveStats();
