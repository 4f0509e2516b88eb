// Consumer group administration over the Kafka protocol, what kafka-consumer-groups.sh does: list groups,
// describe a group's members, assignments and lag (committed offset vs log end offset), reset its committed
// offsets while it has no members, delete it. Lag and resets are client-side in Kafka too: DescribeGroups +
// OffsetFetch + ListOffsets, and an OffsetCommit with generation -1 that the coordinator accepts only from
// outside an active group. Works against any Kafka-compatible cluster (one connection per broker it needs).
import { KafkaConnection } from "../client/kafka-connection.ts";
import { decodeAssignment } from "../group/consumer-protocol.ts";
import { ErrorCode, errorName } from "../protocol/errors.ts";
import { ApiKey } from "../protocol/generated/index.ts";
import { connectClient, type ClientSecurity } from "./client-config.ts";

const RETRIES_MAX = 20;
const RETRY_BACKOFF_MS = 250;
const LATEST_TIMESTAMP = -1;
const EARLIEST_TIMESTAMP = -2;

export class GroupAdminError extends Error {}

export interface PartitionLag {
  topic: string;
  partition: number;
  /** -1 when the group has no committed offset for the partition. */
  currentOffset: number;
  logEndOffset: number;
  /** null when there is no committed offset (Kafka prints "-"). */
  lag: number | null;
  consumerId: string | null;
  host: string | null;
  clientId: string | null;
}

export interface GroupDescription {
  groupId: string;
  state: string;
  protocolType: string;
  protocol: string;
  coordinator: number;
  members: { memberId: string; groupInstanceId: string | null; clientId: string; host: string; assignment: { topic: string; partitions: number[] }[] }[];
  partitions: PartitionLag[];
}

export type ResetSpec = { to: "earliest" } | { to: "latest" } | { to: "offset"; offset: number } | { to: "datetime"; timestampMs: number };

export interface PlannedReset {
  topic: string;
  partition: number;
  currentOffset: number;
  newOffset: number;
}

interface BrokerAddress {
  nodeId: number;
  host: string;
  port: number;
}

interface TopicLayout {
  name: string;
  partitions: { partition: number; leader: number }[];
}

export class GroupAdmin {
  private readonly connections = new Map<string, KafkaConnection>();
  private brokers = new Map<number, BrokerAddress>();
  private topics = new Map<string, TopicLayout>();

  private constructor(
    private readonly bootstrap: { host: string; port: number },
    private readonly requestTimeoutMs: number,
    private readonly security: ClientSecurity,
  ) {}

