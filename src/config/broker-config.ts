// Broker configuration: command-line flags and a Kafka-style `key=value` properties file.
import { availableParallelism } from "node:os";
import { readFileSync } from "node:fs";
import { resolve } from "node:path";

export interface BrokerConfig {
  nodeId: number;
  host: string;
  port: number;
  /** Host name clients are told to connect to (Metadata); defaults to `host`. */
  advertisedHost: string;
  /** Advertised port; defaults to the bound port (useful with port 0). */
  advertisedPort?: number;
  dataDir: string;
  /** Worker threads that own partitions; every partition is pinned to exactly one. */
  partitionWorkers: number;
  numPartitions: number;
  defaultReplicationFactor: number;
  autoCreateTopicsEnable: boolean;
  deleteTopicEnable: boolean;
  /** Largest request frame accepted (socket.request.max.bytes); larger frames close the connection. */
  socketRequestMaxBytes: number;
  /** Requests decoded but not yet answered, per connection; past this the connection stops reading. */
  maxInFlightRequestsPerConnection: number;
  /** Bytes of responses queued per connection before the broker stops reading from it. */
  connectionWriteQueueMaxBytes: number;
  /**
   * queued.max.request.bytes: broker-wide budget for request bytes being received or waiting for an answer.
   * A frame that spans reads reserves its declared size before its body is read; when the budget is spent,
   * connections pause before their next frame until answered requests give bytes back. -1 = unbounded.
   */
  queuedMaxRequestBytes: number;
  /** socket.request.receive.timeout.ms: a connection that sent part of a request, then nothing for this long, is closed. */
  socketRequestReceiveTimeoutMs: number;
  /** connections.max.idle.ms: a connection with no request in flight and no traffic for this long is closed. */
  connectionsMaxIdleMs: number;
  /** max.connections: client connections at once; 0 = derived at start from the open-file limit (half of it). */
  maxConnections: number;
  /** max.connections.per.ip: connections at once from one address (Kafka's default: unbounded). */
  maxConnectionsPerIp: number;
  /** max.connections.per.ip.overrides: per-address limits ("ip:count,ip:count"), over max.connections.per.ip. */
  maxConnectionsPerIpOverrides: Record<string, number>;
  /** max.connections.inter.broker.reserve: slots above both limits kept for addresses of other live brokers (replica fetchers). */
  maxConnectionsInterBrokerReserve: number;
  /** max.broker.partitions (KIP-578's name): partition replicas this broker may hold; 0 = derived at start (config/partition-limit.ts). */
  maxBrokerPartitions: number;
  /** log.segment.open.max: inactive segments each partition worker keeps mapped (an LRU, log/open-segments.ts). */
  logSegmentOpenMax: number;
  /** log.segment.bytes.min: smallest segment.bytes a topic may be given (Kafka 4.0's bound, KIP-1030: 1 MiB). */
  logSegmentBytesMin: number;
  /** Topic-level defaults given at broker level (segment.bytes, log.segment.bytes, compression.type, ...). */
  topicDefaults: Record<string, string>;
  /** Group coordinator settings (issue 4). */
  groupInitialRebalanceDelayMs: number;
  groupMinSessionTimeoutMs: number;
  groupMaxSessionTimeoutMs: number;
  offsetsTopicNumPartitions: number;
  offsetsTopicSegmentBytes: number;
  /** Cluster mode (issue 5): etcd endpoints; empty = embedded single node. */
  etcdEndpoints: string[];
  clusterId: string;
  replicaLagTimeMaxMs: number;
  /** producer.id.expiration.ms: how long a silent idempotent producer's sequence state is kept. */
  producerIdExpirationMs: number;
  /** log.cleaner.backoff.ms: pause between two log cleaner rounds of a partition worker (docs/compaction.md). */
  logCleanerBackoffMs: number;
  /**
   * message.decompressed.max.bytes (Bunka's own): the most bytes one produced batch's compressed records may
   * expand to (never below the topic's max.message.bytes); more is MESSAGE_TOO_LARGE, refused before allocation.
   */
  messageDecompressedMaxBytes: number;
  /** Cluster mode: a broker whose etcd lease is not renewed for this long is considered dead. */
  brokerSessionTimeoutMs: number;
  /** Cluster mode: how long a clean stop waits for the controller to move leadership away. */
  controlledShutdownTimeoutMs: number;
  /**
   * shutdown.timeout.ms (Bunka's own; Kafka has no overall bound): a clean stop that has not finished after
   * this long is abandoned, logged, and the process exits 1 (the next start recovers). Repeated SIGTERM/SIGINT
   * do not cut a stop short; only this bound or SIGKILL do.
   */
  shutdownTimeoutMs: number;
  /** Cluster mode: the controller moves leadership back to preferred replicas. */
  autoLeaderRebalanceEnable: boolean;
  leaderImbalanceCheckIntervalMs: number;
  /** Every raw property, for DescribeConfigs on the broker resource. */
  properties: Record<string, string>;
}

