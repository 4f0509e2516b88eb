// The fuzzer's frame source: a seeded PRNG, random valid requests built from the generated codecs' schema
// model (so frames reach the handlers, not only the decoder), mutations of the encoded frames, and mutated
// record batches for Produce. Frame i depends only on (seed, i): any single frame replays exactly.
import modelJson from "../protocol/generated/schema-model.json";
import { Reader } from "../protocol/codec/reader.ts";
import { Writer } from "../protocol/codec/writer.ts";
import { apiSchemas, ApiKey, requestHeaderVersion } from "../protocol/generated/index.ts";
import { readRequestHeader, writeRequestHeader } from "../protocol/generated/headers.ts";
import {
  ATTRIBUTES_OFFSET,
  BASE_TIMESTAMP_OFFSET,
  BATCH_LENGTH_OFFSET,
  CRC_OFFSET,
  CompressionType,
  LAST_OFFSET_DELTA_OFFSET,
  MAGIC_OFFSET,
  MAX_TIMESTAMP_OFFSET,
  PRODUCER_ID_OFFSET,
  RECORDS_COUNT_OFFSET,
  RECORDS_OFFSET,
  computeBatchCrc,
  dataViewOf,
  writeInt64,
} from "../records/batch.ts";
import { buildBatch, type RecordInput } from "../records/compression.ts";

// ---- seeded randomness ----

/** mulberry32: small, fast, good enough to pick mutations; one state word, so a seed replays exactly. */
export class Random {
  private state: number;

  constructor(seed: number) {
    this.state = seed >>> 0;
  }

  next(): number {
    this.state = (this.state + 0x6d2b79f5) >>> 0;
    let t = this.state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }

  /** An integer in [low, high], both included. */
  int(low: number, high: number): number {
    return low + Math.floor(this.next() * (high - low + 1));
  }

  chance(probability: number): boolean {
    return this.next() < probability;
  }

  pick<T>(items: readonly T[]): T {
    return items[Math.floor(this.next() * items.length)]!;
  }

  bytes(length: number): Uint8Array {
    const out = new Uint8Array(length);
    for (let i = 0; i < length; i++) out[i] = this.int(0, 255);
    return out;
  }
}

/** The PRNG seed of frame `index` in a run seeded with `seed` (FNV-1a over both). */
export function frameSeed(seed: number, index: number): number {
  let hash = 2166136261;
  for (const word of [seed >>> 0, index >>> 0]) {
    for (let shift = 0; shift < 32; shift += 8) hash = Math.imul(hash ^ ((word >>> shift) & 0xff), 16777619);
  }
  return hash >>> 0;
}

// ---- the schema model ----

interface ModelField {
  prop: string;
  type: string;
  versions: string;
  nullable?: string;
}

interface ModelStruct {
  name: string;
  fields: ModelField[];
}

interface ModelMessage {
  name: string;
  type: string;
  apiKey?: number;
  structs: ModelStruct[];
}

const requestModels = new Map<number, ModelMessage>();
for (const message of (modelJson as unknown as { messages: ModelMessage[] }).messages) {
  if (message.type === "request" && message.apiKey !== undefined) requestModels.set(message.apiKey, message);
}

function inVersions(version: number, spec: string | undefined): boolean {
  if (spec === undefined || spec === "none") return false;
  if (spec.endsWith("+")) return version >= Number(spec.slice(0, -1));
  const [low, high] = spec.split("-");
  return version >= Number(low) && version <= Number(high ?? low);
}

// ---- what the frames talk about ----

/** Names the fuzzer may touch. The canary is never among them: it must read back intact after the run. */
export interface FuzzTargets {
  canaryTopic: string;
  /** Topics created at start (some compacted, one with compression.type=lz4); the fuzzer may delete them. */
  topics: readonly string[];
  groups: readonly string[];
  /** The clock the batches' timestamps start from: fixed for a run, so a seed replays the same bytes. */
  clockMs: number;
}

const CONFIG_NAMES = [
  "cleanup.policy", "retention.ms", "retention.bytes", "segment.bytes", "segment.ms", "max.message.bytes",
  "compression.type", "min.insync.replicas", "message.timestamp.type", "delete.retention.ms",
  "min.cleanable.dirty.ratio", "min.compaction.lag.ms", "unclean.leader.election.enable", "no.such.config",
];
const CONFIG_VALUES = ["compact", "delete", "compact,delete", "lz4", "gzip", "zstd", "snappy", "producer", "-1", "0", "1", "100", "1048576", "2147483647", "9223372036854775807", "abc", "", "LogAppendTime", "true"];
const INT32_EXTREMES = [-2147483648, -1, 0, 1, 2147483647];

