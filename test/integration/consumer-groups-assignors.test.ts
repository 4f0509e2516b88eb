// The broker is assignor-agnostic: librdkafka's cooperative-sticky (incremental rebalances, KIP-429: a
// member keeps its partitions and commits the revoked ones after the new generation has begun) and
// range, and @platformatic/kafka's group consumer on the flexible protocol versions (JoinGroup v6,
// SyncGroup/Heartbeat/LeaveGroup v4, OffsetCommit/OffsetFetch v8, DescribeGroups v5, ListGroups v4).
import { afterAll, beforeAll, expect, test } from "bun:test";
import { Admin as PlatformaticAdmin, Consumer as PlatformaticConsumer, stringDeserializers } from "@platformatic/kafka";
import type { Producer } from "kafkajs";
import { GroupAdmin } from "../../src/tools/group-admin.ts";
import { BrokerProcess } from "../helpers/broker-process.ts";
import { duplicateCount, kcatGroupConsumer, missingRecords, parseKcatLine, type ConsumedRecord, type StreamingProcess } from "../helpers/groups.ts";
import { createTopic, kafkaClient } from "../helpers/kafkajs.ts";
import { eventually } from "../group/helpers.ts";

const PARTITIONS = 4;
let broker: BrokerProcess;
let producer: Producer;
let admin: GroupAdmin;
const processes: StreamingProcess[] = [];

beforeAll(async () => {
  broker = new BrokerProcess({ properties: { "group.initial.rebalance.delay.ms": "300", "offsets.topic.num.partitions": "10" } });
  await broker.start();
  producer = kafkaClient(broker.bootstrap, "assignor-producer").producer();
  await producer.connect();
  admin = await GroupAdmin.connect(broker.bootstrap);
});

afterAll(async () => {
  for (const child of processes) await child.stop(3000).catch(() => undefined);
  await producer?.disconnect().catch(() => undefined);
  admin?.close();
  await broker.cleanup();
});

async function produce(topic: string, perPartition: number): Promise<void> {
  const messages = [];
  for (let partition = 0; partition < PARTITIONS; partition++) for (let i = 0; i < perPartition; i++) messages.push({ partition, value: `${topic}-${partition}-${i}` });
  await producer.send({ topic, acks: -1, messages });
}

function records(child: StreamingProcess): ConsumedRecord[] {
  return child.lines.map(parseKcatLine).filter((record): record is ConsumedRecord => record !== null);
}

async function memberPartitions(groupId: string): Promise<number[][]> {
  const description = await admin.describeGroup(groupId);
  if (description.state !== "Stable") return [];
  return description.members.map((member) => member.assignment[0]?.partitions ?? []).sort((a, b) => a.length - b.length || (a[0] ?? 0) - (b[0] ?? 0));
}

for (const strategy of ["cooperative-sticky", "range"]) {
  test(`two kcat consumers with ${strategy}: the second one gets half the partitions, the first keeps reading, and after it leaves nothing is skipped`, async () => {
    const topic = `assign-${strategy}`;
    const groupId = `group-${strategy}`;
    await createTopic(broker.bootstrap, topic, PARTITIONS);
    const first = kcatGroupConsumer(broker.bootstrap, groupId, topic, ["-X", `partition.assignment.strategy=${strategy}`, "-X", "auto.commit.interval.ms=200"]);
    processes.push(first);
    expect(await eventually(async () => (await memberPartitions(groupId)).map((p) => p.length).join() === "4", 60_000)).toBe(true);
    await produce(topic, 50);
    expect(await eventually(() => records(first).length === 200, 60_000)).toBe(true);

    const second = kcatGroupConsumer(broker.bootstrap, groupId, topic, ["-X", `partition.assignment.strategy=${strategy}`, "-X", "auto.commit.interval.ms=200"]);
    processes.push(second);
    const split = await eventually(async () => (await memberPartitions(groupId)).map((p) => p.length).join() === "2,2", 60_000);
    if (!split) console.log(first.stderr.slice(-2000), second.stderr.slice(-2000));
    expect(split).toBe(true);
    expect((await admin.describeGroup(groupId)).protocol).toBe(strategy);
    await produce(topic, 50);
    const ends = new Map([0, 1, 2, 3].map((partition) => [partition, 100]));
    const all = () => [...records(first), ...records(second)];
    expect(await eventually(() => missingRecords(all(), ends).length === 0, 60_000)).toBe(true);
    // Each of the new records went to exactly one of them.
    expect(all().filter((record) => record.offset >= 50).length).toBe(200);

    expect(await first.stop(10_000)).toBe(0);
    expect(await eventually(async () => (await memberPartitions(groupId)).map((p) => p.length).join() === "4", 60_000)).toBe(true);
    await produce(topic, 50);
    const finalEnds = new Map([0, 1, 2, 3].map((partition) => [partition, 150]));
    expect(await eventually(() => missingRecords(all(), finalEnds).length === 0, 60_000)).toBe(true);
    console.log(`${strategy}: ${all().length} records read for 600, ${duplicateCount(all())} redelivered after the member left`);
    // No commit was refused along the way (a commit for a revoked partition is legal in KIP-429).
    for (const output of [first.stderr, second.stderr]) expect(output).not.toMatch(/ILLEGAL_GENERATION|Illegal generation|Commit failed/i);
    expect(await eventually(async () => (await admin.describeGroup(groupId)).partitions.every((p) => p.currentOffset === 150), 30_000)).toBe(true);
    await second.stop(10_000);
  }, 180_000);
}

test("@platformatic/kafka consumes in a group on the flexible versions, commits, and its admin lists and describes the group", async () => {
  const topic = "flexible";
  await createTopic(broker.bootstrap, topic, PARTITIONS);
  await produce(topic, 25);
  const consumer = new PlatformaticConsumer({ groupId: "flexible-group", clientId: "platformatic-member", bootstrapBrokers: [broker.bootstrap], deserializers: stringDeserializers, sessionTimeout: 10_000, heartbeatInterval: 500 });
  const platformaticAdmin = new PlatformaticAdmin({ clientId: "platformatic-admin", bootstrapBrokers: [broker.bootstrap] });
  try {
    const stream = await consumer.consume({ topics: [topic], mode: "earliest", autocommit: 100 } as never);
    const seen: ConsumedRecord[] = [];
    stream.on("data", (message: { partition: number; offset: bigint; value: string }) => void seen.push({ partition: message.partition, offset: Number(message.offset), value: message.value }));
    expect(await eventually(() => seen.length === 100, 60_000)).toBe(true);
    expect(duplicateCount(seen)).toBe(0);
    const listed = await platformaticAdmin.listGroups();
    expect([...listed.values()].find((group) => group.id === "flexible-group")).toMatchObject({ state: expect.stringMatching(/stable/i), protocolType: "consumer" });
    const described = await platformaticAdmin.describeGroups({ groups: ["flexible-group"] });
    expect([...described.values()][0]).toMatchObject({ state: expect.stringMatching(/stable/i) });
    expect(await eventually(async () => (await admin.describeGroup("flexible-group")).partitions.every((p) => p.currentOffset === 25), 30_000)).toBe(true);
    await stream.close();
  } finally {
    await consumer.close(true);
    await platformaticAdmin.close();
  }
}, 120_000);
