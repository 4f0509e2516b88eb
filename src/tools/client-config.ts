// How Bunka's command-line tools reach a secured listener: Kafka's client properties, read from a properties
// file (`--command-config FILE`, as kafka-acls.sh and kafka-configs.sh take it) and from repeated
// `-X key=value` (as kcat takes them, later ones win), turned into the TLS and SASL options of
// client/kafka-connection.ts. Every tool (users, acls, groups, and any future CLI) parses and connects through
// this one module:
//
//   const security = clientSecurity(loadClientProperties({ commandConfig, overrides }));
//   const connection = await connectClient({ host, port, clientId, requestTimeoutMs }, security);
//
// Supported keys (Java and librdkafka spellings): security.protocol (PLAINTEXT, SSL, SASL_PLAINTEXT, SASL_SSL),
// sasl.mechanism / sasl.mechanisms (PLAIN, SCRAM-SHA-256, SCRAM-SHA-512, OAUTHBEARER), sasl.username +
// sasl.password or sasl.jaas.config (username="…" password="…"), for OAUTHBEARER librdkafka's development
// form (enable.sasl.oauthbearer.unsecure.jwt=true, sasl.oauthbearer.config=principal=NAME), ssl.ca.location /
// ssl.truststore.location (PEM), ssl.certificate.location + ssl.key.location or ssl.keystore.location (PEM key
// and chain in one file), ssl.key.password. Settings fail closed: an unknown key, SASL or TLS settings the
// protocol would not use, or a SASL protocol without a mechanism or login are errors, never a silent
// plaintext connection.
import { readFileSync } from "node:fs";
import { ConnectionClosedError, KafkaConnection, type KafkaConnectionSasl, type KafkaConnectionTls } from "../client/kafka-connection.ts";
import { parseJaasEntry } from "../security/credentials.ts";
import { isSupportedSaslMechanism } from "../security/sasl/mechanism.ts";

export class ClientConfigError extends Error {}

export type SecurityProtocol = "PLAINTEXT" | "SSL" | "SASL_PLAINTEXT" | "SASL_SSL";

/** What a connection needs beyond host and port; both absent is plaintext. */
export interface ClientSecurity {
  protocol: SecurityProtocol;
  tls?: KafkaConnectionTls;
  sasl?: KafkaConnectionSasl;
}

const PROTOCOLS: readonly SecurityProtocol[] = ["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"];
/** Two spellings of one setting: the second (librdkafka's or Java's) is read as the first. */
const ALIASES: Record<string, string> = {
  "sasl.mechanisms": "sasl.mechanism",
  "ssl.truststore.location": "ssl.ca.location",
};
const SASL_KEYS = ["sasl.mechanism", "sasl.username", "sasl.password", "sasl.jaas.config", "enable.sasl.oauthbearer.unsecure.jwt", "sasl.oauthbearer.config"];
const TLS_KEYS = ["ssl.ca.location", "ssl.certificate.location", "ssl.key.location", "ssl.keystore.location", "ssl.key.password"];
/** Type markers Kafka's Java tools need; only PEM files are read here, so those are the only accepted values. */
const PEM_TYPE_KEYS = ["ssl.truststore.type", "ssl.keystore.type"];
export const CLIENT_PROPERTY_KEYS: readonly string[] = ["security.protocol", ...SASL_KEYS, ...TLS_KEYS, ...PEM_TYPE_KEYS, ...Object.keys(ALIASES)];
/** A properties file larger than this is not a client config (bounds what a typo in the path makes us read). */
const COMMAND_CONFIG_BYTES_MAX = 1 << 20;
const UNSECURED_TOKEN_LIFETIME_SECONDS = 3600;

/**
 * Java properties text: `key=value`, `key: value` or `key value`; `#` and `!` comment lines; a trailing
 * backslash continues the line. Enough for the client configs operators write (no unicode escapes).
 */
export function parseProperties(text: string): Map<string, string> {
  const properties = new Map<string, string>();
  const lines = text.split(/\r?\n/);
  for (let index = 0; index < lines.length; index++) {
    let line = lines[index]!.trimStart();
    if (line === "" || line.startsWith("#") || line.startsWith("!")) continue;
    while (/(^|[^\\])(\\\\)*\\$/.test(line) && index + 1 < lines.length) line = line.slice(0, -1) + lines[++index]!.trimStart();
    const separator = /^((?:[^\\=:\s]|\\.)+)\s*[=:\s]\s*/.exec(line);
    const key = (separator ? separator[1]! : line).replace(/\\(.)/g, "$1");
    const value = separator ? line.slice(separator[0].length).trimEnd() : "";
    properties.set(key, value);
  }
  return properties;
}

