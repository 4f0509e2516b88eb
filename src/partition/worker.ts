// A partition worker thread: a thin adapter from messages to the PartitionOwner that holds the state of
// the partitions hashed to this worker. Each command names an operation of the table in messages.ts.
declare const self: Worker;

import { answerWorkerCommand, type WorkerCommand, type WorkerEvent, type WorkerReply } from "./messages.ts";
import { PartitionOwner } from "./partition-owner.ts";
import { slowFsyncsBy } from "../log/file-system.ts";

function post(message: WorkerReply | WorkerEvent): void {
  self.postMessage(message);
}

const owner = new PartitionOwner({ log: (message) => post({ event: "log", message }) });
owner.start();

self.onmessage = (event: MessageEvent<WorkerCommand | { fsyncDelayCell: Int32Array }>) => {
  if ("fsyncDelayCell" in event.data) return slowFsyncsBy(event.data.fsyncDelayCell);
  answerWorkerCommand(owner, event.data, post, "partition worker");
};
