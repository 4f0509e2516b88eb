// Versions Apache Kafka released after the schema snapshot the codecs are generated from (../shared, October
// 2024), for messages whose new version changes no field: the schema's fields carry over ("N+" ranges), only
// its validVersions is extended. Each entry says what the version means and where Kafka says so; a version that
// adds or changes a field does not belong here (it needs the newer schema itself).
export interface VersionOverride {
  /** The schema's validVersions as the snapshot has it: the override stops applying once the schemas move on. */
  readonly snapshotVersions: string;
  readonly validVersions: string;
  readonly reason: string;
}

const PRODUCE_V12 =
  "Produce v12 (Kafka 4.0, KIP-890 part 2): ProduceRequest.json at 4.0.0 says \"Version 12 is the same as version 11 (KIP-890)\"; " +
  "with transaction version 2 finalized, a transactional batch at v12 also adds its partition to the transaction " +
  "(the leader asks the coordinator, AddPartitionsToTxn with verifyOnly false) instead of only verifying it.";

/** By message name (ProduceRequest, ProduceResponse). */
export const VERSION_OVERRIDES: Readonly<Record<string, VersionOverride>> = {
  ProduceRequest: { snapshotVersions: "0-11", validVersions: "0-12", reason: PRODUCE_V12 },
  ProduceResponse: { snapshotVersions: "0-11", validVersions: "0-12", reason: PRODUCE_V12 },
};

/**
 * The validVersions to generate for a message: the override's when the schema still has the snapshot's range,
 * else the schema's own (a newer schema that already has the version makes the override a no-op).
 */
export function overriddenValidVersions(messageName: string, schemaValidVersions: string): string {
  const override = VERSION_OVERRIDES[messageName];
  if (!override || override.snapshotVersions !== schemaValidVersions) return schemaValidVersions;
  return override.validVersions;
}

