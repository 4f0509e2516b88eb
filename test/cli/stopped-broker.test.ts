// Every client command against a broker that was stopped: one line on stderr naming the address, a
// non-zero exit, no stack trace.
import { expect, test } from "bun:test";
import { BrokerProcess } from "../helpers/broker-process.ts";
import { bunka } from "./cli.ts";

test("commands against a stopped broker fail with one clear line", async () => {
  const broker = new BrokerProcess();
  await broker.start();
  const bootstrap = broker.bootstrap;
  await broker.stop();
  await broker.cleanup();
  const commands = [
    ["topic", "list"],
    ["topic", "create", "t"],
    ["topic", "describe", "t"],
    ["produce", "-t", "t"],
    ["consume", "-t", "t", "-n", "1"],
    ["group", "list"],
    ["group", "describe", "g"],
    ["cluster", "info"],
    ["cluster", "health"],
    ["perf", "produce", "-t", "t", "-n", "10"],
    ["acl", "list"],
    ["acl", "add", "--allow-principal", "User:a", "--topic", "t"],
    ["user", "list"],
    ["user", "add", "a", "--password", "p"],
    ["quota", "describe"],
    ["quota", "set", "producer_byte_rate=1", "--user", "a"],
    ["transactions", "list"],
  ];
  for (const args of commands) {
    const result = await bunka(bootstrap, args, { input: "a\n", timeoutMs: 30_000 });
    expect(result.timedOut).toBe(false);
    expect(result.exitCode).not.toBe(0);
    expect(result.stdout).toBe("");
    const lines = result.stderr.trim().split("\n");
    expect(lines).toHaveLength(1);
    expect(lines[0]).toStartWith("bunka: ");
    expect(lines[0]).toContain(bootstrap);
    expect(result.stderr).not.toMatch(/\n\s+at /);
  }
}, 120_000);
