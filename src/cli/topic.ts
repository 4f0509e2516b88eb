// `bunka topic create|list|describe|delete|alter-config|add-partitions`: CreateTopics, Metadata + ListOffsets +
// DescribeConfigs, DeleteTopics, IncrementalAlterConfigs and CreatePartitions, as kafka-topics.sh and
// kafka-configs.sh send them (the controller gets the changes).
import type { Command } from "commander";
import { ApiKey } from "../protocol/generated/index.ts";
import { clientOptions, collect, type CommonOptions } from "./common.ts";
import { checkError, KafkaClient } from "./kafka-client.ts";
import { CliError, printJson, table } from "./output.ts";
import { parseNonNegativeInt } from "./produce.ts";

const TOPIC_RESOURCE = 2;
const CONFIG_SET = 0;
const CONFIG_DELETE = 1;
const REQUEST_TIMEOUT_MS = 30_000;
/** DescribeConfigs config_source codes (KIP-226). */
const CONFIG_SOURCES = ["UNKNOWN", "DYNAMIC_TOPIC_CONFIG", "DYNAMIC_BROKER_CONFIG", "DYNAMIC_DEFAULT_BROKER_CONFIG", "STATIC_BROKER_CONFIG", "DEFAULT_CONFIG", "DYNAMIC_BROKER_LOGGER_CONFIG", "CLIENT_METRICS_CONFIG", "GROUP_CONFIG"];

function keyValue(spec: string, what: string): { name: string; value: string } {
  const at = spec.indexOf("=");
  if (at <= 0) throw new CliError(`${what} must be key=value, got "${spec}"`);
  return { name: spec.slice(0, at), value: spec.slice(at + 1) };
}

async function withClient<T>(command: Command, use: (client: KafkaClient, common: CommonOptions) => Promise<T>): Promise<T> {
  const common = command.optsWithGlobals() as CommonOptions;
  const client = await KafkaClient.connect(clientOptions(common));
  try {
    return await use(client, common);
  } finally {
    client.close();
  }
}

