// A partition worker that is also a network shard (partition.workers.listen): one thread owns the partitions
// hashed to it and accepts connections like any shard. The main thread's partition commands ("op") run on
// its PartitionOwner exactly as in worker.ts; shard messages ("type") drive its NetworkShard; and a produce
// that arrives on one of its own connections for partitions it owns is appended and answered here
// (local-produce.ts), the Seastar/Redpanda shape: the thread that reads a request also appends it.
declare const self: Worker;

import { runWorkerCommand, type WorkerCommand, type WorkerEvent, type WorkerReply } from "../../partition/messages.ts";
import { PartitionOwner } from "../../partition/partition-owner.ts";
import { slowFsyncsBy } from "../../log/file-system.ts";
import type { ToShard } from "./messages.ts";
import { log as shardLog, startNetworkShard, type NetworkShard } from "./network-shard.ts";
import { LocalProduce } from "./local-produce.ts";

function postWorker(message: WorkerReply | WorkerEvent): void {
  self.postMessage(message);
}

const owner = new PartitionOwner({ log: (message) => postWorker({ event: "log", message }) });
owner.start();

let shard: NetworkShard | null = null;
let local: LocalProduce | null = null;

type Incoming = WorkerCommand | { fsyncDelayCell: Int32Array } | ToShard;

self.onmessage = (event: MessageEvent<Incoming>) => {
  const message = event.data;
  if ("fsyncDelayCell" in message) return slowFsyncsBy(message.fsyncDelayCell);
  if ("op" in message) return runCommand(message);
  switch (message.type) {
    case "start": {
      // Shard s is worker s - 1 (the main thread is shard 0); the workers are the listening threads after it.
      const workers = message.listeningWorkers ?? 1;
      const notices = message.notices;
      if (!notices) throw new Error(`listening partition worker ${message.shard - 1}: started without a notices port`);
      local = new LocalProduce(owner, message.shard - 1, workers, (notice) => notices.postMessage(notice), shardLog);
      shard = startNetworkShard(message, local);
      return;
    }
    case "partitions":
      local?.update(message.partitions);
      return;
    default:
      shard?.onMessage(message);
  }
};

function runCommand(command: WorkerCommand): void {
  runWorkerCommand(owner, command).then(
    (result) => postWorker({ id: command.id, ok: true, result }),
    (error: unknown) => {
      postWorker({ event: "log", message: `partition worker: ${command.op} failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}` });
      postWorker({ id: command.id, ok: false, error: error instanceof Error ? error.message : String(error) });
    },
  );
}
