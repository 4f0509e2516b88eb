// `bunka consume`: records of a topic from the beginning, the end, an offset or a timestamp, printed with a
// kcat-style format string or as JSON lines. With --group it is a member of a classic consumer group, as
// kcat -G is: it prints the partitions the group assigns it, from their committed offsets, commits what it
// printed, and hands them over (committed) when the group rebalances or it exits.
import type { Command } from "commander";
import { ClassicGroupMember, type GroupCluster } from "../client/classic-group-member.ts";
import { ConnectionClosedError } from "../client/kafka-connection.ts";
import { ErrorCode, errorName } from "../protocol/errors.ts";
import { ApiKey } from "../protocol/generated/index.ts";
import { ATTRIBUTES_OFFSET, CONTROL_FLAG_MASK, LOG_OVERHEAD, RECORDS_OFFSET, batchSizeBytes, dataViewOf } from "../records/batch.ts";
import { readBatchRecords, type BatchRecord } from "../records/compression.ts";
import { clientOptions, type CommonOptions } from "./common.ts";
import { isRetriable, type KafkaClient, KafkaClient as Client, type TopicMetadata } from "./kafka-client.ts";
import { CliError } from "./output.ts";
import { parseNonNegativeInt } from "./produce.ts";

const FETCH_VERSION = 11;
const FETCH_MAX_WAIT_MS = 500;
const PARTITION_MAX_BYTES = 1_048_576;
const FETCH_MAX_BYTES = 52_428_800;
const encoder = new TextEncoder();
const decoder = new TextDecoder();

export type StartPosition = { kind: "beginning" } | { kind: "end" } | { kind: "offset"; offset: number } | { kind: "timestamp"; timestampMs: number };

export function parseStart(text: string): StartPosition {
  if (text === "beginning" || text === "start" || text === "oldest") return { kind: "beginning" };
  if (text === "end" || text === "newest") return { kind: "end" };
  if (text.startsWith("@")) return { kind: "timestamp", timestampMs: parseNonNegativeInt(text.slice(1), "--from @<timestamp ms>") };
  return { kind: "offset", offset: parseNonNegativeInt(text, "--from") };
}

type FormatPart = Uint8Array | ((record: OutputRecord) => Uint8Array | string);

interface OutputRecord extends BatchRecord {
  topic: string;
  partition: number;
}

const EMPTY = new Uint8Array(0);

/** kcat's -f tokens: %t topic, %p partition, %o offset, %k key, %v value, %T timestamp, %h headers, %K/%S key/value length, \n \t \\ escapes. */
export function compileFormat(format: string): FormatPart[] {
  const parts: FormatPart[] = [];
  let literal = "";
  const flush = () => {
    if (literal) parts.push(encoder.encode(literal));
    literal = "";
  };
  for (let i = 0; i < format.length; i++) {
    const char = format[i]!;
    const next = format[i + 1];
    if (char === "\\" && next !== undefined) {
      literal += next === "n" ? "\n" : next === "t" ? "\t" : next === "r" ? "\r" : next === "0" ? "\0" : next;
      i++;
    } else if (char === "%" && next !== undefined) {
      i++;
      const field: ((record: OutputRecord) => Uint8Array | string) | null =
        next === "t" ? (r) => r.topic
        : next === "p" ? (r) => String(r.partition)
        : next === "o" ? (r) => String(r.offset)
        : next === "k" ? (r) => r.key ?? EMPTY
        : next === "v" ? (r) => r.value ?? EMPTY
        : next === "T" ? (r) => String(r.timestampMs)
        : next === "K" ? (r) => String(r.key ? r.key.byteLength : -1)
        : next === "S" ? (r) => String(r.value ? r.value.byteLength : -1)
        : next === "h" ? (r) => r.headers.map((h) => `${h.key}=${h.value ? decoder.decode(h.value) : ""}`).join(",")
        : null;
      if (next === "%") literal += "%";
      else if (!field) throw new CliError(`unknown format token %${next} (known: %t %p %o %k %v %T %h %K %S)`);
      else {
        flush();
        parts.push(field);
      }
    } else literal += char;
  }
  flush();
  return parts;
}

