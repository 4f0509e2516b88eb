// A consumer-group member for the load test: the classic group protocol (FindCoordinator, JoinGroup,
// SyncGroup, Heartbeat, OffsetFetch/OffsetCommit, LeaveGroup) spoken over blocking connections, with the
// "RoundRobinAssigner" protocol (kafkajs's name and format, so kafkajs members can share a group).
// It commits its positions before every rejoin and when it leaves, so a group reads every record once.
// Progress (records, checksum, positions) goes to the main thread every PROGRESS_INTERVAL_MS.
declare const self: Worker;
import { crc32c } from "@node-rs/crc32";
import { decodeAssignment, decodeSubscription, encodeAssignment, encodeSubscription } from "../src/group/consumer-protocol.ts";
import { ApiKey } from "../src/protocol/generated/index.ts";
import { BlockingConnection, forEachRecordValue, nowNs } from "./blocking-client.ts";
import { scanBatches } from "./kafka-frames.ts";

export interface GroupConsumerTask {
  port: number;
  topic: string;
  partitionCount: number;
  groupId: string;
  clientId: string;
  partitionMaxBytes: number;
  sessionTimeoutMs: number;
  maxSeconds: number;
  /** Int32 [0] = stop requested; Float64 from byte 8: the end offset of each partition to reach first. */
  control: SharedArrayBuffer;
}

export interface GroupConsumerProgress {
  event: "progress" | "done";
  clientId: string;
  groupId: string;
  records: number;
  bytes: number;
  checksum: number;
  seconds: number;
  /** partition -> next offset, for the partitions this member holds now. */
  positions: Record<number, number>;
  rebalances: number;
  assigned: number[];
  error?: string;
}

const PROTOCOL_NAME = "RoundRobinAssigner";
const HEARTBEAT_INTERVAL_MS = 1000;
const COMMIT_INTERVAL_MS = 1000;
const PROGRESS_INTERVAL_MS = 250;
const FETCH_MAX_WAIT_MS = 100;
const JOIN_ATTEMPTS_MAX = 50;
const MEMBER_ID_REQUIRED = 79;
const REBALANCE_IN_PROGRESS = 27;
const UNKNOWN_MEMBER_ID = 25;
const ILLEGAL_GENERATION = 22;

