// The generator's version overrides (src/protocol/generator/version-overrides.ts): Produce v12 (Kafka 4.0,
// "the same as version 11") is generated from the October 2024 schema with its validVersions extended, only while
// the schema still stops where the snapshot does; v12 encodes exactly as v11 in both directions.
import { expect, test } from "bun:test";
import { overriddenValidVersions, VERSION_OVERRIDES } from "../../src/protocol/generator/version-overrides.ts";
import { Reader } from "../../src/protocol/codec/reader.ts";
import { Writer } from "../../src/protocol/codec/writer.ts";
import { readProduceRequest, readProduceResponse, writeProduceRequest, writeProduceResponse } from "../../src/protocol/generated/produce.ts";
import { buildBatch } from "../../src/records/compression.ts";

test("an override applies to the snapshot's range only; other messages keep theirs", () => {
  expect(overriddenValidVersions("ProduceRequest", "0-11")).toBe("0-12");
  expect(overriddenValidVersions("ProduceResponse", "0-11")).toBe("0-12");
  // A newer schema that has its own range makes the override a no-op.
  expect(overriddenValidVersions("ProduceRequest", "3-13")).toBe("3-13");
  expect(overriddenValidVersions("FetchRequest", "4-17")).toBe("4-17");
  for (const override of Object.values(VERSION_OVERRIDES)) expect(override.reason.length).toBeGreaterThan(40);
});

test("Produce v12 is v11's wire format, request and response", () => {
  const encode = (write: (w: Writer) => void) => {
    const writer = new Writer();
    write(writer);
    return writer.toUint8Array();
  };
  const request = { transactionalId: "t", acks: -1, timeoutMs: 1000, topicData: [{ name: "a", partitionData: [{ index: 3, records: buildBatch({ records: [{ key: "k", value: "v" }] }) }] }] };
  const v11 = encode((w) => writeProduceRequest(w, 11, request));
  const v12 = encode((w) => writeProduceRequest(w, 12, request));
  expect(v12).toEqual(v11);
  expect(readProduceRequest(new Reader(v12), 12).topicData[0]!.partitionData[0]!.index).toBe(3);
  const response = {
    responses: [{ name: "a", partitionResponses: [{ index: 3, errorCode: 6, baseOffset: -1, currentLeader: { leaderId: 2, leaderEpoch: 7 }, recordErrors: [{ batchIndex: 1, batchIndexErrorMessage: "m" }], errorMessage: "e" }] }],
    throttleTimeMs: 0,
    nodeEndpoints: [{ nodeId: 2, host: "h", port: 9092, rack: null }],
  };
  const r11 = encode((w) => writeProduceResponse(w, 11, response));
  expect(encode((w) => writeProduceResponse(w, 12, response))).toEqual(r11);
  const decoded = readProduceResponse(new Reader(r11), 12);
  expect(decoded.responses[0]!.partitionResponses[0]!.currentLeader).toEqual({ leaderId: 2, leaderEpoch: 7 });
  expect(decoded.nodeEndpoints).toEqual([{ nodeId: 2, host: "h", port: 9092, rack: null }]);
  expect(() => encode((w) => writeProduceRequest(w, 13, request))).toThrow();
});
