// The share partition's state machine (share/share-partition.ts) and the __share_group_state records, without a
// broker: acquisition within the in-flight window, locks that expire, delivery counts, accept/release/reject,
// the SPSO moving, archiving through ARCHIVING, and a snapshot restoring the same state.
import { describe, expect, test } from "bun:test";
import { AcknowledgeError, AcknowledgeType, RecordState, SharePartition, type SharePartitionLimits } from "../../src/share/share-partition.ts";
import { decodeShareGroupConfig, decodeShareSnapshot, decodeShareStateKey, encodeShareGroupConfig, encodeShareSnapshot, encodeShareStateKey } from "../../src/share/share-state-records.ts";
import { ShareSessions } from "../../src/share/share-sessions.ts";
import { ErrorCode } from "../../src/protocol/errors.ts";

const limits: SharePartitionLimits = { lockDurationMs: 1000, deliveryCountLimit: 3, maxInFlight: 10 };
const TOPIC_ID = "0123456789abcdef0123456789abcdef";

function share(start = 0): SharePartition {
  return new SharePartition("g", "t", TOPIC_ID, 0, start, 0);
}

describe("SharePartition", () => {
  test("acquires new records up to the readable end and the in-flight bound, each once", () => {
    const sp = share();
    expect(sp.acquire("a", 0, 99, 100, 0, limits, 100)).toEqual([{ firstOffset: 0, lastOffset: 9, deliveryCount: 1 }]);
    // The window is full: nothing more until the SPSO moves, and nothing acquired twice.
    expect(sp.firstAcquirable(100, limits)).toBeNull();
    expect(sp.acquire("b", 0, 99, 100, 0, limits, 100)).toEqual([]);
    expect(() => sp.acknowledge("b", [{ firstOffset: 0, lastOffset: 0, acknowledgeTypes: [AcknowledgeType.ACCEPT] }], limits)).toThrow(AcknowledgeError);
    sp.acknowledge("a", [{ firstOffset: 0, lastOffset: 4, acknowledgeTypes: [AcknowledgeType.ACCEPT] }], limits);
    expect(sp.spso).toBe(5);
    expect(sp.acquire("b", 10, 99, 12, 0, limits, 100)).toEqual([{ firstOffset: 10, lastOffset: 11, deliveryCount: 1 }]);
  });

  test("released and expired records come back with their delivery count; the limit archives them", () => {
    const sp = share();
    sp.acquire("a", 0, 2, 3, 0, limits, 100);
    sp.acknowledge("a", [{ firstOffset: 0, lastOffset: 2, acknowledgeTypes: [AcknowledgeType.ACCEPT, AcknowledgeType.RELEASE, AcknowledgeType.ACCEPT] }], limits);
    expect(sp.spso).toBe(1);
    expect(sp.firstAcquirable(3, limits)).toBe(1);
    expect(sp.acquire("b", 1, 2, 3, 100, limits, 100)).toEqual([{ firstOffset: 1, lastOffset: 1, deliveryCount: 2 }]);
    // The lock expires: available again, without an acknowledgement.
    expect(sp.nextLockExpiryMs()).toBe(1100);
    expect(sp.expireLocks(1099, limits)).toEqual([]);
    expect(sp.expireLocks(1100, limits)).toEqual([]);
    expect(sp.acquire("c", 1, 2, 3, 2000, limits, 100)).toEqual([{ firstOffset: 1, lastOffset: 1, deliveryCount: 3 }]);
    // Third delivery released: at the limit, archived (ARCHIVING until its dead-letter copy is written).
    const archived = sp.acknowledge("c", [{ firstOffset: 1, lastOffset: 1, acknowledgeTypes: [AcknowledgeType.RELEASE] }], limits);
    expect(archived).toEqual([{ offset: 1, deliveryCount: 3, reason: "MAX_DELIVERY_ATTEMPTS_REACHED" }]);
    expect(sp.spso).toBe(1);
    expect(sp.snapshot().stateBatches[0]).toEqual({ firstOffset: 1, lastOffset: 1, deliveryState: RecordState.AVAILABLE, deliveryCount: 3 });
    sp.completeArchiving(archived);
    expect(sp.spso).toBe(3);
    expect(sp.firstAcquirable(3, limits)).toBeNull();
  });

  test("reject archives at once; gaps acknowledge; acknowledgements are all or nothing", () => {
    const sp = share(10);
    sp.acquire("a", 10, 13, 14, 0, limits, 100);
    expect(() => sp.acknowledge("a", [{ firstOffset: 10, lastOffset: 11, acknowledgeTypes: [1, 2, 3] }], limits)).toThrow("3 acknowledge types for 2 offsets");
    expect(() => sp.acknowledge("a", [{ firstOffset: 10, lastOffset: 10, acknowledgeTypes: [7] }], limits)).toThrow("unknown acknowledge type");
    expect(() => sp.acknowledge("a", [{ firstOffset: 10, lastOffset: 10, acknowledgeTypes: [1] }, { firstOffset: 14, lastOffset: 14, acknowledgeTypes: [1] }], limits)).toThrow(AcknowledgeError);
    // Nothing of the refused set was applied.
    expect(sp.counts()).toEqual({ available: 0, acquired: 4, acknowledged: 0, archived: 0 });
    const archived = sp.acknowledge("a", [{ firstOffset: 10, lastOffset: 13, acknowledgeTypes: [AcknowledgeType.GAP, AcknowledgeType.REJECT, AcknowledgeType.ACCEPT, AcknowledgeType.ACCEPT] }], limits);
    expect(archived).toEqual([{ offset: 11, deliveryCount: 1, reason: "CLIENT_REJECTED" }]);
    sp.completeArchiving(archived);
    expect(sp.spso).toBe(14);
    expect(sp.inFlightCount).toBe(0);
  });

  test("a member's release gives back only its own records", () => {
    const sp = share();
    sp.acquire("a", 0, 1, 4, 0, limits, 100);
    sp.acquire("b", 2, 3, 4, 0, limits, 100);
    sp.releaseMember("a", limits);
    expect(sp.counts()).toEqual({ available: 2, acquired: 2, acknowledged: 0, archived: 0 });
    expect(sp.acquire("c", 0, 3, 4, 0, limits, 100)).toEqual([{ firstOffset: 0, lastOffset: 1, deliveryCount: 2 }]);
  });

  test("a snapshot restores the same state; acquired records come back available", () => {
    const sp = share(5);
    sp.acquire("a", 5, 12, 13, 0, limits, 100);
    sp.acknowledge("a", [{ firstOffset: 6, lastOffset: 7, acknowledgeTypes: [AcknowledgeType.ACCEPT] }, { firstOffset: 9, lastOffset: 9, acknowledgeTypes: [AcknowledgeType.RELEASE] }], limits);
    const snapshot = sp.snapshot();
    expect(sp.dirty).toBe(false);
    const bytes = encodeShareSnapshot({ ...snapshot, snapshotEpoch: 7, leaderEpoch: 2 });
    const decoded = decodeShareSnapshot(bytes);
    expect(decoded).toEqual({ ...snapshot, snapshotEpoch: 7, leaderEpoch: 2 });
    const restored = SharePartition.restore("g", "t", TOPIC_ID, 0, decoded);
    expect(restored.spso).toBe(5);
    expect(restored.nextOffset).toBe(13);
    expect(restored.counts()).toEqual({ available: 6, acquired: 0, acknowledged: 2, archived: 0 });
    // The released record keeps its delivery count; the never-acknowledged ones keep theirs (1).
    expect(restored.acquire("b", 5, 12, 13, 0, limits, 100)).toEqual([
      { firstOffset: 5, lastOffset: 5, deliveryCount: 2 },
      { firstOffset: 8, lastOffset: 12, deliveryCount: 2 },
    ]);
  });

  test("a record restored at the delivery count limit (its last delivery's outcome lost) is archived, not delivered again", () => {
    const sp = share();
    sp.acquire("a", 0, 2, 3, 0, limits, 100);
    for (let delivery = 2; delivery <= limits.deliveryCountLimit; delivery++) {
      sp.acknowledge("a", [{ firstOffset: 1, lastOffset: 1, acknowledgeTypes: [AcknowledgeType.RELEASE] }], limits);
      expect(sp.acquire("a", 1, 1, 3, 0, limits, 100)).toEqual([{ firstOffset: 1, lastOffset: 1, deliveryCount: delivery }]);
    }
    // Offset 1 is out for its third and last delivery, offsets 0 and 2 for their first, when the broker dies.
    const restored = SharePartition.restore("g", "t", TOPIC_ID, 0, sp.snapshot());
    expect(restored.archiveExhausted(limits)).toEqual([{ offset: 1, deliveryCount: 3, reason: "MAX_DELIVERY_ATTEMPTS_REACHED" }]);
    expect(restored.dirty).toBe(true);
    expect(restored.acquire("b", 0, 2, 3, 0, limits, 100)).toEqual([
      { firstOffset: 0, lastOffset: 0, deliveryCount: 2 },
      { firstOffset: 2, lastOffset: 2, deliveryCount: 2 },
    ]);
    restored.completeArchiving([{ offset: 1, deliveryCount: 3, reason: "MAX_DELIVERY_ATTEMPTS_REACHED" }]);
    expect(restored.counts()).toEqual({ available: 0, acquired: 2, acknowledged: 0, archived: 1 });
    // Below the limit nothing is archived.
    expect(SharePartition.restore("g", "t", TOPIC_ID, 0, share().snapshot()).archiveExhausted(limits)).toEqual([]);
  });

  test("the log start moving past undelivered records skips them", () => {
    const sp = share();
    sp.acquire("a", 0, 3, 10, 0, limits, 100);
    sp.skipTo(6);
    expect(sp.spso).toBe(6);
    expect(sp.firstAcquirable(10, limits)).toBe(6);
  });
});

