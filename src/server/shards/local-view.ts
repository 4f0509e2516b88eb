// What a listening partition worker (partition.workers.listen) knows of the broker when it answers a request
// itself: the main thread's last word on whether it may (the flags) and on the topics, plus its own
// partitions. Every request it cannot decide from this goes to the main thread (local-produce.ts, local-fetch.ts).
import type { TopicMetadata } from "../../metadata/types.ts";
import type { PartitionOwner } from "../../partition/partition-owner.ts";
import { ownerOfPartition } from "../../partition/partition-workers.ts";
import type { LocalPartitions } from "./messages.ts";
import type { Connection } from "../connection.ts";
import { ANONYMOUS_PRINCIPAL } from "../../security/principal.ts";

/**
 * The connection a handler sees for a request another listening worker read: that worker checked it is a
 * PLAINTEXT one, waited for its write queue and writes the reply; no quota applies (local answers need none).
 */
export const PEER_CONNECTION = {
  id: -1,
  remoteIp: "",
  security: { listener: { name: "", securityProtocol: "PLAINTEXT" }, principal: ANONYMOUS_PRINCIPAL, authenticated: true },
  waitForWriteRoom: () => null,
  mute: () => undefined,
} as unknown as Connection;

export interface LocalTopic {
  /** Enough of TopicMetadata for the Produce and Fetch handlers: name, id and each partition's leader and epoch. */
  readonly metadata: TopicMetadata;
  readonly acksAllRefused: boolean;
}

export class LocalPartitionView {
  /** Produce may be answered here (local-produce.ts lists the conditions the main thread checked). */
  produceEnabled = false;
  /** Consumers' fetches may be answered here (also no consumer_byte_rate quota). */
  fetchEnabled = false;
  private byName = new Map<string, LocalTopic>();
  private byId = new Map<string, LocalTopic>();

  constructor(
    readonly owner: PartitionOwner,
    readonly workerIndex: number,
    private readonly workerCount: number,
  ) {}

  update(snapshot: LocalPartitions): void {
    this.produceEnabled = snapshot.enabled;
    this.fetchEnabled = snapshot.fetchEnabled;
    const byName = new Map<string, LocalTopic>();
    const byId = new Map<string, LocalTopic>();
    for (const topic of snapshot.topics) {
      const partitions = topic.leaderEpochs.map((leaderEpoch, partition) => ({ partition, leader: leaderEpoch < 0 ? -1 : snapshot.nodeId, leaderEpoch }));
      const local: LocalTopic = { metadata: { name: topic.name, topicId: topic.topicId, partitions } as unknown as TopicMetadata, acksAllRefused: topic.acksAllRefused };
      byName.set(topic.name, local);
      if (topic.topicId) byId.set(topic.topicId, local);
    }
    this.byName = byName;
    this.byId = byId;
  }

  topic(name: string): LocalTopic | undefined {
    return this.byName.get(name);
  }

  topicById(topicIdHex: string): LocalTopic | undefined {
    return this.byId.get(topicIdHex);
  }

  /** Led here, hashed to this worker and open in it (a deleted partition is closed here before the main thread forgets it). */
  serves(topic: LocalTopic, partition: number): boolean {
    return this.ownerOf(topic, partition) === this.workerIndex && this.owner.isOpen(topic.metadata.name, partition);
  }

  /** The worker a partition led here is hashed to; -1 when it is not known or not led here. */
  ownerOf(topic: LocalTopic, partition: number): number {
    const state = topic.metadata.partitions[partition];
    if (!state || state.leaderEpoch < 0) return -1;
    return ownerOfPartition(topic.metadata.name, partition, this.workerCount);
  }
}