/** Random request bodies from the schema model, steered toward names and numbers the broker knows. */
class RequestBuilder {
  private readonly structs: Map<string, ModelStruct>;

  constructor(
    private readonly message: ModelMessage,
    private readonly random: Random,
    private readonly targets: FuzzTargets,
    private readonly extraTopics: readonly string[],
  ) {
    this.structs = new Map(message.structs.map((struct) => [struct.name, struct]));
  }

  build(version: number): Record<string, unknown> {
    return this.struct(this.message.structs[0]!, version, 0);
  }

  private struct(struct: ModelStruct, version: number, depth: number): Record<string, unknown> {
    const out: Record<string, unknown> = {};
    for (const field of struct.fields) {
      if (!inVersions(version, field.versions)) continue;
      if (inVersions(version, field.nullable) && this.random.chance(0.1)) {
        out[field.prop] = null;
        continue;
      }
      out[field.prop] = this.value(struct, field, field.type, version, depth);
    }
    return out;
  }

  private value(struct: ModelStruct, field: ModelField, type: string, version: number, depth: number): unknown {
    if (type.startsWith("[]")) {
      // Mostly short arrays (the handler's loops run), sometimes longer ones (its bounds are tested).
      const count = depth > 3 ? 0 : this.random.chance(0.05) ? this.random.int(4, 40) : this.random.int(0, 3);
      const items: unknown[] = [];
      for (let i = 0; i < count; i++) items.push(this.value(struct, field, type.slice(2), version, depth + 1));
      return items;
    }
    const nested = this.structs.get(type);
    if (nested) return this.struct(nested, version, depth + 1);
    return this.primitive(struct, field, type);
  }

  private primitive(struct: ModelStruct, field: ModelField, type: string): unknown {
    const random = this.random;
    const prop = field.prop;
    // Partition counts are always steered: a few thousand new partitions hold the admin path for seconds,
    // which would turn the rest of a run into timeouts (the partition limit has its own tests).
    const steered = random.chance(0.85) || prop === "numPartitions" || prop === "count";
    if (type === "string") {
      if (steered && /config/i.test(struct.name) && prop === "name") return random.pick(CONFIG_NAMES);
      if (steered && /config/i.test(struct.name) && prop === "value") return random.pick(CONFIG_VALUES);
      if (steered && (prop === "name" || prop === "topic" || prop === "topicName" || prop === "resourceName")) return this.topicName();
      if (steered && /groupId|^group$/i.test(prop)) return random.pick(this.targets.groups);
      if (steered && /memberId/.test(prop)) return random.pick(["", "fuzz-member"]);
      if (steered && /protocolType/.test(prop)) return "consumer";
      return this.string();
    }
    if (type === "records") return random.chance(0.1) ? random.bytes(random.int(0, 64)) : randomBatches(random, this.targets.clockMs);
    if (type === "bytes") return random.bytes(random.int(0, 32));
    if (type === "uuid") return random.chance(0.5) ? new Uint8Array(16) : random.bytes(16);
    if (type === "bool") return random.chance(0.5);
    if (type === "float64") return random.pick([0, 0.5, 1, -1, 1e300, Number.NaN]);
    return this.integer(prop, type, steered);
  }

