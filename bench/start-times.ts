// How long a test waits for Kafka (issue 15): ready time of startBroker() and startCluster({ brokers: 3 })
// in this Bun process, and of the same two through the Node launcher (bunka/node: a Bun child process per
// start, timed from Node). Each start gets a fresh temporary data dir and is stopped before the next.
//   bun bench/start-times.ts [--starts N] [--skip-node]
// Prints one JSON line per series and a summary table; figures go into BENCHMARKS.md by hand (bench/analysis.md).
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { parseArgs } from "node:util";
import { startBroker } from "../src/server/broker.ts";
import { startCluster } from "../src/testing/cluster.ts";

const { values } = parseArgs({ options: { starts: { type: "string", default: "20" }, "skip-node": { type: "boolean", default: false } } });
const starts = Number(values.starts);
if (!Number.isInteger(starts) || starts < 1 || starts > 1000) throw new RangeError(`--starts must be 1..1000, got ${values.starts}`);
const quiet = () => undefined;

interface Series {
  name: string;
  samplesMs: number[];
}

function percentile(sorted: number[], fraction: number): number {
  // Nearest rank: with 20 samples p99 is the slowest one.
  return sorted[Math.min(sorted.length - 1, Math.ceil(fraction * sorted.length) - 1)]!;
}

function summarize(series: Series): { name: string; starts: number; p50Ms: number; p99Ms: number; minMs: number; maxMs: number } {
  const sorted = [...series.samplesMs].sort((a, b) => a - b);
  const round = (value: number) => Math.round(value * 10) / 10;
  return { name: series.name, starts: sorted.length, p50Ms: round(percentile(sorted, 0.5)), p99Ms: round(percentile(sorted, 0.99)), minMs: round(sorted[0]!), maxMs: round(sorted.at(-1)!) };
}

async function timeStarts(name: string, once: () => Promise<number>): Promise<Series> {
  const samplesMs: number[] = [];
  // One unmeasured start: module loading and JIT warm-up are not what a test suite pays per start.
  await once();
  for (let i = 0; i < starts; i++) samplesMs.push(await once());
  return { name, samplesMs };
}

const series: Series[] = [];

series.push(
  await timeStarts("startBroker() in Bun", async () => {
    const dataDir = mkdtempSync(join(tmpdir(), "bunka-start-"));
    const startedAt = performance.now();
    const broker = await startBroker({ port: 0, host: "127.0.0.1", dataDir, log: quiet });
    const readyMs = performance.now() - startedAt;
    await broker.stop();
    rmSync(dataDir, { recursive: true, force: true });
    return readyMs;
  }),
);

series.push(
  await timeStarts("startCluster({ brokers: 3 }) in Bun", async () => {
    const startedAt = performance.now();
    const cluster = await startCluster({ brokers: 3 });
    const readyMs = performance.now() - startedAt;
    await cluster.stop();
    return readyMs;
  }),
);

if (!values["skip-node"]) {
  // Node measures its own calls: the Bun child's spawn, module loading and the broker start, as a test pays.
  const launcher = resolve(import.meta.dir, "../node/index.js");
  const script = `
    import { startBroker, startCluster } from ${JSON.stringify(launcher)};
    const starts = ${starts};
    const time = async (start) => { const t = performance.now(); const handle = await start(); const ms = performance.now() - t; await handle.stop(); return ms; };
    const broker = []; const cluster = [];
    await time(() => startBroker());
    for (let i = 0; i < starts; i++) broker.push(await time(() => startBroker()));
    await time(() => startCluster({ brokers: 3 }));
    for (let i = 0; i < starts; i++) cluster.push(await time(() => startCluster({ brokers: 3 })));
    console.log(JSON.stringify({ broker, cluster }));
  `;
  const node = Bun.spawnSync(["node", "--input-type=module", "-e", script], { stdout: "pipe", stderr: "pipe", timeout: 600_000 });
  if (node.exitCode !== 0) throw new Error(`node launcher run failed: ${node.stderr.toString().slice(-2000)}`);
  const measured = JSON.parse(node.stdout.toString().trim().split("\n").at(-1)!) as { broker: number[]; cluster: number[] };
  const nodeVersion = Bun.spawnSync(["node", "--version"]).stdout.toString().trim();
  series.push({ name: `startBroker() from Node ${nodeVersion} (bunka/node)`, samplesMs: measured.broker });
  series.push({ name: `startCluster({ brokers: 3 }) from Node ${nodeVersion} (bunka/node)`, samplesMs: measured.cluster });
}

const summaries = series.map(summarize);
for (const summary of summaries) console.log(JSON.stringify(summary));
console.log("");
console.log("| start | p50 | p99 | min | max |");
console.log("|---|---|---|---|---|");
for (const summary of summaries) console.log(`| ${summary.name} | ${summary.p50Ms} ms | ${summary.p99Ms} ms | ${summary.minMs} ms | ${summary.maxMs} ms |`);
