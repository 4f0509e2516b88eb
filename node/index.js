// Bunka from Node (20+): `import { startBroker, startCluster } from "bunka/node"`. The broker needs Bun, so
// each call starts one Bun child process (the Bun npm installs with this package; BUNKA_BUN overrides it)
// running src/node-launcher/child.ts, and drives it over JSON lines on its stdin/stdout. The child stops
// its brokers and exits when its stdin closes, so a test runner that dies does not leave brokers behind.
// Plain JavaScript on purpose: Node loads it without TypeScript; the types are in index.d.ts.
import { spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join, resolve } from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";

const packageRoot = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const CHILD_SCRIPT = join(packageRoot, "src", "node-launcher", "child.ts");
const START_TIMEOUT_MS = 60_000;
const STOP_TIMEOUT_MS = 30_000;
/** The environment variable startSharedBroker() sets for test workers (Jest, Vitest, node:test). */
export const BOOTSTRAP_ENV = "BUNKA_BOOTSTRAP_SERVERS";

/** The Bun binary: BUNKA_BUN, else the `bun` npm package's, else `bun` on PATH. */
export function bunBinary() {
  if (process.env.BUNKA_BUN) return process.env.BUNKA_BUN;
  for (const base of [packageRoot, process.cwd()]) {
    try {
      const bunPackage = createRequire(join(base, "package.json")).resolve("bun/package.json");
      // The npm package names its binary bun.exe on every platform.
      const binary = join(dirname(bunPackage), "bin", "bun.exe");
      if (existsSync(binary)) return binary;
    } catch {
      // not installed there
    }
  }
  return "bun";
}

class LauncherProcess {
  constructor(options) {
    this.pending = new Map();
    this.nextId = 1;
    this.exited = false;
    this.stderrTail = "";
    this.child = spawn(bunBinary(), [CHILD_SCRIPT], {
      stdio: ["pipe", "pipe", options.log ? "inherit" : "pipe"],
      env: { ...process.env, ...(options.log ? { BUNKA_LOG: "1" } : {}) },
    });
    this.exitedPromise = new Promise((resolvePromise) => {
      this.child.once("exit", (code, signal) => {
        this.exited = true;
        const error = new Error(`bunka launcher exited (${signal ?? `code ${code}`})${this.stderrTail ? `: ${this.stderrTail.trim()}` : ""}`);
        for (const { reject } of this.pending.values()) reject(error);
        this.pending.clear();
        resolvePromise();
      });
    });
    this.child.once("error", (error) => {
      for (const { reject } of this.pending.values()) reject(error);
      this.pending.clear();
    });
    this.child.stderr?.on("data", (chunk) => {
      this.stderrTail = (this.stderrTail + chunk.toString()).slice(-4000);
    });
    createInterface({ input: this.child.stdout }).on("line", (line) => {
      let message;
      try {
        message = JSON.parse(line);
      } catch {
        return;
      }
      const waiter = this.pending.get(message.id);
      if (!waiter) return;
      this.pending.delete(message.id);
      if (message.ok) waiter.resolve(message.result);
      else waiter.reject(new Error(`bunka: ${message.error}`));
    });
  }

  request(op, fields = {}, timeoutMs = START_TIMEOUT_MS) {
    if (this.exited) return Promise.reject(new Error("bunka launcher has exited"));
    const id = this.nextId++;
    return new Promise((resolvePromise, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(new Error(`bunka: no answer to ${op} within ${timeoutMs} ms`));
      }, timeoutMs);
      this.pending.set(id, {
        resolve: (value) => (clearTimeout(timer), resolvePromise(value)),
        reject: (error) => (clearTimeout(timer), reject(error)),
      });
      this.child.stdin.write(`${JSON.stringify({ id, op, ...fields })}\n`);
    });
  }

  async stop(keepDataDir = false) {
    if (this.exited) return;
    try {
      await this.request("stop", { options: { keepDataDir } }, STOP_TIMEOUT_MS);
    } catch {
      this.child.kill("SIGKILL");
    }
    await this.exitedPromise;
  }
}

class NodeBroker {
  constructor(launcher, description) {
    this.launcher = launcher;
    this.update(description);
  }

  /** Scriptable faults (src/faults/): add(spec) arms one, list() shows the armed ones, clear(id?) clears. */
  get faults() {
    const launcher = this.launcher;
    return {
      add: (fault, options = {}) => launcher.request("faults.add", { fault, ...(options.broker === undefined ? {} : { nodeId: options.broker }) }),
      list: async () => (await launcher.request("faults.list")).faults,
      clear: async (id) => (await launcher.request("faults.clear", id === undefined ? {} : { faultId: id })).cleared,
    };
  }

  update(description) {
    this.bootstrapServers = description.bootstrapServers;
    this.brokerIds = description.brokers;
    this.port = description.port;
    this.dataDir = description.dataDir;
  }

  /** Stops the broker and its Bun process; a temporary data dir is removed unless keepDataDir. */
  stop(options = {}) {
    return this.launcher.stop(options.keepDataDir === true);
  }

  async [Symbol.asyncDispose]() {
    await this.stop();
  }
}

class NodeCluster extends NodeBroker {
  update(description) {
    super.update(description);
    this.controllerId = description.controllerId;
  }

  /** A crash of one broker: its lease and sockets go at once, nothing is flushed. */
  async kill(nodeId) {
    this.update(await this.launcher.request("kill", { nodeId }));
  }

  /** Starts a killed or stopped broker again on its data dir and port. */
  async restart(nodeId) {
    this.update(await this.launcher.request("restart", { nodeId }));
  }
}

async function launch(op, options, wrap) {
  const launcher = new LauncherProcess(options);
  try {
    return wrap(launcher, await launcher.request(op, { options: { ...options, log: undefined } }));
  } catch (error) {
    await launcher.stop().catch(() => undefined);
    throw error;
  }
}

/** One broker on 127.0.0.1 (a temporary data dir unless `dataDir`), in a Bun child process. */
export function startBroker(options = {}) {
  return launch("startBroker", options, (launcher, description) => new NodeBroker(launcher, description));
}

/** N brokers (default 3) with replication and elections, in one Bun child process. */
export function startCluster(options = {}) {
  return launch("startCluster", options, (launcher, description) => new NodeCluster(launcher, description));
}

/**
 * For a test run's global setup: starts one broker and publishes its address in BUNKA_BOOTSTRAP_SERVERS,
 * which test workers started afterwards inherit. Returns the broker; stop it in global teardown.
 */
export async function startSharedBroker(options = {}) {
  const broker = await startBroker(options);
  process.env[BOOTSTRAP_ENV] = broker.bootstrapServers;
  return broker;
}

/** The shared broker's address, inside a test worker. */
export function bootstrapServers() {
  const value = process.env[BOOTSTRAP_ENV];
  if (!value) throw new Error(`${BOOTSTRAP_ENV} is not set: start the shared broker in global setup (startSharedBroker())`);
  return value;
}

let nameCount = 0;

/** Unique topic and group names per test, so tests sharing one broker never see each other's data. */
export function uniqueNames(label = "test") {
  const base = `${String(label).replace(/[^\w.-]/g, "_").slice(0, 100)}-${process.pid.toString(36)}${Date.now().toString(36)}-${++nameCount}`;
  return {
    topic: (suffix = "topic") => `${base}-${suffix}`,
    group: (suffix = "group") => `${base}-${suffix}`,
  };
}
