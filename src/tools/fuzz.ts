// `bun run fuzz [--seed N] [--frames N]`: a seeded protocol fuzzer. It starts a real broker process (or uses
// --bootstrap), writes a canary topic with known records, then sends random and mutated frames for every
// advertised API and version (src/tools/fuzz-frames.ts) over a bounded number of connections. Every frame
// is judged against what dispatch must do with it: answer it (the frame decodes), close the connection
// (it does not), or stay silent (acks=0). Periodically and at the end it checks that the broker is alive,
// answers ApiVersions and Metadata, and that the canary reads back intact; with its own broker it also
// stops it cleanly and restarts it. Exits non-zero, printing the seed, on any failure. See docs/fuzzing.md.
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { parseArgs } from "node:util";
import type { Socket, Subprocess } from "bun";
import { KafkaConnection } from "../client/kafka-connection.ts";
import { brokerProcessEnv } from "../config/process-env.ts";
import { Reader } from "../protocol/codec/reader.ts";
import { ErrorCode, errorName } from "../protocol/errors.ts";
import { apiSchemas, ApiKey, responseHeaderVersion } from "../protocol/generated/index.ts";
import { readResponseHeader } from "../protocol/generated/headers.ts";
import {
  ATTRIBUTES_OFFSET,
  batchSizeBytes,
  COMPRESSION_CODEC_MASK,
  CompressionType,
  computeBatchCrc,
  CRC_OFFSET,
  dataViewOf,
  LAST_OFFSET_DELTA_OFFSET,
  LOG_OVERHEAD,
  MAGIC_OFFSET,
  readInt64,
  RECORDS_COUNT_OFFSET,
  RECORDS_OFFSET,
} from "../records/batch.ts";
import { buildBatch, decompressBatchRecords, readBatchRecords, RecordReader } from "../records/compression.ts";
import { frameSeed, makeFrame, type AdvertisedApis, type FuzzFrame, type FuzzTargets } from "./fuzz-frames.ts";

const usage = `Usage: bun run fuzz [options]

  --seed N                 PRNG seed (default: random, printed); the same seed replays the same frames
  --frames N               frames to send (default 5000)
  --start-frame N          first frame index (replay one frame: --start-frame I --frames 1)
  --time-limit-ms N        stop sending after this long (default 600000)
  --connections N          connections used in parallel (default 4)
  --request-timeout-ms N   how long one frame may wait for its answer or close (default 30000)
  --check-every N          health and canary check every N frames (default 500)
  --bootstrap HOST:PORT    fuzz a running broker instead of starting one (no restart check)
  --clock-ms N             where batch timestamps start (default: the current hour); printed, for exact replays
  --keep-data              keep the started broker's data dir and log
  --allow-findings         exit 0 even if frames were mishandled (only a dead broker or a damaged canary fails)
  -h, --help               this text
`;

const CANARY_TOPIC = "fuzz-canary";
const CANARY_PARTITIONS = 2;
const CANARY_BATCHES_PER_PARTITION = 4;
const CANARY_RECORDS_PER_BATCH = 25;
const FUZZ_TOPICS = ["fuzz-t0", "fuzz-t1", "fuzz-compact", "fuzz-lz4"];
const FUZZ_GROUPS = ["fuzz-g0", "fuzz-g1"];
const READY_TIMEOUT_MS = 60_000;
const STOP_TIMEOUT_MS = 60_000;
/** How long an abandoned connection (lying size prefix) is watched before the fuzzer drops it. */
const ABANDON_WAIT_MS = 20;
const FINDINGS_SHOWN_MAX = 20;
/** How long a frame that may long-poll (Fetch maxWaitMs, JoinGroup) is watched before its connection is dropped. */
const LONG_POLL_PATIENCE_MS = 1000;
const HOUR_MS = 3_600_000;
const repoRoot = resolve(import.meta.dir, "../..");

export interface FuzzOptions {
  seed: number;
  frames: number;
  startFrame: number;
  timeLimitMs: number;
  connections: number;
  requestTimeoutMs: number;
  checkEvery: number;
  bootstrap: string | null;
  /** Timestamps in the fuzzed batches start here; pin it (--clock-ms) to replay a run byte for byte. */
  clockMs: number;
  keepData: boolean;
  allowFindings: boolean;
}

type Outcome = "answered" | "closed" | "silent" | "abandoned" | "timeout" | "long-poll";

interface Finding {
  frame: FuzzFrame;
  what: string;
}

class Summary {
  framesSent = 0;
  readonly framesByApi = new Map<string, number>();
  readonly outcomes = new Map<Outcome, number>();
  readonly mutations = new Map<string, number>();
  readonly errorCodes = new Map<string, number>();
  /** Produce's per-partition codes alone: how many fuzzed batches were stored, and why the others were refused. */
  readonly produceCodes = new Map<string, number>();
  readonly findings: Finding[] = [];
  /** Batches in the log that a consumer could not read (a bad batch was stored), with the frames sent before. */
  readonly storedFindings: string[] = [];
  storedBatchesRead = 0;
  /** Bad stored batches already reported (topic-partition@offset): each is reported once. */
  readonly storedReported = new Set<string>();
  pipelines = 0;
  readonly ledger = new AppendLedger();
  /** Partitions whose log end offset moved by other than what was acknowledged. */
  readonly ledgerFindings: string[] = [];
  ledgerPartitionsChecked = 0;
  connectionsOpened = 0;
  checksPassed = 0;

  count<K>(map: Map<K, number>, key: K, by = 1): void {
    map.set(key, (map.get(key) ?? 0) + by);
  }
}

// ---- one connection, one frame at a time ----

type ConnectionEvent = { kind: "answered"; payload: Uint8Array } | { kind: "closed" };

/**
 * A raw socket that sends frames and reports what came back in order: response frames, then the broker
 * closing the connection. The fuzzer closes it itself when an outcome does not come in time.
 */
class FuzzConnection {
  private socket: Socket<undefined> | null = null;
  private inbound = new Uint8Array(0);
  private readonly responses: Uint8Array[] = [];
  private waiter: (() => void) | null = null;
  private peerClosed = false;
  closed = false;

  static async open(host: string, port: number): Promise<FuzzConnection> {
    const connection = new FuzzConnection();
    connection.socket = await Bun.connect<undefined>({
      hostname: host,
      port,
      socket: {
        data: (_socket, chunk) => connection.onData(chunk),
        close: () => connection.onClose(),
        error: () => connection.onClose(),
      },
    });
    return connection;
  }

