// KIP-714 client telemetry: GetTelemetrySubscriptions and PushTelemetry over a real socket with hand-built OTLP
// payloads (the errors Kafka answers, the numbers on the admin /metrics endpoint), then librdkafka 2.15
// (@confluentinc/kafka-javascript) pushing its own producer metrics, which appear under its client instance id.
import { afterAll, beforeAll, expect, test } from "bun:test";
import { gzipSync } from "node:zlib";
import { join } from "node:path";
import { KafkaConnection } from "../../src/client/kafka-connection.ts";
import { ErrorCode } from "../../src/protocol/errors.ts";
import { ApiKey } from "../../src/protocol/generated/index.ts";
import { decodeOtlpMetrics } from "../../src/telemetry/otlp-metrics.ts";
import { sample, scrape } from "../helpers/admin-http.ts";
import { BrokerProcess, freePort } from "../helpers/broker-process.ts";
import { StreamingProcess } from "../helpers/groups.ts";
import { awaitKafkaJavascript, kafkaJavascriptExpected } from "../helpers/kafka-javascript.ts";
import { eventually } from "../group/helpers.ts";

// ---- a minimal protobuf writer for OTLP MetricsData (what a client sends) ----
const varint = (value: number | bigint): number[] => {
  let v = BigInt(value);
  const out: number[] = [];
  do {
    let byte = Number(v & 0x7fn);
    v >>= 7n;
    if (v > 0n) byte |= 0x80;
    out.push(byte);
  } while (v > 0n);
  return out;
};
const field = (number: number, wire: number) => varint((number << 3) | wire);
const bytesField = (number: number, body: Uint8Array | number[]) => [...field(number, 2), ...varint(body.length), ...body];
const stringField = (number: number, value: string) => bytesField(number, [...Buffer.from(value)]);
const doubleField = (number: number, value: number) => {
  const buffer = Buffer.alloc(8);
  buffer.writeDoubleLE(value);
  return [...field(number, 1), ...buffer];
};
const keyValue = (key: string, value: string) => [...stringField(1, key), ...bytesField(2, stringField(1, value))];

function otlpGauge(name: string, value: number, attributes: Record<string, string>): Uint8Array {
  const point = [...doubleField(4, value), ...Object.entries(attributes).flatMap(([key, v]) => bytesField(7, keyValue(key, v)))];
  const metric = [...stringField(1, name), ...bytesField(5, bytesField(1, point))];
  const scopeMetrics = bytesField(2, metric);
  const resourceMetrics = [...bytesField(1, bytesField(1, keyValue("service.name", "test"))), ...bytesField(2, scopeMetrics)];
  return new Uint8Array(bytesField(1, resourceMetrics));
}

const adminPort = freePort();
const adminUrl = `http://127.0.0.1:${adminPort}`;
const PUSH_INTERVAL_MS = 1000;
let broker: BrokerProcess;
let connection: KafkaConnection;

beforeAll(async () => {
  broker = new BrokerProcess({
    properties: { "admin.listeners": adminUrl, "client.telemetry.metrics": "*", "client.telemetry.push.interval.ms": String(PUSH_INTERVAL_MS), "telemetry.max.bytes": "262144", "client.telemetry.max.client.instances": "3", "client.telemetry.max.series": "20" },
  });
  await broker.start();
  connection = await KafkaConnection.connect({ host: "127.0.0.1", port: broker.port, requestTimeoutMs: 20_000, clientId: "raw-telemetry" });
});

afterAll(async () => {
  connection?.close();
  await broker?.cleanup();
});

const subscribe = (clientInstanceId = new Uint8Array(16)) => connection.request(ApiKey.GetTelemetrySubscriptions, 0, { clientInstanceId });
const push = (body: { clientInstanceId: Uint8Array; subscriptionId: number; compressionType?: number; metrics: Uint8Array; terminating?: boolean }) =>
  connection.request(ApiKey.PushTelemetry, 0, { terminating: false, compressionType: 0, ...body });
