// The console against a real 3-broker cluster (etcd + three broker processes, each with an admin listener),
// in a real headless Chromium: the overview lists the three brokers and the controller, a topic's page shows
// its partition count, a topic created and deleted in the console is there (and then gone) for kcat -L, a
// group coordinated elsewhere names its broker, and a killed broker is shown offline with its partitions
// under-replicated.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { Kafka, logLevel } from "kafkajs";
import type { Browser, Page } from "puppeteer-core";
import { keyPartitionFor } from "../../src/metadata/internal-topic-store.ts";
import { TestCluster } from "../helpers/cluster.ts";
import { adminUrl, launchBrowser, newPage, screenshot, texts, waitForText, WAIT_MS } from "./browser.ts";

let cluster: TestCluster;
let browser: Browser;
let page: Page;
let pageErrors: string[];
let consoleUrl: string;

interface KcatTopic {
  topic: string;
  partitions: { partition: number }[];
  error?: string;
}

async function kcatTopics(): Promise<KcatTopic[]> {
  const child = Bun.spawn(["kcat", "-L", "-J", "-b", cluster.bootstrap.join(","), "-m", "10"], { stdout: "pipe", stderr: "pipe" });
  const timer = setTimeout(() => child.kill(), WAIT_MS);
  const [output, code] = await Promise.all([new Response(child.stdout).text(), child.exited]);
  clearTimeout(timer);
  if (code !== 0) throw new Error(`kcat -L exited ${code}: ${await new Response(child.stderr).text()}`);
  return (JSON.parse(output) as { topics: KcatTopic[] }).topics;
}

beforeAll(async () => {
  cluster = new TestCluster(3, { "admin.listeners": "http://127.0.0.1:0" });
  await cluster.start();
  consoleUrl = `${adminUrl(cluster.broker(1))}/ui/`;
  const kafka = new Kafka({ brokers: cluster.bootstrap, clientId: "console-cluster-test", logLevel: logLevel.NOTHING });
  const admin = kafka.admin();
  await admin.connect();
  await admin.createTopics({ topics: [{ topic: "payments", numPartitions: 6, replicationFactor: 3 }], waitForLeaders: true });
  await admin.disconnect();
  await cluster.leadersReady("payments");
  const producer = kafka.producer();
  await producer.connect();
  for (let batch = 0; batch < 5; batch++)
    await producer.send({ topic: "payments", acks: -1, messages: Array.from({ length: 200 }, (_, i) => ({ key: `customer-${i % 17}`, value: JSON.stringify({ batch, i, amount: i * 3 }) })) });
  await producer.disconnect();
  browser = await launchBrowser();
  ({ page, pageErrors } = await newPage(browser));
});

afterAll(async () => {
  await browser?.close();
  await cluster?.cleanup();
});