  /** `security`: how every connection (bootstrap, coordinators, leaders) is made (tools/client-config.ts); plaintext by default. */
  static async connect(bootstrapServer: string, requestTimeoutMs = 30_000, security: ClientSecurity = { protocol: "PLAINTEXT" }): Promise<GroupAdmin> {
    const match = /^\[?([^\]]+?)\]?:(\d+)$/.exec(bootstrapServer.trim());
    if (!match) throw new GroupAdminError(`bootstrap server must be host:port, got "${bootstrapServer}"`);
    const admin = new GroupAdmin({ host: match[1]!, port: Number(match[2]) }, requestTimeoutMs, security);
    await admin.refreshMetadata();
    return admin;
  }

  close(): void {
    for (const connection of this.connections.values()) connection.close();
    this.connections.clear();
  }

  private async connection(host: string, port: number): Promise<KafkaConnection> {
    const key = `${host}:${port}`;
    const existing = this.connections.get(key);
    if (existing && !existing.closed) return existing;
    const connection = await connectClient({ host, port, clientId: "bunka-groups", requestTimeoutMs: this.requestTimeoutMs }, this.security);
    this.connections.set(key, connection);
    return connection;
  }

  private async brokerConnection(nodeId: number): Promise<KafkaConnection> {
    const broker = this.brokers.get(nodeId);
    if (!broker) throw new GroupAdminError(`broker ${nodeId} is not in the cluster metadata`);
    return this.connection(broker.host, broker.port);
  }

  private async refreshMetadata(): Promise<void> {
    const connection = await this.connection(this.bootstrap.host, this.bootstrap.port);
    const response = await connection.request(ApiKey.Metadata, 1, { topics: null });
    this.brokers = new Map(response.brokers.map((broker: BrokerAddress) => [broker.nodeId, broker]));
    this.topics = new Map(
      response.topics
        .filter((topic: { errorCode: number }) => topic.errorCode === ErrorCode.NONE)
        .map((topic: { name: string; partitions: { partitionIndex: number; leaderId: number }[] }) => [
          topic.name,
          { name: topic.name, partitions: topic.partitions.map((p) => ({ partition: p.partitionIndex, leader: p.leaderId })).sort((a, b) => a.partition - b.partition) },
        ]),
    );
  }

  /** Retries what a coordinator answers while it moves or loads; anything else is final. */
  private async coordinatorFor(groupId: string): Promise<{ nodeId: number; connection: KafkaConnection }> {
    const bootstrap = await this.connection(this.bootstrap.host, this.bootstrap.port);
    for (let attempt = 0; ; attempt++) {
      const response = await bootstrap.request(ApiKey.FindCoordinator, 2, { key: groupId, keyType: 0 });
      if (response.errorCode === ErrorCode.NONE) return { nodeId: response.nodeId, connection: await this.connection(response.host, response.port) };
      if (attempt >= RETRIES_MAX || !isRetriable(response.errorCode)) throw new GroupAdminError(`FindCoordinator for group ${groupId} failed: ${errorName(response.errorCode)}`);
      await Bun.sleep(RETRY_BACKOFF_MS);
    }
  }

  private async withCoordinator<T>(groupId: string, call: (connection: KafkaConnection) => Promise<{ errorCode: number; value: T }>): Promise<{ nodeId: number; value: T }> {
    for (let attempt = 0; ; attempt++) {
      const { nodeId, connection } = await this.coordinatorFor(groupId);
      const { errorCode, value } = await call(connection);
      if (errorCode === ErrorCode.NONE) return { nodeId, value };
      if (attempt >= RETRIES_MAX || !isRetriable(errorCode)) throw new GroupAdminError(`group ${groupId}: ${errorName(errorCode)}`);
      await Bun.sleep(RETRY_BACKOFF_MS);
    }
  }

  async listGroups(): Promise<{ groupId: string; protocolType: string; state: string; coordinator: number }[]> {
    const listed: { groupId: string; protocolType: string; state: string; coordinator: number }[] = [];
    for (const nodeId of this.brokers.keys()) {
      const response = await (await this.brokerConnection(nodeId)).request(ApiKey.ListGroups, 4, { statesFilter: [] });
      if (response.errorCode !== ErrorCode.NONE) throw new GroupAdminError(`ListGroups on broker ${nodeId} failed: ${errorName(response.errorCode)}`);
      for (const group of response.groups) listed.push({ groupId: group.groupId, protocolType: group.protocolType, state: group.groupState, coordinator: nodeId });
    }
    return listed.sort((a, b) => a.groupId.localeCompare(b.groupId));
  }

  async describeGroup(groupId: string): Promise<GroupDescription> {
    const { nodeId, value: group } = await this.withCoordinator(groupId, async (connection) => {
      const response = await connection.request(ApiKey.DescribeGroups, 4, { groups: [groupId], includeAuthorizedOperations: false });
      const described = response.groups[0];
      return { errorCode: described?.errorCode ?? ErrorCode.UNKNOWN_SERVER_ERROR, value: described };
    });
    const members = group.members.map((member: { memberId: string; groupInstanceId: string | null; clientId: string; clientHost: string; memberAssignment: Uint8Array }) => {
      const assignment = group.protocolType === "consumer" ? decodeAssignment(member.memberAssignment) : null;
      return {
        memberId: member.memberId,
        groupInstanceId: member.groupInstanceId,
        clientId: member.clientId,
        host: member.clientHost,
        assignment: (assignment?.assignedPartitions ?? []).map((entry) => ({ topic: entry.topic, partitions: [...entry.partitions].sort((a, b) => a - b) })),
      };
    });
    const committed = await this.committedOffsets(groupId);
    const owner = new Map<string, (typeof members)[number]>();
    for (const member of members) for (const { topic, partitions } of member.assignment) for (const partition of partitions) owner.set(`${topic}:${partition}`, member);
    const keys = new Map<string, { topic: string; partition: number }>();
    for (const entry of committed) keys.set(`${entry.topic}:${entry.partition}`, entry);
    for (const member of members) for (const { topic, partitions } of member.assignment) for (const partition of partitions) keys.set(`${topic}:${partition}`, { topic, partition });
    const ends = await this.listOffsets([...keys.values()], LATEST_TIMESTAMP);
    const partitions = [...keys.values()]
      .sort((a, b) => a.topic.localeCompare(b.topic) || a.partition - b.partition)
      .map(({ topic, partition }) => {
        const key = `${topic}:${partition}`;
        const currentOffset = committed.find((entry) => entry.topic === topic && entry.partition === partition)?.offset ?? -1;
        const logEndOffset = ends.get(key) ?? -1;
        const member = owner.get(key);
        return {
          topic,
          partition,
          currentOffset,
          logEndOffset,
          lag: currentOffset >= 0 && logEndOffset >= 0 ? Math.max(0, logEndOffset - currentOffset) : null,
          consumerId: member?.memberId ?? null,
          host: member?.host ?? null,
          clientId: member?.clientId ?? null,
        };
      });
    return { groupId, state: group.groupState, protocolType: group.protocolType, protocol: group.protocolData, coordinator: nodeId, members, partitions };
  }

  async committedOffsets(groupId: string): Promise<{ topic: string; partition: number; offset: number; metadata: string }[]> {
    const { value } = await this.withCoordinator(groupId, async (connection) => {
      const response = await connection.request(ApiKey.OffsetFetch, 7, { groupId, topics: null, requireStable: false });
      return { errorCode: response.errorCode, value: response.topics };
    });
    const out: { topic: string; partition: number; offset: number; metadata: string }[] = [];
    for (const topic of value) {
      for (const partition of topic.partitions) {
        if (partition.errorCode !== ErrorCode.NONE) throw new GroupAdminError(`OffsetFetch ${topic.name}-${partition.partitionIndex}: ${errorName(partition.errorCode)}`);
        out.push({ topic: topic.name, partition: partition.partitionIndex, offset: partition.committedOffset, metadata: partition.metadata ?? "" });
      }
    }
    return out;
  }

  /** Offsets by timestamp (-1 latest, -2 earliest, else the first offset at or after it; -1 if none), asked of each leader. */
  private async listOffsets(partitions: { topic: string; partition: number }[], timestamp: number): Promise<Map<string, number>> {
    const byLeader = new Map<number, { topic: string; partition: number }[]>();
    for (const entry of partitions) {
      const leader = this.topics.get(entry.topic)?.partitions.find((p) => p.partition === entry.partition)?.leader;
      if (leader === undefined || leader < 0) continue;
      let list = byLeader.get(leader);
      if (!list) byLeader.set(leader, (list = []));
      list.push(entry);
    }
    const offsets = new Map<string, number>();
    for (const [leader, entries] of byLeader) {
      const topics = new Map<string, number[]>();
      for (const { topic, partition } of entries) topics.set(topic, [...(topics.get(topic) ?? []), partition]);
      const response = await (await this.brokerConnection(leader)).request(ApiKey.ListOffsets, 5, {
        replicaId: -1,
        isolationLevel: 0,
        topics: [...topics].map(([name, list]) => ({ name, partitions: list.map((partitionIndex) => ({ partitionIndex, currentLeaderEpoch: -1, timestamp })) })),
      });
      for (const topic of response.topics) {
        for (const partition of topic.partitions) {
          if (partition.errorCode !== ErrorCode.NONE) throw new GroupAdminError(`ListOffsets ${topic.name}-${partition.partitionIndex}: ${errorName(partition.errorCode)}`);
          offsets.set(`${topic.name}:${partition.partitionIndex}`, partition.offset);
        }
      }
    }
    return offsets;
  }

  /**
   * Which partitions a reset covers: `topics` entries are "topic" (all partitions) or "topic:0,2";
   * `allTopics` = every topic the group has committed offsets for.
   */
  async resolvePartitions(groupId: string, topics: string[], allTopics: boolean): Promise<{ topic: string; partition: number }[]> {
    const selected = new Map<string, { topic: string; partition: number }>();
    if (allTopics) for (const entry of await this.committedOffsets(groupId)) selected.set(`${entry.topic}:${entry.partition}`, entry);
    for (const spec of topics) {
      const [name, list] = spec.split(":") as [string, string | undefined];
      const layout = this.topics.get(name);
      if (!layout) throw new GroupAdminError(`topic ${name} does not exist`);
      const partitions = list ? list.split(",").map((text) => Number(text.trim())) : layout.partitions.map((p) => p.partition);
      for (const partition of partitions) {
        if (!Number.isInteger(partition) || !layout.partitions.some((p) => p.partition === partition)) throw new GroupAdminError(`topic ${name} has no partition ${partition}`);
        selected.set(`${name}:${partition}`, { topic: name, partition });
      }
    }
    return [...selected.values()].sort((a, b) => a.topic.localeCompare(b.topic) || a.partition - b.partition);
  }

  /** The offsets a reset would commit. Like kafka-consumer-groups.sh, --to-offset is clamped into [earliest, latest]. */
  async planReset(groupId: string, partitions: { topic: string; partition: number }[], spec: ResetSpec): Promise<PlannedReset[]> {
    const committed = new Map((await this.committedOffsets(groupId)).map((entry) => [`${entry.topic}:${entry.partition}`, entry.offset]));
    const [earliest, latest] = await Promise.all([this.listOffsets(partitions, EARLIEST_TIMESTAMP), this.listOffsets(partitions, LATEST_TIMESTAMP)]);
    const byTime = spec.to === "datetime" ? await this.listOffsets(partitions, spec.timestampMs) : null;
    return partitions.map(({ topic, partition }) => {
      const key = `${topic}:${partition}`;
      const low = earliest.get(key) ?? 0;
      const high = latest.get(key) ?? 0;
      let newOffset: number;
      if (spec.to === "earliest") newOffset = low;
      else if (spec.to === "latest") newOffset = high;
      else if (spec.to === "offset") newOffset = Math.min(Math.max(spec.offset, low), high);
      else {
        const found = byTime!.get(key) ?? -1;
        newOffset = found >= 0 ? found : high; // no record at or after the time: the end
      }
      return { topic, partition, currentOffset: committed.get(key) ?? -1, newOffset };
    });
  }

  /** Commits planned offsets; refused unless the group has no members (Empty, or unknown = Dead). */
  async executeReset(groupId: string, plan: PlannedReset[]): Promise<void> {
    const { value: state } = await this.withCoordinator(groupId, async (connection) => {
      const response = await connection.request(ApiKey.DescribeGroups, 4, { groups: [groupId], includeAuthorizedOperations: false });
      return { errorCode: response.groups[0]?.errorCode ?? ErrorCode.UNKNOWN_SERVER_ERROR, value: response.groups[0]?.groupState as string };
    });
    if (state !== "Empty" && state !== "Dead") {
      throw new GroupAdminError(`Assignments can only be reset if the group '${groupId}' is inactive, but the current state is ${state}.`);
    }
    const topics = new Map<string, { partitionIndex: number; committedOffset: number; committedLeaderEpoch: number; committedMetadata: string }[]>();
    for (const entry of plan) {
      topics.set(entry.topic, [...(topics.get(entry.topic) ?? []), { partitionIndex: entry.partition, committedOffset: entry.newOffset, committedLeaderEpoch: -1, committedMetadata: "" }]);
    }
    await this.withCoordinator(groupId, async (connection) => {
      const response = await connection.request(ApiKey.OffsetCommit, 8, {
        groupId,
        generationIdOrMemberEpoch: -1,
        memberId: "",
        groupInstanceId: null,
        topics: [...topics].map(([name, partitions]) => ({ name, partitions })),
      });
      let errorCode: number = ErrorCode.NONE;
      for (const topic of response.topics) for (const partition of topic.partitions) if (partition.errorCode !== ErrorCode.NONE) errorCode = partition.errorCode;
      return { errorCode, value: null };
    });
  }

  async deleteGroup(groupId: string): Promise<void> {
    await this.withCoordinator(groupId, async (connection) => {
      const response = await connection.request(ApiKey.DeleteGroups, 2, { groupsNames: [groupId] });
      return { errorCode: response.results[0]?.errorCode ?? ErrorCode.UNKNOWN_SERVER_ERROR, value: null };
    });
  }
}

function isRetriable(errorCode: number): boolean {
  return errorCode === ErrorCode.COORDINATOR_NOT_AVAILABLE || errorCode === ErrorCode.COORDINATOR_LOAD_IN_PROGRESS || errorCode === ErrorCode.NOT_COORDINATOR;
}
