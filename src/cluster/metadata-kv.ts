// The metadata store a cluster broker talks to: etcd, or (tests only) an embedded cluster's in-process
// store when its one endpoint is memory://<store>/<session> (cluster/memory-store.ts).
import { EtcdClient, type EtcdClientOptions } from "./etcd/client.ts";
import type { MetadataKv } from "./etcd/kv.ts";
import { connectMemoryStore, isMemoryEndpoint } from "./memory-store.ts";

export function openMetadataKv(options: EtcdClientOptions): MetadataKv {
  return isMemoryEndpoint(options.endpoints) ? connectMemoryStore(options.endpoints) : new EtcdClient(options);
}
