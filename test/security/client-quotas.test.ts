// Quota resolution and rate measurement (security/quotas/model.ts), decision by decision: Kafka's precedence
// of entities, <default> entities giving each client its own sensor, and the throttle time bringing the
// measured rate back to the quota.
import { expect, test } from "bun:test";
import { QuotaTable, RateSensor, applyQuotaOps, throttleTimeMs, type QuotaEntry } from "../../src/security/quotas/model.ts";

const KEY = "producer_byte_rate";

test("precedence: user+client-id > user+default client > user > default user+client-id > default user > client-id > default client-id", () => {
  let entries: QuotaEntry[] = [];
  const set = (entity: QuotaEntry["entity"], value: number) => (entries = applyQuotaOps(entries, entity, [{ key: KEY, value, remove: false }]));
  set({ clientId: null }, 1);
  set({ clientId: "app" }, 2);
  set({ user: null }, 3);
  set({ user: null, clientId: "app" }, 4);
  set({ user: "alice" }, 5);
  set({ user: "alice", clientId: null }, 6);
  set({ user: "alice", clientId: "app" }, 7);
  const table = new QuotaTable();
  const bound = () => {
    table.replace(entries);
    return table.resolve(KEY, "User:alice", "app")?.bound;
  };
  const order: QuotaEntry["entity"][] = [{ user: "alice", clientId: "app" }, { user: "alice", clientId: null }, { user: "alice" }, { user: null, clientId: "app" }, { user: null }, { clientId: "app" }, { clientId: null }];
  const expected = [7, 6, 5, 4, 3, 2, 1];
  for (let i = 0; i < order.length; i++) {
    expect(bound()).toBe(expected[i]!);
    entries = applyQuotaOps(entries, order[i]!, [{ key: KEY, value: 0, remove: true }]);
  }
  expect(bound()).toBeUndefined();
  expect(entries).toEqual([]); // emptied entities are dropped
});

test("a <default> entity gives every client its own sensor; a named one only matches that name", () => {
  const table = new QuotaTable();
  table.replace([{ entity: { clientId: null }, values: { [KEY]: 100 } }, { entity: { user: "bob" }, values: { consumer_byte_rate: 50 } }]);
  const a = table.resolve(KEY, "User:ANONYMOUS", "a")!;
  const b = table.resolve(KEY, "User:ANONYMOUS", "b")!;
  expect(a.bound).toBe(100);
  expect(a.sensorKey).not.toBe(b.sensorKey);
  expect(table.resolve("consumer_byte_rate", "User:bob", "a")?.bound).toBe(50);
  expect(table.resolve("consumer_byte_rate", "User:alice", "a")).toBeNull();
});

test("throttle time: after waiting it out, the measured rate is back at the quota", () => {
  const window = { samples: 11, sampleMs: 1000 };
  const start = 1_000_000;
  const sensor = new RateSensor(window, start);
  const bound = 1000;
  // Within the first window the rate counts at least 10 whole samples: 10,000 bytes at once are within it.
  sensor.record(10_000, start);
  expect(throttleTimeMs(sensor, bound, start, window)).toBe(0);
  // Steady state at the quota past the first window, then a burst: throttled, and after the throttle time the
  // rate is back at the quota (the first window counts at least 10 samples, so check past it).
  let now = start;
  for (let second = 1; second <= 12; second++) {
    now = start + second * 1000;
    sensor.record(1000, now);
  }
  sensor.record(5_000, now + 10);
  const throttle = throttleTimeMs(sensor, bound, now + 10, window);
  expect(throttle).toBeGreaterThan(0);
  expect(sensor.measure(now + 10 + throttle).rate).toBeLessThanOrEqual(bound * 1.01);
  // Never longer than the whole window, even for an absurd burst.
  sensor.record(1e12, now + 20);
  expect(throttleTimeMs(sensor, bound, now + 20, window)).toBe(11_000);
  // Samples older than the window expire: a long idle client starts from zero.
  expect(sensor.measure(now + 60_000).rate).toBe(0);
});
