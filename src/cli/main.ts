#!/usr/bin/env bun
// `bunka`: one command line for the broker and for operating any Kafka-API cluster, in the spirit of
// Redpanda's rpk. One file per command group; argument parsing by commander (README "CLI" says why).
import { Command, CommanderError } from "commander";
import { registerTransactions } from "../tools/transactions.ts";
import { registerAcl } from "./acl.ts";
import { runBroker } from "./broker.ts";
import { registerCluster } from "./cluster.ts";
import { collect } from "./common.ts";
import { registerConsume } from "./consume.ts";
import { registerGroup } from "./group.ts";
import { CliError, errorLine } from "./output.ts";
import { registerPerf } from "./perf.ts";
import { registerProduce } from "./produce.ts";
import { registerQuota } from "./quota.ts";
import { registerTopic } from "./topic.ts";
import { registerUser } from "./user.ts";

const VERSION = "0.1.0";
const DEFAULT_BROKERS = process.env.BUNKA_BROKERS ?? "127.0.0.1:9092";

export function buildProgram(): Command {
  const program = new Command("bunka")
    .description("Bunka: a Kafka-compatible broker, and a CLI for any Kafka-API cluster")
    .version(VERSION)
    .option("-b, --brokers <host:port,...>", "bootstrap servers (env BUNKA_BROKERS)", DEFAULT_BROKERS)
    .option("--json", "machine-readable output")
    .option("--timeout-ms <ms>", "per-request timeout", "30000")
    .option("-X, --property <key=value>", "a Kafka client property: security.protocol, sasl.mechanism, sasl.username, sasl.password, ssl.ca.location, ... (repeatable)", collect, [])
    .option("--command-config <file>", "Kafka client properties from a file (-X wins)")
    .showHelpAfterError("(bunka --help lists the commands)");
  // Run before commander parses (see main below): the broker's flags come from the settings table.
  program.command("broker").description("run a broker (the flags of `bun run broker`; bunka broker --help lists them)").helpOption(false).allowUnknownOption();
  program.command("dev").description("run a throwaway dev broker: temporary data dir (removed at exit unless --keep), groups ready at once, 3 partitions").helpOption(false).allowUnknownOption();
  registerTopic(program);
  registerProduce(program);
  registerConsume(program);
  registerGroup(program);
  registerCluster(program);
  registerPerf(program);
  registerAcl(program);
  registerUser(program);
  registerQuota(program);
  registerTransactions(program);
  return program;
}

async function main(argv: string[]): Promise<void> {
  if (argv[0] === "broker") return runBroker(argv.slice(1), { command: "bunka broker" });
  if (argv[0] === "dev") return runBroker(argv.slice(1), { command: "bunka dev", dev: true });
  const program = buildProgram();
  program.exitOverride();
  try {
    await program.parseAsync(argv, { from: "user" });
  } catch (error) {
    // Commander already printed its usage errors and help; only the exit code is left.
    if (error instanceof CommanderError) process.exit(error.exitCode);
    console.error(`bunka: ${errorLine(error)}`);
    if (!(error instanceof CliError) && process.env.BUNKA_DEBUG) console.error(error);
    process.exit(1);
  }
}

await main(process.argv.slice(2));
