// What ApiVersions advertises, against the README's table (generated from the handlers: src/api/api-docs.ts)
// and a live broker; the versions the clients in docs/kafka-clients.md send stay inside the ranges (KIP-896
// removals stop there); the features of v3/v4; and the metadata/admin APIs whose newest versions came with
// them: DescribeTopicPartitions paging (KIP-966, max.request.partition.size.limit), FindCoordinator v6's share
// key, DescribeCluster v1's endpoint type, a removed version closing the connection; kafkajs and kcat still
// read metadata.
import { afterAll, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { renderSupportedApis } from "../../src/api/api-docs.ts";
import { handlers } from "../../src/api/index.ts";
import { KafkaConnection } from "../../src/client/kafka-connection.ts";
import { ErrorCode } from "../../src/protocol/errors.ts";
import { ApiKey } from "../../src/protocol/generated/index.ts";
import { BrokerProcess } from "../helpers/broker-process.ts";
import { createTopic, kafkaClient } from "../helpers/kafkajs.ts";
import { kcat } from "../helpers/kcat.ts";

const README = join(import.meta.dir, "../../README.md");
const brokers: BrokerProcess[] = [];

afterAll(async () => {
  for (const broker of brokers.splice(0)) await broker.cleanup();
});

async function startBroker(properties: Record<string, string> = {}): Promise<BrokerProcess> {
  const broker = new BrokerProcess({ properties });
  brokers.push(broker);
  await broker.start();
  return broker;
}

async function withConnection<T>(broker: BrokerProcess, use: (connection: KafkaConnection) => Promise<T>): Promise<T> {
  const connection = await KafkaConnection.connect({ host: "127.0.0.1", port: broker.port, requestTimeoutMs: 15_000 });
  try {
    return await use(connection);
  } finally {
    connection.close();
  }
}

/** The README's table rows: api key → [min, max]. */
function readmeRanges(): Map<number, [number, number]> {
  const ranges = new Map<number, [number, number]>();
  for (const line of readFileSync(README, "utf8").split("\n")) {
    const match = /^\| (\w+) \| (\d+) \| (\d+)(?:–(\d+))?(?: \([^)]*\))? \|/.exec(line);
    if (match) ranges.set(Number(match[2]), [Number(match[3]), Number(match[4] ?? match[3])]);
  }
  return ranges;
}

/**
 * Versions each client sends (docs/kafka-clients.md §1: kcat/librdkafka 2.0.2 and 2.15.1, kafkajs 2.2.4,
 * @platformatic/kafka, kafka-python 2.0.2), for the APIs whose ranges changed here.
 */
const versionsClientsSend: Record<string, number[]> = {
  Metadata: [0, 1, 4, 5, 6, 9, 12],
  FindCoordinator: [0, 2, 4],
  CreateTopics: [3, 4, 7],
  DeleteTopics: [1, 3, 4, 6],
  OffsetCommit: [2, 5, 7, 8],
  OffsetFetch: [1, 3, 4, 7, 8],
  DescribeConfigs: [1, 2, 4],
  CreatePartitions: [0, 1, 2, 3],
  DeleteRecords: [1, 2],
  DescribeGroups: [2, 3, 4, 5],
  ListGroups: [2, 4, 5],
  DeleteGroups: [1, 2],
  ApiVersions: [0, 2, 3],
};

test("the README's API table is the one the handlers generate (run `bun src/api/api-docs.ts` after changing a handler's versions)", () => {
  const readme = readFileSync(README, "utf8");
  expect(renderSupportedApis(readme)).toBe(readme);
});

test("every version a client here sends is served (inside the handler's range; KIP-896 removals stop there)", () => {
  const byName = new Map([...handlers.values()].map((handler) => [handler.name, handler]));
  for (const [name, versions] of Object.entries(versionsClientsSend)) {
    const handler = byName.get(name)!;
    expect(handler).toBeDefined();
    for (const version of versions) expect({ name, version, inside: version >= handler.minVersion && version <= handler.maxVersion }).toEqual({ name, version, inside: true });
  }
});

