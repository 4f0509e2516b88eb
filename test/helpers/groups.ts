// Consumer-group test clients: kafkajs consumers that record what they were assigned and what they read,
// the same in a child process (to SIGKILL it), and kcat's balanced consumer (librdkafka) read line by line.
import { AssignerProtocol, type Consumer, type Kafka, PartitionAssigners } from "kafkajs";
import { join } from "node:path";
import type { Subprocess } from "bun";

const repoRoot = join(import.meta.dir, "../..");

export interface ConsumedRecord {
  partition: number;
  offset: number;
  value: string;
}

/** kafkajs's round-robin assignor under librdkafka's protocol name, so both can be in one group (kafkajs calls it "RoundRobinAssigner"). */
export const roundRobinNamedLikeLibrdkafka = (config: { cluster: unknown }) => ({ ...PartitionAssigners.roundRobin(config as never), name: "roundrobin" });

export interface TrackedConsumer {
  name: string;
  consumer: Consumer;
  /** Partitions of the latest assignment (GROUP_JOIN). */
  assigned: number[];
  /** How many rebalances it went through (GROUP_JOIN events). */
  joins: number;
  records: ConsumedRecord[];
  /** Completed fetch requests (kafkajs FETCH events): positions are resolved once this is > 0. */
  fetches: number;
  stopped: boolean;
}

export interface ConsumerOptions {
  sessionTimeoutMs?: number;
  rebalanceTimeoutMs?: number;
  heartbeatIntervalMs?: number;
  assigners?: unknown[];
  /** Where to start without a committed offset (kafkajs: fromBeginning); default true. */
  fromBeginning?: boolean;
}

export async function startTrackedConsumer(kafka: Kafka, name: string, groupId: string, topic: string, options: ConsumerOptions = {}): Promise<TrackedConsumer> {
  const consumer = kafka.consumer({
    groupId,
    sessionTimeout: options.sessionTimeoutMs ?? 10_000,
    rebalanceTimeout: options.rebalanceTimeoutMs ?? 20_000,
    heartbeatInterval: options.heartbeatIntervalMs ?? 500,
    maxWaitTimeInMs: 250,
    retry: { retries: 10, initialRetryTime: 100, maxRetryTime: 1000 },
    ...(options.assigners ? { partitionAssigners: options.assigners as never } : {}),
  });
  const tracked: TrackedConsumer = { name, consumer, assigned: [], joins: 0, records: [], fetches: 0, stopped: false };
  consumer.on(consumer.events.GROUP_JOIN, (event) => {
    tracked.assigned = [...(event.payload.memberAssignment[topic] ?? [])].sort((a, b) => a - b);
    tracked.joins++;
  });
  consumer.on(consumer.events.FETCH, () => void tracked.fetches++);
  await consumer.connect();
  await consumer.subscribe({ topic, fromBeginning: options.fromBeginning ?? true });
  await consumer.run({
    eachMessage: async ({ partition, message }) => {
      tracked.records.push({ partition, offset: Number(message.offset), value: message.value?.toString() ?? "" });
    },
  });
  return tracked;
}

export async function stopTrackedConsumer(tracked: TrackedConsumer): Promise<void> {
  if (tracked.stopped) return;
  tracked.stopped = true;
  await tracked.consumer.disconnect();
}

/** Decodes a kafkajs/librdkafka member assignment (ConsumerProtocolAssignment) to topic → partitions. */
export function decodeMemberAssignment(bytes: Buffer): Record<string, number[]> {
  if (bytes.length === 0) return {};
  return AssignerProtocol.MemberAssignment.decode(bytes)?.assignment ?? {};
}

/** A line-oriented child process (kcat -G, or the kafkajs consumer child) whose output is collected as it comes. */
export class StreamingProcess {
  readonly lines: string[] = [];
  stderr = "";
  private readonly child: Subprocess<"ignore", "pipe", "pipe">;
  readonly exited: Promise<number>;

  constructor(args: string[], env: Record<string, string> = {}) {
    const child = Bun.spawn(args, { stdin: "ignore", stdout: "pipe", stderr: "pipe", env: { ...process.env, ...env } });
    this.child = child;
    this.exited = child.exited;
    void this.collect(child.stdout);
    void (async () => {
      const decoder = new TextDecoder();
      for await (const chunk of child.stderr) {
        this.stderr += decoder.decode(chunk);
        if (this.stderr.length > 200_000) this.stderr = this.stderr.slice(-100_000);
      }
    })();
  }

  private async collect(stream: ReadableStream<Uint8Array>): Promise<void> {
    const decoder = new TextDecoder();
    let partial = "";
    for await (const chunk of stream) {
      partial += decoder.decode(chunk);
      const parts = partial.split("\n");
      partial = parts.pop()!;
      for (const line of parts) if (line.length > 0) this.lines.push(line);
    }
    if (partial.length > 0) this.lines.push(partial);
  }

  get pid(): number {
    return this.child.pid;
  }

  kill(signal: NodeJS.Signals = "SIGTERM"): void {
    this.child.kill(signal);
  }

  /** SIGTERM, then SIGKILL if it has not exited within `graceMs`. */
  async stop(graceMs = 10_000): Promise<number> {
    this.child.kill("SIGTERM");
    const timer = setTimeout(() => this.child.kill("SIGKILL"), graceMs);
    const code = await this.exited;
    clearTimeout(timer);
    return code;
  }
}

/** kcat's balanced consumer: one "partition offset value" line per message. */
export function kcatGroupConsumer(bootstrap: string, groupId: string, topic: string, extra: string[] = []): StreamingProcess {
  return new StreamingProcess([
    "kcat", "-b", bootstrap, "-G", groupId, "-q", "-u", "-f", "%p %o %s\\n",
    "-X", "auto.offset.reset=earliest",
    "-X", "session.timeout.ms=6000",
    "-X", "heartbeat.interval.ms=500",
    "-X", "topic.metadata.refresh.interval.ms=1000",
    ...extra,
    topic,
  ]);
}

export function parseKcatLine(line: string): ConsumedRecord | null {
  const match = /^(\d+) (\d+) (.*)$/.exec(line);
  return match ? { partition: Number(match[1]), offset: Number(match[2]), value: match[3]! } : null;
}

/** A kafkajs group consumer in its own process (test/helpers/group-consumer-child.ts), for crash tests. */
export function kafkajsConsumerChild(bootstrap: string, groupId: string, topic: string, sessionTimeoutMs: number): StreamingProcess {
  return new StreamingProcess([process.execPath, join(repoRoot, "test/helpers/group-consumer-child.ts"), bootstrap, groupId, topic, String(sessionTimeoutMs)]);
}

/** Every offset in [0, endOffset) of each partition was read at least once; returns what is missing. */
export function missingRecords(records: ConsumedRecord[], endOffsets: Map<number, number>): string[] {
  const seen = new Set(records.map((record) => `${record.partition}:${record.offset}`));
  const missing: string[] = [];
  for (const [partition, endOffset] of endOffsets) for (let offset = 0; offset < endOffset; offset++) if (!seen.has(`${partition}:${offset}`)) missing.push(`${partition}:${offset}`);
  return missing;
}

export function duplicateCount(records: ConsumedRecord[]): number {
  return records.length - new Set(records.map((record) => `${record.partition}:${record.offset}`)).size;
}
