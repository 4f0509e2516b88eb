// Exactly-once end to end with kafkajs: a consume-transform-produce app (test/helpers/eos-app-child.ts, one
// transaction per fetched batch, its input offsets committed with sendOffsets) processes 100,000 input
// records while it is SIGKILLed three times and restarted: once in the middle of a transaction (its records
// already acknowledged), twice at random moments. A read_committed reader (kcat) of the output then sees
// every input record exactly once, nothing the killed transactions wrote (a read_uncommitted reader sees
// more), and the group's committed offsets are the input's end offsets.
import { afterAll, beforeAll, expect, test } from "bun:test";
import * as path from "node:path";
import type { Subprocess } from "bun";
import { BrokerProcess } from "../helpers/broker-process.ts";
import { createTopic, kafkaClient } from "../helpers/kafkajs.ts";
import { kcat, kcatConsumeAll } from "../helpers/kcat.ts";

const INPUT = "eos-input";
const OUTPUT = "eos-output";
const GROUP = "eos-app";
const PARTITIONS = 4;
const RECORDS = 100_000;
/** About 1,500 small records per fetched batch, so about 70 transactions: many points to be killed at. */
const MAX_BYTES_PER_PARTITION = 16_384;
const CHILD = path.resolve(import.meta.dir, "../helpers/eos-app-child.ts");
const WAIT_STEP_MS = 250;
const RUN_STEPS_MAX = 480;
const RECENT_LINES_KEPT = 40;

let broker: BrokerProcess;
const children = new Set<Subprocess>();

beforeAll(async () => {
  broker = new BrokerProcess({
    properties: {
      "transaction.state.log.num.partitions": "4",
      "offsets.topic.num.partitions": "4",
      "group.initial.rebalance.delay.ms": "0",
      "group.min.session.timeout.ms": "1000",
    },
  });
  await broker.start();
  await createTopic(broker.bootstrap, INPUT, PARTITIONS);
  await createTopic(broker.bootstrap, OUTPUT, PARTITIONS);
}, 60_000);

afterAll(async () => {
  for (const child of children) child.kill("SIGKILL");
  await broker?.cleanup();
});

const inputValue = (n: number): string => `r${String(n).padStart(6, "0")}`;

interface AppRun {
  child: Subprocess<"ignore", "pipe", "pipe">;
  /** The app's last lines (its events, and stderr), for the report when it does not finish. */
  recentLines: string[];
  /** Resolves with the event once `predicate` accepts one (or null when the child exits first). */
  waitFor(predicate: (event: { event: string; transaction: number }) => boolean): Promise<{ event: string; transaction: number } | null>;
}

function startApp(env: Record<string, string> = {}): AppRun {
  const child = Bun.spawn([process.execPath, CHILD, broker.bootstrap, GROUP, INPUT, OUTPUT, "eos-app-txn", String(MAX_BYTES_PER_PARTITION)], {
    stdin: "ignore",
    stdout: "pipe",
    stderr: "pipe",
    env: { ...process.env, ...env },
  });
  children.add(child);
  void child.exited.then(() => children.delete(child));
  const recentLines: string[] = [];
  const remember = (line: string) => {
    recentLines.push(line);
    if (recentLines.length > RECENT_LINES_KEPT) recentLines.shift();
  };
  void (async () => {
    const decoder = new TextDecoder();
    for await (const chunk of child.stderr) for (const line of decoder.decode(chunk).split("\n")) if (line) remember(`stderr: ${line}`);
  })();
  const waiters: { predicate: (event: { event: string; transaction: number }) => boolean; resolve: (event: { event: string; transaction: number } | null) => void }[] = [];
  (async () => {
    const decoder = new TextDecoder();
    let pending = "";
    for await (const chunk of child.stdout) {
      pending += decoder.decode(chunk);
      const lines = pending.split("\n");
      pending = lines.pop()!;
      for (const line of lines) {
        remember(line);
        if (!line.startsWith("{")) continue;
        const event = JSON.parse(line);
        for (const waiter of [...waiters]) {
          if (!waiter.predicate(event)) continue;
          waiters.splice(waiters.indexOf(waiter), 1);
          waiter.resolve(event);
        }
      }
    }
    for (const waiter of waiters.splice(0)) waiter.resolve(null);
  })();
  return { child, recentLines, waitFor: (predicate) => new Promise((resolve) => waiters.push({ predicate, resolve })) };
}

async function killApp(app: AppRun): Promise<void> {
  app.child.kill("SIGKILL");
  await app.child.exited;
}

async function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`${what}: nothing in ${ms} ms`)), ms)));
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

const randomInt = (low: number, high: number): number => low + Math.floor(Math.random() * (high - low + 1));

