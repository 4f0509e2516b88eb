// Runs `bun test` and turns its summary (written to stderr in Bun's own format) into the
// `tests: N passed, N failed` line CI reads. Fails when no test ran: bun exits 0 on files with zero tests.
import { spawn } from "bun";
import { readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";

const testTimeoutMs = 180_000;
const args = process.argv.slice(2);
const child = spawn([process.execPath, "test", `--timeout=${testTimeoutMs}`, ...args], {
  stdout: "inherit",
  stderr: "pipe",
  env: { ...process.env },
});

let summary = "";
const decoder = new TextDecoder();
for await (const chunk of child.stderr) {
  process.stderr.write(chunk);
  summary += decoder.decode(chunk, { stream: true });
  if (summary.length > 1_000_000) summary = summary.slice(-100_000);
}
const exitCode = await child.exited;

const count = (label: string): number => {
  const matches = [...summary.matchAll(new RegExp(`^\\s*(\\d+) ${label}$`, "gm"))];
  return matches.length ? Number(matches[matches.length - 1]![1]) : 0;
};
let passed = count("pass");
let failed = count("fail");
// An unhandled error outside a test makes bun exit 1 without counting a failed test.
if (exitCode !== 0 && failed === 0) failed = 1;
let nodeSuitesOk = true;
// The Node launcher's suites run under Node, not Bun (test/node-launcher/): on a full run, or when asked for.
if (args.filter((arg) => !arg.startsWith("-")).length === 0 || args.some((arg) => arg.includes("node-launcher"))) {
  const node = await runNodeSuites();
  passed += node.passed;
  failed += node.failed;
  nodeSuitesOk = node.ok;
}
console.log(`tests: ${passed} passed, ${failed} failed`);
process.exit(passed > 0 && failed === 0 && exitCode === 0 && nodeSuitesOk ? 0 : 1);

/** node:test (TAP summary) and Vitest (JSON report) suites of the Node launcher, counted like bun's tests. */
async function runNodeSuites(): Promise<{ passed: number; failed: number; ok: boolean }> {
  const suiteTimeoutMs = 300_000;
  const run = async (command: string[]): Promise<{ output: string; exitCode: number }> => {
    let suite;
    try {
      suite = spawn(command, { stdout: "pipe", stderr: "inherit", env: { ...process.env, FORCE_COLOR: "0" }, timeout: suiteTimeoutMs, killSignal: "SIGKILL" });
    } catch (error) {
      // No node on PATH: the suites count as failed rather than ending the run without its closing line.
      console.error(`cannot run ${command.join(" ")}: ${String(error)}`);
      return { output: "", exitCode: 1 };
    }
    const output = await new Response(suite.stdout).text();
    process.stderr.write(output.slice(-20_000));
    return { output, exitCode: await suite.exited };
  };
  let passedCount = 0;
  let failedCount = 0;
  let ok = true;
  const nodeTest = await run(["node", "--test", "--test-reporter=tap", "test/node-launcher/node-test-suite.mjs"]);
  const tapCount = (label: string) => Number(nodeTest.output.match(new RegExp(`^# ${label} (\\d+)$`, "m"))?.[1] ?? 0);
  passedCount += tapCount("pass");
  failedCount += tapCount("fail") + tapCount("cancelled");
  if (nodeTest.exitCode !== 0 || tapCount("pass") === 0) ok = false;
  const reportPath = `${tmpdir()}/bunka-vitest-${process.pid}.json`;
  const vitest = await run(["node", "node_modules/vitest/vitest.mjs", "run", "--config", "test/node-launcher/vitest.config.mjs", "--reporter=json", `--outputFile=${reportPath}`]);
  try {
    const report = JSON.parse(readFileSync(reportPath, "utf8")) as { numPassedTests: number; numFailedTests: number };
    passedCount += report.numPassedTests;
    failedCount += report.numFailedTests;
    if (report.numPassedTests === 0) ok = false;
  } catch {
    ok = false;
  } finally {
    rmSync(reportPath, { force: true });
  }
  if (vitest.exitCode !== 0) ok = false;
  if (!ok && failedCount === 0) failedCount = 1;
  console.error(`node launcher suites: ${passedCount} passed, ${failedCount} failed`);
  return { passed: passedCount, failed: failedCount, ok };
}
