// The JSON mapping of etcd's protobuf messages as the grpc-gateway speaks it (proto3 JSON, etcd 3.4):
// * `bytes` fields (key, value, range_end) are base64 strings;
// * int64/uint64 fields (revisions, versions, lease IDs, TTLs, counts) are decimal strings;
// * fields holding their default value are omitted: a missing `value` is an empty value, a missing
//   `version` is 0, a missing `succeeded` is false, a missing event `type` is PUT, a missing `TTL` is 0.
// Revisions and versions fit a double comfortably (2^53 writes); lease IDs are random 63-bit numbers and
// stay strings.
import { EtcdError } from "./errors.ts";

export interface KeyValue {
  key: string;
  value: Uint8Array;
  createRevision: number;
  modRevision: number;
  /** Number of puts since the key was (re)created; a delete resets it to 0. */
  version: number;
  /** Lease ID holding the key, "0" for none. */
  lease: string;
}

/** mvccpb.KeyValue as the gateway writes it. */
export interface RawKeyValue {
  key?: string;
  value?: string;
  create_revision?: string;
  mod_revision?: string;
  version?: string;
  lease?: string;
}

export interface RawHeader {
  cluster_id?: string;
  member_id?: string;
  revision?: string;
  raft_term?: string;
}

export interface RawRangeResponse {
  header?: RawHeader;
  kvs?: RawKeyValue[];
  count?: string;
  more?: boolean;
}

export interface RawDeleteRangeResponse {
  header?: RawHeader;
  deleted?: string;
}

export interface RawPutResponse {
  header?: RawHeader;
}

const utf8Encoder = new TextEncoder();
const utf8Decoder = new TextDecoder("utf-8", { fatal: true });

export function base64OfBytes(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString("base64");
}

export function base64OfKey(key: string): string {
  return Buffer.from(key, "utf8").toString("base64");
}

export function bytesOfBase64(text: string | undefined): Uint8Array {
  if (text === undefined || text === "") return new Uint8Array(0);
  const buffer = Buffer.from(text, "base64");
  return new Uint8Array(buffer.buffer, buffer.byteOffset, buffer.byteLength);
}

export function keyOfBase64(text: string | undefined): string {
  try {
    return utf8Decoder.decode(bytesOfBase64(text));
  } catch (cause) {
    throw new EtcdError(`etcd key is not UTF-8 (base64 ${text})`, "protocol", null, null, null, { cause });
  }
}

/** An int64 field; absent means 0. Throws on anything that is not a safe integer. */
export function int64(text: string | undefined, field: string): number {
  if (text === undefined) return 0;
  const value = Number(text);
  if (!Number.isSafeInteger(value)) throw new EtcdError(`etcd field ${field} is not a safe integer: ${JSON.stringify(text)}`, "protocol");
  return value;
}

export function int64String(value: number, field: string): string {
  if (!Number.isSafeInteger(value)) throw new RangeError(`${field} must be a safe integer, got ${value}`);
  return String(value);
}

export function headerRevision(header: RawHeader | undefined): number {
  return int64(header?.revision, "header.revision");
}

export function decodeKeyValue(raw: RawKeyValue): KeyValue {
  return {
    key: keyOfBase64(raw.key),
    value: bytesOfBase64(raw.value),
    createRevision: int64(raw.create_revision, "create_revision"),
    modRevision: int64(raw.mod_revision, "mod_revision"),
    version: int64(raw.version, "version"),
    lease: raw.lease ?? "0",
  };
}

/**
 * [key, range_end) for "every key starting with prefix": range_end is the prefix with its last byte
 * below 0xff incremented and the bytes after it dropped (clientv3.GetPrefixRangeEnd). An empty prefix,
 * or one of only 0xff bytes, has no such end: etcd reads range_end "\0" as "to the end of the keyspace".
 */
export function prefixRange(prefix: string): { key: string; range_end: string } {
  const bytes = utf8Encoder.encode(prefix);
  const zero = base64OfBytes(new Uint8Array([0]));
  if (bytes.length === 0) return { key: zero, range_end: zero };
  for (let i = bytes.length - 1; i >= 0; i--) {
    if (bytes[i]! < 0xff) {
      const end = bytes.slice(0, i + 1);
      end[i] = bytes[i]! + 1;
      return { key: base64OfBytes(bytes), range_end: base64OfBytes(end) };
    }
  }
  return { key: base64OfBytes(bytes), range_end: zero };
}
