// Cluster mode: this broker registers in etcd on a lease, mirrors the cluster metadata through one watch,
// replicates the partitions it follows, and may be elected controller. A clean stop is a controlled
// shutdown: the broker marks itself shutting down, waits (bounded) for the controller to move its
// leaderships to other in-sync replicas, then leaves.
import type { BrokerConfig } from "../config/broker-config.ts";
import type { BrokerInfo, ClusterView } from "../metadata/types.ts";
import type { PartitionWorkers } from "../partition/partition-workers.ts";
import { Controller, newControllerStats } from "./controller.ts";
import { LeaderHighWatermarks } from "./leader-high-watermarks.ts";
import { etcdClientOptions, LeaseKeeper, type MetadataKv, type MetadataWatch } from "./etcd/index.ts";
import { openMetadataKv } from "./metadata-kv.ts";
import { EtcdKeys, EtcdMetadataStore, MetadataMirror, encodeRecord, decodeRecord, type MirrorChanges } from "./etcd-metadata.ts";
import type { ClusterMembership, MembershipContext } from "./membership.ts";
import { ReplicaFetchers } from "./replica-fetcher.ts";
import { interBrokerClientSecurity, type InterBrokerClientSecurity } from "../security/inter-broker.ts";
import { resolveListeners } from "../security/listeners.ts";

const REGISTER_RETRY_MS = 500;
const CONTROLLED_SHUTDOWN_POLL_MS = 100;

export async function createEtcdMembership(config: BrokerConfig, workers: PartitionWorkers, log: (message: string) => void, self: () => BrokerInfo): Promise<ClusterMembership> {
  return new EtcdCluster(config, workers, log, self);
}

export class EtcdCluster implements ClusterMembership, ClusterView {
  readonly nodeId: number;
  readonly store: EtcdMetadataStore;
  private readonly etcd: MetadataKv;
  private readonly keys: EtcdKeys;
  private readonly mirror: MetadataMirror;
  private lease: LeaseKeeper | null = null;
  private watch: MetadataWatch | null = null;
  private controller: Controller | null = null;
  /** Kept across controller terms and etcd sessions: counters since this broker started. */
  readonly controllerStats = newControllerStats();
  readonly leaderHighWatermarks: LeaderHighWatermarks;
  private fetchers: ReplicaFetchers | null = null;
  private context: MembershipContext | null = null;
  private shuttingDown = false;
  private stopped = false;
  private applying: Promise<void> = Promise.resolve();
  /** How replica fetchers reach the other brokers' inter-broker listener (TLS, SASL login). */
  private readonly interBrokerSecurity: InterBrokerClientSecurity;

  constructor(
    private readonly config: BrokerConfig,
    private readonly workers: PartitionWorkers,
    private readonly log: (message: string) => void,
    private readonly self: () => BrokerInfo,
  ) {
    this.nodeId = config.nodeId;
    this.etcd = openMetadataKv(etcdClientOptions(config, (line) => log(line)));
    this.keys = new EtcdKeys(`/bunka/${config.clusterId}/`);
    this.mirror = new MetadataMirror(this.keys);
    this.store = new EtcdMetadataStore(this.etcd, this.mirror);
    const listeners = resolveListeners(config);
    const interBroker = listeners.listeners.find((listener) => listener.name === listeners.interBrokerListenerName)!;
    this.interBrokerSecurity = interBrokerClientSecurity(config, interBroker);
    this.leaderHighWatermarks = new LeaderHighWatermarks({ nodeId: this.nodeId, liveBrokers: () => this.mirror.liveBrokers(), security: this.interBrokerSecurity });
  }

  get view(): ClusterView {
    return this;
  }

  liveBrokers(): BrokerInfo[] {
    return this.mirror.liveBrokers();
  }

  controllerId(): number {
    return this.mirror.controllerId;
  }

  async start(context: MembershipContext): Promise<void> {
    this.context = context;
    // A wrong etcd password stops the start here, with etcd's refusal, before anything else is attempted.
    await this.etcd.authenticate();
    await this.register();
    const listing = await this.etcd.getPrefix(this.keys.root);
    this.mirror.load(listing.kvs, listing.revision);
    this.fetchers = new ReplicaFetchers({ nodeId: this.nodeId, cluster: this, topics: context.topics, workers: this.workers, replicas: context.replicas, log: this.log, security: this.interBrokerSecurity, faults: context.faults });
    context.replicas.setFollowerFetching(this.fetchers);
    await context.topics.load(context.recover);
    this.startWatch(listing.revision + 1);
    this.controller = new Controller({
      nodeId: this.nodeId,
      config: this.config,
      etcd: this.etcd,
      keys: this.keys,
      mirror: this.mirror,
      store: this.store,
      topics: context.topics,
      lease: () => this.lease,
      log: this.log,
      stats: this.controllerStats,
    });
    this.controller.start();
    this.log(`joined cluster ${this.config.clusterId} (etcd ${this.config.etcdEndpoints.join(",")}); brokers [${this.mirror.liveBrokers().map((b) => b.nodeId)}], controller ${this.mirror.controllerId}`);
  }

  /** One watch over the whole prefix; if it gives up (etcd unreachable too long), re-list and watch again. */
  private startWatch(startRevision: number): void {
    this.watch = this.etcd.watchPrefix(this.keys.root, {
      startRevision,
      onEvents: (events, revision) => this.enqueue(() => this.applyChanges(this.mirror.apply(events, revision))),
      onResync: () => this.resync(),
      onError: (error) => {
        this.log(`etcd watch stopped: ${error.message}; re-listing and watching again`);
        void this.rewatch();
      },
    });
  }

