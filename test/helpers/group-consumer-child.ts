// A kafkajs group consumer as its own process, so a test can SIGKILL it like a crashed client:
//   bun test/helpers/group-consumer-child.ts BOOTSTRAP GROUP TOPIC SESSION_TIMEOUT_MS
// Prints one JSON line per event: {"event":"assigned","partitions":[...]} and {"event":"record",...}.
import { kafkaClient } from "./kafkajs.ts";

const [bootstrap, groupId, topic, sessionTimeoutText] = process.argv.slice(2);
if (!bootstrap || !groupId || !topic || !sessionTimeoutText) {
  console.error("usage: group-consumer-child.ts BOOTSTRAP GROUP TOPIC SESSION_TIMEOUT_MS");
  process.exit(2);
}
const consumer = kafkaClient(bootstrap, "child-consumer").consumer({
  groupId,
  sessionTimeout: Number(sessionTimeoutText),
  rebalanceTimeout: 20_000,
  heartbeatInterval: 500,
  maxWaitTimeInMs: 250,
});
consumer.on(consumer.events.GROUP_JOIN, (event) => {
  console.log(JSON.stringify({ event: "assigned", memberId: event.payload.memberId, partitions: event.payload.memberAssignment[topic] ?? [] }));
});
await consumer.connect();
await consumer.subscribe({ topic, fromBeginning: true });
await consumer.run({
  eachMessage: async ({ partition, message }) => {
    console.log(JSON.stringify({ event: "record", partition, offset: Number(message.offset) }));
  },
});
process.on("SIGTERM", () => {
  consumer.disconnect().finally(() => process.exit(0));
});