  private integer(prop: string, type: string, steered: boolean): number {
    const random = this.random;
    if (steered) {
      // Waits are kept short so that one frame does not hold its connection (Fetch long poll, JoinGroup).
      if (/maxWaitMs|timeoutMs|TimeoutMs/.test(prop)) return random.int(0, 200);
      if (/^partition(Index|Indexes|Id)?$|^partitions$|^index$/.test(prop)) return random.int(0, 3);
      if (prop === "numPartitions" || prop === "count") return random.chance(0.9) ? random.int(1, 4) : random.pick([-1, 0, 100, 2147483647]);
      if (prop === "replicationFactor") return random.pick([-1, 1, 1, 2]);
      if (prop === "acks") return random.pick([-1, 1, 1, -1, 0]);
      if (/offset|Offset/.test(prop) && type === "int64") return random.pick([-2, -1, 0, 1, 10, 1000, Number.MAX_SAFE_INTEGER]);
      if (prop === "resourceType") return random.pick([2, 2, 2, 4, 0, 99]);
      if (/maxBytes|MaxBytes/.test(prop)) return random.pick([0, 1, 1024, 1048576, 2147483647]);
      if (prop === "replicaId" || prop === "brokerId") return random.pick([-1, -1, 1, 2]);
    }
    const extreme = random.chance(0.2);
    switch (type) {
      case "int8":
        return extreme ? random.pick([-128, -1, 0, 127]) : random.int(-128, 127);
      case "int16":
        return extreme ? random.pick([-32768, -1, 0, 32767]) : random.int(-2, 100);
      case "uint16":
        return extreme ? random.pick([0, 65535]) : random.int(0, 1000);
      case "int32":
        return extreme ? random.pick(INT32_EXTREMES) : random.int(-2, 1000);
      case "uint32":
        return extreme ? random.pick([0, 4294967295]) : random.int(0, 100000);
      case "int64":
        return extreme ? random.pick([-1, 0, Number.MAX_SAFE_INTEGER, Number.MIN_SAFE_INTEGER]) : random.int(-2, 1_000_000);
    }
    throw new Error(`no generator for primitive ${type}`);
  }

  private topicName(): string {
    const random = this.random;
    const roll = random.next();
    if (roll < 0.7) return random.pick(this.targets.topics);
    if (roll < 0.85) return random.pick(this.extraTopics);
    if (roll < 0.9) return random.pick(["", ".", "..", "a/b", "__consumer_offsets", "x".repeat(300)]);
    return this.string();
  }

  private string(): string {
    const random = this.random;
    const length = random.chance(0.9) ? random.int(0, 16) : random.int(100, 400);
    const alphabet = "abcdefghijklmnopqrstuvwxyz0123456789-._ é😀\u0000/";
    let out = "";
    for (let i = 0; i < length; i++) out += alphabet[random.int(0, alphabet.length - 1)];
    return out;
  }
}

// ---- record batches ----

const CODECS = [CompressionType.NONE, CompressionType.GZIP, CompressionType.SNAPPY, CompressionType.LZ4, CompressionType.ZSTD];

export const BATCH_MUTATIONS = [
  "valid", "flip-records", "flip-any", "count", "last-offset-delta", "batch-length", "codec", "magic",
  "transactional", "control", "producer", "timestamps", "truncate-section", "garbage-section", "two-batches", "bomb",
] as const;

function randomRecords(random: Random): RecordInput[] {
  const count = random.chance(0.1) ? 0 : random.int(1, 8);
  const records: RecordInput[] = [];
  for (let i = 0; i < count; i++) {
    records.push({
      key: random.chance(0.8) ? new TextEncoder().encode(`k${random.int(0, 20)}`) : null,
      value: random.chance(0.1) ? null : random.bytes(random.int(0, random.chance(0.05) ? 20000 : 100)),
      headers: random.chance(0.2) ? [{ key: "h", value: random.bytes(3) }] : [],
    });
  }
  return records;
}

