// `bun run bench`: machine limits, micro-benchmarks and end-to-end runs against a real broker process,
// written to BENCHMARKS.md with a chart (bench/benchmarks.svg). `bun run bench --quick` (or `bun run bench:quick`) runs short
// versions of everything in about three minutes and writes bench/results/quick.md instead.
//
// Flags: --quick, --only=limits,micro,e2e,latency,rdperf,scaling (sections to run, all by default; the others are left out of the report,
//        or with --merge kept from the last saved run: bench/results/*.json),
//        --out=PATH (Markdown output; default BENCHMARKS.md, or bench/results/quick.md with --quick),
//        --report-only (render the report again from bench/results/*.json, measuring nothing).
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { cpus, freemem, loadavg, tmpdir, totalmem } from "node:os";
import { dirname, join, relative, resolve } from "node:path";
import { BenchBroker, freePort } from "./broker-process.ts";
import { runE2e, type E2eResults } from "./e2e.ts";
import { comparisonBroker, measureMaxProduceRate, runLatencyReference, type LatencyReferenceResults } from "./latency-reference.ts";
import { runRdperf, type RdperfResults } from "./rdperf.ts";
import { runScaling, type ScalingResults } from "./shard-scaling.ts";
import { measureLimits, type Limits } from "./limits.ts";
import { runMicro, type MicroResult } from "./micro.ts";
import { checkTargets, renderMarkdown, renderSvg, type BenchResults, type MachineInfo } from "./report.ts";

const repoRoot = resolve(import.meta.dir, "..");
const args = process.argv.slice(2);
const quick = args.includes("--quick");
const onlyArg = args.find((arg) => arg.startsWith("--only="));
const sections = new Set((onlyArg ? onlyArg.slice("--only=".length) : "limits,micro,e2e,latency,rdperf,scaling").split(","));
const merge = args.includes("--merge");
const outArg = args.find((arg) => arg.startsWith("--out="));
const markdownPath = resolve(repoRoot, outArg ? outArg.slice("--out=".length) : quick ? "bench/results/quick.md" : "BENCHMARKS.md");
const resultsDir = join(repoRoot, "bench/results");
const baseName = quick ? "quick" : "benchmarks";

const startedMs = performance.now();

// --report-only: render BENCHMARKS.md and the chart again from the last run's JSON (after editing
// bench/analysis.md), without measuring anything.
if (args.includes("--report-only")) {
  const saved = JSON.parse(readFileSync(join(resultsDir, `${baseName}.json`), "utf8")) as BenchResults;
  const savedSvgPath = quick ? join(resultsDir, "quick.svg") : join(repoRoot, "bench/benchmarks.svg");
  writeFileSync(savedSvgPath, renderSvg(saved));
  writeFileSync(markdownPath, renderMarkdown(saved, relative(dirname(markdownPath), savedSvgPath)));
  console.log(`rendered ${relative(repoRoot, markdownPath)} and ${relative(repoRoot, savedSvgPath)} from bench/results/${baseName}.json`);
  process.exit(0);
}
const progress = (line: string): void => {
  const elapsed = Math.round((performance.now() - startedMs) / 1000);
  console.log(`[${String(Math.floor(elapsed / 60)).padStart(2, "0")}:${String(elapsed % 60).padStart(2, "0")}] ${line}`);
};

function commandOutput(command: string[]): string {
  try {
    const result = Bun.spawnSync(command, { stdout: "pipe", stderr: "pipe" });
    return (result.stdout.toString() + result.stderr.toString()).trim();
  } catch {
    return "unavailable";
  }
}

function machineInfo(): MachineInfo {
  const load = loadavg().map((value) => value.toFixed(2)).join(", ");
  const kcatVersion = /Version ([^\s]+).*librdkafka ([^\s]+)/.exec(commandOutput(["kcat", "-V"]));
  return {
    cpuModel: cpus()[0]?.model ?? "unknown",
    nproc: Number(commandOutput(["nproc"])) || cpus().length,
    memory: `${(totalmem() / 2 ** 30).toFixed(1)} GiB total, ${(freemem() / 2 ** 30).toFixed(1)} GiB free at start (\`free -h\`: ${commandOutput(["free", "-h"]).split("\n")[1]?.replace(/\s+/g, " ") ?? "?"})`,
    kernel: commandOutput(["uname", "-r"]),
    bunVersion: `${Bun.version} (${Bun.revision.slice(0, 9)})`,
    kcatVersion: kcatVersion ? `${kcatVersion[1]} (librdkafka ${kcatVersion[2]})` : "not found",
    loadBefore: load,
    loadAfter: load,
  };
}

const workDir = mkdtempSync(join(tmpdir(), "bunka-bench-"));
const machine = machineInfo();
progress(`Bunka benchmark${quick ? " (quick)" : ""}: ${machine.nproc} cores, load average ${machine.loadBefore}, Bun ${machine.bunVersion}`);
if (loadavg()[0]! > machine.nproc * 0.5) progress(`warning: the machine is busy (load ${machine.loadBefore}); figures will be noisy`);

