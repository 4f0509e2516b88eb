// Bunka in tests: embedded clusters and the helpers client test suites keep rewriting.
export { startCluster, EmbeddedCluster, EMBEDDED_CLUSTER_PROPERTIES, type ClusterOptions } from "./cluster.ts";
export * from "./helpers.ts";
