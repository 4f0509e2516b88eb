// Turns a frame into a reply: decode the header and body with the generated codecs, run the API's
// handler, encode the response header and body into one buffer (plus file ranges for fetch data).
import type { ApiHandler, RequestContext } from "../api/handler.ts";
import { Reader, ProtocolDecodeError } from "../protocol/codec/reader.ts";
import { Writer } from "../protocol/codec/writer.ts";
import { ErrorCode, KafkaError } from "../protocol/errors.ts";
import { apiSchemas, ApiKey, requestHeaderVersion, responseHeaderVersion } from "../protocol/generated/index.ts";
import { readRequestHeader, writeResponseHeader } from "../protocol/generated/headers.ts";
import type { Broker } from "./broker.ts";
import type { Connection, ReplyChunks } from "./connection.ts";
import type { Frame } from "./frame-reader.ts";
import type { MappedRecords } from "../log/segment-views.ts";

/** Closing the connection is how Kafka answers a request it cannot parse (InvalidRequestException). */
export class InvalidRequestError extends Error {}

export function createDispatcher(broker: Broker, handlers: ReadonlyMap<number, ApiHandler>) {
  return async function dispatch(connection: Connection, frame: Frame): Promise<ReplyChunks> {
    const starting = broker.ready;
    if (starting) await starting;
    const payload = frame.payload;
    if (payload.byteLength < 8) throw new InvalidRequestError(`request of ${payload.byteLength} bytes is shorter than a request header`);
    const apiKey = (payload[0]! << 8) | payload[1]!;
    const apiVersion = ((payload[2]! << 8) | payload[3]!) << 16 >> 16;
    const handler = handlers.get(apiKey);
    const schema = apiSchemas.get(apiKey);
    if (!handler || !schema) throw new InvalidRequestError(`unknown API key ${apiKey}`);

    const supported = apiVersion >= handler.minVersion && apiVersion <= handler.maxVersion;
    if (!supported && apiKey !== ApiKey.ApiVersions) {
      throw new InvalidRequestError(`unsupported version ${apiVersion} of API ${schema.name} (supported ${handler.minVersion}-${handler.maxVersion})`);
    }

    const reader = new Reader(payload);
    let header;
    let request: unknown;
    try {
      // KIP-511: an ApiVersions request newer than we know is answered in v0 form; its body is not parsed.
      const headerVersion = supported ? requestHeaderVersion(apiKey, apiVersion) : 1;
      header = readRequestHeader(reader, headerVersion);
      request = supported ? schema.readRequest(reader, apiVersion) : null;
    } catch (error) {
      if (error instanceof ProtocolDecodeError) throw new InvalidRequestError(`malformed ${schema.name} v${apiVersion} request: ${error.message}`);
      throw error;
    }

    const context: RequestContext = {
      broker,
      connection,
      apiKey,
      apiVersion,
      correlationId: header.correlationId,
      clientId: header.clientId,
      frame,
    };
    const response = supported ? await handler.handle(context, request) : { errorCode: ErrorCode.UNSUPPORTED_VERSION, apiKeys: broker.advertisedApis() };
    if (response === null) return null;
    const responseVersion = supported ? apiVersion : 0;
    return encodeResponse(apiKey, responseVersion, header.correlationId, response);
  };
}

/** The response as one heap buffer, or heap buffers interleaved with file ranges (fetch record data). */
function encodeResponse(apiKey: number, apiVersion: number, correlationId: number, body: object): (Uint8Array | MappedRecords)[] {
  const schema = apiSchemas.get(apiKey)!;
  const writer = new Writer();
  const sizeAt = writer.reserveInt32();
  writeResponseHeader(writer, responseHeaderVersion(apiKey, apiVersion), { correlationId });
  schema.writeResponse(writer, apiVersion, body);
  writer.patchInt32(sizeAt, writer.sizeBytes - 4);
  // The only external records are fetch's MappedRecords; the connection writes them from the file.
  return writer.finish() as (Uint8Array | MappedRecords)[];
}

export { KafkaError };
