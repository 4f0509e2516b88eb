// Headless Chromium for the console tests: Debian's `chromium` (scripts/setup.sh installs it) driven by
// puppeteer-core over the DevTools protocol. Screenshots go to test-artifacts/console/ (gitignored).
import { existsSync, mkdirSync } from "node:fs";
import { join, resolve } from "node:path";
import puppeteer, { type Browser, type Page } from "puppeteer-core";
import type { BrokerProcess } from "../helpers/broker-process.ts";

export const ARTIFACT_DIR = resolve(import.meta.dir, "../../test-artifacts/console");
/** Every wait in the console tests gives up after this long. */
export const WAIT_MS = 20_000;

const CHROMIUM_PATHS = ["/usr/bin/chromium", "/usr/bin/chromium-browser"];

export async function launchBrowser(): Promise<Browser> {
  const executablePath = process.env.CHROMIUM_PATH ?? CHROMIUM_PATHS.find((path) => existsSync(path));
  if (!executablePath) throw new Error(`no Chromium at ${CHROMIUM_PATHS.join(" or ")}: run scripts/setup.sh (apt-get install chromium) or set CHROMIUM_PATH`);
  return puppeteer.launch({
    executablePath,
    headless: true,
    // Root in a container has no user namespace for Chromium's sandbox; the pages are our own console on loopback.
    args: ["--no-sandbox", "--headless=new", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run"],
    defaultViewport: { width: 1360, height: 900 },
    protocolTimeout: 60_000,
  });
}

export async function newPage(browser: Browser, colorScheme: "light" | "dark" = "light"): Promise<{ page: Page; pageErrors: string[] }> {
  const page = await browser.newPage();
  page.setDefaultTimeout(WAIT_MS);
  await page.emulateMediaFeatures([{ name: "prefers-color-scheme", value: colorScheme }]);
  const pageErrors: string[] = [];
  page.on("pageerror", (error) => pageErrors.push(String(error)));
  page.on("dialog", (dialog) => void dialog.accept());
  return { page, pageErrors };
}

export async function screenshot(page: Page, name: string): Promise<string> {
  mkdirSync(ARTIFACT_DIR, { recursive: true });
  const path = join(ARTIFACT_DIR, `${name}.png`);
  await page.screenshot({ path: path as `${string}.png`, fullPage: true });
  return path;
}

/** The admin listener's URL from the broker's start log (admin.listeners with port 0 picks a free port). */
export function adminUrl(broker: BrokerProcess): string {
  const match = /admin listener on (https?:\/\/[^\s]+?:\d+)/.exec(broker.output);
  if (!match) throw new Error(`no admin listener in the broker's log:\n${broker.output.slice(-2000)}`);
  return match[1]!;
}

/** The trimmed text of every element matching `selector`. */
export function texts(page: Page, selector: string): Promise<string[]> {
  return page.$$eval(selector, (elements) => elements.map((element) => (element.textContent ?? "").trim()));
}

/** Waits until the text of `selector` satisfies `accept` (re-read as the page polls), bounded by WAIT_MS. */
export async function waitForText(page: Page, selector: string, accept: (text: string) => boolean, what: string): Promise<string> {
  const deadline = Date.now() + WAIT_MS;
  let last = "";
  for (let attempt = 0; attempt < 200 && Date.now() < deadline; attempt++) {
    last = await page.$eval(selector, (element) => (element.textContent ?? "").trim()).catch(() => "");
    if (accept(last)) return last;
    await Bun.sleep(100);
  }
  throw new Error(`timed out waiting for ${what} (${selector} last read "${last}")`);
}
