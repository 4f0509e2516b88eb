// A disk in memory that can lose power (TigerBeetle's testing/storage.zig, for Bunka's log layer).
//
// Every file keeps two contents: what the page cache holds now (what reads, mappings and fstat see) and
// what the last fsync/fdatasync made durable, plus the writes and truncations since then. Directories
// keep the creates, renames and unlinks since their last fsync. `crash()` is a power loss: a seeded PRNG
// decides, per directory, how many of its pending operations reached the journal (a prefix, in order),
// and per file what happened to its unsynced data: all lost, all written back, the last write torn at a
// random byte, pages written back in any order (a lost page past the old end reads as zeros), or bits
// flipped in unsynced bytes. Synced bytes are never touched: a crash does not corrupt what fsync promised.
//
// Mappings are views over the file's buffer, so writes through them and writes to the file inside the
// mapped length show in each other, as with a shared mmap. The buffer is allocated with room to grow;
// a file grown past its room gets a new buffer and older views stop following it, which the log layer
// allows for (it maps again after growing a file). A crash gives every file a new buffer: views made
// before it see nothing of the new life.
import * as path from "node:path";
import type { FileStat, FileSystem } from "../../src/log/file-system.ts";
import { OPEN_CREATE, OPEN_TRUNCATE } from "../../src/log/file-system.ts";
import { assert } from "../../src/util/assert.ts";
import type { Prng } from "./prng.ts";

const PAGE_BYTES = 4096;

type PendingFileOperation = { kind: "write"; position: number; lengthBytes: number } | { kind: "truncate"; lengthBytes: number };

type PendingDirectoryOperation =
  | { kind: "link"; name: string; file: SimulatedFile }
  | { kind: "unlink"; name: string }
  // One journal entry: a power loss keeps both names' change or neither (found by cleaner-crash.test.ts,
  // seed 100008: as an unlink plus a link, a crash between them lost the renamed file).
  | { kind: "rename"; fromName: string; name: string; file: SimulatedFile };

class SimulatedFile {
  buffer: Uint8Array;
  lengthBytes = 0;
  durable = new Uint8Array(0);
  pending: PendingFileOperation[] = [];
  /** Set only by setModifiedTime (the simulation has no clock of its own); metadata, kept at a crash. */
  mtimeMs = 0;

  constructor(readonly ino: number) {
    this.buffer = new Uint8Array(PAGE_BYTES);
  }

  ensureCapacity(lengthBytes: number): void {
    if (lengthBytes <= this.buffer.byteLength) return;
    const grown = new Uint8Array(Math.max(lengthBytes, this.buffer.byteLength * 2));
    grown.set(this.buffer.subarray(0, this.lengthBytes));
    this.buffer = grown;
  }

  setLength(lengthBytes: number): void {
    if (lengthBytes < this.lengthBytes) this.buffer.fill(0, lengthBytes, this.lengthBytes);
    else this.ensureCapacity(lengthBytes);
    this.lengthBytes = lengthBytes;
  }

  sync(): void {
    this.durable = this.buffer.slice(0, this.lengthBytes);
    this.pending = [];
  }

  /** Replaces the content after a crash, in a new buffer. */
  reset(content: Uint8Array): void {
    this.buffer = new Uint8Array(Math.max(PAGE_BYTES, content.byteLength));
    this.buffer.set(content);
    this.lengthBytes = content.byteLength;
    this.durable = content.slice();
    this.pending = [];
  }
}

interface OpenFile {
  file: SimulatedFile | null;
  /** Set for a directory opened to be fsynced. */
  directory: string | null;
}

export type CrashFate = "lost" | "kept" | "torn" | "pages" | "bitflip";

/** Thrown by every operation from the one armed with `powerLossAtOperation` until `crash()`: the machine is off. */
export class SimulatedPowerLoss extends Error {
  override name = "SimulatedPowerLoss";
}

