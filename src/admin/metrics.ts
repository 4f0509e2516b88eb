// /metrics: the broker's numbers in Prometheus text format (or OpenMetrics when asked), through prom-client.
// Nothing here runs per request: a scrape takes one snapshot (one worker operation for every partition's
// log, plus the socket thread's counters and metadata) and the registry's collect() callbacks read it.
// prom-client renames counters in place for OpenMetrics, so each format has its own registry.
import client, { type Registry } from "prom-client";
import { ApiKey } from "../protocol/generated/index.ts";
import { errorName } from "../protocol/errors.ts";
import type { AdminBrokerView } from "./broker-view.ts";
import type { PartitionLogMetrics } from "../partition/messages.ts";
import { BrokerTraffic, REQUEST_LATENCY_BUCKETS_SECONDS } from "./traffic-counters.ts";
import { TRACE_STAGES } from "./slowest-requests.ts";
import { threadCpuTimes } from "./thread-cpu.ts";
import { FSYNC_BUCKETS_SECONDS, type FsyncLatency } from "../partition/fsync-latency.ts";
import { clientTelemetryFor } from "../telemetry/client-telemetry.ts";
import { fetchFromAppendCounters } from "../api/fetch.ts";

interface PartitionRow {
  topic: string;
  partition: number;
  log: PartitionLogMetrics | undefined;
  highWatermark: number;
  leader: boolean;
}

/** What one scrape reads, taken once before the registry renders it. */
interface Snapshot {
  partitions: PartitionRow[];
  omittedPartitions: number;
  underReplicated: number;
  offline: number;
  partitionCount: number;
  leaderCount: number;
  groupLag: { group: string; topic: string; partition: number; committed: number; lag: number }[];
  groups: { group: string; state: string; members: number }[];
  fsync: FsyncLatency;
}

/** How long a scrape waits for other leaders' high watermarks (group lag of partitions not replicated here). */
const REMOTE_HIGH_WATERMARK_TIMEOUT_MS = 2_000;

const apiNames: ReadonlyMap<number, string> = new Map(Object.entries(ApiKey).filter(([, key]) => typeof key === "number").map(([name, key]) => [key as number, name]));
export const apiName = (apiKey: number): string => apiNames.get(apiKey) ?? String(apiKey);

export const PROMETHEUS_CONTENT_TYPE = client.Registry.PROMETHEUS_CONTENT_TYPE;
export const OPENMETRICS_CONTENT_TYPE = client.Registry.OPENMETRICS_CONTENT_TYPE;

export class BrokerMetrics {
  private snapshot: Snapshot = emptySnapshot();
  private readonly prometheus: Registry;
  private readonly openMetrics: Registry;
  private eventLoopLagSeconds = 0;
  private readonly lagTimer: ReturnType<typeof setInterval>;
  private readonly maxPartitions: number;

  constructor(private readonly view: AdminBrokerView) {
    this.maxPartitions = Number(view.config.properties["metrics.max.partitions"] ?? 2000);
    this.prometheus = this.buildRegistry(new client.Registry());
    const openMetrics = new client.Registry();
    openMetrics.setContentType(client.Registry.OPENMETRICS_CONTENT_TYPE as never);
    this.openMetrics = this.buildRegistry(openMetrics);
    // Event-loop lag as a timer's lateness: Bun's monitorEventLoopDelay reports nothing useful (measured: NaN).
    const intervalMs = 250;
    let expected = performance.now() + intervalMs;
    this.lagTimer = setInterval(() => {
      const now = performance.now();
      this.eventLoopLagSeconds = Math.max(0, now - expected) / 1000;
      expected = now + intervalMs;
    }, intervalMs);
    this.lagTimer.unref?.();
  }

  stop(): void {
    clearInterval(this.lagTimer);
  }

  /** The Prometheus-format registry, for describeMetrics(). */
  registryForDocs(): Registry {
    return this.prometheus;
  }

  /** One scrape: the snapshot, then the registry for the asked format renders it. */
  async render(openMetrics: boolean): Promise<{ body: string; contentType: string }> {
    this.snapshot = await this.takeSnapshot();
    const registry = openMetrics ? this.openMetrics : this.prometheus;
    let body = await registry.metrics();
    // What clients pushed (KIP-714): families per client metric, outside the registry (their names come from clients).
    const telemetry = clientTelemetryFor(this.view.config.properties).renderText();
    if (telemetry.length > 0) body = openMetrics && body.endsWith("# EOF\n") ? `${body.slice(0, -"# EOF\n".length)}${telemetry}# EOF\n` : `${body}${telemetry}`;
    return { body, contentType: registry.contentType };
  }

