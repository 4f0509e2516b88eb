// One side of the latency reference (latency-reference.ts) in a worker thread with blocking C socket I/O
// (native/netbench.c): a paced producer or a tailing consumer of 1 KiB records, against Bunka (Produce
// acks=1 / Fetch long-poll), Redis Streams (XADD / XREAD BLOCK, RESP spoken here) or a plain TCP relay
// (the VM's floor: the same two hops with a server that only copies bytes). Every record carries its
// send time (CLOCK_MONOTONIC, one clock for all threads of the process); the consumer reports
// receive time minus send time for every record.
declare const self: Worker;
import { crc32c } from "@node-rs/crc32";
import { ApiKey } from "../src/protocol/generated/index.ts";
import { buildBatch } from "../src/records/compression.ts";
import { BlockingConnection, forEachRecordValue, native, nowNs, STAMP_MAGIC, stampUs } from "./blocking-client.ts";
import { check } from "./native.ts";
import { decodeResponse, encodeRequest, patchCorrelationId, responseCorrelationId, scanBatches } from "./kafka-frames.ts";

export type ReferenceTarget = "bunka" | "redis" | "relay";

export interface ReferenceProduceTask {
  role: "produce";
  target: ReferenceTarget;
  port: number;
  /** Kafka topic (partition 0) or Redis stream key. */
  name: string;
  recordsPerSecond: number;
  seconds: number;
}

export interface ReferenceConsumeTask {
  role: "consume";
  target: ReferenceTarget;
  port: number;
  name: string;
  /** Stop after this long even if records are still missing. */
  seconds: number;
  /** Samples stamped before this CLOCK_MONOTONIC time (µs) are the warm-up: received, not reported. */
  measureFromUs: number;
  /** Stop once this many records arrived (the producer's count, sent over the control buffer). */
  control: SharedArrayBuffer;
}

export interface ReferenceRelayTask {
  role: "relay";
}

export type ReferenceTask = ReferenceProduceTask | ReferenceConsumeTask | ReferenceRelayTask;

export interface ReferenceReport {
  records: number;
  sends: number;
  seconds: number;
  latenciesUs?: number[];
  errors?: number;
}

export const RECORD_BYTES = 1024;
/** At most this many due records go out in one send (one Produce request, one pipelined write of XADDs). */
export const MAX_RECORDS_PER_SEND = 256;
/** Redis keeps at most about this many entries (XADD MAXLEN ~), so a run's memory stays bounded. */
const REDIS_MAXLEN = 200_000;
const FETCH_MAX_WAIT_MS = 500;

function recordValue(): Uint8Array {
  const value = new Uint8Array(RECORD_BYTES).fill(0x61);
  new DataView(value.buffer).setUint32(0, STAMP_MAGIC);
  return value;
}

/** Positions of every stamp (after the magic) in a frame built from values that start with the magic. */
function stampPositions(frame: Uint8Array, from: number): number[] {
  const positions: number[] = [];
  for (let i = from; i < frame.byteLength - 12; i++) {
    if (frame[i] === 0x42 && frame[i + 1] === 0x55 && frame[i + 2] === 0x4e && frame[i + 3] === 0x4b) {
      positions.push(i + 4);
      i += RECORD_BYTES - 1;
    }
  }
  return positions;
}

interface SendTemplate {
  frame: Uint8Array;
  view: DataView;
  stamps: number[];
  /** Kafka: where the batch CRC sits (it covers the stamps). -1 otherwise. */
  crcAt: number;
}

function kafkaTemplate(topic: string, count: number): SendTemplate {
  const value = recordValue();
  const batch = buildBatch({ records: Array.from({ length: count }, () => ({ key: null, value })) });
  const frame = encodeRequest(ApiKey.Produce, 7, 1, { acks: 1, timeoutMs: 30_000, topicData: [{ name: topic, partitionData: [{ index: 0, records: batch }] }] });
  const batchAt = frame.byteLength - batch.byteLength;
  return { frame, view: new DataView(frame.buffer, frame.byteOffset), stamps: stampPositions(frame, batchAt + 61), crcAt: batchAt + 17 };
}

const encoder = new TextEncoder();

