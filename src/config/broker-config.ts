// Broker configuration: command-line flags and a Kafka-style `key=value` properties file.
// Every broker setting is declared once, in `brokerSettings` below (name, aliases, type, default, bounds,
// documentation); parsing, defaults, DescribeConfigs and the README tables (`bun run docs:config`) are
// derived from it. A key that is neither a broker setting nor a topic config (topic-config.ts, under its
// topic or broker name) is an error at start, naming the key.
import { availableParallelism } from "node:os";
import { readFileSync } from "node:fs";
import { resolve } from "node:path";
import { topicConfigDefinitions, validateTopicConfig } from "./topic-config.ts";

/** The parsed settings; each field's meaning and default are in `brokerSettings`. */
export interface BrokerConfig {
  nodeId: number;
  host: string;
  port: number;
  /** Host name clients are told to connect to (Metadata); "" = `host`. */
  advertisedHost: string;
  /** Advertised port (from advertised.listeners); unset = the bound port (useful with port 0). */
  advertisedPort?: number;
  /** Named listeners (security/listeners.ts); empty = one PLAINTEXT listener on host:port. The first binds host:port. */
  listeners: ListenerAddress[];
  /** What Metadata tells the clients of each listener named here. */
  advertisedListeners: ListenerAddress[];
  /** "" = the first PLAINTEXT listener, else the first listener. */
  interBrokerListenerName: string;
  /** A TLS client that has not finished its handshake this long after connecting is disconnected. */
  sslHandshakeTimeoutMs: number;
  dataDir: string;
  partitionWorkers: number;
  /** Threads that accept connections and do their socket I/O (server/shards/); 1 = the main thread alone. */
  networkShards: number;
  /**
   * Each partition worker is also a network shard and answers produce and fetch for its own partitions
   * (server/shards/owner-shard-thread.ts). Unset: decided by workersListen (on unless num.network.shards > 1 or no worker).
   */
  partitionWorkersListen?: boolean;
  numPartitions: number;
  defaultReplicationFactor: number;
  autoCreateTopicsEnable: boolean;
  deleteTopicEnable: boolean;
  socketRequestMaxBytes: number;
  maxInFlightRequestsPerConnection: number;
  connectionWriteQueueMaxBytes: number;
  /** -1 = unbounded. */
  queuedMaxRequestBytes: number;
  socketRequestReceiveTimeoutMs: number;
  connectionsMaxIdleMs: number;
  /** 0 = derived at start from the open-file limit (half of it). */
  maxConnections: number;
  maxConnectionsPerIp: number;
  maxConnectionsPerIpOverrides: Record<string, number>;
  maxConnectionsInterBrokerReserve: number;
  /** 0 = derived at start (config/partition-limit.ts). */
  maxBrokerPartitions: number;
  logSegmentOpenMax: number;
  logSegmentBytesMin: number;
  /** Topic-level defaults given at broker level (segment.bytes, log.segment.bytes, compression.type, ...). */
  topicDefaults: Record<string, string>;
  groupInitialRebalanceDelayMs: number;
  groupMinSessionTimeoutMs: number;
  groupMaxSessionTimeoutMs: number;
  offsetsTopicNumPartitions: number;
  offsetsTopicSegmentBytes: number;
  /** Empty = embedded single node. */
  etcdEndpoints: string[];
  clusterId: string;
  replicaLagTimeMaxMs: number;
  producerIdExpirationMs: number;
  logCleanerBackoffMs: number;
  messageDecompressedMaxBytes: number;
  brokerSessionTimeoutMs: number;
  controlledShutdownTimeoutMs: number;
  shutdownTimeoutMs: number;
  autoLeaderRebalanceEnable: boolean;
  /** In milliseconds (the property, leader.imbalance.check.interval.seconds, is in seconds). */
  leaderImbalanceCheckIntervalMs: number;
  /** "" = no authorizer (everything allowed); otherwise one of ACL_AUTHORIZER_CLASS_NAMES. */
  authorizerClassName: string;
  /** Principals allowed everything, semicolon-separated ("User:admin;User:broker"). */
  superUsers: string;
  allowEveryoneIfNoAclFound: boolean;
  /** Every raw property, for DescribeConfigs on the broker resource and settings read by their users. */
  properties: Record<string, string>;
}

export type BrokerSettingType = "int" | "long" | "boolean" | "string" | "list" | "map";

interface SettingValues {
  int: number;
  long: number;
  boolean: boolean;
  string: string;
  list: string[];
  map: Record<string, number>;
}

interface BrokerSettingOf<T extends BrokerSettingType> {
  /** The property key (Kafka's name where Kafka has the setting). */
  name: string;
  /** Other keys accepted for it (Kafka's older or alternative names). */
  aliases: readonly string[];
  type: T;
  /** Kafka has a setting of this name and meaning; false: Bunka's own. */
  kafka: boolean;
  /** Changeable while the broker runs. None is: every setting is read at start (AlterConfigs refuses the broker resource). */
  dynamic: false;
  /** undefined: not set unless given (the fields it sets keep their own defaults). */
  defaultValue: SettingValues[T] | (() => SettingValues[T]) | undefined;
  /** The default as the README shows it, where the value alone would not say it (derived, unbounded, ...). */
  defaultDoc?: string;
  /** Inclusive bounds, enforced at parse time (int/long; map: each count). */
  min?: number;
  max?: number;
  /** The command-line flag that sets it too (src/main.ts). */
  flag?: string;
  /** Which README table documents it. */
  section: "broker" | "cluster";
  /** May also be given for one listener as `listener.name.<listener>.<name>` (Kafka's per-listener override). */
  perListener?: boolean;
  /** One line for the README and DescribeConfigs. */
  doc: string;
  /** Stores a parsed value into the config. */
  apply(config: BrokerConfig, value: SettingValues[T]): void;
  /** The value in force, for DescribeConfigs; undefined when only the raw property says it. */
  current(config: BrokerConfig): SettingValues[T] | undefined;
}

export type BrokerSetting = { [T in BrokerSettingType]: BrokerSettingOf<T> }[BrokerSettingType];

const INT_MAX = 2_147_483_647;

type FieldOf<V> = { [K in keyof BrokerConfig]-?: [BrokerConfig[K]] extends [V] ? ([V] extends [BrokerConfig[K]] ? K : never) : never }[keyof BrokerConfig];

type SettingOptions<T extends BrokerSettingType> = Partial<Pick<BrokerSettingOf<T>, "aliases" | "defaultDoc" | "min" | "max" | "flag" | "section" | "perListener">> & {
  doc: string;
  /** Bunka's own setting (Kafka has none of this name). */
  bunka?: boolean;
};

function setting<T extends BrokerSettingType>(
  name: string,
  type: T,
  defaultValue: BrokerSettingOf<T>["defaultValue"],
  store: Pick<BrokerSettingOf<T>, "apply" | "current">,
  options: SettingOptions<T>,
): BrokerSettingOf<T> {
  const { bunka, aliases, section, ...rest } = options;
  return { name, type, defaultValue, kafka: !bunka, dynamic: false, aliases: aliases ?? [], section: section ?? "broker", ...rest, ...store };
}

/** A setting stored in one BrokerConfig field of the same type. */
function field<T extends BrokerSettingType>(key: FieldOf<SettingValues[T]>): Pick<BrokerSettingOf<T>, "apply" | "current"> {
  return {
    apply: (config, value) => void ((config as unknown as Record<string, SettingValues[T]>)[key] = value),
    current: (config) => config[key] as unknown as SettingValues[T],
  };
}

