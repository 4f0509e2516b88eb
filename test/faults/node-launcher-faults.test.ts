// Faults from Node through bunka/node's control protocol: a script run by `node` arms an error fault on a
// launched broker, kafkajs meets it, the fault is listed while armed and gone after its one use, clear()
// clears; a broker launched with faults.enable=false refuses.
import { expect, test } from "bun:test";
import { join } from "node:path";
import { run } from "../helpers/run.ts";

test("bunka/node from Node: broker.faults add, list and clear drive the launched broker; disabled refuses", async () => {
  const outcome = await run(["node", join(import.meta.dir, "node-faults.mjs")], { timeoutMs: 120_000 });
  expect(outcome.timedOut).toBe(false);
  if (outcome.exitCode !== 0) throw new Error(`node failed (${outcome.exitCode}): ${outcome.stderr.slice(-2000)}`);
  const result = JSON.parse(outcome.stdout.trim().split("\n").at(-1)!);
  expect(result.armed).toMatchObject({ spec: { type: "error", api: "Produce", errorCode: 21 }, remaining: 1 });
  expect(result.listed).toHaveLength(1);
  expect(result.refused).toBe("INVALID_REQUIRED_ACKS");
  expect(result.listedAfter).toEqual([]);
  expect(result.cleared).toBe(1);
  expect(result.delivered).toBe(true);
  expect(result.disabled).toContain("faults.enable");
});
