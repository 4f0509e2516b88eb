// The records of __share_group_state, Bunka's durable store of share-group state (docs/share-groups.md §4).
// Keys and values carry the fields of Kafka's ShareSnapshotKey/ShareSnapshotValue (key version 0)
// in a fixed big-endian layout of Bunka's own (Kafka's share coordinator records are not read by anything
// here but Bunka); key version 2 holds a share group's configs (Kafka keeps those in its metadata log).
//
//   snapshot key   int16 0, string groupId, 16-byte topic id, int32 partition
//   snapshot value int16 0, int32 snapshotEpoch, int32 stateEpoch, int32 leaderEpoch, int64 startOffset,
//                  int32 n, n x (int64 firstOffset, int64 lastOffset, int8 deliveryState, int16 deliveryCount)
//   config key     int16 2, string groupId
//   config value   int16 0, string JSON object of the group's share configs
// A null value (tombstone) deletes the key. Strings are int16 length + UTF-8.
import type { PersistedShareState } from "./share-partition.ts";

export const SHARE_STATE_TOPIC = "__share_group_state";

const SNAPSHOT_KEY_VERSION = 0;
const CONFIG_KEY_VERSION = 2;
const VALUE_VERSION = 0;
const STATE_BATCH_BYTES = 8 + 8 + 1 + 2;

export type ShareStateKey =
  | { kind: "snapshot"; groupId: string; topicId: string; partition: number }
  | { kind: "config"; groupId: string };

export interface ShareSnapshot extends PersistedShareState {
  snapshotEpoch: number;
  leaderEpoch: number;
}

export class ShareStateRecordError extends Error {}

const encoder = new TextEncoder();
const decoder = new TextDecoder("utf-8", { fatal: true });

/** The key as a string, for maps: one per share partition or group. */
export function shareStateKeyString(key: ShareStateKey): string {
  return key.kind === "snapshot" ? `s\u0000${key.groupId}\u0000${key.topicId}\u0000${key.partition}` : `c\u0000${key.groupId}`;
}

export function encodeShareStateKey(key: ShareStateKey): Uint8Array {
  const group = encoder.encode(key.groupId);
  if (group.byteLength > 0x7fff) throw new ShareStateRecordError("group id too long");
  const bytes = new Uint8Array(2 + 2 + group.byteLength + (key.kind === "snapshot" ? 16 + 4 : 0));
  const view = new DataView(bytes.buffer);
  view.setInt16(0, key.kind === "snapshot" ? SNAPSHOT_KEY_VERSION : CONFIG_KEY_VERSION);
  view.setInt16(2, group.byteLength);
  bytes.set(group, 4);
  if (key.kind === "snapshot") {
    const at = 4 + group.byteLength;
    bytes.set(Buffer.from(key.topicId, "hex"), at);
    view.setInt32(at + 16, key.partition);
  }
  return bytes;
}

export function decodeShareStateKey(bytes: Uint8Array): ShareStateKey {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (bytes.byteLength < 4) throw new ShareStateRecordError("key too short");
  const version = view.getInt16(0);
  const groupLength = view.getInt16(2);
  if (groupLength < 0 || 4 + groupLength > bytes.byteLength) throw new ShareStateRecordError("bad group id length");
  const groupId = decoder.decode(bytes.subarray(4, 4 + groupLength));
  if (version === CONFIG_KEY_VERSION) return { kind: "config", groupId };
  if (version !== SNAPSHOT_KEY_VERSION) throw new ShareStateRecordError(`unknown key version ${version}`);
  const at = 4 + groupLength;
  if (at + 20 > bytes.byteLength) throw new ShareStateRecordError("snapshot key too short");
  return { kind: "snapshot", groupId, topicId: Buffer.from(bytes.subarray(at, at + 16)).toString("hex"), partition: view.getInt32(at + 16) };
}

export function encodeShareSnapshot(snapshot: ShareSnapshot): Uint8Array {
  const bytes = new Uint8Array(2 + 4 + 4 + 4 + 8 + 4 + snapshot.stateBatches.length * STATE_BATCH_BYTES);
  const view = new DataView(bytes.buffer);
  view.setInt16(0, VALUE_VERSION);
  view.setInt32(2, snapshot.snapshotEpoch);
  view.setInt32(6, snapshot.stateEpoch);
  view.setInt32(10, snapshot.leaderEpoch);
  view.setBigInt64(14, BigInt(snapshot.startOffset));
  view.setInt32(22, snapshot.stateBatches.length);
  let at = 26;
  for (const batch of snapshot.stateBatches) {
    view.setBigInt64(at, BigInt(batch.firstOffset));
    view.setBigInt64(at + 8, BigInt(batch.lastOffset));
    view.setInt8(at + 16, batch.deliveryState);
    view.setInt16(at + 17, batch.deliveryCount);
    at += STATE_BATCH_BYTES;
  }
  return bytes;
}

export function decodeShareSnapshot(bytes: Uint8Array): ShareSnapshot {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (bytes.byteLength < 26 || view.getInt16(0) !== VALUE_VERSION) throw new ShareStateRecordError("bad snapshot value");
  const count = view.getInt32(22);
  if (count < 0 || 26 + count * STATE_BATCH_BYTES > bytes.byteLength) throw new ShareStateRecordError("bad state batch count");
  const stateBatches = [];
  for (let i = 0, at = 26; i < count; i++, at += STATE_BATCH_BYTES) {
    stateBatches.push({
      firstOffset: Number(view.getBigInt64(at)),
      lastOffset: Number(view.getBigInt64(at + 8)),
      deliveryState: view.getInt8(at + 16),
      deliveryCount: view.getInt16(at + 17),
    });
  }
  return { snapshotEpoch: view.getInt32(2), stateEpoch: view.getInt32(6), leaderEpoch: view.getInt32(10), startOffset: Number(view.getBigInt64(14)), stateBatches };
}

export function encodeShareGroupConfig(configs: Record<string, string>): Uint8Array {
  const json = encoder.encode(JSON.stringify(configs));
  const bytes = new Uint8Array(2 + 4 + json.byteLength);
  const view = new DataView(bytes.buffer);
  view.setInt16(0, VALUE_VERSION);
  view.setInt32(2, json.byteLength);
  bytes.set(json, 6);
  return bytes;
}

export function decodeShareGroupConfig(bytes: Uint8Array): Record<string, string> {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (bytes.byteLength < 6 || view.getInt16(0) !== VALUE_VERSION) throw new ShareStateRecordError("bad config value");
  const length = view.getInt32(2);
  if (length < 0 || 6 + length > bytes.byteLength) throw new ShareStateRecordError("bad config length");
  const parsed: unknown = JSON.parse(decoder.decode(bytes.subarray(6, 6 + length)));
  if (typeof parsed !== "object" || parsed === null) throw new ShareStateRecordError("config value is not an object");
  const configs: Record<string, string> = {};
  for (const [name, value] of Object.entries(parsed)) if (typeof value === "string") configs[name] = value;
  return configs;
}
