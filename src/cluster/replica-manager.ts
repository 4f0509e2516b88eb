// The replication state of every partition replica this broker holds (Kafka's ReplicaManager/Partition):
// its role for the current leader epoch, the high watermark, and, when leading, each follower's progress,
// ISR shrink/expand (compare-and-swap in the metadata store) and acks=all completion.
// A single node is the degenerate case: every partition is led here with an ISR of one, so the high
// watermark is the log end offset as soon as an append returns.
import type { BrokerConfig } from "../config/broker-config.ts";
import type { PartitionRuntime, PartitionListener, TopicManager } from "../metadata/topic-manager.ts";
import { partitionKey } from "../metadata/topic-manager.ts";
import type { MetadataStore, PartitionAssignment, TopicMetadata } from "../metadata/types.ts";
import type { PartitionWorkers } from "../partition/partition-workers.ts";
import type { LogOffsets, ProduceItem, ProduceResult, ReadItem } from "../partition/messages.ts";
import { ErrorCode } from "../protocol/errors.ts";
import type { PartitionWatchers } from "../partition/partition-watchers.ts";

export type ReplicaRole = "leader" | "follower" | "offline";

interface FollowerProgress {
  /** The follower's log end offset as its last fetch told us; -1 until it fetched in this epoch. */
  logEndOffset: number;
  lastCaughtUpTimeMs: number;
  lastFetchTimeMs: number;
  /** The leader's log end offset when that follower fetched before, for Kafka's caught-up rule. */
  leaderLogEndOffsetAtLastFetch: number;
}

interface ReplicaState {
  topic: string;
  partition: number;
  role: ReplicaRole;
  leaderId: number;
  leaderEpoch: number;
  isr: number[];
  replicas: number[];
  stateVersion: number;
  followers: Map<number, FollowerProgress>;
  /** The log end offset when this broker became leader: followers join the ISR only past it. */
  leaderEpochStartOffset: number;
  isrChangeInFlight: boolean;
}

interface AckWaiter {
  requiredOffset: number;
  leaderEpoch: number;
  resolve: (errorCode: number) => void;
  timer: ReturnType<typeof setTimeout>;
}

/** Follower side of replication, implemented by the replica fetchers (cluster mode only). */
export interface FollowerFetching {
  follow(topic: string, partition: number, leaderId: number, leaderEpoch: number): void;
  unfollow(topic: string, partition: number): void;
}

export interface ReplicaManagerDeps {
  nodeId: number;
  config: BrokerConfig;
  topics: TopicManager;
  workers: PartitionWorkers;
  watchers: PartitionWatchers;
  store: MetadataStore;
  log: (message: string) => void;
  /** High watermarks remembered from before a restart, so a new leader does not hide committed data. */
  checkpointedHighWatermark: (topic: string, partition: number) => number;
  /**
   * This broker stops leading a partition, or leads it in a new epoch: called before anything acts on it (the
   * listening partition workers stop answering by their snapshot, server/shards/local-view.ts).
   */
  onLeadershipLost?: () => void;
  /** The high watermark of a partition led here moved (the listening partition workers' consumers read to it). */
  onHighWatermark?: (topic: string, partition: number) => void;
}

export class ReplicaManager implements PartitionListener {
  private readonly states = new Map<string, ReplicaState>();
  private readonly ackWaiters = new Map<string, AckWaiter[]>();
  private fetching: FollowerFetching | null = null;
  private readonly leadershipListeners: ((topic: string, partition: number, leading: boolean) => void)[] = [];
  private readonly isrTimer: ReturnType<typeof setInterval>;
  private stopped = false;
  /** ISR changes of partitions this broker leads, whoever wrote them (Kafka's IsrShrinksPerSec/IsrExpandsPerSec). */
  readonly isrChanges = { shrinks: 0, expands: 0 };

  constructor(private readonly deps: ReplicaManagerDeps) {
    const intervalMs = Math.max(100, Math.min(1000, Math.floor(deps.config.replicaLagTimeMaxMs / 2)));
    this.isrTimer = setInterval(() => this.shrinkIsrs(), intervalMs);
  }

  /** Called when this broker starts or stops leading a partition (after the role change took effect). */
  onLeadershipChange(listener: (topic: string, partition: number, leading: boolean) => void): void {
    this.leadershipListeners.push(listener);
  }

  private announceLeadership(topic: string, partition: number, leading: boolean): void {
    for (const listener of this.leadershipListeners) listener(topic, partition, leading);
  }

