// bench/report.ts with and without the comparison brokers in the latency and rdperf sections: a results file
// without them renders the plain columns; one with them gives the workers=0 and listen=false columns, the default
// broker's share of produces and fetches its listening workers answered, its stage rows, and targets judged on
// the best of the three brokers. Synthetic figures; nothing is measured.
import { expect, test } from "bun:test";
import { checkTargets, renderMarkdown, type BenchResults } from "../../bench/report.ts";
import { emptyBenchResults } from "../helpers/bench-results.ts";
import type { LatencyReferenceResults, ReferencePoint, ReferencePointTarget } from "../../bench/latency-reference.ts";
import type { RdperfResults } from "../../bench/rdperf.ts";

type Local = { local: number; all: number };

function point(target: ReferencePointTarget, p99Ms: number, localProduces?: Local, localFetches?: Local): ReferencePoint {
  const bunka = target.startsWith("bunka");
  return {
    target, samples: 1000, p50Ms: p99Ms / 4, p99Ms, p999Ms: p99Ms * 2, maxMs: p99Ms * 3, achievedRecordsPerSecond: 5000, sendsPerSecond: 4000, received: 1,
    ...(bunka
      ? { breakdown: { stages: [{ stage: "Produce: read (first to last byte of the frame)", count: 4000, meanMs: 0.01, p50Ms: 0.01, p99Ms: 0.05, p999Ms: 0.1 }], threadCores: { main: 0.2 }, ...(localProduces ? { localProduces } : {}), ...(localFetches ? { localFetches } : {}) } }
      : {}),
  };
}

/**
 * One rate at 10% of max: default p99 6 ms (with local counts: 4,000 of 4,000 produces and 1,500 of 6,000
 * fetches answered in the worker), workers=0 5.5 ms, and (withListenOff) listen=false 3 ms.
 */
function reference(withListenOff: boolean, withLocal: boolean): LatencyReferenceResults {
  const points = [
    point("relay", 0.5), point("redis", 1),
    withLocal ? point("bunka", 6, { local: 4000, all: 4000 }, { local: 1500, all: 6000 }) : point("bunka", 6),
    point("bunka-inline", 5.5),
    ...(withListenOff ? [point("bunka-listen-off", 3)] : []),
  ];
  return { recordBytes: 1024, seconds: 6, warmupSeconds: 2, maxRecordsPerSecond: 50_000, redisVersion: "7.0", rates: [{ label: "10% of max", recordsPerSecond: 5000, points }] };
}

function rdperf(withListenOff: boolean, withLocal: boolean): RdperfResults {
  const figures = (p99Ms: number) => ({ achievedRecordsPerSecond: 5000, samples: 45_000, p50Ms: 1, p99Ms, p999Ms: p99Ms * 2, maxMs: p99Ms * 3 });
  return {
    tool: "rdkafka_performance",
    throughput: [{ recordBytes: 1024, acks: 1, records: 1000, bunkaRecordsPerSecond: 100_000, mockRecordsPerSecond: 150_000, bunkaRuns: [100_000], mockRuns: [150_000], clientCores: 1, brokerCores: 1, bunkaRttMs: 1 }],
    latency: [{
      targetRecordsPerSecond: 5000, ...figures(6), inline: figures(5.5),
      ...(withListenOff ? { listenOff: figures(4) } : {}),
      ...(withLocal ? { localProduces: { local: 4980, all: 4980 }, localFetches: { local: 2000, all: 2000 } } : {}),
    }],
  };
}

const latencyTarget = (results: BenchResults) => checkTargets(results).find((check) => check.target.startsWith("Latency reference at 10% of max"))!;
const rdperfTarget = (results: BenchResults) => checkTargets(results).find((check) => check.target.startsWith("rdkafka_performance -l at 5,000"))!;

test("a results file without the third broker or local counts renders the plain columns and judges the two brokers it has", () => {
  const results = { ...emptyBenchResults(), latencyReference: reference(false, false), rdperf: rdperf(false, false) };
  const markdown = renderMarkdown(results, "chart.svg");
  expect(markdown).toContain("| Rate | Sent | Writes/s (Bunka) | Bunka p50 | p99 | p99.9 | workers=0 p50 | p99 | p99.9 | Redis p50 | p99 | p99.9 | Floor p50 | p99 | p99.9 |");
  // The generated sections only: the hand-written analysis after them may well mention either.
  const generated = markdown.slice(0, markdown.indexOf("## Micro-benchmarks"));
  expect(generated).not.toContain("listen=false");
  expect(generated).not.toContain("answered in the worker");
  expect(markdown).toContain("| Asked | Bunka | Achieved | Samples | p50 | p99 | p99.9 | max |\n");
  const latency = latencyTarget(results);
  expect(latency.measured).toBe("default: p99 6.00 ms at 5 k/s; workers=0: p99 5.50 ms at 5 k/s");
  expect(latency.met).toBe(false); // 5.5 ms is over the 5 ms budget
  expect(rdperfTarget(results).met).toBe(false);
});

