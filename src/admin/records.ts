// Records over HTTP: produce and read through the same capabilities the Produce and Fetch handlers use
// (api/context.ts): leadership checks, the owning worker's append, acks=all's wait for the ISR, and the
// worker's read up to the high watermark. Reading decodes batches (decompressed within a bound); the Kafka
// path never does, so this is the message browser's and HTTP consume's cost alone.
import type { BrokerServices, ClientConnection } from "../api/context.ts";
import { AclOperation, canTopic } from "../api/authorize.ts";
import { murmur2 } from "../cli/producer.ts";
import { isInternalTopic } from "../metadata/internal-topics.ts";
import { ErrorCode, errorName } from "../protocol/errors.ts";
import { COMPRESSION_CODEC_MASK, CONTROL_FLAG_MASK, dataViewOf, readBatchHeader, RECORD_BATCH_OVERHEAD, TIMESTAMP_TYPE_MASK } from "../records/batch.ts";
import { buildBatch, type RecordInput } from "../records/compression.ts";
import { decompressBounded } from "../records/decompression.ts";
import { decodeRecords, type RecordHeader } from "../records/record.ts";
import type { BrokerTraffic } from "./traffic-counters.ts";

/** A failure the HTTP layer turns into a status and a Kafka error name. */
export class AdminRequestError extends Error {
  constructor(readonly status: number, message: string, readonly errorCode: number = ErrorCode.NONE) {
    super(message);
  }
}

export interface ReadRecord {
  offset: number;
  timestampMs: number;
  key: Uint8Array | null;
  value: Uint8Array | null;
  headers: RecordHeader[];
}

export interface ProducedRecord extends RecordInput {
  partition?: number;
}

interface Access {
  services: BrokerServices;
  connection: ClientConnection;
  traffic: BrokerTraffic;
  /** message.decompressed.max.bytes: the bound produce validated each batch's records against. */
  decompressedMaxBytes?: number;
}

/** acks=all: how long an HTTP produce waits for the ISR. */
const PRODUCE_TIMEOUT_MS = 30_000;
let roundRobin = 0;

/** Appends records to a topic (grouped into one batch per partition, acks=all). One result per record, in order. */
export async function produceRecords(access: Access, topicName: string, records: readonly ProducedRecord[]): Promise<{ partition: number; offset: number; errorCode: number; error: string | null }[]> {
  const { services } = access;
  const topic = services.topics.get(topicName);
  if (!canTopic({ authorizer: services.authorizer, connection: access.connection, audit: services.audit }, AclOperation.WRITE, topicName)) throw new AdminRequestError(403, `not authorized to write to topic ${topicName}`, ErrorCode.TOPIC_AUTHORIZATION_FAILED);
  if (!topic) throw new AdminRequestError(404, `topic ${topicName} does not exist`, ErrorCode.UNKNOWN_TOPIC_OR_PARTITION);
  if (isInternalTopic(topicName)) throw new AdminRequestError(403, `topic ${topicName} is internal`, ErrorCode.INVALID_TOPIC_EXCEPTION);
  const partitionCount = topic.partitions.length;
  const byPartition = new Map<number, number[]>();
  records.forEach((record, index) => {
    let partition = record.partition;
    if (partition === undefined) {
      const key = typeof record.key === "string" ? new TextEncoder().encode(record.key) : record.key;
      // Kafka's default partitioner: murmur2 of the key, else spread (round robin here: one batch per request).
      partition = key ? (murmur2(key) & 0x7fffffff) % partitionCount : roundRobin++ % partitionCount;
    }
    if (!Number.isInteger(partition) || partition < 0 || partition >= partitionCount) throw new AdminRequestError(404, `topic ${topicName} has no partition ${partition}`, ErrorCode.UNKNOWN_TOPIC_OR_PARTITION);
    let indexes = byPartition.get(partition);
    if (!indexes) byPartition.set(partition, (indexes = []));
    indexes.push(index);
  });
  const results = records.map(() => ({ partition: -1, offset: -1, errorCode: ErrorCode.UNKNOWN_SERVER_ERROR as number, error: null as string | null }));
  const items = [];
  const itemIndexes: number[][] = [];
  for (const [partition, indexes] of byPartition) {
    const errorCode = services.replication.checkProduceAllowed(topic, partition, -1);
    if (errorCode !== ErrorCode.NONE) {
      for (const index of indexes) results[index] = { partition, offset: -1, errorCode, error: errorName(errorCode) };
      continue;
    }
    const batch = buildBatch({ records: indexes.map((index) => records[index]!) });
    items.push({ topic: topicName, partition, records: batch, leaderEpoch: topic.partitions[partition]!.leaderEpoch });
    itemIndexes.push(indexes);
  }
  if (items.length === 0) return results;
  const sizes = items.map((item) => item.records.byteLength);
  const appended = await services.partitions.produce(items, null);
  const committed = await services.replication.afterLeaderAppend(items, appended, -1, PRODUCE_TIMEOUT_MS);
  items.forEach((item, i) => {
    const result = appended[i]!;
    const errorCode = result.errorCode !== ErrorCode.NONE ? result.errorCode : committed[i]!;
    if (errorCode === ErrorCode.NONE) access.traffic.produced(item.topic, item.partition, sizes[i]!, result.lastOffset - result.baseOffset + 1);
    itemIndexes[i]!.forEach((recordIndex, position) => {
      results[recordIndex] = errorCode === ErrorCode.NONE
        ? { partition: item.partition, offset: result.baseOffset + position, errorCode, error: null }
        : { partition: item.partition, offset: -1, errorCode, error: result.errorMessage ?? errorName(errorCode) };
    });
  });
  return results;
}