/**
 * A setting with no BrokerConfig field: its user reads it from `config.properties` (the group coordinator's,
 * group/coordinator-config.ts, with the same default). It is declared here so that it is known, parsed and
 * bounded at start, documented and described.
 */
function readByUser(name: string, defaultValue: number): Pick<BrokerSettingOf<"int">, "apply" | "current"> {
  return { apply: () => undefined, current: (config) => (config.properties[name] === undefined ? defaultValue : Number(config.properties[name])) };
}

/** A setting read from `config.properties` by its user; parsed and bounded here, described as given. */
function rawProperty<T extends BrokerSettingType>(): Pick<BrokerSettingOf<T>, "apply" | "current"> {
  return { apply: () => undefined, current: () => undefined };
}

/** Like readByUser, for a string setting with a default. */
function stringReadByUser(name: string, defaultValue: string): Pick<BrokerSettingOf<"string">, "apply" | "current"> {
  return { apply: () => undefined, current: (config) => config.properties[name] ?? defaultValue };
}

/** One entry of `listeners` / `advertised.listeners`: NAME://host:port (an empty host binds every address). */
export interface ListenerAddress {
  name: string;
  host: string;
  port: number;
}

/** NAME://host:port,NAME://host:port; a bare host:port is the PLAINTEXT listener (the old form). Names are upper-cased, as Kafka does. */
function parseListeners(key: string, value: string): ListenerAddress[] {
  const entries = value.split(",").map((entry) => entry.trim()).filter(Boolean);
  if (entries.length === 0) throw new Error(`config: ${key} is empty (expected NAME://host:port,...)`);
  return entries.map((entry) => {
    const match = /^(?:(\w+):\/\/)?\[?([^\]]*?)\]?:(\d+)$/.exec(entry);
    if (!match || Number(match[3]) > 65535) throw new Error(`config: cannot parse ${key} "${value}" (expected NAME://host:port, e.g. PLAINTEXT://127.0.0.1:9092,SSL://0.0.0.0:9093)`);
    return { name: (match[1] ?? "PLAINTEXT").toUpperCase(), host: match[2]!, port: Number(match[3]) };
  });
}

/** A setting its user reads from `config.properties` at start (security/tls.ts); parsed and documented here. */
const readFromProperties = { apply: () => undefined, current: () => undefined };

/** The same with a default, which DescribeConfigs shows while the property is not given. */
function readFromPropertiesOr(name: string, defaultValue: string): Pick<BrokerSettingOf<"string">, "apply" | "current"> {
  return { apply: () => undefined, current: (config) => config.properties[name] ?? defaultValue };
}

