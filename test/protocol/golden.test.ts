/**
 * Golden bytes, derived by hand from the protocol guide's primitive types
 * (INT16/INT32 big endian; STRING = INT16 length + UTF-8; NULLABLE_STRING with
 * length -1 for null; COMPACT_STRING = UNSIGNED_VARINT length+1 + UTF-8;
 * COMPACT_NULLABLE_STRING with 0 for null; ARRAY = INT32 count; COMPACT_ARRAY =
 * UNSIGNED_VARINT count+1; TAG_BUFFER = UNSIGNED_VARINT field count, then per
 * field UNSIGNED_VARINT tag, UNSIGNED_VARINT size, data) and the message schemas.
 */
import { expect, test } from "bun:test";
import { Reader } from "../../src/protocol/codec/reader.ts";
import { Writer } from "../../src/protocol/codec/writer.ts";
import {
  ApiKey,
  apiSchemas,
  readApiVersionsRequest,
  readApiVersionsResponse,
  readFindCoordinatorResponse,
  readMetadataRequest,
  readRequestHeader,
  readResponseHeader,
  requestHeaderVersion,
  responseHeaderVersion,
  writeApiVersionsRequest,
  writeApiVersionsResponse,
  writeFindCoordinatorResponse,
  writeMetadataRequest,
  writeRequestHeader,
  writeResponseHeader,
} from "../../src/protocol/generated/index.ts";
import { fromHex, hex } from "./model.ts";

function ascii(s: string): string {
  return Buffer.from(s, "utf8").toString("hex");
}

function encode(f: (w: Writer) => void): string {
  const w = new Writer(8);
  f(w);
  return hex(w.toUint8Array());
}

test("RequestHeader v2 with a null client id: ClientId stays a non-compact NULLABLE_STRING", () => {
  const expected = "0012" + "0003" + "00000007" + "ffff" + "00";
  expect(encode((w) => writeRequestHeader(w, 2, { requestApiKey: 18, requestApiVersion: 3, correlationId: 7, clientId: null }))).toBe(expected);
  const r = new Reader(fromHex(expected));
  expect(readRequestHeader(r, 2)).toEqual({ requestApiKey: 18, requestApiVersion: 3, correlationId: 7, clientId: null });
  expect(r.remaining).toBe(0);
});

test("ApiVersionsRequest v3 with request header v2 (compact strings, tag buffers)", () => {
  const header = "0012" + "0003" + "00000001" + "0007" + ascii("rdkafka") + "00";
  const body = "0b" + ascii("librdkafka") + "06" + ascii("2.0.2") + "00";
  const got = encode((w) => {
    writeRequestHeader(w, requestHeaderVersion(ApiKey.ApiVersions, 3), {
      requestApiKey: ApiKey.ApiVersions,
      requestApiVersion: 3,
      correlationId: 1,
      clientId: "rdkafka",
    });
    writeApiVersionsRequest(w, 3, { clientSoftwareName: "librdkafka", clientSoftwareVersion: "2.0.2" });
  });
  expect(got).toBe(header + body);
  const r = new Reader(fromHex(header + body));
  expect(readRequestHeader(r, 2).clientId).toBe("rdkafka");
  expect(readApiVersionsRequest(r, 3)).toEqual({ clientSoftwareName: "librdkafka", clientSoftwareVersion: "2.0.2" });
  expect(r.remaining).toBe(0);
});

test("a compact string of 200 bytes has a two-byte length varint", () => {
  const name = "a".repeat(200);
  // 201 = 0b1_1001001 -> 0xc9 0x01
  const expected = "c901" + ascii(name) + "01" + "00";
  expect(encode((w) => writeApiVersionsRequest(w, 3, { clientSoftwareName: name, clientSoftwareVersion: "" }))).toBe(expected);
  expect(readApiVersionsRequest(new Reader(fromHex(expected)), 3).clientSoftwareName).toBe(name);
});

test("ApiVersionsRequest v0-v2 have an empty body", () => {
  for (const v of [0, 1, 2]) expect(encode((w) => writeApiVersionsRequest(w, v, { clientSoftwareName: "x" }))).toBe("");
});

