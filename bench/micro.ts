// Micro-benchmarks (tinybench): the CPU work on the produce and fetch paths, each in isolation.
import { crc32c } from "@node-rs/crc32";
import { compressFrame, compressFrameSync, decompressFrame } from "lz4-napi";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Bench } from "tinybench";
import { OffsetIndex } from "../src/log/offset-index.ts";
import { Reader } from "../src/protocol/codec/reader.ts";
import { Writer } from "../src/protocol/codec/writer.ts";
import { ApiKey, apiSchemas } from "../src/protocol/generated/index.ts";
import { readRequestHeader, writeResponseHeader } from "../src/protocol/generated/headers.ts";
import { CompressionType, NO_RECORD_CHECKS, validateBatches, type RecordChecks } from "../src/records/batch.ts";
import { buildBatch } from "../src/records/compression.ts";
import { decompressBounded } from "../src/records/decompression.ts";
import { encodeRequest } from "./kafka-frames.ts";
import { AclAuthorizer } from "../src/security/acl/authorizer.ts";
import { AclOperation, AclPermission, PatternType, ResourceType, type AclBinding } from "../src/security/acl/model.ts";

export interface MicroResult {
  group: string;
  name: string;
  /** Operations per second (mean). */
  opsPerSecond: number;
  /** Bytes processed per operation, for a GB/s figure (0 = not a byte-rate benchmark). */
  bytesPerOp: number;
  meanUs: number;
  p99Us: number;
  samples: number;
}

function values(count: number, bytes: number): Uint8Array[] {
  return Array.from({ length: count }, (_, i) => {
    const value = new Uint8Array(bytes);
    const text = new TextEncoder().encode(`{"id":${i},"user":"user-${i % 1000}","event":"click","page":"/products/${i % 97}","ts":${1700000000000 + i}}`);
    for (let p = 0; p < bytes; p++) value[p] = text[p % text.byteLength]!;
    return value;
  });
}

