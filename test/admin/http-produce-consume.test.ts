// HTTP produce and consume against a real broker process, checked with kcat on the Kafka side: records
// produced over HTTP (pandaproxy binary/json shapes and Confluent v3 with headers) come out of kcat byte for
// byte, and records kcat produced come out of HTTP consume and the JSON message browser. With security on,
// the admin listener asks for HTTP Basic with the Kafka users, and ACLs apply to what the user does.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { BrokerProcess, freePort } from "../helpers/broker-process.ts";
import { kcat } from "../helpers/kcat.ts";
import { createTopic } from "../helpers/kafkajs.ts";

const BINARY_V2 = "application/vnd.kafka.binary.v2+json";
const JSON_V2 = "application/vnd.kafka.json.v2+json";
const b64 = (text: string) => Buffer.from(text, "utf8").toString("base64");

describe("security off", () => {
  const adminPort = freePort();
  const adminUrl = `http://127.0.0.1:${adminPort}`;
  const broker = new BrokerProcess({ properties: { "admin.listeners": adminUrl, "admin.produce.max.records": "50", "admin.request.max.bytes": "65536" } });

  beforeAll(async () => {
    await broker.start();
    await createTopic(broker.bootstrap, "http-in", 1);
    await createTopic(broker.bootstrap, "kafka-in", 1);
  }, 60_000);
  afterAll(() => broker.cleanup());

  test("HTTP produce (binary v2, json v2, Confluent v3 with headers), then kcat reads the same bytes", async () => {
    const binary = await fetch(`${adminUrl}/topics/http-in`, {
      method: "POST",
      headers: { "content-type": BINARY_V2 },
      body: JSON.stringify({ records: [{ key: b64("k0"), value: b64("héllo wörld"), partition: 0 }, { key: b64("k1"), value: b64("tab\there"), partition: 0 }] }),
    });
    expect(binary.status).toBe(200);
    expect(await binary.json()).toEqual({ offsets: [{ partition: 0, offset: 0 }, { partition: 0, offset: 1 }] });
    const asJson = await fetch(`${adminUrl}/topics/http-in`, { method: "POST", headers: { "content-type": JSON_V2 }, body: JSON.stringify({ records: [{ key: "k2", value: { n: 2, s: "two" }, partition: 0 }] }) });
    expect(await asJson.json()).toEqual({ offsets: [{ partition: 0, offset: 2 }] });
    const v3 = await fetch(`${adminUrl}/v3/clusters/bunka-cluster/topics/http-in/records`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ partition_id: 0, key: { type: "STRING", data: "k3" }, value: { type: "STRING", data: "plain text" }, headers: [{ name: "trace", value: b64("abc") }] }),
    });
    expect(v3.status).toBe(200);
    expect(await v3.json()).toMatchObject({ error_code: 200, topic_name: "http-in", partition_id: 0, offset: 3 });

    const consumed = await kcat(broker.bootstrap, ["-C", "-t", "http-in", "-o", "beginning", "-e", "-q", "-f", "%o|%k|%s|%h\\n"], { timeoutMs: 60_000 });
    if (consumed.exitCode !== 0) throw new Error(consumed.stderr.slice(-1000));
    expect(consumed.stdout.split("\n").filter(Boolean)).toEqual(["0|k0|héllo wörld|", "1|k1|tab\there|", '2|"k2"|{"n":2,"s":"two"}|', "3|k3|plain text|trace=abc"]);
  }, 60_000);

  test("kcat produces, HTTP consume and the message browser return the same bytes", async () => {
    const lines = ["a:first ✓", "b:second", "c:third"];
    const produced = await kcat(broker.bootstrap, ["-P", "-t", "kafka-in", "-p", "0", "-K:"], { input: lines.join("\n") + "\n", timeoutMs: 60_000 });
    expect(produced.exitCode).toBe(0);
    const response = await fetch(`${adminUrl}/topics/kafka-in/partitions/0/records?offset=1&max_bytes=100000`, { headers: { accept: BINARY_V2 } });
    expect(response.status).toBe(200);
    const records = (await response.json()) as { key: string; value: string; offset: number; partition: number }[];
    expect(records.map((record) => [record.offset, Buffer.from(record.key, "base64").toString(), Buffer.from(record.value, "base64").toString()])).toEqual([
      [1, "b", "second"],
      [2, "c", "third"],
    ]);
    const browsed = await fetch(`${adminUrl}/api/v1/topics/kafka-in/partitions/0/messages?offset=0&limit=1&format=hex`);
    const page = (await browsed.json()) as { highWatermark: number; messages: { offset: number; key: string; value: string }[] };
    expect(page.highWatermark).toBe(3);
    expect(page.messages).toHaveLength(1);
    expect(page.messages[0]).toMatchObject({ offset: 0, key: Buffer.from("a").toString("hex"), value: Buffer.from("first ✓").toString("hex") });
  }, 60_000);

  test("compressed batches (lz4, gzip from kcat) are decompressed for HTTP consume", async () => {
    await createTopic(broker.bootstrap, "compressed-in", 1);
    for (const codec of ["lz4", "gzip"]) {
      const produced = await kcat(broker.bootstrap, ["-P", "-t", "compressed-in", "-p", "0", "-z", codec], { input: `${codec}-one\n${codec}-two\n`, timeoutMs: 60_000 });
      expect(produced.exitCode).toBe(0);
    }
    const response = await fetch(`${adminUrl}/topics/compressed-in/partitions/0/records?offset=0&format=text`);
    const records = (await response.json()) as { offset: number; value: string }[];
    expect(records.map((record) => [record.offset, record.value])).toEqual([[0, "lz4-one"], [1, "lz4-two"], [2, "gzip-one"], [3, "gzip-two"]]);
  }, 60_000);

  test("bounds and bad input: too many records, too large a body, not JSON, an unknown topic or partition", async () => {
    const many = await fetch(`${adminUrl}/topics/http-in`, { method: "POST", headers: { "content-type": JSON_V2 }, body: JSON.stringify({ records: Array.from({ length: 51 }, (_, i) => ({ value: i })) }) });
    expect(many.status).toBe(400);
    expect(((await many.json()) as { message: string }).message).toContain("admin.produce.max.records");
    const large = await fetch(`${adminUrl}/topics/http-in`, { method: "POST", headers: { "content-type": JSON_V2 }, body: JSON.stringify({ records: [{ value: "x".repeat(70_000) }] }) });
    expect(large.status).toBe(413);
    const notJson = await fetch(`${adminUrl}/topics/http-in`, { method: "POST", headers: { "content-type": JSON_V2 }, body: "{records:" });
    expect(notJson.status).toBe(400);
    const unknownTopic = await fetch(`${adminUrl}/topics/nope/partitions/0/records?offset=0`);
    expect(unknownTopic.status).toBe(404);
    const unknownPartition = await fetch(`${adminUrl}/topics/http-in`, { method: "POST", headers: { "content-type": JSON_V2 }, body: JSON.stringify({ records: [{ value: 1, partition: 7 }] }) });
    expect(unknownPartition.status).toBe(404);
    // Nothing above was appended: the log still ends at 4.
    const detail = (await (await fetch(`${adminUrl}/api/v1/topics/http-in`)).json()) as { partitions: { highWatermark: number; leader: number; isr: number[] }[] };
    expect(detail.partitions[0]).toMatchObject({ highWatermark: 4, leader: 1, isr: [1] });
  }, 60_000);
});

