// Small files written atomically: write a temporary file, fsync it, rename it over the old one, fsync
// the directory. A crash leaves either the old or the new content, never a torn one.
import * as path from "node:path";
import { OPEN_CREATE, OPEN_TRUNCATE, OPEN_WRITE_ONLY, fsyncDirectoryWith, nodeFileSystem, readTextFileOrNull, type FileSystem } from "./file-system.ts";

const TMP_SUFFIX = ".tmp";

export function writeFileAtomically(filePath: string, text: string, files: FileSystem = nodeFileSystem): void {
  const tmpPath = filePath + TMP_SUFFIX;
  const fd = files.open(tmpPath, OPEN_WRITE_ONLY | OPEN_CREATE | OPEN_TRUNCATE, 0o644);
  try {
    const bytes = new TextEncoder().encode(text);
    let writtenBytes = 0;
    // A short write on a regular file only happens when the disk is full; a few rounds bound it.
    for (let attempt = 0; writtenBytes < bytes.byteLength; attempt++) {
      if (attempt >= 8) throw new Error(`${tmpPath}: wrote ${writtenBytes} of ${bytes.byteLength} bytes`);
      writtenBytes += files.write(fd, bytes, writtenBytes, bytes.byteLength - writtenBytes, writtenBytes);
    }
    files.fsync(fd);
  } finally {
    files.close(fd);
  }
  files.rename(tmpPath, filePath);
  fsyncDirectoryWith(files, path.dirname(filePath));
}

/** Reads a file holding one non-negative integer (and a newline); null if missing or malformed. */
export function readOffsetFile(filePath: string, files: FileSystem = nodeFileSystem): number | null {
  const text = readTextFileOrNull(files, filePath);
  if (text === null) return null;
  const trimmed = text.trim();
  if (!/^\d{1,16}$/.test(trimmed)) return null;
  const value = Number(trimmed);
  return Number.isSafeInteger(value) ? value : null;
}

export function writeOffsetFile(filePath: string, offset: number, files: FileSystem = nodeFileSystem): void {
  if (!Number.isSafeInteger(offset) || offset < 0) throw new RangeError(`${filePath}: offset ${offset}`);
  writeFileAtomically(filePath, `${offset}\n`, files);
}