/** Collects output bytes and writes them in large pieces (stdout may be a pipe to another tool). */
class OutputBuffer {
  private chunks: Uint8Array[] = [];
  private sizeBytes = 0;
  private readonly writer = Bun.stdout.writer();

  push(part: Uint8Array | string): void {
    const bytes = typeof part === "string" ? encoder.encode(part) : part;
    this.chunks.push(bytes);
    this.sizeBytes += bytes.byteLength;
  }

  async flush(): Promise<void> {
    if (this.sizeBytes === 0) return;
    const out = new Uint8Array(this.sizeBytes);
    let at = 0;
    for (const chunk of this.chunks) {
      out.set(chunk, at);
      at += chunk.byteLength;
    }
    this.chunks = [];
    this.sizeBytes = 0;
    this.writer.write(out);
    await this.writer.flush();
  }
}

function jsonRecord(record: OutputRecord): string {
  return JSON.stringify({
    topic: record.topic,
    partition: record.partition,
    offset: record.offset,
    timestamp: record.timestampMs,
    key: record.key ? decoder.decode(record.key) : null,
    value: record.value ? decoder.decode(record.value) : null,
    headers: Object.fromEntries(record.headers.map((h) => [h.key, h.value ? decoder.decode(h.value) : null])),
  }) + "\n";
}

/** The complete, non-control batches of a fetch answer, decoded; records below `from` left out. */
async function decodeFetched(data: Uint8Array, from: number): Promise<{ records: BatchRecord[]; nextOffset: number | null }> {
  const view = dataViewOf(data);
  const records: BatchRecord[] = [];
  let nextOffset: number | null = null;
  for (let position = 0; position + RECORDS_OFFSET <= data.byteLength; ) {
    const sizeBytes = batchSizeBytes(view, position);
    if (sizeBytes < LOG_OVERHEAD || position + sizeBytes > data.byteLength) break; // a partial batch at the end
    const batch = data.subarray(position, position + sizeBytes);
    position += sizeBytes;
    const lastOffset = Number(view.getBigInt64(position - sizeBytes)) + view.getInt32(position - sizeBytes + 23);
    nextOffset = lastOffset + 1;
    if ((view.getInt16(position - sizeBytes + ATTRIBUTES_OFFSET) & CONTROL_FLAG_MASK) !== 0) continue;
    for (const record of await readBatchRecords(batch)) if (record.offset >= from) records.push(record);
  }
  return { records, nextOffset };
}

interface ConsumeOptions {
  topic: string;
  partition?: string[];
  from?: string;
  group?: string;
  format: string;
  count?: string;
  exitAtEnd?: boolean;
  sessionTimeoutMs: string;
}

// A group member's timing: a dead `bunka consume` (SIGKILL) holds its partitions for the session timeout; one
// that exits leaves at once. Heartbeats at most a second apart notice a rebalance quickly (Kafka: 3 s).
const GROUP_SESSION_TIMEOUT_MS_DEFAULT = 10_000;
const GROUP_REBALANCE_TIMEOUT_MS = 30_000;
const GROUP_HEARTBEAT_INTERVAL_MS_MAX = 1_000;
/** How often the leader looks for partitions added to the topic (a rebalance hands them out), as librdkafka's metadata refresh. */
const GROUP_PARTITION_CHECK_INTERVAL_MS = 3_000;

async function startOffsets(client: KafkaClient, topic: TopicMetadata, partitions: number[], start: StartPosition, committed: Map<number, number>): Promise<Map<number, number>> {
  const positions = new Map<number, number>();
  const needed = partitions.filter((p) => !committed.has(p));
  for (const p of partitions) if (committed.has(p)) positions.set(p, committed.get(p)!);
  if (needed.length === 0) return positions;
  if (start.kind === "offset") {
    for (const p of needed) positions.set(p, start.offset);
    return positions;
  }
  const timestamp = start.kind === "beginning" ? -2 : start.kind === "end" ? -1 : start.timestampMs;
  const found = await client.listOffsets(topic, needed, timestamp);
  // A timestamp after the last record: Kafka answers -1; start at the end then.
  const ends = start.kind === "timestamp" && [...found.values()].some((o) => o < 0) ? await client.listOffsets(topic, needed, -1) : null;
  for (const p of needed) positions.set(p, found.get(p)! >= 0 ? found.get(p)! : ends!.get(p)!);
  return positions;
}

