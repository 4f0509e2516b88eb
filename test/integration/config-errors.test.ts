// Config mistakes from clients, against a real broker process: unknown names, bad values, null values,
// repeated keys and list operations on non-list configs in AlterConfigs, IncrementalAlterConfigs and
// CreateTopics are answered per resource with Kafka's code and a message, and the connection stays open
// (the audit found an unknown name in IncrementalAlterConfigs closed it). Nothing is changed or created.
import { afterAll, beforeAll, expect, test } from "bun:test";
import { ConfigResourceTypes } from "kafkajs";
import { KafkaConnection } from "../../src/client/kafka-connection.ts";
import { ErrorCode } from "../../src/protocol/errors.ts";
import { ApiKey } from "../../src/protocol/generated/index.ts";
import { BrokerProcess } from "../helpers/broker-process.ts";
import { createTopic, kafkaClient } from "../helpers/kafkajs.ts";

const TOPIC = "configured";
const TOPIC_RESOURCE = 2;
const Op = { SET: 0, DELETE: 1, APPEND: 2, SUBTRACT: 3 } as const;
let broker: BrokerProcess;

beforeAll(async () => {
  broker = new BrokerProcess();
  await broker.start();
  await createTopic(broker.bootstrap, TOPIC, 1, [{ name: "retention.ms", value: "3600000" }]);
});

afterAll(async () => {
  await broker.cleanup();
});

function connect(): Promise<KafkaConnection> {
  return KafkaConnection.connect({ host: "127.0.0.1", port: broker.port, requestTimeoutMs: 10_000 });
}

async function topicConfig(connection: KafkaConnection, name: string): Promise<string | null> {
  const described = await connection.request(ApiKey.DescribeConfigs, 1, { resources: [{ resourceType: TOPIC_RESOURCE, resourceName: TOPIC, configurationKeys: [name] }], includeSynonyms: false });
  expect(described.results[0].errorCode).toBe(ErrorCode.NONE);
  return described.results[0].configs[0]?.value ?? null;
}

test("IncrementalAlterConfigs: each bad change is answered for its resource and the connection stays open", async () => {
  const connection = await connect();
  const cases: { configs: { name: string; configOperation: number; value: string | null }[]; errorCode: number; message: string }[] = [
    { configs: [{ name: "retention.msec", configOperation: Op.SET, value: "1000" }], errorCode: ErrorCode.INVALID_CONFIG, message: "Unknown topic config name: retention.msec" },
    { configs: [{ name: "no.such.config", configOperation: Op.DELETE, value: null }], errorCode: ErrorCode.INVALID_CONFIG, message: "no.such.config" },
    { configs: [{ name: "__proto__", configOperation: Op.SET, value: "1" }], errorCode: ErrorCode.INVALID_CONFIG, message: "__proto__" },
    { configs: [{ name: "retention.ms", configOperation: Op.SET, value: "soon" }], errorCode: ErrorCode.INVALID_CONFIG, message: "Invalid value soon for configuration retention.ms" },
    { configs: [{ name: "retention.ms", configOperation: Op.SET, value: null }], errorCode: ErrorCode.INVALID_REQUEST, message: "Null value not supported" },
    { configs: [{ name: "retention.ms", configOperation: Op.APPEND, value: "5" }], errorCode: ErrorCode.INVALID_CONFIG, message: "retention.ms is not a list" },
    { configs: [{ name: "cleanup.policy", configOperation: Op.APPEND, value: "shred" }], errorCode: ErrorCode.INVALID_CONFIG, message: "cleanup.policy" },
    { configs: [{ name: "retention.ms", configOperation: 9, value: "5" }], errorCode: ErrorCode.INVALID_REQUEST, message: "Unknown config operation 9" },
    {
      configs: [
        { name: "retention.ms", configOperation: Op.SET, value: "5000" },
        { name: "retention.ms", configOperation: Op.SET, value: "6000" },
      ],
      errorCode: ErrorCode.INVALID_REQUEST,
      message: "duplicate config keys",
    },
  ];
  for (const version of [0, 1]) {
    for (const { configs, errorCode, message } of cases) {
      // A valid change to a missing topic rides along: every resource gets its own answer.
      const resources = [
        { resourceType: TOPIC_RESOURCE, resourceName: TOPIC, configs },
        { resourceType: TOPIC_RESOURCE, resourceName: "absent-topic", configs: [{ name: "retention.ms", configOperation: Op.SET, value: "1" }] },
      ];
      const response = await connection.request(ApiKey.IncrementalAlterConfigs, version, { resources, validateOnly: false });
      expect(response.responses[0].errorCode).toBe(errorCode);
      expect(response.responses[0].errorMessage).toContain(message);
      expect(response.responses[1].errorCode).toBe(ErrorCode.UNKNOWN_TOPIC_OR_PARTITION);
      expect(connection.closed).toBe(false);
    }
  }
  // Same connection: nothing changed, and a good change still works.
  expect(await topicConfig(connection, "retention.ms")).toBe("3600000");
  const good = await connection.request(ApiKey.IncrementalAlterConfigs, 1, { resources: [{ resourceType: TOPIC_RESOURCE, resourceName: TOPIC, configs: [{ name: "retention.ms", configOperation: Op.SET, value: "7200000" }] }], validateOnly: false });
  expect(good.responses[0].errorCode).toBe(ErrorCode.NONE);
  expect(await topicConfig(connection, "retention.ms")).toBe("7200000");
  connection.close();
});

