// The transaction coordinator (Kafka's TransactionCoordinator + TransactionStateManager): the state of every
// transactional id whose __transaction_state partition this broker leads. Each change is appended to that
// partition first and applied in memory only once the append succeeded; EndTxn moves a transaction to
// PrepareCommit/PrepareAbort, answers, then delivers the markers to every partition in it and finally
// writes CompleteCommit/CompleteAbort. A coordinator that loads a partition (start, leadership gained) resumes
// the markers of every transaction it finds in Prepare*. docs/transactions.md has the rules.
import { ErrorCode } from "../protocol/errors.ts";
import { InternalTopicStore } from "../metadata/internal-topic-store.ts";
import { PartitionLoads } from "../metadata/partition-loads.ts";
import type { BrokerInfo } from "../metadata/types.ts";
import { transactionCoordinatorConfig, type TransactionCoordinatorConfig } from "./transaction-config.ts";
import { loadTransactions } from "./transaction-loader.ts";
import { encodeTransactionLogKey, encodeTransactionLogValue, TRANSACTION_STATE_TOPIC, TRANSACTION_STATUS_NAMES, TransactionStatus } from "./transaction-log-records.ts";
import {
  applyTransition,
  currentTransition,
  partitionKey,
  PRODUCER_EPOCH_MAX,
  TransactionMetadata,
  transitionLogValue,
  type TransactionTransition,
} from "./transaction-metadata.ts";
import type { TransactionCoordinatorServices } from "./services.ts";

export interface ProducerIdAndEpoch {
  errorCode: number;
  producerId: number;
  producerEpoch: number;
}

export interface InitProducerIdParams {
  transactionalId: string;
  transactionTimeoutMs: number;
  /** KIP-360: the producer id and epoch the client holds (-1 when it has none). */
  producerId: number;
  producerEpoch: number;
}

export interface TopicPartition {
  topic: string;
  partition: number;
}

export interface TransactionDescription {
  transactionalId: string;
  state: string;
  producerId: number;
  producerEpoch: number;
  timeoutMs: number;
  startTimestampMs: number;
  partitions: Map<string, number[]>;
}

/** The client transaction version TransactionLogValue records (tag 2) for transactions ended by EndTxn v5 or added to by Produce v12. */
const TRANSACTION_VERSION_2 = 2;

/** Marker delivery backoff: doubled after each round with failures, up to the maximum. */
const MARKER_RETRY_BACKOFF_MS_MIN = 100;
const MARKER_RETRY_BACKOFF_MS_MAX = 5000;

export class TransactionCoordinator {
  readonly config: TransactionCoordinatorConfig;
  readonly store: InternalTopicStore;
  readonly transactions = new Map<string, TransactionMetadata>();
  private readonly loads = new PartitionLoads();
  private active = false;
  private timers: ReturnType<typeof setInterval>[] = [];

  constructor(private readonly services: TransactionCoordinatorServices) {
    this.config = transactionCoordinatorConfig(services.config);
    this.store = new InternalTopicStore(
      services,
      {
        name: TRANSACTION_STATE_TOPIC,
        numPartitions: this.config.stateLogNumPartitions,
        replicationFactor: this.config.stateLogReplicationFactor,
        segmentBytes: this.config.stateLogSegmentBytes,
        minInsyncReplicas: this.config.stateLogMinIsr,
        appendTimeoutMs: this.config.appendTimeoutMs,
        loadBufferBytes: this.config.stateLogLoadBufferBytes,
      },
      () => this.onTopicCreated(),
    );
  }

  // ---- lifecycle and ownership ----

  async start(): Promise<void> {
    // Active before loading: a loaded transaction in Prepare* resumes its markers at once, and those stop
    // only when this coordinator stops owning the id.
    this.active = true;
    const topic = this.services.topics.get(TRANSACTION_STATE_TOPIC);
    for (const { partition } of topic?.partitions ?? []) {
      if (this.services.replication.checkLeader(TRANSACTION_STATE_TOPIC, partition) !== ErrorCode.NONE) continue;
      await this.loadPartition(partition).catch((error) => this.services.log(`loading ${TRANSACTION_STATE_TOPIC}-${partition} failed: ${String(error)}`));
    }
    this.timers.push(setInterval(() => this.abortTimedOutTransactions(), this.config.abortTimedOutIntervalMs));
    this.timers.push(setInterval(() => this.removeExpiredTransactionalIds(), this.config.removeExpiredIntervalMs));
  }