export class SimulatedFileSystem implements FileSystem {
  private readonly names = new Map<string, SimulatedFile>();
  private readonly durableNames = new Map<string, SimulatedFile>();
  private readonly directories = new Set<string>(["/"]);
  private readonly pendingByDirectory = new Map<string, PendingDirectoryOperation[]>();
  private readonly fds = new Map<number, OpenFile>();
  private readonly asyncSyncs: { file: SimulatedFile; resolve: () => void }[] = [];
  private nextFd = 3;
  private nextIno = 1;
  /** What the last crash did, one line per file or directory (printed with a failing seed). */
  lastCrashEvents: string[] = [];
  /** Per-fate counts over every crash, so a test can show each fault really happened. */
  readonly fateCounts: Record<CrashFate, number> = { lost: 0, kept: 0, torn: 0, pages: 0, bitflip: 0 };
  directoryOperationsLost = 0;
  /** Operations that change the disk or its handles, counted since the disk was made (the power loss trigger). */
  operationCount = 0;
  private powerLossAtOperation = Number.POSITIVE_INFINITY;
  private poweredOff = false;

  constructor(private readonly prng: Prng) {}

  /**
   * Arms a power loss: the operation numbered `operationCount + operationsFromNow` (and every one after
   * it) throws SimulatedPowerLoss without doing anything, so a crash lands in the middle of whatever the
   * code was doing (a cleaner swap between two renames, a roll between two files). `crash()` turns the
   * machine back on and disarms.
   */
  armPowerLoss(operationsFromNow: number): void {
    assert(Number.isSafeInteger(operationsFromNow) && operationsFromNow >= 0, "power loss at a whole operation count");
    this.powerLossAtOperation = this.operationCount + operationsFromNow;
  }

  get isPoweredOff(): boolean {
    return this.poweredOff;
  }

  /** Every mutating call and every open/close passes here first. */
  private operation(name: string): void {
    if (!this.poweredOff && this.operationCount >= this.powerLossAtOperation) this.poweredOff = true;
    if (this.poweredOff) throw new SimulatedPowerLoss(`power lost before ${name} (operation ${this.operationCount})`);
    this.operationCount++;
  }

  open(filePath: string, flags: number): number {
    this.operation("open");
    const normalized = path.resolve(filePath);
    const fd = this.nextFd++;
    if (this.directories.has(normalized)) {
      this.fds.set(fd, { file: null, directory: normalized });
      return fd;
    }
    let file = this.names.get(normalized);
    if (file === undefined) {
      if ((flags & OPEN_CREATE) === 0) throw errno("ENOENT", `open ${normalized}`);
      this.requireDirectory(path.dirname(normalized));
      file = new SimulatedFile(this.nextIno++);
      this.link(normalized, file);
    } else if ((flags & OPEN_TRUNCATE) !== 0 && file.lengthBytes > 0) {
      file.setLength(0);
      file.pending.push({ kind: "truncate", lengthBytes: 0 });
    }
    this.fds.set(fd, { file, directory: null });
    return fd;
  }

  close(fd: number): void {
    this.operation("close");
    if (!this.fds.delete(fd)) throw errno("EBADF", `close ${fd}`);
  }

  read(fd: number, buffer: Uint8Array, offset: number, length: number, position: number): number {
    const file = this.fileOf(fd);
    const readBytes = Math.max(0, Math.min(length, file.lengthBytes - position));
    buffer.set(file.buffer.subarray(position, position + readBytes), offset);
    return readBytes;
  }

  write(fd: number, buffer: Uint8Array, offset: number, length: number, position: number): number {
    this.operation("write");
    const file = this.fileOf(fd);
    assert(offset >= 0 && length >= 0 && offset + length <= buffer.byteLength, "write inside the source buffer");
    assert(Number.isSafeInteger(position) && position >= 0, "write at a valid position");
    file.ensureCapacity(position + length);
    file.buffer.set(buffer.subarray(offset, offset + length), position);
    file.lengthBytes = Math.max(file.lengthBytes, position + length);
    if (length > 0) file.pending.push({ kind: "write", position, lengthBytes: length });
    return length;
  }

  writev(fd: number, buffers: Uint8Array[], position: number): number {
    let writtenBytes = 0;
    for (const buffer of buffers) writtenBytes += this.write(fd, buffer, 0, buffer.byteLength, position + writtenBytes);
    return writtenBytes;
  }

  fsync(fd: number): void {
    this.operation("fsync");
    const open = this.fds.get(fd);
    if (open === undefined) throw errno("EBADF", `fsync ${fd}`);
    if (open.directory !== null) this.syncDirectory(open.directory);
    else open.file!.sync();
  }

  fdatasync(fd: number): void {
    this.fsync(fd);
  }

