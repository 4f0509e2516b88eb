/**
 * Growable writer for the Kafka wire format.
 *
 * Bytes go into one buffer that doubles when full. A records field given as
 * ExternalRecords becomes a hole: its length prefix is written, its bytes are
 * not; finish() returns the byte chunks and the external parts in wire order.
 */
import { isExternalRecords, type ExternalRecords } from "./records.ts";

export class ProtocolEncodeError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "ProtocolEncodeError";
  }
}

type Utf8Buffer = Buffer & { utf8Write?: (s: string, offset: number) => number };
const hasUtf8Write = typeof (Buffer.prototype as Utf8Buffer).utf8Write === "function";

const MAX_STRING_LENGTH = 0x7fff;

// Integers are written byte by byte (Uint8Array stores wrap modulo 256): no DataView,
// which would force JSC to materialize the buffer's ArrayBuffer for every Writer.
const f64 = new Float64Array(1);
const f64Bytes = new Uint8Array(f64.buffer);
const littleEndian = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

interface Hole {
  readonly at: number;
  readonly part: ExternalRecords;
}

function allocate(size: number): Utf8Buffer {
  // Not from the shared pool: the chunks we hand out must own their ArrayBuffer.
  return Buffer.allocUnsafeSlow(size) as Utf8Buffer;
}

function unsignedVarintSize(n: number): number {
  if (n < 0x80) return 1;
  if (n < 0x4000) return 2;
  if (n < 0x200000) return 3;
  if (n < 0x10000000) return 4;
  return 5;
}

export class Writer {
  private buf: Utf8Buffer;
  private pos = 0;
  private holes: Hole[] | null = null;
  private externalBytes = 0;

  constructor(initialCapacity = 256) {
    this.buf = allocate(Math.max(16, initialCapacity));
  }

  /** Bytes written into the buffer so far (external parts not included). */
  get offset(): number {
    return this.pos;
  }

  /** Total encoded size, external parts included. */
  get sizeBytes(): number {
    return this.pos + this.externalBytes;
  }

  private ensure(n: number): void {
    if (this.pos + n > this.buf.length) this.grow(n);
  }

  private grow(n: number): void {
    let size = this.buf.length * 2;
    while (size < this.pos + n) size *= 2;
    const next = allocate(size);
    next.set(this.buf.subarray(0, this.pos), 0);
    this.buf = next;
  }

  private int32At(o: number, v: number): void {
    const b = this.buf;
    b[o] = v >> 24;
    b[o + 1] = v >> 16;
    b[o + 2] = v >> 8;
    b[o + 3] = v;
  }

  // ---- fixed-size primitives ----

  writeInt8(v: number): void {
    this.ensure(1);
    this.buf[this.pos++] = v;
  }

  writeBool(v: boolean): void {
    this.ensure(1);
    this.buf[this.pos++] = v ? 1 : 0;
  }

  writeInt16(v: number): void {
    this.ensure(2);
    const b = this.buf;
    const o = this.pos;
    b[o] = v >> 8;
    b[o + 1] = v;
    this.pos = o + 2;
  }

  writeUint16(v: number): void {
    this.writeInt16(v);
  }

  writeInt32(v: number): void {
    this.ensure(4);
    this.int32At(this.pos, v);
    this.pos += 4;
  }

  writeUint32(v: number): void {
    this.writeInt32(v);
  }

  /** int64 from a JS number (exact within ±2^53). */
  writeInt64(v: number): void {
    this.ensure(8);
    const hi = Math.floor(v / 4294967296);
    this.int32At(this.pos, hi);
    this.int32At(this.pos + 4, v - hi * 4294967296);
    this.pos += 8;
  }

  writeFloat64(v: number): void {
    this.ensure(8);
    f64[0] = v;
    const b = this.buf;
    const o = this.pos;
    if (littleEndian) for (let i = 0; i < 8; i++) b[o + i] = f64Bytes[7 - i];
    else for (let i = 0; i < 8; i++) b[o + i] = f64Bytes[i];
    this.pos = o + 8;
  }

