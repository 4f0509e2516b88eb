// Dead-letter topic of a share group (KIP-1191): a record rejected by a consumer, or archived after its last
// allowed delivery, is copied (key, value, headers, timestamp) to the group's `errors.deadletterqueue.topic.name`
// with headers saying where it came from and why (the names of KIP-1317's draft: `_dlq.errors.*`). The
// topic is created on first use (one partition, the broker's default replication) when it does not exist;
// a source partition's records go to partition (source partition mod DLQ partitions). Written before the
// share state that archives them is persisted, so a crash in between delivers the record again and it may
// reach the DLQ twice: at least once, never lost.
import { ErrorCode } from "../protocol/errors.ts";
import { batchBaseOffset, batchLastOffset, batchSizeBytes, dataViewOf, RECORDS_OFFSET, batchAttributes, CONTROL_FLAG_MASK } from "../records/batch.ts";
import { buildBatch, readBatchRecords, type RecordInput } from "../records/compression.ts";
import type { ProduceItem } from "../partition/messages.ts";
import type { ShareServices } from "./share-services.ts";
import type { ArchivedRecord } from "./share-partition.ts";

const encoder = new TextEncoder();
/** Reads per dead-letter write, each up to READ_BYTES: the archived offsets of one acknowledgement are in one window. */
const READS_MAX = 64;
const READ_BYTES = 1024 * 1024;

export interface DeadLetterSource {
  groupId: string;
  topic: string;
  partition: number;
}

/** Copies the archived records to `deadLetterTopic`. Resolves with the error code of the append (NONE when written). */
export async function writeDeadLetters(services: ShareServices, source: DeadLetterSource, archived: readonly ArchivedRecord[], deadLetterTopic: string): Promise<number> {
  if (archived.length === 0) return ErrorCode.NONE;
  const wanted = new Map(archived.map((record) => [record.offset, record]));
  const offsets = [...wanted.keys()].sort((a, b) => a - b);
  const records: RecordInput[] = [];
  let fetchOffset = offsets[0]!;
  const lastWanted = offsets[offsets.length - 1]!;
  // Reads stop at whole batches below the limit: the high watermark, not the last wanted offset (its batch may go on).
  const readableEnd = services.replication.readLimit(source.topic, source.partition, -1);
  for (let reads = 0; fetchOffset <= lastWanted && reads < READS_MAX; reads++) {
    const [read] = await services.partitions.read([{ topic: source.topic, partition: source.partition, fetchOffset, maxBytes: READ_BYTES, maxOffsetExclusive: readableEnd, minOneBatch: true }]);
    if (!read || read.errorCode !== ErrorCode.NONE || !read.slice) break;
    const mapped = services.fetchViews.records(read.slice);
    if (!mapped) continue;
    const bytes = mapped.bytes;
    const view = dataViewOf(bytes);
    const before = fetchOffset;
    for (let position = 0; position + RECORDS_OFFSET <= bytes.byteLength; ) {
      const size = batchSizeBytes(view, position);
      if (size < RECORDS_OFFSET || position + size > bytes.byteLength) break;
      const last = batchLastOffset(view, position);
      if (last >= fetchOffset && (batchAttributes(view, position) & CONTROL_FLAG_MASK) === 0 && batchBaseOffset(view, position) <= lastWanted) {
        for (const record of await readBatchRecords(bytes.subarray(position, position + size))) {
          const archivedRecord = wanted.get(record.offset);
          if (!archivedRecord) continue;
          wanted.delete(record.offset);
          records.push({
            key: record.key,
            value: record.value,
            timestampMs: record.timestampMs,
            headers: [
              ...record.headers,
              { key: "_dlq.errors.disposition", value: encoder.encode(archivedRecord.reason) },
              { key: "_dlq.errors.group.id", value: encoder.encode(source.groupId) },
              { key: "_dlq.errors.original.topic", value: encoder.encode(source.topic) },
              { key: "_dlq.errors.original.partition", value: encoder.encode(String(source.partition)) },
              { key: "_dlq.errors.original.offset", value: encoder.encode(String(record.offset)) },
              { key: "_dlq.errors.delivery.count", value: encoder.encode(String(archivedRecord.deliveryCount)) },
            ],
          });
        }
      }
      fetchOffset = Math.max(fetchOffset, last + 1);
      position += size;
    }
    if (fetchOffset === before) break;
  }
  // Offsets with no record (compacted away, control batches) have nothing to copy.
  if (records.length === 0) return ErrorCode.NONE;
  return appendTo(services, deadLetterTopic, source.partition, records);
}

async function appendTo(services: ShareServices, topicName: string, sourcePartition: number, records: RecordInput[]): Promise<number> {
  let topic = services.topics.get(topicName);
  if (!topic) {
    try {
      await services.topics.createTopic({ name: topicName, numPartitions: 1, replicationFactor: -1, configs: {} });
    } catch (error) {
      services.log(`share dead-letter topic ${topicName}: ${error instanceof Error ? error.message : String(error)}`);
    }
    topic = services.topics.get(topicName);
    if (!topic) return ErrorCode.UNKNOWN_TOPIC_OR_PARTITION;
  }
  const partition = sourcePartition % topic.partitions.length;
  const allowed = services.replication.checkProduceAllowed(topic, partition, -1);
  if (allowed !== ErrorCode.NONE) return allowed;
  const batch = buildBatch({ records });
  const item: ProduceItem = { topic: topicName, partition, records: batch, leaderEpoch: topic.partitions[partition]!.leaderEpoch };
  try {
    const results = await services.partitions.produce([item], batch.buffer as ArrayBuffer);
    const committed = await services.replication.afterLeaderAppend([item], results, -1, 30_000);
    return results[0]!.errorCode !== ErrorCode.NONE ? results[0]!.errorCode : committed[0]!;
  } catch (error) {
    services.log(`share dead-letter append to ${topicName}-${partition} failed: ${error instanceof Error ? error.message : String(error)}`);
    return ErrorCode.KAFKA_STORAGE_ERROR;
  }
}
