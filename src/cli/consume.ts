// `bunka consume`: records of a topic from the beginning, the end, an offset or a timestamp, printed with a
// kcat-style format string or as JSON lines; with --group, committed offsets are where it starts and what it
// commits (a standalone consumer: it assigns itself every partition, as kcat -G does not; no rebalancing).
import type { Command } from "commander";
import { ErrorCode, errorName } from "../protocol/errors.ts";
import { ApiKey } from "../protocol/generated/index.ts";
import { ATTRIBUTES_OFFSET, CONTROL_FLAG_MASK, LOG_OVERHEAD, RECORDS_OFFSET, batchSizeBytes, dataViewOf } from "../records/batch.ts";
import { readBatchRecords, type BatchRecord } from "../records/compression.ts";
import { clientOptions, type CommonOptions } from "./common.ts";
import { checkError, isRetriable, type KafkaClient, KafkaClient as Client, type TopicMetadata } from "./kafka-client.ts";
import { CliError, printJson } from "./output.ts";
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
}

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

async function committedOffsets(client: KafkaClient, groupId: string, topic: string, partitions: number[]): Promise<{ coordinator: number; offsets: Map<number, number> }> {
  const bootstrap = await client.bootstrapConnection();
  for (let attempt = 0; attempt < 40; attempt++) {
    const found = await bootstrap.request(ApiKey.FindCoordinator, 2, { key: groupId, keyType: 0 });
    if (found.errorCode === ErrorCode.NONE) {
      const response = await (await client.brokerConnection(found.nodeId)).request(ApiKey.OffsetFetch, 7, { groupId, topics: [{ name: topic, partitionIndexes: partitions }], requireStable: false });
      if (response.errorCode === ErrorCode.NONE) {
        const offsets = new Map<number, number>();
        for (const p of response.topics[0]?.partitions ?? []) {
          checkError(p.errorCode, `OffsetFetch ${topic}-${p.partitionIndex}`);
          if (p.committedOffset >= 0) offsets.set(p.partitionIndex, p.committedOffset);
        }
        return { coordinator: found.nodeId, offsets };
      }
      if (!isRetriable(response.errorCode)) throw new CliError(`group ${groupId}: ${errorName(response.errorCode)}`);
    } else if (!isRetriable(found.errorCode)) throw new CliError(`FindCoordinator for group ${groupId}: ${errorName(found.errorCode)}`);
    await Bun.sleep(250);
  }
  throw new CliError(`group ${groupId}: no coordinator available`);
}

