import { afterEach, describe, expect, test } from "bun:test";
import * as fs from "node:fs";
import * as path from "node:path";
import { CorruptIndexError } from "../../src/log/index-file.ts";
import { OffsetIndex } from "../../src/log/offset-index.ts";
import { TimeIndex } from "../../src/log/time-index.ts";
import { tempDir } from "./helpers.ts";

let cleanups: (() => void)[] = [];
afterEach(() => {
  for (const cleanup of cleanups) cleanup();
  cleanups = [];
});

function dir(): string {
  const temp = tempDir("bunka-index-");
  cleanups.push(temp.cleanup);
  fs.mkdirSync(temp.dir, { recursive: true });
  return temp.dir;
}

/** Linear reference: largest entry with key <= target. */
function linearLookup(entries: { offset: number; position: number }[], target: number, baseOffset: number) {
  let found = { offset: baseOffset, position: 0 };
  for (const entry of entries) if (entry.offset <= target) found = entry;
  return found;
}

describe("OffsetIndex", () => {
  test("is preallocated to a multiple of 8 and lookups match a linear scan (warm and cold sections)", () => {
    const file = path.join(dir(), "00000000000000001000.index");
    const index = new OffsetIndex(file, 1000, 100_003, true);
    expect(fs.statSync(file).size).toBe(100_000);
    expect(index.maxEntries).toBe(12_500);
    const entries: { offset: number; position: number }[] = [];
    let offset = 1000;
    let position = 0;
    // More entries than the 8 KiB warm section (1024 entries), with irregular gaps.
    for (let index_ = 0; index_ < 5000; index_++) {
      offset += 1 + ((index_ * 7919) % 13);
      position += 61 + ((index_ * 104729) % 4000);
      index.append(offset, position);
      entries.push({ offset, position });
    }
    expect(index.entries).toBe(5000);
    expect(index.lastOffset).toBe(offset);
    for (let target = 990; target <= offset + 5; target += 3) {
      expect(index.lookup(target)).toEqual(linearLookup(entries, target, 1000));
    }
    for (const entry of entries.filter((_, i) => i % 97 === 0)) {
      expect(index.lookupPosition(entry.position)).toBe(entry.position);
      expect(index.lookupPosition(entry.position + 1)).toBe(entry.position);
    }
    expect(index.lookupPosition(0)).toBe(0);
  });

  test("refuses out-of-order entries, offsets that do not fit, and appends when full", () => {
    const index = new OffsetIndex(path.join(dir(), "x.index"), 0, 32, true);
    index.append(5, 100);
    expect(() => index.append(5, 200)).toThrow();
    expect(() => index.append(6, 100)).toThrow();
    expect(() => index.append(2 ** 31, 300)).toThrow();
    index.append(6, 200);
    index.append(7, 300);
    index.append(8, 400);
    expect(index.isFull).toBe(true);
    expect(() => index.append(9, 500)).toThrow();
  });

  test("truncateTo removes entries at or above the offset", () => {
    const index = new OffsetIndex(path.join(dir(), "t.index"), 100, 1024, true);
    for (let i = 1; i <= 10; i++) index.append(100 + i * 10, i * 1000);
    index.truncateTo(150);
    expect(index.entries).toBe(4);
    expect(index.lastOffset).toBe(140);
    index.truncateTo(145);
    expect(index.entries).toBe(4);
    index.truncateTo(100);
    expect(index.entries).toBe(0);
    expect(index.lookup(1000)).toEqual({ offset: 100, position: 0 });
  });

  test("trimToValidSize shrinks the file; reopening counts the same entries", () => {
    const file = path.join(dir(), "r.index");
    const index = new OffsetIndex(file, 0, 8 * 1024, true);
    for (let i = 0; i < 20; i++) index.append(i * 3 + 1, i * 100 + 50);
    index.close();
    expect(fs.statSync(file).size).toBe(160);
    // Reads after trimming stay inside the new size.
    expect(index.lookup(1000)).toEqual({ offset: 58, position: 1950 });
    const reopened = new OffsetIndex(file, 0, 8 * 1024, false);
    expect(reopened.entries).toBe(20);
    expect(reopened.lookup(30)).toEqual({ offset: 28, position: 950 });
    reopened.sanityCheck(10_000);
    expect(() => reopened.sanityCheck(1950)).toThrow(CorruptIndexError);
    // Becoming active again grows the file and keeps the entries.
    reopened.resize(8 * 1024);
    reopened.append(100, 5000);
    expect(reopened.lookup(100)).toEqual({ offset: 100, position: 5000 });
  });

  test("sanityCheck catches an untrimmed preallocated file and a torn length", () => {
    const file = path.join(dir(), "p.index");
    const index = new OffsetIndex(file, 0, 1024, true);
    index.append(3, 100);
    // A crash leaves the preallocated zeros: reopening counts them as entries.
    const reopened = new OffsetIndex(file, 0, 1024, false);
    expect(reopened.entries).toBe(128);
    expect(() => reopened.sanityCheck(1 << 20)).toThrow(CorruptIndexError);
    fs.truncateSync(file, 13);
    expect(() => new OffsetIndex(file, 0, 1024, false).sanityCheck(1 << 20)).toThrow(CorruptIndexError);
  });

  test("an empty trimmed index (0 bytes) opens without mapping and answers lookups", () => {
    const file = path.join(dir(), "e.index");
    new OffsetIndex(file, 7, 1024, true).close();
    expect(fs.statSync(file).size).toBe(0);
    const reopened = new OffsetIndex(file, 7, 1024, false);
    expect(reopened.entries).toBe(0);
    expect(reopened.lookup(100)).toEqual({ offset: 7, position: 0 });
    reopened.sanityCheck(0);
  });
});

