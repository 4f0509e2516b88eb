// The broker settings table (src/config/broker-config.ts): every type parsed, bounds and unknown keys
// refused with the key named (in-process and by a real `bun src/main.ts` that must exit non-zero), aliases,
// topic defaults at broker level, DescribeConfigs derived from it, and the README tables generated from it.
import { afterEach, expect, test } from "bun:test";
import { readFileSync, rmSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import {
  applyProperties,
  brokerSettingByKey,
  brokerSettings,
  defaultBrokerConfig,
  describeBrokerConfig,
  networkThreads,
  parseProperties,
  workersListen,
  type BrokerConfig,
} from "../../src/config/broker-config.ts";
import { renderReadme } from "../../src/config/config-docs.ts";
import { topicConfigDefinitions } from "../../src/config/topic-config.ts";
import { groupCoordinatorConfig } from "../../src/group/coordinator-config.ts";
import { brokerProcessEnv } from "../../src/config/process-env.ts";
import { BrokerProcess, tempDir } from "../helpers/broker-process.ts";
import { CLUSTER_TEST_PROPERTIES } from "../helpers/cluster.ts";
import { GROUP_TEST_PROPERTIES } from "../group/helpers.ts";

const repoRoot = resolve(import.meta.dir, "../..");
const PROCESS_EXIT_TIMEOUT_MS = 30_000;

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

function apply(properties: Record<string, string>): BrokerConfig {
  return applyProperties(defaultBrokerConfig(), properties);
}

test("every BrokerConfig field gets its default from the settings table", () => {
  // tsc makes this list name every field; the defaults themselves come only from the table.
  const everyField: Record<keyof BrokerConfig, true> = {
    nodeId: true, host: true, port: true, advertisedHost: true, advertisedPort: true, dataDir: true, partitionWorkers: true, networkShards: true, partitionWorkersListen: true,
    numPartitions: true, defaultReplicationFactor: true, autoCreateTopicsEnable: true, deleteTopicEnable: true,
    socketRequestMaxBytes: true, maxInFlightRequestsPerConnection: true, connectionWriteQueueMaxBytes: true,
    queuedMaxRequestBytes: true, socketRequestReceiveTimeoutMs: true, connectionsMaxIdleMs: true, maxConnections: true,
    maxConnectionsPerIp: true, maxConnectionsPerIpOverrides: true, maxConnectionsInterBrokerReserve: true,
    maxBrokerPartitions: true, logSegmentOpenMax: true, logSegmentBytesMin: true, topicDefaults: true,
    groupInitialRebalanceDelayMs: true, groupMinSessionTimeoutMs: true, groupMaxSessionTimeoutMs: true,
    offsetsTopicNumPartitions: true, offsetsTopicSegmentBytes: true, etcdEndpoints: true, clusterId: true,
    replicaLagTimeMaxMs: true, producerIdExpirationMs: true, logCleanerBackoffMs: true, messageDecompressedMaxBytes: true,
    brokerSessionTimeoutMs: true, controlledShutdownTimeoutMs: true, shutdownTimeoutMs: true, autoLeaderRebalanceEnable: true,
    leaderImbalanceCheckIntervalMs: true, properties: true,
    listeners: true, advertisedListeners: true, interBrokerListenerName: true, sslHandshakeTimeoutMs: true,
    authorizerClassName: true, superUsers: true, allowEveryoneIfNoAclFound: true,
  };
  const config = defaultBrokerConfig();
  // advertisedPort is unset unless advertised.listeners names one (then the bound port is advertised);
  // partitionWorkersListen unless partition.workers.listen is set (workersListen decides from the others).
  const derived = new Set(["advertisedPort", "partitionWorkersListen"]);
  const missing = Object.keys(everyField).filter((name) => !derived.has(name) && (config as unknown as Record<string, unknown>)[name] === undefined);
  expect(missing).toEqual([]);
  expect(config.advertisedPort).toBeUndefined();
  expect(config.partitionWorkersListen).toBeUndefined();
  expect(config.nodeId).toBe(1);
  expect(config.port).toBe(9092);
  expect(config.leaderImbalanceCheckIntervalMs).toBe(300_000);
  expect(config.connectionWriteQueueMaxBytes).toBe(64 * 1024 * 1024);
  expect(config.partitionWorkers).toBeGreaterThanOrEqual(1);
  // Defaults are fresh objects: changing one config's map does not change the next default.
  config.maxConnectionsPerIpOverrides["10.0.0.1"] = 1;
  config.etcdEndpoints.push("http://x");
  expect(defaultBrokerConfig().maxConnectionsPerIpOverrides).toEqual({});
  expect(defaultBrokerConfig().etcdEndpoints).toEqual([]);
});

test("partition.workers.listen unset: on with num.network.shards=1 and workers (single node or cluster), off otherwise; set, as set", () => {
  const base = { ...defaultBrokerConfig(), partitionWorkers: 2 };
  expect(workersListen(base)).toBe(true);
  expect(networkThreads(base)).toBe(3); // the main thread and both workers
  expect(describeBrokerConfig(base)["partition.workers.listen"]).toBe("true");
  // A cluster too: its workers answer the partitions led here.
  const clustered = { ...base, etcdEndpoints: ["http://127.0.0.1:2379"] };
  expect(workersListen(clustered)).toBe(true);
  // An operator who chose main-thread shards keeps them, with no contradiction to refuse.
  expect(workersListen({ ...base, networkShards: 2 })).toBe(false);
  expect(networkThreads({ ...base, networkShards: 2 })).toBe(2);
  // No worker: the main thread owns every partition and is the only shard.
  expect(workersListen({ ...base, partitionWorkers: 0 })).toBe(false);
  expect(workersListen(applyProperties(base, { "partition.workers.listen": "false" }))).toBe(false);
  expect(workersListen(applyProperties(clustered, { "partition.workers.listen": "false" }))).toBe(false);
  // Set against the main-thread shards, it is still refused.
  expect(() => networkThreads(applyProperties({ ...base, networkShards: 2 }, { "partition.workers.listen": "true" }))).toThrow(/leave num.network.shards at 1/);
});

test("the table declares each key once, with a documentation line, and bounds that contain the default", () => {
  const keys = brokerSettings.flatMap((setting) => [setting.name, ...setting.aliases]);
  expect(new Set(keys).size).toBe(keys.length);
  for (const setting of brokerSettings) {
    expect(setting.doc.length).toBeGreaterThan(5);
    expect(setting.dynamic).toBe(false);
    if ((setting.type === "int" || setting.type === "long") && setting.defaultValue !== undefined) {
      const value = typeof setting.defaultValue === "function" ? setting.defaultValue() : setting.defaultValue;
      if (setting.min !== undefined) expect(value).toBeGreaterThanOrEqual(setting.min);
      if (setting.max !== undefined) expect(value).toBeLessThanOrEqual(setting.max);
    }
  }
  // A broker setting never shadows a topic config's name (that key would stop being a topic default).
  const topicKeys = new Set(topicConfigDefinitions.flatMap((definition) => [definition.name, definition.brokerName ?? definition.name]));
  expect(keys.filter((key) => topicKeys.has(key))).toEqual([]);
});

test("each type is parsed: int, long, boolean, string, list, map, listeners", () => {
  const config = apply({
    "num.partitions": "12",
    "queued.max.request.bytes": "-1",
    "replica.lag.time.max.ms": "9007199254740991",
    "auto.create.topics.enable": "false",
    "cluster.id": "blue",
    "etcd.endpoints": " http://127.0.0.1:2379 , http://127.0.0.1:2380 ,",
    "max.connections.per.ip.overrides": "10.0.0.1:5, [::1]:7,host.example:0",
    "listeners": "PLAINTEXT://0.0.0.0:19092",
    "advertised.listeners": "PLAINTEXT://kafka.example:29092",
    "leader.imbalance.check.interval.seconds": "7",
    "connection.write.queue.max.bytes": "1048576",
  });
  expect(config.numPartitions).toBe(12);
  expect(config.queuedMaxRequestBytes).toBe(-1);
  expect(config.replicaLagTimeMaxMs).toBe(Number.MAX_SAFE_INTEGER);
  expect(config.autoCreateTopicsEnable).toBe(false);
  expect(config.clusterId).toBe("blue");
  expect(config.etcdEndpoints).toEqual(["http://127.0.0.1:2379", "http://127.0.0.1:2380"]);
  expect(config.maxConnectionsPerIpOverrides).toEqual({ "10.0.0.1": 5, "::1": 7, "host.example": 0 });
  expect(config.host).toBe("0.0.0.0");
  expect(config.port).toBe(19092);
  expect(config.advertisedHost).toBe("kafka.example");
  expect(config.advertisedPort).toBe(29092);
  expect(config.leaderImbalanceCheckIntervalMs).toBe(7000);
  expect(config.connectionWriteQueueMaxBytes).toBe(1_048_576);
  expect(config.topicDefaults).toEqual({});
  // Later properties win over earlier ones (flags are applied after the file).
  expect(applyProperties(config, { "num.partitions": "3" }).numPartitions).toBe(3);
  expect(config.numPartitions).toBe(12);
});

test("values of the wrong type or outside the bounds are refused with the key and the bound named", () => {
  const refusals: [Record<string, string>, RegExp][] = [
    [{ "port": "65536" }, /port must be at most 65535, got "65536"/],
    [{ "num.partitions": "0" }, /num\.partitions must be at least 1, got "0"/],
    [{ "num.partition.workers": "-1" }, /num\.partition\.workers must be at least 0/],
    [{ "socket.request.max.bytes": "2147483648" }, /socket\.request\.max\.bytes must be at most 2147483647/],
    [{ "log.segment.bytes.min": "13" }, /log\.segment\.bytes\.min must be at least 14/],
    [{ "queued.max.request.bytes": "-2" }, /queued\.max\.request\.bytes must be at least -1/],
    [{ "offsets.load.buffer.size": "1023" }, /offsets\.load\.buffer\.size must be at least 1024/],
    [{ "group.max.size": "0" }, /group\.max\.size must be at least 1/],
    [{ "max.connections": "ten" }, /max\.connections must be an integer, got "ten"/],
    [{ "delete.topic.enable": "yes" }, /delete\.topic\.enable must be true or false, got "yes"/],
    [{ "max.connections.per.ip.overrides": "10.0.0.1:-1" }, /max\.connections\.per\.ip\.overrides entry 10\.0\.0\.1 must be at least 0/],
    [{ "max.connections.per.ip.overrides": "10.0.0.1" }, /max\.connections\.per\.ip\.overrides entry "10\.0\.0\.1" must be host:count/],
    [{ "listeners": "PLAINTEXT://host" }, /cannot parse listeners "PLAINTEXT:\/\/host"/],
    [{ "log.dirs": " , " }, /log\.dirs must name a directory/],
    // Given under an alias, the alias is named.
    [{ "broker.id": "-1" }, /broker\.id must be at least 0/],
  ];
  for (const [properties, message] of refusals) expect(() => apply(properties)).toThrow(message);
});

test("an unknown key is refused, naming it; the test helpers' properties are all known", () => {
  expect(() => apply({ "num.partition": "3" })).toThrow(/unknown setting "num\.partition"/);
  expect(() => apply({ "log.retention.hour": "1" })).toThrow(/unknown setting "log\.retention\.hour"/);
  // What the shared helpers pass to every broker they start.
  expect(() => apply(CLUSTER_TEST_PROPERTIES)).not.toThrow();
  expect(() => apply(GROUP_TEST_PROPERTIES)).not.toThrow();
});

test("aliases set the same field and are described under every name", () => {
  const config = apply({ "broker.id": "7", "log.dir": "/tmp/bunka-alias" });
  expect(config.nodeId).toBe(7);
  expect(config.dataDir).toBe("/tmp/bunka-alias");
  expect(apply({ "log.dirs": "/a,/b" }).dataDir).toBe("/a");
  expect(brokerSettingByKey.get("broker.id")).toBe(brokerSettingByKey.get("node.id")!);
  const described = describeBrokerConfig(config, { "max.connections": "500" });
  expect(described["node.id"]).toBe("7");
  expect(described["broker.id"]).toBe("7");
  expect(described["log.dirs"]).toBe("/tmp/bunka-alias");
  expect(described["max.connections"]).toBe("500");
  expect(described["leader.imbalance.check.interval.seconds"]).toBe("300");
  expect(described["group.max.size"]).toBe("10000");
  expect(described["max.connections.per.ip.overrides"]).toBe("");
  for (const setting of brokerSettings) if (setting.defaultValue !== undefined) expect(described[setting.name]).toBeDefined();
});

test("topic configs given at broker level stay topic defaults, checked for their type", () => {
  const config = apply({ "segment.bytes": "2097152", "log.segment.bytes": "65536", "compression.type": "lz4", "log.retention.ms": "86400000", "min.insync.replicas": "2" });
  // Below log.segment.bytes.min at broker level is the operator's choice (tests use it); only the format's 14 bytes bound it.
  expect(config.topicDefaults).toEqual({ "segment.bytes": "2097152", "log.segment.bytes": "65536", "compression.type": "lz4", "log.retention.ms": "86400000", "min.insync.replicas": "2" });
  expect(describeBrokerConfig(config)["log.segment.bytes"]).toBe("65536");
  expect(() => apply({ "log.retention.ms": "a week" })).toThrow(/log\.retention\.ms \(the default of topic config retention\.ms\).*Not a number/);
  expect(() => apply({ "compression.type": "brotli" })).toThrow(/compression\.type.*must be one of/);
  expect(() => apply({ "log.segment.bytes": "13" })).toThrow(/log\.segment\.bytes.*at least 14/);
});

test("settings the group coordinator reads from the properties are known, bounded, and agree on their defaults", () => {
  const defaults = groupCoordinatorConfig(defaultBrokerConfig());
  const described = describeBrokerConfig(defaultBrokerConfig());
  expect(String(defaults.groupMaxSize)).toBe(described["group.max.size"]!);
  expect(String(defaults.groupPendingMembersMax)).toBe(described["group.pending.members.max"]!);
  expect(String(defaults.offsetMetadataMaxBytes)).toBe(described["offset.metadata.max.bytes"]!);
  expect(String(defaults.offsetsTopicReplicationFactor)).toBe(described["offsets.topic.replication.factor"]!);
  expect(String(defaults.offsetCommitTimeoutMs)).toBe(described["offsets.commit.timeout.ms"]!);
  expect(String(defaults.offsetsRetentionMs / 60_000)).toBe(described["offsets.retention.minutes"]!);
  expect(String(defaults.offsetsRetentionCheckIntervalMs)).toBe(described["offsets.retention.check.interval.ms"]!);
  expect(String(defaults.offsetsLoadBufferBytes)).toBe(described["offsets.load.buffer.size"]!);
  expect(String(defaults.newMemberJoinTimeoutMs)).toBe(described["group.new.member.join.timeout.ms"]!);
  const configured = groupCoordinatorConfig(apply({ "group.max.size": "3", "offsets.retention.minutes": "2" }));
  expect(configured.groupMaxSize).toBe(3);
  expect(configured.offsetsRetentionMs).toBe(120_000);
});

test("parseProperties reads key=value and key: value, skips comments, refuses a line without a key", () => {
  expect(parseProperties("# comment\n! also\n\nnum.partitions = 3\ncluster.id: blue\r\n")).toEqual({ "num.partitions": "3", "cluster.id": "blue" });
  expect(() => parseProperties("just-a-word")).toThrow(/cannot parse line "just-a-word"/);
});

test("the README's settings tables are the ones generated from the table (run `bun run docs:config`)", () => {
  const readme = readFileSync(join(repoRoot, "README.md"), "utf8");
  const rendered = renderReadme(readme);
  if (rendered !== readme) {
    const firstDifference = [...rendered].findIndex((char, index) => char !== readme[index]);
    throw new Error(`README.md is out of date with src/config/broker-config.ts near:\n${readme.slice(Math.max(0, firstDifference - 200), firstDifference + 200)}\n(run bun run docs:config)`);
  }
  for (const setting of brokerSettings) expect(readme).toContain(`\`${setting.name}\``);
});

async function runBrokerExpectingExit(args: string[]): Promise<{ code: number; stderr: string }> {
  const child = Bun.spawn([process.execPath, join(repoRoot, "src/main.ts"), ...args], { cwd: repoRoot, stdin: "ignore", stdout: "pipe", stderr: "pipe", env: brokerProcessEnv() });
  const timer = setTimeout(() => child.kill("SIGKILL"), PROCESS_EXIT_TIMEOUT_MS);
  try {
    const [code, stderr] = await Promise.all([child.exited, new Response(child.stderr).text()]);
    return { code, stderr };
  } finally {
    clearTimeout(timer);
  }
}

test("a real broker process given an unknown key or a value out of bounds exits non-zero naming the key", async () => {
  const dataDir = tempDir("config-refused");
  const configPath = `${dataDir}.properties`;
  cleanups.push(() => {
    rmSync(dataDir, { recursive: true, force: true });
    rmSync(configPath, { force: true });
  });
  writeFileSync(configPath, "num.partitions=2\nlog.segment.bytes=1048576\nmessage.max.byte=2000000\n");
  const unknown = await runBrokerExpectingExit(["--port", "0", "--data-dir", dataDir, "--config", configPath]);
  expect(unknown.code).not.toBe(0);
  expect(unknown.stderr).toContain('unknown setting "message.max.byte"');

  writeFileSync(configPath, "num.partitions=2\n");
  const badFlag = await runBrokerExpectingExit(["--port", "70000", "--data-dir", dataDir, "--config", configPath]);
  expect(badFlag.code).not.toBe(0);
  expect(badFlag.stderr).toContain("port must be at most 65535");
}, 90_000);

test("a real broker process starts with aliases and broker-level topic defaults from its config file", async () => {
  const broker = new BrokerProcess({ properties: { "broker.id": "7", "log.segment.bytes": "65536", "compression.type": "producer", "connection.write.queue.max.bytes": "8388608" } });
  cleanups.push(() => broker.cleanup());
  await broker.start();
  expect(broker.output).toContain("broker 7 ready on 127.0.0.1:");
});
