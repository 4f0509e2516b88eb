// What an API handler is: the versions it serves and a function from a decoded request to a response.
import type { Broker } from "../server/broker.ts";
import type { Connection } from "../server/connection.ts";
import type { Frame } from "../server/frame-reader.ts";

export interface RequestContext {
  readonly broker: Broker;
  readonly connection: Connection;
  readonly apiKey: number;
  readonly apiVersion: number;
  readonly correlationId: number;
  readonly clientId: string | null;
  /** The request's bytes; produce transfers its buffer to a worker when it owns it. */
  readonly frame: Frame;
}

export interface ApiHandler {
  readonly apiKey: number;
  /** The range advertised in ApiVersions: exactly what this handler implements. */
  readonly minVersion: number;
  readonly maxVersion: number;
  /** Returns the response body (fields left out take their schema defaults), or null for no reply (acks=0). */
  handle(context: RequestContext, request: any): Promise<object | null> | object | null;
}
