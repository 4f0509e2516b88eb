// The leader of a partition is killed (SIGKILL) while an idempotent producer writes with acks=all:
// a new leader takes over within seconds, the producer retries, and every acknowledged record is read
// back exactly once, in order, at its acknowledged offset, by a consumer that never skips or goes back.
// The killed broker restarts, truncates what was never committed, catches up and rejoins the ISR, with a
// log identical to the leader's.
//
// The same scenario runs twice: on plaintext, and with security on, where each broker's only listener is
// SASL_SSL and is also inter.broker.listener.name (replica fetchers log in with SCRAM-SHA-512 over TLS, their
// credential in etcd like every client's), and every client (kafkajs, kcat, the helper's own connections)
// logs in with SCRAM-SHA-512 over TLS too.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { randomBytes } from "node:crypto";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { Kafka, logLevel } from "kafkajs";
import { KafkaConnection } from "../../src/client/kafka-connection.ts";
import { EtcdClient } from "../../src/cluster/etcd/client.ts";
import { ApiKey } from "../../src/protocol/generated/index.ts";
import { KeyValueScramCredentialStore } from "../../src/security/credentials.ts";
import { credentialFromSaltedPassword, saltPassword, SCRAM_ITERATIONS_MIN } from "../../src/security/sasl/scram.ts";
import { makeDevCerts, type DevCerts } from "../helpers/certs.ts";
import { TestCluster } from "../helpers/cluster.ts";
import { History } from "../helpers/history.ts";
import { kafkaClient } from "../helpers/kafkajs.ts";
import { kcatConsumeAll } from "../helpers/kcat.ts";
import { storedBatches } from "../helpers/segments.ts";

const TOPIC = "failover";
const PARTITIONS = 3;
const KILL_AFTER_ACKED = 600;
const STOP_AFTER_ACKED = 1800;
const PRODUCE_TIME_MAX_MS = 60_000;

/** How one run's cluster is built and how its clients connect. */
interface Setup {
  cluster: TestCluster;
  kafka(clientId: string): Kafka;
  /** kcat's -X settings for the cluster's listener. */
  kcatArgs: string[];
  /** Checks after the scenario that what crossed the listener had to be secure (nothing for plaintext). */
  verifySecurity(): Promise<void>;
  cleanup(): Promise<void>;
}

async function plaintextSetup(): Promise<Setup> {
  const cluster = new TestCluster(3);
  return { cluster, kafka: (clientId) => kafkaClient(cluster.bootstrap.join(","), clientId), kcatArgs: [], verifySecurity: async () => undefined, cleanup: () => cluster.cleanup() };
}

const BROKER_USER = { username: "broker", password: "broker-secret" };
const CLIENT_USER = { username: "failover-client", password: "client-secret" };

/** SCRAM-SHA-512 credentials written to etcd before any broker starts (Kafka: kafka-storage format --add-scram). */
async function seedScramCredentials(endpoint: string, clusterId: string): Promise<void> {
  const store = new KeyValueScramCredentialStore(new EtcdClient({ endpoints: [endpoint] }), `/bunka/${clusterId}/scram-credentials/`);
  for (const { username, password } of [BROKER_USER, CLIENT_USER]) {
    const salt = new Uint8Array(randomBytes(32));
    const salted = saltPassword("SCRAM-SHA-512", password, salt, SCRAM_ITERATIONS_MIN);
    await store.upsert(username, "SCRAM-SHA-512", credentialFromSaltedPassword("SCRAM-SHA-512", salt, SCRAM_ITERATIONS_MIN, salted));
  }
}

