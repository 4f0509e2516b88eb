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