test("Metadata v0 request with request header v1", () => {
  const header = "0003" + "0000" + "00000002" + "000c" + ascii("kafka-python");
  const body = "00000001" + "0003" + ascii("foo");
  const got = encode((w) => {
    writeRequestHeader(w, requestHeaderVersion(ApiKey.Metadata, 0), {
      requestApiKey: 3,
      requestApiVersion: 0,
      correlationId: 2,
      clientId: "kafka-python",
    });
    writeMetadataRequest(w, 0, { topics: [{ name: "foo" }] });
  });
  expect(got).toBe(header + body);
  const r = new Reader(fromHex(header + body));
  expect(readRequestHeader(r, 1)).toEqual({ requestApiKey: 3, requestApiVersion: 0, correlationId: 2, clientId: "kafka-python" });
  const m = readMetadataRequest(r, 0);
  expect(m.topics).toEqual([{ topicId: new Uint8Array(16), name: "foo" }]);
  expect(m.allowAutoTopicCreation).toBe(true); // schema default for versions without the field
  // v0: an empty list (all topics); v1+: null means all topics.
  expect(readMetadataRequest(new Reader(fromHex("00000000")), 0).topics).toEqual([]);
  expect(readMetadataRequest(new Reader(fromHex("ffffffff")), 1).topics).toBeNull();
  expect(encode((w) => writeMetadataRequest(w, 1, { topics: null }))).toBe("ffffffff");
  expect(() => encode((w) => writeMetadataRequest(w, 0, { topics: null }))).toThrow("cannot be null in version 0");
});

test("Metadata v9 request: compact nullable array and strings", () => {
  // topics: 1 entry (02), name "t" (02 74), tag buffer; allow_auto 01; include_cluster 00; include_topic 00; tag buffer
  const expected = "02" + "0274" + "00" + "01" + "00" + "00" + "00";
  expect(encode((w) => writeMetadataRequest(w, 9, { topics: [{ name: "t" }] }))).toBe(expected);
  expect(encode((w) => writeMetadataRequest(w, 9, { topics: null }))).toBe("00" + "01" + "00" + "00" + "00");
});

test("FindCoordinatorResponse v4 with response header v1 (compact array, compact nullable string)", () => {
  const header = "00000009" + "00";
  const body =
    "00000000" + // throttle_time_ms
    "02" + // coordinators: 1 entry
    "08" + ascii("group-1") + // key
    "00000001" + // node_id
    "0a" + ascii("localhost") + // host
    "00002384" + // port 9092
    "0000" + // error_code
    "00" + // error_message: null
    "00" + // coordinator tag buffer
    "00"; // response tag buffer
  const got = encode((w) => {
    writeResponseHeader(w, responseHeaderVersion(ApiKey.FindCoordinator, 4), { correlationId: 9 });
    writeFindCoordinatorResponse(w, 4, {
      coordinators: [{ key: "group-1", nodeId: 1, host: "localhost", port: 9092, errorCode: 0, errorMessage: null }],
    });
  });
  expect(got).toBe(header + body);
  const r = new Reader(fromHex(header + body));
  expect(readResponseHeader(r, 1)).toEqual({ correlationId: 9 });
  const resp = readFindCoordinatorResponse(r, 4);
  expect(resp.coordinators).toEqual([{ key: "group-1", nodeId: 1, host: "localhost", port: 9092, errorCode: 0, errorMessage: null }]);
  expect(resp.errorMessage).toBe(""); // top-level fields of v0-3 get their defaults
  expect(r.remaining).toBe(0);
});

test("FindCoordinatorResponse v0 (classic encoding)", () => {
  const body = "0000" + "00000001" + "0009" + ascii("localhost") + "00002384";
  expect(encode((w) => writeFindCoordinatorResponse(w, 0, { errorCode: 0, nodeId: 1, host: "localhost", port: 9092 }))).toBe(body);
  expect(readFindCoordinatorResponse(new Reader(fromHex(body)), 0)).toMatchObject({ errorCode: 0, nodeId: 1, host: "localhost", port: 9092 });
});