test("AlterConfigs: unknown names, bad and null values are INVALID_CONFIG (kafkajs and raw), the connection and the topic intact", async () => {
  const connection = await connect();
  const before = await topicConfig(connection, "retention.ms");
  for (const [name, value, message] of [
    ["retention.msec", "1000", "Unknown topic config name: retention.msec"],
    ["retention.ms", "soon", "Invalid value soon"],
    ["retention.ms", null, "Null value not supported for topic configs: retention.ms"],
  ] as const) {
    for (const version of [0, 2]) {
      const response = await connection.request(ApiKey.AlterConfigs, version, { resources: [{ resourceType: TOPIC_RESOURCE, resourceName: TOPIC, configs: [{ name, value }] }], validateOnly: false });
      expect(response.responses[0].errorCode).toBe(ErrorCode.INVALID_CONFIG);
      expect(response.responses[0].errorMessage).toContain(message);
    }
  }
  expect(connection.closed).toBe(false);
  expect(await topicConfig(connection, "retention.ms")).toBe(before);
  connection.close();

  const admin = kafkaClient(broker.bootstrap).admin();
  await admin.connect();
  try {
    const failure = await admin
      .alterConfigs({ validateOnly: false, resources: [{ type: ConfigResourceTypes.TOPIC, name: TOPIC, configEntries: [{ name: "retention.msec", value: "1000" }] }] })
      .then(() => null, (error: Error) => error);
    expect(failure).not.toBeNull();
    expect(JSON.stringify(failure, Object.getOwnPropertyNames(failure!))).toContain("INVALID_CONFIG");
    // The admin client's connection still works.
    const described = await admin.describeConfigs({ includeSynonyms: false, resources: [{ type: ConfigResourceTypes.TOPIC, name: TOPIC, configNames: ["retention.ms"] }] });
    expect(described.resources[0]!.configEntries[0]!.configValue).toBe(before!);
  } finally {
    await admin.disconnect();
  }
});

test("CreateTopics: unknown names, bad and null values are INVALID_CONFIG and no topic is created", async () => {
  const admin = kafkaClient(broker.bootstrap).admin();
  await admin.connect();
  try {
    const failure = await admin
      .createTopics({ topics: [{ topic: "typo-config", numPartitions: 1, configEntries: [{ name: "retention.msec", value: "1000" }] }] })
      .then(() => null, (error: { errors?: { type?: string }[] }) => error);
    expect(failure).not.toBeNull();
    expect(failure!.errors?.map((error) => error.type)).toEqual(["INVALID_CONFIG"]);
    expect(await admin.listTopics()).not.toContain("typo-config");
  } finally {
    await admin.disconnect();
  }

  const connection = await connect();
  const topics = [
    { name: "null-config", numPartitions: 1, replicationFactor: 1, assignments: [], configs: [{ name: "retention.ms", value: null }] },
    { name: "proto-config", numPartitions: 1, replicationFactor: 1, assignments: [], configs: [{ name: "__proto__", value: "1" }] },
    { name: "bad-value", numPartitions: 1, replicationFactor: 1, assignments: [], configs: [{ name: "cleanup.policy", value: "shred" }] },
    { name: "fine-config", numPartitions: 1, replicationFactor: 1, assignments: [], configs: [{ name: "retention.ms", value: "60000" }] },
  ];
  const created = await connection.request(ApiKey.CreateTopics, 5, { topics, timeoutMs: 5000, validateOnly: false });
  const byName = new Map<string, { errorCode: number; errorMessage: string | null }>(created.topics.map((topic: { name: string; errorCode: number; errorMessage: string | null }) => [topic.name, topic]));
  expect(byName.get("null-config")!.errorCode).toBe(ErrorCode.INVALID_CONFIG);
  expect(byName.get("null-config")!.errorMessage).toContain("Null value not supported for topic configs: retention.ms");
  expect(byName.get("proto-config")!.errorCode).toBe(ErrorCode.INVALID_CONFIG);
  expect(byName.get("proto-config")!.errorMessage).toContain("__proto__");
  expect(byName.get("bad-value")!.errorCode).toBe(ErrorCode.INVALID_CONFIG);
  expect(byName.get("fine-config")!.errorCode).toBe(ErrorCode.NONE);
  const metadata = await connection.request(ApiKey.Metadata, 4, { topics: null, allowAutoTopicCreation: false });
  const names = metadata.topics.map((topic: { name: string }) => topic.name);
  expect(names).toContain("fine-config");
  for (const refused of ["null-config", "proto-config", "bad-value"]) expect(names).not.toContain(refused);
  expect(connection.closed).toBe(false);
  connection.close();
});