  stop(): void {
    this.active = false;
    for (const timer of this.timers) clearInterval(timer);
    this.timers = [];
    this.transactions.clear();
    this.loads.clear();
  }

  get isActive(): boolean {
    return this.active;
  }

  loadPartition(partition: number): Promise<void> {
    return this.loads.load(partition, async (isCurrent) => {
      const loaded = await loadTransactions(this.store, partition, this.services.log);
      if (!isCurrent()) return;
      const resumed: TransactionMetadata[] = [];
      for (const metadata of loaded) {
        if (this.transactions.has(metadata.transactionalId)) continue;
        this.transactions.set(metadata.transactionalId, metadata);
        // An Ongoing transaction simply continues: its group offsets (TxnOffsetCommit) are in __consumer_offsets.
        if (metadata.isCompleting) resumed.push(metadata);
      }
      this.services.log(`loaded ${loaded.length} transactional id(s) from ${TRANSACTION_STATE_TOPIC}-${partition}; resuming ${resumed.length} commit/abort(s)`);
      // Decided transactions whose markers may not all be written: deliver them again (markers are idempotent).
      for (const metadata of resumed) this.completeInBackground(metadata, metadata.state === TransactionStatus.PrepareCommit);
    });
  }

  unloadPartition(partition: number): void {
    this.loads.unload(partition);
    for (const transactionalId of [...this.transactions.keys()]) {
      if (this.store.partitionFor(transactionalId) === partition) this.transactions.delete(transactionalId);
    }
  }

  private onTopicCreated(): void {
    const topic = this.services.topics.get(TRANSACTION_STATE_TOPIC);
    for (const { partition } of topic?.partitions ?? []) {
      if (this.services.replication.checkLeader(TRANSACTION_STATE_TOPIC, partition) === ErrorCode.NONE) this.loads.markLoaded(partition);
    }
  }

  /** The leader of the id's __transaction_state partition; null while there is none (or the topic is being created). */
  coordinatorFor(transactionalId: string): BrokerInfo | null {
    const { cluster } = this.services;
    if (cluster.singleNode) return cluster.self();
    const topic = this.services.topics.get(TRANSACTION_STATE_TOPIC);
    if (!topic) {
      this.store.ensureTopic().catch((error) => this.services.log(`creating ${TRANSACTION_STATE_TOPIC} failed: ${String(error)}`));
      return null;
    }
    const leader = topic.partitions[this.store.partitionFor(transactionalId)]?.leader ?? -1;
    return cluster.brokers().find((info) => info.nodeId === leader) ?? null;
  }

  /** NONE when this broker coordinates `transactionalId` and has its state in memory. */
  coordinates(transactionalId: string): number {
    if (!this.active) return ErrorCode.COORDINATOR_NOT_AVAILABLE;
    const coordinator = this.coordinatorFor(transactionalId);
    if (!coordinator) return ErrorCode.COORDINATOR_NOT_AVAILABLE;
    if (coordinator.nodeId !== this.services.config.nodeId) return ErrorCode.NOT_COORDINATOR;
    const topic = this.services.topics.get(TRANSACTION_STATE_TOPIC);
    if (!topic || this.store.isCreating) return ErrorCode.NONE;
    const partition = this.store.partitionFor(transactionalId);
    if (this.loads.isLoaded(partition)) return ErrorCode.NONE;
    if (this.services.replication.checkLeader(TRANSACTION_STATE_TOPIC, partition) !== ErrorCode.NONE) return ErrorCode.COORDINATOR_LOAD_IN_PROGRESS;
    this.loadPartition(partition).catch((error) => this.services.log(`loading ${TRANSACTION_STATE_TOPIC}-${partition} failed: ${String(error)}`));
    return ErrorCode.COORDINATOR_LOAD_IN_PROGRESS;
  }

  // ---- persistence ----

