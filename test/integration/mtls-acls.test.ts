// mTLS with the ACL authorizer: a client certificate signed by the trust store is the connection's principal
// (by default its subject, `User:CN=alice,OU=dev,O=Bunka`; with ssl.principal.mapping.rules the short name
// the rule makes), and ACLs naming that principal are all it may do. kcat (librdkafka 2.0.2, with
// ssl.certificate.location/ssl.key.location) produces to and consumes from topic `a`, where the ACL allows
// it, and gets TOPIC_AUTHORIZATION_FAILED for topic `b`; a certificate from another CA never gets past the
// TLS handshake. Setup (topics, ACLs) goes through the PLAINTEXT listener, whose anonymous user is the
// super user.
import { afterAll, afterEach, beforeAll, expect, test } from "bun:test";
import { rmSync } from "node:fs";
import { AclOperationTypes, AclPermissionTypes, AclResourceTypes, ResourcePatternTypes } from "kafkajs";
import { startBroker, type Broker } from "../../src/server/broker.ts";
import { tempDir } from "../helpers/broker-process.ts";
import { makeDevCerts, type DevCerts } from "../helpers/certs.ts";
import { kafkaClient } from "../helpers/kafkajs.ts";
import { kcat } from "../helpers/kcat.ts";

const KCAT_TIMEOUT_MS = 60_000;
let certs: DevCerts;
let otherCerts: DevCerts;
beforeAll(async () => {
  certs = await makeDevCerts("mtls-acls", "alice");
  otherCerts = await makeDevCerts("mtls-acls-other-ca", "mallory");
});
afterAll(() => {
  certs?.cleanup();
  otherCerts?.cleanup();
});

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

interface Started {
  plaintext: string;
  ssl: string;
  logs: string[];
}

async function start(extra: Record<string, string>): Promise<Started> {
  const dataDir = tempDir("mtls-acls");
  const logs: string[] = [];
  let broker: Broker;
  try {
    broker = await startBroker({
      port: 0,
      dataDir,
      partitionWorkers: 1,
      log: (line) => logs.push(line),
      properties: {
        listeners: "PLAINTEXT://127.0.0.1:0,SSL://127.0.0.1:0",
        "ssl.keystore.location": certs.brokerKeystore,
        "ssl.truststore.location": certs.ca,
        "listener.name.ssl.ssl.client.auth": "required",
        "authorizer.class.name": "acl",
        "super.users": "User:ANONYMOUS",
        ...extra,
      },
    });
  } catch (error) {
    rmSync(dataDir, { recursive: true, force: true });
    throw error;
  }
  cleanups.push(async () => {
    await broker.stop();
    rmSync(dataDir, { recursive: true, force: true });
  });
  const address = (listener: string) => `127.0.0.1:${broker.boundListeners().find((bound) => bound.name === listener)!.port}`;
  return { plaintext: address("PLAINTEXT"), ssl: address("SSL"), logs };
}

/** Topics `a` and `b`, and READ/WRITE/DESCRIBE on `a` (only) for `principal`, made by the super user. */
async function allowOnA(plaintext: string, principal: string): Promise<void> {
  const admin = kafkaClient(plaintext, "mtls-acls-admin").admin();
  await admin.connect();
  try {
    await admin.createTopics({ topics: [{ topic: "a", numPartitions: 1 }, { topic: "b", numPartitions: 1 }], waitForLeaders: true });
    await admin.createAcls({
      acl: [AclOperationTypes.READ, AclOperationTypes.WRITE, AclOperationTypes.DESCRIBE].map((operation) => ({
        resourceType: AclResourceTypes.TOPIC,
        resourceName: "a",
        resourcePatternType: ResourcePatternTypes.LITERAL,
        principal,
        host: "*",
        operation,
        permissionType: AclPermissionTypes.ALLOW,
      })),
    });
  } finally {
    await admin.disconnect();
  }
}

const withCertificate = (owner: DevCerts) => [
  "-X", "security.protocol=ssl",
  "-X", `ssl.ca.location=${certs.ca}`,
  "-X", `ssl.certificate.location=${owner.clientCert}`,
  "-X", `ssl.key.location=${owner.clientKey}`,
  "-X", "message.timeout.ms=10000",
  "-X", "socket.timeout.ms=5000",
];

async function produce(bootstrap: string, topic: string, values: string[], client: string[]) {
  return kcat(bootstrap, [...client, "-P", "-t", topic, "-p", "0"], { input: values.join("\n") + "\n", timeoutMs: KCAT_TIMEOUT_MS });
}

async function consume(bootstrap: string, topic: string, client: string[]) {
  const result = await kcat(bootstrap, [...client, "-C", "-t", topic, "-p", "0", "-o", "beginning", "-e", "-q", "-f", "%s\\n"], { timeoutMs: KCAT_TIMEOUT_MS });
  return { ...result, values: result.stdout.split("\n").filter(Boolean) };
}

/** What the certificate's owner can do on `a` and `b`: the same checks for both principal mappings. */
async function expectOnlyTopicA(started: Started, expectedPrincipal: string): Promise<void> {
  const alice = withCertificate(certs);
  const producedA = await produce(started.ssl, "a", ["a1", "a2"], alice);
  expect(producedA.exitCode).toBe(0);
  expect((await consume(started.ssl, "a", alice)).values).toEqual(["a1", "a2"]);

  const producedB = await produce(started.ssl, "b", ["b1"], alice);
  expect(producedB.stderr.toLowerCase()).toContain("topic authorization failed");
  const consumedB = await consume(started.ssl, "b", alice);
  expect(consumedB.values).toEqual([]);
  expect(consumedB.stderr.toLowerCase()).toContain("authorization failed");
  // Nothing of b was stored: the super user reads it empty.
  expect((await consume(started.plaintext, "b", [])).values).toEqual([]);

  const authenticated = started.logs.filter((line) => line.includes('"event":"authentication"') && line.includes('"result":"success"')).map((line) => JSON.parse(line));
  expect(authenticated.length).toBeGreaterThan(0);
  expect(authenticated.every((entry) => entry.principal === expectedPrincipal)).toBe(true);
}

test("mTLS + ACLs: the certificate subject is the principal ACLs name; topic a allowed, b refused; another CA's certificate refused at the handshake", async () => {
  const started = await start({});
  const principal = "User:CN=alice,OU=dev,O=Bunka";
  await allowOnA(started.plaintext, principal);
  await expectOnlyTopicA(started, principal);

  const stranger = await produce(started.ssl, "a", ["m1"], withCertificate(otherCerts));
  expect(stranger.exitCode).not.toBe(0);
  const failures = started.logs.filter((line) => line.includes('"event":"authentication"') && line.includes('"result":"failure"')).map((line) => JSON.parse(line));
  expect(failures.some((failure) => /CN=mallory.*refused/.test(failure.reason))).toBe(true);
  expect((await consume(started.plaintext, "a", [])).values).toEqual(["a1", "a2"]);
}, 180_000);

test("mTLS + ACLs with ssl.principal.mapping.rules: the short name the rule makes is the principal the ACL names", async () => {
  const started = await start({ "ssl.principal.mapping.rules": "RULE:^CN=(.*?),.*$/$1/L,DEFAULT" });
  await allowOnA(started.plaintext, "User:alice");
  await expectOnlyTopicA(started, "User:alice");
}, 180_000);
