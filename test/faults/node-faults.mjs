// Run by node-launcher-faults.test.ts under Node (not Bun): bunka/node's faults on a launched broker with
// kafkajs, printing what happened as one JSON line for the test to check.
import { Kafka, logLevel } from "kafkajs";
import { startBroker } from "../../node/index.js";

const result = {};
const broker = await startBroker();
try {
  const kafka = new Kafka({ clientId: "node-faults", brokers: [broker.bootstrapServers], logLevel: logLevel.NOTHING, retry: { retries: 0 } });
  const admin = kafka.admin();
  await admin.connect();
  await admin.createTopics({ topics: [{ topic: "node-faults", numPartitions: 1 }], waitForLeaders: true });
  await admin.disconnect();
  const producer = kafka.producer();
  await producer.connect();
  const armed = await broker.faults.add({ type: "error", api: "Produce", errorCode: 21, count: 1 });
  result.armed = armed;
  result.listed = await broker.faults.list();
  result.refused = await producer.send({ topic: "node-faults", messages: [{ value: "refused" }] }).then(() => null, (error) => error.type ?? error.name);
  result.listedAfter = await broker.faults.list();
  await broker.faults.add({ type: "latency", api: "Produce", delayMs: 1, durationMs: 60000 });
  result.cleared = await broker.faults.clear();
  await producer.send({ topic: "node-faults", messages: [{ value: "delivered" }] });
  result.delivered = true;
  await producer.disconnect();
} finally {
  await broker.stop();
}
const off = await startBroker({ properties: { "faults.enable": "false" } });
try {
  result.disabled = await off.faults.add({ type: "pause" }).then(() => "armed", (error) => error.message);
} finally {
  await off.stop();
}
process.stdout.write(`${JSON.stringify(result)}\n`);
