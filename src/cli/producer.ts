// Batching producer for `bunka produce` and `bunka perf produce`: records are grouped per partition into
// v2 batches (records/compression.ts buildBatch) of up to batchBytes, sent to each partition's leader with
// Produce v7 and a bounded number of requests in flight. Keyed records go where Kafka's default partitioner
// puts them (murmur2 of the key), keyless ones stick to one partition per batch (Kafka's sticky partitioner).
import type { KafkaConnection } from "../client/kafka-connection.ts";
import { ErrorCode, errorName } from "../protocol/errors.ts";
import { ApiKey } from "../protocol/generated/index.ts";
import { CompressionType } from "../records/batch.ts";
import { buildBatch, type RecordInput } from "../records/compression.ts";
import { isRetriable, type KafkaClient, type TopicMetadata } from "./kafka-client.ts";
import { CliError } from "./output.ts";

const PRODUCE_VERSION = 7;
const RECORD_OVERHEAD_BYTES = 24;
const SEND_ATTEMPTS_MAX = 10;
const RETRY_BACKOFF_MS = 200;

export const COMPRESSION_CODECS: Record<string, number> = {
  none: CompressionType.NONE,
  gzip: CompressionType.GZIP,
  lz4: CompressionType.LZ4,
  zstd: CompressionType.ZSTD,
};

export function parseAcks(text: string): number {
  if (text === "all" || text === "-1") return -1;
  if (text === "0" || text === "1") return Number(text);
  throw new CliError(`--acks must be all, -1, 0 or 1, got "${text}"`);
}

export interface ProducerOptions {
  acks: number;
  compression: number;
  /** Records per partition are sent once their estimated size reaches this. */
  batchBytes: number;
  /** Produce requests waiting for an answer, at most. */
  maxInFlight: number;
  timeoutMs: number;
  /** Called once per acknowledged batch with its record count and the time from send to answer. */
  onAcknowledged?: (records: number, latencyMs: number) => void;
}

interface PendingBatch {
  records: RecordInput[];
  sizeBytes: number;
}

/** Kafka's murmur2 (Utils.murmur2), so keyed records land on the partition a Java or librdkafka client picks. */
export function murmur2(data: Uint8Array): number {
  const length = data.byteLength;
  const m = 0x5bd1e995;
  let h = (0x9747b28c ^ length) | 0;
  const whole = length & ~3;
  for (let i = 0; i < whole; i += 4) {
    let k = data[i]! | (data[i + 1]! << 8) | (data[i + 2]! << 16) | (data[i + 3]! << 24);
    k = Math.imul(k, m);
    k ^= k >>> 24;
    k = Math.imul(k, m);
    h = Math.imul(h, m) ^ k;
  }
  // The tail bytes, as Kafka's switch with fall-through does.
  const tail = length & 3;
  if (tail === 3) h ^= data[whole + 2]! << 16;
  if (tail >= 2) h ^= data[whole + 1]! << 8;
  if (tail >= 1) {
    h ^= data[whole]!;
    h = Math.imul(h, m);
  }
  h ^= h >>> 13;
  h = Math.imul(h, m);
  h ^= h >>> 15;
  return h;
}

export class BatchProducer {
  private readonly pending = new Map<number, PendingBatch>();
  private readonly inFlight = new Set<Promise<void>>();
  private stickyPartition: number;
  private failure: Error | null = null;
  sentRecords = 0;
  acknowledgedRecords = 0;

  constructor(
    private readonly client: KafkaClient,
    private topic: TopicMetadata,
    private readonly options: ProducerOptions,
  ) {
    this.stickyPartition = Math.floor(Math.random() * topic.partitions.length);
  }

