// HTTP to etcd's grpc-gateway with Bun's fetch: one POST per call, JSON in and out, a timeout on every
// request, and the endpoints tried in order when one cannot be reached.
//
// Failover is careful about writes. A request that never left (connection refused) is safe to send to the
// next endpoint. A request whose outcome is unknown (timeout, connection reset mid-answer, etcd's own
// "Unavailable", which includes "request timed out") may have been applied; only callers that marked the
// request retry-safe (reads, keepalives, plain puts and deletes, which land in the same state when repeated)
// move on to the next endpoint. A txn is never repeated: its compare may fail the second time for the
// very reason that the first one succeeded.
import { EtcdError, GrpcCode } from "./errors.ts";

/** Error codes Bun's fetch gives when the connection was never made, so nothing was sent. */
const UNSENT_CODES = new Set(["ECONNREFUSED", "ConnectionRefused", "FailedToOpenSocket", "ENOTFOUND", "EHOSTUNREACH", "ENETUNREACH", "EADDRNOTAVAIL"]);

export interface CallOptions {
  /** Repeat on the next endpoint even when the first attempt may have been applied. */
  retrySafe: boolean;
  /** Overrides the client's requestTimeoutMs for this call. */
  timeoutMs?: number;
}

/** The gateway's error body for unary calls: {"error": "...", "message": "...", "code": 5}. */
interface GatewayErrorBody {
  error?: string | StreamErrorBody;
  message?: string;
  code?: number;
}

/** The gateway's error object inside a stream: {"error": {"grpc_code", "http_code", "message", "http_status"}}. */
export interface StreamErrorBody {
  grpc_code?: number;
  http_code?: number;
  message?: string;
  http_status?: string;
}

export class GatewayTransport {
  readonly endpoints: readonly string[];
  /** Index of the endpoint that answered last; calls start there. */
  private preferredIndex = 0;

  constructor(
    endpoints: readonly string[],
    readonly requestTimeoutMs: number,
  ) {
    if (endpoints.length === 0) throw new RangeError("etcd: at least one endpoint is required");
    this.endpoints = endpoints.map((endpoint) => {
      const trimmed = endpoint.replace(/\/+$/, "");
      if (!/^https?:\/\/[^/\s]+$/.test(trimmed)) throw new RangeError(`etcd: endpoint must be http(s)://host:port, got ${JSON.stringify(endpoint)}`);
      return trimmed;
    });
    if (!(requestTimeoutMs > 0)) throw new RangeError(`etcd: requestTimeoutMs must be > 0, got ${requestTimeoutMs}`);
  }

  /** A unary call: POST `path` with `body`, the parsed JSON answer. */
  async call<T>(path: string, body: unknown, options: CallOptions): Promise<T> {
    return this.withFailover(path, body, options, (text, endpoint, status) => parseJson<T>(text, endpoint, status));
  }

  /**
   * A call to a streaming method with exactly one request (e.g. /v3/lease/keepalive): the gateway closes
   * its send side after our one body, etcd answers once, and the stream ends. The first object is the answer.
   */
  async callStreamOnce<T>(path: string, body: unknown, options: CallOptions): Promise<T> {
    return this.withFailover(path, body, options, (text, endpoint, status) => {
      const line = text.split("\n", 1)[0] ?? "";
      const message = parseJson<{ result?: T; error?: StreamErrorBody }>(line, endpoint, status);
      if (message.error) throw streamError(message.error, endpoint);
      if (!message.result) throw new EtcdError(`etcd ${path}: stream ended without a result`, "protocol", null, status, endpoint);
      return message.result;
    }, true);
  }

  /**
   * Opens a long-lived streaming POST (watch) and returns once etcd's response headers arrived. The caller
   * owns `signal` for the stream's whole life; `connectTimeoutMs` bounds only getting the headers;
   * `idleTimeoutMs` (Bun's per-request socket idle timer) ends a stream on which nothing arrived for that long.
   */
  async openStream(path: string, body: unknown, signal: AbortSignal, connectTimeoutMs: number, idleTimeoutMs: number): Promise<{ response: Response; endpoint: string }> {
    let lastError: EtcdError | null = null;
    for (let attempt = 0; attempt < this.endpoints.length; attempt++) {
      const index = (this.preferredIndex + attempt) % this.endpoints.length;
      const endpoint = this.endpoints[index]!;
      const connect = new AbortController();
      const onAbort = () => connect.abort(signal.reason);
      signal.addEventListener("abort", onAbort, { once: true });
      const timer = setTimeout(() => connect.abort(new DOMException("etcd stream connect timed out", "TimeoutError")), connectTimeoutMs);
      try {
        if (signal.aborted) throw signal.reason;
        // The same controller aborts the body later: the caller's signal stays wired to it.
        const response = await fetch(endpoint + path, { method: "POST", body: JSON.stringify(body), headers: JSON_HEADERS, signal: connect.signal, timeout: idleTimeoutMs });
        clearTimeout(timer);
        if (!response.ok) {
          const text = await response.text().catch(() => "");
          throw serverError(text, endpoint, response.status, path);
        }
        this.preferredIndex = index;
        return { response, endpoint };
      } catch (error) {
        clearTimeout(timer);
        signal.removeEventListener("abort", onAbort);
        if (signal.aborted) throw new EtcdError(`etcd ${path}: canceled`, "canceled", null, null, endpoint, { cause: error });
        lastError = error instanceof EtcdError ? error : networkError(error, endpoint, path, connectTimeoutMs);
        if (lastError.kind === "server") throw lastError;
      }
    }
    throw lastError!;
  }

