// __transaction_state records in Kafka's format (TransactionLogKey v0, TransactionLogValue v0/v1): the bytes
// are built here by hand from the schema, field by field, and compared with what Bunka writes and reads.
import { expect, test } from "bun:test";
import {
  decodeTransactionLogKey,
  decodeTransactionLogValue,
  encodeTransactionLogKey,
  encodeTransactionLogValue,
  TransactionStatus,
  type TransactionLogValue,
} from "../../src/transactions/transaction-log-records.ts";

function bytes(...parts: number[][]): Uint8Array {
  return new Uint8Array(parts.flat());
}
const int16 = (v: number) => [(v >> 8) & 0xff, v & 0xff];
const int32 = (v: number) => [(v >>> 24) & 0xff, (v >>> 16) & 0xff, (v >>> 8) & 0xff, v & 0xff];
const int64 = (v: number) => [...int32(Math.floor(v / 2 ** 32)), ...int32(v >>> 0)];
const ascii = (text: string) => [...text].map((c) => c.charCodeAt(0));

const value: TransactionLogValue = {
  producerId: 4242,
  previousProducerId: -1,
  nextProducerId: -1,
  producerEpoch: 7,
  transactionTimeoutMs: 60_000,
  status: TransactionStatus.PrepareCommit,
  partitions: new Map([["orders", [0, 2]]]),
  lastUpdateTimestampMs: 1_700_000_000_123,
  startTimestampMs: 1_700_000_000_000,
  clientTransactionVersion: 0,
};

test("TransactionLogKey v0 is int16 version 0 and the transactional id as an int16-length string", () => {
  const expected = bytes(int16(0), int16(3), ascii("tx1"));
  expect(encodeTransactionLogKey("tx1")).toEqual(expected);
  expect(decodeTransactionLogKey(expected)).toBe("tx1");
  expect(decodeTransactionLogKey(bytes(int16(1), int16(3), ascii("tx1")))).toBeNull();
});

test("TransactionLogValue v1 (written): compact strings and arrays, an empty tagged-field section when every tagged field has its default", () => {
  const expected = bytes(
    int16(1),
    int64(4242),
    int16(7),
    int32(60_000),
    [TransactionStatus.PrepareCommit],
    [2], // one topic (compact array: count + 1)
    [7], ascii("orders"), // compact string: length + 1
    [3], int32(0), int32(2), // two partitions
    [0], // the topic entry's tagged fields
    int64(1_700_000_000_123),
    int64(1_700_000_000_000),
    [0], // no tagged fields
  );
  expect(encodeTransactionLogValue(value)).toEqual(expected);
  expect(decodeTransactionLogValue(expected)).toEqual(value);
});

test("TransactionLogValue v1 tagged fields: previous/next producer id (tags 0, 1) and the client transaction version (tag 2) round-trip", () => {
  const tagged = { ...value, previousProducerId: 17, nextProducerId: 18, clientTransactionVersion: 2 };
  const encoded = encodeTransactionLogValue(tagged);
  const tail = bytes([3], [0, 8], int64(17), [1, 8], int64(18), [2, 2], int16(2));
  expect(encoded.subarray(encoded.byteLength - tail.byteLength)).toEqual(tail);
  expect(decodeTransactionLogValue(encoded)).toEqual(tagged);
});

test("TransactionLogValue v0 (what older Kafka brokers wrote) is read: int16-length strings, int32 array counts", () => {
  const v0 = bytes(
    int16(0),
    int64(4242),
    int16(7),
    int32(60_000),
    [TransactionStatus.PrepareCommit],
    int32(1), int16(6), ascii("orders"), int32(2), int32(0), int32(2),
    int64(1_700_000_000_123),
    int64(1_700_000_000_000),
  );
  expect(decodeTransactionLogValue(v0)).toEqual(value);
  // An unknown version or state is not guessed at.
  expect(decodeTransactionLogValue(bytes(int16(2), int64(1)))).toBeNull();
  const badState = new Uint8Array(v0);
  badState[2 + 8 + 2 + 4] = 9;
  expect(decodeTransactionLogValue(badState)).toBeNull();
});
