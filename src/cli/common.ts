// Options every client command shares (set on the program, read with optsWithGlobals()).
import type { ClientOptions } from "./kafka-client.ts";
import { CliError } from "./output.ts";

export interface CommonOptions {
  /** host:port[,host:port...] */
  brokers: string;
  json?: boolean;
  timeoutMs: string;
}

/** Commander's collector for repeatable options. */
export function collect(value: string, previous: string[]): string[] {
  return [...previous, value];
}

export function clientOptions(common: CommonOptions): ClientOptions {
  const requestTimeoutMs = Number(common.timeoutMs);
  if (!Number.isSafeInteger(requestTimeoutMs) || requestTimeoutMs <= 0) throw new CliError(`--timeout-ms must be a positive integer, got "${common.timeoutMs}"`);
  return { bootstrap: common.brokers, requestTimeoutMs };
}
