// The share partition's snapshot writer: nobody is answered before a snapshot holding their change is committed.
// The store's writes are held open by the test, which is what a slow share coordinator (or a SIGKILL) looks like.
import { describe, expect, test } from "bun:test";
import { SnapshotWriter } from "../../src/share/snapshot-writer.ts";
import { ErrorCode } from "../../src/protocol/errors.ts";

/** A state whose version moves on every change, with the bookkeeping SharePartition does for `dirty`. */
function harness() {
  let version = 0;
  let persistedVersion = 0;
  const writes: { version: number; finish: (errorCode: number) => void }[] = [];
  let inFlight = 0;
  let maxInFlight = 0;
  const writer = new SnapshotWriter<number>(
    () => {
      persistedVersion = version;
      return version;
    },
    (snapshot) => {
      inFlight++;
      maxInFlight = Math.max(maxInFlight, inFlight);
      return new Promise<number>((resolve) =>
        writes.push({
          version: snapshot,
          finish: (errorCode) => {
            inFlight--;
            resolve(errorCode);
          },
        }),
      );
    },
  );
  const change = () => version++;
  const persist = () => writer.persist(version !== persistedVersion);
  const settled = (promise: Promise<number>) => {
    const state = { done: false, errorCode: -1 };
    void promise.then((errorCode) => Object.assign(state, { done: true, errorCode }));
    return state;
  };
  return { writer, writes, change, persist, settled, maxInFlight: () => maxInFlight };
}

const turn = () => new Promise((resolve) => setTimeout(resolve, 0));

describe("SnapshotWriter", () => {
  test("a change already in someone else's snapshot waits for that write to commit", async () => {
    const h = harness();
    h.change(); // A acknowledges
    h.change(); // B acknowledges
    const b = h.settled(h.persist()); // B's persist takes the snapshot holding both
    const a = h.settled(h.persist()); // A finds nothing dirty: still not durable
    await turn();
    expect(h.writes.map((write) => write.version)).toEqual([2]);
    expect(a.done).toBe(false);
    expect(b.done).toBe(false);
    h.writes[0]!.finish(ErrorCode.NONE);
    await turn();
    expect(a).toEqual({ done: true, errorCode: ErrorCode.NONE });
    expect(b).toEqual({ done: true, errorCode: ErrorCode.NONE });
    expect(h.writer.idle).toBe(true);
  });

  test("changes made during a write coalesce into one next write, taken after the first commits", async () => {
    const h = harness();
    h.change();
    const first = h.settled(h.persist());
    const later = [];
    for (let i = 0; i < 5; i++) {
      h.change();
      later.push(h.settled(h.persist()));
    }
    await turn();
    expect(h.writes.map((write) => write.version)).toEqual([1]);
    expect(h.writer.idle).toBe(false);
    h.change(); // after the queued callers, before the first write commits: still in the next snapshot
    const last = h.settled(h.persist());
    h.writes[0]!.finish(ErrorCode.NONE);
    await turn();
    expect(first.done).toBe(true);
    expect(later.some((state) => state.done)).toBe(false);
    expect(h.writes.map((write) => write.version)).toEqual([1, 7]);
    h.writes[1]!.finish(ErrorCode.NONE);
    await turn();
    expect([...later, last].every((state) => state.done && state.errorCode === ErrorCode.NONE)).toBe(true);
    expect(h.maxInFlight()).toBe(1);
  });

  test("a failed write answers its callers with the error; the next change is written all the same", async () => {
    const h = harness();
    h.change();
    const failed = h.settled(h.persist());
    const alsoFailed = h.settled(h.persist());
    h.change();
    const next = h.settled(h.persist());
    h.writes[0]!.finish(ErrorCode.NOT_COORDINATOR);
    await turn();
    expect(failed).toEqual({ done: true, errorCode: ErrorCode.NOT_COORDINATOR });
    expect(alsoFailed).toEqual({ done: true, errorCode: ErrorCode.NOT_COORDINATOR });
    expect(next.done).toBe(false);
    expect(h.writes.map((write) => write.version)).toEqual([1, 2]);
    h.writes[1]!.finish(ErrorCode.NONE);
    await turn();
    expect(next).toEqual({ done: true, errorCode: ErrorCode.NONE });
  });

  test("a write that throws is an error to its callers, not an unhandled rejection", async () => {
    const writer = new SnapshotWriter<number>(
      () => 1,
      () => Promise.reject(new Error("store closed")),
    );
    expect(await writer.persist(true)).toBe(ErrorCode.UNKNOWN_SERVER_ERROR);
    const throwing = new SnapshotWriter<number>(
      () => {
        throw new Error("snapshot failed");
      },
      () => Promise.resolve(ErrorCode.NONE),
    );
    expect(await throwing.persist(true)).toBe(ErrorCode.UNKNOWN_SERVER_ERROR);
    expect(await writer.persist(false)).toBe(ErrorCode.NONE);
  });
});
