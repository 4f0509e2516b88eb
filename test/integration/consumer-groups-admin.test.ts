// Group administration from both sides: kafkajs's admin client (describeGroups, fetchOffsets, resetOffsets,
// setOffsets, fetchTopicOffsetsByTimestamp, listGroups, deleteGroups) and `bun run groups` (describe with
// lag, reset --to-earliest/--to-latest/--to-offset/--to-datetime, list, delete), against a broker process.
// Resets are refused while the group has members and take effect for the next consumer.
import { afterAll, beforeAll, expect, test } from "bun:test";
import { type Admin, type Producer } from "kafkajs";
import { BrokerProcess } from "../helpers/broker-process.ts";
import { decodeMemberAssignment, startTrackedConsumer, stopTrackedConsumer, type TrackedConsumer } from "../helpers/groups.ts";
import { createTopic, kafkaClient } from "../helpers/kafkajs.ts";
import { run } from "../helpers/run.ts";
import { eventually } from "../group/helpers.ts";

const TOPIC = "ledger";
const GROUP = "ledger-readers";
/** Two batches per partition with CreateTime timestamps far apart, so a time between them is unambiguous. */
const OLD_TIMESTAMP_MS = 1_000_000_000_000;
const NEW_TIMESTAMP_MS = 1_700_000_000_000;
const BETWEEN_MS = 1_500_000_000_000;

let broker: BrokerProcess;
let producer: Producer;
let admin: Admin;
let consumer: TrackedConsumer | null = null;

beforeAll(async () => {
  broker = new BrokerProcess({ properties: { "group.initial.rebalance.delay.ms": "0", "offsets.topic.num.partitions": "10" } });
  await broker.start();
  await createTopic(broker.bootstrap, TOPIC, 2);
  const kafka = kafkaClient(broker.bootstrap, "admin-test");
  producer = kafka.producer();
  await producer.connect();
  admin = kafka.admin();
  await admin.connect();
  for (const [timestamp, count] of [[OLD_TIMESTAMP_MS, 10], [NEW_TIMESTAMP_MS, 10]] as const) {
    const messages = [0, 1].flatMap((partition) => Array.from({ length: count }, (_, i) => ({ partition, value: `${timestamp}-${i}`, timestamp: String(timestamp) })));
    await producer.send({ topic: TOPIC, acks: -1, messages });
  }
});

afterAll(async () => {
  if (consumer) await stopTrackedConsumer(consumer).catch(() => undefined);
  await admin?.disconnect().catch(() => undefined);
  await producer?.disconnect().catch(() => undefined);
  await broker.cleanup();
});

/** `bun run groups ...` as an operator would type it. */
async function groups(...args: string[]) {
  const result = await run([process.execPath, "run", "groups", "--bootstrap-server", broker.bootstrap, ...args], { timeoutMs: 60_000 });
  return { ...result, json: () => JSON.parse(result.stdout) };
}

async function committed(): Promise<number[]> {
  const fetched = await admin.fetchOffsets({ groupId: GROUP, topics: [TOPIC] });
  return fetched[0]!.partitions.sort((a, b) => a.partition - b.partition).map((p) => Number(p.offset));
}

