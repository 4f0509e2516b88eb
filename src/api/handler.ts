// What an API handler is: the API's generated schema, the versions it serves, and a function from the
// decoded request type to the response type. `defineHandler` ties the three together so tsc checks them.
import type { Reader } from "../protocol/codec/reader.ts";
import type { Input } from "../protocol/codec/input.ts";
import type { Writer } from "../protocol/codec/writer.ts";
import type { ApiSchema } from "../protocol/generated/index.ts";
import type { AdvertisedApi, RequestContext } from "./context.ts";
import { applyRequestQuota } from "./request-quota.ts";

export type { RequestContext } from "./context.ts";

/**
 * A handler's answer: the response with every field optional (the generated writer fills a missing field
 * with its schema default), or null for no reply at all (acks=0). Handlers declare it as their return type,
 * `Promise<Reply<XResponse>>`: a declared type is what makes tsc refuse a misspelled field in the literal.
 */
export type Reply<Response> = Input<Response> | null;

export interface HandlerSpec<Request, Response> {
  /** The range advertised in ApiVersions: exactly what this handler implements. */
  readonly minVersion: number;
  readonly maxVersion: number;
  /**
   * The highest version ApiVersions advertises when lower than maxVersion: the versions above it are served to
   * a client that asks but not offered, because a client would take them to imply another API's versions
   * that are not here yet (see metadata.ts).
   */
  readonly advertisedMaxVersion?: number;
  handle(context: RequestContext, request: Request): Promise<Reply<Response>> | Reply<Response>;
}

/** A decoded request bound to its handler: running it yields the encoder of the reply, or null for none. */
export interface DecodedRequest {
  run(context: RequestContext): Promise<ResponseBody | null>;
}

/** Writes a response body at the version it was decoded with. */
export type ResponseBody = (writer: Writer) => void;

/** A handler as the dispatcher sees it: its types are kept inside `decode`, which pairs request and response. */
export interface RegisteredHandler extends AdvertisedApi {
  readonly name: string;
  /** What ApiVersions offers as the maximum (maxVersion unless the spec holds some versions back). */
  readonly advertisedMaxVersion: number;
  /** Decodes the request body (throws ProtocolDecodeError when malformed). */
  decode(reader: Reader, version: number): DecodedRequest;
}

export interface ApiHandler<Request, Response> extends RegisteredHandler {
  readonly schema: ApiSchema<Request, Response>;
  handle(context: RequestContext, request: Request): Promise<Reply<Response>> | Reply<Response>;
}

export function defineHandler<Request, Response>(schema: ApiSchema<Request, Response>, spec: HandlerSpec<NoInfer<Request>, NoInfer<Response>>): ApiHandler<Request, Response> {
  if (spec.minVersion < schema.minVersion || spec.maxVersion > schema.maxVersion || spec.minVersion > spec.maxVersion) {
    throw new Error(`${schema.name} handler serves v${spec.minVersion}-${spec.maxVersion}, outside the schema's v${schema.minVersion}-${schema.maxVersion}`);
  }
  const handle = spec.handle.bind(spec);
  return {
    schema,
    apiKey: schema.apiKey,
    name: schema.name,
    minVersion: spec.minVersion,
    maxVersion: spec.maxVersion,
    advertisedMaxVersion: Math.min(spec.advertisedMaxVersion ?? spec.maxVersion, spec.maxVersion),
    handle,
    decode(reader, version) {
      const request = schema.readRequest(reader, version);
      return {
        async run(context) {
          let reply = await handle(context, request);
          if (context.requestTimer) reply = applyRequestQuota(context, request, reply);
          if (reply === null) return null;
          return (writer) => schema.writeResponse(writer, version, reply);
        },
      };
    },
  };
}

/** The ranges ApiVersions advertises, by api key. */
export function advertisedApis(handlers: Iterable<RegisteredHandler>): AdvertisedApi[] {
  return [...handlers].map(({ apiKey, minVersion, advertisedMaxVersion }) => ({ apiKey, minVersion, maxVersion: advertisedMaxVersion })).sort((a, b) => a.apiKey - b.apiKey);
}
