// Network shards (num.network.shards): connections spread by SO_REUSEPORT over the main thread and the shard
// threads; every shard frames and answers its connections' requests, writes fetch data from its own mapping
// of the segments, and carries group, admin and SASL traffic, and a shard that crashes takes only its own
// connections with it. Real sockets on 127.0.0.1 against an in-process broker; which shard a connection
// landed on is read from the broker's per-shard counters (also on /metrics).
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import type { Socket } from "bun";
import { rmSync } from "node:fs";
import { KafkaConnection } from "../../src/client/kafka-connection.ts";
import { ErrorCode } from "../../src/protocol/errors.ts";
import { ApiKey } from "../../src/protocol/generated/index.ts";
import { buildBatch } from "../../src/records/compression.ts";
import { computeBatchCrc, CRC_OFFSET, RECORDS_OFFSET, dataViewOf, readBatchHeader } from "../../src/records/batch.ts";
import { decodeRecords } from "../../src/records/record.ts";
import { ownerOfPartition } from "../../src/partition/partition-workers.ts";
import { encodeRequest } from "../../bench/kafka-frames.ts";
import { startBroker, type Broker } from "../../src/server/broker.ts";
import { scrape, sample } from "../helpers/admin-http.ts";
import { freePort, tempDir } from "../helpers/broker-process.ts";
import { kcat, kcatConsumeAll } from "../helpers/kcat.ts";
import { RawMember, assignment, describeGroup, eventually, subscription } from "../group/helpers.ts";
import { makeDevCerts } from "../helpers/certs.ts";

const SHARDS = 3;
const TOPIC = "sharded";
const PARTITIONS = 4;
/** Connections opened at most while waiting for the kernel to hand some to every shard. */
const CONNECTIONS_MAX = 120;
const WAIT_MS = 20_000;

interface Placed {
  connection: KafkaConnection;
  shard: number;
}

/** Total connections each shard accepted so far, by shard index. */
function accepted(broker: Broker): number[] {
  return broker.networkShardStats().map((stats) => stats.connectionsAccepted);
}

/**
 * Opens connections one at a time and reads which shard took each (the counter that moved), until every
 * live shard in `shards` has `perShard` of them. Bounded by CONNECTIONS_MAX and WAIT_MS.
 */
async function connectToEveryShard(broker: Broker, shards: number[], perShard: number, opened: KafkaConnection[], sasl?: { mechanism: "PLAIN"; username: string; password: string }): Promise<Placed[]> {
  const placed: Placed[] = [];
  const deadline = Date.now() + WAIT_MS;
  for (let attempt = 0; attempt < CONNECTIONS_MAX && Date.now() < deadline; attempt++) {
    if (shards.every((shard) => placed.filter((entry) => entry.shard === shard).length >= perShard)) break;
    const before = accepted(broker);
    const connection = await KafkaConnection.connect({ host: "127.0.0.1", port: broker.port, requestTimeoutMs: 20_000, ...(sasl ? { sasl } : {}) });
    opened.push(connection);
    // A shard reports its accept by message: wait for one counter to move (or a SASL login already proved it).
    let shard = -1;
    await eventually(() => {
      const after = accepted(broker);
      shard = after.findIndex((count, index) => count > (before[index] ?? 0));
      return shard >= 0;
    }, 5_000);
    expect(shard).toBeGreaterThanOrEqual(0);
    placed.push({ connection, shard });
  }
  for (const shard of shards) expect(placed.filter((entry) => entry.shard === shard).length).toBeGreaterThanOrEqual(perShard);
  return placed;
}

function batchOf(values: string[]): Uint8Array {
  return buildBatch({ records: values.map((value) => ({ key: null, value })) });
}

async function produce(connection: KafkaConnection, topic: string, partition: number, batch: Uint8Array, acks = -1): Promise<{ errorCode: number; baseOffset: number }> {
  const response = await connection.request(ApiKey.Produce, 7, { acks, timeoutMs: 10_000, topicData: [{ name: topic, partitionData: [{ index: partition, records: batch }] }] });
  const answer = response.responses[0].partitionResponses[0];
  return { errorCode: answer.errorCode, baseOffset: Number(answer.baseOffset) };
}

async function fetchFrom(connection: KafkaConnection, topic: string, partition: number, offset: number, maxBytes = 8 * 1024 * 1024): Promise<{ errorCode: number; records: Uint8Array }> {
  const response = await connection.request(ApiKey.Fetch, 11, {
    replicaId: -1, maxWaitMs: 0, minBytes: 0, maxBytes, isolationLevel: 0, sessionId: 0, sessionEpoch: -1,
    topics: [{ topic, partitions: [{ partition, fetchOffset: offset, currentLeaderEpoch: -1, logStartOffset: -1, partitionMaxBytes: maxBytes, lastFetchedEpoch: -1 }] }],
    forgottenTopicsData: [], rackId: "",
  });
  const answer = response.responses[0].partitions[0];
  return { errorCode: answer.errorCode, records: answer.records ?? new Uint8Array(0) };
}

/** Every record value of fetched (uncompressed) batches, as text, in log order. */
function recordValues(records: Uint8Array): string[] {
  const values: string[] = [];
  const view = dataViewOf(records);
  for (let position = 0; position + RECORDS_OFFSET <= records.byteLength; ) {
    const header = readBatchHeader(view, position);
    if (position + header.sizeBytes > records.byteLength) break;
    const section = records.subarray(position + RECORDS_OFFSET, position + header.sizeBytes);
    for (const record of decodeRecords(section, header.recordCount)) values.push(new TextDecoder().decode(record.value!));
    position += header.sizeBytes;
  }
  return values;
}

/** The first batch of fetched bytes, minus what the broker rewrites (base offset, partition leader epoch). */
function firstBatchBody(records: Uint8Array): Uint8Array {
  const length = new DataView(records.buffer, records.byteOffset, records.byteLength).getInt32(8);
  return records.subarray(16, 12 + length);
}

/**
 * The same cases for both kinds of shard: threads that only hold sockets (num.network.shards=3), and partition
 * workers that also listen (partition.workers.listen with 2 workers: shards 1 and 2 are workers 0 and 1, and
 * each answers a produce for its own partitions itself).
 */
const shardModes = [
  { name: "num.network.shards=3", options: { networkShards: SHARDS, partitionWorkers: 2 }, ownsPartitions: false, landing: [0, 1, 2] },
  // The main thread leaves PLAINTEXT connections to the listening workers (single node): they land on 1 and 2 only.
  { name: "partition.workers.listen with 2 workers", options: { partitionWorkers: 2, properties: { "partition.workers.listen": "true" } }, ownsPartitions: true, landing: [1, 2] },
];

