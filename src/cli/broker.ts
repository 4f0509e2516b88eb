// `bunka broker` and `bun run broker` (src/main.ts): parse the broker's flags, start it, stop it cleanly on
// SIGTERM/SIGINT (however many arrive). `bunka dev` runs the same with startBroker({ dev: true }).
import { parseArgs } from "node:util";
import { brokerSettings } from "../config/broker-config.ts";
import { defaultText } from "../config/config-docs.ts";
import { resolveConfig, startBroker, type Broker, type BrokerOptions } from "../server/broker.ts";

// Each flag sets the broker setting that declares it (config/broker-config.ts), so it is parsed and bounded
// like the same key in the --config file.
const settingFlags = brokerSettings.filter((setting) => setting.flag !== undefined).map((setting) => ({ flag: setting.flag!.replace(/^--/, ""), setting }));

export interface RunBrokerMode {
  /** The command shown in the usage text. */
  command: string;
  /** Dev mode (server/dev-mode.ts): a temporary data dir, groups ready at once, several partitions. */
  dev?: boolean;
}

function usage(mode: RunBrokerMode): string {
  const devFlags = mode.dev
    ? `  --keep                  keep the temporary data dir at exit (default: removed)\n`
    : "";
  return `Usage: ${mode.command} [options]

${settingFlags.map(({ flag, setting }) => `  ${`--${flag} VALUE`.padEnd(24)}${setting.name}: ${setting.doc} (default ${defaultText(setting)})`.replaceAll("`", "")).join("\n")}
  --config FILE           Kafka-style key=value properties (README "Running the broker" lists them)
${devFlags}  -h, --help              this text
`;
}

/** Runs a broker until SIGTERM/SIGINT; exits the process when it stops. */
export async function runBroker(args: string[], mode: RunBrokerMode): Promise<void> {
  let parsed;
  try {
    parsed = parseArgs({
      args,
      options: {
        ...Object.fromEntries(settingFlags.map(({ flag }) => [flag, { type: "string" as const }])),
        config: { type: "string" },
        ...(mode.dev ? { keep: { type: "boolean" as const } } : {}),
        help: { type: "boolean", short: "h" },
      },
      strict: true,
    });
  } catch (error) {
    console.error(`bunka: ${error instanceof Error ? error.message : String(error)}\n\n${usage(mode)}`);
    process.exit(2);
  }
  const flags = parsed.values as Record<string, string | boolean | undefined>;
  if (flags.help) {
    console.log(usage(mode));
    process.exit(0);
  }

  // Flags win over the config file: their properties are applied after it.
  const properties: Record<string, string> = {};
  for (const { flag, setting } of settingFlags) {
    const value = flags[flag];
    if (typeof value === "string") properties[setting.name] = value;
  }
  const options: BrokerOptions = { configFile: typeof flags.config === "string" ? flags.config : undefined, properties };
  if (mode.dev) {
    options.dev = true;
    options.keepDataDir = flags.keep === true;
  }

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
    return;
  }
  // The one line that says the broker accepts connections (tests and scripts wait for it).
  // The first listener's address comes first (what --host/--port set), then every listener with its bound port.
  const listeners = broker.boundListeners().map((listener) => `${listener.name}://${listener.host}:${listener.port}`).join(",");
  console.log(`bunka: broker ${broker.config.nodeId} ready on ${broker.config.host}:${broker.port} (listeners ${listeners}; data dir ${broker.config.dataDir}, ${broker.config.partitionWorkers} partition workers)`);
  if (mode.dev) {
    const dataDirFate = broker.devDataDir?.removeOnStop ? "removed at exit (--keep keeps it)" : "kept at exit";
    console.log(`bunka dev: bootstrap server ${broker.config.host}:${broker.port}; data dir ${broker.config.dataDir} ${dataDirFate}`);
    if (broker.adminServer) console.log(`bunka dev: console ${broker.adminServer.url}/ui, metrics ${broker.adminServer.url}/metrics`);
    console.log(`bunka dev: try  bunka produce -t demo  /  bunka consume -t demo --from beginning`);
  }
}
