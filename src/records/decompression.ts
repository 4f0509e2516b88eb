// Bounded decompression of a produced batch's records section. A client's compressed bytes are untrusted:
// a 32 KiB zstd frame can expand to 1 GiB, so every codec path knows an upper bound on its output before
// that memory is allocated, and refuses (MESSAGE_TOO_LARGE) past `capBytes`:
//  - gzip and zstd: node:zlib with maxOutputLength, which grows its output in chunks and stops at the cap
//    (measured in Bun 1.4.5: a 1 GiB zstd bomb stops at a 32 MiB cap; as fast as Bun.gunzipSync/zstd with
//    1 MiB chunks). zstd frames are walked first as well: their block headers give an exact bound, so an
//    RLE bomb is refused without decompressing anything.
//  - snappy: every block declares its length (snappy.ts), refused past the cap before decoding.
//  - lz4: lz4-napi has no output cap, so the frame is walked first (header, block sizes; nothing is
//    decompressed): each block yields at most its block maximum and at most 255 bytes per compressed byte.
//    A frame whose bound exceeds the cap is refused; otherwise lz4-napi cannot write more than the bound.
// Synchronous on purpose: it runs on a partition worker (never the socket thread), one section at a time,
// so a worker holds at most one decompressed section for validation.
import { decompressFrameSync, uncompressSync } from "lz4-napi";
import { constants as bufferConstants } from "node:buffer";
import * as zlib from "node:zlib";
import { CompressionType } from "./batch.ts";
import { CORRUPT_MESSAGE, MESSAGE_TOO_LARGE, RecordsError, UNSUPPORTED_COMPRESSION_TYPE } from "./errors.ts";
import { snappyDecompressBounded } from "./snappy.ts";
import { xxhash32 } from "./xxhash32.ts";
import { concatBytes } from "../util/bytes.ts";

/** zlib output chunk: big enough to be as fast as one-shot decompression, small enough to stop near the cap. */
const ZLIB_CHUNK_BYTES = 1 << 20;

/** zlib refuses a maxOutputLength above the largest Buffer. */
const BUFFER_LENGTH_MAX = bufferConstants.MAX_LENGTH;

const LZ4_FRAME_MAGIC = 0x184d2204;
/** Skippable frames (LZ4 and zstd share the range 0x184D2A50-0x184D2A5F). */
const SKIPPABLE_MAGIC_MIN = 0x184d2a50;
const SKIPPABLE_MAGIC_MAX = 0x184d2a5f;
/** LZ4 block maximum sizes by the BD byte's bits 6-4 (4..7). */
const LZ4_BLOCK_MAX_BYTES = [0, 0, 0, 0, 64 << 10, 256 << 10, 1 << 20, 4 << 20];
/** LZ4's densest encoding: one extension byte adds 255 bytes of match; a little slack for the token. */
const LZ4_BYTES_PER_COMPRESSED_BYTE_MAX = 255;
const LZ4_BLOCK_SLACK_BYTES = 64;

const ZSTD_FRAME_MAGIC = 0xfd2fb528;
/** A zstd compressed block never decodes to more than 128 KiB (Block_Maximum_Size). */
const ZSTD_BLOCK_MAX_BYTES = 128 << 10;

const readUint32LE = (bytes: Uint8Array, position: number): number =>
  (bytes[position]! | (bytes[position + 1]! << 8) | (bytes[position + 2]! << 16) | (bytes[position + 3]! << 24)) >>> 0;

function corrupt(message: string): RecordsError {
  return new RecordsError(CORRUPT_MESSAGE, message);
}

function tooLarge(boundBytes: number, capBytes: number, codecName: string): RecordsError {
  return new RecordsError(MESSAGE_TOO_LARGE, `${codecName} records section may decompress to ${boundBytes} bytes, more than the ${capBytes}-byte limit`);
}

/**
 * The most bytes an LZ4 frame sequence can decompress to, from its headers alone. Throws CORRUPT_MESSAGE
 * for a malformed frame (Kafka's KafkaLZ4BlockInputStream refuses the same: bad magic, version, reserved bits).
 */
