// An exactly-once consume-transform-produce app with kafkajs, as its own process so a test can SIGKILL it:
//   bun test/helpers/eos-app-child.ts BOOTSTRAP GROUP INPUT OUTPUT TRANSACTIONAL_ID MAX_BYTES_PER_PARTITION
// Each fetched batch becomes one transaction: the transformed records (value upper-cased, key kept) sent to
// OUTPUT, the batch's next offset committed for GROUP with sendOffsets, then commit. Prints one JSON line
// per step: {"event":"sent","transaction":N,"records":R} after the records are acknowledged (the transaction
// still open) and {"event":"committed","transaction":N,"records":R} after the commit. With EOS_PAUSE_AT=N
// the app waits 3 s after transaction N's records are acknowledged (so a test can kill it mid-transaction).
import { kafkaClient } from "./kafkajs.ts";

const [bootstrap, groupId, input, output, transactionalId, maxBytesText] = process.argv.slice(2);
if (!bootstrap || !groupId || !input || !output || !transactionalId || !maxBytesText) {
  console.error("usage: eos-app-child.ts BOOTSTRAP GROUP INPUT OUTPUT TRANSACTIONAL_ID MAX_BYTES_PER_PARTITION");
  process.exit(2);
}
const kafka = kafkaClient(bootstrap, "eos-app");
const producer = kafka.producer({ transactionalId, idempotent: true, maxInFlightRequests: 1, transactionTimeout: 30_000 });
const consumer = kafka.consumer({
  groupId,
  sessionTimeout: 3000,
  rebalanceTimeout: 10_000,
  heartbeatInterval: 300,
  maxWaitTimeInMs: 200,
  maxBytesPerPartition: Number(maxBytesText),
  readUncommitted: false,
});
const pauseAt = Number(process.env.EOS_PAUSE_AT ?? -1);
let transactions = 0;
// What the consumer went through, for the test's report when the app does not finish.
consumer.on(consumer.events.GROUP_JOIN, (e) => console.log(JSON.stringify({ event: "joined", transaction: transactions, memberId: e.payload.memberId, assignment: e.payload.memberAssignment })));
consumer.on(consumer.events.CRASH, (e) => console.log(JSON.stringify({ event: "crash", transaction: transactions, error: String(e.payload.error), restart: e.payload.restart })));
consumer.on(consumer.events.REQUEST_TIMEOUT, (e) => console.log(JSON.stringify({ event: "request-timeout", transaction: transactions, api: e.payload.apiName, broker: e.payload.broker })));
consumer.on(consumer.events.STOP, () => console.log(JSON.stringify({ event: "stopped", transaction: transactions })));
await producer.connect();
await consumer.connect();
await consumer.subscribe({ topic: input, fromBeginning: true });
await consumer.run({
  autoCommit: false,
  eachBatchAutoResolve: false,
  eachBatch: async ({ batch, resolveOffset, heartbeat, isRunning, isStale }) => {
    if (batch.messages.length === 0 || !isRunning() || isStale()) return;
    const number = ++transactions;
    const transaction = await producer.transaction();
    try {
      await transaction.send({ topic: output, messages: batch.messages.map((m) => ({ key: m.key, value: m.value!.toString().toUpperCase() })) });
      console.log(JSON.stringify({ event: "sent", transaction: number, records: batch.messages.length, partition: batch.partition, firstOffset: batch.firstOffset(), lastOffset: batch.lastOffset() }));
      if (number === pauseAt) await Bun.sleep(3000);
      const next = String(Number(batch.lastOffset()) + 1);
      await transaction.sendOffsets({ consumerGroupId: groupId, topics: [{ topic: batch.topic, partitions: [{ partition: batch.partition, offset: next }] }] });
      await transaction.commit();
    } catch (error) {
      console.log(JSON.stringify({ event: "aborted", transaction: number, error: String(error) }));
      await transaction.abort().catch(() => undefined);
      throw error;
    }
    console.log(JSON.stringify({ event: "committed", transaction: number, records: batch.messages.length, partition: batch.partition }));
    resolveOffset(batch.lastOffset());
    await heartbeat();
  },
});
process.on("SIGTERM", () => {
  Promise.allSettled([consumer.disconnect(), producer.disconnect()]).finally(() => process.exit(0));
});
