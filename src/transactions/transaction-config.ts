// Transaction coordinator settings, with Kafka's names and defaults, read from the broker's raw properties
// (declared, parsed and bounded in config/broker-config.ts's settings table).
import type { BrokerConfig } from "../config/broker-config.ts";

export interface TransactionCoordinatorConfig {
  /** transaction.state.log.*: the internal topic's shape. */
  stateLogNumPartitions: number;
  stateLogReplicationFactor: number;
  stateLogSegmentBytes: number;
  stateLogMinIsr: number;
  stateLogLoadBufferBytes: number;
  /** transaction.max.timeout.ms: a longer transaction.timeout.ms → INVALID_TRANSACTION_TIMEOUT. */
  maxTimeoutMs: number;
  /** transactional.id.expiration.ms: an id with no transaction this long is removed (tombstone). */
  transactionalIdExpirationMs: number;
  /** transaction.abort.timed.out.transaction.cleanup.interval.ms */
  abortTimedOutIntervalMs: number;
  /** transaction.remove.expired.transaction.cleanup.interval.ms */
  removeExpiredIntervalMs: number;
  /** transaction.max.transactional.ids (Bunka's own): ids held in memory by this broker. */
  maxTransactionalIds: number;
  /** How long a state append waits to be committed (cluster mode); Kafka's transaction.state.log request timeout. */
  appendTimeoutMs: number;
}

export type TransactionBrokerSettings = Pick<BrokerConfig, "nodeId" | "properties">;

function integer(properties: Record<string, string>, name: string, fallback: number): number {
  const text = properties[name];
  return text === undefined ? fallback : Number(text.trim());
}

export function transactionCoordinatorConfig(config: TransactionBrokerSettings): TransactionCoordinatorConfig {
  const p = config.properties;
  return {
    stateLogNumPartitions: integer(p, "transaction.state.log.num.partitions", 50),
    stateLogReplicationFactor: integer(p, "transaction.state.log.replication.factor", -1),
    stateLogSegmentBytes: integer(p, "transaction.state.log.segment.bytes", 104_857_600),
    stateLogMinIsr: integer(p, "transaction.state.log.min.isr", 2),
    stateLogLoadBufferBytes: integer(p, "transaction.state.log.load.buffer.size", 5 * 1024 * 1024),
    maxTimeoutMs: integer(p, "transaction.max.timeout.ms", 900_000),
    transactionalIdExpirationMs: integer(p, "transactional.id.expiration.ms", 604_800_000),
    abortTimedOutIntervalMs: integer(p, "transaction.abort.timed.out.transaction.cleanup.interval.ms", 10_000),
    removeExpiredIntervalMs: integer(p, "transaction.remove.expired.transaction.cleanup.interval.ms", 3_600_000),
    maxTransactionalIds: integer(p, "transaction.max.transactional.ids", 100_000),
    appendTimeoutMs: integer(p, "offsets.commit.timeout.ms", 5000),
  };
}
