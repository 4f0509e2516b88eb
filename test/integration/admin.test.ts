// Topic administration with real clients: kafkajs admin (create with configs, describe configs, add
// partitions, delete, errors) and auto-creation through Metadata from kcat.
import { afterAll, beforeAll, expect, test } from "bun:test";
import { ConfigResourceTypes } from "kafkajs";
import { BrokerProcess } from "../helpers/broker-process.ts";
import { kafkaClient } from "../helpers/kafkajs.ts";
import { kcat } from "../helpers/kcat.ts";

let broker: BrokerProcess;

beforeAll(async () => {
  broker = new BrokerProcess({ properties: { "num.partitions": "3", "log.retention.ms": "86400000" } });
  await broker.start();
});

afterAll(async () => {
  await broker.cleanup();
});

async function withAdmin<T>(work: (admin: ReturnType<ReturnType<typeof kafkaClient>["admin"]>) => Promise<T>): Promise<T> {
  const admin = kafkaClient(broker.bootstrap, "admin-test").admin();
  await admin.connect();
  try {
    return await work(admin);
  } finally {
    await admin.disconnect();
  }
}

test("topic configs: overrides, broker defaults and Kafka defaults are described with their values", async () => {
  await withAdmin(async (admin) => {
    await admin.createTopics({
      topics: [{ topic: "configured", numPartitions: 2, configEntries: [{ name: "segment.bytes", value: "1048576" }, { name: "compression.type", value: "lz4" }] }],
    });
    const described = await admin.describeConfigs({ includeSynonyms: false, resources: [{ type: ConfigResourceTypes.TOPIC, name: "configured" }] });
    const entries = new Map(described.resources[0]!.configEntries.map((entry) => [entry.configName, entry]));
    expect(entries.get("segment.bytes")!.configValue).toBe("1048576");
    expect(entries.get("compression.type")!.configValue).toBe("lz4");
    expect(entries.get("retention.ms")!.configValue).toBe("86400000"); // broker default from the config file
    expect(entries.get("segment.ms")!.configValue).toBe("604800000"); // Kafka's default
    expect(entries.get("segment.ms")!.isDefault).toBe(true);

    const one = await admin.describeConfigs({ includeSynonyms: false, resources: [{ type: ConfigResourceTypes.TOPIC, name: "configured", configNames: ["segment.bytes"] }] });
    expect(one.resources[0]!.configEntries.map((entry) => entry.configName)).toEqual(["segment.bytes"]);
  });
});

test("creating topics validates names, configs, partition counts and duplicates with Kafka's error codes", async () => {
  await withAdmin(async (admin) => {
    await admin.createTopics({ topics: [{ topic: "exists-once", numPartitions: 1 }] });
    const failure = async (topic: object) => {
      try {
        // kafkajs swallows TOPIC_ALREADY_EXISTS and answers false.
        return (await admin.createTopics({ topics: [topic as never] })) ? null : "TOPIC_ALREADY_EXISTS";
      } catch (error) {
        const errors = (error as { errors?: { type: string }[] }).errors;
        return errors?.[0]?.type ?? String(error);
      }
    };
    expect(await failure({ topic: "exists-once", numPartitions: 1 })).toBe("TOPIC_ALREADY_EXISTS");
    expect(await failure({ topic: "bad name!", numPartitions: 1 })).toBe("INVALID_TOPIC_EXCEPTION");
    expect(await failure({ topic: "bad-config", numPartitions: 1, configEntries: [{ name: "segment.bytes", value: "lots" }] })).toBe("INVALID_CONFIG");
    expect(await failure({ topic: "bad-config-name", numPartitions: 1, configEntries: [{ name: "no.such.config", value: "1" }] })).toBe("INVALID_CONFIG");
    expect(await failure({ topic: "zero-partitions", numPartitions: 0 })).toBe("INVALID_PARTITIONS");
    expect(await failure({ topic: "too-many-replicas", numPartitions: 1, replicationFactor: 3 })).toBe("INVALID_REPLICATION_FACTOR");
    expect(await admin.listTopics()).not.toContain("bad-config");
  });
});