async function saslSslSetup(): Promise<Setup> {
  const certs: DevCerts = await makeDevCerts("failover-secure");
  const clusterId = "failover-secure";
  const scramLogin = (user: { username: string; password: string }) => `org.apache.kafka.common.security.scram.ScramLoginModule required username="${user.username}" password="${user.password}";`;
  const ca = readFileSync(certs.ca, "utf8");
  const cluster = new TestCluster(
    3,
    {
      "cluster.id": clusterId,
      listeners: "SECURE://127.0.0.1:0",
      "listener.security.protocol.map": "SECURE:SASL_SSL",
      "inter.broker.listener.name": "SECURE",
      "sasl.mechanism.inter.broker.protocol": "SCRAM-SHA-512",
      "listener.name.secure.sasl.enabled.mechanisms": "SCRAM-SHA-512",
      "listener.name.secure.scram-sha-512.sasl.jaas.config": scramLogin(BROKER_USER),
      "listener.name.secure.ssl.keystore.location": certs.brokerKeystore,
      "listener.name.secure.ssl.truststore.location": certs.ca,
    },
    {
      beforeBrokers: (etcd) => seedScramCredentials(etcd.endpoint, clusterId),
      client: { tls: { ca }, sasl: { mechanism: "SCRAM-SHA-512", ...CLIENT_USER } },
    },
  );
  return {
    cluster,
    kafka: (clientId) =>
      new Kafka({
        clientId,
        brokers: cluster.bootstrap,
        logLevel: logLevel.NOTHING,
        retry: { retries: 8, initialRetryTime: 100, maxRetryTime: 2000 },
        connectionTimeout: 5000,
        requestTimeout: 30000,
        ssl: { ca: [ca] },
        sasl: { mechanism: "scram-sha-512", ...CLIENT_USER },
      }),
    kcatArgs: ["-X", "security.protocol=SASL_SSL", "-X", `ssl.ca.location=${certs.ca}`, "-X", "sasl.mechanisms=SCRAM-SHA-512", "-X", `sasl.username=${CLIENT_USER.username}`, "-X", `sasl.password=${CLIENT_USER.password}`],
    // The brokers' one listener (which replication used) serves nobody in clear text, nor over TLS without a login.
    verifySecurity: async () => {
      const metadataWith = async (options: { tls?: { ca: string } }) => {
        const connection = await KafkaConnection.connect({ host: "127.0.0.1", port: cluster.broker(1).port, connectTimeoutMs: 5000, requestTimeoutMs: 5000, ...options });
        try {
          return await connection.request(ApiKey.Metadata, 9, { topics: [] });
        } finally {
          connection.close();
        }
      };
      await expect(metadataWith({})).rejects.toThrow();
      await expect(metadataWith({ tls: { ca } })).rejects.toThrow();
    },
    cleanup: async () => {
      await cluster.cleanup();
      certs.cleanup();
    },
  };
}

