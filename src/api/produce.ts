// Produce: record batches go to the worker that owns each partition, are validated (CRC32C), given
// offsets in place and appended exactly as received. acks=0 gets no reply at all (clients send it with
// expectResponse=false; an extra reply would break kafka-python's in-order matching).
// Versions: v0-2 magic 0/1 message sets, answered UNSUPPORTED_VERSION (advertised for librdkafka 2.0.2, below);
// v3 transactional id and record batches (magic 2); v4 KAFKA_STORAGE_ERROR; v5 log_start_offset; v6 same as v5;
// v7 zstd (KIP-110); v8 record_errors and error_message (KIP-467): the indexes of the records that made a batch
// fail, with why; the batch still fails whole, as in Kafka, and clients (librdkafka 2.4+) fail those records
// with the reason and the others as collateral; v9 flexible; v10 current_leader and node_endpoints on
// NOT_LEADER_OR_FOLLOWER (KIP-951: the client goes to the new leader without a Metadata round trip; a produce
// names no leader epoch, so the FENCED_LEADER_EPOCH case Fetch v16 also covers cannot arise); v11
// TRANSACTION_ABORTABLE (KIP-890: a transactional batch whose partition is not in the transaction; older
// versions get INVALID_TXN_STATE); v12 (Kafka 4.0, after the schema snapshot: src/protocol/generator/
// version-overrides.ts) same body, but a transactional batch adds its partition to the transaction
// (transaction version 2, KIP-890 part 2) instead of only verifying it.
import { ErrorCode } from "../protocol/errors.ts";
import { Apis } from "../protocol/generated/index.ts";
import type { ProduceResponse, ProduceResponseNodeEndpoint, ProduceResponsePartitionProduceResponse } from "../protocol/generated/produce.ts";
import { endpointFor } from "../metadata/types.ts";
import type { ProduceItem, ProduceResult } from "../partition/messages.ts";
import { defineHandler, type Reply, type RequestContext } from "./handler.ts";
import { traceWorkerRoundTrip } from "./request-trace.ts";
import { isInternalTopic } from "../metadata/internal-topics.ts";
import { AclOperation, canTopic, canTransactionalId } from "./authorize.ts";
import { PRODUCER_BYTE_RATE } from "../security/quotas/model.ts";
import { verifyTransactionalBatches } from "./transaction-verification.ts";

/**
 * recordErrors and errorMessage (v8+): the records that made the batch fail (Kafka's LogValidator record errors);
 * currentLeader (v10+): where the partition's leader is now. Older versions drop them.
 */
type PartitionReply = Pick<ProduceResponsePartitionProduceResponse, "index" | "errorCode" | "baseOffset" | "logAppendTimeMs" | "logStartOffset"> &
  Partial<Pick<ProduceResponsePartitionProduceResponse, "errorMessage" | "recordErrors" | "currentLeader">>;

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
/** KIP-951: the current leader and its endpoint in NOT_LEADER_OR_FOLLOWER answers. */
const LEADER_DISCOVERY_MIN_VERSION = 10;
/** KIP-890: TRANSACTION_ABORTABLE is known to the client. */
const TRANSACTION_ABORTABLE_MIN_VERSION = 11;
/** KIP-890 part 2 (transaction version 2): a transactional batch adds its partition to the transaction. */
const IMPLICIT_ADD_PARTITION_MIN_VERSION = 12;

export const produceHandler = defineHandler(Apis.Produce, {
  minVersion: 0,
  maxVersion: 12,
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
      // KIP-890: a transaction's first batch on a partition is verified with its coordinator first (part 1), or
      // from v12 its partition is added to the transaction there (part 2).
      const verification = verifyTransactionalBatches(context, request.transactionalId, items, itemReplies, {
        addPartition: apiVersion >= IMPLICIT_ADD_PARTITION_MIN_VERSION,
        abortableErrorSupported: apiVersion >= TRANSACTION_ABORTABLE_MIN_VERSION,
      });
      if (verification) await verification;

      const frame = context.frame;
      // Sizes are read before the records' buffer is transferred to a worker (/metrics bytes in).
      const itemBytes = context.traffic ? items.map((item) => item.records.byteLength) : null;
      let results: ProduceResult[];
      const trace = context.trace;
      const toWorkersMs = trace ? performance.now() : 0;
      try {
        results = await context.partitions.produce(items, frame.ownsBuffer ? (frame.payload.buffer as ArrayBuffer) : null);
      } catch (error) {
        context.log(`produce failed: ${error instanceof Error ? error.message : String(error)}`);
        results = items.map(() => ({ errorCode: ErrorCode.KAFKA_STORAGE_ERROR, baseOffset: -1, lastOffset: -1, logAppendTimeMs: -1, logStartOffset: -1, logEndOffset: -1 }));
      }
      const appendedMs = trace ? performance.now() : 0;
      if (trace) traceWorkerRoundTrip(trace, appendedMs - toWorkersMs, results);
      const committed = await context.replication.afterLeaderAppend(items, results, acks, request.timeoutMs);
      if (trace && acks === -1) trace.replicationMs += performance.now() - appendedMs;
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
    const nodeEndpoints = apiVersion >= LEADER_DISCOVERY_MIN_VERSION ? addCurrentLeaders(context, replies) : [];
    return { responses: replies, throttleTimeMs, nodeEndpoints };
  },
});

/**
 * KIP-951 (v10+), as Kafka's KafkaApis.handleProduceRequest: every NOT_LEADER_OR_FOLLOWER partition carries the
 * leader and epoch this broker knows, and the answer the endpoints of those leaders on the client's listener.
 */
function addCurrentLeaders(context: RequestContext, replies: { name: string; partitionResponses: PartitionReply[] }[]): ProduceResponseNodeEndpoint[] {
  const leaders = new Set<number>();
  for (const reply of replies) {
    for (const partition of reply.partitionResponses) {
      if (partition.errorCode !== ErrorCode.NOT_LEADER_OR_FOLLOWER) continue;
      const state = context.topics.get(reply.name)?.partitions[partition.index];
      partition.currentLeader = { leaderId: state?.leader ?? -1, leaderEpoch: state?.leaderEpoch ?? -1 };
      if (state && state.leader >= 0) leaders.add(state.leader);
    }
  }
  if (leaders.size === 0) return [];
  return context.cluster.brokers().flatMap((info) => {
    if (!leaders.has(info.nodeId)) return [];
    const endpoint = endpointFor(info, context.connection.security.listener.name);
    return endpoint ? [{ nodeId: info.nodeId, host: endpoint.host, port: endpoint.port, rack: info.rack }] : [];
  });
}
