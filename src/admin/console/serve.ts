// Serves the web console at /ui from the assets built into assets.generated.ts (nothing read from disk, so
// the compiled executable serves it too). The page and its scripts hold no cluster data, so they are served
// without a login; every call the page makes goes through the admin listener's authentication, and
// /ui/session.json tells the page whether to show its login form first.
import { CONSOLE_CSS, CONSOLE_JS } from "./assets.generated.ts";

const INDEX_HTML = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Bunka console</title>
<link rel="icon" href="data:,">
<link rel="stylesheet" href="/ui/app.css">
<script type="module" src="/ui/app.js"></script>
</head>
<body><div id="app"></div><noscript>The Bunka console needs JavaScript.</noscript></body>
</html>
`;

// Scripts only from the broker itself: an injected record value shown in the browser cannot load or run code.
const SECURITY_HEADERS = {
  "content-security-policy": "default-src 'self'; img-src 'self' data:; object-src 'none'; base-uri 'none'; frame-ancestors 'none'",
  "x-content-type-options": "nosniff",
  "referrer-policy": "no-referrer",
};

interface Asset {
  body: Uint8Array;
  gzipped: Uint8Array;
  contentType: string;
  etag: string;
}

function asset(text: string, contentType: string): Asset {
  const body = new TextEncoder().encode(text);
  return { body, gzipped: Bun.gzipSync(body, { level: 9 }), contentType, etag: `"${Bun.hash(body).toString(36)}"` };
}

let assets: Map<string, Asset> | null = null;

/** Built on first use: a broker that never serves the console spends nothing on it. */
function consoleAssets(): Map<string, Asset> {
  assets ??= new Map([
    ["/ui/", asset(INDEX_HTML, "text/html; charset=utf-8")],
    ["/ui/app.js", asset(CONSOLE_JS, "text/javascript; charset=utf-8")],
    ["/ui/app.css", asset(CONSOLE_CSS, "text/css; charset=utf-8")],
  ]);
  return assets;
}

export function isConsolePath(path: string): boolean {
  return path === "/" || path === "/ui" || path.startsWith("/ui/");
}

export function serveConsole(request: Request, path: string, authRequired: boolean): Response {
  if (path === "/" || path === "/ui") return new Response(null, { status: 308, headers: { location: "/ui/" } });
  if (request.method !== "GET" && request.method !== "HEAD") return new Response("the console is read with GET\n", { status: 405, headers: { allow: "GET, HEAD" } });
  if (path === "/ui/session.json") return Response.json({ authRequired }, { headers: { "cache-control": "no-store", ...SECURITY_HEADERS } });
  const found = consoleAssets().get(path);
  if (!found) return new Response(`no console page ${path}\n`, { status: 404, headers: { "content-type": "text/plain" } });
  const headers: Record<string, string> = { "content-type": found.contentType, "cache-control": "no-cache", etag: found.etag, vary: "accept-encoding", ...SECURITY_HEADERS };
  if (request.headers.get("if-none-match") === found.etag) return new Response(null, { status: 304, headers });
  if (/\bgzip\b/.test(request.headers.get("accept-encoding") ?? "")) return new Response(found.gzipped, { headers: { ...headers, "content-encoding": "gzip" } });
  return new Response(found.body, { headers });
}
