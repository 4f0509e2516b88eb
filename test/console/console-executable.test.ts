// The console from a `bun build --compile` executable: compiled here (as scripts/build.ts does, into a temp
// dir), copied to an empty directory and run with a PATH without bun or node; /ui/ and its script are the
// committed bundle byte for byte, and Chromium renders the overview from it. Nothing is read from the source
// tree or node_modules at run time.
import { afterAll, beforeAll, expect, test } from "bun:test";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import type { Browser } from "puppeteer-core";
import type { Subprocess } from "bun";
import { CONSOLE_JS } from "../../src/admin/console/assets.generated.ts";
import { freePort } from "../helpers/broker-process.ts";
import { run } from "../helpers/run.ts";
import { launchBrowser, newPage, waitForText, WAIT_MS } from "./browser.ts";

const repoRoot = resolve(import.meta.dir, "../..");
const BUILD_TIMEOUT_MS = 120_000;
let workDir: string;
let broker: Subprocess<"ignore", "pipe", "pipe"> | null = null;
let browser: Browser | null = null;

beforeAll(async () => {
  workDir = mkdtempSync(join(tmpdir(), "bunka-console-exe-"));
  const entries = join(workDir, "entries");
  mkdirSync(entries);
  writeFileSync(join(entries, "bunka.ts"), `import ${JSON.stringify(join(repoRoot, "src/cli/main.ts"))};\n`);
  writeFileSync(join(entries, "worker.ts"), `import ${JSON.stringify(join(repoRoot, "src/partition/worker.ts"))};\n`);
  // The entry points scripts/build.ts gives the binary, the network shard thread's included.
  writeFileSync(join(entries, "shard-thread.ts"), `import ${JSON.stringify(join(repoRoot, "src/server/shards/shard-thread.ts"))};\n`);
  writeFileSync(join(entries, "owner-shard-thread.ts"), `import ${JSON.stringify(join(repoRoot, "src/server/shards/owner-shard-thread.ts"))};\n`);
  const built = await run([process.execPath, "build", "--compile", "--minify-syntax", join(entries, "bunka.ts"), join(entries, "worker.ts"), join(entries, "shard-thread.ts"), join(entries, "owner-shard-thread.ts"), "--outfile", join(workDir, "bin/bunka")], { timeoutMs: BUILD_TIMEOUT_MS });
  if (built.exitCode !== 0) throw new Error(`bun build --compile failed: ${built.stderr}${built.stdout}`);
  rmSync(entries, { recursive: true });
}, BUILD_TIMEOUT_MS + 10_000);

afterAll(async () => {
  await browser?.close();
  if (broker) {
    broker.kill("SIGKILL");
    await broker.exited;
  }
  rmSync(workDir, { recursive: true, force: true });
});

test("the compiled broker serves the console it was built with", async () => {
  const emptyPath = join(workDir, "empty-path");
  mkdirSync(emptyPath);
  const adminPort = freePort();
  writeFileSync(join(workDir, "broker.properties"), `admin.listeners=http://127.0.0.1:${adminPort}\n`);
  const runDir = join(workDir, "run");
  mkdirSync(runDir);
  broker = Bun.spawn([join(workDir, "bin/bunka"), "broker", "--port", String(freePort()), "--data-dir", join(runDir, "data"), "--config", join(workDir, "broker.properties")], {
    cwd: runDir,
    env: { PATH: emptyPath, HOME: runDir },
    stdin: "ignore",
    stdout: "pipe",
    stderr: "pipe",
  });
  const base = `http://127.0.0.1:${adminPort}`;
  let ready = false;
  for (let attempt = 0; attempt < 150 && !ready; attempt++) {
    ready = await fetch(`${base}/readyz`).then((response) => response.ok, () => false);
    if (!ready) await Bun.sleep(100);
  }
  expect(ready).toBe(true);

  expect(await (await fetch(`${base}/ui/app.js`)).text()).toBe(CONSOLE_JS);
  expect(await (await fetch(`${base}/ui/`)).text()).toContain('src="/ui/app.js"');

  browser = await launchBrowser();
  const { page, pageErrors } = await newPage(browser);
  await page.goto(`${base}/ui/#/overview`, { timeout: WAIT_MS });
  await waitForText(page, '[data-testid="stat-brokers"] .stat-value', (text) => text === "1", "the overview from the executable");
  expect(pageErrors).toEqual([]);
});
