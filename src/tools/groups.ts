// `bun run groups`: consumer group administration from the command line, like kafka-consumer-groups.sh.
//   --list                                   every group and its state
//   --describe --group G                     members, assignments, committed offsets, log end offsets, lag
//   --reset-offsets --group G (--topic T[:P,P] ... | --all-topics)
//       (--to-earliest | --to-latest | --to-offset N | --to-datetime ISO-8601) [--execute]
//                                            without --execute only prints the plan (a dry run, as Kafka's tool)
//   --delete --group G                       delete an empty group and its offsets
// Add --json for machine-readable output. Exit code 0 on success, 1 on an error, 2 on bad usage.
import { parseArgs } from "node:util";
import { CLIENT_CONFIG_USAGE, ClientConfigError, CONNECTION_FLAGS, connectionFromFlags, explainFailure, type ClientSecurity } from "./client-config.ts";
import { printDescription, printPlan } from "../cli/group.ts";
import { table } from "../cli/output.ts";
import { GroupAdmin, GroupAdminError, type ResetSpec } from "./group-admin.ts";

const usage = `Usage: bun run groups --bootstrap-server HOST:PORT <action> [options]

Actions:
  --list                         list consumer groups
  --describe --group G           members, assignments and lag (committed offset vs log end offset)
  --reset-offsets --group G      reset committed offsets (only while the group has no members)
      --topic T | --topic T:0,1  partitions to reset (repeatable); or --all-topics (topics with commits)
      --to-earliest | --to-latest | --to-offset N | --to-datetime 2024-01-31T12:00:00Z
      --execute                  apply it (default: print the plan only, a dry run)
  --delete --group G             delete an empty group and its committed offsets

${CLIENT_CONFIG_USAGE}
Options:
  --json                         machine-readable output
  --timeout-ms N                 per-request timeout (default 30000)
  -h, --help                     this text
`;

function fail(message: string, code: number): never {
  console.error(`groups: ${message}`);
  process.exit(code);
}

function resetSpec(values: Record<string, unknown>): ResetSpec {
  const chosen = ["to-earliest", "to-latest", "to-offset", "to-datetime"].filter((name) => values[name] !== undefined && values[name] !== false);
  if (chosen.length !== 1) fail("--reset-offsets needs exactly one of --to-earliest, --to-latest, --to-offset N, --to-datetime T", 2);
  switch (chosen[0]) {
    case "to-earliest":
      return { to: "earliest" };
    case "to-latest":
      return { to: "latest" };
    case "to-offset": {
      const text = String(values["to-offset"]);
      if (!/^\d+$/.test(text)) fail(`--to-offset must be a non-negative integer, got "${text}"`, 2);
      return { to: "offset", offset: Number(text) };
    }
    default: {
      const timestampMs = Date.parse(String(values["to-datetime"]));
      if (!Number.isFinite(timestampMs)) fail(`--to-datetime must be an ISO-8601 date-time, got "${values["to-datetime"]}"`, 2);
      return { to: "datetime", timestampMs };
    }
  }
}

async function main(): Promise<void> {
  let parsed;
  try {
    parsed = parseArgs({
      options: {
        ...CONNECTION_FLAGS,
        list: { type: "boolean" },
        describe: { type: "boolean" },
        "reset-offsets": { type: "boolean" },
        delete: { type: "boolean" },
        group: { type: "string" },
        topic: { type: "string", multiple: true },
        "all-topics": { type: "boolean" },
        "to-earliest": { type: "boolean" },
        "to-latest": { type: "boolean" },
        "to-offset": { type: "string" },
        "to-datetime": { type: "string" },
        execute: { type: "boolean" },
        "dry-run": { type: "boolean" },
        json: { type: "boolean" },
      },
      strict: true,
    });
  } catch (error) {
    fail(`${error instanceof Error ? error.message : String(error)}\n\n${usage}`, 2);
  }
  const values = parsed.values;
  if (values.help) {
    console.log(usage);
    return;
  }
  const actions = ["list", "describe", "reset-offsets", "delete"].filter((name) => values[name as keyof typeof values]);
  if (actions.length !== 1) fail(`choose exactly one of --list, --describe, --reset-offsets, --delete\n\n${usage}`, 2);
  if (!values["bootstrap-server"]) fail(`--bootstrap-server is required\n\n${usage}`, 2);
  if (actions[0] !== "list" && !values.group) fail(`--${actions[0]} needs --group`, 2);
  const groupId = values.group ?? "";

  let security: ClientSecurity;
  let timeoutMs: number;
  try {
    ({ security, timeoutMs } = connectionFromFlags(values));
  } catch (error) {
    fail((error as Error).message, 2);
  }
  connectionSecurity = security;
  const admin = await GroupAdmin.connect(values["bootstrap-server"]!, timeoutMs, security);
  try {
    switch (actions[0]) {
      case "list": {
        const groups = await admin.listGroups();
        if (values.json) console.log(JSON.stringify(groups));
        else console.log(table(["GROUP", "STATE", "PROTOCOL-TYPE", "COORDINATOR"], groups.map((g) => [g.groupId, g.state, g.protocolType || "-", g.coordinator])));
        break;
      }
      case "describe": {
        const description = await admin.describeGroup(groupId);
        if (values.json) console.log(JSON.stringify(description));
        else printDescription(description);
        break;
      }
      case "reset-offsets": {
        const spec = resetSpec(values);
        const partitions = await admin.resolvePartitions(groupId, values.topic ?? [], values["all-topics"] ?? false);
        if (partitions.length === 0) fail("no partitions to reset: give --topic T or --all-topics (with committed offsets)", 2);
        const plan = await admin.planReset(groupId, partitions, spec);
        if (values.execute) await admin.executeReset(groupId, plan);
        if (values.json) console.log(JSON.stringify({ executed: values.execute ?? false, plan }));
        else {
          printPlan(groupId, plan);
          if (!values.execute) console.log("\n(dry run: add --execute to commit these offsets)");
        }
        break;
      }
      case "delete": {
        await admin.deleteGroup(groupId);
        if (values.json) console.log(JSON.stringify({ deleted: groupId }));
        else console.log(`Deletion of group '${groupId}' succeeded.`);
        break;
      }
    }
  } finally {
    admin.close();
  }
}

/** What the connections use, for the hint when a listener closes them. */
let connectionSecurity: ClientSecurity = { protocol: "PLAINTEXT" };

main().catch((error) => {
  if (error instanceof GroupAdminError || error instanceof ClientConfigError) fail(error.message, 1);
  fail(explainFailure(error, connectionSecurity), 1);
});
