/**
 * Bounds-checked reader for the Kafka wire format.
 *
 * Every read checks the remaining length first and throws ProtocolDecodeError on
 * truncated or invalid input, so garbage from a socket can never crash the broker
 * with some other error type, allocate a huge array, or loop forever.
 * Strings are decoded; bytes, uuids and records are returned as views
 * (subarrays) of the input, never copies.
 */

export class ProtocolDecodeError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "ProtocolDecodeError";
  }
}

/** Strings longer than this are rejected (Kafka's limit, int16 length). */
const MAX_STRING_LENGTH = 0x7fff;

type Utf8Buffer = Buffer & { utf8Slice?: (start: number, end: number) => string };
const hasUtf8Slice = typeof (Buffer.prototype as Utf8Buffer).utf8Slice === "function";
const decoder = new TextDecoder();

// float64 goes through a scratch array; integers are assembled from bytes (no
// DataView: creating one per Reader is measurable on the request path).
const f64 = new Float64Array(1);
const f64Bytes = new Uint8Array(f64.buffer);
const littleEndian = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

function truncated(r: Reader, need: number): never {
  throw new ProtocolDecodeError(
    `truncated input: need ${need} byte(s) at offset ${r.offset}, ${r.end - r.offset} left`,
  );
}

function invalid(what: string, value: number, r: Reader): never {
  throw new ProtocolDecodeError(`invalid ${what} ${value} at offset ${r.offset}`);
}

export class Reader {
  readonly buf: Uint8Array;
  /** First byte that must not be read (the end of `buf`). */
  readonly end: number;
  offset: number;
  /** `buf` as a Buffer, for its fast UTF-8 decoding; made on the first string if `buf` is not one. */
  private text: Utf8Buffer | null;

  constructor(buf: Uint8Array, offset = 0) {
    this.buf = buf;
    this.end = buf.length;
    this.offset = offset;
    this.text = Buffer.isBuffer(buf) ? (buf as Utf8Buffer) : null;
    if (offset < 0 || offset > this.end) invalid("start offset", offset, this);
  }

  get remaining(): number {
    return this.end - this.offset;
  }

  // ---- fixed-size primitives ----

  readInt8(): number {
    const o = this.offset;
    if (o + 1 > this.end) truncated(this, 1);
    this.offset = o + 1;
    return (this.buf[o] << 24) >> 24;
  }

  readBool(): boolean {
    const o = this.offset;
    if (o + 1 > this.end) truncated(this, 1);
    this.offset = o + 1;
    return this.buf[o] !== 0;
  }

  readInt16(): number {
    const o = this.offset;
    if (o + 2 > this.end) truncated(this, 2);
    this.offset = o + 2;
    const b = this.buf;
    return ((b[o] << 24) | (b[o + 1] << 16)) >> 16;
  }

  readUint16(): number {
    const o = this.offset;
    if (o + 2 > this.end) truncated(this, 2);
    this.offset = o + 2;
    const b = this.buf;
    return (b[o] << 8) | b[o + 1];
  }

  readInt32(): number {
    const o = this.offset;
    if (o + 4 > this.end) truncated(this, 4);
    this.offset = o + 4;
    const b = this.buf;
    return (b[o] << 24) | (b[o + 1] << 16) | (b[o + 2] << 8) | b[o + 3];
  }

  readUint32(): number {
    const o = this.offset;
    if (o + 4 > this.end) truncated(this, 4);
    this.offset = o + 4;
    const b = this.buf;
    return ((b[o] << 24) | (b[o + 1] << 16) | (b[o + 2] << 8) | b[o + 3]) >>> 0;
  }

  /** int64 as a JS number (exact within ±2^53: offsets, timestamps, ids, -1). */
  readInt64(): number {
    const o = this.offset;
    if (o + 8 > this.end) truncated(this, 8);
    this.offset = o + 8;
    const b = this.buf;
    const hi = (b[o] << 24) | (b[o + 1] << 16) | (b[o + 2] << 8) | b[o + 3];
    const lo = ((b[o + 4] << 24) | (b[o + 5] << 16) | (b[o + 6] << 8) | b[o + 7]) >>> 0;
    return hi * 4294967296 + lo;
  }