  private onData(chunk: Uint8Array): void {
    const buffer = new Uint8Array(this.inbound.byteLength + chunk.byteLength);
    buffer.set(this.inbound);
    buffer.set(chunk, this.inbound.byteLength);
    let position = 0;
    // Bounded by the chunk: each response consumes at least its 4-byte size.
    while (buffer.byteLength - position >= 4) {
      const size = dataViewOf(buffer.subarray(position)).getInt32(0);
      if (size < 0 || buffer.byteLength - position - 4 < size) break;
      this.responses.push(buffer.slice(position + 4, position + 4 + size));
      position += 4 + size;
    }
    this.inbound = buffer.slice(position);
    this.wake();
  }

  private onClose(): void {
    this.peerClosed = true;
    this.closed = true;
    this.wake();
  }

  private wake(): void {
    const waiter = this.waiter;
    this.waiter = null;
    waiter?.();
  }

  /** The next response, or the close once every response before it was taken; null after timeoutMs. */
  async next(timeoutMs: number): Promise<ConnectionEvent | null> {
    const deadline = performance.now() + timeoutMs;
    // Bounded by the deadline: every wake-up either returns or re-waits for the time left.
    for (;;) {
      const payload = this.responses.shift();
      if (payload) return { kind: "answered", payload };
      if (this.peerClosed) return { kind: "closed" };
      const leftMs = deadline - performance.now();
      if (leftMs <= 0) return null;
      await raceTimeout(new Promise<void>((resolveWake) => (this.waiter = resolveWake)), leftMs);
      this.waiter = null;
    }
  }

  /** Sends the frame and resolves with what happened; the response payload (header included) when answered. */
  async exchange(frame: FuzzFrame, timeoutMs: number): Promise<{ outcome: Outcome; payload?: Uint8Array }> {
    if (!this.write(frame.bytes)) return { outcome: "closed" };
    if (frame.abandon) {
      const result = await this.next(ABANDON_WAIT_MS);
      this.close();
      return { outcome: result?.kind === "closed" ? "closed" : "abandoned" };
    }
    if (frame.expect === "no-answer") {
      // acks=0: no reply comes. The broker may close the connection (Kafka's way to report an acks=0
      // failure); an ApiVersions v0 behind it gives an answer to wait for, since replies keep their order.
      if (!this.write(PING_FRAME)) return { outcome: "closed" };
      const result = await this.next(timeoutMs);
      if (result === null) {
        this.close();
        return { outcome: "timeout" };
      }
      return { outcome: result.kind === "closed" ? "closed" : "silent" };
    }
    // A Fetch may rightly wait up to its maxWaitMs, a group member for its group: such a frame gets a
    // short look and is then dropped (no hang can be told apart from the wait); others get the timeout.
    const longPoll = frame.mayWaitMs >= LONG_POLL_PATIENCE_MS;
    const result = await this.next(longPoll ? LONG_POLL_PATIENCE_MS : timeoutMs + frame.mayWaitMs);
    if (result === null) {
      this.close();
      return { outcome: longPoll ? "long-poll" : "timeout" };
    }
    return result.kind === "closed" ? { outcome: "closed" } : { outcome: "answered", payload: result.payload };
  }

  /**
   * Sends several frames in one write, as a client pipelining requests does, and judges the replies in
   * order: every frame before the first undecodable one is answered, in order (the correlation ids say so);
   * at the undecodable one the connection closes (answers still queued may be dropped with it).
   */
  async pipeline(frames: FuzzFrame[], timeoutMs: number, apis: AdvertisedApis, summary: Summary): Promise<void> {
    summary.pipelines++;
    const total = frames.reduce((sum, frame) => sum + frame.bytes.byteLength, 0);
    const bytes = new Uint8Array(total);
    let at = 0;
    for (const frame of frames) {
      bytes.set(frame.bytes, at);
      at += frame.bytes.byteLength;
    }
    const closeAt = frames.findIndex((frame) => frame.expect === "close");
    const answered = closeAt === -1 ? frames.length : closeAt;
    const written = this.write(bytes);
    for (let i = 0; i < frames.length; i++) {
      const frame = frames[i]!;
      let outcome: Outcome;
      let finding: string | null = null;
      let body: unknown;
      const event = !written || this.closed && this.responses.length === 0 ? { kind: "closed" as const } : await this.next(timeoutMs + frame.mayWaitMs);
      if (event === null) {
        outcome = "timeout";
        finding = `pipelined frame ${i + 1} of ${frames.length}: no answer within the request timeout`;
        this.close();
      } else if (event.kind === "answered") {
        outcome = "answered";
        const judged = i < answered ? judgeAnswer(frame, event.payload, apis, summary) : { problem: `pipelined frame ${i + 1} of ${frames.length}: answered after a frame that does not decode` };
        finding = judged.problem;
        body = judged.body;
      } else {
        outcome = "closed";
        if (closeAt === -1) finding = `pipelined frame ${i + 1} of ${frames.length}: connection closed, but every frame of the pipeline decodes`;
      }
      record(summary, frame, outcome, finding ? `${finding} (pipelined)` : null, body);
      if (event === null || event.kind === "closed" || (i >= answered && outcome === "answered")) {
        for (const rest of frames.slice(i + 1)) record(summary, rest, "closed", null);
        break;
      }
    }
    if (closeAt !== -1 && !this.closed) {
      // The undecodable frame must still close the connection.
      const event = await this.next(timeoutMs);
      if (event?.kind !== "closed") summary.findings.push({ frame: frames[closeAt]!, what: "pipelined: the connection stayed open after a frame that does not decode" });
      this.close();
    }
  }

  private write(bytes: Uint8Array): boolean {
    if (this.closed || !this.socket) return false;
    // Frames are small next to the socket buffer, so a short write means the socket is gone.
    const written = this.socket.write(bytes);
    return written === bytes.byteLength;
  }

  close(): void {
    this.waiter = null;
    if (!this.closed) {
      this.closed = true;
      this.socket?.end();
    }
  }
}

function record(summary: Summary, frame: FuzzFrame, outcome: Outcome, finding: string | null, body?: unknown): void {
  summary.ledger.note(frame, outcome, body);
  summary.framesSent++;
  summary.count(summary.framesByApi, apiSchemas.get(frame.apiKey)!.name);
  summary.count(summary.mutations, frame.mutation);
  summary.count(summary.outcomes, outcome);
  if (finding) summary.findings.push({ frame, what: finding });
}