export function lz4OutputBoundBytes(section: Uint8Array): number {
  let position = 0;
  let boundBytes = 0;
  // Bounded: every frame and block advances position by at least 4 bytes.
  while (position < section.byteLength) {
    if (position + 4 > section.byteLength) throw corrupt("lz4: truncated frame magic");
    const magic = readUint32LE(section, position);
    // Kafka's KafkaLZ4BlockInputStream knows no skippable frames: a consumer would fail on one.
    if (magic !== LZ4_FRAME_MAGIC) throw corrupt("lz4: not an LZ4 frame");
    if (position + 7 > section.byteLength) throw corrupt("lz4: truncated frame header");
    const flags = section[position + 4]!;
    const blockDescriptor = section[position + 5]!;
    if (flags >> 6 !== 1 || (flags & 0x02) !== 0 || (blockDescriptor & 0x8f) !== 0) throw corrupt("lz4: unsupported frame version or reserved bits set");
    const blockMaxBytes = LZ4_BLOCK_MAX_BYTES[(blockDescriptor >> 4) & 7]!;
    if (blockMaxBytes === 0) throw corrupt("lz4: invalid block maximum size");
    const hasBlockChecksum = (flags & 0x10) !== 0;
    const hasContentSize = (flags & 0x08) !== 0;
    const hasContentChecksum = (flags & 0x04) !== 0;
    const hasDictionaryId = (flags & 0x01) !== 0;
    // A dictionary is agreed out of band: no Kafka client uses one, and no reader here could decode it.
    if (hasDictionaryId) throw corrupt("lz4: frame needs a dictionary");
    const descriptorStart = position + 4;
    position += 6;
    if (hasContentSize) position += 8;
    if (position >= section.byteLength) throw corrupt("lz4: truncated frame header");
    // The header checksum: LZ4F (librdkafka's consumer) refuses a frame whose descriptor does not match it.
    if (section[position] !== ((xxhash32(section, descriptorStart, position) >>> 8) & 0xff)) throw corrupt("lz4: frame descriptor checksum mismatch");
    position += 1;
    for (;;) {
      if (position + 4 > section.byteLength) throw corrupt("lz4: truncated block header");
      const word = readUint32LE(section, position);
      position += 4;
      if (word === 0) break; // end mark
      const storedUncompressed = (word & 0x80000000) !== 0;
      const blockBytes = word & 0x7fffffff;
      if (blockBytes > blockMaxBytes) throw corrupt(`lz4: block of ${blockBytes} bytes exceeds the frame's ${blockMaxBytes}-byte maximum`);
      boundBytes += storedUncompressed ? blockBytes : Math.min(blockMaxBytes, blockBytes * LZ4_BYTES_PER_COMPRESSED_BYTE_MAX + LZ4_BLOCK_SLACK_BYTES);
      position += blockBytes + (hasBlockChecksum ? 4 : 0);
    }
    if (hasContentChecksum) position += 4;
    // Kafka's KafkaLZ4BlockInputStream and librdkafka read one frame: anything after it would be validated
    // here and then never seen by a consumer.
    if (position < section.byteLength) throw corrupt("lz4: bytes after the first frame");
  }
  if (position !== section.byteLength) throw corrupt("lz4: frame runs past the records section");
  return boundBytes;
}

/**
 * Decompresses the frames' blocks one by one with lz4-napi's block call: Bun's frame calls are several times
 * slower (docs/bun-runtime.md §6.2; measured here 3.1 ms vs 0.3 ms per MiB). The block call takes the output
 * size as a 4-byte prefix and accepts an overstatement, so each block gets its own bound. Returns null for
 * frames with linked blocks (a block may refer to the previous one's data): the frame call handles those.
 * Checksums are verified (header, blocks, content) and a declared content size must match: LZ4F, which
 * librdkafka's consumer uses, refuses a frame that fails any of them, so the broker must not store one.
 */
