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

/** How a transaction ended as its producer saw it: unknown when the commit call failed or never answered. */
export type TransactionOutcome = "committed" | "aborted" | "unknown";

export interface TransactionRecord {
  id: string;
  outcome: TransactionOutcome;
  /** Every value the transaction sent (unique across the history). */
  values: string[];
}

export class History {
  readonly sends: SendRecord[] = [];
  readonly polls: PollRecord[] = [];
  readonly transactions: TransactionRecord[] = [];

  send(record: SendRecord): void {
    this.sends.push(record);
  }

  poll(record: PollRecord): void {
    this.polls.push(record);
  }

  transaction(record: TransactionRecord): void {
    this.transactions.push(record);
  }

  /**
   * For transactional writes read with read_committed: the final read (`finalConsumer`) holds each committed
   * transaction's values exactly once, nothing of an aborted one, and all or nothing of one whose outcome is
   * unknown (atomicity); no value at two offsets, no two values at one offset, no consumer going backwards.
   * Offsets may skip (markers and aborted records are not returned), so skips are not violations here.
   */
  checkTransactions(finalConsumer: string): string[] {
    const problems: string[] = [];
    const limit = (list: string[]) => (list.length > 20 ? [...list.slice(0, 20), `... and ${list.length - 20} more`] : list);
    problems.push(...this.twoValuesAtOneOffset());
    const lastOffset = new Map<string, number>();
    for (const poll of this.polls) {
      const key = `${poll.consumer}/${poll.partition}`;
      const previous = lastOffset.get(key);
      if (previous !== undefined && poll.offset <= previous) problems.push(`${poll.consumer} went backwards on partition ${poll.partition}: ${previous} then ${poll.offset}`);
      lastOffset.set(key, poll.offset);
    }
    const copies = new Map<string, number>();
    for (const poll of this.polls) if (poll.consumer === finalConsumer) copies.set(poll.value, (copies.get(poll.value) ?? 0) + 1);
    const duplicated = [...copies].filter(([, count]) => count > 1).map(([value, count]) => `${value} x${count}`);
    if (duplicated.length > 0) problems.push(`duplicates: ${limit(duplicated).join(", ")}`);
    for (const transaction of this.transactions) {
      const visible = transaction.values.filter((value) => copies.has(value));
      if (transaction.outcome === "committed" && visible.length < transaction.values.length)
        problems.push(`lost committed transaction ${transaction.id}: ${transaction.values.length - visible.length} of ${transaction.values.length} values missing (${limit(transaction.values.filter((value) => !copies.has(value))).join(", ")})`);
      if (transaction.outcome === "aborted" && visible.length > 0) problems.push(`aborted transaction ${transaction.id} leaked: ${limit(visible).join(", ")}`);
      if (transaction.outcome === "unknown" && visible.length > 0 && visible.length < transaction.values.length)
        problems.push(`transaction ${transaction.id} partly visible: ${visible.length} of ${transaction.values.length} values`);
    }
    const sent = new Set([...this.sends.map((send) => send.value), ...this.transactions.flatMap((transaction) => transaction.values)]);
    const unknown = [...copies.keys()].filter((value) => !sent.has(value));
    if (unknown.length > 0) problems.push(`values never sent: ${limit(unknown).join(", ")}`);
    return problems;
  }

  private twoValuesAtOneOffset(): string[] {
    const problems: string[] = [];
    const valueAt = new Map<string, string>();
    for (const poll of this.polls) {
      const key = `${poll.partition}/${poll.offset}`;
      const seen = valueAt.get(key);
      if (seen !== undefined && seen !== poll.value) problems.push(`two values at ${key}: ${seen} and ${poll.value} (${poll.consumer})`);
      else valueAt.set(key, poll.value);
    }
    return problems;
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