export function defaultBrokerConfig(): BrokerConfig {
  return {
    nodeId: 1,
    host: "127.0.0.1",
    port: 9092,
    advertisedHost: "",
    dataDir: "./data",
    partitionWorkers: Math.max(1, availableParallelism()),
    numPartitions: 1,
    defaultReplicationFactor: 1,
    autoCreateTopicsEnable: true,
    deleteTopicEnable: true,
    socketRequestMaxBytes: 104857600,
    maxInFlightRequestsPerConnection: 1000,
    connectionWriteQueueMaxBytes: 64 * 1024 * 1024,
    queuedMaxRequestBytes: 256 * 1024 * 1024,
    socketRequestReceiveTimeoutMs: 30_000,
    connectionsMaxIdleMs: 600_000,
    maxConnections: 0,
    maxConnectionsPerIp: 2147483647,
    maxConnectionsPerIpOverrides: {},
    maxConnectionsInterBrokerReserve: 32,
    maxBrokerPartitions: 0,
    logSegmentOpenMax: 1024,
    logSegmentBytesMin: 1_048_576,
    topicDefaults: {},
    groupInitialRebalanceDelayMs: 3000,
    groupMinSessionTimeoutMs: 6000,
    groupMaxSessionTimeoutMs: 1800000,
    offsetsTopicNumPartitions: 50,
    offsetsTopicSegmentBytes: 104857600,
    etcdEndpoints: [],
    clusterId: "bunka-cluster",
    replicaLagTimeMaxMs: 30000,
    producerIdExpirationMs: 86_400_000,
    logCleanerBackoffMs: 15_000,
    messageDecompressedMaxBytes: 32 * 1024 * 1024,
    brokerSessionTimeoutMs: 6000,
    controlledShutdownTimeoutMs: 15000,
    shutdownTimeoutMs: 120_000,
    autoLeaderRebalanceEnable: true,
    leaderImbalanceCheckIntervalMs: 300_000,
    properties: {},
  };
}

/** Parses a Java-style properties file: `key=value` or `key: value`, `#`/`!` comments, trimmed. */
export function parseProperties(text: string): Record<string, string> {
  const properties: Record<string, string> = {};
  for (const rawLine of text.split(/\r?\n/)) {
    const line = rawLine.trim();
    if (line === "" || line.startsWith("#") || line.startsWith("!")) continue;
    const separator = line.search(/[=:]/);
    if (separator <= 0) throw new Error(`config: cannot parse line "${line}" (expected key=value)`);
    properties[line.slice(0, separator).trim()] = line.slice(separator + 1).trim();
  }
  return properties;
}