for (const mode of shardModes) describe(mode.name, () => {
  let broker: Broker;
  let dataDir: string;
  const logLines: string[] = [];
  const opened: KafkaConnection[] = [];
  const adminPort = freePort();
  const adminUrl = `http://127.0.0.1:${adminPort}`;

  beforeAll(async () => {
    dataDir = tempDir("shards");
    broker = await startBroker({
      port: 0,
      dataDir,
      ...mode.options,
      properties: { ...mode.options.properties, "admin.listeners": adminUrl, "group.initial.rebalance.delay.ms": "0", "group.min.session.timeout.ms": "100", "offsets.topic.num.partitions": "4" },
      log: (line) => void logLines.push(line),
    });
    const setup = await KafkaConnection.connect({ host: "127.0.0.1", port: broker.port });
    opened.push(setup);
    const created = await setup.request(ApiKey.CreateTopics, 4, { topics: [{ name: TOPIC, numPartitions: PARTITIONS, replicationFactor: 1 }], timeoutMs: 10_000 });
    expect(created.topics[0].errorCode).toBe(ErrorCode.NONE);
  });

  afterAll(async () => {
    for (const connection of opened) connection.close();
    await broker?.stop();
    if (process.env.DEBUG_LOG) console.log(logLines.join("\n"));
    rmSync(dataDir, { recursive: true, force: true });
  });

  test("connections land on every shard; each produces and fetches its own records back byte for byte, small and multi-read frames", async () => {
    const mainAcceptedBefore = accepted(broker)[0]!;
    const placed = await connectToEveryShard(broker, mode.landing, 2, opened);
    const requestsBefore = broker.networkShardStats().map((stats) => stats.requests);
    const localBefore = broker.networkShardStats().map((stats) => stats.localRequests);
    // Every connection writes to every partition: on a listening worker, some are its own and some are not.
    for (const [index, { connection, shard }] of placed.entries()) {
      for (let partition = 0; partition < PARTITIONS; partition++) {
        const batch = batchOf([`shard-${shard}-connection-${index}-${partition}-a`, `shard-${shard}-connection-${index}-${partition}-b`]);
        const produced = await produce(connection, TOPIC, partition, batch, partition % 2 === 0 ? -1 : 1);
        expect(produced.errorCode).toBe(ErrorCode.NONE);
        const fetched = await fetchFrom(connection, TOPIC, partition, produced.baseOffset);
        expect(fetched.errorCode).toBe(ErrorCode.NONE);
        expect(firstBatchBody(fetched.records)).toEqual(batch.subarray(16));
      }
    }
    // A 750 KB batch spans several socket reads: a shard assembles it in a shared pool block the partition worker appends from.
    for (const shard of mode.landing) {
      const { connection } = placed.find((entry) => entry.shard === shard)!;
      const big = "x".repeat(3000);
      const batch = batchOf(Array.from({ length: 250 }, (_, i) => `${shard}-${i}-${big}`));
      const produced = await produce(connection, TOPIC, 0, batch);
      expect(produced.errorCode).toBe(ErrorCode.NONE);
      const fetched = await fetchFrom(connection, TOPIC, 0, produced.baseOffset);
      expect(fetched.errorCode).toBe(ErrorCode.NONE);
      expect(firstBatchBody(fetched.records)).toEqual(batch.subarray(16));
    }
    const stats = broker.networkShardStats();
    for (const shard of [1, 2]) expect(stats[shard]!.requests).toBeGreaterThan(requestsBefore[shard]!);
    // A listening worker answered its own partitions' produces itself; the main thread never does, nor a plain shard.
    for (const shard of [1, 2]) expect(stats[shard]!.localRequests > localBefore[shard]!).toBe(mode.ownsPartitions);
    expect(stats[0]!.localRequests).toBe(0);
    // The same figures on /metrics.
    // Listening workers: the main thread accepted none of them (it answers what the workers pass on).
    if (mode.ownsPartitions) expect(accepted(broker)[0]).toBe(mainAcceptedBefore);
    const families = await scrape(adminUrl);
    for (const shard of mode.landing.map(String)) {
      expect(sample(families, "bunka_network_shard_requests_total", { shard })).toBeGreaterThan(0);
      expect(sample(families, "bunka_network_shard_connections", { shard })).toBeGreaterThan(0);
    }
    expect(sample(families, "bunka_connections", { listener: "PLAINTEXT" })).toBe(stats.reduce((sum, shard) => sum + shard.connections, 0));
    // Local answers per API: produces and fetches apart, adding up to the shard's total.
    const scraped = broker.networkShardStats();
    for (const shard of [0, 1, 2]) {
      const produces = sample(families, "bunka_network_shard_local_requests_total", { shard: String(shard), api: "Produce" });
      const fetches = sample(families, "bunka_network_shard_local_requests_total", { shard: String(shard), api: "Fetch" });
      expect(produces).toBe(scraped[shard]!.localProduces);
      expect(fetches).toBe(scraped[shard]!.localFetches);
      expect(produces! + fetches!).toBe(scraped[shard]!.localRequests);
    }
    if (mode.ownsPartitions) for (const shard of [1, 2]) expect(scraped[shard]!.localProduces).toBeGreaterThan(0);
    // Every request counted in the total is in the queue-time histogram too, whichever thread answered it.
    const text = await (await fetch(`${adminUrl}/metrics`)).text();
    const count = (name: string, api: string) => Number(text.split("\n").find((line) => line.startsWith(`${name}_count{api="${api}"}`))?.split(" ").pop());
    for (const api of ["Produce", "Fetch"]) {
      expect(count("bunka_request_duration_seconds", api)).toBeGreaterThan(0);
      expect(count("bunka_request_queue_duration_seconds", api)).toBe(count("bunka_request_duration_seconds", api));
    }
  });

  test("pipelined requests on a shard connection are answered in order, acks=0 included", async () => {
    const placed = await connectToEveryShard(broker, [1, 2], 1, opened);
    for (const shard of [1, 2]) {
      const { connection } = placed.find((entry) => entry.shard === shard)!;
      const answers = await Promise.all(Array.from({ length: 40 }, (_, i) => (i % 4 === 3 ? fetchFrom(connection, TOPIC, 1, 0, 4096).then((fetched) => fetched.errorCode) : produce(connection, TOPIC, 1, batchOf([`pipelined-${shard}-${i}`])).then((produced) => produced.errorCode))));
      expect(answers.every((errorCode) => errorCode === ErrorCode.NONE)).toBe(true);
      await connection.request(ApiKey.Produce, 7, { acks: 0, timeoutMs: 10_000, topicData: [{ name: TOPIC, partitionData: [{ index: 1, records: batchOf(["acks-0"]) }] }] }, false);
      // acks=0 has no reply; the connection must still answer the next request.
      const after = await fetchFrom(connection, TOPIC, 1, 0, 4096);
      expect(after.errorCode).toBe(ErrorCode.NONE);
    }
  });

  test("groups and admin requests through shard connections: join, sync, commit, fetch offsets, describe, create and delete topics", async () => {
    const placed = await connectToEveryShard(broker, [1, 2], 1, opened);
    const onShard1 = placed.find((entry) => entry.shard === 1)!.connection;
    const onShard2 = placed.find((entry) => entry.shard === 2)!.connection;
    // Admin on shard 1.
    const created = await onShard1.request(ApiKey.CreateTopics, 4, { topics: [{ name: "admin-via-shard", numPartitions: 2, replicationFactor: 1 }], timeoutMs: 10_000 });
    expect(created.topics[0].errorCode).toBe(ErrorCode.NONE);
    const metadata = await onShard2.request(ApiKey.Metadata, 9, { topics: [{ name: "admin-via-shard" }], allowAutoTopicCreation: false, includeClusterAuthorizedOperations: false, includeTopicAuthorizedOperations: false });
    expect(metadata.topics[0].errorCode).toBe(ErrorCode.NONE);
    expect(metadata.topics[0].partitions.length).toBe(2);
    // Two members of one group, each on its own shard.
    const first = new RawMember(onShard1, "sharded-group", { protocols: [{ name: "range", metadata: subscription([TOPIC]) }] });
    const second = new RawMember(onShard2, "sharded-group", { protocols: [{ name: "range", metadata: subscription([TOPIC]) }] });
    const coordinator = await onShard1.request(ApiKey.FindCoordinator, 3, { key: "sharded-group", keyType: 0 });
    expect(coordinator.errorCode).toBe(ErrorCode.NONE);
    // With group.initial.rebalance.delay.ms=0 a join on an empty group completes at once, so joins sent together
    // race (the loser's join then waits out the winner's rebalance timeout). As a client would, the first
    // member joins alone, the second's join opens a rebalance, and the first rejoins once the group says so.
    let stable = false;
    for (let round = 0; round < 5 && !stable; round++) {
      await first.join();
      const secondJoining = second.join();
      let preparing = false;
      for (let poll = 0; poll < 200 && !preparing; poll++) {
        preparing = (await describeGroup(onShard1, "sharded-group")).groupState === "PreparingRebalance";
        if (!preparing) await Bun.sleep(10);
      }
      const [joinedFirst, joinedSecond] = await Promise.all([first.join(), secondJoining]);
      if (joinedFirst.errorCode !== ErrorCode.NONE || joinedSecond.errorCode !== ErrorCode.NONE || first.generationId !== second.generationId) continue;
      const leader = first.isLeader ? first : second;
      const follower = leader === first ? second : first;
      const [leaderSync, followerSync] = await Promise.all([
        leader.sync([{ memberId: first.memberId, assignment: assignment(TOPIC, [0, 1]) }, { memberId: second.memberId, assignment: assignment(TOPIC, [2, 3]) }]),
        follower.sync(),
      ]);
      if (leaderSync.errorCode !== ErrorCode.NONE || followerSync.errorCode !== ErrorCode.NONE) continue;
      stable = (await first.heartbeat()) === ErrorCode.NONE && (await second.heartbeat()) === ErrorCode.NONE;
      if (stable) expect((follower === second ? followerSync : leaderSync).assignment).toEqual(assignment(TOPIC, [2, 3]));
    }
    expect(stable).toBe(true);
    expect(await first.commit(TOPIC, { 0: 1, 1: 2 })).toEqual([ErrorCode.NONE, ErrorCode.NONE]);
    expect(await second.commit(TOPIC, { 2: 3, 3: 4 })).toEqual([ErrorCode.NONE, ErrorCode.NONE]);
    expect(await first.heartbeat()).toBe(ErrorCode.NONE);
    const committed = await onShard2.request(ApiKey.OffsetFetch, 7, { groupId: "sharded-group", topics: [{ name: TOPIC, partitionIndexes: [0, 1, 2, 3] }], requireStable: false });
    expect(committed.topics[0].partitions.map((partition: { committedOffset: bigint | number }) => Number(partition.committedOffset))).toEqual([1, 2, 3, 4]);
    const described = await describeGroup(onShard1, "sharded-group");
    expect(described.groupState).toBe("Stable");
    expect(described.members.length).toBe(2);
    expect(await second.leave()).toBe(ErrorCode.NONE);
    const deleted = await onShard2.request(ApiKey.DeleteTopics, 4, { topicNames: ["admin-via-shard"], timeoutMs: 10_000 });
    expect(deleted.responses[0].errorCode).toBe(ErrorCode.NONE);
  });

  test("an acknowledged produce is readable at once through every other shard, whichever thread appended it", async () => {
    const placed = await connectToEveryShard(broker, mode.landing, 1, opened);
    const topic = "read-after-ack";
    const created = await placed[0]!.connection.request(ApiKey.CreateTopics, 4, { topics: [{ name: topic, numPartitions: PARTITIONS, replicationFactor: 1 }], timeoutMs: 10_000 });
    expect(created.topics[0].errorCode).toBe(ErrorCode.NONE);
    // The listening workers learn of a new topic from the main thread; until then its produces go there.
    await Bun.sleep(100);
    const localBefore = broker.networkShardStats().map((stats) => stats.localRequests);
    for (let round = 0; round < 40; round++) {
      const writer = placed[round % placed.length]!;
      const partition = round % PARTITIONS;
      const value = `after-ack-${round}`;
      const produced = await produce(writer.connection, topic, partition, batchOf([value]), round % 2 === 0 ? -1 : 1);
      expect(produced.errorCode).toBe(ErrorCode.NONE);
      // Right after the acknowledgement, from the connections on the other threads: the record is there.
      for (const reader of placed) {
        if (reader === writer) continue;
        const fetched = await fetchFrom(reader.connection, topic, partition, produced.baseOffset, 4096);
        expect(fetched.errorCode).toBe(ErrorCode.NONE);
        expect(new TextDecoder().decode(firstBatchBody(fetched.records))).toContain(value);
      }
    }
    const local = broker.networkShardStats().reduce((sum, stats, shard) => sum + stats.localRequests - localBefore[shard]!, 0);
    if (mode.ownsPartitions) expect(local).toBeGreaterThan(0);
    else expect(local).toBe(0);
  });

  test("kcat produces and consumes through whichever shards its connections land on", async () => {
    const bootstrap = `127.0.0.1:${broker.port}`;
    const lines = Array.from({ length: 500 }, (_, i) => `kcat-${i}`);
    for (let round = 0; round < 3; round++) {
      const produced = await kcat(bootstrap, ["-P", "-t", `kcat-sharded-${round}`, "-p", "0"], { input: lines.join("\n") + "\n" });
      expect(produced.exitCode).toBe(0);
      expect(await kcatConsumeAll(bootstrap, `kcat-sharded-${round}`, "%s\n")).toEqual(lines);
    }
  });

  test("a shard that crashes closes only its own connections; the other shards and new connections go on", async () => {
    const placed = await connectToEveryShard(broker, mode.landing, 2, opened);
    const doomed = placed.filter((entry) => entry.shard === 1).map((entry) => entry.connection);
    const survivors = placed.filter((entry) => entry.shard !== 1);
    // A raw client on shard 1 declares a 50 MB request and sends 1 MB of it: the shard reserves the declared
    // size in the broker-wide request budget (its own cell of it).
    let holder: Socket | null = null;
    for (let attempt = 0; attempt < CONNECTIONS_MAX && !holder; attempt++) {
      const before = accepted(broker);
      const raw = await Bun.connect({ hostname: "127.0.0.1", port: broker.port, socket: { data() {} } });
      let shard = -1;
      await eventually(() => (shard = accepted(broker).findIndex((count, index) => count > (before[index] ?? 0))) >= 0, 5_000);
      if (shard === 1) holder = raw;
      else raw.end();
    }
    expect(holder).not.toBeNull();
    const declared = new Uint8Array(4 + 1024 * 1024);
    new DataView(declared.buffer).setInt32(0, 50_000_000);
    declared[4] = 0; // Produce api key, high byte
    holder!.write(declared);
    expect(await eventually(() => broker.requestBudget.usedBytes >= 50_000_000, WAIT_MS)).toBe(true);
    expect(broker.crashNetworkShard(1)).toBe(true);
    expect(await eventually(() => broker.networkShardStats()[1]!.alive === false, WAIT_MS)).toBe(true);
    expect(await eventually(() => doomed.every((connection) => connection.closed), WAIT_MS)).toBe(true);
    expect(logLines.some((line) => line.includes("network shard 1 failed"))).toBe(true);
    // What the dead shard had reserved is given back (its cell is zeroed), so the budget does not shrink for good.
    expect(await eventually(() => broker.requestBudget.usedBytes < 1_000_000, WAIT_MS)).toBe(true);
    expect(broker.networkShardStats()[1]!.connections).toBe(0);
    // A listening worker's crash is a partition worker's crash too, handled as one is: logged, the partition
    // layer answers storage errors until a restart recovers the logs, and the broker goes on answering.
    const afterCrash: number[] = mode.ownsPartitions ? [ErrorCode.NONE, ErrorCode.KAFKA_STORAGE_ERROR] : [ErrorCode.NONE];
    const answers: number[] = [];
    for (const { connection } of survivors) {
      const produced = await produce(connection, TOPIC, 2, batchOf(["after-crash"]));
      answers.push(produced.errorCode);
      expect(afterCrash).toContain(produced.errorCode);
    }
    if (mode.ownsPartitions) {
      expect(answers).toContain(ErrorCode.KAFKA_STORAGE_ERROR);
      expect(logLines.some((line) => line.includes("partition worker 0 failed"))).toBe(true);
      const metadata = await survivors[0]!.connection.request(ApiKey.Metadata, 9, { topics: [{ name: TOPIC }], allowAutoTopicCreation: false, includeClusterAuthorizedOperations: false, includeTopicAuthorizedOperations: false });
      expect(metadata.topics[0].errorCode).toBe(ErrorCode.NONE);
    }
    // New connections go to the live shards only, and work. A listening worker's failure has the main thread
    // accept PLAINTEXT connections again, beside the workers still alive.
    const acceptedBefore = accepted(broker);
    for (let i = 0; i < 12; i++) {
      const connection = await KafkaConnection.connect({ host: "127.0.0.1", port: broker.port, requestTimeoutMs: 20_000 });
      opened.push(connection);
      const produced = await produce(connection, TOPIC, 3, batchOf([`new-${i}`]));
      expect(afterCrash).toContain(produced.errorCode);
    }
    expect(broker.networkShardStats()[1]!.connectionsAccepted).toBe(acceptedBefore[1]!);
    if (mode.ownsPartitions) {
      expect(logLines.some((line) => line.includes("the main thread accepts connections again"))).toBe(true);
      expect(accepted(broker)[0]).toBeGreaterThan(acceptedBefore[0]!);
    }
    const families = await scrape(adminUrl);
    expect(sample(families, "bunka_network_shard_connections", { shard: "1" })).toBe(0);
  });
});

