// Consumer groups with real kafkajs 2.2.4 consumers against a real broker process: three consumers split a
// six-partition topic two partitions each and read every record exactly once; one stops and its partitions
// move to the others within the session timeout, it comes back and the group rebalances again, and a
// consumer process killed with SIGKILL loses its partitions once its session times out. No record is skipped.
import { afterAll, beforeAll, expect, test } from "bun:test";
import type { Producer } from "kafkajs";
import { GroupAdmin } from "../../src/tools/group-admin.ts";
import { BrokerProcess } from "../helpers/broker-process.ts";
import { duplicateCount, kafkajsConsumerChild, missingRecords, startTrackedConsumer, stopTrackedConsumer, type ConsumedRecord, type StreamingProcess, type TrackedConsumer } from "../helpers/groups.ts";
import { createTopic, kafkaClient } from "../helpers/kafkajs.ts";
import { eventually } from "../group/helpers.ts";

const TOPIC = "orders";
const PARTITIONS = 6;
const GROUP = "order-processors";
const SESSION_TIMEOUT_MS = 10_000;
const CHILD_SESSION_TIMEOUT_MS = 6_000;

let broker: BrokerProcess;
let producer: Producer;
let admin: GroupAdmin;
const consumers: TrackedConsumer[] = [];
/** Every consumer that ever ran, so records read before a stop still count. */
const everyone: TrackedConsumer[] = [];
let child: StreamingProcess | null = null;
let sequence = 0;

beforeAll(async () => {
  broker = new BrokerProcess({ properties: { "group.initial.rebalance.delay.ms": "1000", "offsets.topic.num.partitions": "10" } });
  await broker.start();
  await createTopic(broker.bootstrap, TOPIC, PARTITIONS);
  producer = kafkaClient(broker.bootstrap, "group-test-producer").producer();
  await producer.connect();
  admin = await GroupAdmin.connect(broker.bootstrap);
});

afterAll(async () => {
  await child?.stop(2000);
  for (const tracked of everyone) await stopTrackedConsumer(tracked).catch(() => undefined);
  await producer?.disconnect().catch(() => undefined);
  admin?.close();
  await broker.cleanup();
});

async function produceRound(perPartition: number): Promise<void> {
  const messages = [];
  for (let partition = 0; partition < PARTITIONS; partition++) {
    for (let i = 0; i < perPartition; i++) messages.push({ partition, value: `record-${sequence++}` });
  }
  await producer.send({ topic: TOPIC, acks: -1, messages });
}

async function endOffsets(): Promise<Map<number, number>> {
  const description = await admin.describeGroup(GROUP);
  const ends = new Map<number, number>();
  for (const partition of description.partitions) ends.set(partition.partition, partition.logEndOffset);
  return ends;
}

function allRecords(): ConsumedRecord[] {
  const records = everyone.flatMap((tracked) => tracked.records);
  if (child) for (const line of child.lines) {
    const event = JSON.parse(line);
    if (event.event === "record") records.push({ partition: event.partition, offset: event.offset, value: "" });
  }
  return records;
}

/** Live consumers' assignments cover all six partitions, each partition once, `perConsumer` each. */
function balanced(live: TrackedConsumer[], perConsumer: number[]): boolean {
  const sizes = live.map((tracked) => tracked.assigned.length).sort();
  const union = new Set(live.flatMap((tracked) => tracked.assigned));
  return union.size === PARTITIONS && sizes.join() === [...perConsumer].sort().join() && live.reduce((sum, t) => sum + t.assigned.length, 0) === PARTITIONS;
}

async function start(name: string): Promise<TrackedConsumer> {
  const tracked = await startTrackedConsumer(kafkaClient(broker.bootstrap, name), name, GROUP, TOPIC, { sessionTimeoutMs: SESSION_TIMEOUT_MS });
  everyone.push(tracked);
  return tracked;
}

