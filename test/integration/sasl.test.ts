// SASL on a SASL_PLAINTEXT listener (issue 10, item 3): PLAIN users from the JAAS config, SCRAM users made
// with the users CLI, real clients (kcat = librdkafka 2.0.2, kafkajs 2.2.4) against a real broker process,
// and hostile clients on raw sockets: garbage tokens, requests before authentication, 10,000 failed logins.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { rmSync } from "node:fs";
import { join, resolve } from "node:path";
import { KafkaConnection } from "../../src/client/kafka-connection.ts";
import { ErrorCode } from "../../src/protocol/errors.ts";
import { ApiKey } from "../../src/protocol/generated/index.ts";
import { authenticate, SaslClientError } from "../../src/security/sasl/client.ts";
import { startBroker, type Broker } from "../../src/server/broker.ts";
import { BrokerProcess, freePort, tempDir } from "../helpers/broker-process.ts";
import { kcat, kcatConsumeAll } from "../helpers/kcat.ts";
import { kafkaClient } from "../helpers/kafkajs.ts";
import { run } from "../helpers/run.ts";
import { Kafka, logLevel } from "kafkajs";
import { Admin as PlatformaticAdmin, Producer as PlatformaticProducer, stringSerializers } from "@platformatic/kafka";
import { generateKeyPairSync, sign } from "node:crypto";
import { readFileSync, writeFileSync } from "node:fs";
import { makeDevCerts, type DevCerts } from "../helpers/certs.ts";

const repoRoot = resolve(import.meta.dir, "../..");
const JAAS = 'org.apache.kafka.common.security.plain.PlainLoginModule required username="admin" password="admin-secret" user_admin="admin-secret" user_alice="alice-secret";';

function saslProperties(port: number, extra: Record<string, string> = {}): Record<string, string> {
  return { listeners: `SASL_PLAINTEXT://127.0.0.1:${port}`, "sasl.enabled.mechanisms": "PLAIN,SCRAM-SHA-256,SCRAM-SHA-512,OAUTHBEARER", "sasl.jaas.config": JAAS, ...extra };
}

function kcatSasl(mechanism: string, user: string, password: string): string[] {
  return ["-X", "security.protocol=SASL_PLAINTEXT", "-X", `sasl.mechanisms=${mechanism}`, "-X", `sasl.username=${user}`, "-X", `sasl.password=${password}`];
}

/** The users CLI as an operator runs it, authenticated as the PLAIN admin. */
function usersCli(bootstrap: string, args: string[]) {
  return run([process.execPath, join(repoRoot, "src/tools/users.ts"), "--bootstrap-server", bootstrap, "--sasl-mechanism", "PLAIN", "--sasl-username", "admin", "--sasl-password", "admin-secret", ...args], { timeoutMs: 60_000 });
}

/** An unsecured JWS (alg none), as Kafka's and librdkafka's development tokens. */
function unsecuredJws(claims: Record<string, unknown>): string {
  return `${Buffer.from(JSON.stringify({ alg: "none" })).toString("base64url")}.${Buffer.from(JSON.stringify(claims)).toString("base64url")}.`;
}

/** Resolves true once the broker closed `connection` (bounded: false after `timeoutMs`). */
async function closedWithin(connection: KafkaConnection, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (!connection.closed && Date.now() < deadline) await Bun.sleep(10);
  return connection.closed;
}