const uuidText = (bytes: Uint8Array) => Buffer.from(bytes).toString("hex").replace(/^(.{8})(.{4})(.{4})(.{4})(.{12})$/, "$1-$2-$3-$4-$5");

test("the OTLP decoder reads what a client writes, attributes included", () => {
  const decoded = decodeOtlpMetrics(otlpGauge("org.apache.kafka.producer.record.queue.time.avg", 1.5, { topic: "t" }));
  expect(decoded.resource).toEqual({ "service.name": "test" });
  expect(decoded.points).toEqual([{ name: "org.apache.kafka.producer.record.queue.time.avg", kind: "gauge", value: 1.5, attributes: { topic: "t" }, timeUnixNano: 0n }]);
  expect(() => decodeOtlpMetrics(new Uint8Array([0x0a, 0x05, 0x01]))).toThrow();
});

test("GetTelemetrySubscriptions hands out an instance id and the subscription; PushTelemetry's numbers reach /metrics; Kafka's errors", async () => {
  const subscription = await subscribe();
  expect(subscription.errorCode).toBe(ErrorCode.NONE);
  expect(Buffer.from(subscription.clientInstanceId).equals(Buffer.alloc(16))).toBe(false);
  expect(subscription.pushIntervalMs).toBe(PUSH_INTERVAL_MS);
  expect(subscription.telemetryMaxBytes).toBe(262_144);
  expect(subscription.requestedMetrics).toEqual([""]); // "*": every metric
  expect(subscription.acceptedCompressionTypes).toEqual([4, 1, 2]); // zstd, gzip, snappy
  const again = await subscribe(subscription.clientInstanceId);
  expect(Buffer.from(again.clientInstanceId).equals(Buffer.from(subscription.clientInstanceId))).toBe(true);

  const { clientInstanceId, subscriptionId } = subscription;
  const payload = otlpGauge("org.apache.kafka.producer.record.queue.time.avg", 42.5, { topic: "orders" });
  expect((await push({ clientInstanceId, subscriptionId, compressionType: 1, metrics: new Uint8Array(gzipSync(payload)) })).errorCode).toBe(ErrorCode.NONE);
  const families = await scrape(adminUrl);
  expect(sample(families, "bunka_client_telemetry_org_apache_kafka_producer_record_queue_time_avg", { client_instance_id: uuidText(clientInstanceId), topic: "orders" })).toBe(42.5);

  // Too soon after the last push (half the interval): THROTTLING_QUOTA_EXCEEDED, as Kafka.
  expect((await push({ clientInstanceId, subscriptionId, metrics: payload })).errorCode).toBe(ErrorCode.THROTTLING_QUOTA_EXCEEDED);
  const other = (await subscribe()).clientInstanceId;
  expect((await push({ clientInstanceId: other, subscriptionId: subscriptionId + 1, metrics: payload })).errorCode).toBe(ErrorCode.UNKNOWN_SUBSCRIPTION_ID);
  expect((await push({ clientInstanceId: other, subscriptionId, compressionType: 9, metrics: payload })).errorCode).toBe(ErrorCode.UNSUPPORTED_COMPRESSION_TYPE);
  expect((await push({ clientInstanceId: other, subscriptionId, metrics: new Uint8Array(300_000) })).errorCode).toBe(ErrorCode.TELEMETRY_TOO_LARGE);
  // A small gzip that inflates past telemetry.max.bytes: refused while decompressing, bounded.
  expect((await push({ clientInstanceId: other, subscriptionId, compressionType: 1, metrics: new Uint8Array(gzipSync(new Uint8Array(2_000_000))) })).errorCode).toBe(ErrorCode.TELEMETRY_TOO_LARGE);
  expect((await push({ clientInstanceId: other, subscriptionId, metrics: new Uint8Array([0x0a, 0xff, 0xff, 0x03]) })).errorCode).toBe(ErrorCode.INVALID_RECORD);
  expect((await push({ clientInstanceId: new Uint8Array(16), subscriptionId, metrics: payload })).errorCode).toBe(ErrorCode.INVALID_REQUEST);

  // client.telemetry.max.client.instances (3): a fourth instance pushes the least recent one out.
  for (let i = 0; i < 3; i++) {
    const id = (await subscribe()).clientInstanceId;
    expect((await push({ clientInstanceId: id, subscriptionId, metrics: otlpGauge("org.apache.kafka.test.n", i, {}) })).errorCode).toBe(ErrorCode.NONE);
  }
  const bounded = await scrape(adminUrl);
  expect(sample(bounded, "bunka_client_telemetry_org_apache_kafka_producer_record_queue_time_avg", { client_instance_id: uuidText(clientInstanceId) })).toBeUndefined();
  expect(bounded.find((family) => family.name === "bunka_client_telemetry_org_apache_kafka_test_n")!.metrics.length).toBe(3);

  // client.telemetry.max.series (20): a push of 25 data points keeps 20, and the other instances make room.
  const wide = (await subscribe()).clientInstanceId;
  const points = Array.from({ length: 25 }, (_, i) => otlpGauge(`org.apache.kafka.test.wide${i}`, i, {}));
  // One MetricsData with 25 ResourceMetrics (field 1 repeated): the concatenation of 25 messages.
  const payloadOf25 = new Uint8Array(points.reduce((sum, part) => sum + part.byteLength, 0));
  points.reduce((offset, part) => (payloadOf25.set(part, offset), offset + part.byteLength), 0);
  expect((await push({ clientInstanceId: wide, subscriptionId, metrics: payloadOf25 })).errorCode).toBe(ErrorCode.NONE);
  const widest = await scrape(adminUrl);
  const telemetrySamples = widest.filter((family) => family.name.startsWith("bunka_client_telemetry_")).flatMap((family) => family.metrics);
  expect(telemetrySamples.length).toBe(20);
  expect(telemetrySamples.every((metric) => metric.labels?.client_instance_id === uuidText(wide))).toBe(true);
});

