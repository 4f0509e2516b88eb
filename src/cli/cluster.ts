// `bunka cluster info|health|reassign|drain`: brokers, controller and partition health from Metadata;
// replica moves with AlterPartitionReassignments (KIP-455), followed in Metadata until they complete (any
// Kafka-API cluster that supports KIP-455: Kafka 2.4+, Bunka in cluster mode).
import type { Command } from "commander";
import { ApiKey } from "../protocol/generated/index.ts";
import { clientOptions, type CommonOptions } from "./common.ts";
import { checkError, KafkaClient, type ClusterMetadata } from "./kafka-client.ts";
import { CliError, Progress, printJson, table } from "./output.ts";
import { parseNonNegativeInt } from "./produce.ts";

const POLL_INTERVAL_MS = 500;

interface Move {
  topic: string;
  partition: number;
  from: number[];
  to: number[];
}

/**
 * Every partition that has `broker` as a replica gets it replaced, in the same position, by the live broker
 * (not already a replica) that holds the fewest replicas, counting the moves planned so far.
 */
export function planDrain(metadata: ClusterMetadata, broker: number): Move[] {
  const live = metadata.brokers.map((b) => b.nodeId).filter((id) => id !== broker);
  const load = new Map(live.map((id) => [id, 0]));
  for (const topic of metadata.topics) for (const p of topic.partitions) for (const r of p.replicas) if (load.has(r)) load.set(r, load.get(r)! + 1);
  const moves: Move[] = [];
  for (const topic of metadata.topics) {
    for (const p of topic.partitions) {
      if (!p.replicas.includes(broker)) continue;
      const candidates = live.filter((id) => !p.replicas.includes(id)).sort((a, b) => load.get(a)! - load.get(b)! || a - b);
      if (candidates.length === 0) throw new CliError(`${topic.name}-${p.partition} has replicas ${p.replicas.join(",")}: no other live broker to move broker ${broker}'s replica to`);
      const replacement = candidates[0]!;
      load.set(replacement, load.get(replacement)! + 1);
      moves.push({ topic: topic.name, partition: p.partition, from: p.replicas, to: p.replicas.map((r) => (r === broker ? replacement : r)) });
    }
  }
  return moves;
}

async function submit(client: KafkaClient, moves: Move[]): Promise<void> {
  const byTopic = new Map<string, Move[]>();
  for (const move of moves) byTopic.set(move.topic, [...(byTopic.get(move.topic) ?? []), move]);
  const response = await (await client.controllerConnection()).request(ApiKey.AlterPartitionReassignments, 0, {
    timeoutMs: 30_000,
    topics: [...byTopic].map(([name, list]) => ({ name, partitions: list.map((m) => ({ partitionIndex: m.partition, replicas: m.to })) })),
  });
  checkError(response.errorCode, "AlterPartitionReassignments", response.errorMessage);
  for (const topic of response.responses) for (const p of topic.partitions) checkError(p.errorCode, `reassigning ${topic.name}-${p.partitionIndex}`, p.errorMessage);
}

/** Polls Metadata until every move's replicas are its target (a progress bar on a terminal); bounded by timeoutMs. */
async function awaitMoves(client: KafkaClient, moves: Move[], timeoutMs: number, label: string): Promise<void> {
  const progress = new Progress(label, moves.length);
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const metadata = await client.metadata(null);
    const done = moves.filter((m) => {
      const replicas = metadata.topics.find((t) => t.name === m.topic)?.partitions.find((p) => p.partition === m.partition)?.replicas ?? [];
      return replicas.length === m.to.length && m.to.every((r) => replicas.includes(r));
    }).length;
    progress.update(done, `partitions moved`);
    if (done === moves.length) break;
    if (Date.now() > deadline) {
      progress.finish();
      throw new CliError(`${moves.length - done} of ${moves.length} partition moves not finished after ${Math.round(timeoutMs / 1000)} s (they continue in the cluster; bunka topic describe shows them)`);
    }
    await Bun.sleep(POLL_INTERVAL_MS);
  }
  progress.finish();
}

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

  cluster
    .command("reassign <topic> <partition> <replicas>")
    .description("move a partition's replicas (e.g. reassign orders 0 2,3,4) and wait until the move completes")
    .option("--timeout-s <seconds>", "how long to wait for the move", "600")
    .action(async (topicName: string, partitionText: string, replicasText: string, options: { timeoutS: string }, command: Command) => {
      const common = command.optsWithGlobals() as CommonOptions;
      const partition = parseNonNegativeInt(partitionText, "partition");
      const to = replicasText.split(",").map((r) => parseNonNegativeInt(r.trim(), "replicas"));
      if (new Set(to).size !== to.length || to.length === 0) throw new CliError(`replicas must be distinct broker ids, got "${replicasText}"`);
      const client = await KafkaClient.connect(clientOptions(common));
      try {
        const topic = await client.topic(topicName, { attempts: 1 });
        const current = topic.partitions.find((p) => p.partition === partition);
        if (!current) throw new CliError(`partition ${partition} does not exist (${topicName} has ${topic.partitions.length})`);
        const move = { topic: topicName, partition, from: current.replicas, to };
        await submit(client, [move]);
        await awaitMoves(client, [move], parseNonNegativeInt(options.timeoutS, "--timeout-s") * 1000, `reassigning ${topicName}-${partition}`);
        if (common.json) printJson(move);
        else console.log(`${topicName}-${partition}: replicas ${move.from.join(",")} -> ${to.join(",")}`);
      } finally {
        client.close();
      }
    });

  cluster
    .command("drain <broker>")
    .description("move every replica off a broker (AlterPartitionReassignments), wait, then say it is safe to stop")
    .option("--dry-run", "print the moves only")
    .option("--timeout-s <seconds>", "how long to wait for the moves", "1800")
    .action(async (brokerText: string, options: { dryRun?: boolean; timeoutS: string }, command: Command) => {
      const common = command.optsWithGlobals() as CommonOptions;
      const broker = parseNonNegativeInt(brokerText, "broker");
      const client = await KafkaClient.connect(clientOptions(common));
      try {
        const metadata = await client.metadata(null);
        const moves = planDrain(metadata, broker);
        if (options.dryRun || moves.length === 0) {
          if (common.json) printJson({ broker, moves, dryRun: options.dryRun ?? false });
          else if (moves.length === 0) console.log(`Broker ${broker} holds no partition replicas: it is safe to stop.`);
          else console.log(table(["TOPIC", "PARTITION", "REPLICAS", "NEW-REPLICAS"], moves.map((m) => [m.topic, m.partition, m.from.join(","), m.to.join(",")])));
          return;
        }
        await submit(client, moves);
        if (!common.json) console.error(`Moving ${moves.length} partition replica(s) off broker ${broker}...`);
        await awaitMoves(client, moves, parseNonNegativeInt(options.timeoutS, "--timeout-s") * 1000, `draining broker ${broker}`);
        const left = planDrain(await client.metadata(null), broker);
        if (left.length > 0) throw new CliError(`broker ${broker} still holds ${left.length} replica(s) (new partitions were placed on it meanwhile): run drain again`);
        if (common.json) printJson({ broker, moves, safeToStop: true });
        else console.log(`Broker ${broker} holds no partition replicas: it is safe to stop.`);
      } finally {
        client.close();
      }
    });
}