/** Fetches from partition leaders and prints what comes back; the caller decides which partitions and when. */
class RecordPrinter {
  printed = 0;
  private readonly output = new OutputBuffer();

  constructor(
    private readonly client: KafkaClient,
    public topic: TopicMetadata,
    private readonly format: FormatPart[],
    private readonly json: boolean,
    private readonly limit: number,
  ) {}

  get limitReached(): boolean {
    return this.printed >= this.limit;
  }

  /**
   * One fetch round over `partitions` (those at their `ends` left out): prints the records and advances
   * `positions` past what it printed. Output is flushed before it returns, so a commit after it covers only
   * records that reached stdout.
   */
  async step(partitions: number[], positions: Map<number, number>, ends: Map<number, number> | null): Promise<void> {
    const topic = this.topic;
    const byLeader = new Map<number, number[]>();
    for (const p of partitions) {
      if (ends && positions.get(p)! >= ends.get(p)!) continue;
      const leader = topic.partitions.find((known) => known.partition === p)?.leader ?? -1;
      if (leader < 0) continue;
      byLeader.set(leader, [...(byLeader.get(leader) ?? []), p]);
    }
    const answers = await Promise.all(
      [...byLeader].map(async ([leader, list]) => {
        const response = await (await this.client.brokerConnection(leader)).request(ApiKey.Fetch, FETCH_VERSION, {
          replicaId: -1,
          maxWaitMs: FETCH_MAX_WAIT_MS,
          minBytes: 1,
          maxBytes: FETCH_MAX_BYTES,
          isolationLevel: 0,
          sessionId: 0,
          sessionEpoch: -1,
          topics: [{ topic: topic.name, partitions: list.map((partition) => ({ partition, currentLeaderEpoch: -1, fetchOffset: positions.get(partition)!, logStartOffset: -1, partitionMaxBytes: PARTITION_MAX_BYTES })) }],
          forgottenTopicsData: [],
          rackId: "",
        });
        return response.responses[0]?.partitions ?? [];
      }),
    );
    let refresh = byLeader.size === 0 && partitions.some((p) => !ends || positions.get(p)! < ends.get(p)!);
    for (const answer of answers.flat()) {
      const partition: number = answer.partitionIndex;
      if (answer.errorCode === ErrorCode.OFFSET_OUT_OF_RANGE) {
        // Retention or a truncation moved the log: start again from the beginning it has now (auto.offset.reset=earliest).
        positions.set(partition, (await this.client.listOffsets(topic, [partition], -2)).get(partition)!);
        continue;
      }
      if (answer.errorCode !== ErrorCode.NONE) {
        if (!isRetriable(answer.errorCode)) throw new CliError(`fetch ${topic.name}-${partition}: ${errorName(answer.errorCode)}`);
        refresh = true;
        continue;
      }
      const data: Uint8Array | null = answer.records;
      if (!data || data.byteLength === 0) continue;
      this.print(partition, await decodeFetched(data, positions.get(partition)!), positions);
    }
    await this.output.flush();
    if (refresh) {
      await Bun.sleep(250);
      this.topic = await this.client.topic(topic.name);
    }
  }

  private print(partition: number, fetched: { records: BatchRecord[]; nextOffset: number | null }, positions: Map<number, number>): void {
    for (const record of fetched.records) {
      if (this.printed >= this.limit) break;
      const out: OutputRecord = Object.assign(record, { topic: this.topic.name, partition });
      if (this.json) this.output.push(jsonRecord(out));
      else for (const part of this.format) this.output.push(typeof part === "function" ? part(out) : part);
      this.printed++;
      positions.set(partition, record.offset + 1);
    }
    // Past control batches and records below the position, unless the count stopped inside this answer.
    if (this.printed < this.limit && fetched.nextOffset !== null && fetched.nextOffset > positions.get(partition)!) positions.set(partition, fetched.nextOffset);
  }
}

