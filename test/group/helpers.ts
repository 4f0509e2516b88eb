// A broker in this process and raw group members speaking the protocol through KafkaConnection (real
// sockets), so each test controls exactly which request is sent when.
import { rmSync } from "node:fs";
import { KafkaConnection } from "../../src/client/kafka-connection.ts";
import { encodeAssignment, encodeSubscription } from "../../src/group/consumer-protocol.ts";
import { ErrorCode } from "../../src/protocol/errors.ts";
import { ApiKey } from "../../src/protocol/generated/index.ts";
import { buildBatch } from "../../src/records/compression.ts";
import { startBroker, type Broker } from "../../src/server/broker.ts";
import { tempDir } from "../helpers/broker-process.ts";

export const GROUP_TEST_PROPERTIES: Record<string, string> = {
  "group.initial.rebalance.delay.ms": "0",
  "group.min.session.timeout.ms": "100",
  "offsets.topic.num.partitions": "4",
};

export interface TestBroker {
  broker: Broker;
  dataDir: string;
  logLines: string[];
  connect(): Promise<KafkaConnection>;
  restart(): Promise<void>;
  stop(): Promise<void>;
}

export async function startTestBroker(properties: Record<string, string> = {}): Promise<TestBroker> {
  const dataDir = tempDir("group");
  const logLines: string[] = [];
  const options = { port: 0, dataDir, properties: { ...GROUP_TEST_PROPERTIES, ...properties }, log: (line: string) => void logLines.push(line) };
  const connections: KafkaConnection[] = [];
  const handle: TestBroker = {
    broker: await startBroker(options),
    dataDir,
    logLines,
    async connect() {
      const connection = await KafkaConnection.connect({ host: "127.0.0.1", port: handle.broker.port, requestTimeoutMs: 20_000 });
      connections.push(connection);
      return connection;
    },
    async restart() {
      for (const connection of connections.splice(0)) connection.close();
      await handle.broker.stop();
      handle.broker = await startBroker(options);
    },
    async stop() {
      for (const connection of connections.splice(0)) connection.close();
      await handle.broker.stop();
      if (process.env.DEBUG_LOG) console.log(logLines.join("\n"));
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
  return handle;
}

export async function createTopic(connection: KafkaConnection, name: string, numPartitions: number): Promise<void> {
  const response = await connection.request(ApiKey.CreateTopics, 4, { topics: [{ name, numPartitions, replicationFactor: 1 }], timeoutMs: 10_000 });
  const errorCode = response.topics[0].errorCode;
  if (errorCode !== ErrorCode.NONE && errorCode !== ErrorCode.TOPIC_ALREADY_EXISTS) throw new Error(`create ${name}: error ${errorCode}`);
}

export async function produce(connection: KafkaConnection, topic: string, partition: number, count: number): Promise<void> {
  const records = Array.from({ length: count }, (_, i) => ({ key: null, value: `record-${i}` }));
  const response = await connection.request(ApiKey.Produce, 7, { acks: -1, timeoutMs: 5000, topicData: [{ name: topic, partitionData: [{ index: partition, records: buildBatch({ records }) }] }] });
  const errorCode = response.responses[0].partitionResponses[0].errorCode;
  if (errorCode !== ErrorCode.NONE) throw new Error(`produce to ${topic}-${partition}: error ${errorCode}`);
}

export interface JoinOptions {
  version?: number;
  memberId?: string;
  groupInstanceId?: string | null;
  sessionTimeoutMs?: number;
  rebalanceTimeoutMs?: number;
  protocolType?: string;
  protocols?: { name: string; metadata: Uint8Array }[];
}

export function subscription(topics: string[]): Uint8Array {
  return encodeSubscription({ topics, userData: null });
}

export function assignment(topic: string, partitions: number[]): Uint8Array {
  return encodeAssignment({ assignedPartitions: [{ topic, partitions }], userData: null });
}

/** One group member on its own connection; remembers its member id and generation like a client does. */
export class RawMember {
  memberId = "";
  generationId = -1;
  leader = "";
  protocolName = "";
  lastJoin: any = null;

  constructor(
    readonly connection: KafkaConnection,
    readonly groupId: string,
    readonly options: JoinOptions = {},
  ) {}

  static async create(test: TestBroker, groupId: string, options: JoinOptions = {}): Promise<RawMember> {
    return new RawMember(await test.connect(), groupId, options);
  }

  /** One JoinGroup request; records the member id and generation it returns. */
  async joinOnce(overrides: JoinOptions = {}): Promise<any> {
    const options = { ...this.options, ...overrides };
    const version = options.version ?? 5;
    const response = await this.connection.request(ApiKey.JoinGroup, version, {
      groupId: this.groupId,
      sessionTimeoutMs: options.sessionTimeoutMs ?? 10_000,
      rebalanceTimeoutMs: options.rebalanceTimeoutMs ?? 10_000,
      memberId: options.memberId ?? this.memberId,
      groupInstanceId: options.groupInstanceId ?? null,
      protocolType: options.protocolType ?? "consumer",
      protocols: options.protocols ?? [{ name: "range", metadata: subscription(["t"]) }],
    });
    this.lastJoin = response;
    if (response.memberId) this.memberId = response.memberId;
    if (response.errorCode === ErrorCode.NONE) {
      this.generationId = response.generationId;
      this.leader = response.leader;
      this.protocolName = response.protocolName;
    }
    return response;
  }

  /** JoinGroup, answering MEMBER_ID_REQUIRED with a second join, as clients do. */
  async join(overrides: JoinOptions = {}): Promise<any> {
    let response = await this.joinOnce(overrides);
    if (response.errorCode === ErrorCode.MEMBER_ID_REQUIRED) response = await this.joinOnce({ ...overrides, memberId: response.memberId });
    return response;
  }

  get isLeader(): boolean {
    return this.leader !== "" && this.leader === this.memberId;
  }

  sync(assignments: { memberId: string; assignment: Uint8Array }[] = [], overrides: { generationId?: number; memberId?: string; groupInstanceId?: string | null } = {}): Promise<any> {
    return this.connection.request(ApiKey.SyncGroup, 3, {
      groupId: this.groupId,
      generationId: overrides.generationId ?? this.generationId,
      memberId: overrides.memberId ?? this.memberId,
      groupInstanceId: overrides.groupInstanceId ?? this.options.groupInstanceId ?? null,
      assignments,
    });
  }

  async heartbeat(overrides: { generationId?: number; memberId?: string; groupInstanceId?: string | null } = {}): Promise<number> {
    const response = await this.connection.request(ApiKey.Heartbeat, 3, {
      groupId: this.groupId,
      generationId: overrides.generationId ?? this.generationId,
      memberId: overrides.memberId ?? this.memberId,
      groupInstanceId: overrides.groupInstanceId ?? this.options.groupInstanceId ?? null,
    });
    return response.errorCode;
  }

  async commit(topic: string, offsets: Record<number, number>, overrides: { generationId?: number; memberId?: string; metadata?: string } = {}): Promise<number[]> {
    const response = await this.connection.request(ApiKey.OffsetCommit, 7, {
      groupId: this.groupId,
      generationIdOrMemberEpoch: overrides.generationId ?? this.generationId,
      memberId: overrides.memberId ?? this.memberId,
      groupInstanceId: this.options.groupInstanceId ?? null,
      topics: [{ name: topic, partitions: Object.entries(offsets).map(([partition, offset]) => ({ partitionIndex: Number(partition), committedOffset: offset, committedLeaderEpoch: -1, committedMetadata: overrides.metadata ?? "" })) }],
    });
    return response.topics[0].partitions.map((partition: { errorCode: number }) => partition.errorCode);
  }

  async leave(): Promise<number> {
    const response = await this.connection.request(ApiKey.LeaveGroup, 4, { groupId: this.groupId, members: [{ memberId: this.memberId, groupInstanceId: this.options.groupInstanceId ?? null }] });
    // Like a client: after leaving, the next join starts from scratch.
    this.memberId = "";
    this.generationId = -1;
    return response.errorCode !== ErrorCode.NONE ? response.errorCode : response.members[0].errorCode;
  }
}

export async function describeGroup(connection: KafkaConnection, groupId: string): Promise<any> {
  const response = await connection.request(ApiKey.DescribeGroups, 5, { groups: [groupId], includeAuthorizedOperations: false });
  return response.groups[0];
}

/** Polls `check` every 20 ms until it returns true or `timeoutMs` passes; returns the final answer. */
export async function eventually(check: () => boolean | Promise<boolean>, timeoutMs = 10_000): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await check()) return true;
    if (Date.now() >= deadline) return false;
    await Bun.sleep(20);
  }
}

