// The load generator's clients: one worker thread = one Kafka connection speaking the protocol with
// pre-built requests, its socket I/O in blocking C (native/netbench.c), so the client is not what limits
// the broker. Produce requests carry batches built once (a copy per in-flight slot, only the correlation id
// patched); fetch responses are received into one reused buffer and only batch headers are read.
declare const self: Worker;
import { crc32c } from "@node-rs/crc32";
import { ApiKey } from "../src/protocol/generated/index.ts";
import { CompressionType } from "../src/records/batch.ts";
import { buildBatch } from "../src/records/compression.ts";
import { BlockingConnection, forEachRecordValue, native, nowNs, STAMP_MAGIC, TIMELINE_STEP_NS, stampUs } from "./blocking-client.ts";
import { decodeResponse, encodeRequest, patchCorrelationId, responseCorrelationId, scanBatches } from "./kafka-frames.ts";

export type BenchCompression = "none" | "lz4" | "zstd" | "gzip";

const BENCH_CODECS: Record<BenchCompression, number> = { none: CompressionType.NONE, lz4: CompressionType.LZ4, zstd: CompressionType.ZSTD, gzip: CompressionType.GZIP };

export interface ProduceTask {
  op: "produce";
  port: number;
  topic: string;
  partitions: number[];
  recordBytes: number;
  /** Uncompressed bytes of records per batch (one batch per request). */
  batchBytes: number;
  /** Codec of the batches sent (the broker decompresses and checks every record of a compressed batch). */
  compression: BenchCompression;
  acks: number;
  inFlight: number;
  maxSeconds: number;
  /** Stop after this many records (acknowledged); 0 = only the time bound. */
  maxRecords: number;
  /** Requests per second for a paced run (latency); 0 = as fast as acknowledgements allow. */
  requestsPerSecond: number;
  /**
   * Load test: every batch sent is made unique (producer id and sequence in its first value) and the
   * report carries the count and CRC32C sum of every acknowledged record value.
   */
  producerId?: number;
}

export interface ConsumeTask {
  op: "consume";
  port: number;
  topic: string;
  partitions: number[];
  /** Offsets to read up to (exclusive), per partition; reads start over at 0 when `loop`. */
  endOffsets: number[];
  partitionMaxBytes: number;
  maxSeconds: number;
  loop: boolean;
  /** Long-poll like a tailing consumer and record end-to-end latency from the records' stamps. */
  tail: boolean;
  /** Count of every record value (sum of a 32-bit checksum) for exactly-once checks. */
  checksum: boolean;
  /**
   * Fetch requests outstanding on the connection, each for one partition (round robin); default one per
   * partition. 1 is how Kafka clients fetch: one request per broker connection at a time.
   */
  fetchesInFlight?: number;
  /** Where to start reading, per partition (default 0); reads that loop start over at 0. */
  startOffsets?: number[];
}

export type LoadTask = ProduceTask | ConsumeTask;

export interface LoadReport {
  records: number;
  /** Record batch bytes (what the broker stores and serves). */
  bytes: number;
  requests: number;
  errors: number;
  seconds: number;
  /** Tail consumers: end-to-end latency samples in microseconds. */
  latenciesUs?: number[];
  /** Per partition: next offset reached. */
  offsets?: number[];
  checksum?: number;
  /** Records consumed per second over time (one entry per 250 ms). */
  timeline?: number[];
}

/**
 * Values of recordBytes that look like JSON events: field names and words repeat, ids and numbers are
 * random, so LZ4 gets a realistic ratio (about 2:1) rather than compressing a repeated pattern to nothing.
 */
function recordValues(recordBytes: number, count: number, seed: number): Uint8Array[] {
  const words = ["click", "view", "purchase", "signup", "search", "logout", "share", "like", "scroll", "play"];
  let state = (seed * 2654435761 + 1) >>> 0;
  const random = (): number => {
    state ^= state << 13;
    state ^= state >>> 17;
    state ^= state << 5;
    return (state >>> 0) / 4294967296;
  };
  const hex = "0123456789abcdef";
  const values: Uint8Array[] = [];
  for (let i = 0; i < count; i++) {
    let text = "";
    while (text.length < recordBytes) {
      let id = "";
      for (let h = 0; h < 12; h++) id += hex[Math.floor(random() * 16)];
      text += `{"id":"${id}","user":${Math.floor(random() * 1e6)},"event":"${words[Math.floor(random() * words.length)]}","amount":${(random() * 1000).toFixed(2)}},`;
    }
    values.push(new TextEncoder().encode(text.slice(0, recordBytes)));
  }
  return values;
}

