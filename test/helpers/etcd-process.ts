// A real single-member etcd (/usr/bin/etcd, Debian's 3.4) for tests: loopback client and peer ports, its
// own data dir, ready once GET /health says so. stop() + start() restarts it on the same ports and data
// dir, which is how tests cut a client's connections without losing etcd's state.
// Security (docs/etcd.md "Securing etcd"): `tls` serves https with a certificate (and with clientCertAuth
// requires a client certificate signed by the CA); enableAuth() turns on etcd's own users and roles with
// etcdctl, as an operator would.
import { readFileSync, rmSync } from "node:fs";
import type { Subprocess } from "bun";
import { freePort, tempDir } from "./broker-process.ts";
import { run } from "./run.ts";

const ETCD_BINARY = "/usr/bin/etcd";
const ETCDCTL_BINARY = "/usr/bin/etcdctl";
const ETCDCTL_TIMEOUT_MS = 20_000;
const READY_TIMEOUT_MS = 20_000;
const READY_POLL_MS = 50;
const HEALTH_REQUEST_TIMEOUT_MS = 1_000;
const STOP_TIMEOUT_MS = 5_000;
const OUTPUT_CHARS_MAX = 100_000;

export interface EtcdProcessOptions {
  dataDir?: string;
  clientPort?: number;
  peerPort?: number;
  /** Serve the client port over TLS (paths to PEM files). */
  tls?: EtcdTlsFiles;
  /** etcd's --auth-token-ttl: seconds a simple auth token lives without use (etcd's default 300). */
  authTokenTtlSeconds?: number;
}

export interface EtcdTlsFiles {
  /** etcd's --trusted-ca-file (and what this helper trusts). */
  ca: string;
  /** etcd's --cert-file and --key-file. */
  cert: string;
  key: string;
  /** etcd's --client-cert-auth: clients need a certificate signed by `ca`. */
  clientCertAuth?: boolean;
  /** The certificate this helper (health checks, etcdctl) presents when clientCertAuth is on. */
  clientCert?: string;
  clientKey?: string;
}

/** A user etcd's auth knows, with read-write access to one key prefix through a role of the same name. */
export interface EtcdUser {
  name: string;
  password: string;
  prefix: string;
}

export class EtcdProcess {
  readonly clientPort: number;
  readonly peerPort: number;
  /** etcd's stdout and stderr (warnings and errors only), the last OUTPUT_CHARS_MAX characters. */
  output = "";
  private process: Subprocess<"ignore", "pipe", "pipe"> | null = null;
  private readonly ownsDataDir: boolean;
  private dataDirPath: string | null;

  constructor(private readonly options: EtcdProcessOptions = {}) {
    this.ownsDataDir = !options.dataDir;
    // Our own temp dir is made on first start: a test file that is filtered out must not leave one behind.
    this.dataDirPath = options.dataDir ?? null;
    this.clientPort = options.clientPort ?? freePort();
    let peerPort = options.peerPort ?? freePort();
    for (let attempt = 0; peerPort === this.clientPort && attempt < 10; attempt++) peerPort = freePort();
    if (peerPort === this.clientPort) throw new Error(`no second free port besides ${this.clientPort}`);
    this.peerPort = peerPort;
  }

  get dataDir(): string {
    this.dataDirPath ??= tempDir("etcd");
    return this.dataDirPath;
  }

  get endpoint(): string {
    return `${this.options.tls ? "https" : "http"}://127.0.0.1:${this.clientPort}`;
  }

  /** The root password once enableAuth() ran (etcdctl then logs in as root). */
  private rootPassword: string | null = null;

  get running(): boolean {
    return this.process !== null;
  }

  async start(): Promise<void> {
    if (this.process) throw new Error("etcd already running");
    const clientUrl = this.endpoint;
    const peerUrl = `http://127.0.0.1:${this.peerPort}`;
    const args = [
      ETCD_BINARY,
      "--name", "default",
      "--data-dir", this.dataDir,
      "--listen-client-urls", clientUrl,
      "--advertise-client-urls", clientUrl,
      "--listen-peer-urls", peerUrl,
      "--initial-advertise-peer-urls", peerUrl,
      "--initial-cluster", `default=${peerUrl}`,
      "--initial-cluster-state", "new",
      "--logger", "zap",
      "--log-level", "warn",
    ];
    const tls = this.options.tls;
    if (tls) {
      args.push("--cert-file", tls.cert, "--key-file", tls.key, "--trusted-ca-file", tls.ca);
      if (tls.clientCertAuth) args.push("--client-cert-auth");
    }
    if (this.options.authTokenTtlSeconds !== undefined) args.push("--auth-token-ttl", String(this.options.authTokenTtlSeconds));
    // etcd also reads ETCD_* variables; a stray one from the environment must not change the test's etcd.
    const env = Object.fromEntries(Object.entries(process.env).filter(([name]) => !name.startsWith("ETCD_")));
    const child = Bun.spawn(args, { stdin: "ignore", stdout: "pipe", stderr: "pipe", env });
    this.process = child;
    this.collect(child.stdout);
    this.collect(child.stderr);
    let exitCode: number | null = null;
    child.exited.then((code) => (exitCode = code));
    const deadline = performance.now() + READY_TIMEOUT_MS;
    while (performance.now() < deadline) {
      if (exitCode !== null) {
        this.process = null;
        throw new Error(`etcd exited with ${exitCode} before it was ready:\n${this.output}`);
      }
      if (await this.healthy()) return;
      await Bun.sleep(READY_POLL_MS);
    }
    await this.kill();
    throw new Error(`etcd not healthy within ${READY_TIMEOUT_MS} ms:\n${this.output}`);
  }

