// bunka topic and bunka group against a real broker process, each result checked with another client
// (kcat -L metadata, the kafkajs admin) rather than with bunka itself.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { BrokerProcess } from "../helpers/broker-process.ts";
import { kcat } from "../helpers/kcat.ts";
import { kafkaClient } from "../helpers/kafkajs.ts";
import { bunkaOk, bunka } from "./cli.ts";

let broker: BrokerProcess;

beforeAll(async () => {
  broker = new BrokerProcess();
  await broker.start();
});

afterAll(async () => {
  await broker.stop();
  await broker.cleanup();
});

/** Partition count per topic from kcat -L -J (librdkafka's view of the metadata). */
async function kcatTopics(): Promise<Map<string, number>> {
  const result = await kcat(broker.bootstrap, ["-L", "-J"]);
  expect(result.exitCode).toBe(0);
  const metadata = JSON.parse(result.stdout) as { topics: { topic: string; partitions: unknown[] }[] };
  return new Map(metadata.topics.map((topic) => [topic.topic, topic.partitions.length]));
}

async function topicConfigs(topic: string): Promise<Map<string, string>> {
  const admin = kafkaClient(broker.bootstrap).admin();
  await admin.connect();
  try {
    const described = await admin.describeConfigs({ resources: [{ type: 2, name: topic }], includeSynonyms: false });
    return new Map(described.resources[0]!.configEntries.map((entry) => [entry.configName, entry.configValue]));
  } finally {
    await admin.disconnect();
  }
}

describe("bunka topic", () => {
  test("create, list, describe, alter-config, add-partitions, delete", async () => {
    const created = await bunkaOk(broker.bootstrap, ["topic", "create", "orders", "audit", "-p", "2", "-c", "retention.ms=3600000"]);
    expect(created.stdout).toBe("Created topic orders.\nCreated topic audit.\n");
    let topics = await kcatTopics();
    expect(topics.get("orders")).toBe(2);
    expect(topics.get("audit")).toBe(2);
    expect((await topicConfigs("orders")).get("retention.ms")).toBe("3600000");

    const listed = JSON.parse((await bunkaOk(broker.bootstrap, ["--json", "topic", "list"])).stdout) as { name: string; partitions: number }[];
    expect(listed.filter((t) => t.name === "orders" || t.name === "audit")).toEqual([
      { name: "audit", partitions: 2, replicas: 1, internal: false },
      { name: "orders", partitions: 2, replicas: 1, internal: false },
    ] as never);
    const table = (await bunkaOk(broker.bootstrap, ["topic", "list"])).stdout;
    expect(table.split("\n")[0]).toMatch(/^NAME\s+PARTITIONS\s+REPLICAS$/);

    await bunkaOk(broker.bootstrap, ["produce", "-t", "orders", "-p", "1"], { input: "a\nb\nc\n" });
    const described = JSON.parse((await bunkaOk(broker.bootstrap, ["--json", "topic", "describe", "orders"])).stdout);
    expect(described.partitions.map((p: { partition: number; leader: number; highWatermark: number; logStartOffset: number }) => [p.partition, p.leader, p.logStartOffset, p.highWatermark])).toEqual([
      [0, 1, 0, 0],
      [1, 1, 0, 3],
    ]);
    expect(described.configs.find((c: { name: string }) => c.name === "retention.ms")).toEqual({ name: "retention.ms", value: "3600000", source: "DYNAMIC_TOPIC_CONFIG" });

    await bunkaOk(broker.bootstrap, ["topic", "alter-config", "orders", "--set", "cleanup.policy=compact", "--set", "segment.ms=600000", "--delete", "retention.ms"]);
    const configs = await topicConfigs("orders");
    expect(configs.get("cleanup.policy")).toBe("compact");
    expect(configs.get("segment.ms")).toBe("600000");
    expect(configs.get("retention.ms")).toBe("604800000"); // back to the broker default

    await bunkaOk(broker.bootstrap, ["topic", "add-partitions", "orders", "--num", "5"]);
    expect((await kcatTopics()).get("orders")).toBe(5);

    const deleted = await bunkaOk(broker.bootstrap, ["topic", "delete", "audit"]);
    expect(deleted.stdout).toBe("Deleted topic audit.\n");
    topics = await kcatTopics();
    expect(topics.has("audit")).toBe(false);
    expect(topics.get("orders")).toBe(5);
  }, 60_000);

  test("Kafka's refusals come back as one line and a non-zero exit", async () => {
    await bunkaOk(broker.bootstrap, ["topic", "create", "twice"]);
    const again = await bunka(broker.bootstrap, ["topic", "create", "twice"]);
    expect(again.exitCode).toBe(1);
    expect(again.stderr.trim().split("\n")).toHaveLength(1);
    expect(again.stderr).toContain("TOPIC_ALREADY_EXISTS");
    const shrink = await bunka(broker.bootstrap, ["topic", "add-partitions", "twice", "--num", "1"]);
    expect(shrink.exitCode).toBe(1);
    expect(shrink.stderr).toContain("INVALID_PARTITIONS");
    const badConfig = await bunka(broker.bootstrap, ["topic", "alter-config", "twice", "--set", "retention.ms=abc"]);
    expect(badConfig.exitCode).toBe(1);
    expect(badConfig.stderr).toContain("INVALID_CONFIG");
    const missing = await bunka(broker.bootstrap, ["topic", "describe", "nowhere"]);
    expect(missing.stderr.trim()).toBe("bunka: topic nowhere does not exist");
  }, 60_000);
});

