// Fetch record data goes from the segment file to the socket without passing through JavaScript: with
// sendfile(2) (native/sendfile.c via bun:ffi) or from an mmap view. Under backpressure the stream stays
// byte-exact, other consumers are served meanwhile, the queue stays bounded, and a consumer that
// disconnects mid-response costs nothing. Raw sockets on 127.0.0.1 against an in-process broker.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { closeSync, openSync, readdirSync, readSync, rmSync } from "node:fs";
import { join } from "node:path";
import type { Socket } from "bun";
import { concatBytes, decodeResponse, encodeRequest, scanBatches, splitFrames } from "../../bench/kafka-frames.ts";
import { KafkaConnection } from "../../src/client/kafka-connection.ts";
import { ApiKey } from "../../src/protocol/generated/index.ts";
import { buildBatch } from "../../src/records/compression.ts";
import { startBroker, type Broker } from "../../src/server/broker.ts";
import { writeQueueStats } from "../../src/server/connection.ts";
import { fileTransferStats, nativeSendfile, nativeSendfileStatus } from "../../src/server/sendfile.ts";
import { tempDir } from "../helpers/broker-process.ts";

const TOPIC = "transfer";
const BATCHES = 24;
const RECORDS_PER_BATCH = 1000;
const RECORD_BYTES = 1000; // ~1 MiB batches, 24 MiB in the partition
const WRITE_QUEUE_MAX_BYTES = 4 * 1024 * 1024;
const FETCH_VERSION = 11;
const WAIT_STEP_MS = 10;

let broker: Broker;
let dataDir: string;
let logLines: string[] = [];
/** The partition's bytes as stored: what every fetch from offset 0 must return, byte for byte. */
let stored: Uint8Array;

beforeAll(async () => {
  dataDir = tempDir("transfer");
  // listen=false: the counters read here (fileTransferStats, writeQueueStats) are this thread's, so the
  // socket thread, not a listening partition worker, must be the one that writes the responses.
  broker = await startBroker({
    port: 0,
    dataDir,
    partitionWorkersListen: false,
    connectionWriteQueueMaxBytes: WRITE_QUEUE_MAX_BYTES,
    log: (line) => logLines.push(line),
  });
  const client = await KafkaConnection.connect({ host: "127.0.0.1", port: broker.port });
  try {
    const created = await client.request(ApiKey.CreateTopics, 4, { topics: [{ name: TOPIC, numPartitions: 1, replicationFactor: 1 }], timeoutMs: 10_000 });
    expect(created.topics[0].errorCode).toBe(0);
    for (let batchIndex = 0; batchIndex < BATCHES; batchIndex++) {
      const records = Array.from({ length: RECORDS_PER_BATCH }, (_, i) => {
        const value = new Uint8Array(RECORD_BYTES);
        for (let b = 0; b < RECORD_BYTES; b += 4) value[b] = (batchIndex * 131 + i * 7 + b) & 0xff;
        return { key: new TextEncoder().encode(`k${batchIndex}-${i}`), value };
      });
      const produced = await client.request(ApiKey.Produce, 7, {
        acks: 1,
        timeoutMs: 10_000,
        topicData: [{ name: TOPIC, partitionData: [{ index: 0, records: buildBatch({ records }) }] }],
      });
      expect(produced.responses[0].partitionResponses[0].errorCode).toBe(0);
    }
  } finally {
    client.close();
  }
  const partitionDir = join(dataDir, `${TOPIC}-0`);
  const logFile = readdirSync(partitionDir).find((name) => name.endsWith(".log"))!;
  // The .log is preallocated: read only the bytes the batches occupy.
  const fd = openSync(join(partitionDir, logFile), "r");
  const head = new Uint8Array(64 * 1024 * 1024);
  const readBytes = readSync(fd, head, 0, head.byteLength, 0);
  closeSync(fd);
  stored = head.subarray(0, scanBatches(head.subarray(0, readBytes)).wholeBytes);
  expect(scanBatches(stored).records).toBe(BATCHES * RECORDS_PER_BATCH);
});

afterAll(async () => {
  await broker?.stop();
  rmSync(dataDir, { recursive: true, force: true });
});

/** A raw Kafka client socket whose reading can be paused, so the broker's writes hit EAGAIN. */
class RawConsumer {
  private readonly chunks: Uint8Array[] = [];
  receivedBytes = 0;
  closed = false;
  private constructor(private socket: Socket<undefined>) {}