  /** Appends the transition; on success applies it to memory. Returns the error a client sees. */
  private async persist(metadata: TransactionMetadata, transition: TransactionTransition): Promise<number> {
    if (metadata.pendingState !== null) return ErrorCode.CONCURRENT_TRANSACTIONS;
    metadata.pendingState = transition.state;
    try {
      const record = { key: encodeTransactionLogKey(metadata.transactionalId), value: encodeTransactionLogValue(transitionLogValue(metadata, transition)) };
      const errorCode = await this.store.append(this.store.partitionFor(metadata.transactionalId), [record]);
      if (errorCode !== ErrorCode.NONE) return appendErrorForClient(errorCode);
      // Leadership may have moved while the append ran: the new coordinator owns the state now.
      if (this.transactions.get(metadata.transactionalId) !== metadata) return ErrorCode.NOT_COORDINATOR;
      applyTransition(metadata, transition);
      return ErrorCode.NONE;
    } finally {
      metadata.pendingState = null;
    }
  }

  private now(): number {
    return this.services.nowMs();
  }

  // ---- InitProducerId ----

  async initProducerId(params: InitProducerIdParams): Promise<ProducerIdAndEpoch> {
    const refuse = (errorCode: number) => ({ errorCode, producerId: -1, producerEpoch: -1 });
    if (params.transactionTimeoutMs <= 0 || params.transactionTimeoutMs > this.config.maxTimeoutMs) return refuse(ErrorCode.INVALID_TRANSACTION_TIMEOUT);
    const status = this.coordinates(params.transactionalId);
    if (status !== ErrorCode.NONE) return refuse(status);
    let metadata = this.transactions.get(params.transactionalId);
    if (!metadata) {
      // Bounded: every id costs memory and a record until it expires (transactional.id.expiration.ms).
      if (this.transactions.size >= this.config.maxTransactionalIds) {
        this.services.log(`refusing transactional id: ${this.transactions.size} ids held (transaction.max.transactional.ids)`);
        return refuse(ErrorCode.COORDINATOR_NOT_AVAILABLE);
      }
      metadata = new TransactionMetadata(params.transactionalId, await this.services.producerIds.allocate(), -1, params.transactionTimeoutMs, this.now());
      this.transactions.set(params.transactionalId, metadata);
    }
    if (metadata.pendingState !== null || metadata.isCompleting || metadata.state === TransactionStatus.PrepareEpochFence) return refuse(ErrorCode.CONCURRENT_TRANSACTIONS);
    // A producer id and epoch named for an id just created (epoch -1) is fine, as Kafka's isValidProducerId:
    // an idempotent producer that becomes transactional (@platformatic/kafka) or recovers names its own.
    if (params.producerId >= 0 && metadata.producerEpoch >= 0) {
      const retried = params.producerId === metadata.producerId && params.producerEpoch === metadata.lastProducerEpoch && metadata.state !== TransactionStatus.Ongoing;
      if (retried) return { errorCode: ErrorCode.NONE, producerId: metadata.producerId, producerEpoch: metadata.producerEpoch };
      const current = params.producerId === metadata.producerId && params.producerEpoch === metadata.producerEpoch;
      // A retry after a bump that rotated the producer id (its epoch was exhausted) and whose answer was lost.
      const previous = params.producerId === metadata.previousProducerId && params.producerEpoch >= PRODUCER_EPOCH_MAX - 1;
      if (!current && !previous) return refuse(ErrorCode.PRODUCER_FENCED);
    }
    if (metadata.state === TransactionStatus.Ongoing) {
      // Fence the producer that holds the open transaction: bump the epoch and abort with the new one. The
      // client retries (CONCURRENT_TRANSACTIONS) and gets a further bump once the abort is complete.
      const fenced = await this.endTransaction(metadata, false, { bumpEpoch: true });
      return refuse(fenced === ErrorCode.NONE ? ErrorCode.CONCURRENT_TRANSACTIONS : fenced);
    }
    const bumped = this.bumpedEpoch(metadata, await this.producerIdForOverflow(metadata));
    // Only a KIP-360 bump (the producer named its epoch) can be retried with the epoch from before it.
    if (params.producerId < 0) bumped.lastProducerEpoch = -1;
    const transition = { ...bumped, state: TransactionStatus.Empty, partitions: new Set<string>(), timeoutMs: params.transactionTimeoutMs, startTimestampMs: -1, lastUpdateTimestampMs: this.now() };
    const errorCode = await this.persist(metadata, { ...currentTransition(metadata), ...transition });
    if (errorCode !== ErrorCode.NONE) {
      if (metadata.producerEpoch < 0) this.transactions.delete(metadata.transactionalId);
      return refuse(errorCode);
    }
    return { errorCode: ErrorCode.NONE, producerId: metadata.producerId, producerEpoch: metadata.producerEpoch };
  }

