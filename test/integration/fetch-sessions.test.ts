// Fetch sessions (KIP-227) and Fetch v13+ (topics by id, KIP-516) against a real broker process. No real
// client here sends incremental fetches (librdkafka, kafkajs and @platformatic/kafka fetch without sessions),
// so the consumer is the repo's own: KafkaConnection with src/client/fetch-session-builder.ts (Kafka's
// FetchSessionHandler rules) and the generated codecs, over a real socket.
// 1. A consumer of 1,000 partitions (10,000 records, produced by kafkajs) opens a session with one full fetch,
//    then sends incremental fetches that shrink to the partitions it advanced (request sizes measured as the
//    codec encodes them), receives every record exactly once, is answered only the partitions with news, and
//    goes on in the same session over a new connection (sessions outlive connections, as in Kafka).
// 2. A topic deleted and re-created under the same name: a fetch by the old topic id, with or without a
//    session, is UNKNOWN_TOPIC_ID and never carries the new topic's records. A partition a fetch names twice is
//    read once, with its last parameters, as Kafka's request map does; an unknown id does not end a long poll.
import { afterAll, expect, test } from "bun:test";
import { KafkaConnection } from "../../src/client/kafka-connection.ts";
import { FetchSessionBuilder, type WantedPartition } from "../../src/client/fetch-session-builder.ts";
import { Writer } from "../../src/protocol/codec/writer.ts";
import { ErrorCode } from "../../src/protocol/errors.ts";
import { ApiKey, apiSchemas } from "../../src/protocol/generated/index.ts";
import { BrokerProcess, freePort } from "../helpers/broker-process.ts";
import { sample, scrape } from "../helpers/admin-http.ts";
import { createTopic, kafkaClient } from "../helpers/kafkajs.ts";

const FETCH_VERSION = 17;
const PARTITIONS = 1000;
const RECORDS_PER_PARTITION = 10;
const FETCHES_MAX = 500;

let broker: BrokerProcess | null = null;
const adminUrl = `http://127.0.0.1:${freePort()}`;

afterAll(async () => {
  await broker?.cleanup();
});

async function startBroker(): Promise<BrokerProcess> {
  broker = new BrokerProcess({ properties: { "admin.listeners": adminUrl } });
  await broker.start();
  return broker;
}

async function connect(port: number): Promise<KafkaConnection> {
  return KafkaConnection.connect({ host: "127.0.0.1", port, requestTimeoutMs: 30_000 });
}

async function topicId(connection: KafkaConnection, topic: string): Promise<Uint8Array> {
  const response = await connection.request(ApiKey.Metadata, 12, { topics: [{ name: topic, topicId: new Uint8Array(16) }], allowAutoTopicCreation: false });
  expect(response.topics[0].errorCode).toBe(ErrorCode.NONE);
  return response.topics[0].topicId;
}

async function produce(bootstrap: string, topic: string, messages: { partition: number; value: string }[]): Promise<void> {
  const producer = kafkaClient(bootstrap).producer();
  await producer.connect();
  try {
    await producer.send({ topic, acks: -1, messages });
  } finally {
    await producer.disconnect();
  }
}

/** The bytes a Fetch request body takes on the wire at this version (the codec the connection sends with). */
function encodedBytes(body: object): number {
  const writer = new Writer();
  apiSchemas.get(ApiKey.Fetch)!.writeRequest(writer, FETCH_VERSION, body);
  return writer.sizeBytes;
}

/** Batches in a fetched record set: [base offset, last offset, record count] each. */
function batches(records: Uint8Array | null): [number, number, number][] {
  const found: [number, number, number][] = [];
  if (!records) return found;
  const view = new DataView(records.buffer, records.byteOffset, records.byteLength);
  let position = 0;
  while (position + 61 <= records.byteLength) {
    const baseOffset = Number(view.getBigInt64(position));
    const batchLength = view.getInt32(position + 8);
    if (position + 12 + batchLength > records.byteLength) break;
    found.push([baseOffset, baseOffset + view.getInt32(position + 23), view.getInt32(position + 57)]);
    position += 12 + batchLength;
  }
  return found;
}