describe("SASL_PLAINTEXT broker process", () => {
  let broker: BrokerProcess;

  beforeAll(async () => {
    const port = freePort();
    broker = new BrokerProcess({ port, properties: saslProperties(port) });
    await broker.start();
  });

  afterAll(async () => {
    await broker.cleanup();
  });

  test("kcat with PLAIN produces and consumes; with a wrong password it gets an authentication error and reads nothing", async () => {
    // Goal: the JAAS users authenticate with librdkafka's PLAIN; a wrong password is refused before any data.
    // Method: kcat produces 3 records as alice, reads them back, then reads again with a wrong password.
    const produced = await kcat(broker.bootstrap, ["-P", "-t", "plain-topic", ...kcatSasl("PLAIN", "alice", "alice-secret")], { input: "one\ntwo\nthree\n", timeoutMs: 60_000 });
    expect(produced.exitCode).toBe(0);
    expect(await kcatConsumeAll(broker.bootstrap, "plain-topic", "%s\\n", kcatSasl("PLAIN", "alice", "alice-secret"))).toEqual(["one", "two", "three"]);

    const refused = await kcat(broker.bootstrap, ["-C", "-t", "plain-topic", "-o", "beginning", "-e", "-m", "5", ...kcatSasl("PLAIN", "alice", "wrong")], { timeoutMs: 30_000 });
    expect(refused.exitCode).not.toBe(0);
    expect(refused.stdout).toBe("");
    expect(refused.stderr).toContain("Invalid username or password");
    expect(broker.output).toContain('{"event":"authentication","result":"failure"');
    expect(broker.output).toContain('"principal":"User:alice","mechanism":"PLAIN"');
  });

  test("a SCRAM user made with the users CLI consumes with kcat over SCRAM-SHA-512; listed without secrets; removed, it is refused", async () => {
    // Goal: KIP-554 credentials written by the CLI authenticate librdkafka's SCRAM-SHA-512, and deleting them works.
    // Method: add bob, produce as alice (PLAIN), consume as bob (SCRAM-SHA-512), list, remove, try again.
    const added = await usersCli(broker.bootstrap, ["--add", "--user", "bob", "--password", "bob-secret"]);
    expect(added.stderr).toBe("");
    expect(added.exitCode).toBe(0);
    await kcat(broker.bootstrap, ["-P", "-t", "scram-topic", ...kcatSasl("PLAIN", "alice", "alice-secret")], { input: "x\ny\n", timeoutMs: 60_000 });
    expect(await kcatConsumeAll(broker.bootstrap, "scram-topic", "%s\\n", kcatSasl("SCRAM-SHA-512", "bob", "bob-secret"))).toEqual(["x", "y"]);

    const listed = await usersCli(broker.bootstrap, ["--list", "--json"]);
    expect(listed.exitCode).toBe(0);
    expect(JSON.parse(listed.stdout)).toEqual([{ user: "bob", error: null, credentials: [{ mechanism: "SCRAM-SHA-256", iterations: 8192 }, { mechanism: "SCRAM-SHA-512", iterations: 8192 }] }]);
    expect(listed.stdout).not.toContain("bob-secret");

    const removed = await usersCli(broker.bootstrap, ["--remove", "--user", "bob", "--mechanism", "SCRAM-SHA-512"]);
    expect(removed.exitCode).toBe(0);
    const refused = await kcat(broker.bootstrap, ["-L", ...kcatSasl("SCRAM-SHA-512", "bob", "bob-secret")], { timeoutMs: 30_000 });
    expect(refused.exitCode).not.toBe(0);
    expect(refused.stderr).toContain("invalid credentials with SASL mechanism SCRAM-SHA-512");
    // SCRAM-SHA-256 of bob is still there.
    const still = await kcat(broker.bootstrap, ["-L", ...kcatSasl("SCRAM-SHA-256", "bob", "bob-secret")], { timeoutMs: 30_000 });
    expect(still.exitCode).toBe(0);
  }, 120_000);

  test("kafkajs with SCRAM-SHA-256 produces, consumes in a group and uses the admin client", async () => {
    // Goal: kafkajs' SCRAM-SHA-256 and every connection it opens (producer, group coordinator, fetch, admin) authenticate.
    // Method: a user from the CLI; admin creates a topic and lists it; a producer sends 20 records; a group consumer reads all 20.
    expect((await usersCli(broker.bootstrap, ["--add", "--user", "carol", "--password", "carol-secret", "--mechanism", "SCRAM-SHA-256"])).exitCode).toBe(0);
    const kafka = new Kafka({ clientId: "sasl-test", brokers: [broker.bootstrap], logLevel: logLevel.NOTHING, sasl: { mechanism: "scram-sha-256", username: "carol", password: "carol-secret" }, retry: { retries: 5 } });
    const admin = kafka.admin();
    await admin.connect();
    expect(await admin.createTopics({ topics: [{ topic: "kafkajs-scram", numPartitions: 2 }], waitForLeaders: true })).toBe(true);
    expect(await admin.listTopics()).toContain("kafkajs-scram");
    await admin.disconnect();

    const producer = kafka.producer();
    await producer.connect();
    await producer.send({ topic: "kafkajs-scram", messages: Array.from({ length: 20 }, (_, index) => ({ key: `k${index}`, value: `v${index}` })) });
    await producer.disconnect();

    const consumer = kafka.consumer({ groupId: "scram-group", sessionTimeout: 10_000, heartbeatInterval: 1000 });
    await consumer.connect();
    await consumer.subscribe({ topic: "kafkajs-scram", fromBeginning: true });
    const received: string[] = [];
    const done = Promise.withResolvers<void>();
    await consumer.run({
      eachMessage: async ({ message }) => {
        received.push(message.value!.toString());
        if (received.length === 20) done.resolve();
      },
    });
    const timer = setTimeout(() => done.reject(new Error(`consumed ${received.length} of 20 in 60 s`)), 60_000);
    try {
      await done.promise;
    } finally {
      clearTimeout(timer);
      await consumer.disconnect();
    }
    expect(received.sort()).toEqual(Array.from({ length: 20 }, (_, index) => `v${index}`).sort());
    expect(broker.output).toContain('"principal":"User:carol","mechanism":"SCRAM-SHA-256"');
  }, 120_000);

  test("@platformatic/kafka with PLAIN and with OAUTHBEARER (unsecured JWS) creates a topic and produces; kcat with OAUTHBEARER reads it back", async () => {
    // Goal: a third client's PLAIN and OAUTHBEARER, and librdkafka's built-in unsecured JWT, authenticate.
    // Method: platformatic admin (PLAIN) creates a topic, a platformatic producer (OAUTHBEARER, sub=erin) writes 10
    // records, kcat (OAUTHBEARER, principal=frank) reads them; the log names each principal.
    const admin = new PlatformaticAdmin({ clientId: "sasl-admin", bootstrapBrokers: [broker.bootstrap], sasl: { mechanism: "PLAIN", username: "alice", password: "alice-secret" } });
    try {
      await admin.createTopics({ topics: ["platformatic-sasl"], partitions: 1, replicas: 1 });
      expect(await admin.listTopics()).toContain("platformatic-sasl");
    } finally {
      await admin.close();
    }
    const producer = new PlatformaticProducer({
      clientId: "sasl-producer",
      bootstrapBrokers: [broker.bootstrap],
      serializers: stringSerializers,
      sasl: { mechanism: "OAUTHBEARER", token: unsecuredJws({ sub: "erin", exp: Math.floor(Date.now() / 1000) + 3600 }) },
    });
    try {
      await producer.send({ messages: Array.from({ length: 10 }, (_, index) => ({ topic: "platformatic-sasl", key: `k${index}`, value: `v${index}` })) });
    } finally {
      await producer.close();
    }
    const oauth = ["-X", "security.protocol=SASL_PLAINTEXT", "-X", "sasl.mechanisms=OAUTHBEARER", "-X", "enable.sasl.oauthbearer.unsecure.jwt=true", "-X", "sasl.oauthbearer.config=principal=frank"];
    expect(await kcatConsumeAll(broker.bootstrap, "platformatic-sasl", "%s\\n", oauth)).toEqual(Array.from({ length: 10 }, (_, index) => `v${index}`));
    expect(broker.output).toContain('"principal":"User:erin","mechanism":"OAUTHBEARER"');
    expect(broker.output).toContain('"principal":"User:frank","mechanism":"OAUTHBEARER"');
    expect(broker.output).toContain("OAUTHBEARER accepts unsecured tokens");
  }, 120_000);

  test("kafkajs without SASL on the SASL listener gets nothing: its first request after ApiVersions closes the connection", async () => {
    // Goal: nothing but ApiVersions and the SASL APIs is served before authentication.
    // Method: a plain kafkajs admin (no sasl) asks for topics and must fail.
    const admin = kafkaClient(broker.bootstrap).admin();
    const attempt = admin.connect().then(() => admin.listTopics());
    await expect(attempt).rejects.toThrow();
    await admin.disconnect();
    expect(broker.output).toContain("before SASL authentication on listener SASL_PLAINTEXT");
  }, 120_000);
});

