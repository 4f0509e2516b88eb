// The CLI over a SASL listener: Kafka's client properties (-X key=value, --command-config FILE, read by
// tools/client-config.ts) log every connection in; without them a command fails in one line.
import { afterAll, beforeAll, expect, test } from "bun:test";
import { rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { startBroker, type Broker } from "../../src/server/broker.ts";
import { tempDir } from "../helpers/broker-process.ts";
import { bunka, bunkaOk } from "./cli.ts";

const JAAS = `org.apache.kafka.common.security.plain.PlainLoginModule required user_alice="alice-secret";`;
let dataDir: string;
let broker: Broker;
let bootstrap = "";

beforeAll(async () => {
  dataDir = tempDir("cli-secure");
  broker = await startBroker({
    port: 0,
    dataDir,
    partitionWorkers: 1,
    log: () => undefined,
    properties: { listeners: "SASL_PLAINTEXT://127.0.0.1:0", "sasl.enabled.mechanisms": "PLAIN", "sasl.jaas.config": JAAS },
  });
  bootstrap = `127.0.0.1:${broker.boundListeners()[0]!.port}`;
});

afterAll(async () => {
  await broker.stop();
  rmSync(dataDir, { recursive: true, force: true });
});

test("-X and --command-config log the CLI in; a wrong or missing login is one line and exit 1", async () => {
  const login = ["-X", "security.protocol=SASL_PLAINTEXT", "-X", "sasl.mechanism=PLAIN", "-X", "sasl.username=alice", "-X", "sasl.password=alice-secret"];
  await bunkaOk(bootstrap, [...login, "topic", "create", "secured", "-p", "1"]);
  await bunkaOk(bootstrap, [...login, "produce", "-t", "secured", "-K", ":"], { input: "k:v1\nk:v2\n" });
  const consumed = await bunkaOk(bootstrap, [...login, "consume", "-t", "secured", "-e", "-f", "%k=%v\\n"]);
  expect(consumed.stdout).toBe("k=v1\nk=v2\n");

  const config = join(dataDir, "..", `${dataDir.split("/").pop()}.client.properties`);
  writeFileSync(config, "security.protocol=SASL_PLAINTEXT\nsasl.mechanism=PLAIN\nsasl.username=alice\nsasl.password=alice-secret\n");
  try {
    const listed = await bunkaOk(bootstrap, ["--command-config", config, "--json", "topic", "list"]);
    expect(JSON.parse(listed.stdout).map((t: { name: string }) => t.name)).toContain("secured");
    const groups = await bunkaOk(bootstrap, ["--command-config", config, "group", "list"]);
    expect(groups.stdout).toContain("GROUP");
  } finally {
    rmSync(config, { force: true });
  }

  const wrong = await bunka(bootstrap, ["-X", "security.protocol=SASL_PLAINTEXT", "-X", "sasl.mechanism=PLAIN", "-X", "sasl.username=alice", "-X", "sasl.password=nope", "topic", "list"]);
  expect(wrong.exitCode).toBe(1);
  expect(wrong.stderr.trim().split("\n")).toHaveLength(1);
  const none = await bunka(bootstrap, ["topic", "list"], { timeoutMs: 60_000 });
  expect(none.exitCode).toBe(1);
  expect(none.stderr.trim().split("\n")).toHaveLength(1);
  const unknownKey = await bunka(bootstrap, ["-X", "sasl.mechansim=PLAIN", "topic", "list"]);
  expect(unknownKey.stderr.trim()).toStartWith("bunka: -X sasl.mechansim: unknown client property");
}, 120_000);
