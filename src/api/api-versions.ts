// ApiVersions: advertise exactly the versions this broker implements (the handler table).
// librdkafka 2.0.2 enables features only when single versions lie inside these ranges, which is why
// Produce and FindCoordinator start at 0 (see docs/kafka-clients.md §4.1).
// Versions: v1 throttle time; v2 no change; v3 flexible, client software name/version, supported and finalized
// features (KIP-511, KIP-584); v4 (KAFKA-17011) may list a supported feature whose minimum is 0, which v3 must leave out.
import { ErrorCode } from "../protocol/errors.ts";
import { ApiKey, Apis } from "../protocol/generated/index.ts";
import type { ApiVersionsResponse } from "../protocol/generated/api-versions.ts";
import type { AdvertisedApi } from "./context.ts";
import { defineHandler, type Reply } from "./handler.ts";

/**
 * Feature levels as Kafka 4.x reports them (KIP-584). Bunka has no KRaft metadata log: metadata.version is the
 * level whose protocol this broker speaks (21 = 3.9-IV0: Metadata v12, DescribeTopicPartitions), so tools that
 * read it see a broker of that generation. transaction.version 2 (KIP-890 part 2): clients that see it finalized
 * (Java 4.x) send InitProducerId v5, Produce v12 without AddPartitionsToTxn (the partition leader adds the partition,
 * api/transaction-verification.ts) and EndTxn v5, which bumps the epoch at every commit and abort; clients that
 * do not know the feature keep the version 1 flow (docs/transactions.md). group.version 1 (KIP-848) is finalized
 * only while ConsumerGroupHeartbeat is served.
 */
const METADATA_VERSION = { name: "metadata.version", minVersion: 7, maxVersion: 21 };
const TRANSACTION_VERSION = { name: "transaction.version", minVersion: 0, maxVersion: 2 };
const GROUP_VERSION = { name: "group.version", minVersion: 0, maxVersion: 1 };
/** The finalized levels never change while a broker runs: one epoch (clients compare epochs to pick the newest). */
const FINALIZED_FEATURES_EPOCH = 0;
/** v4 is the first version that may list a supported feature whose minimum is 0 (KAFKA-17011). */
const FIRST_VERSION_WITH_MIN_ZERO_FEATURES = 4;

export function features(advertised: readonly AdvertisedApi[], apiVersion: number): Pick<ApiVersionsResponse, "supportedFeatures" | "finalizedFeatures" | "finalizedFeaturesEpoch"> {
  const consumerGroups = advertised.some((api) => api.apiKey === ApiKey.ConsumerGroupHeartbeat);
  const supported = [METADATA_VERSION, TRANSACTION_VERSION, consumerGroups ? GROUP_VERSION : { ...GROUP_VERSION, maxVersion: 0 }];
  const finalized = [
    { name: METADATA_VERSION.name, minVersionLevel: METADATA_VERSION.maxVersion, maxVersionLevel: METADATA_VERSION.maxVersion },
    { name: TRANSACTION_VERSION.name, minVersionLevel: TRANSACTION_VERSION.maxVersion, maxVersionLevel: TRANSACTION_VERSION.maxVersion },
    { name: GROUP_VERSION.name, minVersionLevel: consumerGroups ? 1 : 0, maxVersionLevel: consumerGroups ? 1 : 0 },
  ];
  return {
    supportedFeatures: supported.filter((feature) => apiVersion >= FIRST_VERSION_WITH_MIN_ZERO_FEATURES || feature.minVersion > 0),
    // A level of 0 is a feature that is off: Kafka leaves it out of the finalized list.
    finalizedFeatures: finalized.filter((feature) => feature.maxVersionLevel > 0),
    finalizedFeaturesEpoch: FINALIZED_FEATURES_EPOCH,
  };
}

export const apiVersionsHandler = defineHandler(Apis.ApiVersions, {
  minVersion: 0,
  maxVersion: 4,
  handle(context): Reply<ApiVersionsResponse> {
    return { errorCode: ErrorCode.NONE, apiKeys: [...context.advertisedApis], throttleTimeMs: 0, ...features(context.advertisedApis, context.apiVersion) };
  },
});