let limits: Limits | null = null;
let micro: MicroResult[] = [];
let e2e: E2eResults = { produce: [], memory: null, producePairs: [], consume: [], consumeDataBytes: 0, latency: null, latencyCurve: [], crossChecks: [], defaultTransfer: "mmap" };
let latencyReference: LatencyReferenceResults | null = null;
let rdperf: RdperfResults | null = null;
let scaling: ScalingResults | null = null;
// --merge: the sections not run now come from the last saved run.
const saved: BenchResults | null = merge ? (JSON.parse(readFileSync(join(resultsDir, `${baseName}.json`), "utf8")) as BenchResults) : null;
try {
  if (sections.has("limits")) limits = await measureLimits({ quick, workDir: join(workDir, "limits"), progress });
  if (sections.has("micro")) micro = await runMicro({ quick, progress });
  if (sections.has("e2e")) e2e = await runE2e({ quick, workDir: join(workDir, "e2e"), progress });
  if (sections.has("latency") || sections.has("rdperf")) {
    // With an admin listener: the latency reference reads the stage histograms from /metrics.
    const adminPort = freePort();
    const broker = new BenchBroker({ workDir: join(workDir, "reference"), properties: { "admin.listeners": `http://127.0.0.1:${adminPort}` } });
    // It is the default: its partition workers listen, and each answers its own partitions' produces and fetches
    // without a hop. Beside it, a broker whose socket thread owns the partitions (num.partition.workers=0): no
    // thread hop either; and one whose socket thread reads every connection (partition.workers.listen=false).
    const inline = comparisonBroker(workDir, "inline");
    const listenOff = comparisonBroker(workDir, "listen-off");
    try {
      // Inside the try: a broker that fails to start still has the started ones stopped.
      await broker.start();
      await inline.broker.start();
      await listenOff.broker.start();
      if (sections.has("latency")) {
        // The same maximum as the e2e latency curve (1 KiB records, 64 KiB batches, produce only).
        const e2eMax = (e2e.produce.length > 0 ? e2e : saved?.e2e)?.latencyCurve[0]?.referenceMaxRecordsPerSecond;
        const maxRecordsPerSecond = e2eMax ?? (await measureMaxProduceRate(broker, quick ? 2 : 4));
        latencyReference = await runLatencyReference({
          broker,
          workDir: join(workDir, "reference"),
          maxRecordsPerSecond,
          quick,
          progress,
          metricsUrl: `http://127.0.0.1:${adminPort}/metrics`,
          inline,
          listenOff,
        });
      }
      if (sections.has("rdperf")) rdperf = await runRdperf({ broker, metricsUrl: `http://127.0.0.1:${adminPort}/metrics`, inlineBroker: inline.broker, listenOff: listenOff.broker, workDir: join(workDir, "reference"), quick, progress });
    } finally {
      await listenOff.broker.stop();
      await inline.broker.stop();
      await broker.stop();
    }
  }
  // Last: it starts its own brokers (one per num.network.shards value), so the sections above keep their timing.
  if (sections.has("scaling")) scaling = await runScaling({ quick, workDir: join(workDir, "scaling"), progress });
} finally {
  rmSync(workDir, { recursive: true, force: true });
}

/** For --merge: each section's run, this one for the sections measured now, the saved run's for the others. */
function mergedSectionTimes(previous: BenchResults): Record<string, string> {
  const startedAt = new Date(Date.now() - (performance.now() - startedMs)).toISOString();
  const times: Record<string, string> = {};
  for (const section of ["limits", "micro", "e2e", "latency", "rdperf", "scaling"]) {
    // A section the saved run did not have (scaling, in runs before it existed) has no time to keep.
    if (section === "scaling" && !sections.has(section) && !previous.scaling) continue;
    times[section] = sections.has(section) ? startedAt : (previous.merged?.sectionStartedAt[section] ?? previous.startedAt);
  }
  return times;
}

const zeroLimit = { name: "not measured", description: "", bytesPerSecond: Number.NaN, runs: [] };
machine.loadAfter = loadavg().map((value) => value.toFixed(2)).join(", ");
const results: BenchResults = {
  quick,
  command: `bun run bench${args.length ? ` ${args.join(" ")}` : ""}`,
  startedAt: new Date(Date.now() - (performance.now() - startedMs)).toISOString(),
  durationSeconds: (performance.now() - startedMs) / 1000,
  machine,
  limits: limits ?? saved?.limits ?? { loopbackTcp: zeroLimit, fileToSocket: zeroLimit, socketToFile: zeroLimit, sequentialAppend: zeroLimit },
  micro: sections.has("micro") ? micro : (saved?.micro ?? micro),
  e2e: sections.has("e2e") ? e2e : (saved?.e2e ?? e2e),
  latencyReference: latencyReference ?? saved?.latencyReference ?? null,
  rdperf: rdperf ?? saved?.rdperf ?? null,
  scaling: sections.has("scaling") ? scaling : (saved?.scaling ?? null),
  merged: saved ? { sectionStartedAt: mergedSectionTimes(saved) } : undefined,
};

mkdirSync(resultsDir, { recursive: true });
// The full run's chart sits next to the code (bench/results/ is not committed); quick runs stay in results/.
const svgPath = quick ? join(resultsDir, "quick.svg") : join(repoRoot, "bench/benchmarks.svg");
writeFileSync(svgPath, renderSvg(results));
writeFileSync(join(resultsDir, `${baseName}.json`), JSON.stringify(results, null, 2) + "\n");
mkdirSync(dirname(markdownPath), { recursive: true });
writeFileSync(markdownPath, renderMarkdown(results, relative(dirname(markdownPath), svgPath)));

progress("targets:");
for (const check of checkTargets(results)) progress(`  ${check.met === null ? "not measured" : check.met ? "met    " : "NOT MET"} ${check.target}: ${check.measured} (${check.ratio} of ${check.reference})`);
progress(`wrote ${relative(repoRoot, markdownPath)}, ${relative(repoRoot, svgPath)} and bench/results/${baseName}.json in ${Math.round(results.durationSeconds)} s`);
if (!quick && !outArg) progress("BENCHMARKS.md keeps the hand-written analysis from bench/analysis.md");
process.exit(0);
