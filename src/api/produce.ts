// Produce: record batches go to the worker that owns each partition, are validated (CRC32C), given
// offsets in place and appended exactly as received. acks=0 gets no reply at all (clients send it with
// expectResponse=false; an extra reply would break kafka-python's in-order matching).
import { ErrorCode } from "../protocol/errors.ts";
import { Apis } from "../protocol/generated/index.ts";
import type { ProduceResponse, ProduceResponsePartitionProduceResponse } from "../protocol/generated/produce.ts";
import type { ProduceItem, ProduceResult } from "../partition/messages.ts";
import { defineHandler, type Reply } from "./handler.ts";
import { isInternalTopic } from "../metadata/internal-topics.ts";
import { AclOperation, canTopic, canTransactionalId } from "./authorize.ts";
import { PRODUCER_BYTE_RATE } from "../security/quotas/model.ts";
import { verifyTransactionalBatches } from "./transaction-verification.ts";

/** recordErrors (v8+): the records that made the batch fail (Kafka's LogValidator record errors); older versions drop it. */
type PartitionReply = Pick<ProduceResponsePartitionProduceResponse, "index" | "errorCode" | "baseOffset" | "logAppendTimeMs" | "logStartOffset"> &
  Partial<Pick<ProduceResponsePartitionProduceResponse, "errorMessage" | "recordErrors">>;

const rejected = (index: number, errorCode: number, errorMessage: string | null = null): PartitionReply => ({
  index,
  errorCode,
  baseOffset: -1,
  logAppendTimeMs: -1,
  logStartOffset: -1,
  errorMessage,
});

// Produce v0-2 carry magic 0/1 message sets, which Bunka does not store; they stay in the advertised range
// only because librdkafka 2.0.2 turns compression off unless Produce v0 is in it.
const FIRST_RECORD_BATCH_VERSION = 3;

export const produceHandler = defineHandler(Apis.Produce, {
  minVersion: 0,
  maxVersion: 7,
  async handle(context, request): Promise<Reply<ProduceResponse>> {
    const { apiVersion } = context;
    // Read before the frame's buffer is transferred to a worker (it is detached, length 0, afterwards).
    const requestBytes = context.frame.payload.byteLength;
    const acks = request.acks;
    const replies: { name: string; partitionResponses: PartitionReply[] }[] = [];
    const items: ProduceItem[] = [];
    const itemReplies: { reply: { name: string; partitionResponses: PartitionReply[] }; slot: number }[] = [];

    // Kafka: WRITE on the transactional id (when given) and on each topic; IDEMPOTENT_WRITE is InitProducerId's check.
    const transactionAllowed = request.transactionalId === null || canTransactionalId(context, AclOperation.WRITE, request.transactionalId);
    for (const topicData of request.topicData) {
      const topicReply = { name: topicData.name, partitionResponses: [] as PartitionReply[] };
      replies.push(topicReply);
      const topic = context.topics.get(topicData.name);
      const authorized = transactionAllowed && canTopic(context, AclOperation.WRITE, topicData.name);
      for (const partitionData of topicData.partitionData) {
        const index = partitionData.index;
        let errorCode: number = ErrorCode.NONE;
        if (apiVersion < FIRST_RECORD_BATCH_VERSION) errorCode = ErrorCode.UNSUPPORTED_VERSION;
        else if (acks !== 0 && acks !== 1 && acks !== -1) errorCode = ErrorCode.INVALID_REQUIRED_ACKS;
        else if (!transactionAllowed) errorCode = ErrorCode.TRANSACTIONAL_ID_AUTHORIZATION_FAILED;
        else if (!authorized) errorCode = ErrorCode.TOPIC_AUTHORIZATION_FAILED;
        // Kafka: "Cannot append to internal topic" (only the coordinator writes __consumer_offsets).
        else if (isInternalTopic(topicData.name)) errorCode = ErrorCode.INVALID_TOPIC_EXCEPTION;
        else if (!topic || index < 0 || index >= topic.partitions.length) errorCode = ErrorCode.UNKNOWN_TOPIC_OR_PARTITION;
        else if (!(partitionData.records instanceof Uint8Array) || partitionData.records.byteLength === 0) errorCode = ErrorCode.CORRUPT_MESSAGE;
        else errorCode = context.replication.checkProduceAllowed(topic, index, acks);
        if (errorCode !== ErrorCode.NONE) {
          context.traffic?.error(Apis.Produce.apiKey, errorCode);
          topicReply.partitionResponses.push(rejected(index, errorCode));
          continue;
        }
        itemReplies.push({ reply: topicReply, slot: topicReply.partitionResponses.length });
        topicReply.partitionResponses.push(rejected(index, ErrorCode.UNKNOWN_SERVER_ERROR));
        items.push({
          topic: topicData.name,
          partition: index,
          records: partitionData.records as Uint8Array,
          leaderEpoch: topic!.partitions[index]!.leaderEpoch,
        });
      }
    }

    if (items.length > 0) {
    // KIP-890 part 1: a transaction's first batch on a partition is verified with its coordinator first.
    const verification = verifyTransactionalBatches(context, request.transactionalId, items, itemReplies);
    if (verification) await verification;

      const frame = context.frame;
      // Sizes are read before the records' buffer is transferred to a worker (/metrics bytes in).
      const itemBytes = context.traffic ? items.map((item) => item.records.byteLength) : null;
      let results: ProduceResult[];
      try {
        results = await context.partitions.produce(items, frame.ownsBuffer ? (frame.payload.buffer as ArrayBuffer) : null);
      } catch (error) {
        context.log(`produce failed: ${error instanceof Error ? error.message : String(error)}`);
        results = items.map(() => ({ errorCode: ErrorCode.KAFKA_STORAGE_ERROR, baseOffset: -1, lastOffset: -1, logAppendTimeMs: -1, logStartOffset: -1, logEndOffset: -1 }));
      }
      const committed = await context.replication.afterLeaderAppend(items, results, acks, request.timeoutMs);
      items.forEach((item, i) => {
        const result = results[i]!;
        const errorCode = result.errorCode !== ErrorCode.NONE ? result.errorCode : committed[i]!;
        const { reply, slot } = itemReplies[i]!;
        if (errorCode !== ErrorCode.NONE) context.traffic?.error(Apis.Produce.apiKey, errorCode);
        else if (itemBytes && !result.duplicate) context.traffic!.produced(item.topic, item.partition, itemBytes[i]!, result.lastOffset - result.baseOffset + 1);
        reply.partitionResponses[slot] =
          errorCode === ErrorCode.NONE
            ? { index: item.partition, errorCode, baseOffset: result.baseOffset, logAppendTimeMs: result.logAppendTimeMs, logStartOffset: result.logStartOffset }
            : {
                ...rejected(item.partition, errorCode, result.errorMessage ?? null),
                recordErrors: (result.recordErrors ?? []).map((recordError) => ({ batchIndex: recordError.batchIndex, batchIndexErrorMessage: recordError.message })),
              };
      });
    }
    // KIP-219: the request's bytes count against the client's producer_byte_rate; over it, the answer comes
    // at once with the throttle time and the connection reads nothing more for that long (also for acks=0).
    const throttleTimeMs = context.quotas.record(PRODUCER_BYTE_RATE, context.connection.security.principal, context.clientId, requestBytes);
    if (throttleTimeMs > 0) context.connection.mute(throttleTimeMs);
    if (acks === 0) return null;
    return { responses: replies, throttleTimeMs };
  },
});
