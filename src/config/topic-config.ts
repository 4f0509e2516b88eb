// Topic-level configuration: Kafka's names, types and defaults (TopicConfig / LogConfig in Apache Kafka).
// A topic's effective value is: its own override, else the broker's default (from the --config file,
// under the topic name or Kafka's broker-level `log.*` name), else Kafka's default.
import { ErrorCode, KafkaError } from "../protocol/errors.ts";

export type ConfigType = "int" | "long" | "double" | "string" | "boolean" | "list";

export interface TopicConfigDefinition {
  name: string;
  type: ConfigType;
  defaultValue: string;
  /** The broker-level name whose value is the default for every topic (e.g. log.segment.bytes). */
  brokerName?: string;
  validValues?: readonly string[];
  min?: number;
  max?: number;
  /** Not a Kafka config: documented as Bunka's own. */
  sensitive?: boolean;
}

const MAX_LONG = "9223372036854775807";

export const topicConfigDefinitions: readonly TopicConfigDefinition[] = [
  { name: "cleanup.policy", type: "list", defaultValue: "delete", brokerName: "log.cleanup.policy", validValues: ["delete", "compact", "compact,delete", "delete,compact"] },
  { name: "compression.type", type: "string", defaultValue: "producer", brokerName: "compression.type", validValues: ["producer", "uncompressed", "lz4", "gzip", "zstd"] /* snappy: no codec in Bunka to write it */ },
  { name: "delete.retention.ms", type: "long", defaultValue: "86400000", brokerName: "log.cleaner.delete.retention.ms", min: 0 },
  { name: "flush.messages", type: "long", defaultValue: MAX_LONG, brokerName: "log.flush.interval.messages", min: 1 },
  { name: "flush.ms", type: "long", defaultValue: MAX_LONG, brokerName: "log.flush.interval.ms", min: 0 },
  { name: "index.interval.bytes", type: "int", defaultValue: "4096", brokerName: "log.index.interval.bytes", min: 0 },
  { name: "max.message.bytes", type: "int", defaultValue: "1048588", brokerName: "message.max.bytes", min: 0 },
  // KIP-937 (Kafka 3.6): bounds on a CreateTime record's timestamp around the broker's clock; Kafka's defaults (no bound).
  { name: "message.timestamp.after.max.ms", type: "long", defaultValue: MAX_LONG, brokerName: "log.message.timestamp.after.max.ms", min: 0 },
  { name: "message.timestamp.before.max.ms", type: "long", defaultValue: MAX_LONG, brokerName: "log.message.timestamp.before.max.ms", min: 0 },
  // Deprecated by KIP-937; still honoured as a bound on both sides.
  { name: "message.timestamp.difference.max.ms", type: "long", defaultValue: MAX_LONG, brokerName: "log.message.timestamp.difference.max.ms", min: 0 },
  { name: "message.timestamp.type", type: "string", defaultValue: "CreateTime", brokerName: "log.message.timestamp.type", validValues: ["CreateTime", "LogAppendTime"] },
  { name: "min.cleanable.dirty.ratio", type: "double", defaultValue: "0.5", brokerName: "log.cleaner.min.cleanable.ratio", min: 0, max: 1 },
  { name: "min.compaction.lag.ms", type: "long", defaultValue: "0", brokerName: "log.cleaner.min.compaction.lag.ms", min: 0 },
  { name: "min.insync.replicas", type: "int", defaultValue: "1", brokerName: "min.insync.replicas", min: 1 },
  { name: "preallocate", type: "boolean", defaultValue: "true", brokerName: "log.preallocate" },
  { name: "retention.bytes", type: "long", defaultValue: "-1", brokerName: "log.retention.bytes" },
  { name: "retention.ms", type: "long", defaultValue: "604800000", brokerName: "log.retention.ms", min: -1 },
  // min: Kafka 4.0's bound (KIP-1030): tiny segments multiply files and rolls; the broker's
  // log.segment.bytes.min can move it (validateTopicConfig's bounds), never below the format's 14 bytes.
  { name: "segment.bytes", type: "int", defaultValue: "1073741824", brokerName: "log.segment.bytes", min: 1_048_576 },
  // min: KIP-1030's 1 KiB (Kafka 5.0); fewer bytes hold almost no entry and roll the segment at once.
  { name: "segment.index.bytes", type: "int", defaultValue: "10485760", brokerName: "log.index.size.max.bytes", min: 1024 },
  { name: "segment.ms", type: "long", defaultValue: "604800000", brokerName: "log.roll.ms", min: 1 },
  { name: "unclean.leader.election.enable", type: "boolean", defaultValue: "false", brokerName: "unclean.leader.election.enable" },
];

