// Followers copy their leaders' logs with the Fetch API (replica id set), one fetch loop per leader broker
// (Kafka's ReplicaFetcherThread). Before fetching in a new leader epoch a partition is truncated to where
// it agrees with the leader, asked with OffsetForLeaderEpoch (KIP-101, with KIP-279's rule for epochs the
// leader does not know), so that a tail written by a deposed leader is never kept.
// Fetches go by topic id (Fetch v13+, KIP-516) when the leader serves it: a topic deleted and re-created under
// the same name is UNKNOWN_TOPIC_ID to a follower still naming the old id, so the new topic's records never land
// in the old topic's log. They run in a fetch session (KIP-227, as Kafka's followers do): after the first full
// fetch, a fetch names only the partitions whose offsets moved, and answers carry only partitions with news.
import { KafkaConnection } from "../client/kafka-connection.ts";
import { FetchSessionBuilder } from "../client/fetch-session-builder.ts";
import { partitionKey } from "../metadata/topic-manager.ts";
import type { TopicManager } from "../metadata/topic-manager.ts";
import { topicIdBytes, topicIdHex, type ClusterView } from "../metadata/types.ts";
import type { PartitionWorkers } from "../partition/partition-workers.ts";
import { ErrorCode, errorName } from "../protocol/errors.ts";
import { ApiKey } from "../protocol/generated/index.ts";
import type { InterBrokerClientSecurity } from "../security/inter-broker.ts";
import type { FollowerFetching, ReplicaManager } from "./replica-manager.ts";
import type { ReplicationFaults } from "./membership.ts";

/** Fetch v17 (topics by id, replica_state); a leader that serves no v13 is fetched with v11, by name. */
const FETCH_VERSION = 17;
const FETCH_VERSION_BY_NAME = 11;
const FIRST_FETCH_VERSION_WITH_TOPIC_IDS = 13;
const FIRST_FETCH_VERSION_WITH_REPLICA_STATE = 15;
const API_VERSIONS_VERSION = 0;
const OFFSET_FOR_LEADER_EPOCH_VERSION = 3;
const LIST_OFFSETS_VERSION = 5;
const FETCH_MAX_WAIT_MS = 500;
const REPLICA_FETCH_MAX_BYTES = 10 * 1024 * 1024;
const REPLICA_FETCH_PARTITION_MAX_BYTES = 1024 * 1024;
const BACKOFF_MS = 200;
const REQUEST_TIMEOUT_MS = 10_000;

type FollowState = "truncating" | "fetching";

interface FollowedPartition {
  topic: string;
  partition: number;
  leaderEpoch: number;
  state: FollowState;
  /** Paused after a partition-level error until then (ms since epoch). */
  retryAtMs: number;
}

export interface ReplicaFetcherDeps {
  nodeId: number;
  cluster: ClusterView;
  topics: TopicManager;
  workers: PartitionWorkers;
  replicas: ReplicaManager;
  log: (message: string) => void;
  /** TLS and SASL login for connections to leaders (the inter-broker listener's); none: plaintext. */
  security?: InterBrokerClientSecurity;
  /** cut-replication (src/faults/): while it cuts this broker from a leader, its fetcher does not reach it. */
  faults?: ReplicationFaults;
}

export class ReplicaFetchers implements FollowerFetching {
  private readonly fetchers = new Map<number, LeaderFetcher>();
  private readonly leaderOf = new Map<string, number>();
  private stopped = false;

  constructor(private readonly deps: ReplicaFetcherDeps) {}

  follow(topic: string, partition: number, leaderId: number, leaderEpoch: number): void {
    if (this.stopped) return;
    const key = partitionKey(topic, partition);
    const previousLeader = this.leaderOf.get(key);
    if (previousLeader !== undefined && previousLeader !== leaderId) this.fetchers.get(previousLeader)?.remove(key);
    this.leaderOf.set(key, leaderId);
    let fetcher = this.fetchers.get(leaderId);
    if (!fetcher) {
      fetcher = new LeaderFetcher(leaderId, this.deps, () => this.fetchers.delete(leaderId));
      this.fetchers.set(leaderId, fetcher);
    }
    fetcher.add(key, { topic, partition, leaderEpoch, state: "truncating", retryAtMs: 0 });
  }

  unfollow(topic: string, partition: number): void {
    const key = partitionKey(topic, partition);
    const leaderId = this.leaderOf.get(key);
    if (leaderId === undefined) return;
    this.leaderOf.delete(key);
    this.fetchers.get(leaderId)?.remove(key);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await Promise.all([...this.fetchers.values()].map((fetcher) => fetcher.stop()));
    this.fetchers.clear();
  }
}

