// The Bun side of the Node launcher (node/index.js): one broker or one embedded cluster in this process,
// driven by JSON lines on stdin, answered by JSON lines on stdout (broker logs go to stderr):
//   → {"id":1,"op":"startBroker","options":{...}}   ← {"id":1,"ok":true,"result":{"bootstrapServers":"127.0.0.1:…","brokers":[1]}}
//   → {"id":2,"op":"kill","nodeId":2}                ← {"id":2,"ok":true,"result":{…}}
//   → {"id":3,"op":"stop"}                           ← {"id":3,"ok":true,"result":{…}} and the process exits
//   → {"id":4,"op":"faults.add","fault":{"type":"latency","api":"Produce","delayMs":2000},"nodeId":1}   ← the armed fault
//   → {"id":5,"op":"faults.list"} / {"id":6,"op":"faults.clear","faultId":3}   (src/faults/; nodeId only in a cluster)
// Ops: startBroker, startCluster, kill, restart, stop, describe, faults.add, faults.list, faults.clear. When stdin closes (the Node process died
// or let go of us) everything is stopped and the process exits, so no broker outlives its test run.
import { rmSync, mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { startBroker, type Broker, type BrokerOptions } from "../server/broker.ts";
import { startCluster, type EmbeddedCluster } from "../testing/cluster.ts";
import type { FaultSpec } from "../faults/fault-spec.ts";

/** Bound on one control line: options are small; anything bigger is not from the launcher. */
const LINE_BYTES_MAX = 1024 * 1024;

interface Request {
  id: number;
  op: string;
  options?: Record<string, unknown>;
  nodeId?: number;
  fault?: unknown;
  faultId?: number;
}

let broker: Broker | null = null;
let brokerTempDir: string | null = null;
let cluster: EmbeddedCluster | null = null;
let stopping: Promise<void> | null = null;
const log = process.env.BUNKA_LOG === "1" ? (line: string) => process.stderr.write(`${line}\n`) : () => undefined;

function answer(message: object): void {
  process.stdout.write(`${JSON.stringify(message)}\n`);
}

function describe(): object {
  if (cluster) return { bootstrapServers: cluster.bootstrapServers, brokers: cluster.liveBrokerIds, controllerId: cluster.controllerId() };
  if (broker) return { bootstrapServers: `127.0.0.1:${broker.port}`, brokers: [broker.config.nodeId], port: broker.port, dataDir: broker.config.dataDir };
  return { bootstrapServers: "", brokers: [] };
}

/** Only plain settings cross from Node; `properties` is the way to pass any broker property. */
function brokerOptions(options: Record<string, unknown>): BrokerOptions {
  const { properties, dataDir, port, nodeId } = options;
  const result: BrokerOptions = { host: "127.0.0.1", port: typeof port === "number" ? port : 0, log };
  if (typeof dataDir === "string") result.dataDir = dataDir;
  if (typeof nodeId === "number") result.nodeId = nodeId;
  // A launched broker is a test's broker: faults on unless the test turns them off.
  result.properties = { "faults.enable": "true", ...(properties === undefined ? {} : stringRecord(properties)) };
  return result;
}

function stringRecord(value: unknown): Record<string, string> {
  if (typeof value !== "object" || value === null || Array.isArray(value)) throw new TypeError("properties must be an object of strings");
  return Object.fromEntries(Object.entries(value).map(([key, entry]) => [key, String(entry)]));
}

async function handle(request: Request): Promise<object> {
  const options = request.options ?? {};
  switch (request.op) {
    case "startBroker": {
      if (broker || cluster) throw new Error("this launcher process runs a broker already");
      const settings = brokerOptions(options);
      if (settings.dataDir === undefined) settings.dataDir = brokerTempDir = mkdtempSync(join(tmpdir(), "bunka-node-"));
      broker = await startBroker(settings);
      return describe();
    }
    case "startCluster": {
      if (broker || cluster) throw new Error("this launcher process runs a broker already");
      cluster = await startCluster({
        brokers: typeof options.brokers === "number" ? options.brokers : 3,
        dataDir: typeof options.dataDir === "string" ? options.dataDir : undefined,
        keepDataDir: options.keepDataDir === true,
        properties: options.properties === undefined ? undefined : stringRecord(options.properties),
        log,
      });
      return describe();
    }
    case "kill":
      await requireCluster().kill(nodeIdOf(request));
      return describe();
    case "restart":
      await requireCluster().restart(nodeIdOf(request));
      return describe();
    case "describe":
      return describe();
    case "faults.add":
      if (cluster) return cluster.faults.add(request.fault as FaultSpec, request.nodeId === undefined ? {} : { broker: nodeIdOf(request) });
      return requireBroker().faults.add(request.fault);
    case "faults.list":
      return { faults: cluster ? cluster.faults.list() : requireBroker().faults.list() };
    case "faults.clear": {
      const id = request.faultId;
      if (id !== undefined && (typeof id !== "number" || !Number.isSafeInteger(id))) throw new TypeError("faultId must be an integer");
      return { cleared: cluster ? cluster.faults.clear(id) : requireBroker().faults.clear(id) };
    }
    case "stop":
      await stopEverything(options.keepDataDir === true);
      return { stopped: true };
    default:
      throw new Error(`unknown op ${JSON.stringify(request.op)}`);
  }
}

function requireCluster(): EmbeddedCluster {
  if (!cluster) throw new Error("kill and restart need a cluster (startCluster)");
  return cluster;
}

function requireBroker(): Broker {
  if (!broker) throw new Error("no broker is running (startBroker or startCluster first)");
  return broker;
}

function nodeIdOf(request: Request): number {
  if (typeof request.nodeId !== "number") throw new TypeError("nodeId must be a number");
  return request.nodeId;
}

function stopEverything(keepDataDir = false): Promise<void> {
  stopping ??= (async () => {
    await cluster?.stop();
    await broker?.stop();
    if (brokerTempDir && !keepDataDir) rmSync(brokerTempDir, { recursive: true, force: true });
  })();
  return stopping;
}

async function main(): Promise<void> {
  const decoder = new TextDecoder();
  let buffered = "";
  let queue = Promise.resolve();
  for await (const chunk of Bun.stdin.stream()) {
    buffered += decoder.decode(chunk, { stream: true });
    if (buffered.length > LINE_BYTES_MAX) throw new Error(`control line longer than ${LINE_BYTES_MAX} bytes`);
    let newline: number;
    while ((newline = buffered.indexOf("\n")) >= 0) {
      const line = buffered.slice(0, newline).trim();
      buffered = buffered.slice(newline + 1);
      if (line === "") continue;
      // One request at a time, in order: kill and restart must not overlap.
      queue = queue.then(async () => {
        let request: Request;
        try {
          request = JSON.parse(line) as Request;
        } catch {
          return answer({ id: -1, ok: false, error: "control line is not JSON" });
        }
        try {
          answer({ id: request.id, ok: true, result: await handle(request) });
        } catch (error) {
          answer({ id: request.id, ok: false, error: error instanceof Error ? error.message : String(error) });
        }
        if (request.op === "stop") process.exit(0);
      });
    }
  }
  await queue;
  await stopEverything();
  process.exit(0);
}

process.on("SIGTERM", () => void stopEverything().then(() => process.exit(0)));
await main().catch(async (error) => {
  process.stderr.write(`bunka node launcher: ${error instanceof Error ? error.message : String(error)}\n`);
  await stopEverything().catch(() => undefined);
  process.exit(1);
});