describe("num.network.shards with SASL", () => {
  test("SASL/PLAIN logins on every shard; requests before login are refused there as on the main thread", async () => {
    const dataDir = tempDir("shards-sasl");
    const broker = await startBroker({
      port: 0,
      dataDir,
      networkShards: SHARDS,
      partitionWorkers: 1,
      properties: {
        listeners: "SASL_PLAINTEXT://127.0.0.1:0",
        "sasl.enabled.mechanisms": "PLAIN",
        "sasl.jaas.config": 'org.apache.kafka.common.security.plain.PlainLoginModule required user_alice="alice-secret";',
      },
      log: () => undefined,
    });
    const opened: KafkaConnection[] = [];
    try {
      const placed = await connectToEveryShard(broker, [0, 1, 2], 1, opened, { mechanism: "PLAIN", username: "alice", password: "alice-secret" });
      for (const { connection } of placed) {
        const created = await connection.request(ApiKey.CreateTopics, 4, { topics: [{ name: "sasl-sharded", numPartitions: 1, replicationFactor: 1 }], timeoutMs: 10_000 });
        expect([ErrorCode.NONE, ErrorCode.TOPIC_ALREADY_EXISTS]).toContain(created.topics[0].errorCode);
      }
      // Without a login, anything but ApiVersions/SASL closes the connection, whichever shard it is on.
      for (let i = 0; i < 9; i++) {
        const anonymous = await KafkaConnection.connect({ host: "127.0.0.1", port: broker.port, requestTimeoutMs: 20_000 });
        opened.push(anonymous);
        await expect(anonymous.request(ApiKey.Metadata, 9, { topics: null, allowAutoTopicCreation: false, includeClusterAuthorizedOperations: false, includeTopicAuthorizedOperations: false })).rejects.toThrow();
      }
      // A wrong password fails the login on a shard too.
      let refused = 0;
      for (let i = 0; i < 6; i++) {
        await KafkaConnection.connect({ host: "127.0.0.1", port: broker.port, sasl: { mechanism: "PLAIN", username: "alice", password: "wrong" } }).then((connection) => opened.push(connection), () => refused++);
      }
      expect(refused).toBe(6);
      expect(broker.networkShardStats().filter((stats) => stats.shard > 0).every((stats) => stats.requests > 0)).toBe(true);
    } finally {
      for (const connection of opened) connection.close();
      await broker.stop();
      rmSync(dataDir, { recursive: true, force: true });
    }
  });
});

