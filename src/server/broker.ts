// The broker: configuration, partition workers, topic metadata and the socket server, started and
// stopped as one. `startBroker()` is the embeddable entry point (tests use it with port 0).
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import type { Socket, TCPSocketListener } from "bun";
import { handlers } from "../api/index.ts";
import { applyProperties, defaultBrokerConfig, loadPropertiesFile, type BrokerConfig } from "../config/broker-config.ts";
import { LocalMetadataStore } from "../metadata/local-store.ts";
import { TopicManager } from "../metadata/topic-manager.ts";
import type { BrokerInfo } from "../metadata/types.ts";
import { PartitionWorkers } from "../partition/partition-workers.ts";
import { Connection } from "./connection.ts";
import { createDispatcher, InvalidRequestError } from "./dispatch.ts";
import { PartitionWatchers } from "./partition-watchers.ts";
import { SegmentViews } from "./segment-views.ts";
import { ProducerIds } from "./producer-ids.ts";
import { ErrorCode } from "../protocol/errors.ts";
import type { TopicMetadata } from "../metadata/types.ts";
import type { ProduceItem, ProduceResult, ReadItem } from "../partition/messages.ts";

export interface BrokerOptions extends Partial<Omit<BrokerConfig, "properties">> {
  /** A Kafka-style properties file applied before the other options. */
  configFile?: string;
  /** Extra properties (same names as the file). */
  properties?: Record<string, string>;
  /** Where log lines go; default stderr. */
  log?: (message: string) => void;
}

const CLEAN_SHUTDOWN_MARKER = ".clean-shutdown";
const LOCK_FILE = ".lock";
const SHUTDOWN_DRAIN_TIMEOUT_MS = 10_000;
const SEGMENT_VIEWS_MAX = 4096;

export function resolveConfig(options: BrokerOptions = {}): BrokerConfig {
  let config = defaultBrokerConfig();
  if (options.configFile) config = applyProperties(config, loadPropertiesFile(options.configFile));
  if (options.properties) config = applyProperties(config, options.properties);
  const { configFile: _configFile, properties: _properties, log: _log, ...direct } = options;
  for (const [name, value] of Object.entries(direct)) if (value !== undefined) (config as unknown as Record<string, unknown>)[name] = value;
  config.dataDir = resolve(config.dataDir);
  return config;
}

export class Broker {
  readonly topics: TopicManager;
  readonly watchers = new PartitionWatchers();
  readonly segmentViews = new SegmentViews(SEGMENT_VIEWS_MAX);
  readonly producerIds: ProducerIds;
  private listener: TCPSocketListener<Connection | undefined> | null = null;
  private readonly connections = new Set<Connection>();
  private stopping: Promise<void> | null = null;

  private constructor(
    readonly config: BrokerConfig,
    readonly workers: PartitionWorkers,
    readonly store: LocalMetadataStore,
    readonly log: (message: string) => void,
  ) {
    this.topics = new TopicManager(config, workers, store, log);
    this.producerIds = new ProducerIds(store);
  }

  static async start(options: BrokerOptions = {}): Promise<Broker> {
    const config = resolveConfig(options);
    const log = options.log ?? ((message: string) => process.stderr.write(`${new Date().toISOString()} [bunka ${config.nodeId}] ${message}\n`));
    mkdirSync(config.dataDir, { recursive: true });
    acquireLock(config.dataDir);
    const markerPath = join(config.dataDir, CLEAN_SHUTDOWN_MARKER);
    const cleanStart = existsSync(markerPath);
    const freshDataDir = !existsSync(join(config.dataDir, "meta"));
    rmSync(markerPath, { force: true });
    const workers = new PartitionWorkers(config.partitionWorkers, log);
    const broker = new Broker(config, workers, new LocalMetadataStore(config.dataDir), log);
    try {
      if (!cleanStart && !freshDataDir) log(`data dir ${config.dataDir} was not shut down cleanly: recovering logs`);
      await broker.topics.load(!cleanStart);
      broker.listen();
    } catch (error) {
      await workers.close().catch(() => undefined);
      releaseLock(config.dataDir);
      throw error;
    }
    return broker;
  }

