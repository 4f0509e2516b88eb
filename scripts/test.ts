// Runs `bun test` and turns its summary (written to stderr in Bun's own format) into the
// `tests: N passed, N failed` line CI reads. Fails when no test ran: bun exits 0 on files with zero tests.
import { spawn } from "bun";

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
const passed = count("pass");
let failed = count("fail");
// An unhandled error outside a test makes bun exit 1 without counting a failed test.
if (exitCode !== 0 && failed === 0) failed = 1;
console.log(`tests: ${passed} passed, ${failed} failed`);
process.exit(passed > 0 && failed === 0 && exitCode === 0 ? 0 : 1);