interface ProduceSlot {
  partition: number;
  frame: Uint8Array;
  records: number;
  batchBytes: number;
  /** Where the first value's stamp (after the magic) is in the frame, or -1. */
  stampAt: number;
  crcAt: number;
  /** CRC32C sum of every value but the first (constant), for load-test checksums. */
  restChecksum: number;
}

function produceFrame(task: ProduceTask, partition: number, slot: number): ProduceSlot {
  // As many records as fit in batchBytes once encoded (Kafka's batch.size counts the uncompressed batch).
  const encode = (count: number): Uint8Array => {
    const values = recordValues(task.recordBytes, count, slot * 131 + partition);
    // The first record's value starts with a stamp slot: magic + send time (µs), patched by paced runs.
    if (task.recordBytes >= 12) new DataView(values[0]!.buffer).setUint32(0, STAMP_MAGIC);
    return buildBatch({ records: values.map((value) => ({ key: null, value })), compression: CompressionType.NONE });
  };
  const perRecordBytes = (encode(2).byteLength - encode(1).byteLength);
  let count = Math.max(1, Math.floor((task.batchBytes - 61) / perRecordBytes));
  let plain = encode(count);
  for (let attempt = 0; plain.byteLength > task.batchBytes && count > 1 && attempt < 16; attempt++) {
    count = Math.max(1, count - Math.ceil((plain.byteLength - task.batchBytes) / perRecordBytes));
    plain = encode(count);
  }
  const values = recordValues(task.recordBytes, count, slot * 131 + partition);
  if (task.recordBytes >= 12) new DataView(values[0]!.buffer).setUint32(0, STAMP_MAGIC);
  const batch = task.compression === "none" ? plain : buildBatch({ records: values.map((value) => ({ key: null, value })), compression: BENCH_CODECS[task.compression] });
  const frame = encodeRequest(ApiKey.Produce, 7, slot + 1, {
    acks: task.acks,
    timeoutMs: 30_000,
    topicData: [{ name: task.topic, partitionData: [{ index: partition, records: batch }] }],
  });
  // Where the batch and its first value sit in the frame (for stamping uncompressed batches).
  const batchAt = frame.byteLength - batch.byteLength;
  let stampAt = -1;
  if (task.compression === "none" && task.recordBytes >= 12) {
    for (let i = batchAt + 61; i < Math.min(frame.byteLength - 4, batchAt + 61 + 64); i++) {
      if (frame[i] === 0x42 && frame[i + 1] === 0x55 && frame[i + 2] === 0x4e && frame[i + 3] === 0x4b) {
        stampAt = i + 4;
        break;
      }
    }
  }
  let restChecksum = 0;
  if (task.producerId !== undefined) for (let i = 1; i < values.length; i++) restChecksum = (restChecksum + crc32c(values[i]!)) >>> 0;
  return { partition, frame, records: count, batchBytes: batch.byteLength, stampAt, crcAt: batchAt + 17, restChecksum };
}

