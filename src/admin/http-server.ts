// The admin HTTP listener (admin.listeners, off unless set): /healthz, /readyz, /metrics, the JSON admin API
// under /api/v1/ and HTTP produce/consume, served by Bun.serve on the socket thread. It starts before the
// logs are recovered, so /healthz answers and /readyz says 503 while the broker is still starting.
import { readFileSync } from "node:fs";
import type { Server } from "bun";
import type { AdminBrokerView } from "./broker-view.ts";
import { AdminAuthenticator } from "./auth.ts";
import { isConsolePath, serveConsole } from "./console/serve.ts";
import { errorResponse, handleJsonApi, json } from "./json-api.ts";
import { BrokerMetrics } from "./metrics.ts";
import { AdminRequestError } from "./records.ts";
import { handleRestProxy } from "./rest-proxy.ts";
import { handleFaultsApi } from "./faults-api.ts";

export interface AdminListenerAddress {
  tls: boolean;
  host: string;
  port: number;
}

/** `http://host:port` or `https://host:port` (IPv6 hosts in brackets). */
export function parseAdminListener(value: string): AdminListenerAddress {
  const match = /^(https?):\/\/\[?([^\]/]*?)\]?:(\d{1,5})\/?$/.exec(value.trim());
  if (!match || Number(match[3]) > 65535) throw new Error(`config: cannot parse admin.listeners "${value}" (expected http://host:port or https://host:port, e.g. http://127.0.0.1:9644)`);
  return { tls: match[1] === "https", host: match[2]!, port: Number(match[3]) };
}

const isLoopback = (host: string): boolean => host === "localhost" || host === "::1" || /^127\./.test(host);

export class AdminServer {
  private constructor(
    private readonly server: Server<undefined>,
    private readonly metrics: BrokerMetrics,
    readonly address: AdminListenerAddress,
  ) {}

  /**
   * Starts the listener when admin.listeners is set; null otherwise. Fails closed: with security on, Basic
   * credentials must not cross a network in clear text, so a plain http listener must be on loopback.
   */
  static start(view: AdminBrokerView): AdminServer | null {
    const setting = view.config.properties["admin.listeners"] ?? "";
    if (setting.trim() === "") return null;
    const address = parseAdminListener(setting);
    const keystore = view.config.properties["admin.ssl.keystore.location"] ?? "";
    if (address.tls && keystore === "") throw new Error("config: admin.listeners is https but admin.ssl.keystore.location is not set (a PEM file with the key and certificate)");
    if (view.securityEnabled && !address.tls && !isLoopback(address.host))
      throw new Error(`config: security is on (an authorizer or a SASL listener) and admin.listeners ${setting} is plain http on a non-loopback address: HTTP Basic passwords would cross the network in clear text; use https:// with admin.ssl.keystore.location, or a loopback address`);
    const authenticator = new AdminAuthenticator(view);
    const metrics = new BrokerMetrics(view);
    const maxBodyBytes = Number(view.config.properties["admin.request.max.bytes"] ?? 1_048_576);
    let pem: string | null = null;
    if (address.tls) {
      try {
        pem = readFileSync(keystore, "utf8");
      } catch (error) {
        throw new Error(`config: admin.ssl.keystore.location ${keystore} cannot be read: ${error instanceof Error ? error.message : String(error)}`);
      }
    }
    const server = Bun.serve({
      hostname: address.host,
      port: address.port,
      maxRequestBodySize: maxBodyBytes,
      ...(pem ? { tls: { key: pem, cert: pem } } : {}),
      fetch: async (request, server) => {
        try {
          view.catchUp();
          return await route(view, authenticator, metrics, request, server.requestIP(request)?.address ?? "", maxBodyBytes);
        } catch (error) {
          if (!(error instanceof AdminRequestError)) view.log(`admin ${request.method} ${new URL(request.url).pathname} failed: ${error instanceof Error ? error.stack : String(error)}`);
          return errorResponse(error);
        }
      },
      error: (error) => errorResponse(error),
    });
    view.log(`admin listener on ${address.tls ? "https" : "http"}://${address.host}:${server.port} (/ui, /metrics, /healthz, /readyz, /api/v1)${view.securityEnabled ? ", HTTP Basic required" : ""}`);
    return new AdminServer(server as Server<undefined>, metrics, address);
  }

