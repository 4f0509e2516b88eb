// Bunka's command-line tools over a secured listener (src/tools/client-config.ts): `bun run users`, `acls` and
// `groups` take Kafka's client properties from `--command-config FILE` and `-X key=value`. Against a broker
// whose only listener is SASL_SSL with the ACL authorizer on, the super user (PLAIN, through a properties
// file with sasl.jaas.config) adds a SCRAM user that kcat then logs in as; -X flags do the same job; the new
// user, not a super user, is refused CLUSTER_AUTHORIZATION_FAILED; a tool without security settings, or with
// a wrong password, fails with one clear sentence and no stack trace; settings that do not add up stop the
// tool before it connects.
import { afterAll, beforeAll, expect, test } from "bun:test";
import { rmSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { startBroker, type Broker } from "../../src/server/broker.ts";
import { tempDir } from "../helpers/broker-process.ts";
import { makeDevCerts, type DevCerts } from "../helpers/certs.ts";
import { kcat } from "../helpers/kcat.ts";
import { run } from "../helpers/run.ts";

const repoRoot = resolve(import.meta.dir, "../..");
const JAAS = 'org.apache.kafka.common.security.plain.PlainLoginModule required username="admin" password="admin-secret" user_admin="admin-secret";';
const TOOL_TIMEOUT_MS = 60_000;
const STACK_FRAME = /^\s+at .+\(.*:\d+:\d+\)|^\s+at .+:\d+:\d+$/m;

let certs: DevCerts;
let dataDir: string;
let broker: Broker;
let bootstrap = "";
let sslBootstrap = "";
let adminConfig = "";

beforeAll(async () => {
  certs = await makeDevCerts("tools-secure", "operator");
  dataDir = tempDir("tools-secure");
  broker = await startBroker({
    port: 0,
    dataDir,
    partitionWorkers: 1,
    log: () => undefined,
    properties: {
      listeners: "SASL_SSL://127.0.0.1:0,SSL://127.0.0.1:0",
      "ssl.keystore.location": certs.brokerKeystore,
      "ssl.truststore.location": certs.ca,
      "listener.name.ssl.ssl.client.auth": "required",
      "sasl.enabled.mechanisms": "PLAIN,SCRAM-SHA-512",
      "sasl.jaas.config": JAAS,
      "authorizer.class.name": "acl",
      "super.users": "User:admin;User:CN=operator,OU=dev,O=Bunka",
    },
  });
  const portOf = (name: string) => broker.boundListeners().find((bound) => bound.name === name)!.port;
  bootstrap = `127.0.0.1:${portOf("SASL_SSL")}`;
  sslBootstrap = `127.0.0.1:${portOf("SSL")}`;
  // What an operator keeps next to kafka-acls.sh: Java property names, a JAAS login, comments.
  adminConfig = join(certs.dir, "admin.properties");
  writeFileSync(adminConfig, [
    "# the super user, over TLS",
    "security.protocol=SASL_SSL",
    "sasl.mechanism=PLAIN",
    `sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required \\`,
    '    username="admin" password="admin-secret";',
    `ssl.truststore.location=${certs.ca}`,
    "ssl.truststore.type=PEM",
    "",
  ].join("\n"));
});

afterAll(async () => {
  await broker?.stop();
  if (dataDir) rmSync(dataDir, { recursive: true, force: true });
  certs?.cleanup();
});

const toolAt = (address: string, name: string, args: string[]) => run([process.execPath, join(repoRoot, `src/tools/${name}.ts`), "--bootstrap-server", address, ...args], { timeoutMs: TOOL_TIMEOUT_MS });
const tool = (name: string, args: string[]) => toolAt(bootstrap, name, args);
const overSaslSsl = (mechanism: string, user: string, password: string) => ["-X", "security.protocol=SASL_SSL", "-X", `ssl.ca.location=${certs.ca}`, "-X", `sasl.mechanism=${mechanism}`, "-X", `sasl.username=${user}`, "-X", `sasl.password=${password}`];
const kcatScram = (user: string, password: string) => ["-X", "security.protocol=SASL_SSL", "-X", `ssl.ca.location=${certs.ca}`, "-X", "sasl.mechanisms=SCRAM-SHA-512", "-X", `sasl.username=${user}`, "-X", `sasl.password=${password}`];

test("users --command-config adds a SCRAM user through a SASL_SSL listener as the super user; kcat logs in as it", async () => {
  const added = await tool("users", ["--command-config", adminConfig, "--add", "--user", "carol", "--password", "carol-secret", "--mechanism", "SCRAM-SHA-512"]);
  expect(added.stderr).toBe("");
  expect(added.exitCode).toBe(0);
  expect(added.stdout).toContain("Set SCRAM-SHA-512 credentials of user 'carol'.");

  const listed = await tool("users", [...overSaslSsl("PLAIN", "admin", "admin-secret"), "--list", "--json"]);
  expect(listed.exitCode).toBe(0);
  expect(JSON.parse(listed.stdout)).toContainEqual({ user: "carol", error: null, credentials: [{ mechanism: "SCRAM-SHA-512", iterations: 8192 }] });

  const loggedIn = await kcat(bootstrap, ["-L", ...kcatScram("carol", "carol-secret")], { timeoutMs: TOOL_TIMEOUT_MS });
  expect(loggedIn.exitCode).toBe(0);
  const refused = await kcat(bootstrap, ["-L", ...kcatScram("carol", "not-her-password"), "-X", "socket.timeout.ms=5000"], { timeoutMs: TOOL_TIMEOUT_MS });
  expect(refused.exitCode).not.toBe(0);
}, 120_000);

test("acls and groups take the same settings: -X over a SASL_SSL listener; a SCRAM user who is not a super user is refused", async () => {
  const added = await tool("acls", ["--command-config", adminConfig, "--add", "--allow-principal", "User:carol", "--operation", "Read", "--group", "carol-group"]);
  expect(added.exitCode).toBe(0);
  expect(added.stdout).toContain("Added ACL for ResourcePattern(resourceType=GROUP, name=carol-group, patternType=LITERAL): (principal=User:carol, host=*, operation=READ, permissionType=ALLOW)");
  const listed = await tool("acls", [...overSaslSsl("PLAIN", "admin", "admin-secret"), "--list", "--group", "carol-group"]);
  expect(listed.exitCode).toBe(0);
  expect(listed.stdout).toContain("(principal=User:carol, host=*, operation=READ, permissionType=ALLOW)");

  const groups = await tool("groups", ["--command-config", adminConfig, "--list", "--json"]);
  expect(groups.stderr).toBe("");
  expect(groups.exitCode).toBe(0);
  expect(Array.isArray(JSON.parse(groups.stdout))).toBe(true);

  // carol (SCRAM-SHA-512, made by the first test or here) may log in but not administer users.
  await tool("users", ["--command-config", adminConfig, "--add", "--user", "carol", "--password", "carol-secret", "--mechanism", "SCRAM-SHA-512"]);
  const notSuper = await tool("users", [...overSaslSsl("SCRAM-SHA-512", "carol", "carol-secret"), "--add", "--user", "mallory", "--password", "x"]);
  expect(notSuper.exitCode).toBe(1);
  expect(notSuper.stderr).toContain("CLUSTER_AUTHORIZATION_FAILED");
  expect(notSuper.stderr).not.toMatch(STACK_FRAME);
}, 120_000);

test("without security settings or with a wrong password the tools fail with one clear sentence, no stack trace; bad settings stop them before connecting", async () => {
  const anonymous = await tool("users", ["--add", "--user", "eve", "--password", "x"]);
  expect(anonymous.exitCode).toBe(1);
  expect(anonymous.stderr).toContain("the broker closed the connection without answering (security.protocol=PLAINTEXT");
  expect(anonymous.stderr).not.toMatch(STACK_FRAME);
  const anonymousGroups = await tool("groups", ["--list"]);
  expect(anonymousGroups.exitCode).toBe(1);
  expect(anonymousGroups.stderr).toContain("security.protocol=PLAINTEXT");
  expect(anonymousGroups.stderr).not.toMatch(STACK_FRAME);

  const wrongPassword = await tool("acls", [...overSaslSsl("PLAIN", "admin", "wrong"), "--list"]);
  expect(wrongPassword.exitCode).toBe(1);
  expect(wrongPassword.stderr).toContain("SASL_AUTHENTICATION_FAILED");
  expect(wrongPassword.stderr).not.toMatch(STACK_FRAME);

  // No CA: the broker's certificate does not verify, nothing is sent.
  const noCa = await tool("users", ["-X", "security.protocol=SASL_SSL", "-X", "sasl.mechanism=PLAIN", "-X", "sasl.username=admin", "-X", "sasl.password=admin-secret", "--list"]);
  expect(noCa.exitCode).toBe(1);
  expect(noCa.stderr).toContain("TLS handshake");

  // Fail closed: a login the protocol would not use, a SASL protocol without a mechanism, an unknown key.
  const unusedLogin = await tool("users", ["-X", "sasl.mechanism=PLAIN", "-X", "sasl.username=admin", "-X", "sasl.password=admin-secret", "--list"]);
  expect(unusedLogin.exitCode).toBe(2);
  expect(unusedLogin.stderr).toContain("given but security.protocol=PLAINTEXT does not use them");
  const noMechanism = await tool("acls", ["-X", "security.protocol=SASL_SSL", "--list"]);
  expect(noMechanism.exitCode).toBe(2);
  expect(noMechanism.stderr).toContain("security.protocol=SASL_SSL needs sasl.mechanism");
  const typo = await tool("groups", ["-X", "sasl.mechansim=PLAIN", "--list"]);
  expect(typo.exitCode).toBe(2);
  expect(typo.stderr).toContain("unknown client property sasl.mechansim");
  const missingFile = await tool("users", ["--command-config", join(certs.dir, "absent.properties"), "--list"]);
  expect(missingFile.exitCode).toBe(2);
  expect(missingFile.stderr).toContain("cannot read it (ENOENT)");
}, 180_000);

test("over an mTLS listener the tools present ssl.certificate.location/ssl.key.location; the certificate's subject is a super user", async () => {
  const withCertificate = ["-X", "security.protocol=SSL", "-X", `ssl.ca.location=${certs.ca}`, "-X", `ssl.certificate.location=${certs.clientCert}`, "-X", `ssl.key.location=${certs.clientKey}`];
  const added = await toolAt(sslBootstrap, "users", [...withCertificate, "--add", "--user", "dave", "--password", "dave-secret", "--mechanism", "SCRAM-SHA-512"]);
  expect(added.stderr).toBe("");
  expect(added.exitCode).toBe(0);
  expect((await kcat(bootstrap, ["-L", ...kcatScram("dave", "dave-secret")], { timeoutMs: TOOL_TIMEOUT_MS })).exitCode).toBe(0);

  // Without the certificate the listener ends the handshake (ssl.client.auth=required): a sentence, no stack trace.
  const without = await toolAt(sslBootstrap, "acls", ["-X", "security.protocol=SSL", "-X", `ssl.ca.location=${certs.ca}`, "--list"]);
  expect(without.exitCode).toBe(1);
  expect(without.stderr).toMatch(/^acls: /);
  expect(without.stderr).toContain("ssl.certificate.location");
  expect(without.stderr).not.toMatch(STACK_FRAME);
  // Half a client certificate is a usage error before connecting.
  const half = await toolAt(sslBootstrap, "acls", ["-X", "security.protocol=SSL", "-X", `ssl.ca.location=${certs.ca}`, "-X", `ssl.certificate.location=${certs.clientCert}`, "--list"]);
  expect(half.exitCode).toBe(2);
  expect(half.stderr).toContain("a client certificate needs both ssl.certificate.location and ssl.key.location");
}, 120_000);
