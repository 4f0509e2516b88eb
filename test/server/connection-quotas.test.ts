// Connection admission (Kafka's ConnectionQuotas): total and per-address limits, per-address overrides,
// the reserve for other brokers' addresses, counts given back on close, and refusals summarised in the log.
import { expect, test } from "bun:test";
import { ConnectionQuotas, normalizeAddress } from "../../src/server/connection-quotas.ts";

function quotas(limits: Partial<ConstructorParameters<typeof ConnectionQuotas>[0]>, brokers: string[] = [], log: string[] = []) {
  return new ConnectionQuotas(
    { maxConnections: 100, maxConnectionsPerIp: 100, maxConnectionsPerIpOverrides: {}, interBrokerReserve: 0, ...limits },
    () => new Set(brokers),
    (line) => log.push(line),
  );
}

test("max.connections.per.ip refuses one address while others still get in; a closed connection frees its slot", () => {
  const q = quotas({ maxConnectionsPerIp: 2 });
  expect(q.admit("10.0.0.1").admitted).toBe(true);
  expect(q.admit("10.0.0.1").admitted).toBe(true);
  const refused = q.admit("10.0.0.1");
  expect(refused.admitted).toBe(false);
  expect(!refused.admitted && refused.reason).toContain("max.connections.per.ip=2 reached for 10.0.0.1");
  expect(q.admit("10.0.0.2").admitted).toBe(true);
  q.release("10.0.0.1");
  expect(q.admit("10.0.0.1").admitted).toBe(true);
  expect(q.connections).toBe(3);
});

test("an override raises or lowers one address's limit", () => {
  const q = quotas({ maxConnectionsPerIp: 1, maxConnectionsPerIpOverrides: { "10.0.0.9": 3 } });
  for (let i = 0; i < 3; i++) expect(q.admit("10.0.0.9").admitted).toBe(true);
  expect(q.admit("10.0.0.9").admitted).toBe(false);
  expect(q.admit("10.0.0.1").admitted).toBe(true);
  expect(q.admit("10.0.0.1").admitted).toBe(false);
});

test("other brokers' addresses may use the reserve above max.connections, clients may not", () => {
  const q = quotas({ maxConnections: 2, interBrokerReserve: 1 }, ["10.0.0.7"]);
  expect(q.admit("10.0.0.1").admitted).toBe(true);
  expect(q.admit("10.0.0.2").admitted).toBe(true);
  expect(q.admit("10.0.0.3").admitted).toBe(false);
  const broker = q.admit("10.0.0.7");
  expect(broker).toEqual({ admitted: true, interBroker: true });
  expect(q.admit("10.0.0.7").admitted).toBe(false); // the reserve is bounded too
  expect(q.stats.reserveAdmitted).toBe(1);
});

test("refusals are summarised once per interval, not logged per connection", () => {
  const log: string[] = [];
  const q = quotas({ maxConnections: 1 }, [], log);
  q.admit("10.0.0.1", 1_000_000);
  for (let i = 0; i < 500; i++) q.admit("10.0.0.2", 1_000_000 + i);
  expect(log.length).toBe(1);
  q.admit("10.0.0.2", 1_000_000 + 20_000);
  expect(log.length).toBe(2);
  expect(log[1]).toContain("refused 500 new connection(s)");
  expect(q.stats.refused).toBe(501);
});

test("an IPv4 client on a dual-stack socket counts as its IPv4 address", () => {
  expect(normalizeAddress("::ffff:127.0.0.1")).toBe("127.0.0.1");
  expect(normalizeAddress("::1")).toBe("::1");
});
