// The README's "Supported APIs" table, generated from the handler table (src/api/index.ts): each API's key and
// the range ApiVersions advertises come from its handler, so the README cannot drift from what the broker
// serves (test/integration/api-versions.test.ts checks the README against this rendering and a live broker).
// `bun src/api/api-docs.ts` rewrites the section between the markers. The notes say what the versions add
// and which KIPs are covered; the version history of each API is in its handler's header.
import { readFileSync, writeFileSync } from "node:fs";
import { handlers } from "./index.ts";

/** What the README says about each API beside its versions (an API without an entry gets an empty cell). */
export const apiNotes: Readonly<Record<string, string>> = {
  Produce:
    "acks 0, 1, -1; v3+ record batches only (v0–2, magic 0/1 message sets, answered UNSUPPORTED_VERSION: advertised because librdkafka 2.0.2 turns compression off without them); idempotence and transactions (KIP-98, KIP-890 verification); v8 per-record errors (KIP-467), v10 current leader and endpoints on NOT_LEADER_OR_FOLLOWER (KIP-951), v11 TRANSACTION_ABORTABLE (KIP-890), v12 (Kafka 4.0, a generator override of the snapshot's schema) adds a transactional batch's partition to its transaction (transaction version 2, KIP-890 part 2)",
  Fetch:
    "long poll (`max.wait.ms`, `min.bytes`), `max.bytes` and per-partition limits, read_committed (KIP-98), `OFFSET_OUT_OF_RANGE`, leader epochs (KIP-320); fetch sessions from v7 (KIP-227: incremental fetches, `max.incremental.fetch.session.cache.slots`, see Fetch sessions); topics by id from v13 (KIP-516, `UNKNOWN_TOPIC_ID`); v15 replica state (KIP-903); v16 current leader and endpoints on NOT_LEADER_OR_FOLLOWER / FENCED_LEADER_EPOCH (KIP-951); v17 replica directory id accepted (KIP-853)",
  ListOffsets:
    "earliest, latest, by timestamp, isolation level (KIP-98), leader epoch (KIP-320); v7 max timestamp (KIP-734), v8 earliest local (KIP-405: the log start, no tiered storage), v9 latest tiered (KIP-1005: -1, nothing is tiered), v10 timeout (KIP-1075, nothing remote to wait for)",
  Metadata:
    "auto topic creation; topic ids (KIP-516) from v10, topics by id in v12 (`UNKNOWN_TOPIC_ID`); v10–12 with Fetch v13+ (clients fetch by the ids Metadata v10+ gives them); v0–3 kept for kafka-python (KIP-896 deprecates them)",
  FindCoordinator: "groups and transactional ids; batched keys from v4 (KIP-699); v6 share-group keys (KIP-932: the `__share_group_state` partition's leader); v0 kept for librdkafka 2.0.2 and kafka-python",
  ApiVersions: "v3+: client software name (KIP-511) and features (KIP-584): `metadata.version` 21, `transaction.version` 2 (KIP-890 part 2: Produce v12, EndTxn v5), `group.version` 1 while ConsumerGroupHeartbeat is served; v4 lists features whose minimum is 0",
  CreateTopics: "topic ids in the answer (v7, KIP-516), configs in the answer (v5, KIP-525); v0–1 removed (KIP-896)",
  DeleteTopics: "by name or by topic id (v6, KIP-516: `UNKNOWN_TOPIC_ID`); v0 removed (KIP-896)",
  CreatePartitions: "",
  DescribeConfigs: "topic and broker resources, sources and synonyms (KIP-226), config types (KIP-569), share groups' group configs (resource type GROUP, KIP-932); v0 removed (KIP-896)",
  AlterConfigs: "topic configs (broker configs are static)",
  IncrementalAlterConfigs: "topic configs: SET, DELETE, APPEND, SUBTRACT (KIP-339); share groups' group configs: SET, DELETE (KIP-932, KIP-1191)",
  DescribeCluster: "KIP-700; v1 endpoint type (KIP-919): brokers only",
  DescribeTopicPartitions: "KIP-966: topics by name or all, paged by a cursor, at most `max.request.partition.size.limit` partitions per answer; no eligible leader replicas",
  DeleteRecords: "moves the log start offset; followers follow",
  AlterPartitionReassignments: "move replicas between brokers (KIP-455, cluster mode)",
  ListPartitionReassignments: "KIP-455",
  ElectLeaders: "KIP-460: PREFERRED and UNCLEAN elections on the given partitions or all, written like the controller's (compare-and-swap of the partition state); one broker alone never needs one",
  DescribeLogDirs: "the data dir as the one log dir: each partition's size in bytes, offset lag 0, no future logs; v4 the volume's total and usable bytes (KIP-827); v0 removed (KIP-896)",
  InitProducerId: "producer ids for idempotent producers (sequence numbers deduplicated) and transactional ids (epoch bump, fencing; KIP-360, KIP-588)",
  AddPartitionsToTxn: "transactions (KIP-98); v4–5 for brokers: verify-only (KIP-890 part 1), and the partition leader's add for Produce v12 (transaction version 2, KIP-890 part 2)",
  AddOffsetsToTxn: "transactions (KIP-98)",
  EndTxn: "transactions (KIP-98); v5 is transaction version 2 (KIP-890 part 2: the epoch is bumped at every commit and abort)",
  TxnOffsetCommit: "transactions (KIP-98, KIP-447)",
  WriteTxnMarkers: "between brokers: the coordinator's COMMIT/ABORT markers",
  DescribeProducers: "KIP-664",
  DescribeTransactions: "KIP-664",
  ListTransactions: "KIP-664",
  JoinGroup: "classic consumer groups (KIP-345 static members, KIP-394 member id required); v7 protocol type in the answer, v8 reason (KIP-800, logged), v9 skip assignment for a static leader's rejoin (KIP-814)",
  SyncGroup: "classic consumer groups; v5 protocol type and name checked and returned",
  Heartbeat: "classic consumer groups",
  LeaveGroup: "classic consumer groups, batched members (KIP-345); v5 reason per member (KIP-800, logged)",
  OffsetCommit: "committed offsets in `__consumer_offsets`; v9 member epochs (KIP-848); v0–1 removed (KIP-896)",
  OffsetFetch: "committed offsets; several groups from v8 (KIP-709); v9 member epochs (KIP-848); v0 removed (KIP-896)",
  OffsetDelete: "KIP-496",
  DescribeGroups: "share groups with protocol type `share` (KIP-932)",
  ListGroups: "state filter (v4, KIP-518), type filter (v5, KIP-848; `share` groups, KIP-932)",
  DeleteGroups: "v0 removed (KIP-896)",
  ConsumerGroupHeartbeat: "the KIP-848 consumer group protocol: server-side `uniform` and `range` assignors, static members, regex subscriptions (an RE2/J subset); group state in `__consumer_offsets` as Kafka's records, so groups survive restarts and coordinator moves",
  GetTelemetrySubscriptions: "KIP-714: one subscription for every client (`client.telemetry.metrics`, `client.telemetry.push.interval.ms`)",
  PushTelemetry: "KIP-714: OTLP metrics (zstd, gzip, snappy or uncompressed; at most `telemetry.max.bytes`), shown on the admin `/metrics` as `bunka_client_telemetry_*` per client instance",
  ListClientMetricsResources: "KIP-714: the one subscription (named `default`) while `client.telemetry.metrics` asks for something",
  ConsumerGroupDescribe: "KIP-848",
  ShareGroupHeartbeat: "KIP-932 share groups (Kafka 4.0's early-access v0): members, epochs, every member assigned every partition (SimpleAssignor); see Share groups",
  ShareGroupDescribe: "KIP-932",
  ShareFetch: "KIP-932: acquisition locks (`share.record.lock.duration.ms`), delivery counts, piggybacked acknowledgements, share sessions (`group.share.max.share.sessions`), long poll; state in `__share_group_state`",
  ShareAcknowledge: "KIP-932: accept, release, reject (gaps); answered once the new state is committed; rejected and exhausted records to the dead-letter topic (KIP-1191)",
  ReadShareGroupState: "KIP-932, between brokers: a share partition's leader reads its state at the share coordinator",
  WriteShareGroupState: "KIP-932, between brokers: a share partition's leader persists its state at the share coordinator (older leader epochs fenced)",
  OffsetForLeaderEpoch: "KIP-101/320: followers and clients find where a leader epoch ends",
  SaslHandshake: "PLAIN, SCRAM-SHA-256/512, OAUTHBEARER; v0: bare tokens (Kafka's legacy framing)",
  SaslAuthenticate: "KIP-152; session lifetime (v1, KIP-368)",
  DescribeUserScramCredentials: "KIP-554 (`bun run users`)",
  AlterUserScramCredentials: "KIP-554",
  DescribeAcls: "with `authorizer.class.name`; `SECURITY_DISABLED` without",
  CreateAcls: "",
  DeleteAcls: "",
  DescribeClientQuotas: "KIP-546: `producer_byte_rate`, `consumer_byte_rate`, `request_percentage` per user and/or client id (see Quotas)",
  AlterClientQuotas: "KIP-546",
};

