// The seeded fuzzer (`bun run fuzz`) in CI: a short run with a fixed seed and one with a random seed (printed),
// each against its own real broker process, must end with the broker alive, every frame handled as dispatch
// must handle it (answered if it decodes, connection closed if not), the canary topic intact and a clean
// restart. Also: a seed replays the same frames, the frames cover every advertised API, and the fuzzer fails
// (with its seed) when the broker dies under it.
import { afterAll, expect, test } from "bun:test";
import { resolve } from "node:path";
import { handlers } from "../../src/api/index.ts";
import { KafkaConnection } from "../../src/client/kafka-connection.ts";
import { ErrorCode } from "../../src/protocol/errors.ts";
import { ApiKey, apiSchemas } from "../../src/protocol/generated/index.ts";
import { FRAME_MUTATIONS, makeFrame, type AdvertisedApis, type FuzzTargets } from "../../src/tools/fuzz-frames.ts";
import { BrokerProcess } from "../helpers/broker-process.ts";

const repoRoot = resolve(import.meta.dir, "../..");
const FUZZ_RUN_TIMEOUT_MS = 150_000;
const advertised: AdvertisedApis = new Map([...handlers.values()].map((handler) => [handler.apiKey, { minVersion: handler.minVersion, maxVersion: handler.maxVersion }]));
const targets: FuzzTargets = { canaryTopic: "fuzz-canary", topics: ["fuzz-t0", "fuzz-t1"], groups: ["fuzz-g0"], clockMs: Date.UTC(2026, 0, 1) };
const brokers: BrokerProcess[] = [];

afterAll(async () => {
  for (const broker of brokers) await broker.cleanup();
});

/** Runs `bun src/tools/fuzz.ts` with the arguments; resolves with its exit code and output. */
async function runFuzz(args: string[], onStarted?: () => void): Promise<{ code: number | null; output: string }> {
  const child = Bun.spawn([process.execPath, "src/tools/fuzz.ts", ...args], { cwd: repoRoot, stdin: "ignore", stdout: "pipe", stderr: "pipe" });
  onStarted?.();
  const timer = setTimeout(() => child.kill("SIGKILL"), FUZZ_RUN_TIMEOUT_MS);
  const [stdout, stderr, code] = await Promise.all([new Response(child.stdout).text(), new Response(child.stderr).text(), child.exited]);
  clearTimeout(timer);
  return { code, output: stdout + stderr };
}

function summaryCount(output: string, line: string, name: string): number {
  const found = output.split("\n").find((text) => text.trim().startsWith(`${line}:`));
  const match = found?.match(new RegExp(`\\b${name} (\\d+)`));
  return match ? Number(match[1]) : 0;
}

test("a seed replays the same frames; another seed gives others; frames cover every advertised API version, mutation and outcome", () => {
  const FRAMES = 5000;
  const first = Array.from({ length: FRAMES }, (_, index) => makeFrame(42, index, advertised, targets));
  const again = Array.from({ length: 200 }, (_, index) => makeFrame(42, index, advertised, targets));
  const other = Array.from({ length: 200 }, (_, index) => makeFrame(43, index, advertised, targets));
  for (let i = 0; i < 200; i++) expect(Bun.deepEquals(again[i]!.bytes, first[i]!.bytes)).toBe(true);
  expect(other.filter((frame, i) => Bun.deepEquals(frame.bytes, first[i]!.bytes)).length).toBeLessThan(10);

  // Every advertised version of every advertised API is built (before mutation).
  const sent = new Set(first.map((frame) => `${apiSchemas.get(frame.apiKey)!.name} v${frame.apiVersion}`));
  const missing: string[] = [];
  for (const [key, range] of advertised) {
    for (let version = range.minVersion; version <= range.maxVersion; version++) if (!sent.has(`${apiSchemas.get(key)!.name} v${version}`)) missing.push(`${apiSchemas.get(key)!.name} v${version}`);
  }
  expect(missing).toEqual([]);
  const mutations = new Set(first.map((frame) => frame.mutation));
  for (const mutation of FRAME_MUTATIONS) expect(mutations.has(mutation)).toBe(true);
  const expectations = new Set(first.map((frame) => frame.expect));
  expect([...expectations].sort()).toEqual(["answer", "close", "no-answer"]);
  // Every version of Produce is reached (record batches are the richest input).
  const produceVersions = new Set(first.filter((frame) => frame.apiKey === 0).map((frame) => frame.apiVersion));
  expect(produceVersions.size).toBe(advertised.get(0)!.maxVersion - advertised.get(0)!.minVersion + 1);
});

