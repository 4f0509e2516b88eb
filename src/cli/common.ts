// Options every client command shares (set on the program, read with optsWithGlobals()). TLS and SASL come
// from Kafka's client properties through the tools' one reader (tools/client-config.ts).
import type { KafkaConnection } from "../client/kafka-connection.ts";
import { ClientConfigError, clientSecurity, connectClient, explainFailure, loadClientProperties, parseBootstrap, type ClientSecurity } from "../tools/client-config.ts";
import type { ClientOptions } from "./kafka-client.ts";
import { CliError } from "./output.ts";

export interface CommonOptions {
  /** host:port[,host:port...] */
  brokers: string;
  json?: boolean;
  timeoutMs: string;
  /** -X key=value, repeatable (kcat's spelling). */
  property: string[];
  commandConfig?: string;
}

/** Commander's collector for repeatable options. */
export function collect(value: string, previous: string[]): string[] {
  return [...previous, value];
}

/** How to connect: security.protocol, SASL login, TLS trust and client certificate; fails closed on a bad setting. */
export function securityOf(common: CommonOptions): ClientSecurity {
  try {
    return clientSecurity(loadClientProperties({ commandConfig: common.commandConfig, overrides: common.property }));
  } catch (error) {
    if (error instanceof ClientConfigError) throw new CliError(error.message);
    throw error;
  }
}

export function requestTimeoutOf(common: CommonOptions): number {
  const requestTimeoutMs = Number(common.timeoutMs);
  if (!Number.isSafeInteger(requestTimeoutMs) || requestTimeoutMs <= 0) throw new CliError(`--timeout-ms must be a positive integer, got "${common.timeoutMs}"`);
  return requestTimeoutMs;
}

export function clientOptions(common: CommonOptions): ClientOptions {
  const { tls, sasl } = securityOf(common);
  return { bootstrap: common.brokers, requestTimeoutMs: requestTimeoutOf(common), security: { ...(tls ? { tls } : {}), ...(sasl ? { sasl } : {}) } };
}

/**
 * One connection (TLS and SASL as configured) to the first bootstrap broker that answers, for the commands
 * whose requests any broker serves (ACLs, SCRAM users, quotas); closed after `use`.
 */
export async function withConnection<T>(command: { optsWithGlobals(): object }, clientId: string, use: (connection: KafkaConnection, common: CommonOptions) => Promise<T>): Promise<T> {
  const common = command.optsWithGlobals() as CommonOptions;
  const security = securityOf(common);
  const requestTimeoutMs = requestTimeoutOf(common);
  let connection: KafkaConnection | null = null;
  let lastError: unknown = null;
  for (const bootstrap of common.brokers.split(",").map((entry) => entry.trim()).filter(Boolean)) {
    try {
      connection = await connectClient({ ...parseBootstrap(bootstrap), clientId, requestTimeoutMs }, security);
      break;
    } catch (error) {
      lastError = error;
    }
  }
  if (!connection) throw new CliError(lastError instanceof Error ? lastError.message : `no broker in --brokers ${common.brokers}`);
  try {
    return await use(connection, common);
  } catch (error) {
    if (error instanceof CliError) throw error;
    throw new CliError(explainFailure(error, security));
  } finally {
    connection.close();
  }
}
