// Run by Node, not Bun (`node --test test/node-launcher/node-test-suite.mjs`; scripts/test.ts counts it):
// Bunka started through the Node launcher (bunka/node), kafkajs producing and consuming, then stopped.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { after, before, describe, test } from "node:test";
import kafkajs from "kafkajs";
import { startBroker, startCluster, uniqueNames } from "bunka/node";

const { Kafka, logLevel } = kafkajs;
const client = (bootstrap) => new Kafka({ clientId: "node-test", brokers: bootstrap.split(","), logLevel: logLevel.NOTHING, retry: { retries: 10, initialRetryTime: 100, maxRetryTime: 1000 } });

/** Consumes from the beginning until `count` values arrived (bounded by timeoutMs). */
async function consume(kafka, topic, groupId, count, timeoutMs = 30_000) {
  const consumer = kafka.consumer({ groupId, sessionTimeout: 10_000, heartbeatInterval: 500 });
  await consumer.connect();
  const values = [];
  try {
    await consumer.subscribe({ topic, fromBeginning: true });
    await new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`consumed ${values.length} of ${count} in ${timeoutMs} ms`)), timeoutMs);
      consumer.run({
        eachMessage: async ({ message }) => {
          values.push(message.value.toString());
          if (values.length >= count) {
            clearTimeout(timer);
            resolve();
          }
        },
      }).catch(reject);
    });
  } finally {
    await consumer.disconnect();
  }
  return values;
}

describe("a single broker through the launcher", () => {
  let broker;
  before(async () => {
    broker = await startBroker({ properties: { "group.initial.rebalance.delay.ms": 0 } });
  });
  after(() => broker?.stop());

  test("kafkajs produces and a consumer group reads every record back in order", async () => {
    assert.match(broker.bootstrapServers, /^127\.0\.0\.1:\d+$/);
    const names = uniqueNames("node-single");
    const kafka = client(broker.bootstrapServers);
    const admin = kafka.admin();
    await admin.connect();
    await admin.createTopics({ topics: [{ topic: names.topic(), numPartitions: 1 }], waitForLeaders: true });
    await admin.disconnect();
    const producer = kafka.producer();
    await producer.connect();
    const sent = Array.from({ length: 20 }, (_, i) => `value-${i}`);
    await producer.send({ topic: names.topic(), acks: -1, messages: sent.map((value) => ({ value })) });
    await producer.disconnect();
    assert.deepEqual(await consume(kafka, names.topic(), names.group(), sent.length), sent);
  });

  test("a Node process that dies without stopping its broker leaves no broker and no data dir behind", async () => {
    // The child's stdin closes with the parent: it stops the broker and removes its temporary data dir.
    const script = `import { startBroker } from "bunka/node"; const b = await startBroker(); console.log(JSON.stringify({ dataDir: b.dataDir, port: b.port })); process.exit(3);`;
    const orphanMaker = spawnSync(process.execPath, ["--input-type=module", "-e", script], { encoding: "utf8", timeout: 60_000 });
    assert.equal(orphanMaker.status, 3, orphanMaker.stderr);
    const { dataDir } = JSON.parse(orphanMaker.stdout.trim());
    assert.ok(dataDir);
    const deadline = Date.now() + 20_000;
    while (existsSync(dataDir) && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 50));
    assert.equal(existsSync(dataDir), false);
  });

  test("stop removes the temporary data dir", async () => {
    const other = await startBroker();
    assert.ok(other.dataDir && existsSync(other.dataDir));
    await other.stop();
    assert.equal(existsSync(other.dataDir), false);
  });
});

describe("a three-broker cluster through the launcher", () => {
  test("records produced before a broker is killed are all read after it, and it restarts", async () => {
    // Node 20 has Symbol.asyncDispose but not the `await using` syntax: dispose as it would.
    const cluster = await startCluster({ brokers: 3 });
    try {
      assert.equal(typeof cluster[Symbol.asyncDispose], "function");
      assert.deepEqual(cluster.brokerIds, [1, 2, 3]);
      const names = uniqueNames("node-cluster");
      const kafka = client(cluster.bootstrapServers);
      const admin = kafka.admin();
      await admin.connect();
      await admin.createTopics({ topics: [{ topic: names.topic(), numPartitions: 1, replicationFactor: 3 }], waitForLeaders: true });
      await admin.disconnect();
      const producer = kafka.producer();
      await producer.connect();
      await producer.send({ topic: names.topic(), acks: -1, messages: [{ value: "a" }, { value: "b" }] });
      const victim = cluster.controllerId;
      await cluster.kill(victim);
      assert.equal(cluster.brokerIds.includes(victim), false);
      await producer.send({ topic: names.topic(), acks: -1, messages: [{ value: "c" }] });
      await producer.disconnect();
      await cluster.restart(victim);
      assert.deepEqual(cluster.brokerIds, [1, 2, 3]);
      assert.deepEqual(await consume(client(cluster.bootstrapServers), names.topic(), names.group(), 3), ["a", "b", "c"]);
    } finally {
      await cluster[Symbol.asyncDispose]();
    }
  });
});