  /** Queued until `completeAsyncSyncs()`: a crash before that loses what they would have synced. */
  fsyncAsync(fd: number): Promise<void> {
    this.operation("fsyncAsync");
    const file = this.fileOf(fd);
    return new Promise<void>((resolve) => this.asyncSyncs.push({ file, resolve }));
  }

  /** The threadpool catches up: every queued fsyncAsync completes, in order. */
  completeAsyncSyncs(): number {
    const syncs = this.asyncSyncs.splice(0);
    for (const { file, resolve } of syncs) {
      file.sync();
      resolve();
    }
    return syncs.length;
  }

  ftruncate(fd: number, lengthBytes: number): void {
    this.operation("ftruncate");
    const file = this.fileOf(fd);
    file.setLength(lengthBytes);
    file.pending.push({ kind: "truncate", lengthBytes });
  }

  truncate(filePath: string, lengthBytes: number): void {
    this.operation("truncate");
    const file = this.requireFile(filePath);
    file.setLength(lengthBytes);
    file.pending.push({ kind: "truncate", lengthBytes });
  }

  fstat(fd: number): FileStat {
    const file = this.fileOf(fd);
    return { size: file.lengthBytes, ino: file.ino, mtimeMs: file.mtimeMs };
  }

  stat(filePath: string): FileStat {
    const normalized = path.resolve(filePath);
    if (this.directories.has(normalized)) return { size: 0, ino: 0, mtimeMs: 0 };
    const file = this.requireFile(normalized);
    return { size: file.lengthBytes, ino: file.ino, mtimeMs: file.mtimeMs };
  }

  exists(filePath: string): boolean {
    const normalized = path.resolve(filePath);
    return this.names.has(normalized) || this.directories.has(normalized);
  }

  rename(fromPath: string, toPath: string): void {
    this.operation("rename");
    const from = path.resolve(fromPath);
    const to = path.resolve(toPath);
    const file = this.requireFile(from);
    // Every rename of the log layer stays in one directory; one journal entry covers it.
    assert(path.dirname(from) === path.dirname(to), `rename across directories: ${from} -> ${to}`);
    this.names.delete(from);
    this.names.set(to, file);
    this.pendingFor(path.dirname(to)).push({ kind: "rename", fromName: path.basename(from), name: path.basename(to), file });
  }

  setModifiedTime(filePath: string, mtimeMs: number): void {
    this.operation("setModifiedTime");
    this.requireFile(filePath).mtimeMs = mtimeMs;
  }

  unlink(filePath: string): void {
    this.operation("unlink");
    const normalized = path.resolve(filePath);
    if (this.names.has(normalized)) this.unlinkName(normalized);
  }

  /** Immediately durable: the simulation does not crash in the middle of a topic deletion. */
  removeTree(dirPath: string): void {
    const root = path.resolve(dirPath);
    for (const name of [...this.names.keys()]) if (name.startsWith(root + "/")) this.names.delete(name);
    for (const name of [...this.durableNames.keys()]) if (name.startsWith(root + "/")) this.durableNames.delete(name);
    for (const directory of [...this.directories]) if (directory === root || directory.startsWith(root + "/")) this.directories.delete(directory);
  }

  readdir(dirPath: string): string[] {
    const directory = path.resolve(dirPath);
    this.requireDirectory(directory);
    const entries: string[] = [];
    for (const name of this.names.keys()) if (path.dirname(name) === directory) entries.push(path.basename(name));
    for (const name of this.directories) if (name !== directory && path.dirname(name) === directory) entries.push(path.basename(name));
    return entries.sort();
  }

  /** Directories are durable at once: the log layer creates its directory before anything else. */
  mkdir(dirPath: string): void {
    for (let directory = path.resolve(dirPath); !this.directories.has(directory); directory = path.dirname(directory)) this.directories.add(directory);
  }

  readFile(filePath: string): Uint8Array {
    const file = this.names.get(path.resolve(filePath));
    if (file === undefined) throw errno("ENOENT", `open ${filePath}`);
    return file.buffer.slice(0, file.lengthBytes);
  }

  mmap(filePath: string): Uint8Array {
    const file = this.requireFile(filePath);
    // As Bun.mmap: an empty file cannot be mapped.
    if (file.lengthBytes === 0) throw errno("EINVAL", `mmap of empty ${filePath}`);
    return file.buffer.subarray(0, file.lengthBytes);
  }

