// HTTP to etcd's grpc-gateway with Bun's fetch: one POST per call, JSON in and out, a timeout on every
// request, and the endpoints tried in order when one cannot be reached.
//
// Failover is careful about writes. A request that never left (connection refused) is safe to send to the
// next endpoint. A request whose outcome is unknown (timeout, connection reset mid-answer, etcd's own
// "Unavailable", which includes "request timed out") may have been applied; only callers that marked the
// request retry-safe (reads, keepalives, plain puts and deletes, which land in the same state when repeated)
// move on to the next endpoint. A txn is never repeated: its compare may fail the second time for the
// very reason that the first one succeeded.
//
// Security (docs/etcd.md "Securing etcd"): with `tls` every endpoint must be https and fetch verifies etcd's
// certificate against `tls.ca` (presenting `tls.cert`/`tls.key` for --client-cert-auth); with `credentials`
// the transport logs in (/v3/auth/authenticate) before its first call and sends the token in the
// Authorization header of every call and stream. A call refused because the token went stale (etcd's simple
// tokens expire after --auth-token-ttl of disuse and die with a restart) logs in again and is sent once more:
// etcd refused it before applying it, so even a txn may be repeated.
import { EtcdError, GrpcCode } from "./errors.ts";

/** Error codes Bun's fetch gives when the connection was never made, so nothing was sent. */
const UNSENT_CODES = new Set(["ECONNREFUSED", "ConnectionRefused", "FailedToOpenSocket", "ENOTFOUND", "EHOSTUNREACH", "ENETUNREACH", "EADDRNOTAVAIL"]);

/** PEM text (not paths): what Bun's fetch takes as `tls`. */
export interface EtcdTls {
  /** CAs that sign etcd's certificate; absent: the system's trust store. */
  ca?: string;
  /** Client certificate chain and key for etcd's --client-cert-auth. */
  cert?: string;
  key?: string;
}

export interface EtcdCredentials {
  username: string;
  password: string;
}

