// Blocking Kafka connections for the load generator's worker threads: socket I/O in C
// (native/netbench.c), frames received into one reused buffer. Every call may block: workers only.
import { decodeResponse, encodeRequest, responseCorrelationId } from "./kafka-frames.ts";
import { check, netbench } from "./native.ts";

export const native = netbench();
export const nowNs = (): number => Number(native.nb_monotonic_ns());
/**
 * CLOCK_MONOTONIC in microseconds: one clock for every thread of the process (latency stamps are
 * written by a producer worker and read by a consumer worker; each Worker has its own timeOrigin).
 */
export const stampUs = (): number => Number(native.nb_monotonic_ns()) / 1000;
export const TIMELINE_STEP_NS = 250_000_000;
export const STAMP_MAGIC = 0x42554e4b; // "BUNK": marks a value that starts with a send timestamp

function sizeOf(header: Uint8Array): number {
  return ((header[0]! << 24) | (header[1]! << 16) | (header[2]! << 8) | header[3]!) | 0;
}

export class BlockingConnection {
  private readonly header = new Uint8Array(4);
  private buffer = new Uint8Array(1024 * 1024);

  constructor(readonly fd: number) {}

  static open(port: number): BlockingConnection {
    return new BlockingConnection(check(native.nb_connect(port), `connect to 127.0.0.1:${port}`));
  }

  send(frame: Uint8Array): void {
    check(native.nb_send_all(this.fd, frame, frame.byteLength), "send");
  }

  private nextCorrelationId = 1_000_000;

  /** One request and its decoded response; only when nothing else is in flight on this connection. */
  request<T = any>(apiKey: number, apiVersion: number, body: object): T {
    const correlationId = this.nextCorrelationId++;
    this.send(encodeRequest(apiKey, apiVersion, correlationId, body));
    const payload = this.receive();
    if (responseCorrelationId(payload) !== correlationId) throw new Error(`response ${responseCorrelationId(payload)} to request ${correlationId}`);
    return decodeResponse<T>(apiKey, apiVersion, payload);
  }

  /** The next response payload (a view of a reused buffer, valid until the next call). */
  receive(): Uint8Array {
    if (check(native.nb_recv_exact(this.fd, this.header, 4), "recv") === 0) throw new Error("broker closed the connection");
    const size = sizeOf(this.header);
    if (size < 4 || size > 1024 * 1024 * 1024) throw new Error(`response of ${size} bytes`);
    if (size > this.buffer.byteLength) this.buffer = new Uint8Array(Math.max(size, this.buffer.byteLength * 2));
    if (check(native.nb_recv_exact(this.fd, this.buffer, size), "recv") === 0) throw new Error("broker closed the connection");
    return this.buffer.subarray(0, size);
  }

  close(): void {
    native.nb_close(this.fd);
  }
}

/** A zigzag varint: [value, position after it]. */
export function readVarint(bytes: Uint8Array, position: number): [number, number] {
  let raw = 0;
  let shift = 0;
  for (let i = 0; i < 5; i++) {
    const byte = bytes[position++]!;
    raw |= (byte & 0x7f) << shift;
    if ((byte & 0x80) === 0) break;
    shift += 7;
  }
  return [(raw >>> 1) ^ -(raw & 1), position];
}


/**
 * Calls `visit` for every record value of the uncompressed batches in `records` (whole batches only):
 * the value's position and length, and the record's index in its batch. Compressed batches are skipped.
 * Returns false from `visit` to stop at the first record of each batch.
 */
export function forEachRecordValue(
  records: Uint8Array,
  wholeBytes: number,
  visit: (valueAt: number, valueLength: number, indexInBatch: number, batchPosition: number) => boolean | void,
): void {
  const view = new DataView(records.buffer, records.byteOffset, records.byteLength);
  for (let position = 0; position < wholeBytes; ) {
    const sizeBytes = view.getInt32(position + 8) + 12;
    if ((view.getInt16(position + 21) & 7) === 0) {
      const count = view.getInt32(position + 57);
      let at = position + 61;
      for (let r = 0; r < count; r++) {
        const [recordLength, afterLength] = readVarint(records, at);
        const end = afterLength + recordLength;
        let p = afterLength + 1; // attributes
        p = readVarint(records, p)[1]; // timestamp delta
        p = readVarint(records, p)[1]; // offset delta
        const [keyLength, afterKeyLength] = readVarint(records, p);
        p = afterKeyLength + Math.max(0, keyLength);
        const [valueLength, valueAt] = readVarint(records, p);
        if (visit(valueAt, valueLength, r, position) === false) break;
        at = end;
      }
    }
    position += sizeBytes;
  }
}