describe.each([
  ["plaintext", plaintextSetup],
  ["SASL_SSL with SCRAM-SHA-512 between brokers and for clients", saslSslSetup],
] as const)("%s", (_mode, makeSetup) => {
  let setup: Setup;
  let cluster: TestCluster;

  beforeAll(async () => {
    setup = await makeSetup();
    cluster = setup.cluster;
    await cluster.start();
    const admin = setup.kafka("failover-admin").admin();
    await admin.connect();
    await admin.createTopics({
      topics: [{ topic: TOPIC, numPartitions: PARTITIONS, replicationFactor: 3, configEntries: [{ name: "min.insync.replicas", value: "2" }] }],
      waitForLeaders: true,
    });
    await admin.disconnect();
  }, 90_000);

  afterAll(async () => {
    await setup?.cleanup();
  });

  /** kcat streaming the topic from the beginning while the test runs: a live consumer through the failover. */
  function startLiveConsumer(history: History): { stop: () => Promise<void> } {
    const child = Bun.spawn(["kcat", "-b", cluster.bootstrap.join(","), ...setup.kcatArgs, "-C", "-u", "-t", TOPIC, "-o", "beginning", "-q", "-f", "%p %o %s\n"], { stdin: "ignore", stdout: "pipe", stderr: "ignore" });
    const reading = (async () => {
      const decoder = new TextDecoder();
      let pending = "";
      for await (const chunk of child.stdout) {
        pending += decoder.decode(chunk);
        const lines = pending.split("\n");
        pending = lines.pop()!;
        for (const line of lines) {
          const [partition, offset, value] = line.split(" ");
          history.poll({ consumer: "kcat-live", partition: Number(partition), offset: Number(offset), value: value! });
        }
      }
    })();
    return {
      stop: async () => {
        child.kill("SIGTERM");
        await child.exited;
        await reading;
      },
    };
  }

  test("leader SIGKILL during an acks=all stream: failover within seconds, nothing acknowledged lost or duplicated, the old leader rejoins", async () => {
    const history = new History();
    const live = startLiveConsumer(history);
    const producer = setup.kafka("failover-producer").producer({
      idempotent: true,
      maxInFlightRequests: 1,
      allowAutoTopicCreation: false,
      retry: { retries: 50, initialRetryTime: 100, maxRetryTime: 1000 },
    });
    await producer.connect();

    const before = await cluster.partitions(TOPIC);
    const victim = before[0]!.leader;
    let killedAtMs = 0;
    let sequence = 0;
    const startedMs = Date.now();
    for (let sends = 0; history.ackedCount < STOP_AFTER_ACKED && Date.now() - startedMs < PRODUCE_TIME_MAX_MS && sends < 10_000; sends++) {
      const partition = sends % PARTITIONS;
      const values = Array.from({ length: 10 }, () => `s${sequence++}`);
      try {
        const [result] = await producer.send({ topic: TOPIC, acks: -1, timeout: 10_000, messages: values.map((value) => ({ value, partition })) });
        values.forEach((value, i) => history.send({ value, partition, ackedOffset: Number(result!.baseOffset) + i }));
      } catch {
        values.forEach((value) => history.send({ value, partition, ackedOffset: null }));
      }
      if (!killedAtMs && history.ackedCount >= KILL_AFTER_ACKED) {
        await cluster.broker(victim).kill();
        killedAtMs = Date.now();
      }
    }
    await producer.disconnect();
    const timings = [`killed at ${killedAtMs - startedMs} ms`, `produced ${history.ackedCount} acked by ${Date.now() - startedMs} ms`];
    expect(killedAtMs).toBeGreaterThan(0);
    expect(history.ackedCount).toBeGreaterThanOrEqual(STOP_AFTER_ACKED);

    // A new leader for every partition the victim led, within seconds of the kill.
    const after = await cluster.waitFor("a new leader for partition 0", async () => {
      const partitions = await cluster.partitions(TOPIC, [victim]);
      return partitions.every((p) => p.leader >= 0 && p.leader !== victim) ? partitions : null;
    }, 20_000);
    timings.push(`new leader seen ${Date.now() - killedAtMs} ms after the kill`);
    expect(after[0]!.leaderEpoch).toBeGreaterThan(before[0]!.leaderEpoch);
    expect(after[0]!.isr).not.toContain(victim);

    // The old leader restarts, truncates anything uncommitted, catches up and rejoins every ISR.
    await cluster.broker(victim).start();
    await cluster.waitFor(`broker ${victim} back in every ISR`, async () => {
      const partitions = await cluster.partitions(TOPIC);
      return partitions.every((p) => p.isr.includes(victim)) ? partitions : null;
    }, 30_000);

    timings.push(`rejoined the ISR by ${Date.now() - startedMs} ms`);
    const final = await kcatConsumeAll(cluster.bootstrap.join(","), TOPIC, "%p %o %s\n", setup.kcatArgs);
    for (const line of final) {
      const [partition, offset, value] = line.split(" ");
      history.poll({ consumer: "final", partition: Number(partition), offset: Number(offset), value: value! });
    }
    // The live consumer reads up to the end too (bounded wait), then stops.
    const finalCount = final.length;
    try {
      await cluster.waitFor("the live consumer to reach the end", async () => history.polls.filter((poll) => poll.consumer === "kcat-live").length >= finalCount, 30_000);
    } catch (error) {
      const summary = (consumer: string) => [0, 1, 2].map((p) => { const offs = history.polls.filter((x) => x.consumer === consumer && x.partition === p).map((x) => x.offset); return `${p}:${offs.length}/${Math.max(-1, ...offs)}`; }).join(" ");
      console.log("live", summary("kcat-live"), "final", summary("final"), "victim", victim);
      for (const [id, broker] of cluster.brokers) console.log(`--- broker ${id}\n${broker.output.slice(-3000)}`);
      throw error;
    }
    await live.stop();

    timings.push(`final read and live consumer done by ${Date.now() - startedMs} ms`);
    console.log(`failover test: ${timings.join("; ")}`);
    expect(history.check("final")).toEqual([]);

    // Replicas hold identical logs: the restarted broker's batches equal the leader's, batch for batch.
    const leaders = await cluster.partitions(TOPIC);
    for (let partition = 0; partition < PARTITIONS; partition++) {
      const leaderBatches = storedBatches(join(cluster.broker(leaders[partition]!.leader).dataDir, `${TOPIC}-${partition}`));
      const victimBatches = storedBatches(join(cluster.broker(victim).dataDir, `${TOPIC}-${partition}`));
      expect(victimBatches.map((b) => [b.baseOffset, b.lastOffset, b.sizeBytes])).toEqual(leaderBatches.map((b) => [b.baseOffset, b.lastOffset, b.sizeBytes]));
    }
    await setup.verifySecurity();
  }, 240_000);
});
