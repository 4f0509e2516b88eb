// A minimal KIP-932 share consumer over the generated codecs (ShareGroupHeartbeat, ShareFetch, ShareAcknowledge
// v0). No client available here speaks share groups at the v0 schemas this broker implements (librdkafka 2.15
// has no share consumer; @platformatic/kafka has none either), so tests and tools use this one.
//
// Limits, on purpose: it heartbeats to one broker (host, port: the group's coordinator) and fetches from one
// broker (`leader`, default the same), which must lead every assigned partition: true of a single node, and of a
// cluster's 1-partition topic once the caller looked its leader up. Heartbeats go over their own connection so a
// long-polling ShareFetch never delays them. Acknowledgements are sent with ShareAcknowledge, so the caller
// learns per partition whether they were taken (and durable) or not.
import { KafkaConnection, type KafkaConnectionOptions } from "./kafka-connection.ts";
import { Apis } from "../protocol/generated/index.ts";
import { ErrorCode, errorName } from "../protocol/errors.ts";
import { batchSizeBytes, dataViewOf, RECORDS_OFFSET } from "../records/batch.ts";
import { readBatchRecords, type BatchRecord } from "../records/compression.ts";
import { AcknowledgeType } from "../share/share-partition.ts";

export { AcknowledgeType };

export interface ShareConsumerOptions extends Pick<KafkaConnectionOptions, "host" | "port" | "clientId" | "requestTimeoutMs"> {
  groupId: string;
  topics: string[];
  /** ShareFetch MaxWaitMs (long poll). */
  maxWaitMs?: number;
  /** ShareFetch MaxBytes and per-partition max bytes. */
  maxBytes?: number;
  /** Where ShareFetch/ShareAcknowledge go when the partitions' leader is not the group's coordinator (host, port). */
  leader?: { host: string; port: number };
}

export interface ShareRecord extends BatchRecord {
  topicId: string;
  partition: number;
  deliveryCount: number;
}

export class ShareConsumerError extends Error {
  constructor(
    readonly errorCode: number,
    message: string,
  ) {
    super(message);
  }
}

interface PendingAck {
  topicId: string;
  partition: number;
  offset: number;
  type: number;
}

const hex = (bytes: Uint8Array) => Buffer.from(bytes).toString("hex");

export class ShareConsumer {
  memberId = "";
  private memberEpoch = 0;
  private sessionEpoch = 0;
  private heartbeatIntervalMs = 1000;
  private heartbeatTimer: ReturnType<typeof setTimeout> | null = null;
  private heartbeatError: Error | null = null;
  private assignment: { topicId: Uint8Array; partitions: number[] }[] = [];
  private pending: PendingAck[] = [];
  private closed = false;

  private constructor(
    private readonly options: ShareConsumerOptions,
    private readonly coordinator: KafkaConnection,
    private readonly fetcher: KafkaConnection,
  ) {}

  /** Connects, joins the share group and waits for its first assignment. */
  static async connect(options: ShareConsumerOptions): Promise<ShareConsumer> {
    const connectionOptions = { host: options.host, port: options.port, clientId: options.clientId ?? "bunka-share-consumer", requestTimeoutMs: options.requestTimeoutMs ?? 30_000 };
    const coordinator = await KafkaConnection.connect(connectionOptions);
    const fetcher = await KafkaConnection.connect({ ...connectionOptions, ...(options.leader ?? {}) }).catch((error) => {
      coordinator.close();
      throw error;
    });
    const consumer = new ShareConsumer(options, coordinator, fetcher);
    try {
      await consumer.heartbeat();
    } catch (error) {
      consumer.closeConnections();
      throw error;
    }
    consumer.scheduleHeartbeat();
    return consumer;
  }

  private async heartbeat(): Promise<void> {
    const response = await this.coordinator.request(Apis.ShareGroupHeartbeat.apiKey, 0, {
      groupId: this.options.groupId,
      memberId: this.memberId,
      memberEpoch: this.memberEpoch,
      rackId: null,
      subscribedTopicNames: this.memberEpoch === 0 ? this.options.topics : null,
    });
    if (response.errorCode === ErrorCode.UNKNOWN_MEMBER_ID || response.errorCode === ErrorCode.FENCED_MEMBER_EPOCH) {
      // Rejoin (the broker restarted, or the session expired): what this member held is no longer its own.
      this.memberEpoch = 0;
      this.pending = [];
      return;
    }
    if (response.errorCode !== ErrorCode.NONE) throw new ShareConsumerError(response.errorCode, `ShareGroupHeartbeat: ${errorName(response.errorCode)} ${response.errorMessage ?? ""}`);
    if (response.memberId) this.memberId = response.memberId;
    this.memberEpoch = response.memberEpoch;
    this.heartbeatIntervalMs = response.heartbeatIntervalMs;
    if (response.assignment) this.assignment = response.assignment.topicPartitions.map((entry: { topicId: Uint8Array; partitions: number[] }) => ({ topicId: new Uint8Array(entry.topicId), partitions: [...entry.partitions] }));
  }