  private async takeSnapshot(): Promise<Snapshot> {
    const { view } = this;
    const nodeId = view.config.nodeId;
    const logs = new Map<string, PartitionLogMetrics>();
    // A failed partition worker (its thread died: logged, storage errors until a restart) must not take /metrics
    // down with it: the scrape goes on without the per-log figures and fsync latencies.
    const perLog = await view.workers.logMetrics().catch(() => []);
    for (const log of perLog) logs.set(`${log.topic}\u0000${log.partition}`, log);
    const snapshot = emptySnapshot();
    snapshot.fsync = await view.workers.fsyncLatency().catch(() => snapshot.fsync);
    view.traffic.forgetTopicsExcept((topic) => view.topics.get(topic) !== undefined);
    for (const topic of view.topics.list()) {
      for (const assignment of topic.partitions) {
        if (assignment.leader < 0) snapshot.offline++;
        if (!assignment.replicas.includes(nodeId)) continue;
        snapshot.partitionCount++;
        const leader = assignment.leader === nodeId;
        if (leader) {
          snapshot.leaderCount++;
          // Kafka's UnderReplicatedPartitions: reported by the leader, ISR smaller than the replica set.
          if (assignment.isr.length < assignment.replicas.length) snapshot.underReplicated++;
        }
        if (snapshot.partitions.length >= this.maxPartitions) {
          snapshot.omittedPartitions++;
          continue;
        }
        const runtime = view.topics.runtime(topic.name, assignment.partition);
        snapshot.partitions.push({ topic: topic.name, partition: assignment.partition, log: logs.get(`${topic.name}\u0000${assignment.partition}`), highWatermark: runtime?.highWatermark ?? -1, leader });
      }
    }
    // Lag per committed partition of the groups this broker coordinates, against the high watermark of the
    // partition: its own (leader or follower: a follower's is the leader's as of its last fetch), else the
    // leader's, asked once per scrape (leader-high-watermarks.ts) for partitions not replicated here.
    const committedRows: { group: string; topic: string; partition: number; committed: number }[] = [];
    const remote = new Map<string, { topic: string; partition: number; leader: number }>();
    for (const group of view.groups.groups.values()) {
      snapshot.groups.push({ group: group.groupId, state: group.state, members: group.members.size });
      for (const [key, committed] of group.offsets) {
        if (committedRows.length >= this.maxPartitions) break;
        const separator = key.lastIndexOf("\u0000");
        const topic = key.slice(0, separator);
        const partition = Number(key.slice(separator + 1));
        committedRows.push({ group: group.groupId, topic, partition, committed: committed.offset });
        const local = view.topics.runtime(topic, partition)?.highWatermark;
        const leader = view.topics.get(topic)?.partitions[partition]?.leader ?? -1;
        if ((local === undefined || local < 0) && leader >= 0 && leader !== nodeId) remote.set(key, { topic, partition, leader });
      }
    }
    const remoteHighWatermarks = remote.size > 0 && view.leaderHighWatermarks ? await view.leaderHighWatermarks.fetch([...remote.values()], REMOTE_HIGH_WATERMARK_TIMEOUT_MS).catch(() => new Map<string, number>()) : new Map<string, number>();
    for (const row of committedRows) {
      const key = `${row.topic}\u0000${row.partition}`;
      const local = view.topics.runtime(row.topic, row.partition)?.highWatermark;
      const highWatermark = local !== undefined && local >= 0 ? local : remoteHighWatermarks.get(key);
      if (highWatermark === undefined) continue;
      snapshot.groupLag.push({ ...row, lag: Math.max(0, highWatermark - row.committed) });
    }
    return snapshot;
  }