test("partition.workers.listen=false with num.network.shards=1 keeps the main thread alone: one shard, every connection on it", async () => {
  const dataDir = tempDir("shards-one");
  const broker = await startBroker({ port: 0, dataDir, partitionWorkers: 1, properties: { "partition.workers.listen": "false" }, log: () => undefined });
  try {
    const connections = await Promise.all(Array.from({ length: 4 }, () => KafkaConnection.connect({ host: "127.0.0.1", port: broker.port })));
    for (const connection of connections) expect((await connection.request(ApiKey.ApiVersions, 3, { clientSoftwareName: "t", clientSoftwareVersion: "1" })).errorCode).toBe(ErrorCode.NONE);
    const stats = broker.networkShardStats();
    expect(stats.length).toBe(1);
    expect(stats[0]!.connections).toBe(4);
    for (const connection of connections) connection.close();
  } finally {
    await broker.stop();
    rmSync(dataDir, { recursive: true, force: true });
  }
});

test("by default a single node's partition workers are its network shards: every core's worker reads connections, the main thread none", async () => {
  const dataDir = tempDir("shards-default");
  const broker = await startBroker({ port: 0, dataDir, partitionWorkers: 2, log: () => undefined });
  try {
    expect(broker.config.partitionWorkersListen).toBe(true);
    const connections = await Promise.all(Array.from({ length: 8 }, () => KafkaConnection.connect({ host: "127.0.0.1", port: broker.port })));
    for (const connection of connections) expect((await connection.request(ApiKey.ApiVersions, 3, { clientSoftwareName: "t", clientSoftwareVersion: "1" })).errorCode).toBe(ErrorCode.NONE);
    // Shard 0 is the main thread, shards 1 and 2 the workers.
    const counts = accepted(broker);
    expect(counts.length).toBe(3);
    expect(counts[0]).toBe(0);
    expect(counts[1]! + counts[2]!).toBe(8);
    for (const connection of connections) connection.close();
  } finally {
    await broker.stop();
    rmSync(dataDir, { recursive: true, force: true });
  }
});