interface SentFetch {
  sessionEpoch: number;
  partitions: number;
  bytes: number;
}

test("a consumer of 1,000 partitions sends shrinking incremental fetches and receives every record", async () => {
  const { bootstrap, port } = await startBroker();
  const topic = "sessions";
  await createTopic(bootstrap, topic, PARTITIONS);
  await produce(bootstrap, topic, Array.from({ length: PARTITIONS * RECORDS_PER_PARTITION }, (_, n) => ({ partition: n % PARTITIONS, value: `r${n}` })));

  let connection = await connect(port);
  try {
    const id = await topicId(connection, topic);
    const nextOffset = new Array<number>(PARTITIONS).fill(0);
    const received = new Array<number>(PARTITIONS).fill(0);
    const builder = new FetchSessionBuilder();
    const sent: SentFetch[] = [];
    const wanted = (): WantedPartition[] =>
      nextOffset.map((fetchOffset, partition) => ({ topic, topicId: id, partition, fetchOffset, partitionMaxBytes: 1 << 20, currentLeaderEpoch: -1 }));
    /** One fetch in the session; the partitions its answer carried. */
    const fetchOnce = async (maxWaitMs: number): Promise<number[]> => {
      const body = { replicaId: -1, maxWaitMs, minBytes: 1, maxBytes: 32 * 1024, isolationLevel: 0, ...builder.build(wanted()) };
      sent.push({ sessionEpoch: body.sessionEpoch, partitions: body.topics.reduce((sum, entry) => sum + entry.partitions.length, 0), bytes: encodedBytes(body) });
      const response = await connection.request(ApiKey.Fetch, FETCH_VERSION, body);
      builder.handleResponse(response.errorCode, response.sessionId);
      expect(response.errorCode).toBe(ErrorCode.NONE);
      const carried: number[] = [];
      for (const entry of response.responses) {
        expect(Buffer.from(entry.topicId).equals(Buffer.from(id))).toBe(true);
        for (const data of entry.partitions) {
          expect(data.errorCode).toBe(ErrorCode.NONE);
          carried.push(data.partitionIndex);
          for (const [baseOffset, lastOffset, count] of batches(data.records)) {
            // Every record once: batches continue exactly where this partition's last one ended.
            expect(baseOffset).toBe(nextOffset[data.partitionIndex]!);
            nextOffset[data.partitionIndex] = lastOffset + 1;
            received[data.partitionIndex]! += count;
          }
        }
      }
      return carried;
    };

    for (let fetches = 0; received.some((count) => count < RECORDS_PER_PARTITION) && fetches < FETCHES_MAX; fetches++) await fetchOnce(500);
    expect(received).toEqual(new Array<number>(PARTITIONS).fill(RECORDS_PER_PARTITION));
    expect(builder.currentSessionId).not.toBe(0);

    // The first fetch is full (epoch 0, every partition); all later ones are incremental and far smaller.
    const [full, ...incremental] = sent;
    expect(full!.sessionEpoch).toBe(0);
    expect(full!.partitions).toBe(PARTITIONS);
    expect(incremental.length).toBeGreaterThan(2);
    incremental.forEach((fetch, index) => expect(fetch.sessionEpoch).toBe(index + 1));
    expect(Math.max(...incremental.map((fetch) => fetch.partitions))).toBeLessThan(PARTITIONS);
    expect(Math.max(...incremental.map((fetch) => fetch.bytes))).toBeLessThan(full!.bytes);

    // Caught up: the next fetch names the partitions the last answer advanced, the one after none; both are answered none.
    expect(await fetchOnce(0)).toEqual([]);
    expect(await fetchOnce(0)).toEqual([]);
    const idle = sent.at(-1)!;
    expect(idle.partitions).toBe(0);
    expect(idle.bytes * 100).toBeLessThan(full!.bytes);
    console.log(`fetch request bytes: full ${full!.bytes} (${PARTITIONS} partitions), incremental ${incremental.map((fetch) => fetch.bytes).join(", ")}, idle ${idle.bytes}`);

    // Sessions outlive connections: the same session goes on over a new one, answered only the partitions with news.
    connection.close();
    connection = await connect(port);
    await produce(bootstrap, topic, [7, 500, 999].map((partition) => ({ partition, value: "late" })));
    const late = new Set<number>();
    for (let fetches = 0; late.size < 3 && fetches < 20; fetches++) for (const partition of await fetchOnce(5000)) late.add(partition);
    expect([...late].sort((a, b) => a - b)).toEqual([7, 500, 999]);
    expect(received[7]).toBe(RECORDS_PER_PARTITION + 1);
    // The cache as /metrics shows it: this one session and its 1,000 partitions (kafkajs fetches without one).
    const families = await scrape(adminUrl);
    expect(sample(families, "bunka_fetch_sessions")).toBe(1);
    expect(sample(families, "bunka_fetch_session_partitions")).toBe(PARTITIONS);
    expect(sample(families, "bunka_fetch_session_evictions_total")).toBe(0);

    // A stale epoch and an unknown session are refused at the top level, with no partitions.
    const sessionId = builder.currentSessionId;
    const stale = await connection.request(ApiKey.Fetch, FETCH_VERSION, { replicaId: -1, maxWaitMs: 0, minBytes: 1, maxBytes: 1024, sessionId, sessionEpoch: 1, topics: [], forgottenTopicsData: [] });
    expect(stale.errorCode).toBe(ErrorCode.INVALID_FETCH_SESSION_EPOCH);
    expect(stale.responses).toEqual([]);
    const unknown = await connection.request(ApiKey.Fetch, FETCH_VERSION, { replicaId: -1, maxWaitMs: 0, minBytes: 1, maxBytes: 1024, sessionId: (sessionId % 0x7ffffffe) + 1, sessionEpoch: 1, topics: [], forgottenTopicsData: [] });
    expect(unknown.errorCode).toBe(ErrorCode.FETCH_SESSION_ID_NOT_FOUND);
    // A session opened by id serves no fetch by name (v12).
    const byName = await connection.request(ApiKey.Fetch, 12, { replicaId: -1, maxWaitMs: 0, minBytes: 1, maxBytes: 1024, sessionId, sessionEpoch: 1, topics: [], forgottenTopicsData: [] });
    expect([ErrorCode.FETCH_SESSION_TOPIC_ID_ERROR, ErrorCode.INVALID_FETCH_SESSION_EPOCH]).toContain(byName.errorCode);
  } finally {
    connection.close();
  }
}, 180_000);

