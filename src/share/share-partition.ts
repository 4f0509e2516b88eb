// One share partition: a share group's view of one topic partition (KIP-932, Kafka's SharePartition), kept by
// the partition's leader. Records between the share-partition start offset (SPSO) and end offset (SPEO) are
// in flight, each AVAILABLE, ACQUIRED (by one member, until its acquisition lock expires), ACKNOWLEDGED or
// ARCHIVED; below the SPSO everything is done. Acquiring counts a delivery; a record released (or whose lock
// expires) at the delivery count limit, or rejected, is archived and goes to the dead-letter topic if the
// group has one (KIP-1191). Until its copy is written it is ARCHIVING (KIP-1191's state), which a snapshot
// keeps as AVAILABLE: a crash before the copy delivers it again rather than losing it (at least once). The
// window SPEO - SPSO is bounded by group.share.partition.max.record.locks.
//
// Plain state and clock-driven decisions only: reading the log, persisting and the dead-letter topic are
// the manager's (share-partition-manager.ts).

export const RecordState = { AVAILABLE: 0, ACQUIRED: 1, ACKNOWLEDGED: 2, ARCHIVING: 3, ARCHIVED: 4 } as const;
export type RecordStateValue = (typeof RecordState)[keyof typeof RecordState];

/** ShareFetch/ShareAcknowledge acknowledge types. */
export const AcknowledgeType = { GAP: 0, ACCEPT: 1, RELEASE: 2, REJECT: 3 } as const;

export interface InFlightRecord {
  state: RecordStateValue;
  deliveryCount: number;
  /** The member holding the acquisition lock (ACQUIRED only). */
  memberId: string | null;
  lockExpiresAtMs: number;
}

/** A range of offsets in one state, as persisted (Kafka's PersisterStateBatch). */
export interface StateBatch {
  firstOffset: number;
  lastOffset: number;
  deliveryState: number;
  deliveryCount: number;
}

export interface PersistedShareState {
  startOffset: number;
  stateEpoch: number;
  stateBatches: StateBatch[];
}

export interface AcquiredRange {
  firstOffset: number;
  lastOffset: number;
  deliveryCount: number;
}

/** Why a record left for the dead-letter topic (KIP-1317's disposition header values). */
export type ArchiveReason = "CLIENT_REJECTED" | "MAX_DELIVERY_ATTEMPTS_REACHED";

export interface ArchivedRecord {
  offset: number;
  deliveryCount: number;
  reason: ArchiveReason;
}

export interface SharePartitionLimits {
  lockDurationMs: number;
  deliveryCountLimit: number;
  maxInFlight: number;
}

export interface AcknowledgeBatch {
  firstOffset: number;
  lastOffset: number;
  /** One type for the whole range, or one per offset. */
  acknowledgeTypes: number[];
}

export class AcknowledgeError extends Error {}

export class SharePartition {
  private readonly inFlight = new Map<number, InFlightRecord>();
  /** Bumped on every change persist() should write (what the last write held is `persistedVersion`). */
  private version = 0;
  private persistedVersion = 0;
  /** The next offset never acquired yet (Kafka's SPEO + 1). */
  private endOffset: number;

  constructor(
    readonly groupId: string,
    readonly topic: string,
    readonly topicId: string,
    readonly partition: number,
    private startOffset: number,
    readonly stateEpoch: number,
  ) {
    this.endOffset = startOffset;
  }