  /** Paths of every file now (tests). */
  listFiles(): string[] {
    return [...this.names.keys()].sort();
  }

  /**
   * Power loss: open files, queued async fsyncs and unsynced data go; what is left is what a restart
   * finds. Returns what happened, for the failure message.
   */
  crash(): string[] {
    this.poweredOff = false;
    this.powerLossAtOperation = Number.POSITIVE_INFINITY;
    const events: string[] = [];
    for (const [directory, operations] of [...this.pendingByDirectory.entries()].sort(([a], [b]) => (a < b ? -1 : 1))) {
      const journaled = this.prng.int(operations.length + 1);
      for (const operation of operations.slice(0, journaled)) applyDirectoryOperation(this.durableNames, directory, operation);
      this.directoryOperationsLost += operations.length - journaled;
      if (journaled < operations.length) {
        const describe = (operation: PendingDirectoryOperation): string => (operation.kind === "rename" ? `rename ${operation.fromName} -> ${operation.name}` : `${operation.kind} ${operation.name}`);
        events.push(`${directory}: ${operations.length - journaled} of ${operations.length} directory operations lost (kept: ${operations.slice(0, journaled).map(describe).join(", ") || "none"}; lost: ${operations.slice(journaled).map(describe).join(", ")})`);
      }
    }
    this.pendingByDirectory.clear();
    this.names.clear();
    for (const [name, file] of this.durableNames) this.names.set(name, file);
    const survivors = [...new Set(this.names.values())].sort((a, b) => a.ino - b.ino);
    for (const file of survivors) {
      const names = [...this.names].filter(([, named]) => named === file).map(([name]) => path.basename(name));
      // Writes through a mapping leave no pending operation: compare the bytes.
      const clean = file.pending.length === 0 && sameBytes(file.buffer.subarray(0, file.lengthBytes), file.durable);
      const fate = clean ? null : this.prng.pick<CrashFate>(["lost", "kept", "torn", "pages", "bitflip"]);
      if (fate === null) {
        file.reset(file.buffer.slice(0, file.lengthBytes));
        continue;
      }
      this.fateCounts[fate]++;
      const content = this.contentAfterCrash(file, fate);
      events.push(`${names.join(",")}: ${fate} (durable ${file.durable.byteLength} bytes, page cache ${file.lengthBytes}, after crash ${content.byteLength})`);
      file.reset(content);
    }
    this.fds.clear();
    this.asyncSyncs.length = 0;
    this.lastCrashEvents = events;
    return events;
  }

  private contentAfterCrash(file: SimulatedFile, fate: CrashFate): Uint8Array {
    const current = file.buffer.subarray(0, file.lengthBytes);
    switch (fate) {
      case "lost":
        return file.durable.slice();
      case "kept":
        return current.slice();
      case "torn":
        return this.tornContent(file);
      case "pages":
        return this.pagesContent(file);
      case "bitflip":
        return this.flippedContent(file);
    }
  }

  /** Every pending operation but the last reached the disk; the last one only up to a random byte. */
  private tornContent(file: SimulatedFile): Uint8Array {
    let content: Uint8Array = new Uint8Array(Math.max(file.durable.byteLength, PAGE_BYTES));
    content.set(file.durable);
    let lengthBytes = file.durable.byteLength;
    file.pending.forEach((operation, index) => {
      const last = index === file.pending.length - 1;
      if (operation.kind === "truncate") {
        if (last && this.prng.chance(0.5)) return;
        if (operation.lengthBytes > content.byteLength) content = grow(content, operation.lengthBytes);
        if (operation.lengthBytes < lengthBytes) content.fill(0, operation.lengthBytes, lengthBytes);
        lengthBytes = operation.lengthBytes;
        return;
      }
      const writtenBytes = last ? this.prng.int(operation.lengthBytes + 1) : operation.lengthBytes;
      const end = operation.position + writtenBytes;
      if (end > content.byteLength) content = grow(content, end);
      // The bytes the page cache holds now for that range (a later write may have changed them: close enough).
      content.set(file.buffer.subarray(operation.position, Math.min(end, file.lengthBytes)), operation.position);
      lengthBytes = Math.max(lengthBytes, end);
    });
    return content.slice(0, lengthBytes);
  }