test("three kafkajs consumers in one group over a 6-partition topic each get two partitions and together read every record exactly once", async () => {
  consumers.push(...(await Promise.all(["consumer-a", "consumer-b", "consumer-c"].map(start))));
  expect(await eventually(() => balanced(consumers, [2, 2, 2]), 60_000)).toBe(true);
  const description = await admin.describeGroup(GROUP);
  expect(description.state).toBe("Stable");
  expect(description.protocol).toBe("RoundRobinAssigner");
  expect(description.members.map((member) => member.assignment[0]!.partitions.length)).toEqual([2, 2, 2]);

  await produceRound(100);
  const ends = await endOffsets();
  expect([...ends.values()]).toEqual(Array(PARTITIONS).fill(100));
  expect(await eventually(() => allRecords().length >= 600 && missingRecords(allRecords(), ends).length === 0, 60_000)).toBe(true);
  await Bun.sleep(500); // anything delivered twice would show up now
  expect(allRecords().length).toBe(600);
  expect(duplicateCount(allRecords())).toBe(0);
  for (const tracked of consumers) {
    expect(tracked.records.length).toBe(200);
    expect(new Set(tracked.records.map((record) => record.partition))).toEqual(new Set(tracked.assigned));
  }
  // The group committed what it read: lag 0 everywhere.
  expect(await eventually(async () => (await admin.describeGroup(GROUP)).partitions.every((p) => p.lag === 0), 30_000)).toBe(true);
}, 120_000);

test("one consumer stops: its partitions move to the other two within the session timeout; it rejoins and the group rebalances again; nothing is skipped", async () => {
  let producing = true;
  const background = (async () => {
    for (let round = 0; round < 200 && producing; round++) {
      await produceRound(5);
      await Bun.sleep(50);
    }
  })();

  const leaving = consumers.pop()!;
  const stoppedAtMs = Date.now();
  await stopTrackedConsumer(leaving);
  expect(await eventually(() => balanced(consumers, [3, 3]), SESSION_TIMEOUT_MS)).toBe(true);
  const movedMs = Date.now() - stoppedAtMs;
  console.log(`partitions of the stopped consumer moved after ${movedMs} ms (session timeout ${SESSION_TIMEOUT_MS} ms)`);
  expect(movedMs).toBeLessThan(SESSION_TIMEOUT_MS);

  const rejoinedAtMs = Date.now();
  consumers.push(await start("consumer-c-again"));
  expect(await eventually(() => balanced(consumers, [2, 2, 2]), 60_000)).toBe(true);
  console.log(`group rebalanced to three members ${Date.now() - rejoinedAtMs} ms after the consumer came back`);

  producing = false;
  await background;
  const ends = await endOffsets();
  expect(await eventually(() => missingRecords(allRecords(), ends).length === 0, 60_000)).toBe(true);
  console.log(`${allRecords().length} records read for ${[...ends.values()].reduce((a, b) => a + b, 0)} produced (${duplicateCount(allRecords())} redelivered after rebalances)`);
  expect(missingRecords(allRecords(), ends)).toEqual([]);
}, 180_000);

test("a consumer process killed with SIGKILL keeps its partitions until its session times out, then the others take them; nothing is skipped", async () => {
  child = kafkajsConsumerChild(broker.bootstrap, GROUP, TOPIC, CHILD_SESSION_TIMEOUT_MS);
  const childAssigned = () => {
    const events = child!.lines.map((line) => JSON.parse(line)).filter((event) => event.event === "assigned");
    return (events.at(-1)?.partitions ?? []) as number[];
  };
  // Four members over six partitions: 2, 2, 1, 1.
  expect(await eventually(() => childAssigned().length > 0 && new Set([...childAssigned(), ...consumers.flatMap((t) => t.assigned)]).size === PARTITIONS && consumers.reduce((sum, t) => sum + t.assigned.length, 0) + childAssigned().length === PARTITIONS, 60_000)).toBe(true);
  await produceRound(20);
  child.kill("SIGKILL");
  await child.exited;
  const killedAtMs = Date.now();
  expect(await eventually(() => balanced(consumers, [2, 2, 2]), CHILD_SESSION_TIMEOUT_MS + 20_000)).toBe(true);
  const movedMs = Date.now() - killedAtMs;
  console.log(`partitions of the killed consumer moved after ${movedMs} ms (its session timeout ${CHILD_SESSION_TIMEOUT_MS} ms)`);
  // No LeaveGroup was sent: the coordinator must have waited for the session to expire.
  expect(movedMs).toBeGreaterThanOrEqual(CHILD_SESSION_TIMEOUT_MS - 1000);
  await produceRound(20);
  const ends = await endOffsets();
  expect(await eventually(() => missingRecords(allRecords(), ends).length === 0, 60_000)).toBe(true);
  expect(missingRecords(allRecords(), ends)).toEqual([]);
  expect(broker.output).toContain("session expired");
}, 180_000);
