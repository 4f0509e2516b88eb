// Dev mode (`bunka dev`, startBroker({ dev: true })): a broker for a laptop or a test, ready at once.
// - a fresh temporary data dir (unless one is given), removed after a clean stop unless keepDataDir;
// - group.initial.rebalance.delay.ms=0: a consumer group's first rebalance does not wait for more members;
// - auto-created topics get several partitions (num.partitions=3), so keyed traffic spreads as in production;
// - no fsync: Kafka's defaults already leave flushing to the OS (log.flush.interval.messages/ms unset);
//   dev mode sets them explicitly;
// - the admin listener (console at /ui, /metrics) on loopback, on a free port (printed at start);
// - fault injection (faults.enable) on.
// Explicit properties and options win over these defaults.
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

export const DEV_MODE_PROPERTIES: Readonly<Record<string, string>> = {
  "group.initial.rebalance.delay.ms": "0",
  "num.partitions": "3",
  "auto.create.topics.enable": "true",
  "admin.listeners": "http://127.0.0.1:0",
  // Fault injection (src/faults/) for the tests a developer runs against it; never on by default elsewhere.
  "faults.enable": "true",
  // Long.MAX_VALUE: never by count or time (Kafka's default, written out so a config file cannot turn it on by accident).
  "log.flush.interval.messages": "9223372036854775807",
  "log.flush.interval.ms": "9223372036854775807",
};

export interface DevModeInput {
  dataDir?: string;
  properties?: Record<string, string>;
}

/** The options to start with, and the temporary data dir created for them (null when the caller gave one). */
export function devModeOptions<T extends DevModeInput>(options: T): { options: T; temporaryDataDir: string | null } {
  const givenDataDir = options.dataDir ?? options.properties?.["log.dirs"] ?? options.properties?.["log.dir"];
  const temporaryDataDir = givenDataDir === undefined ? mkdtempSync(join(tmpdir(), "bunka-dev-")) : null;
  return {
    options: { ...options, ...(temporaryDataDir ? { dataDir: temporaryDataDir } : {}), properties: { ...DEV_MODE_PROPERTIES, ...options.properties } },
    temporaryDataDir,
  };
}
