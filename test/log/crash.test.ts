import { afterEach, expect, test } from "bun:test";
import * as path from "node:path";
import { PartitionLog } from "../../src/log/partition-log.ts";
import { recordValues, sliceBytes, tempDir } from "./helpers.ts";

let cleanups: (() => void)[] = [];
afterEach(() => {
  for (const cleanup of cleanups) cleanup();
  cleanups = [];
});

const CHILD = path.join(import.meta.dir, "crash-child.ts");
/** The child is killed once it reported this many appends (mid-stream), or at RUN_MS_MAX on a slow machine. */
const KILL_AFTER_REPORTS = 400;
const RUN_MS_MAX = 30_000;

interface Reported {
  tag: string;
  baseOffset: number;
  lastOffset: number;
}

/** Runs the child until it reported KILL_AFTER_REPORTS appends, kills it with SIGKILL, returns the appends it reported. */
async function runAndKill(dir: string, tag: string): Promise<{ openedAt: number; reported: Reported[] }> {
  const child = Bun.spawn([process.execPath, CHILD, dir, tag], { stdout: "pipe", stderr: "inherit" });
  const timer = setTimeout(() => child.kill("SIGKILL"), RUN_MS_MAX);
  let text = "";
  const decoder = new TextDecoder();
  let newlines = 0;
  for await (const chunk of child.stdout) {
    const part = decoder.decode(chunk);
    text += part;
    for (let i = part.indexOf("\n"); i >= 0; i = part.indexOf("\n", i + 1)) newlines++;
    if (newlines > KILL_AFTER_REPORTS) child.kill("SIGKILL");
  }
  clearTimeout(timer);
  await child.exited;
  expect(child.signalCode).toBe("SIGKILL");
  const lines = text.split("\n");
  lines.pop(); // a line cut by the kill is not a report
  const openedAt = Number(lines.shift()!.split(" ")[1]);
  const reported = lines.map((line) => {
    const [name, base, last] = line.split(" ");
    return { tag: name!, baseOffset: Number(base), lastOffset: Number(last) };
  });
  return { openedAt, reported };
}

test("appends reported before SIGKILL survive recovery; offsets stay contiguous", async () => {
  const temp = tempDir("bunka-crash-");
  cleanups.push(temp.cleanup);
  const allReported: Reported[] = [];
  for (const tag of ["a", "b"]) {
    const { openedAt, reported } = await runAndKill(temp.dir, tag);
    expect(reported.length).toBeGreaterThan(100);
    // The child continued exactly after everything the previous run reported.
    const previous = allReported[allReported.length - 1];
    expect(openedAt).toBeGreaterThanOrEqual(previous ? previous.lastOffset + 1 : 0);
    allReported.push(...reported);
  }

  const log = PartitionLog.open({ dir: temp.dir, config: { segmentBytes: 256 * 1024, indexIntervalBytes: 1024 }, recover: true });
  try {
    expect(log.segments.length).toBeGreaterThan(2);
    expect(log.logEndOffset).toBeGreaterThanOrEqual(allReported[allReported.length - 1]!.lastOffset + 1);
    const valueAt = new Map<number, string>();
    let offset = 0;
    for (let guard = 0; guard < 1_000_000 && offset < log.logEndOffset; guard++) {
      const result = log.read(offset, 512 * 1024, log.logEndOffset, true);
      if (result.errorCode !== 0 || result.slice === null) throw new Error(`nothing at ${offset}`);
      for (const record of await recordValues(sliceBytes(result.slice))) {
        expect(record.offset).toBe(offset); // contiguous, no gap, no repeat
        valueAt.set(record.offset, record.value.replace(/#+$/, ""));
        offset++;
      }
    }
    expect(offset).toBe(log.logEndOffset);
    for (const report of allReported) {
      for (let record = 0; record <= report.lastOffset - report.baseOffset; record++) {
        expect(valueAt.get(report.baseOffset + record)).toBe(`${report.tag}-${record}`);
      }
    }
  } finally {
    log.close();
  }
}, 30_000);