const PING_CORRELATION_ID = 0x7ffffff0;
const PING_FRAME = (() => {
  // ApiVersions v0: header v1 (key, version, correlation id, client id "fuzz"), empty body.
  const clientId = new TextEncoder().encode("fuzz");
  const out = new Uint8Array(4 + 10 + clientId.byteLength);
  const view = dataViewOf(out);
  view.setInt32(0, out.byteLength - 4);
  view.setInt16(4, ApiKey.ApiVersions);
  view.setInt16(6, 0);
  view.setInt32(8, PING_CORRELATION_ID);
  view.setInt16(12, clientId.byteLength);
  out.set(clientId, 14);
  return out;
})();

function raceTimeout<T>(promise: Promise<T>, timeoutMs: number): Promise<T | null> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<null>((resolveTimeout) => (timer = setTimeout(() => resolveTimeout(null), timeoutMs)));
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

// ---- judging answers ----

/** Decodes a response the way a client would; error codes are counted, an undecodable response is a finding. */
interface Judged {
  problem: string | null;
  /** The decoded response body, when it decoded. */
  body?: unknown;
}

function judgeAnswer(frame: FuzzFrame, payload: Uint8Array, apis: AdvertisedApis, summary: Summary): Judged {
  const apiKey = (frame.bytes[4]! << 8) | frame.bytes[5]!;
  const apiVersion = ((frame.bytes[6]! << 8) | frame.bytes[7]!) << 16 >> 16;
  const schema = apiSchemas.get(apiKey);
  if (!schema) return { problem: `answered an unknown API key ${apiKey}` };
  // An ApiVersions request of a version the broker does not advertise is answered in v0 (KIP-511).
  const range = apis.get(apiKey);
  const version = range && apiVersion >= range.minVersion && apiVersion <= range.maxVersion ? apiVersion : 0;
  const expectedCorrelationId = dataViewOf(frame.bytes).getInt32(8);
  try {
    const reader = new Reader(payload);
    const header = readResponseHeader(reader, responseHeaderVersion(apiKey, version));
    if (header.correlationId !== expectedCorrelationId) return { problem: `answer has correlation id ${header.correlationId}, request had ${expectedCorrelationId}` };
    const body = schema.readResponse(reader, version);
    if (reader.remaining !== 0) return { problem: `answer has ${reader.remaining} trailing byte(s)` };
    countErrorCodes(body, summary.errorCodes, summary, 0);
    if (apiKey === ApiKey.Produce) countErrorCodes(body, summary.produceCodes, summary, 0);
    return { problem: null, body };
  } catch (error) {
    return { problem: `answer does not decode as ${schema.name} v${version}: ${error instanceof Error ? error.message : String(error)}` };
  }
}

function countErrorCodes(value: unknown, into: Map<string, number>, summary: Summary, depth: number): void {
  if (depth > 8 || value === null || typeof value !== "object" || value instanceof Uint8Array) return;
  if (Array.isArray(value)) {
    for (const item of value) countErrorCodes(item, into, summary, depth + 1);
    return;
  }
  for (const [key, field] of Object.entries(value)) {
    if (key === "errorCode" && typeof field === "number") summary.count(into, errorName(field));
    else countErrorCodes(field, into, summary, depth + 1);
  }
}

/** What the frame's outcome says about the broker, or null when it did what dispatch must do. */
function judgeOutcome(frame: FuzzFrame, outcome: Outcome, payload: Uint8Array | undefined, apis: AdvertisedApis, summary: Summary): Judged {
  if (frame.abandon || outcome === "long-poll") return { problem: null };
  if (outcome === "timeout") return { problem: `no answer within the request timeout (expected: ${frame.expect})` };
  if (frame.expect === "answer") {
    if (outcome === "closed") return { problem: "connection closed, but the request decodes: an error code was due" };
    return judgeAnswer(frame, payload!, apis, summary);
  }
  if (frame.expect === "close" && outcome === "answered") return { problem: "answered a request that does not decode" };
  return { problem: null };
}

// ---- acknowledged appends ----

/**
 * Between two checks, a partition's log end offset must grow by exactly the offsets of the batches the broker
 * acknowledged (Produce answered NONE): more means a refused batch was stored anyway (a retrying client gets
 * duplicates), less means an acknowledged one was lost. A partition is left out of a window when its outcome
 * cannot be known: a Produce for it got no answer (acks=0, closed, timed out, dropped), an idempotent or
 * malformed batch was acknowledged (duplicates are acknowledged without an append), or its topic was named
 * in a DeleteTopics. A late append may land after the check, so such partitions stay out of the next window too.
 */
class AppendLedger {
  private acknowledged = new Map<string, number>();
  private unsure = new Set<string>();
  private unsureNext = new Set<string>();
  private logEnds: Map<string, number> | null = null;

  note(frame: FuzzFrame, outcome: Outcome, body: unknown): void {
    for (const topic of frame.effects.deletedTopics) this.doubt(`${topic}\0*`);
    if (frame.effects.appends.length === 0) return;
    const answers = outcome === "answered" && body ? produceAnswers(body) : null;
    const seen = new Set<string>();
    for (const append of frame.effects.appends) {
      const key = `${append.topic}\0${append.partition}`;
      const answer = answers?.get(key);
      // Named twice in one request, or no answer for it: what was stored cannot be told.
      if (seen.has(key) || answer === undefined || (answer === ErrorCode.NONE && append.offsets < 0)) {
        this.doubt(key);
      } else if (answer === ErrorCode.NONE) {
        this.acknowledged.set(key, (this.acknowledged.get(key) ?? 0) + append.offsets);
      }
      seen.add(key);
    }
  }

  private doubt(key: string): void {
    this.unsure.add(key);
    this.unsureNext.add(key);
  }

  /** Compares the log end offsets now with the last check's and the acknowledged appends; starts a new window. */
  async check(client: KafkaConnection, summary: Summary): Promise<string[]> {
    const now = await logEndOffsets(client);
    const problems: string[] = [];
    if (this.logEnds) {
      for (const [key, logEnd] of now) {
        const before = this.logEnds.get(key);
        const topic = key.split("\0")[0]!;
        // Internal topics (__consumer_offsets) are also written by the broker itself.
        if (before === undefined || topic.startsWith("__") || this.unsure.has(key) || this.unsure.has(`${topic}\0*`)) continue;
        const acknowledged = this.acknowledged.get(key) ?? 0;
        summary.ledgerPartitionsChecked++;
        if (logEnd - before !== acknowledged) problems.push(`${key.replace("\0", "-")}: log end offset moved ${before} -> ${logEnd}, acknowledged appends ${acknowledged}`);
      }
    }
    this.logEnds = now;
    this.acknowledged = new Map();
    this.unsure = this.unsureNext;
    this.unsureNext = new Set();
    return problems;
  }
}

