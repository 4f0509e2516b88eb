// One share partition's snapshot writes: at most one in flight, the next one coalescing every change made while
// it was. A caller is answered by the first write whose snapshot was taken after its change, never by an earlier
// write still in flight: a snapshot taken for someone else's acknowledgement marks the state clean as it is
// taken, so "nothing changed since the last snapshot" alone would answer an acknowledgement before it is durable
// (and a SIGKILL in between would deliver the record again). Writes of one partition also reach the share
// coordinator in the order their snapshots were taken, so an older one cannot land after a newer one.
import { ErrorCode } from "../protocol/errors.ts";

export class SnapshotWriter<State> {
  private writing: Promise<number> | null = null;
  private queued: Promise<number> | null = null;

  constructor(
    /** Takes the snapshot and marks the state persisted at its version. */
    private readonly take: () => State,
    /** Writes it; the error code once committed or refused. */
    private readonly write: (state: State) => Promise<number>,
  ) {}

  /** No write is in flight or waiting: what the store holds is the last snapshot taken. */
  get idle(): boolean {
    return this.writing === null && this.queued === null;
  }

  /**
   * Settles with the error code of a write that covers every change made before this call. `changed`: the state
   * moved since the last snapshot was taken (or the caller insists on a write, as for the initial state).
   */
  persist(changed: boolean): Promise<number> {
    if (!changed) return this.queued ?? this.writing ?? Promise.resolve(ErrorCode.NONE);
    if (this.queued) return this.queued;
    if (!this.writing) return this.start();
    const queued = this.writing.then(
      () => this.start(),
      () => this.start(),
    );
    this.queued = queued;
    return queued;
  }

  private start(): Promise<number> {
    this.queued = null;
    let written: Promise<number>;
    try {
      written = this.write(this.take()).catch(() => ErrorCode.UNKNOWN_SERVER_ERROR);
    } catch {
      written = Promise.resolve(ErrorCode.UNKNOWN_SERVER_ERROR);
    }
    this.writing = written;
    void written.then(() => {
      if (this.writing === written) this.writing = null;
    });
    return written;
  }
}
