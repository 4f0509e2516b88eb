// A librdkafka 2.15 consumer (@confluentinc/kafka-javascript) in KIP-848 mode, run under Node by
// test/integration/consumer-groups-kip848.test.ts: argv = bootstrap, group id, topic, client id. It prints one
// JSON line per record ({"partition","offset","value"}) and {"event":"assigned"|"revoked",...} lines, and
// leaves the group cleanly (committing what it read) on SIGTERM. GROUP_INSTANCE_ID in the environment makes it a
// static member (group.instance.id).
const Kafka = require("@confluentinc/kafka-javascript");
const [bootstrap, groupId, topic, clientId] = process.argv.slice(2);
const consumer = new Kafka.KafkaConsumer(
  {
    "bootstrap.servers": bootstrap,
    "group.id": groupId,
    "client.id": clientId,
    "group.protocol": "consumer",
    ...(process.env.GROUP_INSTANCE_ID ? { "group.instance.id": process.env.GROUP_INSTANCE_ID } : {}),
    "enable.auto.commit": true,
    // Only what was printed is committed: offsets are stored after the line is written.
    "enable.auto.offset.store": false,
    "auto.commit.interval.ms": 100,
    "fetch.wait.max.ms": 100,
    ...(process.env.RDKAFKA_DEBUG ? { debug: process.env.RDKAFKA_DEBUG } : {}),
    rebalance_cb: (error, assignment) => {
      if (process.env.RDKAFKA_DEBUG) console.error("rebalance_cb", error.code, JSON.stringify(assignment));
      const partitions = assignment.map((entry) => entry.partition);
      if (error.code === Kafka.CODES.ERRORS.ERR__ASSIGN_PARTITIONS) {
        consumer.incrementalAssign(assignment);
        console.log(JSON.stringify({ event: "assigned", partitions }));
      } else if (error.code === Kafka.CODES.ERRORS.ERR__REVOKE_PARTITIONS) {
        // What was read from the revoked partitions is committed before they go (the next owner starts there).
        try {
          consumer.commitSync(null);
        } catch {}
        consumer.incrementalUnassign(assignment);
        console.log(JSON.stringify({ event: "revoked", partitions }));
      }
    },
  },
  { "auto.offset.reset": "earliest" },
);
let closing = false;
consumer.on("ready", () => {
  consumer.subscribe([topic]);
  consumer.consume();
  console.log(JSON.stringify({ event: "ready" }));
});
consumer.on("data", (message) => {
  if (closing) return;
  console.log(JSON.stringify({ partition: message.partition, offset: message.offset, value: message.value.toString() }));
  consumer.offsetsStore([{ topic: message.topic, partition: message.partition, offset: message.offset + 1 }]);
});
if (process.env.RDKAFKA_DEBUG) consumer.on("event.log", (log) => console.error(log.fac, log.message));
consumer.on("event.error", (error) => console.log(JSON.stringify({ event: "error", message: String(error) })));
consumer.connect();
process.on("SIGTERM", () => {
  closing = true;
  // A static member closes without unsubscribing: librdkafka then leaves for a while (epoch -2), keeping its
  // partitions for its next incarnation; unsubscribing would leave for good (-1).
  if (process.env.GROUP_INSTANCE_ID) {
    consumer.disconnect(() => process.exit(0));
    setTimeout(() => process.exit(1), 20_000).unref();
    return;
  }
  // Unsubscribing first revokes (committing what was printed) and leaves the group with epoch -1 while
  // the consume loop drains; a disconnect straight away while records flow can hang in rd_kafka_destroy,
  // which waits for every fetched message to be freed.
  consumer.unsubscribe();
  const disconnect = () => consumer.disconnect(() => process.exit(0));
  const waitForRevocation = setInterval(() => {
    if (consumer.assignments().length > 0) return;
    clearInterval(waitForRevocation);
    disconnect();
  }, 50);
  setTimeout(() => process.exit(1), 20_000).unref();
});