describe("SASL in process (raw protocol)", () => {
  let broker: Broker;
  let dataDir: string;
  const lines: string[] = [];
  let failureLines = 0;
  let closingLines = 0;

  beforeAll(async () => {
    dataDir = tempDir("sasl");
    broker = await startBroker({
      port: 0,
      dataDir,
      partitionWorkers: 1,
      properties: saslProperties(0, { "connections.max.reauth.ms": "1500" }),
      log: (line) => {
        // Counted, not kept, past the first few hundred: the 10,000-login test logs a line per connection.
        if (line.includes('"result":"failure"')) failureLines++;
        if (line.startsWith("closing connection")) closingLines++;
        if (lines.length < 500) lines.push(line);
      },
    });
  });

  afterAll(async () => {
    await broker.stop();
    rmSync(dataDir, { recursive: true, force: true });
  });

  const connect = () => KafkaConnection.connect({ host: "127.0.0.1", port: broker.port, requestTimeoutMs: 10_000 });

  test("Metadata before authentication closes the connection; ApiVersions is answered", async () => {
    const connection = await connect();
    const versions = await connection.request(ApiKey.ApiVersions, 3, { clientSoftwareName: "t", clientSoftwareVersion: "1" });
    expect(versions.errorCode).toBe(ErrorCode.NONE);
    expect(versions.apiKeys.map((api: { apiKey: number }) => api.apiKey)).toEqual(expect.arrayContaining([ApiKey.SaslHandshake, ApiKey.SaslAuthenticate]));
    await expect(connection.request(ApiKey.Metadata, 9, { topics: null })).rejects.toThrow();
    expect(await closedWithin(connection, 5_000)).toBe(true);
  });

  test("an unsupported mechanism gets UNSUPPORTED_SASL_MECHANISM with the enabled list, then the connection closes", async () => {
    const connection = await connect();
    const answer = await connection.request(ApiKey.SaslHandshake, 1, { mechanism: "GSSAPI" });
    expect(answer.errorCode).toBe(ErrorCode.UNSUPPORTED_SASL_MECHANISM);
    expect(answer.mechanisms).toEqual(["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512", "OAUTHBEARER"]);
    expect(await closedWithin(connection, 5_000)).toBe(true);
  });

  test("garbage in SaslAuthenticate gets SASL_AUTHENTICATION_FAILED with a message and a closed connection, for each mechanism", async () => {
    // Goal: malformed tokens are a failed login, never a crash. Method: random bytes, invalid UTF-8 and a
    // truncated SCRAM message after each handshake; then a good login still works.
    const garbage = [new Uint8Array([0xff, 0xfe, 0x00, 0x80]), crypto.getRandomValues(new Uint8Array(300)), new TextEncoder().encode("n,,n=x"), new Uint8Array(0)];
    for (const mechanism of ["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512", "OAUTHBEARER"]) {
      for (const token of garbage) {
        const connection = await connect();
        expect((await connection.request(ApiKey.SaslHandshake, 1, { mechanism })).errorCode).toBe(ErrorCode.NONE);
        const answer = await connection.request(ApiKey.SaslAuthenticate, 2, { authBytes: token });
        expect(answer.errorCode).toBe(ErrorCode.SASL_AUTHENTICATION_FAILED);
        expect(answer.errorMessage.length).toBeGreaterThan(0);
        expect(await closedWithin(connection, 5_000)).toBe(true);
      }
    }
    const good = await connect();
    await authenticate((key, version, body) => good.request(key, version, body), "PLAIN", "alice", "alice-secret");
    expect((await good.request(ApiKey.Metadata, 9, { topics: null })).brokers.length).toBe(1);
    good.close();
  });

  test("SaslHandshake v0 (before KIP-152): the token and its answer are bare size-prefixed frames, then requests are served", async () => {
    // Goal: Kafka's legacy framing works. Method: a raw socket sends SaslHandshake v0, the PLAIN token as a bare
    // frame, then ApiVersions v0; it must get the handshake answer, an empty token frame, then the ApiVersions answer.
    const received: Uint8Array[] = [];
    const socket = await Bun.connect({ hostname: "127.0.0.1", port: broker.port, socket: { data: (_socket, chunk) => void received.push(new Uint8Array(chunk)) } });
    const frame = (body: number[]) => new Uint8Array([(body.length >>> 24) & 255, (body.length >>> 16) & 255, (body.length >>> 8) & 255, body.length & 255, ...body]);
    const header = (apiKey: number, correlationId: number) => [0, apiKey, 0, 0, 0, 0, 0, correlationId, 0xff, 0xff];
    const bytesReceived = async (count: number) => {
      const deadline = Date.now() + 5_000;
      while (received.reduce((sum, chunk) => sum + chunk.byteLength, 0) < count && Date.now() < deadline) await Bun.sleep(10);
      const all = new Uint8Array(received.reduce((sum, chunk) => sum + chunk.byteLength, 0));
      let offset = 0;
      for (const chunk of received) (all.set(chunk, offset), (offset += chunk.byteLength));
      return all;
    };
    socket.write(frame([...header(17, 1), 0, 5, ...new TextEncoder().encode("PLAIN")]));
    const handshake = await bytesReceived(4 + 4 + 2 + 4);
    expect([...handshake.subarray(4, 10)]).toEqual([0, 0, 0, 1, 0, 0]); // correlation id 1, NONE
    received.length = 0;
    socket.write(frame([...new TextEncoder().encode("\u0000alice\u0000alice-secret")]));
    expect([...(await bytesReceived(4))]).toEqual([0, 0, 0, 0]); // an empty token: authenticated
    received.length = 0;
    socket.write(frame(header(18, 2)));
    const versions = await bytesReceived(10);
    expect([...versions.subarray(4, 10)]).toEqual([0, 0, 0, 2, 0, 0]);
    socket.end();
  });

  test("before authentication a frame above sasl.server.max.receive.size closes the connection; after it, kcat produces a 700 KB record", async () => {
    // Goal: an anonymous client cannot make the broker buffer a large frame (Kafka's bound), and the bound lifts
    // once logged in. Method: a raw socket declares a 1,000,000-byte frame; then kcat (PLAIN) writes and reads 700 KB.
    const closed = Promise.withResolvers<boolean>();
    const socket = await Bun.connect({ hostname: "127.0.0.1", port: broker.port, socket: { data() {}, close: () => closed.resolve(true), error: () => closed.resolve(true) } });
    socket.write(new Uint8Array([0x00, 0x0f, 0x42, 0x40, 0, 18, 0, 3])); // size 1,000,000, then the start of a header
    const timer = setTimeout(() => closed.resolve(false), 5_000);
    expect(await closed.promise).toBe(true);
    clearTimeout(timer);
    // A listening worker that closed it logs through the main thread, which may write the line a moment later.
    const logDeadline = Date.now() + 5_000;
    while (!lines.some((line) => line.includes("exceeds sasl.server.max.receive.size=524288")) && Date.now() < logDeadline) await Bun.sleep(20);
    expect(lines.some((line) => line.includes("exceeds sasl.server.max.receive.size=524288"))).toBe(true);

    const large = "x".repeat(700_000);
    const bootstrap = `127.0.0.1:${broker.port}`;
    const produced = await kcat(bootstrap, ["-P", "-t", "large-after-login", ...kcatSasl("PLAIN", "alice", "alice-secret")], { input: `${large}\n`, timeoutMs: 60_000 });
    expect(produced.exitCode).toBe(0);
    const consumed = await kcatConsumeAll(bootstrap, "large-after-login", "%S\\n", kcatSasl("PLAIN", "alice", "alice-secret"));
    expect(consumed).toEqual(["700000"]);
  }, 120_000);

  test("SaslAuthenticate without a handshake is ILLEGAL_SASL_STATE and closes the connection", async () => {
    const connection = await connect();
    const answer = await connection.request(ApiKey.SaslAuthenticate, 1, { authBytes: new TextEncoder().encode("\u0000alice\u0000alice-secret") });
    expect(answer.errorCode).toBe(ErrorCode.ILLEGAL_SASL_STATE);
    expect(await closedWithin(connection, 5_000)).toBe(true);
  });

  test("KIP-368: the session lifetime is in the answer; a client that does not re-authenticate is closed, one that does keeps working", async () => {
    // Goal: connections.max.reauth.ms=1500 bounds a session. Method: authenticate two connections, re-authenticate
    // one of them after 1 s, wait until both original sessions ended, then send Metadata on each.
    const lapsed = await connect();
    const renewed = await connect();
    const lifetimes: number[] = [];
    for (const connection of [lapsed, renewed]) {
      expect((await connection.request(ApiKey.SaslHandshake, 1, { mechanism: "PLAIN" })).errorCode).toBe(ErrorCode.NONE);
      const answer = await connection.request(ApiKey.SaslAuthenticate, 1, { authBytes: new TextEncoder().encode("\u0000alice\u0000alice-secret") });
      expect(answer.errorCode).toBe(ErrorCode.NONE);
      lifetimes.push(Number(answer.sessionLifetimeMs));
    }
    expect(lifetimes).toEqual([1500, 1500]);
    await Bun.sleep(1000);
    await authenticate((key, version, body) => renewed.request(key, version, body), "PLAIN", "alice", "alice-secret");
    await Bun.sleep(800);
    expect((await renewed.request(ApiKey.Metadata, 9, { topics: null })).brokers.length).toBe(1);
    await expect(lapsed.request(ApiKey.Metadata, 9, { topics: null })).rejects.toThrow();
    expect(await closedWithin(lapsed, 5_000)).toBe(true);
    // Re-authenticating as someone else is refused.
    await expect(authenticate((key, version, body) => renewed.request(key, version, body), "PLAIN", "admin", "admin-secret")).rejects.toThrow(SaslClientError);
    renewed.close();
  });

  test("10,000 failed logins (200 connections at a time): each answered and closed, one log line per connection, the broker keeps serving", async () => {
    // Goal: password guessing costs a connection per guess and cannot flood the log or hurt the broker.
    // Method: 50 rounds of 200 concurrent connections, each one wrong PLAIN login (bounded: stops after 120 s);
    // then count the failure lines logged since the start of the test and log in properly.
    const failuresBefore = failureLines;
    const closingBefore = closingLines;
    const deadline = Date.now() + 120_000;
    let attempts = 0;
    let refused = 0;
    for (let round = 0; round < 50 && Date.now() < deadline; round++) {
      const results = await Promise.all(
        Array.from({ length: 200 }, async () => {
          const connection = await connect();
          try {
            await authenticate((key, version, body) => connection.request(key, version, body), "PLAIN", "alice", `guess-${round}`);
            return false;
          } catch (error) {
            return error instanceof SaslClientError && error.message.includes("SASL_AUTHENTICATION_FAILED");
          } finally {
            connection.close();
          }
        }),
      );
      attempts += results.length;
      refused += results.filter(Boolean).length;
    }
    console.log(`failed logins attempted: ${attempts}`);
    expect(attempts).toBeGreaterThanOrEqual(2_000);
    expect(refused).toBe(attempts);
    const loggedDeadline = Date.now() + 10_000;
    while (failureLines - failuresBefore < attempts && Date.now() < loggedDeadline) await Bun.sleep(20);
    expect(failureLines - failuresBefore).toBe(attempts);
    expect(closingLines - closingBefore).toBe(0);
    const after = await connect();
    await authenticate((key, version, body) => after.request(key, version, body), "PLAIN", "alice", "alice-secret");
    expect((await after.request(ApiKey.Metadata, 9, { topics: null })).brokers.length).toBe(1);
    after.close();
  }, 200_000);
});