/** Every broker setting, in README order. */
export const brokerSettings: readonly BrokerSetting[] = [
  setting("node.id", "int", 1, field("nodeId"), { aliases: ["broker.id"], min: 0, max: INT_MAX, flag: "--node-id", doc: "this broker's id" }),
  setting("listeners", "string", undefined, {
    apply: (config, value) => {
      config.listeners = parseListeners("listeners", value);
      // The first listener is what host/port (--host/--port) set, so the flags still move it.
      if (config.listeners[0]!.host) config.host = config.listeners[0]!.host;
      config.port = config.listeners[0]!.port;
    },
    current: (config) => (config.listeners.length === 0 ? undefined : formatListeners(config.listeners)),
  }, { defaultDoc: "`PLAINTEXT://host:port`", doc: "where to listen, `NAME://host:port,...` (names map to protocols through `listener.security.protocol.map`; the first also sets `host` and `port`)" }),
  setting("host", "string", "127.0.0.1", field("host"), { bunka: true, flag: "--host", doc: "address to bind" }),
  setting("port", "int", 9092, field("port"), { bunka: true, min: 0, max: 65535, flag: "--port", doc: "port to listen on (0: any free port)" }),
  setting("advertised.listeners", "string", undefined, {
    apply: (config, value) => {
      config.advertisedListeners = parseListeners("advertised.listeners", value);
      config.advertisedHost = config.advertisedListeners[0]!.host;
      config.advertisedPort = config.advertisedListeners[0]!.port;
    },
    current: (config) => (config.advertisedListeners.length === 0 ? undefined : formatListeners(config.advertisedListeners)),
  }, { defaultDoc: "each listener's own address", doc: "what Metadata tells the clients of each listener, `NAME://host:port,...` (port 0: the bound port)" }),
  setting("listener.security.protocol.map", "string", undefined, readFromProperties, {
    defaultDoc: "`PLAINTEXT`, `SSL`, `SASL_PLAINTEXT` and `SASL_SSL` map to themselves",
    doc: "each listener name's security protocol, `NAME:PROTOCOL,...` (replaces the default map; a listener it does not map is an error at start)",
  }),
  setting("inter.broker.listener.name", "string", "", field("interBrokerListenerName"), {
    defaultDoc: "the first PLAINTEXT listener, else the first listener",
    doc: "the listener other brokers connect to (replication); the broker registers its address. On SSL/SASL_SSL, brokers trust its trust store and present its keystore when it sets `ssl.client.auth`",
  }),
  // TLS (security/tls.ts). Each ssl.* key may also be given per listener as `listener.name.<name>.ssl.*`.
  setting("ssl.keystore.type", "string", "PEM", readFromPropertiesOr("ssl.keystore.type", "PEM"), { perListener: true, doc: "`PEM` only (another type is an error at start)" }),
  setting("ssl.keystore.location", "string", undefined, readFromProperties, { perListener: true, defaultDoc: "none", doc: "a PEM file with the private key and the certificate chain" }),
  setting("ssl.keystore.certificate.chain", "string", undefined, readFromProperties, { perListener: true, defaultDoc: "none", doc: "the certificate chain as inline PEM (instead of `ssl.keystore.location`)" }),
  setting("ssl.keystore.key", "string", undefined, readFromProperties, { perListener: true, defaultDoc: "none", doc: "the private key as inline PEM (with `ssl.keystore.certificate.chain`)" }),
  setting("ssl.key.password", "string", undefined, readFromProperties, { perListener: true, defaultDoc: "none", doc: "passphrase of an encrypted private key" }),
  setting("ssl.truststore.type", "string", "PEM", readFromPropertiesOr("ssl.truststore.type", "PEM"), { perListener: true, doc: "`PEM` only" }),
  setting("ssl.truststore.location", "string", undefined, readFromProperties, { perListener: true, defaultDoc: "none", doc: "a PEM file of the CA certificates client certificates must chain to" }),
  setting("ssl.truststore.certificates", "string", undefined, readFromProperties, { perListener: true, defaultDoc: "none", doc: "the same as inline PEM" }),
  setting("ssl.client.auth", "string", "none", readFromPropertiesOr("ssl.client.auth", "none"), { perListener: true, doc: "client certificates: `required` (refused without a valid one), `requested` (checked when sent) or `none`" }),
  setting("ssl.principal.mapping.rules", "string", "DEFAULT", readFromPropertiesOr("ssl.principal.mapping.rules", "DEFAULT"), {
    perListener: true, doc: "from a client certificate's subject (RFC 2253) to the principal: `RULE:pattern/replacement/[LU]`, ..., `DEFAULT` (the whole subject)",
  }),
  setting("ssl.handshake.timeout.ms", "int", 10_000, field("sslHandshakeTimeoutMs"), { bunka: true, min: 1, max: INT_MAX, doc: "a TLS client that has not finished its handshake this long after connecting is disconnected" }),
  setting("advertised.host", "string", "", field("advertisedHost"), { bunka: true, defaultDoc: "`host`", flag: "--advertised-host", doc: "host name Metadata tells clients" }),
  setting("log.dirs", "list", ["./data"], {
    apply: (config, dirs) => {
      if (dirs.length === 0) throw new Error("config: log.dirs must name a directory");
      config.dataDir = dirs[0]!;
    },
    current: (config) => [config.dataDir],
  }, { aliases: ["log.dir"], defaultDoc: "`./data`", flag: "--data-dir", doc: "data directory (Bunka uses the first one listed)" }),
  setting("num.partition.workers", "int", () => Math.max(1, availableParallelism()), field("partitionWorkers"), { bunka: true, min: 0, max: 1024, defaultDoc: "number of cores", doc: "worker threads that own partitions; every partition is pinned to exactly one. 0: no worker, the socket thread owns every partition (no thread hop on produce or fetch: a shorter latency tail on small machines, less throughput; docs/ARCHITECTURE.md)" }),
  setting("num.network.shards", "int", 1, field("networkShards"), {
    bunka: true, min: 1, max: 256,
    doc: "threads that accept client connections (SO_REUSEPORT) and frame, read and write them, fetch data included; requests are handled on the main thread (Kafka's num.network.threads). 1: the main thread does it all. Shards beyond the first serve PLAINTEXT and SASL_PLAINTEXT listeners; TLS listeners stay on the main thread",
  }),
  setting("partition.workers.listen", "boolean", undefined, {
    apply: (config, value) => void (config.partitionWorkersListen = value),
    current: (config) => workersListen(config),
  }, {
    bunka: true, defaultDoc: "true with `num.network.shards` at 1 and at least one partition worker, else false",
    doc: "each partition worker is also a network shard (Seastar/Redpanda-style): it accepts connections on the PLAINTEXT and SASL_PLAINTEXT listeners (SO_REUSEPORT) and answers a produce or a consumer's sessionless fetch of partitions led here that it owns in its own thread, without a hop (in a cluster an acks=all produce waits for the ISR on the main thread, and consumers read to the high watermark it publishes); every other request goes to the main thread as a shard's does. The main thread then leaves PLAINTEXT connections to the workers (it accepts again if one fails); leave num.network.shards at 1 (docs/ARCHITECTURE.md)",
  }),
  setting("num.partitions", "int", 1, field("numPartitions"), { min: 1, max: INT_MAX, doc: "partitions of auto-created topics and of CreateTopics with -1" }),
  setting("default.replication.factor", "int", 1, field("defaultReplicationFactor"), { min: 1, max: INT_MAX, doc: "replicas of auto-created topics and of CreateTopics with -1" }),
  setting("auto.create.topics.enable", "boolean", true, field("autoCreateTopicsEnable"), { doc: "Metadata for an unknown topic creates it (when the client allows)" }),
  setting("delete.topic.enable", "boolean", true, field("deleteTopicEnable"), { doc: "DeleteTopics is allowed" }),
  setting("max.request.partition.size.limit", "int", 2000, readByUser("max.request.partition.size.limit", 2000), { min: 1, max: INT_MAX, doc: "partitions one DescribeTopicPartitions answer carries at most (KIP-966; the client's limit applies when lower, the rest comes with a cursor)" }),
  setting("max.incremental.fetch.session.cache.slots", "int", 1000, readByUser("max.incremental.fetch.session.cache.slots", 1000), { min: 0, max: INT_MAX, doc: "fetch sessions (KIP-227) the broker keeps at most; when full, a new session replaces a stale or less valuable one (Kafka's eviction rules), else the client fetches without one. 0: no sessions" }),
  setting("max.incremental.fetch.session.cache.partitions", "int", 500_000, readByUser("max.incremental.fetch.session.cache.partitions", 500_000), { bunka: true, min: 1, max: INT_MAX, doc: "partitions all fetch sessions hold together at most (Kafka bounds only the slots); a session that would pass it replaces stale or less valuable ones as for the slots, else goes without (about 260 bytes per partition: 500,000 is about 130 MB)" }),
  setting("socket.request.max.bytes", "int", 104_857_600, field("socketRequestMaxBytes"), { min: 1, max: INT_MAX, doc: "largest request frame; a larger one closes the connection" }),
  setting("queued.max.request.bytes", "long", 268_435_456, field("queuedMaxRequestBytes"), {
    min: -1, max: Number.MAX_SAFE_INTEGER, defaultDoc: "268435456 (256 MiB; Kafka: unbounded)",
    doc: "broker-wide budget for request bytes being received or waiting for an answer (-1: unbounded)",
  }),
  setting("socket.request.receive.timeout.ms", "int", 30_000, field("socketRequestReceiveTimeoutMs"), { bunka: true, min: 1, max: INT_MAX, doc: "a connection that sent part of a request, then nothing for this long, is closed" }),
  setting("connections.max.idle.ms", "long", 600_000, field("connectionsMaxIdleMs"), { min: 1, max: Number.MAX_SAFE_INTEGER, doc: "a connection with nothing in flight and no traffic for this long is closed" }),
  setting("max.connections", "int", 0, field("maxConnections"), {
    min: 0, max: INT_MAX, defaultDoc: "half of the open-file limit (raised to the hard limit at start and logged)",
    doc: "client connections at once (0: derived at start)",
  }),
  setting("max.connections.per.ip", "int", INT_MAX, field("maxConnectionsPerIp"), { min: 1, max: INT_MAX, defaultDoc: "unbounded", doc: "connections at once from one address" }),
  setting("max.connections.per.ip.overrides", "map", {}, field("maxConnectionsPerIpOverrides"), { min: 0, max: INT_MAX, defaultDoc: "none", doc: "per-address limits over `max.connections.per.ip`, `host:count,host:count`" }),
  setting("max.connections.inter.broker.reserve", "int", 32, field("maxConnectionsInterBrokerReserve"), { bunka: true, min: 0, max: INT_MAX, doc: "connection slots above both limits kept for addresses of other live brokers (replica fetchers)" }),
  setting("max.in.flight.requests.per.connection", "int", 1000, field("maxInFlightRequestsPerConnection"), { bunka: true, min: 1, max: INT_MAX, doc: "unanswered requests before the broker stops reading a connection" }),
  setting("connection.write.queue.max.bytes", "long", 64 * 1024 * 1024, field("connectionWriteQueueMaxBytes"), {
    bunka: true, min: 1, max: Number.MAX_SAFE_INTEGER, defaultDoc: "67108864 (64 MiB)",
    doc: "response bytes queued for one connection before the broker stops reading from it",
  }),
  setting("message.decompressed.max.bytes", "int", 32 * 1024 * 1024, field("messageDecompressedMaxBytes"), {
    bunka: true, min: 1, max: INT_MAX, defaultDoc: "33554432 (never below `max.message.bytes`)",
    doc: "most bytes one produced batch's compressed records may expand to",
  }),
  setting("max.broker.partitions", "int", 0, field("maxBrokerPartitions"), {
    min: 0, max: INT_MAX, defaultDoc: "derived at start from `vm.max_map_count` and the open-file limit (logged; never below 256)",
    doc: "partition replicas this broker may hold (KIP-578's name; 0: derived)",
  }),
  setting("log.segment.open.max", "int", 1024, field("logSegmentOpenMax"), { bunka: true, min: 1, max: INT_MAX, doc: "inactive segments each partition worker keeps mapped (least recently used dropped)" }),
  // Below 14 bytes no batch fits (the format's bound, log/config.ts).
  setting("log.segment.bytes.min", "int", 1_048_576, field("logSegmentBytesMin"), { bunka: true, min: 14, max: INT_MAX, defaultDoc: "1048576 (Kafka 4.0, KIP-1030)", doc: "smallest `segment.bytes` a client may give a topic" }),
  setting("log.cleaner.backoff.ms", "long", 15_000, field("logCleanerBackoffMs"), { min: 1, max: Number.MAX_SAFE_INTEGER, doc: "pause between two log cleaner rounds of a partition worker" }),
  setting("producer.id.expiration.ms", "int", 86_400_000, field("producerIdExpirationMs"), { min: 1, max: INT_MAX, doc: "how long a silent idempotent producer's sequence state is kept" }),
  setting("shutdown.timeout.ms", "long", 120_000, field("shutdownTimeoutMs"), { bunka: true, min: 1, max: Number.MAX_SAFE_INTEGER, doc: "a clean stop not finished after this long is abandoned (logged, exit 1; the next start recovers)" }),
  // SASL (security/sasl/): read from `properties` at start by security/sasl/settings.ts, which also checks them together.
  setting("sasl.enabled.mechanisms", "string", undefined, rawProperty(), {
    perListener: true, defaultDoc: "none (Kafka: GSSAPI, which Bunka lacks): required on a SASL listener",
    doc: "SASL mechanisms offered, comma-separated: `PLAIN`, `SCRAM-SHA-256`, `SCRAM-SHA-512`, `OAUTHBEARER` (another name is an error at start)",
  }),
  setting("sasl.jaas.config", "string", undefined, rawProperty(), {
    perListener: true, defaultDoc: "none",
    doc: "PLAIN users, Kafka's syntax: `org.apache.kafka.common.security.plain.PlainLoginModule required user_alice=\"secret\";`",
  }),
  setting("sasl.plain.users.file", "string", undefined, rawProperty(), { perListener: true, bunka: true, defaultDoc: "none", doc: "PLAIN users from a file, one `user=password` per line" }),
  setting("sasl.mechanism.inter.broker.protocol", "string", undefined, rawProperty(), {
    defaultDoc: "none (Kafka: GSSAPI, which Bunka lacks): required when the inter-broker listener is SASL",
    doc: "mechanism brokers log in to each other with (`PLAIN`, `SCRAM-SHA-256`, `SCRAM-SHA-512`), using `username`/`password` of `listener.name.<listener>.<mechanism>.sasl.jaas.config`",
  }),
  setting("connections.max.reauth.ms", "long", 0, readByUser("connections.max.reauth.ms", 0), {
    min: 0, max: Number.MAX_SAFE_INTEGER, doc: "SASL session lifetime (KIP-368): the client re-authenticates before it ends or the connection is closed (0: sessions never end)",
  }),
  setting("sasl.server.max.receive.size", "int", 524_288, readByUser("sasl.server.max.receive.size", 524_288), { min: 1, max: INT_MAX, doc: "largest request frame on a SASL listener before authentication; a larger one closes the connection" }),
  setting("sasl.oauthbearer.jwks.endpoint.url", "string", undefined, rawProperty(), {
    perListener: true, defaultDoc: "none: OAUTHBEARER accepts unsecured tokens (alg `none`, Kafka's development default; logged at start)",
    doc: "JWKS file (path or `file://` URL) whose keys must sign OAUTHBEARER tokens (RS, PS, ES 256/384/512)",
  }),
  setting("sasl.oauthbearer.sub.claim.name", "string", "sub", stringReadByUser("sasl.oauthbearer.sub.claim.name", "sub"), { perListener: true, doc: "the token claim that names the principal (`User:<claim>`)" }),
  setting("sasl.oauthbearer.clock.skew.seconds", "int", 30, readByUser("sasl.oauthbearer.clock.skew.seconds", 30), { perListener: true, min: 0, max: INT_MAX, doc: "tolerance when checking a token's exp, iat and nbf" }),
  setting("sasl.oauthbearer.expected.issuer", "string", undefined, rawProperty(), { perListener: true, defaultDoc: "none (not checked)", doc: "the iss a signed token must carry" }),
  setting("sasl.oauthbearer.expected.audience", "string", undefined, rawProperty(), { perListener: true, defaultDoc: "none (not checked)", doc: "audiences, comma-separated; a signed token's aud must contain one" }),
  // Group coordinator (docs/consumer-groups.md).
  setting("group.initial.rebalance.delay.ms", "int", 3000, field("groupInitialRebalanceDelayMs"), { min: 0, max: INT_MAX, doc: "how long the first rebalance of an empty group waits for more members" }),
  setting("group.min.session.timeout.ms", "int", 6000, field("groupMinSessionTimeoutMs"), { min: 0, max: INT_MAX, doc: "shortest session timeout a member may ask for" }),
  setting("group.max.session.timeout.ms", "int", 1_800_000, field("groupMaxSessionTimeoutMs"), { min: 0, max: INT_MAX, doc: "longest session timeout a member may ask for" }),
  setting("group.max.size", "int", 10_000, readByUser("group.max.size", 10_000), { min: 1, max: INT_MAX, doc: "members per group" }),
  setting("group.pending.members.max", "int", 10_000, readByUser("group.pending.members.max", 10_000), { bunka: true, min: 1, max: INT_MAX, doc: "members told MEMBER_ID_REQUIRED that have not joined yet, per group" }),
  setting("group.new.member.join.timeout.ms", "int", 300_000, readByUser("group.new.member.join.timeout.ms", 300_000), { bunka: true, min: 1, max: INT_MAX, doc: "how long a new member's JoinGroup may wait in a rebalance" }),
  setting("group.consumer.session.timeout.ms", "int", 45_000, readByUser("group.consumer.session.timeout.ms", 45_000), { min: 1000, max: INT_MAX, doc: "consumer-protocol groups (KIP-848): a member that does not heartbeat this long is removed" }),
  setting("group.consumer.heartbeat.interval.ms", "int", 5000, readByUser("group.consumer.heartbeat.interval.ms", 5000), { min: 100, max: INT_MAX, doc: "consumer-protocol groups: the heartbeat interval members are told" }),
  setting("group.consumer.assignors", "string", "uniform,range", stringReadByUser("group.consumer.assignors", "uniform,range"), { doc: "server-side assignors consumer-protocol groups may name (`uniform`, `range`); the first is the default" }),
  setting("group.consumer.max.size", "int", 10_000, readByUser("group.consumer.max.size", 10_000), { min: 1, max: INT_MAX, doc: "members per consumer-protocol group (more: GROUP_MAX_SIZE_REACHED)" }),
  setting("group.consumer.max.groups", "int", 10_000, readByUser("group.consumer.max.groups", 10_000), { bunka: true, min: 1, max: INT_MAX, doc: "consumer-protocol groups this broker coordinates (more: GROUP_MAX_SIZE_REACHED for the new group's first member)" }),
  setting("group.consumer.max.subscribed.topics", "int", 10_000, readByUser("group.consumer.max.subscribed.topics", 10_000), { bunka: true, min: 1, max: INT_MAX, doc: "topic names one consumer-protocol member may subscribe to (more: INVALID_REQUEST)" }),
  setting("group.consumer.max.regex.length", "int", 1024, readByUser("group.consumer.max.regex.length", 1024), { bunka: true, min: 1, max: 65_536, doc: "longest subscription regex (KIP-848, RE2/J subset; longer: INVALID_REGULAR_EXPRESSION)" }),
  setting("group.consumer.migration.policy", "string", "bidirectional", stringReadByUser("group.consumer.migration.policy", "bidirectional"), { doc: "online conversion between classic and consumer-protocol groups (KIP-848): `bidirectional`, `upgrade` (classic to consumer only), `downgrade` (consumer to classic only) or `disabled`" }),
  setting("telemetry.max.bytes", "int", 1_048_576, readByUser("telemetry.max.bytes", 1_048_576), { min: 1, max: INT_MAX, doc: "largest client telemetry payload a PushTelemetry may carry, compressed or decompressed (KIP-714; larger: TELEMETRY_TOO_LARGE)" }),
  setting("client.telemetry.metrics", "string", "", stringReadByUser("client.telemetry.metrics", ""), { bunka: true, defaultDoc: "empty (none)", doc: "metric name prefixes clients are asked to push (GetTelemetrySubscriptions, KIP-714), comma-separated; `*` all. Kafka sets these per client-metrics resource" }),
  setting("client.telemetry.push.interval.ms", "int", 300_000, readByUser("client.telemetry.push.interval.ms", 300_000), { bunka: true, min: 100, max: INT_MAX, doc: "how often clients push telemetry (Kafka's client-metrics `interval.ms`)" }),
  setting("client.telemetry.max.client.instances", "int", 1000, readByUser("client.telemetry.max.client.instances", 1000), { bunka: true, min: 1, max: 1_000_000, doc: "client instances whose pushed telemetry the admin /metrics shows (the least recently pushed goes first)" }),
  setting("client.telemetry.max.series", "int", 100_000, readByUser("client.telemetry.max.series", 100_000), { bunka: true, min: 1, max: 10_000_000, doc: "client telemetry data points kept over all client instances (a push's beyond it are dropped, then the least recently pushed instances go)" }),
  setting("offset.metadata.max.bytes", "int", 4096, readByUser("offset.metadata.max.bytes", 4096), { min: 0, max: INT_MAX, doc: "longest commit metadata (longer: OFFSET_METADATA_TOO_LARGE)" }),
  setting("offsets.topic.num.partitions", "int", 50, field("offsetsTopicNumPartitions"), { min: 1, max: INT_MAX, doc: "partitions of `__consumer_offsets`" }),
  setting("offsets.topic.segment.bytes", "int", 104_857_600, field("offsetsTopicSegmentBytes"), { min: 14, max: INT_MAX, doc: "segment size of `__consumer_offsets`" }),
  setting("offsets.topic.replication.factor", "int", -1, readByUser("offsets.topic.replication.factor", -1), { min: -1, max: INT_MAX, defaultDoc: "-1 (the live brokers, at most 3)", doc: "replicas of `__consumer_offsets`" }),
  setting("offsets.commit.timeout.ms", "int", 5000, readByUser("offsets.commit.timeout.ms", 5000), { min: 1, max: INT_MAX, doc: "how long a commit waits for its append to be committed (cluster mode)" }),
  setting("offsets.retention.minutes", "int", 10_080, readByUser("offsets.retention.minutes", 10_080), { min: 1, max: INT_MAX, doc: "committed offsets of a group empty this long expire" }),
  setting("offsets.retention.check.interval.ms", "long", 600_000, readByUser("offsets.retention.check.interval.ms", 600_000), { min: 1, max: Number.MAX_SAFE_INTEGER, doc: "how often expired offsets and dead empty groups are removed" }),
  setting("offsets.load.buffer.size", "int", 5 * 1024 * 1024, readByUser("offsets.load.buffer.size", 5 * 1024 * 1024), { min: 1024, max: INT_MAX, doc: "bytes read per step when loading `__consumer_offsets`" }),
  // Share groups (KIP-932, docs/share-groups.md).
  setting("group.share.session.timeout.ms", "int", 45_000, readByUser("group.share.session.timeout.ms", 45_000), { min: 1000, max: INT_MAX, doc: "share groups: a member that does not heartbeat this long is removed" }),
  setting("group.share.heartbeat.interval.ms", "int", 5000, readByUser("group.share.heartbeat.interval.ms", 5000), { min: 100, max: INT_MAX, doc: "share groups: the heartbeat interval members are told" }),
  setting("group.share.max.groups", "int", 10, readByUser("group.share.max.groups", 10), { min: 1, max: 100_000, doc: "share groups this broker coordinates, and share groups whose share partitions it keeps in memory (groups with no open share session make room; else GROUP_MAX_SIZE_REACHED)" }),
  setting("group.share.max.size", "int", 200, readByUser("group.share.max.size", 200), { min: 1, max: 1000, doc: "members per share group (more: GROUP_MAX_SIZE_REACHED)" }),
  setting("group.share.record.lock.duration.ms", "int", 30_000, readByUser("group.share.record.lock.duration.ms", 30_000), { min: 1000, max: 3_600_000, doc: "acquisition lock of a delivered record: not acknowledged within it, the record is available again (a group's `share.record.lock.duration.ms` overrides it)" }),
  setting("group.share.max.record.lock.duration.ms", "int", 60_000, readByUser("group.share.max.record.lock.duration.ms", 60_000), { min: 1000, max: 3_600_000, doc: "the longest `share.record.lock.duration.ms` a group may set" }),
  setting("group.share.delivery.count.limit", "int", 5, readByUser("group.share.delivery.count.limit", 5), { min: 2, max: 10, doc: "deliveries of a record before it is archived (and written to the group's dead-letter topic); a group's `share.delivery.count.limit` overrides it" }),
  setting("group.share.partition.max.record.locks", "int", 200, readByUser("group.share.partition.max.record.locks", 200), { min: 100, max: 10_000, doc: "in-flight records per share partition (between its start and end offsets); no more are acquired past it until the start offset moves" }),
  setting("group.share.max.share.sessions", "int", 2000, readByUser("group.share.max.share.sessions", 2000), { min: 1, max: 1_000_000, doc: "share sessions (ShareFetch) this broker keeps; a new one beyond it is SHARE_SESSION_LIMIT_REACHED" }),
  setting("share.coordinator.state.topic.num.partitions", "int", 50, readByUser("share.coordinator.state.topic.num.partitions", 50), { min: 1, max: INT_MAX, doc: "partitions of `__share_group_state`" }),
  setting("share.coordinator.state.topic.replication.factor", "int", -1, readByUser("share.coordinator.state.topic.replication.factor", -1), { min: -1, max: INT_MAX, defaultDoc: "-1 (the live brokers, at most 3)", doc: "replicas of `__share_group_state`" }),
  setting("share.coordinator.state.topic.segment.bytes", "int", 104_857_600, readByUser("share.coordinator.state.topic.segment.bytes", 104_857_600), { min: 14, max: INT_MAX, doc: "segment size of `__share_group_state`" }),
  setting("errors.deadletterqueue.topic.name.prefix", "string", "dlq.", stringReadByUser("errors.deadletterqueue.topic.name.prefix", "dlq."), { doc: "KIP-1191: a share group's dead-letter topic (`errors.deadletterqueue.topic.name`) must start with this" }),
  // Transaction coordinator (docs/transactions.md).
  setting("transaction.state.log.num.partitions", "int", 50, readByUser("transaction.state.log.num.partitions", 50), { min: 1, max: INT_MAX, doc: "partitions of `__transaction_state`" }),
  setting("transaction.state.log.replication.factor", "int", -1, readByUser("transaction.state.log.replication.factor", -1), { min: -1, max: INT_MAX, defaultDoc: "-1 (the live brokers, at most 3)", doc: "replicas of `__transaction_state`" }),
  setting("transaction.state.log.segment.bytes", "int", 104_857_600, readByUser("transaction.state.log.segment.bytes", 104_857_600), { min: 14, max: INT_MAX, doc: "segment size of `__transaction_state`" }),
  setting("transaction.state.log.min.isr", "int", 2, readByUser("transaction.state.log.min.isr", 2), { min: 1, max: INT_MAX, doc: "min.insync.replicas of `__transaction_state` (at most its replication factor)" }),
  setting("transaction.state.log.load.buffer.size", "int", 5 * 1024 * 1024, readByUser("transaction.state.log.load.buffer.size", 5 * 1024 * 1024), { min: 1024, max: INT_MAX, doc: "bytes read per step when loading `__transaction_state`" }),
  setting("transaction.max.timeout.ms", "int", 900_000, readByUser("transaction.max.timeout.ms", 900_000), { min: 1, max: INT_MAX, doc: "longest transaction.timeout.ms a producer may ask for (longer: INVALID_TRANSACTION_TIMEOUT)" }),
  setting("transactional.id.expiration.ms", "int", 604_800_000, readByUser("transactional.id.expiration.ms", 604_800_000), { min: 1, max: INT_MAX, doc: "a transactional id with no transaction this long is removed" }),
  setting("transaction.abort.timed.out.transaction.cleanup.interval.ms", "int", 10_000, readByUser("transaction.abort.timed.out.transaction.cleanup.interval.ms", 10_000), { min: 1, max: INT_MAX, doc: "how often transactions open past their timeout are aborted" }),
  setting("transaction.remove.expired.transaction.cleanup.interval.ms", "int", 3_600_000, readByUser("transaction.remove.expired.transaction.cleanup.interval.ms", 3_600_000), { min: 1, max: INT_MAX, doc: "how often expired transactional ids are removed" }),
  setting("transaction.max.staged.offsets", "int", 100_000, readByUser("transaction.max.staged.offsets", 100_000), { bunka: true, min: 1, max: INT_MAX, doc: "group offsets open transactions may hold staged (TxnOffsetCommit) on this broker; a new one beyond it is INVALID_COMMIT_OFFSET_SIZE" }),
  setting("transaction.max.transactional.ids", "int", 100_000, readByUser("transaction.max.transactional.ids", 100_000), { bunka: true, min: 1, max: INT_MAX, doc: "transactional ids this broker coordinates at once; a new one beyond it is refused (COORDINATOR_NOT_AVAILABLE) until ids expire" }),
  // Cluster mode (README "A replicated cluster").
  setting("etcd.endpoints", "list", [], field("etcdEndpoints"), { bunka: true, section: "cluster", defaultDoc: "none (single node)", flag: "--etcd", doc: "etcd client URLs, comma-separated" }),
  setting("cluster.id", "string", "bunka-cluster", field("clusterId"), { section: "cluster", doc: "key prefix in etcd; several clusters can share one etcd" }),
  // etcd's TLS and auth, read and checked at start by cluster/etcd/settings.ts (docs/etcd.md "Securing etcd").
  setting("etcd.ssl.ca.location", "string", undefined, rawProperty(), { bunka: true, section: "cluster", defaultDoc: "none (the system's CAs)", doc: "PEM file of the CAs that sign etcd's certificate (https endpoints only)" }),
  setting("etcd.ssl.certificate.location", "string", undefined, rawProperty(), { bunka: true, section: "cluster", defaultDoc: "none", doc: "PEM client certificate (chain) for etcd's `--client-cert-auth`; needs `etcd.ssl.key.location`" }),
  setting("etcd.ssl.key.location", "string", undefined, rawProperty(), { bunka: true, section: "cluster", defaultDoc: "none", doc: "PEM private key of `etcd.ssl.certificate.location` (unencrypted)" }),
  setting("etcd.username", "string", undefined, rawProperty(), { bunka: true, section: "cluster", defaultDoc: "none (no etcd auth)", doc: "etcd user Bunka logs in as (etcd's auth); needs `etcd.password` or `etcd.password.file`" }),
  setting("etcd.password", "string", undefined, rawProperty(), { bunka: true, section: "cluster", defaultDoc: "none", doc: "that user's password (never described; prefer `etcd.password.file`)" }),
  setting("etcd.password.file", "string", undefined, rawProperty(), { bunka: true, section: "cluster", defaultDoc: "none", doc: "file holding that user's password (one trailing newline ignored)" }),
  setting("broker.session.timeout.ms", "int", 6000, field("brokerSessionTimeoutMs"), { section: "cluster", min: 1, max: INT_MAX, doc: "a broker whose etcd lease is not renewed this long is dead; its leaderships move" }),
  setting("replica.lag.time.max.ms", "long", 30_000, field("replicaLagTimeMaxMs"), { section: "cluster", min: 1, max: Number.MAX_SAFE_INTEGER, doc: "a follower not caught up for this long leaves the ISR" }),
  setting("controlled.shutdown.timeout.ms", "long", 15_000, field("controlledShutdownTimeoutMs"), { bunka: true, section: "cluster", min: 0, max: Number.MAX_SAFE_INTEGER, doc: "how long a clean stop waits for leadership to move away" }),
  setting("auto.leader.rebalance.enable", "boolean", true, field("autoLeaderRebalanceEnable"), { section: "cluster", doc: "leadership returns to preferred replicas" }),
  setting("leader.imbalance.check.interval.seconds", "long", 300, {
    apply: (config, seconds) => void (config.leaderImbalanceCheckIntervalMs = seconds * 1000),
    current: (config) => config.leaderImbalanceCheckIntervalMs / 1000,
  }, { section: "cluster", min: 1, max: INT_MAX, doc: "how often the controller checks that" }),
  // Authorization (README "Security"): the ACL authorizer, security/acl/.
  setting("authorizer.class.name", "string", "", {
    apply: (config, value) => {
      // Fail closed: a named authorizer Bunka does not have is an error, never "allow everything".
      if (value !== "" && !ACL_AUTHORIZER_CLASS_NAMES.includes(value)) throw new Error(`config: authorizer.class.name "${value}" is not available (use ${ACL_AUTHORIZER_CLASS_NAMES.join(", ")}, or leave it empty for no authorization)`);
      config.authorizerClassName = value;
    },
    current: (config) => config.authorizerClassName,
  }, { defaultDoc: "none (every client may do everything)", doc: "`kafka.security.authorizer.AclAuthorizer`, `org.apache.kafka.metadata.authorizer.StandardAuthorizer` or `acl`: Bunka's ACL authorizer checks every request" }),
  setting("super.users", "string", "", field("superUsers"), { defaultDoc: "none", doc: "principals allowed everything, `User:a;User:b` (put the inter-broker principal here)" }),
  setting("allow.everyone.if.no.acl.found", "boolean", false, field("allowEveryoneIfNoAclFound"), { doc: "with an authorizer: a resource no ACL names is open to everyone" }),
  setting("quota.window.num", "int", 11, readByUser("quota.window.num", 11), { min: 2, max: 3600, doc: "samples in the sliding window that client quota rates are measured over" }),
  setting("quota.window.size.seconds", "int", 1, readByUser("quota.window.size.seconds", 1), { min: 1, max: 3600, doc: "length of one client quota sample" }),
  // Bounds on the security state one client can make the broker store (admin APIs, open when no authorizer is set).
  setting("sasl.scram.max.users", "int", 10_000, readByUser("sasl.scram.max.users", 10_000), { bunka: true, min: 1, max: INT_MAX, doc: "SCRAM users (AlterUserScramCredentials); an upsertion of a new user beyond it is refused (POLICY_VIOLATION), nothing stored" }),
  setting("authorizer.max.acls", "int", 100_000, readByUser("authorizer.max.acls", 100_000), { bunka: true, min: 1, max: INT_MAX, doc: "ACL bindings (CreateAcls); a request that would exceed it is refused whole (POLICY_VIOLATION), nothing stored" }),
  setting("client.quota.max.entities", "int", 10_000, readByUser("client.quota.max.entities", 10_000), { bunka: true, min: 1, max: INT_MAX, doc: "client quota entities (AlterClientQuotas); a new entity beyond it is refused (POLICY_VIOLATION), nothing stored" }),
  setting("security.name.max.bytes", "int", 1024, readByUser("security.name.max.bytes", 1024), { bunka: true, min: 16, max: 65_536, doc: "longest SCRAM user name, ACL principal, host or resource name and quota entity name (UTF-8 bytes) the admin APIs store; longer is refused" }),
  // The audit trail (README "Audit log"), security/audit/.
  setting("audit.log.listeners", "string", "*", stringReadByUser("audit.log.listeners", "*"), { bunka: true, defaultDoc: "`*` (every listener)", doc: "listeners whose authentication outcomes and authorization denials are logged, comma-separated names, `*` or empty (none)" }),
  setting("audit.log.file", "string", "", stringReadByUser("audit.log.file", ""), { bunka: true, defaultDoc: "none: the broker's log stream (stderr)", doc: "file the audit lines (one JSON object each) are appended to; one that cannot be opened stops the start" }),
  setting("audit.log.connection.events.max", "int", 16, readByUser("audit.log.connection.events.max", 16), { bunka: true, min: 1, max: 1024, doc: "audit lines one connection may cause; each distinct (event, result, resource, operation) is logged once per connection" }),
  setting("audit.log.buffer.max.bytes", "int", 4 * 1024 * 1024, readByUser("audit.log.buffer.max.bytes", 4 * 1024 * 1024), { bunka: true, min: 4096, max: INT_MAX, doc: "audit lines waiting for audit.log.file; beyond it lines are dropped and their count logged" }),
  // The admin HTTP listener (README "Metrics and health"), admin/.
  setting("admin.listeners", "string", "", stringReadByUser("admin.listeners", ""), { bunka: true, defaultDoc: "none (off)", doc: "the admin HTTP listener, `http://host:port` (or `https://` with `admin.ssl.keystore.location`): /metrics, /healthz, /readyz, /api/v1 and HTTP produce/consume; port 0 picks one" }),
  setting("admin.ssl.keystore.location", "string", "", stringReadByUser("admin.ssl.keystore.location", ""), { bunka: true, defaultDoc: "none", doc: "PEM file with the admin listener's private key and certificate chain (required by `https://`)" }),
  setting("admin.auth.exempt.paths", "string", "", stringReadByUser("admin.auth.exempt.paths", ""), { bunka: true, defaultDoc: "none", doc: "when security is on, paths served without HTTP Basic authentication, comma-separated, any of `/healthz`, `/readyz`, `/metrics` (Kubernetes probes, scrapers)" }),
  setting("admin.request.max.bytes", "int", 1_048_576, readByUser("admin.request.max.bytes", 1_048_576), { bunka: true, min: 1024, max: 104_857_600, doc: "largest admin HTTP request body; larger is refused (413) before it is buffered" }),
  setting("admin.produce.max.records", "int", 1000, readByUser("admin.produce.max.records", 1000), { bunka: true, min: 1, max: 1_000_000, doc: "records one HTTP produce request may carry (400 beyond)" }),
  setting("admin.consume.max.records", "int", 1000, readByUser("admin.consume.max.records", 1000), { bunka: true, min: 1, max: 1_000_000, doc: "records one HTTP consume or message-browser request returns at most" }),
  setting("admin.consume.max.bytes", "int", 4_194_304, readByUser("admin.consume.max.bytes", 4_194_304), { bunka: true, min: 1024, max: 104_857_600, doc: "log bytes one HTTP consume request reads at most" }),
  setting("faults.enable", "boolean", false, { apply: () => undefined, current: (config) => config.properties["faults.enable"] === "true" }, { bunka: true, doc: "fault injection for tests (`broker.faults`, POST/GET/DELETE /api/v1/faults on the admin listener): injected errors, latency, pauses, offline partitions, leader moves, replication cuts; off, the API answers 404 and throws. Embedded test clusters and dev mode turn it on; never on a production broker" }),
  setting("metrics.slowest.requests", "int", 1000, readByUser("metrics.slowest.requests", 1000), { bunka: true, min: 0, max: 100_000, doc: "requests per API whose stage timings are kept as the slowest since the last reset, for the slowest-1% breakdown of `GET /api/v1/request-latency` (a share of more requests than this describes this many); 0: none kept" }),
  setting("metrics.max.partitions", "int", 2000, readByUser("metrics.max.partitions", 2000), { bunka: true, min: 0, max: 1_000_000, doc: "partitions whose per-partition series /metrics exports (topics are client-created: this bounds label cardinality); the rest are left out and counted in `bunka_metrics_partitions_omitted`" }),
];