const brokerPropertyNames = new Set([
  "node.id", "broker.id", "host", "port", "listeners", "advertised.host", "advertised.listeners", "log.dirs", "log.dir",
  "num.partition.workers", "num.partitions", "default.replication.factor", "auto.create.topics.enable",
  "delete.topic.enable", "socket.request.max.bytes", "max.in.flight.requests.per.connection",
  "queued.max.request.bytes", "socket.request.receive.timeout.ms", "connections.max.idle.ms", "max.connections",
  "max.connections.per.ip", "max.connections.per.ip.overrides", "max.connections.inter.broker.reserve",
  "max.broker.partitions", "log.segment.open.max", "log.segment.bytes.min",
  "group.initial.rebalance.delay.ms", "group.min.session.timeout.ms", "group.max.session.timeout.ms",
  "offsets.topic.num.partitions", "offsets.topic.segment.bytes", "etcd.endpoints", "cluster.id", "replica.lag.time.max.ms",
  "broker.session.timeout.ms", "producer.id.expiration.ms", "log.cleaner.backoff.ms", "message.decompressed.max.bytes", "controlled.shutdown.timeout.ms", "shutdown.timeout.ms", "auto.leader.rebalance.enable", "leader.imbalance.check.interval.seconds",
]);

function parseInteger(name: string, value: string): number {
  if (!/^-?\d+$/.test(value)) throw new Error(`config: ${name} must be an integer, got "${value}"`);
  return Number(value);
}

function parsePositive(name: string, value: string): number {
  const parsed = parseInteger(name, value);
  if (parsed < 1) throw new Error(`config: ${name} must be at least 1, got "${value}"`);
  return parsed;
}

/** Kafka's format: "host:count,host:count" (an IPv6 address may be bracketed: "[::1]:5"). */
function parseConnectionOverrides(name: string, value: string): Record<string, number> {
  const overrides: Record<string, number> = {};
  for (const entry of value.split(",").map((part) => part.trim()).filter(Boolean)) {
    const separator = entry.lastIndexOf(":");
    if (separator <= 0) throw new Error(`config: ${name} entry "${entry}" must be host:count`);
    const host = entry.slice(0, separator).replace(/^\[(.*)\]$/, "$1");
    overrides[host] = Math.max(0, parseInteger(name, entry.slice(separator + 1)));
  }
  return overrides;
}

function parseBoolean(name: string, value: string): boolean {
  if (value !== "true" && value !== "false") throw new Error(`config: ${name} must be true or false, got "${value}"`);
  return value === "true";
}