  private async rewatch(): Promise<void> {
    // Bounded by the broker's life: retried until etcd answers or the broker stops.
    while (!this.stopped) {
      try {
        const revision = await this.resync();
        if (!this.stopped) this.startWatch(revision + 1);
        return;
      } catch (error) {
        this.log(`re-listing cluster metadata failed: ${error instanceof Error ? error.message : String(error)}`);
        await Bun.sleep(REGISTER_RETRY_MS);
      }
    }
  }

  /** Metadata changes are applied one batch at a time, in revision order. */
  private enqueue(work: () => Promise<void>): Promise<void> {
    this.applying = this.applying.then(work).catch((error) => this.log(`applying cluster metadata failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`));
    return this.applying;
  }

  private async applyChanges(changes: MirrorChanges): Promise<void> {
    const topics = this.context!.topics;
    for (const name of changes.removedTopics) await topics.removeTopic(name);
    for (const name of changes.topics) {
      const topic = this.mirror.topic(name);
      if (topic) await topics.applyTopic(topic);
    }
    for (const { topic, partition } of changes.partitions) {
      const stored = this.mirror.partitionStates.get(`${topic}\u0000${partition}`);
      if (stored) topics.applyPartitionState(topic, partition, stored.state, stored.version);
    }
    if (changes.brokersChanged || changes.controllerChanged || changes.partitions.length > 0 || changes.topics.size > 0) this.controller?.onClusterChange();
  }

  /** The watch lost history (compaction): list everything again and apply it as a whole. */
  private async resync(): Promise<number> {
    const listing = await this.etcd.getPrefix(this.keys.root);
    await this.enqueue(async () => {
      this.mirror.load(listing.kvs, listing.revision);
      const topics = this.context!.topics;
      const present = new Set(this.mirror.topicRecords.keys());
      for (const known of topics.list()) if (!present.has(known.name)) await topics.removeTopic(known.name);
      for (const topic of this.mirror.topics()) await topics.applyTopic(topic);
      this.controller?.onClusterChange();
    });
    return listing.revision;
  }

  /**
   * Registers this broker on a fresh lease. A key left by this broker's previous run (same address, lease
   * not yet expired after a crash) is taken over; one held by another live broker is a configuration error.
   */
  private async register(): Promise<void> {
    const ttlSeconds = Math.max(2, Math.ceil(this.config.brokerSessionTimeoutMs / 1000));
    const lease = new LeaseKeeper(this.etcd, { ttlSeconds, onLost: (error) => this.onLeaseLost(error.message), log: this.log });
    await lease.start();
    const info = { ...this.self(), shuttingDown: this.shuttingDown };
    const key = this.keys.broker(this.nodeId);
    const existing = await this.etcd.get(key);
    if (existing) {
      const other = decodeRecord<BrokerInfo>(existing.value);
      if (other.host !== info.host || other.port !== info.port) {
        await lease.stop();
        throw new Error(`node id ${this.nodeId} is registered by a live broker at ${other.host}:${other.port}`);
      }
    }
    await this.etcd.put(key, encodeRecord(info), { lease: lease.id });
    this.lease = lease;
  }

  private onLeaseLost(reason: string): void {
    if (this.stopped) return;
    this.log(`etcd session lost (${reason}): registering again`);
    this.controller?.resign();
    this.lease = null;
    void this.reregister();
  }

  private async reregister(): Promise<void> {
    // Bounded by the broker's life: retried until it works or the broker stops.
    while (!this.stopped) {
      try {
        await this.register();
        this.controller?.onClusterChange();
        return;
      } catch (error) {
        this.log(`registering in etcd failed: ${error instanceof Error ? error.message : String(error)}`);
        await Bun.sleep(REGISTER_RETRY_MS);
      }
    }
  }

  /** Marks this broker shutting down and waits until it leads nothing that another in-sync replica could. */
  async controlledShutdown(): Promise<void> {
    if (!this.context || !this.lease) return;
    this.shuttingDown = true;
    await this.etcd.put(this.keys.broker(this.nodeId), encodeRecord({ ...this.self(), shuttingDown: true }), { lease: this.lease.id });
    const deadline = Date.now() + this.config.controlledShutdownTimeoutMs;
    const movable = () =>
      this.context!.replicas.ledPartitions().filter(({ topic, partition }) => {
        const assignment = this.context!.topics.assignment(topic, partition);
        return assignment !== undefined && assignment.isr.some((replica) => replica !== this.nodeId && this.mirror.brokers.has(replica));
      });
    let remaining = movable();
    while (remaining.length > 0 && Date.now() < deadline) {
      await Bun.sleep(CONTROLLED_SHUTDOWN_POLL_MS);
      remaining = movable();
    }
    if (remaining.length > 0) this.log(`controlled shutdown: still leading ${remaining.length} partition(s) after ${this.config.controlledShutdownTimeoutMs} ms`);
    else this.log("controlled shutdown: leadership moved to other in-sync replicas");
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.watch?.cancel();
    this.controller?.stop();
    this.leaderHighWatermarks.stop();
    await this.fetchers?.stop();
    await this.applying;
    // Revoking the lease deletes this broker's registration (and the controller key if it held it).
    await this.lease?.stop();
  }
}