test("with the listen=false broker and the default's local counts: their columns, the local-answer stage rows, targets on the best of three", () => {
  const results = { ...emptyBenchResults(), latencyReference: reference(true, true), rdperf: rdperf(true, true) };
  const markdown = renderMarkdown(results, "chart.svg");
  expect(markdown).toContain("| Bunka p50 | p99 | p99.9 | produces answered in the worker | fetches answered in the worker | workers=0 p50 | p99 | p99.9 | listen=false p50 | p99 | p99.9 | Redis p50 |");
  expect(markdown).toContain("| 1.50 ms | 6.00 ms | 12.00 ms | 4,000 of 4,000 (100%) | 1,500 of 6,000 (25%) | 1.38 ms | 5.50 ms | 11.00 ms | 0.75 ms | 3.00 ms | 6.00 ms | 0.25 ms |");
  // The stage table counts the default broker's local answers and marks the other brokers' rows.
  expect(markdown).toContain("| 10% of max | Produce: answered by the owning listening worker (no main thread), of all | 4,000 of 4,000 (100%) |");
  expect(markdown).toContain("| 10% of max | Fetch: answered by the owning listening worker (no main thread), of all | 1,500 of 6,000 (25%) |");
  expect(markdown).toContain("| 10% of max, listen=false | Produce: read (first to last byte of the frame) | 4,000 |");
  expect(markdown).toContain("| 10% of max, workers=0 | Produce: read");
  // rdperf: the local-answer columns on the default row, "–" for the brokers that do not count them.
  expect(markdown).toContain("| Asked | Bunka | Achieved | Samples | p50 | p99 | p99.9 | max | Produces answered in the worker | Fetches answered in the worker |");
  expect(markdown).toContain("| 5 k/s | default | 5 k/s | 45000 | 1.00 ms | 6.00 ms | 12.00 ms | 18.00 ms | 4,980 of 4,980 (100%) | 2,000 of 2,000 (100%) |");
  expect(markdown).toContain("| 5 k/s | listen=false | 5 k/s | 45000 | 1.00 ms | 4.00 ms | 8.00 ms | 12.00 ms | – | – |");

  const latency = latencyTarget(results);
  expect(latency.measured).toBe("default: p99 6.00 ms at 5 k/s; workers=0: p99 5.50 ms at 5 k/s; listen=false: p99 3.00 ms at 5 k/s");
  expect(latency.ratio).toBe("listen=false: 60% of budget, 3.0× Redis");
  expect(latency.met).toBe(false); // under 5 ms, but more than 2× Redis's 1 ms
  const rdperfCheck = rdperfTarget(results);
  expect(rdperfCheck.measured).toBe("default: p99 6.00 ms (5 k/s achieved); workers=0: p99 5.50 ms (5 k/s); listen=false: p99 4.00 ms (5 k/s)");
  expect(rdperfCheck.ratio).toBe("80% of budget");
  expect(rdperfCheck.met).toBe(true);
});

test("a failed listen=false point shows its error and the targets fall back to the brokers that measured", () => {
  const failed = reference(true, false);
  const listenOff = failed.rates[0]!.points.find((each) => each.target === "bunka-listen-off")!;
  Object.assign(listenOff, { p50Ms: Number.NaN, p99Ms: Number.NaN, p999Ms: Number.NaN, error: "broker gone", breakdown: undefined });
  const rd = rdperf(true, false);
  rd.latency[0]!.listenOff = { error: "rdkafka_performance exited 1" };
  const results = { ...emptyBenchResults(), latencyReference: failed, rdperf: rd };
  const markdown = renderMarkdown(results, "chart.svg");
  expect(markdown).toContain("| failed: broker gone |  |  | 0.25 ms |");
  expect(markdown).toContain("| 5 k/s | listen=false | rdkafka_performance exited 1 |");
  expect(latencyTarget(results).measured).toBe("default: p99 6.00 ms at 5 k/s; workers=0: p99 5.50 ms at 5 k/s");
  expect(rdperfTarget(results).measured).toBe("default: p99 6.00 ms (5 k/s achieved); workers=0: p99 5.50 ms (5 k/s)");
});