test("each SASL listener offers its own mechanisms and PLAIN users (listener.name.<listener>.…), the broker-wide ones elsewhere", async () => {
  // Goal: Kafka's per-listener and per-mechanism SASL keys. Method: EXTERNAL takes only SCRAM-SHA-512 (broker-wide),
  // INTERNAL only PLAIN with its own user svc; each listener refuses what the other offers.
  const dataDir = tempDir("sasl-listeners");
  const broker = await startBroker({
    port: 0,
    dataDir,
    partitionWorkers: 1,
    properties: {
      listeners: "EXTERNAL://127.0.0.1:0,INTERNAL://127.0.0.1:0",
      "listener.security.protocol.map": "EXTERNAL:SASL_PLAINTEXT,INTERNAL:SASL_PLAINTEXT",
      "sasl.enabled.mechanisms": "SCRAM-SHA-512",
      "listener.name.internal.sasl.enabled.mechanisms": "PLAIN",
      "listener.name.internal.plain.sasl.jaas.config": 'org.apache.kafka.common.security.plain.PlainLoginModule required user_svc="svc-secret";',
    },
    log: () => undefined,
  });
  try {
    const portOf = (name: string) => broker.boundListeners().find((bound) => bound.name === name)!.port;
    const handshake = async (listener: string, mechanism: string) => {
      const connection = await KafkaConnection.connect({ host: "127.0.0.1", port: portOf(listener), requestTimeoutMs: 10_000 });
      try {
        return await connection.request(ApiKey.SaslHandshake, 1, { mechanism });
      } finally {
        connection.close();
      }
    };
    expect(await handshake("EXTERNAL", "PLAIN")).toEqual({ errorCode: ErrorCode.UNSUPPORTED_SASL_MECHANISM, mechanisms: ["SCRAM-SHA-512"] });
    expect(await handshake("INTERNAL", "SCRAM-SHA-512")).toEqual({ errorCode: ErrorCode.UNSUPPORTED_SASL_MECHANISM, mechanisms: ["PLAIN"] });
    const internal = await KafkaConnection.connect({ host: "127.0.0.1", port: portOf("INTERNAL"), requestTimeoutMs: 10_000 });
    await authenticate((key, version, body) => internal.request(key, version, body), "PLAIN", "svc", "svc-secret");
    expect((await internal.request(ApiKey.Metadata, 9, { topics: null })).brokers.length).toBe(1);
    internal.close();
  } finally {
    await broker.stop();
    rmSync(dataDir, { recursive: true, force: true });
  }
});