function lz4DecompressBlocks(section: Uint8Array, boundBytes: number): Uint8Array | null {
  const outputs: Uint8Array[] = [];
  let outputBytes = 0;
  let position = 0;
  // Bounded like lz4OutputBoundBytes, which already walked these frames.
  while (position < section.byteLength) {
    const magic = readUint32LE(section, position);
    if (magic !== LZ4_FRAME_MAGIC) {
      position += 8 + readUint32LE(section, position + 4); // skippable: lz4OutputBoundBytes allowed nothing else
      continue;
    }
    const flags = section[position + 4]!;
    if ((flags & 0x20) === 0) return null;
    const blockMaxBytes = LZ4_BLOCK_MAX_BYTES[(section[position + 5]! >> 4) & 7]!;
    const declaredContentBytes = (flags & 0x08) !== 0 ? readUint32LE(section, position + 6) + readUint32LE(section, position + 10) * 2 ** 32 : -1;
    position += 7 + ((flags & 0x08) !== 0 ? 8 : 0);
    const frameOutputStart = outputs.length;
    let frameOutputBytes = 0;
    for (;;) {
      const word = readUint32LE(section, position);
      position += 4;
      if (word === 0) break;
      const blockBytes = word & 0x7fffffff;
      const block = section.subarray(position, position + blockBytes);
      if ((flags & 0x10) !== 0 && readUint32LE(section, position + blockBytes) !== xxhash32(section, position, position + blockBytes)) {
        throw corrupt("lz4: block checksum mismatch");
      }
      let output: Uint8Array;
      if ((word & 0x80000000) !== 0) output = block;
      else {
        const prefixed = Buffer.allocUnsafe(4 + blockBytes);
        prefixed.writeUInt32LE(Math.min(blockMaxBytes, blockBytes * LZ4_BYTES_PER_COMPRESSED_BYTE_MAX + LZ4_BLOCK_SLACK_BYTES), 0);
        prefixed.set(block, 4);
        output = uncompressSync(prefixed);
      }
      outputs.push(output);
      outputBytes += output.byteLength;
      frameOutputBytes += output.byteLength;
      if (outputBytes > boundBytes) throw corrupt("lz4: blocks decompress past their bound");
      position += blockBytes + ((flags & 0x10) !== 0 ? 4 : 0);
    }
    if (declaredContentBytes >= 0 && declaredContentBytes !== frameOutputBytes) throw corrupt(`lz4: frame declares ${declaredContentBytes} bytes of content, its blocks hold ${frameOutputBytes}`);
    if ((flags & 0x04) !== 0) {
      if (readUint32LE(section, position) !== contentChecksum(outputs.slice(frameOutputStart))) throw corrupt("lz4: content checksum mismatch");
      position += 4;
    }
  }
  return concatBytes(outputs);
}

/** XXH32 of a frame's decompressed blocks taken as one stream. */
function contentChecksum(blocks: Uint8Array[]): number {
  return xxhash32(concatBytes(blocks));
}

/** Frame_Content_Size field width by the FCS flag (Single_Segment decides the width for flag 0). */
function zstdContentSizeFieldBytes(flag: number, singleSegment: boolean): number {
  if (flag === 0) return singleSegment ? 1 : 0;
  return flag === 1 ? 2 : flag === 2 ? 4 : 8;
}

/**
 * The most bytes a sequence of zstd frames can decompress to, from the block headers (RFC 8878): raw and
 * RLE blocks state their size, compressed blocks yield at most 128 KiB. A declared content size above the
 * walk's bound is corrupt (and would make a decoder allocate it).
 */
export function zstdOutputBoundBytes(section: Uint8Array): number {
  let position = 0;
  let boundBytes = 0;
  // Bounded: every frame and block advances position by at least 3 bytes.
  while (position < section.byteLength) {
    if (position + 4 > section.byteLength) throw corrupt("zstd: truncated frame magic");
    const magic = readUint32LE(section, position);
    if (magic >= SKIPPABLE_MAGIC_MIN && magic <= SKIPPABLE_MAGIC_MAX) {
      if (position + 8 > section.byteLength) throw corrupt("zstd: truncated skippable frame");
      position += 8 + readUint32LE(section, position + 4);
      continue;
    }
    if (magic !== ZSTD_FRAME_MAGIC) throw corrupt("zstd: not a zstd frame");
    if (position + 5 > section.byteLength) throw corrupt("zstd: truncated frame header");
    const descriptor = section[position + 4]!;
    if ((descriptor & 0x08) !== 0) throw corrupt("zstd: reserved bit set");
    const singleSegment = (descriptor & 0x20) !== 0;
    const contentSizeFlag = descriptor >> 6;
    const dictionaryIdBytes = [0, 1, 2, 4][descriptor & 3]!;
    const hasChecksum = (descriptor & 0x04) !== 0;
    position += 5 + (singleSegment ? 0 : 1) + dictionaryIdBytes;
    const contentSizeBytes = zstdContentSizeFieldBytes(contentSizeFlag, singleSegment);
    let declaredContentBytes = -1;
    if (contentSizeBytes > 0) {
      if (position + contentSizeBytes > section.byteLength) throw corrupt("zstd: truncated frame header");
      declaredContentBytes = 0;
      for (let index = contentSizeBytes - 1; index >= 0; index--) declaredContentBytes = declaredContentBytes * 256 + section[position + index]!;
      if (contentSizeBytes === 2) declaredContentBytes += 256;
      position += contentSizeBytes;
    }
    let frameBoundBytes = 0;
    for (let lastBlock = false; !lastBlock; ) {
      if (position + 3 > section.byteLength) throw corrupt("zstd: truncated block header");
      const header = section[position]! | (section[position + 1]! << 8) | (section[position + 2]! << 16);
      position += 3;
      lastBlock = (header & 1) === 1;
      const blockType = (header >> 1) & 3;
      const blockBytes = header >>> 3;
      if (blockType === 3) throw corrupt("zstd: reserved block type");
      if (blockBytes > ZSTD_BLOCK_MAX_BYTES) throw corrupt(`zstd: block of ${blockBytes} bytes exceeds 128 KiB`);
      if (blockType === 0) frameBoundBytes += blockBytes;
      else if (blockType === 1) frameBoundBytes += blockBytes;
      else frameBoundBytes += ZSTD_BLOCK_MAX_BYTES;
      position += blockType === 1 ? 1 : blockBytes;
    }
    if (hasChecksum) position += 4;
    if (declaredContentBytes > frameBoundBytes) throw corrupt(`zstd: frame declares ${declaredContentBytes} bytes, its blocks hold at most ${frameBoundBytes}`);
    boundBytes += declaredContentBytes >= 0 ? declaredContentBytes : frameBoundBytes;
  }
  if (position !== section.byteLength) throw corrupt("zstd: frame runs past the records section");
  return boundBytes;
}

