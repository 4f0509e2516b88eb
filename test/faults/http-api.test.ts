// The fault API over the admin listener from a plain fetch: a fault added with POST is listed by GET and
// acts on Kafka requests (a kcat produce meets the injected error), DELETE clears it; bad specs are 400;
// with faults.enable off (the default) the resource is 404 and broker.faults throws.
import { afterAll, expect, test } from "bun:test";
import { rmSync } from "node:fs";
import { startBroker, type Broker } from "../../src/index.ts";
import { ErrorCode } from "../../src/protocol/errors.ts";
import { createTopic, readAll } from "../../src/testing/index.ts";
import { tempDir } from "../helpers/broker-process.ts";
import { kcat } from "../helpers/kcat.ts";

const dirs: string[] = [];
const brokers: Broker[] = [];
afterAll(async () => {
  for (const broker of brokers) await broker.stop();
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

async function broker(properties: Record<string, string>): Promise<Broker> {
  const dataDir = tempDir("faults-http");
  dirs.push(dataDir);
  const started = await startBroker({ port: 0, host: "127.0.0.1", dataDir, log: () => undefined, properties: { "admin.listeners": "http://127.0.0.1:0", ...properties } });
  brokers.push(started);
  return started;
}

test("POST adds a fault that fails the next produces, GET lists it, DELETE clears it", async () => {
  const started = await broker({ "faults.enable": "true" });
  const admin = started.adminServer!.url;
  const bootstrap = `127.0.0.1:${started.port}`;
  await createTopic(bootstrap, "http-faults");

  const added = await fetch(`${admin}/api/v1/faults`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ type: "error", api: "Produce", errorCode: ErrorCode.INVALID_REQUIRED_ACKS, count: 5, topic: "http-faults" }),
  });
  expect(added.status).toBe(201);
  const fault = (await added.json()) as { id: number; remaining: number };
  expect(fault.remaining).toBe(5);

  // kcat (librdkafka) gets the non-retriable error at partition level: the message is not delivered.
  const refused = await kcat(bootstrap, ["-P", "-t", "http-faults", "-p", "0", "-X", "message.send.max.retries=0"], { input: "refused\n", timeoutMs: 30_000 });
  expect(refused.stderr).toMatch(/INVALID_REQUIRED_ACKS|Invalid required acks|required acks/i);

  const listed = (await (await fetch(`${admin}/api/v1/faults`)).json()) as { faults: { id: number; remaining: number; spec: { type: string } }[] };
  expect(listed.faults).toHaveLength(1);
  expect(listed.faults[0]!.id).toBe(fault.id);
  expect(listed.faults[0]!.remaining).toBeLessThan(5);

  const cleared = await fetch(`${admin}/api/v1/faults/${fault.id}`, { method: "DELETE" });
  expect(await cleared.json()).toEqual({ cleared: 1 });
  expect(((await (await fetch(`${admin}/api/v1/faults`)).json()) as { faults: unknown[] }).faults).toEqual([]);
  expect((await fetch(`${admin}/api/v1/faults/${fault.id}`, { method: "DELETE" })).status).toBe(404);

  const delivered = await kcat(bootstrap, ["-P", "-t", "http-faults", "-p", "0"], { input: "delivered\n", timeoutMs: 30_000 });
  expect(delivered.exitCode).toBe(0);
  // Nothing of the refused produce reached the log.
  expect((await readAll(bootstrap, "http-faults")).map((record) => new TextDecoder().decode(record.value!))).toEqual(["delivered"]);

  // DELETE without an id clears every fault.
  for (const delayMs of [10, 20]) await fetch(`${admin}/api/v1/faults`, { method: "POST", body: JSON.stringify({ type: "latency", api: "Metadata", delayMs, durationMs: 60_000 }) });
  expect(await (await fetch(`${admin}/api/v1/faults`, { method: "DELETE" })).json()).toEqual({ cleared: 2 });
});

test("bad fault specs are 400 with the reason; nothing is armed", async () => {
  const started = await broker({ "faults.enable": "true" });
  const admin = started.adminServer!.url;
  const post = (body: string) => fetch(`${admin}/api/v1/faults`, { method: "POST", body });
  const cases: [string, RegExp][] = [
    ["not json", /not JSON/],
    [JSON.stringify({ type: "explode" }), /unknown fault type/],
    [JSON.stringify({ type: "error", api: "Produce", errorCode: 99999 }), /errorCode/],
    [JSON.stringify({ type: "error", api: "Nope", errorCode: 6 }), /unknown API/],
    [JSON.stringify({ type: "latency", api: "Produce", delayMs: 10, count: 0 }), /count must be/],
    [JSON.stringify({ type: "latency", api: "Produce", delayMs: 10_000_000 }), /delayMs must be/],
    [JSON.stringify({ type: "pause", durationMs: 10 * 3_600_000 }), /durationMs must be/],
    [JSON.stringify({ type: "error", api: "CreateTopics", errorCode: 6 }), /error faults cover/],
  ];
  for (const [body, reason] of cases) {
    const response = await post(body);
    expect(response.status).toBe(400);
    expect(JSON.stringify(await response.json())).toMatch(reason);
  }
  expect(started.faults.list()).toEqual([]);
  // A one-time fault that cannot be done is a conflict: a single broker has nobody to move leadership to.
  await createTopic(`127.0.0.1:${started.port}`, "alone");
  const moved = await post(JSON.stringify({ type: "move-leader", topic: "alone", partition: 0, broker: 7 }));
  expect(moved.status).toBe(409);
});

test("faults.enable off (the default): the HTTP fault API is 404 and broker.faults throws", async () => {
  const started = await broker({});
  const admin = started.adminServer!.url;
  expect((await fetch(`${admin}/api/v1/faults`)).status).toBe(404);
  expect((await fetch(`${admin}/api/v1/faults`, { method: "POST", body: JSON.stringify({ type: "pause" }) })).status).toBe(404);
  expect((await fetch(`${admin}/api/v1/faults`, { method: "DELETE" })).status).toBe(404);
  await expect(started.faults.add({ type: "pause" })).rejects.toThrow("faults.enable");
  expect(() => started.faults.list()).toThrow("faults.enable");
  expect(() => started.faults.clear()).toThrow("faults.enable");
  expect(started.faults.armed).toBe(false);
});