/** A partition set a KIP-848 member holds, as ConsumerGroupHeartbeat names it (by topic id). */
export interface OwnedPartitions {
  topicId: Uint8Array;
  partitions: number[];
}

/**
 * A KIP-848 member driven by hand (ConsumerGroupHeartbeat v1) on one topic: joins at epoch 0, then heartbeats
 * with its epoch and the partitions it holds, acknowledging what it is given at once, as a client does.
 */
export class ConsumerProtocolMember {
  epoch = 0;
  owned: OwnedPartitions[] = [];

  constructor(
    readonly memberId: string,
    readonly topic: string,
    readonly instanceId: string | null = null,
  ) {}

  partitions(): number[] {
    return this.owned.flatMap((entry) => entry.partitions).sort((a, b) => a - b);
  }

  async heartbeat(connection: KafkaConnection, groupId: string): Promise<any> {
    const joining = this.epoch === 0;
    const response = await connection.request(ApiKey.ConsumerGroupHeartbeat, 1, {
      groupId,
      memberId: this.memberId,
      memberEpoch: this.epoch,
      instanceId: this.instanceId,
      rackId: null,
      rebalanceTimeoutMs: joining ? 30_000 : -1,
      subscribedTopicNames: joining ? [this.topic] : null,
      subscribedTopicRegex: null,
      serverAssignor: null,
      topicPartitions: joining ? [] : this.owned,
    });
    if (response.errorCode === ErrorCode.NONE) {
      this.epoch = response.memberEpoch;
      if (response.assignment) this.owned = copyOwned(response.assignment.topicPartitions);
    }
    return response;
  }

  leave(connection: KafkaConnection, groupId: string): Promise<any> {
    return connection.request(ApiKey.ConsumerGroupHeartbeat, 1, { groupId, memberId: this.memberId, memberEpoch: -1, instanceId: this.instanceId, rackId: null, rebalanceTimeoutMs: -1, subscribedTopicNames: null, subscribedTopicRegex: null, serverAssignor: null, topicPartitions: null });
  }
}

/** An assignment's partitions copied out of the response's buffers. */
export function copyOwned(topicPartitions: OwnedPartitions[]): OwnedPartitions[] {
  return topicPartitions.map((entry) => ({ topicId: new Uint8Array(entry.topicId), partitions: [...entry.partitions] }));
}