  readFloat64(): number {
    const o = this.offset;
    if (o + 8 > this.end) truncated(this, 8);
    this.offset = o + 8;
    const b = this.buf;
    if (littleEndian) for (let i = 0; i < 8; i++) f64Bytes[7 - i] = b[o + i];
    else for (let i = 0; i < 8; i++) f64Bytes[i] = b[o + i];
    return f64[0];
  }

  /** 16-byte view of the input. */
  readUuid(): Uint8Array {
    const o = this.offset;
    if (o + 16 > this.end) truncated(this, 16);
    this.offset = o + 16;
    return this.buf.subarray(o, o + 16);
  }

  // ---- varints ----

  /** Unsigned varint, at most 5 bytes, as a uint32. */
  readUnsignedVarint(): number {
    const buf = this.buf;
    const end = this.end;
    let o = this.offset;
    if (o >= end) truncated(this, 1);
    let b = buf[o++];
    if (b < 0x80) {
      this.offset = o;
      return b;
    }
    let value = b & 0x7f;
    for (let shift = 7; shift < 28; shift += 7) {
      if (o >= end) truncated(this, 1);
      b = buf[o++];
      value |= (b & 0x7f) << shift;
      if (b < 0x80) {
        this.offset = o;
        return value >>> 0;
      }
    }
    if (o >= end) truncated(this, 1);
    b = buf[o++];
    if (b >= 0x80) throw new ProtocolDecodeError(`varint longer than 5 bytes at offset ${this.offset}`);
    this.offset = o;
    return (value | (b << 28)) >>> 0;
  }

  /** Zigzag-encoded int32 varint. */
  readVarint(): number {
    const u = this.readUnsignedVarint();
    return (u >>> 1) ^ -(u & 1);
  }

  /** Zigzag-encoded int64 varint (at most 10 bytes) as a JS number (exact within ±2^53). */
  readVarlong(): number {
    const buf = this.buf;
    const end = this.end;
    let o = this.offset;
    if (o >= end) truncated(this, 1);
    let b = buf[o++];
    // zigzag(v) = 2m + sign with m = v or -v-1: take the sign bit off first so the
    // magnitude adds up exactly.
    const negative = b & 1;
    let value = (b & 0x7f) >>> 1;
    let mul = 64;
    let n = 1;
    while (b >= 0x80) {
      if (n === 10) throw new ProtocolDecodeError(`varlong longer than 10 bytes at offset ${this.offset}`);
      if (o >= end) truncated(this, 1);
      b = buf[o++];
      value += (b & 0x7f) * mul;
      mul *= 128;
      n++;
    }
    this.offset = o;
    return negative ? -value - 1 : value;
  }

  // ---- strings ----

  private utf8(length: number): string {
    const o = this.offset;
    if (o + length > this.end) truncated(this, length);
    this.offset = o + length;
    if (length === 0) return "";
    if (!hasUtf8Slice) return decoder.decode(this.buf.subarray(o, o + length));
    let text = this.text;
    if (text === null) {
      const b = this.buf;
      text = this.text = Buffer.from(b.buffer, b.byteOffset, b.byteLength) as Utf8Buffer;
    }
    return text.utf8Slice!(o, o + length);
  }

  readString(): string {
    const len = this.readInt16();
    if (len < 0) invalid("string length (non-nullable)", len, this);
    return this.utf8(len);
  }

  readNullableString(): string | null {
    const len = this.readInt16();
    if (len < 0) {
      if (len === -1) return null;
      invalid("string length", len, this);
    }
    return this.utf8(len);
  }

  readCompactString(): string {
    const n = this.readUnsignedVarint();
    if (n === 0) invalid("compact string length (non-nullable)", -1, this);
    if (n - 1 > MAX_STRING_LENGTH) invalid("compact string length", n - 1, this);
    return this.utf8(n - 1);
  }

  readCompactNullableString(): string | null {
    const n = this.readUnsignedVarint();
    if (n === 0) return null;
    if (n - 1 > MAX_STRING_LENGTH) invalid("compact string length", n - 1, this);
    return this.utf8(n - 1);
  }

  // ---- bytes (views) ----

  /** View of the next `length` bytes. */
  readRaw(length: number): Uint8Array {
    const o = this.offset;
    if (length < 0) invalid("length", length, this);
    if (o + length > this.end) truncated(this, length);
    this.offset = o + length;
    return this.buf.subarray(o, o + length);
  }

