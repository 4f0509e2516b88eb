// Leader elections on request (ElectLeaders, KIP-460): kafka-leader-election.sh and admin clients ask for a
// PREFERRED election (leadership back to the first replica, e.g. after a broker restart left it elsewhere)
// or an UNCLEAN one (a leaderless partition takes any live replica when no in-sync one is left).
//
// Kafka forwards the request to its controller. Here the broker that receives it writes the election the
// way the controller writes its own (controller.ts): a compare-and-swap of the partition state on the
// version this broker saw, leader epoch + 1, so a concurrent controller decision or ISR change wins and
// this election fails (answered as a retriable error) instead of overwriting it. The controller's next
// round and every broker's metadata watch then see it like any other election. One broker alone (no
// other replica) never needs an election: ELECTION_NOT_NEEDED.
import { ErrorCode } from "../protocol/errors.ts";
import type { BrokerInfo, MetadataStore, PartitionAssignment, PartitionState } from "../metadata/types.ts";
import type { TopicManager } from "../metadata/topic-manager.ts";

export const ElectionType = { PREFERRED: 0, UNCLEAN: 1 } as const;

const CAS_ATTEMPTS = 3;
const CAS_RETRY_DELAY_MS = 100;

export interface ElectionResult {
  errorCode: number;
  errorMessage: string | null;
}

export interface LeaderElectionDeps {
  topics: Pick<TopicManager, "get" | "applyPartitionState">;
  store: Pick<MetadataStore, "updatePartitionState">;
  /** Registered brokers; one that is shutting down cannot take leadership. */
  liveBrokers(): BrokerInfo[];
  log(message: string): void;
}

/** The next state of the partition for this election, or why there is none. */
export function decideElection(type: number, assignment: PartitionAssignment, liveBrokers: readonly BrokerInfo[]): PartitionState | ElectionResult {
  const canLead = new Set(liveBrokers.filter((broker) => !broker.shuttingDown).map((broker) => broker.nodeId));
  const { leader, leaderEpoch, isr, replicas } = assignment;
  if (type === ElectionType.PREFERRED) {
    const preferred = replicas[0]!;
    if (leader === preferred) return { errorCode: ErrorCode.ELECTION_NOT_NEEDED, errorMessage: "The preferred replica is the leader." };
    if (!canLead.has(preferred) || !isr.includes(preferred)) {
      return { errorCode: ErrorCode.PREFERRED_LEADER_NOT_AVAILABLE, errorMessage: `The preferred replica ${preferred} is ${canLead.has(preferred) ? "not in the ISR" : "not live"}.` };
    }
    return { leader: preferred, leaderEpoch: leaderEpoch + 1, isr };
  }
  if (type === ElectionType.UNCLEAN) {
    // Kafka: an unclean election is only for a partition without a live leader.
    if (leader >= 0 && canLead.has(leader)) return { errorCode: ErrorCode.ELECTION_NOT_NEEDED, errorMessage: "The partition has a live leader." };
    const inSync = replicas.find((replica) => isr.includes(replica) && canLead.has(replica));
    if (inSync !== undefined) return { leader: inSync, leaderEpoch: leaderEpoch + 1, isr: isr.filter((replica) => replica === inSync || canLead.has(replica)) };
    const anyLive = replicas.find((replica) => canLead.has(replica));
    if (anyLive !== undefined) return { leader: anyLive, leaderEpoch: leaderEpoch + 1, isr: [anyLive] };
    return { errorCode: ErrorCode.ELIGIBLE_LEADERS_NOT_AVAILABLE, errorMessage: "No replica of the partition is live." };
  }
  return { errorCode: ErrorCode.INVALID_REQUEST, errorMessage: `Unknown election type ${type}.` };
}

export class LeaderElections {
  constructor(private readonly deps: LeaderElectionDeps) {}

  async elect(type: number, topicName: string, partition: number): Promise<ElectionResult> {
    for (let attempt = 1; ; attempt++) {
      const assignment = this.deps.topics.get(topicName)?.partitions[partition];
      if (!assignment) return { errorCode: ErrorCode.UNKNOWN_TOPIC_OR_PARTITION, errorMessage: `Partition ${topicName}-${partition} does not exist.` };
      const next = decideElection(type, assignment, this.deps.liveBrokers());
      if ("errorCode" in next) return next;
      const version = await this.deps.store.updatePartitionState(topicName, partition, assignment.stateVersion, next);
      if (version !== null) return this.applied(type, topicName, partition, assignment, next, version);
      // Another election or an ISR change got there first: decide again once this broker's view has it.
      if (attempt === CAS_ATTEMPTS) return { errorCode: ErrorCode.REQUEST_TIMED_OUT, errorMessage: `${topicName}-${partition} kept changing during the election; retry.` };
      await Bun.sleep(CAS_RETRY_DELAY_MS);
    }
  }

  private applied(type: number, topicName: string, partition: number, assignment: PartitionAssignment, next: PartitionState, version: number): ElectionResult {
    this.deps.topics.applyPartitionState(topicName, partition, next, version);
    const kind = type === ElectionType.UNCLEAN && !assignment.isr.includes(next.leader) ? "unclean election (committed records may be lost)" : "election";
    this.deps.log(`ElectLeaders ${kind}: ${topicName}-${partition} leader ${assignment.leader} -> ${next.leader}, epoch ${assignment.leaderEpoch} -> ${next.leaderEpoch}, ISR [${assignment.isr}] -> [${next.isr}]`);
    return { errorCode: ErrorCode.NONE, errorMessage: null };
  }
}