  setFollowerFetching(fetching: FollowerFetching): void {
    this.fetching = fetching;
  }

  private state(topic: string, partition: number): ReplicaState | undefined {
    return this.states.get(partitionKey(topic, partition));
  }

  role(topic: string, partition: number): ReplicaRole | undefined {
    return this.state(topic, partition)?.role;
  }

  /** Partitions this broker leads now. */
  ledPartitions(): { topic: string; partition: number }[] {
    return [...this.states.values()].filter((state) => state.role === "leader").map(({ topic, partition }) => ({ topic, partition }));
  }

  onPartitionChanged(topic: TopicMetadata, assignment: PartitionAssignment, runtime: PartitionRuntime | undefined): void {
    const key = partitionKey(topic.name, assignment.partition);
    if (!runtime) {
      // Not a replica here (or no longer): drop whatever role this broker had.
      if (this.states.has(key)) this.onPartitionRemoved(topic.name, assignment.partition);
      return;
    }
    const previous = this.states.get(key);
    const nodeId = this.deps.nodeId;
    const role: ReplicaRole = assignment.leader === nodeId ? "leader" : assignment.leader >= 0 ? "follower" : "offline";
    const epochChanged = !previous || previous.leaderEpoch !== assignment.leaderEpoch || previous.leaderId !== assignment.leader;
    const state: ReplicaState = previous ?? {
      topic: topic.name,
      partition: assignment.partition,
      role,
      leaderId: assignment.leader,
      leaderEpoch: assignment.leaderEpoch,
      isr: assignment.isr,
      replicas: assignment.replicas,
      stateVersion: assignment.stateVersion,
      followers: new Map(),
      leaderEpochStartOffset: runtime.logEndOffset,
      isrChangeInFlight: false,
    };
    const previousRole = previous?.role;
    if (previousRole === "leader" && (role !== "leader" || epochChanged)) this.deps.onLeadershipLost?.();
    if (previousRole === "leader" && role === "leader" && !epochChanged) this.countIsrChange(state.isr, assignment.isr);
    state.role = role;
    state.leaderId = assignment.leader;
    state.leaderEpoch = assignment.leaderEpoch;
    state.isr = [...assignment.isr];
    state.replicas = [...assignment.replicas];
    state.stateVersion = assignment.stateVersion;
    this.states.set(key, state);

    if (role === "leader" && (epochChanged || previousRole !== "leader")) this.becomeLeader(state, runtime);
    else if (role === "follower" && (epochChanged || previousRole !== "follower")) this.becomeFollower(state);
    else if (role === "offline" && previousRole !== "offline") {
      this.fetching?.unfollow(state.topic, state.partition);
      this.failAckWaiters(key, ErrorCode.NOT_LEADER_OR_FOLLOWER);
    }
    if (previousRole === "leader" && role !== "leader") this.announceLeadership(state.topic, state.partition, false);
    if (role === "leader" && (epochChanged || previousRole !== "leader") && previousRole !== "leader") this.announceLeadership(state.topic, state.partition, true);
    if (role === "leader") {
      for (const replica of state.replicas) if (replica !== nodeId && !state.followers.has(replica)) state.followers.set(replica, newFollower(Date.now()));
      for (const follower of [...state.followers.keys()]) if (!state.replicas.includes(follower)) state.followers.delete(follower);
      this.maybeAdvanceHighWatermark(state, runtime);
    }
    this.deps.watchers.notify(state.topic, state.partition);
  }

  private countIsrChange(before: readonly number[], after: readonly number[]): void {
    if (before.some((replica) => !after.includes(replica))) this.isrChanges.shrinks++;
    if (after.some((replica) => !before.includes(replica))) this.isrChanges.expands++;
  }

  private becomeLeader(state: ReplicaState, runtime: PartitionRuntime): void {
    const nowMs = Date.now();
    this.fetching?.unfollow(state.topic, state.partition);
    this.failAckWaiters(partitionKey(state.topic, state.partition), ErrorCode.NOT_LEADER_OR_FOLLOWER);
    state.leaderEpochStartOffset = runtime.logEndOffset;
    // Kafka resets every follower's caught-up time on election so that the ISR is not shrunk before the
    // followers had a chance to fetch from the new leader.
    state.followers = new Map(state.replicas.filter((replica) => replica !== this.deps.nodeId).map((replica) => [replica, newFollower(nowMs)]));
    runtime.highWatermark = Math.min(runtime.logEndOffset, Math.max(runtime.highWatermark, this.deps.checkpointedHighWatermark(state.topic, state.partition)));
    this.deps.onHighWatermark?.(state.topic, state.partition);
    this.deps.workers.assignEpoch([{ topic: state.topic, partition: state.partition, leaderEpoch: state.leaderEpoch }]).catch((error) => {
      this.deps.log(`${state.topic}-${state.partition}: recording leader epoch ${state.leaderEpoch} failed: ${String(error)}`);
    });
    if (state.replicas.length > 1) this.deps.log(`${state.topic}-${state.partition}: leader in epoch ${state.leaderEpoch}, ISR [${state.isr}], log end ${runtime.logEndOffset}`);
  }