class LeaderFetcher {
  private readonly partitions = new Map<string, FollowedPartition>();
  private connection: KafkaConnection | null = null;
  /** The Fetch version the current connection's leader serves (ApiVersions at connect). */
  private fetchVersion = FETCH_VERSION_BY_NAME;
  /** The session outlives connections, as on the leader; a leader that lost it answers FETCH_SESSION_ID_NOT_FOUND. */
  private readonly session = new FetchSessionBuilder();
  private running: Promise<void> | null = null;
  private stopped = false;
  private lastConnectError = "";

  constructor(
    private readonly leaderId: number,
    private readonly deps: ReplicaFetcherDeps,
    private readonly onIdle: () => void,
  ) {}

  add(key: string, followed: FollowedPartition): void {
    this.partitions.set(key, followed);
    this.running ??= this.run().finally(() => {
      this.running = null;
      this.connection?.close();
      this.connection = null;
      if (this.partitions.size > 0 && !this.stopped) this.add(key, this.partitions.get(key) ?? followed);
      else this.onIdle();
    });
  }

  remove(key: string): void {
    this.partitions.delete(key);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.connection?.close();
    await this.running;
  }

  /** The fetch loop: bounded per iteration by the fetch's max wait or a backoff; ends when nothing is followed. */
  private async run(): Promise<void> {
    while (!this.stopped && this.partitions.size > 0) {
      try {
        if (this.deps.faults?.armed && this.deps.faults.replicationCut(this.leaderId)) {
          this.connection?.close();
          this.connection = null;
          await Bun.sleep(BACKOFF_MS);
          continue;
        }
        const connection = await this.connect();
        if (!connection) {
          await Bun.sleep(BACKOFF_MS);
          continue;
        }
        const nowMs = Date.now();
        const ready = [...this.partitions.values()].filter((followed) => followed.retryAtMs <= nowMs);
        const truncating = ready.filter((followed) => followed.state === "truncating");
        if (truncating.length > 0) await this.truncate(connection, truncating);
        const fetching = ready.filter((followed) => followed.state === "fetching");
        if (fetching.length > 0) await this.fetch(connection, fetching);
        else if (truncating.length === 0) await Bun.sleep(BACKOFF_MS);
      } catch (error) {
        if (!this.stopped) this.deps.log(`replica fetcher for leader ${this.leaderId}: ${error instanceof Error ? error.message : String(error)}`);
        this.connection?.close();
        this.connection = null;
        await Bun.sleep(BACKOFF_MS);
      }
    }
  }

  private async connect(): Promise<KafkaConnection | null> {
    if (this.connection && !this.connection.closed) return this.connection;
    const leader = this.deps.cluster.liveBrokers().find((broker) => broker.nodeId === this.leaderId);
    if (!leader) return null;
    try {
      this.connection = await KafkaConnection.connect({
        host: leader.host,
        port: leader.port,
        clientId: `bunka-replica-${this.deps.nodeId}`,
        requestTimeoutMs: REQUEST_TIMEOUT_MS,
        connectTimeoutMs: 5000,
        ...this.deps.security,
      });
      const versions = await this.connection.request(ApiKey.ApiVersions, API_VERSIONS_VERSION, {});
      const fetchRange = versions.apiKeys?.find((range: { apiKey: number }) => range.apiKey === ApiKey.Fetch) as { maxVersion: number } | undefined;
      this.fetchVersion = fetchRange && fetchRange.maxVersion >= FIRST_FETCH_VERSION_WITH_TOPIC_IDS ? Math.min(FETCH_VERSION, fetchRange.maxVersion) : FETCH_VERSION_BY_NAME;
      this.lastConnectError = "";
      return this.connection;
    } catch (error) {
      this.connection?.close();
      this.connection = null;
      const message = error instanceof Error ? error.message : String(error);
      if (message !== this.lastConnectError) this.deps.log(`replica fetcher: cannot reach leader ${this.leaderId} at ${leader.host}:${leader.port}: ${message}`);
      this.lastConnectError = message;
      return null;
    }
  }

  private pause(followed: FollowedPartition, errorCode: number): void {
    followed.retryAtMs = Date.now() + BACKOFF_MS;
    if (errorCode === ErrorCode.OFFSET_OUT_OF_RANGE) followed.state = "truncating";
  }