  skip(length: number): void {
    if (length < 0) invalid("length", length, this);
    if (this.offset + length > this.end) truncated(this, length);
    this.offset += length;
  }

  readBytes(): Uint8Array {
    const len = this.readInt32();
    if (len < 0) invalid("bytes length (non-nullable)", len, this);
    return this.readRaw(len);
  }

  readNullableBytes(): Uint8Array | null {
    const len = this.readInt32();
    if (len < 0) {
      if (len === -1) return null;
      invalid("bytes length", len, this);
    }
    return this.readRaw(len);
  }

  readCompactBytes(): Uint8Array {
    const n = this.readUnsignedVarint();
    if (n === 0) invalid("compact bytes length (non-nullable)", -1, this);
    return this.readRaw(n - 1);
  }

  readCompactNullableBytes(): Uint8Array | null {
    const n = this.readUnsignedVarint();
    if (n === 0) return null;
    return this.readRaw(n - 1);
  }

  /** A records field: a view of the record batches, or null. */
  readRecords(compact: boolean, nullable = true): Uint8Array | null {
    const v = compact ? this.readCompactNullableBytes() : this.readNullableBytes();
    if (v === null && !nullable) invalid("records length (non-nullable)", -1, this);
    return v;
  }

  // ---- arrays ----

  private checkArrayLength(len: number): number {
    // Every element takes at least one byte in practice; this is Kafka's own guard
    // against allocating a huge array from a garbage length.
    if (len > this.end - this.offset) {
      throw new ProtocolDecodeError(
        `array length ${len} exceeds the ${this.end - this.offset} byte(s) left at offset ${this.offset}`,
      );
    }
    return len;
  }

  /** int32 element count of a non-nullable array. */
  readArrayLength(): number {
    const len = this.readInt32();
    if (len < 0) invalid("array length (non-nullable)", len, this);
    return this.checkArrayLength(len);
  }

  /** int32 element count, or -1 for a null array. */
  readNullableArrayLength(): number {
    const len = this.readInt32();
    if (len < 0) {
      if (len === -1) return -1;
      invalid("array length", len, this);
    }
    return this.checkArrayLength(len);
  }

  /** Compact (unsigned varint N+1) element count of a non-nullable array. */
  readCompactArrayLength(): number {
    const n = this.readUnsignedVarint();
    if (n === 0) invalid("compact array length (non-nullable)", -1, this);
    return this.checkArrayLength(n - 1);
  }

  /** Compact element count, or -1 for a null array. */
  readCompactNullableArrayLength(): number {
    const n = this.readUnsignedVarint();
    if (n === 0) return -1;
    return this.checkArrayLength(n - 1);
  }

  // ---- tagged fields ----

  /** Skips a whole tagged-field section (count, then tag/size/bytes). */
  skipTaggedFields(): void {
    const count = this.readUnsignedVarint();
    for (let i = 0; i < count; i++) {
      this.readUnsignedVarint();
      const size = this.readUnsignedVarint();
      this.skip(size);
    }
  }

  /**
   * Reads a tagged-field section, calling `cb(tag, size)` for each field with the
   * reader positioned at the field's data. The callback may read the field or
   * not; afterwards the reader continues after the field (reading past its end
   * is an error).
   */
  readTaggedFields(cb: (tag: number, size: number, r: Reader) => void): void {
    const count = this.readUnsignedVarint();
    for (let i = 0; i < count; i++) {
      const tag = this.readUnsignedVarint();
      const size = this.readUnsignedVarint();
      const end = this.taggedFieldEnd(size);
      cb(tag, size, this);
      this.endTaggedField(end);
    }
  }

  /** Checks that a tagged field of `size` bytes fits and returns where it ends. */
  taggedFieldEnd(size: number): number {
    if (this.offset + size > this.end) truncated(this, size);
    return this.offset + size;
  }

  /** Moves to the end of a tagged field; throws if its reader overran it. */
  endTaggedField(end: number): void {
    if (this.offset > end) {
      throw new ProtocolDecodeError(`tagged field overran its size: at ${this.offset}, field ends at ${end}`);
    }
    this.offset = end;
  }
}
