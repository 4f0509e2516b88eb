// bench/report.ts with and without the scaling section: a results file from before the section existed still
// renders (the section and its two targets say "not measured"), and a measured section gives its tables, the
// chart's second row and the targets by the rules their rows state; a run with the partition.workers.listen broker
// adds its rows, its fetch share answered by workers and its ratio to the consume target (a run without keeps the
// tables as they were). Synthetic figures; nothing is measured.
import { expect, test } from "bun:test";
import { checkTargets, renderMarkdown, renderScaling, renderSvg, type BenchResults } from "../../bench/report.ts";
import { emptyBenchResults } from "../helpers/bench-results.ts";
import type { ConnectionPoint, ScalingResults, ShardPoint } from "../../bench/shard-scaling.ts";


const throughput = (megabytesPerSecond: number) => ({ seconds: 1, recordsPerSecond: megabytesPerSecond * 1000, bytesPerSecond: megabytesPerSecond * 1e6, brokerCpuCores: 1, mainThreadCores: 0.5, machineBusy: 0.9, errors: 0 });

/** With `listenConsumeTwoMBPerSecond`, a listen broker too (2 workers; 1 consumer 2,000 MB/s, 90% of fetches answered by workers). */
function scaling(consumeTwoMBPerSecond: number, thousandIdleP99Ms: number, listenConsumeTwoMBPerSecond?: number): ScalingResults {
  const shardCurve: ShardPoint[] = [];
  const connectionCurve: ConnectionPoint[] = [];
  const latency = (p99Ms: number) => ({ achievedRecordsPerSecond: 20_000, samples: 1000, p50Ms: 1, p99Ms, p999Ms: p99Ms * 2, maxMs: p99Ms * 3, brokerCpuCores: 0.2, mainThreadCores: 0.1, machineBusy: 0.3 });
  for (const round of [1, 2, 3]) {
    for (const shards of [1, 2]) {
      const requestsByShard = shards === 1 ? [1000] : [400, 600];
      shardCurve.push({ shards, round, workload: "produce", connections: 4, requestsByShard, ...throughput(400) });
      shardCurve.push({ shards, round, workload: "catch-up consume", connections: 1, requestsByShard, ...throughput(2000) });
      shardCurve.push({ shards, round, workload: "catch-up consume", connections: 2, requestsByShard, ...throughput(shards === 2 ? consumeTwoMBPerSecond : 2200) });
    }
    if (listenConsumeTwoMBPerSecond !== undefined) {
      const requestsByShard = [300, 350, 350];
      const workerProduces = { local: 1000, all: 1000 };
      const workerFetches = { local: 900, all: 1000 };
      const listen = { shards: "listen" as const, round, requestsByShard, workerProduces, workerFetches };
      shardCurve.push({ ...listen, workload: "produce", connections: 4, ...throughput(600) });
      shardCurve.push({ ...listen, workload: "catch-up consume", connections: 1, ...throughput(2000) });
      shardCurve.push({ ...listen, workload: "catch-up consume", connections: 2, ...throughput(listenConsumeTwoMBPerSecond) });
    }
    connectionCurve.push({ busyConnections: 1, idleConnections: 0, idleClosedByBroker: 0, brokerConnectionsOpen: 0, round, produce: throughput(200), latency: null });
    for (const idleConnections of [0, 100, 1000]) {
      const p99Ms = idleConnections === 1000 ? thousandIdleP99Ms : 2 + round / 10;
      connectionCurve.push({ busyConnections: 10, idleConnections, idleClosedByBroker: 0, brokerConnectionsOpen: idleConnections, round, produce: throughput(380), latency: latency(p99Ms) });
    }
  }
  return {
    cores: 2, shardCounts: [1, 2], seconds: 1, rounds: 3, recordBytes: 1024, produceBatchBytes: 65536, produceInFlight: 8, produceConnections: 4,
    consumeDataBytes: 32 * 2 ** 20, consumePartitions: 8, pacedRecordsPerSecond: 20_000, shardCurve, connectionCurve,
    ...(listenConsumeTwoMBPerSecond !== undefined ? { listen: { partitionWorkers: 2 } } : {}),
  };
}

const scalingChecks = (results: BenchResults) => checkTargets(results).filter((check) => check.target.startsWith("Catch-up consume, 2 consumers") || check.target.startsWith("p99 with 1,000 idle"));