  private becomeFollower(state: ReplicaState): void {
    this.failAckWaiters(partitionKey(state.topic, state.partition), ErrorCode.NOT_LEADER_OR_FOLLOWER);
    state.followers.clear();
    this.fetching?.follow(state.topic, state.partition, state.leaderId, state.leaderEpoch);
  }

  onPartitionRemoved(topic: string, partition: number): void {
    const key = partitionKey(topic, partition);
    if (this.states.get(key)?.role === "leader") {
      this.deps.onLeadershipLost?.();
      this.announceLeadership(topic, partition, false);
    }
    this.fetching?.unfollow(topic, partition);
    this.failAckWaiters(key, ErrorCode.NOT_LEADER_OR_FOLLOWER);
    this.states.delete(key);
  }

  /** NOT_LEADER_OR_FOLLOWER unless this broker leads the partition; FENCED/UNKNOWN_LEADER_EPOCH per KIP-320. */
  checkLeader(topic: string, partition: number, currentLeaderEpoch = -1): number {
    const state = this.state(topic, partition);
    if (!state) return this.deps.topics.assignment(topic, partition) ? ErrorCode.NOT_LEADER_OR_FOLLOWER : ErrorCode.UNKNOWN_TOPIC_OR_PARTITION;
    if (currentLeaderEpoch >= 0 && currentLeaderEpoch < state.leaderEpoch) return ErrorCode.FENCED_LEADER_EPOCH;
    if (currentLeaderEpoch > state.leaderEpoch) return ErrorCode.UNKNOWN_LEADER_EPOCH;
    if (state.role !== "leader") return ErrorCode.NOT_LEADER_OR_FOLLOWER;
    return ErrorCode.NONE;
  }

  /** Before appending: leadership, then min.insync.replicas for acks=all (refused, never weakened). */
  checkProduceAllowed(topic: TopicMetadata, partition: number, acks: number): number {
    const leaderCheck = this.checkLeader(topic.name, partition);
    if (leaderCheck !== ErrorCode.NONE) return leaderCheck;
    if (acks === -1 && this.state(topic.name, partition)!.isr.length < this.minInsyncReplicas(topic)) return ErrorCode.NOT_ENOUGH_REPLICAS;
    return ErrorCode.NONE;
  }

  private minInsyncReplicas(topic: TopicMetadata): number {
    return Number(this.deps.topics.configValue(topic, "min.insync.replicas"));
  }

  /**
   * After the leader's own append: record offsets, advance the high watermark where the ISR allows, wake
   * long-polling fetches (followers and consumers), and for acks=all wait until the ISR has every record
   * (bounded by the request timeout). Returns an error code per item.
   */
  async afterLeaderAppend(items: ProduceItem[], results: ProduceResult[], acks: number, timeoutMs: number): Promise<number[]> {
    const waits: Promise<number>[] = items.map((item, index) => {
      const result = results[index]!;
      if (result.errorCode !== ErrorCode.NONE) return Promise.resolve(result.errorCode);
      const runtime = this.deps.topics.noteOffsets(item.topic, item.partition, result);
      // Only the newest reading of the log: an answer overtaken by another append's says nothing of the end.
      if (runtime && result.appended && result.offsetsVersion === runtime.offsetsVersion && runtime.logEndOffset === result.lastOffset + 1) {
        runtime.lastAppend = { slice: result.appended, baseOffset: result.baseOffset, lastOffset: result.lastOffset, leaderEpoch: item.leaderEpoch, firstUnstableOffset: result.firstUnstableOffset ?? -1 };
      }
      const state = this.state(item.topic, item.partition);
      if (runtime && state?.role === "leader") this.maybeAdvanceHighWatermark(state, runtime);
      this.deps.watchers.notify(item.topic, item.partition);
      if (acks !== -1) return Promise.resolve(ErrorCode.NONE);
      return this.waitForCommit(item.topic, item.partition, result.lastOffset + 1, timeoutMs);
    });
    return Promise.all(waits);
  }