test("fixed seed, 3000 frames: broker alive, every frame handled, canary intact, clean restart", async () => {
  const { code, output } = await runFuzz(["--seed", "20261202", "--frames", "3000"]);
  if (code !== 0) console.log(output);
  expect(output).toContain("fuzz: seed 20261202");
  expect(output).toContain("fuzz: OK (seed 20261202): broker alive, canary intact, clean restart");
  expect(code).toBe(0);
  expect(output).toContain("fuzz: 3000 frames");
  // The run reached both answers and closes, and record validation behind the decoder.
  expect(summaryCount(output, "outcomes", "answered")).toBeGreaterThan(1000);
  expect(summaryCount(output, "outcomes", "closed")).toBeGreaterThan(100);
  expect(summaryCount(output, "error codes", "CORRUPT_MESSAGE")).toBeGreaterThan(0);
  // Some frames went out pipelined, and the stored batches were read back and decoded at each check.
  expect(Number(output.match(/(\d+) pipelines/)?.[1] ?? 0)).toBeGreaterThan(10);
  expect(Number(output.match(/stored batches read back and decoded: (\d+)/)?.[1] ?? 0)).toBeGreaterThan(100);
  // Log end offsets were compared with the acknowledged appends (a refused batch stored anyway is a finding).
  // Frames are spread over every advertised API, so each new API leaves Produce fewer of the 3000: the bound
  // asks that the comparison really ran, not for a share.
  expect(Number(output.match(/log end matched the acknowledged appends: (\d+)/)?.[1] ?? 0)).toBeGreaterThanOrEqual(10);
  expect(output).not.toContain("findings:");
}, FUZZ_RUN_TIMEOUT_MS + 10_000);

test("random seed, 2000 frames: broker alive, every frame handled, canary intact, clean restart", async () => {
  const seed = Math.floor(Math.random() * 2 ** 32);
  console.log(`fuzz test: random seed ${seed} (replay: bun run fuzz --seed ${seed} --frames 2000, plus the --clock-ms the run printed)`);
  const { code, output } = await runFuzz(["--seed", String(seed), "--frames", "2000"]);
  if (code !== 0) console.log(output);
  expect(output).toContain(`fuzz: OK (seed ${seed})`);
  expect(code).toBe(0);
}, FUZZ_RUN_TIMEOUT_MS + 10_000);

test("a broker killed during the run fails the fuzz run, which names its seed", async () => {
  const broker = new BrokerProcess();
  brokers.push(broker);
  await broker.start();
  let killer: ReturnType<typeof setTimeout> | undefined;
  const { code, output } = await runFuzz(["--seed", "77", "--frames", "1000000", "--check-every", "200", "--bootstrap", broker.bootstrap], () => {
    killer = setTimeout(() => void broker.kill(), 3000);
  });
  clearTimeout(killer);
  expect(code).toBe(1);
  expect(output).toContain("fuzz: FAILED (seed 77)");
}, FUZZ_RUN_TIMEOUT_MS + 10_000);

// Regressions the fuzzer found, each replayed over a real socket against a real broker process.

test("JoinGroup listing one protocol twice is answered and the broker lives on (fuzz seed 101 killed it)", async () => {
  // The duplicate was counted twice, so no protocol looked supported by every member and choosing one
  // threw from the join timer: an uncaught exception that ended the process.
  const broker = new BrokerProcess({ properties: { "group.initial.rebalance.delay.ms": "0" } });
  brokers.push(broker);
  await broker.start();
  const client = await KafkaConnection.connect({ host: "127.0.0.1", port: broker.port, requestTimeoutMs: 15_000 });
  const metadata = new Uint8Array([0, 1, 0, 0, 0, 0, 0, 0, 0, 0]);
  const join = (memberId: string) =>
    client.request(ApiKey.JoinGroup, 5, {
      groupId: "fuzz-duplicate-protocols", sessionTimeoutMs: 10_000, rebalanceTimeoutMs: 10_000, memberId, groupInstanceId: null,
      protocolType: "consumer", protocols: [{ name: "range", metadata }, { name: "range", metadata }],
    });
  let answer = await join("");
  // Bounded: the coordinator is ready once __consumer_offsets exists (created on first use).
  for (let attempt = 0; attempt < 40 && (answer.errorCode === ErrorCode.COORDINATOR_NOT_AVAILABLE || answer.errorCode === ErrorCode.COORDINATOR_LOAD_IN_PROGRESS); attempt++) {
    await Bun.sleep(250);
    answer = await join("");
  }
  expect(answer.errorCode).toBe(ErrorCode.MEMBER_ID_REQUIRED);
  const joined = await join(answer.memberId);
  expect(joined.errorCode).toBe(ErrorCode.NONE);
  expect(joined.protocolName).toBe("range");
  expect(joined.leader).toBe(answer.memberId);
  client.close();
  // The broker still serves a new client.
  const other = await KafkaConnection.connect({ host: "127.0.0.1", port: broker.port, requestTimeoutMs: 15_000 });
  const versions = await other.request(ApiKey.ApiVersions, 3, { clientSoftwareName: "fuzz-test", clientSoftwareVersion: "1" });
  expect(versions.errorCode).toBe(ErrorCode.NONE);
  other.close();
  expect(broker.output).not.toContain("no protocol supported by all members");
}, 60_000);
