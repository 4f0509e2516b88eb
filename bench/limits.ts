// The machine's limits, measured in the same run as Bunka's figures with tight C loops
// (native/netbench.c) on worker threads: loopback TCP, file-to-socket sendfile, socket-to-file and
// sequential append. Every Bunka figure is printed as a ratio of one of these.
import { closeSync, mkdirSync, openSync, rmSync, writeSync } from "node:fs";
import { join } from "node:path";
import type { LimitReport, LimitTask } from "./limit-worker.ts";

export interface Limit {
  name: string;
  description: string;
  bytesPerSecond: number;
  /** Every run's rate, for the report. */
  runs: number[];
}

export interface Limits {
  loopbackTcp: Limit;
  fileToSocket: Limit;
  socketToFile: Limit;
  sequentialAppend: Limit;
}

const CHUNK_BYTES = 1024 * 1024;
const SENDFILE_SOURCE_BYTES = 256 * 1024 * 1024;
/**
 * Appends never wrap: every run writes fresh pages, as a broker appending new data does. (On this
 * project's Firecracker VMs, pages the guest has not touched lately must be faulted in from the host,
 * so rewriting a recycled file would measure a faster machine than the one the broker runs on.)
 */
const FILE_MAX_BYTES = 2 ** 52;
const WORKER_TIMEOUT_MS = 60_000;

function startWorker(task: LimitTask, onListening?: (port: number) => void): Promise<{ bytes: number; seconds: number }> {
  const worker = new Worker(new URL("./limit-worker.ts", import.meta.url).href);
  return new Promise<{ bytes: number; seconds: number }>((resolve, reject) => {
    const timer = setTimeout(() => {
      worker.terminate();
      reject(new Error(`limit worker ${task.op} did not finish in ${WORKER_TIMEOUT_MS} ms`));
    }, WORKER_TIMEOUT_MS);
    worker.onmessage = (event: MessageEvent<LimitReport>) => {
      const report = event.data;
      if (report.event === "listening") {
        onListening?.(report.port);
        return;
      }
      clearTimeout(timer);
      worker.terminate();
      if (report.event === "error") reject(new Error(report.message));
      else resolve({ bytes: report.bytes, seconds: report.seconds });
    };
    worker.onerror = (event) => {
      clearTimeout(timer);
      worker.terminate();
      reject(new Error(event.message));
    };
    worker.postMessage(task);
  });
}

/** A sender and a receiver over 127.0.0.1; the rate is what the receiver got over the sender's time. */
async function pair(receive: Omit<Extract<LimitTask, { op: "receive" }>, "op">, send: Omit<Extract<LimitTask, { op: "send" }>, "op" | "port">): Promise<number> {
  let sending: Promise<{ bytes: number; seconds: number }> | null = null;
  const receiving = startWorker({ op: "receive", ...receive }, (port) => {
    sending = startWorker({ op: "send", port, ...send });
  });
  const received = await receiving;
  const sent = await sending!;
  return received.bytes / Math.max(sent.seconds, received.seconds);
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)]!;
}

/** One socket-to-file run on its own (paired with a Bunka produce run for the headline ratio). */
export async function measureSocketToFileOnce(workDir: string, seconds: number): Promise<number> {
  mkdirSync(workDir, { recursive: true });
  const sinkPath = join(workDir, `socket-to-file-${process.pid}.bin`);
  try {
    return await pair({ mode: "file", bufferBytes: CHUNK_BYTES, filePath: sinkPath, fileMaxBytes: FILE_MAX_BYTES }, { mode: "memory", chunkBytes: CHUNK_BYTES, totalBytes: 64 * 1024 * 1024 * 1024, maxSeconds: seconds });
  } finally {
    rmSync(sinkPath, { force: true });
  }
}

export async function measureLimits(options: { quick: boolean; workDir: string; progress: (line: string) => void }): Promise<Limits> {
  const runs = options.quick ? 1 : 3;
  const seconds = options.quick ? 1 : 3;
  const totalBytes = 64 * 1024 * 1024 * 1024; // the time bound ends each run first
  mkdirSync(options.workDir, { recursive: true });
  const sourcePath = join(options.workDir, "sendfile-source.bin");
  const sinkPath = join(options.workDir, "socket-to-file.bin");
  const appendPath = join(options.workDir, "append.bin");

  // A page-cached source file for sendfile: written now, so its pages are in the cache.
  const fd = openSync(sourcePath, "w");
  const chunk = new Uint8Array(CHUNK_BYTES);
  for (let i = 0; i < chunk.byteLength; i++) chunk[i] = (i * 31) & 0xff;
  for (let written = 0; written < SENDFILE_SOURCE_BYTES; written += CHUNK_BYTES) writeSync(fd, chunk);
  closeSync(fd);

  const measure = async (name: string, description: string, once: () => Promise<number>): Promise<Limit> => {
    const rates: number[] = [];
    for (let run = 0; run < runs; run++) {
      rates.push(await once());
      for (const path of [sinkPath, appendPath]) rmSync(path, { force: true });
    }
    const limit = { name, description, bytesPerSecond: median(rates), runs: rates };
    options.progress(`limit ${name}: ${(limit.bytesPerSecond / 1e9).toFixed(2)} GB/s (runs ${rates.map((rate) => (rate / 1e9).toFixed(2)).join(", ")})`);
    return limit;
  };

  try {
    const loopbackTcp = await measure("loopback TCP", "C send() of a 1 MiB buffer to C recv() over 127.0.0.1", () =>
      pair({ mode: "discard", bufferBytes: CHUNK_BYTES }, { mode: "memory", chunkBytes: CHUNK_BYTES, totalBytes, maxSeconds: seconds }),
    );
    const fileToSocket = await measure("file-to-socket (sendfile)", "C sendfile() of a page-cached file, 1 MiB a call, to C recv() over 127.0.0.1", () =>
      pair({ mode: "discard", bufferBytes: CHUNK_BYTES }, { mode: "sendfile", chunkBytes: CHUNK_BYTES, totalBytes, maxSeconds: seconds, filePath: sourcePath, fileBytes: SENDFILE_SOURCE_BYTES }),
    );
    const socketToFile = await measure("socket-to-file", "C send() over 127.0.0.1 to C recv() + pwrite() in 16 KiB pieces (as the broker writes) appending to a new file (fresh page cache)", () =>
      pair({ mode: "file", bufferBytes: CHUNK_BYTES, filePath: sinkPath, fileMaxBytes: FILE_MAX_BYTES }, { mode: "memory", chunkBytes: CHUNK_BYTES, totalBytes, maxSeconds: seconds }),
    );
    const sequentialAppend = await measure("sequential append", "C pwrite() of 1 MiB chunks, in 16 KiB pieces as the broker writes, appending to a new file (fresh page cache)", async () => {
      const result = await startWorker({ op: "append", filePath: appendPath, chunkBytes: CHUNK_BYTES, totalBytes, fileMaxBytes: FILE_MAX_BYTES, maxSeconds: seconds });
      return result.bytes / result.seconds;
    });
    return { loopbackTcp, fileToSocket, socketToFile, sequentialAppend };
  } finally {
    for (const path of [sourcePath, sinkPath, appendPath]) rmSync(path, { force: true });
  }
}

if (import.meta.main) {
  const quick = process.argv.includes("--quick");
  const limits = await measureLimits({ quick, workDir: join(import.meta.dir, "../.bench-work"), progress: (line) => console.log(line) });
  console.log(limits);
}
