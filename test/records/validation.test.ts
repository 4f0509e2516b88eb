// Kafka's LogValidator over real batches: every record of a compressed batch is read through bounded
// decompression and checked like an uncompressed one; bombs are refused before their output is allocated;
// transactional batches are refused while transactions are unsupported; one bad part of a coalesced
// append fails alone (real PartitionLog in a temp dir).
import { afterAll, describe, expect, test } from "bun:test";
import { mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { PartitionLog, type AppendError, type AppendInfo } from "../../src/log/partition-log.ts";
import {
  CompressionType,
  LAST_OFFSET_DELTA_OFFSET,
  MAX_TIMESTAMP_OFFSET,
  NO_RECORD_CHECKS,
  RECORDS_COUNT_OFFSET,
  RECORDS_OFFSET,
  dataViewOf,
  isRecordsProblem,
  readInt64,
  updateBatchCrc,
  validateBatches,
  writeInt64,
  type RecordChecks,
  type RecordsProblem,
} from "../../src/records/batch.ts";
import { buildBatch, rebuildBatch, readBatchRecords, encodeRecords, compressRecordsSectionSync } from "../../src/records/compression.ts";
import { convertBatches } from "../../src/records/conversion.ts";
import { decompressBounded, lz4OutputBoundBytes, zstdOutputBoundBytes } from "../../src/records/decompression.ts";
import { CORRUPT_MESSAGE, INVALID_RECORD, INVALID_TIMESTAMP, MESSAGE_TOO_LARGE, UNSUPPORTED_COMPRESSION_TYPE } from "../../src/records/errors.ts";

const MAX = 1_048_588;
const CAP = 32 * 1024 * 1024;
const NOW = 1_700_000_000_000;
const CODECS = [CompressionType.NONE, CompressionType.GZIP, CompressionType.LZ4, CompressionType.ZSTD];
const checks = (overrides: Partial<RecordChecks> = {}): RecordChecks => ({ ...NO_RECORD_CHECKS, nowMs: NOW, openSection: decompressBounded, decompressedMaxBytes: CAP, ...overrides });
const dirs: string[] = [];

afterAll(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

/** The Kafka error code `body` throws (a RecordsError), or 0 when it does not throw. */
function refusedCode(body: () => unknown): number {
  try {
    body();
    return 0;
  } catch (error) {
    return (error as { errorCode?: number }).errorCode ?? -1;
  }
}

function refused(result: ReturnType<typeof validateBatches>): RecordsProblem {
  if (!isRecordsProblem(result)) throw new Error("expected the batch to be refused");
  return result;
}

function records(count: number, keyed = true) {
  return Array.from({ length: count }, (_, index) => ({ key: keyed ? `k${index}` : null, value: `value-${index}`, timestampMs: NOW + index }));
}

/** A batch whose header is `template`'s and whose records section is `section` compressed with `codec`. */
function withSection(template: Uint8Array, codec: number, section: Uint8Array): Uint8Array {
  return rebuildBatch(template, codec, codec === CompressionType.NONE ? section : compressRecordsSectionSync(codec, section));
}

describe("compressed batches are read record by record", () => {
  test("a garbage records section flagged gzip, lz4, zstd or snappy is CORRUPT_MESSAGE", () => {
    const template = buildBatch({ records: records(3) });
    const garbage = new Uint8Array(200).map((_, index) => (index * 131 + 7) & 255);
    for (const codec of [CompressionType.GZIP, CompressionType.LZ4, CompressionType.ZSTD, CompressionType.SNAPPY]) {
      const problem = refused(validateBatches(rebuildBatch(template, codec, garbage), MAX, "client", checks()));
      expect(problem.errorCode).toBe(CORRUPT_MESSAGE);
      expect(problem.errorMessage.length).toBeGreaterThan(0);
    }
  });

  test("valid batches of every codec pass and report their record count", () => {
    for (const codec of CODECS) {
      const info = validateBatches(buildBatch({ records: records(50), compression: codec }), MAX, "client", checks());
      if (isRecordsProblem(info)) throw new Error(`codec ${codec}: ${info.errorMessage}`);
      expect(info.recordCount).toBe(50);
      expect(info.recordsChecked).toBe(true);
    }
  });

  test("a count and lastOffsetDelta that claim 2^31-1 records are refused for every codec", () => {
    for (const codec of CODECS) {
      const batch = buildBatch({ records: records(3), compression: codec });
      dataViewOf(batch).setInt32(RECORDS_COUNT_OFFSET, 0x7fff_ffff);
      dataViewOf(batch).setInt32(LAST_OFFSET_DELTA_OFFSET, 0x7fff_fffe);
      updateBatchCrc(batch);
      expect(refused(validateBatches(batch, MAX, "client", checks())).errorCode).toBe(CORRUPT_MESSAGE);
    }
  });

  test("fewer or more records than recordsCount are CORRUPT_MESSAGE", () => {
    for (const codec of CODECS) {
      const three = buildBatch({ records: records(3), compression: codec });
      const section = encodeRecords(records(3), NOW, NOW);
      // Two records' bytes under a header that says three, and four under one that says three.
      const shortSection = section.subarray(0, encodeRecords(records(2), NOW, NOW).byteLength);
      expect(refused(validateBatches(withSection(three, codec, shortSection), MAX, "client", checks())).errorCode).toBe(CORRUPT_MESSAGE);
      const longSection = encodeRecords(records(4), NOW, NOW);
      expect(refused(validateBatches(withSection(three, codec, longSection), MAX, "client", checks())).errorCode).toBe(CORRUPT_MESSAGE);
    }
  });

  test("offset deltas out of order are INVALID_RECORD with the record's index in record_errors", () => {
    for (const codec of CODECS) {
      const template = buildBatch({ records: records(2), compression: codec });
      // Two single-record sections: both records carry offsetDelta 0.
      const one = encodeRecords([records(1)[0]!], NOW, NOW);
      const section = new Uint8Array(one.byteLength * 2);
      section.set(one, 0);
      section.set(one, one.byteLength);
      const problem = refused(validateBatches(withSection(template, codec, section), MAX, "client", checks()));
      expect(problem.errorCode).toBe(INVALID_RECORD);
      expect(problem.recordErrors.map((error) => error.batchIndex)).toEqual([1]);
      expect(problem.recordErrors[0]!.message).toContain("incremental offsets");
    }
  });

  test("a record whose fields do not fill its length is CORRUPT_MESSAGE", () => {
    const section = encodeRecords(records(2), NOW, NOW);
    // The first record's length varint says one byte more, and the section gets one extra byte at its end.
    const longer = new Uint8Array(section.byteLength + 1);
    longer.set(section, 0);
    longer[0] = section[0]! + 2; // zigzag: +1 in length
    const template = buildBatch({ records: records(2) });
    for (const codec of CODECS) expect(refused(validateBatches(withSection(template, codec, longer), MAX, "client", checks())).errorCode).toBe(CORRUPT_MESSAGE);
  });

  test("a keyless record on a compacted topic is INVALID_RECORD for compressed batches too", () => {
    for (const codec of CODECS) {
      const batch = buildBatch({ records: [...records(2), { key: null, value: "no key", timestampMs: NOW }], compression: codec });
      const problem = refused(validateBatches(batch, MAX, "client", checks({ compact: true })));
      expect(problem.errorCode).toBe(INVALID_RECORD);
      expect(problem.recordErrors).toEqual([{ batchIndex: 2, message: "Compacted topic cannot accept message without key" }]);
      expect(isRecordsProblem(validateBatches(batch, MAX, "client", checks()))).toBe(false);
    }
  });

  test("CreateTime timestamps outside message.timestamp.before/after.max.ms are INVALID_TIMESTAMP", () => {
    for (const codec of CODECS) {
      const batch = buildBatch({ records: [{ key: "a", value: "old", timestampMs: NOW - 10_000 }, { key: "b", value: "now", timestampMs: NOW }, { key: "c", value: "future", timestampMs: NOW + 10_000 }], compression: codec });
      const problem = refused(validateBatches(batch, MAX, "client", checks({ timestampBeforeMaxMs: 5_000, timestampAfterMaxMs: 5_000 })));
      expect(problem.errorCode).toBe(INVALID_TIMESTAMP);
      expect(problem.recordErrors.map((error) => error.batchIndex)).toEqual([0, 2]);
      // Within the bounds, or on a LogAppendTime topic, the same batch passes.
      expect(isRecordsProblem(validateBatches(batch, MAX, "client", checks({ timestampBeforeMaxMs: 20_000, timestampAfterMaxMs: 20_000 })))).toBe(false);
      expect(isRecordsProblem(validateBatches(batch, MAX, "client", checks({ timestampBeforeMaxMs: 5_000, timestampAfterMaxMs: 5_000, logAppendTime: true })))).toBe(false);
    }
  });

  test("a CreateTime maxTimestamp that disagrees with the records is corrected in place, CRC included", async () => {
    const batch = buildBatch({ records: records(5), compression: CompressionType.LZ4 });
    writeInt64(dataViewOf(batch), MAX_TIMESTAMP_OFFSET, NOW + 999_999);
    updateBatchCrc(batch);
    expect(isRecordsProblem(validateBatches(batch, MAX, "client", checks()))).toBe(false);
    expect(readInt64(dataViewOf(batch), MAX_TIMESTAMP_OFFSET)).toBe(NOW + 4);
    // Still a valid batch afterwards (CRC recomputed).
    expect(isRecordsProblem(validateBatches(batch, MAX, "client", checks()))).toBe(false);
    expect((await readBatchRecords(batch)).length).toBe(5);
  });

  test("a transactional batch must name its producer and sequence; with them it passes validation (the log checks the transaction)", () => {
    const batch = buildBatch({ records: records(2), producerId: 4242, producerEpoch: 0, baseSequence: 0, isTransactional: true });
    expect(isRecordsProblem(validateBatches(batch, MAX, "client", checks()))).toBe(false);
    const anonymous = buildBatch({ records: records(2), isTransactional: true });
    const problem = refused(validateBatches(anonymous, MAX, "client", checks()));
    expect(problem.errorCode).toBe(INVALID_RECORD);
    expect(problem.errorMessage).toContain("transactional");
    // Replicas copy what a leader stored: the flag is not a reason to refuse there.
    expect(isRecordsProblem(validateBatches(batch, MAX, "replica"))).toBe(false);
  });
});

describe("bounded decompression", () => {
  const zeros = new Uint8Array(256 * 1024 * 1024);

  test("a zstd bomb (256 MiB of zeros in a few KiB) is refused from its block headers alone", () => {
    const bomb = Bun.zstdCompressSync(zeros);
    expect(bomb.byteLength).toBeLessThan(64 * 1024);
    expect(zstdOutputBoundBytes(bomb)).toBeGreaterThanOrEqual(zeros.byteLength);
    expect(() => decompressBounded(CompressionType.ZSTD, bomb, CAP)).toThrow(/may decompress to/);
  });

  test("a gzip bomb stops at the cap with MESSAGE_TOO_LARGE", () => {
    const bomb = Bun.gzipSync(zeros);
    let error: unknown = null;
    try {
      decompressBounded(CompressionType.GZIP, bomb, CAP);
    } catch (caught) {
      error = caught;
    }
    expect((error as { errorCode?: number }).errorCode).toBe(MESSAGE_TOO_LARGE);
  });

  test("an lz4 frame whose blocks could exceed the cap is refused before decompression; real frames are within their bound", () => {
    const bomb = compressRecordsSectionSync(CompressionType.LZ4, zeros.subarray(0, 64 * 1024 * 1024));
    expect(lz4OutputBoundBytes(bomb)).toBeGreaterThan(CAP);
    expect(() => decompressBounded(CompressionType.LZ4, bomb, CAP)).toThrow(/may decompress to/);
    const text = new TextEncoder().encode(Array.from({ length: 20_000 }, (_, index) => `record ${index} ${(index * 7919) % 10007}`).join("\n"));
    for (const codec of [CompressionType.LZ4, CompressionType.ZSTD]) {
      const compressed = compressRecordsSectionSync(codec, text);
      const bound = codec === CompressionType.LZ4 ? lz4OutputBoundBytes(compressed) : zstdOutputBoundBytes(compressed);
      expect(bound).toBeGreaterThanOrEqual(text.byteLength);
      expect(decompressBounded(codec, compressed, CAP)).toEqual(text);
    }
  });

  test("lz4 frames from the lz4 CLI decode exactly: 64 KiB independent blocks, linked blocks, checksums, content size", () => {
    const text = new TextEncoder().encode(Array.from({ length: 40_000 }, (_, index) => `line ${index} ${(index * 7919) % 10007}`).join("\n"));
    const dir = mkdtempSync(join(tmpdir(), "bunka-lz4-cli-"));
    dirs.push(dir);
    writeFileSync(join(dir, "input"), text);
    // -B4: 64 KiB blocks; -BD: linked blocks; -BX: block checksums; --content-size: the frame states its size.
    for (const flags of [["-B4"], ["-B4", "-BD"], ["-B5", "-BX", "--content-size"]]) {
      const result = Bun.spawnSync(["lz4", "-q", "-f", ...flags, "-c", join(dir, "input")], { stdout: "pipe", stderr: "pipe" });
      expect(result.exitCode).toBe(0);
      const frame = new Uint8Array(result.stdout);
      expect(lz4OutputBoundBytes(frame)).toBeGreaterThanOrEqual(text.byteLength);
      expect(decompressBounded(CompressionType.LZ4, frame, CAP)).toEqual(text);
    }
  });

  test("an lz4 frame that LZ4F (the lz4 CLI, librdkafka) refuses is CORRUPT_MESSAGE: descriptor, block and content checksums, content size, a second frame", () => {
    const text = new TextEncoder().encode(Array.from({ length: 20_000 }, (_, index) => `row ${index} ${(index * 31) % 997}`).join("\n"));
    const dir = mkdtempSync(join(tmpdir(), "bunka-lz4-corrupt-"));
    dirs.push(dir);
    writeFileSync(join(dir, "input"), text);
    const compress = (flags: string[]) => new Uint8Array(Bun.spawnSync(["lz4", "-q", "-f", ...flags, "-c", join(dir, "input")], { stdout: "pipe" }).stdout);
    const lz4Cli = (frame: Uint8Array) => {
      writeFileSync(join(dir, "frame.lz4"), frame);
      return Bun.spawnSync(["lz4", "-d", "-q", "-f", "-c", join(dir, "frame.lz4")], { stdout: "pipe", stderr: "pipe" }).exitCode;
    };
    const checked = compress(["-B4", "-BX", "--content-size"]); // header, block and content checksums, content size
    expect(lz4Cli(checked)).toBe(0);
    expect(decompressBounded(CompressionType.LZ4, checked, CAP)).toEqual(text);
    const flipped = (frame: Uint8Array, position: number) => {
      const copy = frame.slice();
      copy[position]! ^= 0x01;
      return copy;
    };
    const headerChecksumAt = 4 + 2 + 8; // magic, FLG, BD, content size
    const corrupted = {
      "descriptor checksum": flipped(checked, headerChecksumAt),
      "declared content size": flipped(checked, 6),
      "a block's data (block checksum)": flipped(checked, headerChecksumAt + 1 + 4 + 10),
      "content checksum": flipped(checked, checked.byteLength - 1),
    };
    for (const [what, frame] of Object.entries(corrupted)) {
      expect({ what, lz4Cli: lz4Cli(frame) === 0 }).toEqual({ what, lz4Cli: false });
      expect({ what, error: refusedCode(() => decompressBounded(CompressionType.LZ4, frame, CAP)) }).toEqual({ what, error: CORRUPT_MESSAGE });
    }
    // A second frame after the first: Kafka's reader and librdkafka stop after one, so its records would be lost.
    const two = new Uint8Array(checked.byteLength * 2);
    two.set(checked, 0);
    two.set(checked, checked.byteLength);
    expect(refusedCode(() => decompressBounded(CompressionType.LZ4, two, CAP))).toBe(CORRUPT_MESSAGE);
  });

  test("many small bombs in one produce share one decompression budget", () => {
    // Each batch alone fits the cap; together they do not.
    const section = encodeRecords([{ key: "k", value: new Uint8Array(3 * 1024 * 1024) }], NOW, NOW);
    const one = rebuildBatch(buildBatch({ records: [{ key: "k", value: "v" }] }), CompressionType.ZSTD, compressRecordsSectionSync(CompressionType.ZSTD, section));
    const many = new Uint8Array(one.byteLength * 4);
    for (let index = 0; index < 4; index++) many.set(one, index * one.byteLength);
    expect(isRecordsProblem(validateBatches(one, MAX, "client", checks({ decompressedMaxBytes: 10 * 1024 * 1024 })))).toBe(false);
    expect(refused(validateBatches(many, MAX, "client", checks({ decompressedMaxBytes: 10 * 1024 * 1024 }))).errorCode).toBe(MESSAGE_TOO_LARGE);
  });

  test("conversion to lz4 applies max.message.bytes before and after, and refuses a bomb", async () => {
    const bomb = rebuildBatch(buildBatch({ records: [{ key: "k", value: "v" }] }), CompressionType.ZSTD, Bun.zstdCompressSync(zeros));
    const outcome = await convertBatches(bomb, "lz4", { maxMessageBytes: MAX, decompressedMaxBytes: CAP });
    expect(outcome instanceof Uint8Array).toBe(false);
    expect((outcome as RecordsProblem).errorCode).toBe(MESSAGE_TOO_LARGE);
    const honest = buildBatch({ records: records(100), compression: CompressionType.GZIP });
    const converted = await convertBatches(honest, "lz4", { maxMessageBytes: MAX, decompressedMaxBytes: CAP });
    if (!(converted instanceof Uint8Array)) throw new Error(converted.errorMessage);
    expect((await readBatchRecords(converted)).map((record) => record.offsetDelta)).toEqual(records(100).map((_, index) => index));
    const tooBig = await convertBatches(honest, "uncompressed", { maxMessageBytes: honest.byteLength + 10, decompressedMaxBytes: CAP });
    expect((tooBig as RecordsProblem).errorCode).toBe(MESSAGE_TOO_LARGE);
  });
});

describe("coalesced appends fail per part", () => {
  test("a lying batch between two honest ones fails alone and leaves no empty segment", () => {
    const dir = mkdtempSync(join(tmpdir(), "bunka-validation-"));
    dirs.push(dir);
    const log = PartitionLog.open({ dir, config: { segmentBytes: 1 << 20 }, recover: false, nowMs: NOW });
    const liar = buildBatch({ records: records(3), compression: CompressionType.ZSTD });
    dataViewOf(liar).setInt32(RECORDS_COUNT_OFFSET, 0x7fff_ffff);
    dataViewOf(liar).setInt32(LAST_OFFSET_DELTA_OFFSET, 0x7fff_fffe);
    updateBatchCrc(liar);
    const parts = [buildBatch({ records: records(2) }), liar, liar.slice(), buildBatch({ records: records(3), compression: CompressionType.LZ4 })];
    const results = log.appendManyAsLeader(parts, 0, NOW);
    expect(results.map((result) => result.errorCode)).toEqual([0, CORRUPT_MESSAGE, CORRUPT_MESSAGE, 0]);
    expect((results[3] as AppendInfo).baseOffset).toBe(2);
    expect((results[1] as AppendError).errorMessage.length).toBeGreaterThan(0);
    expect(log.logEndOffset).toBe(5);
    log.close();
    const logFiles = readdirSync(dir).filter((name) => name.endsWith(".log"));
    expect(logFiles.length).toBe(1);
    expect(statSync(join(dir, logFiles[0]!)).size).toBe(parts[0]!.byteLength + parts[3]!.byteLength);
  });

  test("RECORDS_OFFSET sections are not mistaken for batches: an honest multi-batch produce still appends", () => {
    const dir = mkdtempSync(join(tmpdir(), "bunka-validation-"));
    dirs.push(dir);
    const log = PartitionLog.open({ dir, config: {}, recover: false, nowMs: NOW });
    const a = buildBatch({ records: records(2) });
    const b = buildBatch({ records: records(3) });
    const both = new Uint8Array(a.byteLength + b.byteLength);
    both.set(a, 0);
    both.set(b, a.byteLength);
    expect(both.byteLength).toBeGreaterThan(2 * RECORDS_OFFSET);
    const result = log.appendAsLeader(both, 0, NOW);
    expect(result.errorCode).toBe(0);
    expect(log.logEndOffset).toBe(5);
    log.close();
  });
});
