// Internal topics: written only by the broker itself (the group coordinator appends to __consumer_offsets
// through the partition workers, never through the Produce handler). Clients may read them, but may not
// produce to them, delete them or their records, grow them or change their configs: one client batch the
// coordinator cannot read, or a retention change, would lose every group's committed offsets (Kafka's
// Topic.isInternal and ReplicaManager refuse the same). A later internal topic joins this set.
import { OFFSETS_TOPIC } from "../group/offsets-records.ts";
import { TRANSACTION_STATE_TOPIC } from "../transactions/transaction-log-records.ts";
import { SHARE_STATE_TOPIC } from "../share/share-state-records.ts";

const INTERNAL_TOPICS: ReadonlySet<string> = new Set([OFFSETS_TOPIC, TRANSACTION_STATE_TOPIC, SHARE_STATE_TOPIC]);

export function isInternalTopic(name: string | null | undefined): boolean {
  return typeof name === "string" && INTERNAL_TOPICS.has(name);
}
