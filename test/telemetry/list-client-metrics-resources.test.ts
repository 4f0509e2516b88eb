// ListClientMetricsResources v0 (KIP-714) over a real socket: the one subscription is listed while
// client.telemetry.metrics asks for something, and nothing is listed without it (as Kafka without a
// client-metrics resource); its push interval is the one GetTelemetrySubscriptions hands out.
import { afterEach, expect, test } from "bun:test";
import { rmSync } from "node:fs";
import { KafkaConnection } from "../../src/client/kafka-connection.ts";
import { ErrorCode } from "../../src/protocol/errors.ts";
import { ApiKey } from "../../src/protocol/generated/index.ts";
import { startBroker, type Broker } from "../../src/server/broker.ts";
import { tempDir } from "../helpers/broker-process.ts";

const cleanups: (() => Promise<void>)[] = [];

afterEach(async () => {
  for (const cleanup of cleanups.splice(0)) await cleanup();
});

async function brokerWith(properties: Record<string, string>): Promise<KafkaConnection> {
  const dataDir = tempDir("client-metrics-resources");
  const broker: Broker = await startBroker({ port: 0, dataDir, properties, log: () => {} });
  const connection = await KafkaConnection.connect({ host: "127.0.0.1", port: broker.port, requestTimeoutMs: 10_000 });
  cleanups.push(async () => {
    connection.close();
    await broker.stop();
    rmSync(dataDir, { recursive: true, force: true });
  });
  return connection;
}

test("the subscription from client.telemetry.metrics is listed by name", async () => {
  const connection = await brokerWith({ "client.telemetry.metrics": "org.apache.kafka.producer.", "client.telemetry.push.interval.ms": "5000" });
  const listed = await connection.request(ApiKey.ListClientMetricsResources, 0, {});
  expect(listed.errorCode).toBe(ErrorCode.NONE);
  expect(listed.clientMetricsResources).toEqual([{ name: "default" }]);
  const subscription = await connection.request(ApiKey.GetTelemetrySubscriptions, 0, { clientInstanceId: new Uint8Array(16) });
  expect(subscription.requestedMetrics).toEqual(["org.apache.kafka.producer."]);
  expect(subscription.pushIntervalMs).toBe(5000);
});

test("without client.telemetry.metrics there is no subscription to list", async () => {
  const connection = await brokerWith({});
  const listed = await connection.request(ApiKey.ListClientMetricsResources, 0, {});
  expect(listed.errorCode).toBe(ErrorCode.NONE);
  expect(listed.clientMetricsResources).toEqual([]);
});
