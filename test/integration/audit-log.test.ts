// The audit trail (issue 10, item 7) against a real broker process: authentication outcomes (SASL) and
// authorization denials are JSON lines in audit.log.file, only for the listeners audit.log.listeners names,
// and a flood of failed logins or repeated denials writes at most one line per connection and key while the
// broker keeps serving. Clients: kcat (librdkafka 2.0.2) and raw connections (src/client/kafka-connection.ts).
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { existsSync, readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import { KafkaConnection } from "../../src/client/kafka-connection.ts";
import { ErrorCode } from "../../src/protocol/errors.ts";
import { ApiKey } from "../../src/protocol/generated/index.ts";
import { AclOperation, AclPermission, PatternType, ResourceType } from "../../src/security/acl/model.ts";
import { FileAuditSink } from "../../src/security/audit/sinks.ts";
import { authenticate, SaslClientError } from "../../src/security/sasl/client.ts";
import { BrokerProcess, freePort, tempDir } from "../helpers/broker-process.ts";
import { kcat } from "../helpers/kcat.ts";

const JAAS = 'org.apache.kafka.common.security.plain.PlainLoginModule required user_admin="admin-secret" user_alice="alice-secret";';

interface AuditLine {
  event: string;
  result: string;
  principal: string | null;
  listener: string;
  client: string;
  clientPort: number | null;
  time: string;
  [field: string]: unknown;
}

function kcatPlain(user: string, password: string): string[] {
  return ["-X", "security.protocol=SASL_PLAINTEXT", "-X", "sasl.mechanisms=PLAIN", "-X", `sasl.username=${user}`, "-X", `sasl.password=${password}`, "-X", "socket.timeout.ms=5000", "-X", "metadata.request.timeout.ms=5000", "-X", "message.timeout.ms=5000"];
}

describe("audit log on a broker process with an audited (EXTERNAL) and an unaudited (INTERNAL) SASL listener", () => {
  let broker: BrokerProcess;
  let workDir: string;
  let auditPath: string;
  let externalPort: number;
  let internalPort: number;

  /** Every line of the audit file so far, parsed (each must be one JSON object). */
  const auditLines = (): AuditLine[] =>
    existsSync(auditPath) ? readFileSync(auditPath, "utf8").split("\n").filter(Boolean).map((line) => JSON.parse(line) as AuditLine) : [];

  /** Waits (bounded) until `predicate` holds over the audit lines; returns them. */
  const auditLinesWhen = async (predicate: (lines: AuditLine[]) => boolean, timeoutMs = 10_000): Promise<AuditLine[]> => {
    const deadline = Date.now() + timeoutMs;
    let lines = auditLines();
    while (!predicate(lines) && Date.now() < deadline) {
      await Bun.sleep(50);
      lines = auditLines();
    }
    return lines;
  };

  const connectAs = (port: number, username: string, password: string) =>
    KafkaConnection.connect({ host: "127.0.0.1", port, clientId: "audit-test", sasl: { mechanism: "PLAIN", username, password } });

  beforeAll(async () => {
    workDir = tempDir("audit");
    auditPath = join(workDir, "audit.log");
    externalPort = freePort();
    internalPort = freePort();
    broker = new BrokerProcess({
      port: externalPort,
      dataDir: join(workDir, "data"),
      properties: {
        listeners: `EXTERNAL://127.0.0.1:${externalPort},INTERNAL://127.0.0.1:${internalPort}`,
        "listener.security.protocol.map": "EXTERNAL:SASL_PLAINTEXT,INTERNAL:SASL_PLAINTEXT",
        "sasl.enabled.mechanisms": "PLAIN",
        "sasl.jaas.config": JAAS,
        "authorizer.class.name": "acl",
        "super.users": "User:admin",
        "audit.log.listeners": "EXTERNAL",
        "audit.log.file": auditPath,
      },
    });
    await broker.start();
    // Topic "audited"; alice may READ it (which implies DESCRIBE) but not WRITE it.
    const admin = await connectAs(internalPort, "admin", "admin-secret");
    try {
      const created = await admin.request(ApiKey.CreateTopics, 4, { topics: [{ name: "audited", numPartitions: 1, replicationFactor: 1, assignments: [], configs: [] }], timeoutMs: 10_000, validateOnly: false });
      expect(created.topics[0].errorCode).toBe(ErrorCode.NONE);
      const acl = { resourceType: ResourceType.TOPIC, resourceName: "audited", resourcePatternType: PatternType.LITERAL, principal: "User:alice", host: "*", operation: AclOperation.READ, permissionType: AclPermission.ALLOW };
      const acls = await admin.request(ApiKey.CreateAcls, 2, { creations: [acl] });
      expect(acls.results[0].errorCode).toBe(ErrorCode.NONE);
    } finally {
      admin.close();
    }
  }, 60_000);

  afterAll(async () => {
    await broker?.cleanup();
    rmSync(workDir, { recursive: true, force: true });
  });

  test("kcat with a wrong password: an authentication failure line per connection naming the principal, address and port; a good login: a success line", async () => {
    // Goal: the audit line of a password guess names who was guessed and from where. Method: kcat logs in as alice
    // with a wrong password on EXTERNAL (refused), then as admin correctly; read the audit file.
    const refused = await kcat(`127.0.0.1:${externalPort}`, ["-L", ...kcatPlain("alice", "wrong")], { timeoutMs: 30_000 });
    expect(refused.exitCode).not.toBe(0);
    const failures = (await auditLinesWhen((lines) => lines.some((line) => line.result === "failure" && line.principal === "User:alice"))).filter((line) => line.event === "authentication" && line.result === "failure");
    expect(failures.length).toBeGreaterThanOrEqual(1);
    for (const failure of failures) {
      expect(failure).toMatchObject({ principal: "User:alice", mechanism: "PLAIN", listener: "EXTERNAL", client: "127.0.0.1", apiName: "SaslAuthenticate" });
      expect(failure.clientPort).toBeGreaterThan(0);
      expect(String(failure.reason)).toContain("Invalid username or password");
      expect(Number.isNaN(Date.parse(failure.time))).toBe(false);
    }
    // librdkafka may retry on new connections; never two lines for one connection.
    expect(new Set(failures.map((failure) => failure.clientPort)).size).toBe(failures.length);

    const listed = await kcat(`127.0.0.1:${externalPort}`, ["-L", "-t", "audited", ...kcatPlain("admin", "admin-secret")], { timeoutMs: 30_000 });
    expect(listed.exitCode).toBe(0);
    const successes = (await auditLinesWhen((lines) => lines.some((line) => line.result === "success" && line.principal === "User:admin"))).filter((line) => line.event === "authentication" && line.result === "success");
    expect(successes.length).toBeGreaterThanOrEqual(1);
    expect(successes[0]).toMatchObject({ principal: "User:admin", mechanism: "PLAIN", listener: "EXTERNAL", client: "127.0.0.1" });
  }, 90_000);

  test("alice producing without WRITE: one authorization denial line per connection, TOPIC audited WRITE; repeated denials on one connection: one line", async () => {
    // Goal: denials are audited with the resource and operation, once per connection. Method: kcat produces as
    // alice (READ only) and fails; then one raw connection asks DeleteTopics 50 times (DELETE denied each time).
    const produced = await kcat(`127.0.0.1:${externalPort}`, ["-P", "-t", "audited", ...kcatPlain("alice", "alice-secret")], { input: "one\ntwo\n", timeoutMs: 30_000 });
    expect(produced.stderr).toContain("Topic authorization failed");
    const isWriteDenial = (line: AuditLine) => line.event === "authorization" && line.resourceName === "audited" && line.operation === "WRITE";
    const writeDenials = (await auditLinesWhen((lines) => lines.some(isWriteDenial))).filter(isWriteDenial);
    expect(writeDenials.length).toBeGreaterThanOrEqual(1);
    for (const denial of writeDenials) {
      expect(denial).toMatchObject({ result: "denied", principal: "User:alice", resourceType: "TOPIC", patternType: "LITERAL", listener: "EXTERNAL", client: "127.0.0.1", apiName: "Produce" });
    }
    expect(new Set(writeDenials.map((denial) => denial.clientPort)).size).toBe(writeDenials.length);

    const isDeleteDenial = (line: AuditLine) => line.event === "authorization" && line.resourceName === "audited" && line.operation === "DELETE";
    const connection = await connectAs(externalPort, "alice", "alice-secret");
    try {
      for (let attempt = 0; attempt < 50; attempt++) {
        const answer = await connection.request(ApiKey.DeleteTopics, 4, { topicNames: ["audited"], timeoutMs: 1000 });
        expect(answer.responses[0].errorCode).toBe(ErrorCode.TOPIC_AUTHORIZATION_FAILED);
      }
    } finally {
      connection.close();
    }
    const deleteDenials = (await auditLinesWhen((lines) => lines.some(isDeleteDenial))).filter(isDeleteDenial);
    expect(deleteDenials.length).toBe(1);
    expect(deleteDenials[0]).toMatchObject({ principal: "User:alice", resourceType: "TOPIC", apiName: "DeleteTopics" });
  }, 90_000);

  test("the INTERNAL listener is not audited: a wrong password and a denial there write nothing", async () => {
    // Goal: audit.log.listeners selects listeners. Method: the same refusals on INTERNAL, then a marker event on
    // EXTERNAL; once the marker is written, no line names INTERNAL.
    const refused = await kcat(`127.0.0.1:${internalPort}`, ["-L", ...kcatPlain("alice", "wrong-internal")], { timeoutMs: 30_000 });
    expect(refused.exitCode).not.toBe(0);
    const connection = await connectAs(internalPort, "alice", "alice-secret");
    try {
      const answer = await connection.request(ApiKey.DeleteTopics, 4, { topicNames: ["audited"], timeoutMs: 1000 });
      expect(answer.responses[0].errorCode).toBe(ErrorCode.TOPIC_AUTHORIZATION_FAILED);
    } finally {
      connection.close();
    }
    const marker = await connectAs(externalPort, "alice", "alice-secret");
    try {
      await marker.request(ApiKey.DeleteTopics, 4, { topicNames: ["marker-topic"], timeoutMs: 1000 });
    } finally {
      marker.close();
    }
    const lines = await auditLinesWhen((all) => all.some((line) => line.resourceName === "marker-topic"));
    expect(lines.some((line) => line.resourceName === "marker-topic")).toBe(true);
    expect(lines.filter((line) => line.listener !== "EXTERNAL")).toEqual([]);
  }, 60_000);

  test("10,000 failed logins (100 connections at a time, bounded at 90 s): one line per connection, memory bounded, another client served meanwhile", async () => {
    // Goal: password guessing cannot flood the audit trail or hurt the broker. Method: rounds of 100 concurrent raw
    // connections each try one wrong PLAIN login as mallory while an admin connection keeps asking Metadata; then
    // count mallory's lines and compare the broker's resident memory before and after.
    const rssKb = () => Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${broker.pid}/status`, "utf8"))?.[1] ?? 0);
    const rssBeforeKb = rssKb();
    const before = auditLines().filter((line) => line.principal === "User:mallory").length;
    const bystander = await connectAs(externalPort, "admin", "admin-secret");
    let served = 0;
    let flooding = true;
    const bystanderLoop = (async () => {
      for (let round = 0; flooding && round < 100_000; round++) {
        const metadata = await bystander.request(ApiKey.Metadata, 9, { topics: [{ name: "audited" }], allowAutoTopicCreation: false, includeClusterAuthorizedOperations: false, includeTopicAuthorizedOperations: false });
        expect(metadata.topics[0].errorCode).toBe(ErrorCode.NONE);
        served++;
        await Bun.sleep(20);
      }
    })();
    const deadline = Date.now() + 90_000;
    let attempts = 0;
    let refusedCount = 0;
    try {
      for (let round = 0; round < 100 && Date.now() < deadline; round++) {
        const results = await Promise.all(
          Array.from({ length: 100 }, async () => {
            let connection: KafkaConnection | null = null;
            try {
              connection = await KafkaConnection.connect({ host: "127.0.0.1", port: externalPort, clientId: "guesser" });
              await authenticate((key, version, body) => connection!.request(key, version, body), "PLAIN", "mallory", `guess-${round}`);
              return false;
            } catch (error) {
              return error instanceof SaslClientError;
            } finally {
              connection?.close();
            }
          }),
        );
        attempts += results.length;
        refusedCount += results.filter(Boolean).length;
      }
    } finally {
      flooding = false;
      await bystanderLoop;
      bystander.close();
    }
    console.log(`failed logins: ${attempts}; bystander Metadata answers meanwhile: ${served}; broker RSS ${rssBeforeKb} -> ${rssKb()} KiB`);
    expect(attempts).toBeGreaterThanOrEqual(2_000);
    expect(refusedCount).toBe(attempts);
    expect(served).toBeGreaterThan(0);
    const lines = await auditLinesWhen((all) => all.filter((line) => line.principal === "User:mallory").length - before >= attempts);
    const mallory = lines.filter((line) => line.principal === "User:mallory");
    // Exactly one line per refused connection: none lost, none repeated.
    expect(mallory.length - before).toBe(attempts);
    expect(mallory.every((line) => line.event === "authentication" && line.result === "failure")).toBe(true);
    // What the flood leaves behind in the broker is bounded (per-connection state goes with the connection).
    expect(rssKb() - rssBeforeKb).toBeLessThan(256 * 1024);
    // The broker still serves a new login.
    const after = await connectAs(externalPort, "admin", "admin-secret");
    try {
      expect((await after.request(ApiKey.Metadata, 9, { topics: null, allowAutoTopicCreation: false, includeClusterAuthorizedOperations: false, includeTopicAuthorizedOperations: false })).brokers.length).toBe(1);
    } finally {
      after.close();
    }
  }, 200_000);
});

test("an audit.log.file that cannot be opened or an unknown listener in audit.log.listeners stops the start, naming the setting", async () => {
  // Goal: an audit trail that was asked for is never silently missing. Method: start with each mistake; the process exits.
  const mistakes: Record<string, string>[] = [{ "audit.log.file": "/nonexistent-dir/audit.log" }, { "audit.log.listeners": "PLAINTEXT,NOPE" }];
  for (const properties of mistakes) {
    const broker = new BrokerProcess({ properties });
    try {
      const failure = await broker.start().then(() => null, (error: Error) => error.message);
      expect(failure).toContain("audit.log");
    } finally {
      await broker.cleanup();
    }
  }
}, 60_000);

test("the audit file's buffer is bounded: lines beyond audit.log.buffer.max.bytes waiting for the disk are dropped and counted, never queued", async () => {
  // Goal: a burst faster than the disk cannot grow memory. Method: 2,000 lines of ~200 bytes written in one turn
  // of the event loop into a sink holding 4,096 bytes; after the writes settle, the file holds the first lines,
  // then one "dropped" line whose count makes up the rest.
  const dir = tempDir("audit-sink");
  try {
    const path = join(dir, "audit.log");
    const logged: string[] = [];
    const sink = new FileAuditSink(path, 4096, (message) => logged.push(message));
    const total = 2_000;
    for (let index = 0; index < total; index++) sink.write(JSON.stringify({ event: "authentication", index, padding: "p".repeat(160) }));
    await sink.close();
    const lines = readFileSync(path, "utf8").split("\n").filter(Boolean).map((line) => JSON.parse(line));
    const kept = lines.filter((line) => line.event === "authentication");
    const dropped = lines.filter((line) => line.event === "audit" && line.result === "dropped");
    expect(kept.length).toBeGreaterThan(0);
    expect(kept.length * 200).toBeLessThanOrEqual(4096);
    expect(kept.map((line) => line.index)).toEqual(Array.from({ length: kept.length }, (_, index) => index));
    expect(dropped.length).toBe(1);
    expect(kept.length + dropped[0].lines).toBe(total);
    expect(logged).toEqual([]);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
