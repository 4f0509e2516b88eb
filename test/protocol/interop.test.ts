/**
 * Cross-checks against two independent client implementations installed as dev
 * dependencies: requests they encode decode with our codecs, and responses we
 * encode parse with theirs. @platformatic/kafka covers the flexible versions,
 * kafkajs the classic ones.
 */
import { expect, test } from "bun:test";
import { createRequire } from "node:module";
import { Reader } from "../../src/protocol/codec/reader.ts";
import { Writer } from "../../src/protocol/codec/writer.ts";
import * as g from "../../src/protocol/generated/index.ts";
import {
  apiVersionsV3,
  createTopicsV7,
  fetchV12,
  findCoordinatorV4,
  heartbeatV4,
  joinGroupV6,
  metadataV9,
  metadataV12,
  offsetCommitV8,
  Reader as PReader,
  syncGroupV4,
} from "@platformatic/kafka";

const require = createRequire(import.meta.url);

function ours<T>(read: (r: Reader, v: number) => T, bytes: Uint8Array, v: number): T {
  const r = new Reader(new Uint8Array(bytes));
  const m = read(r, v);
  expect(r.remaining).toBe(0);
  return m;
}

function encode(f: (w: Writer) => void): Buffer {
  const w = new Writer();
  f(w);
  return Buffer.from(w.toUint8Array());
}

function theirs(api: { parseResponse: Function }, apiKey: number, v: number, bytes: Buffer): any {
  return api.parseResponse(1, apiKey, v, PReader.from(bytes));
}

test("platformatic ApiVersions v3", () => {
  const req = ours(g.readApiVersionsRequest, apiVersionsV3.createRequest("platformatic-kafka", "1.35.0").buffer, 3);
  expect(req).toEqual({ clientSoftwareName: "platformatic-kafka", clientSoftwareVersion: "1.35.0" });
  const apiKeys = [{ apiKey: 0, minVersion: 0, maxVersion: 7 }, { apiKey: 18, minVersion: 0, maxVersion: 3 }];
  const res = theirs(apiVersionsV3, 18, 3, encode((w) => g.writeApiVersionsResponse(w, 3, { apiKeys, finalizedFeaturesEpoch: 3 })));
  expect(res.apiKeys.map((k: any) => [k.apiKey, k.minVersion, k.maxVersion])).toEqual([[0, 0, 7], [18, 0, 3]]);
});

test("platformatic Metadata v9 and v12", () => {
  const req9 = ours(g.readMetadataRequest, metadataV9.createRequest(["a", "b"], true, false).buffer, 9);
  expect(req9.topics!.map((t) => t.name)).toEqual(["a", "b"]);
  expect(req9.allowAutoTopicCreation).toBe(true);
  const req12 = ours(g.readMetadataRequest, metadataV12.createRequest(null, false, true).buffer, 12);
  expect(req12.topics).toBeNull();
  expect(req12.includeTopicAuthorizedOperations).toBe(true);

  const response = {
    brokers: [{ nodeId: 1, host: "localhost", port: 9092, rack: null }],
    clusterId: "bunka",
    controllerId: 1,
    topics: [{
      errorCode: 0, name: "a", isInternal: false, topicAuthorizedOperations: -2147483648,
      partitions: [{ errorCode: 0, partitionIndex: 0, leaderId: 1, leaderEpoch: 0, replicaNodes: [1], isrNodes: [1], offlineReplicas: [] }],
    }],
  };
  for (const [api, v] of [[metadataV9, 9], [metadataV12, 12]] as const) {
    const res = theirs(api, 3, v, encode((w) => g.writeMetadataResponse(w, v, response)));
    expect(res.brokers).toEqual([{ nodeId: 1, host: "localhost", port: 9092, rack: null }]);
    expect(res.clusterId).toBe("bunka");
    expect(res.controllerId).toBe(1);
    expect(res.topics[0].name).toBe("a");
    expect(res.topics[0].partitions[0]).toMatchObject({ partitionIndex: 0, leaderId: 1, leaderEpoch: 0, replicaNodes: [1], isrNodes: [1] });
  }
});