function respCommand(parts: (string | Uint8Array)[]): Uint8Array {
  const chunks: Uint8Array[] = [encoder.encode(`*${parts.length}\r\n`)];
  for (const part of parts) {
    const bytes = typeof part === "string" ? encoder.encode(part) : part;
    chunks.push(encoder.encode(`$${bytes.byteLength}\r\n`), bytes, encoder.encode("\r\n"));
  }
  const out = new Uint8Array(chunks.reduce((sum, chunk) => sum + chunk.byteLength, 0));
  let at = 0;
  for (const chunk of chunks) {
    out.set(chunk, at);
    at += chunk.byteLength;
  }
  return out;
}

function redisTemplate(stream: string, count: number): SendTemplate {
  const one = respCommand(["XADD", stream, "MAXLEN", "~", String(REDIS_MAXLEN), "*", "v", recordValue()]);
  const frame = new Uint8Array(one.byteLength * count);
  for (let i = 0; i < count; i++) frame.set(one, i * one.byteLength);
  return { frame, view: new DataView(frame.buffer), stamps: stampPositions(frame, 0), crcAt: -1 };
}

function relayTemplate(count: number): SendTemplate {
  const frame = new Uint8Array(RECORD_BYTES * count);
  for (let i = 0; i < count; i++) frame.set(recordValue(), i * RECORD_BYTES);
  return { frame, view: new DataView(frame.buffer), stamps: stampPositions(frame, 0), crcAt: -1 };
}

/**
 * Paced: record i is due at start + i / rate. The producer sleeps (clock_nanosleep, no spinning) until
 * the next record is due and sends every record due by then in one write, each stamped with that send
 * time. Replies (Produce responses, XADD ids) are drained without blocking and discarded; that every
 * record arrived is checked by the consumer's count.
 */
function runProduce(task: ReferenceProduceTask): ReferenceReport {
  const fd = check(native.nb_connect(task.port), `connect to 127.0.0.1:${task.port}`);
  const templates = new Map<number, SendTemplate>();
  const templateFor = (count: number): SendTemplate => {
    let template = templates.get(count);
    if (!template) {
      template = task.target === "bunka" ? kafkaTemplate(task.name, count) : task.target === "redis" ? redisTemplate(task.name, count) : relayTemplate(count);
      templates.set(count, template);
    }
    return template;
  };
  const scratch = new Uint8Array(256 * 1024);
  const intervalNs = 1e9 / task.recordsPerSecond;
  const startNs = nowNs();
  const endNs = startNs + task.seconds * 1e9;
  let sent = 0;
  let sends = 0;
  let correlationId = 1;
  try {
    for (;;) {
      const nextDueNs = startNs + sent * intervalNs;
      if (nextDueNs >= endNs) break;
      if (nextDueNs > nowNs()) native.nb_sleep_until(Math.round(nextDueNs));
      const due = Math.min(MAX_RECORDS_PER_SEND, Math.floor((nowNs() - startNs) / intervalNs) + 1 - sent);
      const count = Math.max(1, due);
      const template = templateFor(count);
      const stamp = stampUs();
      for (const at of template.stamps) template.view.setFloat64(at, stamp);
      if (template.crcAt >= 0) {
        template.view.setUint32(template.crcAt, crc32c(template.frame.subarray(template.crcAt + 4)) >>> 0);
        patchCorrelationId(template.frame, correlationId++);
      }
      check(native.nb_send_all(fd, template.frame, template.frame.byteLength), "send");
      sent += count;
      sends++;
      // Replies are small; drain whatever is there so the server never blocks writing them.
      for (let turns = 0; turns < 64 && Number(native.nb_recv_nowait(fd, scratch, scratch.byteLength)) > 0; turns++);
    }
    // Let the last replies arrive before closing (a close with unread data resets the connection).
    const lingerUntil = nowNs() + 200e6;
    while (nowNs() < lingerUntil) {
      if (Number(native.nb_recv_nowait(fd, scratch, scratch.byteLength)) <= 0) native.nb_sleep_until(Math.round(nowNs() + 5e6));
    }
  } finally {
    native.nb_close(fd);
  }
  return { records: sent, sends, seconds: (nowNs() - startNs) / 1e9 };
}

/** Blocking buffered reads of a byte stream: wait for one byte, then take whatever else is there. */
class StreamReader {
  buffer = new Uint8Array(4 * 1024 * 1024);
  start = 0;
  end = 0;

  constructor(readonly fd: number) {}