/** Records of one partition from `fromOffset` (committed ones only: below the high watermark), at most maxRecords and about maxBytes of log. */
export async function readRecords(access: Access, topicName: string, partition: number, fromOffset: number, maxRecords: number, maxBytes: number): Promise<{ records: ReadRecord[]; highWatermark: number; logStartOffset: number }> {
  const { services } = access;
  if (!canTopic({ authorizer: services.authorizer, connection: access.connection, audit: services.audit }, AclOperation.READ, topicName)) throw new AdminRequestError(403, `not authorized to read topic ${topicName}`, ErrorCode.TOPIC_AUTHORIZATION_FAILED);
  const topic = services.topics.get(topicName);
  if (!topic || !Number.isInteger(partition) || partition < 0 || partition >= topic.partitions.length) throw new AdminRequestError(404, `topic ${topicName} has no partition ${partition}`, ErrorCode.UNKNOWN_TOPIC_OR_PARTITION);
  const allowed = services.replication.checkFetchAllowed(topicName, partition, -1, -1);
  if (allowed !== ErrorCode.NONE) throw new AdminRequestError(421, `${topicName}-${partition}: ${errorName(allowed)} (ask the partition's leader)`, allowed);
  const records: ReadRecord[] = [];
  let offset = fromOffset;
  let bytesRead = 0;
  let highWatermark = services.replication.readLimit(topicName, partition, -1);
  let logStartOffset = -1;
  // Each round reads at least one batch or stops; bounded by maxBytes and a round count.
  for (let round = 0; round < 1000 && records.length < maxRecords && bytesRead < maxBytes; round++) {
    highWatermark = services.replication.readLimit(topicName, partition, -1);
    const [result] = await services.partitions.read([{ topic: topicName, partition, fetchOffset: offset, maxBytes: Math.min(maxBytes - bytesRead, 1_048_576), maxOffsetExclusive: highWatermark, minOneBatch: true }]);
    if (!result) break;
    logStartOffset = result.logStartOffset;
    if (result.errorCode === ErrorCode.OFFSET_OUT_OF_RANGE) throw new AdminRequestError(416, `offset ${offset} is outside ${result.logStartOffset}..${highWatermark} of ${topicName}-${partition}`, result.errorCode);
    if (result.errorCode !== ErrorCode.NONE) throw new AdminRequestError(503, `${topicName}-${partition}: ${errorName(result.errorCode)}`, result.errorCode);
    if (!result.slice || result.slice.sizeBytes === 0) break;
    const mapped = services.fetchViews.records(result.slice);
    if (!mapped) break;
    const bytes = mapped.bytes;
    bytesRead += bytes.byteLength;
    const next = decodeBatches(bytes, offset, maxRecords - records.length, records, access.decompressedMaxBytes ?? 32 * 1024 * 1024);
    if (next <= offset) break;
    offset = next;
  }
  return { records, highWatermark, logStartOffset };
}

/** Appends the records of whole batches at or after `fromOffset`; returns the offset after the last batch read. */
function decodeBatches(bytes: Uint8Array, fromOffset: number, wanted: number, into: ReadRecord[], decompressedMaxBytes: number): number {
  const view = dataViewOf(bytes);
  const header = readBatchHeader(view, 0);
  let position = 0;
  let next = fromOffset;
  while (position + RECORD_BATCH_OVERHEAD <= bytes.byteLength && wanted > 0) {
    readBatchHeader(view, position, header);
    if (header.sizeBytes <= 0 || position + header.sizeBytes > bytes.byteLength) break;
    next = header.baseOffset + header.lastOffsetDelta + 1;
    if ((header.attributes & CONTROL_FLAG_MASK) === 0) {
      const section = bytes.subarray(position + RECORD_BATCH_OVERHEAD, position + header.sizeBytes);
      // Produce refused batches whose records decompress beyond message.decompressed.max.bytes; the same bound holds here.
      const records = decodeRecords(decompressBounded(header.attributes & COMPRESSION_CODEC_MASK, section, decompressedMaxBytes), header.recordCount);
      const logAppendTime = (header.attributes & TIMESTAMP_TYPE_MASK) !== 0;
      for (const record of records) {
        const offset = header.baseOffset + record.offsetDelta;
        if (offset < fromOffset || wanted <= 0) continue;
        into.push({ offset, timestampMs: logAppendTime ? header.maxTimestamp : header.baseTimestamp + record.timestampDelta, key: record.key, value: record.value, headers: record.headers });
        wanted--;
        if (wanted === 0) next = offset + 1;
      }
    }
    position += header.sizeBytes;
  }
  return next;
}