  get port(): number {
    return this.server.port ?? this.address.port;
  }

  get url(): string {
    const host = this.address.host.includes(":") ? `[${this.address.host}]` : this.address.host;
    return `${this.address.tls ? "https" : "http"}://${host}:${this.port}`;
  }

  stop(): void {
    this.metrics.stop();
    this.server.stop(true);
  }
}

/** Partitions this broker replicates, whose leader is another live broker, and whose ISR does not include it. */
function partitionsBehind(view: AdminBrokerView): string[] {
  const nodeId = view.config.nodeId;
  const behind: string[] = [];
  for (const topic of view.topics.list()) {
    for (const assignment of topic.partitions) {
      if (assignment.leader < 0 || assignment.leader === nodeId || !assignment.replicas.includes(nodeId)) continue;
      if (!assignment.isr.includes(nodeId)) behind.push(`${topic.name}-${assignment.partition}`);
    }
  }
  return behind;
}

async function route(view: AdminBrokerView, authenticator: AdminAuthenticator, metrics: BrokerMetrics, request: Request, remoteIp: string, maxBodyBytes: number): Promise<Response> {
  const url = new URL(request.url);
  const path = url.pathname;
  // The console's page and scripts carry no cluster data: served without a login, which the page asks for.
  if (isConsolePath(path)) return serveConsole(request, path, authenticator.required);
  const identity = await authenticator.authenticate(request, path, remoteIp);
  if (identity instanceof Response) return identity;
  if (path === "/healthz") return new Response("ok\n", { headers: { "content-type": "text/plain" } });
  if (path === "/readyz") {
    const listenersUp = view.listeners().length > 0;
    const serving = view.isReady();
    // In a cluster, also caught up: in the ISR of every partition it follows whose leader is up.
    const behind = serving && !view.singleNode ? partitionsBehind(view) : [];
    const ready = serving && listenersUp && behind.length === 0;
    return json({ ready, checks: { logsLoaded: serving, listenersUp, registered: serving, caughtUp: serving && behind.length === 0 }, behind: behind.slice(0, 20) }, ready ? 200 : 503);
  }
  if (path === "/metrics") {
    // OpenMetrics only when the scraper asks for it (Prometheus does, with a q-value below 1).
    const openMetrics = (request.headers.get("accept") ?? "").includes("application/openmetrics-text");
    const rendered = await metrics.render(openMetrics);
    return new Response(rendered.body, { headers: { "content-type": rendered.contentType } });
  }
  const segments = path.split("/").filter(Boolean).map(decodeURIComponent);
  const body = async (): Promise<unknown> => {
    const declared = Number(request.headers.get("content-length") ?? 0);
    if (declared > maxBodyBytes) throw new AdminRequestError(413, `request body of ${declared} bytes: admin.request.max.bytes is ${maxBodyBytes}`);
    const text = await request.text();
    if (text.length > maxBodyBytes) throw new AdminRequestError(413, `request body larger than admin.request.max.bytes (${maxBodyBytes})`);
    try {
      return JSON.parse(text);
    } catch {
      throw new AdminRequestError(400, "the body is not JSON");
    }
  };
  const call = { method: request.method, query: url.searchParams, headers: request.headers, body, connection: identity };
  if (!view.isReady()) throw new AdminRequestError(503, "the broker is still starting (see /readyz)");
  if (segments[0] === "api" && segments[1] === "v1" && segments[2] === "faults") return handleFaultsApi(view, { ...call, segments: segments.slice(3) });
  if (segments[0] === "api" && segments[1] === "v1") return handleJsonApi(view, { ...call, segments: segments.slice(2) });
  const proxied = await handleRestProxy(view, { ...call, segments });
  if (proxied) return proxied;
  throw new AdminRequestError(404, `no ${request.method} ${path}`);
}
