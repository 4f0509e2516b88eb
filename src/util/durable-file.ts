// Replacing a small state file so that a crash leaves either the old or the new contents, never a mix:
// write a temporary file, fsync it, rename it over the old one, fsync the directory (so the rename itself
// survives a power loss). Metadata, credentials, ACLs, quotas and checkpoints are written this way.
import { closeSync, fsyncSync, openSync, renameSync, writeSync } from "node:fs";
import { dirname } from "node:path";

export function writeFileDurably(path: string, bytes: Uint8Array, mode = 0o644): void {
  const temporaryPath = `${path}.tmp`;
  const fd = openSync(temporaryPath, "w", mode);
  try {
    let written = 0;
    // Bounded: every turn writes at least one byte or throws.
    while (written < bytes.byteLength) written += writeSync(fd, bytes, written, bytes.byteLength - written);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  renameSync(temporaryPath, path);
  const directoryFd = openSync(dirname(path), "r");
  try {
    fsyncSync(directoryFd);
  } finally {
    closeSync(directoryFd);
  }
}