  /** A new producer id when the epoch cannot be bumped any further (Kafka rotates the id at Short.MaxValue). */
  private async producerIdForOverflow(metadata: TransactionMetadata): Promise<number | null> {
    return metadata.producerEpoch + 1 >= PRODUCER_EPOCH_MAX ? this.services.producerIds.allocate() : null;
  }

  private bumpedEpoch(metadata: TransactionMetadata, newProducerId: number | null): Pick<TransactionTransition, "producerId" | "previousProducerId" | "producerEpoch" | "lastProducerEpoch"> {
    if (newProducerId !== null) return { producerId: newProducerId, previousProducerId: metadata.producerId, producerEpoch: 0, lastProducerEpoch: -1 };
    return { producerId: metadata.producerId, previousProducerId: metadata.previousProducerId, producerEpoch: metadata.producerEpoch + 1, lastProducerEpoch: metadata.producerEpoch };
  }

  // ---- AddPartitionsToTxn / AddOffsetsToTxn ----

  /** Checks the producer against the id's current producer: NONE, or the error the client gets. */
  private checkProducer(metadata: TransactionMetadata | undefined, producerId: number, producerEpoch: number): number {
    if (!metadata || metadata.producerId !== producerId) return ErrorCode.INVALID_PRODUCER_ID_MAPPING;
    if (metadata.producerEpoch !== producerEpoch) return ErrorCode.PRODUCER_FENCED;
    return ErrorCode.NONE;
  }

  /**
   * Adds partitions to the producer's transaction (starting it if none is open): from the producer
   * (AddPartitionsToTxn v0-3), or under transaction version 2 from the partition leader that received the
   * producer's transactional Produce v12 (KIP-890 part 2, AddPartitionsToTxn v4+ with verifyOnly false).
   */
  async addPartitions(transactionalId: string, producerId: number, producerEpoch: number, partitions: TopicPartition[], clientTransactionVersion?: number): Promise<number> {
    const status = this.coordinates(transactionalId);
    if (status !== ErrorCode.NONE) return status;
    const metadata = this.transactions.get(transactionalId);
    const producer = this.checkProducer(metadata, producerId, producerEpoch);
    if (producer !== ErrorCode.NONE || !metadata) return producer;
    if (metadata.pendingState !== null || metadata.isCompleting || metadata.state === TransactionStatus.PrepareEpochFence) return ErrorCode.CONCURRENT_TRANSACTIONS;
    const added = partitions.map(({ topic, partition }) => partitionKey(topic, partition));
    if (metadata.state === TransactionStatus.Ongoing && added.every((key) => metadata.partitions.has(key))) return ErrorCode.NONE;
    const starting = metadata.state !== TransactionStatus.Ongoing;
    const transition: TransactionTransition = {
      ...currentTransition(metadata),
      state: TransactionStatus.Ongoing,
      partitions: new Set([...(starting ? [] : metadata.partitions), ...added]),
      startTimestampMs: starting ? this.now() : metadata.startTimestampMs,
      lastUpdateTimestampMs: this.now(),
      clientTransactionVersion: clientTransactionVersion ?? metadata.clientTransactionVersion,
    };
    return this.persist(metadata, transition);
  }

