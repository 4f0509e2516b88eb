// How fast the console's message browser is on a topic of a million records (issue 12): one broker with the
// admin listener, 1,000,000 records of 200 bytes in one partition (bunka perf produce), then
//   - the JSON API page the browser asks for (100 records, base64) at the start, the middle, the end, the latest
//     and by timestamp, each timed REPEATS times from Bun's fetch;
//   - the whole browser step in headless Chromium: choose an offset, press Load, until the 100 rows are drawn.
//   bun bench/console-browse.ts [--records N] [--repeats N]
// Prints one JSON line per measurement and a summary; figures go into BENCHMARKS.md by hand (bench/analysis.md).
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { parseArgs } from "node:util";
import { launchBrowser, newPage } from "../test/console/browser.ts";
import { BenchBroker, freePort } from "./broker-process.ts";

const { values } = parseArgs({ options: { records: { type: "string", default: "1000000" }, repeats: { type: "string", default: "20" } } });
const records = Number(values.records);
const repeats = Number(values.repeats);
const TOPIC = "browse";

const workDir = mkdtempSync(join(tmpdir(), "bunka-console-browse-"));
const adminPort = freePort();
const broker = new BenchBroker({ workDir, properties: { "admin.listeners": `http://127.0.0.1:${adminPort}`, "num.partitions": "1" } });
const base = `http://127.0.0.1:${adminPort}`;
const percentile = (sorted: number[], q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;

try {
  await broker.start();
  const produceStartedMs = performance.now();
  const produced = Bun.spawnSync([process.execPath, resolve(import.meta.dir, "../src/cli/main.ts"), "perf", "produce", "-b", broker.bootstrap, "-t", TOPIC, "-n", String(records), "-s", "200", "--acks", "1"], { stdout: "pipe", stderr: "pipe" });
  if (produced.exitCode !== 0) throw new Error(`perf produce failed: ${produced.stderr.toString()}`);
  console.log(JSON.stringify({ step: "produce", records, seconds: (performance.now() - produceStartedMs) / 1000 }));

  const middle = (await (await fetch(`${base}/api/v1/topics/${TOPIC}/partitions/0/messages?offset=${Math.floor(records / 2)}&limit=1`)).json()) as { messages: { timestamp: number }[] };
  const queries: Record<string, string> = {
    "offset 0": "offset=0",
    "offset middle": `offset=${Math.floor(records / 2)}`,
    "offset end - 100": `offset=${records - 100}`,
    latest: "",
    "timestamp middle": `timestamp=${middle.messages[0]!.timestamp}`,
  };
  const summary: Record<string, { medianMs: number; p99Ms: number }> = {};
  for (const [name, query] of Object.entries(queries)) {
    const timings: number[] = [];
    for (let repeat = 0; repeat < repeats; repeat++) {
      const startedMs = performance.now();
      const page = (await (await fetch(`${base}/api/v1/topics/${TOPIC}/partitions/0/messages?format=base64&limit=100&${query}`)).json()) as { messages: unknown[] };
      timings.push(performance.now() - startedMs);
      if (page.messages.length !== 100) throw new Error(`${name}: ${page.messages.length} records, expected 100`);
    }
    timings.sort((a, b) => a - b);
    summary[`api ${name}`] = { medianMs: percentile(timings, 0.5), p99Ms: percentile(timings, 0.99) };
    console.log(JSON.stringify({ step: "api", query: name, ...summary[`api ${name}`] }));
  }

  const browser = await launchBrowser();
  try {
    const { page } = await newPage(browser);
    await page.goto(`${base}/ui/#/topics/${TOPIC}/messages`);
    await page.waitForSelector('[data-testid="message-form"] input[name="offset"]');
    const timings: number[] = [];
    for (let repeat = 0; repeat < Math.min(repeats, 10); repeat++) {
      const offset = Math.floor(((repeat + 1) / 11) * records);
      const input = (await page.$('[data-testid="message-form"] input[name="offset"]'))!;
      await input.click({ count: 3 });
      await input.type(String(offset));
      const startedMs = performance.now();
      await page.click('[data-testid="message-form"] button[type="submit"]');
      await page.waitForSelector(`[data-testid="message-row"][data-offset="${offset + 99}"]`, { timeout: 30_000 });
      timings.push(performance.now() - startedMs);
    }
    timings.sort((a, b) => a - b);
    summary["browser load 100 rows"] = { medianMs: percentile(timings, 0.5), p99Ms: percentile(timings, 0.99) };
    console.log(JSON.stringify({ step: "browser", ...summary["browser load 100 rows"] }));
  } finally {
    await browser.close();
  }
  console.log("\nmessage browser on", records.toLocaleString("en"), "records (ms):");
  for (const [name, figures] of Object.entries(summary)) console.log(`  ${name.padEnd(24)} median ${figures.medianMs.toFixed(1).padStart(7)}   p99 ${figures.p99Ms.toFixed(1).padStart(7)}`);
} finally {
  await broker.stop();
  rmSync(workDir, { recursive: true, force: true });
}