test("a live broker advertises exactly the README's ranges, with Kafka 4.x's features in v3 and v4", async () => {
  const broker = await startBroker();
  await withConnection(broker, async (connection) => {
    const v4 = await connection.request(ApiKey.ApiVersions, 4, { clientSoftwareName: "bunka-test", clientSoftwareVersion: "1" });
    expect(v4.errorCode).toBe(ErrorCode.NONE);
    const live = new Map<number, [number, number]>(v4.apiKeys.map((api: { apiKey: number; minVersion: number; maxVersion: number }) => [api.apiKey, [api.minVersion, api.maxVersion]]));
    expect(live).toEqual(readmeRanges());
    // Metadata v10+ is offered only with Fetch v13+ (@platformatic/kafka fetches by the ids it gets: metadata.ts).
    const fetchMax = live.get(ApiKey.Fetch)![1];
    expect(live.get(ApiKey.Metadata)).toEqual([0, fetchMax >= 13 ? 12 : 9]);
    expect(live.get(ApiKey.DescribeTopicPartitions)).toEqual([0, 0]);
    expect(live.get(ApiKey.FindCoordinator)).toEqual([0, 6]);

    const supported = new Map(v4.supportedFeatures.map((feature: { name: string; minVersion: number; maxVersion: number }) => [feature.name, [feature.minVersion, feature.maxVersion]]));
    expect(supported.get("metadata.version")).toEqual([7, 21]);
    expect(supported.get("transaction.version")).toEqual([0, 2]);
    expect(supported.has("group.version")).toBe(true);
    const finalized = new Map(v4.finalizedFeatures.map((feature: { name: string; maxVersionLevel: number }) => [feature.name, feature.maxVersionLevel]));
    expect(finalized.get("metadata.version")).toBe(21);
    // Transaction version 2 (KIP-890 part 2): Produce v12 adds partitions to transactions.
    expect(finalized.get("transaction.version")).toBe(2);
    expect(live.get(ApiKey.Produce)).toEqual([0, 12]);
    expect(v4.finalizedFeaturesEpoch).toBeGreaterThanOrEqual(0);

    // v3 cannot carry a supported feature whose minimum is 0 (KAFKA-17011).
    const v3 = await connection.request(ApiKey.ApiVersions, 3, { clientSoftwareName: "bunka-test", clientSoftwareVersion: "1" });
    expect(v3.supportedFeatures.map((feature: { name: string }) => feature.name)).toEqual(["metadata.version"]);
    expect(v3.apiKeys.length).toBe(v4.apiKeys.length);
  });

  // A version Kafka 4.0 removed (KIP-896) and no client sends: the connection is closed, as for any unsupported version.
  const closed = await withConnection(broker, async (connection) =>
    connection.request(ApiKey.CreateTopics, 1, { topics: [], timeoutMs: 1000, validateOnly: false }).then(
      () => "answered",
      () => "closed",
    ),
  );
  expect(closed).toBe("closed");

  // Real clients still read metadata: kafkajs (Metadata v6 and its admin APIs), kcat (librdkafka 2.0.2, v4).
  await createTopic(broker.bootstrap, "versions-topic", 2);
  const admin = kafkaClient(broker.bootstrap).admin();
  await admin.connect();
  try {
    const metadata = await admin.fetchTopicMetadata({ topics: ["versions-topic"] });
    expect(metadata.topics[0]!.partitions.length).toBe(2);
    const configs = await admin.describeConfigs({ resources: [{ type: 2, name: "versions-topic" }], includeSynonyms: false });
    expect(configs.resources[0]!.configEntries.length).toBeGreaterThan(0);
  } finally {
    await admin.disconnect();
  }
  const listing = await kcat(broker.bootstrap, ["-L", "-t", "versions-topic"]);
  expect(listing.stdout).toContain('topic "versions-topic" with 2 partitions');
}, 120_000);