test("partitions are added to a topic, and a deleted topic disappears with its data", async () => {
  await withAdmin(async (admin) => {
    await admin.createTopics({ topics: [{ topic: "growing", numPartitions: 1 }] });
    await admin.createPartitions({ topicPartitions: [{ topic: "growing", count: 4 }] });
    let metadata = await admin.fetchTopicMetadata({ topics: ["growing"] });
    expect(metadata.topics[0]!.partitions.length).toBe(4);
    await expect(admin.createPartitions({ topicPartitions: [{ topic: "growing", count: 2 }] })).rejects.toThrow();

    const produced = await kcat(broker.bootstrap, ["-P", "-t", "growing", "-p", "3"], { input: "a\nb\n", timeoutMs: 30_000 });
    expect(produced.exitCode).toBe(0);
    const offsets = await admin.fetchTopicOffsets("growing");
    expect(offsets.find((partition) => partition.partition === 3)!.high).toBe("2");

    await admin.deleteTopics({ topics: ["growing"] });
    expect(await admin.listTopics()).not.toContain("growing");
    metadata = await admin.fetchTopicMetadata({ topics: [] });
    expect(metadata.topics.map((topic) => topic.name)).not.toContain("growing");
  });
  const { existsSync } = await import("node:fs");
  expect(existsSync(`${broker.dataDir}/growing-0`)).toBe(false);
});

test("a producer's Metadata request auto-creates an unknown topic with num.partitions", async () => {
  const produced = await kcat(broker.bootstrap, ["-P", "-t", "auto-created"], { input: "x\n", timeoutMs: 30_000 });
  expect(produced.exitCode).toBe(0);
  const listed = await kcat(broker.bootstrap, ["-L", "-t", "auto-created", "-J"], { timeoutMs: 30_000 });
  const metadata = JSON.parse(listed.stdout);
  expect(metadata.topics[0].topic).toBe("auto-created");
  expect(metadata.topics[0].partitions.length).toBe(3);
  expect(metadata.brokers.length).toBe(1);
});

test("describeCluster names this broker as the controller", async () => {
  await withAdmin(async (admin) => {
    const cluster = await admin.describeCluster();
    expect(cluster.brokers).toEqual([{ nodeId: 1, host: "127.0.0.1", port: broker.port }]);
    expect(cluster.controller).toBe(1);
  });
});

test("alterConfigs changes a topic's overrides and deleteTopicRecords moves its low watermark", async () => {
  await withAdmin(async (admin) => {
    await admin.createTopics({ topics: [{ topic: "altered", numPartitions: 1 }] });
    await admin.alterConfigs({ validateOnly: false, resources: [{ type: ConfigResourceTypes.TOPIC, name: "altered", configEntries: [{ name: "retention.ms", value: "3600000" }] }] });
    const described = await admin.describeConfigs({ includeSynonyms: false, resources: [{ type: ConfigResourceTypes.TOPIC, name: "altered", configNames: ["retention.ms"] }] });
    expect(described.resources[0]!.configEntries[0]!.configValue).toBe("3600000");
    await expect(
      admin.alterConfigs({ validateOnly: false, resources: [{ type: ConfigResourceTypes.TOPIC, name: "altered", configEntries: [{ name: "retention.ms", value: "soon" }] }] }),
    ).rejects.toThrow();

    const produced = await kcat(broker.bootstrap, ["-P", "-t", "altered"], { input: "a\nb\nc\nd\n", timeoutMs: 30_000 });
    expect(produced.exitCode).toBe(0);
    await admin.deleteTopicRecords({ topic: "altered", partitions: [{ partition: 0, offset: "2" }] });
    const [offsets] = await admin.fetchTopicOffsets("altered");
    expect(offsets!.low).toBe("2");
    expect(offsets!.high).toBe("4");
  });
});
