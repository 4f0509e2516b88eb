// A share group's own configs (Kafka's GroupConfig for share groups, set with IncrementalAlterConfigs on the
// GROUP resource, e.g. `kafka-configs --entity-type groups`): validated here against the broker's bounds.
// Unset, each falls back to the broker's default (group.share.* settings).
import { ErrorCode, KafkaError } from "../protocol/errors.ts";

export interface ShareBrokerDefaults {
  lockDurationMs: number;
  maxLockDurationMs: number;
  deliveryCountLimit: number;
  maxRecordLocks: number;
  deadLetterTopicPrefix: string;
}

export interface EffectiveShareConfig {
  autoOffsetReset: "earliest" | "latest";
  lockDurationMs: number;
  deliveryCountLimit: number;
  deadLetterTopic: string | null;
}

export const SHARE_GROUP_CONFIG_NAMES = ["share.auto.offset.reset", "share.record.lock.duration.ms", "share.delivery.count.limit", "errors.deadletterqueue.topic.name"] as const;

const MAX_DEAD_LETTER_TOPIC_NAME = 249;

/** Throws INVALID_CONFIG for an unknown name or a value out of bounds. */
export function validateShareGroupConfig(name: string, value: string, defaults: ShareBrokerDefaults): void {
  const integer = (min: number, max: number) => {
    const parsed = Number(value);
    if (!/^-?\d+$/.test(value) || parsed < min || parsed > max) throw new KafkaError(ErrorCode.INVALID_CONFIG, `${name} must be an integer in [${min}, ${max}]`);
  };
  switch (name) {
    case "share.auto.offset.reset":
      if (value !== "earliest" && value !== "latest") throw new KafkaError(ErrorCode.INVALID_CONFIG, "share.auto.offset.reset must be earliest or latest");
      return;
    case "share.record.lock.duration.ms":
      return integer(1000, defaults.maxLockDurationMs);
    case "share.delivery.count.limit":
      return integer(2, 10);
    case "errors.deadletterqueue.topic.name":
      if (value.length === 0 || value.length > MAX_DEAD_LETTER_TOPIC_NAME || !/^[a-zA-Z0-9._-]+$/.test(value)) throw new KafkaError(ErrorCode.INVALID_CONFIG, "errors.deadletterqueue.topic.name is not a valid topic name");
      if (!value.startsWith(defaults.deadLetterTopicPrefix)) throw new KafkaError(ErrorCode.INVALID_CONFIG, `errors.deadletterqueue.topic.name must start with "${defaults.deadLetterTopicPrefix}" (errors.deadletterqueue.topic.name.prefix)`);
      return;
    default:
      throw new KafkaError(ErrorCode.INVALID_CONFIG, `unknown group config ${name}`);
  }
}

export function effectiveShareConfig(configs: Readonly<Record<string, string>>, defaults: ShareBrokerDefaults): EffectiveShareConfig {
  const reset = configs["share.auto.offset.reset"];
  return {
    autoOffsetReset: reset === "earliest" ? "earliest" : "latest",
    lockDurationMs: configs["share.record.lock.duration.ms"] ? Number(configs["share.record.lock.duration.ms"]) : defaults.lockDurationMs,
    deliveryCountLimit: configs["share.delivery.count.limit"] ? Number(configs["share.delivery.count.limit"]) : defaults.deliveryCountLimit,
    deadLetterTopic: configs["errors.deadletterqueue.topic.name"] ?? null,
  };
}

/** Every share config with its value and whether it is the default, as DescribeConfigs lists them. */
export function describeShareGroupConfig(configs: Readonly<Record<string, string>>, defaults: ShareBrokerDefaults): { name: string; value: string | null; isDefault: boolean }[] {
  const effective = effectiveShareConfig(configs, defaults);
  return [
    { name: "share.auto.offset.reset", value: effective.autoOffsetReset, isDefault: configs["share.auto.offset.reset"] === undefined },
    { name: "share.record.lock.duration.ms", value: String(effective.lockDurationMs), isDefault: configs["share.record.lock.duration.ms"] === undefined },
    { name: "share.delivery.count.limit", value: String(effective.deliveryCountLimit), isDefault: configs["share.delivery.count.limit"] === undefined },
    { name: "errors.deadletterqueue.topic.name", value: effective.deadLetterTopic, isDefault: configs["errors.deadletterqueue.topic.name"] === undefined },
  ];
}