  /** Restores what __share_group_state held: acquired records come back AVAILABLE (their locks died with the broker). */
  static restore(groupId: string, topic: string, topicId: string, partition: number, state: PersistedShareState): SharePartition {
    const share = new SharePartition(groupId, topic, topicId, partition, state.startOffset, state.stateEpoch);
    for (const batch of state.stateBatches) {
      for (let offset = Math.max(batch.firstOffset, state.startOffset); offset <= batch.lastOffset; offset++) {
        const done = batch.deliveryState === RecordState.ACKNOWLEDGED || batch.deliveryState === RecordState.ARCHIVED;
        share.inFlight.set(offset, { state: done ? (batch.deliveryState as RecordStateValue) : RecordState.AVAILABLE, deliveryCount: batch.deliveryCount, memberId: null, lockExpiresAtMs: 0 });
      }
    }
    share.endOffset = share.inFlight.size === 0 ? state.startOffset : Math.max(...share.inFlight.keys()) + 1;
    // Holes (none are written, but a restored range could start above the SPSO) are available, never delivered.
    for (let offset = state.startOffset; offset < share.endOffset; offset++) {
      if (!share.inFlight.has(offset)) share.inFlight.set(offset, { state: RecordState.AVAILABLE, deliveryCount: 0, memberId: null, lockExpiresAtMs: 0 });
    }
    share.advanceStart();
    share.persistedVersion = share.version;
    return share;
  }

  get spso(): number {
    return this.startOffset;
  }

  get nextOffset(): number {
    return this.endOffset;
  }

  get inFlightCount(): number {
    return this.inFlight.size;
  }

  /** The log start moved past records not delivered yet (retention, DeleteRecords): they can never be read. */
  skipTo(logStartOffset: number): void {
    if (logStartOffset <= this.startOffset) return;
    for (let offset = this.startOffset; offset < Math.min(logStartOffset, this.endOffset); offset++) this.inFlight.delete(offset);
    this.startOffset = logStartOffset;
    this.endOffset = Math.max(this.endOffset, logStartOffset);
    this.advanceStart();
    this.version++;
  }

  /**
   * Expired acquisition locks: the record is available again, or archived at the delivery count limit.
   * Returns the archived records (for the dead-letter topic).
   */
  expireLocks(nowMs: number, limits: SharePartitionLimits): ArchivedRecord[] {
    const archived: ArchivedRecord[] = [];
    for (const [offset, record] of this.inFlight) {
      if (record.state !== RecordState.ACQUIRED || record.lockExpiresAtMs > nowMs) continue;
      this.releaseRecord(offset, record, limits, archived);
    }
    if (archived.length > 0 || this.advanceStart()) this.version++;
    return archived;
  }

  /** The earliest lock expiry among acquired records, or null. */
  nextLockExpiryMs(): number | null {
    let earliest: number | null = null;
    for (const record of this.inFlight.values()) {
      if (record.state === RecordState.ACQUIRED && (earliest === null || record.lockExpiresAtMs < earliest)) earliest = record.lockExpiresAtMs;
    }
    return earliest;
  }

  /** The lowest offset a fetch could acquire, or null: an available in-flight record, else a new one below `readableEnd`. */
  firstAcquirable(readableEnd: number, limits: SharePartitionLimits): number | null {
    for (let offset = this.startOffset; offset < this.endOffset; offset++) {
      if (this.inFlight.get(offset)?.state === RecordState.AVAILABLE) return offset;
    }
    if (this.endOffset < readableEnd && this.endOffset - this.startOffset < limits.maxInFlight) return this.endOffset;
    return null;
  }

  /**
   * Acquires for `memberId` the acquirable offsets among those the read returned ([from, through]), in
   * offset order: available in-flight records, then new ones below `readableEnd` while the window has room.
   * Each acquisition counts a delivery. Returns the acquired ranges (consecutive offsets of one delivery count).
   */
  acquire(memberId: string, from: number, through: number, readableEnd: number, nowMs: number, limits: SharePartitionLimits, maxRecords: number): AcquiredRange[] {
    const ranges: AcquiredRange[] = [];
    let acquired = 0;
    const take = (offset: number, record: InFlightRecord) => {
      record.state = RecordState.ACQUIRED;
      record.deliveryCount++;
      record.memberId = memberId;
      record.lockExpiresAtMs = nowMs + limits.lockDurationMs;
      acquired++;
      const last = ranges[ranges.length - 1];
      if (last && last.lastOffset === offset - 1 && last.deliveryCount === record.deliveryCount) last.lastOffset = offset;
      else ranges.push({ firstOffset: offset, lastOffset: offset, deliveryCount: record.deliveryCount });
    };
    for (let offset = Math.max(from, this.startOffset); offset <= through && acquired < maxRecords; offset++) {
      if (offset < this.endOffset) {
        const record = this.inFlight.get(offset);
        if (record?.state === RecordState.AVAILABLE) take(offset, record);
        continue;
      }
      if (offset >= readableEnd || offset - this.startOffset >= limits.maxInFlight) break;
      const record: InFlightRecord = { state: RecordState.AVAILABLE, deliveryCount: 0, memberId: null, lockExpiresAtMs: 0 };
      this.inFlight.set(offset, record);
      this.endOffset = offset + 1;
      take(offset, record);
    }
    return ranges;
  }

