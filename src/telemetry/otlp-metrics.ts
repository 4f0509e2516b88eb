// The part of an OTLP MetricsData message (opentelemetry/proto/metrics/v1/metrics.proto) that client telemetry
// (KIP-714, PushTelemetry) carries and Bunka shows: each metric's name and its number data points (gauges and
// sums) with their attributes, and the resource's attributes. A minimal protobuf reader, bounded by the
// payload it is given (PushTelemetry's, itself bounded by telemetry.max.bytes): unknown fields, histograms and
// summaries are skipped, malformed input throws OtlpDecodeError.
//
//   MetricsData     { repeated ResourceMetrics resource_metrics = 1 }
//   ResourceMetrics { Resource resource = 1; repeated ScopeMetrics scope_metrics = 2 }
//   Resource        { repeated KeyValue attributes = 1 }
//   ScopeMetrics    { repeated Metric metrics = 2 }
//   Metric          { string name = 1; Gauge gauge = 5; Sum sum = 7 }   (Gauge and Sum: repeated NumberDataPoint data_points = 1)
//   NumberDataPoint { fixed64 time_unix_nano = 3; double as_double = 4; sfixed64 as_int = 6; repeated KeyValue attributes = 7 }
//   KeyValue        { string key = 1; AnyValue value = 2 }
//   AnyValue        { string string_value = 1; bool bool_value = 2; int64 int_value = 3; double double_value = 4 }

export class OtlpDecodeError extends Error {}

export interface OtlpDataPoint {
  /** The metric's name, e.g. org.apache.kafka.producer.record.queue.time.avg. */
  name: string;
  kind: "gauge" | "sum";
  value: number;
  attributes: Record<string, string>;
  timeUnixNano: bigint;
}

export interface OtlpMetrics {
  resource: Record<string, string>;
  points: OtlpDataPoint[];
}

const WIRE_VARINT = 0;
const WIRE_FIXED64 = 1;
const WIRE_LENGTH = 2;
const WIRE_FIXED32 = 5;

class ProtoReader {
  private offset = 0;
  private readonly view: DataView;
  constructor(private readonly bytes: Uint8Array) {
    this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  }

  get done(): boolean {
    return this.offset >= this.bytes.byteLength;
  }

  varint(): bigint {
    let result = 0n;
    for (let shift = 0n; shift < 70n; shift += 7n) {
      if (this.offset >= this.bytes.byteLength) throw new OtlpDecodeError("truncated varint");
      const byte = this.bytes[this.offset++]!;
      result |= BigInt(byte & 0x7f) << shift;
      if ((byte & 0x80) === 0) return result;
    }
    throw new OtlpDecodeError("varint longer than 10 bytes");
  }

  tag(): { field: number; wire: number } {
    const tag = Number(this.varint() & 0xffffffffn);
    return { field: tag >>> 3, wire: tag & 7 };
  }

  private take(length: number): Uint8Array {
    if (length < 0 || this.offset + length > this.bytes.byteLength) throw new OtlpDecodeError("field past the end of its message");
    const slice = this.bytes.subarray(this.offset, this.offset + length);
    this.offset += length;
    return slice;
  }

  lengthDelimited(): Uint8Array {
    return this.take(Number(this.varint()));
  }

  fixed64(): DataView {
    const slice = this.take(8);
    return new DataView(slice.buffer, slice.byteOffset, 8);
  }

  skip(wire: number): void {
    if (wire === WIRE_VARINT) this.varint();
    else if (wire === WIRE_FIXED64) this.take(8);
    else if (wire === WIRE_LENGTH) this.lengthDelimited();
    else if (wire === WIRE_FIXED32) this.take(4);
    else throw new OtlpDecodeError(`unsupported wire type ${wire}`);
  }
}

const text = new TextDecoder("utf-8", { fatal: false });

/** Calls `onField` for each field of a message; `onField` returns false for a field it did not read. */
function eachField(bytes: Uint8Array, onField: (field: number, wire: number, reader: ProtoReader) => boolean): void {
  const reader = new ProtoReader(bytes);
  while (!reader.done) {
    const { field, wire } = reader.tag();
    if (!onField(field, wire, reader)) reader.skip(wire);
  }
}

