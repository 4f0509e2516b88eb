// Inactive segments map their files lazily and drop the maps on an LRU (log.segment.open.max), so a
// partition with thousands of segments holds a bounded number of maps: counted in /proc/self/maps.
import { afterEach, expect, test } from "bun:test";
import * as fs from "node:fs";
import { PartitionLog, type AppendInfo } from "../../src/log/partition-log.ts";
import { openSegments } from "../../src/log/open-segments.ts";
import { producerBatch, sliceBytes, batchHeaders, tempDir } from "./helpers.ts";

const T0 = 1_700_000_000_000;
const SEGMENTS = 400;
const OPEN_MAX = 16;

let cleanups: (() => void)[] = [];
afterEach(() => {
  for (const cleanup of cleanups) cleanup();
  cleanups = [];
  openSegments.setMaxOpen(1024);
});

function mapsOf(dir: string): number {
  return fs.readFileSync("/proc/self/maps", "utf8").split("\n").filter((line) => line.includes(dir)).length;
}

function countMapped(log: PartitionLog): number {
  return log.segments.filter((segment) => !segment.active && segment.isMapped).length;
}

test("a partition with 400 segments keeps at most log.segment.open.max of them mapped, reads every one, and reopens", () => {
  // Goal: maps are bounded by the LRU, not by the segment count. Method: one batch per segment (tiny
  // segment.bytes), read every offset from the start, count this process's maps of the partition's files.
  const temp = tempDir();
  cleanups.push(temp.cleanup);
  openSegments.setMaxOpen(OPEN_MAX);
  const config = { segmentBytes: 100, indexIntervalBytes: 0 };
  const log = PartitionLog.open({ dir: temp.dir, config, recover: false, nowMs: T0 });
  for (let index = 0; index < SEGMENTS; index++) {
    const result = log.appendAsLeader(producerBatch(`s${index}`, 1, T0 + index), 0, T0 + index) as AppendInfo;
    expect(result.errorCode).toBe(0);
  }
  expect(log.segments.length).toBeGreaterThanOrEqual(SEGMENTS - 1);
  expect(countMapped(log)).toBeLessThanOrEqual(OPEN_MAX);

  // Every segment is read once (each read maps its .log and .index).
  for (let offset = 0; offset < log.logEndOffset; offset++) {
    const result = log.read(offset, 1 << 20, log.logEndOffset, true);
    expect(result.errorCode).toBe(0);
    const headers = batchHeaders(sliceBytes(result.slice!));
    expect(headers[0]!.baseOffset).toBe(offset);
  }
  expect(countMapped(log)).toBeLessThanOrEqual(OPEN_MAX);
  expect(openSegments.size).toBeLessThanOrEqual(OPEN_MAX);
  expect(openSegments.evictions).toBeGreaterThan(SEGMENTS);
  Bun.gc(true);
  // Views still referenced: the LRU's segments (3 files each) and the active segment's; everything else unmapped.
  expect(mapsOf(temp.dir)).toBeLessThanOrEqual(OPEN_MAX * 3 + 3);
  log.close();

  const reopened = PartitionLog.open({ dir: temp.dir, config, recover: true, nowMs: T0 });
  expect(reopened.logEndOffset).toBe(SEGMENTS);
  const last = reopened.read(SEGMENTS - 1, 1 << 20, SEGMENTS, true);
  expect(batchHeaders(sliceBytes(last.slice!))[0]!.baseOffset).toBe(SEGMENTS - 1);
  expect(countMapped(reopened)).toBeLessThanOrEqual(OPEN_MAX);
  Bun.gc(true);
  expect(mapsOf(temp.dir)).toBeLessThanOrEqual(OPEN_MAX * 3 + 3);
  reopened.close();
});
