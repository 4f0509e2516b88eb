// A network shard thread (num.network.shards > 1): sockets only; every request goes to the main thread.
import type { ToShard } from "./messages.ts";
import { startNetworkShard, type NetworkShard } from "./network-shard.ts";

declare const self: Worker;

let shard: NetworkShard | null = null;

self.onmessage = (event: MessageEvent<ToShard>) => {
  const message = event.data;
  if (message.type === "start") shard = startNetworkShard(message);
  else shard?.onMessage(message);
};
