// Small files written atomically: write a temporary file, fsync it, rename it over the old one, fsync
// the directory. A crash leaves either the old or the new content, never a torn one.
import * as fs from "node:fs";
import * as path from "node:path";

const TMP_SUFFIX = ".tmp";

export function writeFileAtomically(filePath: string, text: string): void {
  const tmpPath = filePath + TMP_SUFFIX;
  const fd = fs.openSync(tmpPath, fs.constants.O_WRONLY | fs.constants.O_CREAT | fs.constants.O_TRUNC, 0o644);
  try {
    const bytes = new TextEncoder().encode(text);
    let writtenBytes = 0;
    // A short write on a regular file only happens when the disk is full; a few rounds bound it.
    for (let attempt = 0; writtenBytes < bytes.byteLength; attempt++) {
      if (attempt >= 8) throw new Error(`${tmpPath}: wrote ${writtenBytes} of ${bytes.byteLength} bytes`);
      writtenBytes += fs.writeSync(fd, bytes, writtenBytes, bytes.byteLength - writtenBytes, writtenBytes);
    }
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
  fs.renameSync(tmpPath, filePath);
  const dirFd = fs.openSync(path.dirname(filePath), fs.constants.O_RDONLY);
  try {
    fs.fsyncSync(dirFd);
  } finally {
    fs.closeSync(dirFd);
  }
}

/** Reads a file holding one non-negative integer (and a newline); null if missing or malformed. */
export function readOffsetFile(filePath: string): number | null {
  let text: string;
  try {
    text = fs.readFileSync(filePath, "utf8");
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return null;
    throw error;
  }
  const trimmed = text.trim();
  if (!/^\d{1,16}$/.test(trimmed)) return null;
  const value = Number(trimmed);
  return Number.isSafeInteger(value) ? value : null;
}

export function writeOffsetFile(filePath: string, offset: number): void {
  if (!Number.isSafeInteger(offset) || offset < 0) throw new RangeError(`${filePath}: offset ${offset}`);
  writeFileAtomically(filePath, `${offset}\n`);
}