test("while a consumer runs: kafkajs describeGroups and `groups --describe` show the member, its assignment and lag; resets are refused", async () => {
  consumer = await startTrackedConsumer(kafkaClient(broker.bootstrap, "ledger-app"), "ledger-app", GROUP, TOPIC);
  expect(await eventually(() => consumer!.records.length === 40, 60_000)).toBe(true);
  expect(await eventually(async () => (await committed()).join() === "20,20", 30_000)).toBe(true);

  const { groups: [described] } = await admin.describeGroups([GROUP]);
  expect(described!.state).toBe("Stable");
  expect(described!.protocolType).toBe("consumer");
  expect(described!.members.length).toBe(1);
  expect(described!.members[0]!.clientId).toBe("ledger-app");
  expect(decodeMemberAssignment(described!.members[0]!.memberAssignment)).toEqual({ [TOPIC]: [0, 1] });

  const cli = await groups("--describe", "--group", GROUP, "--json");
  expect(cli.exitCode).toBe(0);
  const description = cli.json();
  expect(description.state).toBe("Stable");
  expect(description.members[0].clientId).toBe("ledger-app");
  expect(description.partitions.map((p: { partition: number; currentOffset: number; logEndOffset: number; lag: number; consumerId: string }) => [p.partition, p.currentOffset, p.logEndOffset, p.lag, p.consumerId])).toEqual([
    [0, 20, 20, 0, described!.members[0]!.memberId],
    [1, 20, 20, 0, described!.members[0]!.memberId],
  ]);
  const table = await groups("--describe", "--group", GROUP);
  expect(table.stdout).toContain("CURRENT-OFFSET");
  expect(table.stdout).toMatch(new RegExp(`${GROUP}\\s+${TOPIC}\\s+0\\s+20\\s+20\\s+0\\s+ledger-app-`));

  await expect(admin.resetOffsets({ groupId: GROUP, topic: TOPIC, earliest: true })).rejects.toThrow(/no running instances/);
  const refused = await groups("--reset-offsets", "--group", GROUP, "--topic", TOPIC, "--to-earliest", "--execute");
  expect(refused.exitCode).toBe(1);
  expect(refused.stderr).toContain("can only be reset if the group 'ledger-readers' is inactive, but the current state is Stable");
  expect(await committed()).toEqual([20, 20]);
}, 120_000);

test("once the group is empty: lag shows what arrived since, and kafkajs resetOffsets / setOffsets / offsets by timestamp move the committed offsets", async () => {
  await stopTrackedConsumer(consumer!);
  consumer = null;
  await producer.send({ topic: TOPIC, acks: -1, messages: Array.from({ length: 5 }, (_, i) => ({ partition: 0, value: `late-${i}` })) });
  const description = (await groups("--describe", "--group", GROUP, "--json")).json();
  expect(description.state).toBe("Empty");
  expect(description.members).toEqual([]);
  expect(description.partitions.map((p: { lag: number }) => p.lag)).toEqual([5, 0]);
  const table = await groups("--describe", "--group", GROUP);
  expect(table.stdout).toContain(`Consumer group '${GROUP}' has no active members.`);

  // kafkajs resets by joining the group with a consumer that seeks and commits. For earliest/latest it
  // commits the logical offsets -2/-1, which Kafka stores as given; its consumers then fall back to
  // auto.offset.reset (fromBeginning). Bunka stores them as given too.
  await admin.resetOffsets({ groupId: GROUP, topic: TOPIC, earliest: true });
  expect(await committed()).toEqual([-2, -2]);
  await admin.setOffsets({ groupId: GROUP, topic: TOPIC, partitions: [{ partition: 0, offset: "3" }, { partition: 1, offset: "4" }] });
  expect(await committed()).toEqual([3, 4]);
  const byTime = await admin.fetchTopicOffsetsByTimestamp(TOPIC, BETWEEN_MS);
  expect(byTime.sort((a, b) => a.partition - b.partition).map((p) => Number(p.offset))).toEqual([10, 10]);
  await admin.setOffsets({ groupId: GROUP, topic: TOPIC, partitions: byTime.map((p) => ({ partition: p.partition, offset: p.offset })) });
  expect(await committed()).toEqual([10, 10]);
  await admin.resetOffsets({ groupId: GROUP, topic: TOPIC, earliest: false });
  expect(await committed()).toEqual([-1, -1]);
  // A consumer that starts at the latest offset without a commit reads nothing old.
  const latest = await startTrackedConsumer(kafkaClient(broker.bootstrap, "after-latest"), "after-latest", GROUP, TOPIC, { fromBeginning: false });
  expect(await eventually(() => latest.assigned.length === 2 && latest.fetches > 0, 30_000)).toBe(true);
  await producer.send({ topic: TOPIC, acks: -1, messages: [{ partition: 1, value: "fresh" }] });
  expect(await eventually(() => latest.records.length === 1, 30_000)).toBe(true);
  expect(latest.records[0]).toMatchObject({ partition: 1, offset: 20, value: "fresh" });
  await stopTrackedConsumer(latest);
  // kafkajs commits only partitions it read from: partition 0 keeps the -1 that resetOffsets wrote.
  expect(await eventually(async () => (await committed()).join() === "-1,21", 30_000)).toBe(true);
}, 120_000);

