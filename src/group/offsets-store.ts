// __consumer_offsets as the group coordinator's durable store: the internal compacted topic store
// (metadata/internal-topic-store.ts) with the offsets.topic.* settings.
import { InternalTopicStore } from "../metadata/internal-topic-store.ts";
import type { GroupCoordinatorConfig } from "./coordinator-config.ts";
import { OFFSETS_TOPIC } from "./offsets-records.ts";
import type { GroupCoordinatorServices } from "./services.ts";

export type { StoredRecord, StoredMarker, InternalTopicLoadResult as OffsetsLoadResult } from "../metadata/internal-topic-store.ts";

export interface CommittedOffset {
  offset: number;
  leaderEpoch: number;
  metadata: string;
  commitTimestampMs: number;
}

export class OffsetsStore extends InternalTopicStore {
  constructor(services: GroupCoordinatorServices, config: GroupCoordinatorConfig, onCreated: () => void = () => {}) {
    super(
      services,
      {
        name: OFFSETS_TOPIC,
        numPartitions: config.offsetsTopicNumPartitions,
        replicationFactor: config.offsetsTopicReplicationFactor,
        segmentBytes: config.offsetsTopicSegmentBytes,
        minInsyncReplicas: null,
        appendTimeoutMs: config.offsetCommitTimeoutMs,
        loadBufferBytes: config.offsetsLoadBufferBytes,
      },
      onCreated,
    );
  }
}