/** The usage lines every tool prints for these options. */
export const CLIENT_CONFIG_USAGE = `Connecting to a TLS or SASL listener (Kafka client properties):
  --command-config FILE                a properties file: security.protocol, sasl.mechanism,
                                       sasl.username/sasl.password or sasl.jaas.config,
                                       ssl.ca.location, ssl.certificate.location, ssl.key.location
  -X key=value                         one property (repeatable; over the file's)
  --sasl-mechanism M --sasl-username U --sasl-password P   shorthand for SASL_PLAINTEXT
`;

/** The old --sasl-* flags as properties (SASL_PLAINTEXT, as they always meant); the file and -X override them. */
export function legacySaslOverrides(flags: { "sasl-mechanism"?: string; "sasl-username"?: string; "sasl-password"?: string }): string[] {
  if (flags["sasl-mechanism"] === undefined) return [];
  return ["security.protocol=SASL_PLAINTEXT", `sasl.mechanism=${flags["sasl-mechanism"]}`, `sasl.username=${flags["sasl-username"] ?? ""}`, `sasl.password=${flags["sasl-password"] ?? ""}`];
}

/** `defaults` (key=value), then the properties of `--command-config` (if given), then each `-X key=value` over them. */
export function loadClientProperties(sources: { defaults?: readonly string[]; commandConfig?: string; overrides?: readonly string[] }): Map<string, string> {
  const properties = new Map<string, string>();
  const set = (key: string, value: string, origin: string) => {
    const name = ALIASES[key] ?? key;
    if (!CLIENT_PROPERTY_KEYS.includes(key)) throw new ClientConfigError(`${origin}: unknown client property ${key} (supported: ${CLIENT_PROPERTY_KEYS.join(", ")})`);
    properties.set(name, value);
  };
  const setPair = (pair: string, origin: string) => {
    const separator = pair.indexOf("=");
    if (separator <= 0) throw new ClientConfigError(`${origin} ${pair}: expected key=value`);
    set(pair.slice(0, separator).trim(), pair.slice(separator + 1), `${origin} ${pair.slice(0, separator)}`);
  };
  for (const pair of sources.defaults ?? []) setPair(pair, "--sasl-*");
  if (sources.commandConfig !== undefined) {
    let text: string;
    try {
      const bytes = readFileSync(sources.commandConfig);
      if (bytes.byteLength > COMMAND_CONFIG_BYTES_MAX) throw new ClientConfigError(`--command-config ${sources.commandConfig}: larger than ${COMMAND_CONFIG_BYTES_MAX} bytes`);
      text = bytes.toString("utf8");
    } catch (error) {
      if (error instanceof ClientConfigError) throw error;
      throw new ClientConfigError(`--command-config ${sources.commandConfig}: cannot read it (${(error as NodeJS.ErrnoException).code ?? String(error)})`);
    }
    for (const [key, value] of parseProperties(text)) set(key, value, `--command-config ${sources.commandConfig}`);
  }
  for (const pair of sources.overrides ?? []) setPair(pair, "-X");
  return properties;
}

function readPem(properties: Map<string, string>, key: string): string | undefined {
  const location = properties.get(key);
  if (location === undefined || location === "") return undefined;
  try {
    return readFileSync(location, "utf8");
  } catch (error) {
    throw new ClientConfigError(`${key}=${location}: cannot read it (${(error as NodeJS.ErrnoException).code ?? String(error)})`);
  }
}

function tlsOf(properties: Map<string, string>): KafkaConnectionTls {
  for (const key of PEM_TYPE_KEYS) {
    const type = properties.get(key);
    if (type !== undefined && type.toUpperCase() !== "PEM") throw new ClientConfigError(`${key}=${type}: only PEM files are supported`);
  }
  const keystore = readPem(properties, "ssl.keystore.location");
  const cert = readPem(properties, "ssl.certificate.location") ?? keystore;
  const key = readPem(properties, "ssl.key.location") ?? keystore;
  if ((cert === undefined) !== (key === undefined)) throw new ClientConfigError("a client certificate needs both ssl.certificate.location and ssl.key.location (or ssl.keystore.location with both)");
  const passphrase = properties.get("ssl.key.password");
  return { ca: readPem(properties, "ssl.ca.location"), cert, key, ...(passphrase ? { passphrase } : {}) };
}

