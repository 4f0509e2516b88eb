// Embedded clusters for tests: N real brokers in this process, each with its own data dir, listener on
// 127.0.0.1 and partition worker, replicating and electing over real sockets; their metadata store is one
// in-process store (cluster/memory-store.ts, a test fixture with etcd's semantics) instead of an etcd
// process. kill(id) is a crash (leases gone at once, sockets closed, nothing flushed); restart(id) brings
// the broker back on its data dir and port. The handle exposes each Broker (cluster.broker(id)) so that
// fault injection can hang off it.
import { mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { InMemoryMetadataStore } from "../cluster/memory-store.ts";
import { startBroker, type Broker, type BrokerOptions } from "../server/broker.ts";
import { ClusterFaults } from "../faults/cluster-faults.ts";

/** What an embedded cluster sets unless the test says otherwise: small internal topics, no waiting. */
export const EMBEDDED_CLUSTER_PROPERTIES: Readonly<Record<string, string>> = {
  "broker.session.timeout.ms": "3000",
  "replica.lag.time.max.ms": "2000",
  "num.partition.workers": "1",
  "group.initial.rebalance.delay.ms": "0",
  "offsets.topic.num.partitions": "3",
  "transaction.state.log.num.partitions": "3",
  "controlled.shutdown.timeout.ms": "5000",
  // Scriptable faults (src/faults/): cluster.faults and each broker.faults.
  "faults.enable": "true",
};

const READY_TIMEOUT_MS = 30_000;
const READY_POLL_MS = 2;
/** Bound on brokers in one embedded cluster: each holds sockets, a worker thread and files. */
const BROKERS_MAX = 16;

export interface ClusterOptions {
  /** Number of brokers, node ids 1..N (default 3). */
  brokers?: number;
  /** Parent of the brokers' data dirs (broker-<id>/); default a new temporary dir, removed at stop. */
  dataDir?: string;
  /** Keep the temporary data dir after stop(). */
  keepDataDir?: boolean;
  /** Broker properties for every broker, over EMBEDDED_CLUSTER_PROPERTIES. */
  properties?: Record<string, string>;
  /** Per-broker options (e.g. a rack), over everything else. */
  brokerOptions?: (nodeId: number) => BrokerOptions;
  /** Where the brokers' log lines go; default nowhere. */
  log?: (message: string) => void;
}

let clusterCount = 0;

export class EmbeddedCluster {
  private readonly brokers = new Map<number, Broker>();
  private readonly ports = new Map<number, number>();
  private readonly store: InMemoryMetadataStore;
  private readonly root: string;
  private readonly removeRootOnStop: boolean;
  private stopped = false;
  /** Scriptable faults on the running brokers (src/faults/); each broker's own are `cluster.broker(id).faults`. */
  readonly faults = new ClusterFaults(() => new Map([...this.brokers].map(([nodeId, broker]) => [nodeId, broker.faults])));

  private constructor(
    readonly size: number,
    private readonly options: ClusterOptions,
  ) {
    const clusterId = `embedded-${process.pid}-${++clusterCount}`;
    this.store = new InMemoryMetadataStore(clusterId);
    this.root = options.dataDir ?? mkdtempSync(join(tmpdir(), "bunka-cluster-"));
    this.removeRootOnStop = options.dataDir === undefined && !options.keepDataDir;
  }

  static async start(options: ClusterOptions = {}): Promise<EmbeddedCluster> {
    const size = options.brokers ?? 3;
    if (!Number.isSafeInteger(size) || size < 1 || size > BROKERS_MAX) throw new RangeError(`startCluster: brokers must be 1..${BROKERS_MAX}, got ${size}`);
    const cluster = new EmbeddedCluster(size, options);
    try {
      await Promise.all(Array.from({ length: size }, (_, index) => cluster.startBroker(index + 1)));
      await cluster.waitForMembership();
    } catch (error) {
      await cluster.stop().catch(() => undefined);
      throw error;
    }
    return cluster;
  }

  /** The live brokers' addresses, for a client's bootstrap list. */
  get bootstrapServers(): string {
    return [...this.brokers.values()].map((broker) => `127.0.0.1:${broker.port}`).join(",");
  }

  /** Node ids of the brokers that run now. */
  get liveBrokerIds(): number[] {
    return [...this.brokers.keys()].sort((a, b) => a - b);
  }

  /** The running Broker with this node id (throws if it is killed or stopped). */
  broker(nodeId: number): Broker {
    const broker = this.brokers.get(nodeId);
    if (!broker) throw new Error(`broker ${nodeId} is not running (brokers: ${this.liveBrokerIds.join(",") || "none"})`);
    return broker;
  }

  /** The node id of the current controller, -1 while there is none. */
  controllerId(): number {
    for (const broker of this.brokers.values()) {
      const id = broker.membership.view.controllerId();
      if (id >= 0 && this.brokers.has(id)) return id;
    }
    return -1;
  }

  dataDirOf(nodeId: number): string {
    return join(this.root, `broker-${nodeId}`);
  }

  /**
   * A crash: the broker's metadata session drops (its lease and registration go at once, as a dead
   * process's lease expires), its sockets close, nothing is flushed and no clean-shutdown marker is written.
   */
  async kill(nodeId: number): Promise<void> {
    const broker = this.broker(nodeId);
    this.brokers.delete(nodeId);
    this.store.disconnect(this.session(nodeId));
    await broker.abort();
  }

  /** Controlled shutdown of one broker (leadership moved away first, logs flushed). */
  async stopBroker(nodeId: number): Promise<void> {
    const broker = this.broker(nodeId);
    this.brokers.delete(nodeId);
    await broker.stop();
  }

  /** Starts a killed or stopped broker again on its data dir and port; a running one is stopped first. */
  async restart(nodeId: number): Promise<Broker> {
    if (!Number.isSafeInteger(nodeId) || nodeId < 1 || nodeId > this.size) throw new RangeError(`restart: no broker ${nodeId} in a cluster of ${this.size}`);
    if (this.brokers.has(nodeId)) await this.stopBroker(nodeId);
    const broker = await this.startBroker(nodeId);
    await this.waitForMembership();
    return broker;
  }

  /** Until every running broker sees every running broker and the same live controller. */
  async waitForMembership(timeoutMs = READY_TIMEOUT_MS): Promise<void> {
    const deadline = performance.now() + timeoutMs;
    for (;;) {
      const live = this.liveBrokerIds.join();
      const settled = [...this.brokers.values()].every((broker) => {
        const view = broker.membership.view;
        return view.liveBrokers().map((info) => info.nodeId).join() === live && this.brokers.has(view.controllerId());
      });
      if (settled) return;
      if (performance.now() > deadline) throw new Error(`embedded cluster: brokers [${live}] did not agree on membership and a controller within ${timeoutMs} ms`);
      await Bun.sleep(READY_POLL_MS);
    }
  }

  /** Stops every broker cleanly, drops the metadata store and removes the temporary data dir. */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    const running = [...this.brokers.values()];
    this.brokers.clear();
    // A temporary cluster goes as a whole, so moving leaders around first is wasted time; kept data dirs get
    // a clean stop so that the next start does not recover.
    await Promise.all(running.map((broker) => (this.removeRootOnStop ? broker.abort() : broker.stop())));
    this.store.close();
    if (this.removeRootOnStop) rmSync(this.root, { recursive: true, force: true });
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.stop();
  }

  private session(nodeId: number): string {
    return `broker-${nodeId}`;
  }

  private async startBroker(nodeId: number): Promise<Broker> {
    if (this.stopped) throw new Error("embedded cluster is stopped");
    const dataDir = this.dataDirOf(nodeId);
    mkdirSync(dataDir, { recursive: true });
    this.store.reconnect(this.session(nodeId));
    const replication = String(Math.min(3, this.size));
    const broker = await startBroker({
      nodeId,
      host: "127.0.0.1",
      port: this.ports.get(nodeId) ?? 0,
      dataDir,
      clusterId: this.store.name,
      etcdEndpoints: [this.store.endpoint(this.session(nodeId))],
      log: this.options.log ?? (() => undefined),
      properties: {
        ...EMBEDDED_CLUSTER_PROPERTIES,
        "offsets.topic.replication.factor": replication,
        "transaction.state.log.replication.factor": replication,
        "transaction.state.log.min.isr": String(Math.min(2, this.size)),
        ...this.options.properties,
      },
      ...this.options.brokerOptions?.(nodeId),
    });
    this.brokers.set(nodeId, broker);
    this.ports.set(nodeId, broker.port);
    return broker;
  }
}

/** Starts N brokers in this process (default 3) and resolves once they agree on membership and a controller. */
export function startCluster(options: ClusterOptions = {}): Promise<EmbeddedCluster> {
  return EmbeddedCluster.start(options);
}