test("with shards, a second broker on a port already in use fails to start (SO_REUSEPORT would otherwise let it share the port)", async () => {
  const port = freePort();
  const firstDir = tempDir("shards-port-a");
  const secondDir = tempDir("shards-port-b");
  const first = await startBroker({ port, dataDir: firstDir, networkShards: 2, partitionWorkers: 1, log: () => undefined });
  try {
    await expect(startBroker({ port, dataDir: secondDir, networkShards: 2, partitionWorkers: 1, log: () => undefined })).rejects.toThrow();
    // The first one still serves on it.
    const connection = await KafkaConnection.connect({ host: "127.0.0.1", port });
    expect((await connection.request(ApiKey.ApiVersions, 3, { clientSoftwareName: "t", clientSoftwareVersion: "1" })).errorCode).toBe(ErrorCode.NONE);
    connection.close();
  } finally {
    await first.stop();
    rmSync(firstDir, { recursive: true, force: true });
    rmSync(secondDir, { recursive: true, force: true });
  }
});

test("a clean stop answers the requests shard connections have in flight before it closes them", async () => {
  const dataDir = tempDir("shards-stop");
  const broker = await startBroker({ port: 0, dataDir, networkShards: SHARDS, partitionWorkers: 1, log: () => undefined });
  const opened: KafkaConnection[] = [];
  let stopped: Promise<void> | null = null;
  try {
    const setup = await KafkaConnection.connect({ host: "127.0.0.1", port: broker.port });
    opened.push(setup);
    expect((await setup.request(ApiKey.CreateTopics, 4, { topics: [{ name: "stopping", numPartitions: 1, replicationFactor: 1 }], timeoutMs: 10_000 })).topics[0].errorCode).toBe(ErrorCode.NONE);
    const placed = await connectToEveryShard(broker, [1, 2], 1, opened);
    const onShards = placed.filter((entry) => entry.shard > 0).map((entry) => entry.connection);
    // Pipelined produces on every shard connection, then the stop while they are in flight.
    const answers = onShards.flatMap((connection) => Array.from({ length: 10 }, (_, i) => produce(connection, "stopping", 0, batchOf([`in-flight-${i}`]), 1)));
    stopped = broker.stop();
    const results = await Promise.allSettled(answers);
    const answered = results.filter((result) => result.status === "fulfilled").map((result) => (result as PromiseFulfilledResult<{ errorCode: number }>).value.errorCode);
    // Every request that reached the broker before it stopped listening is answered, none is cut off unanswered.
    expect(answered.length).toBe(answers.length);
    await stopped;
  } finally {
    for (const connection of opened) connection.close();
    await (stopped ?? broker.stop());
    rmSync(dataDir, { recursive: true, force: true });
  }
});

test("TLS listeners stay on the socket thread (shard 0) while the plaintext listener's connections spread", async () => {
  const certs = await makeDevCerts("shards-tls");
  const dataDir = tempDir("shards-tls");
  const broker = await startBroker({
    port: 0,
    dataDir,
    networkShards: SHARDS,
    partitionWorkers: 1,
    properties: { listeners: "PLAINTEXT://127.0.0.1:0,SSL://127.0.0.1:0", "ssl.keystore.location": certs.brokerKeystore },
    log: () => undefined,
  });
  const opened: KafkaConnection[] = [];
  try {
    const sslPort = broker.boundListeners().find((listener) => listener.name === "SSL")!.port;
    const shardAcceptedBefore = broker.networkShardStats().filter((stats) => stats.shard > 0).reduce((sum, stats) => sum + stats.connectionsAccepted, 0);
    for (let i = 0; i < 12; i++) {
      const connection = await KafkaConnection.connect({ host: "127.0.0.1", port: sslPort, tls: { ca: await Bun.file(certs.ca).text() } });
      opened.push(connection);
      expect((await connection.request(ApiKey.ApiVersions, 3, { clientSoftwareName: "t", clientSoftwareVersion: "1" })).errorCode).toBe(ErrorCode.NONE);
    }
    const stats = broker.networkShardStats();
    expect(stats.filter((shard) => shard.shard > 0).reduce((sum, shard) => sum + shard.connectionsAccepted, 0)).toBe(shardAcceptedBefore);
    expect(stats[0]!.connections).toBe(12);
    // The plaintext listener still spreads over every shard.
    await connectToEveryShard(broker, [0, 1, 2], 1, opened);
  } finally {
    for (const connection of opened) connection.close();
    await broker.stop();
    rmSync(dataDir, { recursive: true, force: true });
    certs.cleanup();
  }
});

test("max.connections counts the connections of every shard: those above it are closed wherever they land", async () => {
  const dataDir = tempDir("shards-limit");
  const broker = await startBroker({ port: 0, dataDir, networkShards: SHARDS, partitionWorkers: 1, maxConnections: 6, log: () => undefined });
  const opened: KafkaConnection[] = [];
  try {
    let served = 0;
    for (let i = 0; i < 20; i++) {
      const connection = await KafkaConnection.connect({ host: "127.0.0.1", port: broker.port, requestTimeoutMs: 10_000 }).catch(() => null);
      if (!connection) continue;
      opened.push(connection);
      const answer = await connection.request(ApiKey.ApiVersions, 3, { clientSoftwareName: "t", clientSoftwareVersion: "1" }).then(() => true, () => false);
      if (answer) served++;
    }
    expect(served).toBe(6);
    expect(broker.networkShardStats().reduce((sum, shard) => sum + shard.connections, 0)).toBe(6);
    // Closing one frees its slot for a new connection, whichever shard either is on.
    const open = opened.filter((connection) => !connection.closed);
    open[0]!.close();
    expect(await eventually(() => broker.networkShardStats().reduce((sum, shard) => sum + shard.connections, 0) === 5, WAIT_MS)).toBe(true);
    let admitted = false;
    for (let attempt = 0; attempt < 5 && !admitted; attempt++) {
      const connection = await KafkaConnection.connect({ host: "127.0.0.1", port: broker.port, requestTimeoutMs: 10_000 });
      opened.push(connection);
      admitted = await connection.request(ApiKey.ApiVersions, 3, { clientSoftwareName: "t", clientSoftwareVersion: "1" }).then(() => true, () => false);
    }
    expect(admitted).toBe(true);
  } finally {
    for (const connection of opened) connection.close();
    await broker.stop();
    rmSync(dataDir, { recursive: true, force: true });
  }
});

