// KIP-848's online migration (group.consumer.migration.policy): a classic kafkajs group consuming a topic is
// joined by a consumer-protocol member; the group becomes a consumer group with the kafkajs members in it as
// classic members (they rejoin and sync with server-side assignments) and consumption goes on; when the
// consumer-protocol member leaves, the group goes back to classic and the kafkajs members rebalance among
// themselves. Every record is read. The consumer-protocol member is driven by hand (ConsumerGroupHeartbeat,
// exact epochs and assignments) and is a real client: @platformatic/kafka in its KIP-848 mode, and librdkafka 2.15
// (@confluentinc/kafka-javascript under Node, group.protocol=consumer). With the policy
// `disabled` a non-empty classic group refuses the consumer-protocol member.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import type { Consumer, Producer } from "kafkajs";
import { Consumer as PlatformaticConsumer, stringDeserializers } from "@platformatic/kafka";
import type { KafkaConnection } from "../../src/client/kafka-connection.ts";
import { ErrorCode } from "../../src/protocol/errors.ts";
import { ApiKey } from "../../src/protocol/generated/index.ts";
import { createTopic, kafkaClient } from "../helpers/kafkajs.ts";
import { join } from "node:path";
import { StreamingProcess } from "../helpers/groups.ts";
import { awaitKafkaJavascript, kafkaJavascriptExpected } from "../helpers/kafka-javascript.ts";
import { ConsumerProtocolMember, eventually, startTestBroker, type TestBroker } from "./helpers.ts";

const TOPIC = "migrating";
const PARTITIONS = 4;


async function classicConsumers(bootstrap: string, groupId: string, count: number, seen: Map<string, string[]>): Promise<Consumer[]> {
  const consumers: Consumer[] = [];
  for (let i = 0; i < count; i++) {
    const name = `classic-${i}`;
    const consumer = kafkaClient(bootstrap, name).consumer({ groupId, sessionTimeout: 10_000, heartbeatInterval: 300, rebalanceTimeout: 20_000, maxWaitTimeInMs: 200 });
    await consumer.connect();
    await consumer.subscribe({ topic: TOPIC, fromBeginning: true });
    await consumer.run({
      eachMessage: async ({ message }) => {
        const value = message.value!.toString();
        seen.set(value, [...(seen.get(value) ?? []), name]);
      },
    });
    consumers.push(consumer);
  }
  return consumers;
}

/** Values are unique per test ("<tag>-<n>"): the tests share the topic, and each group reads it from the start. */
async function produce(producer: Producer, tag: string, from: number, count: number): Promise<void> {
  await producer.send({ topic: TOPIC, acks: -1, messages: Array.from({ length: count }, (_, i) => ({ partition: (from + i) % PARTITIONS, value: `${tag}-${from + i}` })) });
}

const ofTag = (seen: Map<string, string[]>, tag: string) => [...seen.keys()].filter((value) => value.startsWith(`${tag}-`)).length;

