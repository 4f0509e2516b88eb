// Rebuilds the groups of one __consumer_offsets partition from its log, like Kafka's
// GroupMetadataManager.doLoadGroupsAndOffsets: records are applied in log order, the last value per key
// wins and a tombstone (null value) deletes. A group whose last metadata has members comes back Stable
// with those members and assignments (they keep heartbeating across a restart); otherwise Empty.
// Whatever cannot be read (a key or value that does not decode, a batch that fails its CRC or uses a codec
// Bunka cannot read) is skipped and counted, never a reason to fail the load: the groups it held lose
// those commits, every other group comes back.
import { GroupMetadata, MemberMetadata } from "./group-metadata.ts";
import { decodeGroupMetadataValue, decodeKey, decodeOffsetCommitValue, type GroupMetadataValue } from "./offsets-records.ts";
import type { CommittedOffset, OffsetsStore } from "./offsets-store.ts";

export interface LoadedGroups {
  groups: GroupMetadata[];
  offsets: number;
  records: number;
}

export async function loadGroups(store: OffsetsStore, partition: number, log: (message: string) => void): Promise<LoadedGroups> {
  const offsetsByGroup = new Map<string, Map<string, CommittedOffset>>();
  /** null = tombstoned (the group was deleted or expired). */
  const metadataByGroup = new Map<string, GroupMetadataValue | null>();
  let skipped = 0;
  let firstSkippedRecord: string | null = null;
  const loaded = await store.load(partition, ({ key, value, offset }) => {
    if (!key) {
      skipped++;
      firstSkippedRecord ??= `a record without a key at offset ${offset}`;
      return;
    }
    let decodedKey;
    try {
      decodedKey = decodeKey(key);
    } catch {
      decodedKey = null;
    }
    if (!decodedKey) {
      skipped++;
      firstSkippedRecord ??= `a key it cannot read at offset ${offset}`;
      return;
    }
    if (decodedKey.kind === "offset") {
      const topicPartition = `${decodedKey.topic}\u0000${decodedKey.partition}`;
      let offsets = offsetsByGroup.get(decodedKey.group);
      if (value === null) {
        offsets?.delete(topicPartition);
        return;
      }
      const committed = safeDecode(() => decodeOffsetCommitValue(value));
      if (!committed) {
        skipped++;
        firstSkippedRecord ??= `an offset commit value it cannot read at offset ${offset}`;
        return;
      }
      if (!offsets) offsetsByGroup.set(decodedKey.group, (offsets = new Map()));
      offsets.set(topicPartition, committed);
      return;
    }
    if (value === null) {
      metadataByGroup.set(decodedKey.group, null);
      return;
    }
    const metadata = safeDecode(() => decodeGroupMetadataValue(value));
    if (!metadata) {
      skipped++;
      firstSkippedRecord ??= `group metadata it cannot read at offset ${offset}`;
      return;
    }
    metadataByGroup.set(decodedKey.group, metadata);
  });
  // One line per partition however much is unreadable (a poisoned log must not flood the broker log).
  if (skipped > 0) log(`__consumer_offsets-${partition}: ${skipped} record(s) skipped while loading (first: ${firstSkippedRecord})`);
  if (loaded.skippedBatches > 0) log(`__consumer_offsets-${partition}: ${loaded.skippedBatches} unreadable batch(es) skipped while loading (first: ${loaded.firstSkipReason})`);
  if (loaded.stoppedAtOffset !== null)
    log(`__consumer_offsets-${partition}: loading stopped at offset ${loaded.stoppedAtOffset} (${loaded.firstSkipReason}); offsets committed after it are not restored`);
  const records = loaded.records;

  const groups: GroupMetadata[] = [];
  let offsetCount = 0;
  const groupIds = new Set([...offsetsByGroup.keys(), ...metadataByGroup.keys()]);
  for (const groupId of groupIds) {
    const offsets = offsetsByGroup.get(groupId);
    const metadata = metadataByGroup.get(groupId) ?? null;
    if (!metadata && (!offsets || offsets.size === 0)) continue;
    const group = metadata ? restoreGroup(groupId, metadata) : new GroupMetadata(groupId);
    for (const [topicPartition, committed] of offsets ?? []) group.offsets.set(topicPartition, committed);
    offsetCount += group.offsets.size;
    groups.push(group);
  }
  return { groups, offsets: offsetCount, records };
}

function safeDecode<T>(decode: () => T | null): T | null {
  try {
    return decode();
  } catch {
    return null;
  }
}

function restoreGroup(groupId: string, metadata: GroupMetadataValue): GroupMetadata {
  const group = new GroupMetadata(groupId);
  group.generationId = metadata.generation;
  group.protocolType = metadata.protocolType.length > 0 ? metadata.protocolType : null;
  if (metadata.currentStateTimestampMs > 0) group.stateTimestampMs = metadata.currentStateTimestampMs;
  if (metadata.members.length === 0 || metadata.protocol === null) return group;
  const protocolName = metadata.protocol;
  for (const stored of metadata.members) {
    const member = new MemberMetadata(
      stored.memberId,
      stored.groupInstanceId,
      stored.clientId,
      stored.clientHost,
      stored.rebalanceTimeoutMs,
      stored.sessionTimeoutMs,
      metadata.protocolType,
      // Only the selected protocol's metadata is stored (as Kafka does): a member rejoining with its full
      // protocol list therefore counts as changed, and the leader gets a fresh rebalance.
      [{ name: protocolName, metadata: stored.subscription }],
    );
    member.assignment = stored.assignment;
    group.add(member, null);
  }
  group.protocolName = protocolName;
  if (metadata.leader !== null && group.has(metadata.leader)) group.leaderId = metadata.leader;
  group.state = "Stable";
  return group;
}
