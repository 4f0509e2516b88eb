// What the transaction coordinator uses of the rest of the broker: the internal topic's store services,
// producer ids, who the brokers are, and a way to deliver COMMIT/ABORT markers to partition leaders.
// server/broker.ts wires these in; transactions/ never sees the broker itself.
import type { InternalTopicServices } from "../metadata/internal-topic-store.ts";
import type { BrokerInfo } from "../metadata/types.ts";
import type { WriteTxnMarkersRequest, WriteTxnMarkersResponse } from "../protocol/generated/write-txn-markers.ts";
import type { TransactionBrokerSettings } from "./transaction-config.ts";

/** Delivers one WriteTxnMarkers request's markers to the leaders of its partitions (locally or over the network). */
export type MarkerDelivery = (request: WriteTxnMarkersRequest) => Promise<WriteTxnMarkersResponse>;

export interface TransactionCoordinatorServices extends InternalTopicServices {
  readonly config: TransactionBrokerSettings;
  readonly producerIds: { allocate(): Promise<number> };
  readonly cluster: {
    /** Single node: this broker coordinates every transactional id, before __transaction_state exists too. */
    readonly singleNode: boolean;
    self(): BrokerInfo;
    brokers(): BrokerInfo[];
  };
  readonly markers: MarkerDelivery;
  nowMs(): number;
}