  private fill(): void {
    if (this.start > 0 && this.start === this.end) this.start = this.end = 0;
    if (this.end === this.buffer.byteLength) {
      if (this.start > 0) {
        this.buffer.copyWithin(0, this.start, this.end);
        this.end -= this.start;
        this.start = 0;
      } else {
        const bigger = new Uint8Array(this.buffer.byteLength * 2);
        bigger.set(this.buffer.subarray(0, this.end));
        this.buffer = bigger;
      }
    }
    if (check(native.nb_recv_exact(this.fd, this.buffer.subarray(this.end), 1), "recv") === 0) throw new Error("the server closed the connection");
    this.end += 1;
    const more = Number(native.nb_recv_nowait(this.fd, this.buffer.subarray(this.end), this.buffer.byteLength - this.end));
    if (more > 0) this.end += more;
  }

  ensure(bytes: number): void {
    while (this.end - this.start < bytes) this.fill();
  }

  /** A RESP line without its CRLF, as text. */
  line(): string {
    for (let scanned = this.start; ; ) {
      for (; scanned + 1 < this.end; scanned++) {
        if (this.buffer[scanned] === 13 && this.buffer[scanned + 1] === 10) {
          const text = new TextDecoder().decode(this.buffer.subarray(this.start, scanned));
          this.start = scanned + 2;
          return text;
        }
      }
      const offset = scanned - this.start;
      this.fill();
      scanned = this.start + offset;
    }
  }
}

/**
 * One RESP value. Bulk strings of a record's size are reported through `onValue` (the stamp is read
 * there) and returned as null; other bulk strings come back as text (stream names and entry ids).
 */
function readResp(reader: StreamReader, onValue: (bytes: Uint8Array, at: number) => void): unknown {
  const line = reader.line();
  const kind = line[0];
  if (kind === "*") {
    const count = Number(line.slice(1));
    const items: unknown[] = [];
    for (let i = 0; i < count; i++) items.push(readResp(reader, onValue));
    return count < 0 ? null : items;
  }
  if (kind === "$") {
    const length = Number(line.slice(1));
    if (length < 0) return null;
    reader.ensure(length + 2);
    const at = reader.start;
    reader.start += length + 2;
    if (length === RECORD_BYTES) {
      onValue(reader.buffer, at);
      return null;
    }
    return new TextDecoder().decode(reader.buffer.subarray(at, at + length));
  }
  if (kind === "-") throw new Error(`redis: ${line.slice(1)}`);
  return line.slice(1);
}

