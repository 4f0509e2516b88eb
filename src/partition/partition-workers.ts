// The socket thread's handle on the partition workers: routes each partition's work to the one worker
// that owns it, batching the items of one request per worker into one message. Its methods come from the
// table of worker operations (messages.ts): one per partition operation, except produce (below).
import {
  workerOperations,
  type OperationItem,
  type OperationResult,
  type PartitionKey,
  type PartitionOperation,
  type PartitionOperationName,
  type ProduceItem,
  type ProduceResult,
  type WorkerCommand,
  type WorkerEvent,
  type WorkerReply,
  type WorkerStats,
  type PartitionLogMetrics,
  type FsyncLatency,
  type WorkerWideOperationName,
} from "./messages.ts";
import { producePool, type PooledBytes } from "./buffer-pool.ts";
import { InlinePartitionWorker } from "./inline-worker.ts";

interface Pending {
  resolve: (result: unknown) => void;
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

/** The owner (worker index) of a partition among `owners`: the main thread and listening workers agree on it. */
export function ownerOfPartition(topic: string, partition: number, owners: number): number {
  return (topicHash(topic) + partition) % owners;
}

/** A method per partition operation of the table: items in, one result per item (in item order) out. */
type PartitionOperationCalls = {
  [Name in PartitionOperationName]: (items: OperationItem<Name>[]) => Promise<OperationResult<Name>[]>;
};

/** Produce has its own method: it decides how the records cross (shared, transferred, or pooled copies). */
type GeneratedCalls = Omit<PartitionOperationCalls, "produce">;

// The generated methods, declared for the compiler; they are installed on the prototype by the class's
// static block from the same table.
export interface PartitionWorkers extends GeneratedCalls {}

/** What PartitionWorkers needs of a worker: a thread (Worker) or the socket thread's own owner (inline-worker.ts). */
type WorkerPort = {
  postMessage(message: unknown, transfer: ArrayBuffer[]): void;
  terminate(): void;
  onmessage: ((event: MessageEvent<WorkerReply | WorkerEvent>) => void) | null;
  onerror: ((event: ErrorEvent) => void) | null;
};

export class PartitionWorkers {
  private readonly workers: WorkerPort[] = [];
  /** Owners partitions are spread over: the workers, or the one inline owner when count is 0. */
  private readonly owners: number;
  private readonly pending = new Map<number, Pending>();
  private nextCommandId = 1;
  private failed: Error | null = null;
  /** Milliseconds every fsync in the workers waits first (the slow-fsync test fault, src/faults/); 0: none. */
  readonly fsyncDelayMs = new Int32Array(new SharedArrayBuffer(4));

  /**
   * count 0: no worker thread; the calling thread owns every partition (num.partition.workers=0).
   * `workerScript`: another entry for the worker threads, one that runs worker.ts's commands and more (a
   * partition worker that is also a network shard, server/shards/owner-shard-thread.ts).
   */
  constructor(
    readonly count: number,
    private readonly log: (message: string) => void,
    workerScript: string = new URL("./worker.ts", import.meta.url).href,
  ) {
    this.owners = Math.max(1, count);
    for (let index = 0; index < this.owners; index++) {
      const worker: WorkerPort = count === 0 ? new InlinePartitionWorker() : new Worker(workerScript);
      worker.onmessage = (event: MessageEvent<WorkerReply | WorkerEvent>) => this.onMessage(event.data);
      worker.onerror = (event) => this.onWorkerError(index, event);
      worker.postMessage({ fsyncDelayCell: this.fsyncDelayMs }, []);
      this.workers.push(worker);
    }
  }

  /** The worker threads themselves (none when count is 0), for a caller that also talks to them (listening workers). */
  threads(): Worker[] {
    return this.count === 0 ? [] : (this.workers as Worker[]);
  }

  workerFor(topic: string, partition: number): number {
    return ownerOfPartition(topic, partition, this.owners);
  }