function anyValue(bytes: Uint8Array): string {
  let value = "";
  eachField(bytes, (field, wire, reader) => {
    if (field === 1 && wire === WIRE_LENGTH) value = text.decode(reader.lengthDelimited());
    else if (field === 2 && wire === WIRE_VARINT) value = reader.varint() === 0n ? "false" : "true";
    else if (field === 3 && wire === WIRE_VARINT) value = BigInt.asIntN(64, reader.varint()).toString();
    else if (field === 4 && wire === WIRE_FIXED64) value = String(reader.fixed64().getFloat64(0, true));
    else return false;
    return true;
  });
  return value;
}

function keyValue(bytes: Uint8Array, into: Record<string, string>): void {
  let key = "";
  let value = "";
  eachField(bytes, (field, wire, reader) => {
    if (field === 1 && wire === WIRE_LENGTH) key = text.decode(reader.lengthDelimited());
    else if (field === 2 && wire === WIRE_LENGTH) value = anyValue(reader.lengthDelimited());
    else return false;
    return true;
  });
  if (key.length > 0) into[key] = value;
}

function dataPoint(bytes: Uint8Array, name: string, kind: "gauge" | "sum"): OtlpDataPoint {
  const point: OtlpDataPoint = { name, kind, value: 0, attributes: {}, timeUnixNano: 0n };
  eachField(bytes, (field, wire, reader) => {
    if (field === 3 && wire === WIRE_FIXED64) point.timeUnixNano = reader.fixed64().getBigUint64(0, true);
    else if (field === 4 && wire === WIRE_FIXED64) point.value = reader.fixed64().getFloat64(0, true);
    else if (field === 6 && wire === WIRE_FIXED64) point.value = Number(reader.fixed64().getBigInt64(0, true));
    else if (field === 7 && wire === WIRE_LENGTH) keyValue(reader.lengthDelimited(), point.attributes);
    else return false;
    return true;
  });
  return point;
}

function metric(bytes: Uint8Array, points: OtlpDataPoint[]): void {
  let name = "";
  const data: { kind: "gauge" | "sum"; bytes: Uint8Array }[] = [];
  eachField(bytes, (field, wire, reader) => {
    if (field === 1 && wire === WIRE_LENGTH) name = text.decode(reader.lengthDelimited());
    else if ((field === 5 || field === 7) && wire === WIRE_LENGTH) data.push({ kind: field === 5 ? "gauge" : "sum", bytes: reader.lengthDelimited() });
    else return false;
    return true;
  });
  for (const { kind, bytes: body } of data) {
    eachField(body, (field, wire, reader) => {
      if (field !== 1 || wire !== WIRE_LENGTH) return false;
      points.push(dataPoint(reader.lengthDelimited(), name, kind));
      return true;
    });
  }
}

export function decodeOtlpMetrics(bytes: Uint8Array): OtlpMetrics {
  const result: OtlpMetrics = { resource: {}, points: [] };
  eachField(bytes, (field, wire, reader) => {
    if (field !== 1 || wire !== WIRE_LENGTH) return false;
    eachField(reader.lengthDelimited(), (resourceField, resourceWire, resourceReader) => {
      if (resourceField === 1 && resourceWire === WIRE_LENGTH) {
        eachField(resourceReader.lengthDelimited(), (attributeField, attributeWire, attributeReader) => {
          if (attributeField !== 1 || attributeWire !== WIRE_LENGTH) return false;
          keyValue(attributeReader.lengthDelimited(), result.resource);
          return true;
        });
      } else if (resourceField === 2 && resourceWire === WIRE_LENGTH) {
        eachField(resourceReader.lengthDelimited(), (scopeField, scopeWire, scopeReader) => {
          if (scopeField !== 2 || scopeWire !== WIRE_LENGTH) return false;
          metric(scopeReader.lengthDelimited(), result.points);
          return true;
        });
      } else {
        return false;
      }
      return true;
    });
    return true;
  });
  return result;
}
