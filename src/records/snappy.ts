// Snappy decompression for validating produced batches (codec 2). Bunka stores snappy batches as the
// producer sent them and never writes snappy itself; it only has to open them to check every record, as
// Kafka's LogValidator does. Two layouts reach a broker:
//  - raw snappy (what librdkafka sends): a varint of the uncompressed length, then literal and copy elements;
//  - xerial framing (Java's SnappyOutputStream): the 16-byte header "\x82SNAPPY\0" + version + compatible
//    version, then blocks of [int32 big-endian length][raw snappy].
// Every block declares its uncompressed length up front, so the output bound is known before any memory
// is allocated: a section that declares more than `capBytes` is refused without decoding anything.
import { CORRUPT_MESSAGE, MESSAGE_TOO_LARGE, RecordsError } from "./errors.ts";

const XERIAL_MAGIC = [0x82, 0x53, 0x4e, 0x41, 0x50, 0x50, 0x59, 0x00];
const XERIAL_HEADER_BYTES = 16;
/** A varint of the uncompressed length takes at most 5 bytes (32 bits). */
const MAX_LENGTH_VARINT_BYTES = 5;

const TAG_LITERAL = 0;
const TAG_COPY_1 = 1;
const TAG_COPY_2 = 2;

function corrupt(message: string): RecordsError {
  return new RecordsError(CORRUPT_MESSAGE, `snappy: ${message}`);
}

function isXerialFramed(section: Uint8Array): boolean {
  if (section.byteLength < XERIAL_HEADER_BYTES) return false;
  for (let index = 0; index < XERIAL_MAGIC.length; index++) if (section[index] !== XERIAL_MAGIC[index]) return false;
  return true;
}

/** A raw snappy block inside the section: [start, end) and the length it declares. */
interface RawBlock {
  start: number;
  end: number;
  uncompressedBytes: number;
  /** Where the elements start (after the length varint). */
  elementsStart: number;
}

function readRawBlockHeader(section: Uint8Array, start: number, end: number): RawBlock {
  let value = 0;
  let shift = 0;
  let position = start;
  for (let index = 0; ; index++) {
    if (index >= MAX_LENGTH_VARINT_BYTES) throw corrupt("uncompressed length varint is too long");
    if (position >= end) throw corrupt("block ends inside its length");
    const byte = section[position++]!;
    value += (byte & 0x7f) * 2 ** shift;
    shift += 7;
    if ((byte & 0x80) === 0) break;
  }
  if (value > 0xffff_ffff) throw corrupt(`uncompressed length ${value} is out of range`);
  return { start, end, uncompressedBytes: value, elementsStart: position };
}

/** The raw blocks of a section, raw or xerial-framed; reads only headers. */
function rawBlocks(section: Uint8Array): RawBlock[] {
  if (!isXerialFramed(section)) return [readRawBlockHeader(section, 0, section.byteLength)];
  const blocks: RawBlock[] = [];
  let position = XERIAL_HEADER_BYTES;
  const view = new DataView(section.buffer, section.byteOffset, section.byteLength);
  // Bounded: every block advances position by at least 4 bytes.
  while (position < section.byteLength) {
    if (position + 4 > section.byteLength) throw corrupt("xerial block length is truncated");
    const blockBytes = view.getInt32(position);
    position += 4;
    if (blockBytes < 0 || position + blockBytes > section.byteLength) throw corrupt(`xerial block of ${blockBytes} bytes runs past the section`);
    blocks.push(readRawBlockHeader(section, position, position + blockBytes));
    position += blockBytes;
  }
  return blocks;
}

/** The bytes a snappy section declares it decompresses to (from its headers alone). */
export function snappyOutputBoundBytes(section: Uint8Array): number {
  let total = 0;
  for (const block of rawBlocks(section)) total += block.uncompressedBytes;
  return total;
}

/** Decodes one raw block's elements into out[outStart, outStart + block.uncompressedBytes). */
function decodeRawBlock(section: Uint8Array, block: RawBlock, out: Uint8Array, outStart: number): void {
  const outEnd = outStart + block.uncompressedBytes;
  let in_ = block.elementsStart;
  let at = outStart;
  // Bounded: every element consumes at least one input byte.
  while (in_ < block.end) {
    const tag = section[in_++]!;
    const type = tag & 3;
    if (type === TAG_LITERAL) {
      let length = tag >>> 2;
      if (length >= 60) {
        const extraBytes = length - 59;
        if (in_ + extraBytes > block.end) throw corrupt("literal length is truncated");
        length = 0;
        for (let index = 0; index < extraBytes; index++) length += section[in_ + index]! * 2 ** (8 * index);
        in_ += extraBytes;
      }
      length += 1;
      if (in_ + length > block.end) throw corrupt("literal runs past the block");
      if (at + length > outEnd) throw corrupt("literal runs past the declared length");
      out.set(section.subarray(in_, in_ + length), at);
      in_ += length;
      at += length;
      continue;
    }
    let length: number;
    let offset: number;
    if (type === TAG_COPY_1) {
      if (in_ + 1 > block.end) throw corrupt("copy is truncated");
      length = 4 + ((tag >>> 2) & 7);
      offset = ((tag >>> 5) << 8) | section[in_++]!;
    } else if (type === TAG_COPY_2) {
      if (in_ + 2 > block.end) throw corrupt("copy is truncated");
      length = 1 + (tag >>> 2);
      offset = section[in_]! | (section[in_ + 1]! << 8);
      in_ += 2;
    } else {
      if (in_ + 4 > block.end) throw corrupt("copy is truncated");
      length = 1 + (tag >>> 2);
      offset = (section[in_]! | (section[in_ + 1]! << 8) | (section[in_ + 2]! << 16) | (section[in_ + 3]! << 24)) >>> 0;
      in_ += 4;
    }
    if (offset === 0 || offset > at - outStart) throw corrupt(`copy offset ${offset} points before the block's output`);
    if (at + length > outEnd) throw corrupt("copy runs past the declared length");
    // Overlapping copies (offset < length) repeat a pattern: copy byte by byte then.
    if (offset >= length) {
      out.copyWithin(at, at - offset, at - offset + length);
    } else {
      for (let index = 0; index < length; index++) out[at + index] = out[at + index - offset]!;
    }
    at += length;
  }
  if (at !== outEnd) throw corrupt(`block decodes to ${at - outStart} bytes, declared ${block.uncompressedBytes}`);
}

/**
 * Decompresses a snappy records section (raw or xerial-framed) into one buffer, refusing with
 * MESSAGE_TOO_LARGE before allocating when the declared lengths exceed `capBytes`.
 */
export function snappyDecompressBounded(section: Uint8Array, capBytes: number): Uint8Array {
  const blocks = rawBlocks(section);
  let totalBytes = 0;
  for (const block of blocks) totalBytes += block.uncompressedBytes;
  if (totalBytes > capBytes) throw new RecordsError(MESSAGE_TOO_LARGE, `snappy records section declares ${totalBytes} bytes, more than the ${capBytes}-byte limit`);
  const out = new Uint8Array(totalBytes);
  let outStart = 0;
  for (const block of blocks) {
    decodeRawBlock(section, block, out, outStart);
    outStart += block.uncompressedBytes;
  }
  return out;
}