function zlibCapped(decompress: (section: Uint8Array, options: zlib.ZlibOptions) => Buffer, section: Uint8Array, capBytes: number, codecName: string): Uint8Array {
  try {
    const maxOutputLength = Math.max(1, Math.min(capBytes, BUFFER_LENGTH_MAX));
    return decompress(section, { maxOutputLength, chunkSize: Math.min(ZLIB_CHUNK_BYTES, Math.max(maxOutputLength, 64)) });
  } catch (error) {
    // Node's zlib reports the cap as a RangeError (ERR_BUFFER_TOO_LARGE); anything else is bad input.
    if (error instanceof RangeError && (error as { code?: string }).code === "ERR_BUFFER_TOO_LARGE") throw new RecordsError(MESSAGE_TOO_LARGE, `${codecName} records section decompresses to more than the ${capBytes}-byte limit`);
    throw corrupt(`${codecName}: ${error instanceof Error ? error.message : String(error)}`);
  }
}

const zstdDecompressSync = (zlib as unknown as { zstdDecompressSync: (section: Uint8Array, options: zlib.ZlibOptions) => Buffer }).zstdDecompressSync;

/**
 * Decompresses a produced batch's records section, never holding more than about `capBytes` of output.
 * Throws RecordsError: MESSAGE_TOO_LARGE past the cap, CORRUPT_MESSAGE for bytes the codec refuses,
 * UNSUPPORTED_COMPRESSION_TYPE for unknown codecs.
 */
export function decompressBounded(codec: number, section: Uint8Array, capBytes: number): Uint8Array {
  switch (codec) {
    case CompressionType.NONE:
      return section;
    case CompressionType.GZIP:
      return zlibCapped(zlib.gunzipSync, section, capBytes, "gzip");
    case CompressionType.ZSTD: {
      const boundBytes = zstdOutputBoundBytes(section);
      if (boundBytes > capBytes) throw tooLarge(boundBytes, capBytes, "zstd");
      return zlibCapped(zstdDecompressSync, section, capBytes, "zstd");
    }
    case CompressionType.LZ4: {
      const boundBytes = lz4OutputBoundBytes(section);
      if (boundBytes > capBytes) throw tooLarge(boundBytes, capBytes, "lz4");
      try {
        return lz4DecompressBlocks(section, boundBytes) ?? decompressFrameSync(Buffer.from(section.buffer, section.byteOffset, section.byteLength));
      } catch (error) {
        throw corrupt(`lz4: ${error instanceof Error ? error.message : String(error)}`);
      }
    }
    case CompressionType.SNAPPY:
      return snappyDecompressBounded(section, capBytes);
    default:
      throw new RecordsError(UNSUPPORTED_COMPRESSION_TYPE, `compression codec ${codec} is not supported`);
  }
}