/** Produce's answer per partition ("topic\0partition" -> error code); a partition answered twice counts as unknown. */
function produceAnswers(body: unknown): Map<string, number | undefined> {
  const answers = new Map<string, number | undefined>();
  const response = body as { responses?: { name: string; partitionResponses: { index: number; errorCode: number }[] }[] };
  for (const topic of response.responses ?? []) {
    for (const partition of topic.partitionResponses) {
      const key = `${topic.name}\0${partition.index}`;
      answers.set(key, answers.has(key) ? undefined : partition.errorCode);
    }
  }
  return answers;
}

/** Every partition's log end offset (the high watermark of a single node), by "topic\0partition". */
async function logEndOffsets(client: KafkaConnection): Promise<Map<string, number>> {
  const metadata = await client.request(ApiKey.Metadata, 9, { topics: null, allowAutoTopicCreation: false });
  const topics = metadata.topics
    .filter((topic: { errorCode: number }) => topic.errorCode === ErrorCode.NONE)
    .map((topic: { name: string; partitions: { partitionIndex: number }[] }) => ({ name: topic.name, partitions: topic.partitions.map((partition) => ({ partitionIndex: partition.partitionIndex, timestamp: -1 })) }));
  const offsets = new Map<string, number>();
  if (topics.length === 0) return offsets;
  const answer = await client.request(ApiKey.ListOffsets, 1, { replicaId: -1, topics });
  for (const topic of answer.topics) {
    for (const partition of topic.partitions) if (partition.errorCode === ErrorCode.NONE) offsets.set(`${topic.name}\0${partition.partitionIndex}`, partition.offset);
  }
  return offsets;
}

// ---- the broker under test ----

interface Target {
  host: string;
  port: number;
  /** Present when the fuzzer started the broker. */
  process: BrokerChild | null;
}

class BrokerChild {
  readonly dataDir: string;
  readonly port: number;
  private child: Subprocess<"ignore", "pipe", "pipe"> | null = null;
  log = "";
  internalErrors: string[] = [];
  private readonly configPath: string;

  constructor() {
    this.dataDir = mkdtempSync(join(tmpdir(), "bunka-fuzz-"));
    this.configPath = `${this.dataDir}.properties`;
    this.port = freePort();
    // No initial rebalance delay: fuzzed JoinGroups are answered at once.
    writeFileSync(this.configPath, "group.initial.rebalance.delay.ms=0\n");
  }

  get exitCode(): number | null {
    return this.child?.exitCode ?? null;
  }

  get alive(): boolean {
    return this.child !== null && this.child.exitCode === null && this.child.signalCode === null;
  }

  describeExit(): string {
    return `exit code ${this.child?.exitCode ?? "-"}, signal ${this.child?.signalCode ?? "-"}`;
  }

  async start(): Promise<void> {
    const args = [process.execPath, join(repoRoot, "src/main.ts"), "--port", String(this.port), "--data-dir", this.dataDir, "--config", this.configPath];
    const child = Bun.spawn(args, { cwd: repoRoot, stdin: "ignore", stdout: "pipe", stderr: "pipe", env: brokerProcessEnv() });
    this.child = child;
    let ready: () => void = () => undefined;
    const readiness = new Promise<void>((resolveReady) => (ready = resolveReady));
    void this.collect(child.stdout, ready);
    void this.collect(child.stderr, ready);
    const deadline = new Promise<never>((_, reject) => setTimeout(() => reject(new Error(`broker not ready within ${READY_TIMEOUT_MS} ms`)), READY_TIMEOUT_MS));
    const exited = child.exited.then((code) => {
      throw new Error(`broker exited with ${code} before it was ready`);
    });
    await Promise.race([readiness, deadline, exited]);
  }

  private async collect(stream: ReadableStream<Uint8Array>, ready: () => void): Promise<void> {
    const decoder = new TextDecoder();
    let pending = "";
    let stackLines = -1;
    for await (const chunk of stream) {
      pending += decoder.decode(chunk);
      const lines = pending.split("\n");
      pending = lines.pop()!;
      for (const line of lines) {
        if (line.includes(" ready on ")) ready();
        // A handler that threw something other than a Kafka error: the connection was closed for a bug.
        // The stack lines that follow are kept with it (a few: where it threw).
        if (line.includes("internal error on connection") && this.internalErrors.length < 1000) {
          this.internalErrors.push(line);
          stackLines = 0;
        } else if (/^\s+at /.test(line) && stackLines >= 0 && stackLines < 6) {
          this.internalErrors[this.internalErrors.length - 1] += `\n      ${line.trim()}`;
          stackLines++;
        } else {
          stackLines = -1;
        }
        this.log += `${line}\n`;
      }
      // Bounded: keep the tail of the log.
      if (this.log.length > 2_000_000) this.log = this.log.slice(-1_000_000);
    }
  }

  /** SIGTERM and wait: the exit code of a clean shutdown is 0. */
  async stop(): Promise<number | null> {
    const child = this.child;
    if (!child) return 0;
    child.kill("SIGTERM");
    const code = await raceTimeout(child.exited, STOP_TIMEOUT_MS);
    if (code === null) child.kill("SIGKILL");
    await child.exited;
    this.child = null;
    return code;
  }

  async cleanup(keepData: boolean): Promise<void> {
    if (this.child) {
      this.child.kill("SIGKILL");
      await this.child.exited;
      this.child = null;
    }
    if (keepData) {
      writeFileSync(`${this.dataDir}.log`, this.log);
      return;
    }
    rmSync(this.configPath, { force: true });
    rmSync(this.dataDir, { recursive: true, force: true });
  }
}

function freePort(): number {
  const listener = Bun.listen({ hostname: "127.0.0.1", port: 0, socket: { data() {} } });
  const port = listener.port;
  listener.stop(true);
  return port;
}

// ---- setup and checks through the repo's client ----

function canaryRecords(partition: number): { key: string; value: string }[] {
  const records: { key: string; value: string }[] = [];
  for (let i = 0; i < CANARY_BATCHES_PER_PARTITION * CANARY_RECORDS_PER_BATCH; i++) records.push({ key: `canary-${partition}-${i}`, value: `value ${partition}/${i} ${"x".repeat(i % 50)}` });
  return records;
}