describe("online migration between the classic and the consumer protocol", () => {
  let broker: TestBroker;
  let connection: KafkaConnection;
  let producer: Producer;
  let bootstrap: string;

  beforeAll(async () => {
    broker = await startTestBroker({ "group.consumer.heartbeat.interval.ms": "300", "group.consumer.session.timeout.ms": "10000", "group.min.session.timeout.ms": "1000" });
    bootstrap = `127.0.0.1:${broker.broker.port}`;
    connection = await broker.connect();
    await createTopic(bootstrap, TOPIC, PARTITIONS);
    producer = kafkaClient(bootstrap, "migration-producer").producer();
    await producer.connect();
  });

  afterAll(async () => {
    await producer?.disconnect().catch(() => undefined);
    await broker?.stop();
  });

  test("kafkajs classic members are upgraded into a consumer group by a KIP-848 member, and downgraded back when it leaves", async () => {
    const groupId = "migration-bidirectional";
    const seen = new Map<string, string[]>();
    const classic = await classicConsumers(bootstrap, groupId, 2, seen);
    const kip848 = new ConsumerProtocolMember("kip848-member", TOPIC);
    try {
      await produce(producer, "up", 0, 40);
      expect(await eventually(() => ofTag(seen, "up") === 40, 30_000)).toBe(true);
      const before = (await connection.request(ApiKey.DescribeGroups, 5, { groups: [groupId], includeAuthorizedOperations: false })).groups[0];
      expect(before.groupState).toBe("Stable");
      expect(before.members.length).toBe(2);

      // The KIP-848 member joins the Stable classic group: upgraded, the kafkajs members inside as classic members.
      const joined = await kip848.heartbeat(connection, groupId);
      expect(joined.errorCode).toBe(ErrorCode.NONE);
      const stable = await eventually(async () => {
        await kip848.heartbeat(connection, groupId);
        const group = (await connection.request(ApiKey.ConsumerGroupDescribe, 0, { groupIds: [groupId], includeAuthorizedOperations: false })).groups[0];
        if (group.errorCode !== ErrorCode.NONE || group.groupState !== "Stable" || group.members.length !== 3) return false;
        const counts = group.members.map((member: any) => member.assignment.topicPartitions.reduce((sum: number, entry: any) => sum + entry.partitions.length, 0));
        return counts.every((count: number) => count >= 1) && counts.reduce((a: number, b: number) => a + b, 0) === PARTITIONS;
      }, 60_000);
      expect(stable).toBe(true);
      const listed = await connection.request(ApiKey.ListGroups, 5, { statesFilter: [], typesFilter: [] });
      expect(listed.groups.find((group: any) => group.groupId === groupId)?.groupType).toBe("consumer");
      // No partition is owned twice: ConsumerGroupDescribe's assignments are disjoint.
      const described = (await connection.request(ApiKey.ConsumerGroupDescribe, 0, { groupIds: [groupId], includeAuthorizedOperations: false })).groups[0];
      const owned = described.members.flatMap((member: any) => member.assignment.topicPartitions.flatMap((entry: any) => entry.partitions)).sort();
      expect(owned).toEqual([0, 1, 2, 3]);
      expect(kip848.partitions().length).toBeGreaterThanOrEqual(1);

      // The classic members still consume the partitions they hold in the consumer group.
      const kip848Partitions = new Set(kip848.partitions());
      await produce(producer, "up", 40, 40);
      const classicShare = Array.from({ length: 40 }, (_, i) => 40 + i).filter((n) => !kip848Partitions.has(n % PARTITIONS));
      expect(await eventually(() => classicShare.every((n) => seen.has(`up-${n}`)), 30_000)).toBe(true);

      // The KIP-848 member leaves: the group is classic again and the kafkajs members share every partition.
      expect((await kip848.leave(connection, groupId)).errorCode).toBe(ErrorCode.NONE);
      const downgraded = await eventually(async () => {
        const group = (await connection.request(ApiKey.DescribeGroups, 5, { groups: [groupId], includeAuthorizedOperations: false })).groups[0];
        return group.groupState === "Stable" && group.protocolType === "consumer" && group.members.length === 2;
      }, 60_000);
      expect(downgraded).toBe(true);
      expect((await connection.request(ApiKey.ConsumerGroupDescribe, 0, { groupIds: [groupId], includeAuthorizedOperations: false })).groups[0].errorCode).toBe(ErrorCode.GROUP_ID_NOT_FOUND);
      await produce(producer, "up", 80, 40);
      // Everything produced is read by the classic members, the records of the KIP-848 member's partitions
      // from where it stopped (it committed nothing here, so from the beginning: at least once).
      expect(await eventually(() => Array.from({ length: 120 }, (_, n) => n).filter((n) => n < 40 || n >= 80 || !kip848Partitions.has(n % PARTITIONS)).every((n) => seen.has(`up-${n}`)), 60_000)).toBe(true);
    } finally {
      for (const consumer of classic) await consumer.disconnect().catch(() => undefined);
    }
  }, 170_000);

  test("a real KIP-848 client (@platformatic/kafka, groupProtocol consumer) upgrades a kafkajs group, shares the topic with it, and leaves it classic", async () => {
    const groupId = "migration-platformatic";
    const seen = new Map<string, string[]>();
    const classic = await classicConsumers(bootstrap, groupId, 2, seen);
    const platformaticSeen: string[] = [];
    let platformatic: PlatformaticConsumer<string, string, string, string> | null = null;
    type Stream = { close(): Promise<void>; on(event: string, listener: (...args: any[]) => void): void };
    let stream: Stream | null = null;
    try {
      await produce(producer, "pf", 0, 40);
      expect(await eventually(() => ofTag(seen, "pf") === 40, 30_000)).toBe(true);
      expect(await eventually(async () => (await connection.request(ApiKey.DescribeGroups, 5, { groups: [groupId], includeAuthorizedOperations: false })).groups[0].groupState === "Stable", 30_000)).toBe(true);
      platformatic = new PlatformaticConsumer({ groupId, groupProtocol: "consumer", clientId: "platformatic-kip848", bootstrapBrokers: [bootstrap], deserializers: stringDeserializers, maxWaitTime: 200 } as never) as PlatformaticConsumer<string, string, string, string>;
      const consuming = (await platformatic.consume({ topics: [TOPIC], mode: "committed", fallbackMode: "earliest", autocommit: 100 } as never)) as unknown as Stream;
      stream = consuming;
      consuming.on("data", (message: { value: string }) => void platformaticSeen.push(message.value));
      const upgraded = await eventually(async () => {
        const group = (await connection.request(ApiKey.ConsumerGroupDescribe, 0, { groupIds: [groupId], includeAuthorizedOperations: false })).groups[0];
        if (group.errorCode !== ErrorCode.NONE || group.groupState !== "Stable" || group.members.length !== 3) return false;
        return group.members.every((member: any) => member.assignment.topicPartitions.length > 0);
      }, 60_000);
      expect(upgraded).toBe(true);
      // Records produced now are read by the three together: every one by someone.
      await produce(producer, "pf", 40, 80);
      const everyone = () => new Set([...seen.keys(), ...platformaticSeen]);
      expect(await eventually(() => Array.from({ length: 120 }, (_, n) => `pf-${n}`).every((value) => everyone().has(value)), 60_000)).toBe(true);
      expect(platformaticSeen.some((value) => value.startsWith("pf-") && Number(value.slice("pf-".length)) >= 40)).toBe(true);

      await consuming.close();
      await platformatic.close();
      platformatic = null;
      const downgraded = await eventually(async () => {
        const group = (await connection.request(ApiKey.DescribeGroups, 5, { groups: [groupId], includeAuthorizedOperations: false })).groups[0];
        return group.groupState === "Stable" && group.members.length === 2;
      }, 60_000);
      expect(downgraded).toBe(true);
      await produce(producer, "pf", 120, 40);
      expect(await eventually(() => Array.from({ length: 40 }, (_, n) => `pf-${120 + n}`).every((value) => seen.has(value)), 60_000)).toBe(true);
    } finally {
      await stream?.close().catch(() => undefined);
      await platformatic?.close().catch(() => undefined);
      for (const consumer of classic) await consumer.disconnect().catch(() => undefined);
    }
  }, 170_000);

  test.skipIf(!kafkaJavascriptExpected())("librdkafka 2.15 (group.protocol=consumer) upgrades a kafkajs group and leaves it classic", async () => {
    const env = await awaitKafkaJavascript(); // setup.sh builds it in the background
    const groupId = "migration-librdkafka";
    const seen = new Map<string, string[]>();
    const classic = await classicConsumers(bootstrap, groupId, 2, seen);
    const helper = join(import.meta.dir, "../helpers/kip848-rdkafka-consumer.cjs");
    let rdkafka: StreamingProcess | null = null;
    const rdkafkaValues = () => (rdkafka?.lines ?? []).map((line) => { try { return JSON.parse(line).value as string | undefined; } catch { return undefined; } }).filter((value): value is string => value !== undefined);
    try {
      await produce(producer, "rk", 0, 40);
      expect(await eventually(() => ofTag(seen, "rk") === 40, 30_000)).toBe(true);
      expect(await eventually(async () => (await connection.request(ApiKey.DescribeGroups, 5, { groups: [groupId], includeAuthorizedOperations: false })).groups[0].groupState === "Stable", 30_000)).toBe(true);
      rdkafka = new StreamingProcess(["node", helper, bootstrap, groupId, TOPIC, "rdkafka-kip848"], env);
      const upgraded = await eventually(async () => {
        const group = (await connection.request(ApiKey.ConsumerGroupDescribe, 0, { groupIds: [groupId], includeAuthorizedOperations: false })).groups[0];
        return group.errorCode === ErrorCode.NONE && group.groupState === "Stable" && group.members.length === 3 && group.members.every((member: any) => member.assignment.topicPartitions.length > 0);
      }, 60_000);
      if (!upgraded) console.log({ stderr: rdkafka.stderr.slice(-2000), lines: rdkafka.lines.slice(-10) });
      expect(upgraded).toBe(true);
      await produce(producer, "rk", 40, 80);
      const everyone = () => new Set([...seen.keys(), ...rdkafkaValues()]);
      expect(await eventually(() => Array.from({ length: 120 }, (_, n) => `rk-${n}`).every((value) => everyone().has(value)), 60_000)).toBe(true);
      expect(rdkafkaValues().some((value) => value.startsWith("rk-") && Number(value.slice(3)) >= 40)).toBe(true);

      expect(await rdkafka.stop(20_000)).toBe(0); // leaves with epoch -1: the group is classic again
      const downgraded = await eventually(async () => {
        const group = (await connection.request(ApiKey.DescribeGroups, 5, { groups: [groupId], includeAuthorizedOperations: false })).groups[0];
        return group.groupState === "Stable" && group.members.length === 2;
      }, 60_000);
      expect(downgraded).toBe(true);
      await produce(producer, "rk", 120, 40);
      expect(await eventually(() => Array.from({ length: 40 }, (_, n) => `rk-${120 + n}`).every((value) => seen.has(value)), 60_000)).toBe(true);
    } finally {
      await rdkafka?.stop(20_000).catch(() => undefined);
      for (const consumer of classic) await consumer.disconnect().catch(() => undefined);
    }
  }, 780_000); // up to 600 s waiting for the background build

  test("a classic member joining a consumer group with members takes part in it; the group stays consumer while a KIP-848 member is in it", async () => {
    const groupId = "migration-classic-joins";
    const kip848 = new ConsumerProtocolMember("kip848-first", TOPIC);
    expect((await kip848.heartbeat(connection, groupId)).errorCode).toBe(ErrorCode.NONE);
    const seen = new Map<string, string[]>();
    const [consumer] = await classicConsumers(bootstrap, groupId, 1, seen);
    try {
      const split = await eventually(async () => {
        await kip848.heartbeat(connection, groupId);
        const group = (await connection.request(ApiKey.ConsumerGroupDescribe, 0, { groupIds: [groupId], includeAuthorizedOperations: false })).groups[0];
        return group.groupState === "Stable" && group.members.length === 2 && group.members.every((member: any) => member.assignment.topicPartitions.length > 0);
      }, 60_000);
      expect(split).toBe(true);
      expect(kip848.partitions().length).toBe(2);
    } finally {
      await consumer!.disconnect().catch(() => undefined);
      await kip848.leave(connection, groupId);
    }
  }, 120_000);
});

describe("group.consumer.migration.policy=disabled", () => {
  test("a KIP-848 member cannot join a classic group that has members", async () => {
    const broker = await startTestBroker({ "group.consumer.migration.policy": "disabled", "group.min.session.timeout.ms": "1000" });
    const bootstrap = `127.0.0.1:${broker.broker.port}`;
    const connection = await broker.connect();
    await createTopic(bootstrap, TOPIC, PARTITIONS);
    const groupId = "migration-disabled";
    const [consumer] = await classicConsumers(bootstrap, groupId, 1, new Map());
    try {
      expect(await eventually(async () => (await connection.request(ApiKey.DescribeGroups, 5, { groups: [groupId], includeAuthorizedOperations: false })).groups[0].groupState === "Stable", 30_000)).toBe(true);
      const refused = await new ConsumerProtocolMember("refused", TOPIC).heartbeat(connection, groupId);
      expect(refused.errorCode).toBe(ErrorCode.GROUP_ID_NOT_FOUND);
    } finally {
      await consumer!.disconnect().catch(() => undefined);
      await broker.stop();
    }
  }, 90_000);
});
