// The machine's cost of memory it has not touched lately, with no broker at all: one thread writes 16 KiB
// pieces at a paced rate (the end-to-end latency curve's 10%, about 61 MB/s) and its own CPU time is read
// from /proc every second. Three runs:
// * a new file on the data dir's filesystem (what a partition's active segment does),
// * a new file on tmpfs (memory only: no disk, no writeback, no dirty throttling),
// * the same 512 MiB of a file written over and over (page-cache pages the writer already touched).
// On the dev VM (free page reporting to the host) the first two turn expensive once the page cache has grown by
// about 1.5 GB, the third never does: the cost is the guest's first touch of memory, not the broker.
//
//   bun bench/cold-memory.ts [--rate-mbs=61] [--seconds=45] [--dir=/tmp] [--piece-kib=16] [--runs=file,tmpfs,warm]
//
// Prints a table and writes bench/results/cold-memory.json.
import { dlopen, FFIType } from "bun:ffi";
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync, writeSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";

const args = process.argv.slice(2);
const option = (name: string, fallback: string) => args.find((arg) => arg.startsWith(`--${name}=`))?.slice(name.length + 3) ?? fallback;
const rateBytesPerSecond = Number(option("rate-mbs", "61")) * 1e6;
const seconds = Math.min(300, Math.max(5, Number(option("seconds", "45"))));
const dataDir = option("dir", tmpdir());
const PIECE_BYTES = Number(option("piece-kib", "16")) * 1024;
const only = option("runs", "file,tmpfs,warm").split(",");
const WARM_WRAP_BYTES = 512 * 1024 * 1024;
const EXPENSIVE_SYSTEM_CORES = 0.2;

const libc = dlopen("libc.so.6", { gettid: { args: [], returns: FFIType.i32 } });

/** This thread's user and system CPU seconds (utime, stime of /proc/self/task/<tid>/stat). */
function threadCpuSeconds(tid: number): { user: number; system: number } {
  const stat = readFileSync(`/proc/self/task/${tid}/stat`, "utf8");
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  const ticksPerSecond = 100;
  return { user: Number(fields[11]) / ticksPerSecond, system: Number(fields[12]) / ticksPerSecond };
}

interface Second {
  second: number;
  writtenGB: number;
  systemCores: number;
  userCores: number;
  worstWriteMs: number;
}

interface Run {
  what: string;
  path: string;
  seconds: Second[];
  /** Bytes written (GB) when the writer's system time first passed EXPENSIVE_SYSTEM_CORES; null if never. */
  expensiveFromGB: number | null;
  systemCoresBefore: number;
  systemCoresAfter: number | null;
  worstWriteMs: number;
}

function paced(what: string, path: string, wrapBytes: number): Run {
  const fd = openSync(path, "w");
  const piece = new Uint8Array(PIECE_BYTES).fill(0x5a);
  const tid = libc.symbols.gettid();
  const rows: Second[] = [];
  let position = 0;
  let owedBytes = 0;
  const startMs = performance.now();
  let lastMs = startMs;
  let before = threadCpuSeconds(tid);
  let worst = 0;
  try {
    while (rows.length < seconds) {
      const nowMs = performance.now();
      owedBytes += ((nowMs - lastMs) * rateBytesPerSecond) / 1000;
      lastMs = nowMs;
      // Bounded: at most one second's bytes per turn, so a stalled machine cannot make the loop run away.
      for (let pieces = 0; owedBytes >= PIECE_BYTES && pieces < rateBytesPerSecond / PIECE_BYTES; pieces++) {
        const writeStartMs = performance.now();
        writeSync(fd, piece, 0, PIECE_BYTES, position % wrapBytes);
        worst = Math.max(worst, performance.now() - writeStartMs);
        position += PIECE_BYTES;
        owedBytes -= PIECE_BYTES;
      }
      if (nowMs - startMs >= (rows.length + 1) * 1000) {
        const after = threadCpuSeconds(tid);
        rows.push({ second: rows.length + 1, writtenGB: position / 1e9, systemCores: after.system - before.system, userCores: after.user - before.user, worstWriteMs: worst });
        before = after;
        worst = 0;
      }
      Bun.sleepSync(1);
    }
  } finally {
    closeSync(fd);
    rmSync(path, { force: true });
  }
  const firstExpensive = rows.findIndex((row) => row.systemCores > EXPENSIVE_SYSTEM_CORES);
  const mean = (list: Second[]) => (list.length ? list.reduce((sum, row) => sum + row.systemCores, 0) / list.length : 0);
  return {
    what,
    path,
    seconds: rows,
    expensiveFromGB: firstExpensive < 0 ? null : rows[firstExpensive]!.writtenGB,
    systemCoresBefore: mean(firstExpensive < 0 ? rows : rows.slice(0, firstExpensive)),
    systemCoresAfter: firstExpensive < 0 ? null : mean(rows.slice(firstExpensive)),
    worstWriteMs: Math.max(...rows.map((row) => row.worstWriteMs)),
  };
}

const fileDir = mkdtempSync(join(dataDir, "bunka-cold-memory-"));
const runs: Run[] = [];
try {
  if (only.includes("file")) runs.push(paced("new file, data dir's filesystem", join(fileDir, "segment"), Number.MAX_SAFE_INTEGER));
  if (only.includes("tmpfs")) runs.push(paced("new file, tmpfs", `/dev/shm/bunka-cold-memory-${process.pid}`, Number.MAX_SAFE_INTEGER));
  if (only.includes("warm")) runs.push(paced("512 MiB written over and over", join(fileDir, "warm"), WARM_WRAP_BYTES));
} finally {
  rmSync(fileDir, { recursive: true, force: true });
}

const lines = [
  `Paced ${PIECE_BYTES / 1024} KiB writes at ${(rateBytesPerSecond / 1e6).toFixed(0)} MB/s for ${seconds} s per run; the writer thread's own CPU (/proc/self/task).`,
  "",
  "| Run | system cores before | from (GB written) | system cores after | worst write |",
  "|---|---|---|---|---|",
  ...runs.map(
    (run) =>
      `| ${run.what} | ${run.systemCoresBefore.toFixed(2)} | ${run.expensiveFromGB === null ? "never" : run.expensiveFromGB.toFixed(2)} | ${run.systemCoresAfter === null ? "–" : run.systemCoresAfter.toFixed(2)} | ${run.worstWriteMs.toFixed(1)} ms |`,
  ),
];
console.log(lines.join("\n"));
const resultsPath = resolve(import.meta.dir, "results/cold-memory.json");
writeFileSync(resultsPath, JSON.stringify({ measuredAt: new Date().toISOString(), rateBytesPerSecond, seconds, runs }, null, 2) + "\n");
console.log(`\nwritten to ${resultsPath}`);
