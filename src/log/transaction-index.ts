// The aborted-transaction index (Kafka's TransactionIndex, `<base offset>.txnindex`): one 34-byte entry per
// transaction aborted by a marker in that segment: int16 version (0), int64 producerId, int64 firstOffset,
// int64 lastOffset (the marker's offset), int64 lastStableOffset (the LSO once the abort completed).
// A read_committed fetch returns the entries that overlap what it read, so the consumer drops those
// producers' records (docs/transactions.md). Entries are few (one per abort per partition), so each
// segment's entries are also kept in memory; the file is what survives a restart.
import * as path from "node:path";
import { readInt64, writeInt64 } from "../records/batch.ts";
import { OPEN_CREATE, OPEN_TRUNCATE, OPEN_WRITE_ONLY, fsyncDirectoryWith, nodeFileSystem, type FileSystem } from "./file-system.ts";
import { segmentFileName } from "./segment.ts";

export const TRANSACTION_INDEX_SUFFIX = ".txnindex";
export const ABORTED_TXN_ENTRY_BYTES = 34;
const ABORTED_TXN_VERSION = 0;
/** fs.writeSync on a regular file writes everything unless the disk is full; retry a few times. */
const MAX_WRITE_ATTEMPTS = 8;

export interface AbortedTransaction {
  producerId: number;
  firstOffset: number;
  lastOffset: number;
  lastStableOffset: number;
}

export function encodeAbortedTransaction(entry: AbortedTransaction): Uint8Array {
  const bytes = new Uint8Array(ABORTED_TXN_ENTRY_BYTES);
  const view = new DataView(bytes.buffer);
  view.setInt16(0, ABORTED_TXN_VERSION);
  writeInt64(view, 2, entry.producerId);
  writeInt64(view, 10, entry.firstOffset);
  writeInt64(view, 18, entry.lastOffset);
  writeInt64(view, 26, entry.lastStableOffset);
  return bytes;
}

/** The whole entries of a .txnindex file; `validBytes` is where the first torn or unknown entry starts. */
export function decodeTransactionIndex(bytes: Uint8Array): { entries: AbortedTransaction[]; validBytes: number } {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const entries: AbortedTransaction[] = [];
  let position = 0;
  // Bounded by the file size.
  for (; position + ABORTED_TXN_ENTRY_BYTES <= bytes.byteLength; position += ABORTED_TXN_ENTRY_BYTES) {
    if (view.getInt16(position) !== ABORTED_TXN_VERSION) break;
    const entry = { producerId: readInt64(view, position + 2), firstOffset: readInt64(view, position + 10), lastOffset: readInt64(view, position + 18), lastStableOffset: readInt64(view, position + 26) };
    if (entry.producerId < 0 || entry.firstOffset < 0 || entry.lastOffset < entry.firstOffset) break;
    entries.push(entry);
  }
  return { entries, validBytes: position };
}

/** One segment's aborted transactions: the file and its entries in memory, in marker order. */
export class TransactionIndex {
  private constructor(
    readonly path: string,
    readonly baseOffset: number,
    readonly entries: AbortedTransaction[],
    private readonly files: FileSystem,
  ) {}

  static pathFor(dir: string, baseOffset: number): string {
    return path.join(dir, segmentFileName(baseOffset, TRANSACTION_INDEX_SUFFIX));
  }

  /**
   * Loads `<base>.txnindex` (none: an empty index, no file until the first entry). A torn or unreadable tail,
   * and entries whose marker lies at or past `segmentNextOffset` (the log lost its tail), are cut off.
   */
  static load(dir: string, baseOffset: number, segmentNextOffset: number, files: FileSystem = nodeFileSystem): { index: TransactionIndex; cutBytes: number } {
    const filePath = TransactionIndex.pathFor(dir, baseOffset);
    if (!files.exists(filePath)) return { index: new TransactionIndex(filePath, baseOffset, [], files), cutBytes: 0 };
    const bytes = files.readFile(filePath);
    const decoded = decodeTransactionIndex(bytes);
    let kept = decoded.entries.length;
    while (kept > 0 && decoded.entries[kept - 1]!.lastOffset >= segmentNextOffset) kept--;
    decoded.entries.length = kept;
    const keptBytes = kept * ABORTED_TXN_ENTRY_BYTES;
    if (keptBytes < bytes.byteLength) truncateDurably(files, filePath, keptBytes);
    return { index: new TransactionIndex(filePath, baseOffset, decoded.entries, files), cutBytes: bytes.byteLength - keptBytes };
  }

