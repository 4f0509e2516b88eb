// `bunka consume --group` as a real member of a classic consumer group, against a real broker process:
// two bunka processes split a 4-partition topic while records keep arriving, one exits on SIGTERM and the
// other takes its partitions over, and together they print every record exactly once; kcat -G (librdkafka)
// joins the same group beside bunka and the partitions are shared between the two tools; the clear refusals.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { BrokerProcess, freePort } from "../helpers/broker-process.ts";
import { type ConsumedRecord, duplicateCount, kcatGroupConsumer, missingRecords, parseKcatLine, StreamingProcess } from "../helpers/groups.ts";
import { createTopic, kafkaClient } from "../helpers/kafkajs.ts";
import { bunka, bunkaOk, CLI_MAIN } from "./cli.ts";

const WAIT_MS_MAX = 30_000;
/** Continuous production: a batch every PRODUCE_PAUSE_MS, at most PRODUCE_BATCHES_MAX batches. */
const PRODUCE_PAUSE_MS = 50;
const PRODUCE_BATCHES_MAX = 2_000;
const PARTITIONS = 4;

let broker: BrokerProcess;

beforeAll(async () => {
  // Sessions down to 1 s let the fencing test expire a stopped member quickly.
  broker = new BrokerProcess({ properties: { "group.initial.rebalance.delay.ms": "0", "group.min.session.timeout.ms": "1000", "offsets.topic.num.partitions": "3", "offsets.topic.replication.factor": "1" } });
  await broker.start();
});

afterAll(async () => {
  await broker.stop();
  await broker.cleanup();
});

function bunkaMember(groupId: string, topic: string, extra: string[] = []): StreamingProcess {
  return new StreamingProcess([process.execPath, CLI_MAIN, "-b", broker.bootstrap, "consume", "-t", topic, "-g", groupId, "-f", "%p %o %v\\n", ...extra]);
}

/** The partitions of the member's latest assignment, from its "% group ... assigned topic [..]" lines on stderr. */
function latestAssignment(member: StreamingProcess): number[] | null {
  const lines = [...member.stderr.matchAll(/^% group \S+ generation \d+: assigned \S+ \[([\d,]*)\]/gm)];
  const last = lines.at(-1);
  return last ? (last[1] === "" ? [] : last[1]!.split(",").map(Number)) : null;
}

function assignmentCount(member: StreamingProcess): number {
  return [...member.stderr.matchAll(/^% group \S+ generation \d+: assigned/gm)].length;
}

function records(member: StreamingProcess): ConsumedRecord[] {
  return member.lines.map((line) => parseKcatLine(line)).filter((record): record is ConsumedRecord => record !== null);
}

async function waitFor(what: string, condition: () => boolean, describeState: () => string): Promise<void> {
  const deadline = performance.now() + WAIT_MS_MAX;
  while (!condition()) {
    if (performance.now() > deadline) throw new Error(`timed out waiting for ${what}: ${describeState()}`);
    await Bun.sleep(50);
  }
}

/**
 * Produces "v<n>" to partition n % PARTITIONS in small batches until stopped (n from `producedBefore`, a multiple of
 * PARTITIONS); stop() resolves with the end offset per partition.
 */
function produceContinuously(topic: string, producedBefore = 0): { stop: () => Promise<Map<number, number>>; produced: () => number } {
  const producer = kafkaClient(broker.bootstrap).producer();
  let stopping = false;
  let produced = producedBefore;
  const ends = new Map<number, number>(Array.from({ length: PARTITIONS }, (_, p) => [p, producedBefore / PARTITIONS]));
  const running = (async () => {
    await producer.connect();
    for (let batch = 0; batch < PRODUCE_BATCHES_MAX && !stopping; batch++) {
      const messages = Array.from({ length: PARTITIONS * 2 }, () => {
        const n = produced++;
        ends.set(n % PARTITIONS, ends.get(n % PARTITIONS)! + 1);
        return { partition: n % PARTITIONS, value: `v${n}` };
      });
      await producer.send({ topic, acks: -1, messages });
      await Bun.sleep(PRODUCE_PAUSE_MS);
    }
    await producer.disconnect();
  })();
  return {
    produced: () => produced,
    stop: async () => {
      stopping = true;
      await running;
      return ends;
    },
  };
}