/** One batch (or two) with one mutation applied; a changed header or section gets a fresh CRC so the check behind the CRC is reached. */
export function randomBatches(random: Random, clockMs: number): Uint8Array {
  // Mostly near the run's clock; sometimes hours away (timestamp rules, retention).
  const timestampMs = clockMs + (random.chance(0.9) ? random.int(-60_000, 60_000) : random.int(-30, 30) * 3_600_000);
  const mutation = random.pick(BATCH_MUTATIONS);
  const codec = random.pick(CODECS);
  // Snappy has no encoder here: a "snappy" batch is built uncompressed and flagged as snappy.
  const buildCodec = codec === CompressionType.SNAPPY ? CompressionType.NONE : codec;
  if (mutation === "bomb") return bombBatch(random, buildCodec === CompressionType.NONE ? CompressionType.ZSTD : buildCodec, timestampMs);
  if (mutation === "two-batches") {
    const first = buildBatch({ records: randomRecords(random), compression: buildCodec, timestampMs });
    const second = buildBatch({ records: randomRecords(random), compression: random.pick([0, 1, 3, 4]), timestampMs });
    const out = new Uint8Array(first.byteLength + second.byteLength);
    out.set(first);
    out.set(second, first.byteLength);
    return out;
  }
  let batch = buildBatch({
    records: randomRecords(random),
    timestampMs,
    compression: buildCodec,
    producerId: random.chance(0.1) ? random.int(0, 1000) : -1,
    producerEpoch: random.chance(0.1) ? random.int(0, 3) : -1,
    baseSequence: random.chance(0.1) ? random.int(0, 10) : -1,
  });
  const view = dataViewOf(batch);
  if (codec === CompressionType.SNAPPY) view.setInt16(ATTRIBUTES_OFFSET, (view.getInt16(ATTRIBUTES_OFFSET) & ~7) | CompressionType.SNAPPY);
  let fixCrc = true;
  switch (mutation) {
    case "valid":
      break;
    case "flip-records":
      flipBits(random, batch, RECORDS_OFFSET, batch.byteLength);
      break;
    case "flip-any":
      flipBits(random, batch, 0, batch.byteLength);
      fixCrc = random.chance(0.5);
      break;
    case "count":
      view.setInt32(RECORDS_COUNT_OFFSET, random.pick([...INT32_EXTREMES, view.getInt32(RECORDS_COUNT_OFFSET) + 1]));
      break;
    case "last-offset-delta":
      view.setInt32(LAST_OFFSET_DELTA_OFFSET, random.pick([...INT32_EXTREMES, view.getInt32(LAST_OFFSET_DELTA_OFFSET) + 1]));
      break;
    case "batch-length":
      view.setInt32(BATCH_LENGTH_OFFSET, random.pick([...INT32_EXTREMES, batch.byteLength, batch.byteLength - 13]));
      break;
    case "codec":
      view.setInt16(ATTRIBUTES_OFFSET, (view.getInt16(ATTRIBUTES_OFFSET) & ~7) | random.int(0, 7));
      break;
    case "magic":
      view.setInt8(MAGIC_OFFSET, random.pick([-1, 0, 1, 3, 127]));
      break;
    case "transactional":
      view.setInt16(ATTRIBUTES_OFFSET, view.getInt16(ATTRIBUTES_OFFSET) | 0x10);
      writeInt64(view, PRODUCER_ID_OFFSET, random.int(0, 1 << 20));
      break;
    case "control":
      view.setInt16(ATTRIBUTES_OFFSET, view.getInt16(ATTRIBUTES_OFFSET) | 0x20);
      break;
    case "producer":
      writeInt64(view, PRODUCER_ID_OFFSET, random.pick([-2, 0, 1, Number.MAX_SAFE_INTEGER]));
      view.setInt16(PRODUCER_ID_OFFSET + 8, random.pick([-1, 0, 32767]));
      break;
    case "timestamps":
      writeInt64(view, BASE_TIMESTAMP_OFFSET, random.pick([-2, -1, 0, Number.MAX_SAFE_INTEGER]));
      writeInt64(view, MAX_TIMESTAMP_OFFSET, random.pick([-2, -1, 0, Number.MAX_SAFE_INTEGER]));
      break;
    case "truncate-section":
      batch = batch.slice(0, random.int(RECORDS_OFFSET, batch.byteLength));
      dataViewOf(batch).setInt32(BATCH_LENGTH_OFFSET, batch.byteLength - 12);
      break;
    case "garbage-section": {
      const garbage = random.bytes(random.int(0, 300));
      const out = new Uint8Array(RECORDS_OFFSET + garbage.byteLength);
      out.set(batch.subarray(0, RECORDS_OFFSET));
      out.set(garbage, RECORDS_OFFSET);
      dataViewOf(out).setInt32(BATCH_LENGTH_OFFSET, out.byteLength - 12);
      batch = out;
      break;
    }
  }
  if (fixCrc) dataViewOf(batch).setUint32(CRC_OFFSET, computeBatchCrc(batch, 0, batch.byteLength));
  return batch;
}

/** A small compression bomb: at most 8 MiB of zeros in one record, compressed to a few KiB (the dedicated bomb test goes bigger). */
function bombBatch(random: Random, codec: number, timestampMs: number): Uint8Array {
  const valueBytes = random.int(1, 8) << 20;
  const batch = buildBatch({ records: [{ key: null, value: new Uint8Array(valueBytes), headers: [] }], compression: codec, timestampMs });
  if (random.chance(0.5)) {
    const view = dataViewOf(batch);
    view.setInt32(LAST_OFFSET_DELTA_OFFSET, 2147483647);
    view.setInt32(RECORDS_COUNT_OFFSET, 2147483647);
    view.setUint32(CRC_OFFSET, computeBatchCrc(batch, 0, batch.byteLength));
  }
  return batch;
}