  /**
   * The cleaner's rewrite of a segment's entries (tmp file, fsync, rename, directory fsync; none left: the file
   * is removed durably): durable before the swap that removes markers commits, so no entry outlives its marker.
   */
  static replace(dir: string, baseOffset: number, entries: readonly AbortedTransaction[], files: FileSystem = nodeFileSystem): TransactionIndex {
    const filePath = TransactionIndex.pathFor(dir, baseOffset);
    if (entries.length === 0) {
      files.unlink(filePath);
    } else {
      const tmpPath = filePath + ".tmp";
      const bytes = new Uint8Array(entries.length * ABORTED_TXN_ENTRY_BYTES);
      entries.forEach((entry, index) => bytes.set(encodeAbortedTransaction(entry), index * ABORTED_TXN_ENTRY_BYTES));
      const fd = files.open(tmpPath, OPEN_WRITE_ONLY | OPEN_CREATE | OPEN_TRUNCATE, 0o644);
      try {
        let writtenBytes = 0;
        for (let attempt = 0; writtenBytes < bytes.byteLength; attempt++) {
          if (attempt >= MAX_WRITE_ATTEMPTS) throw new Error(`${tmpPath}: wrote ${writtenBytes} of ${bytes.byteLength} bytes`);
          writtenBytes += files.write(fd, bytes, writtenBytes, bytes.byteLength - writtenBytes, writtenBytes);
        }
        files.fsync(fd);
      } finally {
        files.close(fd);
      }
      files.rename(tmpPath, filePath);
    }
    fsyncDirectoryWith(files, dir);
    return new TransactionIndex(filePath, baseOffset, entries.map((entry) => ({ ...entry })), files);
  }

  /** Whether an entry for the marker at `lastOffset` is present (a replayed marker may already be indexed). */
  has(lastOffset: number): boolean {
    for (let index = this.entries.length - 1; index >= 0; index--) {
      const entry = this.entries[index]!;
      if (entry.lastOffset === lastOffset) return true;
      if (entry.lastOffset < lastOffset) return false;
    }
    return false;
  }

  /**
   * Appends an entry and fsyncs the file. Written before the marker it describes reaches the log: an entry
   * whose marker is missing after a crash is cut at load, while a marker whose entry is missing would expose
   * aborted records to read_committed consumers. Aborts are rare, so the fsync costs little.
   */
  append(entry: AbortedTransaction): void {
    const last = this.entries[this.entries.length - 1];
    if (last !== undefined && entry.lastOffset <= last.lastOffset) throw new Error(`${this.path}: entry at ${entry.lastOffset} does not follow ${last.lastOffset}`);
    const bytes = encodeAbortedTransaction(entry);
    const position = this.entries.length * ABORTED_TXN_ENTRY_BYTES;
    const created = !this.files.exists(this.path);
    const fd = this.files.open(this.path, OPEN_WRITE_ONLY | OPEN_CREATE, 0o644);
    try {
      let writtenBytes = 0;
      for (let attempt = 0; writtenBytes < bytes.byteLength; attempt++) {
        if (attempt >= MAX_WRITE_ATTEMPTS) throw new Error(`${this.path}: wrote ${writtenBytes} of ${bytes.byteLength} bytes`);
        writtenBytes += this.files.write(fd, bytes, writtenBytes, bytes.byteLength - writtenBytes, position + writtenBytes);
      }
      this.files.fsync(fd);
    } finally {
      this.files.close(fd);
    }
    // A new file's name must be durable too, before the marker exists (test/sim/txn-crash.test.ts lost one).
    if (created) fsyncDirectoryWith(this.files, path.dirname(this.path));
    this.entries.push({ ...entry });
  }

  /** Drops entries whose marker is at or past `offset` (log truncation). */
  truncateTo(offset: number): void {
    let kept = this.entries.length;
    while (kept > 0 && this.entries[kept - 1]!.lastOffset >= offset) kept--;
    if (kept === this.entries.length) return;
    this.entries.length = kept;
    if (this.files.exists(this.path)) truncateDurably(this.files, this.path, kept * ABORTED_TXN_ENTRY_BYTES);
  }

  delete(): void {
    if (this.files.exists(this.path)) this.files.unlink(this.path);
    this.entries.length = 0;
  }
}

/**
 * Cuts the file and fsyncs it: an entry cut because its marker left the log must not come back after a power
 * loss, when the log may hold other batches at that offset (test/sim/txn-crash.test.ts found one).
 */
function truncateDurably(files: FileSystem, filePath: string, lengthBytes: number): void {
  const fd = files.open(filePath, OPEN_WRITE_ONLY);
  try {
    files.ftruncate(fd, lengthBytes);
    files.fsync(fd);
  } finally {
    files.close(fd);
  }
}
