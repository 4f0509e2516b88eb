// A benchmark results file with nothing measured, for tests of bench/report.ts: each test adds the section it renders.
import type { BenchResults } from "../../bench/report.ts";

const notMeasured = { name: "not measured", description: "", bytesPerSecond: Number.NaN, runs: [] };

export function emptyBenchResults(): BenchResults {
  return {
    quick: true,
    command: "bun run bench --quick",
    startedAt: "2026-12-03T00:00:00.000Z",
    durationSeconds: 1,
    machine: { cpuModel: "test", nproc: 2, memory: "", kernel: "", bunVersion: "", kcatVersion: "", loadBefore: "0", loadAfter: "0" },
    limits: { loopbackTcp: notMeasured, fileToSocket: notMeasured, socketToFile: notMeasured, sequentialAppend: notMeasured },
    micro: [],
    e2e: { produce: [], memory: null, producePairs: [], consume: [], consumeDataBytes: 0, latency: null, latencyCurve: [], crossChecks: [], defaultTransfer: "mmap" },
  };
}
