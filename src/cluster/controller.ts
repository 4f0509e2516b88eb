// The controller (one broker at a time, elected in etcd on a lease) makes every leader election:
// when a leader dies or shuts down, a partition without a leader regains a live in-sync replica, or a
// preferred replica can lead again. Elections pick from the ISR only unless unclean.leader.election.enable,
// bump the leader epoch, and are written with compare-and-swap on the partition's version, so a stale
// controller cannot overwrite a newer decision. Followers that died leave the ISR here too.
import type { BrokerConfig } from "../config/broker-config.ts";
import type { TopicManager } from "../metadata/topic-manager.ts";
import type { BrokerInfo, MetadataStore, PartitionAssignment, PartitionState, TopicMetadata } from "../metadata/types.ts";
import type { LeaseKeeper, MetadataKv } from "./etcd/index.ts";
import { encodeRecord, type EtcdKeys, type MetadataMirror } from "./etcd-metadata.ts";

const RECONCILE_INTERVAL_MS = 1_000;

/** What this broker did as controller (Kafka's ControllerStats and ActiveControllerCount changes). */
export interface ControllerStats {
  /** Partition leaders this broker elected: a live replica became leader (Kafka: LeaderElectionRateAndTimeMs). */
  leaderElections: number;
  /** Of those, leaders taken from outside the ISR (Kafka: UncleanLeaderElectionsPerSec). */
  uncleanLeaderElections: number;
  /** Times this broker became the active controller. */
  activations: number;
}

export function newControllerStats(): ControllerStats {
  return { leaderElections: 0, uncleanLeaderElections: 0, activations: 0 };
}

export class Controller {
  private active = false;
  private reconciling: Promise<void> | null = null;
  private reconcileAgain = false;
  private timer: ReturnType<typeof setInterval> | null = null;
  private lastPreferredCheckMs = Date.now();
  private stopped = false;

  constructor(
    private readonly deps: {
      nodeId: number;
      config: BrokerConfig;
      etcd: MetadataKv;
      keys: EtcdKeys;
      mirror: MetadataMirror;
      store: MetadataStore;
      topics: TopicManager;
      lease: () => LeaseKeeper | null;
      log: (message: string) => void;
      stats?: ControllerStats;
    },
  ) {}

  get isActive(): boolean {
    return this.active;
  }

  start(): void {
    this.timer = setInterval(() => this.onTick(), RECONCILE_INTERVAL_MS);
    this.onClusterChange();
  }

  /** Called whenever brokers, the controller key or partition states change. */
  onClusterChange(): void {
    if (this.stopped) return;
    if (this.deps.mirror.controllerId === -1) void this.campaign();
    else if (this.deps.mirror.controllerId !== this.deps.nodeId && this.active) {
      this.active = false;
      this.deps.log("no longer the controller");
    }
    if (this.active) this.reconcile();
  }

  private onTick(): void {
    if (this.deps.mirror.controllerId === -1) void this.campaign();
    if (this.active) this.reconcile();
  }

  /** Becomes the controller if nobody is: create-if-absent of the controller key on this broker's lease. */
  private async campaign(): Promise<void> {
    const lease = this.deps.lease();
    if (!lease || lease.lost || this.stopped) return;
    try {
      const result = await this.deps.etcd.txn({
        compare: [{ key: this.deps.keys.controller, target: "createRevision", op: "=", value: 0 }],
        success: [{ type: "put", key: this.deps.keys.controller, value: encodeRecord({ nodeId: this.deps.nodeId }), lease: lease.id }],
      });
      if (result.succeeded && !this.active) {
        this.active = true;
        if (this.deps.stats) this.deps.stats.activations++;
        this.deps.log("became the controller");
        this.reconcile();
      }
    } catch (error) {
      this.deps.log(`controller election failed: ${String(error)}`);
    }
  }

  /** Resigns (the lease is lost or the broker stops). */
  resign(): void {
    this.active = false;
  }

  stop(): void {
    this.stopped = true;
    this.active = false;
    if (this.timer) clearInterval(this.timer);
  }

  private reconcile(): void {
    if (this.reconciling) {
      this.reconcileAgain = true;
      return;
    }
    this.reconciling = this.reconcileOnce()
      .catch((error) => this.deps.log(`controller: ${String(error)}`))
      .finally(() => {
        this.reconciling = null;
        if (this.reconcileAgain && this.active) {
          this.reconcileAgain = false;
          this.reconcile();
        }
      });
  }

  private async reconcileOnce(): Promise<void> {
    const brokers = this.deps.mirror.liveBrokers();
    const nowMs = Date.now();
    const checkPreferred = this.deps.config.autoLeaderRebalanceEnable && nowMs - this.lastPreferredCheckMs >= this.deps.config.leaderImbalanceCheckIntervalMs;
    if (checkPreferred) this.lastPreferredCheckMs = nowMs;
    for (const topic of this.deps.mirror.topics()) {
      if (topic.reassignments && (await this.completeReassignment(topic, brokers))) continue;
      for (const assignment of topic.partitions) {
        if (!this.active) return;
        const next = this.decide(topic, assignment, brokers, checkPreferred);
        if (!next) continue;
        const version = await this.deps.store.updatePartitionState(topic.name, assignment.partition, assignment.stateVersion, next);
        if (version === null) continue; // changed meanwhile (an ISR update by the leader): the next round sees it
        this.countElection(assignment, next);
        this.deps.log(
          `${topic.name}-${assignment.partition}: leader ${assignment.leader} -> ${next.leader}, epoch ${assignment.leaderEpoch} -> ${next.leaderEpoch}, ISR [${assignment.isr}] -> [${next.isr}]`,
        );
        this.deps.topics.applyPartitionState(topic.name, assignment.partition, next, version);
      }
    }
  }