function flipBits(random: Random, bytes: Uint8Array, start: number, end: number): void {
  if (end <= start) return;
  const flips = random.int(1, 8);
  for (let i = 0; i < flips; i++) bytes[random.int(start, end - 1)]! ^= 1 << random.int(0, 7);
}

// ---- frames ----

export const FRAME_MUTATIONS = [
  "none", "bit-flip", "truncate", "int-extreme", "varint-extreme", "tagged-fields", "wrong-version", "swap-api",
  "garbage-body", "size-lie", "concatenate", "header",
] as const;
export type FrameMutation = (typeof FRAME_MUTATIONS)[number];
const MUTATION_WEIGHTS: Record<FrameMutation, number> = {
  none: 34, "bit-flip": 12, truncate: 9, "int-extreme": 8, "varint-extreme": 5, "tagged-fields": 7, "wrong-version": 6,
  "swap-api": 4, "garbage-body": 4, "size-lie": 3, concatenate: 3, header: 5,
};

/** What the advertised API table says: key -> [min, max] from ApiVersions. */
export type AdvertisedApis = ReadonlyMap<number, { minVersion: number; maxVersion: number }>;

export interface FuzzFrame {
  index: number;
  apiKey: number;
  apiVersion: number;
  mutation: FrameMutation;
  correlationId: number;
  /** Size prefix included. */
  bytes: Uint8Array;
  /** What the broker should do, judged by decoding the frame the way dispatch does. */
  expect: "answer" | "close" | "no-answer";
  /** How long the broker may rightly hold the answer: a Fetch's maxWaitMs, a group's rebalance (unbounded here). */
  mayWaitMs: number;
  /** What the broker would change if it handled the bytes it frames from this frame. */
  effects: FrameEffects;
  /** The size prefix lies (the broker waits for more bytes, or frames the rest as another request): the fuzzer drops the connection after it. */
  abandon: boolean;
}

const DESTRUCTIVE_APIS = new Set<number>([ApiKey.DeleteTopics, ApiKey.DeleteRecords, ApiKey.AlterConfigs, ApiKey.IncrementalAlterConfigs, ApiKey.CreatePartitions, ApiKey.Produce]);

/** The frame number `index` of a run: a random request of an advertised API, then one mutation. */
export function makeFrame(seed: number, index: number, apis: AdvertisedApis, targets: FuzzTargets): FuzzFrame {
  const random = new Random(frameSeed(seed, index));
  const keys = [...apis.keys()].sort((a, b) => a - b);
  const canary = new TextEncoder().encode(targets.canaryTopic);
  // Bounded: a handful of tries for a frame that leaves the canary alone (almost always the first).
  for (let attempt = 0; attempt < 8; attempt++) {
    // Produce gets a larger share: record batches are the richest input.
    let apiKey = random.chance(0.25) ? ApiKey.Produce : random.pick(keys);
    // Fewer deletions: a deleted fuzz topic turns the frames after it into UNKNOWN_TOPIC_OR_PARTITION until the next check.
    if (apiKey === ApiKey.DeleteTopics && random.chance(0.7)) apiKey = random.pick(keys);
    const range = apis.get(apiKey)!;
    // Produce below v3 carries old message formats that real clients no longer send: mostly v3 and up.
    const versionMin = apiKey === ApiKey.Produce && range.maxVersion >= 3 && random.chance(0.8) ? Math.max(3, range.minVersion) : range.minVersion;
    const apiVersion = random.int(versionMin, range.maxVersion);
    const extraTopics = [`fuzz-new-${random.int(0, 5)}`, `fuzz-new-${random.int(0, 5)}`];
    const body = new RequestBuilder(requestModels.get(apiKey)!, random, targets, extraTopics).build(apiVersion);
    const correlationId = index + 1;
    let bytes: Uint8Array;
    try {
      bytes = encodeFrame(apiKey, apiVersion, correlationId, body);
    } catch {
      continue; // a value the writer refuses (a string over 32767 bytes): try another request
    }
    const mutation = pickMutation(random);
    const mutated = mutateFrame(random, bytes, mutation, apiKey, apiVersion, apis);
    if (DESTRUCTIVE_APIS.has(readUint16(mutated.bytes, 4)) && contains(mutated.bytes, canary)) continue;
    return { index, apiKey, apiVersion, mutation, correlationId, bytes: mutated.bytes, abandon: mutated.abandon, ...expectation(mutated.bytes, apis), effects: effectsOf(mutated.bytes, apis) };
  }
  const bytes = encodeFrame(ApiKey.ApiVersions, 0, index + 1, {});
  return { index, apiKey: ApiKey.ApiVersions, apiVersion: 0, mutation: "none", correlationId: index + 1, bytes, abandon: false, expect: "answer", mayWaitMs: 0, effects: NO_EFFECTS };
}