  /**
   * Applies one member's acknowledgements. Every offset must be ACQUIRED by this member (else the whole set is
   * refused with INVALID_RECORD_STATE and nothing changes). Gap and accept acknowledge, release makes the record
   * available again (archived at the delivery limit), reject archives it. Returns the archived records.
   */
  acknowledge(memberId: string, batches: readonly AcknowledgeBatch[], limits: SharePartitionLimits): ArchivedRecord[] {
    for (const batch of batches) {
      if (batch.lastOffset < batch.firstOffset || batch.lastOffset - batch.firstOffset >= limits.maxInFlight) throw new AcknowledgeError(`invalid acknowledgement range ${batch.firstOffset}-${batch.lastOffset}`);
      const count = batch.lastOffset - batch.firstOffset + 1;
      if (batch.acknowledgeTypes.length !== 1 && batch.acknowledgeTypes.length !== count) throw new AcknowledgeError(`${batch.acknowledgeTypes.length} acknowledge types for ${count} offsets`);
      for (const type of batch.acknowledgeTypes) if (type < AcknowledgeType.GAP || type > AcknowledgeType.REJECT) throw new AcknowledgeError(`unknown acknowledge type ${type}`);
      for (let offset = batch.firstOffset; offset <= batch.lastOffset; offset++) {
        const record = this.inFlight.get(offset);
        if (!record || record.state !== RecordState.ACQUIRED || record.memberId !== memberId) throw new AcknowledgeError(`offset ${offset} is not acquired by this member`);
      }
    }
    const archived: ArchivedRecord[] = [];
    for (const batch of batches) {
      for (let offset = batch.firstOffset; offset <= batch.lastOffset; offset++) {
        const type = batch.acknowledgeTypes.length === 1 ? batch.acknowledgeTypes[0]! : batch.acknowledgeTypes[offset - batch.firstOffset]!;
        const record = this.inFlight.get(offset)!;
        if (type === AcknowledgeType.RELEASE) {
          this.releaseRecord(offset, record, limits, archived);
          continue;
        }
        record.memberId = null;
        if (type === AcknowledgeType.REJECT) {
          record.state = RecordState.ARCHIVING;
          archived.push({ offset, deliveryCount: record.deliveryCount, reason: "CLIENT_REJECTED" });
        } else record.state = type === AcknowledgeType.GAP ? RecordState.ARCHIVED : RecordState.ACKNOWLEDGED;
      }
    }
    this.advanceStart();
    this.version++;
    return archived;
  }

  /** A member's session ended: its acquired records are released (archived at the limit). */
  releaseMember(memberId: string, limits: SharePartitionLimits): ArchivedRecord[] {
    const archived: ArchivedRecord[] = [];
    let changed = false;
    for (const [offset, record] of this.inFlight) {
      if (record.state !== RecordState.ACQUIRED || record.memberId !== memberId) continue;
      this.releaseRecord(offset, record, limits, archived);
      changed = true;
    }
    if (changed) {
      this.advanceStart();
      this.version++;
    }
    return archived;
  }

  private releaseRecord(offset: number, record: InFlightRecord, limits: SharePartitionLimits, archived: ArchivedRecord[]): void {
    record.memberId = null;
    if (record.deliveryCount >= limits.deliveryCountLimit) {
      record.state = RecordState.ARCHIVING;
      archived.push({ offset, deliveryCount: record.deliveryCount, reason: "MAX_DELIVERY_ATTEMPTS_REACHED" });
    } else record.state = RecordState.AVAILABLE;
  }

