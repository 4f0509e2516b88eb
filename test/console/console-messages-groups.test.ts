// The console's message browser and consumer-group page in a real headless Chromium against one real broker
// process: a record kcat produced at a known offset shows with its key, value and headers; a group's lag
// produced behind a kafkajs consumer shows as non-zero, drops to 0 once the consumer catches up, and the reset
// form (offered only while the group is empty) moves the offsets back.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { Kafka, logLevel } from "kafkajs";
import type { Browser } from "puppeteer-core";
import { BrokerProcess } from "../helpers/broker-process.ts";
import { adminUrl, launchBrowser, newPage, screenshot, texts, waitForText, WAIT_MS } from "./browser.ts";

let broker: BrokerProcess;
let browser: Browser;
let consoleUrl: string;

async function kcatProduce(args: string[], input: string): Promise<void> {
  const child = Bun.spawn(["kcat", "-P", "-b", broker.bootstrap, "-X", "topic.metadata.refresh.interval.ms=500", ...args], { stdin: new TextEncoder().encode(input), stdout: "pipe", stderr: "pipe" });
  const timer = setTimeout(() => child.kill(), WAIT_MS);
  const code = await child.exited;
  clearTimeout(timer);
  if (code !== 0) throw new Error(`kcat -P ${args.join(" ")} exited ${code}: ${await new Response(child.stderr).text()}`);
}

beforeAll(async () => {
  broker = new BrokerProcess({ properties: { "admin.listeners": "http://127.0.0.1:0", "group.initial.rebalance.delay.ms": "0", "num.partitions": "2", "auto.create.topics.enable": "true" } });
  await broker.start();
  consoleUrl = `${adminUrl(broker)}/ui/`;
  browser = await launchBrowser();
});

afterAll(async () => {
  await browser?.close();
  await broker?.cleanup();
});

describe("message browser", () => {
  test("shows the record kcat produced at a given offset with its key, value and headers", async () => {
    // Offsets 0..4 of partition 1 are filler; offset 5 is the record to find.
    await kcatProduce(["-t", "orders", "-p", "1", "-K", ":"], Array.from({ length: 5 }, (_, i) => `filler-${i}:{"n":${i}}`).join("\n") + "\n");
    await kcatProduce(["-t", "orders", "-p", "1", "-K", ":", "-H", "trace-id=t-77", "-H", "source=kcat"], 'order-42:{"amount":42,"currency":"EUR"}\n');
    await kcatProduce(["-t", "orders", "-p", "1", "-K", ":"], "after:later\n");

    const { page, pageErrors } = await newPage(browser);
    await page.emulateTimezone("UTC");
    await page.goto(`${consoleUrl}#/topics/orders/messages`);
    await page.waitForSelector('[data-testid="message-form"] select[name="partition"] option[value="1"]');
    await page.select('[data-testid="message-form"] select[name="partition"]', "1");
    const offsetInput = await page.waitForSelector('[data-testid="message-form"] input[name="offset"]');
    await offsetInput!.click({ count: 3 });
    await offsetInput!.type("5");
    await page.click('[data-testid="message-form"] button[type="submit"]');
    await page.waitForSelector('[data-testid="message-row"][data-offset="5"]');

    const offsets = await texts(page, '[data-testid="message-row"] td:first-child');
    expect(offsets).toEqual(["5", "6"]);
    const row = '[data-testid="message-row"][data-offset="5"]';
    expect(await page.$eval(`${row} [data-testid="message-key"]`, (e) => e.textContent)).toBe("order-42");
    expect(await page.$eval(`${row} [data-testid="message-value"]`, (e) => e.textContent)).toBe('{"amount":42,"currency":"EUR"}');
    expect(await texts(page, `${row} [data-testid="message-headers"] div`)).toEqual(["trace-id: t-77", "source: kcat"]);

    // The same bytes as JSON (pretty-printed) and hex.
    await page.select('[data-testid="message-form"] select[name="view"]', "json");
    await waitForText(page, `${row} [data-testid="message-value"]`, (text) => text.includes('"amount": 42,\n'), "the value as pretty JSON");
    await page.select('[data-testid="message-form"] select[name="view"]', "hex");
    expect(await page.$eval(`${row} [data-testid="message-key"]`, (e) => e.textContent)).toBe(Buffer.from("order-42").toString("hex").replace(/(..)(?!$)/g, "$1 "));

    // Search filters the loaded page; "Older" pages back to the fillers.
    await page.select('[data-testid="message-form"] select[name="view"]', "text");
    await page.type('[data-testid="message-form"] input[name="search"]', "EUR");
    await waitForText(page, '[data-testid="message-range"]', (text) => text.endsWith("1 shown"), "the search to keep one record");
    expect(await texts(page, '[data-testid="message-row"] td:first-child')).toEqual(["5"]);
    await screenshot(page, "message-browser");
    await page.click('[data-testid="message-form"] input[name="search"]', { count: 3 });
    await page.keyboard.press("Backspace");
    await page.$$eval("button", (buttons) => buttons.find((b) => b.textContent?.includes("Older"))?.click());
    await waitForText(page, '[data-testid="message-range"]', (text) => text.startsWith("offsets 0–6"), "the older page");

    // Latest: the last page before the high watermark (7 records here). From a time: the first record at or
    // after it (the form's local time is UTC in this page).
    await page.select('[data-testid="message-form"] select[name="position"]', "latest");
    await page.click('[data-testid="message-form"] button[type="submit"]');
    await waitForText(page, '[data-testid="message-range"]', (text) => text.startsWith("offsets 0–6 · log 0–7"), "the latest page");
    const shownTimes = (await texts(page, '[data-testid="message-row"] td:nth-child(2)')).map((text) => Date.parse(`${text.replace(" ", "T")}Z`));
    const lastSecond = new Date(shownTimes[6]!).toISOString().slice(0, 19);
    const expectedFirst = shownTimes.findIndex((time) => time >= Date.parse(`${lastSecond}Z`));
    await page.select('[data-testid="message-form"] select[name="position"]', "timestamp");
    await page.$eval('[data-testid="message-form"] input[name="timestamp"]', (input, value) => {
      (input as unknown as { value: string }).value = value as string;
      input.dispatchEvent(new Event("input", { bubbles: true }));
    }, lastSecond);
    await page.click('[data-testid="message-form"] button[type="submit"]');
    await page.waitForSelector('[data-testid="message-row"][data-offset="6"]');
    await waitForText(page, '[data-testid="message-range"]', (text) => text.startsWith(`offsets ${expectedFirst}–6`), "the page from that time");
    expect(pageErrors).toEqual([]);
    await page.close();
  });
});

