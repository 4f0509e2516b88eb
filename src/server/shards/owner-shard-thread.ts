// A partition worker that is also a network shard (partition.workers.listen): one thread owns the partitions
// hashed to it and accepts connections like any shard. The main thread's partition commands ("op") run on
// its PartitionOwner exactly as in worker.ts; shard messages ("type") drive its NetworkShard; and a produce or
// a consumer's fetch that arrives on one of its own connections for partitions it owns is answered here
// (local-produce.ts, local-fetch.ts), the Seastar/Redpanda shape: the thread that reads a request also serves it.
declare const self: Worker;

import { ApiKey } from "../../protocol/generated/index.ts";
import { answerWorkerCommand, type WorkerCommand, type WorkerEvent, type WorkerReply } from "../../partition/messages.ts";
import { PartitionOwner } from "../../partition/partition-owner.ts";
import { slowFsyncsBy } from "../../log/file-system.ts";
import type { ToShard } from "./messages.ts";
import { noticePoster } from "./notice-wakes.ts";
import { log as shardLog, startNetworkShard, type NetworkShard } from "./network-shard.ts";
import type { LocalRequests } from "./local-requests.ts";
import { LocalProduce } from "./local-produce.ts";
import { LocalAppends, LocalFetch } from "./local-fetch.ts";
import { LEADERSHIP_GENERATION, LocalPartitionView } from "./local-view.ts";
import type { Frame } from "../frame-reader.ts";

function postWorker(message: WorkerReply | WorkerEvent): void {
  self.postMessage(message);
}

const appends = new LocalAppends();
// Appends are written as soon as their caller yields, as on the socket thread with num.partition.workers=0: this
// thread's next turn comes only after every ready socket of its connections was served (measured there: the
// slowest 1% of produces 3.3 -> 1.4 ms at 20,000 records/s).
const owner = new PartitionOwner({
  log: (message) => postWorker({ event: "log", message }),
  drainAppends: "now",
  onAppended: (topic, partition, logEndOffset) => appends.onAppended(topic, partition, logEndOffset),
});
owner.start();

let shard: NetworkShard | null = null;
let view: LocalPartitionView | null = null;
let produce: LocalProduce | null = null;

type Incoming = WorkerCommand | { fsyncDelayCell: Int32Array } | ToShard;

self.onmessage = (event: MessageEvent<Incoming>) => {
  const message = event.data;
  if ("fsyncDelayCell" in message) return slowFsyncsBy(message.fsyncDelayCell);
  if ("op" in message) return answerWorkerCommand(owner, message, postWorker, "partition worker");
  switch (message.type) {
    case "start": {
      const notices = message.notices;
      if (!notices) throw new Error(`listening partition worker ${message.shard - 1}: started without a notices port`);
      // Shard s is worker s - 1 (the main thread is shard 0); the workers are the listening threads after it.
      if (!message.localFlags) throw new Error(`listening partition worker ${message.shard - 1}: started without its flags`);
      view = new LocalPartitionView(owner, message.shard - 1, message.listeningWorkers ?? 1, message.localFlags);
      owner.fenceLeaderAppends(message.localFlags, LEADERSHIP_GENERATION);
      if (!message.noticeWakes) throw new Error(`listening partition worker ${message.shard - 1}: started without its wake-up port`);
      const notify = noticePoster(notices, message.noticeWakes.port, message.noticeWakes.cell);
      const localProduce = new LocalProduce(view, notify, shardLog);
      produce = localProduce;
      const fetch = new LocalFetch(view, appends, notify, shardLog);
      const local: LocalRequests = {
        plan: (connection, frame) => (apiKeyOf(frame) === ApiKey.Produce ? localProduce : fetch).plan(connection, frame),
        servePeer: (frame, views) => (apiKeyOf(frame) === ApiKey.Produce ? localProduce : fetch).servePeer(frame, views),
        planSplitFetch: (connection, frame, peers) => fetch.planSplit(connection, frame, peers),
        fetchPart: (request, apiVersion, views) => fetch.fetchPart(request, apiVersion, views),
        watch: (partitions, wake) => appends.watchers.watch(partitions, wake),
      };
      shard = startNetworkShard(message, local);
      return;
    }
    case "partitions":
      view?.update(message.partitions);
      appends.useSnapshot(message.partitions);
      return;
    case "highWatermarks":
      appends.publishHighWatermarks(message.entries);
      return;
    case "committed":
      produce?.committed(message.id, message.errorCodes);
      return;
    default:
      shard?.onMessage(message);
  }
};

function apiKeyOf(frame: Frame): number {
  return frame.payload.byteLength >= 2 ? (frame.payload[0]! << 8) | frame.payload[1]! : -1;
}
