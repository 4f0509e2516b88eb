// KIP-932 share groups end to end, against a real broker process over real sockets. No client installed here
// speaks share groups at the v0 schemas (docs/share-groups.md), so the consumers are src/client/share-consumer.ts,
// built from the generated codecs, each with its own connections.
//
// Four share consumers drain a 1-partition topic of 100,000 records together while the broker is SIGKILLed and
// restarted in the middle: every record is accepted exactly once (a record whose acknowledgement was in flight
// at the kill has an unknown outcome and may be accepted at most once more), records released once come back,
// records always released reach the delivery count limit and land in the dead-letter topic, as do rejected ones.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { BrokerProcess } from "../helpers/broker-process.ts";
import { createTopic, produceRecords, readAll, uniqueNames } from "../../src/testing/helpers.ts";
import { KafkaConnection } from "../../src/client/kafka-connection.ts";
import { AcknowledgeType, ShareConsumer, type ShareRecord } from "../../src/client/share-consumer.ts";
import { Apis } from "../../src/protocol/generated/index.ts";
import { ErrorCode } from "../../src/protocol/errors.ts";

const RECORDS = Number(process.env.SHARE_TEST_RECORDS ?? 100_000);
const BATCH = 250;
const CONSUMERS = 4;
const DELIVERY_LIMIT = 3;
/** Always released: archived after DELIVERY_LIMIT deliveries, then copied to the dead-letter topic. */
const isPoison = (i: number) => i % 10_000 === 5000;
/** Rejected at their first delivery: archived and copied to the dead-letter topic. */
const isRejected = (i: number) => i % 10_000 === 2500;
/** Released at their first delivery, accepted at the next. */
const isReleasedOnce = (i: number) => i % 1000 === 7;
const TEST_TIMEOUT_MS = 170_000;
const DRAIN_DEADLINE_MS = 150_000;

const decoder = new TextDecoder();
const names = uniqueNames("share");

async function alterGroupConfigs(port: number, groupId: string, configs: Record<string, string>): Promise<void> {
  const connection = await KafkaConnection.connect({ host: "127.0.0.1", port });
  try {
    const response = await connection.request(Apis.IncrementalAlterConfigs.apiKey, 1, {
      resources: [{ resourceType: 32, resourceName: groupId, configs: Object.entries(configs).map(([name, value]) => ({ name, configOperation: 0, value })) }],
      validateOnly: false,
    });
    const result = response.responses[0];
    if (result.errorCode !== ErrorCode.NONE) throw new Error(`IncrementalAlterConfigs: ${result.errorCode} ${result.errorMessage}`);
  } finally {
    connection.close();
  }
}

