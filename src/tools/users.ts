// `bun run users`: SCRAM users of a running broker (KIP-554's AlterUserScramCredentials and
// DescribeUserScramCredentials), like `kafka-configs.sh --entity-type users`. The password is salted here
// (PBKDF2); only the salt, iteration count and salted password cross the network, and the broker keeps
// only keys derived from them. Exit code 0 on success, 1 on an error, 2 on bad usage. The operations are
// functions `bunka user` (src/cli/user.ts) calls too.
import { randomBytes } from "node:crypto";
import { parseArgs } from "node:util";
import { ErrorCode, errorName } from "../protocol/errors.ts";
import { ApiKey } from "../protocol/generated/index.ts";
import { SCRAM_ITERATIONS_MAX, SCRAM_ITERATIONS_MIN, SCRAM_MECHANISM_CODES, SCRAM_MECHANISMS, saltPassword, scramMechanismByCode, type ScramMechanismName } from "../security/sasl/scram.ts";
import type { KafkaConnection } from "../client/kafka-connection.ts";
import { CLIENT_CONFIG_USAGE, ClientConfigError, CONNECTION_FLAGS, connectClient, connectionFromFlags, explainFailure, parseBootstrap } from "./client-config.ts";

const usage = `Usage: bun run users --bootstrap-server HOST:PORT <action> [options]

Actions:
  --add --user NAME --password PW     create or replace the user's SCRAM credentials
      [--mechanism SCRAM-SHA-256|SCRAM-SHA-512]  repeatable (default: both)
      [--iterations N]                 ${SCRAM_ITERATIONS_MIN}-${SCRAM_ITERATIONS_MAX} (default ${SCRAM_ITERATIONS_MIN * 2})
  --remove --user NAME                 delete the user's credentials (--mechanism to delete one)
  --list [--user NAME]                 users and their mechanisms and iterations (never secrets)

${CLIENT_CONFIG_USAGE}
Options:
  --json                               machine-readable output
  --timeout-ms N                       per-request timeout (default 30000)
  -h, --help                           this text
`;

/** A user's SCRAM credentials as the broker describes them (never secrets). */
export interface DescribedUser {
  user: string;
  /** The broker's error for this user (e.g. RESOURCE_NOT_FOUND), or null. */
  error: string | null;
  credentials: { mechanism: string; iterations: number }[];
}

/** One user's answer to AlterUserScramCredentials. */
export interface UserChangeResult {
  user: string;
  error: string | null;
  message: string | null;
}

export const DEFAULT_SCRAM_ITERATIONS = SCRAM_ITERATIONS_MIN * 2;

/** --mechanism values, checked; both SCRAM mechanisms when none is given. */
export function scramMechanisms(names: readonly string[] | undefined): ScramMechanismName[] {
  return (names ?? [...SCRAM_MECHANISMS]).map((name) => {
    if (!(SCRAM_MECHANISMS as readonly string[]).includes(name)) throw new Error(`--mechanism ${name}: use ${SCRAM_MECHANISMS.join(" or ")}`);
    return name as ScramMechanismName;
  });
}

export function scramIterations(text: string | undefined): number {
  const iterations = text === undefined ? DEFAULT_SCRAM_ITERATIONS : Number(text);
  if (!Number.isInteger(iterations) || iterations < SCRAM_ITERATIONS_MIN || iterations > SCRAM_ITERATIONS_MAX) throw new Error(`--iterations must be an integer in ${SCRAM_ITERATIONS_MIN}-${SCRAM_ITERATIONS_MAX}`);
  return iterations;
}

/** DescribeUserScramCredentials: every user, or one. A request-level error throws. */
export async function describeUsers(connection: KafkaConnection, user?: string): Promise<DescribedUser[]> {
  const response = await connection.request(ApiKey.DescribeUserScramCredentials, 0, { users: user === undefined ? null : [{ name: user }] });
  if (response.errorCode !== ErrorCode.NONE) throw new Error(`${errorName(response.errorCode)}: ${response.errorMessage ?? ""}`);
  return (response.results as { user: string; errorCode: number; errorMessage: string | null; credentialInfos: { mechanism: number; iterations: number }[] }[]).map((result) => ({
    user: result.user,
    error: result.errorCode === ErrorCode.NONE ? null : `${errorName(result.errorCode)}: ${result.errorMessage ?? ""}`,
    credentials: result.credentialInfos.map((info) => ({ mechanism: scramMechanismByCode(info.mechanism) ?? `unknown(${info.mechanism})`, iterations: info.iterations })),
  }));
}

/** The broker's results, and those of them that are failures for the operator (none: done). */
export interface UserChange {
  results: UserChangeResult[];
  failed: UserChangeResult[];
}

/**
 * Creates or replaces a user's credentials for each mechanism: the password is salted here (a fresh 32-byte
 * salt per mechanism), only the salted password is sent.
 */