  /**
   * KIP-101/279: ask the leader where this replica's latest epoch ends on the leader; cut the local log
   * there (or at the local end of the epoch the leader answered with, whichever is smaller).
   */
  private async truncate(connection: KafkaConnection, partitions: FollowedPartition[]): Promise<void> {
    const workers = this.deps.workers;
    const localEpochs = await workers.latestEpoch(partitions.map(({ topic, partition }) => ({ topic, partition })));
    const response = await connection.request(ApiKey.OffsetForLeaderEpoch, OFFSET_FOR_LEADER_EPOCH_VERSION, {
      replicaId: this.deps.nodeId,
      topics: groupByTopic(partitions, (followed, index) => ({ partition: followed.partition, currentLeaderEpoch: followed.leaderEpoch, leaderEpoch: localEpochs[index]!.leaderEpoch })),
    });
    const answers = new Map<string, { errorCode: number; leaderEpoch: number; endOffset: number }>();
    for (const topic of response.topics) for (const answer of topic.partitions) answers.set(partitionKey(topic.topic, answer.partition), answer);

    for (const [index, followed] of partitions.entries()) {
      if (!this.isCurrent(followed)) continue;
      const answer = answers.get(partitionKey(followed.topic, followed.partition));
      if (!answer || answer.errorCode !== ErrorCode.NONE) {
        this.pause(followed, answer?.errorCode ?? ErrorCode.UNKNOWN_SERVER_ERROR);
        continue;
      }
      const runtime = this.deps.topics.runtime(followed.topic, followed.partition);
      if (!runtime) continue;
      const localEpoch = localEpochs[index]!.leaderEpoch;
      let truncateTo: number;
      if (localEpoch < 0 || answer.leaderEpoch < 0) {
        // No epoch history on one side: keep only what is known to be committed.
        truncateTo = Math.min(runtime.highWatermark, runtime.logEndOffset);
      } else if (answer.leaderEpoch === localEpoch) {
        truncateTo = Math.min(answer.endOffset, runtime.logEndOffset);
      } else {
        const [local] = await workers.epochEndOffset([{ topic: followed.topic, partition: followed.partition, leaderEpoch: answer.leaderEpoch }]);
        truncateTo = Math.min(answer.endOffset, local!.endOffset, runtime.logEndOffset);
      }
      if (truncateTo < runtime.logEndOffset) {
        const [offsets] = await workers.truncate([{ topic: followed.topic, partition: followed.partition, offset: truncateTo }]);
        this.deps.log(`${followed.topic}-${followed.partition}: truncated from ${runtime.logEndOffset} to ${truncateTo} to match leader ${this.leaderId} (epoch ${followed.leaderEpoch})`);
        this.deps.replicas.onFollowerProgress(followed.topic, followed.partition, Math.min(runtime.highWatermark, truncateTo), offsets!);
      }
      followed.state = "fetching";
    }
  }

  private isCurrent(followed: FollowedPartition): boolean {
    return this.partitions.get(partitionKey(followed.topic, followed.partition)) === followed;
  }

