// Kafka request/response frames for the load generator and the transfer tests, built with the generated
// codecs: a request is encoded once and re-sent with only its correlation id patched.
import { Reader } from "../src/protocol/codec/reader.ts";
import { Writer } from "../src/protocol/codec/writer.ts";
import { apiSchemas, requestHeaderVersion, responseHeaderVersion } from "../src/protocol/generated/index.ts";
import { readResponseHeader, writeRequestHeader } from "../src/protocol/generated/headers.ts";

/** Byte position of the correlation id in an encoded request frame (size, api key, api version, id). */
export const REQUEST_CORRELATION_ID_AT = 8;

/** A whole request frame, size prefix included. */
export function encodeRequest(apiKey: number, apiVersion: number, correlationId: number, body: object, clientId = "bunka-bench"): Uint8Array {
  const writer = new Writer();
  const sizeAt = writer.reserveInt32();
  writeRequestHeader(writer, requestHeaderVersion(apiKey, apiVersion), { requestApiKey: apiKey, requestApiVersion: apiVersion, correlationId, clientId });
  apiSchemas.get(apiKey)!.writeRequest(writer, apiVersion, body);
  writer.patchInt32(sizeAt, writer.sizeBytes - 4);
  return writer.toUint8Array();
}

export function patchCorrelationId(frame: Uint8Array, correlationId: number): void {
  frame[REQUEST_CORRELATION_ID_AT] = correlationId >>> 24;
  frame[REQUEST_CORRELATION_ID_AT + 1] = (correlationId >>> 16) & 0xff;
  frame[REQUEST_CORRELATION_ID_AT + 2] = (correlationId >>> 8) & 0xff;
  frame[REQUEST_CORRELATION_ID_AT + 3] = correlationId & 0xff;
}

/** The correlation id of a response payload (the bytes after the size prefix). */
export function responseCorrelationId(payload: Uint8Array): number {
  return ((payload[0]! << 24) | (payload[1]! << 16) | (payload[2]! << 8) | payload[3]!) | 0;
}

/** Decodes a response payload (after the size prefix) with the generated codec. */
export function decodeResponse<T = any>(apiKey: number, apiVersion: number, payload: Uint8Array): T {
  const reader = new Reader(payload);
  readResponseHeader(reader, responseHeaderVersion(apiKey, apiVersion));
  return apiSchemas.get(apiKey)!.readResponse(reader, apiVersion) as T;
}

/** Splits a byte stream into response payloads; returns the payloads and how many bytes they used. */
export function splitFrames(bytes: Uint8Array, maxFrames = 1_000_000): { payloads: Uint8Array[]; usedBytes: number } {
  const payloads: Uint8Array[] = [];
  let position = 0;
  while (payloads.length < maxFrames && bytes.byteLength - position >= 4) {
    const size = ((bytes[position]! << 24) | (bytes[position + 1]! << 16) | (bytes[position + 2]! << 8) | bytes[position + 3]!) | 0;
    if (size < 0) throw new Error(`negative frame size ${size} at ${position}`);
    if (bytes.byteLength - position - 4 < size) break;
    payloads.push(bytes.subarray(position + 4, position + 4 + size));
    position += 4 + size;
  }
  return { payloads, usedBytes: position };
}

/** Concatenates chunks (tests and tools only). */
export function concatBytes(chunks: readonly Uint8Array[]): Uint8Array {
  let total = 0;
  for (const chunk of chunks) total += chunk.byteLength;
  const out = new Uint8Array(total);
  let position = 0;
  for (const chunk of chunks) {
    out.set(chunk, position);
    position += chunk.byteLength;
  }
  return out;
}

/** Walks whole record batches: count of records, last offset, bytes of whole batches (a fetch may end in a partial one). */
export function scanBatches(records: Uint8Array): { batches: number; records: number; lastOffset: number; wholeBytes: number } {
  const view = new DataView(records.buffer, records.byteOffset, records.byteLength);
  let position = 0;
  let batches = 0;
  let recordCount = 0;
  let lastOffset = -1;
  while (records.byteLength - position >= 61) {
    const sizeBytes = view.getInt32(position + 8) + 12;
    if (sizeBytes < 61 || position + sizeBytes > records.byteLength) break;
    const baseOffset = Number(view.getBigInt64(position));
    lastOffset = baseOffset + view.getInt32(position + 23);
    recordCount += view.getInt32(position + 57);
    batches++;
    position += sizeBytes;
  }
  return { batches, records: recordCount, lastOffset, wholeBytes: position };
}
