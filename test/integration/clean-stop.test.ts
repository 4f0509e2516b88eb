// Stops and restarts the way operators and supervisors do them, with real processes:
// - SIGTERM to the whole process group of `bun run broker` / `npm run broker` (systemd's KillMode=control-group,
//   `kill -- -PGID`, Ctrl-C) reaches the broker twice, directly and forwarded by the runner, and is sent twice
//   here on top: the stop stays clean (exit 0, marker written, the next start skips recovery, data intact).
// - shutdown.timeout.ms bounds a stop that cannot finish (a client that never reads its responses): logged,
//   exit 1, and the next start recovers with every acknowledged record.
// - The data dir lock is an OS file lock: a restart right after SIGKILL works while the killed broker is still
//   an unreaped zombie, a stale PID in the lock file never blocks, and a second live broker is refused.
import { afterEach, expect, test } from "bun:test";
import { spawn, type ChildProcess } from "node:child_process";
import { existsSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { KafkaConnection } from "../../src/client/kafka-connection.ts";
import { ErrorCode } from "../../src/protocol/errors.ts";
import { ApiKey } from "../../src/protocol/generated/index.ts";
import { buildBatch } from "../../src/records/compression.ts";
import { DataDirLock } from "../../src/server/data-dir-lock.ts";
import { startBroker } from "../../src/server/broker.ts";
import { BrokerProcess, freePort, tempDir } from "../helpers/broker-process.ts";
import { createTopic } from "../helpers/kafkajs.ts";
import { kcat, kcatConsumeAll } from "../helpers/kcat.ts";

const repoRoot = resolve(import.meta.dir, "../..");
const WAIT_STEP_MS = 50;
const READY_STEPS_MAX = 600; // 30 s
const EXIT_STEPS_MAX = 600; // 30 s
const cleanups: (() => Promise<void> | void)[] = [];

afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

function isRunning(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

function processState(pid: number): string | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    return stat.charAt(stat.lastIndexOf(")") + 2);
  } catch {
    return null;
  }
}

/** The broker's PID, from the lock file it writes once it holds the lock. */
function lockHolderPid(dataDir: string): number {
  const pid = Number(readFileSync(join(dataDir, ".lock"), "utf8").trim());
  expect(Number.isInteger(pid) && pid > 0).toBe(true);
  return pid;
}

interface Runner {
  child: ChildProcess;
  output: () => string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/** Starts `command` in its own process group (detached) and waits for the broker's ready line. */
async function startInGroup(command: string[], dataDir: string, port: number): Promise<Runner> {
  const child = spawn(command[0]!, [...command.slice(1), "--port", String(port), "--data-dir", dataDir], {
    cwd: repoRoot,
    detached: true,
    stdio: ["ignore", "pipe", "pipe"],
    env: { ...process.env, PATH: `${join(repoRoot, "node_modules/.bin")}:${process.env.PATH}` },
  });
  let output = "";
  child.stdout!.on("data", (chunk) => (output += chunk));
  child.stderr!.on("data", (chunk) => (output += chunk));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolveExit) => child.on("exit", (code, signal) => resolveExit({ code, signal })));
  cleanups.push(() => {
    // The whole group: the runner and the broker it started.
    try {
      process.kill(-child.pid!, "SIGKILL");
    } catch {
      // Already gone.
    }
  });
  for (let step = 0; step < READY_STEPS_MAX && !output.includes(" ready on "); step++) {
    if (child.exitCode !== null) throw new Error(`${command.join(" ")} exited with ${child.exitCode}:\n${output}`);
    await Bun.sleep(WAIT_STEP_MS);
  }
  if (!output.includes(" ready on ")) throw new Error(`broker not ready:\n${output}`);
  return { child, output: () => output, exited };
}

async function waitForExit(pid: number): Promise<void> {
  for (let step = 0; step < EXIT_STEPS_MAX && isRunning(pid) && processState(pid) !== "Z"; step++) await Bun.sleep(WAIT_STEP_MS);
  expect(isRunning(pid) && processState(pid) !== "Z").toBe(false);
}

