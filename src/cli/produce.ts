// `bunka produce`: one record per input line (stdin or --file), optionally "key<separator>value", with
// headers, a fixed partition, compression, acks and a rate limit.
import type { Command } from "commander";
import type { RecordHeader } from "../records/compression.ts";
import { clientOptions, collect, type CommonOptions } from "./common.ts";
import { KafkaClient } from "./kafka-client.ts";
import { CliError, Progress, printJson } from "./output.ts";
import { BatchProducer, COMPRESSION_CODECS, parseAcks } from "./producer.ts";

const NEWLINE = 0x0a;
const encoder = new TextEncoder();

/**
 * Splits a byte stream into lines (without the newline); a last line without one counts when not empty.
 * A line longer than maxLineBytes is an error (a binary file or a missing newline must not grow memory without end).
 */
export async function* readLines(stream: ReadableStream<Uint8Array>, maxLineBytes: number): AsyncGenerator<Uint8Array> {
  let carry: Uint8Array = new Uint8Array(0);
  for await (const chunk of stream) {
    let start = 0;
    let buffer = chunk;
    if (carry.byteLength > 0) {
      buffer = new Uint8Array(carry.byteLength + chunk.byteLength);
      buffer.set(carry);
      buffer.set(chunk, carry.byteLength);
    }
    for (let newline = buffer.indexOf(NEWLINE, start); newline !== -1; newline = buffer.indexOf(NEWLINE, start)) {
      yield buffer.subarray(start, newline);
      start = newline + 1;
    }
    carry = buffer.slice(start);
    if (carry.byteLength > maxLineBytes) throw new CliError(`a line is longer than --max-line-bytes=${maxLineBytes}`);
  }
  if (carry.byteLength > 0) yield carry;
}

function indexOfBytes(haystack: Uint8Array, needle: Uint8Array): number {
  if (needle.byteLength === 1) return haystack.indexOf(needle[0]!);
  outer: for (let i = 0; i + needle.byteLength <= haystack.byteLength; i++) {
    for (let j = 0; j < needle.byteLength; j++) if (haystack[i + j] !== needle[j]) continue outer;
    return i;
  }
  return -1;
}

export function parseHeaders(specs: string[]): RecordHeader[] {
  return specs.map((spec) => {
    const at = spec.indexOf("=");
    if (at <= 0) throw new CliError(`a header must be key=value, got "${spec}"`);
    return { key: spec.slice(0, at), value: encoder.encode(spec.slice(at + 1)) };
  });
}

export function parseNonNegativeInt(text: string, what: string): number {
  if (!/^\d+$/.test(text) || !Number.isSafeInteger(Number(text))) throw new CliError(`${what} must be a non-negative integer, got "${text}"`);
  return Number(text);
}

interface ProduceOptions extends CommonOptions {
  topic: string;
  file?: string;
  keySeparator?: string;
  header: string[];
  partition?: string;
  compression: string;
  acks: string;
  rate?: string;
  batchBytes: string;
  maxLineBytes: string;
}

export function registerProduce(program: Command): void {
  program
    .command("produce")
    .description("produce one record per input line (stdin or --file)")
    .requiredOption("-t, --topic <topic>", "topic to produce to")
    .option("-f, --file <path>", "read lines from this file instead of stdin")
    .option("-K, --key-separator <text>", "split each line at the first <text> into key and value")
    .option("-H, --header <key=value>", "a header on every record (repeatable)", collect, [])
    .option("-p, --partition <n>", "produce to this partition (default: by key hash, keyless records sticky per batch)")
    .option("-z, --compression <codec>", "none, gzip, lz4 or zstd", "none")
    .option("--acks <acks>", "all (-1), 1 or 0", "all")
    .option("--rate <records/s>", "at most this many records per second")
    .option("--batch-bytes <bytes>", "records per partition per Produce request, in bytes", "1048576")
    .option("--max-line-bytes <bytes>", "longest input line (one record)", "16777216")
    .action(async (options: ProduceOptions, command: Command) => {
      const common = command.optsWithGlobals() as CommonOptions;
      const compression = COMPRESSION_CODECS[options.compression];
      if (compression === undefined) throw new CliError(`--compression must be one of ${Object.keys(COMPRESSION_CODECS).join(", ")}, got "${options.compression}"`);
      const acks = parseAcks(options.acks);
      const partition = options.partition === undefined ? null : parseNonNegativeInt(options.partition, "--partition");
      const rate = options.rate === undefined ? null : parseNonNegativeInt(options.rate, "--rate");
      if (rate === 0) throw new CliError("--rate must be at least 1");
      const batchBytes = parseNonNegativeInt(options.batchBytes, "--batch-bytes");
      const headers = parseHeaders(options.header);
      const separator = options.keySeparator === undefined ? null : encoder.encode(options.keySeparator);
      if (separator && separator.byteLength === 0) throw new CliError("--key-separator must not be empty");

      const client = await KafkaClient.connect(clientOptions(common));
      try {
        const topic = await client.topic(options.topic, { autoCreate: true });
        const producer = new BatchProducer(client, topic, { acks, compression, batchBytes: Math.max(1, batchBytes), maxInFlight: 8, timeoutMs: 30_000 });
        let input: ReadableStream<Uint8Array>;
        if (options.file) {
          const file = Bun.file(options.file);
          if (!(await file.exists())) throw new CliError(`no such file: ${options.file}`);
          input = file.stream();
        } else {
          input = Bun.stdin.stream();
        }
        const progress = new Progress(`producing to ${options.topic}`, null);
        const startedMs = performance.now();
        let count = 0;
        const maxLineBytes = parseNonNegativeInt(options.maxLineBytes, "--max-line-bytes");
        for await (const line of readLines(input, maxLineBytes)) {
          if (rate !== null) {
            const dueMs = startedMs + (count / rate) * 1000;
            const waitMs = dueMs - performance.now();
            if (waitMs > 0) {
              // Paced: what is queued goes out now instead of waiting for a full batch.
              await producer.flush();
              await Bun.sleep(waitMs);
            }
          }
          let key: Uint8Array | null = null;
          let value = line;
          if (separator) {
            const at = indexOfBytes(line, separator);
            if (at >= 0) {
              key = line.subarray(0, at);
              value = line.subarray(at + separator.byteLength);
            }
          }
          await producer.add({ key, value, headers }, partition);
          count++;
          if ((count & 0x3ff) === 0) progress.update(count);
        }
        await producer.flush();
        progress.finish();
        const elapsedMs = performance.now() - startedMs;
        if (common.json) printJson({ topic: options.topic, records: count, elapsedMs: Math.round(elapsedMs) });
        else console.error(`Produced ${count} records to ${options.topic} in ${(elapsedMs / 1000).toFixed(2)} s${acks === 0 ? " (acks=0: not confirmed)" : ""}`);
      } finally {
        client.close();
      }
    });
}