test("a shard connection that closes while its multi-read produce is being appended leaves every stored batch intact", async () => {
  const dataDir = tempDir("shards-abandon");
  const broker = await startBroker({ port: 0, dataDir, networkShards: SHARDS, partitionWorkers: 1, log: () => undefined });
  const opened: KafkaConnection[] = [];
  try {
    const setup = await KafkaConnection.connect({ host: "127.0.0.1", port: broker.port });
    opened.push(setup);
    expect((await setup.request(ApiKey.CreateTopics, 4, { topics: [{ name: "abandoned", numPartitions: 1, replicationFactor: 1 }], timeoutMs: 10_000 })).topics[0].errorCode).toBe(ErrorCode.NONE);
    const placed = await connectToEveryShard(broker, [1], 1, opened);
    const steady = placed.find((entry) => entry.shard === 1)!.connection;
    const big = "y".repeat(3000);
    for (let round = 0; round < 6; round++) {
      // A raw client writes a 750 KB produce (assembled from many reads into a pooled block) and goes away.
      const frame = encodeRequest(ApiKey.Produce, 7, round, { acks: 1, timeoutMs: 10_000, topicData: [{ name: "abandoned", partitionData: [{ index: 0, records: batchOf(Array.from({ length: 250 }, (_, i) => `gone-${round}-${i}-${big}`)) }] }] });
      const raw = await Bun.connect({ hostname: "127.0.0.1", port: broker.port, socket: { data() {} } });
      raw.write(frame);
      raw.end();
      // Meanwhile a connection that stays produces as large a batch and must read it back byte for byte.
      const batch = batchOf(Array.from({ length: 250 }, (_, i) => `kept-${round}-${i}-${big}`));
      const produced = await produce(steady, "abandoned", 0, batch, 1);
      expect(produced.errorCode).toBe(ErrorCode.NONE);
      const fetched = await fetchFrom(steady, "abandoned", 0, produced.baseOffset);
      expect(firstBatchBody(fetched.records)).toEqual(batch.subarray(16));
    }
    // Every batch stored, abandoned ones included, has a CRC that matches its bytes.
    const all = await fetchFrom(steady, "abandoned", 0, 0, 64 * 1024 * 1024);
    let position = 0;
    let batches = 0;
    const view = new DataView(all.records.buffer, all.records.byteOffset, all.records.byteLength);
    while (position + 61 <= all.records.byteLength) {
      const sizeBytes = 12 + view.getInt32(position + 8);
      if (position + sizeBytes > all.records.byteLength) break;
      expect(computeBatchCrc(all.records, position, sizeBytes)).toBe(view.getUint32(position + CRC_OFFSET));
      position += sizeBytes;
      batches++;
    }
    expect(batches).toBeGreaterThanOrEqual(6);
  } finally {
    for (const connection of opened) connection.close();
    await broker.stop();
    rmSync(dataDir, { recursive: true, force: true });
  }
});

/** A broker whose 2 partition workers listen (partition.workers.listen), stopped and removed after `body`. */
async function withListeningBroker(name: string, properties: Record<string, string>, body: (broker: Broker, opened: KafkaConnection[]) => Promise<void>): Promise<void> {
  const dataDir = tempDir(name);
  const broker = await startBroker({ port: 0, dataDir, partitionWorkers: 2, properties: { "partition.workers.listen": "true", ...properties }, log: () => undefined });
  const opened: KafkaConnection[] = [];
  try {
    await body(broker, opened);
  } finally {
    for (const connection of opened) connection.close();
    await broker.stop();
    rmSync(dataDir, { recursive: true, force: true });
  }
}

/**
 * A connection on each listening worker (shard 1 is worker 0, shard 2 worker 1), and a topic of PARTITIONS
 * partitions created through them, once the workers have been told of it.
 */
async function onBothWorkersWithTopic(broker: Broker, opened: KafkaConnection[], topic: string): Promise<{ onWorker0: KafkaConnection; onWorker1: KafkaConnection }> {
  const placed = await connectToEveryShard(broker, [1, 2], 1, opened);
  const onWorker0 = placed.find((entry) => entry.shard === 1)!.connection;
  const onWorker1 = placed.find((entry) => entry.shard === 2)!.connection;
  const created = await onWorker1.request(ApiKey.CreateTopics, 4, { topics: [{ name: topic, numPartitions: PARTITIONS, replicationFactor: 1 }], timeoutMs: 10_000 });
  expect(created.topics[0].errorCode).toBe(ErrorCode.NONE);
  // The listening workers learn of a new topic from the main thread; until then its requests go there.
  await Bun.sleep(100);
  return { onWorker0, onWorker1 };
}

test("partition.workers.listen: the close-connections fault also closes a connection a worker accepted a moment ago, before the main thread heard of it", async () => {
  await withListeningBroker("listen-close", { "faults.enable": "true" }, async (broker, opened) => {
    for (let round = 0; round < 5; round++) {
      const connection = await KafkaConnection.connect({ host: "127.0.0.1", port: broker.port, requestTimeoutMs: 5_000 });
      opened.push(connection);
      // This test runs on the main thread: held busy, it cannot read the worker's "open" for the connection,
      // while the worker (its own thread) accepts it. The fault then runs before the main thread knows of it.
      const busyUntil = performance.now() + 300;
      while (performance.now() < busyUntil) {
        // spin
      }
      await broker.faults.add({ type: "close-connections" });
      expect(await eventually(() => connection.closed, WAIT_MS)).toBe(true);
    }
  });
});

test("partition.workers.listen: a fault armed and a produce quota set reach the listening workers' connections at once", async () => {
  await withListeningBroker("listen-flags", { "faults.enable": "true" }, async (broker, opened) => {
  const setup = await KafkaConnection.connect({ host: "127.0.0.1", port: broker.port });
  opened.push(setup);
  const created = await setup.request(ApiKey.CreateTopics, 4, { topics: [{ name: "flags", numPartitions: PARTITIONS, replicationFactor: 1 }], timeoutMs: 10_000 });
  expect(created.topics[0].errorCode).toBe(ErrorCode.NONE);
  await Bun.sleep(100);
  const workers = (await connectToEveryShard(broker, [1, 2], 1, opened)).filter((entry) => entry.shard > 0);
  const local = () => broker.networkShardStats().reduce((sum, stats) => sum + stats.localRequests, 0);
  const everyPartition = async (value: string) => {
    const answers: { errorCode: number; throttleTimeMs: number }[] = [];
    for (const { connection } of workers) {
      for (let partition = 0; partition < PARTITIONS; partition++) {
        const response = await connection.request(ApiKey.Produce, 7, { acks: 1, timeoutMs: 10_000, topicData: [{ name: "flags", partitionData: [{ index: partition, records: batchOf([value]) }] }] });
        answers.push({ errorCode: response.responses[0].partitionResponses[0].errorCode, throttleTimeMs: response.throttleTimeMs });
      }
    }
    return answers;
  };
  const before = local();
  expect((await everyPartition("plain")).every((answer) => answer.errorCode === ErrorCode.NONE)).toBe(true);
  expect(local()).toBeGreaterThan(before);

  // An injected error on every produce: the workers send each one to the main thread, where the fault applies.
  await broker.faults.add({ type: "error", api: "Produce", errorCode: ErrorCode.NOT_ENOUGH_REPLICAS, count: 1000 });
  const whileArmed = local();
  expect((await everyPartition("faulted")).map((answer) => answer.errorCode)).toEqual(Array(workers.length * PARTITIONS).fill(ErrorCode.NOT_ENOUGH_REPLICAS));
  expect(local()).toBe(whileArmed);
  broker.faults.clear();
  expect((await everyPartition("cleared")).every((answer) => answer.errorCode === ErrorCode.NONE)).toBe(true);
  expect(local()).toBeGreaterThan(whileArmed);

  // A producer_byte_rate quota for every client: produces are throttled, wherever their connection is.
  const altered = await setup.request(ApiKey.AlterClientQuotas, 1, { entries: [{ entity: [{ entityType: "client-id", entityName: null }], ops: [{ key: "producer_byte_rate", value: 100, remove: false }] }], validateOnly: false });
  expect(altered.entries[0].errorCode).toBe(ErrorCode.NONE);
  const underQuota = local();
  // One produce per connection: a throttled connection is muted for the throttle time (KIP-219).
  for (const { connection } of workers) {
    const response = await connection.request(ApiKey.Produce, 7, { acks: 1, timeoutMs: 10_000, topicData: [{ name: "flags", partitionData: [{ index: 0, records: batchOf(["x".repeat(5000)]) }] }] });
    expect(response.responses[0].partitionResponses[0].errorCode).toBe(ErrorCode.NONE);
    expect(response.throttleTimeMs).toBeGreaterThan(0);
  }
  expect(local()).toBe(underQuota);
  });
});

