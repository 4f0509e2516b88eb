// Turns a frame into a reply: decode the header and body with the generated codecs, run the API's
// handler, encode the response header and body into one buffer (plus file ranges for fetch data).
import type { BrokerServices, ClientConnection, RequestContext, RequestTimer, RequestTrace } from "../api/context.ts";
import { exemptFromRequestQuota } from "../api/request-quota.ts";
import { newRequestTrace } from "../api/request-trace.ts";
import type { RegisteredHandler, ResponseBody } from "../api/handler.ts";
import { Reader, ProtocolDecodeError } from "../protocol/codec/reader.ts";
import { Writer } from "../protocol/codec/writer.ts";
import { ErrorCode, KafkaError } from "../protocol/errors.ts";
import { ApiKey, Apis, requestHeaderVersion, responseHeaderVersion } from "../protocol/generated/index.ts";
import { readRequestHeader, writeResponseHeader } from "../protocol/generated/headers.ts";
import type { ReplyChunks } from "./connection.ts";
import type { Frame } from "./frame-reader.ts";
import type { SaslAuthenticator } from "../security/sasl/authenticator.ts";
import type { MappedRecords } from "../log/segment-views.ts";
import { applyRequestFaults, shapeFaultedReply, type FaultedReply } from "../faults/request-faults.ts";
import type { FaultInjector } from "../faults/fault-injector.ts";

/**
 * The connection a request came on, as the dispatcher needs it: a socket on this thread (connection.ts) or
 * one a network shard holds (shards/shard-connection.ts).
 */
export interface DispatchedConnection extends ClientConnection {
  readonly id: number;
  /** SASL authentication succeeded: the pre-authentication frame bound is lifted. */
  onAuthenticated(): void;
  close(reason?: string): void;
}

/** Closing the connection is how Kafka answers a request it cannot parse (InvalidRequestException). */
export class InvalidRequestError extends Error {}

/**
 * `ready` returns a promise while the broker is still starting (requests wait for it), null once it serves.
 * `services` are the capabilities every handler's context carries. `faults` (src/faults/) cost one boolean
 * check per request while none is armed.
 */
export function createDispatcher(services: BrokerServices, handlers: ReadonlyMap<number, RegisteredHandler>, ready: () => Promise<void> | null, faults: FaultInjector | null = null) {
  const sasl = services.sasl;
  // Only connections not yet authenticated, or any connection when sessions expire (KIP-368), pass the gate.
  const reauthEnabled = sasl !== null && sasl.settings.reauthMs > 0;
  const traffic = services.traffic;
  return async function dispatch(connection: DispatchedConnection, frame: Frame): Promise<ReplyChunks> {
    // Before the startup wait: a request that waits for recovery counts it as queue time (and in its total).
    const dispatchedMs = traffic ? performance.now() : 0;
    const payload = frame.payload;
    // Created before the first await, so the connection finds it on the frame when dispatch returns.
    const trace = traffic && payload.byteLength >= 2 ? (frame.trace = newRequestTrace((payload[0]! << 8) | payload[1]!, frame.readMs ?? 0)) : null;
    const starting = ready();
    if (starting) await starting;
    if (sasl !== null && !connection.security.authenticated && sasl.expectsBareToken(connection.security)) return bareSaslToken(sasl, connection, payload);
    if (payload.byteLength < 8) throw new InvalidRequestError(`request of ${payload.byteLength} bytes is shorter than a request header`);
    const apiKey = (payload[0]! << 8) | payload[1]!;
    if (!connection.security.authenticated || reauthEnabled) checkSaslGate(sasl, connection, apiKey);
    // KIP-124: only while some entity has a request_percentage quota is the handling timed.
    const requestTimer: RequestTimer | null = services.quotas.requestQuotasInForce && !exemptFromRequestQuota(apiKey) ? { startedMs: performance.now(), syncMs: 0, exempt: false } : null;
    const apiVersion = ((payload[2]! << 8) | payload[3]!) << 16 >> 16;
    const handler = handlers.get(apiKey);
    if (!handler) throw new InvalidRequestError(`unknown API key ${apiKey}`);

    const supported = apiVersion >= handler.minVersion && apiVersion <= handler.maxVersion;
    if (!supported && apiKey !== ApiKey.ApiVersions) {
      throw new InvalidRequestError(`unsupported version ${apiVersion} of API ${handler.name} (supported ${handler.minVersion}-${handler.maxVersion})`);
    }

    const reader = new Reader(payload);
    let header;
    let request;
    try {
      // KIP-511: an ApiVersions request newer than we know is answered in v0 form; its body is not parsed.
      const headerVersion = supported ? requestHeaderVersion(apiKey, apiVersion) : 1;
      header = readRequestHeader(reader, headerVersion);
      request = supported ? handler.decode(reader, apiVersion) : null;
    } catch (error) {
      if (error instanceof ProtocolDecodeError) throw new InvalidRequestError(`malformed ${handler.name} v${apiVersion} request: ${error.message}`);
      throw error;
    }

    let body: ResponseBody | null;
    let faulted: FaultedReply | null = null;
    if (request) {
      const context: RequestContext = {
        ...services,
        connection,
        apiKey,
        apiVersion,
        correlationId: header.correlationId,
        clientId: header.clientId,
        frame,
        requestTimer,
        trace,
      };
      const handlerStartedMs = traffic ? performance.now() : 0;
      if (trace) trace.queueMs = handlerStartedMs - dispatchedMs;
      traffic?.queued(apiKey, (handlerStartedMs - dispatchedMs) / 1000);
      if (faults !== null && faults.armed) faulted = applyRequestFaults(faults, handler, context, payload);
      const running = faulted?.body !== undefined ? faulted.body : request.run(context);
      if (requestTimer) requestTimer.syncMs = performance.now() - requestTimer.startedMs;
      body = await running;
      if (trace) trace.handlerMs = performance.now() - handlerStartedMs;
    } else {
      const unsupported = { errorCode: ErrorCode.UNSUPPORTED_VERSION, apiKeys: [...services.advertisedApis] };
      body = (writer) => Apis.ApiVersions.writeResponse(writer, 0, unsupported);
    }
    traffic?.request(apiKey, (performance.now() - dispatchedMs) / 1000);
    if (body === null) return null;
    if (sasl !== null && (apiKey === ApiKey.SaslHandshake || apiKey === ApiKey.SaslAuthenticate)) afterSaslStep(sasl, connection);
    const responseVersion = supported ? apiVersion : 0;
    if (faulted) return shapeFaultedReply(faults!, faulted, connection, encodeResponse(apiKey, responseVersion, header.correlationId, body));
    if (!requestTimer || requestTimer.exempt) return encodeResponse(apiKey, responseVersion, header.correlationId, body);
    // Encoding counts too, against the next requests (Kafka's recordNetworkThreadTimeCallback).
    const encodingStartedMs = performance.now();
    const reply = encodeResponse(apiKey, responseVersion, header.correlationId, body);
    services.quotas.recordRequestTime(connection.security.principal, header.clientId, performance.now() - encodingStartedMs);
    return reply;
  };
}

