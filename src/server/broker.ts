// The broker: configuration, partition workers, topic metadata and the socket server, started and
// stopped as one. `startBroker()` is the embeddable entry point (tests use it with port 0).
import { existsSync, mkdirSync, rmSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import type { Socket, TCPSocketListener } from "bun";
import type { BrokerServices, RequestTrace } from "../api/context.ts";
import { advertised, handlers } from "../api/index.ts";
import { applyProperties, defaultBrokerConfig, describeBrokerConfig, loadPropertiesFile, networkThreads, workersListen, type BrokerConfig } from "../config/broker-config.ts";
import { segmentViewsPerThread } from "../config/partition-limit.ts";
import { ApiKey } from "../protocol/generated/index.ts";
import type { ProduceResult } from "../partition/messages.ts";
import { CONSUMER_BYTE_RATE, PRODUCER_BYTE_RATE } from "../security/quotas/model.ts";
import type { AppendedItem, LocalPartitions } from "./shards/messages.ts";
import { LOCAL_FETCH_FLAG, LOCAL_PRODUCE_FLAG } from "./shards/local-view.ts";
import { HighWatermarkCheckpoint } from "../cluster/high-watermark-checkpoint.ts";
import type { ClusterMembership } from "../cluster/membership.ts";
import { ReplicaManager } from "../cluster/replica-manager.ts";
import { LeaderElections } from "../cluster/leader-elections.ts";
import { SingleNodeCluster } from "../cluster/single-node.ts";
import { createEtcdMembership } from "../cluster/etcd-cluster.ts";
import { GroupCoordinator } from "../group/group-coordinator.ts";
import { OFFSETS_TOPIC } from "../group/offsets-records.ts";
import { ErrorCode } from "../protocol/errors.ts";
import { TransactionCoordinator } from "../transactions/transaction-coordinator.ts";
import { TRANSACTION_STATE_TOPIC } from "../transactions/transaction-log-records.ts";
import { LEADER_TOPIC_GONE, MarkerChannel } from "../transactions/marker-channel.ts";
import { writeTxnMarkersLocally, type TxnMarkerDeps } from "../transactions/markers.ts";
import { interBrokerClientSecurity } from "../security/inter-broker.ts";
import { TopicManager, partitionKey } from "../metadata/topic-manager.ts";
import type { BrokerInfo } from "../metadata/types.ts";
import { PartitionWorkers, ownerOfPartition } from "../partition/partition-workers.ts";
import { Connection, type ConnectionLimits, type ReplyChunks } from "./connection.ts";
import type { Frame } from "./frame-reader.ts";
import { BLOCK_BYTES_MAX, PRODUCE_POOL_IDLE_MS, PRODUCE_POOL_KEEP_WARM_BYTES, producePool } from "../partition/buffer-pool.ts";
import { ConnectionQuotas, hostAddresses } from "./connection-quotas.ts";
import { defaultMaxConnections, raiseOpenFileLimit } from "./open-file-limit.ts";
import { RequestBudget, sharedBudgetCells } from "./request-budget.ts";
import { DataDirLock } from "./data-dir-lock.ts";
import { devModeOptions } from "./dev-mode.ts";
import { createDispatcher, InvalidRequestError, type DispatchedConnection } from "./dispatch.ts";
import { NetworkShards, OWNER_SHARD_THREAD_URL, type AwaitedCommit, type ShardStats } from "./shards/network-shards.ts";
import { PartitionWatchers } from "../partition/partition-watchers.ts";
import { SegmentViews } from "../log/segment-views.ts";
import { ProducerIds } from "./producer-ids.ts";
import { advertisedEndpoint, prepareListeners, resolveListeners, type ListenerSpec, type PreparedListeners } from "../security/listeners.ts";
import { principalFromCertificate, type ListenerTls } from "../security/tls.ts";
import { isTlsProtocol, type ListenerIdentity } from "../security/principal.ts";
import { FileScramCredentialStore, KeyValueScramCredentialStore, type ScramCredentialStore } from "../security/credentials.ts";
import { SaslAuthenticator } from "../security/sasl/authenticator.ts";
import { configuredSasl } from "../security/sasl/settings.ts";
import { openMetadataKv } from "../cluster/metadata-kv.ts";
import { etcdClientOptions } from "../cluster/etcd/settings.ts";
import { AclAuthorizer, allowEverything, parseSuperUsers, type Authorization } from "../security/acl/authorizer.ts";
import { FileAclStore } from "../security/acl/file-store.ts";
import { EtcdAclStore } from "../cluster/etcd-acls.ts";
import { QuotaManager } from "../security/quotas/quota-manager.ts";
import { FileQuotaStore } from "../security/quotas/file-store.ts";
import { EtcdQuotaStore } from "../cluster/etcd-quotas.ts";
import type { Audit } from "../security/audit/audit-log.ts";
import type { AuditSink } from "../security/audit/sinks.ts";
import { configuredAudit } from "../security/audit/settings.ts";
import { AdminServer } from "../admin/http-server.ts";
import { BrokerTraffic } from "../admin/traffic-counters.ts";
import { adminBrokerView } from "./admin-view.ts";
import { FaultInjector } from "../faults/fault-injector.ts";
import { ShareGroups, shareGroupSettings } from "../share/share-groups.ts";
import { ShareCoordinatorChannel } from "../share/share-coordinator-channel.ts";
import { faultsEnabled } from "../faults/fault-spec.ts";
import { FetchSessionCache } from "../fetch-session/fetch-session-cache.ts";

export interface BrokerOptions extends Partial<Omit<BrokerConfig, "properties">> {
  /** A Kafka-style properties file applied before the other options. */
  configFile?: string;
  /** Extra properties (same names as the file). */
  properties?: Record<string, string>;
  /** Where log lines go; default stderr. */
  log?: (message: string) => void;
  /** Dev mode (server/dev-mode.ts): a temporary data dir unless one is given, groups ready at once, 3 partitions. */
  dev?: boolean;
  /** Dev mode: keep the temporary data dir after the stop. */
  keepDataDir?: boolean;
}

const CLEAN_SHUTDOWN_MARKER = ".clean-shutdown";
const SHUTDOWN_DRAIN_TIMEOUT_MS = 10_000;
const HIGH_WATERMARK_CHECKPOINT_INTERVAL_MS = 5_000;
/** A shard's append as ReplicaManager.afterLeaderAppend takes it: the records stayed in the shard. */
const NO_RECORDS = new Uint8Array(0);

export function resolveConfig(options: BrokerOptions = {}): BrokerConfig {
  let config = defaultBrokerConfig();
  if (options.configFile) config = applyProperties(config, loadPropertiesFile(options.configFile));
  if (options.properties) config = applyProperties(config, options.properties);
  const { configFile: _configFile, properties: _properties, log: _log, dev: _dev, keepDataDir: _keepDataDir, ...direct } = options;
  for (const [name, value] of Object.entries(direct)) if (value !== undefined) (config as unknown as Record<string, unknown>)[name] = value;
  config.dataDir = resolve(config.dataDir);
  config.partitionWorkersListen = workersListen(config);
  return config;
}

/**
 * A coordinator that cannot answer now is not an error a producer knows from Produce: Kafka's
 * AddPartitionsToTxnManager answers NOT_ENOUGH_REPLICAS instead, which producers retry.
 */
/** What the coordinator records (TransactionLogValue's client transaction version) for a Produce v12 add. */
const TRANSACTION_VERSION_2 = 2;

function retriableForProduce(errorCode: number): number {
  switch (errorCode) {
    case ErrorCode.COORDINATOR_NOT_AVAILABLE:
    case ErrorCode.NOT_COORDINATOR:
    case ErrorCode.COORDINATOR_LOAD_IN_PROGRESS:
    case ErrorCode.CONCURRENT_TRANSACTIONS:
      return ErrorCode.NOT_ENOUGH_REPLICAS;
    default:
      return errorCode;
  }
}

export class Broker {
  readonly topics: TopicManager;
  readonly replicas: ReplicaManager;
  readonly watchers = new PartitionWatchers();
  /** The main thread's fetch views; each network shard keeps as many (segmentViewsPerThread). */
  readonly segmentViews: SegmentViews;
  /** Fetch sessions (KIP-227): they outlive connections, as in Kafka. */
  private readonly fetchSessions: FetchSessionCache;
  readonly producerIds: ProducerIds;
  /** Consumer groups and committed offsets (group/). */
  readonly groups: GroupCoordinator;
  /** Share groups (KIP-932, share/): membership, share partitions, __share_group_state. */
  readonly shareGroups: ShareGroups;
  /** Share partition leaders' requests to share coordinators on other brokers (cluster mode). */
  private readonly shareCoordinatorChannel: ShareCoordinatorChannel | null;
  /** Transactional ids and their transactions (transactions/). */
  readonly transactions: TransactionCoordinator;
  private readonly markerChannel: MarkerChannel;
  /** What every request handler may use (api/context.ts). */
  readonly services: BrokerServices;
  /** The ACL authorizer when authorizer.class.name names it; null: everything allowed. */
  readonly aclAuthorizer: AclAuthorizer | null;
  readonly scramCredentials: ScramCredentialStore;
  readonly quotas: QuotaManager;
  /** SASL on a SASL listener (security/sasl/); null otherwise. */
  readonly sasl: SaslAuthenticator | null;
  /** The audit trail (security/audit/): authentication outcomes and authorization denials, per listener. */
  readonly audit: Audit;
  private readonly auditSink: AuditSink | null;
  private readonly highWatermarks: HighWatermarkCheckpoint;
  private highWatermarkTimer: ReturnType<typeof setInterval> | null = null;
  /**
   * One socket server per listener (security/listeners.ts), in `listeners` order, with its bound port; `accepting`
   * false: stopped while the listening partition workers accept its connections.
   */
  private readonly servers: { listener: ListenerSpec; server: TCPSocketListener<Connection | undefined>; port: number; accepting: boolean }[] = [];
  /** Binds one of the listeners again on the main thread (set by listen()). */
  private bindListener: ((listener: ListenerSpec, port: number) => TCPSocketListener<Connection | undefined>) | null = null;
  private interBrokerListenerName = "";
  private readonly connections = new Set<Connection>();
  /** Shards 1..num.network.shards-1 (shards/); null with one shard (the main thread alone). */
  private networkShards: NetworkShards | null = null;
  /** Threads holding client sockets: the main thread and the shards (or the listening partition workers). */
  private readonly listeningThreads: number;
  /** queued.max.request.bytes across every connection (request-budget.ts). */
  readonly requestBudget: RequestBudget;
  /** max.connections / max.connections.per.ip (connection-quotas.ts); created by listen(). */
  connectionQuotas: ConnectionQuotas | null = null;
  private connectionSweepTimer: ReturnType<typeof setInterval> | null = null;
  private stopping: Promise<void> | null = null;
  /** Counters /metrics reads (admin/traffic-counters.ts). */
  readonly traffic = new BrokerTraffic();
  private readonly countReplySent = (apiKey: number, seconds: number): void => this.traffic.sent(apiKey, seconds);
  private readonly recordTrace = (trace: RequestTrace): void => this.traffic.traced(trace);
  /** The admin HTTP listener (admin.listeners); null when off. */
  adminServer: AdminServer | null = null;
  /** Scriptable faults for tests (faults.enable; src/faults/): add, list, clear. */
  readonly faults: FaultInjector;
  private readonly readiness = Promise.withResolvers<void>();
  private isReady = false;

  private constructor(
    readonly config: BrokerConfig,
    readonly workers: PartitionWorkers,
    readonly membership: ClusterMembership,
    readonly log: (message: string) => void,
  ) {
    this.highWatermarks = new HighWatermarkCheckpoint(config.dataDir);
    this.traffic.slowest.capacity = Number(config.properties["metrics.slowest.requests"] ?? 1000);
    this.faults = new FaultInjector(faultsEnabled(config), {
      nodeId: config.nodeId,
      closeConnections: () => this.closeConnections(),
      moveLeader: (topic, partition, nodeId) => this.moveLeader(topic, partition, nodeId),
      setFsyncDelay: (delayMs) => Atomics.store(workers.fsyncDelayMs, 0, delayMs),
    });
    // With network shards every thread holding connections charges its own cell of one SharedArrayBuffer and
    // the budget is their sum: it stays broker-wide (request-budget.ts).
    this.listeningThreads = networkThreads(config);
    this.segmentViews = new SegmentViews(segmentViewsPerThread(this.listeningThreads));
    const sharedBudget = this.listeningThreads > 1 && config.queuedMaxRequestBytes > 0 ? sharedBudgetCells(this.listeningThreads) : null;
    this.requestBudget = new RequestBudget(config.queuedMaxRequestBytes, sharedBudget ? { cells: sharedBudget, row: 0 } : null);
    this.sharedBudgetCell = sharedBudget;
    this.fetchSessions = new FetchSessionCache({
      slotsMax: Number(config.properties["max.incremental.fetch.session.cache.slots"] ?? 1000),
      partitionsMax: Number(config.properties["max.incremental.fetch.session.cache.partitions"] ?? 500_000),
    });
    this.topics = new TopicManager(config, workers, membership.store, membership.view, log);
    this.replicas = new ReplicaManager({
      nodeId: config.nodeId,
      config,
      topics: this.topics,
      workers,
      watchers: this.watchers,
      store: membership.store,
      log,
      checkpointedHighWatermark: (topic, partition) => this.highWatermarks.get(topic, partition),
      onLeadershipLost: () => this.leadershipLost(),
      onHighWatermark: (topic, partition) => this.highWatermarkMoved(topic, partition),
    });
    this.topics.setListener(this.replicas);
    this.replicas.onLeadershipChange((_topic, _partition, leading) => {
      if (leading) this.traffic.leadershipGains++;
    });
    this.producerIds = new ProducerIds(membership.store);
    this.groups = new GroupCoordinator({
      config,
      topics: this.topics,
      replication: this.replicas,
      partitions: workers,
      fetchViews: this.segmentViews,
      cluster: { singleNode: membership instanceof SingleNodeCluster, self: () => this.selfInfo(), brokers: () => this.brokers() },
      log,
    });
    this.shareCoordinatorChannel = config.etcdEndpoints.length > 0 ? this.createShareCoordinatorChannel(config) : null;
    const shareChannel = this.shareCoordinatorChannel;
    this.shareGroups = new ShareGroups({
      topics: this.topics,
      replication: this.replicas,
      partitions: workers,
      fetchViews: this.segmentViews,
      watchers: this.watchers,
      cluster: { brokers: () => this.brokers() },
      nowMs: () => Date.now(),
      log,
    }, shareGroupSettings(config.properties), shareChannel ? { nodeId: config.nodeId, request: (nodeId, apiKey, apiVersion, body) => shareChannel.request(nodeId, apiKey, apiVersion, body) } : null);
    this.replicas.onLeadershipChange((topic, partition, leading) => this.shareGroups.onLeadershipChange(topic, partition, leading));
    this.markerChannel = this.createMarkerChannel(config);
    this.transactions = new TransactionCoordinator({
      config,
      topics: this.topics,
      replication: this.replicas,
      partitions: workers,
      fetchViews: this.segmentViews,
      cluster: { singleNode: membership instanceof SingleNodeCluster, self: () => this.selfInfo(), brokers: () => this.brokers() },
      producerIds: this.producerIds,
      markers: (request) => this.markerChannel.deliver(request),
      nowMs: () => Date.now(),
      log,
    });
    this.aclAuthorizer = config.authorizerClassName === "" ? null : new AclAuthorizer(
      { superUsers: parseSuperUsers(config.superUsers), allowEveryoneIfNoAclFound: config.allowEveryoneIfNoAclFound },
      config.etcdEndpoints.length > 0 ? new EtcdAclStore(etcdClientOptions(config), config.clusterId, log) : new FileAclStore(config.dataDir),
      log,
    );
    // Each SASL listener's settings are checked here (security/sasl/settings.ts); TLS listeners in prepareListeners.
    const listeners = resolveListeners(config).listeners;
    const audit = configuredAudit(config.properties, listeners.map((listener) => listener.name), log);
    this.audit = audit.audit;
    this.auditSink = audit.sink;
    this.scramCredentials = config.etcdEndpoints.length > 0
      ? new KeyValueScramCredentialStore(openMetadataKv(etcdClientOptions(config, log)), `/bunka/${config.clusterId}/scram-credentials/`)
      : new FileScramCredentialStore(config.dataDir);
    this.sasl = this.createSaslAuthenticator(listeners);
    // A cluster's quotas are in etcd, watched by every broker (cluster/etcd-quotas.ts); a single node's in meta/client-quotas.bin.
    const quotaStore = config.etcdEndpoints.length > 0 ? new EtcdQuotaStore(openMetadataKv(etcdClientOptions(config, log)), config.clusterId, log) : new FileQuotaStore(config.dataDir);
    this.quotas = new QuotaManager(quotaStore, {
      samples: Number(config.properties["quota.window.num"] ?? 11),
      sampleMs: Number(config.properties["quota.window.size.seconds"] ?? 1) * 1000,
    });
    this.services = this.createServices();
    // Group coordination follows __consumer_offsets leadership (cluster mode); start() loads the initial set.
    this.replicas.onLeadershipChange((topic, partition, leading) => {
      if (topic !== OFFSETS_TOPIC || !this.groups.isActive) return;
      if (leading) this.groups.loadPartition(partition).catch((error) => this.log(`loading ${OFFSETS_TOPIC}-${partition} failed: ${String(error)}`));
      else this.groups.unloadPartition(partition);
    });
    // Transaction coordination follows __transaction_state leadership the same way.
    this.replicas.onLeadershipChange((topic, partition, leading) => {
      if (topic !== TRANSACTION_STATE_TOPIC || !this.transactions.isActive) return;
      if (leading) this.transactions.loadPartition(partition).catch((error) => this.log(`loading ${TRANSACTION_STATE_TOPIC}-${partition} failed: ${String(error)}`));
      else this.transactions.unloadPartition(partition);
    });
  }

  static async start(options: BrokerOptions = {}): Promise<Broker> {
    const config = resolveConfig(options);
    // Listeners and their TLS material are checked before anything else: a bad one stops the start, naming it.
    const listeners = prepareListeners(config);
    const log = options.log ?? ((message: string) => process.stderr.write(`${new Date().toISOString()} [bunka ${config.nodeId}] ${message}\n`));
    mkdirSync(config.dataDir, { recursive: true });
    acquireLock(config.dataDir, log);
    const markerPath = join(config.dataDir, CLEAN_SHUTDOWN_MARKER);
    const cleanStart = existsSync(markerPath);
    const freshDataDir = !existsSync(join(config.dataDir, "meta")) && !existsSync(join(config.dataDir, "replication-offset-checkpoint"));
    rmSync(markerPath, { force: true });
    networkThreads(config); // contradicting shard settings stop the start here, before any thread exists
    const workerScript = config.partitionWorkersListen ? OWNER_SHARD_THREAD_URL : undefined;
    const workers = new PartitionWorkers(config.partitionWorkers, log, workerScript);
    let broker: Broker | null = null;
    try {
      const self = () => broker!.selfInfo();
      const membership: ClusterMembership =
        config.etcdEndpoints.length > 0 ? await createEtcdMembership(config, workers, log, self) : new SingleNodeCluster(config.nodeId, config.dataDir, self);
      broker = new Broker(config, workers, membership, log);
      if (!cleanStart && !freshDataDir) log(`data dir ${config.dataDir} was not shut down cleanly: recovering logs`);
      // Listening first gives the real port (port 0) to register; requests wait until the broker is ready.
      broker.listen(listeners);
      await broker.startNetworkShards();
      // Before recovery, so that /healthz answers and /readyz says 503 while logs load.
      broker.adminServer = AdminServer.start(adminBrokerView(broker));
      await broker.aclAuthorizer?.start();
      await broker.quotas.start();
      await membership.start({ topics: broker.topics, replicas: broker.replicas, recover: !cleanStart, faults: broker.faults });
      await broker.groups.start();
      broker.shareGroups.start();
      await broker.transactions.start();
      broker.highWatermarkTimer = setInterval(() => broker!.checkpointHighWatermarksInBackground(), HIGH_WATERMARK_CHECKPOINT_INTERVAL_MS);
      broker.isReady = true;
      broker.readiness.resolve();
      broker.startPublishingLocalPartitions();
    } catch (error) {
      broker?.stopListening(true);
      broker?.networkShards?.terminate();
      broker?.adminServer?.stop();
      if (broker?.connectionSweepTimer) clearInterval(broker.connectionSweepTimer);
      broker?.groups.stop();
      broker?.shareGroups.stop();
      broker?.transactions.stop();
      broker?.markerChannel.close();
      broker?.replicas.stop();
      await broker?.membership.stop().catch(() => undefined);
      await broker?.aclAuthorizer?.stop().catch(() => undefined);
      await broker?.quotas.stop().catch(() => undefined);
      await workers.close().catch(() => undefined);
      releaseLock(config.dataDir);
      throw error;
    }
    return broker;
  }

  /** Resolves once metadata is loaded and every local log is open; requests that arrive earlier wait for it. */
  get ready(): Promise<void> | null {
    return this.isReady ? null : this.readiness.promise;
  }

  private listen(listeners: PreparedListeners): void {
    const dispatch = createDispatcher(this.services, handlers, () => this.ready, this.faults);
    const limits = {
      maxFrameBytes: this.config.socketRequestMaxBytes,
      maxInFlightRequests: this.config.maxInFlightRequestsPerConnection,
      writeQueueMaxBytes: this.config.connectionWriteQueueMaxBytes,
      receiveTimeoutMs: this.config.socketRequestReceiveTimeoutMs,
      idleTimeoutMs: this.config.connectionsMaxIdleMs,
      tlsHandshakeTimeoutMs: this.config.sslHandshakeTimeoutMs,
      saslMaxReceiveBytes: this.sasl?.settings.maxReceiveBytes,
    };
    const quotas = this.createConnectionQuotas();
    const anyTls = listeners.tls.size > 0;
    this.startConnectionSweep(Math.min(limits.receiveTimeoutMs, limits.idleTimeoutMs, anyTls ? limits.tlsHandshakeTimeoutMs : Infinity));
    const onFrameError = (connection: DispatchedConnection, error: unknown) => {
      if (!(error instanceof InvalidRequestError)) this.log(`internal error on connection ${connection.id}: ${error instanceof Error ? error.stack : String(error)}`);
      throw error;
    };
    this.dispatchFrame = (connection, frame) => {
      try {
        // Listening partition workers' appends acknowledged before this request was sent (partition.workers.listen).
        this.drainShardNotices?.();
        return dispatch(connection, frame).catch((error) => onFrameError(connection, error));
      } catch (error) {
        return Promise.reject(error);
      }
    };
    this.connectionLimits = limits;
    this.interBrokerListenerName = listeners.interBrokerListenerName;
    const bind = (listener: ListenerSpec, port: number): TCPSocketListener<Connection | undefined> => {
      const tls = listeners.tls.get(listener.name) ?? null;
      return Bun.listen<Connection | undefined>({
        hostname: listener.host,
        port,
        // With network shards, the shards bind the same port and the kernel spreads new connections (TLS stays here).
        ...(this.listeningThreads > 1 && !tls ? { reusePort: true } : {}),
        ...(tls ? { tls: tls.options } : {}),
        socket: {
          open: (socket: Socket<Connection | undefined>) => {
            const admission = quotas.admit(socket.remoteAddress);
            if (!admission.admitted) {
              socket.end(); // Kafka closes a connection above the limits at once
              return;
            }
            if (this.faults.armed && this.faults.refuseConnection()) {
              quotas.release(socket.remoteAddress);
              socket.end();
              return;
            }
            this.mainConnectionsAccepted++;
            const connection = new Connection(socket, limits, (conn, frame) => {
              this.mainRequests++;
              try {
                const result = dispatch(conn, frame);
                return result.catch((error) => onFrameError(conn, error));
              } catch (error) {
                return onFrameError(conn, error);
              }
            }, this.log, this.requestBudget, admission.interBroker, { name: listener.name, securityProtocol: listener.securityProtocol });
            socket.data = connection;
            connection.onReplySent = this.countReplySent;
            connection.onTraceDone = this.recordTrace;
            this.connections.add(connection);
          },
          ...(tls ? { handshake: (socket: Socket<Connection | undefined>, success: boolean, authorizationError: Error | null) => this.checkTlsHandshake(socket, success, authorizationError, listener, tls) } : {}),
          data: (socket, chunk) => socket.data?.onData(chunk),
          drain: (socket) => socket.data?.onDrain(),
          close: (socket) => {
            if (!socket.data) return;
            socket.data.onClose();
            if (this.connections.delete(socket.data)) quotas.release(socket.data.remoteIp);
          },
          error: (socket, error) => {
            this.log(`socket error on connection ${socket.data?.id}: ${error.message}`);
          },
        },
      });
    };
    this.bindListener = bind;
    for (const listener of listeners.listeners) {
      if (this.listeningThreads > 1 && !listeners.tls.has(listener.name)) refuseSharedPortInUse(listener);
      const server = bind(listener, listener.port);
      this.servers.push({ listener, server, port: server.port, accepting: true });
    }
  }

  /**
   * After a TLS handshake: a failed one closes the connection (logged once); with ssl.client.auth, a client
   * certificate that does not verify, or none where one is required, is refused, and a good one's subject is
   * the principal. Each outcome of client authentication is one JSON line in the log (the audit trail).
   */
  private checkTlsHandshake(socket: Socket<Connection | undefined>, success: boolean, authorizationError: Error | null, listener: ListenerSpec, tls: ListenerTls): void {
    const connection = socket.data;
    if (!connection || connection.closed) return;
    const reasonOf = (error: Error | null) => (error as (Error & { code?: string }) | null)?.code ?? error?.message ?? "no reason given";
    const audit = (result: "success" | "failure", principal: string | null, reason?: string) =>
      this.audit.authentication(connection, { result, principal, mechanism: "SSL", ...(reason ? { reason } : {}) });
    const refuse = (reason: string) => {
      audit("failure", null, reason);
      // The audit line says why (one line per connection); on a listener not audited the close log does.
      connection.close(this.audit.enabledFor(listener.name) ? undefined : `TLS client authentication failed on listener ${listener.name}: ${reason}`);
    };
    if (!success) {
      // With ssl.client.auth=required, OpenSSL itself fails the handshake of a client without a certificate.
      if (tls.clientAuth !== "none") refuse(`TLS handshake failed: ${reasonOf(authorizationError)}`);
      else connection.close(`TLS handshake failed on listener ${listener.name}: ${reasonOf(authorizationError)}`);
      return;
    }
    if (tls.clientAuth === "none") {
      connection.tlsHandshakeDone(null);
      return;
    }
    let certificate: ReturnType<Socket["getPeerX509Certificate"]> | undefined;
    try {
      certificate = socket.getPeerX509Certificate() ?? undefined;
    } catch {
      certificate = undefined;
    }
    if (!certificate) {
      // Bun reports a missing certificate as an authorization error too; "requested" lets such a client in anonymously.
      if (tls.clientAuth === "required") refuse("no client certificate (ssl.client.auth=required)");
      else connection.tlsHandshakeDone(null);
      return;
    }
    if (authorizationError) {
      refuse(`client certificate ${certificate.subject.replaceAll("\n", ",")} refused: ${reasonOf(authorizationError)}`);
      return;
    }
    const principal = principalFromCertificate(certificate, tls.principalRules);
    if (principal === null) {
      refuse(`no ssl.principal.mapping.rules rule applies to ${certificate.subject.replaceAll("\n", ",")}`);
      return;
    }
    audit("success", principal);
    connection.tlsHandshakeDone(principal);
  }

  /** Closes every open Kafka connection (the close-connections fault); answers how many. */
  private closeConnections(): number {
    const open: DispatchedConnection[] = [...this.connections, ...(this.networkShards?.connections() ?? [])];
    for (const connection of open) connection.close("fault: close-connections");
    // A connection a shard accepted a moment ago may not be known here yet: each shard closes its own too.
    this.networkShards?.closeAll();
    return open.length;
  }

  /** Set with listening partition workers: NetworkShards.drainNotices. */
  private drainShardNotices: (() => void) | null = null;
  private dispatchFrame: ((connection: DispatchedConnection, frame: Frame) => Promise<ReplyChunks>) | null = null;
  /** queued.max.request.bytes in use, one cell per thread: the main thread's and each shard's (null: no shards, or unbounded). */
  private readonly sharedBudgetCell: BigInt64Array | null;
  private connectionLimits: ConnectionLimits | null = null;

  /**
   * num.network.shards > 1: shard threads listen on every listener the main thread bound with SO_REUSEPORT
   * (not the TLS ones) and hand their requests to the same dispatcher (shards/network-shards.ts).
   */
  private async startNetworkShards(): Promise<void> {
    if (this.listeningThreads <= 1 || !this.dispatchFrame || !this.connectionLimits || !this.connectionQuotas) return;
    const shared = this.servers
      .filter(({ listener }) => !isTlsProtocol(listener.securityProtocol))
      .map(({ listener, port }) => ({ name: listener.name, securityProtocol: listener.securityProtocol, host: listener.host, port }));
    if (shared.length === 0) {
      this.log(`${this.shardSettingText()}: every listener uses TLS, which only the main thread serves; no shard started`);
      return;
    }
    const quotas = this.connectionQuotas;
    const dispatch = this.dispatchFrame;
    this.networkShards = new NetworkShards(this.config.networkShards, shared, {
      dispatch,
      admit: (remoteIp) => {
        const admission = quotas.admit(remoteIp);
        if (admission.admitted && this.faults.armed && this.faults.refuseConnection()) {
          quotas.release(remoteIp);
          return { admitted: false, interBroker: false };
        }
        return admission;
      },
      release: (remoteIp) => quotas.release(remoteIp),
      sent: this.countReplySent,
      traced: this.recordTrace,
      appended: (items, results, seconds, trace, commit) => this.afterShardAppend(items, results, seconds, trace, commit),
      fetched: (notice) => {
        for (const served of notice.partitions) this.traffic.fetched(served.topic, served.partition, served.bytes, false);
        for (const errorCode of notice.errorCodes) this.traffic.error(ApiKey.Fetch, errorCode);
        this.traffic.request(ApiKey.Fetch, notice.seconds);
        this.traffic.queued(ApiKey.Fetch, notice.trace.queueMs / 1000);
        this.traffic.traced(notice.trace);
      },
      shardFailed: (shard) => {
        this.requestBudget.forgetThread(shard);
        this.acceptAgain();
      },
      log: this.log,
    }, this.config.partitionWorkersListen ? this.workers.threads() : []);
    if (this.config.partitionWorkersListen) {
      const shards = this.networkShards;
      this.drainShardNotices = () => shards.drainNotices();
      this.watchers.onActiveChange = (waiting) => shards.setMainWaiting(waiting);
    }
    await this.networkShards.start(this.connectionLimits, { maxBytes: this.config.queuedMaxRequestBytes, shared: this.sharedBudgetCell }, segmentViewsPerThread(this.listeningThreads));
    this.log(`${this.shardSettingText()}: ${this.listeningThreads - 1} shard threads accept on ${shared.map((listener) => listener.name).join(", ")}`);
    if (this.config.partitionWorkersListen) this.leavePlaintextToWorkers();
  }

  /**
   * partition.workers.listen: the workers are the PLAINTEXT listener's shards, and the main thread stops
   * accepting on it. A connection it read would take main thread -> owner -> main thread with the
   * handler here; on a worker, its produces and fetches are answered by the owner (this worker, or a peer
   * reached once), and the main thread keeps only the control plane (metadata, groups, admin, and in a cluster
   * the other brokers' replica fetches, which the workers pass on). TLS and SASL
   * listeners stay (only PLAINTEXT connections are answered in the workers). Done before the broker serves:
   * a connection still in this socket's accept queue is reset, and the client connects again.
   */
  private leavePlaintextToWorkers(): void {
    for (const entry of this.servers) {
      if (entry.listener.securityProtocol !== "PLAINTEXT") continue;
      entry.server.stop(false);
      entry.accepting = false;
    }
    this.log("partition.workers.listen: the main thread leaves PLAINTEXT connections to the partition workers");
  }

  /** A listening worker failed: the main thread accepts again on the listeners it left to the workers. */
  private acceptAgain(): void {
    if (this.isStopping || !this.bindListener) return;
    for (const entry of this.servers) {
      if (entry.accepting) continue;
      try {
        entry.server = this.bindListener(entry.listener, entry.port);
        entry.accepting = true;
        this.log(`listener ${entry.listener.name}: the main thread accepts connections again (a listening partition worker failed)`);
      } catch (error) {
        this.log(`listener ${entry.listener.name}: the main thread could not accept again after a listening partition worker failed: ${error instanceof Error ? error.message : String(error)}`);
      }
    }
  }

  private shardSettingText(): string {
    return this.config.partitionWorkersListen ? `partition.workers.listen with ${this.config.partitionWorkers} workers` : `num.network.shards=${this.config.networkShards}`;
  }

  /**
   * A listening partition worker appended and answered a produce itself: the bookkeeping the Produce handler
   * does here after an append (ReplicaManager.afterLeaderAppend: offsets, high watermark, long polls) and its
   * counts. acks=all in a cluster: the wait for the ISR is done here too, and its outcome sent back (`commit`).
   */
  private afterShardAppend(items: readonly AppendedItem[], results: readonly ProduceResult[], seconds: number, trace: RequestTrace, commit: AwaitedCommit | null): void {
    const produced = items.map((item) => ({ topic: item.topic, partition: item.partition, leaderEpoch: item.leaderEpoch, records: NO_RECORDS }));
    const committed = this.replicas.afterLeaderAppend(produced, results as ProduceResult[], commit ? -1 : 1, commit?.timeoutMs ?? 0);
    if (commit) {
      committed.then(
        (errorCodes) => commit.done(errorCodes),
        () => commit.done(items.map(() => ErrorCode.UNKNOWN_SERVER_ERROR)),
      );
    }
    results.forEach((result, index) => {
      const item = items[index]!;
      if (result.errorCode !== ErrorCode.NONE) this.traffic.error(ApiKey.Produce, result.errorCode);
      else if (!result.duplicate) this.traffic.produced(item.topic, item.partition, item.bytes, result.lastOffset - result.baseOffset + 1);
    });
    this.traffic.request(ApiKey.Produce, seconds);
    // Counted as the dispatcher counts every request it handles: the queue-time histogram beside the total.
    this.traffic.queued(ApiKey.Produce, trace.queueMs / 1000);
    this.traffic.traced(trace);
  }

  /**
   * Cluster (ReplicaManager.onLeadershipLost): this broker stops leading a partition. The listening workers'
   * snapshot is stale from now on: the generation moves before the replica fetcher can touch the log, and a
   * new snapshot follows.
   */
  private leadershipLost(): void {
    // Single-node (a deleted topic): its partitions are closed in their owner first, and nothing else moves.
    if (!this.config.partitionWorkersListen || !this.networkShards || this.membership instanceof SingleNodeCluster) return;
    this.networkShards.advanceLeadershipGeneration();
    this.topics.onTopicsChanged?.();
  }

  private readonly movedHighWatermarks = new Map<string, { topic: string; partition: number }>();

  /**
   * Cluster: a high watermark moved; its owner's consumers read to it (local-fetch.ts LocalAppends). Posted once
   * per turn with the values as they are then (a follower's fetch can move many).
   */
  private highWatermarkMoved(topic: string, partition: number): void {
    if (!this.config.partitionWorkersListen || !this.networkShards || this.membership instanceof SingleNodeCluster) return;
    if (this.movedHighWatermarks.size === 0) queueMicrotask(() => this.postMovedHighWatermarks());
    this.movedHighWatermarks.set(partitionKey(topic, partition), { topic, partition });
  }

  private postMovedHighWatermarks(): void {
    const byWorker = new Map<number, { topic: string; partition: number; highWatermark: number }[]>();
    for (const { topic, partition } of this.movedHighWatermarks.values()) {
      const runtime = this.topics.runtime(topic, partition);
      if (!runtime) continue;
      const worker = ownerOfPartition(topic, partition, this.config.partitionWorkers);
      let entries = byWorker.get(worker);
      if (!entries) byWorker.set(worker, (entries = []));
      entries.push({ topic, partition, highWatermark: runtime.highWatermark });
    }
    this.movedHighWatermarks.clear();
    for (const [worker, entries] of byWorker) this.networkShards?.publishHighWatermarks(worker, entries);
  }

  /**
   * partition.workers.listen: the listening workers answer produce themselves only in the cases local-produce.ts
   * lists, judged from what they are told here: sent on every topic change, and when a quota or an armed fault
   * changes (the authorizer and the cluster kind are fixed at start). Posted before the change's own answer
   * (AlterClientQuotas, the faults API) leaves, so requests sent after it find the workers told.
   */
  private startPublishingLocalPartitions(): void {
    if (!this.config.partitionWorkersListen || !this.networkShards) return;
    let queued = false;
    // Coalesced: a CreateTopics of many topics changes them one by one within a turn.
    this.topics.onTopicsChanged = () => {
      if (queued) return;
      queued = true;
      setTimeout(() => {
        queued = false;
        this.publishLocalPartitions();
      }, 0);
    };
    this.publishLocalPartitions();
    this.quotas.onChange = () => this.setLocalFlags();
    this.faults.onArmedChange = () => this.setLocalFlags();
  }

  /**
   * The flags in shared memory: set before the answer to the request that changed them (AlterClientQuotas, the
   * faults API) leaves, so every request sent after it finds them, on whichever thread reads it.
   */
  private setLocalFlags(): void {
    const enabled =
      this.isReady &&
      !this.isStopping &&
      this.aclAuthorizer === null &&
      !this.quotas.inForce(PRODUCER_BYTE_RATE) &&
      !this.quotas.requestQuotasInForce &&
      !this.faults.armed;
    const fetchEnabled = enabled && !this.quotas.inForce(CONSUMER_BYTE_RATE);
    this.networkShards?.setLocalFlags((enabled ? LOCAL_PRODUCE_FLAG : 0) | (fetchEnabled ? LOCAL_FETCH_FLAG : 0));
  }

  /**
   * The topics, sent to the workers on every change (a stale view only sends a request to the main thread or has
   * the owner decline it; a partition led here that changed hands has moved the generation first).
   */
  private publishLocalPartitions(): void {
    this.setLocalFlags();
    const nodeId = this.config.nodeId;
    const cluster = !(this.membership instanceof SingleNodeCluster);
    const topics = this.topics.list().map((topic) => {
      const led = topic.partitions.map((assignment) => (assignment.leader === nodeId && this.replicas.role(topic.name, assignment.partition) === "leader" ? this.topics.runtime(topic.name, assignment.partition) : undefined));
      const minInsyncReplicas = Number(this.topics.configValue(topic, "min.insync.replicas"));
      return {
        name: topic.name,
        topicId: topic.topicId,
        leaderEpochs: topic.partitions.map((assignment, index) => (led[index] ? assignment.leaderEpoch : -1)),
        highWatermarks: cluster ? led.map((runtime) => runtime?.highWatermark ?? -1) : [],
        acksAllRefused: topic.partitions.some((assignment, index) => led[index] !== undefined && assignment.isr.length < minInsyncReplicas),
      };
    });
    const partitions: LocalPartitions = { nodeId, generation: this.networkShards?.leadershipGeneration() ?? 0, cluster, topics };
    this.networkShards?.publishLocalPartitions(partitions);
  }

  /** Applies the listening partition workers' notices queued so far (before an admin request reads the broker). */
  catchUp(): void {
    this.drainShardNotices?.();
  }

  /** Per network shard: the main thread (shard 0) and each shard thread, with connections and requests served. */
  networkShardStats(): ShardStats[] {
    const main: ShardStats = { shard: 0, alive: true, connections: this.connections.size, connectionsAccepted: this.mainConnectionsAccepted, requests: this.mainRequests, localRequests: 0, localProduces: 0, localFetches: 0, noticeWakeUps: 0 };
    return [main, ...(this.networkShards?.stats() ?? [])];
  }

  private mainConnectionsAccepted = 0;
  private mainRequests = 0;

  /** Test hook: network shard `index` (1..num.network.shards-1) throws from its event loop, as a bug would. */
  crashNetworkShard(index: number): boolean {
    return this.networkShards?.crash(index) ?? false;
  }

  /**
   * The move-leader fault: an election written as the controller writes one (controller.ts), a compare-and-swap
   * of the partition state on the version this broker saw, so that a concurrent election or ISR change wins and
   * this one fails. The new leader must be a live in-sync replica. The controller's preferred-leader check
   * (auto.leader.rebalance.enable) may move leadership back after leader.imbalance.check.interval.seconds.
   */
  private async moveLeader(topicName: string, partition: number, nodeId: number): Promise<void> {
    const assignment = this.topics.get(topicName)?.partitions[partition];
    if (!assignment) throw new Error(`move-leader: no partition ${topicName}-${partition}`);
    if (assignment.leader === nodeId) return;
    if (!assignment.replicas.includes(nodeId)) throw new Error(`move-leader: broker ${nodeId} is not a replica of ${topicName}-${partition} (replicas [${assignment.replicas}])`);
    if (!assignment.isr.includes(nodeId)) throw new Error(`move-leader: broker ${nodeId} is not in the ISR of ${topicName}-${partition} (ISR [${assignment.isr}])`);
    if (!this.brokers().some((info) => info.nodeId === nodeId && !info.shuttingDown)) throw new Error(`move-leader: broker ${nodeId} is not live`);
    const next = { leader: nodeId, leaderEpoch: assignment.leaderEpoch + 1, isr: assignment.isr };
    const version = await this.membership.store.updatePartitionState(topicName, partition, assignment.stateVersion, next);
    if (version === null) throw new Error(`move-leader: ${topicName}-${partition} changed meanwhile (another election or an ISR change); try again`);
    this.topics.applyPartitionState(topicName, partition, next, version);
    this.log(`fault move-leader: ${topicName}-${partition} leader ${assignment.leader} -> ${nodeId}, epoch ${next.leaderEpoch}`);
  }

  /** Stops accepting on every listener; `closeActive` also drops their connections. */
  private stopListening(closeActive: boolean): void {
    for (const { server } of this.servers) server.stop(closeActive);
    this.networkShards?.stopListening(closeActive);
  }

  /** True once logs are loaded and the broker is registered: it serves requests (/readyz). */
  get serving(): boolean {
    return this.isReady;
  }

  /** Open Kafka connections by listener name (/metrics). */
  connectionsByListener(): Map<string, number> {
    const counts = new Map<string, number>();
    const all: Iterable<DispatchedConnection> = [...this.connections, ...(this.networkShards?.connections() ?? [])];
    for (const connection of all) counts.set(connection.security.listener.name, (counts.get(connection.security.listener.name) ?? 0) + 1);
    return counts;
  }

  /** Every listener with the address it is bound to (the real port when started with port 0). */
  boundListeners(): { name: string; securityProtocol: string; host: string; port: number }[] {
    return this.servers.map(({ listener, port }) => ({ name: listener.name, securityProtocol: listener.securityProtocol, host: listener.host, port }));
  }

  /**
   * Raises the open-file limit as far as allowed and sets the connection limits; max.connections left at
   * 0 becomes half the open-file limit, so descriptors for segment files always remain.
   */
  private createConnectionQuotas(): ConnectionQuotas {
    const fileLimit = raiseOpenFileLimit();
    const maxConnections = this.config.maxConnections > 0 ? this.config.maxConnections : defaultMaxConnections(fileLimit);
    const raised = fileLimit.softBefore !== fileLimit.soft ? ` (raised from ${fileLimit.softBefore})` : "";
    this.log(`open-file limit ${fileLimit.soft ?? "unknown"}${raised}, hard ${fileLimit.hard ?? "unknown"} (${fileLimit.source}); max.connections=${maxConnections}, max.connections.per.ip=${this.config.maxConnectionsPerIp}, queued.max.request.bytes=${this.config.queuedMaxRequestBytes}`);
    this.connectionQuotas = new ConnectionQuotas(
      {
        maxConnections,
        maxConnectionsPerIp: this.config.maxConnectionsPerIp,
        maxConnectionsPerIpOverrides: this.config.maxConnectionsPerIpOverrides,
        interBrokerReserve: this.config.maxConnectionsInterBrokerReserve,
      },
      () => this.otherBrokerAddresses(),
      this.log,
    );
    return this.connectionQuotas;
  }

  /** Where the other live brokers' replica fetchers connect from (their advertised hosts). */
  private otherBrokerAddresses(): Set<string> {
    const addresses = new Set<string>();
    for (const info of this.brokers()) if (info.nodeId !== this.config.nodeId) for (const address of hostAddresses(info.host)) addresses.add(address);
    return addresses;
  }

  /** Closes connections silent mid-request (socket.request.receive.timeout.ms) or idle (connections.max.idle.ms). */
  private startConnectionSweep(shortestTimeoutMs: number): void {
    const intervalMs = Math.max(10, Math.min(1000, Math.floor(shortestTimeoutMs / 4)));
    this.connectionSweepTimer = setInterval(() => {
      const nowMs = Date.now();
      for (const connection of this.connections) {
        const reason = connection.expired(nowMs);
        if (reason) connection.close(reason);
      }
      // A burst's pooled blocks go back once unused for a while. A quiet process may not collect them for
      // minutes (measured: Bun.gc(false) left 80 MiB of dropped blocks in place), so after letting a lot go
      // it runs one full collection: rare (blocks must sit unused for PRODUCE_POOL_IDLE_MS first).
      if (producePool.trimIdle(nowMs, PRODUCE_POOL_IDLE_MS, PRODUCE_POOL_KEEP_WARM_BYTES) >= BLOCK_BYTES_MAX) Bun.gc(true);
    }, intervalMs);
  }

  /** The port of the first listener (the real one when started with port 0). */
  get port(): number {
    return this.servers[0]?.port ?? this.config.port;
  }

  get advertisedHost(): string {
    return this.config.advertisedHost || this.config.host;
  }

  /**
   * This broker as it registers and as Metadata shows it: host/port are the inter-broker listener's advertised
   * address (what other brokers connect to), `endpoints` every listener's, for clients of each listener.
   */
  selfInfo(): BrokerInfo {
    if (this.servers.length === 0) return { nodeId: this.config.nodeId, host: this.advertisedHost, port: this.config.advertisedPort ?? this.port, rack: null };
    const endpoints = this.servers.map(({ listener, port }) => ({ listener: listener.name, securityProtocol: listener.securityProtocol, ...advertisedEndpoint(listener, port) }));
    const interBroker = endpoints.find((endpoint) => endpoint.listener === this.interBrokerListenerName) ?? endpoints[0]!;
    return { nodeId: this.config.nodeId, host: interBroker.host, port: interBroker.port, rack: null, endpoints };
  }

  /** Every live broker in the cluster, as Metadata reports them. */
  brokers(): BrokerInfo[] {
    return this.membership.view.liveBrokers();
  }

  get isStopping(): boolean {
    return this.stopping !== null;
  }

  /** Fails the start when a listener uses SASL without what it needs (never serves it unauthenticated). */
  private createSaslAuthenticator(listeners: readonly ListenerIdentity[]): SaslAuthenticator | null {
    const settings = configuredSasl(this.config.properties, listeners);
    if (settings.listeners.size === 0) return null;
    for (const [name, listener] of settings.listeners) {
      if (listener.enabledMechanisms.includes("OAUTHBEARER") && listener.oauthBearer.jwks === null) {
        this.log(`listener ${name}: OAUTHBEARER accepts unsecured tokens (alg none): for development only; set sasl.oauthbearer.jwks.endpoint.url to require signed tokens`);
      }
    }
    // Audit trail: one JSON line per authentication outcome (at most one failure per connection).
    return new SaslAuthenticator({ ...settings, scramCredentials: this.scramCredentials, audit: (peer, event) => {
      if (event.result === "failure") this.traffic.authenticationFailed(peer.security.listener.name, event.mechanism ?? "unknown");
      this.audit.authentication(peer, event);
    } });
  }

  /** Share partition leaders reach share coordinators on other brokers over the inter-broker listener. */
  private createShareCoordinatorChannel(config: BrokerConfig): ShareCoordinatorChannel {
    const resolved = resolveListeners(config);
    const interBroker = resolved.listeners.find((listener) => listener.name === resolved.interBrokerListenerName) ?? resolved.listeners[0]!;
    return new ShareCoordinatorChannel({ nodeId: config.nodeId, brokers: () => this.brokers(), security: interBrokerClientSecurity(config, interBroker) });
  }

  /**
   * Markers for partitions led here are appended locally (transactions/markers.ts); others go to their leader
   * over the inter-broker listener. A marker on __consumer_offsets completes the group offsets the
   * transaction staged (TxnOffsetCommit).
   */
  private createMarkerChannel(config: BrokerConfig): MarkerChannel {
    const resolved = resolveListeners(config);
    const interBroker = resolved.listeners.find((listener) => listener.name === resolved.interBrokerListenerName) ?? resolved.listeners[0]!;
    return new MarkerChannel({
      nodeId: config.nodeId,
      brokers: () => this.brokers(),
      leaderOf: (topic, partition) => this.topics.get(topic)?.partitions[partition]?.leader ?? LEADER_TOPIC_GONE,
      writeLocally: (request) => writeTxnMarkersLocally(this.markerDeps(), request),
      security: config.etcdEndpoints.length > 0 ? interBrokerClientSecurity(config, interBroker) : {},
      log: this.log,
    });
  }

  /** KIP-890 part 1: asks the id's coordinator, here or on its broker, whether the partition is in the producer's transaction. */
  private async verifyPartitionInTransaction(transactionalId: string, producerId: number, producerEpoch: number, topic: string, partition: number): Promise<number> {
    const local = this.transactions.verifyPartition(transactionalId, producerId, producerEpoch, topic, partition);
    if (local !== ErrorCode.NOT_COORDINATOR) return retriableForProduce(local);
    const coordinator = this.transactions.coordinatorFor(transactionalId);
    if (!coordinator) return retriableForProduce(ErrorCode.COORDINATOR_NOT_AVAILABLE);
    return retriableForProduce(await this.markerChannel.verifyRemotely(coordinator.nodeId, transactionalId, producerId, producerEpoch, topic, partition));
  }

  /** KIP-890 part 2: adds the partition to the producer's transaction at the id's coordinator, here or on its broker (Produce v12). */
  private async addPartitionToTransaction(transactionalId: string, producerId: number, producerEpoch: number, topic: string, partition: number): Promise<number> {
    const local = await this.transactions.addPartitions(transactionalId, producerId, producerEpoch, [{ topic, partition }], TRANSACTION_VERSION_2);
    const coordinator = local === ErrorCode.NOT_COORDINATOR ? this.transactions.coordinatorFor(transactionalId) : null;
    let errorCode = local;
    if (local === ErrorCode.NOT_COORDINATOR) {
      errorCode = coordinator ? await this.markerChannel.verifyRemotely(coordinator.nodeId, transactionalId, producerId, producerEpoch, topic, partition, false) : ErrorCode.COORDINATOR_NOT_AVAILABLE;
    }
    // As Kafka's AddPartitionsToTxnManager: producers expect INVALID_PRODUCER_EPOCH here.
    return retriableForProduce(errorCode === ErrorCode.PRODUCER_FENCED ? ErrorCode.INVALID_PRODUCER_EPOCH : errorCode);
  }

  /** What writing markers here needs, for the coordinator's local markers and the WriteTxnMarkers handler alike. */
  markerDeps(): TxnMarkerDeps {
    return {
      topics: this.topics,
      partitions: this.workers,
      replication: this.replicas,
      onMarkerWritten: (topic, partition, producerId, commit) => (topic === OFFSETS_TOPIC ? this.groups.offsets.completeTransaction(partition, producerId, commit) : undefined),
      log: this.log,
    };
  }

  /** The capabilities handlers receive: each one a part of this broker, none the broker itself. */
  private createServices(): BrokerServices {
    const membership = this.membership;
    return {
      topics: this.topics,
      partitions: this.workers,
      replication: this.replicas,
      watchers: this.watchers,
      fetchViews: this.segmentViews,
      fetchSessions: this.fetchSessions,
      groups: this.groups,
      shareGroups: this.shareGroups,
      transactionCoordinator: this.transactions,
      transactions: {
        verifyPartitionInTransaction: (transactionalId, producerId, producerEpoch, topic, partition) => this.verifyPartitionInTransaction(transactionalId, producerId, producerEpoch, topic, partition),
        addPartitionToTransaction: (transactionalId, producerId, producerEpoch, topic, partition) => this.addPartitionToTransaction(transactionalId, producerId, producerEpoch, topic, partition),
        onMarkerWritten: (topic, partition, producerId, commit) => this.markerDeps().onMarkerWritten?.(topic, partition, producerId, commit),
      },
      cluster: {
        brokers: () => this.brokers(),
        controllerId: () => membership.view.controllerId(),
        offlineReplicas: (replicas) => {
          const live = new Set(this.brokers().map((info) => info.nodeId));
          return replicas.filter((replica) => !live.has(replica));
        },
      },
      producerIds: this.producerIds,
      settings: { config: this.config, describe: () => this.describeBrokerConfigs() },
      advertisedApis: advertised,
      sasl: this.sasl,
      scramCredentials: this.scramCredentials,
      quotas: this.quotas,
      audit: this.audit,
      authorizer: (this.aclAuthorizer ?? allowEverything) satisfies Authorization,
      isStopping: () => this.isStopping,
      leaderElections: new LeaderElections({ topics: this.topics, store: membership.store, liveBrokers: () => this.brokers(), log: this.log }),
      traffic: this.traffic,
      log: this.log,
    };
  }

  private checkpointWrite: Promise<void> | null = null;

  /** Periodic: in the background, one write at a time. */
  private checkpointHighWatermarksInBackground(): void {
    if (this.checkpointWrite) return;
    const entries = [...this.topics.localRuntimes()].map(({ topic, partition, highWatermark }) => ({ topic, partition, highWatermark }));
    this.checkpointWrite = this.highWatermarks
      .writeInBackground(entries)
      .catch((error) => this.log(`writing the high watermark checkpoint failed: ${String(error)}`))
      .finally(() => {
        this.checkpointWrite = null;
      });
  }

  /** At shutdown: after any background write, synchronously. */
  private async checkpointHighWatermarks(): Promise<void> {
    await this.checkpointWrite;
    try {
      this.highWatermarks.write([...this.topics.localRuntimes()]);
    } catch (error) {
      this.log(`writing the high watermark checkpoint failed: ${String(error)}`);
    }
  }

  describeBrokerConfigs(): Record<string, string> {
    const maxConnections = this.connectionQuotas?.limits.maxConnections;
    return describeBrokerConfig(this.config, maxConnections === undefined ? {} : { "max.connections": String(maxConnections) });
  }

  /** Dev mode's temporary data dir; removed after a clean stop when removeOnStop. */
  devDataDir: { path: string; removeOnStop: boolean } | null = null;

  /** Clean stop: leadership moved away, no new connections, in-flight requests answered, logs flushed and closed. */
  stop(): Promise<void> {
    this.stopping ??= this.shutdown();
    return this.stopping;
  }

  /** `await using broker = await startBroker(...)` stops it cleanly at the end of the scope. */
  async [Symbol.asyncDispose](): Promise<void> {
    await this.stop();
  }

  /**
   * Abrupt stop, as when the process dies (src/testing/cluster.ts kill): listeners and connections closed at
   * once, no controlled shutdown, nothing flushed, no clean-shutdown marker, so the next start recovers the
   * logs. The caller cuts the broker off its metadata store first, so that its leases go as a dead process's do.
   */
  abort(): Promise<void> {
    this.stopping ??= this.crash();
    return this.stopping;
  }

  private async crash(): Promise<void> {
    this.faults.close();
    this.stopListening(true);
    for (const connection of this.connections) connection.close();
    this.networkShards?.terminate();
    if (this.connectionSweepTimer) clearInterval(this.connectionSweepTimer);
    if (this.highWatermarkTimer) clearInterval(this.highWatermarkTimer);
    this.workers.terminate();
    this.groups.stop();
    this.shareGroups.stop();
    this.shareCoordinatorChannel?.close();
    this.transactions.stop();
    this.markerChannel.close();
    this.replicas.stop();
    await this.membership.stop().catch(() => undefined);
    await this.aclAuthorizer?.stop().catch(() => undefined);
    await this.quotas.stop().catch(() => undefined);
    await this.auditSink?.close().catch(() => undefined);
    this.adminServer?.stop();
    releaseLock(this.config.dataDir);
    this.log(`Bunka broker ${this.config.nodeId} aborted (no flush, no controlled shutdown)`);
  }

  private async shutdown(): Promise<void> {
    this.faults.close();
    await this.membership.controlledShutdown().catch((error) => this.log(`controlled shutdown failed: ${String(error)}`));
    this.stopListening(false);
    // Parked JoinGroup/SyncGroup requests are answered (NOT_COORDINATOR) so that connections can drain.
    this.groups.stop();
    this.shareGroups.stop();
    this.shareCoordinatorChannel?.close();
    this.transactions.stop();
    this.markerChannel.close();
    const deadline = Date.now() + SHUTDOWN_DRAIN_TIMEOUT_MS;
    const busy = () => [...this.connections].some((connection) => !connection.idle) || [...(this.networkShards?.connections() ?? [])].some((connection) => !connection.idle);
    while (Date.now() < deadline && busy()) await Bun.sleep(10);
    // The shards write out what their connections still have queued, then close them.
    await this.networkShards?.drainAndClose(Math.max(0, deadline - Date.now()));
    for (const connection of this.connections) connection.close();
    this.stopListening(true);
    if (this.connectionSweepTimer) clearInterval(this.connectionSweepTimer);
    if (this.highWatermarkTimer) clearInterval(this.highWatermarkTimer);
    this.replicas.stop();
    await this.membership.stop().catch((error) => this.log(`leaving the cluster failed: ${String(error)}`));
    await this.aclAuthorizer?.stop().catch((error) => this.log(`stopping the ACL authorizer failed: ${String(error)}`));
    await this.quotas.stop().catch((error) => this.log(`stopping the client quota store failed: ${String(error)}`));
    await this.checkpointHighWatermarks();
    await this.auditSink?.close().catch((error) => this.log(`closing the audit log failed: ${String(error)}`));
    await this.workers.close();
    writeFileSync(join(this.config.dataDir, CLEAN_SHUTDOWN_MARKER), `${new Date().toISOString()}\n`);
    this.adminServer?.stop();
    releaseLock(this.config.dataDir);
    if (this.devDataDir?.removeOnStop) rmSync(this.devDataDir.path, { recursive: true, force: true });
    this.log(`Bunka broker ${this.config.nodeId} stopped cleanly`);
  }
}

export async function startBroker(options: BrokerOptions = {}): Promise<Broker> {
  if (!options.dev) return Broker.start(options);
  const dev = devModeOptions(options);
  const removeOnStop = dev.temporaryDataDir !== null && !options.keepDataDir;
  try {
    const broker = await Broker.start(dev.options);
    if (dev.temporaryDataDir) broker.devDataDir = { path: dev.temporaryDataDir, removeOnStop };
    return broker;
  } catch (error) {
    if (removeOnStop) rmSync(dev.temporaryDataDir!, { recursive: true, force: true });
    throw error;
  }
}

/**
 * SO_REUSEPORT lets any process of the same user bind a port already bound so, and the kernel would then
 * split connections between two brokers. A plain bind first fails with EADDRINUSE when anything holds the
 * port, as a listener without reusePort does; it is released at once. (Port 0 picks a free port anyway.)
 */
function refuseSharedPortInUse(listener: ListenerSpec): void {
  if (listener.port === 0) return;
  const probe = Bun.listen({ hostname: listener.host, port: listener.port, socket: { data: () => undefined } });
  probe.stop(true);
}

/** One broker per data dir (src/server/data-dir-lock.ts: an OS file lock held while the broker runs). */
const dataDirLocks = new Map<string, DataDirLock>();

function acquireLock(dataDir: string, log: (message: string) => void): void {
  // The same process asking twice gets a clearer message than the flock conflict would give.
  if (dataDirLocks.has(dataDir)) throw new Error(`data dir ${dataDir} is in use by another broker in this process`);
  const lock = DataDirLock.acquire(dataDir);
  if (lock.mechanism !== "flock") log(`data dir lock: no flock through bun:ffi here, using the PID in ${dataDir}/.lock (a reused PID can block a start)`);
  dataDirLocks.set(dataDir, lock);
}

function releaseLock(dataDir: string): void {
  dataDirLocks.get(dataDir)?.release();
  dataDirLocks.delete(dataDir);
}
