// A real broker process for integration tests: `bun src/main.ts` on a free loopback port with its own
// data dir, killed (SIGKILL) or stopped (SIGTERM) like an operator would.
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import type { Subprocess } from "bun";
import { brokerProcessEnv } from "../../src/config/process-env.ts";

const repoRoot = resolve(import.meta.dir, "../..");
const READY_TIMEOUT_MS = 30_000;

export function freePort(): number {
  const listener = Bun.listen({ hostname: "127.0.0.1", port: 0, socket: { data() {} } });
  const port = listener.port;
  listener.stop(true);
  return port;
}

export function tempDir(prefix: string): string {
  return mkdtempSync(join(tmpdir(), `bunka-${prefix}-`));
}

export interface BrokerProcessOptions {
  dataDir?: string;
  port?: number;
  nodeId?: number;
  /** Properties written to a --config file. */
  properties?: Record<string, string>;
  extraArgs?: string[];
}

export class BrokerProcess {
  readonly dataDir: string;
  readonly port: number;
  private process: Subprocess<"ignore", "pipe", "pipe"> | null = null;
  output = "";
  private readonly ownsDataDir: boolean;

  constructor(private readonly options: BrokerProcessOptions = {}) {
    this.ownsDataDir = !options.dataDir;
    this.dataDir = options.dataDir ?? tempDir("data");
    this.port = options.port ?? freePort();
  }

  /** The --config file written from `properties`, beside the data dir; removed by cleanup(). */
  private get configPath(): string {
    return `${this.dataDir}.properties`;
  }

  get bootstrap(): string {
    return `127.0.0.1:${this.port}`;
  }

  get pid(): number | undefined {
    return this.process?.pid;
  }

  async start(): Promise<void> {
    const args = [process.execPath, join(repoRoot, "src/main.ts"), "--port", String(this.port), "--data-dir", this.dataDir];
    if (this.options.nodeId !== undefined) args.push("--node-id", String(this.options.nodeId));
    if (this.options.properties) {
      const configPath = this.configPath;
      writeFileSync(configPath, Object.entries(this.options.properties).map(([key, value]) => `${key}=${value}`).join("\n"));
      args.push("--config", configPath);
    }
    args.push(...(this.options.extraArgs ?? []));
    const child = Bun.spawn(args, { cwd: repoRoot, stdin: "ignore", stdout: "pipe", stderr: "pipe", env: brokerProcessEnv() });
    this.process = child;
    this.collect(child.stderr);
    const ready = this.waitForReady(child.stdout);
    const deadline = new Promise<never>((_, reject) => setTimeout(() => reject(new Error(`broker not ready in ${READY_TIMEOUT_MS} ms:\n${this.output}`)), READY_TIMEOUT_MS));
    const exited = child.exited.then((code) => {
      throw new Error(`broker exited with ${code} before it was ready:\n${this.output}`);
    });
    await Promise.race([ready, deadline, exited]);
  }

  private async collect(stream: ReadableStream<Uint8Array>): Promise<void> {
    const decoder = new TextDecoder();
    for await (const chunk of stream) {
      this.output += decoder.decode(chunk);
      if (this.output.length > 200_000) this.output = this.output.slice(-100_000);
    }
  }

  private async waitForReady(stream: ReadableStream<Uint8Array>): Promise<void> {
    const decoder = new TextDecoder();
    const reader = stream.getReader();
    let text = "";
    for (;;) {
      const { value, done } = await reader.read();
      if (done) throw new Error(`broker stdout closed before ready:\n${this.output}`);
      text += decoder.decode(value);
      if (text.includes(" ready on ")) break;
    }
    this.output += text;
    // Keep draining stdout so the child never blocks on a full pipe.
    (async () => {
      for (;;) {
        const { value, done } = await reader.read();
        if (done) return;
        this.output += decoder.decode(value);
      }
    })();
  }

  /** SIGKILL: no clean shutdown, the next start must recover. */
  async kill(): Promise<void> {
    if (!this.process) return;
    this.process.kill("SIGKILL");
    await this.process.exited;
    this.process = null;
  }

  /** SIGTERM: clean shutdown; resolves with the exit code. */
  async stop(): Promise<number> {
    if (!this.process) return 0;
    this.process.kill("SIGTERM");
    const code = await this.process.exited;
    this.process = null;
    return code;
  }

  signal(signal: NodeJS.Signals): void {
    this.process?.kill(signal);
  }

  async cleanup(): Promise<void> {
    await this.kill();
    rmSync(this.configPath, { force: true });
    if (this.ownsDataDir) rmSync(this.dataDir, { recursive: true, force: true });
  }
}