export function encodeFrame(apiKey: number, apiVersion: number, correlationId: number, body: object): Uint8Array {
  const writer = new Writer();
  const sizeAt = writer.reserveInt32();
  writeRequestHeader(writer, requestHeaderVersion(apiKey, apiVersion), { requestApiKey: apiKey, requestApiVersion: apiVersion, correlationId, clientId: "bunka-fuzz" });
  apiSchemas.get(apiKey)!.writeRequest(writer, apiVersion, body);
  writer.patchInt32(sizeAt, writer.sizeBytes - 4);
  return writer.toUint8Array().slice();
}

function pickMutation(random: Random): FrameMutation {
  let total = 0;
  for (const mutation of FRAME_MUTATIONS) total += MUTATION_WEIGHTS[mutation];
  let roll = random.next() * total;
  for (const mutation of FRAME_MUTATIONS) {
    roll -= MUTATION_WEIGHTS[mutation];
    if (roll < 0) return mutation;
  }
  return "none";
}

function readUint16(bytes: Uint8Array, at: number): number {
  return bytes.byteLength >= at + 2 ? (bytes[at]! << 8) | bytes[at + 1]! : -1;
}

function contains(haystack: Uint8Array, needle: Uint8Array): boolean {
  return Buffer.from(haystack.buffer, haystack.byteOffset, haystack.byteLength).indexOf(needle) >= 0;
}

function withSize(payload: Uint8Array): Uint8Array {
  const out = new Uint8Array(4 + payload.byteLength);
  new DataView(out.buffer).setInt32(0, payload.byteLength);
  out.set(payload, 4);
  return out;
}

/** Where the body starts: after the size prefix and the request header (its client id, and tagged fields in v2). */
function bodyStart(bytes: Uint8Array, apiKey: number, apiVersion: number): number {
  const reader = new Reader(bytes.subarray(4));
  readRequestHeader(reader, requestHeaderVersion(apiKey, apiVersion));
  return 4 + reader.offset;
}

