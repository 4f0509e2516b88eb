// A minimal Kafka protocol client connection over Bun.connect: requests encoded with the generated
// codecs, responses matched by correlation id. Used by replication (followers fetch from leaders), the
// benchmark load generator and protocol tests. Not a full client: no metadata, no retries. Over TLS when
// given `tls` (the server's certificate is always verified), then logged in with SASL when given `sasl`.
import type { Socket } from "bun";
import { Reader } from "../protocol/codec/reader.ts";
import { Writer } from "../protocol/codec/writer.ts";
import { apiSchemas, requestHeaderVersion, responseHeaderVersion } from "../protocol/generated/index.ts";
import { readResponseHeader, writeRequestHeader } from "../protocol/generated/headers.ts";
import { authenticate } from "../security/sasl/client.ts";
import type { SaslMechanismName } from "../security/sasl/mechanism.ts";

interface PendingRequest {
  apiKey: number;
  apiVersion: number;
  resolve: (body: any) => void;
  reject: (error: Error) => void;
  timer: ReturnType<typeof setTimeout> | null;
  raw: boolean;
}

export class ConnectionClosedError extends Error {}

export interface KafkaConnectionOptions {
  host: string;
  port: number;
  clientId?: string;
  requestTimeoutMs?: number;
  connectTimeoutMs?: number;
  /** TLS: `ca` (PEM) the server's chain must lead to (system CAs when absent); `cert`/`key` a client certificate. */
  tls?: KafkaConnectionTls;
  /** SASL login right after connecting (and the TLS handshake); connect() fails when the broker refuses it. */
  sasl?: KafkaConnectionSasl;
}

export interface KafkaConnectionTls {
  ca?: string;
  cert?: string;
  key?: string;
  passphrase?: string;
  /** The name the server's certificate must carry (SNI too); default: the host connected to. */
  serverName?: string;
}

export interface KafkaConnectionSasl {
  mechanism: SaslMechanismName;
  username: string;
  password: string;
}

const DEFAULT_REQUEST_TIMEOUT_MS = 30_000;

export class KafkaConnection {
  private socket: Socket<undefined> | null = null;
  private readonly pending = new Map<number, PendingRequest>();
  private nextCorrelationId = 1;
  private readonly writeQueue: Uint8Array[] = [];
  private writeOffset = 0;
  private inbound: Uint8Array = new Uint8Array(0);
  private closedError: Error | null = null;
  private readonly clientId: string;
  private readonly requestTimeoutMs: number;

  private constructor(options: KafkaConnectionOptions) {
    this.clientId = options.clientId ?? "bunka";
    this.requestTimeoutMs = options.requestTimeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS;
  }

