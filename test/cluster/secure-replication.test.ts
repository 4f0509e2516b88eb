// Inter-broker security: a 3-broker cluster whose inter.broker.listener.name is SASL_SSL (TLS with client
// certificates required, PLAIN login with the broker's own username/password) replicates an RF3 topic with
// acks=all and min.insync.replicas=2 and survives a leader SIGKILL with nothing acknowledged lost. Brokers
// register only the inter-broker listener's address, so every replica fetch crosses that listener. A
// client without the CA, without a certificate or with a wrong password is refused there.
import { afterAll, beforeAll, expect, test } from "bun:test";
import { KafkaConnection } from "../../src/client/kafka-connection.ts";
import { ApiKey } from "../../src/protocol/generated/index.ts";
import { makeDevCerts, type DevCerts } from "../helpers/certs.ts";
import { TestCluster } from "../helpers/cluster.ts";
import { kafkaClient } from "../helpers/kafkajs.ts";
import { kcatConsumeAll } from "../helpers/kcat.ts";
import { readFileSync } from "node:fs";

const TOPIC = "secure-replication";
const KILL_AFTER_ACKED = 200;
const STOP_AFTER_ACKED = 600;
const PRODUCE_TIME_MAX_MS = 60_000;
const BROKER_PASSWORD = "broker-secret";
let certs: DevCerts;
let cluster: TestCluster;

function securityProperties(certs: DevCerts): Record<string, string> {
  return {
    // Clients of the test use PLAINTEXT; brokers reach each other only on INTERNAL.
    listeners: "PLAINTEXT://127.0.0.1:0,INTERNAL://127.0.0.1:0",
    "listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,INTERNAL:SASL_SSL",
    "inter.broker.listener.name": "INTERNAL",
    "sasl.mechanism.inter.broker.protocol": "PLAIN",
    "listener.name.internal.sasl.enabled.mechanisms": "PLAIN",
    "listener.name.internal.plain.sasl.jaas.config": `org.apache.kafka.common.security.plain.PlainLoginModule required username="broker" password="${BROKER_PASSWORD}" user_broker="${BROKER_PASSWORD}";`,
    "listener.name.internal.ssl.keystore.location": certs.brokerKeystore,
    "listener.name.internal.ssl.truststore.location": certs.ca,
    "listener.name.internal.ssl.client.auth": "required",
  };
}

/** The INTERNAL listener's bound port, from the broker's ready line. */
function internalPort(nodeId: number): number {
  const match = /INTERNAL:\/\/[^:]+:(\d+)/.exec(cluster.broker(nodeId).output);
  if (!match) throw new Error(`no INTERNAL listener in broker ${nodeId}'s output`);
  return Number(match[1]);
}

beforeAll(async () => {
  certs = await makeDevCerts("secure-replication");
  cluster = new TestCluster(3, securityProperties(certs));
  await cluster.start();
  const admin = kafkaClient(cluster.bootstrap[0]!, "secure-replication-admin").admin();
  await admin.connect();
  await admin.createTopics({
    topics: [{ topic: TOPIC, numPartitions: 1, replicationFactor: 3, configEntries: [{ name: "min.insync.replicas", value: "2" }] }],
    waitForLeaders: true,
  });
  await admin.disconnect();
}, 90_000);

afterAll(async () => {
  await cluster?.cleanup();
  certs?.cleanup();
});

