// Options every client command shares (set on the program, read with optsWithGlobals()). TLS and SASL come
// from Kafka's client properties through the tools' one reader (tools/client-config.ts).
import { ClientConfigError, clientSecurity, loadClientProperties, type ClientSecurity } from "../tools/client-config.ts";
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