  /**
   * After a restore: a record that comes back AVAILABLE at the delivery count limit was acquired (or was being
   * archived) for its last allowed delivery when the broker stopped, and that delivery's outcome is unknown.
   * Delivering it again would exceed group.share.delivery.count.limit, so it is archived now (its dead-letter
   * copy may be written a second time: the dead-letter topic is at least once, deliveries are at most the limit).
   */
  archiveExhausted(limits: SharePartitionLimits): ArchivedRecord[] {
    const archived: ArchivedRecord[] = [];
    for (const [offset, record] of this.inFlight) {
      if (record.state !== RecordState.AVAILABLE || record.deliveryCount < limits.deliveryCountLimit) continue;
      record.state = RecordState.ARCHIVING;
      archived.push({ offset, deliveryCount: record.deliveryCount, reason: "MAX_DELIVERY_ATTEMPTS_REACHED" });
    }
    if (archived.length > 0) this.version++;
    return archived;
  }

  /** The dead-letter copies of these ARCHIVING records are written (or none is wanted): they are archived. */
  completeArchiving(records: readonly ArchivedRecord[]): void {
    let changed = false;
    for (const { offset } of records) {
      const record = this.inFlight.get(offset);
      if (record?.state !== RecordState.ARCHIVING) continue;
      record.state = RecordState.ARCHIVED;
      changed = true;
    }
    if (changed) {
      this.advanceStart();
      this.version++;
    }
  }

  /** Moves the SPSO past acknowledged and archived records; true when it moved. */
  private advanceStart(): boolean {
    const before = this.startOffset;
    while (this.startOffset < this.endOffset) {
      const record = this.inFlight.get(this.startOffset);
      if (record && record.state !== RecordState.ACKNOWLEDGED && record.state !== RecordState.ARCHIVED) break;
      this.inFlight.delete(this.startOffset);
      this.startOffset++;
    }
    return this.startOffset !== before;
  }

  /** Something changed since the last snapshot was taken. */
  get dirty(): boolean {
    return this.version !== this.persistedVersion;
  }

  /**
   * What __share_group_state keeps (Kafka's ShareSnapshotValue): the SPSO and every in-flight record as ranges;
   * an acquired record is written as available with its delivery count (the lock does not outlive the broker).
   * Marks the state as persisted at this version.
   */
  snapshot(): PersistedShareState {
    const stateBatches: StateBatch[] = [];
    for (let offset = this.startOffset; offset < this.endOffset; offset++) {
      const record = this.inFlight.get(offset);
      if (!record) continue;
      const deliveryState = record.state === RecordState.ACQUIRED || record.state === RecordState.ARCHIVING ? RecordState.AVAILABLE : record.state;
      const last = stateBatches[stateBatches.length - 1];
      if (last && last.lastOffset === offset - 1 && last.deliveryState === deliveryState && last.deliveryCount === record.deliveryCount) last.lastOffset = offset;
      else stateBatches.push({ firstOffset: offset, lastOffset: offset, deliveryState, deliveryCount: record.deliveryCount });
    }
    this.persistedVersion = this.version;
    return { startOffset: this.startOffset, stateEpoch: this.stateEpoch, stateBatches };
  }

  /** Counts by state, for describe and tests. */
  counts(): Record<"available" | "acquired" | "acknowledged" | "archived", number> {
    const counts = { available: 0, acquired: 0, acknowledged: 0, archived: 0 };
    for (const record of this.inFlight.values()) {
      if (record.state === RecordState.AVAILABLE) counts.available++;
      else if (record.state === RecordState.ACQUIRED) counts.acquired++;
      else if (record.state === RecordState.ACKNOWLEDGED) counts.acknowledged++;
      else if (record.state === RecordState.ARCHIVING) counts.acquired++;
      else counts.archived++;
    }
    return counts;
  }
}
