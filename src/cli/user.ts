// `bunka user add|remove|list`: SCRAM users (KIP-554), through the functions `bun run users` uses
// (src/tools/users.ts): the password is salted here, only the salted password crosses the network.
import type { Command } from "commander";
import { describeUsers, removeUser, scramIterations, scramMechanisms, upsertUser, type UserChange } from "../tools/users.ts";
import { collect, withConnection } from "./common.ts";
import { CliError, printJson, table } from "./output.ts";

/** --mechanism and --iterations checked, as the CLI's one-line errors. */
function checked<T>(read: () => T): T {
  try {
    return read();
  } catch (error) {
    throw new CliError((error as Error).message);
  }
}

function report(change: UserChange, done: string, json: boolean | undefined): void {
  if (json) printJson(change.results);
  if (change.failed.length > 0) throw new CliError(change.failed.map((result) => `${result.user}: ${result.error}${result.message ? `: ${result.message}` : ""}`).join("; "));
  if (!json) console.log(done);
}

/** The password: --password, or the first line of stdin with --password-stdin (kept out of the process list). */
async function passwordOf(options: { password?: string; passwordStdin?: boolean }): Promise<string> {
  if ((options.password === undefined) === !options.passwordStdin) throw new CliError("give exactly one of --password PW or --password-stdin");
  if (options.password !== undefined) return options.password;
  const line = (await Bun.stdin.text()).split(/\r?\n/)[0] ?? "";
  if (line === "") throw new CliError("--password-stdin: stdin gave no password");
  return line;
}

export function registerUser(program: Command): void {
  const user = program.command("user").description("add, remove and list SCRAM users (like kafka-configs.sh --entity-type users)");

  user
    .command("add <name>")
    .description("create or replace a user's SCRAM credentials")
    .option("--password <password>", "the password")
    .option("--password-stdin", "read the password from the first line of stdin")
    .option("--mechanism <mechanism>", "SCRAM-SHA-256 or SCRAM-SHA-512 (repeatable; default both)", collect, [])
    .option("--iterations <n>", "PBKDF2 iterations")
    .action(async (name: string, options: { password?: string; passwordStdin?: boolean; mechanism: string[]; iterations?: string }, command: Command) => {
      const mechanisms = checked(() => scramMechanisms(options.mechanism.length > 0 ? options.mechanism : undefined));
      const iterations = checked(() => scramIterations(options.iterations));
      const password = await passwordOf(options);
      await withConnection(command, "bunka-user", async (connection, common) => {
        report(await upsertUser(connection, { user: name, password, mechanisms, iterations }), `Set ${mechanisms.join(", ")} credentials of user '${name}'.`, common.json);
      });
    });

  user
    .command("remove <name>")
    .description("delete a user's SCRAM credentials (--mechanism: only that one)")
    .option("--mechanism <mechanism>", "SCRAM-SHA-256 or SCRAM-SHA-512 (repeatable; default both)", collect, [])
    .action(async (name: string, options: { mechanism: string[] }, command: Command) => {
      const named = options.mechanism.length > 0;
      const mechanisms = checked(() => scramMechanisms(named ? options.mechanism : undefined));
      await withConnection(command, "bunka-user", async (connection, common) => {
        report(await removeUser(connection, { user: name, mechanisms, mechanismsNamed: named }), `Removed ${mechanisms.join(", ")} credentials of user '${name}'.`, common.json);
      });
    });

  user
    .command("list [name]")
    .description("users with their mechanisms and iterations (never secrets)")
    .action(async (name: string | undefined, _options: unknown, command: Command) => {
      await withConnection(command, "bunka-user", async (connection, common) => {
        const users = await describeUsers(connection, name);
        if (common.json) printJson(users);
        else if (users.length === 0) console.log("No SCRAM users.");
        else console.log(table(["USER", "MECHANISM", "ITERATIONS"], users.flatMap((entry) => (entry.error ? [[entry.user, entry.error, "-"]] : entry.credentials.map((c) => [entry.user, c.mechanism, c.iterations])))));
        if (users.some((entry) => entry.error !== null)) process.exitCode = 1;
      });
    });
}