export async function upsertUser(connection: KafkaConnection, change: { user: string; password: string; mechanisms: readonly ScramMechanismName[]; iterations: number }): Promise<UserChange> {
  const upsertions = change.mechanisms.map((mechanism) => {
    const salt = new Uint8Array(randomBytes(32));
    return { name: change.user, mechanism: SCRAM_MECHANISM_CODES[mechanism], iterations: change.iterations, salt, saltedPassword: saltPassword(mechanism, change.password, salt, change.iterations) };
  });
  const results = await alterAll(connection, [], upsertions);
  return { results, failed: results.filter((result) => result.error !== null) };
}

/**
 * Deletes a user's credentials. With `mechanismsNamed` false (the operator named none, so both were asked),
 * a mechanism the user never had is not an error unless the user had none at all.
 */
export async function removeUser(connection: KafkaConnection, change: { user: string; mechanisms: readonly ScramMechanismName[]; mechanismsNamed: boolean }): Promise<UserChange> {
  const results = await alterAll(connection, change.mechanisms.map((mechanism) => ({ name: change.user, mechanism: SCRAM_MECHANISM_CODES[mechanism] })), []);
  const failed = results.filter((result) => result.error !== null);
  if (change.mechanismsNamed) return { results, failed };
  return { results, failed: failed.filter((result) => result.error !== errorName(ErrorCode.RESOURCE_NOT_FOUND) || failed.length === results.length) };
}

async function alterAll(connection: KafkaConnection, deletions: object[], upsertions: object[]): Promise<UserChangeResult[]> {
  const response = await connection.request(ApiKey.AlterUserScramCredentials, 0, { deletions, upsertions });
  return (response.results as { user: string; errorCode: number; errorMessage: string | null }[]).map((result) => ({ user: result.user, error: result.errorCode === ErrorCode.NONE ? null : errorName(result.errorCode), message: result.errorMessage }));
}

function fail(message: string, code: number): never {
  console.error(`users: ${message}`);
  process.exit(code);
}

async function main(): Promise<void> {
  let parsed;
  try {
    parsed = parseArgs({
      options: {
        ...CONNECTION_FLAGS,
        add: { type: "boolean" },
        remove: { type: "boolean" },
        list: { type: "boolean" },
        user: { type: "string" },
        password: { type: "string" },
        mechanism: { type: "string", multiple: true },
        iterations: { type: "string" },
        json: { type: "boolean" },
      },
      strict: true,
    });
  } catch (error) {
    fail(`${error instanceof Error ? error.message : String(error)}\n\n${usage}`, 2);
  }
  const flags = parsed.values;
  if (flags.help) {
    console.log(usage);
    process.exit(0);
  }
  const actions = [flags.add, flags.remove, flags.list].filter(Boolean).length;
  if (actions !== 1) fail(`exactly one of --add, --remove, --list\n\n${usage}`, 2);
  if (!flags["bootstrap-server"]) fail(`--bootstrap-server HOST:PORT is required\n\n${usage}`, 2);
  let mechanisms: ScramMechanismName[];
  let iterations: number;
  try {
    mechanisms = scramMechanisms(flags.mechanism);
    iterations = scramIterations(flags.iterations);
  } catch (error) {
    fail((error as Error).message, 2);
  }
  if ((flags.add || flags.remove) && !flags.user) fail("--user NAME is required", 2);
  if (flags.add && flags.password === undefined) fail("--add needs --password", 2);
  let security;
  let timeoutMs;
  let address;
  try {
    address = parseBootstrap(flags["bootstrap-server"]);
    ({ security, timeoutMs } = connectionFromFlags(flags));
  } catch (error) {
    fail(error instanceof ClientConfigError ? error.message : String(error), 2);
  }
  const connection = await connectClient({ ...address, clientId: "bunka-users", requestTimeoutMs: timeoutMs }, security).catch((error) => fail(error instanceof Error ? error.message : String(error), 1));
  try {
    if (flags.list) {
      const users = await describeUsers(connection, flags.user);
      if (flags.json) console.log(JSON.stringify(users));
      else for (const entry of users) console.log(entry.error ? `${entry.user}: ${entry.error}` : `${entry.user}: ${entry.credentials.map((c) => `${c.mechanism} (iterations=${c.iterations})`).join(", ")}`);
      if (users.some((entry) => entry.error !== null)) process.exitCode = 1;
    } else {
      const name = flags.user!;
      const { results, failed } = flags.add
        ? await upsertUser(connection, { user: name, password: flags.password!, mechanisms, iterations })
        : await removeUser(connection, { user: name, mechanisms, mechanismsNamed: flags.mechanism !== undefined });
      if (flags.json) console.log(JSON.stringify(results));
      for (const result of failed) console.error(`users: ${result.user}: ${result.error}: ${result.message ?? ""}`);
      if (failed.length > 0) process.exitCode = 1;
      else if (!flags.json) console.log(`${flags.add ? "Set" : "Removed"} ${mechanisms.join(", ")} credentials of user '${name}'.`);
    }
  } catch (error) {
    fail(explainFailure(error, security), 1);
  } finally {
    connection.close();
  }
}

if (import.meta.main) await main();
