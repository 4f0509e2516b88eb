// One broker per data dir: a second one would corrupt the logs. The guard is an OS file lock on
// `<dataDir>/.lock` (flock(LOCK_EX | LOCK_NB) through bun:ffi), held by an open descriptor for the life of
// the broker, as Kafka holds FileChannel.tryLock on its `.lock`. The kernel drops the lock the moment the
// process dies, even while it is a zombie nobody has reaped yet, and a PID written by a process long gone
// (after a reboot the number may belong to anything) means nothing: only a live holder blocks a start.
// flock locks belong to the open file description, so a second broker in the same process opening the
// file again is refused too.
//
// The file is never deleted: unlinking a lock file that others may have open lets two processes hold
// locks on two different inodes. The PID inside is only for the error message.
//
// Without bun:ffi or a libc to load (another runtime, an unusual platform), the fallback is the PID file:
// a start is refused while the recorded process answers kill(pid, 0) and is not a zombie. That fallback
// can be fooled by a reused PID; the log line at start says which mechanism is in use.
import { closeSync, constants, ftruncateSync, openSync, readFileSync, writeSync } from "node:fs";
import { join } from "node:path";

export const LOCK_FILE = ".lock";

const LOCK_EX = 2;
const LOCK_NB = 4;
/** EWOULDBLOCK: Linux (= EAGAIN) and the BSDs/macOS. */
const EWOULDBLOCK_CODES = new Set([11, 35]);

interface NativeFlock {
  flock(fd: number, operation: number): number;
  errno(): number;
}

let native: NativeFlock | null | undefined;

/** libc's flock and errno, loaded once; null when this runtime or platform cannot provide them. */
function nativeFlock(): NativeFlock | null {
  if (native !== undefined) return native;
  native = null;
  if (process.env.BUNKA_NATIVE === "0") return native;
  try {
    // Required lazily: a runtime without bun:ffi falls back to the PID file instead of failing to start.
    const { dlopen, read } = require("bun:ffi") as typeof import("bun:ffi");
    const candidates =
      process.platform === "darwin"
        ? [{ path: "libSystem.B.dylib", errno: "__error" }]
        : [
            { path: "libc.so.6", errno: "__errno_location" },
            { path: "libc.musl-x86_64.so.1", errno: "__errno_location" },
            { path: "libc.musl-aarch64.so.1", errno: "__errno_location" },
          ];
    for (const candidate of candidates) {
      try {
        const library = dlopen(candidate.path, {
          flock: { args: ["i32", "i32"], returns: "i32" },
          [candidate.errno]: { args: [], returns: "ptr" },
        });
        const errnoLocation = library.symbols[candidate.errno] as unknown as () => number;
        native = {
          flock: library.symbols.flock as unknown as (fd: number, operation: number) => number,
          errno: () => read.i32(errnoLocation() as never, 0),
        };
        return native;
      } catch {
        // Try the next name.
      }
    }
  } catch {
    // No bun:ffi: the PID file fallback below.
  }
  return native;
}

export class DataDirLock {
  private constructor(
    readonly dataDir: string,
    private fd: number | null,
    /** "flock" or "pid file": said once in the start-up log. */
    readonly mechanism: "flock" | "pid file",
  ) {}

  /** Takes the lock or throws a message naming the data dir (and the holder's PID when it is known). */
  static acquire(dataDir: string): DataDirLock {
    const lockPath = join(dataDir, LOCK_FILE);
    const flock = nativeFlock();
    if (!flock) return DataDirLock.acquireByPid(dataDir, lockPath);
    const fd = openSync(lockPath, constants.O_RDWR | constants.O_CREAT, 0o644);
    try {
      if (flock.flock(fd, LOCK_EX | LOCK_NB) !== 0) {
        const errno = flock.errno();
        if (!EWOULDBLOCK_CODES.has(errno)) throw new Error(`cannot lock ${lockPath}: flock failed with errno ${errno}`);
        throw new Error(`data dir ${dataDir} is in use by another broker (${holderDescription(lockPath)} holds the lock on ${lockPath})`);
      }
      // The lock is ours; the PID is only for the message another broker prints.
      ftruncateSync(fd, 0);
      writeSync(fd, `${process.pid}\n`, 0);
    } catch (error) {
      closeSync(fd);
      throw error;
    }
    return new DataDirLock(dataDir, fd, "flock");
  }

  private static acquireByPid(dataDir: string, lockPath: string): DataDirLock {
    const pid = readPid(lockPath);
    if (pid !== null && pid !== process.pid && isRunning(pid)) throw new Error(`data dir ${dataDir} is in use by process ${pid} (PID in ${lockPath})`);
    const fd = openSync(lockPath, constants.O_RDWR | constants.O_CREAT | constants.O_TRUNC, 0o644);
    writeSync(fd, `${process.pid}\n`, 0);
    return new DataDirLock(dataDir, fd, "pid file");
  }

  /** Closing the descriptor releases the flock; the PID is cleared so a reader never names a stopped broker. */
  release(): void {
    if (this.fd === null) return;
    const fd = this.fd;
    this.fd = null;
    try {
      ftruncateSync(fd, 0);
    } finally {
      closeSync(fd);
    }
  }
}

function readPid(lockPath: string): number | null {
  try {
    const pid = Number(readFileSync(lockPath, "utf8").trim());
    return Number.isInteger(pid) && pid > 0 ? pid : null;
  } catch {
    return null;
  }
}

function holderDescription(lockPath: string): string {
  const pid = readPid(lockPath);
  return pid === null ? "another process" : pid === process.pid ? "this process" : `process ${pid}`;
}

/** kill(pid, 0) succeeds for a zombie too: on Linux /proc tells a zombie (state Z) apart. */
function isRunning(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (error) {
    // EPERM: the process exists but belongs to someone else.
    return (error as NodeJS.ErrnoException).code === "EPERM";
  }
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    return stat.slice(stat.lastIndexOf(")") + 2, stat.lastIndexOf(")") + 3) !== "Z";
  } catch {
    return true;
  }
}