describe("consumer group page", () => {
  test("shows the group's lag, 0 after the kafkajs consumer catches up, and resets offsets while it is empty", async () => {
    const kafka = new Kafka({ brokers: [broker.bootstrap], clientId: "console-test", logLevel: logLevel.NOTHING });
    const producer = kafka.producer();
    await producer.connect();
    const send = (from: number, count: number) =>
      producer.send({ topic: "events", acks: -1, messages: Array.from({ length: count }, (_, i) => ({ key: `k${from + i}`, value: `event-${from + i}`, partition: 0 })) });
    const admin = kafka.admin();
    await admin.connect();
    await admin.createTopics({ topics: [{ topic: "events", numPartitions: 1, replicationFactor: 1 }], waitForLeaders: true });
    await admin.disconnect();
    await send(0, 10);

    // The group consumes the first 10 and commits, then leaves: 15 more records are its lag.
    // Returns the consumer, still a member, once it has seen `total` records (it commits after each batch).
    const consumeUntil = async (total: number) => {
      const consumer = kafka.consumer({ groupId: "console-group", sessionTimeout: 10_000, heartbeatInterval: 500 });
      await consumer.connect();
      await consumer.subscribe({ topic: "events", fromBeginning: true });
      let seen = 0;
      let reached!: () => void;
      const done = new Promise<void>((resolve) => (reached = resolve));
      await consumer.run({ eachMessage: async ({ message }) => {
        seen = Number(message.offset) + 1;
        if (seen >= total) reached();
      } });
      const timer = setTimeout(() => reached(), WAIT_MS);
      await done;
      clearTimeout(timer);
      expect(seen).toBe(total);
      return consumer;
    };
    await (await consumeUntil(10)).disconnect();
    await send(10, 15);

    const { page, pageErrors } = await newPage(browser);
    await page.goto(`${consoleUrl}#/groups`);
    await waitForText(page, '[data-testid="group-table"] tbody', (text) => text.includes("console-group"), "the group in the list");
    await page.goto(`${consoleUrl}#/groups/console-group`);
    await waitForText(page, '[data-testid="group-total-lag"] .stat-value', (text) => text === "15", "a lag of 15");
    expect(await texts(page, '[data-testid="lag-row"] [data-testid="lag-value"]')).toEqual(["15"]);
    await page.waitForSelector('[data-testid="lag-chart"] canvas');
    await screenshot(page, "group-lagging");

    const consumer = await consumeUntil(25);
    await waitForText(page, '[data-testid="group-total-lag"] .stat-value', (text) => text === "0", "the lag to drop to 0");
    expect(await texts(page, '[data-testid="lag-row"] [data-testid="lag-value"]')).toEqual(["0"]);
    // While it is a member: its assignment, and no reset form (offsets are reset only in an empty group).
    await waitForText(page, '[data-testid="member-table"] tbody', (text) => text.includes("events[0]"), "the member's assignment");
    expect(await page.$('[data-testid="reset-offsets-form"]')).toBeNull();
    await screenshot(page, "group-caught-up");
    await consumer.disconnect();

    // Empty again: the reset form is offered; to earliest makes all 25 records lag.
    await page.waitForSelector('[data-testid="reset-offsets-form"] button[type="submit"]');
    await page.click('[data-testid="reset-offsets-form"] button[type="submit"]');
    await waitForText(page, '[data-testid="group-total-lag"] .stat-value', (text) => text === "25", "the lag after a reset to earliest");
    await screenshot(page, "group-reset");
    expect(pageErrors).toEqual([]);
    await page.close();
    await producer.disconnect();
  });
});