function mutateFrame(random: Random, frame: Uint8Array, mutation: FrameMutation, apiKey: number, apiVersion: number, apis: AdvertisedApis): { bytes: Uint8Array; abandon: boolean } {
  const payload = frame.slice(4);
  const view = new DataView(payload.buffer);
  const start = bodyStart(frame, apiKey, apiVersion) - 4;
  switch (mutation) {
    case "none":
      return { bytes: frame, abandon: false };
    case "bit-flip":
      flipBits(random, payload, random.chance(0.8) ? start : 0, payload.byteLength);
      return { bytes: withSize(payload), abandon: false };
    case "truncate":
      return { bytes: withSize(payload.subarray(0, random.int(0, Math.max(0, payload.byteLength - 1)))), abandon: false };
    case "int-extreme": {
      if (payload.byteLength - start < 4) return { bytes: withSize(payload), abandon: false };
      const at = random.int(start, payload.byteLength - 4);
      if (random.chance(0.5)) view.setInt32(at, random.pick(INT32_EXTREMES));
      else view.setInt16(at, random.pick([-32768, -1, 0, 32767]));
      return { bytes: withSize(payload), abandon: false };
    }
    case "varint-extreme": {
      // A 5-byte varint of 2^32-1 (a huge compact array or string length) spliced in at a random point.
      const at = random.int(start, payload.byteLength);
      const varint = random.pick([[0xff, 0xff, 0xff, 0xff, 0x0f], [0xff, 0xff, 0xff, 0xff, 0xff, 0x01], [0x80, 0x80, 0x80, 0x80, 0x08], [0x00]]);
      const out = new Uint8Array(payload.byteLength + varint.length);
      out.set(payload.subarray(0, at));
      out.set(varint, at);
      out.set(payload.subarray(at), at + varint.length);
      return { bytes: withSize(out), abandon: false };
    }
    case "tagged-fields":
      return { bytes: withSize(withTaggedFields(random, payload)), abandon: false };
    case "wrong-version": {
      const range = apis.get(apiKey)!;
      view.setInt16(2, random.pick([range.maxVersion + 1, range.minVersion - 1, -1, 32767, random.int(range.minVersion, range.maxVersion)]));
      return { bytes: withSize(payload), abandon: false };
    }
    case "swap-api":
      view.setInt16(0, random.chance(0.8) ? random.pick([...apis.keys()]) : random.pick([-1, 7, 99, 32767]));
      return { bytes: withSize(payload), abandon: false };
    case "garbage-body": {
      const out = new Uint8Array(start + random.int(0, 200));
      out.set(payload.subarray(0, start));
      out.set(random.bytes(out.byteLength - start), start);
      return { bytes: withSize(out), abandon: false };
    }
    case "size-lie": {
      const sent = withSize(payload);
      const claimed = random.pick([payload.byteLength + random.int(1, 1000), Math.max(0, payload.byteLength - random.int(1, 8)), -1, 0, 2147483647]);
      new DataView(sent.buffer).setInt32(0, claimed);
      return { bytes: sent, abandon: true };
    }
    case "concatenate": {
      const out = new Uint8Array(payload.byteLength * 2 - start);
      out.set(payload);
      out.set(payload.subarray(start), payload.byteLength);
      return { bytes: withSize(out), abandon: false };
    }
    case "header": {
      // The client id's length (int16 after key, version and correlation id): extremes and lies.
      if (payload.byteLength >= 10) view.setInt16(8, random.pick([-2, -1, 0, 32767, view.getInt16(8) + 1]));
      return { bytes: withSize(payload), abandon: false };
    }
  }
}

/** Flexible versions end with the top-level tagged-field count (usually 0): replace it with random, mostly well-formed, tagged fields. */
function withTaggedFields(random: Random, payload: Uint8Array): Uint8Array {
  const writer = new Writer();
  const count = random.int(1, 4);
  writer.writeUnsignedVarint(count);
  let tag = random.int(0, 5);
  for (let i = 0; i < count; i++) {
    const data = random.bytes(random.int(0, 20));
    writer.writeUnsignedVarint(tag);
    writer.writeUnsignedVarint(random.chance(0.9) ? data.byteLength : random.pick([data.byteLength + 1, 0x7fffffff]));
    writer.writeRaw(data);
    tag += random.int(random.chance(0.9) ? 1 : 0, 100);
  }
  const fields = writer.toUint8Array();
  const out = new Uint8Array(payload.byteLength - 1 + fields.byteLength);
  out.set(payload.subarray(0, payload.byteLength - 1));
  out.set(fields, payload.byteLength - 1);
  return out;
}

/**
 * What dispatch will do with the frame: answer it if the header and body decode for an advertised version
 * (an ApiVersions of any version is answered), close the connection otherwise. Produce with acks=0 gets no answer.
 */
function expectation(bytes: Uint8Array, apis: AdvertisedApis): Pick<FuzzFrame, "expect" | "mayWaitMs"> {
  const close = { expect: "close", mayWaitMs: 0 } as const;
  if (bytes.byteLength < 4) return close;
  const size = new DataView(bytes.buffer, bytes.byteOffset).getInt32(0);
  if (size !== bytes.byteLength - 4) return close;
  const payload = bytes.subarray(4);
  if (payload.byteLength < 8) return close;
  const apiKey = readUint16(payload, 0);
  const apiVersion = (readUint16(payload, 2) << 16) >> 16;
  const range = apis.get(apiKey);
  if (!range) return close;
  const supported = apiVersion >= range.minVersion && apiVersion <= range.maxVersion;
  if (!supported && apiKey !== ApiKey.ApiVersions) return close;
  let request: { acks?: number; maxWaitMs?: number };
  try {
    const reader = new Reader(payload);
    readRequestHeader(reader, supported ? requestHeaderVersion(apiKey, apiVersion) : 1);
    if (!supported) return { expect: "answer", mayWaitMs: 0 };
    request = apiSchemas.get(apiKey)!.readRequest(reader, apiVersion) as typeof request;
  } catch {
    return close;
  }
  if (apiKey === ApiKey.Produce && request.acks === 0) return { expect: "no-answer", mayWaitMs: 0 };
  if (apiKey === ApiKey.Fetch) return { expect: "answer", mayWaitMs: Math.max(0, request.maxWaitMs ?? 0) };
  // A member's JoinGroup or SyncGroup waits for the rest of its group, as long as the group's timeouts allow.
  if (apiKey === ApiKey.JoinGroup || apiKey === ApiKey.SyncGroup) return { expect: "answer", mayWaitMs: Number.POSITIVE_INFINITY };
  return { expect: "answer", mayWaitMs: 0 };
}