test("kafkajs consume-transform-produce with sendOffsets, SIGKILLed three times: the output holds every input record exactly once for read_committed", async () => {
  // Keyed, so the records hash over every partition: librdkafka's sticky partitioner can leave a partition
  // without unkeyed records, and an empty partition never gets a committed offset to compare.
  const lines = Array.from({ length: RECORDS }, (_, n) => `k${n}:${inputValue(n)}`).join("\n") + "\n";
  const produced = await kcat(broker.bootstrap, ["-P", "-t", INPUT, "-K", ":", "-X", "batch.num.messages=500", "-X", "acks=all"], { input: lines, timeoutMs: 120_000 });
  expect(produced.exitCode).toBe(0);

  const admin = kafkaClient(broker.bootstrap, "eos-admin").admin();
  await admin.connect();
  try {
    const inputEnds = new Map((await admin.fetchTopicOffsets(INPUT)).map((p) => [p.partition, p.high]));
    expect([...inputEnds.values()].reduce((sum, high) => sum + Number(high), 0)).toBe(RECORDS);
    expect([...inputEnds.values()].every((high) => Number(high) > 0)).toBe(true);

    // Kill 1: in the middle of a transaction whose records were acknowledged (the app pauses there).
    const pauseAt = randomInt(2, 5);
    const first = startApp({ EOS_PAUSE_AT: String(pauseAt) });
    const sent = await withTimeout(first.waitFor((e) => e.event === "sent" && e.transaction === pauseAt), 90_000, `transaction ${pauseAt} sent`);
    expect(sent).not.toBeNull();
    await killApp(first);

    // Kills 2 and 3: at a random moment after a random number of commits of the restarted app.
    for (let kill = 2; kill <= 3; kill++) {
      const killAfter = randomInt(1, 3);
      const app = startApp();
      const committed = await withTimeout(app.waitFor((e) => e.event === "committed" && e.transaction === killAfter), 90_000, `kill ${kill}: commit ${killAfter}`);
      expect(committed).not.toBeNull();
      await Bun.sleep(randomInt(0, 300));
      await killApp(app);
    }

    // The last run goes to the end of the input: the group's offsets reach the input's end offsets.
    const last = startApp();
    let caughtUp = false;
    let groupOffsets: { partition: number; offset: string }[] = [];
    for (let step = 0; step < RUN_STEPS_MAX && !caughtUp; step++) {
      await Bun.sleep(WAIT_STEP_MS);
      const [offsets] = await admin.fetchOffsets({ groupId: GROUP, topics: [INPUT] });
      groupOffsets = offsets!.partitions;
      caughtUp = groupOffsets.every((p) => p.offset === inputEnds.get(p.partition));
    }
    if (!caughtUp) {
      const output = await admin.fetchTopicOffsets(OUTPUT).catch((error) => String(error));
      const group = await admin.describeGroups([GROUP]).catch((error) => String(error));
      throw new Error(
        [
          `the last app did not bring the group's offsets to the input's end in ${(RUN_STEPS_MAX * WAIT_STEP_MS) / 1000} s`,
          `group offsets: ${JSON.stringify(groupOffsets)}`,
          `input ends: ${JSON.stringify([...inputEnds])}`,
          `output offsets: ${JSON.stringify(output)}`,
          `group: ${JSON.stringify(group, (_, value) => (value instanceof Uint8Array ? undefined : value))}`,
          `the app's last lines:\n${last.recentLines.join("\n")}`,
          `the broker's last output:\n${broker.output.slice(-4000)}`,
        ].join("\n"),
      );
    }
    last.child.kill("SIGTERM");
    await withTimeout(last.child.exited, 30_000, "the app's clean stop");

    const [committedOffsets] = await admin.fetchOffsets({ groupId: GROUP, topics: [INPUT] });
    expect(new Map(committedOffsets!.partitions.map((p) => [p.partition, p.offset]))).toEqual(inputEnds);
  } finally {
    await admin.disconnect();
  }

  const readCommitted = await kcatConsumeAll(broker.bootstrap, OUTPUT, "%s\n", ["-X", "isolation.level=read_committed"]);
  const counts = new Map<string, number>();
  for (const value of readCommitted) counts.set(value, (counts.get(value) ?? 0) + 1);
  const duplicated = [...counts].filter(([, count]) => count > 1).map(([value]) => value);
  const missing = Array.from({ length: RECORDS }, (_, n) => inputValue(n).toUpperCase()).filter((value) => !counts.has(value));
  expect(duplicated.slice(0, 10)).toEqual([]);
  expect(missing.slice(0, 10)).toEqual([]);
  expect(readCommitted.length).toBe(RECORDS);

  // The killed transactions' records are in the log (the first kill came after they were acknowledged) but
  // not in what read_committed returned.
  const readUncommitted = await kcatConsumeAll(broker.bootstrap, OUTPUT, "%s\n", ["-X", "isolation.level=read_uncommitted"]);
  expect(readUncommitted.length).toBeGreaterThan(RECORDS);
}, 300_000);