function runConsume(task: ReferenceConsumeTask): ReferenceReport {
  const fd = check(native.nb_connect(task.port), `connect to 127.0.0.1:${task.port}`);
  const producedRecords = new Float64Array(task.control);
  const latenciesUs: number[] = [];
  let records = 0;
  let sends = 0;
  let errors = 0;
  const startNs = nowNs();
  const endNs = startNs + task.seconds * 1e9;
  const finished = (): boolean => nowNs() > endNs || (producedRecords[0]! > 0 && records >= producedRecords[0]!);
  const sample = (bytes: Uint8Array, at: number, receivedUs: number): void => {
    const view = new DataView(bytes.buffer, bytes.byteOffset + at, 12);
    if (view.getUint32(0) !== STAMP_MAGIC) return;
    records++;
    const sentUs = view.getFloat64(4);
    if (sentUs >= task.measureFromUs) latenciesUs.push(receivedUs - sentUs);
  };
  self.postMessage({ ready: true });
  try {
    if (task.target === "relay") {
      const reader = new StreamReader(fd);
      while (!finished()) {
        // The relay closes this side once the producer is done: the end of the stream ends the run.
        try {
          reader.ensure(RECORD_BYTES);
        } catch {
          break;
        }
        const receivedUs = stampUs();
        while (reader.end - reader.start >= RECORD_BYTES) {
          sample(reader.buffer, reader.start, receivedUs);
          reader.start += RECORD_BYTES;
        }
      }
    } else if (task.target === "redis") {
      const reader = new StreamReader(fd);
      let lastId = "$";
      while (!finished()) {
        // BLOCK bounded, so the loop sees its deadline even if the producer stops early.
        const command = respCommand(["XREAD", "COUNT", "1000", "BLOCK", String(FETCH_MAX_WAIT_MS), "STREAMS", task.name, lastId]);
        check(native.nb_send_all(fd, command, command.byteLength), "send");
        sends++;
        let receivedUs = 0;
        const reply = readResp(reader, (bytes, at) => {
          if (receivedUs === 0) receivedUs = stampUs();
          sample(bytes, at, receivedUs);
        }) as [string, [string, unknown][]][] | null;
        const entries = reply?.[0]?.[1];
        if (entries && entries.length > 0) lastId = entries[entries.length - 1]![0];
      }
    } else {
      const connection = new BlockingConnection(fd);
      const ends = connection.request(ApiKey.ListOffsets, 5, { replicaId: -1, isolationLevel: 0, topics: [{ name: task.name, partitions: [{ partitionIndex: 0, currentLeaderEpoch: -1, timestamp: -1 }] }] });
      let offset = Number(ends.topics[0].partitions[0].offset);
      const body = (fetchOffset: number) => ({
        replicaId: -1,
        maxWaitMs: FETCH_MAX_WAIT_MS,
        minBytes: 1,
        maxBytes: 4 * 1024 * 1024,
        isolationLevel: 0,
        topics: [{ topic: task.name, partitions: [{ partition: 0, fetchOffset, partitionMaxBytes: 4 * 1024 * 1024 }] }],
      });
      for (let correlationId = 1; !finished(); correlationId++) {
        connection.send(encodeRequest(ApiKey.Fetch, 11, correlationId, body(offset)));
        sends++;
        const payload = connection.receive();
        const receivedUs = stampUs();
        if (responseCorrelationId(payload) !== correlationId) throw new Error(`fetch response ${responseCorrelationId(payload)} to request ${correlationId}`);
        const partition = decodeResponse(ApiKey.Fetch, 11, payload).responses[0].partitions[0];
        if (partition.errorCode !== 0) {
          errors++;
          continue;
        }
        const recordsBytes: Uint8Array | null = partition.records;
        if (!recordsBytes || recordsBytes.byteLength === 0) continue;
        const scanned = scanBatches(recordsBytes);
        if (scanned.batches === 0) continue;
        // A fetch may start inside a batch: only records at or after the fetch offset are new.
        forEachRecordValue(recordsBytes, scanned.wholeBytes, (valueAt, valueLength, indexInBatch, batchPosition) => {
          const baseOffset = Number(new DataView(recordsBytes.buffer, recordsBytes.byteOffset + batchPosition, 8).getBigInt64(0));
          if (baseOffset + indexInBatch >= offset && valueLength === RECORD_BYTES) sample(recordsBytes, valueAt, receivedUs);
        });
        offset = scanned.lastOffset + 1;
      }
    }
  } finally {
    native.nb_close(fd);
  }
  return { records, sends, errors, seconds: (nowNs() - startNs) / 1e9, latenciesUs };
}

/** The floor: accepts the consumer, then the producer, and copies the producer's bytes to the consumer. */
function runRelay(): ReferenceReport {
  const listener = check(native.nb_listen(0), "listen");
  self.postMessage({ port: check(native.nb_local_port(listener), "local port") });
  const consumer = check(native.nb_accept(listener), "accept");
  const producer = check(native.nb_accept(listener), "accept");
  native.nb_close(listener);
  const buffer = new Uint8Array(256 * 1024);
  let bytes = 0;
  let sends = 0;
  try {
    for (;;) {
      // Block for one byte, then take what else is there: the same wake-up a server's event loop sees.
      const first = check(native.nb_recv_exact(producer, buffer, 1), "recv");
      if (first === 0) break;
      const more = Math.max(0, Number(native.nb_recv_nowait(producer, buffer.subarray(1), buffer.byteLength - 1)));
      if (native.nb_send_all(consumer, buffer, 1 + more) < 0) break;
      bytes += 1 + more;
      sends++;
    }
  } finally {
    native.nb_close(producer);
    native.nb_close(consumer);
  }
  return { records: Math.floor(bytes / RECORD_BYTES), sends, seconds: 0 };
}

self.onmessage = (event: MessageEvent<ReferenceTask>) => {
  try {
    const task = event.data;
    const report = task.role === "produce" ? runProduce(task) : task.role === "consume" ? runConsume(task) : runRelay();
    self.postMessage({ ok: true, report });
  } catch (error) {
    self.postMessage({ ok: false, error: error instanceof Error ? (error.stack ?? error.message) : String(error) });
  }
};