// ---- what a frame changes ----

export interface FrameEffects {
  /** Produce: the offsets each named partition grows by if its data is accepted; -1 when that cannot be told (idempotent or malformed batches). */
  appends: { topic: string; partition: number; offsets: number }[];
  /** DeleteTopics: the topic names it deletes. */
  deletedTopics: string[];
}

const NO_EFFECTS: FrameEffects = { appends: [], deletedTopics: [] };

/**
 * The effects of the request the broker frames from these bytes (a lying size prefix included: a shorter
 * claim frames a prefix), decoded the way dispatch decodes it. Used to keep a ledger of what was acknowledged.
 */
function effectsOf(bytes: Uint8Array, apis: AdvertisedApis): FrameEffects {
  if (bytes.byteLength < 12) return NO_EFFECTS;
  const claimed = new DataView(bytes.buffer, bytes.byteOffset).getInt32(0);
  if (claimed < 8 || claimed > bytes.byteLength - 4) return NO_EFFECTS;
  const payload = bytes.subarray(4, 4 + claimed);
  const apiKey = readUint16(payload, 0);
  const apiVersion = (readUint16(payload, 2) << 16) >> 16;
  const range = apis.get(apiKey);
  if (!range || apiVersion < range.minVersion || apiVersion > range.maxVersion) return NO_EFFECTS;
  if (apiKey !== ApiKey.Produce && apiKey !== ApiKey.DeleteTopics) return NO_EFFECTS;
  let request: { topicData?: { name: string; partitionData: { index: number; records: Uint8Array | null }[] }[]; topicNames?: string[]; topics?: { name: string | null }[] };
  try {
    const reader = new Reader(payload);
    readRequestHeader(reader, requestHeaderVersion(apiKey, apiVersion));
    request = apiSchemas.get(apiKey)!.readRequest(reader, apiVersion) as typeof request;
  } catch {
    return NO_EFFECTS;
  }
  if (apiKey === ApiKey.DeleteTopics) {
    const names = [...(request.topicNames ?? []), ...(request.topics ?? []).map((topic) => topic.name ?? "")];
    return { appends: [], deletedTopics: names };
  }
  const appends: FrameEffects["appends"] = [];
  for (const topic of request.topicData ?? []) {
    for (const partition of topic.partitionData) appends.push({ topic: topic.name, partition: partition.index, offsets: offsetsIn(partition.records) });
  }
  return { appends, deletedTopics: [] };
}

/** The offsets the batches in a records field take, or -1 if they are malformed or idempotent (a duplicate is acknowledged without an append). */
function offsetsIn(records: Uint8Array | null): number {
  if (records === null) return 0;
  const view = new DataView(records.buffer, records.byteOffset, records.byteLength);
  let offsets = 0;
  let position = 0;
  // Bounded by the bytes: every batch is at least RECORDS_OFFSET long.
  while (position < records.byteLength) {
    if (records.byteLength - position < RECORDS_OFFSET) return -1;
    const size = view.getInt32(position + BATCH_LENGTH_OFFSET) + 12;
    if (size < RECORDS_OFFSET || position + size > records.byteLength) return -1;
    if (view.getInt8(position + MAGIC_OFFSET) !== 2) return -1;
    if (view.getBigInt64(position + PRODUCER_ID_OFFSET) >= 0n) return -1;
    const lastOffsetDelta = view.getInt32(position + LAST_OFFSET_DELTA_OFFSET);
    if (lastOffsetDelta < 0) return -1;
    offsets += lastOffsetDelta + 1;
    position += size;
  }
  return offsets;
}