export interface TransportSecurity {
  tls?: EtcdTls;
  credentials?: EtcdCredentials;
  log?: (line: string) => void;
}

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
  private readonly tls: EtcdTls | undefined;
  private readonly credentials: EtcdCredentials | undefined;
  /** The auth token in use (credentials only), null until the first login and after etcd refused it. */
  private token: string | null = null;
  /** The login under way, shared by every call that needs a token meanwhile. */
  private login: Promise<string> | null = null;
  private logins = 0;

  constructor(
    endpoints: readonly string[],
    readonly requestTimeoutMs: number,
    private readonly security: TransportSecurity = {},
  ) {
    if (endpoints.length === 0) throw new RangeError("etcd: at least one endpoint is required");
    this.endpoints = endpoints.map((endpoint) => {
      const trimmed = endpoint.replace(/\/+$/, "");
      if (!/^https?:\/\/[^/\s]+$/.test(trimmed)) throw new RangeError(`etcd: endpoint must be http(s)://host:port, got ${JSON.stringify(endpoint)}`);
      return trimmed;
    });
    if (!(requestTimeoutMs > 0)) throw new RangeError(`etcd: requestTimeoutMs must be > 0, got ${requestTimeoutMs}`);
    this.tls = security.tls;
    this.credentials = security.credentials;
    // TLS settings with an http endpoint would send in clear what the operator meant to protect: refuse.
    const plain = this.tls ? this.endpoints.find((endpoint) => !endpoint.startsWith("https://")) : undefined;
    if (plain) throw new RangeError(`etcd: TLS is configured but endpoint ${plain} is not https://`);
    if (this.tls && (this.tls.cert === undefined) !== (this.tls.key === undefined)) throw new RangeError("etcd: a client certificate needs both its certificate and its key");
    if (this.credentials && !(this.credentials.username.length > 0)) throw new RangeError("etcd: credentials need a user name");
  }

  /** How many times this transport logged in to etcd (0 without credentials). */
  get loginCount(): number {
    return this.logins;
  }

  /**
   * Headers for a call or stream, with the current token (logging in first if there is none), and the
   * token itself so that the caller can report it stale.
   */
  async headers(): Promise<{ headers: Record<string, string>; token: string | null }> {
    if (!this.credentials) return { headers: JSON_HEADERS, token: null };
    const token = this.token ?? (await this.logIn());
    return { headers: { ...JSON_HEADERS, authorization: token }, token };
  }

  /** etcd refused `token`: the next call logs in again (unless another call already did). */
  forgetToken(token: string | null, reason: string): void {
    if (token === null || this.token !== token) return;
    this.token = null;
    this.security.log?.(`etcd: auth token refused (${reason}); logging in again as ${this.credentials!.username}`);
  }

  private logIn(): Promise<string> {
    this.login ??= this.authenticate().finally(() => (this.login = null));
    return this.login;
  }

  private async authenticate(): Promise<string> {
    const { username, password } = this.credentials!;
    let answer: { token?: string };
    try {
      answer = await this.withFailover<{ token?: string }>("/v3/auth/authenticate", { name: username, password }, { retrySafe: true }, (text, endpoint, status) => parseJson(text, endpoint, status), JSON_HEADERS);
    } catch (error) {
      if (error instanceof EtcdError && error.kind === "server") {
        throw new EtcdError(`etcd refused the login of user ${JSON.stringify(username)}: ${error.message}`, "auth", error.grpcCode, error.httpStatus, error.endpoint, { cause: error });
      }
      throw error;
    }
    // etcd answers a login without a token when its auth is not enabled: nothing to send then.
    if (typeof answer.token !== "string" || answer.token.length === 0) {
      throw new EtcdError(`etcd gave no auth token to user ${JSON.stringify(username)}: is auth enabled on etcd (etcdctl auth enable)?`, "auth");
    }
    this.logins++;
    this.token = answer.token;
    return answer.token;
  }

  /** Sends with the current token; a stale token is replaced once and the call sent again. */
  private async authorized<T>(send: (headers: Record<string, string>) => Promise<T>): Promise<T> {
    for (let attempt = 1; ; attempt++) {
      const { headers, token } = await this.headers();
      try {
        return await send(headers);
      } catch (error) {
        if (!(error instanceof EtcdError)) throw error;
        if (token !== null && error.isStaleToken && attempt === 1) {
          this.forgetToken(token, error.message);
          continue;
        }
        if (token === null && error.kind === "server" && error.message.includes("user name is empty")) {
          throw new EtcdError(`etcd has auth enabled and refuses anonymous calls: give Bunka a user (etcd.username and etcd.password): ${error.message}`, "auth", error.grpcCode, error.httpStatus, error.endpoint, { cause: error });
        }
        throw error;
      }
    }
  }

  /** A unary call: POST `path` with `body`, the parsed JSON answer. */
  async call<T>(path: string, body: unknown, options: CallOptions): Promise<T> {
    return this.authorized((headers) => this.withFailover(path, body, options, (text, endpoint, status) => parseJson<T>(text, endpoint, status), headers));
  }

  /**
   * A call to a streaming method with exactly one request (e.g. /v3/lease/keepalive): the gateway closes
   * its send side after our one body, etcd answers once, and the stream ends. The first object is the answer.
   */
  async callStreamOnce<T>(path: string, body: unknown, options: CallOptions): Promise<T> {
    return this.authorized((headers) => this.withFailover(path, body, options, (text, endpoint, status) => {
      const line = text.split("\n", 1)[0] ?? "";
      const message = parseJson<{ result?: T; error?: StreamErrorBody }>(line, endpoint, status);
      if (message.error) throw streamError(message.error, endpoint);
      if (!message.result) throw new EtcdError(`etcd ${path}: stream ended without a result`, "protocol", null, status, endpoint);
      return message.result;
    }, headers, true));
  }

  /**
   * Opens a long-lived streaming POST (watch) and returns once etcd's response headers arrived. The caller
   * owns `signal` for the stream's whole life; `connectTimeoutMs` bounds only getting the headers;
   * `idleTimeoutMs` (Bun's per-request socket idle timer) ends a stream on which nothing arrived for that long.
   */
  async openStream(path: string, body: unknown, signal: AbortSignal, connectTimeoutMs: number, idleTimeoutMs: number): Promise<{ response: Response; endpoint: string; token: string | null }> {
    // A stale token shows only inside the stream (a watch canceled "invalid auth token"): the caller reports it.
    const { headers, token } = await this.headers();
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
        const response = await fetch(endpoint + path, { method: "POST", body: JSON.stringify(body), headers, signal: connect.signal, timeout: idleTimeoutMs, tls: this.tls });
        clearTimeout(timer);
        if (!response.ok) {
          const text = await response.text().catch(() => "");
          throw serverError(text, endpoint, response.status, path);
        }
        this.preferredIndex = index;
        return { response, endpoint, token };
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
    headers: Record<string, string>,
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
        const response = await fetch(endpoint + path, { method: "POST", body: payload, headers, signal: AbortSignal.timeout(timeoutMs), tls: this.tls });
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
  // etcd with --client-cert-auth ends the handshake of a client without an acceptable certificate; fetch only
  // says the handshake failed.
  const code = (error as { code?: unknown } | null)?.code;
  const hint = endpoint.startsWith("https://") && (code === "EPROTO" || /handshake/i.test(detail))
    ? " (the TLS handshake with etcd failed: does etcd require a client certificate (--client-cert-auth) that is missing or not signed by its --trusted-ca-file?)"
    : "";
  return new EtcdError(`etcd ${path} at ${endpoint}: ${detail}${hint}`, "unreachable", null, null, endpoint, { cause: error });
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
  // etcd 3.4 refuses gateway calls over a client certificate with a CN while its auth is on (the gateway would
  // act as the CN's user without checking it): say what to change.
  const hint = text.includes("CommonName of client") ? " (etcd 3.4 with auth enabled refuses gateway calls over a client certificate with a CommonName: use a client certificate without CN, or TLS without --client-cert-auth)" : "";
  return new EtcdError(`etcd ${path} at ${endpoint}: HTTP ${status} ${text.slice(0, 200).trim()}${hint}`, "server", null, status, endpoint);
}

export function streamError(body: StreamErrorBody, endpoint: string): EtcdError {
  return new EtcdError(body.message ?? "etcd stream error", "server", body.grpc_code ?? null, body.http_code ?? null, endpoint);
}