function run(task: GroupConsumerTask): void {
  const control = new Int32Array(task.control, 0, 2);
  const targets = new Float64Array(task.control, 8, task.partitionCount);
  const startNs = nowNs();
  const deadlineNs = startNs + task.maxSeconds * 1e9;
  const elapsedMs = () => (nowNs() - startNs) / 1e6;

  const bootstrap = BlockingConnection.open(task.port);
  const found = bootstrap.request(ApiKey.FindCoordinator, 2, { key: task.groupId, keyType: 0 });
  if (found.errorCode !== 0) throw new Error(`FindCoordinator: error ${found.errorCode}`);
  const coordinator = found.port === task.port ? bootstrap : BlockingConnection.open(found.port);
  const fetcher = BlockingConnection.open(task.port);

  let memberId = "";
  let generationId = -1;
  let assigned: number[] = [];
  const positions = new Map<number, number>();
  let records = 0;
  let bytes = 0;
  let checksum = 0;
  let rebalances = 0;

  const progress = (event: "progress" | "done", error?: string): void => {
    self.postMessage({
      event,
      clientId: task.clientId,
      groupId: task.groupId,
      records,
      bytes,
      checksum,
      seconds: elapsedMs() / 1000,
      positions: Object.fromEntries(positions),
      rebalances,
      assigned,
      error,
    } satisfies GroupConsumerProgress);
  };

  const commit = (): void => {
    if (assigned.length === 0 || generationId < 0) return;
    const response = coordinator.request(ApiKey.OffsetCommit, 7, {
      groupId: task.groupId,
      generationIdOrMemberEpoch: generationId,
      memberId,
      groupInstanceId: null,
      topics: [{ name: task.topic, partitions: assigned.map((partitionIndex) => ({ partitionIndex, committedOffset: positions.get(partitionIndex) ?? 0, committedLeaderEpoch: -1, committedMetadata: "" })) }],
    });
    for (const partition of response.topics[0].partitions) {
      // A commit refused because a rebalance started is retried after the rejoin (positions are kept).
      if (partition.errorCode !== 0 && partition.errorCode !== REBALANCE_IN_PROGRESS) throw new Error(`OffsetCommit ${task.topic}-${partition.partitionIndex}: error ${partition.errorCode}`);
    }
  };

  /** JoinGroup + SyncGroup until this member has a generation and an assignment. */
  const join = (): void => {
    for (let attempt = 0; attempt < JOIN_ATTEMPTS_MAX; attempt++) {
      const joined = coordinator.request(ApiKey.JoinGroup, 5, {
        groupId: task.groupId,
        sessionTimeoutMs: task.sessionTimeoutMs,
        rebalanceTimeoutMs: task.sessionTimeoutMs,
        memberId,
        groupInstanceId: null,
        protocolType: "consumer",
        protocols: [{ name: PROTOCOL_NAME, metadata: encodeSubscription({ topics: [task.topic], userData: null }) }],
      });
      if (joined.errorCode === MEMBER_ID_REQUIRED) {
        memberId = joined.memberId;
        continue;
      }
      if (joined.errorCode === UNKNOWN_MEMBER_ID) {
        memberId = "";
        continue;
      }
      if (joined.errorCode === REBALANCE_IN_PROGRESS) continue;
      if (joined.errorCode !== 0) throw new Error(`JoinGroup: error ${joined.errorCode}`);
      memberId = joined.memberId;
      generationId = joined.generationId;
      let assignments: { memberId: string; assignment: Uint8Array }[] = [];
      if (joined.leader === memberId) {
        // Round robin over the sorted members that subscribe to the topic (kafkajs's RoundRobinAssigner).
        const members = (joined.members as { memberId: string; metadata: Uint8Array }[])
          .filter((member) => decodeSubscription(member.metadata)?.topics.includes(task.topic))
          .map((member) => member.memberId)
          .sort();
        const perMember = new Map<string, number[]>(members.map((id) => [id, []]));
        for (let partition = 0; partition < task.partitionCount; partition++) perMember.get(members[partition % members.length]!)!.push(partition);
        assignments = members.map((id) => ({ memberId: id, assignment: encodeAssignment({ assignedPartitions: [{ topic: task.topic, partitions: perMember.get(id)! }], userData: null }) }));
      }
      const synced = coordinator.request(ApiKey.SyncGroup, 3, { groupId: task.groupId, generationId, memberId, groupInstanceId: null, assignments });
      if (synced.errorCode === REBALANCE_IN_PROGRESS || synced.errorCode === ILLEGAL_GENERATION) continue;
      if (synced.errorCode === UNKNOWN_MEMBER_ID) {
        memberId = "";
        continue;
      }
      if (synced.errorCode !== 0) throw new Error(`SyncGroup: error ${synced.errorCode}`);
      const assignment = decodeAssignment(synced.assignment);
      assigned = (assignment?.assignedPartitions.find((each) => each.topic === task.topic)?.partitions ?? []).slice().sort((a, b) => a - b);
      positions.clear();
      if (assigned.length > 0) {
        const fetched = coordinator.request(ApiKey.OffsetFetch, 7, { groupId: task.groupId, topics: [{ name: task.topic, partitionIndexes: assigned }], requireStable: false });
        for (const partition of fetched.topics[0].partitions) {
          if (partition.errorCode !== 0) throw new Error(`OffsetFetch ${task.topic}-${partition.partitionIndex}: error ${partition.errorCode}`);
          // No committed offset yet: start at the beginning (auto.offset.reset=earliest; the log starts at 0).
          positions.set(partition.partitionIndex, Math.max(0, Number(partition.committedOffset)));
        }
      }
      rebalances++;
      progress("progress");
      return;
    }
    throw new Error(`no stable group after ${JOIN_ATTEMPTS_MAX} JoinGroup attempts`);
  };

  let lastHeartbeatMs = 0;
  let lastCommitMs = 0;
  let lastProgressMs = 0;
  join();
  try {
    for (;;) {
      if (nowNs() > deadlineNs) throw new Error(`not caught up within ${task.maxSeconds} s`);
      const stopping = Atomics.load(control, 0) === 1;
      if (stopping && assigned.every((partition) => (positions.get(partition) ?? 0) >= targets[partition]!)) break;

      const now = elapsedMs();
      if (now - lastCommitMs >= COMMIT_INTERVAL_MS) {
        commit();
        lastCommitMs = now;
      }
      if (now - lastHeartbeatMs >= HEARTBEAT_INTERVAL_MS) {
        lastHeartbeatMs = now;
        const beat = coordinator.request(ApiKey.Heartbeat, 3, { groupId: task.groupId, generationId, memberId, groupInstanceId: null });
        if (beat.errorCode === REBALANCE_IN_PROGRESS || beat.errorCode === ILLEGAL_GENERATION || beat.errorCode === UNKNOWN_MEMBER_ID) {
          // Eager rebalance: commit what was read, give everything up, rejoin.
          if (beat.errorCode === REBALANCE_IN_PROGRESS) commit();
          if (beat.errorCode === UNKNOWN_MEMBER_ID) memberId = "";
          join();
          continue;
        } else if (beat.errorCode !== 0) {
          throw new Error(`Heartbeat: error ${beat.errorCode}`);
        }
      }
      if (now - lastProgressMs >= PROGRESS_INTERVAL_MS) {
        lastProgressMs = now;
        progress("progress");
      }
      if (assigned.length === 0) {
        Bun.sleepSync(50);
        continue;
      }

      // One fetch for all assigned partitions, as real consumers do.
      const response = fetcher.request(ApiKey.Fetch, 11, {
        replicaId: -1,
        maxWaitMs: FETCH_MAX_WAIT_MS,
        minBytes: 1,
        maxBytes: task.partitionMaxBytes * assigned.length,
        isolationLevel: 0,
        topics: [{ topic: task.topic, partitions: assigned.map((partition) => ({ partition, fetchOffset: positions.get(partition) ?? 0, partitionMaxBytes: task.partitionMaxBytes })) }],
      });
      for (const partition of response.responses[0]?.partitions ?? []) {
        if (partition.errorCode !== 0) throw new Error(`Fetch ${task.topic}-${partition.partitionIndex}: error ${partition.errorCode}`);
        const data: Uint8Array | null = partition.records;
        if (!data || data.byteLength === 0) continue;
        const scanned = scanBatches(data);
        if (scanned.batches === 0) continue;
        const position = positions.get(partition.partitionIndex) ?? 0;
        // A fetch may return a batch that starts below the position: count only records at or after it.
        let offset = -1;
        const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
        let batchBase = 0;
        forEachRecordValue(data, scanned.wholeBytes, (valueAt, valueLength, indexInBatch, batchPosition) => {
          if (indexInBatch === 0) batchBase = Number(view.getBigInt64(batchPosition));
          offset = batchBase + indexInBatch;
          if (offset < position) return;
          records++;
          checksum = (checksum + crc32c(data.subarray(valueAt, valueAt + valueLength))) >>> 0;
        });
        bytes += scanned.wholeBytes;
        positions.set(partition.partitionIndex, scanned.lastOffset + 1);
      }
    }
    commit();
    coordinator.request(ApiKey.LeaveGroup, 3, { groupId: task.groupId, members: [{ memberId, groupInstanceId: null }] });
  } finally {
    fetcher.close();
    if (coordinator !== bootstrap) coordinator.close();
    bootstrap.close();
  }
  progress("done");
}

self.onmessage = (event: MessageEvent<GroupConsumerTask>) => {
  const task = event.data;
  try {
    run(task);
  } catch (error) {
    self.postMessage({
      event: "done",
      clientId: task.clientId,
      groupId: task.groupId,
      records: 0,
      bytes: 0,
      checksum: 0,
      seconds: 0,
      positions: {},
      rebalances: 0,
      assigned: [],
      error: error instanceof Error ? (error.stack ?? error.message) : String(error),
    } satisfies GroupConsumerProgress);
  }
};
