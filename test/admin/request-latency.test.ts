// Where requests' time goes (issue 13 item 2), on a real broker process with real clients: the stage
// histograms on /metrics and GET /api/v1/request-latency, the slowest requests' own stages. A slow-fsync fault
// makes produces into a flush.messages=1 topic slow: their breakdown must put the time in the fsync stage. A
// kcat consumer waiting at the end of a partition must show it in the fetch's wait stage. DELETE starts over.
import { afterAll, beforeAll, expect, test } from "bun:test";
import { BrokerProcess, freePort } from "../helpers/broker-process.ts";
import { kcat } from "../helpers/kcat.ts";
import { createTopic } from "../helpers/kafkajs.ts";

const adminPort = freePort();
const adminUrl = `http://127.0.0.1:${adminPort}`;
const broker = new BrokerProcess({ properties: { "admin.listeners": adminUrl, "faults.enable": "true" } });
const FSYNC_DELAY_MS = 40;

interface SlowestReport {
  api: string;
  requests: number;
  slowest: number;
  totalMs: { mean: number; min: number; max: number };
  stagesMs: Record<string, number>;
}

async function requestLatency(share: number): Promise<{ apis: SlowestReport[]; since: string }> {
  const response = await fetch(`${adminUrl}/api/v1/request-latency?share=${share}`);
  expect(response.status).toBe(200);
  return (await response.json()) as { apis: SlowestReport[]; since: string };
}

beforeAll(async () => {
  await broker.start();
  await createTopic(broker.bootstrap, "latency-fsync", 1, [{ name: "flush.messages", value: "1" }]);
  await createTopic(broker.bootstrap, "latency-tail", 1);
}, 120_000);

afterAll(async () => {
  await broker.stop();
  await broker.cleanup();
});

test("a slow fsync shows in the slowest produces' fsync stage, and the stages add up to the total", async () => {
  const armed = await fetch(`${adminUrl}/api/v1/faults`, { method: "POST", body: JSON.stringify({ type: "slow-fsync", delayMs: FSYNC_DELAY_MS, durationMs: 60_000 }) });
  expect(armed.status).toBe(201);
  const fault = (await armed.json()) as { id: number };
  expect((await fetch(`${adminUrl}/api/v1/request-latency`, { method: "DELETE" })).status).toBe(200);
  const lines = Array.from({ length: 10 }, (_, i) => `slow-${i}`).join("\n") + "\n";
  const produced = await kcat(broker.bootstrap, ["-P", "-t", "latency-fsync", "-p", "0", "-X", "linger.ms=0"], { input: lines, timeoutMs: 60_000 });
  expect(produced.exitCode).toBe(0);
  await fetch(`${adminUrl}/api/v1/faults/${fault.id}`, { method: "DELETE" });

  const produce = (await requestLatency(1)).apis.find((report) => report.api === "Produce");
  expect(produce).toBeDefined();
  expect(produce!.requests).toBeGreaterThanOrEqual(1);
  expect(produce!.slowest).toBe(produce!.requests);
  const stages = produce!.stagesMs;
  // Every produce of this topic waited for an fsync held FSYNC_DELAY_MS by the fault.
  expect(stages.fsync!).toBeGreaterThanOrEqual(FSYNC_DELAY_MS * 0.9);
  const largest = Object.entries(stages).sort((a, b) => b[1] - a[1])[0]![0];
  expect(largest).toBe("fsync");
  const sum = Object.values(stages).reduce((total, ms) => total + ms, 0);
  expect(Math.abs(sum - produce!.totalMs.mean)).toBeLessThan(0.01);
  expect(produce!.totalMs.max).toBeGreaterThanOrEqual(produce!.totalMs.min);

  // Read from the text: parse-prometheus-text-format loses a histogram's labels when it has two.
  const text = await (await fetch(`${adminUrl}/metrics`)).text();
  const stageSample = (suffix: string, stage: string) => {
    const line = text.split("\n").find((candidate) => candidate.startsWith(`bunka_request_stage_duration_seconds_${suffix}{api="Produce",stage="${stage}"}`));
    return line === undefined ? Number.NaN : Number(line.slice(line.lastIndexOf(" ") + 1));
  };
  for (const stage of ["fsync", "worker", "handoff", "send"]) expect(stageSample("count", stage)).toBeGreaterThanOrEqual(1);
  expect(stageSample("sum", "fsync")).toBeGreaterThanOrEqual((FSYNC_DELAY_MS * 0.9) / 1000);
}, 120_000);

test("a consumer waiting at the end of a partition shows in the fetch's wait stage; DELETE starts over", async () => {
  expect((await fetch(`${adminUrl}/api/v1/request-latency`, { method: "DELETE" })).status).toBe(200);
  expect((await requestLatency(0.01)).apis.find((report) => report.api === "Produce")).toBeUndefined();
  // kcat long-polls (fetch.wait.max.ms 500 by default) at the end of the empty partition until a record comes.
  const consumed = kcat(broker.bootstrap, ["-C", "-t", "latency-tail", "-p", "0", "-o", "beginning", "-c", "1", "-q"], { timeoutMs: 60_000 });
  await Bun.sleep(2_000);
  const produced = await kcat(broker.bootstrap, ["-P", "-t", "latency-tail", "-p", "0"], { input: "wake\n", timeoutMs: 60_000 });
  expect(produced.exitCode).toBe(0);
  const received = await consumed;
  expect(received.exitCode).toBe(0);
  expect(received.stdout.trim()).toBe("wake");

  const fetchReport = (await requestLatency(0.01)).apis.find((report) => report.api === "Fetch");
  expect(fetchReport).toBeDefined();
  // The slowest fetch waited most of its long poll for the record.
  expect(fetchReport!.stagesMs.wait!).toBeGreaterThan(100);
  expect(fetchReport!.stagesMs.wait!).toBeGreaterThan(fetchReport!.totalMs.mean * 0.5);

  expect((await fetch(`${adminUrl}/api/v1/request-latency?share=0`)).status).toBe(400);
  expect((await fetch(`${adminUrl}/api/v1/request-latency`, { method: "PUT" })).status).toBe(405);
}, 120_000);