  static async connect(port: number, paused = false): Promise<RawConsumer> {
    let consumer!: RawConsumer;
    const socket = await Bun.connect<undefined>({
      hostname: "127.0.0.1",
      port,
      socket: {
        open: (opened) => {
          if (paused) opened.pause();
        },
        data: (_socket, chunk) => {
          consumer.chunks.push(chunk);
          consumer.receivedBytes += chunk.byteLength;
        },
        close: () => {
          consumer.closed = true;
        },
      },
    });
    consumer = new RawConsumer(socket);
    return consumer;
  }

  /** Sends fetches from offset 0 for the whole partition (pipelined when count > 1). */
  sendFetches(count: number, firstCorrelationId = 1): void {
    const frames: Uint8Array[] = [];
    for (let i = 0; i < count; i++) {
      frames.push(
        encodeRequest(ApiKey.Fetch, FETCH_VERSION, firstCorrelationId + i, {
          replicaId: -1,
          maxWaitMs: 0,
          minBytes: 0,
          maxBytes: 64 * 1024 * 1024,
          isolationLevel: 0,
          topics: [{ topic: TOPIC, partitions: [{ partition: 0, fetchOffset: 0, partitionMaxBytes: 64 * 1024 * 1024 }] }],
        }),
      );
    }
    const bytes = concatBytes(frames);
    expect(this.socket.write(bytes)).toBe(bytes.byteLength);
  }

  pause(): void {
    this.socket.pause();
  }

  resume(): void {
    this.socket.resume();
  }

  close(): void {
    this.socket.terminate();
  }

  async waitForBytes(bytes: number, timeoutMs = 60_000): Promise<void> {
    for (let waitedMs = 0; this.receivedBytes < bytes; waitedMs += WAIT_STEP_MS) {
      if (waitedMs > timeoutMs) throw new Error(`received ${this.receivedBytes} of ${bytes} bytes in ${timeoutMs} ms`);
      if (this.closed) throw new Error(`connection closed after ${this.receivedBytes} of ${bytes} bytes`);
      await Bun.sleep(WAIT_STEP_MS);
    }
  }

  /** Every response received, decoded; each one's records must be the stored bytes exactly. */
  responses(): { correlationId: number; records: Uint8Array }[] {
    const { payloads, usedBytes } = splitFrames(concatBytes(this.chunks));
    expect(usedBytes).toBe(this.receivedBytes);
    return payloads.map((payload) => {
      const response = decodeResponse(ApiKey.Fetch, FETCH_VERSION, payload);
      const partition = response.responses[0].partitions[0];
      expect(partition.errorCode).toBe(0);
      return { correlationId: (payload[0]! << 24) | (payload[1]! << 16) | (payload[2]! << 8) | payload[3]!, records: partition.records };
    });
  }
}

/** Size of one full-partition fetch response on the wire (frame prefix included). */
function fullResponseBytes(): number {
  // Response v11: size 4, correlation id 4, throttle 4, error 2, session 4, topics array 4 + name (2+len)
  // + partitions array 4, partition: index 4, error 2, hw 8, lso 8, log start 8, aborted array 4,
  // preferred replica 4, records 4 + bytes.
  return 4 + 4 + 4 + 2 + 4 + 4 + 2 + TOPIC.length + 4 + 4 + 2 + 8 + 8 + 8 + 4 + 4 + 4 + stored.byteLength;
}

function expectExact(records: Uint8Array): void {
  expect(records.byteLength).toBe(stored.byteLength);
  // Buffer.compare is a memcmp; expect().toEqual on 24 MiB would be slow.
  expect(Buffer.compare(Buffer.from(records.buffer, records.byteOffset, records.byteLength), Buffer.from(stored.buffer, stored.byteOffset, stored.byteLength))).toBe(0);
}

async function withTransfer<T>(mode: { transfer: "sendfile" | "mmap"; native: boolean }, body: () => Promise<T>): Promise<T> {
  const saved = { transfer: process.env.BUNKA_FETCH_TRANSFER, native: process.env.BUNKA_NATIVE };
  process.env.BUNKA_FETCH_TRANSFER = mode.transfer;
  if (mode.native) delete process.env.BUNKA_NATIVE;
  else process.env.BUNKA_NATIVE = "0";
  try {
    return await body();
  } finally {
    if (saved.transfer === undefined) delete process.env.BUNKA_FETCH_TRANSFER;
    else process.env.BUNKA_FETCH_TRANSFER = saved.transfer;
    if (saved.native === undefined) delete process.env.BUNKA_NATIVE;
    else process.env.BUNKA_NATIVE = saved.native;
  }
}

