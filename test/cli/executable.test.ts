// dist/bunka, the single executable: built once here (bun run build), copied into an empty directory and
// started with a PATH that has no bun or node and no node_modules anywhere near; kcat produces and consumes
// through it, the same binary's client commands talk to it, and its admin listener serves /metrics.
import { afterAll, beforeAll, expect, test } from "bun:test";
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import type { Subprocess } from "bun";
import { freePort } from "../helpers/broker-process.ts";
import { kcat } from "../helpers/kcat.ts";
import { run } from "../helpers/run.ts";

const repoRoot = resolve(import.meta.dir, "../..");
const BUILD_TIMEOUT_MS = 120_000;
const READY_TIMEOUT_MS = 30_000;
let workDir: string;
let binary: string;
let broker: Subprocess<"ignore", "pipe", "pipe"> | null = null;
/** PATH is an empty directory (this machine has node in /usr/bin): the binary must find nothing it needs there. */
const bareEnv = { PATH: "", HOME: "" };

beforeAll(async () => {
  const built = await run([process.execPath, join(repoRoot, "scripts/build.ts")], { timeoutMs: BUILD_TIMEOUT_MS });
  if (built.exitCode !== 0) throw new Error(`bun run build failed: ${built.stderr}${built.stdout}`);
  workDir = mkdtempSync(join(tmpdir(), "bunka-exe-"));
  binary = join(workDir, "bunka");
  copyFileSync(join(repoRoot, "dist/bunka"), binary);
  bareEnv.HOME = workDir;
  bareEnv.PATH = join(workDir, "empty-path");
  mkdirSync(bareEnv.PATH);
}, BUILD_TIMEOUT_MS + 10_000);

afterAll(async () => {
  if (broker) {
    broker.kill("SIGKILL");
    await broker.exited;
  }
  rmSync(workDir, { recursive: true, force: true });
});

test("the built binary runs without bun, node or node_modules and serves kcat", async () => {
  for (const tool of ["bun", "node"]) expect((await run(["/bin/sh", "-c", `command -v ${tool} || true`], { env: bareEnv })).stdout.trim()).toBe("");
  expect(existsSync(join(bareEnv.PATH, "bun"))).toBe(false);
  expect(existsSync(join(workDir, "node_modules"))).toBe(false);

  const port = freePort();
  const dataDir = join(workDir, "data");
  const adminPort = freePort();
  const config = join(workDir, "broker.properties");
  // Two network shards: the shard thread is an entry point of its own in the binary (scripts/build.ts).
  writeFileSync(config, `admin.listeners=http://127.0.0.1:${adminPort}\nnum.network.shards=2\n`);
  broker = Bun.spawn([binary, "broker", "--port", String(port), "--data-dir", dataDir, "--config", config], { cwd: workDir, env: bareEnv, stdin: "ignore", stdout: "pipe", stderr: "pipe" });
  const reader = broker.stdout.getReader();
  let stdout = "";
  const deadline = Date.now() + READY_TIMEOUT_MS;
  while (!stdout.includes(" ready on ") && Date.now() < deadline) {
    const { value, done } = await Promise.race([reader.read(), Bun.sleep(deadline - Date.now()).then(() => ({ value: undefined, done: true }))]);
    if (done) break;
    stdout += new TextDecoder().decode(value);
  }
  reader.releaseLock();
  expect(stdout).toContain(` ready on 127.0.0.1:${port}`);
  const bootstrap = `127.0.0.1:${port}`;

  const lines = Array.from({ length: 2000 }, (_, i) => `k${i}:value-${i}`);
  const produced = await kcat(bootstrap, ["-P", "-t", "exe", "-K", ":", "-z", "lz4"], { input: lines.join("\n") + "\n" });
  expect(produced.exitCode).toBe(0);
  const consumed = await kcat(bootstrap, ["-C", "-t", "exe", "-o", "beginning", "-e", "-q", "-f", "%k:%s\\n"]);
  expect(consumed.stdout.trim().split("\n").sort()).toEqual([...lines].sort());

  // The same binary as a client.
  const viaCli = await run([binary, "-b", bootstrap, "consume", "-t", "exe", "-e", "-f", "%k:%v\\n"], { env: bareEnv });
  expect(viaCli.exitCode).toBe(0);
  expect(viaCli.stdout.trim().split("\n").sort()).toEqual([...lines].sort());
  const described = JSON.parse((await run([binary, "-b", bootstrap, "--json", "topic", "describe", "exe"], { env: bareEnv })).stdout);
  expect(described.partitions.reduce((sum: number, p: { highWatermark: number }) => sum + p.highWatermark, 0)).toBe(lines.length);

  // /metrics from the binary's admin listener counts what kcat wrote.
  const metrics = await (await fetch(`http://127.0.0.1:${adminPort}/metrics`)).text();
  const recordsIn = metrics
    .split("\n")
    .filter((line) => line.startsWith("bunka_partition_records_in_total{") && line.includes('topic="exe"'))
    .reduce((sum, line) => sum + Number(line.slice(line.lastIndexOf(" ") + 1)), 0);
  expect(recordsIn).toBe(lines.length);
  expect((await fetch(`http://127.0.0.1:${adminPort}/healthz`)).status).toBe(200);

  broker.kill("SIGTERM");
  expect(await broker.exited).toBe(0);
  broker = null;
  expect(existsSync(join(dataDir, ".clean-shutdown"))).toBe(true);
}, 120_000);