/** An unsecured JWS (alg none) for `principal`: librdkafka's enable.sasl.oauthbearer.unsecure.jwt, for development brokers. */
function unsecuredToken(properties: Map<string, string>): string {
  if (properties.get("enable.sasl.oauthbearer.unsecure.jwt") !== "true") throw new ClientConfigError("sasl.mechanism=OAUTHBEARER needs enable.sasl.oauthbearer.unsecure.jwt=true and sasl.oauthbearer.config=principal=NAME (only unsecured development tokens are made here)");
  const config = new Map((properties.get("sasl.oauthbearer.config") ?? "").split(/\s+/).filter(Boolean).map((pair) => [pair.slice(0, pair.indexOf("=")), pair.slice(pair.indexOf("=") + 1)] as const));
  const principal = config.get("principal");
  if (!principal) throw new ClientConfigError("sasl.oauthbearer.config needs principal=NAME");
  const lifeSeconds = Number(config.get("lifeSeconds") ?? UNSECURED_TOKEN_LIFETIME_SECONDS);
  if (!Number.isInteger(lifeSeconds) || lifeSeconds <= 0) throw new ClientConfigError("sasl.oauthbearer.config lifeSeconds must be a positive integer");
  const nowSeconds = Math.floor(Date.now() / 1000);
  const part = (value: object) => Buffer.from(JSON.stringify(value)).toString("base64url");
  return `${part({ alg: "none" })}.${part({ sub: principal, iat: nowSeconds, exp: nowSeconds + lifeSeconds })}.`;
}

function saslOf(properties: Map<string, string>): KafkaConnectionSasl {
  const mechanism = properties.get("sasl.mechanism");
  if (mechanism === undefined) throw new ClientConfigError(`security.protocol=${properties.get("security.protocol")} needs sasl.mechanism (PLAIN, SCRAM-SHA-256, SCRAM-SHA-512 or OAUTHBEARER)`);
  if (!isSupportedSaslMechanism(mechanism)) throw new ClientConfigError(`sasl.mechanism=${mechanism}: use PLAIN, SCRAM-SHA-256, SCRAM-SHA-512 or OAUTHBEARER`);
  if (mechanism === "OAUTHBEARER") return { mechanism, username: "", password: unsecuredToken(properties) };
  let username = properties.get("sasl.username");
  let password = properties.get("sasl.password");
  const jaas = properties.get("sasl.jaas.config");
  if (jaas !== undefined) {
    try {
      const { options } = parseJaasEntry(jaas);
      username ??= options.get("username");
      password ??= options.get("password");
    } catch (error) {
      throw new ClientConfigError((error as Error).message.replace(/^config: /, ""));
    }
  }
  if (!username || password === undefined) throw new ClientConfigError(`sasl.mechanism=${mechanism} needs sasl.username and sasl.password (or sasl.jaas.config with username="…" password="…")`);
  return { mechanism, username, password };
}

/** The connection options `properties` ask for; throws ClientConfigError for settings that do not add up. */
export function clientSecurity(properties: Map<string, string>): ClientSecurity {
  const protocolText = (properties.get("security.protocol") ?? "PLAINTEXT").toUpperCase();
  if (!(PROTOCOLS as readonly string[]).includes(protocolText)) throw new ClientConfigError(`security.protocol=${properties.get("security.protocol")}: use ${PROTOCOLS.join(", ")}`);
  const protocol = protocolText as SecurityProtocol;
  const usesSasl = protocol.startsWith("SASL_");
  const usesTls = protocol === "SSL" || protocol === "SASL_SSL";
  // A login or certificate given for a protocol that would not use it means the protocol is wrong: refuse
  // rather than connect without the security the operator asked for.
  const unused = [...(usesSasl ? [] : SASL_KEYS), ...(usesTls ? [] : TLS_KEYS)].filter((key) => properties.has(key));
  if (unused.length > 0) throw new ClientConfigError(`${unused.join(", ")} given but security.protocol=${protocol} does not use ${unused.length > 1 ? "them" : "it"}`);
  return { protocol, ...(usesTls ? { tls: tlsOf(properties) } : {}), ...(usesSasl ? { sasl: saslOf(properties) } : {}) };
}