async function withClient<T>(target: Target, work: (client: KafkaConnection) => Promise<T>): Promise<T> {
  const client = await KafkaConnection.connect({ host: target.host, port: target.port, clientId: "bunka-fuzz-check", requestTimeoutMs: 30_000 });
  try {
    return await work(client);
  } finally {
    client.close();
  }
}

const FUZZ_TOPIC_SPECS = [
  { name: "fuzz-t0", numPartitions: 4, replicationFactor: 1, configs: [] },
  { name: "fuzz-t1", numPartitions: 2, replicationFactor: 1, configs: [] },
  { name: "fuzz-compact", numPartitions: 4, replicationFactor: 1, configs: [{ name: "cleanup.policy", value: "compact" }] },
  { name: "fuzz-lz4", numPartitions: 4, replicationFactor: 1, configs: [{ name: "compression.type", value: "lz4" }] },
];

/** Creates the fuzz topics again (fuzzed DeleteTopics remove them; existing ones are fine) so that frames keep reaching partitions. */
async function ensureTopics(client: KafkaConnection, topics: object[]): Promise<void> {
  const created = await client.request(ApiKey.CreateTopics, 5, { topics, timeoutMs: 30_000, validateOnly: false });
  for (const topic of created.topics) {
    if (topic.errorCode !== ErrorCode.NONE && topic.errorCode !== ErrorCode.TOPIC_ALREADY_EXISTS) throw new Error(`creating ${topic.name}: ${errorName(topic.errorCode)} ${topic.errorMessage ?? ""}`);
  }
}

/** Creates the canary and fuzz topics and writes the canary records, each batch with another codec. */
async function setUp(target: Target): Promise<void> {
  await withClient(target, async (client) => {
    await ensureTopics(client, [{ name: CANARY_TOPIC, numPartitions: CANARY_PARTITIONS, replicationFactor: 1, configs: [] }, ...FUZZ_TOPIC_SPECS]);
    const codecs = [CompressionType.NONE, CompressionType.GZIP, CompressionType.LZ4, CompressionType.ZSTD];
    for (let partition = 0; partition < CANARY_PARTITIONS; partition++) {
      const records = canaryRecords(partition);
      for (let b = 0; b < CANARY_BATCHES_PER_PARTITION; b++) {
        const slice = records.slice(b * CANARY_RECORDS_PER_BATCH, (b + 1) * CANARY_RECORDS_PER_BATCH);
        const batch = buildBatch({
          compression: codecs[b % codecs.length],
          records: slice.map((record) => ({ key: new TextEncoder().encode(record.key), value: new TextEncoder().encode(record.value), headers: [] })),
        });
        const response = await client.request(ApiKey.Produce, 7, { acks: -1, timeoutMs: 30_000, topicData: [{ name: CANARY_TOPIC, partitionData: [{ index: partition, records: batch }] }] });
        const answer = response.responses[0].partitionResponses[0];
        if (answer.errorCode !== ErrorCode.NONE) throw new Error(`writing the canary: ${errorName(answer.errorCode)}`);
        if (answer.baseOffset !== b * CANARY_RECORDS_PER_BATCH) throw new Error(`canary batch ${b} of partition ${partition} got offset ${answer.baseOffset}: the canary topic is not new`);
      }
    }
  });
}

/** The broker answers ApiVersions and Metadata, and the canary's first records read back exactly as written. */
async function check(target: Target): Promise<string | null> {
  if (target.process && !target.process.alive) return `broker process died (${target.process.describeExit()})`;
  try {
    return await withClient(target, async (client) => {
      const versions = await client.request(ApiKey.ApiVersions, 3, { clientSoftwareName: "bunka-fuzz", clientSoftwareVersion: "1" });
      if (versions.errorCode !== ErrorCode.NONE) return `ApiVersions answered ${errorName(versions.errorCode)}`;
      const metadata = await client.request(ApiKey.Metadata, 9, { topics: [{ name: CANARY_TOPIC }], allowAutoTopicCreation: false });
      const topic = metadata.topics[0];
      if (topic.errorCode !== ErrorCode.NONE) return `Metadata for ${CANARY_TOPIC}: ${errorName(topic.errorCode)}`;
      if (topic.partitions.length !== CANARY_PARTITIONS) return `Metadata shows ${topic.partitions.length} canary partitions`;
      for (let partition = 0; partition < CANARY_PARTITIONS; partition++) {
        const problem = await checkCanaryPartition(client, partition);
        if (problem) return problem;
      }
      await ensureTopics(client, FUZZ_TOPIC_SPECS);
      return null;
    });
  } catch (error) {
    return `check failed: ${error instanceof Error ? error.message : String(error)}`;
  }
}

async function checkCanaryPartition(client: KafkaConnection, partition: number): Promise<string | null> {
  const expected = canaryRecords(partition);
  const fetched = await client.request(ApiKey.Fetch, 11, {
    replicaId: -1, maxWaitMs: 0, minBytes: 0, maxBytes: 16 << 20, isolationLevel: 0, sessionId: 0, sessionEpoch: -1,
    topics: [{ topic: CANARY_TOPIC, partitions: [{ partition, fetchOffset: 0, currentLeaderEpoch: -1, logStartOffset: -1, partitionMaxBytes: 16 << 20 }] }],
    forgottenTopicsData: [], rackId: "",
  });
  const answer = fetched.responses[0].partitions[0];
  if (answer.errorCode !== ErrorCode.NONE) return `canary partition ${partition}: Fetch answered ${errorName(answer.errorCode)}`;
  const bytes: Uint8Array = answer.records ?? new Uint8Array(0);
  const records: { key: string; value: string; offset: number }[] = [];
  const decoder = new TextDecoder();
  let position = 0;
  // Bounded by the fetched bytes: every batch is at least LOG_OVERHEAD long.
  while (position + LOG_OVERHEAD <= bytes.byteLength && records.length < expected.length) {
    const size = batchSizeBytes(dataViewOf(bytes.subarray(position)), 0);
    if (size < LOG_OVERHEAD || position + size > bytes.byteLength) break;
    for (const record of await readBatchRecords(bytes.subarray(position, position + size))) {
      records.push({ key: record.key ? decoder.decode(record.key) : "", value: record.value ? decoder.decode(record.value) : "", offset: record.offset });
    }
    position += size;
  }
  if (records.length < expected.length) return `canary partition ${partition}: read ${records.length} of ${expected.length} records`;
  for (let i = 0; i < expected.length; i++) {
    const got = records[i]!;
    if (got.offset !== i || got.key !== expected[i]!.key || got.value !== expected[i]!.value) return `canary partition ${partition}: record ${i} reads back as offset ${got.offset} key "${got.key}"`;
  }
  return null;
}