test("ApiVersionsResponse v3: tagged fields written only when not default, in tag order", () => {
  const apiKeys = "03" + "0012" + "0000" + "0003" + "00" + "0003" + "0000" + "0009" + "00";
  const plain = "0000" + apiKeys + "00000000" + "00";
  const resp = { errorCode: 0, apiKeys: [{ apiKey: 18, minVersion: 0, maxVersion: 3 }, { apiKey: 3, minVersion: 0, maxVersion: 9 }] };
  expect(encode((w) => writeApiVersionsResponse(w, 3, resp))).toBe(plain);
  // FinalizedFeaturesEpoch (tag 1, default -1) = 5 and ZkMigrationReady (tag 3) = true.
  const tagged = "0000" + apiKeys + "00000000" + "02" + "01" + "08" + "0000000000000005" + "03" + "01" + "01";
  expect(encode((w) => writeApiVersionsResponse(w, 3, { ...resp, finalizedFeaturesEpoch: 5, zkMigrationReady: true }))).toBe(tagged);
  // Explicit defaults are not written.
  expect(encode((w) => writeApiVersionsResponse(w, 3, { ...resp, finalizedFeaturesEpoch: -1, zkMigrationReady: false, supportedFeatures: [] }))).toBe(plain);
  const decoded = readApiVersionsResponse(new Reader(fromHex(tagged)), 3);
  expect(decoded.finalizedFeaturesEpoch).toBe(5);
  expect(decoded.zkMigrationReady).toBe(true);
  expect(decoded.supportedFeatures).toEqual([]);
  // An unknown tag (9, two bytes) in between is skipped.
  const withUnknown = "0000" + apiKeys + "00000000" + "03" + "01" + "08" + "0000000000000005" + "09" + "02" + "abcd" + "03" + "01" + "01";
  expect(readApiVersionsResponse(new Reader(fromHex(withUnknown)), 3)).toEqual(decoded);
  // v0 (non-flexible) of the same response.
  const v0 = "0000" + "00000002" + "0012" + "0000" + "0003" + "0003" + "0000" + "0009";
  expect(encode((w) => writeApiVersionsResponse(w, 0, { ...resp, throttleTimeMs: 5 }))).toBe(v0);
});

test("header versions", () => {
  expect(requestHeaderVersion(ApiKey.ApiVersions, 3)).toBe(2);
  expect(requestHeaderVersion(ApiKey.ApiVersions, 2)).toBe(1);
  expect(requestHeaderVersion(ApiKey.Metadata, 9)).toBe(2);
  expect(requestHeaderVersion(ApiKey.Metadata, 8)).toBe(1);
  expect(requestHeaderVersion(ApiKey.Produce, 9)).toBe(2);
  expect(requestHeaderVersion(ApiKey.ControlledShutdown, 0)).toBe(0);
  expect(requestHeaderVersion(ApiKey.ControlledShutdown, 1)).toBe(1);
  expect(requestHeaderVersion(ApiKey.SaslHandshake, 1)).toBe(1); // never flexible
  expect(requestHeaderVersion(9999, 0)).toBe(1);
  expect(responseHeaderVersion(ApiKey.ApiVersions, 3)).toBe(0); // KIP-511
  expect(responseHeaderVersion(ApiKey.ApiVersions, 4)).toBe(0);
  expect(responseHeaderVersion(ApiKey.Metadata, 9)).toBe(1);
  expect(responseHeaderVersion(ApiKey.Metadata, 8)).toBe(0);
  expect(responseHeaderVersion(ApiKey.Fetch, 12)).toBe(1);
  expect(responseHeaderVersion(ApiKey.Fetch, 11)).toBe(0);
});

test("API table", () => {
  const produce = apiSchemas.get(0)!;
  expect(produce.name).toBe("Produce");
  // v12 comes from src/protocol/generator/version-overrides.ts (Kafka 4.0; the snapshot stops at 11).
  expect([produce.minVersion, produce.maxVersion, produce.flexibleMinVersion]).toEqual([0, 12, 9]);
  expect(apiSchemas.get(ApiKey.SaslHandshake)!.flexibleMinVersion).toBe(Infinity);
  expect(apiSchemas.get(ApiKey.ApiVersions)!.maxVersion).toBe(4);
  for (const [key, s] of apiSchemas) {
    expect(s.apiKey).toBe(key);
    expect(ApiKey[s.name as keyof typeof ApiKey] as number).toBe(key);
  }
});
