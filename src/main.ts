// `bun run broker`: parse flags, start the broker, stop it cleanly on SIGTERM/SIGINT (however many arrive).
import { parseArgs } from "node:util";
import { resolveConfig, startBroker, type Broker, type BrokerOptions } from "./server/broker.ts";

const usage = `Usage: bun run broker [options]

  --port N              port to listen on (default 9092)
  --host HOST           address to bind (default 127.0.0.1)
  --advertised-host H   host name given to clients in Metadata (default: --host)
  --data-dir DIR        where partitions and metadata live (default ./data)
  --node-id N           this broker's id (default 1)
  --config FILE         Kafka-style key=value properties (num.partitions, segment.bytes, compression.type, ...)
  --etcd URLS           cluster mode: comma-separated etcd endpoints
  -h, --help            this text
`;

function parseInteger(flag: string, value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  if (!/^\d+$/.test(value)) {
    console.error(`bunka: ${flag} must be a non-negative integer, got "${value}"`);
    process.exit(2);
  }
  return Number(value);
}

let parsed;
try {
  parsed = parseArgs({
    options: {
      port: { type: "string" },
      host: { type: "string" },
      "advertised-host": { type: "string" },
      "data-dir": { type: "string" },
      "node-id": { type: "string" },
      config: { type: "string" },
      etcd: { type: "string" },
      help: { type: "boolean", short: "h" },
    },
    strict: true,
  });
} catch (error) {
  console.error(`bunka: ${error instanceof Error ? error.message : String(error)}\n\n${usage}`);
  process.exit(2);
}
const flags = parsed.values;
if (flags.help) {
  console.log(usage);
  process.exit(0);
}

// Flags win over the config file: they are applied after it.
const properties: Record<string, string> = {};
if (flags.etcd) properties["etcd.endpoints"] = flags.etcd;
const options: BrokerOptions = {
  configFile: flags.config,
  properties,
  port: parseInteger("--port", flags.port),
  host: flags.host,
  advertisedHost: flags["advertised-host"],
  dataDir: flags["data-dir"],
  nodeId: parseInteger("--node-id", flags["node-id"]),
};

// Resolved here as well as in startBroker: the signal handlers need shutdown.timeout.ms before the start,
// which can take minutes (recovery of many partitions).
let shutdownTimeoutMs: number;
try {
  shutdownTimeoutMs = resolveConfig(options).shutdownTimeoutMs;
} catch (error) {
  console.error(`bunka: failed to start: ${error instanceof Error ? error.message : String(error)}`);
  process.exit(1);
}

// A stop arrives as SIGTERM or SIGINT, often more than once: a signal sent to the process group (systemd's
// KillMode=control-group, `kill -- -PGID`, Ctrl-C in a terminal) reaches the broker directly and again
// through `bun run`/`npm run`, which forward it. Like Kafka, every later one is the same request: the clean
// shutdown carries on. Only shutdown.timeout.ms (logged) or SIGKILL end it early. A signal during the start
// stops the broker as soon as it is up (a start cut short would leave the logs to recover again).
let broker: Broker | null = null;
let stopRequested = false;
let repeatedSignalLogged = false;

function stopBroker(running: Broker): void {
  running.stop().then(
    () => process.exit(0),
    (error) => {
      console.error(`bunka: shutdown failed: ${error instanceof Error ? error.message : String(error)}`);
      process.exit(1);
    },
  );
}

function onSignal(signal: string): void {
  if (stopRequested) {
    if (!repeatedSignalLogged) console.error(`bunka: ${signal} received again while shutting down: the clean shutdown continues (bounded by shutdown.timeout.ms=${shutdownTimeoutMs})`);
    repeatedSignalLogged = true;
    return;
  }
  stopRequested = true;
  console.error(`bunka: ${signal} received, shutting down`);
  setTimeout(() => {
    console.error(`bunka: clean shutdown did not finish within shutdown.timeout.ms=${shutdownTimeoutMs}: exiting without it (the next start recovers the logs)`);
    process.exit(1);
  }, shutdownTimeoutMs);
  if (broker) stopBroker(broker);
}
process.on("SIGTERM", () => onSignal("SIGTERM"));
process.on("SIGINT", () => onSignal("SIGINT"));

try {
  broker = await startBroker(options);
} catch (error) {
  console.error(`bunka: failed to start: ${error instanceof Error ? error.message : String(error)}`);
  process.exit(1);
}
if (stopRequested) {
  stopBroker(broker);
} else {
  // The one line that says the broker accepts connections (tests and scripts wait for it).
  console.log(`bunka: broker ${broker.config.nodeId} ready on ${broker.config.host}:${broker.port} (data dir ${broker.config.dataDir}, ${broker.config.partitionWorkers} partition workers)`);
}