  private async fetch(connection: KafkaConnection, partitions: FollowedPartition[]): Promise<void> {
    const byId = this.fetchVersion >= FIRST_FETCH_VERSION_WITH_TOPIC_IDS;
    const wanted = [];
    const namesById = new Map<string, string>();
    for (const followed of partitions) {
      const topicId = byId ? this.deps.topics.get(followed.topic)?.topicId : undefined;
      // Deleted here meanwhile: nothing to fetch it into.
      if (byId && !topicId) continue;
      if (topicId) namesById.set(topicId, followed.topic);
      wanted.push({
        topic: followed.topic,
        topicId: topicId ? topicIdBytes(topicId) : new Uint8Array(16),
        partition: followed.partition,
        fetchOffset: this.deps.topics.runtime(followed.topic, followed.partition)?.logEndOffset ?? 0,
        partitionMaxBytes: REPLICA_FETCH_PARTITION_MAX_BYTES,
        currentLeaderEpoch: followed.leaderEpoch,
      });
    }
    if (wanted.length === 0) return;
    const request = this.session.build(wanted);
    let response;
    try {
      response = await connection.request(ApiKey.Fetch, this.fetchVersion, {
        replicaId: this.fetchVersion >= FIRST_FETCH_VERSION_WITH_REPLICA_STATE ? -1 : this.deps.nodeId,
        replicaState: { replicaId: this.deps.nodeId, replicaEpoch: -1 },
        maxWaitMs: FETCH_MAX_WAIT_MS,
        minBytes: 1,
        maxBytes: REPLICA_FETCH_MAX_BYTES,
        isolationLevel: 0,
        ...request,
      });
    } catch (error) {
      this.session.handleError();
      throw error;
    }
    this.session.handleResponse(response.errorCode, response.sessionId);
    // A session error (evicted, out of step): the next fetch is a full one.
    if (response.errorCode !== ErrorCode.NONE) return;
    const byKey = new Map<string, FollowedPartition>(partitions.map((followed) => [partitionKey(followed.topic, followed.partition), followed]));
    const appends: { followed: FollowedPartition; records: Uint8Array; highWatermark: number }[] = [];
    const logStarts: { topic: string; partition: number; offset: number }[] = [];
    for (const topic of response.responses) {
      const name = byId ? namesById.get(topicIdHex(topic.topicId)) : topic.topic;
      if (name === undefined) continue;
      for (const data of topic.partitions) {
        const followed = byKey.get(partitionKey(name, data.partitionIndex));
        if (!followed || !this.isCurrent(followed)) continue;
        if (data.errorCode !== ErrorCode.NONE) {
          if (data.errorCode === ErrorCode.OFFSET_OUT_OF_RANGE) await this.handleOutOfRange(connection, followed);
          else this.pause(followed, data.errorCode);
          continue;
        }
        // DeleteRecords or retention on the leader moved its log start: follow it.
        const runtime = this.deps.topics.runtime(followed.topic, followed.partition);
        if (runtime && data.logStartOffset > runtime.logStartOffset && data.logStartOffset <= runtime.logEndOffset) {
          logStarts.push({ topic: followed.topic, partition: followed.partition, offset: data.logStartOffset });
        }
        const records = data.records as Uint8Array | null;
        if (records && records.byteLength > 0) appends.push({ followed, records: Uint8Array.prototype.slice.call(records), highWatermark: data.highWatermark });
        else {
          if (runtime) this.deps.replicas.onFollowerProgress(followed.topic, followed.partition, data.highWatermark, null);
        }
      }
    }
    if (logStarts.length > 0) {
      const moved = await this.deps.workers.deleteRecords(logStarts);
      logStarts.forEach((item, index) => {
        const result = moved[index]!;
        if (result.errorCode === ErrorCode.NONE) this.deps.topics.noteOffsets(item.topic, item.partition, result);
      });
    }
    if (appends.length === 0) return;
    const results = await this.deps.workers.appendReplica(appends.map(({ followed, records }) => ({ topic: followed.topic, partition: followed.partition, records })));
    appends.forEach(({ followed, highWatermark }, index) => {
      const result = results[index]!;
      if (result.errorCode !== ErrorCode.NONE) {
        this.deps.log(`${followed.topic}-${followed.partition}: appending fetched batches failed: ${errorName(result.errorCode)} ${result.errorMessage ?? ""}`);
        this.pause(followed, result.errorCode === ErrorCode.OFFSET_OUT_OF_RANGE ? ErrorCode.OFFSET_OUT_OF_RANGE : result.errorCode);
        return;
      }
      this.deps.replicas.onFollowerProgress(followed.topic, followed.partition, highWatermark, result);
    });
  }

  /** The leader no longer has our fetch offset: start over at its log start, or cut back to its end. */
  private async handleOutOfRange(connection: KafkaConnection, followed: FollowedPartition): Promise<void> {
    const runtime = this.deps.topics.runtime(followed.topic, followed.partition);
    if (!runtime) return;
    const ask = async (timestamp: number): Promise<number> => {
      const response = await connection.request(ApiKey.ListOffsets, LIST_OFFSETS_VERSION, {
        replicaId: this.deps.nodeId,
        isolationLevel: 0,
        topics: [{ name: followed.topic, partitions: [{ partitionIndex: followed.partition, currentLeaderEpoch: followed.leaderEpoch, timestamp }] }],
      });
      const answer = response.topics[0]?.partitions[0];
      if (!answer || answer.errorCode !== ErrorCode.NONE) throw new Error(`ListOffsets from leader ${this.leaderId}: ${errorName(answer?.errorCode ?? -1)}`);
      return answer.offset;
    };
    const leaderStart = await ask(-2);
    if (runtime.logEndOffset < leaderStart) {
      const [offsets] = await this.deps.workers.truncateFully([{ topic: followed.topic, partition: followed.partition, offset: leaderStart }]);
      this.deps.log(`${followed.topic}-${followed.partition}: restarted at the leader's log start ${leaderStart}`);
      this.deps.replicas.onFollowerProgress(followed.topic, followed.partition, leaderStart, offsets!);
    } else {
      followed.state = "truncating";
    }
  }
}

function groupByTopic<T>(partitions: FollowedPartition[], entry: (followed: FollowedPartition, index: number) => T): { topic: string; partitions: T[] }[] {
  const byTopic = new Map<string, T[]>();
  partitions.forEach((followed, index) => {
    let list = byTopic.get(followed.topic);
    if (!list) byTopic.set(followed.topic, (list = []));
    list.push(entry(followed, index));
  });
  return [...byTopic].map(([topic, list]) => ({ topic, partitions: list }));
}
