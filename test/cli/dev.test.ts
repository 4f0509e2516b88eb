// bunka dev: a broker in a fresh temporary data dir, groups ready at once and 3 partitions per auto-created
// topic; kcat produces and consumes; SIGTERM removes the data dir, --keep keeps it.
import { afterEach, expect, test } from "bun:test";
import { existsSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import type { Subprocess } from "bun";
import { startBroker } from "../../src/server/broker.ts";
import { freePort } from "../helpers/broker-process.ts";
import { kcat } from "../helpers/kcat.ts";
import { kafkaClient } from "../helpers/kafkajs.ts";
import { CLI_MAIN } from "./cli.ts";

const READY_TIMEOUT_MS = 30_000;
const started: Subprocess[] = [];
const keptDirs: string[] = [];

afterEach(async () => {
  for (const child of started.splice(0)) {
    child.kill("SIGKILL");
    await child.exited;
  }
  for (const dir of keptDirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

async function startDev(extra: string[]): Promise<{ child: Subprocess<"ignore", "pipe", "pipe">; port: number; dataDir: string; stdout: string }> {
  const port = freePort();
  const child = Bun.spawn([process.execPath, CLI_MAIN, "dev", "--port", String(port), ...extra], { stdin: "ignore", stdout: "pipe", stderr: "pipe" });
  started.push(child);
  const reader = child.stdout.getReader();
  const decoder = new TextDecoder();
  let stdout = "";
  const deadline = Date.now() + READY_TIMEOUT_MS;
  while (!stdout.includes("bunka dev: try") && Date.now() < deadline) {
    const { value, done } = await Promise.race([reader.read(), Bun.sleep(deadline - Date.now()).then(() => ({ value: undefined, done: true }))]);
    if (done) break;
    stdout += decoder.decode(value);
  }
  reader.releaseLock();
  const dataDir = /data dir (\S+) (removed|kept) at exit/.exec(stdout)?.[1];
  if (!dataDir) throw new Error(`bunka dev did not say it was ready: ${stdout}\n${await new Response(child.stderr).text()}`);
  return { child, port, dataDir, stdout };
}

async function stop(child: Subprocess): Promise<number> {
  child.kill("SIGTERM");
  const code = await child.exited;
  started.splice(started.indexOf(child), 1);
  return code;
}

test("bunka dev serves kcat from a temporary data dir that SIGTERM removes", async () => {
  const { child, port, dataDir, stdout } = await startDev([]);
  expect(stdout).toContain(`bootstrap server 127.0.0.1:${port}`);
  // The console and /metrics on loopback, at the address printed.
  const consoleUrl = /console (http:\/\/127\.0\.0\.1:\d+)\/ui/.exec(stdout)?.[1];
  expect(consoleUrl).toBeDefined();
  const ui = await fetch(`${consoleUrl}/ui`);
  expect(ui.status).toBe(200);
  await ui.arrayBuffer();
  expect(existsSync(dataDir)).toBe(true);
  const bootstrap = `127.0.0.1:${port}`;
  const produced = await kcat(bootstrap, ["-P", "-t", "dev-topic", "-K", ":"], { input: "a:1\nb:2\nc:3\n" });
  expect(produced.exitCode).toBe(0);
  const metadata = JSON.parse((await kcat(bootstrap, ["-L", "-J", "-t", "dev-topic"])).stdout);
  expect(metadata.topics[0].partitions).toHaveLength(3);
  const consumed = await kcat(bootstrap, ["-C", "-t", "dev-topic", "-o", "beginning", "-e", "-q", "-f", "%k=%s\\n"]);
  expect(consumed.stdout.trim().split("\n").sort()).toEqual(["a=1", "b=2", "c=3"]);
  // Dev mode's settings, as the broker reports them to an admin client.
  const admin = kafkaClient(bootstrap).admin();
  await admin.connect();
  try {
    const described = await admin.describeConfigs({ resources: [{ type: 4, name: "1" }], includeSynonyms: false });
    const configs = new Map(described.resources[0]!.configEntries.map((entry) => [entry.configName, entry.configValue]));
    expect(configs.get("group.initial.rebalance.delay.ms")).toBe("0");
    expect(configs.get("num.partitions")).toBe("3");
  } finally {
    await admin.disconnect();
  }

  expect(await stop(child)).toBe(0);
  expect(existsSync(dataDir)).toBe(false);
}, 60_000);

test("bunka dev --keep keeps the data dir, and a restart on it finds the records", async () => {
  const { child, port, dataDir } = await startDev(["--keep"]);
  keptDirs.push(dataDir);
  const bootstrap = `127.0.0.1:${port}`;
  expect((await kcat(bootstrap, ["-P", "-t", "kept", "-p", "0"], { input: "kept-record\n" })).exitCode).toBe(0);
  expect(await stop(child)).toBe(0);
  expect(existsSync(dataDir)).toBe(true);

  // Dev mode on a given data dir (--data-dir) uses it and never removes it.
  const again = await startDev(["--data-dir", dataDir]);
  const consumed = await kcat(`127.0.0.1:${again.port}`, ["-C", "-t", "kept", "-o", "beginning", "-e", "-q", "-f", "%s\\n"]);
  expect(consumed.stdout).toBe("kept-record\n");
  expect(await stop(again.child)).toBe(0);
  expect(existsSync(dataDir)).toBe(true);
}, 60_000);

test("startBroker({ dev: true }) in process: temporary data dir removed by stop(), kept with keepDataDir", async () => {
  const broker = await startBroker({ dev: true, port: 0, partitionWorkers: 1, log: () => undefined });
  const dataDir = broker.config.dataDir;
  expect(dataDir.startsWith(tmpdir())).toBe(true);
  expect(broker.config.numPartitions).toBe(3);
  expect(broker.config.groupInitialRebalanceDelayMs).toBe(0);
  expect(existsSync(dataDir)).toBe(true);
  await broker.stop();
  expect(existsSync(dataDir)).toBe(false);

  // An explicit setting wins over dev mode's defaults.
  const kept = await startBroker({ dev: true, keepDataDir: true, port: 0, partitionWorkers: 1, log: () => undefined, properties: { "num.partitions": "5" } });
  keptDirs.push(kept.config.dataDir);
  expect(kept.config.numPartitions).toBe(5);
  await kept.stop();
  expect(existsSync(kept.config.dataDir)).toBe(true);
}, 60_000);