  private buildRegistry(registry: Registry): Registry {
    const registers = [registry];
    const snapshot = () => this.snapshot;
    const { view } = this;
    const traffic = view.traffic;
    const partitionLabels = ["topic", "partition"] as const;
    // Groups are client-created too: their series share the partitions' cap.
    const maxPartitions = this.maxPartitions;

    const partitionCounter = (name: string, help: string, read: (topic: string, partition: number) => number) =>
      new client.Counter({
        name, help, labelNames: partitionLabels, registers,
        collect() {
          this.reset();
          for (const row of snapshot().partitions) {
            const value = read(row.topic, row.partition);
            if (value > 0) this.inc({ topic: row.topic, partition: row.partition }, value);
          }
        },
      });
    const trafficOf = (topic: string, partition: number) => traffic.partitions.get(topic)?.[partition];
    partitionCounter("bunka_partition_bytes_in_total", "Record batch bytes appended by producers (Kafka: kafka.server:type=BrokerTopicMetrics,name=BytesInPerSec)", (t, p) => trafficOf(t, p)?.bytesIn ?? 0);
    partitionCounter("bunka_partition_records_in_total", "Records appended by producers (Kafka: kafka.server:type=BrokerTopicMetrics,name=MessagesInPerSec)", (t, p) => trafficOf(t, p)?.recordsIn ?? 0);
    partitionCounter("bunka_partition_bytes_out_total", "Record bytes sent to consumers (Kafka: kafka.server:type=BrokerTopicMetrics,name=BytesOutPerSec)", (t, p) => trafficOf(t, p)?.bytesOut ?? 0);
    partitionCounter("bunka_partition_replication_bytes_out_total", "Record bytes sent to follower replicas (Kafka: kafka.server:type=BrokerTopicMetrics,name=ReplicationBytesOutPerSec)", (t, p) => trafficOf(t, p)?.replicationBytesOut ?? 0);

    const partitionGauge = (name: string, help: string, read: (row: PartitionRow) => number | undefined) =>
      new client.Gauge({
        name, help, labelNames: partitionLabels, registers,
        collect() {
          this.reset();
          for (const row of snapshot().partitions) {
            const value = read(row);
            if (value !== undefined) this.set({ topic: row.topic, partition: row.partition }, value);
          }
        },
      });
    partitionGauge("bunka_partition_log_end_offset", "Next offset to be written (Kafka: kafka.log:type=Log,name=LogEndOffset)", (row) => row.log?.logEndOffset);
    partitionGauge("bunka_partition_log_start_offset", "First offset still in the log (Kafka: kafka.log:type=Log,name=LogStartOffset)", (row) => row.log?.logStartOffset);
    partitionGauge("bunka_partition_high_watermark", "Offsets below it are committed and visible to consumers", (row) => (row.highWatermark >= 0 ? row.highWatermark : undefined));
    partitionGauge("bunka_partition_log_segments", "Segments of the partition's log (Kafka: kafka.log:type=Log,name=NumLogSegments)", (row) => row.log?.segments);
    partitionGauge("bunka_partition_log_size_bytes", "Bytes of the partition's log on disk (Kafka: kafka.log:type=Log,name=Size)", (row) => row.log?.sizeBytes);
    partitionGauge("bunka_partition_leader", "1 where this broker leads the partition", (row) => (row.leader ? 1 : 0));

    const brokerGauge = (name: string, help: string, read: () => number) =>
      new client.Gauge({ name, help, registers, collect() { this.set(read()); } });
    brokerGauge("bunka_under_replicated_partitions", "Partitions this broker leads whose ISR is smaller than their replica set (Kafka: kafka.server:type=ReplicaManager,name=UnderReplicatedPartitions)", () => snapshot().underReplicated);
    brokerGauge("bunka_offline_partitions", "Partitions without a leader (Kafka: kafka.controller:type=KafkaController,name=OfflinePartitionsCount)", () => snapshot().offline);
    brokerGauge("bunka_partitions", "Partition replicas on this broker (Kafka: kafka.server:type=ReplicaManager,name=PartitionCount)", () => snapshot().partitionCount);
    brokerGauge("bunka_leader_partitions", "Partitions this broker leads (Kafka: kafka.server:type=ReplicaManager,name=LeaderCount)", () => snapshot().leaderCount);
    brokerGauge("bunka_metrics_partitions_omitted", "Partitions left out of the per-partition series (metrics.max.partitions)", () => snapshot().omittedPartitions);
    brokerGauge("bunka_active_controller", "1 when this broker is the controller (Kafka: kafka.controller:type=KafkaController,name=ActiveControllerCount)", () => (view.services.cluster.controllerId() === view.config.nodeId ? 1 : 0));
    brokerGauge("bunka_ready", "1 once logs are loaded, listeners are up and the broker is registered", () => (view.isReady() ? 1 : 0));
    brokerGauge("bunka_event_loop_lag_seconds", "How late a 250 ms timer on the socket thread last fired", () => this.eventLoopLagSeconds);
    brokerGauge("bunka_pooled_buffer_bytes", "Bytes held by the produce buffer pool (free and in use)", () => view.pooledBufferBytes());
    brokerGauge("bunka_fetch_sessions", "Fetch sessions (KIP-227) in the cache, at most max.incremental.fetch.session.cache.slots (Kafka: kafka.server:type=FetchSessionCache,name=NumIncrementalFetchSessions)", () => view.services.fetchSessions?.size ?? 0);
    brokerGauge("bunka_fetch_session_partitions", "Partitions the fetch sessions hold together, at most max.incremental.fetch.session.cache.partitions (Kafka: kafka.server:type=FetchSessionCache,name=NumIncrementalFetchPartitionsCached)", () => view.services.fetchSessions?.partitionCount ?? 0);
    new client.Counter({ name: "bunka_fetch_session_evictions_total", help: "Fetch sessions evicted to make room for new ones (Kafka: kafka.server:type=FetchSessionCache,name=IncrementalFetchSessionEvictionsPerSec)", registers, collect() { this.reset(); this.inc(view.services.fetchSessions?.evictions ?? 0); } });
    const counterOf = (name: string, help: string, read: () => number) =>
      new client.Counter({ name, help, registers, collect() { this.reset(); this.inc(read()); } });
    counterOf("bunka_fetch_served_from_append_total", "Consumer fetch partitions answered on the socket thread from the batch a produce just appended, without a worker read", () => fetchFromAppendCounters.partitions);
    counterOf("bunka_isr_shrinks_total", "ISR shrinks of partitions this broker leads (Kafka: kafka.server:type=ReplicaManager,name=IsrShrinksPerSec)", () => view.isrChanges().shrinks);
    counterOf("bunka_isr_expands_total", "ISR expansions of partitions this broker leads (Kafka: kafka.server:type=ReplicaManager,name=IsrExpandsPerSec)", () => view.isrChanges().expands);
    counterOf("bunka_leader_elections_total", "Partition leaders elected by this broker as controller (Kafka: kafka.controller:type=ControllerStats,name=LeaderElectionRateAndTimeMs)", () => view.controllerStats()?.leaderElections ?? 0);
    counterOf("bunka_unclean_leader_elections_total", "Leaders this broker as controller elected from outside the ISR (Kafka: kafka.controller:type=ControllerStats,name=UncleanLeaderElectionsPerSec)", () => view.controllerStats()?.uncleanLeaderElections ?? 0);
    counterOf("bunka_controller_activations_total", "Times this broker became the active controller", () => view.controllerStats()?.activations ?? 0);
    brokerGauge("bunka_controller_id", "Node id of the active controller as this broker sees it, -1 while there is none", () => view.services.cluster.controllerId());
    new client.Counter({ name: "bunka_leadership_gains_total", help: "Times this broker became leader of a partition (elections it won; bunka_leader_elections_total counts them on the controller)", registers, collect() { this.reset(); this.inc(traffic.leadershipGains); } });

    new client.Counter({
      name: "bunka_thread_cpu_seconds_total", help: "CPU time of the socket thread and of each worker thread (its rate is the thread's utilisation)", labelNames: ["thread", "tid"], registers,
      collect() {
        this.reset();
        for (const thread of threadCpuTimes()) this.inc({ thread: thread.thread, tid: thread.tid }, thread.cpuSeconds);
      },
    });
    new client.Gauge({
      name: "bunka_connections", help: "Open Kafka connections (Kafka: kafka.server:type=socket-server-metrics,name=connection-count)", labelNames: ["listener"], registers,
      collect() {
        this.reset();
        for (const listener of view.listeners()) this.set({ listener: listener.name }, 0);
        for (const [listener, count] of view.connectionsByListener()) this.set({ listener }, count);
      },
    });
    new client.Gauge({
      name: "bunka_network_shard_connections", help: "Open Kafka connections per network shard (num.network.shards; shard 0 is the main thread, a crashed shard reports 0)", labelNames: ["shard"], registers,
      collect() {
        this.reset();
        for (const shard of view.networkShards()) this.set({ shard: String(shard.shard) }, shard.connections);
      },
    });
    new client.Counter({
      name: "bunka_network_shard_requests_total", help: "Requests each network shard read and handed to the request handlers (num.network.shards; shard 0 is the main thread)", labelNames: ["shard"], registers,
      collect() {
        this.reset();
        for (const shard of view.networkShards()) this.inc({ shard: String(shard.shard) }, shard.requests);
      },
    });
    new client.Counter({
      name: "bunka_network_shard_local_requests_total", help: "Produce and consumer fetch requests (api) a listening partition worker answered in its own thread for its own partitions, without the main thread (partition.workers.listen)", labelNames: ["shard", "api"], registers,
      collect() {
        this.reset();
        for (const shard of view.networkShards()) {
          this.inc({ shard: String(shard.shard), api: "Produce" }, shard.localProduces);
          this.inc({ shard: String(shard.shard), api: "Fetch" }, shard.localFetches);
        }
      },
    });
    new client.Counter({
      name: "bunka_authentication_failures_total", help: "Failed SASL and admin HTTP logins (Kafka: kafka.server:type=socket-server-metrics,name=failed-authentication-total)", labelNames: ["listener", "mechanism"], registers,
      collect() {
        this.reset();
        for (const [key, count] of traffic.authenticationFailures) {
          const separator = key.lastIndexOf(":");
          this.inc({ listener: key.slice(0, separator), mechanism: key.slice(separator + 1) }, count);
        }
      },
    });
    new client.Counter({
      name: "bunka_request_errors_total", help: "Partitions answered with an error code, by API (Kafka: kafka.network:type=RequestMetrics,name=ErrorsPerSec)", labelNames: ["api", "error"], registers,
      collect() {
        this.reset();
        for (const [key, count] of traffic.errors) {
          const [apiKey, errorCode] = key.split(":").map(Number) as [number, number];
          this.inc({ api: apiName(apiKey), error: errorName(errorCode) }, count);
        }
      },
    });
    registry.registerMetric(
      new BucketHistogram(
        "bunka_request_duration_seconds",
        "Time from dispatch to the handler's answer, by API; a long poll's wait included (Kafka: kafka.network:type=RequestMetrics,name=TotalTimeMs)",
        ["api"],
        REQUEST_LATENCY_BUCKETS_SECONDS,
        () => [...traffic.requests].map(([apiKey, stats]) => [{ api: apiName(apiKey) }, stats]),
      ) as unknown as client.Metric,
    );
    registry.registerMetric(
      new BucketHistogram(
        "bunka_request_queue_duration_seconds",
        "Time from a complete request frame handed to the dispatcher to its handler's start (startup wait and decoding), by API (Kafka: kafka.network:type=RequestMetrics,name=RequestQueueTimeMs)",
        ["api"],
        REQUEST_LATENCY_BUCKETS_SECONDS,
        () => [...traffic.queueTimes].map(([apiKey, stats]) => [{ api: apiName(apiKey) }, stats]),
      ) as unknown as client.Metric,
    );
    registry.registerMetric(
      new BucketHistogram(
        "bunka_response_send_duration_seconds",
        "Time from the handler's answer to the reply's last byte taken by the socket (earlier replies on the connection and a slow reader included), by API (Kafka: kafka.network:type=RequestMetrics,name=ResponseSendTimeMs)",
        ["api"],
        REQUEST_LATENCY_BUCKETS_SECONDS,
        () => [...traffic.sendTimes].map(([apiKey, stats]) => [{ api: apiName(apiKey) }, stats]),
      ) as unknown as client.Metric,
    );
    registry.registerMetric(
      new BucketHistogram(
        "bunka_request_stage_duration_seconds",
        "Where requests' time went, by API and stage: read (first to last byte of the frame), queue, handoff (messages to and from partition workers), worker (inside the partition worker), fsync (waited for by a produce), replication (acks=all), wait (a fetch's long poll), handler_other (the rest of the handler), send; a stage is observed when a request passed it (read, queue, handler_other and send always). The slowest requests' own stages: GET /api/v1/request-latency",
        ["api", "stage"],
        REQUEST_LATENCY_BUCKETS_SECONDS,
        () => [...traffic.stageTimes].flatMap(([apiKey, stages]) => stages.map((stats, index): [Record<string, string>, typeof stats] => [{ api: apiName(apiKey), stage: TRACE_STAGES[index]! }, stats])),
      ) as unknown as client.Metric,
    );
    registry.registerMetric(
      new BucketHistogram(
        "bunka_log_flush_duration_seconds",
        "fdatasync of a partition log by its worker (Kafka: kafka.log:type=LogFlushStats,name=LogFlushRateAndTimeMs)",
        [],
        FSYNC_BUCKETS_SECONDS,
        () => [[{}, snapshot().fsync]],
      ) as unknown as client.Metric,
    );

    new client.Gauge({
      name: "bunka_group_lag", help: "Records between a group's committed offset and the high watermark (what kafka-consumer-groups.sh shows as LAG)", labelNames: ["group", "topic", "partition"], registers,
      collect() {
        this.reset();
        for (const row of snapshot().groupLag) this.set({ group: row.group, topic: row.topic, partition: row.partition }, row.lag);
      },
    });
    new client.Gauge({
      name: "bunka_group_committed_offset", help: "A group's committed offset", labelNames: ["group", "topic", "partition"], registers,
      collect() {
        this.reset();
        for (const row of snapshot().groupLag) this.set({ group: row.group, topic: row.topic, partition: row.partition }, row.committed);
      },
    });
    new client.Gauge({
      name: "bunka_group_members", help: "Members of a group this broker coordinates", labelNames: ["group"], registers,
      collect() {
        this.reset();
        for (const row of snapshot().groups.slice(0, maxPartitions)) this.set({ group: row.group }, row.members);
      },
    });
    new client.Gauge({
      name: "bunka_group_state", help: "1 for a group's current state (Empty, PreparingRebalance, CompletingRebalance, Stable, Dead)", labelNames: ["group", "state"], registers,
      collect() {
        this.reset();
        for (const row of snapshot().groups.slice(0, maxPartitions)) this.set({ group: row.group, state: row.state }, 1);
      },
    });
    client.collectDefaultMetrics({ register: registry, prefix: "bunka_" });
    return registry;
  }
}

