// `bunka acl`, `bunka user`, `bunka quota` and `bunka transactions` against a real broker with SASL (PLAIN and
// SCRAM-SHA-512) and the ACL authorizer: the super user adds a SCRAM user, an ACL and a quota through the
// CLI; kcat logging in as that user shows their effect (no read before the ACL, reads after, refused again
// once it is removed, no login once the user is removed), and DescribeClientQuotas over a connection of the
// test's own shows the quota. --json output parses; usage and login errors are one line, exit 1.
import { afterAll, beforeAll, expect, test } from "bun:test";
import { rmSync } from "node:fs";
import { startBroker, type Broker } from "../../src/server/broker.ts";
import { KafkaConnection } from "../../src/client/kafka-connection.ts";
import { ApiKey } from "../../src/protocol/generated/index.ts";
import { tempDir } from "../helpers/broker-process.ts";
import { kcat } from "../helpers/kcat.ts";
import { bunka, bunkaOk } from "./cli.ts";

const JAAS = `org.apache.kafka.common.security.plain.PlainLoginModule required user_admin="admin-secret";`;
const ADMIN = ["-X", "security.protocol=SASL_PLAINTEXT", "-X", "sasl.mechanism=PLAIN", "-X", "sasl.username=admin", "-X", "sasl.password=admin-secret"];
const CAROL_KCAT = ["-X", "security.protocol=SASL_PLAINTEXT", "-X", "sasl.mechanisms=SCRAM-SHA-512", "-X", "sasl.username=carol", "-X", "sasl.password=carol-secret"];
const TOPIC = "secured-topic";
let dataDir: string;
let broker: Broker;
let bootstrap = "";
let port = 0;

beforeAll(async () => {
  dataDir = tempDir("cli-security-commands");
  broker = await startBroker({
    port: 0,
    dataDir,
    partitionWorkers: 1,
    log: () => undefined,
    properties: {
      listeners: "SASL_PLAINTEXT://127.0.0.1:0",
      "sasl.enabled.mechanisms": "PLAIN,SCRAM-SHA-512",
      "sasl.jaas.config": JAAS,
      "authorizer.class.name": "acl",
      "super.users": "User:admin",
      "auto.create.topics.enable": "false",
    },
  });
  port = broker.boundListeners()[0]!.port;
  bootstrap = `127.0.0.1:${port}`;
  await bunkaOk(bootstrap, [...ADMIN, "topic", "create", TOPIC, "-p", "1"]);
  await bunkaOk(bootstrap, [...ADMIN, "produce", "-t", TOPIC, "-K", ":"], { input: "k1:v1\nk2:v2\n" });
}, 60_000);

afterAll(async () => {
  await broker.stop();
  rmSync(dataDir, { recursive: true, force: true });
});

/** kcat as carol reading the topic to its end: the values, or null when the read failed. */
async function readAsCarol(): Promise<string | null> {
  const result = await kcat(bootstrap, ["-C", "-t", TOPIC, "-o", "beginning", "-e", "-q", "-f", "%s\\n", ...CAROL_KCAT], { timeoutMs: 30_000 });
  return result.exitCode === 0 ? result.stdout : null;
}

/** DescribeClientQuotas for one user over the test's own admin connection (not through the CLI). */
async function quotasOf(user: string): Promise<Record<string, number>> {
  const connection = await KafkaConnection.connect({ host: "127.0.0.1", port, sasl: { mechanism: "PLAIN", username: "admin", password: "admin-secret" } });
  try {
    const response = await connection.request(ApiKey.DescribeClientQuotas, 1, { components: [{ entityType: "user", matchType: 0, match: user }], strict: true });
    expect(response.errorCode).toBe(0);
    const values: Record<string, number> = {};
    for (const entry of response.entries as { values: { key: string; value: number }[] }[]) for (const { key, value } of entry.values) values[key] = value;
    return values;
  } finally {
    connection.close();
  }
}

