// A record inside a v2 batch (DefaultRecord in Apache Kafka):
//   length varint, attributes int8, timestampDelta varlong, offsetDelta varint,
//   keyLength varint, key, valueLength varint, value, headerCount varint,
//   headers: [keyLength varint, key, valueLength varint, value]
// Varints are zigzag-encoded like Protobuf's sint32/sint64. The broker's hot path never decodes
// records; this file serves ListOffsets-by-timestamp, batch building and tests.

export interface RecordHeader {
  key: string;
  value: Uint8Array | null;
}

export interface RecordInput {
  key?: Uint8Array | string | null;
  value?: Uint8Array | string | null;
  headers?: RecordHeader[];
  timestampMs?: number;
}

export interface DecodedRecord {
  offsetDelta: number;
  timestampDelta: number;
  key: Uint8Array | null;
  value: Uint8Array | null;
  headers: RecordHeader[];
}

/** Largest varint is 10 bytes (64-bit); the decoders stop there so garbage cannot loop forever. */
const MAX_VARLONG_BYTES = 10;
const MAX_VARINT_BYTES = 5;

export function zigzagVarintSize(value: number): number {
  let raw = value >= 0 ? value * 2 : -value * 2 - 1;
  let sizeBytes = 1;
  while (raw >= 0x80) {
    raw = Math.floor(raw / 128);
    sizeBytes++;
  }
  return sizeBytes;
}

/** Writes a zigzag varlong (exact for |value| < 2^52) and returns the new position. */
export function writeZigzagVarint(bytes: Uint8Array, position: number, value: number): number {
  let raw = value >= 0 ? value * 2 : -value * 2 - 1;
  while (raw >= 0x80) {
    bytes[position++] = (raw % 128) | 0x80;
    raw = Math.floor(raw / 128);
  }
  bytes[position++] = raw;
  return position;
}

/**
 * Reads records one at a time from a decompressed records section. The reader's fields are
 * overwritten by each `next()`, so iterating allocates nothing; keys and values are positions.
 */
export class RecordReader {
  position: number;
  remainingRecords: number;
  // The current record:
  attributes = 0;
  timestampDelta = 0;
  offsetDelta = 0;
  /** Start and length of the key in `bytes`; keyLength -1 means a null key. */
  keyPosition = 0;
  keyLength = -1;
  valuePosition = 0;
  valueLength = -1;
  headerCount = 0;
  headersPosition = 0;

  constructor(
    readonly bytes: Uint8Array,
    recordCount: number,
    startPosition = 0,
    readonly endPosition = bytes.byteLength,
  ) {
    this.position = startPosition;
    this.remainingRecords = recordCount;
  }

  /** Advances to the next record; false at the end. Throws on malformed data. */
  next(): boolean {
    if (this.remainingRecords <= 0) return false;
    if (this.position >= this.endPosition) throw new Error("record section ends before recordCount records");
    const lengthBytes = this.readVarint();
    const recordEnd = this.position + lengthBytes;
    if (lengthBytes < 6 || recordEnd > this.endPosition) throw new Error(`bad record length ${lengthBytes}`);
    this.attributes = this.bytes[this.position++]!;
    this.timestampDelta = this.readVarlong();
    this.offsetDelta = this.readVarint();
    this.keyLength = this.readVarint();
    this.keyPosition = this.position;
    if (this.keyLength > 0) this.position += this.keyLength;
    this.valueLength = this.readVarint();
    this.valuePosition = this.position;
    if (this.valueLength > 0) this.position += this.valueLength;
    this.headerCount = this.readVarint();
    this.headersPosition = this.position;
    if (this.keyLength < -1 || this.valueLength < -1 || this.headerCount < 0 || this.position > recordEnd) {
      throw new Error("bad record field lengths");
    }
    this.position = recordEnd;
    this.remainingRecords--;
    return true;
  }

  key(): Uint8Array | null {
    return this.keyLength < 0 ? null : this.bytes.subarray(this.keyPosition, this.keyPosition + this.keyLength);
  }

  value(): Uint8Array | null {
    return this.valueLength < 0 ? null : this.bytes.subarray(this.valuePosition, this.valuePosition + this.valueLength);
  }

  /** Decodes the current record's headers (allocates; for tests and tools). */
  headers(): RecordHeader[] {
    const saved = this.position;
    this.position = this.headersPosition;
    const headers: RecordHeader[] = [];
    const decoder = new TextDecoder();
    for (let index = 0; index < this.headerCount; index++) {
      const keyLength = this.readVarint();
      if (keyLength < 0 || this.position + keyLength > this.endPosition) throw new Error("bad header key length");
      const key = decoder.decode(this.bytes.subarray(this.position, this.position + keyLength));
      this.position += keyLength;
      const valueLength = this.readVarint();
      if (valueLength > 0 && this.position + valueLength > this.endPosition) throw new Error("bad header value length");
      const value = valueLength < 0 ? null : this.bytes.subarray(this.position, this.position + valueLength);
      if (valueLength > 0) this.position += valueLength;
      headers.push({ key, value });
    }
    this.position = saved;
    return headers;
  }