test("partition.workers.listen: pipelined produces of one connection are appended in the order sent, whichever thread answers them: this worker, the owning peer or the main thread", async () => {
  await withListeningBroker("listen-order", {}, async (broker, opened) => {
  const setup = await KafkaConnection.connect({ host: "127.0.0.1", port: broker.port });
  opened.push(setup);
  const created = await setup.request(ApiKey.CreateTopics, 4, { topics: [{ name: "ordered", numPartitions: PARTITIONS, replicationFactor: 1 }], timeoutMs: 10_000 });
  expect(created.topics[0].errorCode).toBe(ErrorCode.NONE);
  await Bun.sleep(100);
  const { connection } = (await connectToEveryShard(broker, [1], 1, opened)).find((entry) => entry.shard === 1)!;
  // Shard 1 is worker 0: `own` is one of its partitions, `other` one of worker 1's.
  const own = [0, 1, 2, 3].find((partition) => ownerOfPartition("ordered", partition, 2) === 0)!;
  const other = [0, 1, 2, 3].find((partition) => ownerOfPartition("ordered", partition, 2) === 1)!;
  const localBefore = broker.networkShardStats().map((stats) => stats.localRequests);
  const ROUNDS = 180;
  // Sent back to back, in turn: `own` only (this worker may answer), `other` only (worker 1 may, reached
  // directly), both (the main thread must).
  const named = (i: number) => (i % 3 === 0 ? [own] : i % 3 === 1 ? [other] : [own, other]);
  const answers = await Promise.all(
    Array.from({ length: ROUNDS }, (_, i) => {
      const partitionData = named(i).map((partition) => ({ index: partition, records: batchOf([`${partition === own ? "own" : "other"}-${i}`]) }));
      return connection.request(ApiKey.Produce, 7, { acks: 1, timeoutMs: 10_000, topicData: [{ name: "ordered", partitionData }] });
    }),
  );
  for (const answer of answers) for (const partition of answer.responses[0].partitionResponses) expect(partition.errorCode).toBe(ErrorCode.NONE);
  for (const [partition, prefix] of [[own, "own"], [other, "other"]] as const) {
    const expected = Array.from({ length: ROUNDS }, (_, i) => i).filter((i) => named(i).includes(partition)).map((i) => `${prefix}-${i}`);
    const values: string[] = [];
    for (let reads = 0; values.length < expected.length && reads < ROUNDS; reads++) {
      const fetched = await fetchFrom(setup, "ordered", partition, values.length);
      expect(fetched.errorCode).toBe(ErrorCode.NONE);
      values.push(...recordValues(fetched.records));
    }
    expect(values).toEqual(expected);
  }
  // Some were answered by the workers themselves (those sent while no earlier produce was with the main thread).
  const stats = broker.networkShardStats();
  expect(stats[1]!.localRequests).toBeGreaterThan(localBefore[1]!);
  expect(stats[2]!.localRequests).toBeGreaterThan(localBefore[2]!);
  });
});

test("partition.workers.listen: a consumer's fetch on the owning worker is answered there, long poll included; another worker's partition is answered by that worker, reached directly", async () => {
  await withListeningBroker("listen-fetch", {}, async (broker, opened) => {
  const { onWorker0, onWorker1 } = await onBothWorkersWithTopic(broker, opened, "fetched");
  const own = [0, 1, 2, 3].find((partition) => ownerOfPartition("fetched", partition, 2) === 0)!;
  const other = [0, 1, 2, 3].find((partition) => ownerOfPartition("fetched", partition, 2) === 1)!;
  const local = () => broker.networkShardStats()[1]!.localRequests;
  const split = (shard: number) => {
    const stats = broker.networkShardStats()[shard]!;
    return { produces: stats.localProduces, fetches: stats.localFetches };
  };
  // Written through worker 1's connection (worker 0 appends them, reached directly); read back through worker 0's.
  const batches = [batchOf(["first"]), batchOf(["second", "third"]), batchOf(["fourth"])];
  for (const batch of batches) expect((await produce(onWorker1, "fetched", own, batch)).errorCode).toBe(ErrorCode.NONE);
  let before = local();
  const splitBefore = split(1);
  const all = await fetchFrom(onWorker0, "fetched", own, 0);
  expect(all.errorCode).toBe(ErrorCode.NONE);
  expect(recordValues(all.records)).toEqual(["first", "second", "third", "fourth"]);
  expect(local()).toBe(before + 1);
  // Counted as a fetch, not a produce.
  expect(split(1)).toEqual({ produces: splitBefore.produces, fetches: splitBefore.fetches + 1 });

  // A long poll at the end: woken by a produce that another thread asked for.
  before = local();
  const waiting = onWorker0.request(ApiKey.Fetch, 11, {
    replicaId: -1, maxWaitMs: 10_000, minBytes: 1, maxBytes: 1 << 20, isolationLevel: 0, sessionId: 0, sessionEpoch: -1,
    topics: [{ topic: "fetched", partitions: [{ partition: own, fetchOffset: 4, currentLeaderEpoch: -1, logStartOffset: -1, partitionMaxBytes: 1 << 20, lastFetchedEpoch: -1 }] }],
    forgottenTopicsData: [], rackId: "",
  });
  await Bun.sleep(200);
  expect((await produce(onWorker1, "fetched", own, batchOf(["woken"]))).errorCode).toBe(ErrorCode.NONE);
  const woken = await waiting;
  expect(woken.responses[0].partitions[0].errorCode).toBe(ErrorCode.NONE);
  expect(recordValues(woken.responses[0].partitions[0].records)).toEqual(["woken"]);
  expect(Number(woken.responses[0].partitions[0].highWatermark)).toBe(5);
  // Worker 0 answered both: the long poll, and the produce worker 1 passed to it.
  expect(local()).toBe(before + 2);

  // Worker 1's partition, produced and fetched on worker 0's connection: worker 1 answers both, the main thread neither.
  const ofWorker1 = () => broker.networkShardStats()[2]!.localRequests;
  const mainRequests = () => broker.networkShardStats()[0]!.requests;
  before = local();
  const worker1Before = ofWorker1();
  const worker1SplitBefore = split(2);
  const mainBefore = mainRequests();
  expect((await produce(onWorker0, "fetched", other, batchOf(["elsewhere"]))).errorCode).toBe(ErrorCode.NONE);
  const elsewhere = await fetchFrom(onWorker0, "fetched", other, 0);
  expect(recordValues(elsewhere.records)).toEqual(["elsewhere"]);
  expect(local()).toBe(before);
  expect(ofWorker1()).toBe(worker1Before + 2);
  expect(split(2)).toEqual({ produces: worker1SplitBefore.produces + 1, fetches: worker1SplitBefore.fetches + 1 });
  expect(mainRequests()).toBe(mainBefore);
  });
});