const MARKER = "supported-apis";
const START = `<!-- ${MARKER}:start (generated by bun src/api/api-docs.ts from the handlers) -->`;
const END = `<!-- ${MARKER}:end -->`;

const range = (min: number, max: number): string => (min === max ? String(min) : `${min}–${max}`);

/** The table: one row per served API, by api key. */
export function supportedApisTable(): string {
  const rows = [...handlers.values()]
    .sort((a, b) => a.apiKey - b.apiKey)
    .map((handler) => {
      const held = handler.advertisedMaxVersion < handler.maxVersion ? ` (v${range(handler.advertisedMaxVersion + 1, handler.maxVersion)} served when asked, not advertised)` : "";
      return `| ${handler.name} | ${handler.apiKey} | ${range(handler.minVersion, handler.advertisedMaxVersion)}${held} | ${apiNotes[handler.name] ?? ""} |`;
    });
  return ["| API | key | versions | notes |", "|---|---|---|---|", ...rows].join("\n");
}

/** The README with the table replaced; throws when the marker pair is missing. */
export function renderSupportedApis(readme: string): string {
  const from = readme.indexOf(START);
  const to = readme.indexOf(END);
  if (from < 0 || to < from) throw new Error(`README.md has no "${START}" ... "${END}" pair`);
  return `${readme.slice(0, from + START.length)}\n${supportedApisTable()}\n${readme.slice(to)}`;
}

if (import.meta.main) {
  const path = new URL("../../README.md", import.meta.url).pathname;
  const before = readFileSync(path, "utf8");
  const after = renderSupportedApis(before);
  if (after !== before) writeFileSync(path, after);
  console.log(after === before ? "README.md: supported APIs table already up to date" : "README.md: supported APIs table regenerated");
}