async function produceLines(bootstrap: string, topic: string, lines: string[]): Promise<void> {
  const produced = await kcat(bootstrap, ["-P", "-t", topic, "-p", "0", "-X", "acks=all"], { input: lines.join("\n") + "\n" });
  expect(produced.exitCode).toBe(0);
}

/** The next start on `dataDir` skips recovery and serves every line produced before the stop. */
async function expectCleanRestart(dataDir: string, topic: string, lines: string[]): Promise<void> {
  expect(existsSync(join(dataDir, ".clean-shutdown"))).toBe(true);
  const next = new BrokerProcess({ dataDir });
  cleanups.push(() => next.cleanup());
  await next.start();
  expect(next.output).not.toContain("was not shut down cleanly");
  expect(await kcatConsumeAll(next.bootstrap, topic, "%s\\n")).toEqual(lines);
  expect(await next.stop()).toBe(0);
}

const runners: { name: string; command: () => string[] | null }[] = [
  { name: "bun run broker", command: () => [process.execPath, "run", "broker"] },
  { name: "npm run broker", command: () => (Bun.which("npm") ? ["npm", "run", "broker", "--"] : null) },
];

for (const runner of runners) {
  test(`SIGTERM to the whole process group of \`${runner.name}\`, twice, is one clean stop`, async () => {
    const command = runner.command();
    if (!command) {
      console.warn(`${runner.name}: npm is not installed here; skipped`);
      return;
    }
    const dataDir = tempDir("group-stop");
    cleanups.push(() => rmSync(dataDir, { recursive: true, force: true }));
    const port = freePort();
    const started = await startInGroup(command, dataDir, port);
    const brokerPid = lockHolderPid(dataDir);
    // The broker is a child of the runner, in the runner's group: the group signal reaches both.
    expect(brokerPid).not.toBe(started.child.pid);
    const bootstrap = `127.0.0.1:${port}`;
    const lines = Array.from({ length: 200 }, (_, i) => `record-${i}`);
    await createTopic(bootstrap, "stopped", 1);
    await produceLines(bootstrap, "stopped", lines);

    process.kill(-started.child.pid!, "SIGTERM");
    await Bun.sleep(5);
    process.kill(-started.child.pid!, "SIGTERM");
    const { code, signal } = await started.exited;
    const brokerGoneAtRunnerExit = !isRunning(brokerPid) || processState(brokerPid) === "Z";
    await waitForExit(brokerPid);
    const output = started.output();
    expect(output).toContain("SIGTERM received, shutting down");
    expect(output).toContain("stopped cleanly");
    expect(output).not.toContain("exiting without a clean shutdown");
    expect(output).not.toContain("did not finish within shutdown.timeout.ms");
    if (runner.name.startsWith("bun")) {
      // bun run waits for the broker and passes its exit code on.
      expect({ code, signal }).toEqual({ code: 0, signal: null });
    } else {
      // npm exits 0 after the broker, or (when the second group signal lands after its child is gone) dies
      // of that signal itself; either way the broker had finished its clean stop first.
      expect(code === 0 || signal === "SIGTERM").toBe(true);
      expect(brokerGoneAtRunnerExit).toBe(true);
    }
    await expectCleanRestart(dataDir, "stopped", lines);
  }, 120_000);
}