  private async healthy(): Promise<boolean> {
    try {
      const response = await fetch(`${this.endpoint}/health`, { signal: AbortSignal.timeout(HEALTH_REQUEST_TIMEOUT_MS), tls: this.helperTls() });
      if (!response.ok) return false;
      const body = (await response.json()) as { health?: string };
      return body.health === "true";
    } catch {
      return false;
    }
  }

  /** What this helper presents to its own etcd: the CA, and its client certificate under clientCertAuth. */
  private helperTls(): { ca: string; cert?: string; key?: string } | undefined {
    const tls = this.options.tls;
    if (!tls) return undefined;
    if (!tls.clientCertAuth) return { ca: readFileSync(tls.ca, "utf8") };
    if (!tls.clientCert || !tls.clientKey) throw new Error("etcd with clientCertAuth: the helper needs clientCert and clientKey");
    return { ca: readFileSync(tls.ca, "utf8"), cert: readFileSync(tls.clientCert, "utf8"), key: readFileSync(tls.clientKey, "utf8") };
  }

  /** Runs etcdctl (v3 API) against this etcd, as root once auth is enabled; throws with its output if it fails. */
  async etcdctl(...args: string[]): Promise<string> {
    const command = [ETCDCTL_BINARY, "--endpoints", this.endpoint, "--dial-timeout", "5s", "--command-timeout", "10s"];
    const tls = this.options.tls;
    if (tls) {
      command.push("--cacert", tls.ca);
      if (tls.clientCertAuth) command.push("--cert", tls.clientCert!, "--key", tls.clientKey!);
    }
    if (this.rootPassword !== null) command.push("--user", `root:${this.rootPassword}`);
    const result = await run([...command, ...args], { timeoutMs: ETCDCTL_TIMEOUT_MS, env: { ETCDCTL_API: "3" } });
    if (result.exitCode !== 0) throw new Error(`etcdctl ${args.join(" ")} failed (${result.exitCode}): ${result.stderr}${result.stdout}`);
    return result.stdout;
  }

  /**
   * Turns on etcd's auth as docs/etcd.md describes: a root user with the root role, then per user a role with
   * readwrite on its prefix, then `auth enable`.
   */
  async enableAuth(rootPassword: string, users: EtcdUser[]): Promise<void> {
    await this.etcdctl("user", "add", `root:${rootPassword}`);
    await this.etcdctl("user", "grant-role", "root", "root");
    for (const user of users) {
      await this.etcdctl("role", "add", user.name);
      await this.etcdctl("role", "grant-permission", user.name, "--prefix=true", "readwrite", user.prefix);
      await this.etcdctl("user", "add", `${user.name}:${user.password}`);
      await this.etcdctl("user", "grant-role", user.name, user.name);
    }
    await this.etcdctl("auth", "enable");
    this.rootPassword = rootPassword;
  }

  private async collect(stream: ReadableStream<Uint8Array>): Promise<void> {
    const decoder = new TextDecoder();
    for await (const chunk of stream) {
      this.output += decoder.decode(chunk, { stream: true });
      if (this.output.length > OUTPUT_CHARS_MAX) this.output = this.output.slice(-OUTPUT_CHARS_MAX / 2);
    }
  }

  /** SIGTERM, then SIGKILL if etcd is still running after STOP_TIMEOUT_MS. Resolves with the exit code. */
  async stop(): Promise<number> {
    const child = this.process;
    if (!child) return 0;
    child.kill("SIGTERM");
    const timer = setTimeout(() => child.kill("SIGKILL"), STOP_TIMEOUT_MS);
    const code = await child.exited;
    clearTimeout(timer);
    this.process = null;
    return code;
  }

  async kill(): Promise<void> {
    const child = this.process;
    if (!child) return;
    child.kill("SIGKILL");
    await child.exited;
    this.process = null;
  }

  async restart(): Promise<void> {
    await this.stop();
    await this.start();
  }

  /** Stops etcd if it runs and removes the data dir this helper created. */
  async cleanup(): Promise<void> {
    await this.stop();
    if (this.ownsDataDir && this.dataDirPath) rmSync(this.dataDirPath, { recursive: true, force: true });
  }
}
