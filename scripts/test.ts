// Runs `bun test` and turns its summary (written to stderr in Bun's own format) into the
// `tests: N passed, N failed` line CI reads. Fails when no test ran: bun exits 0 on files with zero tests.
import { spawn } from "bun";
import { readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";

/**
 * What bun printed before each `(fail)` line since the previous test's line: the failed test's error and its
 * own output. Bounded: the first few failures, the last lines of each.
 */
class FailureDetails {
  private static readonly MAX_FAILURES = 10;
  private static readonly MAX_LINES = 60;
  private partial = "";
  private since: string[] = [];
  private file = "";
  private readonly failures: string[] = [];

  add(text: string): void {
    const lines = (this.partial + text).split("\n");
    this.partial = lines.pop() ?? "";
    for (const line of lines) this.line(line);
  }

  private line(line: string): void {
    if (/^\S.*\.test\.[cm]?[jt]sx?:$/.test(line)) {
      this.file = line;
      this.since = [];
    } else if (line.startsWith("(pass)") || line.startsWith("(skip)") || line.startsWith("(todo)")) {
      this.since = [];
    } else if (line.startsWith("(fail)")) {
      if (this.failures.length < FailureDetails.MAX_FAILURES) this.failures.push([this.file, ...this.since.slice(-FailureDetails.MAX_LINES), line].join("\n"));
      this.since = [];
    } else {
      this.since.push(line.length > 500 ? `${line.slice(0, 500)}…` : line);
      if (this.since.length > FailureDetails.MAX_LINES * 4) this.since = this.since.slice(-FailureDetails.MAX_LINES);
    }
  }

  print(): void {
    if (this.failures.length === 0) return;
    console.error(`\n---- failed tests, their errors again (${this.failures.length}${this.failures.length === FailureDetails.MAX_FAILURES ? " or more" : ""}) ----`);
    for (const failure of this.failures) console.error(`${failure}\n`);
  }
}

const testTimeoutMs = 180_000;
const args = process.argv.slice(2);
const child = spawn([process.execPath, "test", `--timeout=${testTimeoutMs}`, ...args], {
  stdout: "inherit",
  stderr: "pipe",
  env: { ...process.env },
});

let summary = "";
const decoder = new TextDecoder();
const failures = new FailureDetails();
for await (const chunk of child.stderr) {
  process.stderr.write(chunk);
  const text = decoder.decode(chunk, { stream: true });
  failures.add(text);
  summary += text;
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
// CI keeps only the end of the output: each failed test's error again, just above the closing line.
failures.print();
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