test.skipIf(!kafkaJavascriptExpected())("librdkafka 2.15 pushes its producer telemetry; /metrics shows it under its client instance id", async () => {
  const env = await awaitKafkaJavascript(); // setup.sh builds it in the background
  const created = await connection.request(ApiKey.CreateTopics, 4, { topics: [{ name: "telemetry-topic", numPartitions: 1, replicationFactor: 1 }], timeoutMs: 10_000 });
  expect(created.topics[0].errorCode).toBe(ErrorCode.NONE);
  const child = new StreamingProcess(["node", join(import.meta.dir, "../helpers/rdkafka-telemetry-producer.cjs"), broker.bootstrap, "telemetry-topic", "rdkafka-telemetry"], env);
  try {
    const pushed = await eventually(async () => {
      const families = await scrape(adminUrl);
      return families.some((family) => family.name.startsWith("bunka_client_telemetry_org_apache_kafka_producer_") && family.metrics.some((metric) => metric.labels?.client_id === "rdkafka-telemetry"));
    }, 60_000);
    if (!pushed) console.log({ lines: child.lines.slice(-20), stderr: child.stderr.slice(-2000), metrics: (await (await fetch(`${adminUrl}/metrics`)).text()).split("\n").filter((line) => line.includes("telemetry")).slice(0, 20) });
    expect(pushed).toBe(true);
    const families = await scrape(adminUrl);
    const rdkafka = families.filter((family) => family.name.startsWith("bunka_client_telemetry_") && family.metrics.some((metric) => metric.labels?.client_id === "rdkafka-telemetry"));
    const instanceIds = new Set(rdkafka.flatMap((family) => family.metrics.map((metric) => metric.labels?.client_instance_id)));
    expect(instanceIds.size).toBe(1);
    expect([...instanceIds][0]).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
  } finally {
    await child.stop(20_000);
  }
}, 780_000); // up to 600 s waiting for the background build, then 180 s