  writeUuid(v: Uint8Array): void {
    if (v.length !== 16) throw new ProtocolEncodeError(`uuid must be 16 bytes, got ${v.length}`);
    this.ensure(16);
    this.buf.set(v, this.pos);
    this.pos += 16;
  }

  // ---- varints ----

  writeUnsignedVarint(v: number): void {
    this.ensure(5);
    const buf = this.buf;
    let o = this.pos;
    v >>>= 0;
    while (v >= 0x80) {
      buf[o++] = (v & 0x7f) | 0x80;
      v >>>= 7;
    }
    buf[o++] = v;
    this.pos = o;
  }

  writeVarint(v: number): void {
    this.writeUnsignedVarint((v << 1) ^ (v >> 31));
  }

  /** Zigzag varlong; exact for every safe integer. */
  writeVarlong(v: number): void {
    this.ensure(10);
    const buf = this.buf;
    let o = this.pos;
    // zigzag(v) = 2b + sign with b = v or -v-1: emit the sign bit, then b, without
    // forming 2b (which is not exact above 2^53).
    const sign = v < 0 ? 1 : 0;
    let b = sign ? -v - 1 : v;
    let byte = (b % 64) * 2 + sign;
    b = Math.floor(b / 64);
    while (b > 0) {
      buf[o++] = byte | 0x80;
      byte = b % 128;
      b = Math.floor(b / 128);
    }
    buf[o++] = byte;
    this.pos = o;
  }

  // ---- strings ----

  /** Writes the UTF-8 bytes of `s` at `at` (capacity already ensured) and returns their count. */
  private utf8At(s: string, at: number): number {
    return hasUtf8Write ? this.buf.utf8Write!(s, at) : this.buf.write(s, at);
  }

  writeString(s: string): void {
    this.ensure(2 + 3 * s.length);
    const n = this.utf8At(s, this.pos + 2);
    if (n > MAX_STRING_LENGTH) throw new ProtocolEncodeError(`string of ${n} bytes is too long`);
    this.buf[this.pos] = n >> 8;
    this.buf[this.pos + 1] = n;
    this.pos += 2 + n;
  }

  writeNullableString(s: string | null): void {
    if (s === null) this.writeInt16(-1);
    else this.writeString(s);
  }

  writeCompactString(s: string): void {
    const len = s.length;
    if (len <= 42) {
      // At most 126 bytes of UTF-8: the length varint is one byte.
      this.ensure(1 + 3 * len);
      const n = this.utf8At(s, this.pos + 1);
      this.buf[this.pos] = n + 1;
      this.pos += 1 + n;
      return;
    }
    const n = Buffer.byteLength(s, "utf8");
    if (n > MAX_STRING_LENGTH) throw new ProtocolEncodeError(`string of ${n} bytes is too long`);
    this.writeUnsignedVarint(n + 1);
    this.ensure(n);
    this.pos += this.utf8At(s, this.pos);
  }

  writeCompactNullableString(s: string | null): void {
    if (s === null) this.writeUnsignedVarint(0);
    else this.writeCompactString(s);
  }

  // ---- bytes ----

  /** Copies raw bytes, no length prefix. */
  writeRaw(bytes: Uint8Array): void {
    this.ensure(bytes.length);
    this.buf.set(bytes, this.pos);
    this.pos += bytes.length;
  }

  writeBytes(bytes: Uint8Array): void {
    this.writeInt32(bytes.length);
    this.writeRaw(bytes);
  }

  writeNullableBytes(bytes: Uint8Array | null): void {
    if (bytes === null) this.writeInt32(-1);
    else this.writeBytes(bytes);
  }

  writeCompactBytes(bytes: Uint8Array): void {
    this.writeUnsignedVarint(bytes.length + 1);
    this.writeRaw(bytes);
  }

  writeCompactNullableBytes(bytes: Uint8Array | null): void {
    if (bytes === null) this.writeUnsignedVarint(0);
    else this.writeCompactBytes(bytes);
  }

