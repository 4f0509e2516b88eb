// The socket thread's handle on the partition workers: routes each partition's work to the one worker
// that owns it, batching the items of one request per worker into one message.
import type {
  EpochEndOffsetItem,
  EpochEndOffsetResult,
  OffsetsResult,
  OpenPartitionCommand,
  PartitionKey,
  ProduceItem,
  ProduceResult,
  ReadItem,
  ReadResult,
  ReplicaAppendItem,
  TimestampLookupItem,
  TimestampLookupResult,
  TruncateItem,
  WorkerCommand,
  WorkerEvent,
  WorkerReply,
  WorkerStats,
} from "./messages.ts";
import { producePool, type PooledBytes } from "../server/buffer-pool.ts";

type DistributiveOmit<T, K extends keyof never> = T extends unknown ? Omit<T, K> : never;
type CommandBody = DistributiveOmit<WorkerCommand, "id">;

interface Pending {
  resolve: (results: unknown[]) => void;
  reject: (error: Error) => void;
}

/** FNV-1a over the topic name; partitions of one topic then rotate over the workers. */
function topicHash(topic: string): number {
  let hash = 0x811c9dc5;
  for (let i = 0; i < topic.length; i++) {
    hash ^= topic.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193);
  }
  return hash >>> 0;
}

export class PartitionWorkers {
  private readonly workers: Worker[] = [];
  private readonly pending = new Map<number, Pending>();
  private nextCommandId = 1;
  private failed: Error | null = null;

  constructor(
    readonly count: number,
    private readonly log: (message: string) => void,
  ) {
    for (let index = 0; index < count; index++) {
      const worker = new Worker(new URL("./worker.ts", import.meta.url).href);
      worker.onmessage = (event: MessageEvent<WorkerReply | WorkerEvent>) => this.onMessage(event.data);
      worker.onerror = (event) => this.onWorkerError(index, event);
      this.workers.push(worker);
    }
  }

  workerFor(topic: string, partition: number): number {
    return (topicHash(topic) + partition) % this.count;
  }

  private onMessage(message: WorkerReply | WorkerEvent): void {
    if ("event" in message) {
      if (message.event === "log") this.log(message.message);
      return;
    }
    const pending = this.pending.get(message.id);
    if (!pending) return;
    this.pending.delete(message.id);
    if (message.ok) pending.resolve(message.results);
    else pending.reject(new Error(message.error));
  }

  private onWorkerError(index: number, event: ErrorEvent): void {
    // A worker that dies takes its partitions' in-memory state with it; every later call fails with a
    // storage error until the broker restarts and recovers the logs from disk.
    this.failed = new Error(`partition worker ${index} failed: ${event.message}`);
    this.log(this.failed.message);
    for (const pending of this.pending.values()) pending.reject(this.failed);
    this.pending.clear();
  }

  private call<T>(workerIndex: number, command: CommandBody, transfer: ArrayBuffer[] = []): Promise<T[]> {
    if (this.failed) return Promise.reject(this.failed);
    const id = this.nextCommandId++;
    return new Promise<T[]>((resolve, reject) => {
      this.pending.set(id, { resolve: resolve as (results: unknown[]) => void, reject });
      this.workers[workerIndex]!.postMessage({ ...command, id }, transfer);
    });
  }

  /** Splits items by owning worker, sends one message per worker, and returns results in item order. */
  private async scatter<I extends PartitionKey, R>(
    items: readonly I[],
    send: (workerIndex: number, items: I[]) => Promise<R[]>,
  ): Promise<R[]> {
    if (items.length === 0) return [];
    const byWorker = new Map<number, { items: I[]; positions: number[] }>();
    items.forEach((item, position) => {
      const workerIndex = this.workerFor(item.topic, item.partition);
      let group = byWorker.get(workerIndex);
      if (!group) byWorker.set(workerIndex, (group = { items: [], positions: [] }));
      group.items.push(item);
      group.positions.push(position);
    });
    const results = new Array<R>(items.length);
    await Promise.all(
      [...byWorker].map(async ([workerIndex, group]) => {
        const groupResults = await send(workerIndex, group.items);
        group.positions.forEach((position, i) => (results[position] = groupResults[i]!));
      }),
    );
    return results;
  }

  private broadcast(command: CommandBody): Promise<unknown[][]> {
    return Promise.all(this.workers.map((_, index) => this.call(index, command)));
  }

  open(partitions: OpenPartitionCommand[]): Promise<OffsetsResult[]> {
    return this.scatter(partitions, (index, group) => this.call<OffsetsResult>(index, { op: "open", partitions: group }));
  }

  configure(partitions: OpenPartitionCommand[]): Promise<unknown[]> {
    return this.scatter(partitions, (index, group) => this.call(index, { op: "configure", partitions: group }));
  }

  delete(partitions: PartitionKey[]): Promise<unknown[]> {
    return this.scatter(partitions, (index, group) => this.call(index, { op: "delete", partitions: group }));
  }

