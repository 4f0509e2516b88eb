// The console's one way to the broker: JSON calls under /api/v1 and the /metrics text, with the HTTP Basic
// login when the admin listener requires one. credentials: "omit" keeps the browser from popping its own
// password dialog on a 401 (the console shows its login form instead); the Authorization header is still sent.

const CREDENTIALS_KEY = "bunka.console.basic";

export class UnauthorizedError extends Error {}

export const session = {
  get basic() {
    return sessionStorage.getItem(CREDENTIALS_KEY);
  },
  login(user, password) {
    const bytes = new TextEncoder().encode(`${user}:${password}`);
    sessionStorage.setItem(CREDENTIALS_KEY, btoa(String.fromCharCode(...bytes)));
  },
  logout() {
    sessionStorage.removeItem(CREDENTIALS_KEY);
  },
};

async function request(method, path, body) {
  const headers = {};
  if (session.basic) headers.authorization = `Basic ${session.basic}`;
  if (body !== undefined) headers["content-type"] = "application/json";
  const response = await fetch(path, { method, headers, credentials: "omit", body: body === undefined ? undefined : JSON.stringify(body) });
  if (response.status === 401) throw new UnauthorizedError("authentication required");
  return response;
}

export async function api(method, path, body) {
  const response = await request(method, `/api/v1${path}`, body);
  const parsed = await response.json().catch(() => null);
  if (!response.ok) throw new Error(parsed?.message ?? `${method} ${path}: HTTP ${response.status}`);
  return parsed;
}

/** What the console's page needs to know before anything else: whether to show the login. */
export async function consoleSession() {
  const response = await fetch("/ui/session.json", { credentials: "omit" });
  return response.json();
}

/** The Prometheus text exposition as [{name, labels, value}] (comments and malformed lines skipped). */
export async function scrapeMetrics() {
  const response = await request("GET", "/metrics");
  if (!response.ok) throw new Error(`/metrics: HTTP ${response.status}`);
  return parseMetrics(await response.text());
}

const SAMPLE = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)/;
const LABEL = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g;

export function parseMetrics(text) {
  const samples = [];
  for (const line of text.split("\n")) {
    if (line === "" || line.startsWith("#")) continue;
    const match = SAMPLE.exec(line);
    if (!match) continue;
    const labels = {};
    for (const label of (match[2] ?? "").matchAll(LABEL)) labels[label[1]] = label[2].replace(/\\(.)/g, (_, c) => (c === "n" ? "\n" : c));
    samples.push({ name: match[1], labels, value: Number(match[3]) });
  }
  return samples;
}
