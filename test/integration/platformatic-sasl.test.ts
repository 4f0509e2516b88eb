// @platformatic/kafka over SASL_SSL (node:tls with the dev CA, then SaslHandshake v1 + SaslAuthenticate v2):
// with PLAIN and with OAUTHBEARER (an unsecured JWS, alg none, as Kafka's OAuthBearerUnsecuredJws expects)
// its admin creates a topic, its producer writes and its group consumer reads everything back; a wrong PLAIN
// password and an expired token are refused with an authentication error and nothing is written. The broker's
// audit lines name each principal.
import { afterAll, beforeAll, expect, test } from "bun:test";
import { readFileSync, rmSync } from "node:fs";
import { Admin, Consumer, Producer, stringDeserializers, stringSerializers } from "@platformatic/kafka";
import { startBroker, type Broker } from "../../src/server/broker.ts";
import { tempDir } from "../helpers/broker-process.ts";
import { makeDevCerts, type DevCerts } from "../helpers/certs.ts";
import { kcatConsumeAll } from "../helpers/kcat.ts";

const JAAS = 'org.apache.kafka.common.security.plain.PlainLoginModule required username="admin" password="admin-secret" user_alice="alice-secret";';
const RECORDS = 20;
const CONSUME_WAIT_MS = 60_000;

let certs: DevCerts;
let dataDir: string;
let broker: Broker;
const logs: string[] = [];
let saslSsl = "";
let plaintext = "";

beforeAll(async () => {
  certs = await makeDevCerts("platformatic-sasl");
  dataDir = tempDir("platformatic-sasl");
  broker = await startBroker({
    port: 0,
    dataDir,
    partitionWorkers: 1,
    log: (line) => logs.push(line),
    properties: {
      listeners: "PLAINTEXT://127.0.0.1:0,SASL_SSL://127.0.0.1:0",
      "ssl.keystore.location": certs.brokerKeystore,
      "sasl.enabled.mechanisms": "PLAIN,OAUTHBEARER",
      "sasl.jaas.config": JAAS,
      "group.initial.rebalance.delay.ms": "0",
      "offsets.topic.num.partitions": "1",
    },
  });
  const portOf = (name: string) => broker.boundListeners().find((bound) => bound.name === name)!.port;
  saslSsl = `127.0.0.1:${portOf("SASL_SSL")}`;
  plaintext = `127.0.0.1:${portOf("PLAINTEXT")}`;
});

afterAll(async () => {
  await broker?.stop();
  if (dataDir) rmSync(dataDir, { recursive: true, force: true });
  certs?.cleanup();
});

/** An unsecured JWS (header {"alg":"none"}, empty signature), what Kafka's OAuthBearerUnsecuredJws parses. */
function unsecuredJws(claims: Record<string, unknown>): string {
  const part = (value: object) => Buffer.from(JSON.stringify(value)).toString("base64url");
  return `${part({ alg: "none" })}.${part(claims)}.`;
}

type Sasl = { mechanism: "PLAIN"; username: string; password: string } | { mechanism: "OAUTHBEARER"; token: string };

function clientOptions(clientId: string, sasl: Sasl) {
  return {
    clientId,
    bootstrapBrokers: [saslSsl],
    tls: { ca: readFileSync(certs.ca, "utf8") },
    sasl,
    retries: 2,
  };
}

/** Admin creates `topic`, producer writes RECORDS, a group consumer reads them all (bounded wait). */
async function roundTrip(topic: string, sasl: Sasl): Promise<string[]> {
  const admin = new Admin(clientOptions(`${topic}-admin`, sasl));
  try {
    await admin.createTopics({ topics: [topic], partitions: 2, replicas: 1 });
    expect(await admin.listTopics()).toContain(topic);
  } finally {
    await admin.close();
  }
  const sent = Array.from({ length: RECORDS }, (_, index) => `${topic}-${index}`);
  const producer = new Producer({ ...clientOptions(`${topic}-producer`, sasl), serializers: stringSerializers, acks: -1 });
  try {
    await producer.send({ messages: sent.map((value, index) => ({ topic, key: `k${index}`, value, partition: index % 2 })) });
  } finally {
    await producer.close();
  }
  const consumer = new Consumer({ ...clientOptions(`${topic}-consumer`, sasl), groupId: `${topic}-group`, deserializers: stringDeserializers, sessionTimeout: 10_000, heartbeatInterval: 500 });
  const received: string[] = [];
  try {
    const stream = await consumer.consume({ topics: [topic], mode: "earliest" } as never);
    stream.on("data", (message: { value: string }) => void received.push(message.value));
    const deadline = Date.now() + CONSUME_WAIT_MS;
    while (received.length < RECORDS && Date.now() < deadline) await Bun.sleep(50);
    await stream.close();
  } finally {
    await consumer.close(true);
  }
  expect(received.sort()).toEqual([...sent].sort());
  return received;
}

/** A producer whose login the broker refuses: the send fails and nothing reaches the topic. */
async function refusedProduce(topic: string, sasl: Sasl): Promise<string> {
  const producer = new Producer({ ...clientOptions(`${topic}-refused`, sasl), serializers: stringSerializers, retries: 0 });
  try {
    await producer.send({ messages: [{ topic, value: "must-not-arrive" }] });
    return "";
  } catch (error) {
    // platformatic wraps the broker's answer; the cause chain carries SASL_AUTHENTICATION_FAILED.
    return JSON.stringify(error, Object.getOwnPropertyNames(error instanceof Error ? error : {})) + String(error);
  } finally {
    await producer.close();
  }
}

test("@platformatic/kafka over SASL_SSL with PLAIN: admin, producer and group consumer; a wrong password is refused", async () => {
  await roundTrip("pf-plain", { mechanism: "PLAIN", username: "alice", password: "alice-secret" });
  expect(logs.some((line) => line.includes('"principal":"User:alice","mechanism":"PLAIN"') && line.includes('"listener":"SASL_SSL"'))).toBe(true);

  const refusal = await refusedProduce("pf-plain", { mechanism: "PLAIN", username: "alice", password: "wrong" });
  expect(refusal).toMatch(/authentication|SASL/i);
  expect(await kcatConsumeAll(plaintext, "pf-plain", "%s\\n")).not.toContain("must-not-arrive");
  expect(logs.some((line) => line.includes('"event":"authentication"') && line.includes('"result":"failure"') && line.includes('"mechanism":"PLAIN"'))).toBe(true);
}, 180_000);

test("@platformatic/kafka over SASL_SSL with OAUTHBEARER (unsecured JWS): admin, producer and group consumer; an expired token is refused", async () => {
  const nowSeconds = Math.floor(Date.now() / 1000);
  await roundTrip("pf-oauth", { mechanism: "OAUTHBEARER", token: unsecuredJws({ sub: "erin", iat: nowSeconds, exp: nowSeconds + 3600 }) });
  expect(logs.some((line) => line.includes('"principal":"User:erin","mechanism":"OAUTHBEARER"'))).toBe(true);

  const refusal = await refusedProduce("pf-oauth", { mechanism: "OAUTHBEARER", token: unsecuredJws({ sub: "erin", iat: nowSeconds - 7200, exp: nowSeconds - 3600 }) });
  expect(refusal).toMatch(/authentication|SASL|token/i);
  expect(await kcatConsumeAll(plaintext, "pf-oauth", "%s\\n")).not.toContain("must-not-arrive");
}, 180_000);