  /**
   * Appends record batches. Records in a SharedArrayBuffer (a pooled Produce frame) are posted as they
   * are: the worker appends from the very bytes the socket read went into. `ownedBuffer` is an ArrayBuffer
   * no one else uses (the request frame's): when every item lives in it and goes to one worker it is
   * transferred whole. Otherwise each item's records are copied into a pooled block (warm memory), which
   * goes back to the pool when the worker has answered.
   */
  async produce(items: ProduceItem[], ownedBuffer: ArrayBuffer | null): Promise<ProduceResult[]> {
    const workerIndexes = new Set(items.map((item) => this.workerFor(item.topic, item.partition)));
    const transferWhole = ownedBuffer !== null && workerIndexes.size === 1 && items.every((item) => item.records.buffer === ownedBuffer);
    const copies: PooledBytes[] = [];
    const results = await this.scatter(items, (index, group) => {
      if (transferWhole) return this.call<ProduceResult>(index, { op: "produce", items: group }, [ownedBuffer!]);
      const transfer: ArrayBuffer[] = [];
      const posted = group.map((item) => {
        if (item.records.buffer instanceof SharedArrayBuffer) return item;
        const pooled = producePool.acquire(item.records.byteLength);
        if (pooled) {
          pooled.bytes.set(item.records);
          copies.push(pooled);
          return { ...item, records: pooled.bytes };
        }
        // Not records.slice(): on a Buffer (what Bun's socket hands us) slice() is a view, and
        // transferring its buffer would detach the whole read, including other requests' bytes.
        const copy = Uint8Array.prototype.slice.call(item.records) as Uint8Array;
        transfer.push(copy.buffer as ArrayBuffer);
        return { ...item, records: copy };
      });
      return this.call<ProduceResult>(index, { op: "produce", items: posted }, transfer);
    });
    // Released only once every worker answered. When one failed, another may still be reading its
    // copies: those are then left to the GC instead of going back to the pool.
    for (const pooled of copies) producePool.release(pooled);
    return results;
  }

  appendReplica(items: ReplicaAppendItem[]): Promise<ProduceResult[]> {
    return this.scatter(items, (index, group) => {
      const transfer = [...new Set(group.map((item) => item.records.buffer as ArrayBuffer))];
      return this.call<ProduceResult>(index, { op: "appendReplica", items: group }, transfer);
    });
  }

  read(items: ReadItem[]): Promise<ReadResult[]> {
    return this.scatter(items, (index, group) => this.call<ReadResult>(index, { op: "read", items: group }));
  }

  offsets(items: PartitionKey[]): Promise<OffsetsResult[]> {
    return this.scatter(items, (index, group) => this.call<OffsetsResult>(index, { op: "offsets", items: group }));
  }

  offsetForTimestamp(items: TimestampLookupItem[]): Promise<TimestampLookupResult[]> {
    return this.scatter(items, (index, group) => this.call<TimestampLookupResult>(index, { op: "offsetForTimestamp", items: group }));
  }

  truncate(items: TruncateItem[]): Promise<OffsetsResult[]> {
    return this.scatter(items, (index, group) => this.call<OffsetsResult>(index, { op: "truncate", items: group }));
  }

  /** Empties the log and restarts it at `offset` (a follower far behind the leader's log start). */
  truncateFully(items: TruncateItem[]): Promise<OffsetsResult[]> {
    return this.scatter(items, (index, group) => this.call<OffsetsResult>(index, { op: "truncateFully", items: group }));
  }

  /** The latest leader epoch in each log's epoch cache (-1 if none) and the log end offset. */
  latestEpoch(items: PartitionKey[]): Promise<EpochEndOffsetResult[]> {
    return this.scatter(items, (index, group) => this.call<EpochEndOffsetResult>(index, { op: "latestEpoch", items: group }));
  }

  /** A new leader records the epoch it starts at the log end offset (KIP-101). */
  assignEpoch(items: EpochEndOffsetItem[]): Promise<OffsetsResult[]> {
    return this.scatter(items, (index, group) => this.call<OffsetsResult>(index, { op: "assignEpoch", items: group }));
  }

  deleteRecords(items: TruncateItem[]): Promise<OffsetsResult[]> {
    return this.scatter(items, (index, group) => this.call<OffsetsResult>(index, { op: "deleteRecords", items: group }));
  }

  epochEndOffset(items: EpochEndOffsetItem[]): Promise<EpochEndOffsetResult[]> {
    return this.scatter(items, (index, group) => this.call<EpochEndOffsetResult>(index, { op: "epochEndOffset", items: group }));
  }

  /** Produce-path and log cleaner counters of every worker, summed. */
  async stats(): Promise<WorkerStats> {
    const total: WorkerStats = { appendedItems: 0, appendDrains: 0, groupCommits: 0, logFlushes: 0, flushWaits: 0, unflushedMessages: 0, cleanerPasses: 0, cleanerBytesRead: 0, cleanerBytesWritten: 0 };
    const perWorker = await Promise.all(this.workers.map((_, index) => this.call<WorkerStats>(index, { op: "stats" })));
    for (const [stats] of perWorker) for (const key of Object.keys(total) as (keyof WorkerStats)[]) total[key] += stats![key];
    return total;
  }

  async flush(): Promise<void> {
    await this.broadcast({ op: "flush" });
  }

  /** Closes every log cleanly (files trimmed and fsynced), then stops the workers. */
  async close(): Promise<void> {
    try {
      if (!this.failed) await this.broadcast({ op: "close" });
    } finally {
      for (const worker of this.workers) worker.terminate();
    }
  }
}
