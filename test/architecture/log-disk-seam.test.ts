// The log layer reaches the disk and the wall clock only through its seams (docs/ARCHITECTURE.md "Seams for
// time and disk"): a file under src/log/ that imported node:fs or called Date.now() would bypass the
// simulated disk of test/sim/, and its writes would survive every simulated power loss untested. Method:
// read every file under src/log/ and look for the import and the call.
import { expect, test } from "bun:test";
import { readdirSync, readFileSync } from "node:fs";
import { join, resolve } from "node:path";

const LOG_DIR = resolve(import.meta.dir, "../../src/log");
/**
 * The seam itself, and the socket thread's read-only views of segment files (segment-views.ts): they only
 * open, stat and map files the partition worker wrote, in another thread, and are not part of the log
 * the simulation runs.
 */
const ALLOWED_NODE_FS = new Set(["file-system.ts", "segment-views.ts"]);
const NODE_FS_IMPORT = /(?:^|\n)\s*import\s[^;]*?from\s+["'](?:node:)?fs(?:\/promises)?["']/;
const DATE_NOW_CALL = /\bDate\.now\s*\(/;

function logSourceFiles(): string[] {
  const names = readdirSync(LOG_DIR).filter((name) => name.endsWith(".ts"));
  // The folder has a few dozen files; more would mean the walk read the wrong place.
  expect(names.length).toBeGreaterThan(5);
  expect(names.length).toBeLessThan(500);
  return names.sort();
}

test("only src/log/file-system.ts (and the socket thread's segment views) import node:fs under src/log/", () => {
  const offenders = logSourceFiles().filter((name) => !ALLOWED_NODE_FS.has(name) && NODE_FS_IMPORT.test(readFileSync(join(LOG_DIR, name), "utf8")));
  expect(offenders).toEqual([]);
  // The rule is live: the seam itself is found by the same pattern.
  expect(NODE_FS_IMPORT.test(readFileSync(join(LOG_DIR, "file-system.ts"), "utf8"))).toBe(true);
});

test("nothing under src/log/ calls Date.now(): time comes from the log's Clock", () => {
  const offenders = logSourceFiles().filter((name) => {
    // Comments may name Date.now (the default clock's doc); code may not call it.
    const code = readFileSync(join(LOG_DIR, name), "utf8").replace(/\/\*[\s\S]*?\*\//g, "").replace(/\/\/.*$/gm, "");
    return DATE_NOW_CALL.test(code);
  });
  expect(offenders).toEqual([]);
});
