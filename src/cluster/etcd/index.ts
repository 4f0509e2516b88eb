// etcd v3 over the JSON gateway: see docs/etcd.md.
export { EtcdClient, ETCD_CLIENT_DEFAULTS, type EtcdClientOptions } from "./client.ts";
export type { EtcdCredentials, EtcdTls } from "./gateway-transport.ts";
export { etcdClientOptions, ETCD_SECURITY_SETTINGS } from "./settings.ts";
export { EtcdError, GrpcCode, type EtcdErrorKind } from "./errors.ts";
export type { KeyValue } from "./gateway-json.ts";
export { LeaseKeeper, LEASE_KEEPER_DEFAULTS, type LeaseKeeperOptions } from "./lease-keeper.ts";
export type { Compare, CompareOp, Op, OpResponse, TxnRequest, TxnResult } from "./txn.ts";
export { Watch, type WatchEvent, type WatchOptions } from "./watch.ts";
export type { MetadataKv, MetadataWatch } from "./kv.ts";