  private scheduleHeartbeat(): void {
    if (this.closed) return;
    this.heartbeatTimer = setTimeout(() => {
      this.heartbeat().then(
        () => this.scheduleHeartbeat(),
        (error) => {
          this.heartbeatError = error instanceof Error ? error : new Error(String(error));
        },
      );
    }, Math.min(this.heartbeatIntervalMs, 1000));
  }

  get assignedPartitions(): number {
    return this.assignment.reduce((sum, entry) => sum + entry.partitions.length, 0);
  }

  private nextSessionEpoch(): void {
    this.sessionEpoch = this.sessionEpoch === 0x7fffffff ? 1 : this.sessionEpoch + 1;
  }

  /**
   * One ShareFetch: the records this member acquired (offsets of acquired ranges that hold no record are
   * acknowledged as gaps on the next acknowledge()). Throws on a connection failure or top-level error.
   */
  async poll(): Promise<ShareRecord[]> {
    if (this.heartbeatError) throw this.heartbeatError;
    if (this.memberEpoch === 0) await this.heartbeat();
    const maxBytes = this.options.maxBytes ?? 1024 * 1024;
    const request = {
      groupId: this.options.groupId,
      memberId: this.memberId,
      shareSessionEpoch: this.sessionEpoch,
      maxWaitMs: this.options.maxWaitMs ?? 500,
      minBytes: 1,
      maxBytes,
      // A session's first request names every partition; later ones only continue it (incremental, nothing to add).
      topics: this.sessionEpoch === 0 ? this.assignment.map((entry) => ({ topicId: entry.topicId, partitions: entry.partitions.map((partition) => ({ partitionIndex: partition, partitionMaxBytes: maxBytes, acknowledgementBatches: [] })) })) : [],
      forgottenTopicsData: [],
    };
    const response = await this.fetcher.request(Apis.ShareFetch.apiKey, 0, request);
    if (response.errorCode === ErrorCode.SHARE_SESSION_NOT_FOUND || response.errorCode === ErrorCode.INVALID_SHARE_SESSION_EPOCH) {
      this.sessionEpoch = 0;
      this.pending = [];
      return [];
    }
    if (response.errorCode !== ErrorCode.NONE) throw new ShareConsumerError(response.errorCode, `ShareFetch: ${errorName(response.errorCode)} ${response.errorMessage ?? ""}`);
    this.nextSessionEpoch();
    const out: ShareRecord[] = [];
    for (const topic of response.responses) {
      const topicId = hex(topic.topicId);
      for (const partition of topic.partitions) {
        if (partition.errorCode !== ErrorCode.NONE) throw new ShareConsumerError(partition.errorCode, `ShareFetch ${topicId}-${partition.partitionIndex}: ${errorName(partition.errorCode)}`);
        if (partition.acquiredRecords.length === 0) continue;
        const byOffset = new Map<number, BatchRecord>();
        const bytes: Uint8Array = partition.records ?? new Uint8Array(0);
        const view = dataViewOf(bytes);
        for (let position = 0; position + RECORDS_OFFSET <= bytes.byteLength; ) {
          const size = batchSizeBytes(view, position);
          if (size < RECORDS_OFFSET || position + size > bytes.byteLength) break;
          for (const record of await readBatchRecords(bytes.subarray(position, position + size))) byOffset.set(record.offset, record);
          position += size;
        }
        for (const range of partition.acquiredRecords) {
          for (let offset = Number(range.firstOffset); offset <= Number(range.lastOffset); offset++) {
            const record = byOffset.get(offset);
            if (record) out.push({ ...record, topicId, partition: partition.partitionIndex, deliveryCount: range.deliveryCount });
            else this.pending.push({ topicId, partition: partition.partitionIndex, offset, type: AcknowledgeType.GAP });
          }
        }
      }
    }
    return out;
  }

  /** Queues an acknowledgement (sent by the next acknowledge()). */
  ack(record: Pick<ShareRecord, "topicId" | "partition" | "offset">, type: number = AcknowledgeType.ACCEPT): void {
    this.pending.push({ topicId: record.topicId, partition: record.partition, offset: record.offset, type });
  }

