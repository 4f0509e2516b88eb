// HTTP produce and consume for clients that cannot speak Kafka, in the shapes of Redpanda's pandaproxy
// (Confluent REST v2: /topics/{topic}, /topics/{topic}/partitions/{p}/records) and Confluent REST v3
// (/v3/clusters/{cluster}/topics/{topic}/records). Values: JSON, base64 (binary) or text (v3 STRING).
import type { ClientConnection } from "../api/context.ts";
import { errorName } from "../protocol/errors.ts";
import type { RecordHeader } from "../records/record.ts";
import type { AdminBrokerView } from "./broker-view.ts";
import { boundedInteger, encodeBytes, json } from "./json-api.ts";
import { AdminRequestError, produceRecords, readRecords, type ProducedRecord } from "./records.ts";

const JSON_V2 = "application/vnd.kafka.json.v2+json";
const BINARY_V2 = "application/vnd.kafka.binary.v2+json";
const encoder = new TextEncoder();

interface Call {
  method: string;
  segments: string[];
  query: URLSearchParams;
  headers: Headers;
  body: () => Promise<unknown>;
  connection: ClientConnection;
}

/** A route of this proxy, or null when the path is not one. */
export async function handleRestProxy(view: AdminBrokerView, call: Call): Promise<Response | null> {
  const { method, segments } = call;
  const access = { services: view.services, connection: call.connection, traffic: view.traffic, decompressedMaxBytes: view.config.messageDecompressedMaxBytes };
  // v2: POST /topics/{topic}
  if (segments[0] === "topics" && segments.length === 2 && method === "POST") {
    const binary = (call.headers.get("content-type") ?? "").startsWith(BINARY_V2);
    const body = (await call.body()) as { records?: unknown };
    if (!Array.isArray(body?.records)) throw new AdminRequestError(400, 'body must be {"records": [{"key"?, "value", "partition"?}]}');
    const records = boundedRecords(view, body.records).map((entry, index): ProducedRecord => {
      const record = entry as { key?: unknown; value?: unknown; partition?: unknown };
      return { key: v2Bytes(record.key, binary, `records[${index}].key`), value: v2Bytes(record.value, binary, `records[${index}].value`), ...partitionOf(record.partition, index) };
    });
    const results = await produceRecords(access, segments[1]!, records);
    return json({ offsets: results.map((result) => (result.error === null ? { partition: result.partition, offset: result.offset } : { partition: result.partition, offset: -1, error_code: result.errorCode, error: result.error })) });
  }
  // v2: GET /topics/{topic}/partitions/{p}/records?offset=&max_bytes=
  if (segments[0] === "topics" && segments[2] === "partitions" && segments[4] === "records" && segments.length === 5 && method === "GET") {
    const accept = call.headers.get("accept") ?? "";
    const binary = accept.includes(BINARY_V2);
    const format = call.query.get("format");
    const maxRecords = Math.min(boundedInteger(call.query.get("max_records"), Number.MAX_SAFE_INTEGER, "max_records"), Number(view.config.properties["admin.consume.max.records"] ?? 1000));
    const maxBytes = Math.min(boundedInteger(call.query.get("max_bytes"), Number.MAX_SAFE_INTEGER, "max_bytes"), Number(view.config.properties["admin.consume.max.bytes"] ?? 4_194_304));
    const partition = Number(segments[3]);
    const read = await readRecords(access, segments[1]!, partition, boundedInteger(call.query.get("offset"), 0, "offset"), maxRecords, Math.max(1, maxBytes));
    const present = (bytes: Uint8Array | null): unknown => {
      if (binary || format === "base64") return encodeBytes(bytes, "base64");
      if (format === "text" || format === "hex") return encodeBytes(bytes, format);
      const text = encodeBytes(bytes, "text");
      if (text === null) return null;
      try {
        return JSON.parse(text);
      } catch {
        return text;
      }
    };
    return json(read.records.map((record) => ({
      topic: segments[1],
      key: present(record.key),
      value: present(record.value),
      partition,
      offset: record.offset,
      timestamp: record.timestampMs,
      headers: record.headers.map((header) => ({ key: header.key, value: encodeBytes(header.value, "base64") })),
    })), 200);
  }
  // v3: POST /v3/clusters/{cluster}/topics/{topic}/records: one record object or an array of them.
  if (segments[0] === "v3" && segments[1] === "clusters" && segments[3] === "topics" && segments[5] === "records" && segments.length === 6 && method === "POST") {
    if (segments[2] !== view.config.clusterId) throw new AdminRequestError(404, `cluster ${segments[2]} is not ${view.config.clusterId}`);
    const body = await call.body();
    const many = Array.isArray(body);
    const entries = boundedRecords(view, many ? (body as unknown[]) : [body]);
    const records = entries.map((entry, index): ProducedRecord => {
      const record = (entry ?? {}) as { partition_id?: unknown; key?: unknown; value?: unknown; headers?: unknown; timestamp?: unknown };
      return {
        key: v3Bytes(record.key, `key`),
        value: v3Bytes(record.value, `value`),
        headers: v3Headers(record.headers),
        ...(typeof record.timestamp === "string" ? { timestampMs: timestampOf(record.timestamp) } : {}),
        ...partitionOf(record.partition_id, index),
      };
    });
    const results = await produceRecords(access, segments[4]!, records);
    const answers = results.map((result, index) =>
      result.error === null
        ? { error_code: 200, cluster_id: view.config.clusterId, topic_name: segments[4], partition_id: result.partition, offset: result.offset, key: sizeOf(records[index]!.key), value: sizeOf(records[index]!.value) }
        : { error_code: 500, kafka_error: errorName(result.errorCode), message: result.error },
    );
    return json(many ? answers : answers[0], !many && answers[0]!.error_code !== 200 ? 500 : 200);
  }
  return null;
}