test("shutdown.timeout.ms ends a stop that cannot finish: logged, exit 1, the next start recovers every acknowledged record", async () => {
  const broker = new BrokerProcess({ properties: { "shutdown.timeout.ms": "1000" } });
  cleanups.push(() => broker.cleanup());
  await broker.start();
  await createTopic(broker.bootstrap, "slow-stop", 1);
  const connection = await KafkaConnection.connect({ host: "127.0.0.1", port: broker.port, requestTimeoutMs: 10_000 });
  const value = new Uint8Array(1024).fill(0x61);
  for (let batch = 0; batch < 8; batch++) {
    const records = buildBatch({ records: Array.from({ length: 256 }, () => ({ key: null, value })) });
    const produced = await connection.request(ApiKey.Produce, 7, { acks: -1, timeoutMs: 5000, topicData: [{ name: "slow-stop", partitionData: [{ index: 0, records }] }] });
    expect(produced.responses[0].partitionResponses[0].errorCode).toBe(ErrorCode.NONE);
  }
  connection.close();

  // A client that asks for 2 MiB responses 40 times and never reads them: the broker's write queue for it
  // cannot drain, so the stop waits on it (for up to 10 s) and shutdown.timeout.ms (1 s) ends it first.
  const fetch = { replicaId: -1, maxWaitMs: 0, minBytes: 1, maxBytes: 4 << 20, isolationLevel: 0, topics: [{ topic: "slow-stop", partitions: [{ partition: 0, fetchOffset: 0, partitionMaxBytes: 4 << 20 }] }] };
  const stalled = await KafkaConnection.connect({ host: "127.0.0.1", port: broker.port, requestTimeoutMs: 60_000 });
  cleanups.push(() => stalled.close());
  const pending = Array.from({ length: 40 }, () => stalled.request(ApiKey.Fetch, 4, fetch).catch(() => null));
  void pending;
  // Stop reading: pause the client's socket so the kernel buffers fill up.
  (stalled as unknown as { socket: { pause?: () => void } }).socket.pause?.();
  await Bun.sleep(500);

  const code = await broker.stop();
  expect(code).toBe(1);
  expect(broker.output).toContain("clean shutdown did not finish within shutdown.timeout.ms=1000");
  expect(existsSync(join(broker.dataDir, ".clean-shutdown"))).toBe(false);

  const restarted = new BrokerProcess({ dataDir: broker.dataDir });
  cleanups.push(() => restarted.cleanup());
  await restarted.start();
  expect(restarted.output).toContain("was not shut down cleanly");
  const consumed = await kcatConsumeAll(restarted.bootstrap, "slow-stop", "%S\\n");
  expect(consumed.length).toBe(8 * 256);
}, 120_000);

test("a restart right after SIGKILL works while the killed broker is still an unreaped zombie", async () => {
  const dataDir = tempDir("zombie");
  cleanups.push(() => rmSync(dataDir, { recursive: true, force: true }));
  const port = freePort();
  const outputPath = `${dataDir}.out`;
  cleanups.push(() => rmSync(outputPath, { force: true }));
  // sh starts the broker in the background and becomes `sleep`, which never waits for children: once
  // killed, the broker stays a zombie (and answers kill(pid, 0)) until the sleep ends.
  const script = `"${process.execPath}" src/main.ts --port ${port} --data-dir "${dataDir}" > "${outputPath}" 2>&1 & exec sleep 120`;
  const parent = spawn("sh", ["-c", script], { cwd: repoRoot, stdio: "ignore" });
  cleanups.push(() => void parent.kill("SIGKILL"));
  for (let step = 0; step < READY_STEPS_MAX && !(existsSync(outputPath) && readFileSync(outputPath, "utf8").includes(" ready on ")); step++) await Bun.sleep(WAIT_STEP_MS);
  expect(readFileSync(outputPath, "utf8")).toContain(" ready on ");
  const bootstrap = `127.0.0.1:${port}`;
  const lines = ["before-kill-1", "before-kill-2", "before-kill-3"];
  await createTopic(bootstrap, "survivor", 1);
  await produceLines(bootstrap, "survivor", lines);
  const killedPid = lockHolderPid(dataDir);

  process.kill(killedPid, "SIGKILL");
  for (let step = 0; step < EXIT_STEPS_MAX && processState(killedPid) !== "Z"; step++) await Bun.sleep(WAIT_STEP_MS);
  // The condition under test: a zombie that kill(pid, 0) still reports alive, its PID still in the lock file.
  expect(processState(killedPid)).toBe("Z");
  expect(isRunning(killedPid)).toBe(true);
  expect(lockHolderPid(dataDir)).toBe(killedPid);

  const restarted = new BrokerProcess({ dataDir });
  cleanups.push(() => restarted.cleanup());
  await restarted.start();
  expect(restarted.output).toContain("was not shut down cleanly");
  expect(await kcatConsumeAll(restarted.bootstrap, "survivor", "%s\\n")).toEqual(lines);

  // A second live broker on the same dir is still refused, with a message naming the dir.
  const intruder = new BrokerProcess({ dataDir });
  cleanups.push(() => intruder.cleanup());
  const refusal = await intruder.start().then(() => null, (error: Error) => error.message);
  expect(refusal).toContain(`data dir ${dataDir} is in use by another broker`);
  expect(refusal).toContain(`process ${restarted.pid}`);
  expect(await kcatConsumeAll(restarted.bootstrap, "survivor", "%s\\n")).toEqual(lines);
  expect(await restarted.stop()).toBe(0);

  // A stale PID (here: a live, unrelated process) in the lock file never blocks a start.
  writeFileSync(join(dataDir, ".lock"), `${parent.pid}\n`);
  const again = new BrokerProcess({ dataDir });
  cleanups.push(() => again.cleanup());
  await again.start();
  expect(again.output).not.toContain("was not shut down cleanly");
  expect(await again.stop()).toBe(0);
}, 120_000);

