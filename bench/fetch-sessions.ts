// What fetch sessions (KIP-227) save a consumer of many partitions (bun bench/fetch-sessions.ts): one broker
// process, a topic of 1,000 partitions holding one small record each, and a consumer caught up on all of them
// that polls with max.wait.ms 0, so every fetch is answered at once with nothing new. The same number of
// polls without a session (every fetch names the 1,000 partitions and is answered all 1,000) and in one
// (incremental fetches name none and are answered none). Measured: bytes each way per fetch (as the codec
// encodes the request; the response's size as received), the consumer's round trip, and the broker process's
// CPU time per fetch (/proc, all threads). The broker still reads every partition of the session each time.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { KafkaConnection } from "../src/client/kafka-connection.ts";
import { FetchSessionBuilder, type WantedPartition } from "../src/client/fetch-session-builder.ts";
import { Writer } from "../src/protocol/codec/writer.ts";
import { readResponseHeader, writeRequestHeader } from "../src/protocol/generated/headers.ts";
import { ApiKey, apiSchemas, requestHeaderVersion, responseHeaderVersion } from "../src/protocol/generated/index.ts";
import { Reader } from "../src/protocol/codec/reader.ts";
import { buildBatch } from "../src/records/compression.ts";
import { BenchBroker } from "./broker-process.ts";

const PARTITIONS = 1000;
const POLLS = Number(process.env.BENCH_FETCH_POLLS ?? 2000);
const FETCH_VERSION = 17;
const TOPIC = "sessions-bench";

interface PollFigures {
  requestBytes: number;
  responseBytes: number;
  roundTripMs: number;
  brokerCpuMs: number;
}

const workDir = mkdtempSync(join(tmpdir(), "bunka-fetch-sessions-bench-"));
const broker = new BenchBroker({ workDir });
await broker.start();
try {
  await broker.createTopic(TOPIC, PARTITIONS);
  const connection = await KafkaConnection.connect({ host: "127.0.0.1", port: broker.port, clientId: "bunka-bench-fetch-sessions", requestTimeoutMs: 30_000 });
  try {
    const produced = await connection.request(ApiKey.Produce, 7, {
      acks: 1,
      timeoutMs: 10_000,
      topicData: [{ name: TOPIC, partitionData: Array.from({ length: PARTITIONS }, (_, index) => ({ index, records: buildBatch({ records: [{ value: `r${index}` }] }) })) }],
    });
    if (produced.responses[0].partitionResponses.some((answer: { errorCode: number }) => answer.errorCode !== 0)) throw new Error("produce failed");
    const metadata = await connection.request(ApiKey.Metadata, 12, { topics: [{ name: TOPIC, topicId: new Uint8Array(16) }], allowAutoTopicCreation: false });
    const topicId = metadata.topics[0].topicId as Uint8Array;
    const wanted: WantedPartition[] = Array.from({ length: PARTITIONS }, (_, partition) => ({ topic: TOPIC, topicId, partition, fetchOffset: 1, partitionMaxBytes: 1 << 20, currentLeaderEpoch: -1 }));

    /** One fetch sent as raw bytes, so that both directions are counted as they travel. */
    const poll = async (body: Record<string, unknown>): Promise<PollFigures & { sessionId: number; errorCode: number }> => {
      const correlationId = connection.allocateCorrelationId();
      const writer = new Writer();
      const sizeAt = writer.reserveInt32();
      writeRequestHeader(writer, requestHeaderVersion(ApiKey.Fetch, FETCH_VERSION), { requestApiKey: ApiKey.Fetch, requestApiVersion: FETCH_VERSION, correlationId, clientId: "bunka-bench-fetch-sessions" });
      apiSchemas.get(ApiKey.Fetch)!.writeRequest(writer, FETCH_VERSION, body);
      writer.patchInt32(sizeAt, writer.sizeBytes - 4);
      const frame = writer.toUint8Array();
      const cpuBefore = broker.cpuSeconds();
      const startedMs = performance.now();
      const payload = await connection.sendRaw(frame, correlationId, ApiKey.Fetch, FETCH_VERSION);
      const roundTripMs = performance.now() - startedMs;
      const cpuAfter = broker.cpuSeconds();
      const reader = new Reader(payload);
      readResponseHeader(reader, responseHeaderVersion(ApiKey.Fetch, FETCH_VERSION));
      const response = apiSchemas.get(ApiKey.Fetch)!.readResponse(reader, FETCH_VERSION) as { sessionId: number; errorCode: number };
      const brokerCpuMs = (cpuAfter.user + cpuAfter.system - cpuBefore.user - cpuBefore.system) * 1000;
      return { requestBytes: frame.byteLength, responseBytes: payload.byteLength + 4, roundTripMs, brokerCpuMs, sessionId: response.sessionId, errorCode: response.errorCode };
    };
    const common = { replicaId: -1, maxWaitMs: 0, minBytes: 1, maxBytes: 50 << 20, isolationLevel: 0, rackId: "" };

    const runs: Record<string, PollFigures[]> = { sessionless: [], incremental: [] };
    const sessionlessBody = { ...common, sessionId: 0, sessionEpoch: -1, forgottenTopicsData: [], topics: [{ topic: TOPIC, topicId, partitions: wanted.map((want) => ({ partition: want.partition, fetchOffset: 1, partitionMaxBytes: want.partitionMaxBytes, currentLeaderEpoch: -1, logStartOffset: -1, lastFetchedEpoch: -1 })) }] };
    for (let index = 0; index < POLLS; index++) runs.sessionless!.push(await poll(sessionlessBody));
    const builder = new FetchSessionBuilder();
    for (let index = 0; index <= POLLS; index++) {
      const figures = await poll({ ...common, ...builder.build(wanted) });
      builder.handleResponse(figures.errorCode, figures.sessionId);
      if (figures.errorCode !== 0 || figures.sessionId === 0) throw new Error(`no session: error ${figures.errorCode}`);
      // The first one is the full fetch that opens the session.
      if (index > 0) runs.incremental!.push(figures);
    }

    const mean = (values: number[]): number => values.reduce((sum, value) => sum + value, 0) / values.length;
    const percentile = (values: number[], p: number): number => [...values].sort((a, b) => a - b)[Math.min(values.length - 1, Math.floor(values.length * p))]!;
    console.log(`${PARTITIONS} partitions, caught up, max.wait.ms 0, ${POLLS} polls each (Fetch v${FETCH_VERSION}, loopback, one broker process)`);
    console.log("| fetch | request bytes | response bytes | round trip mean / p99 (ms) | broker CPU per fetch (ms) |");
    console.log("|---|---|---|---|---|");
    for (const [name, figures] of Object.entries(runs)) {
      const roundTrips = figures.map((figure) => figure.roundTripMs);
      console.log(`| ${name} | ${mean(figures.map((figure) => figure.requestBytes)).toFixed(0)} | ${mean(figures.map((figure) => figure.responseBytes)).toFixed(0)} | ${mean(roundTrips).toFixed(3)} / ${percentile(roundTrips, 0.99).toFixed(3)} | ${mean(figures.map((figure) => figure.brokerCpuMs)).toFixed(3)} |`);
    }
  } finally {
    connection.close();
  }
} finally {
  await broker.stop();
  rmSync(workDir, { recursive: true, force: true });
}
