// One transactional id's state, as Kafka's TransactionMetadata keeps it: the producer id and epoch handed
// out, the state of its current (or last) transaction and the partitions in it. Every change is first
// written to __transaction_state and applied here only once that append succeeded; while one is in flight
// (`pendingState`) other requests for the id answer CONCURRENT_TRANSACTIONS.
import { TransactionStatus, type TransactionLogValue } from "./transaction-log-records.ts";

/** Kafka's Short.MaxValue: an epoch at this value cannot be bumped; the id gets a new producer id. */
export const PRODUCER_EPOCH_MAX = 32_767;

export class TransactionMetadata {
  producerId: number;
  previousProducerId = -1;
  nextProducerId = -1;
  producerEpoch: number;
  /** The epoch before the last bump, so that a retried InitProducerId/EndTxn is recognised (KIP-360, TV2). */
  lastProducerEpoch = -1;
  timeoutMs: number;
  state: TransactionStatus = TransactionStatus.Empty;
  /** "topic\u0000partition" of every partition in the current transaction. */
  readonly partitions = new Set<string>();
  startTimestampMs = -1;
  lastUpdateTimestampMs: number;
  clientTransactionVersion = 0;
  /** A state change being appended; requests meanwhile answer CONCURRENT_TRANSACTIONS. */
  pendingState: TransactionStatus | null = null;

  constructor(
    readonly transactionalId: string,
    producerId: number,
    producerEpoch: number,
    timeoutMs: number,
    nowMs: number,
  ) {
    this.producerId = producerId;
    this.producerEpoch = producerEpoch;
    this.timeoutMs = timeoutMs;
    this.lastUpdateTimestampMs = nowMs;
  }

  static fromLog(transactionalId: string, value: TransactionLogValue): TransactionMetadata {
    const metadata = new TransactionMetadata(transactionalId, value.producerId, value.producerEpoch, value.transactionTimeoutMs, value.lastUpdateTimestampMs);
    metadata.previousProducerId = value.previousProducerId;
    metadata.nextProducerId = value.nextProducerId;
    metadata.state = value.status;
    metadata.startTimestampMs = value.startTimestampMs;
    metadata.clientTransactionVersion = value.clientTransactionVersion;
    for (const [topic, ids] of value.partitions) for (const partition of ids) metadata.partitions.add(partitionKey(topic, partition));
    return metadata;
  }

  hasPartition(topic: string, partition: number): boolean {
    return this.partitions.has(partitionKey(topic, partition));
  }

  /** The partitions grouped by topic, as the log value and the APIs list them. */
  partitionsByTopic(partitions: Iterable<string> = this.partitions): Map<string, number[]> {
    const byTopic = new Map<string, number[]>();
    for (const key of partitions) {
      const [topic, partition] = splitPartitionKey(key);
      let ids = byTopic.get(topic);
      if (!ids) byTopic.set(topic, (ids = []));
      ids.push(partition);
    }
    return byTopic;
  }

  /** Prepare* states: the outcome is decided and markers are being written. */
  get isCompleting(): boolean {
    return this.state === TransactionStatus.PrepareCommit || this.state === TransactionStatus.PrepareAbort;
  }
}

/** What a state change writes: the metadata's fields after the change (applied to memory once stored). */
export interface TransactionTransition {
  producerId: number;
  previousProducerId: number;
  producerEpoch: number;
  lastProducerEpoch: number;
  timeoutMs: number;
  state: TransactionStatus;
  partitions: Set<string>;
  startTimestampMs: number;
  lastUpdateTimestampMs: number;
  clientTransactionVersion: number;
}

export function currentTransition(metadata: TransactionMetadata): TransactionTransition {
  return {
    producerId: metadata.producerId,
    previousProducerId: metadata.previousProducerId,
    producerEpoch: metadata.producerEpoch,
    lastProducerEpoch: metadata.lastProducerEpoch,
    timeoutMs: metadata.timeoutMs,
    state: metadata.state,
    partitions: new Set(metadata.partitions),
    startTimestampMs: metadata.startTimestampMs,
    lastUpdateTimestampMs: metadata.lastUpdateTimestampMs,
    clientTransactionVersion: metadata.clientTransactionVersion,
  };
}

export function applyTransition(metadata: TransactionMetadata, transition: TransactionTransition): void {
  metadata.producerId = transition.producerId;
  metadata.previousProducerId = transition.previousProducerId;
  metadata.producerEpoch = transition.producerEpoch;
  metadata.lastProducerEpoch = transition.lastProducerEpoch;
  metadata.timeoutMs = transition.timeoutMs;
  metadata.state = transition.state;
  metadata.partitions.clear();
  for (const key of transition.partitions) metadata.partitions.add(key);
  metadata.startTimestampMs = transition.startTimestampMs;
  metadata.lastUpdateTimestampMs = transition.lastUpdateTimestampMs;
  metadata.clientTransactionVersion = transition.clientTransactionVersion;
}

export function transitionLogValue(metadata: TransactionMetadata, transition: TransactionTransition): TransactionLogValue {
  return {
    producerId: transition.producerId,
    previousProducerId: transition.previousProducerId,
    nextProducerId: -1,
    producerEpoch: transition.producerEpoch,
    transactionTimeoutMs: transition.timeoutMs,
    status: transition.state,
    partitions: metadata.partitionsByTopic(transition.partitions),
    lastUpdateTimestampMs: transition.lastUpdateTimestampMs,
    startTimestampMs: transition.startTimestampMs,
    clientTransactionVersion: transition.clientTransactionVersion,
  };
}

export function partitionKey(topic: string, partition: number): string {
  return `${topic}\u0000${partition}`;
}

function splitPartitionKey(key: string): [string, number] {
  const at = key.lastIndexOf("\u0000");
  return [key.slice(0, at), Number(key.slice(at + 1))];
}
