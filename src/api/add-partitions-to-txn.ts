// AddPartitionsToTxn: v0-3 from producers (one transactional id; partitions join its transaction), v4-5
// batched from partition leaders, whose verifyOnly entries ask whether partitions are already in the
// producer's ongoing transaction (KIP-890 part 1) without adding them.
import { ErrorCode } from "../protocol/errors.ts";
import { Apis } from "../protocol/generated/index.ts";
import type {
  AddPartitionsToTxnRequestAddPartitionsToTxnTopic,
  AddPartitionsToTxnResponse,
  AddPartitionsToTxnResponseAddPartitionsToTxnTopicResult,
} from "../protocol/generated/add-partitions-to-txn.ts";
import type { RequestContext } from "./context.ts";
import { defineHandler, type Reply } from "./handler.ts";
import { AclOperation, canCluster, canTopic, canTransactionalId } from "./authorize.ts";

const BATCHED_MIN_VERSION = 4;
/** PRODUCER_FENCED exists from v2 (KIP-588); older clients know it as INVALID_PRODUCER_EPOCH. */
const PRODUCER_FENCED_MIN_VERSION = 2;

interface OneTransaction {
  transactionalId: string;
  producerId: number;
  producerEpoch: number;
  verifyOnly: boolean;
  topics: AddPartitionsToTxnRequestAddPartitionsToTxnTopic[];
}

function everyPartition(topics: AddPartitionsToTxnRequestAddPartitionsToTxnTopic[], errorFor: (topic: string, partition: number) => number): AddPartitionsToTxnResponseAddPartitionsToTxnTopicResult[] {
  return topics.map((topic) => ({ name: topic.name, resultsByPartition: topic.partitions.map((partitionIndex) => ({ partitionIndex, partitionErrorCode: errorFor(topic.name, partitionIndex) })) }));
}

async function addOrVerify(context: RequestContext, txn: OneTransaction): Promise<AddPartitionsToTxnResponseAddPartitionsToTxnTopicResult[]> {
  const coordinator = context.transactionCoordinator;
  if (!canTransactionalId(context, AclOperation.WRITE, txn.transactionalId)) return everyPartition(txn.topics, () => ErrorCode.TRANSACTIONAL_ID_AUTHORIZATION_FAILED);
  if (txn.verifyOnly) return everyPartition(txn.topics, (topic, partition) => coordinator.verifyPartition(txn.transactionalId, txn.producerId, txn.producerEpoch, topic, partition));
  // Kafka: refused or unknown topics fail their own partitions; the others are not attempted.
  const refused = new Map<string, number>();
  for (const topic of txn.topics) {
    if (!canTopic(context, AclOperation.WRITE, topic.name)) refused.set(topic.name, ErrorCode.TOPIC_AUTHORIZATION_FAILED);
    else if (!context.topics.get(topic.name) || topic.partitions.some((p) => p < 0 || p >= context.topics.get(topic.name)!.partitions.length)) refused.set(topic.name, ErrorCode.UNKNOWN_TOPIC_OR_PARTITION);
  }
  if (refused.size > 0) return everyPartition(txn.topics, (topic) => refused.get(topic) ?? ErrorCode.OPERATION_NOT_ATTEMPTED);
  const partitions = txn.topics.flatMap((topic) => topic.partitions.map((partition) => ({ topic: topic.name, partition })));
  const errorCode = await coordinator.addPartitions(txn.transactionalId, txn.producerId, txn.producerEpoch, partitions);
  const mapped = errorCode === ErrorCode.PRODUCER_FENCED && context.apiVersion < PRODUCER_FENCED_MIN_VERSION ? ErrorCode.INVALID_PRODUCER_EPOCH : errorCode;
  return everyPartition(txn.topics, () => mapped);
}

export const addPartitionsToTxnHandler = defineHandler(Apis.AddPartitionsToTxn, {
  minVersion: 0,
  maxVersion: 5,
  async handle(context, request): Promise<Reply<AddPartitionsToTxnResponse>> {
    if (context.apiVersion < BATCHED_MIN_VERSION) {
      const results = await addOrVerify(context, {
        transactionalId: request.v3AndBelowTransactionalId,
        producerId: request.v3AndBelowProducerId,
        producerEpoch: request.v3AndBelowProducerEpoch,
        verifyOnly: false,
        topics: request.v3AndBelowTopics,
      });
      return { throttleTimeMs: 0, resultsByTopicV3AndBelow: results };
    }
    // The batched versions are for brokers only (Kafka: CLUSTER_ACTION on the cluster).
    if (!canCluster(context, AclOperation.CLUSTER_ACTION)) return { throttleTimeMs: 0, errorCode: ErrorCode.CLUSTER_AUTHORIZATION_FAILED, resultsByTransaction: [] };
    const resultsByTransaction = [];
    for (const txn of request.transactions) resultsByTransaction.push({ transactionalId: txn.transactionalId, topicResults: await addOrVerify(context, txn) });
    return { throttleTimeMs: 0, errorCode: ErrorCode.NONE, resultsByTransaction };
  },
});