/** authorizer.class.name values that select the ACL authorizer (Kafka's two class names and a short one). */
export const ACL_AUTHORIZER_CLASS_NAMES: readonly string[] = ["kafka.security.authorizer.AclAuthorizer", "org.apache.kafka.metadata.authorizer.StandardAuthorizer", "acl"];

/** Every accepted key (names and aliases) to its setting. */
export const brokerSettingByKey: ReadonlyMap<string, BrokerSetting> = (() => {
  const byKey = new Map<string, BrokerSetting>();
  for (const definition of brokerSettings) {
    for (const key of [definition.name, ...definition.aliases]) {
      if (byKey.has(key)) throw new Error(`broker setting ${key} declared twice`);
      byKey.set(key, definition);
    }
  }
  return byKey;
})();

/**
 * Kafka's per-listener form `listener.name.<listener>.<setting>` (also `listener.name.<listener>.<mechanism>.<setting>`
 * for SASL): the setting it overrides, when that one may be given per listener.
 */
export function listenerOverrideOf(key: string): BrokerSetting | null {
  const match = /^listener\.name\.([A-Za-z0-9_]+)\.(.+)$/.exec(key);
  if (!match) return null;
  const direct = brokerSettingByKey.get(match[2]!);
  if (direct?.perListener) return direct;
  const scoped = /^[A-Za-z0-9-]+\.(.+)$/.exec(match[2]!);
  const mechanismScoped = scoped ? brokerSettingByKey.get(scoped[1]!) : undefined;
  return mechanismScoped?.perListener ? mechanismScoped : null;
}