  private listen(): void {
    const dispatch = createDispatcher(this, handlers);
    const limits = {
      maxFrameBytes: this.config.socketRequestMaxBytes,
      maxInFlightRequests: this.config.maxInFlightRequestsPerConnection,
      writeQueueMaxBytes: this.config.connectionWriteQueueMaxBytes,
    };
    const onFrameError = (connection: Connection, error: unknown) => {
      if (!(error instanceof InvalidRequestError)) this.log(`internal error on connection ${connection.id}: ${error instanceof Error ? error.stack : String(error)}`);
      throw error;
    };
    this.listener = Bun.listen<Connection | undefined>({
      hostname: this.config.host,
      port: this.config.port,
      socket: {
        open: (socket: Socket<Connection | undefined>) => {
          const connection = new Connection(socket, limits, (conn, frame) => {
            try {
              const result = dispatch(conn, frame);
              return result.catch((error) => onFrameError(conn, error));
            } catch (error) {
              return onFrameError(conn, error);
            }
          }, this.log);
          socket.data = connection;
          this.connections.add(connection);
        },
        data: (socket, chunk) => socket.data?.onData(chunk),
        drain: (socket) => socket.data?.onDrain(),
        close: (socket) => {
          if (!socket.data) return;
          socket.data.onClose();
          this.connections.delete(socket.data);
        },
        error: (socket, error) => {
          this.log(`socket error on connection ${socket.data?.id}: ${error.message}`);
        },
      },
    });
  }

  /** The port the broker listens on (the real one when started with port 0). */
  get port(): number {
    return this.listener?.port ?? this.config.port;
  }

  get advertisedHost(): string {
    return this.config.advertisedHost || this.config.host;
  }

  /** Every broker in the cluster, as Metadata reports them. Single node: this one. */
  brokers(): BrokerInfo[] {
    return [{ nodeId: this.config.nodeId, host: this.advertisedHost, port: this.config.advertisedPort ?? this.port, rack: null }];
  }

  /** The broker coordinating a consumer group. Single node: this one. */
  groupCoordinatorFor(_groupId: string): BrokerInfo | null {
    return this.brokers()[0] ?? null;
  }

  get controllerId(): number {
    return this.config.nodeId;
  }

  offlineReplicas(replicas: number[]): number[] {
    const live = new Set(this.brokers().map((info) => info.nodeId));
    return replicas.filter((replica) => !live.has(replica));
  }

  get isStopping(): boolean {
    return this.stopping !== null;
  }

  /** NOT_LEADER_OR_FOLLOWER when this broker does not lead the partition; FENCED/UNKNOWN_LEADER_EPOCH per KIP-320. */
  checkLeader(topic: TopicMetadata, partition: number, currentLeaderEpoch = -1): number {
    const assignment = topic.partitions[partition];
    if (!assignment) return ErrorCode.UNKNOWN_TOPIC_OR_PARTITION;
    if (assignment.leader !== this.config.nodeId) return ErrorCode.NOT_LEADER_OR_FOLLOWER;
    if (currentLeaderEpoch >= 0 && currentLeaderEpoch < assignment.leaderEpoch) return ErrorCode.FENCED_LEADER_EPOCH;
    if (currentLeaderEpoch > assignment.leaderEpoch) return ErrorCode.UNKNOWN_LEADER_EPOCH;
    return ErrorCode.NONE;
  }

  /** Leadership, then min.insync.replicas for acks=all: writes are refused, never silently weakened. */
  checkProduceAllowed(topic: TopicMetadata, partition: number, acks: number): number {
    const leaderCheck = this.checkLeader(topic, partition);
    if (leaderCheck !== ErrorCode.NONE) return leaderCheck;
    if (acks === -1) {
      const minInsyncReplicas = Number(this.topics.configValue(topic, "min.insync.replicas"));
      if (topic.partitions[partition]!.isr.length < minInsyncReplicas) return ErrorCode.NOT_ENOUGH_REPLICAS;
    }
    return ErrorCode.NONE;
  }