  /** Each dirty page independently written back or not; the length is the old or the new one. */
  private pagesContent(file: SimulatedFile): Uint8Array {
    const lengthBytes = this.prng.chance(0.5) ? file.lengthBytes : file.durable.byteLength;
    const content = new Uint8Array(lengthBytes);
    content.set(file.durable.subarray(0, Math.min(lengthBytes, file.durable.byteLength)));
    for (let pageStart = 0; pageStart < lengthBytes; pageStart += PAGE_BYTES) {
      const pageEnd = Math.min(pageStart + PAGE_BYTES, lengthBytes);
      if (this.prng.chance(0.5)) content.set(file.buffer.subarray(pageStart, Math.min(pageEnd, file.lengthBytes)), pageStart);
    }
    return content;
  }

  /** Everything written back, with one to three bits flipped in bytes that were never synced. */
  private flippedContent(file: SimulatedFile): Uint8Array {
    const content = file.buffer.slice(0, file.lengthBytes);
    const flips = this.prng.between(1, 3);
    for (let flip = 0; flip < flips; flip++) {
      const position = this.unsyncedPosition(file);
      if (position < 0) break;
      content[position]! ^= 1 << this.prng.int(8);
    }
    return content;
  }

  /** A random byte whose page-cache value was never synced, or -1 (a few tries, then give up). */
  private unsyncedPosition(file: SimulatedFile): number {
    for (let attempt = 0; attempt < 16; attempt++) {
      let position: number;
      const writes = file.pending.filter((operation) => operation.kind === "write");
      if (writes.length > 0) {
        const write = this.prng.pick(writes) as { position: number; lengthBytes: number };
        position = write.position + this.prng.int(write.lengthBytes);
      } else {
        if (file.lengthBytes === 0) return -1;
        position = this.prng.int(file.lengthBytes);
      }
      if (position >= file.lengthBytes) continue;
      if (position >= file.durable.byteLength || file.buffer[position] !== file.durable[position]) return position;
    }
    return -1;
  }

  private syncDirectory(directory: string): void {
    const operations = this.pendingByDirectory.get(directory) ?? [];
    for (const operation of operations) applyDirectoryOperation(this.durableNames, directory, operation);
    this.pendingByDirectory.delete(directory);
  }

  private link(filePath: string, file: SimulatedFile): void {
    this.names.set(filePath, file);
    this.pendingFor(path.dirname(filePath)).push({ kind: "link", name: path.basename(filePath), file });
  }

  private unlinkName(filePath: string): void {
    this.names.delete(filePath);
    this.pendingFor(path.dirname(filePath)).push({ kind: "unlink", name: path.basename(filePath) });
  }

  private pendingFor(directory: string): PendingDirectoryOperation[] {
    let operations = this.pendingByDirectory.get(directory);
    if (operations === undefined) {
      operations = [];
      this.pendingByDirectory.set(directory, operations);
    }
    return operations;
  }

  private fileOf(fd: number): SimulatedFile {
    const open = this.fds.get(fd);
    if (open === undefined || open.file === null) throw errno("EBADF", `fd ${fd}`);
    return open.file;
  }

  private requireFile(filePath: string): SimulatedFile {
    const file = this.names.get(path.resolve(filePath));
    if (file === undefined) throw errno("ENOENT", `${filePath}`);
    return file;
  }

  private requireDirectory(directory: string): void {
    if (!this.directories.has(directory)) throw errno("ENOENT", `directory ${directory}`);
  }
}

function applyDirectoryOperation(names: Map<string, SimulatedFile>, directory: string, operation: PendingDirectoryOperation): void {
  const filePath = path.join(directory, operation.name);
  if (operation.kind === "rename") {
    names.delete(path.join(directory, operation.fromName));
    names.set(filePath, operation.file);
  } else if (operation.kind === "link") names.set(filePath, operation.file);
  else names.delete(filePath);
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(Buffer.from(b.buffer, b.byteOffset, b.byteLength));
}

function grow(content: Uint8Array, lengthBytes: number): Uint8Array {
  const grown = new Uint8Array(Math.max(lengthBytes, content.byteLength * 2));
  grown.set(content);
  return grown;
}

function errno(code: string, message: string): NodeJS.ErrnoException {
  const error: NodeJS.ErrnoException = new Error(`${code}: ${message}`);
  error.code = code;
  return error;
}