function formatListeners(listeners: readonly ListenerAddress[]): string {
  return listeners.map((listener) => `${listener.name}://${listener.host.includes(":") ? `[${listener.host}]` : listener.host}:${listener.port}`).join(",");
}

/** Keys that set a topic config's broker-wide default: its topic name or Kafka's broker name for it. */
const topicDefaultKeys: ReadonlyMap<string, string> = new Map(
  topicConfigDefinitions.flatMap((definition) => [
    [definition.name, definition.name] as const,
    ...(definition.brokerName ? [[definition.brokerName, definition.name] as const] : []),
  ]),
);

function parseInteger(key: string, value: string, min: number, max: number): number {
  if (!/^-?\d+$/.test(value)) throw new Error(`config: ${key} must be an integer, got "${value}"`);
  const parsed = Number(value);
  if (parsed < min) throw new Error(`config: ${key} must be at least ${min}, got "${value}"`);
  if (parsed > max) throw new Error(`config: ${key} must be at most ${max}, got "${value}"`);
  return parsed;
}

/** Kafka's format: "host:count,host:count" (an IPv6 address may be bracketed: "[::1]:5"). */
function parseCountMap(key: string, value: string, min: number, max: number): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const entry of value.split(",").map((part) => part.trim()).filter(Boolean)) {
    const separator = entry.lastIndexOf(":");
    if (separator <= 0) throw new Error(`config: ${key} entry "${entry}" must be host:count`);
    const host = entry.slice(0, separator).replace(/^\[(.*)\]$/, "$1");
    counts[host] = parseInteger(`${key} entry ${host}`, entry.slice(separator + 1), min, max);
  }
  return counts;
}