function runProduce(task: ProduceTask): LoadReport {
  const connection = BlockingConnection.open(task.port);
  const slots = Array.from({ length: task.inFlight }, (_, slot) => produceFrame(task, task.partitions[slot % task.partitions.length]!, slot));
  const unique = task.producerId !== undefined;
  if (unique && slots.some((slot) => slot.stampAt < 0)) throw new Error("load-test producers need uncompressed records of at least 20 bytes");
  let sequence = 0;
  let checksum = 0;
  const checksumOf = new Map<number, number>();
  let correlationId = 1;
  let requests = 0;
  let records = 0;
  let bytes = 0;
  let errors = 0;
  let inFlight = 0;
  const startNs = nowNs();
  const endNs = startNs + task.maxSeconds * 1e9;
  const intervalNs = task.requestsPerSecond > 0 ? 1e9 / task.requestsPerSecond : 0;
  let nextSendNs = startNs;
  const slotOfCorrelation = new Map<number, number>();
  const sentAtNs = new Map<number, number>();
  const ackLatenciesUs: number[] = [];

  const sendSlot = (slotIndex: number): void => {
    const slot = slots[slotIndex]!;
    if (intervalNs > 0) {
      // Paced: sleep until this request's turn (clock_nanosleep; spinning would take a core from the broker).
      if (nextSendNs > nowNs()) native.nb_sleep_until(Math.round(nextSendNs));
      nextSendNs += intervalNs;
    }
    const id = correlationId++;
    if ((intervalNs > 0 || unique) && slot.stampAt >= 0) {
      // Stamp: send time (latency), producer id and sequence (a unique batch), then the batch CRC again.
      const view = new DataView(slot.frame.buffer, slot.frame.byteOffset);
      view.setFloat64(slot.stampAt, stampUs());
      if (unique) {
        view.setInt32(slot.stampAt + 8, task.producerId!);
        view.setInt32(slot.stampAt + 12, sequence++);
        const valueAt = slot.stampAt - 4;
        checksumOf.set(id, (slot.restChecksum + crc32c(slot.frame.subarray(valueAt, valueAt + task.recordBytes))) >>> 0);
      }
      view.setUint32(slot.crcAt, crc32c(slot.frame.subarray(slot.crcAt + 4, slot.frame.byteLength)) >>> 0);
    }
    patchCorrelationId(slot.frame, id);
    slotOfCorrelation.set(id, slotIndex);
    sentAtNs.set(id, nowNs());
    connection.send(slot.frame);
    inFlight++;
  };

  try {
    for (let slot = 0; slot < slots.length; slot++) sendSlot(slot);
    while (inFlight > 0) {
      const payload = connection.receive();
      inFlight--;
      const id = responseCorrelationId(payload);
      const slotIndex = slotOfCorrelation.get(id);
      if (slotIndex === undefined) throw new Error(`response for unknown correlation id ${id}`);
      slotOfCorrelation.delete(id);
      if (ackLatenciesUs.length < 1_000_000) ackLatenciesUs.push((nowNs() - sentAtNs.get(id)!) / 1000);
      sentAtNs.delete(id);
      const response = decodeResponse(ApiKey.Produce, 7, payload);
      const errorCode = response.responses[0].partitionResponses[0].errorCode;
      const sentChecksum = checksumOf.get(id);
      checksumOf.delete(id);
      if (errorCode !== 0) errors++;
      else {
        if (sentChecksum !== undefined) checksum = (checksum + sentChecksum) >>> 0;
        requests++;
        records += slots[slotIndex]!.records;
        bytes += slots[slotIndex]!.batchBytes;
      }
      const more = nowNs() < endNs && (task.maxRecords === 0 || records + inFlight * slots[slotIndex]!.records < task.maxRecords);
      if (more) sendSlot(slotIndex);
    }
  } finally {
    connection.close();
  }
  return { records, bytes, requests, errors, seconds: (nowNs() - startNs) / 1e9, latenciesUs: ackLatenciesUs, checksum: unique ? checksum : undefined };
}

