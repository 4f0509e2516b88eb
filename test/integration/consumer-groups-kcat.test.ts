// kcat's balanced consumer (-G, librdkafka 2.0.2) and a kafkajs consumer in one group. librdkafka offers
// the protocols "range" and "roundrobin"; kafkajs's round-robin assignor is called "RoundRobinAssigner", so
// the kafkajs consumer uses that assignor under librdkafka's name "roundrobin" (no common protocol would be
// INCONSISTENT_GROUP_PROTOCOL). Each gets half the partitions, every record is read once, and when kcat
// leaves, kafkajs takes over from kcat's committed offsets without skipping anything.
import { afterAll, beforeAll, expect, test } from "bun:test";
import type { Producer } from "kafkajs";
import { GroupAdmin } from "../../src/tools/group-admin.ts";
import { BrokerProcess } from "../helpers/broker-process.ts";
import {
  duplicateCount,
  kcatGroupConsumer,
  missingRecords,
  parseKcatLine,
  roundRobinNamedLikeLibrdkafka,
  startTrackedConsumer,
  stopTrackedConsumer,
  type ConsumedRecord,
  type StreamingProcess,
  type TrackedConsumer,
} from "../helpers/groups.ts";
import { createTopic, kafkaClient } from "../helpers/kafkajs.ts";
import { eventually } from "../group/helpers.ts";

const TOPIC = "mixed";
const PARTITIONS = 4;
const GROUP = "mixed-clients";

let broker: BrokerProcess;
let producer: Producer;
let admin: GroupAdmin;
let kcat: StreamingProcess | null = null;
let kafkajs: TrackedConsumer | null = null;
let sequence = 0;

beforeAll(async () => {
  broker = new BrokerProcess({ properties: { "group.initial.rebalance.delay.ms": "500", "offsets.topic.num.partitions": "10" } });
  await broker.start();
  await createTopic(broker.bootstrap, TOPIC, PARTITIONS);
  producer = kafkaClient(broker.bootstrap, "mixed-producer").producer();
  await producer.connect();
  admin = await GroupAdmin.connect(broker.bootstrap);
});

afterAll(async () => {
  await kcat?.stop(3000);
  if (kafkajs) await stopTrackedConsumer(kafkajs).catch(() => undefined);
  await producer?.disconnect().catch(() => undefined);
  admin?.close();
  await broker.cleanup();
});

async function produceRound(perPartition: number): Promise<void> {
  const messages = [];
  for (let partition = 0; partition < PARTITIONS; partition++) for (let i = 0; i < perPartition; i++) messages.push({ partition, value: `m${sequence++}` });
  await producer.send({ topic: TOPIC, acks: -1, messages });
}

function kcatRecords(): ConsumedRecord[] {
  return kcat!.lines.map(parseKcatLine).filter((record): record is ConsumedRecord => record !== null);
}

test("kcat -G and a kafkajs consumer share one group: two partitions each, every record read exactly once", async () => {
  kcat = kcatGroupConsumer(broker.bootstrap, GROUP, TOPIC);
  kafkajs = await startTrackedConsumer(kafkaClient(broker.bootstrap, "kafkajs-member"), "kafkajs", GROUP, TOPIC, { sessionTimeoutMs: 10_000, assigners: [roundRobinNamedLikeLibrdkafka] });
  const settled = await eventually(async () => {
    const description = await admin.describeGroup(GROUP);
    return description.state === "Stable" && description.members.length === 2 && description.members.every((m) => m.assignment[0]?.partitions.length === 2) && kafkajs!.assigned.length === 2;
  }, 60_000);
  if (!settled) console.log(kcat.stderr.slice(-3000));
  expect(settled).toBe(true);
  const description = await admin.describeGroup(GROUP);
  expect(description.protocol).toBe("roundrobin");
  expect(description.members.map((m) => m.clientId).sort()).toEqual(["kafkajs-member", "rdkafka"]);
  const kcatMember = description.members.find((m) => m.clientId === "rdkafka")!;
  const kcatPartitions = kcatMember.assignment[0]!.partitions;
  expect([...kcatPartitions, ...kafkajs.assigned].sort()).toEqual([0, 1, 2, 3]);

  await produceRound(50);
  const ends = new Map([0, 1, 2, 3].map((partition) => [partition, 50]));
  const all = () => [...kcatRecords(), ...kafkajs!.records];
  expect(await eventually(() => missingRecords(all(), ends).length === 0, 60_000)).toBe(true);
  await Bun.sleep(500);
  expect(all().length).toBe(200);
  expect(duplicateCount(all())).toBe(0);
  expect(new Set(kcatRecords().map((r) => r.partition))).toEqual(new Set(kcatPartitions));
  expect(new Set(kafkajs.records.map((r) => r.partition))).toEqual(new Set(kafkajs.assigned));
}, 120_000);

test("when kcat leaves, kafkajs takes all four partitions from kcat's committed offsets and skips nothing", async () => {
  // librdkafka commits its offsets when it closes (SIGTERM), then leaves the group.
  expect(await kcat!.stop(10_000)).toBe(0);
  expect(await eventually(() => kafkajs!.assigned.length === PARTITIONS, 30_000)).toBe(true);
  await produceRound(25);
  const ends = new Map([0, 1, 2, 3].map((partition) => [partition, 75]));
  const all = () => [...kcatRecords(), ...kafkajs!.records];
  expect(await eventually(() => missingRecords(all(), ends).length === 0, 60_000)).toBe(true);
  console.log(`kafkajs re-read ${duplicateCount(all())} record(s) kcat had read (anything after kcat's last commit)`);
  expect(duplicateCount(all())).toBe(0);
  expect(await eventually(async () => (await admin.describeGroup(GROUP)).partitions.every((p) => p.currentOffset === 75), 30_000)).toBe(true);
}, 120_000);