export async function runMicro(options: { quick: boolean; progress: (line: string) => void }): Promise<MicroResult[]> {
  const timeMs = options.quick ? 150 : 1000;
  const warmupMs = options.quick ? 30 : 200;
  const bench = new Bench({ time: timeMs, warmupTime: warmupMs });
  const meta = new Map<string, { group: string; bytesPerOp: number }>();
  const add = (group: string, name: string, bytesPerOp: number, fn: () => unknown): void => {
    meta.set(name, { group, bytesPerOp });
    bench.add(name, fn);
  };

  // Protocol: decode a produce request (1 partition, 16 KiB batch), encode a fetch response with a file hole.
  const batch16k = buildBatch({ records: values(150, 100).map((value) => ({ key: null, value })) });
  const produceFrame = encodeRequest(ApiKey.Produce, 7, 1, {
    acks: 1,
    timeoutMs: 30000,
    topicData: [{ name: "bench-topic", partitionData: [{ index: 0, records: batch16k }] }],
  }).subarray(4);
  const produceSchema = apiSchemas.get(ApiKey.Produce)!;
  add("protocol", "decode Produce v7 request (1 partition, 16 KiB batch)", 0, () => {
    const reader = new Reader(produceFrame);
    readRequestHeader(reader, 1);
    return produceSchema.readRequest(reader, 7);
  });
  const fetchSchema = apiSchemas.get(ApiKey.Fetch)!;
  const fetchBody = {
    throttleTimeMs: 0,
    errorCode: 0,
    sessionId: 0,
    responses: [
      {
        topic: "bench-topic",
        partitions: Array.from({ length: 4 }, (_, partitionIndex) => ({
          partitionIndex,
          errorCode: 0,
          highWatermark: 123456,
          lastStableOffset: 123456,
          logStartOffset: 0,
          abortedTransactions: [],
          preferredReadReplica: -1,
          records: { external: true as const, sizeBytes: 1048576 },
        })),
      },
    ],
  };
  add("protocol", "encode Fetch v11 response (4 partitions, records as file holes)", 0, () => {
    const writer = new Writer();
    const sizeAt = writer.reserveInt32();
    writeResponseHeader(writer, 0, { correlationId: 7 });
    fetchSchema.writeResponse(writer, 11, fetchBody);
    writer.patchInt32(sizeAt, writer.sizeBytes - 4);
    return writer.finish();
  });

  // Batch validation as on produce (CRC32C over the batch, record framing walk).
  const batch1m1k = buildBatch({ records: values(1000, 1024).map((value) => ({ key: null, value })) });
  const batch1m100 = buildBatch({ records: values(9000, 100).map((value) => ({ key: null, value })) });
  add("batch validation", "validate 1 MiB batch of 1 KiB records", batch1m1k.byteLength, () => validateBatches(batch1m1k, 2 ** 30, "client"));
  add("batch validation", "validate 1 MiB batch of 100 B records", batch1m100.byteLength, () => validateBatches(batch1m100, 2 ** 30, "client"));
  add("batch validation", "validate 16 KiB batch of 100 B records", batch16k.byteLength, () => validateBatches(batch16k, 2 ** 30, "client"));
  // Compressed batches as a produce validates them: bounded decompression, then the same record walk
  // (the GB/s figure is of uncompressed records bytes).
  const produceChecks: RecordChecks = { ...NO_RECORD_CHECKS, nowMs: Date.now(), openSection: decompressBounded, decompressedMaxBytes: 32 << 20 };
  for (const [codecName, codec] of [["lz4", CompressionType.LZ4], ["zstd", CompressionType.ZSTD], ["gzip", CompressionType.GZIP]] as const) {
    const compressedBatch = buildBatch({ records: values(1000, 1024).map((value) => ({ key: null, value })), compression: codec });
    add("batch validation", `validate 1 MiB batch of 1 KiB records, ${codecName} (decompress + record walk)`, batch1m1k.byteLength, () =>
      validateBatches(compressedBatch, 2 ** 30, "client", produceChecks),
    );
  }

  // CRC32C (@node-rs/crc32, hardware instructions).
  for (const size of [1024, 65536, 1048576]) {
    const data = batch1m1k.subarray(0, size);
    add("crc32c", `crc32c ${size >= 1048576 ? "1 MiB" : `${size / 1024} KiB`}`, size, () => crc32c(data));
  }

  // Offset index lookup (binary search over an mmap'd index, warm entries first).
  const dir = mkdtempSync(join(tmpdir(), "bunka-micro-"));
  const indexEntries = 500_000;
  const index = new OffsetIndex(join(dir, "00000000000000000000.index"), 0, indexEntries * 8, true);
  for (let i = 0; i < indexEntries; i++) index.append(i * 100, i * 4096);
  let probe = 0;
  add("index", `offset index lookup (${indexEntries.toLocaleString("en-US")} entries, random offsets)`, 0, () => {
    probe = (probe * 1103515245 + 12345) & 0x7fffffff;
    return index.lookup(probe % (indexEntries * 100));
  });
  add("index", "offset index lookup (tail: the offset a caught-up consumer asks for)", 0, () => index.lookup(indexEntries * 100 - 50));

  // LZ4 frames (lz4-napi): async on the threadpool (what the broker uses) and sync for comparison.
  const section = batch1m1k.subarray(61, 61 + 256 * 1024);
  const compressed = await compressFrame(Buffer.from(section));
  add("lz4", "LZ4 compressFrame 256 KiB (async, threadpool)", section.byteLength, async () => compressFrame(Buffer.from(section.buffer, section.byteOffset, section.byteLength)));
  add("lz4", "LZ4 compressFrameSync 256 KiB", section.byteLength, () => compressFrameSync(Buffer.from(section.buffer, section.byteOffset, section.byteLength)));
  add("lz4", "LZ4 decompressFrame 256 KiB (async, threadpool)", section.byteLength, async () => decompressFrame(compressed));

  // Authorization: one produce's check against 1,000 ACLs, from the per-connection cache (the hot path) and decided afresh.
  const acls: AclBinding[] = [];
  for (let i = 0; i < 900; i++) acls.push({ resourceType: ResourceType.TOPIC, resourceName: `topic-${i}`, patternType: PatternType.LITERAL, principal: `User:app-${i % 30}`, host: "*", operation: AclOperation.WRITE, permission: AclPermission.ALLOW });
  for (let i = 0; i < 100; i++) acls.push({ resourceType: ResourceType.TOPIC, resourceName: `team-${i}-`, patternType: PatternType.PREFIXED, principal: `User:app-${i % 30}`, host: "*", operation: AclOperation.READ, permission: AclPermission.ALLOW });
  const authorizer = new AclAuthorizer({ superUsers: new Set(), allowEveryoneIfNoAclFound: false }, { start: async () => acls, add: async () => undefined, remove: async () => undefined, stop: async () => undefined });
  await authorizer.start();
  const subject = { remoteIp: "127.0.0.1", security: { listener: { name: "PLAINTEXT", securityProtocol: "PLAINTEXT" as const }, principal: "User:app-7", authenticated: true } };
  add("authorization", "ACL check, cached per connection (1,000 ACLs)", 0, () => authorizer.authorize(subject, AclOperation.WRITE, ResourceType.TOPIC, "topic-427"));
  add("authorization", "ACL check, uncached (1,000 ACLs: literal, wildcard and 100 prefixes)", 0, () => authorizer.decide("User:app-7", "127.0.0.1", AclOperation.WRITE, ResourceType.TOPIC, "topic-427"));

  options.progress(`micro: ${bench.tasks.length} benchmarks, ${timeMs} ms each`);
  await bench.run();
  index.close?.();
  rmSync(dir, { recursive: true, force: true });

  const results: MicroResult[] = [];
  for (const task of bench.tasks) {
    const result = task.result as unknown as { latency?: { mean: number; p99: number; samplesCount?: number; samples?: number[] }; throughput?: { mean: number } } | undefined;
    if (!result?.latency || !result.throughput) {
      options.progress(`micro: ${task.name} failed`);
      continue;
    }
    const info = meta.get(task.name)!;
    const opsPerSecond = 1000 / result.latency.mean;
    results.push({
      group: info.group,
      name: task.name,
      opsPerSecond,
      bytesPerOp: info.bytesPerOp,
      meanUs: result.latency.mean * 1000,
      p99Us: result.latency.p99 * 1000,
      samples: result.latency.samplesCount ?? result.latency.samples?.length ?? 0,
    });
    const rate = info.bytesPerOp > 0 ? `, ${((opsPerSecond * info.bytesPerOp) / 1e9).toFixed(2)} GB/s` : "";
    options.progress(`micro: ${task.name}: ${formatOps(opsPerSecond)} ops/s (mean ${(result.latency.mean * 1000).toFixed(2)} µs${rate})`);
  }
  return results;
}

export function formatOps(opsPerSecond: number): string {
  if (opsPerSecond >= 1e6) return `${(opsPerSecond / 1e6).toFixed(2)} M`;
  if (opsPerSecond >= 1e3) return `${(opsPerSecond / 1e3).toFixed(1)} k`;
  return opsPerSecond.toFixed(0);
}

if (import.meta.main) {
  await runMicro({ quick: process.argv.includes("--quick"), progress: (line) => console.log(line) });
}