describe("__share_group_state records", () => {
  test("keys and values round-trip", () => {
    const key = { kind: "snapshot" as const, groupId: "grüppe", topicId: TOPIC_ID, partition: 42 };
    expect(decodeShareStateKey(encodeShareStateKey(key))).toEqual(key);
    expect(decodeShareStateKey(encodeShareStateKey({ kind: "config", groupId: "g" }))).toEqual({ kind: "config", groupId: "g" });
    expect(decodeShareGroupConfig(encodeShareGroupConfig({ "share.auto.offset.reset": "earliest" }))).toEqual({ "share.auto.offset.reset": "earliest" });
  });

  test("garbage is refused with an error, not a crash", () => {
    expect(() => decodeShareStateKey(new Uint8Array([0, 9]))).toThrow();
    expect(() => decodeShareStateKey(new Uint8Array([0, 5, 0, 1, 65]))).toThrow("unknown key version");
    expect(() => decodeShareSnapshot(new Uint8Array(30).fill(0xff))).toThrow();
    expect(() => decodeShareGroupConfig(new Uint8Array([0, 0, 0, 0, 0, 4, 110, 117, 108, 108]))).toThrow();
  });
});

describe("share sessions", () => {
  test("open, continue in sequence, close; bounded", () => {
    const sessions = new ShareSessions(1);
    expect(sessions.begin("g", "m", 1, true).errorCode).toBe(ErrorCode.SHARE_SESSION_NOT_FOUND);
    expect(sessions.begin("g", "m", 0, false).errorCode).toBe(ErrorCode.INVALID_SHARE_SESSION_EPOCH);
    expect(sessions.begin("g", "m", 0, true).errorCode).toBe(ErrorCode.NONE);
    expect(sessions.begin("g", "other", 0, true).errorCode).toBe(ErrorCode.SHARE_SESSION_LIMIT_REACHED);
    expect(sessions.begin("g", "m", 2, true).errorCode).toBe(ErrorCode.INVALID_SHARE_SESSION_EPOCH);
    expect(sessions.begin("g", "m", 1, true).errorCode).toBe(ErrorCode.NONE);
    expect(sessions.begin("g", "m", 2, true).errorCode).toBe(ErrorCode.NONE);
    // Reopening replaces the member's session (and hands back the old one to release).
    expect(sessions.begin("g", "m", 0, true).replaced).not.toBeNull();
    const closing = sessions.begin("g", "m", -1, true);
    expect(closing.closing).toBe(true);
    expect(sessions.size).toBe(0);
  });

  test("a session unused for the idle timeout expires (its member left or died elsewhere); use keeps it", () => {
    let now = 0;
    const sessions = new ShareSessions(10, 1000, () => now);
    sessions.begin("g", "a", 0, true);
    sessions.begin("g", "b", 0, true);
    now = 900;
    sessions.begin("g", "a", 1, true);
    now = 1500;
    expect(sessions.expireIdle().map((session) => session.memberId)).toEqual(["b"]);
    expect(sessions.hasGroup("g")).toBe(true);
    now = 2000;
    expect(sessions.expireIdle().map((session) => session.memberId)).toEqual(["a"]);
    expect(sessions.hasGroup("g")).toBe(false);
    expect(sessions.begin("g", "a", 2, true).errorCode).toBe(ErrorCode.SHARE_SESSION_NOT_FOUND);
  });
});
