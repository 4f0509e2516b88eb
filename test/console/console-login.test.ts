// The console with security on: a broker with a SASL PLAIN listener makes its admin listener require HTTP
// Basic with the same users. The console page loads without credentials (it holds no data), shows its login
// form, refuses a wrong password, and after a good login shows the cluster; the API stays closed to a client
// without credentials, and signing out returns to the login form.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import type { Browser } from "puppeteer-core";
import { BrokerProcess, freePort } from "../helpers/broker-process.ts";
import { adminUrl, launchBrowser, newPage, screenshot, waitForText } from "./browser.ts";

const JAAS = 'org.apache.kafka.common.security.plain.PlainLoginModule required username="admin" password="admin-secret" user_admin="admin-secret" user_ops="ops pässword";';
let broker: BrokerProcess;
let browser: Browser;
let consoleUrl: string;

beforeAll(async () => {
  const port = freePort();
  broker = new BrokerProcess({ port, properties: { listeners: `SASL_PLAINTEXT://127.0.0.1:${port}`, "sasl.enabled.mechanisms": "PLAIN", "sasl.jaas.config": JAAS, "admin.listeners": "http://127.0.0.1:0" } });
  await broker.start();
  consoleUrl = `${adminUrl(broker)}/ui/`;
  browser = await launchBrowser();
});

afterAll(async () => {
  await browser?.close();
  await broker?.cleanup();
});

describe("console login", () => {
  test("the API refuses a request without credentials while the console page itself loads", async () => {
    const base = adminUrl(broker);
    expect((await fetch(`${base}/api/v1/cluster`)).status).toBe(401);
    expect((await fetch(`${base}/metrics`)).status).toBe(401);
    const pageResponse = await fetch(consoleUrl);
    expect(pageResponse.status).toBe(200);
    expect(await (await fetch(`${base}/ui/session.json`)).json()).toEqual({ authRequired: true });
  });

  test("a wrong password is refused, the SASL user's password signs in, signing out asks again", async () => {
    const { page, pageErrors } = await newPage(browser, "dark");
    await page.goto(`${consoleUrl}#/overview`);
    await page.waitForSelector('[data-testid="login-form"]');
    expect(await page.$('[data-testid="stat-brokers"]')).toBeNull();

    await page.type('[data-testid="login-form"] input[name="user"]', "ops");
    await page.type('[data-testid="login-form"] input[name="password"]', "wrong");
    await page.click('[data-testid="login-form"] button[type="submit"]');
    await waitForText(page, '[data-testid="login-form"] .error', (text) => text === "Wrong user name or password.", "the refusal");
    await screenshot(page, "login-refused");

    await page.click('[data-testid="login-form"] input[name="password"]', { count: 3 });
    await page.type('[data-testid="login-form"] input[name="password"]', "ops pässword");
    await page.click('[data-testid="login-form"] button[type="submit"]');
    await waitForText(page, '[data-testid="stat-brokers"] .stat-value', (text) => text === "1", "the overview after the login");
    expect(await page.$('[data-testid="login-form"]')).toBeNull();
    await screenshot(page, "overview-dark");

    await page.$$eval("header button", (buttons) => buttons.find((button) => button.textContent === "Sign out")?.click());
    await page.waitForSelector('[data-testid="login-form"]');
    expect(pageErrors).toEqual([]);
    await page.close();
  });
});
