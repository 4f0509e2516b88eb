// Topic ids in etcd (KIP-516): a topic record written before topic ids gets the same id on every broker's
// mirror (derived from the key's creation revision), a re-created topic (a new creation revision) another one,
// and a record that carries an id keeps it.
import { expect, test } from "bun:test";
import { encodeRecord, EtcdKeys, MetadataMirror, type TopicRecord } from "../../src/cluster/etcd-metadata.ts";
import type { KeyValue } from "../../src/cluster/etcd/index.ts";

const keys = new EtcdKeys("/bunka/test-cluster/");

function topicKv(record: Omit<TopicRecord, "topicId"> & { topicId?: string }, createRevision: number): KeyValue {
  return { key: keys.topic(record.name), value: encodeRecord(record), createRevision, modRevision: createRevision, version: 1, lease: "0" };
}

function mirrorOf(kvs: KeyValue[]): MetadataMirror {
  const mirror = new MetadataMirror(keys);
  mirror.load(kvs, 100);
  return mirror;
}

const legacy = { name: "old-topic", replicas: [[1, 2]], configs: {}, internal: false };

test("a record without an id gets one id, the same on every broker's mirror, and a new one when re-created", () => {
  const first = mirrorOf([topicKv(legacy, 7)]).topic("old-topic")!.topicId;
  const second = mirrorOf([topicKv(legacy, 7)]).topic("old-topic")!.topicId;
  expect(first).toMatch(/^[0-9a-f]{32}$/);
  expect(first).not.toBe("0".repeat(32));
  expect(second).toBe(first);
  // Deleted and created again: etcd gives the key a new creation revision, so the topic a new id.
  expect(mirrorOf([topicKv(legacy, 42)]).topic("old-topic")!.topicId).not.toBe(first);
});

test("a record with an id keeps it", () => {
  const topicId = "0123456789abcdef0123456789abcdef";
  expect(mirrorOf([topicKv({ ...legacy, topicId }, 7)]).topic("old-topic")!.topicId).toBe(topicId);
});