  /**
   * KIP-455: a reassignment is complete once every target replica is in the ISR. The replica list becomes
   * the target, replicas outside it leave the ISR (and delete their logs), and leadership moves to a
   * target replica if the leader is not one, with a new leader epoch in every case so removed replicas are
   * fenced. One partition per topic per round: the topic record is rewritten, and the next round sees it.
   */
  private async completeReassignment(topic: TopicMetadata, brokers: BrokerInfo[]): Promise<boolean> {
    const canLead = new Set(brokers.filter((broker) => !broker.shuttingDown).map((broker) => broker.nodeId));
    for (const [partitionText, reassignment] of Object.entries(topic.reassignments ?? {})) {
      const partition = Number(partitionText);
      const assignment = topic.partitions[partition];
      if (!assignment || !reassignment.target.every((replica) => assignment.isr.includes(replica))) continue;
      const leader = reassignment.target.includes(assignment.leader) && canLead.has(assignment.leader)
        ? assignment.leader
        : reassignment.target.find((replica) => assignment.isr.includes(replica) && canLead.has(replica));
      if (leader === undefined) continue;
      const next: PartitionState = { leader, leaderEpoch: assignment.leaderEpoch + 1, isr: assignment.isr.filter((replica) => reassignment.target.includes(replica)) };
      const reassignments = { ...topic.reassignments };
      delete reassignments[partition];
      const partitions = topic.partitions.map((p) => (p.partition === partition ? { ...p, replicas: [...reassignment.target] } : p));
      const updated: TopicMetadata = { ...topic, partitions, reassignments };
      if (Object.keys(reassignments).length === 0) delete updated.reassignments;
      const version = await this.deps.store.completeReassignment(updated, partition, assignment.stateVersion, next);
      if (version === null) return true; // raced with an ISR change or another topic update: next round
      this.countElection(assignment, next);
      this.deps.log(`${topic.name}-${partition}: reassignment complete, replicas [${assignment.replicas}] -> [${reassignment.target}], leader ${assignment.leader} -> ${leader}, epoch ${next.leaderEpoch}`);
      return true;
    }
    return false;
  }

  private countElection(before: PartitionState, after: PartitionState): void {
    if (!this.deps.stats || after.leader < 0 || after.leader === before.leader) return;
    this.deps.stats.leaderElections++;
    if (!before.isr.includes(after.leader)) this.deps.stats.uncleanLeaderElections++;
  }

  /** The next state of one partition, or null when it needs no change. */
  private decide(topic: TopicMetadata, assignment: PartitionAssignment, brokers: BrokerInfo[], checkPreferred: boolean): PartitionState | null {
    const alive = new Set(brokers.map((broker) => broker.nodeId));
    const canLead = new Set(brokers.filter((broker) => !broker.shuttingDown).map((broker) => broker.nodeId));
    const { leader, leaderEpoch, isr, replicas } = assignment;
    const leaderUsable = leader >= 0 && canLead.has(leader);

    if (!leaderUsable) {
      // Elect the first replica (preference order) that is in sync and can lead.
      const candidate = replicas.find((replica) => isr.includes(replica) && canLead.has(replica));
      if (candidate !== undefined) {
        const newIsr = isr.filter((replica) => alive.has(replica) && (replica === candidate || canLead.has(replica)));
        return { leader: candidate, leaderEpoch: leaderEpoch + 1, isr: newIsr };
      }
      const unclean = this.deps.topics.configValue(topic, "unclean.leader.election.enable") === "true";
      const anyLive = replicas.find((replica) => canLead.has(replica));
      if (unclean && anyLive !== undefined) {
        this.deps.log(`${topic.name}-${assignment.partition}: unclean leader election of broker ${anyLive} (not in ISR [${isr}]): committed records may be lost`);
        return { leader: anyLive, leaderEpoch: leaderEpoch + 1, isr: [anyLive] };
      }
      // No in-sync replica can lead: the partition is offline until one returns. The ISR keeps its last
      // members (as Kafka does), so that one of them, and only one of them, can be elected then.
      if (leader === -1) return null;
      // A leader that is shutting down with no in-sync replica to hand over to keeps leading until it stops.
      if (alive.has(leader)) return null;
      return { leader: -1, leaderEpoch: leaderEpoch + 1, isr };
    }

    // A dead follower leaves the ISR; so does one that is shutting down (it stops fetching).
    const shrunk = isr.filter((replica) => replica === leader || canLead.has(replica));
    if (shrunk.length !== isr.length) return { leader, leaderEpoch, isr: shrunk };

    const preferred = replicas[0]!;
    if (checkPreferred && leader !== preferred && canLead.has(preferred) && isr.includes(preferred)) {
      return { leader: preferred, leaderEpoch: leaderEpoch + 1, isr };
    }
    return null;
  }
}