  /**
   * A records field. Bytes are copied; ExternalRecords get their length prefix
   * and a hole that finish() reports in place.
   */
  writeRecords(value: Uint8Array | ExternalRecords | null, compact: boolean): void {
    if (value === null) {
      if (compact) this.writeUnsignedVarint(0);
      else this.writeInt32(-1);
    } else if (isExternalRecords(value)) {
      if (compact) this.writeUnsignedVarint(value.sizeBytes + 1);
      else this.writeInt32(value.sizeBytes);
      (this.holes ??= []).push({ at: this.pos, part: value });
      this.externalBytes += value.sizeBytes;
    } else if (compact) {
      this.writeCompactBytes(value);
    } else {
      this.writeBytes(value);
    }
  }

  // ---- arrays ----

  /** int32 element count; -1 for a null array. */
  writeArrayLength(n: number): void {
    this.writeInt32(n);
  }

  /** Compact element count (N+1); -1 for a null array (written as 0). */
  writeCompactArrayLength(n: number): void {
    this.writeUnsignedVarint(n + 1);
  }

  // ---- tagged fields ----

  /** An empty tagged-field section (a single 0 byte). */
  writeEmptyTaggedFields(): void {
    this.ensure(1);
    this.buf[this.pos++] = 0;
  }

  /** Writes the tag and returns the position where the field's data starts. */
  beginTaggedField(tag: number): number {
    this.writeUnsignedVarint(tag);
    return this.pos;
  }

  /** Inserts the size varint in front of the data written since beginTaggedField. */
  endTaggedField(start: number): void {
    const holes = this.holes;
    if (holes !== null && holes.length > 0 && holes[holes.length - 1].at >= start) {
      throw new ProtocolEncodeError("external records cannot be inside a tagged field");
    }
    const size = this.pos - start;
    const n = unsignedVarintSize(size);
    this.ensure(n);
    const buf = this.buf;
    buf.copyWithin(start + n, start, this.pos);
    let o = start;
    let v = size;
    while (v >= 0x80) {
      buf[o++] = (v & 0x7f) | 0x80;
      v >>>= 7;
    }
    buf[o] = v;
    this.pos += n;
  }

  // ---- patching ----

  /** Reserves 4 bytes (e.g. a frame size) and returns their position for patchInt32. */
  reserveInt32(): number {
    this.ensure(4);
    const at = this.pos;
    this.pos += 4;
    return at;
  }

  patchInt32(at: number, value: number): void {
    if (at < 0 || at + 4 > this.pos) throw new ProtocolEncodeError(`patch position ${at} out of range`);
    this.int32At(at, value);
  }

  // ---- output ----

  /** Chunks in wire order: views of the buffer and the external parts as given. */
  finish(): Array<Uint8Array | ExternalRecords> {
    const holes = this.holes;
    if (holes === null || holes.length === 0) return [this.buf.subarray(0, this.pos)];
    const out: Array<Uint8Array | ExternalRecords> = [];
    let prev = 0;
    for (const h of holes) {
      if (h.at > prev) out.push(this.buf.subarray(prev, h.at));
      out.push(h.part);
      prev = h.at;
    }
    if (this.pos > prev) out.push(this.buf.subarray(prev, this.pos));
    return out;
  }

  /** The written bytes as one view; only when nothing external was written. */
  toUint8Array(): Uint8Array {
    if (this.holes !== null && this.holes.length > 0) {
      throw new ProtocolEncodeError("writer holds external records; use finish()");
    }
    return this.buf.subarray(0, this.pos);
  }
}

// ---- helpers for the generated writers ----

/** Written for undefined bytes fields. Never written to. */
export const EMPTY_BYTES: Uint8Array = new Uint8Array(0);
/** Written for undefined uuid fields. Never written to. */
export const ZERO_UUID: Uint8Array = new Uint8Array(16);

export function isZeroUuid(u: Uint8Array): boolean {
  for (let i = 0; i < u.length; i++) if (u[i] !== 0) return false;
  return true;
}

/** The error a generated writer throws for null in a version where the field is not nullable. */
export function nullNotAllowed(field: string, version: number): ProtocolEncodeError {
  return new ProtocolEncodeError(`${field} cannot be null in version ${version}`);
}