  /**
   * Sends the queued acknowledgements with ShareAcknowledge. Returns the offsets whose acknowledgement the
   * broker took, and those it refused (error per partition). Throws when the outcome is unknown (connection lost).
   */
  async acknowledge(): Promise<{ taken: PendingAck[]; refused: { ack: PendingAck; errorCode: number }[] }> {
    const acks = this.pending;
    this.pending = [];
    if (acks.length === 0) return { taken: [], refused: [] };
    const byPartition = new Map<string, PendingAck[]>();
    for (const ack of acks) {
      const key = `${ack.topicId}:${ack.partition}`;
      const list = byPartition.get(key) ?? [];
      list.push(ack);
      byPartition.set(key, list);
    }
    const topics = new Map<string, { topicId: Uint8Array; partitions: { partitionIndex: number; acknowledgementBatches: { firstOffset: number; lastOffset: number; acknowledgeTypes: number[] }[] }[] }>();
    for (const list of byPartition.values()) {
      list.sort((a, b) => a.offset - b.offset);
      const batches: { firstOffset: number; lastOffset: number; acknowledgeTypes: number[] }[] = [];
      for (const ack of list) {
        const last = batches[batches.length - 1];
        if (last && last.lastOffset === ack.offset - 1) {
          last.lastOffset = ack.offset;
          last.acknowledgeTypes.push(ack.type);
        } else batches.push({ firstOffset: ack.offset, lastOffset: ack.offset, acknowledgeTypes: [ack.type] });
      }
      // One type for a whole range when they agree (the protocol allows either form).
      for (const batch of batches) if (batch.acknowledgeTypes.every((type) => type === batch.acknowledgeTypes[0])) batch.acknowledgeTypes = [batch.acknowledgeTypes[0]!];
      const { topicId, partition } = list[0]!;
      const topic = topics.get(topicId) ?? { topicId: new Uint8Array(Buffer.from(topicId, "hex")), partitions: [] };
      topic.partitions.push({ partitionIndex: partition, acknowledgementBatches: batches });
      topics.set(topicId, topic);
    }
    const response = await this.fetcher.request(Apis.ShareAcknowledge.apiKey, 0, { groupId: this.options.groupId, memberId: this.memberId, shareSessionEpoch: this.sessionEpoch, topics: [...topics.values()] });
    if (response.errorCode !== ErrorCode.NONE) {
      if (response.errorCode === ErrorCode.SHARE_SESSION_NOT_FOUND || response.errorCode === ErrorCode.INVALID_SHARE_SESSION_EPOCH) this.sessionEpoch = 0;
      return { taken: [], refused: acks.map((ack) => ({ ack, errorCode: response.errorCode })) };
    }
    this.nextSessionEpoch();
    const errors = new Map<string, number>();
    for (const topic of response.responses) for (const partition of topic.partitions) errors.set(`${hex(topic.topicId)}:${partition.partitionIndex}`, partition.errorCode);
    const taken: PendingAck[] = [];
    const refused: { ack: PendingAck; errorCode: number }[] = [];
    for (const ack of acks) {
      const errorCode = errors.get(`${ack.topicId}:${ack.partition}`) ?? ErrorCode.UNKNOWN_SERVER_ERROR;
      if (errorCode === ErrorCode.NONE) taken.push(ack);
      else refused.push({ ack, errorCode });
    }
    return { taken, refused };
  }

  /** Closes the share session (releasing what it still holds) and leaves the group; best effort. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.heartbeatTimer) clearTimeout(this.heartbeatTimer);
    try {
      if (this.sessionEpoch !== 0) await this.fetcher.request(Apis.ShareAcknowledge.apiKey, 0, { groupId: this.options.groupId, memberId: this.memberId, shareSessionEpoch: -1, topics: [] });
      await this.coordinator.request(Apis.ShareGroupHeartbeat.apiKey, 0, { groupId: this.options.groupId, memberId: this.memberId, memberEpoch: -1, rackId: null, subscribedTopicNames: null });
    } catch {
      // The broker is gone: there is nothing to leave.
    }
    this.closeConnections();
  }

  /** Drops the connections without telling the broker (a crashed client, or a broker that died). */
  closeConnections(): void {
    this.closed = true;
    if (this.heartbeatTimer) clearTimeout(this.heartbeatTimer);
    this.coordinator.close();
    this.fetcher.close();
  }
}