/** Applies properties (from a file or flags) over a config; unknown keys are kept as topic defaults. */
export function applyProperties(config: BrokerConfig, properties: Record<string, string>): BrokerConfig {
  const next: BrokerConfig = { ...config, topicDefaults: { ...config.topicDefaults }, properties: { ...config.properties, ...properties } };
  for (const [name, value] of Object.entries(properties)) {
    switch (name) {
      case "node.id":
      case "broker.id": next.nodeId = parseInteger(name, value); break;
      case "host": next.host = value; break;
      case "port": next.port = parseInteger(name, value); break;
      case "listeners": {
        // PLAINTEXT://host:port — the first listener only; Bunka has one plaintext listener.
        const match = /^(?:\w+:\/\/)?\[?([^\]]*?)\]?:(\d+)/.exec(value.split(",")[0]!.trim());
        if (!match) throw new Error(`config: cannot parse listeners "${value}"`);
        if (match[1]) next.host = match[1];
        next.port = Number(match[2]);
        break;
      }
      case "advertised.host": next.advertisedHost = value; break;
      case "advertised.listeners": {
        const match = /^(?:\w+:\/\/)?\[?([^\]]*?)\]?:(\d+)/.exec(value.split(",")[0]!.trim());
        if (!match) throw new Error(`config: cannot parse advertised.listeners "${value}"`);
        next.advertisedHost = match[1]!;
        next.advertisedPort = Number(match[2]);
        break;
      }
      case "log.dirs":
      case "log.dir": next.dataDir = value.split(",")[0]!.trim(); break;
      case "num.partition.workers": next.partitionWorkers = Math.max(1, parseInteger(name, value)); break;
      case "num.partitions": next.numPartitions = parseInteger(name, value); break;
      case "default.replication.factor": next.defaultReplicationFactor = parseInteger(name, value); break;
      case "auto.create.topics.enable": next.autoCreateTopicsEnable = parseBoolean(name, value); break;
      case "delete.topic.enable": next.deleteTopicEnable = parseBoolean(name, value); break;
      case "socket.request.max.bytes": next.socketRequestMaxBytes = parseInteger(name, value); break;
      case "max.in.flight.requests.per.connection": next.maxInFlightRequestsPerConnection = parseInteger(name, value); break;
      case "queued.max.request.bytes": next.queuedMaxRequestBytes = parseInteger(name, value); break;
      case "socket.request.receive.timeout.ms": next.socketRequestReceiveTimeoutMs = parsePositive(name, value); break;
      case "connections.max.idle.ms": next.connectionsMaxIdleMs = parsePositive(name, value); break;
      case "max.connections": next.maxConnections = parsePositive(name, value); break;
      case "max.connections.per.ip": next.maxConnectionsPerIp = parsePositive(name, value); break;
      case "max.connections.per.ip.overrides": next.maxConnectionsPerIpOverrides = parseConnectionOverrides(name, value); break;
      case "max.connections.inter.broker.reserve": next.maxConnectionsInterBrokerReserve = Math.max(0, parseInteger(name, value)); break;
      case "max.broker.partitions": next.maxBrokerPartitions = Math.max(0, parseInteger(name, value)); break;
      case "log.segment.open.max": next.logSegmentOpenMax = parsePositive(name, value); break;
      // Below 14 bytes no batch fits (the format's bound, log/config.ts).
      case "log.segment.bytes.min": next.logSegmentBytesMin = Math.max(14, parseInteger(name, value)); break;
      case "group.initial.rebalance.delay.ms": next.groupInitialRebalanceDelayMs = parseInteger(name, value); break;
      case "group.min.session.timeout.ms": next.groupMinSessionTimeoutMs = parseInteger(name, value); break;
      case "group.max.session.timeout.ms": next.groupMaxSessionTimeoutMs = parseInteger(name, value); break;
      case "offsets.topic.num.partitions": next.offsetsTopicNumPartitions = parseInteger(name, value); break;
      case "offsets.topic.segment.bytes": next.offsetsTopicSegmentBytes = parseInteger(name, value); break;
      case "etcd.endpoints": next.etcdEndpoints = value.split(",").map((endpoint) => endpoint.trim()).filter(Boolean); break;
      case "cluster.id": next.clusterId = value; break;
      case "replica.lag.time.max.ms": next.replicaLagTimeMaxMs = parseInteger(name, value); break;
      case "producer.id.expiration.ms": next.producerIdExpirationMs = parseInteger(name, value); break;
      case "log.cleaner.backoff.ms": next.logCleanerBackoffMs = Math.max(1, parseInteger(name, value)); break;
      case "message.decompressed.max.bytes": next.messageDecompressedMaxBytes = Math.max(1, parseInteger(name, value)); break;
      case "broker.session.timeout.ms": next.brokerSessionTimeoutMs = parseInteger(name, value); break;
      case "controlled.shutdown.timeout.ms": next.controlledShutdownTimeoutMs = parseInteger(name, value); break;
      case "shutdown.timeout.ms": next.shutdownTimeoutMs = Math.max(1, parseInteger(name, value)); break;
      case "auto.leader.rebalance.enable": next.autoLeaderRebalanceEnable = parseBoolean(name, value); break;
      case "leader.imbalance.check.interval.seconds": next.leaderImbalanceCheckIntervalMs = parseInteger(name, value) * 1000; break;
      default:
        if (!brokerPropertyNames.has(name)) next.topicDefaults[name] = value;
    }
  }
  return next;
}

export function loadPropertiesFile(path: string): Record<string, string> {
  return parseProperties(readFileSync(resolve(path), "utf8"));
}