test("native/sendfile.c compiles with bun:ffi cc and loads", () => {
  expect(nativeSendfile()).not.toBeNull();
  expect(nativeSendfileStatus()).toContain("compiled");
});

const modes = [
  { name: "sendfile", transfer: "sendfile", native: true },
  { name: "mmap (native code forced off with BUNKA_NATIVE=0)", transfer: "sendfile", native: false },
] as const;

for (const mode of modes) {
  describe(`fetch data over ${mode.name}`, () => {
    test("a 24 MiB fetch arrives byte-exact, carried by the chosen path", async () => {
      await withTransfer(mode, async () => {
        const before = { ...fileTransferStats };
        const consumer = await RawConsumer.connect(broker.port);
        try {
          consumer.sendFetches(1);
          await consumer.waitForBytes(fullResponseBytes());
          const [response] = consumer.responses();
          expectExact(response!.records);
        } finally {
          consumer.close();
        }
        if (mode.native) {
          expect(fileTransferStats.sendfileBytes - before.sendfileBytes).toBe(stored.byteLength);
          expect(fileTransferStats.mmapBytes - before.mmapBytes).toBe(0);
        } else {
          expect(fileTransferStats.sendfileBytes - before.sendfileBytes).toBe(0);
          expect(fileTransferStats.mmapBytes - before.mmapBytes).toBe(stored.byteLength);
        }
      });
    });

    test("a consumer that stops reading: others are served meanwhile, the queue stays bounded, its stream is exact when it resumes", async () => {
      await withTransfer(mode, async () => {
        const before = { ...fileTransferStats };
        writeQueueStats.queuedBytesMax = 0;
        const PIPELINED_FETCHES = 6; // 6 x 24 MiB asked for, while the broker may queue 4 MiB
        const slow = await RawConsumer.connect(broker.port, true);
        try {
          slow.sendFetches(PIPELINED_FETCHES);
          // The broker fills the socket buffers and then has to wait: EAGAIN, drain armed.
          for (let waitedMs = 0; writeQueueStats.queuedBytesMax === 0 && waitedMs < 10_000; waitedMs += WAIT_STEP_MS) await Bun.sleep(WAIT_STEP_MS);
          await Bun.sleep(200);
          expect(slow.receivedBytes).toBe(0);

          // Another consumer on its own connection gets its whole response while the slow one is stuck.
          const fast = await RawConsumer.connect(broker.port);
          try {
            fast.sendFetches(2);
            await fast.waitForBytes(2 * fullResponseBytes());
            for (const response of fast.responses()) expectExact(response.records);
          } finally {
            fast.close();
          }
          expect(slow.receivedBytes).toBe(0);

          // Bounded: at most the queue limit plus the one response that crossed it, never six responses.
          expect(writeQueueStats.queuedBytesMax).toBeLessThanOrEqual(WRITE_QUEUE_MAX_BYTES + fullResponseBytes());

          slow.resume();
          await slow.waitForBytes(PIPELINED_FETCHES * fullResponseBytes(), 120_000);
          const responses = slow.responses();
          expect(responses.map((response) => response.correlationId)).toEqual(Array.from({ length: PIPELINED_FETCHES }, (_, i) => i + 1));
          for (const response of responses) expectExact(response.records);
        } finally {
          slow.close();
        }
        if (mode.native) expect(fileTransferStats.sendfileArms - before.sendfileArms).toBeGreaterThan(0);
        else expect(fileTransferStats.sendfileCalls - before.sendfileCalls).toBe(0);
      });
    });

    test("a consumer that disconnects mid-response: the broker drops the rest, releases the file, and serves the next one", async () => {
      await withTransfer(mode, async () => {
        const quitter = await RawConsumer.connect(broker.port);
        quitter.sendFetches(3);
        await quitter.waitForBytes(1024 * 1024);
        quitter.pause();
        quitter.close();
        // The broker notices (EPIPE/ECONNRESET or close) and drops the queued ranges.
        for (let waitedMs = 0; broker.segmentViews.pinnedFds > 0 && waitedMs < 10_000; waitedMs += WAIT_STEP_MS) await Bun.sleep(WAIT_STEP_MS);
        expect(broker.segmentViews.pinnedFds).toBe(0);

        const next = await RawConsumer.connect(broker.port);
        try {
          next.sendFetches(1);
          await next.waitForBytes(fullResponseBytes());
          expectExact(next.responses()[0]!.records);
        } finally {
          next.close();
        }
      });
    });
  });
}