test("platformatic FindCoordinator v4", () => {
  const req = ours(g.readFindCoordinatorRequest, findCoordinatorV4.createRequest(0, ["g1", "g2"]).buffer, 4);
  expect(req).toMatchObject({ keyType: 0, coordinatorKeys: ["g1", "g2"] });
  const res = theirs(findCoordinatorV4, 10, 4, encode((w) => g.writeFindCoordinatorResponse(w, 4, {
    coordinators: [{ key: "g1", nodeId: 1, host: "h", port: 9092, errorCode: 0, errorMessage: null }],
  })));
  expect(res.coordinators[0]).toMatchObject({ key: "g1", nodeId: 1, host: "h", port: 9092, errorCode: 0, errorMessage: null });
});

test("platformatic group APIs: JoinGroup v6, SyncGroup v4, Heartbeat v4, OffsetCommit v8", () => {
  const join = ours(g.readJoinGroupRequest, joinGroupV6.createRequest("grp", 30000, 60000, "", null, "consumer", [
    { name: "roundrobin", metadata: Buffer.from([0, 1, 2]) },
  ]).buffer, 6);
  expect(join).toMatchObject({ groupId: "grp", sessionTimeoutMs: 30000, rebalanceTimeoutMs: 60000, memberId: "", groupInstanceId: null, protocolType: "consumer" });
  expect(join.protocols.map((p) => [p.name, [...p.metadata]])).toEqual([["roundrobin", [0, 1, 2]]]);
  const joinRes = theirs(joinGroupV6, 11, 6, encode((w) => g.writeJoinGroupResponse(w, 6, {
    generationId: 1, protocolName: "roundrobin", leader: "m1", memberId: "m1",
    members: [{ memberId: "m1", groupInstanceId: null, metadata: new Uint8Array([9]) }],
  })));
  expect(joinRes).toMatchObject({ generationId: 1, protocolName: "roundrobin", leader: "m1", memberId: "m1" });

  const sync = ours(g.readSyncGroupRequest, syncGroupV4.createRequest("grp", 1, "m1", null, null, null, [
    { memberId: "m1", assignment: Buffer.from([7, 7]) },
  ]).buffer, 4);
  expect(sync).toMatchObject({ groupId: "grp", generationId: 1, memberId: "m1", groupInstanceId: null });
  expect([...sync.assignments[0].assignment]).toEqual([7, 7]);
  const syncRes = theirs(syncGroupV4, 14, 4, encode((w) => g.writeSyncGroupResponse(w, 4, { assignment: new Uint8Array([5]) })));
  expect([...syncRes.assignment]).toEqual([5]);

  const hb = ours(g.readHeartbeatRequest, heartbeatV4.createRequest("grp", 1, "m1", null).buffer, 4);
  expect(hb).toEqual({ groupId: "grp", generationId: 1, memberId: "m1", groupInstanceId: null });
  expect(theirs(heartbeatV4, 12, 4, encode((w) => g.writeHeartbeatResponse(w, 4, {}))).errorCode).toBe(0);

  const commit = ours(g.readOffsetCommitRequest, offsetCommitV8.createRequest("grp", 1, "m1", null, [
    { name: "t", partitions: [{ partitionIndex: 0, committedOffset: 42n, committedLeaderEpoch: -1, committedMetadata: null }] },
  ] as any).buffer, 8);
  expect(commit.topics[0].partitions[0]).toMatchObject({ partitionIndex: 0, committedOffset: 42, committedLeaderEpoch: -1, committedMetadata: null });
});