test("partition.workers.listen: a consumer's fetch of both workers' partitions is split between them and merged in request order within max.bytes, and waits in the workers; a fetch session's wait on the main thread is woken by the workers' appends", async () => {
  await withListeningBroker("listen-split", {}, async (broker, opened) => {
  const { onWorker0, onWorker1 } = await onBothWorkersWithTopic(broker, opened, "split");
  for (let partition = 0; partition < PARTITIONS; partition++) {
    for (let batch = 0; batch < 2; batch++) expect((await produce(onWorker1, "split", partition, batchOf([`p${partition}-b${batch}`]))).errorCode).toBe(ErrorCode.NONE);
  }
  // No long poll of the main thread waits: the workers' produces did not wake it (it takes their notices itself).
  const wakeUps = () => broker.networkShardStats().reduce((sum, stats) => sum + stats.noticeWakeUps, 0);
  expect(wakeUps()).toBe(0);
  const fetchAll = (maxBytes: number, offsets: number[], maxWaitMs = 0, minBytes = 0) =>
    onWorker0.request(ApiKey.Fetch, 11, {
      replicaId: -1, maxWaitMs, minBytes, maxBytes, isolationLevel: 0, sessionId: 0, sessionEpoch: -1,
      // Partitions named out of order, as a client may: the answer follows the request.
      topics: [{ topic: "split", partitions: [3, 0, 2, 1].map((partition) => ({ partition, fetchOffset: offsets[partition]!, currentLeaderEpoch: -1, logStartOffset: -1, partitionMaxBytes: 1 << 20, lastFetchedEpoch: -1 })) }],
      forgottenTopicsData: [], rackId: "",
    });
  // Requests worker 0 passed on to the main thread (its requests count its local answers too).
  const passedOn = () => broker.networkShardStats()[1]!.requests - broker.networkShardStats()[1]!.localRequests;
  const mainBefore = passedOn();
  const all = await fetchAll(1 << 20, [0, 0, 0, 0]);
  const partitions = all.responses[0].partitions as { partitionIndex: number; errorCode: number; highWatermark: bigint | number; records: Uint8Array }[];
  expect(partitions.map((partition) => partition.partitionIndex)).toEqual([3, 0, 2, 1]);
  for (const partition of partitions) {
    expect(partition.errorCode).toBe(ErrorCode.NONE);
    expect(Number(partition.highWatermark)).toBe(2);
    expect(recordValues(partition.records)).toEqual([`p${partition.partitionIndex}-b0`, `p${partition.partitionIndex}-b1`]);
  }
  // max.bytes across the parts: the first partition with data keeps its batches, the others wait for the next fetch.
  const tight = await fetchAll(1, [0, 0, 0, 0]);
  const withData = (tight.responses[0].partitions as { records: Uint8Array | null }[]).filter((partition) => partition.records && partition.records.byteLength > 0);
  expect(withData.length).toBe(1);
  expect(passedOn()).toBe(mainBefore);

  // At the end of every partition the fetch waits, in the workers: an append to any of its partitions, by
  // whichever owner, wakes it (each partition in turn, so both the reading worker's own and a peer's).
  const localProduces = () => broker.networkShardStats().reduce((sum, stats) => sum + stats.localProduces, 0);
  for (const partition of [0, 1, 2, 3]) {
    const offsets = [2, 2, 2, 2].map((offset, index) => (index < partition ? offset + 1 : offset));
    const startedMs = performance.now();
    const waiting = fetchAll(1 << 20, offsets, 10_000, 1);
    await Bun.sleep(200);
    const localBefore = localProduces();
    expect((await produce(onWorker1, "split", partition, batchOf([`late-${partition}`]))).errorCode).toBe(ErrorCode.NONE);
    const woken = await waiting;
    // Woken by the append, long before max.wait.ms.
    expect(performance.now() - startedMs).toBeLessThan(9_000);
    const answered = (woken.responses[0].partitions as { partitionIndex: number; records: Uint8Array | null }[]).find((answer) => answer.partitionIndex === partition)!;
    expect(recordValues(answered.records!)).toEqual([`late-${partition}`]);
    expect(localProduces()).toBe(localBefore + 1);
  }
  // A wait with nothing appended ends at max.wait.ms with an empty answer.
  const startedMs = performance.now();
  const empty = await fetchAll(1 << 20, [3, 3, 3, 3], 300, 1);
  expect(performance.now() - startedMs).toBeGreaterThanOrEqual(290);
  expect((empty.responses[0].partitions as { records: Uint8Array | null }[]).every((answer) => !answer.records || answer.records.byteLength === 0)).toBe(true);
  // A partition error ends the wait at once, as in the Fetch handler (here an offset past the end).
  const erroredStartedMs = performance.now();
  const errored = await fetchAll(1 << 20, [50, 3, 3, 3], 10_000, 1);
  expect(performance.now() - erroredStartedMs).toBeLessThan(9_000);
  const outOfRange = (errored.responses[0].partitions as { partitionIndex: number; errorCode: number }[]).find((answer) => answer.partitionIndex === 0)!;
  expect(outOfRange.errorCode).toBe(ErrorCode.OFFSET_OUT_OF_RANGE);
  expect(passedOn()).toBe(mainBefore);
  expect(wakeUps()).toBe(0);

  // A fetch session's fetch (epoch 0: a new full session) waits on the main thread, which keeps the sessions:
  // a produce the owning worker answers wakes it, as while it waits the workers post wake-ups with their notices.
  const sessionWaiting = onWorker0.request(ApiKey.Fetch, 11, {
    replicaId: -1, maxWaitMs: 10_000, minBytes: 1, maxBytes: 1 << 20, isolationLevel: 0, sessionId: 0, sessionEpoch: 0,
    topics: [{ topic: "split", partitions: [{ partition: 1, fetchOffset: 3, currentLeaderEpoch: -1, logStartOffset: -1, partitionMaxBytes: 1 << 20, lastFetchedEpoch: -1 }] }],
    forgottenTopicsData: [], rackId: "",
  });
  await Bun.sleep(200);
  expect(passedOn()).toBe(mainBefore + 1);
  const sessionStartedMs = performance.now();
  const localBefore = localProduces();
  expect((await produce(onWorker1, "split", 1, batchOf(["for-the-session"]))).errorCode).toBe(ErrorCode.NONE);
  const sessionWoken = await sessionWaiting;
  expect(performance.now() - sessionStartedMs).toBeLessThan(9_000);
  expect(sessionWoken.errorCode).toBe(ErrorCode.NONE);
  expect(recordValues(sessionWoken.responses[0].partitions[0].records)).toEqual(["for-the-session"]);
  expect(localProduces()).toBe(localBefore + 1);
  expect(wakeUps()).toBeGreaterThan(0);
  });
});
