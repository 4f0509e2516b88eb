// How fetch data goes from a segment file to a socket, chosen per connection:
// - "mmap": socket.write() of a Bun.mmap view's slice. The kernel copies from the page cache; JavaScript
//   never touches the bytes. Works everywhere, including TLS (the bytes must pass through the TLS layer).
// - "sendfile": sendfile(2) on the socket's fd through bun:ffi, native/sendfile.c compiled at start with
//   bun's bundled TinyCC. One copy less on a real NIC; on loopback the receiver copies anyway and bench/
//   measured it slower (BENCHMARKS.md), which is why mmap is the default.
// When the C file does not compile or load (or BUNKA_NATIVE=0), the mmap path alone serves.
import { ThreadCounters } from "./thread-counters.ts";
import { join } from "node:path";

export type FileTransferMode = "mmap" | "sendfile";

/** Sends up to sizeBytes of fileFd at position to socketFd; returns bytes sent or -errno. */
export type SendfileFunction = (socketFd: number, fileFd: number, position: number, sizeBytes: number) => number;

export const EAGAIN = 11;
export const EINTR = 4;

const nativeSourcePath = join(import.meta.dir, "../../native/sendfile.c");

let loaded: { sendfile: SendfileFunction | null; reason: string } | null = null;

/** Compiles and loads native/sendfile.c once; null (with the reason in nativeSendfileStatus) when unavailable. */
export function nativeSendfile(): SendfileFunction | null {
  if (process.env.BUNKA_NATIVE === "0") return null;
  if (loaded) return loaded.sendfile;
  try {
    // Required lazily: a runtime without bun:ffi (or a failing compile) must leave the broker on mmap.
    const { cc, FFIType } = require("bun:ffi") as typeof import("bun:ffi");
    const library = cc({
      source: nativeSourcePath,
      symbols: { bunka_sendfile: { args: ["i32", "i32", "i64", "i64"], returns: FFIType.i64_fast } },
    });
    const call = library.symbols.bunka_sendfile as unknown as SendfileFunction;
    // A probe on invalid fds must come back as -EBADF: proves the symbol and the errno path work.
    const probe = call(-1, -1, 0, 1);
    if (probe !== -9) throw new Error(`probe returned ${probe}, expected -9 (EBADF)`);
    loaded = { sendfile: call, reason: `native/sendfile.c compiled with bun:ffi cc` };
  } catch (error) {
    loaded = { sendfile: null, reason: `native sendfile unavailable (${error instanceof Error ? error.message : String(error)}): using mmap` };
  }
  return loaded.sendfile;
}

export function nativeSendfileStatus(): string {
  if (process.env.BUNKA_NATIVE === "0") return "native code disabled by BUNKA_NATIVE=0";
  nativeSendfile();
  return loaded!.reason;
}

/**
 * The transfer mode for a new plain-TCP connection: BUNKA_FETCH_TRANSFER=sendfile|mmap, default mmap.
 * sendfile is only chosen when the native code loaded. TLS connections always use mmap (callers check).
 */
export function fileTransferMode(): FileTransferMode {
  const wanted = process.env.BUNKA_FETCH_TRANSFER === "sendfile" ? "sendfile" : "mmap";
  if (wanted === "sendfile" && nativeSendfile() !== null) return "sendfile";
  return "mmap";
}

/**
 * Process-wide counters, every network shard's included (thread-counters.ts): tests check which path carried
 * the bytes; the benchmark reports them. `sendfileArms`: EAGAIN from sendfile answered with the "1-byte arm"
 * (a 1-byte socket.write so Bun polls for drain).
 */
export const fileTransferCounters = new ThreadCounters(["sendfileCalls", "sendfileBytes", "sendfileArms", "mmapWrites", "mmapBytes"] as const);

/** The counters' totals over every thread, read as fields. */
export const fileTransferStats = {
  get sendfileCalls(): number {
    return fileTransferCounters.sum("sendfileCalls");
  },
  get sendfileBytes(): number {
    return fileTransferCounters.sum("sendfileBytes");
  },
  get sendfileArms(): number {
    return fileTransferCounters.sum("sendfileArms");
  },
  get mmapWrites(): number {
    return fileTransferCounters.sum("mmapWrites");
  },
  get mmapBytes(): number {
    return fileTransferCounters.sum("mmapBytes");
  },
};
