// `bun run cluster`: a local Bunka cluster on one machine: one etcd and N brokers (default 3) on
// consecutive ports, each with its own data dir. Ctrl-C (SIGINT) or SIGTERM stops the brokers cleanly
// (controlled shutdown), then etcd.
//
//   bun run cluster [--brokers 3] [--port 9092] [--etcd-port 2379] [--data-dir ./cluster-data] [--config FILE]
//   bun run cluster --etcd http://host:2379      # use a running etcd instead of starting one
import { mkdirSync } from "node:fs";
import { join, resolve } from "node:path";
import { parseArgs } from "node:util";
import type { Subprocess } from "bun";
import { brokerProcessEnv } from "../src/config/process-env.ts";

const { values: flags } = parseArgs({
  options: {
    brokers: { type: "string", default: "3" },
    port: { type: "string", default: "9092" },
    "etcd-port": { type: "string", default: "2379" },
    etcd: { type: "string" },
    "data-dir": { type: "string", default: "./cluster-data" },
    config: { type: "string" },
  },
});

const brokerCount = Number(flags.brokers);
const basePort = Number(flags.port);
const etcdClientPort = Number(flags["etcd-port"]);
const dataDir = resolve(flags["data-dir"]!);
const READY_TIMEOUT_MS = 30_000;
const STOP_TIMEOUT_MS = 30_000;
const repoRoot = resolve(import.meta.dir, "..");

function waitForLine(child: Subprocess<"ignore", "pipe", "inherit">, marker: string, name: string): Promise<void> {
  return new Promise((resolveReady, reject) => {
    const timer = setTimeout(() => reject(new Error(`${name} was not ready within ${READY_TIMEOUT_MS} ms`)), READY_TIMEOUT_MS);
    (async () => {
      const decoder = new TextDecoder();
      let seen = "";
      for await (const chunk of child.stdout) {
        const text = decoder.decode(chunk);
        process.stdout.write(text);
        if (seen !== null) {
          seen += text;
          if (seen.includes(marker)) {
            clearTimeout(timer);
            seen = null as unknown as string;
            resolveReady();
          }
        }
      }
      clearTimeout(timer);
      reject(new Error(`${name} exited before it was ready`));
    })().catch(reject);
  });
}

async function waitForEtcd(endpoint: string): Promise<void> {
  const deadline = Date.now() + READY_TIMEOUT_MS;
  while (Date.now() < deadline) {
    try {
      const response = await fetch(`${endpoint}/health`, { signal: AbortSignal.timeout(1000) });
      if (response.ok) return;
    } catch {}
    await Bun.sleep(100);
  }
  throw new Error(`etcd at ${endpoint} was not healthy within ${READY_TIMEOUT_MS} ms`);
}

mkdirSync(dataDir, { recursive: true });
const children: { name: string; process: Subprocess }[] = [];
let etcdEndpoint = flags.etcd;
let etcdProcess: Subprocess | null = null;
if (!etcdEndpoint) {
  etcdEndpoint = `http://127.0.0.1:${etcdClientPort}`;
  const peerUrl = `http://127.0.0.1:${etcdClientPort + 1}`;
  etcdProcess = Bun.spawn(
    ["etcd", "--name", "bunka", "--data-dir", join(dataDir, "etcd"), "--listen-client-urls", etcdEndpoint, "--advertise-client-urls", etcdEndpoint,
      "--listen-peer-urls", peerUrl, "--initial-advertise-peer-urls", peerUrl, "--initial-cluster", `bunka=${peerUrl}`, "--logger", "zap", "--log-level", "warn"],
    { stdin: "ignore", stdout: "inherit", stderr: "inherit" },
  );
  await waitForEtcd(etcdEndpoint);
  console.log(`cluster: etcd ready at ${etcdEndpoint}`);
}

const bootstrap: string[] = [];
for (let index = 0; index < brokerCount; index++) {
  const nodeId = index + 1;
  const port = basePort + index;
  const args = [process.execPath, join(repoRoot, "src/main.ts"), "--node-id", String(nodeId), "--port", String(port), "--data-dir", join(dataDir, `broker-${nodeId}`), "--etcd", etcdEndpoint];
  if (flags.config) args.push("--config", flags.config);
  const child = Bun.spawn(args, { stdin: "ignore", stdout: "pipe", stderr: "inherit", env: brokerProcessEnv() });
  children.push({ name: `broker ${nodeId}`, process: child });
  await waitForLine(child, " ready on ", `broker ${nodeId}`);
  bootstrap.push(`127.0.0.1:${port}`);
}
console.log(`cluster: ready, ${brokerCount} brokers, bootstrap ${bootstrap.join(",")}`);

let stopping = false;
async function stopAll(signal: string): Promise<void> {
  if (stopping) return;
  stopping = true;
  console.log(`cluster: ${signal}, stopping brokers`);
  // One at a time, so each controlled shutdown can hand leadership to brokers still running.
  for (const child of [...children].reverse()) {
    child.process.kill("SIGTERM");
    const exited = await Promise.race([child.process.exited, Bun.sleep(STOP_TIMEOUT_MS).then(() => null)]);
    if (exited === null) child.process.kill("SIGKILL");
  }
  if (etcdProcess) {
    etcdProcess.kill("SIGTERM");
    await Promise.race([etcdProcess.exited, Bun.sleep(STOP_TIMEOUT_MS)]);
  }
  process.exit(0);
}
process.on("SIGINT", () => void stopAll("SIGINT"));
process.on("SIGTERM", () => void stopAll("SIGTERM"));