test("the inter-broker listener refuses clients without the CA, without a certificate, or with a wrong password", async () => {
  const port = internalPort(1);
  const ca = readFileSync(certs.ca, "utf8");
  const cert = readFileSync(certs.brokerChain, "utf8");
  const key = readFileSync(certs.brokerKey, "utf8");
  const sasl = { mechanism: "PLAIN" as const, username: "broker", password: BROKER_PASSWORD };
  const attempt = async (options: Partial<Parameters<typeof KafkaConnection.connect>[0]>) => {
    const connection = await KafkaConnection.connect({ host: "127.0.0.1", port, connectTimeoutMs: 5000, requestTimeoutMs: 5000, ...options });
    try {
      const response = await connection.request(ApiKey.Metadata, 9, { topics: [] });
      return response.brokers.length as number;
    } finally {
      connection.close();
    }
  };
  // What replica fetchers do: the CA, the keystore as client certificate, then the broker's login.
  expect(await attempt({ tls: { ca, cert, key }, sasl })).toBe(3);
  await expect(attempt({ tls: { cert, key }, sasl })).rejects.toThrow();
  await expect(attempt({ tls: { ca }, sasl })).rejects.toThrow();
  await expect(attempt({ tls: { ca, cert, key }, sasl: { ...sasl, password: "wrong" } })).rejects.toThrow(/SASL_AUTHENTICATION_FAILED/);
  await expect(attempt({ sasl })).rejects.toThrow();
}, 60_000);

test("RF3 acks=all over a SASL_SSL inter-broker listener: followers stay in sync, a leader SIGKILL loses nothing acknowledged", async () => {
  // Followers catch up through INTERNAL: the whole ISR is back only if replica fetchers got in.
  const initial = await cluster.waitFor("all three replicas in the ISR", async () => {
    const [partition] = await cluster.partitions(TOPIC);
    return partition!.isr.length === 3 ? partition : null;
  });
  const producer = kafkaClient(cluster.bootstrap.join(","), "secure-replication-producer").producer({
    idempotent: true,
    maxInFlightRequests: 1,
    allowAutoTopicCreation: false,
    retry: { retries: 50, initialRetryTime: 100, maxRetryTime: 1000 },
  });
  await producer.connect();
  const acked = new Map<number, string>();
  const victim = initial!.leader;
  let killed = false;
  let sequence = 0;
  const startedMs = Date.now();
  for (let sends = 0; acked.size < STOP_AFTER_ACKED && Date.now() - startedMs < PRODUCE_TIME_MAX_MS && sends < 5_000; sends++) {
    const values = Array.from({ length: 10 }, () => `v${sequence++}`);
    try {
      const [result] = await producer.send({ topic: TOPIC, acks: -1, timeout: 10_000, messages: values.map((value) => ({ value })) });
      values.forEach((value, index) => acked.set(Number(result!.baseOffset) + index, value));
    } catch {
      // Not acknowledged: may or may not be in the log; only acknowledged records are checked.
    }
    if (!killed && acked.size >= KILL_AFTER_ACKED) {
      await cluster.broker(victim).kill();
      killed = true;
    }
  }
  await producer.disconnect();
  expect(killed).toBe(true);
  expect(acked.size).toBeGreaterThanOrEqual(STOP_AFTER_ACKED);

  const after = await cluster.waitFor("a new leader", async () => {
    const [partition] = await cluster.partitions(TOPIC, [victim]);
    return partition!.leader >= 0 && partition!.leader !== victim ? partition : null;
  }, 20_000);
  expect(after!.leaderEpoch).toBeGreaterThan(initial!.leaderEpoch);

  // Every acknowledged record, at its acknowledged offset, read from the new leader.
  const records = await kcatConsumeAll(cluster.bootstrap.filter((_, index) => index + 1 !== victim).join(","), TOPIC, "%o %s\n");
  const read = new Map(records.map((line) => line.split(" ")).map(([offset, value]) => [Number(offset), value!] as const));
  const lost = [...acked].filter(([offset, value]) => read.get(offset) !== value);
  expect(lost).toEqual([]);

  // The killed broker restarts and catches up over the secured listener again.
  await cluster.broker(victim).start();
  await cluster.waitFor(`broker ${victim} back in the ISR`, async () => {
    const [partition] = await cluster.partitions(TOPIC);
    return partition!.isr.includes(victim) ? partition : null;
  }, 30_000);
}, 180_000);
