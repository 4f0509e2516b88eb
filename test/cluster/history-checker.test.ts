// The history checker must catch each kind of violation it exists for.
import { expect, test } from "bun:test";
import { History } from "../helpers/history.ts";

function valid(): History {
  const history = new History();
  for (let i = 0; i < 5; i++) history.send({ value: `v${i}`, partition: 0, ackedOffset: i });
  for (let i = 0; i < 5; i++) history.poll({ consumer: "final", partition: 0, offset: i, value: `v${i}` });
  return history;
}

test("a valid history passes", () => {
  expect(valid().check("final")).toEqual([]);
});

test("a lost acknowledged write is reported", () => {
  const history = valid();
  history.send({ value: "v5", partition: 0, ackedOffset: 5 });
  expect(history.check("final").join()).toContain("lost acknowledged writes: v5");
});

test("an unacknowledged write may be missing", () => {
  const history = valid();
  history.send({ value: "v5", partition: 0, ackedOffset: null });
  expect(history.check("final")).toEqual([]);
});

test("a duplicate is reported", () => {
  const history = valid();
  history.poll({ consumer: "final", partition: 0, offset: 5, value: "v4" });
  expect(history.check("final").join()).toContain("duplicate v4");
});

test("two values at one offset are reported", () => {
  const history = valid();
  history.poll({ consumer: "live", partition: 0, offset: 2, value: "other" });
  expect(history.check("final").join()).toContain("two values at 0/2");
});

test("a consumer that skips or goes backwards is reported", () => {
  const skipping = valid();
  skipping.poll({ consumer: "live", partition: 0, offset: 0, value: "v0" });
  skipping.poll({ consumer: "live", partition: 0, offset: 2, value: "v2" });
  expect(skipping.check("final").join()).toContain("live skipped on partition 0");
  const backwards = valid();
  backwards.poll({ consumer: "live", partition: 0, offset: 3, value: "v3" });
  backwards.poll({ consumer: "live", partition: 0, offset: 1, value: "v1" });
  expect(backwards.check("final").join()).toContain("live went backwards");
});

test("an acknowledged write read at another offset is reported", () => {
  const history = new History();
  history.send({ value: "a", partition: 0, ackedOffset: 1 });
  history.poll({ consumer: "final", partition: 0, offset: 0, value: "a" });
  expect(history.check("final").join()).toContain("acknowledged at another offset");
});

function transactional(): History {
  const history = new History();
  history.transaction({ id: "t1", outcome: "committed", values: ["a1", "a2"] });
  history.transaction({ id: "t2", outcome: "aborted", values: ["b1", "b2"] });
  history.transaction({ id: "t3", outcome: "unknown", values: ["c1", "c2"] });
  // Offsets skip where the aborted records and the markers are, as a read_committed read returns them.
  history.poll({ consumer: "final", partition: 0, offset: 0, value: "a1" });
  history.poll({ consumer: "final", partition: 1, offset: 0, value: "a2" });
  history.poll({ consumer: "final", partition: 0, offset: 4, value: "c1" });
  history.poll({ consumer: "final", partition: 1, offset: 4, value: "c2" });
  return history;
}

test("transactions: committed visible once, aborted invisible, unknown all or nothing passes (offsets may skip)", () => {
  expect(transactional().checkTransactions("final")).toEqual([]);
  const none = new History();
  none.transaction({ id: "t3", outcome: "unknown", values: ["c1", "c2"] });
  expect(none.checkTransactions("final")).toEqual([]);
});

test("transactions: a committed transaction with a missing value is reported", () => {
  const history = transactional();
  history.transaction({ id: "t4", outcome: "committed", values: ["d1"] });
  expect(history.checkTransactions("final").join()).toContain("lost committed transaction t4");
});

test("transactions: an aborted transaction's value read is reported", () => {
  const history = transactional();
  history.poll({ consumer: "final", partition: 0, offset: 6, value: "b1" });
  expect(history.checkTransactions("final").join()).toContain("aborted transaction t2 leaked: b1");
});

test("transactions: half of a transaction with an unknown outcome is reported", () => {
  const history = new History();
  history.transaction({ id: "t3", outcome: "unknown", values: ["c1", "c2"] });
  history.poll({ consumer: "final", partition: 0, offset: 0, value: "c1" });
  expect(history.checkTransactions("final").join()).toContain("transaction t3 partly visible: 1 of 2");
});

test("transactions: a committed value read twice, or a value never sent, is reported", () => {
  const duplicated = transactional();
  duplicated.poll({ consumer: "final", partition: 0, offset: 7, value: "a1" });
  expect(duplicated.checkTransactions("final").join()).toContain("duplicates: a1 x2");
  const unknown = transactional();
  unknown.poll({ consumer: "final", partition: 0, offset: 7, value: "zz" });
  expect(unknown.checkTransactions("final").join()).toContain("values never sent: zz");
});
