// What a handler may use: small, named capabilities instead of the whole broker. server/broker.ts builds
// them once and the dispatcher adds the request's own fields; a handler that needs something new names it
// here, so what each API can reach (and later, what authorization must guard) stays visible in one place.
import type { ScramCredentialStore } from "../security/credentials.ts";
import type { SaslAuthenticator } from "../security/sasl/authenticator.ts";
import type { ReplicaManager } from "../cluster/replica-manager.ts";
import type { BrokerConfig } from "../config/broker-config.ts";
import type { GroupCoordinator } from "../group/group-coordinator.ts";
import type { TransactionCoordinator } from "../transactions/transaction-coordinator.ts";
import type { ShareGroups } from "../share/share-groups.ts";
import type { SegmentViews } from "../log/segment-views.ts";
import type { FetchSessionCache } from "../fetch-session/fetch-session-cache.ts";
import type { TopicManager } from "../metadata/topic-manager.ts";
import type { BrokerInfo } from "../metadata/types.ts";
import type { PartitionWorkers } from "../partition/partition-workers.ts";
import type { ConnectionSecurity } from "../security/principal.ts";
import type { Authorization } from "../security/acl/authorizer.ts";
import type { QuotaManager } from "../security/quotas/quota-manager.ts";
import type { Audit } from "../security/audit/audit-log.ts";

/** Topics at run time: metadata, configs, and the offsets the socket thread last heard from the workers. */
export type Topics = Pick<
  TopicManager,
  "get" | "getById" | "list" | "runtime" | "noteOffsets" | "configValue" | "effectiveConfigs" | "createTopic" | "deleteTopic" | "createPartitions" | "alterConfigs" | "alterReassignments"
>;

/** The partition workers: every read or write of a partition's log goes through them. */
export type PartitionAccess = Pick<
  PartitionWorkers,
  "produce" | "read" | "offsets" | "offsetForTimestamp" | "deleteRecords" | "epochEndOffset" | "appendMarker" | "producerTransaction" | "activeProducers" | "logMetrics"
>;

/** Leadership and the high watermark: who may append or read a partition here, and when an append is committed. */
export type Replication = Pick<ReplicaManager, "checkLeader" | "checkProduceAllowed" | "afterLeaderAppend" | "checkFetchAllowed" | "readLimit" | "onReplicaFetch">;

/** Long poll: appends to a partition wake the fetches waiting on it (version() catches a wake-up missed during a read). */
export interface AppendWatchers {
  version(partitions: ReadonlyArray<{ topic: string; partition: number }>): number;
  watch(partitions: ReadonlyArray<{ topic: string; partition: number }>, wake: () => void): () => void;
}

/** Fetch data: a worker's file slice turned into a range the connection writes from the mapped segment. */
export type FetchViews = Pick<SegmentViews, "records">;

/** Consumer groups and their committed offsets (group/). */
export type Groups = Pick<GroupCoordinator, "join" | "sync" | "heartbeat" | "leave" | "offsets" | "consumerProtocol" | "coordinatorFor" | "offsetsPartitionFor" | "ensureOffsetsTopic">;

/** Share groups (share/share-groups.ts): what the share APIs and the GROUP config resource use. */
export type ShareGroupsAccess = Pick<ShareGroups, "coordinator" | "partitions" | "describeConfigs" | "alterConfigs" | "readState" | "writeState">;

/** The transaction coordinator (transactions/): the transactional ids whose __transaction_state partition this broker leads. */
export type TransactionCoordinatorAccess = Pick<TransactionCoordinator, "initProducerId" | "addPartitions" | "verifyPartition" | "endTxn" | "describe" | "list" | "coordinatorFor">;

/**
 * What the partition leader's side of transactions asks of the transaction coordinator
 * (docs/transactions.md § Partition leaders). Absent: every transactional batch with a transactional id
 * passes verification (the coordinator side provides the real one).
 */
