// `bunka cluster info|health`: brokers, controller and partition health from Metadata (any Kafka-API cluster).
import type { Command } from "commander";
import { clientOptions, type CommonOptions } from "./common.ts";
import { KafkaClient } from "./kafka-client.ts";
import { printJson, table } from "./output.ts";

export function registerCluster(program: Command): void {
  const cluster = program.command("cluster").description("cluster metadata and health");

  cluster
    .command("info")
    .description("cluster id, controller, brokers and topic counts")
    .action(async (_options: unknown, command: Command) => {
      const common = command.optsWithGlobals() as CommonOptions;
      const client = await KafkaClient.connect(clientOptions(common));
      try {
        const metadata = await client.metadata(null);
        const partitions = metadata.topics.reduce((sum, topic) => sum + topic.partitions.length, 0);
        const info = { clusterId: metadata.clusterId, controllerId: metadata.controllerId, brokers: metadata.brokers, topics: metadata.topics.length, partitions };
        if (common.json) return printJson(info);
        console.log(`Cluster ${metadata.clusterId ?? "-"}: controller ${metadata.controllerId}, ${metadata.brokers.length} broker(s), ${metadata.topics.length} topic(s), ${partitions} partition(s)\n`);
        console.log(table(["ID", "HOST", "PORT", "RACK", "CONTROLLER"], metadata.brokers.sort((a, b) => a.nodeId - b.nodeId).map((b) => [b.nodeId, b.host, b.port, b.rack, b.nodeId === metadata.controllerId ? "*" : ""])));
      } finally {
        client.close();
      }
    });

  cluster
    .command("health")
    .description("under-replicated and leaderless partitions, controller; exit code 1 when unhealthy")
    .action(async (_options: unknown, command: Command) => {
      const common = command.optsWithGlobals() as CommonOptions;
      const client = await KafkaClient.connect(clientOptions(common));
      try {
        const metadata = await client.metadata(null);
        const underReplicated: string[] = [];
        const leaderless: string[] = [];
        for (const topic of metadata.topics) {
          for (const p of topic.partitions) {
            if (p.leader < 0) leaderless.push(`${topic.name}-${p.partition}`);
            else if (p.isr.length < p.replicas.length) underReplicated.push(`${topic.name}-${p.partition}`);
          }
        }
        const healthy = metadata.controllerId >= 0 && underReplicated.length === 0 && leaderless.length === 0;
        const report = { healthy, controllerId: metadata.controllerId, brokers: metadata.brokers.map((b) => b.nodeId).sort((a, b) => a - b), leaderlessPartitions: leaderless, underReplicatedPartitions: underReplicated };
        if (common.json) printJson(report);
        else {
          console.log(`Healthy:                     ${healthy}`);
          console.log(`Controller:                  ${metadata.controllerId >= 0 ? metadata.controllerId : "none"}`);
          console.log(`Brokers:                     ${report.brokers.join(",")}`);
          console.log(`Leaderless partitions:       ${leaderless.length}${leaderless.length ? ` (${leaderless.slice(0, 20).join(" ")})` : ""}`);
          console.log(`Under-replicated partitions: ${underReplicated.length}${underReplicated.length ? ` (${underReplicated.slice(0, 20).join(" ")})` : ""}`);
        }
        if (!healthy) process.exitCode = 1;
      } finally {
        client.close();
      }
    });
}
