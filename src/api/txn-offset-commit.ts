// TxnOffsetCommit: offsets a transactional producer commits for a group; appended to the group's
// __consumer_offsets partition as a transactional batch of the producer and visible only once the
// transaction's COMMIT marker lands there (group/transactional-offsets.ts). The group's partition must be in
// the transaction (AddOffsetsToTxn first); the coordinator is asked (KIP-890) before the batch opens it.
import { ErrorCode } from "../protocol/errors.ts";
import { Apis } from "../protocol/generated/index.ts";
import type { TxnOffsetCommitResponse } from "../protocol/generated/txn-offset-commit.ts";
import type { CommitPartition } from "../group/group-offsets.ts";
import { OFFSETS_TOPIC } from "../group/offsets-records.ts";
import { defineHandler, type Reply } from "./handler.ts";
import { AclOperation, canGroup, canTopic, canTransactionalId } from "./authorize.ts";

/** v4 (KIP-890): TRANSACTION_ABORTABLE reaches the client; older versions get INVALID_TXN_STATE. */
const TRANSACTION_ABORTABLE_MIN_VERSION = 4;

export const txnOffsetCommitHandler = defineHandler(Apis.TxnOffsetCommit, {
  minVersion: 0,
  maxVersion: 4,
  async handle(context, request): Promise<Reply<TxnOffsetCommitResponse>> {
    const answer = (errorFor: (topic: string, index: number) => number) => {
      let next = 0;
      return {
        throttleTimeMs: 0,
        topics: request.topics.map((topic) => ({ name: topic.name, partitions: topic.partitions.map((partition) => ({ partitionIndex: partition.partitionIndex, errorCode: errorFor(topic.name, next++) })) })),
      };
    };
    if (!canTransactionalId(context, AclOperation.WRITE, request.transactionalId)) return answer(() => ErrorCode.TRANSACTIONAL_ID_AUTHORIZATION_FAILED);
    if (!canGroup(context, AclOperation.READ, request.groupId)) return answer(() => ErrorCode.GROUP_AUTHORIZATION_FAILED);
    // The offsets would get no marker unless the group's partition is in this producer's ongoing transaction.
    const offsetsPartition = context.groups.offsetsPartitionFor(request.groupId);
    const inTransaction = context.transactionCoordinator.verifyPartition(request.transactionalId, request.producerId, request.producerEpoch, OFFSETS_TOPIC, offsetsPartition);
    // Another broker coordinates the transaction: it cannot be asked here; the group coordinator trusts AddOffsetsToTxn's check.
    const remoteCoordinator = inTransaction === ErrorCode.NOT_COORDINATOR;
    if (inTransaction !== ErrorCode.NONE && !remoteCoordinator) {
      let errorCode: number = inTransaction === ErrorCode.INVALID_PRODUCER_EPOCH ? ErrorCode.PRODUCER_FENCED : inTransaction;
      if (errorCode === ErrorCode.TRANSACTION_ABORTABLE && context.apiVersion < TRANSACTION_ABORTABLE_MIN_VERSION) errorCode = ErrorCode.INVALID_TXN_STATE;
      return answer(() => (errorCode === ErrorCode.PRODUCER_FENCED && context.apiVersion < 3 ? ErrorCode.INVALID_PRODUCER_EPOCH : errorCode));
    }
    const refused = new Map<string, number>();
    const partitions: CommitPartition[] = [];
    for (const topic of request.topics) {
      if (!canTopic(context, AclOperation.READ, topic.name)) refused.set(topic.name, ErrorCode.TOPIC_AUTHORIZATION_FAILED);
      else for (const p of topic.partitions) partitions.push({ topic: topic.name, partition: p.partitionIndex, offset: p.committedOffset, leaderEpoch: p.committedLeaderEpoch, metadata: p.committedMetadata });
    }
    const verifier = context.transactions;
    const errors = await context.groups.offsets.commitTransactional({
      groupId: request.groupId,
      memberId: request.memberId,
      groupInstanceId: request.groupInstanceId,
      generationId: request.generationId,
      producerId: request.producerId,
      producerEpoch: request.producerEpoch,
      partitions,
      // Without a verifier (no transaction support wired) nothing may open a transaction.
      verify: async () => {
        if (!verifier) return ErrorCode.INVALID_TXN_STATE;
        const verified = await verifier.verifyPartitionInTransaction(request.transactionalId, request.producerId, request.producerEpoch, OFFSETS_TOPIC, offsetsPartition);
        // The produce path's "retry" answer; a TxnOffsetCommit retries on COORDINATOR_NOT_AVAILABLE.
        if (verified === ErrorCode.NOT_ENOUGH_REPLICAS) return ErrorCode.COORDINATOR_NOT_AVAILABLE;
        // TRANSACTION_ABORTABLE exists from v4 (KIP-890); older clients know it as INVALID_TXN_STATE.
        if (verified === ErrorCode.TRANSACTION_ABORTABLE && context.apiVersion < TRANSACTION_ABORTABLE_MIN_VERSION) return ErrorCode.INVALID_TXN_STATE;
        return verified === ErrorCode.INVALID_PRODUCER_EPOCH && context.apiVersion >= 3 ? ErrorCode.PRODUCER_FENCED : verified;
      },
    });
    let next = 0;
    return answer((topic) => refused.get(topic) ?? errors[next++]!);
  },
});
