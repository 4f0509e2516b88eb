// A librdkafka 2.15 producer (@confluentinc/kafka-javascript) run under Node by test/telemetry/client-telemetry.test.ts:
// argv = bootstrap, topic, client id. It produces a record every 100 ms, so that its KIP-714 telemetry
// (enable.metrics.push, on by default) has numbers, until SIGTERM; it prints {"event":"ready"} once connected.
const Kafka = require("@confluentinc/kafka-javascript");
const [bootstrap, topic, clientId] = process.argv.slice(2);
const producer = new Kafka.Producer({
  "bootstrap.servers": bootstrap,
  "client.id": clientId,
  "enable.metrics.push": true,
  ...(process.env.RDKAFKA_DEBUG ? { debug: process.env.RDKAFKA_DEBUG } : {}),
});
if (process.env.RDKAFKA_DEBUG) producer.on("event.log", (log) => console.error(log.fac, log.message));
producer.on("event.error", (error) => console.log(JSON.stringify({ event: "error", message: String(error) })));
let timer = null;
producer.on("ready", () => {
  console.log(JSON.stringify({ event: "ready" }));
  let n = 0;
  timer = setInterval(() => {
    producer.produce(topic, null, Buffer.from(`telemetry-${n++}`));
    producer.poll();
  }, 100);
});
producer.setPollInterval(100);
producer.connect();
process.on("SIGTERM", () => {
  if (timer) clearInterval(timer);
  producer.flush(5000, () => producer.disconnect(() => process.exit(0)));
  setTimeout(() => process.exit(1), 15_000).unref();
});
