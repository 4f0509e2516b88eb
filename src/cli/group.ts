// `bunka group list|describe|reset|delete`: consumer group administration (src/tools/group-admin.ts, the
// same as `bun run groups`): lag per partition, offset resets while the group is empty, deletion.
import type { Command } from "commander";
import { GroupAdmin, type GroupDescription, type PlannedReset, type ResetSpec } from "../tools/group-admin.ts";
import { collect, requestTimeoutOf, securityOf, type CommonOptions } from "./common.ts";
import { CliError, printJson, table } from "./output.ts";

export function printDescription(description: GroupDescription): void {
  console.log(`Group '${description.groupId}' is ${description.state} (protocol ${description.protocolType || "-"}/${description.protocol || "-"}, coordinator ${description.coordinator}, ${description.members.length} member(s)).\n`);
  if (description.members.length === 0) console.log(`Consumer group '${description.groupId}' has no active members.\n`);
  const rows = description.partitions.map((p) => [
    description.groupId,
    p.topic,
    p.partition,
    p.currentOffset >= 0 ? p.currentOffset : "-",
    p.logEndOffset >= 0 ? p.logEndOffset : "-",
    p.lag ?? "-",
    p.consumerId ?? "-",
    p.host ?? "-",
    p.clientId ?? "-",
  ]);
  console.log(table(["GROUP", "TOPIC", "PARTITION", "CURRENT-OFFSET", "LOG-END-OFFSET", "LAG", "CONSUMER-ID", "HOST", "CLIENT-ID"], rows));
  if (description.members.length > 0) {
    console.log("");
    const memberRows = description.members.map((m) => [m.memberId, m.groupInstanceId ?? "-", m.host, m.clientId, m.assignment.map((a) => `${a.topic}(${a.partitions.join(",")})`).join(" ") || "-"]);
    console.log(table(["CONSUMER-ID", "GROUP-INSTANCE-ID", "HOST", "CLIENT-ID", "ASSIGNMENT"], memberRows));
  }
}

export function printPlan(groupId: string, plan: PlannedReset[]): void {
  console.log(table(["GROUP", "TOPIC", "PARTITION", "CURRENT-OFFSET", "NEW-OFFSET"], plan.map((p) => [groupId, p.topic, p.partition, p.currentOffset >= 0 ? p.currentOffset : "-", p.newOffset])));
}

/** Exactly one of --to-earliest, --to-latest, --to-offset N, --to-datetime ISO-8601. */
export function resetSpec(values: { toEarliest?: boolean; toLatest?: boolean; toOffset?: string; toDatetime?: string }): ResetSpec {
  const chosen = (["toEarliest", "toLatest", "toOffset", "toDatetime"] as const).filter((name) => values[name] !== undefined && values[name] !== false);
  if (chosen.length !== 1) throw new CliError("a reset needs exactly one of --to-earliest, --to-latest, --to-offset N, --to-datetime T");
  switch (chosen[0]) {
    case "toEarliest":
      return { to: "earliest" };
    case "toLatest":
      return { to: "latest" };
    case "toOffset": {
      if (!/^\d+$/.test(values.toOffset!)) throw new CliError(`--to-offset must be a non-negative integer, got "${values.toOffset}"`);
      return { to: "offset", offset: Number(values.toOffset) };
    }
    default: {
      const timestampMs = Date.parse(values.toDatetime!);
      if (!Number.isFinite(timestampMs)) throw new CliError(`--to-datetime must be an ISO-8601 date-time, got "${values.toDatetime}"`);
      return { to: "datetime", timestampMs };
    }
  }
}

async function withAdmin<T>(command: Command, use: (admin: GroupAdmin, common: CommonOptions) => Promise<T>): Promise<T> {
  const common = command.optsWithGlobals() as CommonOptions;
  const admin = await GroupAdmin.connect(common.brokers.split(",")[0]!, requestTimeoutOf(common), securityOf(common));
  try {
    return await use(admin, common);
  } finally {
    admin.close();
  }
}

export function registerGroup(program: Command): void {
  const group = program.command("group").description("list, describe (lag), reset and delete consumer groups");

  group
    .command("list")
    .description("every group and its state")
    .action(async (_options: unknown, command: Command) => {
      await withAdmin(command, async (admin, common) => {
        const groups = await admin.listGroups();
        if (common.json) printJson(groups);
        else console.log(table(["GROUP", "STATE", "PROTOCOL-TYPE", "COORDINATOR"], groups.map((g) => [g.groupId, g.state, g.protocolType || "-", g.coordinator])));
      });
    });

  group
    .command("describe <group>")
    .description("members, assignments, committed offsets, log end offsets and lag")
    .action(async (groupId: string, _options: unknown, command: Command) => {
      await withAdmin(command, async (admin, common) => {
        const description = await admin.describeGroup(groupId);
        if (common.json) printJson(description);
        else printDescription(description);
      });
    });

  group
    .command("reset <group>")
    .description("reset committed offsets (only while the group has no members); a dry run without --execute")
    .option("-t, --topic <topic[:p,p]>", "partitions to reset (repeatable)", collect, [])
    .option("--all-topics", "every topic the group has committed offsets for")
    .option("--to-earliest", "to the log start offset")
    .option("--to-latest", "to the log end offset")
    .option("--to-offset <n>", "to this offset")
    .option("--to-datetime <iso-8601>", "to the first offset at or after this time")
    .option("--execute", "commit the new offsets (default: print the plan only)")
    .action(async (groupId: string, options: { topic: string[]; allTopics?: boolean; execute?: boolean; toEarliest?: boolean; toLatest?: boolean; toOffset?: string; toDatetime?: string }, command: Command) => {
      const spec = resetSpec(options);
      await withAdmin(command, async (admin, common) => {
        const partitions = await admin.resolvePartitions(groupId, options.topic, options.allTopics ?? false);
        if (partitions.length === 0) throw new CliError("no partitions to reset: give --topic T or --all-topics (with committed offsets)");
        const plan = await admin.planReset(groupId, partitions, spec);
        if (options.execute) await admin.executeReset(groupId, plan);
        if (common.json) printJson({ executed: options.execute ?? false, plan });
        else {
          printPlan(groupId, plan);
          if (!options.execute) console.log("\n(dry run: add --execute to commit these offsets)");
        }
      });
    });

  group
    .command("delete <group>")
    .description("delete an empty group and its committed offsets")
    .action(async (groupId: string, _options: unknown, command: Command) => {
      await withAdmin(command, async (admin, common) => {
        await admin.deleteGroup(groupId);
        if (common.json) printJson({ deleted: groupId });
        else console.log(`Deletion of group '${groupId}' succeeded.`);
      });
    });
}