test("in one process: a second embedded broker, or a second lock on another descriptor, is refused", async () => {
  const dataDir = tempDir("embedded-lock");
  cleanups.push(() => rmSync(dataDir, { recursive: true, force: true }));
  const first = await startBroker({ port: 0, dataDir, log: () => {} });
  cleanups.push(() => first.stop());
  const second = await startBroker({ port: 0, dataDir, log: () => {} }).then(() => null, (error: Error) => error.message);
  expect(second).toContain(`data dir ${dataDir} is in use`);
  // flock belongs to the open file description: another open() of the same file in this process conflicts.
  const otherDir = tempDir("lock-descriptors");
  cleanups.push(() => rmSync(otherDir, { recursive: true, force: true }));
  const lock = DataDirLock.acquire(otherDir);
  expect(lock.mechanism).toBe("flock");
  expect(() => DataDirLock.acquire(otherDir)).toThrow(`data dir ${otherDir} is in use by another broker (this process holds the lock`);
  lock.release();
  const relocked = DataDirLock.acquire(otherDir);
  relocked.release();
});

test("without bun:ffi (BUNKA_NATIVE=0) the PID-file fallback still refuses a live holder and ignores a dead one", async () => {
  const dataDir = tempDir("pid-lock");
  cleanups.push(() => rmSync(dataDir, { recursive: true, force: true }));
  const lockModule = join(repoRoot, "src/server/data-dir-lock.ts");
  const holderScript = `const { DataDirLock } = await import(${JSON.stringify(lockModule)}); const lock = DataDirLock.acquire(${JSON.stringify(dataDir)}); console.log(lock.mechanism); await Bun.sleep(60_000);`;
  const tryScript = `const { DataDirLock } = await import(${JSON.stringify(lockModule)}); try { DataDirLock.acquire(${JSON.stringify(dataDir)}).release(); console.log("acquired"); } catch (error) { console.log(error.message); }`;
  const env = { ...process.env, BUNKA_NATIVE: "0" };
  const holder = Bun.spawn([process.execPath, "-e", holderScript], { env, stdout: "pipe", stderr: "inherit" });
  cleanups.push(() => holder.kill("SIGKILL"));
  const reader = holder.stdout.getReader();
  const { value } = await reader.read();
  expect(new TextDecoder().decode(value)).toContain("pid file");
  const refused = Bun.spawnSync([process.execPath, "-e", tryScript], { env });
  expect(refused.stdout.toString()).toContain(`data dir ${dataDir} is in use by process ${holder.pid}`);
  holder.kill("SIGKILL");
  await holder.exited;
  const acquired = Bun.spawnSync([process.execPath, "-e", tryScript], { env });
  expect(acquired.stdout.toString()).toContain("acquired");
});