export function registerTopic(program: Command): void {
  const topic = program.command("topic").description("create, list, describe, delete and configure topics");

  topic
    .command("create <topics...>")
    .description("create topics")
    .option("-p, --partitions <n>", "partitions (default: the broker's num.partitions)", "-1")
    .option("-r, --replicas <n>", "replication factor (default: the broker's default.replication.factor)", "-1")
    .option("-c, --config <key=value>", "a topic config (repeatable)", collect, [])
    .action(async (names: string[], options: { partitions: string; replicas: string; config: string[] }, command: Command) => {
      const numPartitions = options.partitions === "-1" ? -1 : parseNonNegativeInt(options.partitions, "--partitions");
      const replicationFactor = options.replicas === "-1" ? -1 : parseNonNegativeInt(options.replicas, "--replicas");
      const configs = options.config.map((spec) => keyValue(spec, "--config"));
      await withClient(command, async (client, common) => {
        const response = await (await client.controllerConnection()).request(ApiKey.CreateTopics, 4, {
          topics: names.map((name) => ({ name, numPartitions, replicationFactor, assignments: [], configs })),
          timeoutMs: REQUEST_TIMEOUT_MS,
          validateOnly: false,
        });
        const results = response.topics.map((t: { name: string; errorCode: number; errorMessage: string | null }) => ({ name: t.name, errorCode: t.errorCode, errorMessage: t.errorMessage }));
        if (common.json) printJson(results);
        for (const result of results) checkError(result.errorCode, `creating topic ${result.name}`, result.errorMessage);
        if (!common.json) for (const result of results) console.log(`Created topic ${result.name}.`);
      });
    });

  topic
    .command("list")
    .description("list topics")
    .option("-i, --internal", "include internal topics (__consumer_offsets)")
    .action(async (options: { internal?: boolean }, command: Command) => {
      await withClient(command, async (client, common) => {
        const metadata = await client.metadata(null);
        const topics = metadata.topics.filter((t) => options.internal || !t.internal).sort((a, b) => a.name.localeCompare(b.name));
        const rows = topics.map((t) => ({ name: t.name, partitions: t.partitions.length, replicas: t.partitions[0]?.replicas.length ?? 0, internal: t.internal }));
        if (common.json) printJson(rows);
        else console.log(table(["NAME", "PARTITIONS", "REPLICAS"], rows.map((r) => [r.name, r.partitions, r.replicas])));
      });
    });

  topic
    .command("describe <topic>")
    .description("partitions (leader, replicas, ISR, offsets) and configs of a topic")
    .option("-a, --all-configs", "every config, not only those set on the topic or the broker")
    .action(async (name: string, options: { allConfigs?: boolean }, command: Command) => {
      await withClient(command, async (client, common) => {
        const metadata = await client.topic(name, { attempts: 1 });
        const ids = metadata.partitions.map((p) => p.partition);
        const [starts, ends] = await Promise.all([client.listOffsets(metadata, ids, -2), client.listOffsets(metadata, ids, -1)]);
        const response = await (await client.bootstrapConnection()).request(ApiKey.DescribeConfigs, 1, {
          resources: [{ resourceType: TOPIC_RESOURCE, resourceName: name, configurationKeys: null }],
          includeSynonyms: false,
          includeDocumentation: false,
        });
        const result = response.results[0];
        checkError(result.errorCode, `describing the configs of ${name}`, result.errorMessage);
        const configs = result.configs
          .map((c: { name: string; value: string | null; configSource: number; isSensitive: boolean }) => ({ name: c.name, value: c.isSensitive ? "(sensitive)" : c.value, source: CONFIG_SOURCES[c.configSource] ?? String(c.configSource) }))
          .sort((a: { name: string }, b: { name: string }) => a.name.localeCompare(b.name));
        const partitions = metadata.partitions.map((p) => ({ ...p, logStartOffset: starts.get(p.partition)!, highWatermark: ends.get(p.partition)! }));
        if (common.json) {
          printJson({ name, internal: metadata.internal, partitions, configs });
          return;
        }
        console.log(`Topic ${name}: ${partitions.length} partition(s), replication factor ${partitions[0]?.replicas.length ?? 0}${metadata.internal ? " (internal)" : ""}\n`);
        console.log(table(["PARTITION", "LEADER", "EPOCH", "REPLICAS", "ISR", "OFFLINE", "LOG-START", "HIGH-WATERMARK"], partitions.map((p) => [p.partition, p.leader, p.leaderEpoch, p.replicas.join(","), p.isr.join(","), p.offline.join(",") || "-", p.logStartOffset, p.highWatermark])));
        const shown = options.allConfigs ? configs : configs.filter((c: { source: string }) => c.source !== "DEFAULT_CONFIG");
        console.log(`\n${table(["CONFIG", "VALUE", "SOURCE"], shown.map((c: { name: string; value: string | null; source: string }) => [c.name, c.value, c.source]))}`);
        if (!options.allConfigs) console.log(`(${configs.length - shown.length} more at their defaults: --all-configs lists them)`);
      });
    });

  topic
    .command("delete <topics...>")
    .description("delete topics")
    .action(async (names: string[], _options: unknown, command: Command) => {
      await withClient(command, async (client, common) => {
        const response = await (await client.controllerConnection()).request(ApiKey.DeleteTopics, 4, { topicNames: names, timeoutMs: REQUEST_TIMEOUT_MS });
        const results = response.responses.map((t: { name: string; errorCode: number; errorMessage: string | null }) => ({ name: t.name, errorCode: t.errorCode }));
        if (common.json) printJson(results);
        for (const result of response.responses) checkError(result.errorCode, `deleting topic ${result.name}`, result.errorMessage);
        if (!common.json) for (const result of results) console.log(`Deleted topic ${result.name}.`);
      });
    });

  topic
    .command("alter-config <topic>")
    .description("set or delete topic configs (IncrementalAlterConfigs)")
    .option("-s, --set <key=value>", "set a config (repeatable)", collect, [])
    .option("-d, --delete <key>", "remove a config: back to the broker default (repeatable)", collect, [])
    .action(async (name: string, options: { set: string[]; delete: string[] }, command: Command) => {
      const configs = [
        ...options.set.map((spec) => ({ ...keyValue(spec, "--set"), configOperation: CONFIG_SET })),
        ...options.delete.map((key) => ({ name: key, value: null, configOperation: CONFIG_DELETE })),
      ];
      if (configs.length === 0) throw new CliError("nothing to change: give --set key=value or --delete key");
      await withClient(command, async (client, common) => {
        const response = await (await client.bootstrapConnection()).request(ApiKey.IncrementalAlterConfigs, 0, {
          resources: [{ resourceType: TOPIC_RESOURCE, resourceName: name, configs }],
          validateOnly: false,
        });
        const result = response.responses[0];
        checkError(result.errorCode, `altering the configs of ${name}`, result.errorMessage);
        if (common.json) printJson({ topic: name, set: options.set, deleted: options.delete });
        else console.log(`Altered the configs of ${name}: ${configs.map((c) => (c.value === null ? `-${c.name}` : `${c.name}=${c.value}`)).join(", ")}`);
      });
    });

  topic
    .command("add-partitions <topic>")
    .description("grow a topic to a total number of partitions")
    .requiredOption("-n, --num <total>", "the topic's new partition count (total, not added)")
    .action(async (name: string, options: { num: string }, command: Command) => {
      const count = parseNonNegativeInt(options.num, "--num");
      await withClient(command, async (client, common) => {
        const response = await (await client.controllerConnection()).request(ApiKey.CreatePartitions, 1, {
          topics: [{ name, count, assignments: null }],
          timeoutMs: REQUEST_TIMEOUT_MS,
          validateOnly: false,
        });
        const result = response.results[0];
        checkError(result.errorCode, `adding partitions to ${name}`, result.errorMessage);
        if (common.json) printJson({ topic: name, partitions: count });
        else console.log(`Topic ${name} now has ${count} partitions.`);
      });
    });
}