function boundedRecords(view: AdminBrokerView, records: unknown[]): unknown[] {
  const max = Number(view.config.properties["admin.produce.max.records"] ?? 1000);
  if (records.length === 0) throw new AdminRequestError(400, "no records");
  if (records.length > max) throw new AdminRequestError(400, `${records.length} records in one request: admin.produce.max.records is ${max}`);
  return records;
}

function partitionOf(value: unknown, index: number): { partition?: number } {
  if (value === undefined || value === null) return {};
  if (typeof value !== "number" || !Number.isInteger(value)) throw new AdminRequestError(400, `records[${index}]: partition must be an integer`);
  return { partition: value };
}

/** v2: json.v2 carries any JSON value (stored as its JSON text), binary.v2 a base64 string. */
function v2Bytes(value: unknown, binary: boolean, name: string): Uint8Array | null {
  if (value === undefined || value === null) return null;
  if (!binary) return encoder.encode(JSON.stringify(value));
  if (typeof value !== "string") throw new AdminRequestError(400, `${name} must be a base64 string`);
  return base64(value, name);
}

/** v3: {"type": "BINARY" | "JSON" | "STRING", "data": ...}. */
function v3Bytes(value: unknown, name: string): Uint8Array | null {
  if (value === undefined || value === null) return null;
  const { type, data } = value as { type?: unknown; data?: unknown };
  if (data === undefined || data === null) return null;
  if (type === "BINARY") {
    if (typeof data !== "string") throw new AdminRequestError(400, `${name}.data must be base64 for type BINARY`);
    return base64(data, name);
  }
  if (type === "STRING") {
    if (typeof data !== "string") throw new AdminRequestError(400, `${name}.data must be a string for type STRING`);
    return encoder.encode(data);
  }
  if (type === "JSON" || type === undefined) return encoder.encode(JSON.stringify(data));
  throw new AdminRequestError(400, `${name}.type must be BINARY, JSON or STRING`);
}

function v3Headers(value: unknown): RecordHeader[] {
  if (value === undefined || value === null) return [];
  if (!Array.isArray(value)) throw new AdminRequestError(400, "headers must be [{name, value (base64)}]");
  return value.map((header: { name?: unknown; value?: unknown }, index) => {
    if (typeof header?.name !== "string") throw new AdminRequestError(400, `headers[${index}].name must be a string`);
    if (header.value !== null && header.value !== undefined && typeof header.value !== "string") throw new AdminRequestError(400, `headers[${index}].value must be base64`);
    return { key: header.name, value: typeof header.value === "string" ? base64(header.value, `headers[${index}].value`) : null };
  });
}

function base64(text: string, name: string): Uint8Array {
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(text)) throw new AdminRequestError(400, `${name} is not base64`);
  return new Uint8Array(Buffer.from(text, "base64"));
}

function timestampOf(text: string): number {
  const ms = Date.parse(text);
  if (Number.isNaN(ms)) throw new AdminRequestError(400, `timestamp ${text} is not an ISO 8601 time`);
  return ms;
}

function sizeOf(bytes: Uint8Array | string | null | undefined): { type: string; size: number } | null {
  if (bytes === null || bytes === undefined) return null;
  return { type: "BINARY", size: typeof bytes === "string" ? encoder.encode(bytes).byteLength : bytes.byteLength };
}