/** One exported metric as the registry declares it: what the README's metrics table lists. */
export interface MetricDescription {
  name: string;
  type: string;
  labels: string[];
  help: string;
}

/**
 * Every metric /metrics exports, in registration order, read from a registry built the way a broker builds
 * it. No broker is needed: the view is read only by collect() callbacks and snapshots, which never run here.
 */
export function describeMetrics(): MetricDescription[] {
  const view = { config: { properties: {} }, traffic: new BrokerTraffic() } as unknown as AdminBrokerView;
  const metrics = new BrokerMetrics(view);
  metrics.stop();
  return metrics.registryForDocs().getMetricsAsArray().map((metric) => {
    const declared = metric as unknown as { name: string; help: string; type: string; labelNames?: string[] };
    return { name: declared.name, type: declared.type, labels: [...(declared.labelNames ?? [])], help: declared.help };
  });
}

function emptySnapshot(): Snapshot {
  return { partitions: [], omittedPartitions: 0, underReplicated: 0, offline: 0, partitionCount: 0, leaderCount: 0, groupLag: [], groups: [], fsync: { buckets: [], count: 0, sumSeconds: 0 } };
}

/**
 * A histogram whose bucket counts are kept elsewhere as plain numbers (the dispatcher's per-API counts, the
 * workers' fdatasync counts): rendered in Prometheus' cumulative form at scrape time.
 */
class BucketHistogram {
  readonly type = "histogram";
  readonly aggregator = "sum";
  constructor(
    readonly name: string,
    readonly help: string,
    readonly labelNames: readonly string[],
    private readonly bounds: readonly number[],
    private readonly read: () => [Record<string, string>, { count: number; sumSeconds: number; buckets: number[] }][],
  ) {}
  get() {
    const values: { labels: Record<string, string | number>; value: number; metricName: string }[] = [];
    for (const [labels, stats] of this.read()) {
      let cumulative = 0;
      this.bounds.forEach((bound, index) => {
        cumulative += stats.buckets[index] ?? 0;
        values.push({ labels: { ...labels, le: bound }, value: cumulative, metricName: `${this.name}_bucket` });
      });
      values.push({ labels: { ...labels, le: "+Inf" }, value: stats.count, metricName: `${this.name}_bucket` });
      values.push({ labels, value: stats.sumSeconds, metricName: `${this.name}_sum` });
      values.push({ labels, value: stats.count, metricName: `${this.name}_count` });
    }
    return { name: this.name, help: this.help, type: this.type, values, aggregator: this.aggregator };
  }
  reset(): void {}
}