test("platformatic Fetch v12 and CreateTopics v7", () => {
  const fetch = ours(g.readFetchRequest, fetchV12.createRequest(500, 1, 1048576, 1, 0, 0, [
    { topicId: "t", partitions: [{ partition: 0, currentLeaderEpoch: -1, fetchOffset: 10n, lastFetchedEpoch: -1, partitionMaxBytes: 1048576 }] },
  ] as any, [], "").buffer, 12);
  expect(fetch).toMatchObject({ maxWaitMs: 500, minBytes: 1, maxBytes: 1048576, isolationLevel: 1, sessionId: 0, sessionEpoch: 0, rackId: "" });
  expect(fetch.topics[0].topic).toBe("t");
  expect(fetch.topics[0].partitions[0]).toMatchObject({ partition: 0, fetchOffset: 10, partitionMaxBytes: 1048576 });
  const res = theirs(fetchV12, 1, 12, encode((w) => g.writeFetchResponse(w, 12, {
    responses: [{ topic: "t", partitions: [{ partitionIndex: 0, highWatermark: 5, lastStableOffset: 5, logStartOffset: 0, preferredReadReplica: -1, records: null }] }],
  })));
  expect(res.responses[0].partitions[0]).toMatchObject({ partitionIndex: 0, highWatermark: 5n, lastStableOffset: 5n, preferredReadReplica: -1 });

  const ct = ours(g.readCreateTopicsRequest, createTopicsV7.createRequest([
    { name: "t", numPartitions: 3, replicationFactor: 1, assignments: [], configs: [{ name: "retention.ms", value: "1000" }] },
  ], 5000, false).buffer, 7);
  expect(ct.topics[0]).toMatchObject({ name: "t", numPartitions: 3, replicationFactor: 1, assignments: [] });
  expect(ct.topics[0].configs).toEqual([{ name: "retention.ms", value: "1000" }]);
  const ctRes = theirs(createTopicsV7, 19, 7, encode((w) => g.writeCreateTopicsResponse(w, 7, {
    topics: [{ name: "t", errorCode: 0, errorMessage: null, numPartitions: 3, replicationFactor: 1, configs: [] }],
  })));
  expect(ctRes.topics[0]).toMatchObject({ name: "t", errorCode: 0, numPartitions: 3, replicationFactor: 1 });
});

test("kafkajs classic versions: Metadata v6, Produce v7, ApiVersions v2", async () => {
  const metadataReq = require("kafkajs/src/protocol/requests/metadata/v6/request.js");
  const metadataRes = require("kafkajs/src/protocol/requests/metadata/v6/response.js");
  const enc = await metadataReq({ topics: ["x", "y"], allowAutoTopicCreation: false }).encode();
  const m = ours(g.readMetadataRequest, enc.buffer, 6);
  expect(m.topics!.map((t) => t.name)).toEqual(["x", "y"]);
  expect(m.allowAutoTopicCreation).toBe(false);
  const decoded = await metadataRes.decode(encode((w) => g.writeMetadataResponse(w, 6, {
    brokers: [{ nodeId: 1, host: "localhost", port: 9092, rack: null }],
    clusterId: "c", controllerId: 1,
    topics: [{ errorCode: 0, name: "x", partitions: [{ partitionIndex: 0, leaderId: 1, replicaNodes: [1], isrNodes: [1], offlineReplicas: [] }] }],
  })));
  expect(decoded.brokers).toEqual([{ nodeId: 1, host: "localhost", port: 9092, rack: null }]);
  expect(decoded.topicMetadata[0].topic).toBe("x");
  expect(decoded.topicMetadata[0].partitionMetadata[0]).toMatchObject({ partitionId: 0, leader: 1, replicas: [1], isr: [1] });

  const produceReq = require("kafkajs/src/protocol/requests/produce/v7/request.js");
  const produceRes = require("kafkajs/src/protocol/requests/produce/v7/response.js");
  const penc = await produceReq({
    acks: -1, timeout: 30000, compression: 0,
    topicData: [{ topic: "x", partitions: [{ partition: 0, firstSequence: 0, messages: [{ key: "k", value: "v", timestamp: 1 }] }] }],
  }).encode();
  const p = ours(g.readProduceRequest, penc.buffer, 7);
  expect(p).toMatchObject({ transactionalId: null, acks: -1, timeoutMs: 30000 });
  const records = p.topicData[0].partitionData[0].records as Uint8Array;
  expect(records.length).toBeGreaterThan(61); // one record batch v2
  expect(records[16]).toBe(2); // magic
  const pres = await produceRes.decode(encode((w) => g.writeProduceResponse(w, 7, {
    responses: [{ name: "x", partitionResponses: [{ index: 0, errorCode: 0, baseOffset: 41, logAppendTimeMs: -1, logStartOffset: 0 }] }],
    throttleTimeMs: 0,
  })));
  expect(pres.topics[0].partitions[0]).toMatchObject({ partition: 0, errorCode: 0, baseOffset: "41", logAppendTime: "-1", logStartOffset: "0" });

  const avRes = require("kafkajs/src/protocol/requests/apiVersions/v2/response.js");
  const av = await avRes.decode(encode((w) => g.writeApiVersionsResponse(w, 2, { apiKeys: [{ apiKey: 18, minVersion: 0, maxVersion: 3 }] })));
  expect(av.apiVersions).toEqual([{ apiKey: 18, minVersion: 0, maxVersion: 3 }]);
});