test("`groups --reset-offsets`: a dry run changes nothing; --execute to earliest, latest, an offset (clamped) and a date-time; the next consumer starts there", async () => {
  const dry = await groups("--reset-offsets", "--group", GROUP, "--topic", TOPIC, "--to-earliest");
  expect(dry.exitCode).toBe(0);
  expect(dry.stdout).toContain("dry run");
  expect(dry.stdout).toMatch(/ledger-readers\s+ledger\s+0\s+-\s+0\n/);
  expect(dry.stdout).toMatch(/ledger-readers\s+ledger\s+1\s+21\s+0\n/);
  expect(await committed()).toEqual([-1, 21]);

  const reset = async (...args: string[]) => {
    const result = await groups("--reset-offsets", "--group", GROUP, ...args, "--execute", "--json");
    expect(result.exitCode).toBe(0);
    return result.json().plan.map((entry: { newOffset: number }) => entry.newOffset);
  };
  expect(await reset("--topic", TOPIC, "--to-earliest")).toEqual([0, 0]);
  expect(await committed()).toEqual([0, 0]);
  expect(await reset("--topic", TOPIC, "--to-latest")).toEqual([25, 21]);
  expect(await committed()).toEqual([25, 21]);
  expect(await reset("--topic", `${TOPIC}:1`, "--to-offset", "7")).toEqual([7]);
  expect(await committed()).toEqual([25, 7]);
  expect(await reset("--topic", `${TOPIC}:0`, "--to-offset", "1000")).toEqual([25]);
  expect(await reset("--all-topics", "--to-datetime", new Date(BETWEEN_MS).toISOString())).toEqual([10, 10]);
  expect(await committed()).toEqual([10, 10]);

  const bad = await groups("--reset-offsets", "--group", GROUP, "--topic", TOPIC, "--to-offset", "-3");
  expect(bad.exitCode).toBe(2);
  const missing = await groups("--reset-offsets", "--group", GROUP, "--topic", "no-such-topic", "--to-earliest");
  expect(missing.exitCode).toBe(1);
  expect(missing.stderr).toContain("topic no-such-topic does not exist");

  const resumed = await startTrackedConsumer(kafkaClient(broker.bootstrap, "after-reset"), "after-reset", GROUP, TOPIC);
  expect(await eventually(() => resumed.records.length === 15 + 11, 30_000)).toBe(true);
  for (const partition of [0, 1]) expect(resumed.records.find((record) => record.partition === partition)!.offset).toBe(10);
  await stopTrackedConsumer(resumed);
}, 120_000);

test("listGroups and `groups --list` show the group; deleteGroups and `groups --delete` remove an empty group and its offsets", async () => {
  expect((await admin.listGroups()).groups).toContainEqual({ groupId: GROUP, protocolType: "consumer" });
  const listed = (await groups("--list", "--json")).json();
  expect(listed).toContainEqual(expect.objectContaining({ groupId: GROUP, state: "Empty" }));
  const other = await groups("--reset-offsets", "--group", "scratch", "--topic", TOPIC, "--to-latest", "--execute");
  expect(other.exitCode).toBe(0);
  expect((await groups("--delete", "--group", "scratch")).stdout).toContain("Deletion of group 'scratch' succeeded.");
  await admin.deleteGroups([GROUP]);
  const after = (await groups("--list", "--json")).json();
  expect(after.map((g: { groupId: string }) => g.groupId)).not.toContain(GROUP);
  expect(after.map((g: { groupId: string }) => g.groupId)).not.toContain("scratch");
  const fetched = await admin.fetchOffsets({ groupId: GROUP, topics: [TOPIC] });
  expect(fetched[0]!.partitions.map((p) => p.offset)).toEqual(["-1", "-1"]);
  const gone = await groups("--delete", "--group", GROUP);
  expect(gone.exitCode).toBe(1);
  expect(gone.stderr).toContain("GROUP_ID_NOT_FOUND");
}, 120_000);
