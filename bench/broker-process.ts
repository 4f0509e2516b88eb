// A real broker process for the benchmark and the load test: `bun src/main.ts` on a free loopback port
// with its own data dir and environment, plus its CPU time (from /proc) so reports can say which side
// was busy.
import { mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import type { Subprocess } from "bun";
import { KafkaConnection } from "../src/client/kafka-connection.ts";
import { ApiKey } from "../src/protocol/generated/index.ts";
import { brokerProcessEnv } from "../src/config/process-env.ts";

const repoRoot = resolve(import.meta.dir, "..");
const READY_TIMEOUT_MS = 30_000;
const STOP_TIMEOUT_MS = 30_000;

export function freePort(): number {
  const listener = Bun.listen({ hostname: "127.0.0.1", port: 0, socket: { data() {} } });
  const port = listener.port;
  listener.stop(true);
  return port;
}

export interface BenchBrokerOptions {
  workDir: string;
  env?: Record<string, string>;
  properties?: Record<string, string>;
  /** Extra flags for bun itself (e.g. --cpu-prof-md for a profile). */
  bunArgs?: string[];
}

export class BenchBroker {
  readonly port = freePort();
  readonly dataDir: string;
  private child: Subprocess<"ignore", "pipe", "pipe"> | null = null;
  output = "";

  constructor(readonly options: BenchBrokerOptions) {
    this.dataDir = join(options.workDir, `broker-${this.port}`);
  }

  /** The environment the broker process runs with (the broker defaults, then the bench's own settings). */
  get environment(): Record<string, string> {
    return { ...brokerProcessEnv(), ...this.options.env };
  }

  get bootstrap(): string {
    return `127.0.0.1:${this.port}`;
  }

  get pid(): number {
    return this.child?.pid ?? -1;
  }

  /** Starts the broker; `keepData` reuses the data dir of an earlier start (restart with other env). */
  async start(keepData = false): Promise<void> {
    if (!keepData) rmSync(this.dataDir, { recursive: true, force: true });
    mkdirSync(this.dataDir, { recursive: true });
    this.output = "";
    const args = [process.execPath, ...(this.options.bunArgs ?? []), join(repoRoot, "src/main.ts"), "--port", String(this.port), "--data-dir", this.dataDir];
    if (this.options.properties) {
      const configPath = `${this.dataDir}.properties`;
      writeFileSync(configPath, Object.entries(this.options.properties).map(([key, value]) => `${key}=${value}`).join("\n"));
      args.push("--config", configPath);
    }
    const child = Bun.spawn(args, { cwd: repoRoot, stdin: "ignore", stdout: "pipe", stderr: "pipe", env: this.environment });
    this.child = child;
    void this.collect(child.stderr);
    const reader = child.stdout.getReader();
    const decoder = new TextDecoder();
    const deadline = Date.now() + READY_TIMEOUT_MS;
    // One read outstanding at a time: a read that loses the race against the 1 s tick is awaited again on the
    // next turn, not dropped with its bytes (a start slower than 1 s then missed the ready line).
    let pending: ReturnType<typeof reader.read> | null = null;
    while (!this.output.includes(" ready on ")) {
      if (Date.now() > deadline) throw new Error(`broker not ready in ${READY_TIMEOUT_MS} ms:\n${this.output}`);
      pending ??= reader.read();
      const result = await Promise.race([pending, Bun.sleep(1000).then(() => null)]);
      if (result === null) continue;
      pending = null;
      if (result.done) throw new Error(`broker exited before it was ready:\n${this.output}`);
      if (result.value) this.output += decoder.decode(result.value);
    }
    void (async () => {
      for (;;) {
        const { value, done } = await reader.read();
        if (done) return;
        this.output += decoder.decode(value);
        if (this.output.length > 200_000) this.output = this.output.slice(-100_000);
      }
    })();
  }

  private async collect(stream: ReadableStream<Uint8Array>): Promise<void> {
    const decoder = new TextDecoder();
    for await (const chunk of stream) {
      this.output += decoder.decode(chunk);
      if (this.output.length > 200_000) this.output = this.output.slice(-100_000);
    }
  }

  /** User and system CPU seconds the broker process used so far (all threads). */
  cpuSeconds(): { user: number; system: number } {
    if (!this.child) return { user: 0, system: 0 };
    try {
      const fields = readFileSync(`/proc/${this.child.pid}/stat`, "utf8").split(") ")[1]!.split(" ");
      const ticksPerSecond = 100;
      return { user: Number(fields[11]) / ticksPerSecond, system: Number(fields[12]) / ticksPerSecond };
    } catch {
      return { user: 0, system: 0 };
    }
  }

  /**
   * User and system CPU seconds per thread name (/proc/PID/task/TID/stat; threads of one name summed, e.g. the
   * partition workers), so a report can say which thread spends the time and whether in the kernel.
   */
  threadCpuSeconds(): Map<string, { user: number; system: number }> {
    const threads = new Map<string, { user: number; system: number }>();
    if (!this.child) return threads;
    let taskIds: string[];
    try {
      taskIds = readdirSync(`/proc/${this.child.pid}/task`);
    } catch {
      return threads;
    }
    for (const taskId of taskIds) {
      try {
        const stat = readFileSync(`/proc/${this.child.pid}/task/${taskId}/stat`, "utf8");
        const name = stat.slice(stat.indexOf("(") + 1, stat.lastIndexOf(")"));
        const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
        const total = threads.get(name) ?? { user: 0, system: 0 };
        total.user += Number(fields[11]) / 100;
        total.system += Number(fields[12]) / 100;
        threads.set(name, total);
      } catch {
        // the thread ended between the listing and the read
      }
    }
    return threads;
  }

  /** Resident and peak resident memory of the broker process (/proc/PID/status VmRSS, VmHWM), in bytes. */
  memory(): { rssBytes: number; peakRssBytes: number } {
    if (!this.child) return { rssBytes: 0, peakRssBytes: 0 };
    try {
      const status = readFileSync(`/proc/${this.child.pid}/status`, "utf8");
      const kib = (field: string): number => Number(new RegExp(`^${field}:\\s+(\\d+) kB`, "m").exec(status)?.[1] ?? 0) * 1024;
      return { rssBytes: kib("VmRSS"), peakRssBytes: kib("VmHWM") };
    } catch {
      return { rssBytes: 0, peakRssBytes: 0 };
    }
  }

  async admin<T>(body: (connection: KafkaConnection) => Promise<T>): Promise<T> {
    const connection = await KafkaConnection.connect({ host: "127.0.0.1", port: this.port, clientId: "bunka-bench-admin" });
    try {
      return await body(connection);
    } finally {
      connection.close();
    }
  }

  async createTopic(name: string, partitions: number, configs: Record<string, string> = {}): Promise<void> {
    await this.admin(async (connection) => {
      const response = await connection.request(ApiKey.CreateTopics, 4, {
        topics: [{ name, numPartitions: partitions, replicationFactor: 1, configs: Object.entries(configs).map(([key, value]) => ({ name: key, value })) }],
        timeoutMs: 30_000,
      });
      const errorCode = response.topics[0].errorCode;
      if (errorCode !== 0) throw new Error(`CreateTopics ${name}: error ${errorCode} ${response.topics[0].errorMessage ?? ""}`);
    });
  }

  async deleteTopic(name: string): Promise<void> {
    await this.admin(async (connection) => {
      const response = await connection.request(ApiKey.DeleteTopics, 4, { topicNames: [name], timeoutMs: 30_000 });
      const errorCode = response.responses[0].errorCode;
      if (errorCode !== 0) throw new Error(`DeleteTopics ${name}: error ${errorCode}`);
    });
  }

  /** Log end offsets of a topic's partitions (ListOffsets latest). */
  async endOffsets(topic: string, partitions: number): Promise<number[]> {
    return this.admin(async (connection) => {
      const response = await connection.request(ApiKey.ListOffsets, 5, {
        replicaId: -1,
        isolationLevel: 0,
        topics: [{ name: topic, partitions: Array.from({ length: partitions }, (_, partitionIndex) => ({ partitionIndex, timestamp: -1, currentLeaderEpoch: -1 })) }],
      });
      const byPartition = new Map<number, number>();
      for (const partition of response.topics[0].partitions) {
        if (partition.errorCode !== 0) throw new Error(`ListOffsets ${topic}-${partition.partitionIndex}: error ${partition.errorCode}`);
        byPartition.set(partition.partitionIndex, Number(partition.offset));
      }
      return Array.from({ length: partitions }, (_, index) => byPartition.get(index)!);
    });
  }

  /** Stops and starts again with a different environment, keeping the data (and its page cache). */
  async restart(env: Record<string, string>): Promise<void> {
    await this.stop(true);
    this.options.env = { ...this.options.env, ...env };
    await this.start(true);
  }

  /** A group's committed offsets for a topic's partitions (-1 = none). */
  async committedOffsets(groupId: string, topic: string, partitions: number): Promise<number[]> {
    return this.admin(async (connection) => {
      const response = await connection.request(ApiKey.OffsetFetch, 7, { groupId, topics: [{ name: topic, partitionIndexes: Array.from({ length: partitions }, (_, index) => index) }], requireStable: false });
      const byPartition = new Map<number, number>();
      for (const partition of response.topics[0]?.partitions ?? []) byPartition.set(partition.partitionIndex, Number(partition.committedOffset));
      return Array.from({ length: partitions }, (_, index) => byPartition.get(index) ?? -1);
    });
  }

  async stop(keepData = false): Promise<void> {
    const child = this.child;
    if (!child) return;
    this.child = null;
    child.kill("SIGTERM");
    const exited = await Promise.race([child.exited, Bun.sleep(STOP_TIMEOUT_MS).then(() => null)]);
    if (exited === null) {
      child.kill("SIGKILL");
      await child.exited;
    }
    if (keepData) return;
    rmSync(this.dataDir, { recursive: true, force: true });
    rmSync(`${this.dataDir}.properties`, { force: true });
  }
}