  private readVarint(): number {
    let raw = 0;
    let shift = 0;
    for (let index = 0; index < MAX_VARINT_BYTES; index++) {
      if (this.position >= this.endPosition) throw new Error("varint past the end");
      const byte = this.bytes[this.position++]!;
      raw |= (byte & 0x7f) << shift;
      if ((byte & 0x80) === 0) return (raw >>> 1) ^ -(raw & 1);
      shift += 7;
    }
    throw new Error("varint too long");
  }

  private readVarlong(): number {
    let raw = 0;
    let multiplier = 1;
    for (let index = 0; index < MAX_VARLONG_BYTES; index++) {
      if (this.position >= this.endPosition) throw new Error("varlong past the end");
      const byte = this.bytes[this.position++]!;
      raw += (byte & 0x7f) * multiplier;
      if ((byte & 0x80) === 0) return raw % 2 === 0 ? raw / 2 : -(raw + 1) / 2;
      multiplier *= 128;
    }
    throw new Error("varlong too long");
  }
}

/** Decodes every record of a records section into objects (tests and tools, not the hot path). */
export function decodeRecords(bytes: Uint8Array, recordCount: number): DecodedRecord[] {
  const reader = new RecordReader(bytes, recordCount);
  const records: DecodedRecord[] = [];
  while (reader.next()) {
    records.push({
      offsetDelta: reader.offsetDelta,
      timestampDelta: reader.timestampDelta,
      key: reader.key(),
      value: reader.value(),
      headers: reader.headers(),
    });
  }
  return records;
}

const encoder = new TextEncoder();

function asBytes(data: Uint8Array | string | null | undefined): Uint8Array | null {
  if (data === null || data === undefined) return null;
  return typeof data === "string" ? encoder.encode(data) : data;
}

/**
 * Encodes records (offsetDelta = index, timestampDelta against baseTimestampMs) into one buffer:
 * an uncompressed records section.
 */
export function encodeRecords(records: readonly RecordInput[], baseTimestampMs: number, defaultTimestampMs: number): Uint8Array {
  const encoded = records.map((record) => ({
    key: asBytes(record.key),
    value: asBytes(record.value),
    headers: (record.headers ?? []).map((header) => ({ key: encoder.encode(header.key), value: header.value })),
    timestampDelta: (record.timestampMs ?? defaultTimestampMs) - baseTimestampMs,
  }));
  const bodySizes = encoded.map((record, index) => {
    let sizeBytes = 1 + zigzagVarintSize(record.timestampDelta) + zigzagVarintSize(index);
    sizeBytes += zigzagVarintSize(record.key ? record.key.byteLength : -1) + (record.key?.byteLength ?? 0);
    sizeBytes += zigzagVarintSize(record.value ? record.value.byteLength : -1) + (record.value?.byteLength ?? 0);
    sizeBytes += zigzagVarintSize(record.headers.length);
    for (const header of record.headers) {
      sizeBytes += zigzagVarintSize(header.key.byteLength) + header.key.byteLength;
      sizeBytes += zigzagVarintSize(header.value ? header.value.byteLength : -1) + (header.value?.byteLength ?? 0);
    }
    return sizeBytes;
  });
  const totalBytes = bodySizes.reduce((sum, sizeBytes) => sum + zigzagVarintSize(sizeBytes) + sizeBytes, 0);
  const out = new Uint8Array(totalBytes);
  let position = 0;
  encoded.forEach((record, index) => {
    const recordStart = (position = writeZigzagVarint(out, position, bodySizes[index]!));
    out[position++] = 0; // attributes: unused
    position = writeZigzagVarint(out, position, record.timestampDelta);
    position = writeZigzagVarint(out, position, index);
    position = writeBytesField(out, position, record.key);
    position = writeBytesField(out, position, record.value);
    position = writeZigzagVarint(out, position, record.headers.length);
    for (const header of record.headers) {
      position = writeBytesField(out, position, header.key);
      position = writeBytesField(out, position, header.value);
    }
    if (position - recordStart !== bodySizes[index]) throw new Error("encodeRecords: size mismatch");
  });
  if (position !== totalBytes) throw new Error("encodeRecords: total size mismatch");
  return out;
}

function writeBytesField(out: Uint8Array, position: number, data: Uint8Array | null): number {
  if (data === null) return writeZigzagVarint(out, position, -1);
  position = writeZigzagVarint(out, position, data.byteLength);
  out.set(data, position);
  return position + data.byteLength;
}