export function registerConsume(program: Command): void {
  program
    .command("consume")
    .description("print records of a topic (kcat-style format or --json); --count N exits after N")
    .requiredOption("-t, --topic <topic>", "topic to consume")
    .option("-p, --partition <n...>", "only these partitions (default: all)")
    .option("-o, --from <position>", "beginning | end | <offset> | @<timestamp ms> (with --group: where partitions without a committed offset start)", "beginning")
    .option("-g, --group <group>", "start from the group's committed offsets and commit what was printed (standalone consumer, no rebalance)")
    .option("-f, --format <format>", "kcat-style: %t %p %o %k %v %T %h %K %S, \\n \\t", "%v\\n")
    .option("-n, --count <n>", "exit after this many records")
    .option("-e, --exit-at-end", "exit when every partition reaches the end it had at start")
    .action(async (options: ConsumeOptions, command: Command) => {
      const common = command.optsWithGlobals() as CommonOptions;
      const start = parseStart(options.from ?? "beginning");
      const limit = options.count === undefined ? Infinity : parseNonNegativeInt(options.count, "--count");
      const format = compileFormat(options.format);
      const client = await Client.connect(clientOptions(common));
      const output = new OutputBuffer();
      let stopping = false;
      const onSignal = () => {
        stopping = true;
      };
      process.on("SIGINT", onSignal);
      process.on("SIGTERM", onSignal);
      try {
        let topic = await client.topic(options.topic);
        const partitions = options.partition ? options.partition.map((p) => parseNonNegativeInt(p, "--partition")) : topic.partitions.map((p) => p.partition);
        for (const p of partitions) if (!topic.partitions.some((known) => known.partition === p)) throw new CliError(`partition ${p} does not exist (${topic.name} has ${topic.partitions.length})`);
        const group = options.group ? await committedOffsets(client, options.group, topic.name, partitions) : null;
        const positions = await startOffsets(client, topic, partitions, start, group?.offsets ?? new Map());
        const ends = options.exitAtEnd ? await client.listOffsets(topic, partitions, -1) : null;
        let printed = 0;
        const done = () => printed >= limit || (ends !== null && partitions.every((p) => positions.get(p)! >= ends.get(p)!));
        while (!stopping && !done()) {
          const byLeader = new Map<number, number[]>();
          for (const p of partitions) {
            if (ends && positions.get(p)! >= ends.get(p)!) continue;
            const leader = topic.partitions.find((known) => known.partition === p)!.leader;
            byLeader.set(leader, [...(byLeader.get(leader) ?? []), p]);
          }
          const answers = await Promise.all(
            [...byLeader].map(async ([leader, list]) => {
              const response = await (await client.brokerConnection(leader)).request(ApiKey.Fetch, FETCH_VERSION, {
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
          let refresh = false;
          for (const answer of answers.flat()) {
            const partition: number = answer.partitionIndex;
            if (answer.errorCode === ErrorCode.OFFSET_OUT_OF_RANGE) {
              // Retention or a truncation moved the log: start again from the beginning it has now (auto.offset.reset=earliest).
              positions.set(partition, (await client.listOffsets(topic, [partition], -2)).get(partition)!);
              continue;
            }
            if (answer.errorCode !== ErrorCode.NONE) {
              if (!isRetriable(answer.errorCode)) throw new CliError(`fetch ${topic.name}-${partition}: ${errorName(answer.errorCode)}`);
              refresh = true;
              continue;
            }
            const data: Uint8Array | null = answer.records;
            if (!data || data.byteLength === 0) continue;
            const { records, nextOffset } = await decodeFetched(data, positions.get(partition)!);
            for (const record of records) {
              if (printed >= limit) break;
              const out: OutputRecord = Object.assign(record, { topic: topic.name, partition });
              if (common.json) output.push(jsonRecord(out));
              else for (const part of format) output.push(typeof part === "function" ? part(out) : part);
              printed++;
              positions.set(partition, record.offset + 1);
            }
            if (printed < limit && nextOffset !== null && nextOffset > positions.get(partition)!) positions.set(partition, nextOffset);
          }
          await output.flush();
          if (group) await commit(client, options.group!, group.coordinator, topic.name, positions);
          if (refresh) {
            await Bun.sleep(250);
            topic = await client.topic(topic.name);
          }
        }
        await output.flush();
      } finally {
        process.off("SIGINT", onSignal);
        process.off("SIGTERM", onSignal);
        client.close();
      }
    });
}

/** OffsetCommit with generation -1: a consumer outside any active generation (the coordinator refuses it while the group has members). */
async function commit(client: KafkaClient, groupId: string, coordinator: number, topic: string, positions: Map<number, number>): Promise<void> {
  const response = await (await client.brokerConnection(coordinator)).request(ApiKey.OffsetCommit, 7, {
    groupId,
    generationIdOrMemberEpoch: -1,
    memberId: "",
    groupInstanceId: null,
    topics: [{ name: topic, partitions: [...positions].map(([partitionIndex, committedOffset]) => ({ partitionIndex, committedOffset, committedLeaderEpoch: -1, committedMetadata: "" })) }],
  });
  for (const p of response.topics[0]?.partitions ?? []) checkError(p.errorCode, `commit for group ${groupId} on ${topic}-${p.partitionIndex}`);
}
