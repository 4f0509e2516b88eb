// One contract, two implementations: every case runs against a real etcd (through EtcdClient and its JSON
// gateway) and against the in-process test store (cluster/memory-store.ts) that embedded clusters use.
// Cases use their own key prefix and only relative revisions, so one etcd serves them all.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { EtcdClient, EtcdError, GrpcCode, LeaseKeeper, type MetadataKv, type WatchEvent } from "../../src/cluster/etcd/index.ts";
import { InMemoryMetadataStore } from "../../src/cluster/memory-store.ts";
import { EtcdProcess } from "../helpers/etcd-process.ts";

const WAIT_POLL_MS = 25;
const bytes = (text: string) => new TextEncoder().encode(text);
const text = (value: Uint8Array) => new TextDecoder().decode(value);
const summary = (event: WatchEvent) => `${event.type} ${event.kv.key}${event.type === "put" ? `=${text(event.kv.value)}` : ""}`;

/** What the etcd client logged (reconnects, re-lists): printed when a wait times out, so a CI failure says why. */
const clientLog: string[] = [];

async function waitFor(what: string, timeoutMs: number, condition: () => boolean | Promise<boolean>, state: () => string = () => ""): Promise<void> {
  const startedAt = performance.now();
  while (performance.now() - startedAt < timeoutMs) {
    if (await condition()) return;
    await Bun.sleep(WAIT_POLL_MS);
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}; ${state()}; client log: ${clientLog.slice(-20).join(" | ") || "empty"}`);
}

let prefixCount = 0;
const freshPrefix = (name: string) => `/contract/${name}-${Date.now()}-${prefixCount++}/`;

interface Implementation {
  name: string;
  start(): Promise<MetadataKv>;
  stop(): Promise<void>;
}

const etcd = new EtcdProcess();
let memory: InMemoryMetadataStore | null = null;

const implementations: Implementation[] = [
  {
    name: "etcd",
    async start() {
      await etcd.start();
      return new EtcdClient({ endpoints: [etcd.endpoint], log: (line) => void clientLog.push(line) });
    },
    async stop() {
      await etcd.stop();
    },
  },
  {
    name: "in-process store",
    async start() {
      memory = new InMemoryMetadataStore(`contract-${process.pid}`);
      return memory.session("test");
    },
    async stop() {
      memory?.close();
    },
  },
];

for (const implementation of implementations) {
  describe(`metadata store contract: ${implementation.name}`, () => {
    let kv: MetadataKv;
    beforeAll(async () => {
      kv = await implementation.start();
    });
    afterAll(() => implementation.stop());

    test("put bumps the store revision; versions count puts; a delete resets them; prefix listings are sorted by key", async () => {
      const prefix = freshPrefix("kv");
      const first = await kv.put(`${prefix}b`, bytes("1"));
      const second = await kv.put(`${prefix}b`, bytes("2"));
      expect(second.revision).toBe(first.revision + 1);
      const got = (await kv.get(`${prefix}b`))!;
      expect(text(got.value)).toBe("2");
      expect(got).toMatchObject({ createRevision: first.revision, modRevision: second.revision, version: 2, lease: "0" });
      await kv.put(`${prefix}a`, bytes("x"));
      await kv.put(`${prefix}c/d`, bytes("y"));
      await kv.put(`${prefix.slice(0, -1)}0`, bytes("outside the prefix"));
      const listing = await kv.getPrefix(prefix);
      expect(listing.kvs.map((entry) => entry.key)).toEqual([`${prefix}a`, `${prefix}b`, `${prefix}c/d`]);
      const removed = await kv.delete(`${prefix}b`);
      expect(removed).toEqual({ deleted: 1, revision: listing.revision + 1 });
      // Deleting nothing changes nothing, not even the revision.
      expect(await kv.delete(`${prefix}b`)).toEqual({ deleted: 0, revision: removed.revision });
      expect(await kv.get(`${prefix}b`)).toBeNull();
      const recreated = await kv.put(`${prefix}b`, bytes("3"));
      expect(await kv.get(`${prefix}b`)).toMatchObject({ createRevision: recreated.revision, version: 1 });
      expect(await kv.deletePrefix(prefix)).toEqual({ deleted: 3, revision: recreated.revision + 1 });
      expect((await kv.getPrefix(prefix)).kvs).toEqual([]);
    });

    test("txn: compare-and-swap on createRevision, modRevision, version and value; one revision for all writes", async () => {
      const prefix = freshPrefix("txn");
      const key = `${prefix}controller`;
      const createIfAbsent = (value: string) => kv.txn({ compare: [{ key, target: "createRevision", op: "=", value: 0 }], success: [{ type: "put", key, value: bytes(value) }], failure: [{ type: "get", key }] });
      const created = await createIfAbsent("broker-1");
      expect(created.succeeded).toBe(true);
      const lost = await createIfAbsent("broker-2");
      expect(lost.succeeded).toBe(false);
      expect(lost.revision).toBe(created.revision);
      const seen = lost.responses[0] as Extract<(typeof lost.responses)[number], { type: "get" }>;
      expect(text(seen.kvs[0]!.value)).toBe("broker-1");
      const modRevision = seen.kvs[0]!.modRevision;
      const update = (value: string) => kv.txn({ compare: [{ key, target: "modRevision", op: "=", value: modRevision }], success: [{ type: "put", key, value: bytes(value) }, { type: "put", key: `${prefix}other`, value: bytes("o") }] });
      const updated = await update("broker-3");
      expect(updated.succeeded).toBe(true);
      expect(updated.revision).toBe(created.revision + 1);
      expect((await kv.get(`${prefix}other`))!.modRevision).toBe(updated.revision);
      expect((await update("broker-4")).succeeded).toBe(false);
      expect((await kv.txn({ compare: [{ key, target: "version", op: "=", value: 2 }], success: [] })).succeeded).toBe(true);
      expect((await kv.txn({ compare: [{ key, target: "version", op: ">", value: 2 }], success: [] })).succeeded).toBe(false);
      expect((await kv.txn({ compare: [{ key, target: "value", op: "=", value: bytes("broker-3") }], success: [] })).succeeded).toBe(true);
      expect((await kv.txn({ compare: [{ key, target: "value", op: "<", value: bytes("broker-4") }], success: [] })).succeeded).toBe(true);
      // A value compare on a missing key fails whatever the operator: there is no value to compare.
      expect((await kv.txn({ compare: [{ key: `${prefix}missing`, target: "value", op: "!=", value: bytes("x") }], success: [] })).succeeded).toBe(false);
      // A txn that only reads leaves the revision where it was.
      const read = await kv.txn({ compare: [], success: [{ type: "get", key: prefix, prefix: true }] });
      expect(read.revision).toBe(updated.revision);
      expect((read.responses[0] as { kvs: unknown[] }).kvs).toHaveLength(2);
    });

    test("leases: keys go with a revoked lease in one revision; keepalive of a gone lease answers <= 0; a put on an unknown lease is refused", async () => {
      const prefix = freshPrefix("lease");
      const lease = await kv.grantLease(1);
      expect(lease.ttlSeconds).toBeGreaterThanOrEqual(1);
      await kv.put(`${prefix}a`, bytes("a"), { lease: lease.id });
      await kv.put(`${prefix}b`, bytes("b"), { lease: lease.id });
      expect((await kv.get(`${prefix}a`))!.lease).toBe(lease.id);
      expect(await kv.keepAliveOnce(lease.id)).toBeGreaterThan(0);
      const before = (await kv.getPrefix(prefix)).revision;
      const events: WatchEvent[][] = [];
      const watch = kv.watchPrefix(prefix, { startRevision: before + 1, onEvents: (batch) => void events.push(batch) });
      await kv.revokeLease(lease.id);
      await kv.revokeLease(lease.id);
      expect((await kv.getPrefix(prefix)).kvs).toEqual([]);
      expect(await kv.keepAliveOnce(lease.id)).toBeLessThanOrEqual(0);
      await waitFor("the revocation's deletes", 5_000, () => events.flat().length === 2);
      watch.cancel();
      const deletes = events.flat();
      expect(deletes.map(summary).sort()).toEqual([`delete ${prefix}a`, `delete ${prefix}b`]);
      expect(deletes[0]!.kv.modRevision).toBe(before + 1);
      expect(deletes[1]!.kv.modRevision).toBe(before + 1);
      const refused = await kv.put(`${prefix}c`, bytes("c"), { lease: lease.id }).then(() => null, (error: unknown) => error);
      expect(refused).toBeInstanceOf(EtcdError);
      expect((refused as EtcdError).grpcCode).toBe(GrpcCode.NOT_FOUND);
    });

    test("a lease nobody renews expires and takes its keys; a LeaseKeeper keeps one alive past its TTL", async () => {
      const prefix = freshPrefix("expiry");
      const lost: string[] = [];
      const keeper = new LeaseKeeper(kv, { ttlSeconds: 2, onLost: (error) => lost.push(error.message) });
      const kept = await keeper.start();
      await kv.put(`${prefix}kept`, bytes("k"), { lease: kept.id });
      const orphan = await kv.grantLease(2);
      await kv.put(`${prefix}orphan`, bytes("o"), { lease: orphan.id });
      await waitFor("the unrenewed lease to expire", 15_000, async () => (await kv.get(`${prefix}orphan`)) === null);
      expect(await kv.get(`${prefix}kept`)).not.toBeNull();
      expect(lost).toEqual([]);
      await keeper.stop();
      expect(await kv.get(`${prefix}kept`)).toBeNull();
    });

    test("a watch delivers every change under its prefix from its start revision, in order, whole revisions with prevKv", async () => {
      const prefix = freshPrefix("watch");
      const start = (await kv.put(`${prefix}a`, bytes("1"))).revision;
      await kv.put(`${prefix}a`, bytes("2"));
      await kv.put(`${prefix.slice(0, -1)}-sibling`, bytes("not watched"));
      await kv.txn({ compare: [], success: [{ type: "put", key: `${prefix}b`, value: bytes("3") }, { type: "delete", key: `${prefix}a` }] });
      const delivered: WatchEvent[] = [];
      const revisions: number[] = [];
      const watch = kv.watchPrefix(prefix, {
        startRevision: start,
        prevKv: true,
        onEvents: (events, revision) => {
          delivered.push(...events);
          revisions.push(revision);
        },
      });
      await waitFor("history", 5_000, () => delivered.length === 4);
      const last = await kv.put(`${prefix}c`, bytes("4"));
      await waitFor("a live event", 5_000, () => delivered.length === 5);
      watch.cancel();
      await watch.done;
      expect(delivered.map(summary)).toEqual([`put ${prefix}a=1`, `put ${prefix}a=2`, `put ${prefix}b=3`, `delete ${prefix}a`, `put ${prefix}c=4`]);
      expect(delivered[1]!.prevKv && text(delivered[1]!.prevKv.value)).toBe("1");
      expect(delivered[3]!.prevKv && text(delivered[3]!.prevKv.value)).toBe("2");
      // The txn's put and delete carry the same revision; the revisions reported only grow.
      expect(delivered[2]!.kv.modRevision).toBe(delivered[3]!.kv.modRevision);
      expect(revisions).toEqual([...revisions].sort((a, b) => a - b));
      expect(revisions.at(-1)).toBe(last.revision);
      expect(watch.nextRevision).toBe(last.revision + 1);
      await kv.put(`${prefix}d`, bytes("after cancel"));
      await Bun.sleep(100);
      expect(delivered).toHaveLength(5);
    });

    test("compaction: a watch resuming below it re-lists through onResync; compacting the future is refused", async () => {
      const prefix = freshPrefix("compact");
      const old = (await kv.put(`${prefix}a`, bytes("1"))).revision;
      const now = (await kv.put(`${prefix}a`, bytes("2"))).revision;
      await kv.compact(now);
      const future = await kv.compact(now + 1_000_000).then(() => null, (error: unknown) => error);
      expect(future).toBeInstanceOf(EtcdError);
      expect((future as EtcdError).grpcCode).toBe(GrpcCode.OUT_OF_RANGE);
      let resyncs = 0;
      const delivered: WatchEvent[] = [];
      const watch = kv.watchPrefix(prefix, {
        startRevision: old,
        onEvents: (events) => void delivered.push(...events),
        // Counted once the listing is read: a put made while it is being read could be in the listing, and
        // then (rightly) never delivered as an event.
        onResync: async () => {
          const listed = await kv.getPrefix(prefix);
          resyncs++;
          return listed.revision;
        },
      });
      // Generous waits with `>=`: on a loaded 2-core CI machine etcd's watch sync can lag, and a count that
      // overshoots should fail on the assertion below, with the values, rather than as a bare timeout.
      const state = () => `resyncs=${resyncs} delivered=[${delivered.map(summary).join(", ")}] next=${watch.nextRevision}`;
      await waitFor("the re-list", 30_000, () => resyncs >= 1, state);
      await kv.put(`${prefix}a`, bytes("3"));
      await waitFor("the event after the re-list", 30_000, () => delivered.length >= 1, state);
      watch.cancel();
      expect(resyncs).toBe(1);
      expect(delivered.map(summary)).toEqual([`put ${prefix}a=3`]);
      // Without onResync the watch stops with a "compacted" error.
      const errors: Error[] = [];
      const strict = kv.watchPrefix(prefix, { startRevision: old, onEvents: () => undefined, onError: (error) => void errors.push(error) });
      await waitFor("the compacted error", 30_000, () => errors.length >= 1, () => `errors=[${errors.map((error) => error.message).join(", ")}]`);
      await strict.done;
      expect(errors).toHaveLength(1);
      expect((errors[0] as EtcdError).kind).toBe("compacted");
    });
  });
}

describe("in-process store: what only the test fixture does", () => {
  test("a disconnected session loses its leases at once and its calls fail as unreachable; others see the keys go", async () => {
    const store = new InMemoryMetadataStore(`fixture-${process.pid}`);
    try {
      const broker = store.session("broker-1");
      const observer = store.session("observer");
      const lease = await broker.grantLease(10);
      await broker.put("/brokers/1", bytes("alive"), { lease: lease.id });
      store.disconnect("broker-1");
      expect(await observer.get("/brokers/1")).toBeNull();
      const error = await broker.get("/brokers/1").then(() => null, (caught: unknown) => caught);
      expect((error as EtcdError).kind).toBe("unreachable");
      store.reconnect("broker-1");
      expect(await broker.get("/brokers/1")).toBeNull();
    } finally {
      store.close();
    }
  });

  test("memory:// endpoints reach only a store registered in this process", async () => {
    const { openMetadataKv } = await import("../../src/cluster/metadata-kv.ts");
    expect(() => openMetadataKv({ endpoints: ["memory://nowhere/broker-1"] })).toThrow("no in-process metadata store named");
    const store = new InMemoryMetadataStore(`endpoint-${process.pid}`);
    try {
      const session = openMetadataKv({ endpoints: [store.endpoint("b1")] });
      await session.put("k", bytes("v"));
      expect(text((await store.session("b2").get("k"))!.value)).toBe("v");
    } finally {
      store.close();
    }
  });
});
