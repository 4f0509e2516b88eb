// bench/latency-reference.ts end to end, briefly, at a low rate: the paced producer, the tailing
// consumers (Kafka Fetch long-poll, the TCP relay, and Redis Streams, in memory and with its AOF, when redis-server is installed)
// and the broker's /metrics stage breakdown, with the produces and fetches its listening workers (the default)
// answered counted apart; and a broker with partition.workers.listen=false beside it. Asserts that every record
// sent was received and measured, never how fast (speed belongs to the benchmark).
import { expect, test } from "bun:test";
import { resolve } from "node:path";
import { run } from "../helpers/run.ts";

test("the latency reference receives every record it sends through Bunka, the relay, Redis and a listen=false broker, and reads Bunka's stage breakdown and local answers", async () => {
  const withRedis = Bun.which("redis-server") !== null;
  const targets = withRedis ? "relay,redis,redis-aof,bunka,bunka-listen-off" : "relay,bunka,bunka-listen-off";
  const result = await run(
    [process.execPath, resolve(import.meta.dir, "../../bench/latency-reference.ts"), "--max-rate=10000", "--rates=1000", "--seconds=1", `--targets=${targets}`],
    { timeoutMs: 120_000 },
  );
  expect(result.timedOut).toBe(false);
  expect(result.exitCode).toBe(0);
  const report = JSON.parse(result.stdout.slice(result.stdout.indexOf("\n{") + 1));
  expect(report.rates).toHaveLength(1);
  const points = report.rates[0].points as {
    target: string;
    samples: number;
    received: number;
    error?: string;
    breakdown?: {
      stages: { stage: string; count: number }[];
      slowest?: { api: string; slowest: number; totalMs: { mean: number }; stagesMs: Record<string, number> }[];
      localProduces?: { local: number; all: number };
      localFetches?: { local: number; all: number };
    };
    serverCores?: { user: number; system: number };
  }[];
  expect(points.map((point) => point.target)).toEqual(targets.split(","));
  for (const point of points) {
    expect(point.error).toBeUndefined();
    expect(point.received).toBe(1);
    expect(point.samples).toBeGreaterThan(0);
    // Every server's own CPU over its point (the relay is the bench's thread, not a server).
    if (point.target === "relay") expect(point.serverCores).toBeUndefined();
    else expect(point.serverCores!.user + point.serverCores!.system).toBeGreaterThan(0);
  }
  const bunka = points.find((point) => point.target === "bunka")!;
  const produceStages = bunka.breakdown!.stages.filter((stage) => stage.stage.startsWith("Produce"));
  // acks=1 without flush settings: every stage but fsync and the replication wait.
  expect(produceStages.map((stage) => stage.stage.split(":")[1]!.trim().split(" ")[0])).toEqual(["read", "queue", "hand-off", "in", "rest", "answer"]);
  for (const stage of produceStages) expect(stage.count).toBeGreaterThan(0);
  // The slowest 1% of its produces, stage by stage: the stages add up to their mean total.
  const slowestProduce = bunka.breakdown!.slowest!.find((entry) => entry.api === "Produce")!;
  expect(slowestProduce.slowest).toBeGreaterThan(0);
  const sum = Object.values(slowestProduce.stagesMs).reduce((total, ms) => total + ms, 0);
  expect(Math.abs(sum - slowestProduce.totalMs.mean)).toBeLessThan(0.01);
  // The default broker's workers listen: every produce counted, and answered by the owning worker (the one that
  // read it, or the peer it passed it to) without the main thread.
  const local = bunka.breakdown!.localProduces!;
  expect(local.all).toBeGreaterThan(0);
  expect(local.local).toBeGreaterThan(0);
  expect(local.local).toBeLessThanOrEqual(local.all);
  // Its consumer's fetches are counted apart: a share of all fetches, never mixed into the produce share.
  const localFetches = bunka.breakdown!.localFetches!;
  expect(localFetches.all).toBeGreaterThan(0);
  expect(localFetches.local).toBeGreaterThan(0);
  expect(localFetches.local).toBeLessThanOrEqual(localFetches.all);
  // With partition.workers.listen=false nothing is answered locally.
  const listenOff = points.find((point) => point.target === "bunka-listen-off")!;
  expect(listenOff.breakdown!.localProduces).toEqual({ local: 0, all: expect.any(Number) });
  expect(listenOff.breakdown!.localFetches).toEqual({ local: 0, all: expect.any(Number) });
}, 150_000);