test("DescribeTopicPartitions pages by cursor within max.request.partition.size.limit; FindCoordinator v6 and DescribeCluster v1", async () => {
  const broker = await startBroker({ "max.request.partition.size.limit": "4" });
  await createTopic(broker.bootstrap, "dtp-a", 3);
  await createTopic(broker.bootstrap, "dtp-b", 2);
  await createTopic(broker.bootstrap, "dtp-c", 1);
  await withConnection(broker, async (connection) => {
    const metadata = await connection.request(ApiKey.Metadata, 12, { topics: null, allowAutoTopicCreation: false });
    const ids = new Map<string, string>(metadata.topics.map((topic: { name: string; topicId: Uint8Array }) => [topic.name, Buffer.from(topic.topicId).toString("hex")]));

    // Every topic, two partitions per page: the pages together hold each partition once, in name order.
    const seen: string[] = [];
    let cursor: { topicName: string; partitionIndex: number } | null = null;
    let pages = 0;
    do {
      const page: any = await connection.request(ApiKey.DescribeTopicPartitions, 0, { topics: [], responsePartitionLimit: 2, cursor });
      pages++;
      let inPage = 0;
      for (const topic of page.topics) {
        expect(topic.errorCode).toBe(ErrorCode.NONE);
        expect(Buffer.from(topic.topicId).toString("hex")).toBe(ids.get(topic.name)!);
        for (const partition of topic.partitions) {
          expect(partition.leaderId).toBe(1);
          seen.push(`${topic.name}-${partition.partitionIndex}`);
          inPage++;
        }
      }
      expect(inPage).toBeLessThanOrEqual(2);
      cursor = page.nextCursor;
    } while (cursor && pages < 10);
    expect(cursor).toBeNull();
    expect(seen).toEqual(["dtp-a-0", "dtp-a-1", "dtp-a-2", "dtp-b-0", "dtp-b-1", "dtp-c-0"]);

    // The broker's limit (4) caps a client asking for more; the cursor resumes inside dtp-b.
    const capped = await connection.request(ApiKey.DescribeTopicPartitions, 0, { topics: [{ name: "dtp-c" }, { name: "dtp-a" }, { name: "dtp-b" }], responsePartitionLimit: 2000, cursor: null });
    expect(capped.topics.map((topic: { name: string; partitions: unknown[] }) => [topic.name, topic.partitions.length])).toEqual([["dtp-a", 3], ["dtp-b", 1]]);
    expect(capped.nextCursor).toEqual({ topicName: "dtp-b", partitionIndex: 1 });

    const unknown = await connection.request(ApiKey.DescribeTopicPartitions, 0, { topics: [{ name: "dtp-missing" }], responsePartitionLimit: 10, cursor: null });
    expect(unknown.topics[0].errorCode).toBe(ErrorCode.UNKNOWN_TOPIC_OR_PARTITION);
    const badCursor = await connection.request(ApiKey.DescribeTopicPartitions, 0, { topics: [{ name: "dtp-a" }], responsePartitionLimit: 10, cursor: { topicName: "dtp-b", partitionIndex: 0 } });
    expect(badCursor.topics[0].errorCode).toBe(ErrorCode.INVALID_REQUEST);

    // Share coordinator keys (KIP-932, group:topicId:partition): the __share_group_state partition's leader, here this broker.
    const share = await connection.request(ApiKey.FindCoordinator, 6, { keyType: 2, coordinatorKeys: ["group:topic:0", "no-partition"] });
    expect(share.coordinators[0]).toMatchObject({ errorCode: ErrorCode.NONE, nodeId: 1 });
    expect(share.coordinators[1].errorCode).toBe(ErrorCode.INVALID_REQUEST);
    const group = await connection.request(ApiKey.FindCoordinator, 6, { keyType: 0, coordinatorKeys: ["some-group"] });
    expect([ErrorCode.NONE as number, ErrorCode.COORDINATOR_NOT_AVAILABLE as number]).toContain(group.coordinators[0].errorCode);

    const brokersEndpoint = await connection.request(ApiKey.DescribeCluster, 1, { includeClusterAuthorizedOperations: false, endpointType: 1 });
    expect(brokersEndpoint.errorCode).toBe(ErrorCode.NONE);
    expect(brokersEndpoint.brokers.map((entry: { brokerId: number }) => entry.brokerId)).toEqual([1]);
    const controllers = await connection.request(ApiKey.DescribeCluster, 1, { includeClusterAuthorizedOperations: false, endpointType: 2 });
    expect(controllers.errorCode).toBe(ErrorCode.MISMATCHED_ENDPOINT_TYPE);
  });
}, 120_000);