/** Parses one value of a setting given under `key` (its name or an alias); throws naming the key. */
export function parseSettingValue<T extends BrokerSettingType>(definition: BrokerSettingOf<T>, key: string, value: string): SettingValues[T];
export function parseSettingValue(definition: BrokerSetting, key: string, value: string): SettingValues[BrokerSettingType] {
  switch (definition.type) {
    case "int":
      return parseInteger(key, value, definition.min ?? -INT_MAX - 1, Math.min(definition.max ?? INT_MAX, INT_MAX));
    case "long":
      return parseInteger(key, value, definition.min ?? Number.MIN_SAFE_INTEGER, definition.max ?? Number.MAX_SAFE_INTEGER);
    case "boolean":
      if (value !== "true" && value !== "false") throw new Error(`config: ${key} must be true or false, got "${value}"`);
      return value === "true";
    case "string":
      return value;
    case "list":
      return value.split(",").map((item) => item.trim()).filter(Boolean);
    case "map":
      return parseCountMap(key, value, definition.min ?? 0, definition.max ?? INT_MAX);
  }
}

function applySetting(config: BrokerConfig, definition: BrokerSetting, key: string, value: string): void {
  // The union is narrowed by `type` inside parseSettingValue; apply takes what it returns for the same definition.
  (definition.apply as (config: BrokerConfig, value: unknown) => void)(config, parseSettingValue(definition, key, value));
}

