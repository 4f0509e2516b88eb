// num.partition.workers=0: the partitions are owned by the socket thread itself, Seastar-style (the thread that
// reads a request also appends it), so a produce or a fetch read crosses no thread. PartitionWorkers talks to
// this object as to a Worker; commands run on this thread's event loop and answers come back on a later
// microtask, as a worker's would. What a worker does in parallel (appends, CRC checks, fsyncs, the cleaner)
// then shares the socket thread: for small machines and the latency tail, not for throughput (docs/ARCHITECTURE.md).
import { answerWorkerCommand, type WorkerCommand, type WorkerEvent, type WorkerReply } from "./messages.ts";
import { PartitionOwner } from "./partition-owner.ts";
import { slowFsyncsBy } from "../log/file-system.ts";

export class InlinePartitionWorker {
  onmessage: ((event: MessageEvent<WorkerReply | WorkerEvent>) => void) | null = null;
  onerror: ((event: ErrorEvent) => void) | null = null;
  // Appends are written as soon as the handler yields: waiting for the next turn here waits for every other
  // ready socket of the broker (measured: the slowest 1% of produces at 20,000 records/s 3.3 -> 1.4 ms).
  private readonly owner = new PartitionOwner({ log: (message) => this.deliver({ event: "log", message }), drainAppends: "now" });
  private halted = false;

  constructor() {
    this.owner.start();
  }

  /** The objects are not cloned: the owner neither keeps nor changes a command's items after its answer, nor its answers after giving them. */
  postMessage(message: WorkerCommand | { fsyncDelayCell: Int32Array }, _transfer?: ArrayBuffer[]): void {
    if (this.halted) return;
    if ("fsyncDelayCell" in message) {
      slowFsyncsBy(message.fsyncDelayCell);
      return;
    }
    answerWorkerCommand(this.owner, message, (answer) => this.deliver(answer), "partition owner");
  }

  /** As a killed worker: timers stop, nothing is flushed or closed (embedded test clusters' kill). */
  terminate(): void {
    this.halted = true;
    this.owner.halt();
  }

  private deliver(message: WorkerReply | WorkerEvent): void {
    if (this.halted) return;
    this.onmessage?.({ data: message } as MessageEvent<WorkerReply | WorkerEvent>);
  }
}