  private waitForCommit(topicName: string, partition: number, requiredOffset: number, timeoutMs: number): Promise<number> {
    const key = partitionKey(topicName, partition);
    const state = this.states.get(key);
    const runtime = this.deps.topics.runtime(topicName, partition);
    if (!state || !runtime || state.role !== "leader") return Promise.resolve(ErrorCode.NOT_LEADER_OR_FOLLOWER);
    if (runtime.highWatermark >= requiredOffset) return Promise.resolve(this.commitOutcome(topicName, state));
    return new Promise<number>((resolve) => {
      const waiter: AckWaiter = {
        requiredOffset,
        leaderEpoch: state.leaderEpoch,
        resolve,
        timer: setTimeout(() => {
          this.removeAckWaiter(key, waiter);
          resolve(ErrorCode.REQUEST_TIMED_OUT);
        }, Math.max(0, timeoutMs)),
      };
      let waiters = this.ackWaiters.get(key);
      if (!waiters) this.ackWaiters.set(key, (waiters = []));
      waiters.push(waiter);
    });
  }

  /** Kafka completes acks=all with NOT_ENOUGH_REPLICAS_AFTER_APPEND when the ISR shrank below the minimum meanwhile. */
  private commitOutcome(topicName: string, state: ReplicaState): number {
    const topic = this.deps.topics.get(topicName);
    if (topic && state.isr.length < this.minInsyncReplicas(topic)) return ErrorCode.NOT_ENOUGH_REPLICAS_AFTER_APPEND;
    return ErrorCode.NONE;
  }

  private removeAckWaiter(key: string, waiter: AckWaiter): void {
    const waiters = this.ackWaiters.get(key);
    if (!waiters) return;
    const index = waiters.indexOf(waiter);
    if (index >= 0) waiters.splice(index, 1);
    if (waiters.length === 0) this.ackWaiters.delete(key);
  }

  private failAckWaiters(key: string, errorCode: number): void {
    const waiters = this.ackWaiters.get(key);
    if (!waiters) return;
    this.ackWaiters.delete(key);
    for (const waiter of waiters) {
      clearTimeout(waiter.timer);
      waiter.resolve(errorCode);
    }
  }

  /** Leader: the high watermark is the smallest log end offset in the ISR; it only moves forward. */
  private maybeAdvanceHighWatermark(state: ReplicaState, runtime: PartitionRuntime): void {
    let candidate = runtime.logEndOffset;
    for (const replica of state.isr) {
      if (replica === this.deps.nodeId) continue;
      const progress = state.followers.get(replica);
      const followerEnd = progress && progress.logEndOffset >= 0 ? progress.logEndOffset : runtime.highWatermark;
      if (followerEnd < candidate) candidate = followerEnd;
    }
    if (candidate <= runtime.highWatermark) return;
    runtime.highWatermark = candidate;
    this.deps.watchers.notify(state.topic, state.partition);
    this.deps.onHighWatermark?.(state.topic, state.partition);
    const key = partitionKey(state.topic, state.partition);
    const waiters = this.ackWaiters.get(key);
    if (!waiters) return;
    const remaining: AckWaiter[] = [];
    for (const waiter of waiters) {
      if (waiter.requiredOffset <= candidate) {
        clearTimeout(waiter.timer);
        waiter.resolve(waiter.leaderEpoch === state.leaderEpoch ? this.commitOutcome(state.topic, state) : ErrorCode.NOT_LEADER_OR_FOLLOWER);
      } else remaining.push(waiter);
    }
    if (remaining.length === 0) this.ackWaiters.delete(key);
    else this.ackWaiters.set(key, remaining);
  }

  /** Where a read stops: followers read to the log end, consumers only committed records. -1 = log end. */
  readLimit(topic: string, partition: number, replicaId: number): number {
    if (replicaId >= 0) return -1;
    return this.deps.topics.runtime(topic, partition)?.highWatermark ?? 0;
  }

  checkFetchAllowed(topic: string, partition: number, replicaId: number, currentLeaderEpoch: number): number {
    const leaderCheck = this.checkLeader(topic, partition, currentLeaderEpoch);
    if (leaderCheck !== ErrorCode.NONE) return leaderCheck;
    if (replicaId >= 0 && !this.state(topic, partition)!.replicas.includes(replicaId)) return ErrorCode.NOT_LEADER_OR_FOLLOWER;
    return ErrorCode.NONE;
  }