  /** Queues one record; waits when maxInFlight requests are outstanding. `partition` null: the partitioner decides. */
  async add(record: RecordInput & { key: Uint8Array | null }, partition: number | null): Promise<void> {
    if (this.failure) throw this.failure;
    const count = this.topic.partitions.length;
    let target = partition;
    if (target === null) target = record.key ? (murmur2(record.key) & 0x7fffffff) % count : this.stickyPartition;
    else if (target < 0 || target >= count) throw new CliError(`partition ${target} does not exist (${this.topic.name} has ${count})`);
    let batch = this.pending.get(target);
    if (!batch) this.pending.set(target, (batch = { records: [], sizeBytes: 0 }));
    batch.records.push(record);
    batch.sizeBytes += RECORD_OVERHEAD_BYTES + (record.key?.byteLength ?? 0) + ((record.value as Uint8Array | null)?.byteLength ?? 0);
    for (const header of record.headers ?? []) batch.sizeBytes += header.key.length + (header.value?.byteLength ?? 0) + 4;
    if (batch.sizeBytes >= this.options.batchBytes) await this.sendPartition(target);
  }

  /** Sends every partly filled batch and waits for every answer. */
  async flush(): Promise<void> {
    for (const partition of [...this.pending.keys()]) await this.sendPartition(partition);
    while (this.inFlight.size > 0) await Promise.race(this.inFlight);
    if (this.failure) throw this.failure;
  }

  private async sendPartition(partition: number): Promise<void> {
    const batch = this.pending.get(partition);
    this.pending.delete(partition);
    if (!batch || batch.records.length === 0) return;
    if (partition === this.stickyPartition) this.stickyPartition = (this.stickyPartition + 1) % this.topic.partitions.length;
    while (this.inFlight.size >= this.options.maxInFlight) await Promise.race(this.inFlight);
    if (this.failure) throw this.failure;
    const bytes = buildBatch({ records: batch.records, compression: this.options.compression });
    this.sentRecords += batch.records.length;
    const sending: Promise<void> = this.send(partition, bytes, batch.records.length).then(
      () => void this.inFlight.delete(sending),
      (error) => {
        this.inFlight.delete(sending);
        this.failure ??= error instanceof Error ? error : new Error(String(error));
      },
    );
    this.inFlight.add(sending);
  }

  private async send(partition: number, batch: Uint8Array, recordCount: number): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      const leader = this.topic.partitions[partition]!.leader;
      const startedMs = performance.now();
      let errorCode: number = ErrorCode.NONE;
      let errorMessage: string | null = null;
      let connection: KafkaConnection;
      try {
        connection = await this.client.brokerConnection(leader);
      } catch (error) {
        if (attempt >= SEND_ATTEMPTS_MAX) throw error;
        await this.refresh();
        continue;
      }
      const request = {
        transactionalId: null,
        acks: this.options.acks,
        timeoutMs: this.options.timeoutMs,
        topicData: [{ name: this.topic.name, partitionData: [{ index: partition, records: batch }] }],
      };
      if (this.options.acks === 0) {
        await connection.request(ApiKey.Produce, PRODUCE_VERSION, request, false);
      } else {
        const response = await connection.request(ApiKey.Produce, PRODUCE_VERSION, request);
        const answer = response.responses[0]?.partitionResponses[0];
        errorCode = answer?.errorCode ?? ErrorCode.UNKNOWN_SERVER_ERROR;
        errorMessage = answer?.errorMessage ?? null;
      }
      if (errorCode === ErrorCode.NONE) {
        this.acknowledgedRecords += recordCount;
        this.options.onAcknowledged?.(recordCount, performance.now() - startedMs);
        return;
      }
      if (!isRetriable(errorCode) || attempt >= SEND_ATTEMPTS_MAX) {
        throw new CliError(`produce to ${this.topic.name}-${partition} failed: ${errorName(errorCode)}${errorMessage ? ` (${errorMessage})` : ""}`);
      }
      await Bun.sleep(RETRY_BACKOFF_MS);
      await this.refresh();
    }
  }

  private async refresh(): Promise<void> {
    const fresh = (await this.client.metadata([this.topic.name])).topics.find((topic) => topic.name === this.topic.name);
    if (fresh && fresh.errorCode === ErrorCode.NONE && fresh.partitions.length >= this.topic.partitions.length) this.topic = fresh;
  }
}