describe("security on: SASL PLAIN users and the ACL authorizer", () => {
  const PASSWORDS: Record<string, string> = { admin: "admin-secret", alice: "alice-secret" };
  const JAAS = `org.apache.kafka.common.security.plain.PlainLoginModule required username="admin" password="admin-secret" ${Object.entries(PASSWORDS).map(([user, password]) => `user_${user}="${password}"`).join(" ")};`;
  const port = freePort();
  const adminPort = freePort();
  const adminUrl = `http://127.0.0.1:${adminPort}`;
  const secure = {
    listeners: `SASL_PLAINTEXT://127.0.0.1:${port}`,
    "sasl.enabled.mechanisms": "PLAIN",
    "sasl.jaas.config": JAAS,
    "authorizer.class.name": "acl",
    "super.users": "User:admin",
  };
  const broker = new BrokerProcess({ port, properties: { ...secure, "admin.listeners": adminUrl, "admin.auth.exempt.paths": "/healthz" } });
  const basic = (user: string, password: string) => ({ authorization: `Basic ${Buffer.from(`${user}:${password}`).toString("base64")}` });

  beforeAll(() => broker.start(), 60_000);
  afterAll(() => broker.cleanup());

  test("every path but the exempt one asks for HTTP Basic; a wrong password is refused and counted", async () => {
    expect((await fetch(`${adminUrl}/healthz`)).status).toBe(200);
    const anonymous = await fetch(`${adminUrl}/metrics`);
    expect(anonymous.status).toBe(401);
    expect(anonymous.headers.get("www-authenticate")).toContain("Basic");
    expect((await fetch(`${adminUrl}/api/v1/cluster`, { headers: basic("alice", "wrong") })).status).toBe(401);
    const metrics = await fetch(`${adminUrl}/metrics`, { headers: basic("admin", "admin-secret") });
    expect(metrics.status).toBe(200);
    expect(await metrics.text()).toMatch(/bunka_authentication_failures_total\{listener="ADMIN",mechanism="BASIC"\} 2/);
  });

  test("the user's ACLs apply: the super user creates and writes a topic, alice (no ACLs) is refused", async () => {
    const created = await fetch(`${adminUrl}/api/v1/topics`, { method: "POST", headers: { ...basic("admin", "admin-secret"), "content-type": "application/json" }, body: JSON.stringify({ name: "secured", partitions: 1 }) });
    expect(created.status).toBe(201);
    const write = (user: string) =>
      fetch(`${adminUrl}/topics/secured`, { method: "POST", headers: { ...basic(user, PASSWORDS[user]!), "content-type": JSON_V2 }, body: JSON.stringify({ records: [{ value: user }] }) });
    expect((await write("admin")).status).toBe(200);
    const refused = await write("alice");
    expect(refused.status).toBe(403);
    expect(((await refused.json()) as { kafka_error: string }).kafka_error).toBe("TOPIC_AUTHORIZATION_FAILED");
    const listed = (await (await fetch(`${adminUrl}/api/v1/topics`, { headers: basic("alice", "alice-secret") })).json()) as unknown[];
    expect(listed).toEqual([]);
  });

  test("a plain-http admin listener on a non-loopback address with security on stops the start", async () => {
    const refused = new BrokerProcess({ properties: { ...secure, listeners: `SASL_PLAINTEXT://127.0.0.1:${freePort()}`, "admin.listeners": `http://0.0.0.0:${freePort()}` } });
    try {
      await expect(refused.start()).rejects.toThrow(/clear text/);
    } finally {
      await refused.cleanup();
    }
  });
});
