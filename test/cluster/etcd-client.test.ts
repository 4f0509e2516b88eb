// The etcd client against a real etcd 3.4 (Debian's /usr/bin/etcd) on loopback: every call goes through
// the grpc-gateway exactly as the broker's cluster mode will use it.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { pack, unpack } from "msgpackr";
import { EtcdClient, EtcdError, GrpcCode, LeaseKeeper, type KeyValue, type WatchEvent } from "../../src/cluster/etcd/index.ts";
import { prefixRange } from "../../src/cluster/etcd/gateway-json.ts";
import { readJsonLines } from "../../src/cluster/etcd/json-lines.ts";
import { EtcdProcess } from "../helpers/etcd-process.ts";
import { freePort } from "../helpers/broker-process.ts";
import { TcpProxy } from "../helpers/tcp-proxy.ts";

const WAIT_POLL_MS = 50;
const bytes = (text: string) => new TextEncoder().encode(text);
const text = (value: Uint8Array) => new TextDecoder().decode(value);

async function waitFor(what: string, timeoutMs: number, condition: () => boolean | Promise<boolean>): Promise<number> {
  const startedAt = performance.now();
  while (performance.now() - startedAt < timeoutMs) {
    if (await condition()) return performance.now() - startedAt;
    await Bun.sleep(WAIT_POLL_MS);
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
}

/** What a test expects a watch to deliver, and what it got, in one comparable shape. */
const summary = (event: WatchEvent) => `${event.type} ${event.kv.key}@${event.kv.modRevision}${event.type === "put" ? `=${text(event.kv.value)}` : ""}`;

describe("gateway JSON", () => {
  test("stream messages split across chunks anywhere are parsed whole and in order", async () => {
    const messages = [{ result: { created: true } }, { result: { events: [{ kv: { key: "YQ==", value: "w6k=" } }] } }, { error: { grpc_code: 14, message: "transport is closing" } }];
    const wire = new TextEncoder().encode(messages.map((message) => JSON.stringify(message) + "\n").join(""));
    for (const chunkBytes of [1, 3, 7, wire.length]) {
      const body = new ReadableStream<Uint8Array>({
        start(controller) {
          for (let offset = 0; offset < wire.length; offset += chunkBytes) controller.enqueue(wire.slice(offset, offset + chunkBytes));
          controller.close();
        },
      });
      const parsed: unknown[] = [];
      for await (const message of readJsonLines(body, 1024, "test")) parsed.push(message);
      expect(parsed).toEqual(messages);
    }
    const tooLong = new ReadableStream<Uint8Array>({ start: (controller) => (controller.enqueue(new Uint8Array(2048).fill(32)), controller.close()) });
    await expect(Array.fromAsync(readJsonLines(tooLong, 1024, "test"))).rejects.toThrow("message larger than 1024 bytes");
  });

  test("prefix ranges end after the last key with the prefix", () => {
    const decode = (base64: string) => Buffer.from(base64, "base64").toString("latin1");
    expect(prefixRange("brokers/")).toEqual({ key: "YnJva2Vycy8=", range_end: "YnJva2VyczA=" });
    expect(decode(prefixRange("brokers/").range_end)).toBe("brokers0");
    expect(decode(prefixRange("").key)).toBe("\0");
    expect(decode(prefixRange("").range_end)).toBe("\0");
  });
});

describe("etcd client (one etcd for the non-destructive tests)", () => {
  const etcd = new EtcdProcess();
  let client: EtcdClient;

  beforeAll(async () => {
    await etcd.start();
    client = new EtcdClient({ endpoints: [etcd.endpoint], requestTimeoutMs: 3_000 });
  });

  afterAll(async () => {
    await etcd.cleanup();
  });

  test("put, get, prefix listing and deletes keep binary values byte for byte", async () => {
    const allBytes = Uint8Array.from({ length: 256 }, (_, i) => i);
    const record = pack({ brokerId: 3, host: "127.0.0.1", port: 9092, racks: ["a"] });

    expect(await client.get("kv/a/missing")).toBeNull();
    const first = await client.put("kv/a/bytes", allBytes);
    const second = await client.put("kv/a/empty", new Uint8Array(0));
    const third = await client.put("kv/a/msgpack-é", record);
    await client.put("kv/ab", bytes("outside the prefix"));
    expect(second.revision).toBe(first.revision + 1);
    expect(third.revision).toBe(first.revision + 2);

    const kv = (await client.get("kv/a/bytes"))!;
    expect(kv).toEqual({ key: "kv/a/bytes", value: allBytes, createRevision: first.revision, modRevision: first.revision, version: 1, lease: "0" });
    // The gateway omits an empty value entirely; it must still read back as zero bytes.
    expect((await client.get("kv/a/empty"))!.value).toEqual(new Uint8Array(0));
    expect(unpack((await client.get("kv/a/msgpack-é"))!.value)).toEqual({ brokerId: 3, host: "127.0.0.1", port: 9092, racks: ["a"] });

    const updated = await client.put("kv/a/bytes", bytes("v2"));
    const again = (await client.get("kv/a/bytes"))!;
    expect([again.createRevision, again.modRevision, again.version]).toEqual([first.revision, updated.revision, 2]);

    const listing = await client.getPrefix("kv/a/");
    expect(listing.kvs.map((entry) => entry.key)).toEqual(["kv/a/bytes", "kv/a/empty", "kv/a/msgpack-é"]);
    expect(listing.revision).toBe(updated.revision);

    expect((await client.delete("kv/a/empty")).deleted).toBe(1);
    expect((await client.delete("kv/a/empty")).deleted).toBe(0);
    expect(await client.get("kv/a/empty")).toBeNull();
    expect((await client.deletePrefix("kv/a/")).deleted).toBe(2);
    expect((await client.getPrefix("kv/a/")).kvs).toEqual([]);
    expect(text((await client.get("kv/ab"))!.value)).toBe("outside the prefix");
  });

  test("errors carry the gateway's message and gRPC code; unreachable etcd is its own kind", async () => {
    const error = await client.put("err/leased", bytes("x"), { lease: "12345" }).catch((caught) => caught);
    expect(error).toBeInstanceOf(EtcdError);
    expect(error.kind).toBe("server");
    expect(error.grpcCode).toBe(GrpcCode.NOT_FOUND);
    expect(error.httpStatus).toBe(404);
    expect(error.message).toBe("etcdserver: requested lease not found");

    const dead = new EtcdClient({ endpoints: [`http://127.0.0.1:${freePort()}`], requestTimeoutMs: 1_000 });
    const unreachable = await dead.get("x").catch((caught) => caught);
    expect(unreachable).toBeInstanceOf(EtcdError);
    expect(unreachable.kind).toBe("unreachable");
  });

  test("a watch that cannot reach etcd gives up after its bounded attempts and says so once", async () => {
    const dead = new EtcdClient({ endpoints: [`http://127.0.0.1:${freePort()}`], watchReconnectAttemptsMax: 4, watchReconnectDelayMsMin: 10, watchReconnectDelayMsMax: 40 });
    const errors: Error[] = [];
    const watch = dead.watchPrefix("nowhere/", { startRevision: 1, onEvents: () => {}, onError: (error) => errors.push(error) });
    await watch.done;
    expect(errors).toHaveLength(1);
    expect((errors[0] as EtcdError).kind).toBe("unreachable");
    expect(errors[0]!.message).toContain("gave up after 4 failed connections");
    expect(watch.reconnectCount).toBe(3);
  });

  test("endpoints are tried in order: a dead first endpoint falls through to the live one", async () => {
    const failover = new EtcdClient({ endpoints: [`http://127.0.0.1:${freePort()}`, etcd.endpoint], requestTimeoutMs: 1_000 });
    await failover.put("failover/k", bytes("v"));
    expect(text((await failover.get("failover/k"))!.value)).toBe("v");
    // A txn is never repeated after an unknown outcome, but a refused connection sent nothing: it moves on too.
    const result = await new EtcdClient({ endpoints: [`http://127.0.0.1:${freePort()}`, etcd.endpoint] }).txn({
      compare: [{ key: "failover/k", target: "value", op: "=", value: bytes("v") }],
      success: [{ type: "delete", key: "failover/k" }],
    });
    expect(result.succeeded).toBe(true);
  });

  test("create-if-absent: of two concurrent creators exactly one wins, 20 times over", async () => {
    for (let round = 0; round < 20; round++) {
      const key = `race/controller-${round}`;
      const create = (who: string) =>
        client.txn({
          compare: [{ key, target: "createRevision", op: "=", value: 0 }],
          success: [{ type: "put", key, value: bytes(who) }],
          failure: [{ type: "get", key }],
        });
      const [a, b] = await Promise.all([create("a"), create("b")]);
      expect([a.succeeded, b.succeeded].filter(Boolean)).toHaveLength(1);
      const [winner, loser] = a.succeeded ? [a, b] : [b, a];
      const winnerName = a.succeeded ? "a" : "b";
      expect(winner.responses).toEqual([{ type: "put", revision: winner.revision }]);
      // The loser's failure branch read the winner's value, at the winner's revision.
      const seen = loser.responses[0]!;
      expect(seen.type).toBe("get");
      if (seen.type !== "get") throw new Error("unreachable");
      expect(seen.kvs.map((kv) => [text(kv.value), kv.createRevision])).toEqual([[winnerName, winner.revision]]);
      expect(text((await client.get(key))!.value)).toBe(winnerName);
    }
  });

  test("compare-and-swap on modRevision: the stale writer fails; version and value compares", async () => {
    const key = "cas/partition-state";
    const { revision: created } = await client.put(key, pack({ leader: 1, leaderEpoch: 0 }));
    const read = (await client.get(key))!;

    const swap = (from: KeyValue, leader: number) =>
      client.txn({
        compare: [{ key, target: "modRevision", op: "=", value: from.modRevision }],
        success: [{ type: "put", key, value: pack({ leader, leaderEpoch: 1 }) }],
        failure: [{ type: "get", key }],
      });
    const first = await swap(read, 2);
    expect(first.succeeded).toBe(true);
    expect(first.revision).toBe(created + 1);
    const stale = await swap(read, 3);
    expect(stale.succeeded).toBe(false);
    expect(stale.revision).toBe(first.revision);
    const current = stale.responses[0]!;
    if (current.type !== "get") throw new Error(`expected a get response, got ${current.type}`);
    expect(unpack(current.kvs[0]!.value)).toEqual({ leader: 2, leaderEpoch: 1 });

    const check = async (compare: Parameters<EtcdClient["txn"]>[0]["compare"][number]) => (await client.txn({ compare: [compare], success: [] })).succeeded;
    expect(await check({ key, target: "version", op: "=", value: 2 })).toBe(true);
    expect(await check({ key, target: "version", op: ">", value: 1 })).toBe(true);
    expect(await check({ key, target: "version", op: "<", value: 2 })).toBe(false);
    expect(await check({ key, target: "version", op: "!=", value: 2 })).toBe(false);
    expect(await check({ key, target: "createRevision", op: "=", value: created })).toBe(true);
    expect(await check({ key, target: "modRevision", op: ">", value: created })).toBe(true);
    expect(await check({ key, target: "value", op: "=", value: pack({ leader: 2, leaderEpoch: 1 }) })).toBe(true);
    expect(await check({ key, target: "value", op: "!=", value: pack({ leader: 2, leaderEpoch: 1 }) })).toBe(false);

    // Several ops in one txn land at one revision, in order. (etcd refuses a txn whose puts and deletes
    // overlap: "etcdserver: duplicate key given in txn request".)
    const multi = await client.txn({
      compare: [],
      success: [
        { type: "put", key: "cas/x/1", value: bytes("1") },
        { type: "put", key: "cas/x/2", value: bytes("2") },
        { type: "get", key: "cas/x/", prefix: true },
        { type: "delete", key: "cas/", prefix: false },
        { type: "delete", key: "cas/partition", prefix: true },
      ],
    });
    expect(multi.succeeded).toBe(true);
    expect(multi.responses.map((response) => response.type)).toEqual(["put", "put", "get", "delete", "delete"]);
    const listed = multi.responses[2]!;
    if (listed.type !== "get") throw new Error("expected get");
    expect(listed.kvs.map((kv) => [kv.key, kv.modRevision])).toEqual([["cas/x/1", multi.revision], ["cas/x/2", multi.revision]]);
    expect(multi.responses.slice(3)).toEqual([{ type: "delete", revision: multi.revision, deleted: 0 }, { type: "delete", revision: multi.revision, deleted: 1 }]);
    expect(await client.get(key)).toBeNull();

    const duplicate = await client.txn({ compare: [], success: [{ type: "put", key: "cas/x/1", value: bytes("1") }, { type: "delete", key: "cas/x/1" }] }).catch((error) => error);
    expect(duplicate).toBeInstanceOf(EtcdError);
    expect([duplicate.grpcCode, duplicate.message]).toEqual([GrpcCode.INVALID_ARGUMENT, "etcdserver: duplicate key given in txn request"]);
  });

  test("a leased key disappears when its lease expires; revoke deletes at once", async () => {
    const lease = await client.grantLease(2);
    expect(lease.ttlSeconds).toBeGreaterThanOrEqual(2);
    await client.put("lease/broker-1", bytes("alive"), { lease: lease.id });
    expect((await client.get("lease/broker-1"))!.lease).toBe(lease.id);
    const remaining = await client.keepAliveOnce(lease.id);
    expect(remaining).toBe(lease.ttlSeconds);

    // etcd checks for expired leases every 500 ms: allow TTL plus a few seconds.
    await waitFor("the leased key to expire", lease.ttlSeconds * 1000 + 4_000, async () => (await client.get("lease/broker-1")) === null);
    expect(await client.keepAliveOnce(lease.id)).toBeLessThanOrEqual(0);
    await client.revokeLease(lease.id); // already gone: not an error

    const revoked = await client.grantLease(30);
    await client.put("lease/broker-2", bytes("alive"), { lease: revoked.id });
    await client.revokeLease(revoked.id);
    expect(await client.get("lease/broker-2")).toBeNull();
    expect(await client.keepAliveOnce(revoked.id)).toBeLessThanOrEqual(0);
  });

  test("LeaseKeeper.stop() revokes the lease and with it the keys", async () => {
    let lost = 0;
    const keeper = new LeaseKeeper(client, { ttlSeconds: 10, onLost: () => lost++ });
    const { id } = await keeper.start();
    await client.put("keeper/registration", bytes("broker 1"), { lease: id });
    await keeper.stop();
    expect(await client.get("keeper/registration")).toBeNull();
    expect(lost).toBe(0);
  });

  test("watch delivers puts and deletes in order, with prevKv; cancel stops it", async () => {
    const { revision } = await client.getPrefix("watch/");
    const got: WatchEvent[] = [];
    const revisions: number[] = [];
    const watch = client.watchPrefix("watch/", {
      startRevision: revision + 1,
      prevKv: true,
      onEvents(events, lastRevision) {
        got.push(...events);
        revisions.push(lastRevision);
      },
    });
    const a1 = await client.put("watch/a", bytes("1"));
    const b1 = await client.put("watch/b", bytes("1"));
    await client.put("watch-sibling", bytes("not under watch/"));
    const a2 = await client.put("watch/a", bytes("2"));
    const deleted = await client.delete("watch/a");
    const both = await client.txn({ compare: [], success: [{ type: "put", key: "watch/c", value: bytes("1") }, { type: "delete", key: "watch/b" }] });
    await waitFor("6 watch events", 5_000, () => got.length >= 6);
    expect(got.map(summary)).toEqual([
      `put watch/a@${a1.revision}=1`,
      `put watch/b@${b1.revision}=1`,
      `put watch/a@${a2.revision}=2`,
      `delete watch/a@${deleted.revision}`,
      `put watch/c@${both.revision}=1`,
      `delete watch/b@${both.revision}`,
    ]);
    expect(text(got[2]!.prevKv!.value)).toBe("1");
    expect(text(got[3]!.prevKv!.value)).toBe("2");
    expect(revisions.at(-1)).toBe(both.revision);
    expect(watch.nextRevision).toBe(both.revision + 1);
    watch.cancel();
    await watch.done;
    await client.put("watch/after-cancel", bytes("x"));
    await Bun.sleep(200);
    expect(got).toHaveLength(6);
  });
});

describe("etcd client when etcd goes away", () => {
  test("LeaseKeeper keeps a key alive past several TTLs and reports onLost once etcd is stopped", async () => {
    const etcd = new EtcdProcess();
    try {
      await etcd.start();
      const client = new EtcdClient({ endpoints: [etcd.endpoint], requestTimeoutMs: 1_000 });
      const lostErrors: EtcdError[] = [];
      const keeper = new LeaseKeeper(client, { ttlSeconds: 2, onLost: (error) => lostErrors.push(error) });
      const { id, ttlSeconds } = await keeper.start();
      await client.put("keeper/controller", bytes("broker 1"), { lease: id });

      await Bun.sleep(ttlSeconds * 1000 * 3.5);
      expect((await client.get("keeper/controller"))?.lease).toBe(id);
      expect(lostErrors).toHaveLength(0);

      await etcd.stop();
      const lostAfterMs = await waitFor("onLost after etcd stopped", ttlSeconds * 1000 + 3_000, () => lostErrors.length > 0);
      expect(lostAfterMs).toBeLessThanOrEqual(ttlSeconds * 1000 + 500);
      expect(lostErrors[0]!.kind).toBe("lease-lost");
      await Bun.sleep(500);
      expect(lostErrors).toHaveLength(1);
      await keeper.stop(); // revoke fails quietly: etcd is down
    } finally {
      await etcd.cleanup();
    }
  });

  describe("watch across cuts, restarts and compaction", () => {
    const etcd = new EtcdProcess();
    let proxy: TcpProxy;
    let writer: EtcdClient;

    beforeAll(async () => {
      await etcd.start();
      proxy = new TcpProxy(etcd.clientPort);
      writer = new EtcdClient({ endpoints: [etcd.endpoint], requestTimeoutMs: 3_000 });
    });

    afterAll(async () => {
      proxy.stop();
      await etcd.cleanup();
    });

    test("a watch resumes after its connection is cut and after an etcd restart, losing and repeating nothing", async () => {
      const logLines: string[] = [];
      const watcher = new EtcdClient({ endpoints: [proxy.endpoint], requestTimeoutMs: 3_000, watchReconnectDelayMsMin: 50, watchReconnectDelayMsMax: 500, log: (line) => logLines.push(line) });
      const { revision } = await writer.getPrefix("topics/");
      const got: WatchEvent[] = [];
      const errors: Error[] = [];
      const watch = watcher.watchPrefix("topics/", { startRevision: revision + 1, onEvents: (events) => void got.push(...events), onError: (error) => errors.push(error) });
      const expected: string[] = [];
      const put = async (key: string, value: string) => expected.push(`put ${key}@${(await writer.put(key, bytes(value))).revision}=${value}`);
      const del = async (key: string) => expected.push(`delete ${key}@${(await writer.delete(key)).revision}`);

      await put("topics/a", "1");
      await put("topics/b", "1");
      await del("topics/a");
      await waitFor("the first 3 events", 5_000, () => got.length >= 3);

      // Cut: the watch loses its stream while these writes happen; it must get them when it is back.
      const resumeRevision = watch.nextRevision;
      proxy.cut();
      for (let i = 0; i < 5; i++) await put(`topics/gap-${i}`, String(i));
      await del("topics/b");
      await Bun.sleep(300);
      expect(got).toHaveLength(3);
      proxy.restore();
      await waitFor("the events written during the cut", 10_000, () => got.length >= expected.length);
      expect(logLines.some((line) => line.includes(`resuming from revision ${resumeRevision}`))).toBe(true);

      // Restart etcd on the same ports and data dir: the stream breaks again; the writer's pooled
      // connections are stale too.
      await etcd.restart();
      for (let i = 0; i < 3; i++) await put(`topics/after-restart-${i}`, String(i));
      await waitFor("the events written after the restart", 15_000, () => got.length >= expected.length);

      await Bun.sleep(200);
      expect(got.map(summary)).toEqual(expected);
      expect(watch.reconnectCount).toBeGreaterThanOrEqual(2);
      expect(errors).toEqual([]);
      expect(logLines.length).toBeLessThan(50);
      watch.cancel();
      await watch.done;
    });

    test("a watch whose resume revision was compacted re-lists through onResync and continues", async () => {
      const logLines: string[] = [];
      const watcher = new EtcdClient({ endpoints: [proxy.endpoint], requestTimeoutMs: 3_000, watchReconnectDelayMsMin: 50, watchReconnectDelayMsMax: 500, log: (line) => logLines.push(line) });
      const { revision } = await writer.getPrefix("brokers/");
      const got: WatchEvent[] = [];
      const resyncs: { keys: string[]; revision: number }[] = [];
      const watch = watcher.watchPrefix("brokers/", {
        startRevision: revision + 1,
        onEvents: (events) => void got.push(...events),
        async onResync() {
          const listing = await watcher.getPrefix("brokers/");
          resyncs.push({ keys: listing.kvs.map((kv) => kv.key), revision: listing.revision });
          return listing.revision;
        },
      });
      await writer.put("brokers/1", bytes("up"));
      await waitFor("the first event", 5_000, () => got.length === 1);

      proxy.cut();
      await writer.put("brokers/2", bytes("up"));
      await writer.put("brokers/3", bytes("up"));
      const { revision: compactTo } = await writer.delete("brokers/1");
      await writer.compact(compactTo);
      proxy.restore();
      await waitFor("onResync", 10_000, () => resyncs.length === 1);
      expect(resyncs[0]!.keys).toEqual(["brokers/2", "brokers/3"]);
      expect(resyncs[0]!.revision).toBe(compactTo);
      expect(logLines).toContain(`watch brokers/: revision ${revision + 2} was compacted (etcd keeps revisions from ${compactTo}); re-listing`);

      const { revision: after } = await writer.put("brokers/4", bytes("up"));
      await waitFor("the event after the re-list", 5_000, () => got.length === 2);
      expect(got.map(summary)).toEqual([`put brokers/1@${revision + 1}=up`, `put brokers/4@${after}=up`]);
      watch.cancel();
      await watch.done;

      // Without onResync, a compacted start revision ends the watch with a "compacted" error.
      const errors: Error[] = [];
      const doomed = writer.watchPrefix("brokers/", { startRevision: 1, onEvents: () => {}, onError: (error) => errors.push(error) });
      await doomed.done;
      expect(errors).toHaveLength(1);
      expect((errors[0] as EtcdError).kind).toBe("compacted");
    });
  });
});
