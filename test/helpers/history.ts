// A history checker in the spirit of Jepsen's: every send and every poll is logged with its offset, and
// `check()` reports lost acknowledged writes, duplicates, two values at one offset, and consumers that
// skip or go backwards. Values must be unique per send.

export interface SendRecord {
  value: string;
  partition: number;
  /** Offset from the acknowledgement, or null when the send failed or its outcome is unknown. */
  ackedOffset: number | null;
}

export interface PollRecord {
  consumer: string;
  partition: number;
  offset: number;
  value: string;
}

export class History {
  readonly sends: SendRecord[] = [];
  readonly polls: PollRecord[] = [];

  send(record: SendRecord): void {
    this.sends.push(record);
  }

  poll(record: PollRecord): void {
    this.polls.push(record);
  }

  get ackedCount(): number {
    return this.sends.filter((send) => send.ackedOffset !== null).length;
  }

  /**
   * Checks the log as finally read (`finalRead`, one consumer's complete read from offset 0) and every
   * poll against the sends. Returns the list of violations (empty when the history is valid).
   */
  check(finalConsumer: string): string[] {
    const problems: string[] = [];
    const limit = (list: string[]) => (list.length > 20 ? [...list.slice(0, 20), `... and ${list.length - 20} more`] : list);

    // Two values at one offset (across all consumers and reads).
    const valueAt = new Map<string, string>();
    for (const poll of this.polls) {
      const key = `${poll.partition}/${poll.offset}`;
      const seen = valueAt.get(key);
      if (seen !== undefined && seen !== poll.value) problems.push(`two values at ${key}: ${seen} and ${poll.value} (${poll.consumer})`);
      else valueAt.set(key, poll.value);
    }

    // Per consumer and partition: offsets never go backwards and never skip (no compaction, no transactions).
    const lastOffset = new Map<string, number>();
    for (const poll of this.polls) {
      const key = `${poll.consumer}/${poll.partition}`;
      const previous = lastOffset.get(key);
      if (previous !== undefined && poll.offset <= previous) problems.push(`${poll.consumer} went backwards on partition ${poll.partition}: ${previous} then ${poll.offset}`);
      else if (previous !== undefined && poll.offset !== previous + 1) problems.push(`${poll.consumer} skipped on partition ${poll.partition}: ${previous} then ${poll.offset}`);
      lastOffset.set(key, poll.offset);
    }

    // The final read: each value at most once; every acknowledged send at its acknowledged offset.
    const finalRead = this.polls.filter((poll) => poll.consumer === finalConsumer);
    const finalByValue = new Map<string, PollRecord[]>();
    for (const poll of finalRead) {
      let list = finalByValue.get(poll.value);
      if (!list) finalByValue.set(poll.value, (list = []));
      list.push(poll);
    }
    for (const [value, copies] of finalByValue) if (copies.length > 1) problems.push(`duplicate ${value} at ${copies.map((copy) => `${copy.partition}/${copy.offset}`).join(", ")}`);
    const lost: string[] = [];
    const misplaced: string[] = [];
    for (const send of this.sends) {
      if (send.ackedOffset === null) continue;
      const found = finalByValue.get(send.value);
      if (!found) lost.push(`${send.value} (acked at ${send.partition}/${send.ackedOffset})`);
      else if (!found.some((poll) => poll.partition === send.partition && poll.offset === send.ackedOffset))
        misplaced.push(`${send.value} acked at ${send.partition}/${send.ackedOffset} but read at ${found.map((poll) => `${poll.partition}/${poll.offset}`).join(",")}`);
    }
    if (lost.length > 0) problems.push(`lost acknowledged writes: ${limit(lost).join("; ")}`);
    if (misplaced.length > 0) problems.push(`acknowledged at another offset: ${limit(misplaced).join("; ")}`);
    // Every value read must have been sent.
    const sent = new Set(this.sends.map((send) => send.value));
    const unknown = [...finalByValue.keys()].filter((value) => !sent.has(value));
    if (unknown.length > 0) problems.push(`values never sent: ${limit(unknown).join(", ")}`);
    return problems;
  }
}