  static async connect(options: KafkaConnectionOptions): Promise<KafkaConnection> {
    const connection = new KafkaConnection(options);
    const connecting = Bun.connect<undefined>({
      hostname: options.host,
      port: options.port,
      ...(options.tls ? { tls: { ...options.tls, serverName: options.tls.serverName ?? options.host, rejectUnauthorized: true } } : {}),
      socket: {
        data: (_socket, chunk) => connection.onData(chunk),
        drain: () => connection.flush(),
        close: () => connection.onClose(new ConnectionClosedError(`connection to ${options.host}:${options.port} closed`)),
        error: (_socket, error) => connection.onClose(error),
        connectError: (_socket, error) => connection.onClose(error),
        // A server certificate that does not verify ends the connection: nothing is sent to an unproven server.
        handshake: (socket, success, authorizationError) => {
          if (success && !authorizationError) return;
          connection.onClose(new Error(`TLS handshake with ${options.host}:${options.port} failed: ${authorizationError?.message ?? "not authorized"}`));
          socket.end();
        },
      },
    });
    const timeoutMs = options.connectTimeoutMs ?? 10_000;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`connect to ${options.host}:${options.port} timed out after ${timeoutMs} ms`)), timeoutMs);
    });
    try {
      connection.socket = await Promise.race([connecting, timeout]);
      // The login shares the connect deadline: a broker that never answers it must not hang the caller.
      if (options.sasl) {
        const { mechanism, username, password } = options.sasl;
        await Promise.race([authenticate((apiKey, apiVersion, body) => connection.request(apiKey, apiVersion, body), mechanism, username, password), timeout]);
      }
    } catch (error) {
      connection.close();
      throw error;
    } finally {
      clearTimeout(timer);
    }
    return connection;
  }

  get closed(): boolean {
    return this.closedError !== null;
  }

  /**
   * Sends a request and resolves with the decoded response body (none for acks=0 produce: pass expectResponse=false).
   * `timeoutMs` overrides the connection's request timeout for requests the broker holds on purpose (JoinGroup
   * waits up to the rebalance timeout).
   */
  request<T = any>(apiKey: number, apiVersion: number, body: object, expectResponse = true, timeoutMs = this.requestTimeoutMs): Promise<T> {
    const correlationId = this.nextCorrelationId++;
    const writer = new Writer();
    const sizeAt = writer.reserveInt32();
    writeRequestHeader(writer, requestHeaderVersion(apiKey, apiVersion), { requestApiKey: apiKey, requestApiVersion: apiVersion, correlationId, clientId: this.clientId });
    apiSchemas.get(apiKey)!.writeRequest(writer, apiVersion, body);
    writer.patchInt32(sizeAt, writer.sizeBytes - 4);
    return this.send(writer.toUint8Array(), correlationId, apiKey, apiVersion, expectResponse, false, timeoutMs);
  }

  /** Sends pre-encoded frame bytes (size prefix included) whose correlation id is `correlationId`; resolves with the raw response payload. */
  sendRaw(frame: Uint8Array, correlationId: number, apiKey: number, apiVersion: number): Promise<Uint8Array> {
    return this.send(frame, correlationId, apiKey, apiVersion, true, true);
  }

  allocateCorrelationId(): number {
    return this.nextCorrelationId++;
  }

  private send<T>(bytes: Uint8Array, correlationId: number, apiKey: number, apiVersion: number, expectResponse: boolean, raw: boolean, timeoutMs = this.requestTimeoutMs): Promise<T> {
    if (this.closedError) return Promise.reject(this.closedError);
    return new Promise<T>((resolve, reject) => {
      if (expectResponse) {
        const timer = setTimeout(() => {
          this.pending.delete(correlationId);
          reject(new Error(`request ${apiKey} v${apiVersion} timed out after ${timeoutMs} ms`));
        }, timeoutMs);
        this.pending.set(correlationId, { apiKey, apiVersion, resolve, reject, timer, raw });
      }
      this.writeQueue.push(bytes);
      this.flush();
      if (!expectResponse) resolve(undefined as T);
    });
  }

  private flush(): void {
    const socket = this.socket;
    if (!socket) return;
    while (this.writeQueue.length > 0) {
      const bytes = this.writeQueue[0]!;
      const remaining = bytes.byteLength - this.writeOffset;
      const written = socket.write(bytes, this.writeOffset, remaining);
      if (written < 0) return;
      if (written < remaining) {
        this.writeOffset += written;
        return;
      }
      this.writeQueue.shift();
      this.writeOffset = 0;
    }
  }

  private onData(chunk: Uint8Array): void {
    let buffer = chunk;
    if (this.inbound.byteLength > 0) {
      buffer = new Uint8Array(this.inbound.byteLength + chunk.byteLength);
      buffer.set(this.inbound);
      buffer.set(chunk, this.inbound.byteLength);
    }
    let position = 0;
    while (buffer.byteLength - position >= 4) {
      const size = new DataView(buffer.buffer, buffer.byteOffset + position, 4).getInt32(0);
      if (buffer.byteLength - position - 4 < size) break;
      this.onFrame(buffer.subarray(position + 4, position + 4 + size));
      position += 4 + size;
    }
    this.inbound = position === buffer.byteLength ? new Uint8Array(0) : buffer.slice(position);
  }

  private onFrame(payload: Uint8Array): void {
    const correlationId = new DataView(payload.buffer, payload.byteOffset, 4).getInt32(0);
    const pending = this.pending.get(correlationId);
    if (!pending) return;
    this.pending.delete(correlationId);
    if (pending.timer) clearTimeout(pending.timer);
    if (pending.raw) {
      pending.resolve(payload);
      return;
    }
    try {
      const reader = new Reader(payload);
      readResponseHeader(reader, responseHeaderVersion(pending.apiKey, pending.apiVersion));
      pending.resolve(apiSchemas.get(pending.apiKey)!.readResponse(reader, pending.apiVersion));
    } catch (error) {
      pending.reject(error instanceof Error ? error : new Error(String(error)));
    }
  }

  private onClose(error: Error): void {
    if (this.closedError) return;
    this.closedError = error;
    for (const pending of this.pending.values()) {
      if (pending.timer) clearTimeout(pending.timer);
      pending.reject(error);
    }
    this.pending.clear();
  }

  close(): void {
    this.onClose(new ConnectionClosedError("closed by client"));
    this.socket?.end();
  }
}