  private onMessage(message: WorkerReply | WorkerEvent): void {
    if ("event" in message) {
      if (message.event === "log") this.log(message.message);
      return;
    }
    const pending = this.pending.get(message.id);
    if (!pending) return;
    this.pending.delete(message.id);
    if (message.ok) pending.resolve(message.result);
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

  /** Sends one partition operation's items to one worker; its answer is one result per item. */
  private call<Name extends PartitionOperationName>(workerIndex: number, op: Name, items: OperationItem<Name>[], transfer: ArrayBuffer[] = []): Promise<OperationResult<Name>[]> {
    return this.post(workerIndex, { op, items } as Omit<WorkerCommand, "id">, transfer) as Promise<OperationResult<Name>[]>;
  }

  private post(workerIndex: number, command: Omit<WorkerCommand, "id">, transfer: ArrayBuffer[]): Promise<unknown> {
    if (this.failed) return Promise.reject(this.failed);
    const id = this.nextCommandId++;
    return new Promise<unknown>((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      this.workers[workerIndex]!.postMessage({ ...command, id }, transfer);
    });
  }

  static {
    for (const name of Object.keys(workerOperations) as (keyof typeof workerOperations)[]) {
      const operation = workerOperations[name];
      if (operation.kind !== "partition" || name === "produce") continue;
      const transfer = (operation as PartitionOperation<PartitionKey, unknown>).transfer;
      Object.defineProperty(PartitionWorkers.prototype, name, {
        configurable: true,
        writable: true,
        value(this: PartitionWorkers, items: PartitionKey[]): Promise<unknown[]> {
          return this.scatter(items, (index, group) => this.post(index, { op: name, items: group } as Omit<WorkerCommand, "id">, transfer?.(group) ?? []) as Promise<unknown[]>);
        },
      });
    }
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

  /** Runs a worker-wide operation on every worker; one result per worker. */
  private broadcast<Name extends WorkerWideOperationName>(op: Name): Promise<OperationResult<Name>[]> {
    return Promise.all(this.workers.map((_, index) => this.post(index, { op }, []) as Promise<OperationResult<Name>>));
  }

  /**
   * Appends record batches. Records in a SharedArrayBuffer (a pooled Produce frame) are posted as they
   * are: the worker appends from the very bytes the socket read went into. `ownedBuffer` is an ArrayBuffer
   * no one else uses (the request frame's): when every item lives in it and goes to one worker it is
   * transferred whole. Otherwise each item's records are copied into a pooled block (warm memory), which
   * goes back to the pool when the worker has answered.
   */
  async produce(items: ProduceItem[], ownedBuffer: ArrayBuffer | null): Promise<ProduceResult[]> {
    // The owner is on this thread: it reads the records where they are, before the reply frees them.
    if (this.count === 0) return this.scatter(items, (index, group) => this.call(index, "produce", group));
    const workerIndexes = new Set(items.map((item) => this.workerFor(item.topic, item.partition)));
    const transferWhole = ownedBuffer !== null && workerIndexes.size === 1 && items.every((item) => item.records.buffer === ownedBuffer);
    const copies: PooledBytes[] = [];
    const results = await this.scatter(items, (index, group) => {
      if (transferWhole) return this.call(index, "produce", group, [ownedBuffer!]);
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
      return this.call(index, "produce", posted, transfer);
    });
    // Released only once every worker answered. When one failed, another may still be reading its
    // copies: those are then left to the GC instead of going back to the pool.
    for (const pooled of copies) producePool.release(pooled);
    return results;
  }

  /** Produce-path and log cleaner counters of every worker, summed. */
  async stats(): Promise<WorkerStats> {
    const total: WorkerStats = { appendedItems: 0, appendDrains: 0, groupCommits: 0, logFlushes: 0, flushWaits: 0, unflushedMessages: 0, cleanerPasses: 0, cleanerBytesRead: 0, cleanerBytesWritten: 0 };
    const perWorker = await this.broadcast("stats");
    for (const stats of perWorker) for (const key of Object.keys(total) as (keyof WorkerStats)[]) total[key] += stats[key];
    return total;
  }

  /** Every worker's partitions: offsets, segments and bytes on disk (for /metrics). */
  async logMetrics(): Promise<PartitionLogMetrics[]> {
    return (await this.broadcast("logMetrics")).flat();
  }

  /** Every worker's fdatasync latency buckets, summed (for /metrics). */
  async fsyncLatency(): Promise<FsyncLatency> {
    const total: FsyncLatency = { buckets: [], count: 0, sumSeconds: 0 };
    for (const latency of await this.broadcast("fsyncLatency")) {
      latency.buckets.forEach((count, index) => (total.buckets[index] = (total.buckets[index] ?? 0) + count));
      total.count += latency.count;
      total.sumSeconds += latency.sumSeconds;
    }
    return total;
  }

  async flush(): Promise<void> {
    await this.broadcast("flush");
  }

  /**
   * Stops the workers at once: nothing flushed, trimmed or closed, as when the process dies (embedded test
   * clusters' kill). What was still asked of them fails, as for a worker that died: a caller awaiting an answer
   * (a replica fetcher's append, an acks=all produce) must not wait forever.
   */
  terminate(): void {
    for (const worker of this.workers) worker.terminate();
    this.failed ??= new Error("the partition workers were stopped");
    for (const pending of this.pending.values()) pending.reject(this.failed);
    this.pending.clear();
  }

  /** Closes every log cleanly (files trimmed and fsynced), then stops the workers. */
  async close(): Promise<void> {
    try {
      if (!this.failed) await this.broadcast("close");
    } finally {
      for (const worker of this.workers) worker.terminate();
    }
  }
}
