// `bun run users`: SCRAM users of a running broker (KIP-554's AlterUserScramCredentials and
// DescribeUserScramCredentials), like `kafka-configs.sh --entity-type users`. The password is salted here
// (PBKDF2); only the salt, iteration count and salted password cross the network, and the broker keeps
// only keys derived from them. Exit code 0 on success, 1 on an error, 2 on bad usage.
import { randomBytes } from "node:crypto";
import { parseArgs } from "node:util";
import { ErrorCode, errorName } from "../protocol/errors.ts";
import { ApiKey } from "../protocol/generated/index.ts";
import { SCRAM_ITERATIONS_MAX, SCRAM_ITERATIONS_MIN, SCRAM_MECHANISM_CODES, SCRAM_MECHANISMS, saltPassword, scramMechanismByCode, type ScramMechanismName } from "../security/sasl/scram.ts";
import { CLIENT_CONFIG_USAGE, ClientConfigError, clientSecurity, connectClient, explainFailure, legacySaslOverrides, loadClientProperties, parseBootstrap } from "./client-config.ts";

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

function fail(message: string, code: number): never {
  console.error(`users: ${message}`);
  process.exit(code);
}

let parsed;
try {
  parsed = parseArgs({
    options: {
      "bootstrap-server": { type: "string" },
      add: { type: "boolean" },
      remove: { type: "boolean" },
      list: { type: "boolean" },
      user: { type: "string" },
      password: { type: "string" },
      mechanism: { type: "string", multiple: true },
      iterations: { type: "string" },
      "sasl-mechanism": { type: "string" },
      "sasl-username": { type: "string" },
      "sasl-password": { type: "string" },
      "command-config": { type: "string" },
      X: { type: "string", short: "X", multiple: true },
      json: { type: "boolean" },
      "timeout-ms": { type: "string" },
      help: { type: "boolean", short: "h" },
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
const mechanisms = (flags.mechanism ?? [...SCRAM_MECHANISMS]).map((name) => {
  if (!(SCRAM_MECHANISMS as readonly string[]).includes(name)) fail(`--mechanism ${name}: use ${SCRAM_MECHANISMS.join(" or ")}`, 2);
  return name as ScramMechanismName;
});
const iterations = flags.iterations === undefined ? SCRAM_ITERATIONS_MIN * 2 : Number(flags.iterations);
if (!Number.isInteger(iterations) || iterations < SCRAM_ITERATIONS_MIN || iterations > SCRAM_ITERATIONS_MAX) fail(`--iterations must be an integer in ${SCRAM_ITERATIONS_MIN}-${SCRAM_ITERATIONS_MAX}`, 2);
if ((flags.add || flags.remove) && !flags.user) fail("--user NAME is required", 2);
if (flags.add && flags.password === undefined) fail("--add needs --password", 2);
const timeoutMs = flags["timeout-ms"] === undefined ? 30_000 : Number(flags["timeout-ms"]);
if (!Number.isInteger(timeoutMs) || timeoutMs <= 0) fail("--timeout-ms must be a positive integer", 2);

let security;
let address;
try {
  address = parseBootstrap(flags["bootstrap-server"]);
  security = clientSecurity(loadClientProperties({ defaults: legacySaslOverrides(flags), commandConfig: flags["command-config"], overrides: flags.X }));
} catch (error) {
  fail(error instanceof ClientConfigError ? error.message : String(error), 2);
}
const connection = await connectClient({ ...address, clientId: "bunka-users", requestTimeoutMs: timeoutMs }, security).catch((error) => fail(error instanceof Error ? error.message : String(error), 1));
try {
  if (flags.list) await list(flags.user);
  else await alter();
} catch (error) {
  fail(explainFailure(error, security), 1);
} finally {
  connection.close();
}

async function list(user: string | undefined): Promise<void> {
  const response = await connection.request(ApiKey.DescribeUserScramCredentials, 0, { users: user === undefined ? null : [{ name: user }] });
  if (response.errorCode !== ErrorCode.NONE) fail(`${errorName(response.errorCode)}: ${response.errorMessage ?? ""}`, 1);
  const users = (response.results as { user: string; errorCode: number; errorMessage: string | null; credentialInfos: { mechanism: number; iterations: number }[] }[]).map((result) => ({
    user: result.user,
    error: result.errorCode === ErrorCode.NONE ? null : `${errorName(result.errorCode)}: ${result.errorMessage ?? ""}`,
    credentials: result.credentialInfos.map((info) => ({ mechanism: scramMechanismByCode(info.mechanism) ?? `unknown(${info.mechanism})`, iterations: info.iterations })),
  }));
  if (flags.json) console.log(JSON.stringify(users));
  else for (const entry of users) console.log(entry.error ? `${entry.user}: ${entry.error}` : `${entry.user}: ${entry.credentials.map((c) => `${c.mechanism} (iterations=${c.iterations})`).join(", ")}`);
  if (users.some((entry) => entry.error !== null)) process.exitCode = 1;
}

async function alter(): Promise<void> {
  const name = flags.user!;
  const upsertions = flags.add
    ? mechanisms.map((mechanism) => {
        const salt = new Uint8Array(randomBytes(32));
        return { name, mechanism: SCRAM_MECHANISM_CODES[mechanism], iterations, salt, saltedPassword: saltPassword(mechanism, flags.password!, salt, iterations) };
      })
    : [];
  const deletions = flags.remove ? mechanisms.map((mechanism) => ({ name, mechanism: SCRAM_MECHANISM_CODES[mechanism] })) : [];
  const response = await connection.request(ApiKey.AlterUserScramCredentials, 0, { deletions, upsertions });
  const results = response.results as { user: string; errorCode: number; errorMessage: string | null }[];
  const failed = results.filter((result) => result.errorCode !== ErrorCode.NONE);
  // Removing both mechanisms of a user who has one: the missing one is not an error for the operator.
  const real = flags.remove && flags.mechanism === undefined ? failed.filter((result) => result.errorCode !== ErrorCode.RESOURCE_NOT_FOUND || failed.length === results.length) : failed;
  if (flags.json) console.log(JSON.stringify(results.map((result) => ({ user: result.user, error: result.errorCode === ErrorCode.NONE ? null : errorName(result.errorCode), message: result.errorMessage }))));
  for (const result of real) console.error(`users: ${result.user}: ${errorName(result.errorCode)}: ${result.errorMessage ?? ""}`);
  if (real.length > 0) process.exitCode = 1;
  else if (!flags.json) console.log(`${flags.add ? "Set" : "Removed"} ${mechanisms.join(", ")} credentials of user '${name}'.`);
}