/** Without --group: the chosen partitions (default all), from --from, until the count, the end (-e) or a signal. */
async function consumeStandalone(client: KafkaClient, printer: RecordPrinter, partitionOption: string[] | undefined, start: StartPosition, exitAtEnd: boolean, signal: AbortSignal): Promise<void> {
  const topic = printer.topic;
  const partitions = partitionOption ? partitionOption.map((p) => parseNonNegativeInt(p, "--partition")) : topic.partitions.map((p) => p.partition);
  for (const p of partitions) if (!topic.partitions.some((known) => known.partition === p)) throw new CliError(`partition ${p} does not exist (${topic.name} has ${topic.partitions.length})`);
  const positions = await startOffsets(client, topic, partitions, start, new Map());
  const ends = exitAtEnd ? await client.listOffsets(topic, partitions, -1) : null;
  const atEnd = () => ends !== null && partitions.every((p) => positions.get(p)! >= ends.get(p)!);
  while (!signal.aborted && !printer.limitReached && !atEnd()) await printer.step(partitions, positions, ends);
}

/**
 * With --group: a member of the group. Partitions come from the group's assignment and start at their
 * committed offsets (--from where none is committed); what was printed is committed after every fetch round and
 * before a rebalance takes the partitions away; LeaveGroup at exit hands them over at once.
 */
async function consumeAsMember(client: KafkaClient, printer: RecordPrinter, groupId: string, sessionTimeoutMs: number, start: StartPosition, exitAtEnd: boolean, signal: AbortSignal): Promise<void> {
  const topicName = printer.topic.name;
  const log = (line: string) => process.stderr.write(`% ${line}\n`);
  const member = new ClassicGroupMember({
    groupId,
    topics: [topicName],
    cluster: clusterOf(client),
    sessionTimeoutMs,
    rebalanceTimeoutMs: GROUP_REBALANCE_TIMEOUT_MS,
    // A third of the session, as Kafka's defaults: two heartbeats may be lost before the session ends.
    heartbeatIntervalMs: Math.min(GROUP_HEARTBEAT_INTERVAL_MS_MAX, Math.floor(sessionTimeoutMs / 3)),
    log,
  });
  let assigned: number[] = [];
  let positions = new Map<number, number>();
  let committed = new Map<number, number>();
  let ends: Map<number, number> | null = null;
  let leader = false;
  let partitionCount = 0;
  let partitionsCheckedMs = 0;
  // Commits the positions that moved since the last commit; false when the group refused (fenced by a rebalance).
  const commitMoved = async () => {
    const moved = new Map([...positions].filter(([p, offset]) => committed.get(p) !== offset));
    if (moved.size === 0) return;
    if (await member.commit(topicName, moved)) for (const [p, offset] of moved) committed.set(p, offset);
  };
  try {
    while (!signal.aborted && !printer.limitReached) {
      if (member.rejoinNeeded !== null) {
        // Eager rebalance: everything printed is committed before the partitions are given back.
        await commitMoved();
        const assignment = await member.join(signal);
        if (!assignment) break;
        assigned = assignment.partitions.get(topicName) ?? [];
        printer.topic = await client.topic(topicName);
        committed = await member.committedOffsets(topicName, assigned);
        positions = await startOffsets(client, printer.topic, assigned, start, committed);
        ends = exitAtEnd && assigned.length > 0 ? await client.listOffsets(printer.topic, assigned, -1) : null;
        leader = assignment.leader;
        partitionCount = printer.topic.partitions.length;
        partitionsCheckedMs = performance.now();
        log(`group ${groupId} generation ${assignment.generationId}: assigned ${topicName} [${assigned.join(",")}]${leader ? " (leader)" : ""}`);
      }
      if (leader && performance.now() - partitionsCheckedMs > GROUP_PARTITION_CHECK_INTERVAL_MS) {
        partitionsCheckedMs = performance.now();
        const now = await client.topic(topicName);
        if (now.partitions.length !== partitionCount) member.requestRejoin(`${topicName} has ${now.partitions.length} partitions now`);
        continue;
      }
      // -e: done once every assigned partition is at the end it had when assigned (with none assigned, at once).
      if (exitAtEnd && assigned.every((p) => positions.get(p)! >= ends!.get(p)!)) break;
      if (assigned.length === 0) {
        await sleepUnlessAborted(FETCH_MAX_WAIT_MS, signal);
        continue;
      }
      await printer.step(assigned, positions, ends);
      await commitMoved();
    }
  } finally {
    await member.leave();
  }
}