  /**
   * KIP-890 part 1: NONE only when the partition is in this producer's ongoing transaction. As Kafka's
   * TransactionCoordinator.handleVerifyPartitionsInTransaction: a transaction being completed is
   * CONCURRENT_TRANSACTIONS (retriable), a partition outside the transaction TRANSACTION_ABORTABLE, which the
   * partition leader answers as INVALID_TXN_STATE to clients older than Produce v11 / TxnOffsetCommit v4.
   */
  verifyPartition(transactionalId: string, producerId: number, producerEpoch: number, topic: string, partition: number): number {
    const status = this.coordinates(transactionalId);
    if (status !== ErrorCode.NONE) return status;
    const metadata = this.transactions.get(transactionalId);
    const producer = this.checkProducer(metadata, producerId, producerEpoch);
    if (producer !== ErrorCode.NONE || !metadata) return producer === ErrorCode.PRODUCER_FENCED ? ErrorCode.INVALID_PRODUCER_EPOCH : producer;
    if (metadata.state === TransactionStatus.PrepareCommit || metadata.state === TransactionStatus.PrepareAbort) return ErrorCode.CONCURRENT_TRANSACTIONS;
    if (metadata.state !== TransactionStatus.Ongoing || !metadata.hasPartition(topic, partition)) return ErrorCode.TRANSACTION_ABORTABLE;
    return ErrorCode.NONE;
  }

  // ---- EndTxn ----

  /**
   * Commits or aborts the producer's transaction. Answers once the decision (Prepare*) is stored; markers and
   * the Complete* record follow in the background. `transactionVersion2` (EndTxn v5+): the epoch is bumped
   * at every end and the answer carries the new producer id and epoch.
   */
  async endTxn(transactionalId: string, producerId: number, producerEpoch: number, commit: boolean, transactionVersion2: boolean): Promise<ProducerIdAndEpoch> {
    const refuse = (errorCode: number) => ({ errorCode, producerId: -1, producerEpoch: -1 });
    const status = this.coordinates(transactionalId);
    if (status !== ErrorCode.NONE) return refuse(status);
    const metadata = this.transactions.get(transactionalId);
    if (!metadata || metadata.producerId !== producerId) return refuse(ErrorCode.INVALID_PRODUCER_ID_MAPPING);
    const current = { errorCode: ErrorCode.NONE, producerId: metadata.producerId, producerEpoch: metadata.producerEpoch };
    const completed = commit ? TransactionStatus.CompleteCommit : TransactionStatus.CompleteAbort;
    // A retried EndTxn under TV2 carries the epoch from before its bump.
    const retriedAfterBump = transactionVersion2 && producerEpoch === metadata.lastProducerEpoch;
    if (producerEpoch !== metadata.producerEpoch && !retriedAfterBump) return refuse(ErrorCode.PRODUCER_FENCED);
    if (metadata.pendingState !== null) return refuse(ErrorCode.CONCURRENT_TRANSACTIONS);
    if (metadata.state === completed && (retriedAfterBump || !transactionVersion2)) return current;
    if (metadata.state === (commit ? TransactionStatus.PrepareCommit : TransactionStatus.PrepareAbort)) return refuse(ErrorCode.CONCURRENT_TRANSACTIONS);
    if (retriedAfterBump) return refuse(ErrorCode.PRODUCER_FENCED);
    const endable = metadata.state === TransactionStatus.Ongoing || (transactionVersion2 && !commit && metadata.state !== TransactionStatus.PrepareCommit && !metadata.isCompleting);
    if (!endable) return refuse(ErrorCode.INVALID_TXN_STATE);
    const errorCode = await this.endTransaction(metadata, commit, { bumpEpoch: transactionVersion2, clientTransactionVersion: transactionVersion2 ? TRANSACTION_VERSION_2 : undefined });
    if (errorCode !== ErrorCode.NONE) return refuse(errorCode);
    return { errorCode: ErrorCode.NONE, producerId: metadata.nextProducerId >= 0 ? metadata.nextProducerId : metadata.producerId, producerEpoch: metadata.nextProducerId >= 0 ? 0 : metadata.producerEpoch };
  }