test("a results file without the scaling section renders it and its two targets as not measured", () => {
  const results = emptyBenchResults();
  const checks = scalingChecks(results);
  expect(checks).toHaveLength(2);
  for (const check of checks) {
    expect(check.met).toBeNull();
    expect(check.measured).toBe("not measured");
  }
  const markdown = renderMarkdown(results, "chart.svg");
  expect(markdown).toContain("## Scaling: network shards and connections");
  expect(markdown).toContain("Not measured in this run");
  expect(renderSvg(results)).toContain('height="380"');
});

test("a measured scaling section gives both curves' tables, the chart's second row and targets by their stated rules", () => {
  const met = { ...emptyBenchResults(), scaling: scaling(3200, 2.4) };
  const [consume, idle] = scalingChecks(met);
  expect(consume!.met).toBe(true); // 3,200 / 2,000 = 1.6× with 2 shards
  expect(consume!.ratio).toBe("1.60× (shards=2)");
  expect(idle!.met).toBe(true); // 2.4 ms ≤ 1.25 × 2.2 ms
  const markdown = renderMarkdown(met, "chart.svg");
  expect(markdown).toContain("### Throughput vs network shards");
  expect(markdown).toContain("### Throughput and latency vs connections (num.network.shards=1)");
  expect(markdown).toContain("| catch-up consume | 2 | 2 | 3200 MB/s | 3200, 3200, 3200 | 1600 MB/s | 40% (40, 40, 40) |");
  const svg = renderSvg(met);
  expect(svg).toContain('height="800"');
  expect(svg).toContain("Throughput vs network shards");

  const notMet = { ...emptyBenchResults(), scaling: scaling(2800, 4) };
  const [slowConsume, slowIdle] = scalingChecks(notMet);
  expect(slowConsume!.met).toBe(false); // 1.4× at best
  expect(slowIdle!.met).toBe(false); // 4 ms > 1.25 × 2.2 ms and > the worst round without (2.3 ms)

  const notHeld = scaling(3200, 2.2);
  for (const point of notHeld.connectionCurve) if (point.idleConnections === 1000) point.brokerConnectionsOpen = 600;
  const [, unheldIdle] = scalingChecks({ ...emptyBenchResults(), scaling: notHeld });
  expect(unheldIdle!.met).toBe(false); // the same p99, but the broker held only 600 of the 1,000 idle connections
  expect(unheldIdle!.measured).toContain("as few as 600 counted open");
});

test("the listen broker's rows, worker-answered share and consume ratio; the target is met by whichever configuration meets it", () => {
  const withListen = { ...emptyBenchResults(), scaling: scaling(2800, 2.4, 3600) };
  const [consume] = scalingChecks(withListen);
  expect(consume!.met).toBe(true); // shards=2 1.4×, listen 3,600 / 2,000 = 1.8×
  expect(consume!.ratio).toBe("1.80× (listen)");
  expect(consume!.measured).toContain("shards=2: 1.40×");
  expect(consume!.measured).toContain("listen: 1.80×");
  const markdown = renderMarkdown(withListen, "chart.svg");
  expect(markdown).toContain("num.network.shards 1, 2 and partition.workers.listen=true (2 workers)");
  // per shard: over the main thread and both workers; 30% of requests read by the main thread; 90% of fetches answered by a worker.
  expect(markdown).toContain("| catch-up consume | 2 | listen (2 workers) | 3600 MB/s | 3600, 3600, 3600 | 1800 MB/s | 30% (30, 30, 30) | 90% (90, 90, 90) |");
  expect(markdown).toContain("| produce | 4 | listen (2 workers) | 600 MB/s | 600, 600, 600 | 300 MB/s | 30% (30, 30, 30) | 100% (100, 100, 100) |");
  // The shard-count rows keep their columns, with no worker share.
  expect(markdown).toContain("| catch-up consume | 2 | 2 | 2800 MB/s | 2800, 2800, 2800 | 1400 MB/s | 40% (40, 40, 40) | – |");
  expect(renderSvg(withListen)).toContain(">listen</text>");

  const neither = { ...emptyBenchResults(), scaling: scaling(2800, 2.4, 2600) };
  const [slow] = scalingChecks(neither);
  expect(slow!.met).toBe(false); // shards=2 1.4×, listen 1.3×
  expect(slow!.ratio).toBe("1.40× (shards=2)");

  // A run without the listen broker: no listen rows, no listen wording in the section.
  const without = renderScaling(scaling(3200, 2.4)).join("\n");
  expect(without).toContain("| catch-up consume | 2 | 2 | 3200 MB/s |");
  expect(without).not.toContain("listen");
});