/**
 * Reads every partition of every topic from its start and decodes each batch as a consumer would: the CRC
 * matches, the section decompresses, it holds exactly recordsCount records that end where the section ends,
 * and their offset deltas increase up to lastOffsetDelta. A batch that fails was stored although it is bad.
 * Each problem is reported once per partition (the first bad batch); bounded fetches per partition.
 */
async function checkStoredBatches(client: KafkaConnection, target: Target, summary: Summary): Promise<{ key: string; what: string }[]> {
  const problems: { key: string; what: string }[] = [];
  const metadata = await client.request(ApiKey.Metadata, 9, { topics: null, allowAutoTopicCreation: false });
  for (const topic of metadata.topics) {
    if (topic.errorCode !== ErrorCode.NONE) continue;
    for (const partition of topic.partitions) {
      const problem = await checkStoredPartition(client, topic.name, partition.partitionIndex, summary);
      if (problem) problems.push({ key: `${topic.name}-${partition.partitionIndex}@${problem.offset}`, what: `${topic.name}-${partition.partitionIndex}: ${problem.what}` });
    }
  }
  if (target.process && !target.process.alive) problems.push({ key: "died", what: "the broker died while its logs were read" });
  return problems;
}

const STORED_FETCHES_PER_PARTITION_MAX = 64;
const STORED_FETCH_BYTES_MAX = 8 << 20;

async function checkStoredPartition(client: KafkaConnection, topic: string, partition: number, summary: Summary): Promise<{ offset: number; what: string } | null> {
  const earliest = await client.request(ApiKey.ListOffsets, 1, { replicaId: -1, topics: [{ name: topic, partitions: [{ partitionIndex: partition, timestamp: -2 }] }] });
  const start = earliest.topics[0].partitions[0];
  if (start.errorCode !== ErrorCode.NONE) return start.errorCode === ErrorCode.KAFKA_STORAGE_ERROR ? { offset: -1, what: "partition offline (KAFKA_STORAGE_ERROR)" } : null;
  let offset: number = start.offset;
  for (let fetches = 0; fetches < STORED_FETCHES_PER_PARTITION_MAX; fetches++) {
    const fetched = await client.request(ApiKey.Fetch, 11, {
      replicaId: -1, maxWaitMs: 0, minBytes: 0, maxBytes: STORED_FETCH_BYTES_MAX, isolationLevel: 0, sessionId: 0, sessionEpoch: -1,
      topics: [{ topic, partitions: [{ partition, fetchOffset: offset, currentLeaderEpoch: -1, logStartOffset: -1, partitionMaxBytes: STORED_FETCH_BYTES_MAX }] }],
      forgottenTopicsData: [], rackId: "",
    });
    const answer = fetched.responses[0].partitions[0];
    // Retention or DeleteRecords moved the start, or the topic went away: nothing to judge.
    if (answer.errorCode === ErrorCode.OFFSET_OUT_OF_RANGE || answer.errorCode === ErrorCode.UNKNOWN_TOPIC_OR_PARTITION) return null;
    if (answer.errorCode !== ErrorCode.NONE) return { offset, what: `Fetch at offset ${offset} answered ${errorName(answer.errorCode)}` };
    const bytes: Uint8Array = answer.records ?? new Uint8Array(0);
    let position = 0;
    let batches = 0;
    while (position + RECORDS_OFFSET <= bytes.byteLength) {
      const size = batchSizeBytes(dataViewOf(bytes.subarray(position)), 0);
      if (size < RECORDS_OFFSET) return { offset, what: `batch at byte ${position} of the fetch from ${offset} has length ${size}` };
      if (position + size > bytes.byteLength) break;
      const batch = bytes.subarray(position, position + size);
      const problem = await readableBatchProblem(batch);
      const view = dataViewOf(batch);
      const baseOffset = readInt64(view, 0);
      if (problem) return { offset: baseOffset, what: `batch at offset ${baseOffset}: ${problem}` };
      offset = baseOffset + view.getInt32(LAST_OFFSET_DELTA_OFFSET) + 1;
      position += size;
      batches++;
      summary.storedBatchesRead++;
    }
    if (batches === 0 || offset >= answer.highWatermark) return null;
  }
  return null;
}

/** Why a consumer could not read this stored batch, or null. */
async function readableBatchProblem(batch: Uint8Array): Promise<string | null> {
  const view = dataViewOf(batch);
  if (view.getInt8(MAGIC_OFFSET) !== 2) return `magic ${view.getInt8(MAGIC_OFFSET)}`;
  if (view.getUint32(CRC_OFFSET) !== computeBatchCrc(batch, 0, batch.byteLength)) return "CRC mismatch";
  const codec = view.getInt16(ATTRIBUTES_OFFSET) & COMPRESSION_CODEC_MASK;
  const count = view.getInt32(RECORDS_COUNT_OFFSET);
  const lastOffsetDelta = view.getInt32(LAST_OFFSET_DELTA_OFFSET);
  let section: Uint8Array;
  try {
    section = await decompressBatchRecords(batch);
  } catch (error) {
    return `codec ${codec} section does not decompress: ${error instanceof Error ? error.message : String(error)}`;
  }
  if (count < 0 || count > section.byteLength) return `recordsCount ${count} for a ${section.byteLength}-byte section`;
  const reader = new RecordReader(section, count);
  let previousDelta = -1;
  try {
    while (reader.next()) {
      if (reader.offsetDelta <= previousDelta || reader.offsetDelta > lastOffsetDelta) return `offset delta ${reader.offsetDelta} after ${previousDelta} (lastOffsetDelta ${lastOffsetDelta})`;
      previousDelta = reader.offsetDelta;
    }
  } catch (error) {
    return `records do not decode (codec ${codec}, recordsCount ${count}): ${error instanceof Error ? error.message : String(error)}`;
  }
  if (reader.position !== section.byteLength) return `${section.byteLength - reader.position} byte(s) after the last of ${count} records (codec ${codec})`;
  return null;
}

