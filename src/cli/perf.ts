// `bunka perf produce|consume`: like kafka-producer-perf-test.sh / kafka-consumer-perf-test.sh. Produce
// reports records/s, MB/s and the latency of each Produce request (send to acknowledgement: every record
// in a batch has its batch's latency) as p50/p99/max.
import type { Command } from "commander";
import { ApiKey } from "../protocol/generated/index.ts";
import { ErrorCode, errorName } from "../protocol/errors.ts";
import { LOG_OVERHEAD, RECORDS_COUNT_OFFSET, RECORDS_OFFSET, batchSizeBytes, dataViewOf } from "../records/batch.ts";
import { clientOptions, type CommonOptions } from "./common.ts";
import { KafkaClient } from "./kafka-client.ts";
import { CliError, Progress, printJson } from "./output.ts";
import { BatchProducer, COMPRESSION_CODECS, parseAcks } from "./producer.ts";
import { parseNonNegativeInt } from "./produce.ts";

function percentile(sorted: number[], fraction: number): number {
  if (sorted.length === 0) return 0;
  return sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * fraction))]!;
}

export function registerPerf(program: Command): void {
  const perf = program.command("perf").description("producer and consumer throughput and latency");

  perf
    .command("produce")
    .description("produce N records of a given size as fast as allowed")
    .requiredOption("-t, --topic <topic>", "topic (auto-created when the broker allows)")
    .option("-n, --num-records <n>", "records to produce", "100000")
    .option("-s, --record-size <bytes>", "value size", "1024")
    .option("--acks <acks>", "all (-1), 1 or 0", "all")
    .option("-z, --compression <codec>", "none, gzip, lz4 or zstd", "none")
    .option("--batch-bytes <bytes>", "batch size per partition", "1048576")
    .action(async (options: { topic: string; numRecords: string; recordSize: string; acks: string; compression: string; batchBytes: string }, command: Command) => {
      const common = command.optsWithGlobals() as CommonOptions;
      const total = parseNonNegativeInt(options.numRecords, "--num-records");
      const recordSize = parseNonNegativeInt(options.recordSize, "--record-size");
      const compression = COMPRESSION_CODECS[options.compression];
      if (compression === undefined) throw new CliError(`--compression must be one of ${Object.keys(COMPRESSION_CODECS).join(", ")}`);
      const latencies: number[] = [];
      const client = await KafkaClient.connect(clientOptions(common));
      try {
        const topic = await client.topic(options.topic, { autoCreate: true });
        const producer = new BatchProducer(client, topic, {
          acks: parseAcks(options.acks),
          compression,
          batchBytes: Math.max(1, parseNonNegativeInt(options.batchBytes, "--batch-bytes")),
          maxInFlight: 8,
          timeoutMs: 30_000,
          onAcknowledged: (records, latencyMs) => {
            for (let i = 0; i < records; i++) latencies.push(latencyMs);
          },
        });
        // Random payload bytes (so compression measures something real), shared by every record.
        const value = crypto.getRandomValues(new Uint8Array(recordSize));
        const progress = new Progress("perf produce", total);
        const startedMs = performance.now();
        for (let i = 0; i < total; i++) {
          await producer.add({ key: null, value }, null);
          if ((i & 0xfff) === 0) progress.update(i);
        }
        await producer.flush();
        progress.update(total);
        progress.finish();
        const seconds = (performance.now() - startedMs) / 1000;
        latencies.sort((a, b) => a - b);
        const report = {
          records: total,
          seconds: Number(seconds.toFixed(3)),
          recordsPerSecond: Math.round(total / seconds),
          mbPerSecond: Number(((total * recordSize) / seconds / 1048576).toFixed(2)),
          latencyMs: { p50: Number(percentile(latencies, 0.5).toFixed(1)), p99: Number(percentile(latencies, 0.99).toFixed(1)), max: Number((latencies.at(-1) ?? 0).toFixed(1)) },
        };
        if (common.json) printJson(report);
        else console.log(`${report.records} records sent, ${report.recordsPerSecond} records/sec (${report.mbPerSecond} MB/sec), latency p50 ${report.latencyMs.p50} ms, p99 ${report.latencyMs.p99} ms, max ${report.latencyMs.max} ms`);
      } finally {
        client.close();
      }
    });

  perf
    .command("consume")
    .description("read N records from the beginning of a topic, as fast as the broker serves them")
    .requiredOption("-t, --topic <topic>", "topic")
    .option("-n, --num-records <n>", "records to read (default: what the topic holds now)")
    .action(async (options: { topic: string; numRecords?: string }, command: Command) => {
      const common = command.optsWithGlobals() as CommonOptions;
      const client = await KafkaClient.connect(clientOptions(common));
      try {
        const topic = await client.topic(options.topic);
        const ids = topic.partitions.map((p) => p.partition);
        const positions = await client.listOffsets(topic, ids, -2);
        const ends = await client.listOffsets(topic, ids, -1);
        const available = ids.reduce((sum, p) => sum + ends.get(p)! - positions.get(p)!, 0);
        const wanted = options.numRecords === undefined ? available : Math.min(available, parseNonNegativeInt(options.numRecords, "--num-records"));
        const progress = new Progress("perf consume", wanted);
        const startedMs = performance.now();
        let records = 0;
        let bytes = 0;
        // Counts whole batches straight from the fetch bytes: this measures the broker, not record decoding.
        while (records < wanted) {
          const pending = ids.filter((p) => positions.get(p)! < ends.get(p)!);
          const byLeader = new Map<number, number[]>();
          for (const p of pending) {
            const leader = topic.partitions[p]!.leader;
            byLeader.set(leader, [...(byLeader.get(leader) ?? []), p]);
          }
          await Promise.all(
            [...byLeader].map(async ([leader, list]) => {
              const response = await (await client.brokerConnection(leader)).request(ApiKey.Fetch, 11, {
                replicaId: -1, maxWaitMs: 500, minBytes: 1, maxBytes: 52_428_800, isolationLevel: 0, sessionId: 0, sessionEpoch: -1, forgottenTopicsData: [], rackId: "",
                topics: [{ topic: topic.name, partitions: list.map((partition) => ({ partition, currentLeaderEpoch: -1, fetchOffset: positions.get(partition)!, logStartOffset: -1, partitionMaxBytes: 1_048_576 })) }],
              });
              for (const answer of response.responses[0]?.partitions ?? []) {
                if (answer.errorCode !== ErrorCode.NONE) throw new CliError(`fetch ${topic.name}-${answer.partitionIndex}: ${errorName(answer.errorCode)}`);
                const data: Uint8Array | null = answer.records;
                if (!data) continue;
                const view = dataViewOf(data);
                for (let at = 0; at + RECORDS_OFFSET <= data.byteLength; ) {
                  const size = batchSizeBytes(view, at);
                  if (size < LOG_OVERHEAD || at + size > data.byteLength) break;
                  const base = Number(view.getBigInt64(at));
                  const last = base + view.getInt32(at + 23);
                  const from = positions.get(answer.partitionIndex)!;
                  if (last >= from) {
                    records += Math.min(view.getInt32(at + RECORDS_COUNT_OFFSET), last - from + 1);
                    bytes += size;
                    positions.set(answer.partitionIndex, last + 1);
                  }
                  at += size;
                }
              }
            }),
          );
          progress.update(Math.min(records, wanted));
        }
        progress.finish();
        const seconds = (performance.now() - startedMs) / 1000;
        const report = { records, bytes, seconds: Number(seconds.toFixed(3)), recordsPerSecond: Math.round(records / seconds), mbPerSecond: Number((bytes / seconds / 1048576).toFixed(2)) };
        if (common.json) printJson(report);
        else console.log(`${records} records read (${(bytes / 1048576).toFixed(1)} MB), ${report.recordsPerSecond} records/sec (${report.mbPerSecond} MB/sec)`);
      } finally {
        client.close();
      }
    });
}