  /** Stores Prepare* (bumping the epoch when asked) and starts the markers; resolves with the append's error. */
  private async endTransaction(metadata: TransactionMetadata, commit: boolean, options: { bumpEpoch: boolean; clientTransactionVersion?: number }): Promise<number> {
    const bumped = options.bumpEpoch ? { producerEpoch: metadata.producerEpoch + 1, lastProducerEpoch: metadata.producerEpoch } : {};
    if (options.bumpEpoch && metadata.producerEpoch + 1 >= PRODUCER_EPOCH_MAX) metadata.nextProducerId = await this.services.producerIds.allocate();
    const transition: TransactionTransition = {
      ...currentTransition(metadata),
      ...bumped,
      state: commit ? TransactionStatus.PrepareCommit : TransactionStatus.PrepareAbort,
      lastUpdateTimestampMs: this.now(),
      clientTransactionVersion: options.clientTransactionVersion ?? metadata.clientTransactionVersion,
    };
    const errorCode = await this.persist(metadata, transition);
    if (errorCode === ErrorCode.NONE) this.completeInBackground(metadata, commit);
    return errorCode;
  }

  private completeInBackground(metadata: TransactionMetadata, commit: boolean): void {
    this.completeTransaction(metadata, commit).catch((error) => this.services.log(`completing the transaction of ${metadata.transactionalId} failed: ${String(error)}`));
  }

  /** Writes the markers until every partition has one, then Complete*. Stops if this broker stops coordinating the id. */
  private async completeTransaction(metadata: TransactionMetadata, commit: boolean): Promise<void> {
    const delivered = await this.deliverMarkers(metadata, commit);
    if (!delivered) return;
    const rotated = metadata.nextProducerId >= 0;
    const transition: TransactionTransition = {
      ...currentTransition(metadata),
      ...(rotated ? { producerId: metadata.nextProducerId, previousProducerId: metadata.producerId, producerEpoch: 0, lastProducerEpoch: -1 } : {}),
      state: commit ? TransactionStatus.CompleteCommit : TransactionStatus.CompleteAbort,
      partitions: new Set(),
      lastUpdateTimestampMs: this.now(),
    };
    for (let attempt = 0; this.owns(metadata); attempt++) {
      const errorCode = await this.persist(metadata, transition);
      if (errorCode === ErrorCode.NONE) {
        if (rotated) metadata.nextProducerId = -1;
        return;
      }
      await Bun.sleep(backoffMs(attempt));
    }
  }

  private owns(metadata: TransactionMetadata): boolean {
    return this.active && this.transactions.get(metadata.transactionalId) === metadata;
  }

  /** Delivers COMMIT/ABORT markers to every partition of the transaction, retrying with backoff; false if ownership was lost. */
  private async deliverMarkers(metadata: TransactionMetadata, commit: boolean): Promise<boolean> {
    let pending = new Set(metadata.partitions);
    for (let attempt = 0; pending.size > 0; attempt++) {
      if (!this.owns(metadata)) return false;
      const coordinatorEpoch = this.services.topics.get(TRANSACTION_STATE_TOPIC)?.partitions[this.store.partitionFor(metadata.transactionalId)]?.leaderEpoch ?? 0;
      const topics = [...metadata.partitionsByTopic(pending)].map(([name, partitionIndexes]) => ({ name, partitionIndexes }));
      const request = { markers: [{ producerId: metadata.producerId, producerEpoch: metadata.producerEpoch, transactionResult: commit, topics, coordinatorEpoch }] };
      const response = await this.services.markers(request).catch((error) => {
        this.services.log(`writing markers for ${metadata.transactionalId} failed: ${String(error)}`);
        return null;
      });
      const retry = new Set<string>();
      for (const topic of response?.markers[0]?.topics ?? []) {
        for (const { partitionIndex, errorCode } of topic.partitions) {
          // A deleted partition needs no marker any more (Kafka drops it the same way); others are retried.
          if (errorCode !== ErrorCode.NONE && errorCode !== ErrorCode.UNKNOWN_TOPIC_OR_PARTITION) retry.add(partitionKey(topic.name, partitionIndex));
        }
      }
      pending = response ? retry : pending;
      if (pending.size > 0) await Bun.sleep(backoffMs(attempt));
    }
    return true;
  }

  // ---- timeouts and expiry ----