describe("SASL settings fail closed at start", () => {
  const cases: [string, Record<string, string>, RegExp][] = [
    ["a SASL listener without sasl.enabled.mechanisms", { listeners: "SASL_PLAINTEXT://127.0.0.1:0" }, /sasl\.enabled\.mechanisms is empty/],
    ["GSSAPI, which Bunka lacks", { listeners: "SASL_PLAINTEXT://127.0.0.1:0", "sasl.enabled.mechanisms": "GSSAPI" }, /names GSSAPI/],
    ["PLAIN without users", { listeners: "SASL_PLAINTEXT://127.0.0.1:0", "sasl.enabled.mechanisms": "PLAIN" }, /no users are configured/],
    ["a JAAS config of another login module", { listeners: "SASL_PLAINTEXT://127.0.0.1:0", "sasl.enabled.mechanisms": "PLAIN", "sasl.jaas.config": 'com.example.Module required user_a="b";' }, /PlainLoginModule/],
  ];
  for (const [name, properties, message] of cases) {
    test(`${name} is an error at start`, async () => {
      const dataDir = tempDir("sasl-config");
      try {
        await expect(startBroker({ port: 0, dataDir, partitionWorkers: 1, properties, log: () => undefined })).rejects.toThrow(message);
      } finally {
        rmSync(dataDir, { recursive: true, force: true });
      }
    });
  }
});