function runConsume(task: ConsumeTask): LoadReport {
  const connection = BlockingConnection.open(task.port);
  const offsets = task.partitions.map((_, index) => task.startOffsets?.[index] ?? 0);
  const partitionOf = new Map<number, number>();
  let correlationId = 1;
  let records = 0;
  let bytes = 0;
  let requests = 0;
  let errors = 0;
  let checksum = 0;
  let inFlight = 0;
  const latenciesUs: number[] = [];
  const timeline: number[] = [];
  const startNs = nowNs();
  const endNs = startNs + task.maxSeconds * 1e9;
  let timelineAtNs = startNs + TIMELINE_STEP_NS;
  let recordsAtTimeline = 0;

  const fetchFrames = task.partitions.map((partition) =>
    encodeRequest(ApiKey.Fetch, 11, 0, {
      replicaId: -1,
      maxWaitMs: task.tail ? 500 : 0,
      minBytes: task.tail ? 1 : 0,
      maxBytes: task.partitionMaxBytes,
      isolationLevel: 0,
      topics: [{ topic: task.topic, partitions: [{ partition, fetchOffset: 0, partitionMaxBytes: task.partitionMaxBytes }] }],
    }),
  );
  // The fetch offset is the int64 right before partitionMaxBytes... found once by encoding a marker.
  const offsetAt = fetchFrames.map((frame, index) => {
    const marked = encodeRequest(ApiKey.Fetch, 11, 0, {
      replicaId: -1,
      maxWaitMs: task.tail ? 500 : 0,
      minBytes: task.tail ? 1 : 0,
      maxBytes: task.partitionMaxBytes,
      isolationLevel: 0,
      topics: [{ topic: task.topic, partitions: [{ partition: task.partitions[index]!, fetchOffset: 0x0102030405, partitionMaxBytes: task.partitionMaxBytes }] }],
    });
    for (let i = 0; i < marked.byteLength - 8; i++) {
      if (marked[i] === 0 && marked[i + 1] === 0 && marked[i + 2] === 0 && marked[i + 3] === 1 && marked[i + 4] === 2 && marked[i + 5] === 3 && marked[i + 6] === 4 && marked[i + 7] === 5) return i;
    }
    throw new Error(`fetch offset not found in a fetch request of ${frame.byteLength} bytes`);
  });

  const done = (index: number): boolean => !task.loop && !task.tail && offsets[index]! >= task.endOffsets[index]!;
  const sendFetch = (index: number): void => {
    if (task.loop && offsets[index]! >= task.endOffsets[index]!) offsets[index] = 0;
    const frame = fetchFrames[index]!;
    new DataView(frame.buffer, frame.byteOffset).setBigInt64(offsetAt[index]!, BigInt(offsets[index]!));
    const id = correlationId++;
    patchCorrelationId(frame, id);
    partitionOf.set(id, index);
    connection.send(frame);
    inFlight++;
    requests++;
  };

  try {
    const inFlightMax = Math.min(task.partitions.length, task.fetchesInFlight ?? task.partitions.length);
    let nextIndex = 0;
    for (; nextIndex < inFlightMax; nextIndex++) if (!done(nextIndex)) sendFetch(nextIndex);
    while (inFlight > 0) {
      const payload = connection.receive();
      inFlight--;
      const id = responseCorrelationId(payload);
      const index = partitionOf.get(id);
      if (index === undefined) throw new Error(`response for unknown correlation id ${id}`);
      partitionOf.delete(id);
      const response = decodeResponse(ApiKey.Fetch, 11, payload);
      const partition = response.responses[0].partitions[0];
      if (partition.errorCode !== 0) {
        errors++;
      } else if (partition.records && partition.records.byteLength > 0) {
        const scanned = scanBatches(partition.records);
        if (scanned.batches > 0) {
          // Batches may start below the fetch offset (a fetch lands inside a batch): count from the offset.
          const recordsNew = scanned.lastOffset + 1 - offsets[index]!;
          records += recordsNew;
          bytes += scanned.wholeBytes;
          offsets[index] = scanned.lastOffset + 1;
          if (task.tail || task.checksum) inspectRecords(partition.records, scanned.wholeBytes, task, latenciesUs, (sum) => (checksum = (checksum + sum) >>> 0));
        }
      }
      const now = nowNs();
      while (now >= timelineAtNs) {
        timeline.push(((records - recordsAtTimeline) * 1e9) / TIMELINE_STEP_NS);
        recordsAtTimeline = records;
        timelineAtNs += TIMELINE_STEP_NS;
      }
      if (now < endNs) {
        if (inFlightMax === task.partitions.length) {
          if (!done(index)) sendFetch(index);
        } else {
          // Fewer requests than partitions: the next partition in turn that is not finished.
          for (let tries = 0; tries < task.partitions.length; tries++) {
            const candidate = nextIndex++ % task.partitions.length;
            if (!done(candidate) && ![...partitionOf.values()].includes(candidate)) {
              sendFetch(candidate);
              break;
            }
          }
        }
      }
    }
  } finally {
    connection.close();
  }
  return { records, bytes, requests, errors, seconds: (nowNs() - startNs) / 1e9, offsets, latenciesUs: task.tail ? latenciesUs : undefined, checksum: task.checksum ? checksum : undefined, timeline };
}

/**
 * Tail consumers read the stamp at the start of each batch's first value (uncompressed batches only);
 * checksumming consumers sum a CRC32C of every record value (the load test's exactly-once check).
 */
function inspectRecords(records: Uint8Array, wholeBytes: number, task: ConsumeTask, latenciesUs: number[], addChecksum: (sum: number) => void): void {
  const view = new DataView(records.buffer, records.byteOffset, records.byteLength);
  const receivedUs = stampUs();
  forEachRecordValue(records, wholeBytes, (valueAt, valueLength, indexInBatch) => {
    if (task.checksum && valueLength > 0) addChecksum(crc32c(records.subarray(valueAt, valueAt + valueLength)));
    if (task.tail && indexInBatch === 0 && valueLength >= 12 && view.getUint32(valueAt) === STAMP_MAGIC) {
      const sentUs = view.getFloat64(valueAt + 4);
      if (sentUs > 0) latenciesUs.push(receivedUs - sentUs);
    }
    return task.checksum;
  });
}

self.onmessage = (event: MessageEvent<LoadTask>) => {
  try {
    const task = event.data;
    self.postMessage({ ok: true, report: task.op === "produce" ? runProduce(task) : runConsume(task) });
  } catch (error) {
    self.postMessage({ ok: false, error: error instanceof Error ? (error.stack ?? error.message) : String(error) });
  }
};
