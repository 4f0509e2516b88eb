// Appends reach the page cache in writes that end at 16 KiB multiples of the file (src/log/page-cache-writes.ts
// says why). Real files; the node:fs seam is wrapped only to record the calls and, in one case, to write short
// as a full disk does.
import { afterAll, expect, test } from "bun:test";
import { readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import { nodeFileSystem, OPEN_CREATE, OPEN_READ_WRITE, type FileSystem } from "../../src/log/file-system.ts";
import { PAGE_CACHE_WRITE_BYTES, writeBytesAt, writePartsAt } from "../../src/log/page-cache-writes.ts";
import { tempDir } from "../helpers/broker-process.ts";

const dir = tempDir("page-cache-writes");
afterAll(() => rmSync(dir, { recursive: true, force: true }));

interface Call {
  position: number;
  bytes: number;
  buffers: number;
}

/** node:fs, recording each pwrite and pwritev; `shortOnce` makes the first call of at least that many bytes write half. */
function recordingFiles(calls: Call[], shortOnce?: number): FileSystem {
  let shortened = false;
  return {
    ...nodeFileSystem,
    write(fd, buffer, offset, length, position) {
      if (shortOnce !== undefined && !shortened && length >= shortOnce) {
        shortened = true;
        length = Math.floor(length / 2);
      }
      calls.push({ position, bytes: length, buffers: 1 });
      return nodeFileSystem.write(fd, buffer, offset, length, position);
    },
    writev(fd, buffers, position) {
      const bytes = buffers.reduce((sum, buffer) => sum + buffer.byteLength, 0);
      if (shortOnce !== undefined && !shortened && bytes >= shortOnce) {
        shortened = true;
        // A full disk takes the first buffer and part of the second.
        const partial = [buffers[0]!, buffers[1]!.subarray(0, Math.floor(buffers[1]!.byteLength / 2))];
        calls.push({ position, bytes: partial[0]!.byteLength + partial[1]!.byteLength, buffers: 2 });
        return nodeFileSystem.writev(fd, partial, position);
      }
      calls.push({ position, bytes, buffers: buffers.length });
      return nodeFileSystem.writev(fd, buffers, position);
    },
  };
}

function pattern(bytes: number, seed: number): Uint8Array {
  const out = new Uint8Array(bytes);
  for (let i = 0; i < bytes; i++) out[i] = (i * 31 + seed * 7) & 0xff;
  return out;
}

function writeFile(name: string, parts: Uint8Array[], position: number, files: FileSystem): Uint8Array {
  const path = join(dir, name);
  const fd = files.open(path, OPEN_READ_WRITE | OPEN_CREATE, 0o644);
  try {
    writePartsAt(files, fd, parts, position, path);
  } finally {
    files.close(fd);
  }
  return new Uint8Array(readFileSync(path));
}

function expectContents(file: Uint8Array, parts: Uint8Array[], position: number): void {
  const expected = Buffer.concat(parts);
  expect(file.byteLength).toBe(position + expected.byteLength);
  expect(Buffer.compare(Buffer.from(file.subarray(position)), expected)).toBe(0);
}

test("one large append at an unaligned position: the first piece fills up to a 16 KiB boundary, every later one ends on one", () => {
  const calls: Call[] = [];
  const position = 1000;
  const parts = [pattern(1024 * 1024 + 123, 1)];
  const file = writeFile("one", parts, position, recordingFiles(calls));
  expectContents(file, parts, position);
  expect(calls[0]).toEqual({ position, bytes: PAGE_CACHE_WRITE_BYTES - position, buffers: 1 });
  for (const call of calls.slice(0, -1)) expect((call.position + call.bytes) % PAGE_CACHE_WRITE_BYTES).toBe(0);
  for (const call of calls) expect(call.bytes).toBeLessThanOrEqual(PAGE_CACHE_WRITE_BYTES);
  expect(calls.length).toBe(Math.ceil((position + parts[0]!.byteLength) / PAGE_CACHE_WRITE_BYTES));
});

test("coalesced appends: small ones share a pwritev within a piece, large ones are cut at the boundaries, bytes in order", () => {
  const calls: Call[] = [];
  const position = 5000;
  const parts = [pattern(100, 1), pattern(3000, 2), pattern(40_000, 3), pattern(61, 4), pattern(200_000, 5), pattern(7, 6)];
  const file = writeFile("coalesced", parts, position, recordingFiles(calls));
  expectContents(file, parts, position);
  expect(calls[0]!.buffers).toBe(3); // 100 + 3000 + the start of the 40,000-byte part up to the boundary
  for (const call of calls.slice(0, -1)) expect((call.position + call.bytes) % PAGE_CACHE_WRITE_BYTES).toBe(0);
  let next = position;
  for (const call of calls) {
    expect(call.position).toBe(next);
    next += call.bytes;
  }
});

test("a short write (a full disk) is finished from where it stopped, within the piece", () => {
  for (const [name, parts] of [
    ["short-write", [pattern(100_000, 7)]],
    ["short-writev", [pattern(5000, 8), pattern(9000, 9), pattern(60_000, 10)]],
  ] as const) {
    const calls: Call[] = [];
    const file = writeFile(name, [...parts], 300, recordingFiles(calls, 8000));
    expectContents(file, [...parts], 300);
    expect(calls.some((call, index) => index > 0 && call.position !== calls[index - 1]!.position + calls[index - 1]!.bytes)).toBe(false);
  }
});

test("a disk that keeps refusing bytes is an error naming the file", () => {
  const path = join(dir, "refused");
  const fd = nodeFileSystem.open(path, OPEN_READ_WRITE | OPEN_CREATE, 0o644);
  try {
    const refusing: FileSystem = { ...nodeFileSystem, write: () => 0 };
    expect(() => writeBytesAt(refusing, fd, pattern(10, 1), 0, path)).toThrow(`${path}: wrote 0 of 10 bytes at 0`);
  } finally {
    nodeFileSystem.close(fd);
  }
});
