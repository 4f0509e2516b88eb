// `bun run broker`: parse flags, start the broker, stop it cleanly on SIGTERM/SIGINT.
import { parseArgs } from "node:util";
import { startBroker, type BrokerOptions } from "./server/broker.ts";

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

let broker;
try {
  broker = await startBroker(options);
} catch (error) {
  console.error(`bunka: failed to start: ${error instanceof Error ? error.message : String(error)}`);
  process.exit(1);
}
// The one line that says the broker accepts connections (tests and scripts wait for it).
console.log(`bunka: broker ${broker.config.nodeId} ready on ${broker.config.host}:${broker.port} (data dir ${broker.config.dataDir}, ${broker.config.partitionWorkers} partition workers)`);

let signals = 0;
const onSignal = (signal: string) => {
  signals++;
  if (signals > 1) {
    console.error(`bunka: second ${signal}, exiting without a clean shutdown`);
    process.exit(1);
  }
  console.error(`bunka: ${signal} received, shutting down`);
  broker.stop().then(
    () => process.exit(0),
    (error) => {
      console.error(`bunka: shutdown failed: ${error instanceof Error ? error.message : String(error)}`);
      process.exit(1);
    },
  );
};
process.on("SIGTERM", () => onSignal("SIGTERM"));
process.on("SIGINT", () => onSignal("SIGINT"));
