// Transactions: the compares and operations callers write, and their gateway JSON (etcdserverpb.Compare,
// RequestOp, ResponseOp). Enough for compare-and-swap:
//   create if absent:     { key, target: "createRevision", op: "=", value: 0 }
//   update if unchanged:  { key, target: "modRevision", op: "=", value: kv.modRevision }
import {
  base64OfBytes,
  base64OfKey,
  decodeKeyValue,
  headerRevision,
  int64,
  int64String,
  prefixRange,
  type KeyValue,
  type RawDeleteRangeResponse,
  type RawHeader,
  type RawPutResponse,
  type RawRangeResponse,
} from "./gateway-json.ts";
import { EtcdError } from "./errors.ts";

export type CompareOp = "=" | "!=" | "<" | ">";

export type Compare =
  | { key: string; target: "version" | "createRevision" | "modRevision"; op: CompareOp; value: number }
  | { key: string; target: "value"; op: CompareOp; value: Uint8Array };

export type Op =
  | { type: "put"; key: string; value: Uint8Array; lease?: string }
  | { type: "delete"; key: string; prefix?: boolean }
  | { type: "get"; key: string; prefix?: boolean };

export type OpResponse =
  | { type: "put"; revision: number }
  | { type: "delete"; revision: number; deleted: number }
  | { type: "get"; revision: number; kvs: KeyValue[] };

export interface TxnRequest {
  compare: Compare[];
  success: Op[];
  failure?: Op[];
}

export interface TxnResult {
  succeeded: boolean;
  /** Store revision after the txn (unchanged if it only read). */
  revision: number;
  /** One per op of the branch that ran, in order. */
  responses: OpResponse[];
}

export interface RawTxnResponse {
  header?: RawHeader;
  succeeded?: boolean;
  responses?: RawResponseOp[];
}

interface RawResponseOp {
  response_put?: RawPutResponse;
  response_delete_range?: RawDeleteRangeResponse;
  response_range?: RawRangeResponse;
}

const COMPARE_RESULT: Record<CompareOp, string> = { "=": "EQUAL", "!=": "NOT_EQUAL", "<": "LESS", ">": "GREATER" };

export function encodeTxn(request: TxnRequest): object {
  return {
    compare: request.compare.map(encodeCompare),
    success: request.success.map(encodeOp),
    failure: (request.failure ?? []).map(encodeOp),
  };
}

function encodeCompare(compare: Compare): object {
  const result = COMPARE_RESULT[compare.op];
  if (!result) throw new RangeError(`etcd compare: unknown op ${JSON.stringify(compare.op)}`);
  const key = base64OfKey(compare.key);
  switch (compare.target) {
    case "version":
      return { key, result, target: "VERSION", version: int64String(compare.value, "compare.version") };
    case "createRevision":
      return { key, result, target: "CREATE", create_revision: int64String(compare.value, "compare.createRevision") };
    case "modRevision":
      return { key, result, target: "MOD", mod_revision: int64String(compare.value, "compare.modRevision") };
    case "value":
      return { key, result, target: "VALUE", value: base64OfBytes(compare.value) };
    default:
      throw new RangeError(`etcd compare: unknown target ${JSON.stringify((compare as { target: unknown }).target)}`);
  }
}

export function rangeOf(key: string, prefix: boolean | undefined): { key: string; range_end?: string } {
  return prefix ? prefixRange(key) : { key: base64OfKey(key) };
}

export function encodePut(key: string, value: Uint8Array, lease: string | undefined): object {
  const request: Record<string, string> = { key: base64OfKey(key), value: base64OfBytes(value) };
  if (lease !== undefined && lease !== "0") {
    if (!/^-?\d+$/.test(lease)) throw new RangeError(`etcd put: lease must be a decimal lease ID, got ${JSON.stringify(lease)}`);
    request.lease = lease;
  }
  return request;
}

function encodeOp(op: Op): object {
  switch (op.type) {
    case "put":
      return { request_put: encodePut(op.key, op.value, op.lease) };
    case "delete":
      return { request_delete_range: rangeOf(op.key, op.prefix) };
    case "get":
      return { request_range: rangeOf(op.key, op.prefix) };
    default:
      throw new RangeError(`etcd txn: unknown op ${JSON.stringify((op as { type: unknown }).type)}`);
  }
}

export function decodeTxn(raw: RawTxnResponse): TxnResult {
  return {
    succeeded: raw.succeeded === true,
    revision: headerRevision(raw.header),
    responses: (raw.responses ?? []).map(decodeResponseOp),
  };
}

function decodeResponseOp(raw: RawResponseOp): OpResponse {
  if (raw.response_put) return { type: "put", revision: headerRevision(raw.response_put.header) };
  if (raw.response_delete_range) {
    const response = raw.response_delete_range;
    return { type: "delete", revision: headerRevision(response.header), deleted: int64(response.deleted, "deleted") };
  }
  if (raw.response_range) {
    const response = raw.response_range;
    return { type: "get", revision: headerRevision(response.header), kvs: (response.kvs ?? []).map(decodeKeyValue) };
  }
  throw new EtcdError(`etcd txn: unexpected response op ${JSON.stringify(raw).slice(0, 200)}`, "protocol");
}