describe("bunka group", () => {
  test("list, describe (lag), reset and delete a group a kafkajs consumer committed for", async () => {
    await bunkaOk(broker.bootstrap, ["topic", "create", "events", "-p", "2"]);
    await bunkaOk(broker.bootstrap, ["produce", "-t", "events", "-p", "0"], { input: "1\n2\n3\n4\n" });
    await bunkaOk(broker.bootstrap, ["produce", "-t", "events", "-p", "1"], { input: "5\n6\n" });
    // kafkajs commits offset 3 on partition 0 and 1 on partition 1 (as a real group member would).
    const admin = kafkaClient(broker.bootstrap).admin();
    await admin.connect();
    try {
      await admin.setOffsets({ groupId: "billing", topic: "events", partitions: [{ partition: 0, offset: "3" }, { partition: 1, offset: "1" }] });

      const listed = JSON.parse((await bunkaOk(broker.bootstrap, ["--json", "group", "list"])).stdout) as { groupId: string; state: string }[];
      expect(listed.find((g) => g.groupId === "billing")?.state).toBe("Empty");

      const described = JSON.parse((await bunkaOk(broker.bootstrap, ["--json", "group", "describe", "billing"])).stdout);
      expect(described.partitions.map((p: { partition: number; currentOffset: number; logEndOffset: number; lag: number }) => [p.partition, p.currentOffset, p.logEndOffset, p.lag])).toEqual([
        [0, 3, 4, 1],
        [1, 1, 2, 1],
      ]);
      expect((await bunkaOk(broker.bootstrap, ["group", "describe", "billing"])).stdout).toContain("LAG");

      const dryRun = await bunkaOk(broker.bootstrap, ["group", "reset", "billing", "--all-topics", "--to-earliest"]);
      expect(dryRun.stdout).toContain("dry run");
      let offsets = await admin.fetchOffsets({ groupId: "billing", topics: ["events"] });
      expect(offsets[0]!.partitions.map((p) => p.offset).sort()).toEqual(["1", "3"]);

      await bunkaOk(broker.bootstrap, ["group", "reset", "billing", "--topic", "events:0", "--to-earliest", "--execute"]);
      offsets = await admin.fetchOffsets({ groupId: "billing", topics: ["events"] });
      expect(Object.fromEntries(offsets[0]!.partitions.map((p) => [p.partition, p.offset]))).toEqual({ 0: "0", 1: "1" });

      const deleted = await bunkaOk(broker.bootstrap, ["group", "delete", "billing"]);
      expect(deleted.stdout).toContain("Deletion of group 'billing' succeeded.");
      const groups = await admin.listGroups();
      expect(groups.groups.some((g) => g.groupId === "billing")).toBe(false);

      const gone = await bunka(broker.bootstrap, ["group", "reset", "billing", "--all-topics", "--to-latest"]);
      expect(gone.exitCode).not.toBe(0);
    } finally {
      await admin.disconnect();
    }
  }, 60_000);
});
