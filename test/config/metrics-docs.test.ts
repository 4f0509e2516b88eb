// The README's metrics table is the one generated from the /metrics registry (bun run docs:metrics), and the
// registry's declarations match what a real broker's scrape returns: every family a scrape shows is in the
// table with the same type and help.
import { afterAll, beforeAll, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { renderMetricsReadme } from "../../src/admin/metrics-docs.ts";
import { describeMetrics } from "../../src/admin/metrics.ts";
import { BrokerProcess, freePort } from "../helpers/broker-process.ts";
import { scrape } from "../helpers/admin-http.ts";

const repoRoot = join(import.meta.dir, "../..");
const adminUrl = `http://127.0.0.1:${freePort()}`;
const broker = new BrokerProcess({ properties: { "admin.listeners": adminUrl } });

beforeAll(() => broker.start(), 60_000);
afterAll(async () => {
  await broker.stop();
  await broker.cleanup();
});

test("the README's metrics table is the one generated from the registry (run `bun run docs:metrics`)", () => {
  const readme = readFileSync(join(repoRoot, "README.md"), "utf8");
  const rendered = renderMetricsReadme(readme);
  if (rendered !== readme) {
    const firstDifference = [...rendered].findIndex((char, index) => char !== readme[index]);
    throw new Error(`README.md's metrics table is out of date near:\n${readme.slice(Math.max(0, firstDifference - 200), firstDifference + 200)}\n(run bun run docs:metrics)`);
  }
  for (const metric of describeMetrics()) expect(readme).toContain(`| \`${metric.name}\` | ${metric.type} |`);
});

test("every family a broker's scrape returns is described with its type and help", async () => {
  const described = new Map(describeMetrics().map((metric) => [metric.name, metric]));
  const families = await scrape(adminUrl);
  expect(families.length).toBeGreaterThan(20);
  for (const family of families) {
    const metric = described.get(family.name);
    expect(metric === undefined ? `${family.name} is not in the table` : family.name).toBe(family.name);
    expect(family.type.toLowerCase()).toBe(metric!.type);
    expect(family.help).toBe(metric!.help);
  }
}, 60_000);