export interface TransactionVerification {
  /**
   * KIP-890 part 1: before the first transactional batch of a producer on a partition is appended, the
   * coordinator confirms the partition was added to that producer's ongoing transaction. Answers an ErrorCode
   * (NONE to append; INVALID_TXN_STATE, INVALID_PRODUCER_EPOCH, ... to refuse the batch).
   */
  verifyPartitionInTransaction(transactionalId: string, producerId: number, producerEpoch: number, topic: string, partition: number): Promise<number>;
  /**
   * KIP-890 part 2 (transaction version 2): a transactional Produce v12 carries no AddPartitionsToTxn before it;
   * the partition leader adds the partition to the producer's transaction itself (Kafka's AddPartitionsToTxnManager
   * with verifyOnly false), starting the transaction if none is open. Answers like verifyPartitionInTransaction.
   */
  addPartitionToTransaction(transactionalId: string, producerId: number, producerEpoch: number, topic: string, partition: number): Promise<number>;
  /** Called once per partition whose COMMIT/ABORT marker was written and committed (e.g. group offsets in __consumer_offsets). */
  onMarkerWritten?(topic: string, partition: number, producerId: number, commit: boolean): void | Promise<void>;
}

/** The cluster as Metadata and DescribeCluster show it. */
export interface ClusterView {
  brokers(): BrokerInfo[];
  controllerId(): number;
  /** The replicas among `replicas` on brokers that are not alive. */
  offlineReplicas(replicas: number[]): number[];
}

export interface ProducerIdAllocator {
  allocate(): Promise<number>;
}

/** The broker's own settings: typed for decisions, and as DescribeConfigs lists them. */
export interface BrokerSettings {
  readonly config: Pick<BrokerConfig, "nodeId" | "clusterId" | "autoCreateTopicsEnable" | "properties" | "dataDir">;
  describe(): Record<string, string>;
}

/** One advertised API range, as ApiVersions lists it. */
export interface AdvertisedApi {
  readonly apiKey: number;
  readonly minVersion: number;
  readonly maxVersion: number;
}

/** What a handler needs of the connection its request came on (server/connection.ts satisfies it). */
export interface ClientConnection {
  readonly remoteIp: string;
  /** The peer's port (audit lines name address and port). */
  readonly remotePort?: number;
  /** The listener it came in on, its principal and whether SASL authentication is done (security/principal.ts). */
  readonly security: ConnectionSecurity;
  /** Resolves once the connection's write queue has room again; null when it has room now. */
  waitForWriteRoom(): Promise<void> | null;
  /** Stops reading requests for `ms` (KIP-219: a client over its quota is answered, then muted that long). */
  mute(ms: number): void;
}

/** The request's bytes: produce transfers the buffer to a worker when the frame owns it. */
export interface RequestBytes {
  readonly payload: Uint8Array;
  readonly ownsBuffer: boolean;
}

/** Every capability, built once per broker by server/broker.ts. */
export interface BrokerServices {
  readonly topics: Topics;
  readonly partitions: PartitionAccess;
  readonly replication: Replication;
  readonly watchers: AppendWatchers;
  readonly fetchViews: FetchViews;
  /** Fetch sessions (KIP-227, fetch-session/); absent: every fetch is answered without a session. */
  readonly fetchSessions?: FetchSessionCache;
  readonly groups: Groups;
  /** Share groups (KIP-932): membership, the leader's share partitions and sessions, group configs (share/). */
  readonly shareGroups?: ShareGroupsAccess;
  /** The transaction coordinator's answers to partition leaders (KIP-890 verification, marker side effects). */
  readonly transactions?: TransactionVerification;
  readonly transactionCoordinator: TransactionCoordinatorAccess;
  readonly cluster: ClusterView;
  readonly producerIds: ProducerIdAllocator;
  readonly settings: BrokerSettings;
  readonly advertisedApis: readonly AdvertisedApi[];
  /** ACL checks (security/acl/): every check passes when no authorizer is configured. */
  readonly authorizer: Authorization;
  /** SASL authentication of connections on a SASL listener (security/sasl/); null when none is configured. */
  readonly sasl: SaslAuthenticator | null;
  /** SCRAM credentials in the metadata store (KIP-554 APIs; SCRAM authentication reads them). */
  readonly scramCredentials: ScramCredentialStore;
  /** Client quotas (KIP-13/546, security/quotas/): Produce and Fetch record their bytes and throttle. */
  readonly quotas: QuotaManager;
  /** The audit trail (security/audit/): api/authorize.ts reports denials to it; absent: nothing audited. */
  readonly audit?: Audit;
  /** Leader elections on request (ElectLeaders, cluster/leader-elections.ts); absent: none is ever needed. */
  readonly leaderElections?: { elect(type: number, topic: string, partition: number): Promise<{ errorCode: number; errorMessage: string | null }> };
  /** Traffic counters for /metrics (admin/); absent: not counted. */
  readonly traffic?: TrafficCounters;
  /** True once a clean stop began: long polls end early. */
  isStopping(): boolean;
  log(message: string): void;
}

