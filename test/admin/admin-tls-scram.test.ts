// The admin listener over https (admin.ssl.keystore.location, the development certificates) with security
// on: a SCRAM user created with `bun run users` logs in with HTTP Basic (the broker recomputes the salted
// password from the stored salt and iterations), a wrong password does not, and the CA-verified https
// connection is the only way in.
import { afterAll, beforeAll, expect, test } from "bun:test";
import { join, resolve } from "node:path";
import { BrokerProcess, freePort } from "../helpers/broker-process.ts";
import { makeDevCerts, type DevCerts } from "../helpers/certs.ts";
import { run } from "../helpers/run.ts";

const repoRoot = resolve(import.meta.dir, "../..");
const JAAS = 'org.apache.kafka.common.security.plain.PlainLoginModule required username="admin" password="admin-secret" user_admin="admin-secret";';
const port = freePort();
const adminPort = freePort();
let certs: DevCerts;
let broker: BrokerProcess;

beforeAll(async () => {
  certs = await makeDevCerts("admin-tls");
  broker = new BrokerProcess({
    port,
    properties: {
      listeners: `SASL_PLAINTEXT://127.0.0.1:${port}`,
      "sasl.enabled.mechanisms": "PLAIN,SCRAM-SHA-256,SCRAM-SHA-512",
      "sasl.jaas.config": JAAS,
      "admin.listeners": `https://127.0.0.1:${adminPort}`,
      "admin.ssl.keystore.location": certs.brokerKeystore,
    },
  });
  await broker.start();
  const added = await run([process.execPath, join(repoRoot, "src/tools/users.ts"), "--bootstrap-server", broker.bootstrap, "--sasl-mechanism", "PLAIN", "--sasl-username", "admin", "--sasl-password", "admin-secret", "--add", "--user", "carol", "--password", "carol-secret", "--mechanism", "SCRAM-SHA-512"], { timeoutMs: 60_000 });
  if (added.exitCode !== 0) throw new Error(`users --add failed: ${added.stderr}`);
}, 120_000);

afterAll(async () => {
  await broker?.cleanup();
  certs?.cleanup();
});

const get = (path: string, headers: Record<string, string> = {}) => fetch(`https://127.0.0.1:${adminPort}${path}`, { headers, tls: { ca: Bun.file(certs.ca) } });
const basic = (user: string, password: string) => ({ authorization: `Basic ${Buffer.from(`${user}:${password}`).toString("base64")}` });

test("a SCRAM user logs in over https with HTTP Basic; a wrong password and no login are refused", async () => {
  const ok = await get("/api/v1/cluster", basic("carol", "carol-secret"));
  expect(ok.status).toBe(200);
  expect(((await ok.json()) as { clusterId: string }).clusterId).toBe("bunka-cluster");
  expect((await get("/api/v1/cluster", basic("carol", "carol-secre"))).status).toBe(401);
  expect((await get("/metrics")).status).toBe(401);
  // The PLAIN user of the SASL listener too.
  expect((await get("/readyz", basic("admin", "admin-secret"))).status).toBe(200);
});

test("the https listener does not answer plain http", async () => {
  const attempt = await fetch(`http://127.0.0.1:${adminPort}/healthz`, { signal: AbortSignal.timeout(5000) }).then((response) => response.status, () => "refused");
  expect(attempt === "refused" || attempt === 400).toBe(true);
});
