// The committed console bundle (src/admin/console/assets.generated.ts) is what `bun run build:console`
// makes from src/admin/console/ui/ and the installed Preact, htm and uPlot: a change to the sources without
// a rebuild fails here, as a protocol schema change without `bun run generate` does.
import { describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { buildConsoleAssets, GENERATED_PATH, renderGeneratedModule } from "../../src/admin/console/build.ts";
import { serveConsole } from "../../src/admin/console/serve.ts";

describe("console bundle", () => {
  test("the committed assets.generated.ts matches a fresh build of the sources", async () => {
    const fresh = renderGeneratedModule(await buildConsoleAssets());
    const committed = readFileSync(GENERATED_PATH, "utf8");
    if (committed !== fresh) throw new Error("src/admin/console/assets.generated.ts is stale: run `bun run build:console` and commit it");
    expect(committed).toBe(fresh);
  });

  test("serves the page, script and styles from memory, gzipped on request, behind a strict CSP", async () => {
    const index = serveConsole(new Request("http://127.0.0.1/ui/"), "/ui/", false);
    expect(index.status).toBe(200);
    expect(index.headers.get("content-security-policy")).toContain("default-src 'self'");
    expect(await index.text()).toContain('<script type="module" src="/ui/app.js">');

    const script = serveConsole(new Request("http://127.0.0.1/ui/app.js", { headers: { "accept-encoding": "gzip, br" } }), "/ui/app.js", false);
    expect(script.headers.get("content-encoding")).toBe("gzip");
    const plain = await serveConsole(new Request("http://127.0.0.1/ui/app.js"), "/ui/app.js", false).text();
    expect(Buffer.from(Bun.gunzipSync(new Uint8Array(await script.arrayBuffer()))).toString("utf8")).toBe(plain);

    const etag = script.headers.get("etag")!;
    expect(serveConsole(new Request("http://127.0.0.1/ui/app.js", { headers: { "if-none-match": etag } }), "/ui/app.js", false).status).toBe(304);
    expect(serveConsole(new Request("http://127.0.0.1/ui/../etc/passwd"), "/ui/../etc/passwd", false).status).toBe(404);
    expect(serveConsole(new Request("http://127.0.0.1/ui/", { method: "POST" }), "/ui/", false).status).toBe(405);
    expect(await serveConsole(new Request("http://127.0.0.1/ui/session.json"), "/ui/session.json", true).json()).toEqual({ authRequired: true });
  });
});