/** Hot-path counters /metrics reads at scrape time (admin/traffic-counters.ts): plain additions, nothing more. */
export interface TrafficCounters {
  produced(topic: string, partition: number, bytes: number, records: number): void;
  fetched(topic: string, partition: number, bytes: number, follower: boolean): void;
  /** A partition (or request) answered with this error code. */
  error(apiKey: number, errorCode: number): void;
  /** A request handled: from dispatch to the handler's answer (the wait of a long poll included). */
  request(apiKey: number, seconds: number): void;
  /** The same request's wait before its handler started (Kafka's RequestQueueTimeMs). */
  queued(apiKey: number, seconds: number): void;
  /** A request's stage timings, once its reply left (or was dropped): stage histograms and the slowest-requests sample. */
  traced(trace: RequestTrace): void;
}

/**
 * Where one request's time went, in milliseconds (issue 13's latency budget). The dispatcher creates it while
 * traffic is counted; handlers add the stages they know (a produce: the partition worker's round trip, split
 * into the hand-off between threads, the worker's own time and the fsync it waited for, then the replication
 * wait of acks=all; a fetch: the long-poll wait and the worker reads). The connection adds the send time.
 */
export interface RequestTrace {
  readonly apiKey: number;
  /** First byte of the frame read to its last (0 for a frame that came in one read). */
  readMs: number;
  /** Frame complete to handler start (startup wait, decoding). */
  queueMs: number;
  /** Handler start to its answer; every stage below but send is part of it. */
  handlerMs: number;
  /** Messages to and from partition workers and the workers' event loops: round trips minus the time inside the worker. */
  handoffMs: number;
  /** Inside the partition worker: queue for the partition's next drain, validation, append, index updates (fsync apart). */
  workerMs: number;
  /** The fsync a produce waited for (flush.messages / flush.ms, or a transactional marker). */
  fsyncMs: number;
  /** acks=all: local append done to the high watermark past the records. */
  replicationMs: number;
  /** A fetch's long poll: waiting for data that was not there yet. */
  waitMs: number;
  /** Answer to its last byte taken by the socket (earlier replies on the connection included); 0 for shard connections. */
  sendMs: number;
}

/** One request: the broker's capabilities plus what arrived with it. */
export interface RequestContext extends BrokerServices {
  readonly connection: ClientConnection;
  readonly apiKey: number;
  readonly apiVersion: number;
  readonly correlationId: number;
  readonly clientId: string | null;
  readonly frame: RequestBytes;
  /** Set while request_percentage quotas are in force (api/request-quota.ts); absent or null otherwise. */
  readonly requestTimer?: RequestTimer | null;
  /** Set while traffic is counted: the request's stage timings, which handlers add to. */
  readonly trace?: RequestTrace | null;
}

/** One request's handling time on the socket thread, for request_percentage quotas (KIP-124). */
export interface RequestTimer {
  readonly startedMs: number;
  /** Time until the handler first yielded (set by the dispatcher as soon as it does). */
  syncMs: number;
  /** Set for requests Kafka does not throttle (a follower's Fetch): their time is not recorded. */
  exempt: boolean;
}
