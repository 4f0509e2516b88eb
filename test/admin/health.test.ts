// /healthz and /readyz on a real broker process: restarted after SIGKILL over a data dir of many small
// segments, it must answer /readyz 503 while the logs recover (and /healthz 200 meanwhile), then 200.
import { afterAll, expect, test } from "bun:test";
import { BrokerProcess, freePort, tempDir } from "../helpers/broker-process.ts";
import { kcat } from "../helpers/kcat.ts";
import { createTopic } from "../helpers/kafkajs.ts";

const dataDir = tempDir("health");
const adminPort = freePort();
const adminUrl = `http://127.0.0.1:${adminPort}`;
const properties = { "admin.listeners": adminUrl, "log.segment.bytes.min": "16384" };
const brokers: BrokerProcess[] = [];

afterAll(async () => {
  for (const broker of brokers) await broker.cleanup();
  const { rmSync } = await import("node:fs");
  rmSync(dataDir, { recursive: true, force: true });
});

async function answer(path: string): Promise<number | null> {
  try {
    return (await fetch(`${adminUrl}${path}`, { signal: AbortSignal.timeout(2000) })).status;
  } catch {
    return null; // not listening yet
  }
}

test("/readyz is 503 until the logs are recovered, then 200; /healthz answers 200 throughout", async () => {
  // Many small segments in many partitions, then a crash: the next start re-validates what was not flushed.
  const first = new BrokerProcess({ dataDir, properties });
  brokers.push(first);
  await first.start();
  expect(await answer("/readyz")).toBe(200);
  await createTopic(first.bootstrap, "recover-me", 16, [{ name: "segment.bytes", value: "16384" }]);
  const value = "x".repeat(1000);
  const lines = Array.from({ length: 10_000 }, (_, i) => `${i}:${value}`).join("\n") + "\n";
  const produced = await kcat(first.bootstrap, ["-P", "-t", "recover-me", "-K:", "-z", "none", "-X", "batch.size=12000"], { input: lines, timeoutMs: 120_000 });
  if (produced.exitCode !== 0) throw new Error(`kcat: ${produced.stderr.slice(-1000)}`);
  await first.kill();

  const second = new BrokerProcess({ dataDir, properties, port: first.port });
  brokers.push(second);
  const starting = second.start();
  const seen: number[] = [];
  let healthDuringStart: number | null = null;
  // Bounded: at most 6,000 polls of a few ms each, or until the broker said it is ready.
  let ready = false;
  starting.then(() => (ready = true), () => (ready = true));
  for (let poll = 0; poll < 6000 && !ready; poll++) {
    const status = await answer("/readyz");
    if (status !== null && seen.at(-1) !== status) seen.push(status);
    if (status === 503 && healthDuringStart === null) healthDuringStart = await answer("/healthz");
    await Bun.sleep(2);
  }
  await starting;
  const after = await answer("/readyz");
  expect(seen[0]).toBe(503);
  expect(healthDuringStart).toBe(200);
  expect(after).toBe(200);
  expect(await answer("/healthz")).toBe(200);
  expect(second.output).toContain("recovering logs");
}, 180_000);
