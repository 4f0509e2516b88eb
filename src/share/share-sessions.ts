// Share sessions (KIP-932): a member's ShareFetch/ShareAcknowledge requests to one broker form a session, keyed by
// (group, member). Epoch 0 opens one (replacing the member's previous one), -1 closes it, any other epoch must be
// the next in sequence. The session remembers the partitions the member fetches, so incremental requests
// name only what changed. Bounded by group.share.max.share.sessions.
import { ErrorCode } from "../protocol/errors.ts";

export const INITIAL_SHARE_SESSION_EPOCH = 0;
export const FINAL_SHARE_SESSION_EPOCH = -1;

export interface ShareSessionPartition {
  topic: string;
  topicId: string;
  partition: number;
}

export interface ShareSession {
  groupId: string;
  memberId: string;
  /** The epoch the next request must carry. */
  nextEpoch: number;
  /** Keyed by "topicId:partition". */
  partitions: Map<string, ShareSessionPartition>;
  lastUsedMs: number;
}

export function sessionPartitionKey(topicId: string, partition: number): string {
  return `${topicId}:${partition}`;
}

export type SessionOutcome = { errorCode: number; session: ShareSession | null; closing: boolean; replaced: ShareSession | null };

export class ShareSessions {
  private readonly sessions = new Map<string, ShareSession>();

  constructor(
    private readonly maxSessions: number,
    /** A session unused this long is gone (its member left or died; the coordinator may be another broker). */
    private readonly idleTimeoutMs: number = Number.MAX_SAFE_INTEGER,
    private readonly nowMs: () => number = Date.now,
  ) {}

  get size(): number {
    return this.sessions.size;
  }

  private keyOf(groupId: string, memberId: string): string {
    return `${groupId}\u0000${memberId}`;
  }

  /**
   * The session a request with `epoch` continues, opens or closes. Errors: SHARE_SESSION_NOT_FOUND,
   * INVALID_SHARE_SESSION_EPOCH, SHARE_SESSION_LIMIT_REACHED. A successful non-final request moves the epoch on.
   * `canOpen`: ShareAcknowledge cannot open a session (epoch 0 is INVALID_SHARE_SESSION_EPOCH for it).
   */
  begin(groupId: string, memberId: string, epoch: number, canOpen: boolean): SessionOutcome {
    const key = this.keyOf(groupId, memberId);
    const existing = this.sessions.get(key) ?? null;
    if (existing) existing.lastUsedMs = this.nowMs();
    if (epoch === INITIAL_SHARE_SESSION_EPOCH) {
      if (!canOpen) return { errorCode: ErrorCode.INVALID_SHARE_SESSION_EPOCH, session: null, closing: false, replaced: null };
      if (!existing && this.sessions.size >= this.maxSessions) return { errorCode: ErrorCode.SHARE_SESSION_LIMIT_REACHED, session: null, closing: false, replaced: null };
      const session: ShareSession = { groupId, memberId, nextEpoch: 1, partitions: new Map(), lastUsedMs: this.nowMs() };
      this.sessions.set(key, session);
      return { errorCode: ErrorCode.NONE, session, closing: false, replaced: existing };
    }
    if (!existing) return { errorCode: ErrorCode.SHARE_SESSION_NOT_FOUND, session: null, closing: false, replaced: null };
    if (epoch === FINAL_SHARE_SESSION_EPOCH) {
      this.sessions.delete(key);
      return { errorCode: ErrorCode.NONE, session: existing, closing: true, replaced: null };
    }
    if (epoch !== existing.nextEpoch) return { errorCode: ErrorCode.INVALID_SHARE_SESSION_EPOCH, session: null, closing: false, replaced: null };
    // Epochs wrap like Kafka's (after Integer.MAX_VALUE comes 1).
    existing.nextEpoch = existing.nextEpoch === 0x7fffffff ? 1 : existing.nextEpoch + 1;
    return { errorCode: ErrorCode.NONE, session: existing, closing: false, replaced: null };
  }

  /** Removes and returns the sessions unused for the idle timeout (their members' records are to be released). */
  expireIdle(): ShareSession[] {
    const now = this.nowMs();
    const expired: ShareSession[] = [];
    for (const [key, session] of this.sessions) {
      if (now - session.lastUsedMs <= this.idleTimeoutMs) continue;
      this.sessions.delete(key);
      expired.push(session);
    }
    return expired;
  }

  /** Some member of the group has a session open here. */
  hasGroup(groupId: string): boolean {
    for (const session of this.sessions.values()) if (session.groupId === groupId) return true;
    return false;
  }

  /** Closes every session of a member (it left the group or expired). */
  remove(groupId: string, memberId: string): ShareSession | null {
    const key = this.keyOf(groupId, memberId);
    const session = this.sessions.get(key) ?? null;
    this.sessions.delete(key);
    return session;
  }
}
