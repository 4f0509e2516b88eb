// Types of bunka/node (node/index.js): Bunka from Node 20+, each broker or cluster in a Bun child process.

export interface NodeBrokerOptions {
  /** Data dir; default a temporary one, removed at stop. */
  dataDir?: string;
  /** Port on 127.0.0.1; default 0 (any free port). */
  port?: number;
  nodeId?: number;
  /** Broker properties (Kafka names), e.g. { "num.partitions": "3" }. */
  properties?: Record<string, string | number | boolean>;
  /** Pass the broker's log lines to this process's stderr. */
  log?: boolean;
}

export interface NodeClusterOptions {
  /** Number of brokers, node ids 1..N (default 3). */
  brokers?: number;
  dataDir?: string;
  keepDataDir?: boolean;
  properties?: Record<string, string | number | boolean>;
  log?: boolean;
}

/** A fault spec as src/faults/fault-spec.ts and the README's fault reference describe it, e.g. { type: "latency", api: "Produce", delayMs: 2000 }. */
export interface FaultSpec {
  type: "error" | "latency" | "drop-response" | "truncate-response" | "close-connections" | "pause" | "refuse-connections" | "partition-offline" | "move-leader" | "cut-replication" | "slow-fsync";
  [parameter: string]: unknown;
}

export interface ArmedFault {
  id: number;
  spec: FaultSpec;
  remaining: number | null;
  expiresAtMs: number | null;
  /** In a cluster: the broker it is armed on. */
  nodeId?: number;
}

export interface NodeFaults {
  /** Arms a fault (in a cluster: on the brokers it concerns, or on `broker`); a one-time fault happens now. */
  add(fault: FaultSpec, options?: { broker?: number }): Promise<unknown>;
  list(): Promise<ArmedFault[]>;
  /** Clears one fault by id, or all; resolves to how many went. */
  clear(id?: number): Promise<number>;
}

export interface NodeBroker extends AsyncDisposable {
  /** Scriptable faults, on unless the broker was started with faults.enable=false. */
  readonly faults: NodeFaults;
  /** "127.0.0.1:port[,…]" for a client's bootstrap list. */
  readonly bootstrapServers: string;
  readonly brokerIds: number[];
  readonly port?: number;
  readonly dataDir?: string;
  stop(options?: { keepDataDir?: boolean }): Promise<void>;
}

export interface NodeCluster extends NodeBroker {
  /** The controller when the cluster was last described (start, kill, restart). */
  readonly controllerId: number;
  /** A crash of one broker: its lease and sockets go at once, nothing is flushed. */
  kill(nodeId: number): Promise<void>;
  /** Starts a killed broker again on its data dir and port. */
  restart(nodeId: number): Promise<void>;
}

export const BOOTSTRAP_ENV: "BUNKA_BOOTSTRAP_SERVERS";
/** The Bun binary the launcher runs: BUNKA_BUN, else the `bun` npm package's, else `bun` on PATH. */
export function bunBinary(): string;
export function startBroker(options?: NodeBrokerOptions): Promise<NodeBroker>;
export function startCluster(options?: NodeClusterOptions): Promise<NodeCluster>;
/** Global setup: one broker for the run, its address in BUNKA_BOOTSTRAP_SERVERS for the test workers. */
export function startSharedBroker(options?: NodeBrokerOptions): Promise<NodeBroker>;
/** Inside a test: the shared broker's address (throws if global setup did not start one). */
export function bootstrapServers(): string;
export function uniqueNames(label?: string): { topic(suffix?: string): string; group(suffix?: string): string };
