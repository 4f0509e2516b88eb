// `bun run loadtest` end to end, briefly: producers, two consumer groups speaking the classic group
// protocol, and the exactly-once check (count and checksum per group) must pass.
import { expect, test } from "bun:test";
import { resolve } from "node:path";
import { run } from "../helpers/run.ts";

test("the load test runs two consumer groups over 4 partitions and each group reads every record exactly once", async () => {
  const result = await run([process.execPath, resolve(import.meta.dir, "../../bench/loadtest.ts"), "--seconds=2", "--producers=2", "--consumers=2", "--partitions=4", "--groups=2"], { timeoutMs: 150_000 });
  expect(result.timedOut).toBe(false);
  expect(result.stdout).toContain("OK: every produced record was consumed exactly once by every group");
  expect(result.stdout.match(/every record exactly once/g)?.length).toBe(2); // one line per group
  expect(result.exitCode).toBe(0);
});
