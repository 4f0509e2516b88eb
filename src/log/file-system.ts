// The disk as a seam: everything the log layer does to files (segments, indexes, checkpoints, recovery)
// goes through a FileSystem, so test/sim/ can run the same code on a simulated disk that loses unsynced
// writes, tears the last one or flips bits at a seeded "power loss" (TigerBeetle's testing/storage.zig).
//
// `nodeFileSystem` is node:fs and Bun.mmap exactly as the log layer called them before the seam; its
// methods are the library functions themselves where the signatures match, so the hot path (one
// writeSync/writevSync per append) pays one property load more and nothing else.
import * as fs from "node:fs";

/** Flags for `open`: the node:fs constants (the simulated disk interprets the same bits). */
export const OPEN_READ_ONLY = fs.constants.O_RDONLY;
export const OPEN_WRITE_ONLY = fs.constants.O_WRONLY;
export const OPEN_READ_WRITE = fs.constants.O_RDWR;
export const OPEN_CREATE = fs.constants.O_CREAT;
export const OPEN_TRUNCATE = fs.constants.O_TRUNC;

export interface FileStat {
  size: number;
  /** The inode: a file renamed over a path is another file. */
  ino: number;
  mtimeMs: number;
}

export interface FileSystem {
  open(filePath: string, flags: number, mode?: number): number;
  close(fd: number): void;
  /** pread: may return fewer bytes than asked (0 at the end of the file). */
  read(fd: number, buffer: Uint8Array, offset: number, length: number, position: number): number;
  /** pwrite: may write fewer bytes than asked (disk full). */
  write(fd: number, buffer: Uint8Array, offset: number, length: number, position: number): number;
  /** pwritev of several buffers at `position`. */
  writev(fd: number, buffers: Uint8Array[], position: number): number;
  fsync(fd: number): void;
  fdatasync(fd: number): void;
  /** fsync on the threadpool (a rolled segment's sync must not block the worker). */
  fsyncAsync(fd: number): Promise<void>;
  ftruncate(fd: number, lengthBytes: number): void;
  truncate(filePath: string, lengthBytes: number): void;
  fstat(fd: number): FileStat;
  stat(filePath: string): FileStat;
  exists(filePath: string): boolean;
  rename(fromPath: string, toPath: string): void;
  /** Sets the file's modification time (utimes; the access time gets the same value). */
  setModifiedTime(filePath: string, mtimeMs: number): void;
  /** Removes a file; a missing one is not an error (rm -f). */
  unlink(filePath: string): void;
  /** Removes a directory and everything in it; a missing one is not an error (rm -rf). */
  removeTree(dirPath: string): void;
  readdir(dirPath: string): string[];
  /** mkdir -p. */
  mkdir(dirPath: string): void;
  /** The whole file; throws an error with code "ENOENT" when it does not exist. */
  readFile(filePath: string): Uint8Array;
  /**
   * A shared, writable mapping of the whole file (Bun.mmap): writes through it reach the file, writes to
   * the file inside the mapped length show in it. An empty file cannot be mapped.
   */
  mmap(filePath: string): Uint8Array;
}

/**
 * The slow-fsync test fault (src/faults/): milliseconds every fsync on this thread waits first, read from a
 * cell the socket thread writes; null until a broker hands its workers the cell, so the cost is one check.
 */
let fsyncDelayMs: Int32Array | null = null;
const fsyncWaitCell = new Int32Array(new SharedArrayBuffer(4));

export function slowFsyncsBy(cell: Int32Array): void {
  fsyncDelayMs = cell;
}

function waitForFsyncFault(): void {
  const delayMs = Atomics.load(fsyncDelayMs!, 0);
  // Nothing ever notifies this cell: the wait lasts delayMs, blocking the thread as a slow disk would.
  if (delayMs > 0) Atomics.wait(fsyncWaitCell, 0, 0, delayMs);
}

export const nodeFileSystem: FileSystem = {
  open: (filePath, flags, mode = 0o644) => fs.openSync(filePath, flags, mode),
  close: fs.closeSync,
  read: fs.readSync as FileSystem["read"],
  write: fs.writeSync as FileSystem["write"],
  writev: fs.writevSync as FileSystem["writev"],
  fsync: (fd) => {
    if (fsyncDelayMs !== null) waitForFsyncFault();
    fs.fsyncSync(fd);
  },
  fdatasync: (fd) => {
    if (fsyncDelayMs !== null) waitForFsyncFault();
    fs.fdatasyncSync(fd);
  },
  fsyncAsync: (fd) => new Promise<void>((resolve, reject) => fs.fsync(fd, (error) => (error ? reject(error) : resolve()))),
  ftruncate: fs.ftruncateSync,
  truncate: fs.truncateSync,
  fstat: (fd) => fs.fstatSync(fd),
  stat: (filePath) => fs.statSync(filePath),
  exists: fs.existsSync,
  rename: fs.renameSync,
  setModifiedTime: (filePath, mtimeMs) => fs.utimesSync(filePath, new Date(mtimeMs), new Date(mtimeMs)),
  unlink: (filePath) => fs.rmSync(filePath, { force: true }),
  removeTree: (dirPath) => fs.rmSync(dirPath, { recursive: true, force: true }),
  readdir: (dirPath) => fs.readdirSync(dirPath),
  mkdir: (dirPath) => void fs.mkdirSync(dirPath, { recursive: true }),
  readFile: (filePath) => fs.readFileSync(filePath),
  mmap: (filePath) => Bun.mmap(filePath, { shared: true }),
};

/** Makes a create, rename or unlink in `dir` durable. */
export function fsyncDirectoryWith(files: FileSystem, dir: string): void {
  const fd = files.open(dir, OPEN_READ_ONLY);
  try {
    files.fsync(fd);
  } finally {
    files.close(fd);
  }
}

/** The file as UTF-8 text, or null when it does not exist. */
export function readTextFileOrNull(files: FileSystem, filePath: string): string | null {
  try {
    return new TextDecoder().decode(files.readFile(filePath));
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return null;
    throw error;
  }
}

/** The size of the volume a directory is on, and what of it a non-root writer may still use (statfs). */
export interface VolumeSpace {
  totalBytes: number;
  usableBytes: number;
}

/** statfs of `dir`'s volume; null when it cannot be read (DescribeLogDirs then reports -1, "unknown"). */
export function volumeSpace(dir: string): VolumeSpace | null {
  try {
    const stats = fs.statfsSync(dir);
    // bavail, not bfree: what Java's FileStore.getUsableSpace (Kafka's usable bytes) counts.
    return { totalBytes: stats.blocks * stats.bsize, usableBytes: stats.bavail * stats.bsize };
  } catch {
    return null;
  }
}