describe("console on a 3-broker cluster", () => {
  test("the overview lists the 3 brokers and the controller", async () => {
    await page.goto(`${consoleUrl}#/overview`);
    await waitForText(page, '[data-testid="stat-brokers"] .stat-value', (text) => text === "3", "3 brokers");
    const rows = await texts(page, '[data-testid="broker-row"] td:first-child');
    expect(rows.sort()).toEqual(["1", "2", "3"]);
    expect((await texts(page, '[data-testid="broker-row"]')).filter((text) => text.includes("controller"))).toHaveLength(1);
    await waitForText(page, '[data-testid="partition-table"] tbody', (text) => text.includes("payments"), "the payments partitions");
    expect(await page.$$('[data-testid="partition-table"] tr.row-warn, [data-testid="partition-table"] tr.row-bad')).toHaveLength(0);
    await screenshot(page, "overview");
  });

  test("the topic page shows the topic's partition count", async () => {
    await page.goto(`${consoleUrl}#/topics`);
    await page.waitForSelector('[data-testid="topic-row"][data-topic="payments"]');
    expect(await page.$eval('[data-testid="topic-row"][data-topic="payments"] td:nth-child(2)', (e) => e.textContent)).toBe("6");
    await page.goto(`${consoleUrl}#/topics/payments`);
    await waitForText(page, '[data-testid="topic-partition-count"] .stat-value', (text) => text === "6", "6 partitions");
    expect(await page.$$('[data-testid="partition-row"]')).toHaveLength(6);
    await screenshot(page, "topic");
  });

  test("a config edited in the console is the topic's config", async () => {
    await page.goto(`${consoleUrl}#/topics/payments`);
    const input = await page.waitForSelector('[data-testid="config-row"][data-config="retention.ms"] input');
    await input!.click({ count: 3 });
    await input!.type("3600000");
    await page.$$eval('[data-testid="config-editor"] button', (buttons) => buttons.find((button) => button.textContent === "Save configs")?.click());
    const retention = await cluster.waitFor("retention.ms=3600000 on the topic", async () => {
      const configs = (await (await fetch(`${adminUrl(cluster.broker(2))}/api/v1/topics/payments/configs`)).json()) as { name: string; value: string; source: string }[];
      const found = configs.find((config) => config.name === "retention.ms");
      return found?.value === "3600000" ? found : null;
    }, WAIT_MS, 200);
    expect(retention.source).toBe("topic");
  });

  test("a topic created in the console exists for kcat, and one deleted there is gone", async () => {
    await page.goto(`${consoleUrl}#/topics`);
    await page.waitForSelector('[data-testid="create-topic-form"]');
    await page.type('[data-testid="create-topic-form"] input[name="name"]', "created-in-ui");
    await page.type('[data-testid="create-topic-form"] input[name="partitions"]', "4");
    await page.type('[data-testid="create-topic-form"] input[name="replicationFactor"]', "3");
    await page.click('[data-testid="create-topic-form"] button[type="submit"]');
    // The console opens the new topic's page.
    await waitForText(page, '[data-testid="topic-partition-count"] .stat-value', (text) => text === "4", "the new topic's page");
    expect(page.url()).toEndWith("#/topics/created-in-ui");

    const listed = await cluster.waitFor("kcat to list created-in-ui", async () => (await kcatTopics()).find((topic) => topic.topic === "created-in-ui" && !topic.error), WAIT_MS, 250);
    expect(listed.partitions.map((p) => p.partition).sort()).toEqual([0, 1, 2, 3]);

    // Add partitions from the topic page, then delete it from the list (the confirm dialog is accepted).
    await page.type('[data-testid="add-partitions-form"] input', "5");
    await page.click('[data-testid="add-partitions-form"] button[type="submit"]');
    await waitForText(page, '[data-testid="topic-partition-count"] .stat-value', (text) => text === "5", "5 partitions after adding one");
    await page.goto(`${consoleUrl}#/topics`);
    await page.waitForSelector('[data-testid="topic-row"][data-topic="created-in-ui"] button.danger');
    await page.click('[data-testid="topic-row"][data-topic="created-in-ui"] button.danger');
    await cluster.waitFor("the deleted topic to leave the table", async () => (await page.$('[data-testid="topic-row"][data-topic="created-in-ui"]')) === null, WAIT_MS, 200);
    await cluster.waitFor("kcat to no longer list created-in-ui", async () => !(await kcatTopics()).some((topic) => topic.topic === "created-in-ui" && !topic.error), WAIT_MS, 250);
  });

  test("the live page charts this broker's traffic from /metrics", async () => {
    // A producer and a consumer keep traffic flowing while the page scrapes every 2 s.
    const kafka = new Kafka({ brokers: cluster.bootstrap, clientId: "console-live", logLevel: logLevel.NOTHING });
    const producer = kafka.producer();
    await producer.connect();
    const consumer = kafka.consumer({ groupId: "console-live", sessionTimeout: 10_000 });
    await consumer.connect();
    await consumer.subscribe({ topic: "payments", fromBeginning: true });
    await consumer.run({ eachMessage: async () => {} });
    let producing = true;
    const traffic = (async () => {
      for (let batch = 0; producing && batch < 200; batch++) {
        await producer.send({ topic: "payments", acks: -1, messages: Array.from({ length: 50 + (batch % 7) * 30 }, (_, i) => ({ key: `k${i}`, value: "x".repeat(200 + (i % 5) * 100) })) });
        await Bun.sleep(100);
      }
    })();
    try {
      await page.goto(`${consoleUrl}#/live`);
      for (const chart of ["chart-bytes-in", "chart-bytes-out", "chart-records-in", "chart-latency"]) await page.waitForSelector(`[data-testid="${chart}"] canvas`);
      await cluster.waitFor("5 chart points", async () => Number(await page.$eval('[data-testid="live"]', (e) => e.getAttribute("data-points"))) >= 5, WAIT_MS, 250);
      expect(await page.$eval('[data-testid="chart-bytes-in"] .u-legend', (e) => e.textContent)).toContain("payments");
      expect(await page.$eval('[data-testid="chart-latency"] .u-legend', (e) => e.textContent)).toContain("Produce p99");
      await screenshot(page, "live");
    } finally {
      producing = false;
      await traffic;
      await consumer.disconnect();
      await producer.disconnect();
    }
  });

  test("a group another broker coordinates names that broker", async () => {
    const offsets = await cluster.partitions("__consumer_offsets");
    // A group id whose __consumer_offsets partition another broker leads (Kafka's partitionFor).
    const groupId = Array.from({ length: 100 }, (_, i) => `console-elsewhere-${i}`).find((id) => offsets[keyPartitionFor(id, offsets.length)]!.leader !== 1);
    expect(groupId).toBeDefined();
    const coordinator = offsets[keyPartitionFor(groupId!, offsets.length)]!.leader;
    await page.goto(`${consoleUrl}#/groups/${groupId}`);
    await waitForText(page, '[data-testid="coordinator-hint"]', (text) => text.startsWith(`Broker ${coordinator} (127.0.0.1:${cluster.broker(coordinator).port})`), "the coordinator hint");
  });

  test("a killed broker's partitions show as under-replicated on the overview", async () => {
    await cluster.broker(3).kill();
    await page.goto(`${consoleUrl}#/overview`);
    await waitForText(page, '[data-testid="stat-under-replicated"] .stat-value', (text) => Number(text) > 0, "under-replicated partitions");
    expect((await page.$$('[data-testid="partition-table"] tr.row-warn')).length).toBeGreaterThan(0);
    await waitForText(page, '[data-testid="broker-row-offline"]', (text) => text.startsWith("3") && text.includes("offline"), "broker 3 listed offline");
    await screenshot(page, "overview-under-replicated");
    expect(pageErrors).toEqual([]);
  });
});
