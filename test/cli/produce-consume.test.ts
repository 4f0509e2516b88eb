// bunka produce / bunka consume against a real broker process: 100,000 records with keys and headers
// round-trip byte for byte; kcat reads what bunka wrote; --json, --from offset/@timestamp, --partition,
// compression and a group's committed offsets.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { BrokerProcess } from "../helpers/broker-process.ts";
import { kcatConsumeAll } from "../helpers/kcat.ts";
import { bunka, bunkaOk } from "./cli.ts";

const RECORDS = 100_000;
let broker: BrokerProcess;

beforeAll(async () => {
  broker = new BrokerProcess({ properties: { "num.partitions": "3", "group.initial.rebalance.delay.ms": "0" } });
  await broker.start();
});

afterAll(async () => {
  await broker.stop();
  await broker.cleanup();
});

describe("bunka produce / consume", () => {
  test("100,000 records with keys and headers round-trip byte for byte, and kcat reads the same", async () => {
    // Values carry bytes beyond ASCII (UTF-8) and a tab; keys repeat so partitions get several per key.
    const lines: string[] = [];
    for (let i = 0; i < RECORDS; i++) lines.push(`key-${i % 997}|value ${i} ü\t€ ${"x".repeat(i % 50)}`);
    const input = lines.join("\n") + "\n";
    const produced = await bunkaOk(broker.bootstrap, ["produce", "-t", "roundtrip", "-K", "|", "-H", "source=cli", "-H", "n=1", "--acks", "all"], { input, timeoutMs: 120_000 });
    expect(produced.stderr).toContain(`Produced ${RECORDS} records`);

    const consumed = await bunkaOk(broker.bootstrap, ["consume", "-t", "roundtrip", "--from", "beginning", "--count", String(RECORDS), "-f", "%k|%v|%h\\n"], { timeoutMs: 120_000 });
    const out = consumed.stdout.split("\n").filter((line) => line.length > 0);
    expect(out.length).toBe(RECORDS);
    for (const line of out.slice(0, 10)) expect(line.endsWith("|source=cli,n=1")).toBe(true);
    // Order holds within a partition only: compare the multisets, byte for byte.
    const roundTripped = out.map((line) => line.slice(0, -"|source=cli,n=1".length)).sort();
    expect(roundTripped).toEqual([...lines].sort());

    // Per key, records come back in the order they were produced (one key, one partition).
    const perKey = out.filter((line) => line.startsWith("key-7|")).map((line) => Number(line.split(" ")[1]));
    expect(perKey).toEqual([...perKey].sort((a, b) => a - b));

    const viaKcat = await kcatConsumeAll(broker.bootstrap, "roundtrip", "%k|%s\\n");
    expect(viaKcat.length).toBe(RECORDS);
    expect(viaKcat.sort()).toEqual([...lines].sort());
  }, 240_000);

  test("--json, --partition, --from <offset> and --from @<timestamp>", async () => {
    await bunkaOk(broker.bootstrap, ["topic", "create", "positions", "-p", "2"]);
    const before = Date.now();
    await bunkaOk(broker.bootstrap, ["produce", "-t", "positions", "-p", "1", "-K", "=", "-H", "h=v", "-z", "lz4"], { input: "a=1\nb=2\nc=3\nd=4\n" });
    const json = await bunkaOk(broker.bootstrap, ["--json", "consume", "-t", "positions", "-p", "1", "--from", "2", "-n", "2"]);
    const records = json.stdout.trim().split("\n").map((line) => JSON.parse(line));
    expect(records.map((r) => [r.partition, r.offset, r.key, r.value, r.headers.h])).toEqual([
      [1, 2, "c", "3", "v"],
      [1, 3, "d", "4", "v"],
    ]);
    expect(records[0].timestamp).toBeGreaterThanOrEqual(before);

    await Bun.sleep(20);
    const later = Date.now();
    await bunkaOk(broker.bootstrap, ["produce", "-t", "positions", "-p", "1"], { input: "after\n" });
    const fromTime = await bunkaOk(broker.bootstrap, ["consume", "-t", "positions", "--from", `@${later}`, "-e", "-f", "%p:%o:%v\\n"]);
    expect(fromTime.stdout).toBe("1:4:after\n");
    const nothingOnZero = await bunkaOk(broker.bootstrap, ["consume", "-t", "positions", "-p", "0", "-e"]);
    expect(nothingOnZero.stdout).toBe("");
  }, 60_000);

  test("--group starts from the committed offsets and commits what it printed", async () => {
    await bunkaOk(broker.bootstrap, ["produce", "-t", "grouped", "-p", "0"], { input: "r0\nr1\nr2\nr3\nr4\n" });
    const first = await bunkaOk(broker.bootstrap, ["consume", "-t", "grouped", "-g", "readers", "-n", "2", "-f", "%v\\n"]);
    expect(first.stdout).toBe("r0\nr1\n");
    const second = await bunkaOk(broker.bootstrap, ["consume", "-t", "grouped", "-g", "readers", "-e", "-f", "%v\\n"]);
    expect(second.stdout).toBe("r2\nr3\nr4\n");
    const third = await bunkaOk(broker.bootstrap, ["consume", "-t", "grouped", "-g", "readers", "-e"]);
    expect(third.stdout).toBe("");
  }, 60_000);

  test("bad input is a one-line error with a non-zero exit", async () => {
    const badAcks = await bunka(broker.bootstrap, ["produce", "-t", "x", "--acks", "2"], { input: "a\n" });
    expect(badAcks.exitCode).not.toBe(0);
    expect(badAcks.stderr.trim()).toBe(`bunka: --acks must be all, -1, 0 or 1, got "2"`);
    const badFormat = await bunka(broker.bootstrap, ["consume", "-t", "grouped", "-f", "%q"]);
    expect(badFormat.exitCode).not.toBe(0);
    expect(badFormat.stderr).toContain("unknown format token %q");
    const noPartition = await bunka(broker.bootstrap, ["consume", "-t", "grouped", "-p", "7", "-e"]);
    expect(noPartition.exitCode).not.toBe(0);
    expect(noPartition.stderr.trim()).toBe("bunka: partition 7 does not exist (grouped has 3)");
  }, 60_000);
});
