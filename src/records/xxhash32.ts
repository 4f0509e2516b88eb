// XXH32 (xxHash, 32-bit), the checksum of the LZ4 frame format: the frame descriptor's header checksum,
// optional block checksums and the optional content checksum. Consumers (librdkafka's LZ4F) verify them, so
// the broker must too before it stores a batch: otherwise it would accept what every reader then refuses.
const PRIME32_1 = 0x9e3779b1;
const PRIME32_2 = 0x85ebca77;
const PRIME32_3 = 0xc2b2ae3d;
const PRIME32_4 = 0x27d4eb2f;
const PRIME32_5 = 0x165667b1;

const rotl = (value: number, bits: number): number => (value << bits) | (value >>> (32 - bits));

function readUint32LE(bytes: Uint8Array, position: number): number {
  return bytes[position]! | (bytes[position + 1]! << 8) | (bytes[position + 2]! << 16) | (bytes[position + 3]! << 24);
}

function round(accumulator: number, lane: number): number {
  accumulator = (accumulator + Math.imul(lane, PRIME32_2)) | 0;
  return Math.imul(rotl(accumulator, 13), PRIME32_1);
}

/** XXH32 of bytes[start, end) with `seed`, as an unsigned 32-bit number. */
export function xxhash32(bytes: Uint8Array, start = 0, end = bytes.byteLength, seed = 0): number {
  let position = start;
  const length = end - start;
  let hash: number;
  if (length >= 16) {
    let v1 = (seed + PRIME32_1 + PRIME32_2) | 0;
    let v2 = (seed + PRIME32_2) | 0;
    let v3 = seed | 0;
    let v4 = (seed - PRIME32_1) | 0;
    const limit = end - 16;
    // Bounded: 16 bytes per turn.
    while (position <= limit) {
      v1 = round(v1, readUint32LE(bytes, position));
      v2 = round(v2, readUint32LE(bytes, position + 4));
      v3 = round(v3, readUint32LE(bytes, position + 8));
      v4 = round(v4, readUint32LE(bytes, position + 12));
      position += 16;
    }
    hash = (rotl(v1, 1) + rotl(v2, 7) + rotl(v3, 12) + rotl(v4, 18)) | 0;
  } else {
    hash = (seed + PRIME32_5) | 0;
  }
  hash = (hash + length) | 0;
  while (position + 4 <= end) {
    hash = (hash + Math.imul(readUint32LE(bytes, position), PRIME32_3)) | 0;
    hash = Math.imul(rotl(hash, 17), PRIME32_4);
    position += 4;
  }
  while (position < end) {
    hash = (hash + Math.imul(bytes[position]!, PRIME32_5)) | 0;
    hash = Math.imul(rotl(hash, 11), PRIME32_1);
    position++;
  }
  hash ^= hash >>> 15;
  hash = Math.imul(hash, PRIME32_2);
  hash ^= hash >>> 13;
  hash = Math.imul(hash, PRIME32_3);
  hash ^= hash >>> 16;
  return hash >>> 0;
}
