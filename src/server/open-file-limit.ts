// The process's open-file limit (RLIMIT_NOFILE), raised from soft to hard at start.
//
// Why: every connection, segment file and index map costs a file descriptor; at the limit accept() and
// open() fail with EMFILE and the broker can neither answer clients nor write its checkpoints. Bun
// already raises the soft limit on Linux at start-up, but not everywhere and not when embedded, so
// the broker asks again (getrlimit/setrlimit through bun:ffi on libc) and reports what it got. Without
// libc (or FFI) the fallback only reads the limit (/proc/self/limits) and changes nothing.
import { readFileSync } from "node:fs";

export interface OpenFileLimit {
  /** The soft limit now in force (what counts); null when it could not be read. */
  soft: number | null;
  hard: number | null;
  /** The soft limit before this call raised it. */
  softBefore: number | null;
  /** How the limit was read: "ffi" (getrlimit/setrlimit) or "proc" (read only). */
  source: "ffi" | "proc" | "unknown";
}

const RLIMIT_NOFILE = process.platform === "darwin" ? 8 : 7;
/** darwin: setrlimit refuses RLIM_INFINITY for NOFILE; OPEN_MAX-like cap used by the kernel. */
const DARWIN_NOFILE_MAX = 24576;

let cached: OpenFileLimit | null = null;

/** Raises the soft RLIMIT_NOFILE to the hard limit (once per process) and returns the outcome. */
export function raiseOpenFileLimit(): OpenFileLimit {
  cached ??= raiseWithLibc() ?? readFromProc();
  return cached;
}

function raiseWithLibc(): OpenFileLimit | null {
  let libc;
  try {
    // Loaded lazily: bun:ffi is only needed here, and a runtime without it takes the fallback.
    const { dlopen, FFIType, ptr } = require("bun:ffi") as typeof import("bun:ffi");
    const names = process.platform === "darwin" ? ["libSystem.B.dylib"] : ["libc.so.6", "libc.so"];
    for (const name of names) {
      try {
        libc = dlopen(name, {
          getrlimit: { args: [FFIType.i32, FFIType.ptr], returns: FFIType.i32 },
          setrlimit: { args: [FFIType.i32, FFIType.ptr], returns: FFIType.i32 },
        });
        break;
      } catch {
        // try the next name
      }
    }
    if (!libc) return null;
    // struct rlimit { rlim_t rlim_cur; rlim_t rlim_max; }: two 64-bit values on every 64-bit target.
    const limits = new BigUint64Array(2);
    if (libc.symbols.getrlimit(RLIMIT_NOFILE, ptr(limits)) !== 0) return null;
    const softBefore = limits[0]!;
    let hard = limits[1]!;
    if (process.platform === "darwin" && hard > BigInt(DARWIN_NOFILE_MAX)) hard = BigInt(DARWIN_NOFILE_MAX);
    if (softBefore < hard) {
      limits[0] = hard;
      libc.symbols.setrlimit(RLIMIT_NOFILE, ptr(limits)); // refused (EPERM) leaves the old limit: re-read below
    }
    if (libc.symbols.getrlimit(RLIMIT_NOFILE, ptr(limits)) !== 0) return null;
    return { soft: toLimit(limits[0]!), hard: toLimit(limits[1]!), softBefore: toLimit(softBefore), source: "ffi" };
  } catch {
    return null;
  } finally {
    libc?.close();
  }
}

/** RLIM_INFINITY (all ones) and anything beyond a safe integer read as "no limit". */
function toLimit(value: bigint): number | null {
  return value >= BigInt(Number.MAX_SAFE_INTEGER) ? Number.MAX_SAFE_INTEGER : Number(value);
}

function readFromProc(): OpenFileLimit {
  try {
    const line = readFileSync("/proc/self/limits", "utf8").split("\n").find((text) => text.startsWith("Max open files"));
    const match = line && /Max open files\s+(\S+)\s+(\S+)/.exec(line);
    if (match) {
      const parse = (text: string) => (text === "unlimited" ? Number.MAX_SAFE_INTEGER : Number(text));
      const soft = parse(match[1]!);
      return { soft, hard: parse(match[2]!), softBefore: soft, source: "proc" };
    }
  } catch {
    // not Linux
  }
  return { soft: null, hard: null, softBefore: null, source: "unknown" };
}

/** Connections allowed when max.connections is not set: half the descriptors, the other half for log files. */
export const MAX_CONNECTIONS_WHEN_LIMIT_UNKNOWN = 4096;
export const MAX_CONNECTIONS_FLOOR = 64;

export function defaultMaxConnections(limit: OpenFileLimit): number {
  if (limit.soft === null) return MAX_CONNECTIONS_WHEN_LIMIT_UNKNOWN;
  const half = Math.floor(Math.min(limit.soft, 2 ** 31 - 1) / 2);
  return Math.max(MAX_CONNECTIONS_FLOOR, half);
}