describe("OAUTHBEARER against a JWKS file", () => {
  // Goal: with sasl.oauthbearer.jwks.endpoint.url only tokens signed by its keys, for the expected issuer and
  // audience and not expired, authenticate; the session ends no later than the token (KIP-368).
  // Method: an RSA key pair made here, its public half in a JWKS file; tokens signed with it or with another key.
  let broker: Broker;
  let dataDir: string;
  const { privateKey, publicKey } = generateKeyPairSync("rsa", { modulusLength: 2048 });
  const other = generateKeyPairSync("rsa", { modulusLength: 2048 });

  function signedJwt(claims: Record<string, unknown>, key = privateKey, kid = "k1"): string {
    const signed = `${Buffer.from(JSON.stringify({ alg: "RS256", kid, typ: "JWT" })).toString("base64url")}.${Buffer.from(JSON.stringify(claims)).toString("base64url")}`;
    return `${signed}.${sign("sha256", Buffer.from(signed), key).toString("base64url")}`;
  }

  beforeAll(async () => {
    dataDir = tempDir("sasl-jwks");
    const jwksPath = join(dataDir, "jwks.json");
    writeFileSync(jwksPath, JSON.stringify({ keys: [{ ...publicKey.export({ format: "jwk" }), kid: "k1", use: "sig", alg: "RS256" }] }));
    broker = await startBroker({
      port: 0,
      dataDir: join(dataDir, "data"),
      partitionWorkers: 1,
      properties: {
        listeners: "SASL_PLAINTEXT://127.0.0.1:0",
        "sasl.enabled.mechanisms": "OAUTHBEARER",
        "sasl.oauthbearer.jwks.endpoint.url": `file://${jwksPath}`,
        "sasl.oauthbearer.expected.issuer": "https://issuer.test",
        "sasl.oauthbearer.expected.audience": "bunka",
        "connections.max.reauth.ms": "3600000",
      },
      log: () => undefined,
    });
  });

  afterAll(async () => {
    await broker.stop();
    rmSync(dataDir, { recursive: true, force: true });
  });

  async function tryToken(token: string): Promise<{ errorCode: number; errorMessage: string | null; sessionLifetimeMs: number }> {
    const connection = await KafkaConnection.connect({ host: "127.0.0.1", port: broker.port, requestTimeoutMs: 10_000 });
    try {
      expect((await connection.request(ApiKey.SaslHandshake, 1, { mechanism: "OAUTHBEARER" })).errorCode).toBe(ErrorCode.NONE);
      const answer = await connection.request(ApiKey.SaslAuthenticate, 1, { authBytes: new TextEncoder().encode(`n,,\x01auth=Bearer ${token}\x01\x01`) });
      if (answer.errorCode === ErrorCode.NONE) expect((await connection.request(ApiKey.Metadata, 9, { topics: null })).brokers.length).toBe(1);
      return { errorCode: answer.errorCode, errorMessage: answer.errorMessage, sessionLifetimeMs: Number(answer.sessionLifetimeMs) };
    } finally {
      connection.close();
    }
  }

  test("a signed token is accepted and its session ends with it; wrong key, unsigned, expired, wrong issuer or audience are refused", async () => {
    const nowSeconds = Math.floor(Date.now() / 1000);
    const good = { sub: "grace", iss: "https://issuer.test", aud: ["bunka"], exp: nowSeconds + 120, iat: nowSeconds };
    const accepted = await tryToken(signedJwt(good));
    expect(accepted.errorCode).toBe(ErrorCode.NONE);
    expect(accepted.sessionLifetimeMs).toBeGreaterThan(0);
    expect(accepted.sessionLifetimeMs).toBeLessThanOrEqual(120_000);

    const refusals: [string, string, RegExp][] = [
      ["another key", signedJwt(good, other.privateKey), /signature does not verify/],
      ["an unknown kid", signedJwt(good, privateKey, "k2"), /no key "k2"/],
      ["an unsecured token", unsecuredJws(good), /algorithm "none"/],
      ["an expired token", signedJwt({ ...good, exp: nowSeconds - 3600 }), /expired/],
      ["another issuer", signedJwt({ ...good, iss: "https://evil.test" }), /issuer/],
      ["another audience", signedJwt({ ...good, aud: "other" }), /audience/],
      ["no sub", signedJwt({ ...good, sub: undefined }), /no sub claim/],
    ];
    for (const [name, token, message] of refusals) {
      const answer = await tryToken(token);
      expect({ name, errorCode: answer.errorCode }).toEqual({ name, errorCode: ErrorCode.SASL_AUTHENTICATION_FAILED });
      expect(answer.errorMessage).toMatch(message);
    }
  });
});