  private async withFailover<T>(
    path: string,
    body: unknown,
    options: CallOptions,
    parse: (text: string, endpoint: string, status: number) => T,
    firstLineOnly = false,
  ): Promise<T> {
    const timeoutMs = options.timeoutMs ?? this.requestTimeoutMs;
    const payload = JSON.stringify(body);
    let lastError: EtcdError | null = null;
    for (let attempt = 0; attempt < this.endpoints.length; attempt++) {
      const index = (this.preferredIndex + attempt) % this.endpoints.length;
      const endpoint = this.endpoints[index]!;
      let sent = false;
      try {
        const response = await fetch(endpoint + path, { method: "POST", body: payload, headers: JSON_HEADERS, signal: AbortSignal.timeout(timeoutMs) });
        sent = true;
        // A stream's first message is the answer; do not depend on etcd ending the stream after it.
        const text = firstLineOnly && response.ok ? await readFirstLine(response) : await response.text();
        if (!response.ok) throw serverError(text, endpoint, response.status, path);
        this.preferredIndex = index;
        return parse(text, endpoint, response.status);
      } catch (error) {
        if (error instanceof EtcdError) {
          lastError = error;
          // "Unavailable" (no leader, request timed out) is worth another member, if repeating is safe.
          if (!(error.kind === "server" && error.grpcCode === GrpcCode.UNAVAILABLE && options.retrySafe)) throw error;
          continue;
        }
        lastError = networkError(error, endpoint, path, timeoutMs);
        const unsent = !sent && isUnsent(error);
        if (!unsent && !options.retrySafe) throw lastError;
      }
    }
    throw lastError!;
  }
}

const JSON_HEADERS = { "content-type": "application/json" };
/** Bound on the one answer read from a streaming method (a keepalive answer is about 150 characters). */
const FIRST_LINE_CHARS_MAX = 64 * 1024;

async function readFirstLine(response: Response): Promise<string> {
  if (!response.body) return "";
  const decoder = new TextDecoder();
  let text = "";
  const reader = response.body.getReader();
  try {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return text + decoder.decode();
      text += decoder.decode(value, { stream: true });
      const newline = text.indexOf("\n");
      if (newline >= 0) return text.slice(0, newline);
      if (text.length > FIRST_LINE_CHARS_MAX) throw new EtcdError(`etcd stream answer longer than ${FIRST_LINE_CHARS_MAX} characters`, "protocol");
    }
  } finally {
    reader.cancel().catch(() => {});
  }
}

function isUnsent(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === "string" && UNSENT_CODES.has(code);
}

function networkError(error: unknown, endpoint: string, path: string, timeoutMs: number): EtcdError {
  const name = (error as { name?: unknown } | null)?.name;
  if (name === "TimeoutError") return new EtcdError(`etcd ${path} at ${endpoint}: no answer in ${timeoutMs} ms`, "timeout", null, null, endpoint, { cause: error });
  const detail = error instanceof Error ? error.message : String(error);
  return new EtcdError(`etcd ${path} at ${endpoint}: ${detail}`, "unreachable", null, null, endpoint, { cause: error });
}

function parseJson<T>(text: string, endpoint: string, status: number): T {
  try {
    return JSON.parse(text) as T;
  } catch (cause) {
    throw new EtcdError(`etcd at ${endpoint}: answer is not JSON: ${text.slice(0, 200)}`, "protocol", null, status, endpoint, { cause });
  }
}

function serverError(text: string, endpoint: string, status: number, path: string): EtcdError {
  let body: GatewayErrorBody | null = null;
  try {
    body = JSON.parse(text) as GatewayErrorBody;
  } catch {
    // Not the gateway's JSON (e.g. a plain "404 Not Found" for an unknown path).
  }
  if (body && typeof body.error === "object") return streamError(body.error, endpoint);
  if (body && (body.message !== undefined || body.code !== undefined)) {
    return new EtcdError(body.message ?? String(body.error), "server", body.code ?? null, status, endpoint);
  }
  return new EtcdError(`etcd ${path} at ${endpoint}: HTTP ${status} ${text.slice(0, 200).trim()}`, "server", null, status, endpoint);
}

export function streamError(body: StreamErrorBody, endpoint: string): EtcdError {
  return new EtcdError(body.message ?? "etcd stream error", "server", body.grpc_code ?? null, body.http_code ?? null, endpoint);
}