test("a SCRAM user, an ACL and a quota made with bunka take effect; removed, they are gone", async () => {
  const added = await bunkaOk(bootstrap, [...ADMIN, "user", "add", "carol", "--password", "carol-secret", "--mechanism", "SCRAM-SHA-512"]);
  expect(added.stdout).toContain("Set SCRAM-SHA-512 credentials of user 'carol'.");
  const users = JSON.parse((await bunkaOk(bootstrap, [...ADMIN, "--json", "user", "list"])).stdout);
  expect(users).toContainEqual({ user: "carol", error: null, credentials: [{ mechanism: "SCRAM-SHA-512", iterations: 8192 }] });

  // Logged in, but no ACL yet: the authorizer refuses the read.
  expect(await readAsCarol()).toBeNull();
  const granted = JSON.parse((await bunkaOk(bootstrap, [...ADMIN, "--json", "acl", "add", "--allow-principal", "User:carol", "--operation", "Read", "--operation", "Describe", "--topic", TOPIC])).stdout);
  expect(granted).toHaveLength(2);
  expect(granted.every((acl: { error: string | null }) => acl.error === null)).toBe(true);
  const listed = JSON.parse((await bunkaOk(bootstrap, [...ADMIN, "--json", "acl", "list", "--topic", TOPIC])).stdout);
  expect(listed).toContainEqual({ resourceType: "TOPIC", resourceName: TOPIC, patternType: "LITERAL", principal: "User:carol", host: "*", operation: "READ", permission: "ALLOW" });
  expect(await readAsCarol()).toBe("v1\nv2\n");
  const table = await bunkaOk(bootstrap, [...ADMIN, "acl", "list"]);
  expect(table.stdout).toMatch(/TOPIC\s+secured-topic\s+LITERAL\s+User:carol\s+\*\s+READ\s+ALLOW/);

  const quota = await bunkaOk(bootstrap, [...ADMIN, "quota", "set", "producer_byte_rate=1048576", "consumer_byte_rate=2097152", "--user", "carol"]);
  expect(quota.stdout).toContain("Quotas of user carol: set producer_byte_rate=1048576,consumer_byte_rate=2097152.");
  expect(await quotasOf("carol")).toEqual({ producer_byte_rate: 1048576, consumer_byte_rate: 2097152 });
  expect(JSON.parse((await bunkaOk(bootstrap, [...ADMIN, "--json", "quota", "describe", "--user", "carol"])).stdout)).toEqual([{ user: "carol", quotas: { producer_byte_rate: 1048576, consumer_byte_rate: 2097152 } }]);
  await bunkaOk(bootstrap, [...ADMIN, "quota", "remove", "producer_byte_rate", "--user", "carol"]);
  expect(await quotasOf("carol")).toEqual({ consumer_byte_rate: 2097152 });
  expect((await bunkaOk(bootstrap, [...ADMIN, "quota", "describe", "--all-users"])).stdout).toMatch(/carol\s+-\s+consumer_byte_rate=2097152/);

  const removed = JSON.parse((await bunkaOk(bootstrap, [...ADMIN, "--json", "acl", "remove", "--topic", TOPIC, "--allow-principal", "User:carol"])).stdout);
  expect(removed).toHaveLength(2);
  expect(await readAsCarol()).toBeNull();

  await bunkaOk(bootstrap, [...ADMIN, "user", "remove", "carol"]);
  expect(JSON.parse((await bunkaOk(bootstrap, [...ADMIN, "--json", "user", "list"])).stdout)).toEqual([]);
  // No credentials: the SCRAM login itself fails.
  const noLogin = await kcat(bootstrap, ["-L", "-t", TOPIC, ...CAROL_KCAT], { timeoutMs: 30_000 });
  expect(`${noLogin.stdout}${noLogin.stderr}`).toMatch(/Authentication failed|SASL authentication error|authentication/i);
}, 120_000);

test("bunka transactions lists through the same login; usage, refusal and login errors are one line, exit 1", async () => {
  expect(JSON.parse((await bunkaOk(bootstrap, [...ADMIN, "--json", "transactions", "list"])).stdout)).toEqual([]);

  const twoPasswords = await bunka(bootstrap, [...ADMIN, "user", "add", "x", "--password", "p", "--password-stdin"], { input: "q\n" });
  expect(twoPasswords.stderr.trim()).toBe("bunka: give exactly one of --password PW or --password-stdin");
  const noPrincipal = await bunka(bootstrap, [...ADMIN, "acl", "add", "--topic", TOPIC]);
  expect(noPrincipal.exitCode).toBe(1);
  expect(noPrincipal.stderr.trim()).toBe("bunka: bunka acl add needs --allow-principal or --deny-principal");
  const badKey = await bunka(bootstrap, [...ADMIN, "quota", "set", "producer_byte_rate", "--user", "x"]);
  expect(badKey.exitCode).toBe(1);
  expect(badKey.stderr.trim()).toBe("bunka: --add-config producer_byte_rate: expected KEY=NUMBER");
  const badMechanism = await bunka(bootstrap, [...ADMIN, "user", "add", "x", "--password", "p", "--mechanism", "MD5"]);
  expect(badMechanism.exitCode).toBe(1);
  expect(badMechanism.stderr.trim().split("\n")).toHaveLength(1);

  // dave may log in (SCRAM) but is no super user: the broker refuses his changes, in one line.
  // The password from stdin (out of the process list).
  await bunkaOk(bootstrap, [...ADMIN, "user", "add", "dave", "--password-stdin", "--mechanism", "SCRAM-SHA-512"], { input: "dave-secret\n" });
  const dave = ["-X", "security.protocol=SASL_PLAINTEXT", "-X", "sasl.mechanism=SCRAM-SHA-512", "-X", "sasl.username=dave", "-X", "sasl.password=dave-secret"];
  const refused = await bunka(bootstrap, [...dave, "acl", "add", "--allow-principal", "User:dave", "--topic", TOPIC]);
  expect(refused.exitCode).toBe(1);
  expect(refused.stderr.trim().split("\n")).toHaveLength(1);
  expect(refused.stderr).toContain("CLUSTER_AUTHORIZATION_FAILED");
  const refusedQuota = await bunka(bootstrap, [...dave, "quota", "set", "producer_byte_rate=1", "--user", "dave"]);
  expect(refusedQuota.exitCode).toBe(1);
  expect(refusedQuota.stderr).toContain("CLUSTER_AUTHORIZATION_FAILED");

  const noLogin = await bunka(bootstrap, ["user", "list"]);
  expect(noLogin.exitCode).toBe(1);
  expect(noLogin.stderr.trim().split("\n")).toHaveLength(1);
  const wrongPassword = await bunka(bootstrap, ["-X", "security.protocol=SASL_PLAINTEXT", "-X", "sasl.mechanism=PLAIN", "-X", "sasl.username=admin", "-X", "sasl.password=nope", "acl", "list"]);
  expect(wrongPassword.exitCode).toBe(1);
  expect(wrongPassword.stderr.trim().split("\n")).toHaveLength(1);
}, 120_000);