/** kcat (librdkafka) reads the canary the way a real consumer does, when it is installed. */
async function checkWithKcat(target: Target): Promise<string | null> {
  if (!Bun.which("kcat")) return null;
  for (let partition = 0; partition < CANARY_PARTITIONS; partition++) {
    const child = Bun.spawn(["kcat", "-C", "-b", `${target.host}:${target.port}`, "-t", CANARY_TOPIC, "-p", String(partition), "-o", "beginning", "-c", String(CANARY_BATCHES_PER_PARTITION * CANARY_RECORDS_PER_BATCH), "-e", "-q", "-f", "%k=%s\\n"], { stdout: "pipe", stderr: "pipe" });
    const exit = await raceTimeout(child.exited, 30_000);
    if (exit === null) child.kill("SIGKILL");
    const output = await new Response(child.stdout).text();
    const expected = canaryRecords(partition).map((record) => `${record.key}=${record.value}\n`).join("");
    if (output !== expected) return `kcat reads canary partition ${partition} differently (exit ${exit}): ${output.slice(0, 200)}${(await new Response(child.stderr).text()).slice(0, 300)}`;
  }
  return null;
}

async function advertisedApis(target: Target): Promise<AdvertisedApis> {
  return withClient(target, async (client) => {
    const versions = await client.request(ApiKey.ApiVersions, 3, { clientSoftwareName: "bunka-fuzz", clientSoftwareVersion: "1" });
    const apis = new Map<number, { minVersion: number; maxVersion: number }>();
    for (const api of versions.apiKeys) if (apiSchemas.has(api.apiKey)) apis.set(api.apiKey, { minVersion: api.minVersion, maxVersion: api.maxVersion });
    return apis;
  });
}

// ---- the run ----

async function sendFrames(target: Target, options: FuzzOptions, apis: AdvertisedApis, first: number, end: number, summary: Summary): Promise<void> {
  const targets: FuzzTargets = { canaryTopic: CANARY_TOPIC, topics: FUZZ_TOPICS, groups: FUZZ_GROUPS, clockMs: options.clockMs };
  // Frame i always goes to lane i % connections: a seed replays the same frames on the same lanes.
  const lanes = Array.from({ length: options.connections }, async (_, lane) => {
    let connection: FuzzConnection | null = null;
    let index = first + lane;
    while (index < end) {
      if (!connection || connection.closed) {
        connection = await FuzzConnection.open(target.host, target.port);
        summary.connectionsOpened++;
      }
      const burst = pipelineAt(options, apis, targets, index, end);
      if (burst.length > 1) {
        await connection.pipeline(burst, options.requestTimeoutMs, apis, summary);
        index += burst.length * options.connections;
        continue;
      }
      const frame = makeFrame(options.seed, index, apis, targets);
      const { outcome, payload } = await connection.exchange(frame, options.requestTimeoutMs);
      const judged = judgeOutcome(frame, outcome, payload, apis, summary);
      record(summary, frame, outcome, judged.problem, judged.body);
      index += options.connections;
    }
    connection?.close();
  });
  await Promise.all(lanes);
}

const PIPELINE_ONE_IN = 12;
const PIPELINE_FRAMES_MAX = 8;

/**
 * The frames of this lane sent together from `index` on (one in PIPELINE_ONE_IN positions starts a pipeline
 * of 2-8), chosen from the seed alone. A pipeline stops before a frame that is judged alone: one with a
 * lying size, a long poll, or acks=0.
 */
function pipelineAt(options: FuzzOptions, apis: AdvertisedApis, targets: FuzzTargets, index: number, end: number): FuzzFrame[] {
  const choice = frameSeed(options.seed ^ 0x5bd1e995, index);
  if (choice % PIPELINE_ONE_IN !== 0) return [];
  const length = 2 + ((choice >>> 8) % (PIPELINE_FRAMES_MAX - 1));
  const frames: FuzzFrame[] = [];
  for (let i = index; i < end && frames.length < length; i += options.connections) {
    const frame = makeFrame(options.seed, i, apis, targets);
    if (frame.abandon || frame.expect === "no-answer" || frame.mayWaitMs >= LONG_POLL_PATIENCE_MS) break;
    frames.push(frame);
  }
  return frames;
}

function printSummary(options: FuzzOptions, summary: Summary, elapsedMs: number, target: Target): void {
  const sorted = (map: Map<string, number>) => [...map.entries()].sort((a, b) => b[1] - a[1]).map(([key, count]) => `${key} ${count}`).join(", ");
  console.log(`fuzz: ${summary.framesSent} frames in ${(elapsedMs / 1000).toFixed(1)} s over ${summary.connectionsOpened} connections, ${summary.pipelines} pipelines (seed ${options.seed})`);
  console.log(`  outcomes:    ${sorted(summary.outcomes)}`);
  console.log(`  by API:      ${sorted(summary.framesByApi)}`);
  console.log(`  mutations:   ${sorted(summary.mutations)}`);
  console.log(`  error codes: ${sorted(summary.errorCodes)}`);
  console.log(`  produce:     ${sorted(summary.produceCodes)}`);
  console.log(`  checks passed: ${summary.checksPassed}, stored batches read back and decoded: ${summary.storedBatchesRead}, partition windows whose log end matched the acknowledged appends: ${summary.ledgerPartitionsChecked - summary.ledgerFindings.length}`);
  const internal = target.process?.internalErrors ?? [];
  if (internal.length > 0) {
    console.log(`  broker internal errors: ${internal.length}`);
    for (const line of internal.slice(0, 5)) console.log(`    ${line.slice(0, 1200)}`);
  }
  if (summary.ledgerFindings.length > 0) {
    console.log(`  log end offsets that moved by other than the acknowledged appends: ${summary.ledgerFindings.length}`);
    for (const what of summary.ledgerFindings.slice(0, FINDINGS_SHOWN_MAX)) console.log(`    ${what}`);
  }
  if (summary.storedFindings.length > 0) {
    console.log(`  stored batches a consumer cannot read: ${summary.storedFindings.length}`);
    for (const what of summary.storedFindings.slice(0, FINDINGS_SHOWN_MAX)) console.log(`    ${what}`);
  }
  if (summary.findings.length > 0) {
    console.log(`  findings: ${summary.findings.length} (replay one: bun run fuzz --seed ${options.seed} --start-frame I --frames 1)`);
    for (const { frame, what } of summary.findings.slice(0, FINDINGS_SHOWN_MAX)) {
      console.log(`    frame ${frame.index}: ${apiSchemas.get(frame.apiKey)!.name} v${frame.apiVersion} (${frame.mutation}): ${what}`);
    }
  }
}

