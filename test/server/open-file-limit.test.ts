// The start-up check of the open-file limit: a process started with a low soft limit ends up at its hard
// limit, reads it through getrlimit (bun:ffi), and max.connections defaults to half of it.
import { expect, test } from "bun:test";
import { resolve } from "node:path";
import { defaultMaxConnections, MAX_CONNECTIONS_FLOOR, raiseOpenFileLimit } from "../../src/server/open-file-limit.ts";

const moduleUrl = resolve(import.meta.dir, "../../src/server/open-file-limit.ts");

test("a process started with a soft limit of 256 runs at its hard limit", async () => {
  const script = `const m = await import(${JSON.stringify(moduleUrl)}); console.log(JSON.stringify(m.raiseOpenFileLimit()));`;
  const child = Bun.spawn(["sh", "-c", `ulimit -Sn 256 && exec "$0" -e "$1"`, process.execPath, script], { stdout: "pipe", stderr: "pipe" });
  const [stdout, exitCode] = await Promise.all([new Response(child.stdout).text(), child.exited]);
  expect(exitCode).toBe(0);
  const limit = JSON.parse(stdout);
  expect(limit.source).toBe("ffi");
  expect(limit.soft).toBe(limit.hard);
  expect(limit.soft).toBeGreaterThan(256);
});

test("max.connections defaults to half the open-file limit, never below the floor", () => {
  const limit = raiseOpenFileLimit();
  expect(limit.soft).not.toBeNull();
  expect(defaultMaxConnections(limit)).toBe(Math.max(MAX_CONNECTIONS_FLOOR, Math.floor(limit.soft! / 2)));
  expect(defaultMaxConnections({ soft: 100, hard: 100, softBefore: 100, source: "proc" })).toBe(MAX_CONNECTIONS_FLOOR);
});