/** What a connection may ask before SASL authentication (Kafka's SaslServerAuthenticator): nothing else. */
function isSaslGateApi(apiKey: number): boolean {
  return apiKey === ApiKey.ApiVersions || apiKey === ApiKey.SaslHandshake || apiKey === ApiKey.SaslAuthenticate;
}

/** Closes (by throwing) a connection that asks anything else before authenticating or after its session ended. */
function checkSaslGate(sasl: SaslAuthenticator | null, connection: DispatchedConnection, apiKey: number): void {
  if (isSaslGateApi(apiKey)) return;
  if (!connection.security.authenticated) throw new InvalidRequestError(`API key ${apiKey} before SASL authentication on listener ${connection.security.listener.name}`);
  if (sasl !== null && sasl.sessionExpired(connection.security)) throw new InvalidRequestError(`SASL session of ${connection.security.principal} expired (connections.max.reauth.ms=${sasl.settings.reauthMs})`);
}

/**
 * A failed attempt is answered, then the connection closes (the authenticator logged it once); a successful
 * one lifts the pre-authentication frame bound.
 */
function afterSaslStep(sasl: SaslAuthenticator, connection: DispatchedConnection): void {
  if (sasl.closeReason(connection.security) === null) {
    if (connection.security.authenticated) connection.onAuthenticated();
    return;
  }
  // The reply is queued when this dispatch resolves; closing on the next turn lets it go out first.
  setTimeout(() => connection.close(), 0);
}

/**
 * After SaslHandshake v0 the client sends each token as a bare size-prefixed frame (Kafka before KIP-152)
 * and gets the answer the same way; a failure just closes the connection, as Kafka does.
 */
async function bareSaslToken(sasl: SaslAuthenticator, connection: DispatchedConnection, token: Uint8Array): Promise<ReplyChunks> {
  const answer = await sasl.authenticate(connection, token);
  if (answer.errorCode !== ErrorCode.NONE) {
    setTimeout(() => connection.close(), 0);
    return null;
  }
  if (connection.security.authenticated) connection.onAuthenticated();
  const reply = new Uint8Array(4 + answer.authBytes.byteLength);
  new DataView(reply.buffer).setInt32(0, answer.authBytes.byteLength);
  reply.set(answer.authBytes, 4);
  return [reply];
}

/** The response as one heap buffer, or heap buffers interleaved with file ranges (fetch record data). */
export function encodeResponse(apiKey: number, apiVersion: number, correlationId: number, body: ResponseBody): (Uint8Array | MappedRecords)[] {
  const writer = new Writer();
  const sizeAt = writer.reserveInt32();
  writeResponseHeader(writer, responseHeaderVersion(apiKey, apiVersion), { correlationId });
  body(writer);
  writer.patchInt32(sizeAt, writer.sizeBytes - 4);
  // The only external records are fetch's MappedRecords; the connection writes them from the file.
  return writer.finish() as (Uint8Array | MappedRecords)[];
}

export { KafkaError };