export async function runFuzz(options: FuzzOptions): Promise<boolean> {
  console.log(`fuzz: seed ${options.seed}, frames ${options.startFrame}..${options.startFrame + options.frames - 1}, ${options.connections} connections, clock ${options.clockMs}`);
  const summary = new Summary();
  let target: Target;
  let child: BrokerChild | null = null;
  if (options.bootstrap) {
    const [host, port] = options.bootstrap.split(":");
    target = { host: host!, port: Number(port), process: null };
  } else {
    child = new BrokerChild();
    target = { host: "127.0.0.1", port: child.port, process: child };
  }
  const failures: string[] = [];
  const startedAt = performance.now();
  try {
    if (child) {
      await child.start();
      console.log(`fuzz: broker started on 127.0.0.1:${child.port}, data dir ${child.dataDir}`);
    }
    await setUp(target);
    const apis = await advertisedApis(target);
    // The first window starts from the log end offsets after set-up.
    await withClient(target, (client) => summary.ledger.check(client, summary));
    const end = options.startFrame + options.frames;
    for (let first = options.startFrame; first < end; first += options.checkEvery) {
      if (performance.now() - startedAt > options.timeLimitMs) {
        console.log(`fuzz: time limit of ${options.timeLimitMs} ms reached after ${summary.framesSent} frames`);
        break;
      }
      const last = Math.min(end, first + options.checkEvery) - 1;
      await sendFrames(target, options, apis, first, last + 1, summary);
      const problem = await check(target);
      if (problem) {
        failures.push(`after frame ${last}: ${problem}`);
        break;
      }
      summary.checksPassed++;
      const stored = await withClient(target, (client) => checkStoredBatches(client, target, summary));
      const ledgerProblems = await withClient(target, (client) => summary.ledger.check(client, summary));
      for (const what of ledgerProblems) if (summary.ledgerFindings.length < 1000) summary.ledgerFindings.push(`after frames ${first}..${last}: ${what}`);
      for (const { key, what } of stored) {
        if (summary.storedReported.has(key) || summary.storedFindings.length >= 1000) continue;
        summary.storedReported.add(key);
        summary.storedFindings.push(`after frames ${first}..${last}: ${what}`);
      }
    }
    if (failures.length === 0) {
      const kcatProblem = await checkWithKcat(target);
      if (kcatProblem) failures.push(kcatProblem);
    }
    if (child && failures.length === 0) failures.push(...(await restartCheck(target, child)));
  } catch (error) {
    // A dead broker is the cause worth naming; the client error it caused is secondary.
    if (child && !child.alive) failures.push(`broker process died (${child.describeExit()})`);
    failures.push(`run failed: ${error instanceof Error ? error.message : String(error)}`);
  } finally {
    printSummary(options, summary, performance.now() - startedAt, target);
    const findings = summary.findings.length + summary.storedFindings.length + summary.ledgerFindings.length + (child?.internalErrors.length ?? 0);
    if (findings > 0 && !options.allowFindings) failures.push(`${findings} mishandled frame(s) (see findings above; --allow-findings to ignore)`);
    const keep = options.keepData || failures.length > 0;
    if (child) {
      if (failures.length > 0) console.log(`fuzz: broker log tail:\n${child.log.slice(-4000)}`);
      await child.cleanup(keep);
      if (keep) console.log(`fuzz: kept data dir ${child.dataDir} and log ${child.dataDir}.log`);
    }
  }
  for (const failure of failures) console.log(`fuzz: FAILED (seed ${options.seed}): ${failure}`);
  if (failures.length === 0) console.log(`fuzz: OK (seed ${options.seed}): broker alive, canary intact${child ? ", clean restart" : ""}`);
  return failures.length === 0;
}

/** A clean stop (exit 0), a start on the same data dir, and the canary read again. */
async function restartCheck(target: Target, child: BrokerChild): Promise<string[]> {
  const code = await child.stop();
  if (code !== 0) return [`clean stop after the run exited with ${code}`];
  try {
    await child.start();
  } catch (error) {
    return [`restart after the run failed: ${error instanceof Error ? error.message : String(error)}`];
  }
  const problem = await check(target);
  const stopCode = await child.stop();
  if (problem) return [`after restart: ${problem}`];
  if (stopCode !== 0) return [`clean stop after the restart exited with ${stopCode}`];
  return [];
}

function parseOptions(argv: string[]): FuzzOptions {
  const { values } = parseArgs({
    args: argv,
    options: {
      seed: { type: "string" },
      frames: { type: "string" },
      "start-frame": { type: "string" },
      "time-limit-ms": { type: "string" },
      connections: { type: "string" },
      "request-timeout-ms": { type: "string" },
      "check-every": { type: "string" },
      bootstrap: { type: "string" },
      "clock-ms": { type: "string" },
      "keep-data": { type: "boolean" },
      "allow-findings": { type: "boolean" },
      help: { type: "boolean", short: "h" },
    },
    strict: true,
  });
  if (values.help) {
    console.log(usage);
    process.exit(0);
  }
  const integer = (flag: string, value: string | undefined, fallback: number, min: number): number => {
    if (value === undefined) return fallback;
    if (!/^\d+$/.test(value) || Number(value) < min) throw new Error(`--${flag} must be an integer >= ${min}, got "${value}"`);
    return Number(value);
  };
  return {
    seed: integer("seed", values.seed, Math.floor(Math.random() * 2 ** 32), 0) >>> 0,
    frames: integer("frames", values.frames, 5000, 1),
    startFrame: integer("start-frame", values["start-frame"], 0, 0),
    timeLimitMs: integer("time-limit-ms", values["time-limit-ms"], 600_000, 1),
    connections: integer("connections", values.connections, 4, 1),
    requestTimeoutMs: integer("request-timeout-ms", values["request-timeout-ms"], 30_000, 1),
    checkEvery: integer("check-every", values["check-every"], 500, 1),
    bootstrap: values.bootstrap ?? null,
    // The hour the run starts in: replays within the hour send the same bytes without --clock-ms.
    clockMs: integer("clock-ms", values["clock-ms"], Math.floor(Date.now() / HOUR_MS) * HOUR_MS, 0),
    keepData: values["keep-data"] ?? false,
    allowFindings: values["allow-findings"] ?? false,
  };
}

if (import.meta.main) {
  let options: FuzzOptions;
  try {
    options = parseOptions(process.argv.slice(2));
  } catch (error) {
    console.error(`fuzz: ${error instanceof Error ? error.message : String(error)}\n\n${usage}`);
    process.exit(2);
  }
  const ok = await runFuzz(options);
  process.exit(ok ? 0 : 1);
}
