// What num.partition.workers=0 (the socket thread owns the partitions, no thread hop) costs in produce
// throughput: the same load against a default broker and an inline one, alternating rounds. The latency side
// is in the latency reference (bun run bench, its workers=0 columns). Prints a Markdown table and writes
// bench/results/inline-owner.md.
//
//   bun bench/inline-owner.ts [--seconds=N] [--rounds=N]
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { tmpdir } from "node:os";
import { BenchBroker } from "./broker-process.ts";
import { combine, runLoad, type ProduceTask } from "./loadgen.ts";

const argument = (name: string) => process.argv.find((arg) => arg.startsWith(`--${name}=`))?.slice(name.length + 3);
const SECONDS = Number(argument("seconds") ?? 4);
const ROUNDS = Number(argument("rounds") ?? 3);
const CONNECTIONS = 4;
const SCENARIOS = [
  { name: "1 KiB records, 64 KiB batches", recordBytes: 1024, batchBytes: 64 * 1024 },
  { name: "1 KiB records, 1 MiB batches", recordBytes: 1024, batchBytes: 1024 * 1024 },
  { name: "100 B records, 64 KiB batches", recordBytes: 100, batchBytes: 64 * 1024 },
];

function tasks(broker: BenchBroker, topic: string, recordBytes: number, batchBytes: number): ProduceTask[] {
  return Array.from({ length: CONNECTIONS }, (_, connection) => ({
    op: "produce" as const,
    port: broker.port,
    topic,
    partitions: [connection],
    recordBytes,
    batchBytes,
    compression: "none" as const,
    acks: 1,
    inFlight: 8,
    maxSeconds: SECONDS,
    maxRecords: 0,
    requestsPerSecond: 0,
  }));
}

const workDir = mkdtempSync(join(tmpdir(), "bunka-inline-owner-"));
const brokers = {
  default: new BenchBroker({ workDir: join(workDir, "default") }),
  "workers=0": new BenchBroker({ workDir: join(workDir, "inline"), properties: { "num.partition.workers": "0" } }),
};
const rates: Record<string, Record<string, number[]>> = {};
let topics = 0;
try {
  for (const broker of Object.values(brokers)) await broker.start();
  for (let round = 0; round < ROUNDS; round++) {
    for (const scenario of SCENARIOS) {
      for (const [label, broker] of Object.entries(brokers)) {
        const topic = `inline-owner-${++topics}`;
        await broker.createTopic(topic, CONNECTIONS);
        const total = combine(await runLoad(tasks(broker, topic, scenario.recordBytes, scenario.batchBytes)));
        await broker.deleteTopic(topic).catch(() => {});
        ((rates[scenario.name] ??= {})[label] ??= []).push(total.bytes / total.seconds / 1e6);
        console.log(`round ${round + 1} ${scenario.name} ${label}: ${(total.bytes / total.seconds / 1e6).toFixed(0)} MB/s${total.errors ? `, ${total.errors} errors` : ""}`);
      }
    }
  }
} finally {
  for (const broker of Object.values(brokers)) await broker.stop().catch(() => {});
  rmSync(workDir, { recursive: true, force: true });
}

const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;
const lines = [
  `Produce throughput, default vs num.partition.workers=0 (bench/inline-owner.ts), ${new Date().toISOString()}: ${CONNECTIONS} connections, one partition each, acks=1, 8 in flight, ${SECONDS} s per figure, median of ${ROUNDS} alternating rounds (each round in brackets).`,
  "",
  "| load | default MB/s | workers=0 MB/s | workers=0 / default |",
  "|---|---:|---:|---:|",
  ...Object.entries(rates).map(([name, byBroker]) => {
    const base = median(byBroker.default!);
    const inline = median(byBroker["workers=0"]!);
    const cell = (values: number[]) => `${median(values).toFixed(0)} [${values.map((value) => value.toFixed(0)).join(", ")}]`;
    return `| ${name} | ${cell(byBroker.default!)} | ${cell(byBroker["workers=0"]!)} | ${(inline / base).toFixed(2)}× |`;
  }),
];
console.log(lines.join("\n"));
const resultsDir = resolve(import.meta.dir, "results");
mkdirSync(resultsDir, { recursive: true });
writeFileSync(join(resultsDir, "inline-owner.md"), lines.join("\n") + "\n");
