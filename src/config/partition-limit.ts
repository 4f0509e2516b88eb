// max.broker.partitions (the name of Kafka's KIP-578): how many partition replicas one broker may hold.
// Kafka has no such bound and relies on operators sizing ulimit and vm.max_map_count; an audit showed two
// 10,000-partition CreateTopics exhausting the fds and then every restart failing with EMFILE. So the
// default is derived from what this machine can hold, once, when the first topic change needs it.
//
// What each open partition holds (log/segment.ts, docs/ARCHITECTURE.md): its active segment's write fd,
// and up to 3 maps (.log, .index, .timeindex). Inactive segments hold no fd and at most
// log.segment.open.max x 3 maps per worker (log/open-segments.ts). The socket thread keeps up to 4096
// fetch views (log/segment-views.ts), each possibly with a sendfile fd. Connections take their own
// fds (max.connections; half of the open-file limit by default).
import { readFileSync } from "node:fs";

/** Kernel default of vm.max_map_count, used when /proc cannot be read. */
const DEFAULT_MAX_MAP_COUNT = 65_530;
/** Maps the runtime itself uses (heap, code, thread stacks, libraries): about 1,000 measured, 4x margin. */
const RUNTIME_MAPS_RESERVE = 4096;
/** Fds the runtime itself uses (stdio, the listener, worker plumbing, checkpoint and snapshot writes). */
const RUNTIME_FDS_RESERVE = 512;
/**
 * Fetch views (log/segment-views.ts), a map and maybe an fd each, shared out over the threads that hold
 * connections: more threads do not multiply what the broker reserves, down to a floor per thread.
 */
const SEGMENT_VIEWS_TOTAL = 4096;
const SEGMENT_VIEWS_PER_THREAD_MIN = 1024;
/** Maps per open partition: the active segment's .log, .index and .timeindex. */
const MAPS_PER_PARTITION = 3;
/** Never derive less than this: a machine this small still serves a few hundred partitions. */
const MIN_DERIVED_PARTITIONS = 256;

export interface PartitionLimitInputs {
  partitionWorkers: number;
  /** log.segment.open.max, per worker. */
  segmentOpenMax: number;
  /** max.connections; 0 = half of the open-file limit (server/connection limits). */
  maxConnections: number;
  /** Threads holding connections (config's networkThreads): each keeps its own fetch views (default 1). */
  networkShards?: number;
}

export interface DerivedPartitionLimit {
  limit: number;
  /** How the limit was computed, for the broker log. */
  explanation: string;
}

/** How many fetch views each of `threads` connection-holding threads keeps at most. */
export function segmentViewsPerThread(threads: number): number {
  return Math.max(SEGMENT_VIEWS_PER_THREAD_MIN, Math.floor(SEGMENT_VIEWS_TOTAL / Math.max(1, threads)));
}

function readNumber(path: string, pattern: RegExp): number | null {
  try {
    const match = pattern.exec(readFileSync(path, "utf8"));
    return match ? Number(match[1]) : null;
  } catch {
    return null;
  }
}

/** The soft RLIMIT_NOFILE of this process, as it is now (raised at start when allowed). */
export function openFileLimit(): number | null {
  const limit = readNumber("/proc/self/limits", /^Max open files\s+(\d+|unlimited)/m);
  return limit === null || Number.isNaN(limit) ? null : limit;
}

export function derivedMaxBrokerPartitions(inputs: PartitionLimitInputs): DerivedPartitionLimit {
  const maxMapCount = readNumber("/proc/sys/vm/max_map_count", /^(\d+)/) ?? DEFAULT_MAX_MAP_COUNT;
  // An inline owner (num.partition.workers=0) keeps open segments like one worker.
  const workerMaps = Math.max(1, inputs.partitionWorkers) * inputs.segmentOpenMax * MAPS_PER_PARTITION;
  const threads = Math.max(1, inputs.networkShards ?? 1);
  const viewMaps = segmentViewsPerThread(threads) * threads;
  const byMaps = Math.floor((maxMapCount - RUNTIME_MAPS_RESERVE - viewMaps - workerMaps) / MAPS_PER_PARTITION);
  const fileLimit = openFileLimit();
  const connectionFds = inputs.maxConnections > 0 ? inputs.maxConnections : fileLimit === null ? 0 : Math.floor(fileLimit / 2);
  const byFds = fileLimit === null ? Number.MAX_SAFE_INTEGER : fileLimit - connectionFds - viewMaps - RUNTIME_FDS_RESERVE;
  const limit = Math.max(MIN_DERIVED_PARTITIONS, Math.min(byMaps, byFds));
  return {
    limit,
    explanation:
      `max.broker.partitions=${limit} derived from vm.max_map_count=${maxMapCount} (room for ${byMaps}) and ` +
      `the open-file limit ${fileLimit ?? "unknown"} less ${connectionFds} for connections (room for ${byFds === Number.MAX_SAFE_INTEGER ? "any" : byFds})`,
  };
}