export const topicConfigByName: ReadonlyMap<string, TopicConfigDefinition> = new Map(
  topicConfigDefinitions.map((definition) => [definition.name, definition]),
);

/** Bounds the broker sets over the definitions' (log.segment.bytes.min). */
export interface TopicConfigBounds {
  segmentBytesMin?: number;
}

/** Checks one topic config value; throws INVALID_CONFIG with a message naming the problem. */
export function validateTopicConfig(name: string, value: string | null, bounds: TopicConfigBounds = {}): void {
  const definition = topicConfigByName.get(name);
  if (!definition) throw new KafkaError(ErrorCode.INVALID_CONFIG, `Unknown topic config name: ${name}`);
  if (value === null) return;
  switch (definition.type) {
    case "int":
    case "long": {
      if (!/^-?\d+$/.test(value.trim())) throw new KafkaError(ErrorCode.INVALID_CONFIG, `Invalid value ${value} for configuration ${name}: Not a number`);
      const numeric = Number(value);
      const min = name === "segment.bytes" && bounds.segmentBytesMin !== undefined ? bounds.segmentBytesMin : definition.min;
      if (min !== undefined && numeric < min)
        throw new KafkaError(ErrorCode.INVALID_CONFIG, `Invalid value ${value} for configuration ${name}: Value must be at least ${min}`);
      if (definition.type === "int" && numeric > 2147483647)
        throw new KafkaError(ErrorCode.INVALID_CONFIG, `Invalid value ${value} for configuration ${name}: Not an int`);
      return;
    }
    case "double": {
      const numeric = Number(value.trim());
      if (value.trim() === "" || !Number.isFinite(numeric)) throw new KafkaError(ErrorCode.INVALID_CONFIG, `Invalid value ${value} for configuration ${name}: Not a number`);
      if (definition.min !== undefined && numeric < definition.min)
        throw new KafkaError(ErrorCode.INVALID_CONFIG, `Invalid value ${value} for configuration ${name}: Value must be at least ${definition.min}`);
      if (definition.max !== undefined && numeric > definition.max)
        throw new KafkaError(ErrorCode.INVALID_CONFIG, `Invalid value ${value} for configuration ${name}: Value must be no more than ${definition.max}`);
      return;
    }
    case "boolean":
      if (value !== "true" && value !== "false") throw new KafkaError(ErrorCode.INVALID_CONFIG, `Invalid value ${value} for configuration ${name}: Expected true or false`);
      return;
    default:
      if (definition.validValues && !definition.validValues.includes(value))
        throw new KafkaError(ErrorCode.INVALID_CONFIG, `Invalid value ${value} for configuration ${name}: String must be one of: ${definition.validValues.join(", ")}`);
  }
}

export type ConfigSource = "topic" | "broker" | "default";

/** Resolves a topic config: topic override, then broker default, then Kafka's default. */
export function resolveTopicConfig(
  name: string,
  overrides: Readonly<Record<string, string>>,
  brokerDefaults: Readonly<Record<string, string>>,
): { value: string; source: ConfigSource } {
  const definition = topicConfigByName.get(name);
  if (!definition) throw new Error(`unknown topic config ${name}`);
  const override = overrides[name];
  if (override !== undefined) return { value: override, source: "topic" };
  const brokerValue = brokerDefaults[name] ?? (definition.brokerName ? brokerDefaults[definition.brokerName] : undefined);
  if (brokerValue !== undefined) return { value: brokerValue, source: "broker" };
  return { value: definition.defaultValue, source: "default" };
}

/** Kafka's long max means "never"; JS numbers hold it as a float, so clamp to the safe integer range. */
export function toSafeNumber(value: string): number {
  const numeric = Number(value);
  return numeric > Number.MAX_SAFE_INTEGER ? Number.MAX_SAFE_INTEGER : numeric;
}