/** The flags every tool takes to reach a broker, secured or not (options for node:util parseArgs). */
export const CONNECTION_FLAGS = {
  "bootstrap-server": { type: "string" },
  "sasl-mechanism": { type: "string" },
  "sasl-username": { type: "string" },
  "sasl-password": { type: "string" },
  "command-config": { type: "string" },
  X: { type: "string", short: "X", multiple: true },
  "timeout-ms": { type: "string" },
  help: { type: "boolean", short: "h" },
} as const;

interface ConnectionFlagValues {
  "sasl-mechanism"?: string;
  "sasl-username"?: string;
  "sasl-password"?: string;
  "command-config"?: string;
  X?: string[];
  "timeout-ms"?: string;
}

/**
 * A tool's security (legacy --sasl-* flags, then --command-config, then -X) and per-request timeout (default
 * 30 s) from its CONNECTION_FLAGS; a bad value is a ClientConfigError naming the flag.
 */
export function connectionFromFlags(flags: ConnectionFlagValues): { security: ClientSecurity; timeoutMs: number } {
  const timeoutMs = flags["timeout-ms"] === undefined ? 30_000 : Number(flags["timeout-ms"]);
  if (!Number.isInteger(timeoutMs) || timeoutMs <= 0) throw new ClientConfigError("--timeout-ms must be a positive integer");
  const properties = loadClientProperties({ defaults: legacySaslOverrides(flags), commandConfig: flags["command-config"], overrides: flags.X });
  return { security: clientSecurity(properties), timeoutMs };
}

/** Splits `host:port` (IPv6 in brackets); the first of a comma-separated bootstrap list. */
export function parseBootstrap(bootstrap: string): { host: string; port: number } {
  const match = /^\[?([^\]]+?)\]?:(\d+)$/.exec(bootstrap.split(",")[0]!.trim());
  const port = match ? Number(match[2]) : NaN;
  if (!match || !Number.isInteger(port) || port <= 0 || port > 65535) throw new ClientConfigError(`--bootstrap-server ${bootstrap}: expected HOST:PORT`);
  return { host: match[1]!, port };
}

/**
 * Connects (TLS handshake and SASL login included) with the tool's security settings. Failures become one
 * readable sentence: a refused login names the broker's error, and a listener that closes the connection
 * without a word (a TLS or SASL listener reached in plaintext, or without a login) says which settings to check.
 */
export async function connectClient(target: { host: string; port: number; clientId: string; requestTimeoutMs: number }, security: ClientSecurity): Promise<KafkaConnection> {
  try {
    return await KafkaConnection.connect({ ...target, connectTimeoutMs: Math.min(target.requestTimeoutMs, 30_000), ...(security.tls ? { tls: security.tls } : {}), ...(security.sasl ? { sasl: security.sasl } : {}) });
  } catch (error) {
    throw new ClientConfigError(`cannot connect to ${target.host}:${target.port} with security.protocol=${security.protocol}: ${explainFailure(error, security)}`);
  }
}

/** One line for what went wrong on a tool's connection, with a hint when the listener likely wants other security settings. */
export function explainFailure(error: unknown, security: ClientSecurity): string {
  const message = error instanceof Error ? error.message : String(error);
  if (/CERTIFICATE_REQUIRED/i.test(message)) return `${message}: the listener requires a client certificate (ssl.certificate.location and ssl.key.location)`;
  if (!(error instanceof ConnectionClosedError)) return message;
  // A TLS 1.3 server checks the client certificate after the client's handshake is done, so a missing one shows up here too.
  const certificateHint = security.tls && !security.tls.cert ? "; a listener with ssl.client.auth=required also needs ssl.certificate.location and ssl.key.location" : "";
  const hint = security.sasl
    ? `the broker closed the connection (check security.protocol and that the listener offers sasl.mechanism${certificateHint})`
    : `the broker closed the connection without answering (security.protocol=${security.protocol}; a TLS or SASL listener needs --command-config or -X security.protocol=…, sasl.mechanism, sasl.username, sasl.password${certificateHint})`;
  return `${message}: ${hint}`;
}