  /**
   * After the leader's own append: record offsets, wake long-polling fetches, and report per item whether
   * the append is committed as acks requires. Single node: the leader alone is the ISR.
   */
  async afterLeaderAppend(items: ProduceItem[], results: ProduceResult[], _acks: number, _timeoutMs: number): Promise<number[]> {
    items.forEach((item, index) => {
      const result = results[index]!;
      if (result.errorCode !== ErrorCode.NONE) return;
      this.topics.noteOffsets(item.topic, item.partition, result.logStartOffset, result.logEndOffset);
      this.watchers.notify(item.topic, item.partition);
    });
    return items.map(() => ErrorCode.NONE);
  }

  checkFetchAllowed(topic: TopicMetadata, partition: number, _replicaId: number, currentLeaderEpoch: number): number {
    return this.checkLeader(topic, partition, currentLeaderEpoch);
  }

  /** Where a read must stop: consumers see only committed records. -1 = the log end offset (single node). */
  readLimit(_topic: string, _partition: number, _replicaId: number): number {
    return -1;
  }

  onReplicaFetch(_replicaId: number, _items: ReadItem[]): void {}

  describeBrokerConfigs(): Record<string, string> {
    return {
      "node.id": String(this.config.nodeId),
      "broker.id": String(this.config.nodeId),
      "log.dirs": this.config.dataDir,
      "num.partitions": String(this.config.numPartitions),
      "default.replication.factor": String(this.config.defaultReplicationFactor),
      "auto.create.topics.enable": String(this.config.autoCreateTopicsEnable),
      "socket.request.max.bytes": String(this.config.socketRequestMaxBytes),
      "num.partition.workers": String(this.config.partitionWorkers),
      ...this.config.topicDefaults,
      ...this.config.properties,
    };
  }

  advertisedApis(): { apiKey: number; minVersion: number; maxVersion: number }[] {
    return [...handlers.values()]
      .map(({ apiKey, minVersion, maxVersion }) => ({ apiKey, minVersion, maxVersion }))
      .sort((a, b) => a.apiKey - b.apiKey);
  }

  /** Clean stop: no new connections, in-flight requests answered, logs flushed and closed. */
  stop(): Promise<void> {
    this.stopping ??= this.shutdown();
    return this.stopping;
  }

  private async shutdown(): Promise<void> {
    this.listener?.stop(false);
    const deadline = Date.now() + SHUTDOWN_DRAIN_TIMEOUT_MS;
    while (Date.now() < deadline && [...this.connections].some((connection) => !connection.idle)) await Bun.sleep(10);
    for (const connection of this.connections) connection.close();
    this.listener?.stop(true);
    await this.workers.close();
    writeFileSync(join(this.config.dataDir, CLEAN_SHUTDOWN_MARKER), `${new Date().toISOString()}\n`);
    releaseLock(this.config.dataDir);
    this.log(`Bunka broker ${this.config.nodeId} stopped cleanly`);
  }
}

export function startBroker(options: BrokerOptions = {}): Promise<Broker> {
  return Broker.start(options);
}

/** One broker per data dir: a second one would corrupt the logs. A lock left by a dead process is taken over. */
const lockedDataDirs = new Set<string>();

function acquireLock(dataDir: string): void {
  if (lockedDataDirs.has(dataDir)) throw new Error(`data dir ${dataDir} is in use by another broker in this process`);
  const lockPath = join(dataDir, LOCK_FILE);
  if (existsSync(lockPath)) {
    const pid = Number(readFileSync(lockPath, "utf8").trim());
    if (Number.isInteger(pid) && pid > 0 && pid !== process.pid && isAlive(pid)) {
      throw new Error(`data dir ${dataDir} is in use by process ${pid}`);
    }
  }
  writeFileSync(lockPath, `${process.pid}\n`);
  lockedDataDirs.add(dataDir);
}

function releaseLock(dataDir: string): void {
  lockedDataDirs.delete(dataDir);
  rmSync(join(dataDir, LOCK_FILE), { force: true });
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}