describe("share groups (KIP-932)", () => {
  let broker: BrokerProcess;

  beforeAll(async () => {
    broker = new BrokerProcess({
      properties: {
        "group.share.partition.max.record.locks": "2000",
        "group.share.heartbeat.interval.ms": "500",
        "share.coordinator.state.topic.num.partitions": "3",
        "offsets.topic.num.partitions": "3",
      },
    });
    await broker.start();
  }, 60_000);

  afterAll(async () => {
    await broker?.cleanup();
  });

  test("four share consumers, 100,000 records, releases, rejects, dead letters and a broker SIGKILL: every record accepted exactly once", async () => {
    const topic = names.topic();
    const groupId = names.group();
    const dlq = `dlq.${topic}`;
    await createTopic(broker.bootstrap, topic, { partitions: 1 });
    for (let base = 0; base < RECORDS; base += BATCH) {
      await produceRecords(broker.bootstrap, topic, Array.from({ length: BATCH }, (_, j) => ({ key: `k${base + j}`, value: `v${base + j}` })));
    }
    await alterGroupConfigs(broker.port, groupId, {
      "share.auto.offset.reset": "earliest",
      "share.delivery.count.limit": String(DELIVERY_LIMIT),
      "errors.deadletterqueue.topic.name": dlq,
    });

    const acceptedOk = new Uint8Array(RECORDS);
    const unknown = new Set<number>();
    const deliveries = new Uint16Array(RECORDS);
    const acceptedBy = new Array<number>(CONSUMERS).fill(0);
    let accepted = 0;
    let killed = false;
    let done = false;
    const started = performance.now();

    const normalRemaining = () => {
      let remaining = 0;
      for (let i = 0; i < RECORDS; i++) if (!isPoison(i) && !isRejected(i) && acceptedOk[i] === 0 && !unknown.has(i)) remaining++;
      return remaining;
    };

    const worker = async (id: number) => {
      let consumer: ShareConsumer | null = null;
      while (!done && performance.now() - started < DRAIN_DEADLINE_MS) {
        if (!consumer) {
          try {
            consumer = await ShareConsumer.connect({ host: "127.0.0.1", port: broker.port, groupId, topics: [topic], maxWaitMs: 300, maxBytes: 8192, clientId: `share-${id}` });
          } catch {
            await Bun.sleep(100);
            continue;
          }
        }
        let inFlight: { record: ShareRecord; type: number }[] = [];
        try {
          const records = await consumer.poll();
          for (const record of records) {
            const i = Number(record.offset);
            expect(decoder.decode(record.value!)).toBe(`v${i}`);
            deliveries[i]!++;
            let type: number = AcknowledgeType.ACCEPT;
            if (isPoison(i)) type = AcknowledgeType.RELEASE;
            else if (isRejected(i)) type = AcknowledgeType.REJECT;
            else if (isReleasedOnce(i) && record.deliveryCount === 1) type = AcknowledgeType.RELEASE;
            consumer.ack(record, type);
            inFlight.push({ record, type });
          }
          const { taken } = await consumer.acknowledge();
          const takenOffsets = new Set(taken.map((ack) => ack.offset));
          for (const { record, type } of inFlight) {
            const i = Number(record.offset);
            if (type !== AcknowledgeType.ACCEPT || !takenOffsets.has(i)) continue;
            acceptedOk[i]!++;
            acceptedBy[id]!++;
            accepted++;
          }
          inFlight = [];
        } catch {
          // The broker died under us: the acknowledgements just sent may or may not have been taken.
          for (const { record, type } of inFlight) if (type === AcknowledgeType.ACCEPT) unknown.add(Number(record.offset));
          consumer.closeConnections();
          consumer = null;
          await Bun.sleep(100);
        }
      }
      await consumer?.close();
    };

    const workers = Array.from({ length: CONSUMERS }, (_, id) => worker(id));

    // SIGKILL the broker once a third is accepted, and start it again on the same data dir and port.
    const chaos = (async () => {
      while (!done && accepted < RECORDS / 3 && performance.now() - started < DRAIN_DEADLINE_MS) await Bun.sleep(20);
      if (done) return;
      await broker.kill();
      killed = true;
      await broker.start();
    })();

    let dlqRecords: Awaited<ReturnType<typeof readAll>> = [];
    const expectedDead = Array.from({ length: RECORDS }, (_, i) => i).filter((i) => isPoison(i) || isRejected(i));
    let drainedMs = -1;
    while (performance.now() - started < DRAIN_DEADLINE_MS) {
      await Bun.sleep(500);
      if (!killed || normalRemaining() > 0) continue;
      if (drainedMs < 0) drainedMs = performance.now() - started;
      dlqRecords = await readAll(broker.bootstrap, dlq).catch(() => []);
      const dead = new Set(dlqRecords.map((record) => Number(decoder.decode(record.headers.find((header) => header.key === "_dlq.errors.original.offset")!.value!))));
      if (expectedDead.every((i) => dead.has(i))) break;
    }
    done = true;
    await Promise.all([...workers, chaos]);
    const elapsedMs = performance.now() - started;
    console.log(`share groups: ${accepted} accepted in ${(drainedMs / 1000).toFixed(1)} s (done at ${(elapsedMs / 1000).toFixed(1)} s) by [${acceptedBy.join(", ")}], ${unknown.size} with an unknown outcome at the kill, ${dlqRecords.length} dead letters`);

    expect(killed).toBe(true);
    // Every consumer took part.
    for (const count of acceptedBy) expect(count).toBeGreaterThan(0);
    // Exactly once: no record accepted twice, every ordinary record accepted (or its one acceptance lost with the kill).
    for (let i = 0; i < RECORDS; i++) {
      expect(acceptedOk[i]!).toBeLessThanOrEqual(1);
      if (isPoison(i) || isRejected(i)) expect(acceptedOk[i]!).toBe(0);
      else if (acceptedOk[i] === 0) expect(unknown.has(i)).toBe(true);
    }
    expect(unknown.size).toBeLessThan(4 * 2000);
    // Released once, delivered again.
    for (let i = 7; i < RECORDS; i += 1000) if (!unknown.has(i)) expect(deliveries[i]!).toBeGreaterThanOrEqual(2);
    // The dead-letter topic: every poison record after DELIVERY_LIMIT deliveries, every rejected record, with where they came from.
    const dead = new Map<number, Record<string, string>>();
    for (const record of dlqRecords) {
      const headers = Object.fromEntries(record.headers.map((header) => [header.key, decoder.decode(header.value!)]));
      const offset = Number(headers["_dlq.errors.original.offset"]);
      expect(decoder.decode(record.value!)).toBe(`v${offset}`);
      expect(decoder.decode(record.key!)).toBe(`k${offset}`);
      expect(headers["_dlq.errors.original.topic"]).toBe(topic);
      expect(headers["_dlq.errors.original.partition"]).toBe("0");
      expect(headers["_dlq.errors.group.id"]).toBe(groupId);
      dead.set(offset, headers);
    }
    expect([...dead.keys()].sort((a, b) => a - b)).toEqual(expectedDead);
    for (const [offset, headers] of dead) {
      if (isPoison(offset)) {
        expect(headers["_dlq.errors.disposition"]).toBe("MAX_DELIVERY_ATTEMPTS_REACHED");
        expect(headers["_dlq.errors.delivery.count"]).toBe(String(DELIVERY_LIMIT));
      } else expect(headers["_dlq.errors.disposition"]).toBe("CLIENT_REJECTED");
    }

    // Nothing is left to deliver, now or after another SIGKILL: the state on disk says so.
    await broker.kill();
    await broker.start();
    const last = await ShareConsumer.connect({ host: "127.0.0.1", port: broker.port, groupId, topics: [topic], maxWaitMs: 500 });
    try {
      expect(await last.poll()).toEqual([]);
    } finally {
      await last.close();
    }
  }, TEST_TIMEOUT_MS);
});
