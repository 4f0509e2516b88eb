// `bun run quotas` (src/tools/quotas.ts) as a process against a real broker: kafka-configs.sh's
// --alter --add-config / --delete-config and --describe for user, client-id and <default> entities, with
// what it did checked through DescribeClientQuotas and through a producer the quota then throttles.
import { afterEach, expect, test } from "bun:test";
import { resolve } from "node:path";
import { KafkaConnection } from "../../src/client/kafka-connection.ts";
import { ErrorCode } from "../../src/protocol/errors.ts";
import { ApiKey } from "../../src/protocol/generated/index.ts";
import { buildBatch } from "../../src/records/compression.ts";
import { BrokerProcess } from "../helpers/broker-process.ts";
import { createTopic } from "../helpers/kafkajs.ts";
import { run } from "../helpers/run.ts";

const repoRoot = resolve(import.meta.dir, "../..");
const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

const quotas = (bootstrap: string, args: string[]) => run([process.execPath, resolve(repoRoot, "src/tools/quotas.ts"), "--bootstrap-server", bootstrap, ...args], { timeoutMs: 30_000 });
const BATCH = buildBatch({ records: [{ key: "k", value: "x".repeat(16 * 1024) }] });
/** With an 11 s window a 32 KiB/s quota is first exceeded after ~320 KiB (20 batches); this bounds the loop. */
const MAX_BATCHES = 200;

async function connect(port: number, clientId: string): Promise<KafkaConnection> {
  // A throttled request waits at most the whole quota window (11 s) before the broker reads it.
  const connection = await KafkaConnection.connect({ host: "127.0.0.1", port, clientId, requestTimeoutMs: 30_000 });
  cleanups.push(() => connection.close());
  return connection;
}

/** Every stored quota as "user|client-id" -> values, through the protocol (not the CLI). */
async function storedQuotas(connection: KafkaConnection): Promise<Record<string, Record<string, number>>> {
  const response = await connection.request(ApiKey.DescribeClientQuotas, 1, { components: [], strict: false });
  expect(response.errorCode).toBe(ErrorCode.NONE);
  const name = (entity: { entityType: string; entityName: string | null }[], type: string) => {
    const found = entity.find((component) => component.entityType === type);
    return found === undefined ? "-" : (found.entityName ?? "<default>");
  };
  return Object.fromEntries(
    response.entries.map((entry: { entity: { entityType: string; entityName: string | null }[]; values: { key: string; value: number }[] }) => [
      `${name(entry.entity, "user")}|${name(entry.entity, "client-id")}`,
      Object.fromEntries(entry.values.map((value) => [value.key, value.value])),
    ]),
  );
}

/** Produces 16 KiB batches until the broker answers with a throttle time (or MAX_BATCHES): that time. */
async function firstThrottle(connection: KafkaConnection, topic: string): Promise<number> {
  for (let i = 0; i < MAX_BATCHES; i++) {
    const response = await connection.request(ApiKey.Produce, 7, { transactionalId: null, acks: 1, timeoutMs: 5000, topicData: [{ name: topic, partitionData: [{ index: 0, records: BATCH }] }] });
    expect(response.responses[0].partitionResponses[0].errorCode).toBe(ErrorCode.NONE);
    if (response.throttleTimeMs > 0) return response.throttleTimeMs;
  }
  return 0;
}

test("quotas --alter sets and removes quotas of user, client-id and default entities that the broker then enforces; --describe lists them", async () => {
  const broker = new BrokerProcess({ properties: { "num.partition.workers": "1" } });
  cleanups.push(() => broker.cleanup());
  await broker.start();
  await createTopic(broker.bootstrap, "cli-quota-topic", 1);
  const admin = await connect(broker.port, "admin");

  const set = await quotas(broker.bootstrap, ["--alter", "--add-config", "producer_byte_rate=32768,request_percentage=200", "--client", "cli-slow"]);
  expect(set.stderr).toBe("");
  expect(set.exitCode).toBe(0);
  expect(set.stdout).toContain("Quotas of client-id cli-slow: set producer_byte_rate=32768,request_percentage=200.");
  expect((await quotas(broker.bootstrap, ["--alter", "--add-config", "consumer_byte_rate=1000000", "--user-defaults", "--client", "app"])).exitCode).toBe(0);
  expect((await quotas(broker.bootstrap, ["--alter", "--add-config", "consumer_byte_rate=2000000", "--entity-type", "users", "--entity-name", "alice"])).exitCode).toBe(0);
  expect(await storedQuotas(admin)).toEqual({
    "-|cli-slow": { producer_byte_rate: 32768, request_percentage: 200 },
    "<default>|app": { consumer_byte_rate: 1000000 },
    "alice|-": { consumer_byte_rate: 2000000 },
  });

  // In effect: the client id's producer is throttled.
  const producer = await connect(broker.port, "cli-slow");
  expect(await firstThrottle(producer, "cli-quota-topic")).toBeGreaterThan(0);

  // --describe: every quota as a table or JSON; one entity; every entity of one type.
  const table = await quotas(broker.bootstrap, ["--describe"]);
  expect(table.exitCode).toBe(0);
  expect(table.stdout.split("\n")[0]).toMatch(/^USER\s+CLIENT-ID\s+QUOTAS$/);
  expect(table.stdout).toMatch(/<default>\s+app\s+consumer_byte_rate=1000000/);
  expect(table.stdout).toMatch(/-\s+cli-slow\s+producer_byte_rate=32768,request_percentage=200/);
  const one = await quotas(broker.bootstrap, ["--describe", "--user-defaults", "--client", "app", "--json"]);
  expect(JSON.parse(one.stdout)).toEqual([{ user: null, clientId: "app", quotas: { consumer_byte_rate: 1000000 } }]);
  const users = await quotas(broker.bootstrap, ["--describe", "--entity-type", "users", "--json"]);
  expect(JSON.parse(users.stdout)).toEqual([{ user: null, clientId: "app", quotas: { consumer_byte_rate: 1000000 } }, { user: "alice", quotas: { consumer_byte_rate: 2000000 } }]);

  // Refused: a key the broker does not enforce (its error, exit 1) and bad usage (exit 2); nothing stored.
  const unsupported = await quotas(broker.bootstrap, ["--alter", "--add-config", "controller_mutation_rate=5", "--client", "other"]);
  expect(unsupported.exitCode).toBe(1);
  expect(unsupported.stderr).toContain("INVALID_REQUEST");
  expect((await quotas(broker.bootstrap, ["--alter", "--add-config", "producer_byte_rate=5"])).exitCode).toBe(2);
  expect((await quotas(broker.bootstrap, ["--alter", "--add-config", "producer_byte_rate=fast", "--client", "other"])).exitCode).toBe(2);
  expect(Object.keys(await storedQuotas(admin))).not.toContain("-|other");

  // Removed: the entity is gone and the same client id is no longer throttled.
  const removed = await quotas(broker.bootstrap, ["--alter", "--delete-config", "producer_byte_rate,request_percentage", "--client", "cli-slow"]);
  expect(removed.exitCode).toBe(0);
  expect(removed.stdout).toContain("removed producer_byte_rate,request_percentage");
  expect(Object.keys(await storedQuotas(admin))).not.toContain("-|cli-slow");
  const after = await connect(broker.port, "cli-slow");
  expect(await firstThrottle(after, "cli-quota-topic")).toBe(0);
}, 120_000);