/** The cluster as the group member needs it: connections and partition counts. */
function clusterOf(client: KafkaClient): GroupCluster {
  return {
    bootstrapConnection: () => client.bootstrapConnection(),
    brokerConnection: (nodeId) => client.brokerConnection(nodeId),
    partitionCounts: async (topics) => {
      const metadata = await client.metadata(topics);
      return new Map(metadata.topics.filter((t) => t.errorCode === ErrorCode.NONE).map((t) => [t.name, t.partitions.length]));
    },
  };
}

function sleepUnlessAborted(ms: number, signal: AbortSignal): Promise<void> {
  if (signal.aborted) return Promise.resolve();
  return new Promise((resolve) => {
    const timer = setTimeout(done, ms);
    function done() {
      clearTimeout(timer);
      signal.removeEventListener("abort", done);
      resolve();
    }
    signal.addEventListener("abort", done, { once: true });
  });
}

export function registerConsume(program: Command): void {
  program
    .command("consume")
    .description("print records of a topic (kcat-style format or --json); --count N exits after N; --group joins a consumer group")
    .requiredOption("-t, --topic <topic>", "topic to consume")
    .option("-p, --partition <n...>", "only these partitions (default: all; not with --group)")
    .option("-o, --from <position>", "beginning | end | <offset> | @<timestamp ms> (with --group: where partitions without a committed offset start)", "beginning")
    .option("-g, --group <group>", "join this consumer group (as kcat -G): print the partitions it assigns, from the committed offsets, and commit what was printed")
    .option("-f, --format <format>", "kcat-style: %t %p %o %k %v %T %h %K %S, \\n \\t", "%v\\n")
    .option("-n, --count <n>", "exit after this many records")
    .option("-e, --exit-at-end", "exit when every (assigned) partition reaches the end it had at start (at assignment)")
    .option("--session-timeout-ms <ms>", "with --group: the coordinator hands a silent member's partitions to others after this long (the broker's group.min/max.session.timeout.ms bound it)", String(GROUP_SESSION_TIMEOUT_MS_DEFAULT))
    .action(async (options: ConsumeOptions, command: Command) => {
      const common = command.optsWithGlobals() as CommonOptions;
      const start = parseStart(options.from ?? "beginning");
      const limit = options.count === undefined ? Infinity : parseNonNegativeInt(options.count, "--count");
      const format = compileFormat(options.format);
      if (options.group !== undefined && options.partition) throw new CliError("--partition cannot be combined with --group: the group assigns the partitions");
      if (options.group !== undefined && options.group.length === 0) throw new CliError("--group needs a group id");
      const sessionTimeoutMs = parseNonNegativeInt(options.sessionTimeoutMs, "--session-timeout-ms");
      if (sessionTimeoutMs < 3) throw new CliError("--session-timeout-ms must be at least 3");
      const client = await Client.connect(clientOptions(common));
      const stop = new AbortController();
      // The first signal stops after the fetch round in flight (committed, group left); a second one does not wait.
      const onSignal = (signal: NodeJS.Signals) => {
        if (stop.signal.aborted) process.exit(signal === "SIGINT" ? 130 : 143);
        stop.abort();
      };
      process.on("SIGINT", onSignal);
      process.on("SIGTERM", onSignal);
      try {
        const printer = new RecordPrinter(client, await client.topic(options.topic), format, common.json === true, limit);
        if (options.group !== undefined) await consumeAsMember(client, printer, options.group, sessionTimeoutMs, start, options.exitAtEnd === true, stop.signal);
        else await consumeStandalone(client, printer, options.partition, start, options.exitAtEnd === true, stop.signal);
      } catch (error) {
        if (error instanceof ConnectionClosedError) throw new CliError(`${error.message} while consuming (is the broker running?)`);
        throw error;
      } finally {
        process.off("SIGINT", onSignal);
        process.off("SIGTERM", onSignal);
        client.close();
      }
    });
}