describe("bunka consume --group", () => {
  test("two members split the partitions; one exits on SIGTERM and the other takes over; every record printed exactly once", async () => {
    await createTopic(broker.bootstrap, "split", PARTITIONS);
    const production = produceContinuously("split");
    const first = bunkaMember("splitters", "split");
    let second: StreamingProcess | null = null;
    try {
      const state = () => `first ${JSON.stringify(latestAssignment(first))} (${first.lines.length} lines) second ${second ? JSON.stringify(latestAssignment(second)) : "-"} (${second?.lines.length ?? 0} lines), produced ${production.produced()}\n${first.stderr}\n${second?.stderr ?? ""}`;
      await waitFor("the first member to own every partition and print", () => latestAssignment(first)?.length === PARTITIONS && first.lines.length > 0, state);

      second = bunkaMember("splitters", "split");
      const joined = second;
      await waitFor("the two members to split the partitions", () => latestAssignment(first)?.length === 2 && latestAssignment(joined)?.length === 2, state);
      const firstShare = latestAssignment(first)!;
      const secondShare = latestAssignment(joined)!;
      expect([...firstShare, ...secondShare].sort()).toEqual([0, 1, 2, 3]);
      await waitFor("the second member to print records of its partitions", () => records(joined).length >= 20, state);
      expect(records(joined).every((record) => secondShare.includes(record.partition))).toBe(true);

      const rebalancesBefore = assignmentCount(first);
      const firstLinesBefore = first.lines.length;
      expect(await joined.stop()).toBe(0);
      await waitFor("the remaining member to take every partition back", () => assignmentCount(first) > rebalancesBefore && latestAssignment(first)?.length === PARTITIONS, state);
      await waitFor("records of the taken-over partitions", () => records(first).slice(firstLinesBefore).some((record) => secondShare.includes(record.partition)), state);

      const ends = await production.stop();
      const total = [...ends.values()].reduce((a, b) => a + b, 0);
      await waitFor("every produced record to be printed", () => first.lines.length + joined.lines.length >= total, state);
      expect(await first.stop()).toBe(0);

      const all = [...records(first), ...records(joined)];
      expect(missingRecords(all, ends)).toEqual([]);
      expect(duplicateCount(all)).toBe(0);
      expect(all.length).toBe(total);
      // Each value sits at its own offset: the printed (partition, offset, value) triples are the produced ones.
      const produced = new Set(Array.from({ length: total }, (_, n) => `v${n}`));
      expect(all.every((record) => produced.has(record.value) && Number(record.value.slice(1)) % PARTITIONS === record.partition)).toBe(true);

      // What was printed is what the group committed: nothing left to read.
      const described = JSON.parse((await bunkaOk(broker.bootstrap, ["--json", "group", "describe", "splitters"])).stdout);
      expect(JSON.stringify(described)).toContain("split");
      const again = await bunkaOk(broker.bootstrap, ["consume", "-t", "split", "-g", "splitters", "-e"]);
      expect(again.stdout).toBe("");
    } finally {
      await production.stop();
      await first.stop();
      await second?.stop();
    }
  }, 120_000);

  test("kcat -G and bunka consume -g share one group: the partitions are split between the tools, then bunka takes kcat's over", async () => {
    await createTopic(broker.bootstrap, "mixed", PARTITIONS);
    const production = produceContinuously("mixed");
    const member = bunkaMember("mixers", "mixed");
    let kcat: StreamingProcess | null = null;
    let more: ReturnType<typeof produceContinuously> | null = null;
    try {
      const state = () => `bunka ${JSON.stringify(latestAssignment(member))} (${member.lines.length} lines), kcat ${kcat?.lines.length ?? 0} lines\n${member.stderr}\n${kcat?.stderr ?? ""}`;
      await waitFor("bunka to own every partition", () => latestAssignment(member)?.length === PARTITIONS && member.lines.length > 0, state);

      kcat = kcatGroupConsumer(broker.bootstrap, "mixers", "mixed");
      const librdkafka = kcat;
      await waitFor("bunka to give up half of the partitions to kcat", () => latestAssignment(member)?.length === 2, state);
      const bunkaShare = latestAssignment(member)!;
      await waitFor("kcat to print records", () => librdkafka.lines.length >= 20, state);
      const kcatRecords = () => librdkafka.lines.map((line) => parseKcatLine(line)).filter((record): record is ConsumedRecord => record !== null);
      expect(kcatRecords().every((record) => !bunkaShare.includes(record.partition))).toBe(true);

      const described = JSON.parse((await bunkaOk(broker.bootstrap, ["--json", "group", "describe", "mixers"])).stdout);
      const clientIds = JSON.stringify(described);
      expect(clientIds).toContain("bunka-cli");
      expect(clientIds).toContain("rdkafka");

      // Both tools drain what was produced while they shared the group.
      const ends = await production.stop();
      const total = [...ends.values()].reduce((a, b) => a + b, 0);
      const seen = () => [...records(member), ...kcatRecords()];
      const missing = () => `${missingRecords(seen(), ends).slice(0, 5)} of ${total} missing; ${state()}`;
      await waitFor("every produced record to be printed by one tool or the other", () => missingRecords(seen(), ends).length === 0, missing);
      expect(duplicateCount(seen())).toBe(0);

      // kcat leaves, idle (librdkafka commits its positions on close); bunka takes its partitions over from there.
      const rebalancesBefore = assignmentCount(member);
      expect(await librdkafka.stop()).toBe(0);
      await waitFor("bunka to own every partition again", () => assignmentCount(member) > rebalancesBefore && latestAssignment(member)?.length === PARTITIONS, state);
      const after = produceContinuously("mixed", total);
      more = after;
      await waitFor("a few more records", () => after.produced() >= total + 40, state);
      const finalEnds = await after.stop();
      await waitFor("bunka to print the records produced after kcat left", () => missingRecords(seen(), finalEnds).length === 0, missing);
      expect(await member.stop()).toBe(0);
      // Nothing printed twice: each handover (bunka to kcat, kcat to bunka) started at the other's committed offset.
      expect(duplicateCount(seen())).toBe(0);
    } finally {
      await production.stop();
      await more?.stop();
      await member.stop();
      await kcat?.stop();
    }
  }, 120_000);

  test("with kcat as the group's leader, librdkafka's range assignment gives bunka its share", async () => {
    await createTopic(broker.bootstrap, "led", PARTITIONS);
    const production = produceContinuously("led");
    const kcat = kcatGroupConsumer(broker.bootstrap, "led-by-kcat", "led");
    let member: StreamingProcess | null = null;
    try {
      const state = () => `bunka ${member ? JSON.stringify(latestAssignment(member)) : "-"} (${member?.lines.length ?? 0} lines), kcat ${kcat.lines.length} lines\n${member?.stderr ?? ""}\n${kcat.stderr}`;
      await waitFor("kcat to print records", () => kcat.lines.length > 0, state);
      const joined = bunkaMember("led-by-kcat", "led");
      member = joined;
      await waitFor("bunka to get half of the partitions from kcat's assignment", () => latestAssignment(joined)?.length === 2 && records(joined).length >= 10, state);
      // The leader stays the first member: the assignment line does not say "(leader)".
      expect(joined.stderr).not.toContain("(leader)");
      // Kafka's range over member ids: "bunka-cli-..." sorts before "rdkafka-...", so bunka has the first two.
      expect(latestAssignment(joined)).toEqual([0, 1]);
      expect(records(joined).every((record) => record.partition < 2)).toBe(true);
    } finally {
      await production.stop();
      await member?.stop();
      await kcat.stop();
    }
  }, 60_000);

  test("a member stopped past its session is fenced: the group moves on without it, it rejoins on waking, nothing is skipped", async () => {
    await createTopic(broker.bootstrap, "paused", PARTITIONS);
    const production = produceContinuously("paused");
    const session = ["--session-timeout-ms", "2000"];
    const sleeper = bunkaMember("pausers", "paused", session);
    let other: StreamingProcess | null = null;
    try {
      const state = () => `sleeper ${JSON.stringify(latestAssignment(sleeper))} other ${other ? JSON.stringify(latestAssignment(other)) : "-"}\n${sleeper.stderr}\n${other?.stderr ?? ""}`;
      await waitFor("the first member to own every partition", () => latestAssignment(sleeper)?.length === PARTITIONS && sleeper.lines.length > 0, state);
      const awake = bunkaMember("pausers", "paused", session);
      other = awake;
      await waitFor("the two members to split the partitions", () => latestAssignment(sleeper)?.length === 2 && latestAssignment(awake)?.length === 2, state);

      // SIGSTOP: no heartbeats; after the 2 s session the coordinator removes it and the other takes everything.
      sleeper.kill("SIGSTOP");
      try {
        await waitFor("the other member to take every partition", () => latestAssignment(awake)?.length === PARTITIONS, state);
      } finally {
        sleeper.kill("SIGCONT");
      }
      const sleeperJoins = assignmentCount(sleeper);
      await waitFor("the woken member to rejoin and the two to split again", () => assignmentCount(sleeper) > sleeperJoins && latestAssignment(sleeper)?.length === 2 && latestAssignment(awake)?.length === 2, state);

      const ends = await production.stop();
      const seen = () => [...records(sleeper), ...records(awake)];
      await waitFor("every produced record to be printed", () => missingRecords(seen(), ends).length === 0, () => `${missingRecords(seen(), ends).slice(0, 5)} missing; ${state()}`);
      expect(await sleeper.stop()).toBe(0);
      expect(await awake.stop()).toBe(0);
    } finally {
      await production.stop();
      await sleeper.stop();
      await other?.stop();
    }
  }, 90_000);

  test("partitions added to the topic are handed out: the leader notices and the group rebalances", async () => {
    await createTopic(broker.bootstrap, "growing", 2);
    const member = bunkaMember("growers", "growing");
    try {
      const state = () => `${JSON.stringify(latestAssignment(member))}: ${member.lines.join(" | ")}\n${member.stderr}`;
      await waitFor("the member to own both partitions", () => latestAssignment(member)?.length === 2, state);
      await bunkaOk(broker.bootstrap, ["topic", "add-partitions", "growing", "--num", "3"]);
      await bunkaOk(broker.bootstrap, ["produce", "-t", "growing", "-p", "2"], { input: "on the new partition\n" });
      await waitFor("the record on the new partition", () => member.lines.includes("2 0 on the new partition"), state);
      expect(latestAssignment(member)).toEqual([0, 1, 2]);
    } finally {
      await member.stop();
    }
  }, 60_000);

  test("a group that refuses the member, a broker that is down, --partition with --group: one clear line each", async () => {
    await createTopic(broker.bootstrap, "refused", 2);
    // kcat with only the roundrobin assignor: the group has no protocol in common with bunka's "range".
    const roundRobin = kcatGroupConsumer(broker.bootstrap, "roundrobins", "refused", ["-X", "partition.assignment.strategy=roundrobin"]);
    try {
      const deadline = performance.now() + WAIT_MS_MAX;
      let refusal = await bunka(broker.bootstrap, ["consume", "-t", "refused", "-g", "roundrobins", "-e"]);
      // Until kcat's join lands the group is empty and bunka may get in; retry (bounded) until kcat holds it.
      while (refusal.exitCode === 0 && performance.now() < deadline) {
        await Bun.sleep(250);
        refusal = await bunka(broker.bootstrap, ["consume", "-t", "refused", "-g", "roundrobins", "-e"]);
      }
      expect(refusal.exitCode).toBe(1);
      expect(refusal.stderr).toContain("bunka: group roundrobins refused the JoinGroup: INCONSISTENT_GROUP_PROTOCOL");
      expect(refusal.stderr).not.toContain("    at ");
    } finally {
      await roundRobin.stop();
    }

    const down = await bunka(`127.0.0.1:${freePort()}`, ["consume", "-t", "refused", "-g", "any"]);
    expect(down.exitCode).toBe(1);
    expect(down.stderr.trim()).toMatch(/^bunka: cannot connect to 127\.0\.0\.1:\d+: .*\(is the broker running\?\)$/);

    // A broker that dies under a member: the member exits with one line instead of hanging or a stack trace.
    const doomed = new BrokerProcess({ properties: { "group.initial.rebalance.delay.ms": "0", "offsets.topic.num.partitions": "1" } });
    await doomed.start();
    try {
      await createTopic(doomed.bootstrap, "doomed", 2);
      const orphan = new StreamingProcess([process.execPath, CLI_MAIN, "-b", doomed.bootstrap, "consume", "-t", "doomed", "-g", "orphans"]);
      try {
        await waitFor("the member's assignment", () => latestAssignment(orphan)?.length === 2, () => orphan.stderr);
        await doomed.kill();
        expect(await orphan.exited).toBe(1);
        // Mid-request the connection closes; between requests the reconnect is refused: either way one line.
        expect(orphan.stderr).toMatch(/\nbunka: (connection to 127\.0\.0\.1:\d+ closed while consuming|cannot connect to 127\.0\.0\.1:\d+: \S+) \(is the broker running\?\)\n$/);
      } finally {
        await orphan.stop();
      }
    } finally {
      await doomed.cleanup();
    }

    const both = await bunka(broker.bootstrap, ["consume", "-t", "refused", "-g", "any", "-p", "0"]);
    expect(both.exitCode).toBe(1);
    expect(both.stderr.trim()).toBe("bunka: --partition cannot be combined with --group: the group assigns the partitions");
  }, 90_000);
});
