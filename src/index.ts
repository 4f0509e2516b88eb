// Bunka as a library: start a broker inside a Bun process (e.g. as the Kafka of a test suite).
export { startBroker, Broker, type BrokerOptions } from "./server/broker.ts";
export type { BrokerConfig } from "./config/broker-config.ts";
// Tests: embedded clusters (an in-process metadata store stands in for etcd) and helpers.
export * from "./testing/index.ts";
// Scriptable faults (faults.enable): broker.faults and cluster.faults take these specs.
export { FaultsDisabledError, type FaultInjector } from "./faults/fault-injector.ts";
export { FaultSpecError, type ArmedFault, type FaultSpec } from "./faults/fault-spec.ts";
export type { ClusterFault } from "./faults/cluster-faults.ts";