test("a fetch by the id of a deleted topic is UNKNOWN_TOPIC_ID, not the data of the topic re-created under its name; a partition named twice is fetched once", async () => {
  const { bootstrap, port } = broker ?? (await startBroker());
  const topic = "recreated";
  await createTopic(bootstrap, topic, 1);
  await produce(bootstrap, topic, [0, 1, 2].map(() => ({ partition: 0, value: "old" })));
  const connection = await connect(port);
  try {
    const oldId = await topicId(connection, topic);
    const fetchById = (id: Uint8Array, sessionId: number, sessionEpoch: number, partitions: { fetchOffset: number }[]) =>
      connection.request(ApiKey.Fetch, FETCH_VERSION, {
        replicaId: -1, maxWaitMs: 0, minBytes: 1, maxBytes: 1 << 20, sessionId, sessionEpoch, forgottenTopicsData: [],
        topics: partitions.length === 0 ? [] : [{ topicId: id, partitions: partitions.map(({ fetchOffset }) => ({ partition: 0, fetchOffset, partitionMaxBytes: 1 << 20, currentLeaderEpoch: -1, logStartOffset: -1 })) }],
      });
    // A session on the old topic, caught up at offset 3.
    const opened = await fetchById(oldId, 0, 0, [{ fetchOffset: 3 }]);
    expect(opened.errorCode).toBe(ErrorCode.NONE);
    expect(opened.sessionId).not.toBe(0);
    expect(opened.responses[0].partitions[0].highWatermark).toBe(3);

    const admin = kafkaClient(bootstrap).admin();
    await admin.connect();
    try {
      await admin.deleteTopics({ topics: [topic] });
    } finally {
      await admin.disconnect();
    }
    await createTopic(bootstrap, topic, 1);
    await produce(bootstrap, topic, [0, 1, 2, 3, 4, 5].map(() => ({ partition: 0, value: "new" })));
    const newId = await topicId(connection, topic);
    expect(Buffer.from(newId).equals(Buffer.from(oldId))).toBe(false);

    // Without a session: the old id names nothing now.
    const sessionless = await fetchById(oldId, 0, -1, [{ fetchOffset: 0 }]);
    expect(sessionless.errorCode).toBe(ErrorCode.NONE);
    const answer = sessionless.responses[0].partitions[0];
    expect(answer.errorCode).toBe(ErrorCode.UNKNOWN_TOPIC_ID);
    expect(batches(answer.records)).toEqual([]);
    // In the session opened before the deletion: the same.
    const incremental = await fetchById(oldId, opened.sessionId, 1, []);
    expect(incremental.errorCode).toBe(ErrorCode.NONE);
    expect(incremental.responses[0].partitions[0].errorCode).toBe(ErrorCode.UNKNOWN_TOPIC_ID);
    expect(batches(incremental.responses[0].partitions[0].records)).toEqual([]);
    // The new id reads the new topic's six records.
    const current = await fetchById(newId, 0, -1, [{ fetchOffset: 0 }]);
    expect(current.responses[0].partitions[0].errorCode).toBe(ErrorCode.NONE);
    expect(batches(current.responses[0].partitions[0].records).reduce((sum, [, , count]) => sum + count, 0)).toBe(6);
    // The old id's error does not end a long poll (Kafka's "erroneous" partitions): a fetch of it and of the new
    // topic's end waits, and is answered with the record produced while it waited.
    const waiting = connection.request(ApiKey.Fetch, FETCH_VERSION, {
      replicaId: -1, maxWaitMs: 30_000, minBytes: 1, maxBytes: 1 << 20, sessionId: 0, sessionEpoch: -1, forgottenTopicsData: [],
      topics: [oldId, newId].map((id) => ({ topicId: id, partitions: [{ partition: 0, fetchOffset: 6, partitionMaxBytes: 1 << 20, currentLeaderEpoch: -1, logStartOffset: -1 }] })),
    });
    await produce(bootstrap, topic, [{ partition: 0, value: "while waiting" }]);
    const waited = await waiting;
    expect(waited.responses.map((entry: { partitions: { errorCode: number }[] }) => entry.partitions[0]!.errorCode)).toEqual([ErrorCode.UNKNOWN_TOPIC_ID, ErrorCode.NONE]);
    expect(batches(waited.responses[1].partitions[0].records)).toEqual([[6, 6, 1]]);
    // A partition named twice is fetched once, with its last parameters (Kafka's request map).
    const atEnd = await fetchById(newId, 0, -1, [{ fetchOffset: 0 }, { fetchOffset: 7 }]);
    expect(atEnd.responses).toHaveLength(1);
    expect(atEnd.responses[0].partitions).toHaveLength(1);
    expect(batches(atEnd.responses[0].partitions[0].records)).toEqual([]);
    const fromStart = await fetchById(newId, 0, -1, [{ fetchOffset: 7 }, { fetchOffset: 0 }]);
    expect(fromStart.responses[0].partitions).toHaveLength(1);
    expect(batches(fromStart.responses[0].partitions[0].records).reduce((sum, [, , count]) => sum + count, 0)).toBe(7);
  } finally {
    connection.close();
  }
}, 180_000);
