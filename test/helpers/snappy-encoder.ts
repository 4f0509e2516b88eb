// A small snappy compressor for tests: Bunka only decompresses snappy (src/records/snappy.ts), so the tests
// need another source of valid snappy than kcat. Greedy matching on 4-byte prefixes; emits literals and
// copies with 1-, 2- and 4-byte offsets, so every element type of the format is exercised.

function writeVarint(out: number[], value: number): void {
  while (value >= 0x80) {
    out.push((value & 0x7f) | 0x80);
    value = Math.floor(value / 128);
  }
  out.push(value);
}

function emitLiteral(out: number[], input: Uint8Array, start: number, end: number): void {
  const length = end - start;
  if (length === 0) return;
  const lengthMinusOne = length - 1;
  if (lengthMinusOne < 60) {
    out.push(lengthMinusOne << 2);
  } else {
    const extra: number[] = [];
    for (let value = lengthMinusOne; value > 0; value = Math.floor(value / 256)) extra.push(value & 0xff);
    out.push((59 + extra.length) << 2, ...extra);
  }
  for (let index = start; index < end; index++) out.push(input[index]!);
}

function emitCopy(out: number[], offset: number, length: number, preferLongOffset: boolean): void {
  // Bounded: each turn emits at most 64 bytes of the copy.
  while (length > 0) {
    if (!preferLongOffset && length >= 4 && length <= 11 && offset < 2048) {
      out.push(1 | ((length - 4) << 2) | ((offset >> 8) << 5), offset & 0xff);
      return;
    }
    const piece = Math.min(length, 64);
    if (preferLongOffset || offset >= 65536) out.push(3 | ((piece - 1) << 2), offset & 0xff, (offset >> 8) & 0xff, (offset >> 16) & 0xff, (offset >>> 24) & 0xff);
    else out.push(2 | ((piece - 1) << 2), offset & 0xff, (offset >> 8) & 0xff);
    length -= piece;
  }
}

/** Raw snappy (what librdkafka sends). `longOffsets` forces 4-byte offsets to cover that element type. */
export function snappyCompress(input: Uint8Array, longOffsets = false): Uint8Array {
  const out: number[] = [];
  writeVarint(out, input.byteLength);
  const table = new Map<number, number>();
  let literalStart = 0;
  let position = 0;
  while (position + 4 <= input.byteLength) {
    const key = (input[position]! | (input[position + 1]! << 8) | (input[position + 2]! << 16) | (input[position + 3]! << 24)) >>> 0;
    const candidate = table.get(key);
    table.set(key, position);
    if (candidate === undefined) {
      position++;
      continue;
    }
    let length = 0;
    while (position + length < input.byteLength && input[candidate + length] === input[position + length]) length++;
    emitLiteral(out, input, literalStart, position);
    emitCopy(out, position - candidate, length, longOffsets);
    position += length;
    literalStart = position;
  }
  emitLiteral(out, input, literalStart, input.byteLength);
  return Uint8Array.from(out);
}

/** Java's SnappyOutputStream layout (xerial): header, then [int32 length][raw snappy] per block. */
export function snappyCompressXerial(input: Uint8Array, blockBytes = 32 * 1024): Uint8Array {
  const parts: Uint8Array[] = [Uint8Array.from([0x82, 0x53, 0x4e, 0x41, 0x50, 0x50, 0x59, 0x00, 0, 0, 0, 1, 0, 0, 0, 1])];
  for (let start = 0; start < input.byteLength; start += blockBytes) {
    const block = snappyCompress(input.subarray(start, Math.min(input.byteLength, start + blockBytes)));
    const length = new Uint8Array(4);
    new DataView(length.buffer).setInt32(0, block.byteLength);
    parts.push(length, block);
  }
  const total = parts.reduce((sum, part) => sum + part.byteLength, 0);
  const out = new Uint8Array(total);
  let at = 0;
  for (const part of parts) {
    out.set(part, at);
    at += part.byteLength;
  }
  return out;
}