describe("TimeIndex", () => {
  test("appends only growing timestamps and looks up the largest timestamp <= target", () => {
    const file = path.join(dir(), "00000000000000000050.timeindex");
    const index = new TimeIndex(file, 50, 12 * 2000 + 5, true);
    expect(fs.statSync(file).size).toBe(12 * 2000);
    expect(index.lastEntry).toEqual({ timestampMs: -1, offset: 50 });
    const entries: { timestampMs: number; offset: number }[] = [];
    let timestampMs = 1_700_000_000_000;
    for (let i = 0; i < 1500; i++) {
      timestampMs += (i * 31) % 5; // sometimes equal: skipped
      const before = index.entries;
      index.maybeAppend(timestampMs, 50 + i);
      if (index.entries > before) entries.push({ timestampMs, offset: 50 + i });
    }
    expect(index.entries).toBe(entries.length);
    expect(entries.length).toBeLessThan(1500);
    expect(() => index.maybeAppend(timestampMs - 1, 5000)).toThrow();
    for (let target = 1_699_999_999_990; target <= timestampMs + 3; target += 7) {
      let expected = { timestampMs: -1, offset: 50 };
      for (const entry of entries) if (entry.timestampMs <= target) expected = entry;
      expect(index.lookup(target)).toEqual(expected);
    }
  });

  test("keeps one slot for the final entry, truncates by offset, survives trim and reopen", () => {
    const file = path.join(dir(), "f.timeindex");
    const index = new TimeIndex(file, 0, 12 * 4, true);
    index.maybeAppend(10, 1);
    index.maybeAppend(20, 2);
    index.maybeAppend(30, 3);
    expect(index.isFull).toBe(true);
    expect(() => index.maybeAppend(40, 4)).toThrow();
    index.maybeAppend(40, 4, true);
    expect(index.entries).toBe(4);
    index.truncateTo(3);
    expect(index.lastEntry).toEqual({ timestampMs: 20, offset: 2 });
    index.close();
    expect(fs.statSync(file).size).toBe(24);
    const reopened = new TimeIndex(file, 0, 48, false);
    reopened.sanityCheck();
    expect(reopened.lookup(25)).toEqual({ timestampMs: 20, offset: 2 });
    expect(reopened.lookup(5)).toEqual({ timestampMs: -1, offset: 0 });
  });

  test("sanityCheck catches zero-filled preallocation", () => {
    const file = path.join(dir(), "z.timeindex");
    const index = new TimeIndex(file, 0, 120, true);
    index.maybeAppend(1_700_000_000_000, 3);
    const reopened = new TimeIndex(file, 0, 120, false);
    expect(() => reopened.sanityCheck()).toThrow(CorruptIndexError);
  });
});