function defaultOf(definition: BrokerSetting): SettingValues[BrokerSettingType] | undefined {
  return typeof definition.defaultValue === "function" ? definition.defaultValue() : definition.defaultValue;
}

export function defaultBrokerConfig(): BrokerConfig {
  // Every field is set by the setting that owns it (test/config/broker-config.test.ts checks none is missed).
  // listeners/advertised.listeners have no default value of their own: empty means "derived" (security/listeners.ts).
  const config = { topicDefaults: {}, properties: {}, listeners: [], advertisedListeners: [] } as unknown as BrokerConfig;
  for (const definition of brokerSettings) {
    const value = defaultOf(definition);
    if (value !== undefined) (definition.apply as (config: BrokerConfig, value: unknown) => void)(config, structuredClone(value));
  }
  return config;
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

/**
 * Applies properties (from a file or flags) over a config. Broker settings are parsed and bounded; topic
 * configs (under their topic or broker name) become topic defaults; any other key is an error.
 */
export function applyProperties(config: BrokerConfig, properties: Record<string, string>): BrokerConfig {
  const next: BrokerConfig = {
    ...config,
    maxConnectionsPerIpOverrides: { ...config.maxConnectionsPerIpOverrides },
    etcdEndpoints: [...config.etcdEndpoints],
    topicDefaults: { ...config.topicDefaults },
    properties: { ...config.properties, ...properties },
  };
  for (const [key, value] of Object.entries(properties)) {
    const definition = brokerSettingByKey.get(key);
    if (definition) {
      applySetting(next, definition, key, value);
      continue;
    }
    const listenerOverride = listenerOverrideOf(key);
    if (listenerOverride) {
      // Checked like the setting itself; its user reads it from `properties` for that listener (security/tls.ts).
      parseSettingValue(listenerOverride, key, value);
      continue;
    }
    const topicConfig = topicDefaultKeys.get(key);
    if (topicConfig === undefined) {
      throw new Error(`config: unknown setting "${key}": not a broker setting nor a topic config (README "Running the broker" lists them)`);
    }
    // The operator may go below log.segment.bytes.min (which bounds what clients set), never below the format's 14 bytes.
    try {
      validateTopicConfig(topicConfig, value, { segmentBytesMin: 14 });
    } catch (error) {
      throw new Error(`config: ${key} (the default of topic config ${topicConfig}): ${error instanceof Error ? error.message : String(error)}`);
    }
    next.topicDefaults[key] = value;
  }
  return next;
}

type ListenSettings = Pick<BrokerConfig, "networkShards" | "partitionWorkers" | "partitionWorkersListen">;

/**
 * Whether the partition workers are the network shards. Unset, they are whenever the operator did not choose
 * main-thread shards and there is a worker: every core then reads its own connections and answers its own
 * partitions' produces and fetches, on a single node and in a cluster (docs/ARCHITECTURE.md).
 */
export function workersListen(config: ListenSettings): boolean {
  return config.partitionWorkersListen ?? (config.networkShards === 1 && config.partitionWorkers >= 1);
}

/**
 * Threads that hold client sockets: the main thread and the network shards, or with partition.workers.listen
 * the main thread and every partition worker. Throws on settings that contradict each other.
 */
export function networkThreads(config: ListenSettings): number {
  if (!workersListen(config)) return config.networkShards;
  if (config.networkShards !== 1) throw new Error(`config: partition.workers.listen makes the partition workers the network shards; leave num.network.shards at 1 (got ${config.networkShards})`);
  if (config.partitionWorkers < 1) throw new Error("config: partition.workers.listen needs num.partition.workers >= 1 (with 0 the main thread owns every partition and is the only shard)");
  return config.partitionWorkers + 1;
}

export function loadPropertiesFile(path: string): Record<string, string> {
  return parseProperties(readFileSync(resolve(path), "utf8"));
}

/** A value as a property would spell it. */
export function formatSettingValue(value: SettingValues[BrokerSettingType]): string {
  if (Array.isArray(value)) return value.join(",");
  if (typeof value === "object") return Object.entries(value).map(([host, count]) => `${host.includes(":") ? `[${host}]` : host}:${count}`).join(",");
  return String(value);
}

/**
 * The broker resource of DescribeConfigs: every setting (under each of its names) with the value in force,
 * `inForce` for values derived at start (max.connections), then the topic defaults and raw properties as given.
 */
export function describeBrokerConfig(config: BrokerConfig, inForce: Record<string, string> = {}): Record<string, string> {
  const described: Record<string, string> = {};
  for (const definition of brokerSettings) {
    const value = definition.current(config);
    if (value === undefined) continue;
    for (const key of [definition.name, ...definition.aliases]) described[key] = formatSettingValue(value);
  }
  const properties = Object.fromEntries(Object.entries(config.properties).filter(([key]) => !isSensitiveProperty(key)));
  return { ...described, ...inForce, ...config.topicDefaults, ...properties };
}

/** Passwords (JAAS configs carry them) are never described, as Kafka hides PASSWORD settings. */
function isSensitiveProperty(key: string): boolean {
  return key.endsWith("jaas.config") || key.endsWith("password");
}
