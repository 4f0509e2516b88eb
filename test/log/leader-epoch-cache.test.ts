import { afterEach, expect, test } from "bun:test";
import * as fs from "node:fs";
import { LeaderEpochCache } from "../../src/log/leader-epoch-cache.ts";
import { tempDir } from "./helpers.ts";

let cleanups: (() => void)[] = [];
afterEach(() => {
  for (const cleanup of cleanups) cleanup();
  cleanups = [];
});

function freshDir(): string {
  const temp = tempDir("bunka-epoch-");
  cleanups.push(temp.cleanup);
  fs.mkdirSync(temp.dir, { recursive: true });
  return temp.dir;
}

test("assign keeps the first offset of each epoch and persists in Kafka's checkpoint format", () => {
  const dir = freshDir();
  const cache = new LeaderEpochCache(dir);
  expect(cache.latestEpoch).toBe(-1);
  cache.assign(1, 0);
  cache.assign(1, 10); // same epoch, later offset: no change
  cache.assign(2, 20);
  cache.assign(4, 35);
  expect(cache.entries).toEqual([
    { epoch: 1, startOffset: 0 },
    { epoch: 2, startOffset: 20 },
    { epoch: 4, startOffset: 35 },
  ]);
  expect(fs.readFileSync(cache.path, "utf8")).toBe("0\n3\n1 0\n2 20\n4 35\n");
  expect(new LeaderEpochCache(dir).entries).toEqual(cache.entries);
  // A non-monotonic assignment removes the conflicting entries (Kafka's behaviour).
  cache.assign(3, 30);
  expect(cache.entries.map((entry) => entry.epoch)).toEqual([1, 2, 3]);
});

test("endOffsetFor answers OffsetForLeaderEpoch like Kafka (KIP-101)", () => {
  const cache = new LeaderEpochCache(freshDir());
  cache.assign(1, 0);
  cache.assign(2, 20);
  cache.assign(4, 35);
  const logEndOffset = 50;
  expect(cache.endOffsetFor(4, logEndOffset)).toEqual({ epoch: 4, endOffset: 50 });
  expect(cache.endOffsetFor(2, logEndOffset)).toEqual({ epoch: 2, endOffset: 35 });
  expect(cache.endOffsetFor(3, logEndOffset)).toEqual({ epoch: 2, endOffset: 35 });
  expect(cache.endOffsetFor(0, logEndOffset)).toEqual({ epoch: 0, endOffset: 0 });
  expect(cache.endOffsetFor(5, logEndOffset)).toEqual({ epoch: -1, endOffset: -1 });
  expect(cache.endOffsetFor(-1, logEndOffset)).toEqual({ epoch: -1, endOffset: -1 });
});

test("truncateFromEnd and truncateFromStart", () => {
  const dir = freshDir();
  const cache = new LeaderEpochCache(dir);
  cache.assign(1, 0);
  cache.assign(2, 20);
  cache.assign(4, 35);
  cache.truncateFromEnd(35);
  expect(cache.entries).toEqual([
    { epoch: 1, startOffset: 0 },
    { epoch: 2, startOffset: 20 },
  ]);
  cache.truncateFromStart(25);
  expect(cache.entries).toEqual([{ epoch: 2, startOffset: 25 }]);
  expect(new LeaderEpochCache(dir).entries).toEqual([{ epoch: 2, startOffset: 25 }]);
});