  /**
   * A follower's fetch tells the leader that follower's log end offset (its fetch offset). That moves the
   * high watermark and, once the follower has caught up, brings it back into the ISR.
   */
  onReplicaFetch(replicaId: number, items: readonly ReadItem[]): void {
    const nowMs = Date.now();
    for (const item of items) {
      const state = this.state(item.topic, item.partition);
      const runtime = this.deps.topics.runtime(item.topic, item.partition);
      if (!state || !runtime || state.role !== "leader") continue;
      const progress = state.followers.get(replicaId);
      if (!progress) continue;
      // Kafka's rule: caught up if it reached the leader's end now, or the end as of its previous fetch.
      if (item.fetchOffset >= runtime.logEndOffset) progress.lastCaughtUpTimeMs = nowMs;
      else if (item.fetchOffset >= progress.leaderLogEndOffsetAtLastFetch) progress.lastCaughtUpTimeMs = progress.lastFetchTimeMs;
      progress.logEndOffset = item.fetchOffset;
      progress.lastFetchTimeMs = nowMs;
      progress.leaderLogEndOffsetAtLastFetch = runtime.logEndOffset;
      if (!state.isr.includes(replicaId) && item.fetchOffset >= runtime.highWatermark && item.fetchOffset >= state.leaderEpochStartOffset) {
        this.changeIsr(state, [...state.isr, replicaId].sort((a, b) => a - b), `broker ${replicaId} caught up at ${item.fetchOffset}`);
      }
      this.maybeAdvanceHighWatermark(state, runtime);
    }
  }

  /** Leader: followers that have not caught up within replica.lag.time.max.ms leave the ISR. */
  private shrinkIsrs(): void {
    if (this.stopped) return;
    const nowMs = Date.now();
    const lagMaxMs = this.deps.config.replicaLagTimeMaxMs;
    for (const state of this.states.values()) {
      if (state.role !== "leader" || state.isrChangeInFlight) continue;
      const lagging = state.isr.filter((replica) => replica !== this.deps.nodeId && nowMs - (state.followers.get(replica)?.lastCaughtUpTimeMs ?? 0) > lagMaxMs);
      if (lagging.length === 0) continue;
      this.changeIsr(state, state.isr.filter((replica) => !lagging.includes(replica)), `broker(s) ${lagging} lag more than ${lagMaxMs} ms`);
    }
  }

  /** Compare-and-swap of the ISR in the store, conditioned on the state this leader last saw. */
  private changeIsr(state: ReplicaState, isr: number[], reason: string): void {
    if (state.isrChangeInFlight || state.role !== "leader") return;
    state.isrChangeInFlight = true;
    const expected = state.stateVersion;
    const before = state.isr;
    const next = { leader: this.deps.nodeId, leaderEpoch: state.leaderEpoch, isr };
    this.deps.store
      .updatePartitionState(state.topic, state.partition, expected, next)
      .then((version) => {
        if (version === null) return; // Someone else (the controller) changed it first; its update will arrive.
        this.deps.log(`${state.topic}-${state.partition}: ISR [${before}] -> [${isr}] (${reason})`);
        this.deps.topics.applyPartitionState(state.topic, state.partition, next, version);
      })
      .catch((error) => this.deps.log(`${state.topic}-${state.partition}: ISR change failed: ${String(error)}`))
      .finally(() => {
        state.isrChangeInFlight = false;
      });
  }

  /** Follower: the leader's high watermark, bounded by what this replica has (its worker's answer, or null: unchanged). */
  onFollowerProgress(topic: string, partition: number, leaderHighWatermark: number, offsets: LogOffsets | null): void {
    const runtime = offsets ? this.deps.topics.noteOffsets(topic, partition, offsets) : this.deps.topics.runtime(topic, partition);
    if (!runtime) return;
    const highWatermark = Math.min(leaderHighWatermark, runtime.logEndOffset);
    if (highWatermark > runtime.highWatermark || runtime.highWatermark > runtime.logEndOffset) runtime.highWatermark = highWatermark;
  }

  /** Stops timers and fails pending acks=all produces (the broker is going away). */
  stop(): void {
    this.stopped = true;
    clearInterval(this.isrTimer);
    for (const key of [...this.ackWaiters.keys()]) this.failAckWaiters(key, ErrorCode.NOT_LEADER_OR_FOLLOWER);
  }
}

function newFollower(nowMs: number): FollowerProgress {
  return { logEndOffset: -1, lastCaughtUpTimeMs: nowMs, lastFetchTimeMs: nowMs, leaderLogEndOffsetAtLastFetch: 0 };
}