  /** Aborts transactions open longer than their timeout, fencing their producer (Kafka's abortTimedOutTransactions). */
  abortTimedOutTransactions(): void {
    const now = this.now();
    for (const metadata of this.transactions.values()) {
      if (metadata.state !== TransactionStatus.Ongoing || metadata.pendingState !== null) continue;
      if (metadata.startTimestampMs + metadata.timeoutMs > now) continue;
      this.services.log(`aborting the transaction of ${metadata.transactionalId} (producer ${metadata.producerId}): open longer than ${metadata.timeoutMs} ms`);
      this.endTransaction(metadata, false, { bumpEpoch: true }).catch((error) => this.services.log(`aborting ${metadata.transactionalId} failed: ${String(error)}`));
    }
  }

  /** Removes ids with no transaction for transactional.id.expiration.ms: a tombstone, then out of memory. */
  removeExpiredTransactionalIds(): void {
    const now = this.now();
    for (const metadata of [...this.transactions.values()]) {
      const idle = metadata.state === TransactionStatus.Empty || metadata.state === TransactionStatus.CompleteCommit || metadata.state === TransactionStatus.CompleteAbort;
      if (!idle || metadata.pendingState !== null || metadata.lastUpdateTimestampMs + this.config.transactionalIdExpirationMs > now) continue;
      metadata.pendingState = TransactionStatus.Dead;
      this.store
        .append(this.store.partitionFor(metadata.transactionalId), [{ key: encodeTransactionLogKey(metadata.transactionalId), value: null }])
        .then((errorCode) => {
          metadata.pendingState = null;
          if (errorCode === ErrorCode.NONE && this.transactions.get(metadata.transactionalId) === metadata) this.transactions.delete(metadata.transactionalId);
        })
        .catch(() => (metadata.pendingState = null));
    }
  }

  // ---- DescribeTransactions / ListTransactions ----

  describe(transactionalId: string): TransactionDescription | number {
    const status = this.coordinates(transactionalId);
    if (status !== ErrorCode.NONE) return status;
    const metadata = this.transactions.get(transactionalId);
    if (!metadata) return ErrorCode.TRANSACTIONAL_ID_NOT_FOUND;
    return describeMetadata(metadata);
  }

  /** Every id this broker coordinates, filtered as ListTransactions asks (empty filters match everything). */
  list(states: string[], producerIds: number[], durationFilterMs: number): TransactionDescription[] {
    const now = this.now();
    const result: TransactionDescription[] = [];
    for (const metadata of this.transactions.values()) {
      const description = describeMetadata(metadata);
      if (states.length > 0 && !states.includes(description.state)) continue;
      if (producerIds.length > 0 && !producerIds.includes(metadata.producerId)) continue;
      if (durationFilterMs >= 0 && (metadata.state !== TransactionStatus.Ongoing || now - metadata.startTimestampMs < durationFilterMs)) continue;
      result.push(description);
    }
    return result;
  }
}

function describeMetadata(metadata: TransactionMetadata): TransactionDescription {
  return {
    transactionalId: metadata.transactionalId,
    state: TRANSACTION_STATUS_NAMES[metadata.state],
    producerId: metadata.producerId,
    producerEpoch: metadata.producerEpoch,
    timeoutMs: metadata.timeoutMs,
    startTimestampMs: metadata.startTimestampMs,
    partitions: metadata.partitionsByTopic(),
  };
}

function backoffMs(attempt: number): number {
  return Math.min(MARKER_RETRY_BACKOFF_MS_MAX, MARKER_RETRY_BACKOFF_MS_MIN * 2 ** Math.min(attempt, 16));
}

/** Kafka's TransactionStateManager maps its log append errors like this before clients see them. */
function appendErrorForClient(errorCode: number): number {
  switch (errorCode) {
    case ErrorCode.UNKNOWN_TOPIC_OR_PARTITION:
    case ErrorCode.NOT_ENOUGH_REPLICAS:
    case ErrorCode.NOT_ENOUGH_REPLICAS_AFTER_APPEND:
    case ErrorCode.REQUEST_TIMED_OUT:
      return ErrorCode.COORDINATOR_NOT_AVAILABLE;
    case ErrorCode.NOT_LEADER_OR_FOLLOWER:
    case ErrorCode.KAFKA_STORAGE_ERROR:
      return ErrorCode.NOT_COORDINATOR;
    default:
      return ErrorCode.UNKNOWN_SERVER_ERROR;
  }
}