describe("SASL_SSL: SASL over TLS", () => {
  // Goal: the mechanisms work the same inside TLS (the Done list's SASL_SSL cases). Method: a broker with a
  // PLAINTEXT listener (for the users CLI) and a SASL_SSL listener using dev certificates; kcat SCRAM-SHA-512
  // and kafkajs SCRAM-SHA-256 (admin, producer, group consumer) over SASL_SSL; a wrong password reads nothing.
  let broker: Broker;
  let dataDir: string;
  let certs: DevCerts;
  let saslSsl = "";
  let plaintext = "";

  beforeAll(async () => {
    certs = await makeDevCerts("sasl-ssl-certs");
    dataDir = tempDir("sasl-ssl");
    broker = await startBroker({
      port: 0,
      dataDir,
      partitionWorkers: 1,
      properties: {
        listeners: "PLAINTEXT://127.0.0.1:0,SASL_SSL://127.0.0.1:0",
        "ssl.keystore.location": certs.brokerKeystore,
        "sasl.enabled.mechanisms": "PLAIN,SCRAM-SHA-256,SCRAM-SHA-512",
        "sasl.jaas.config": JAAS,
        "group.initial.rebalance.delay.ms": "0",
      },
      log: () => undefined,
    });
    const portOf = (name: string) => broker.boundListeners().find((bound) => bound.name === name)!.port;
    saslSsl = `127.0.0.1:${portOf("SASL_SSL")}`;
    plaintext = `127.0.0.1:${portOf("PLAINTEXT")}`;
  });

  afterAll(async () => {
    await broker?.stop();
    rmSync(dataDir, { recursive: true, force: true });
    certs?.cleanup();
  });

  const usersOnPlaintext = (args: string[]) => run([process.execPath, join(repoRoot, "src/tools/users.ts"), "--bootstrap-server", plaintext, ...args], { timeoutMs: 60_000 });
  const kcatSaslSsl = (mechanism: string, user: string, password: string) => ["-X", "security.protocol=SASL_SSL", "-X", `ssl.ca.location=${certs.ca}`, "-X", `sasl.mechanisms=${mechanism}`, "-X", `sasl.username=${user}`, "-X", `sasl.password=${password}`];

  test("kcat with SCRAM-SHA-512 over SASL_SSL produces and consumes; a wrong password gets an authentication error and reads nothing", async () => {
    expect((await usersOnPlaintext(["--add", "--user", "ivan", "--password", "ivan-secret", "--mechanism", "SCRAM-SHA-512"])).exitCode).toBe(0);
    const produced = await kcat(saslSsl, ["-P", "-t", "over-sasl-ssl", ...kcatSaslSsl("SCRAM-SHA-512", "ivan", "ivan-secret")], { input: "a\nb\nc\n", timeoutMs: 60_000 });
    expect(produced.exitCode).toBe(0);
    expect(await kcatConsumeAll(saslSsl, "over-sasl-ssl", "%s\\n", kcatSaslSsl("SCRAM-SHA-512", "ivan", "ivan-secret"))).toEqual(["a", "b", "c"]);
    const refused = await kcat(saslSsl, ["-C", "-t", "over-sasl-ssl", "-o", "beginning", "-e", "-m", "3", ...kcatSaslSsl("SCRAM-SHA-512", "ivan", "wrong")], { timeoutMs: 30_000 });
    expect(refused.exitCode).not.toBe(0);
    expect(refused.stdout).toBe("");
    expect(refused.stderr).toContain("invalid credentials with SASL mechanism SCRAM-SHA-512");
  }, 120_000);

  test("kafkajs with SCRAM-SHA-256 over SASL_SSL uses its admin client, produces and consumes in a group", async () => {
    expect((await usersOnPlaintext(["--add", "--user", "judy", "--password", "judy-secret", "--mechanism", "SCRAM-SHA-256"])).exitCode).toBe(0);
    const kafka = new Kafka({
      clientId: "sasl-ssl-test",
      brokers: [saslSsl],
      logLevel: logLevel.NOTHING,
      ssl: { ca: [readFileSync(certs.ca, "utf8")] },
      sasl: { mechanism: "scram-sha-256", username: "judy", password: "judy-secret" },
      retry: { retries: 5 },
    });
    const admin = kafka.admin();
    await admin.connect();
    expect(await admin.createTopics({ topics: [{ topic: "kafkajs-sasl-ssl", numPartitions: 2 }], waitForLeaders: true })).toBe(true);
    expect(await admin.listTopics()).toContain("kafkajs-sasl-ssl");
    await admin.disconnect();
    const producer = kafka.producer();
    await producer.connect();
    await producer.send({ topic: "kafkajs-sasl-ssl", messages: Array.from({ length: 12 }, (_, index) => ({ value: `m${index}` })) });
    await producer.disconnect();
    const consumer = kafka.consumer({ groupId: "sasl-ssl-group", sessionTimeout: 10_000, heartbeatInterval: 1000 });
    await consumer.connect();
    await consumer.subscribe({ topic: "kafkajs-sasl-ssl", fromBeginning: true });
    const received: string[] = [];
    const done = Promise.withResolvers<void>();
    await consumer.run({
      eachMessage: async ({ message }) => {
        received.push(message.value!.toString());
        if (received.length === 12) done.resolve();
      },
    });
    const timer = setTimeout(() => done.reject(new Error(`consumed ${received.length} of 12 in 60 s`)), 60_000);
    try {
      await done.promise;
    } finally {
      clearTimeout(timer);
      await consumer.disconnect();
    }
    expect(received.sort()).toEqual(Array.from({ length: 12 }, (_, index) => `m${index}`).sort());
  }, 120_000);
});
